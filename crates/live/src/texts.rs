//! What the server itself writes for people, in their language: web push notifications, the calendar feed
//! and the Open Graph tags of shared links. The texts are the web client's own catalogs
//! (`web/src/locales/*.json`, built into the binary), so that a notification reads the same in the bell and
//! on the lock screen, and `web/scripts/check-catalogs.mjs` holds every language to every key.

use serde_json::{Map, Value};
use std::sync::OnceLock;

/// A language Stoa speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// English, the reference catalog.
    En,
    /// Russian.
    Ru,
    /// Arabic, written right to left.
    Ar,
}

impl Lang {
    /// Every language, English first.
    pub const ALL: [Lang; 3] = [Lang::En, Lang::Ru, Lang::Ar];

    /// The BCP 47 code: `en`, `ru` or `ar`.
    pub fn code(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Ru => "ru",
            Lang::Ar => "ar",
        }
    }

    /// The language of a tag such as `ru-RU` or `ar`, if Stoa speaks it.
    pub fn parse(tag: &str) -> Option<Lang> {
        let base = tag.trim().split(['-', '_']).next()?.to_ascii_lowercase();
        Lang::ALL.into_iter().find(|l| l.code() == base)
    }

    /// The language stored as `code` (an account's), English for anything else.
    pub fn stored(code: &str) -> Lang {
        Lang::parse(code).unwrap_or(Lang::En)
    }

    /// The reader's language from an `Accept-Language` header (RFC 9110 §12.5.4): the one of highest
    /// weight that Stoa speaks, the first of equal weights; English when none.
    pub fn from_accept_language(header: &str) -> Lang {
        let mut best: Option<(f32, Lang)> = None;
        for part in header.split(',') {
            let mut pieces = part.split(';');
            let Some(lang) = pieces.next().and_then(Lang::parse) else { continue };
            let weight = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok()))
                .unwrap_or(1.0);
            if weight > 0.0 && best.is_none_or(|(w, _)| weight > w) {
                best = Some((weight, lang));
            }
        }
        best.map_or(Lang::En, |(_, l)| l)
    }

    /// The CLDR plural category of the whole number `n` in this language (cardinal rules).
    pub fn plural(self, n: u64) -> &'static str {
        let (n10, n100) = (n % 10, n % 100);
        match self {
            Lang::En if n == 1 => "one",
            Lang::En => "other",
            Lang::Ru if n10 == 1 && n100 != 11 => "one",
            Lang::Ru if (2..=4).contains(&n10) && !(12..=14).contains(&n100) => "few",
            Lang::Ru => "many",
            Lang::Ar if n == 0 => "zero",
            Lang::Ar if n == 1 => "one",
            Lang::Ar if n == 2 => "two",
            Lang::Ar if (3..=10).contains(&n100) => "few",
            Lang::Ar if (11..=99).contains(&n100) => "many",
            Lang::Ar => "other",
        }
    }
}

fn catalog(lang: Lang) -> &'static Map<String, Value> {
    static CATALOGS: OnceLock<[Map<String, Value>; 3]> = OnceLock::new();
    let all = CATALOGS.get_or_init(|| {
        let parse = |json: &str| serde_json::from_str::<Map<String, Value>>(json).unwrap_or_default();
        [
            parse(include_str!("../../../web/src/locales/en.json")),
            parse(include_str!("../../../web/src/locales/ru.json")),
            parse(include_str!("../../../web/src/locales/ar.json")),
        ]
    });
    &all[Lang::ALL.iter().position(|l| *l == lang).unwrap_or(0)]
}

/// The text of `key` in `lang` (English if that catalog lacks it, the key itself if none has it), with each
/// `{name}` of `params` filled in; `count` picks the plural form and fills `{count}`.
pub fn text(lang: Lang, key: &str, params: &[(&str, &str)], count: Option<u64>) -> String {
    let message = catalog(lang).get(key).or_else(|| catalog(Lang::En).get(key));
    let template = match message {
        Some(Value::String(s)) => s.as_str(),
        Some(Value::Object(forms)) => {
            let form = lang.plural(count.unwrap_or(0));
            forms.get(form).or_else(|| forms.get("other")).and_then(Value::as_str).unwrap_or(key)
        }
        _ => key,
    };
    let count = count.map(|n| n.to_string());
    let mut out = String::with_capacity(template.len());
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        let Some(close) = after.find('}') else { break };
        let name = &after[..close];
        let value = params.iter().find(|(n, _)| *n == name).map(|(_, v)| *v);
        match value.or(if name == "count" { count.as_deref() } else { None }) {
            Some(v) => out.push_str(v),
            None => out.push_str(&rest[open..open + close + 2]),
        }
        rest = &after[close + 1..];
    }
    out.push_str(rest);
    out
}

/// Names joined with the language's list separator.
pub fn names(lang: Lang, names: &[&str]) -> String {
    names.join(&text(lang, "common.list_sep", &[], None))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_language_picks_the_heaviest_language_stoa_speaks() {
        assert_eq!(Lang::from_accept_language("ru-RU,ru;q=0.9,en-US;q=0.8"), Lang::Ru);
        assert_eq!(Lang::from_accept_language("de-DE,de;q=0.9,ar;q=0.5,en;q=0.4"), Lang::Ar);
        assert_eq!(Lang::from_accept_language("en;q=0.2, ar-EG"), Lang::Ar);
        assert_eq!(Lang::from_accept_language("fr, ru;q=0"), Lang::En);
        assert_eq!(Lang::from_accept_language(""), Lang::En);
    }

    #[test]
    fn plurals_follow_the_cldr_rules_and_fill_the_count() {
        let forms: Vec<&str> = [0, 1, 2, 5, 11, 21, 22, 101, 111].iter().map(|n| Lang::Ru.plural(*n)).collect();
        assert_eq!(forms, ["many", "one", "few", "many", "many", "one", "few", "one", "many"]);
        let forms: Vec<&str> = [0, 1, 2, 3, 10, 11, 99, 100, 102].iter().map(|n| Lang::Ar.plural(*n)).collect();
        assert_eq!(forms, ["zero", "one", "two", "few", "few", "many", "many", "other", "other"]);
        assert_eq!(text(Lang::Ru, "room.listening", &[], Some(3)), "3 слушателя");
        assert_eq!(text(Lang::En, "notify.followed", &[("name", "Ada")], None), "Ada followed you");
        assert_eq!(text(Lang::Ar, "notify.followed", &[("name", "Ada")], None), "تابعك Ada");
        assert_eq!(text(Lang::En, "no.such.key", &[], None), "no.such.key");
    }
}
