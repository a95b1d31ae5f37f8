//! iCalendar (RFC 5545): one event's file, and a person's feed of the events they host or RSVPed to.
//!
//! Written by hand, since the subset is small: a VCALENDAR of VEVENTs with UTC times, escaped TEXT values
//! (§3.3.11) and lines folded at 75 octets (§3.1). Tests read the output back with an independent parser.

use stoa_live::texts::{self, Lang};
use stoa_store::EventRow;

/// How long an event is shown as lasting in calendars: rooms have no planned end.
const DURATION_SECS: i64 = 3600;

/// A calendar of `events`, its words in `lang`. `base` is the public URL, for links and UIDs; `name` names a
/// feed.
pub fn calendar(events: &[EventRow], base: &str, name: Option<&str>, lang: Lang) -> String {
    let host = base.split("://").nth(1).unwrap_or(base).split('/').next().unwrap_or("stoa");
    let mut out = String::new();
    line(&mut out, "BEGIN:VCALENDAR");
    line(&mut out, "VERSION:2.0");
    line(&mut out, "PRODID:-//Stoa//Stoa live audio rooms//EN");
    line(&mut out, "CALSCALE:GREGORIAN");
    line(&mut out, "METHOD:PUBLISH");
    if let Some(name) = name {
        line(&mut out, &format!("X-WR-CALNAME:{}", text(name)));
        // How often subscribers should fetch the feed again (RFC 7986, and the older Apple/Google name).
        line(&mut out, "REFRESH-INTERVAL;VALUE=DURATION:PT1H");
        line(&mut out, "X-PUBLISHED-TTL:PT1H");
    }
    for event in events {
        let url = format!("{}/event/{}", base.trim_end_matches('/'), event.id);
        line(&mut out, "BEGIN:VEVENT");
        line(&mut out, &format!("UID:{}@{}", event.id, host));
        line(&mut out, &format!("DTSTAMP:{}", utc(event.updated_at)));
        line(&mut out, &format!("CREATED:{}", utc(event.created_at)));
        line(&mut out, &format!("LAST-MODIFIED:{}", utc(event.updated_at)));
        line(&mut out, &format!("DTSTART:{}", utc(event.starts_at)));
        line(&mut out, &format!("DTEND:{}", utc(event.starts_at + DURATION_SECS)));
        line(&mut out, &format!("SEQUENCE:{}", event.sequence));
        line(&mut out, &format!("SUMMARY:{}", text(&event.title)));
        let hosts: Vec<&str> =
            event.hosts.iter().filter(|(_, accepted)| *accepted).map(|(u, _)| u.display_name.as_str()).collect();
        let mut description = event.description.clone();
        if !description.is_empty() {
            description.push_str("\n\n");
        }
        let hosts = texts::names(lang, &hosts);
        description.push_str(&texts::text(lang, "calendar.hosted_by", &[("names", &hosts), ("url", &url)], None));
        line(&mut out, &format!("DESCRIPTION:{}", text(&description)));
        line(&mut out, &format!("URL:{url}"));
        line(&mut out, &format!("LOCATION:{}", text(&url)));
        let status = if event.cancelled_at.is_some() { "CANCELLED" } else { "CONFIRMED" };
        line(&mut out, &format!("STATUS:{status}"));
        line(&mut out, "END:VEVENT");
    }
    line(&mut out, "END:VCALENDAR");
    out
}

/// A UTC DATE-TIME (`20261201T180000Z`).
fn utc(unix: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}Z",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second()
    )
}

/// A TEXT value, escaped (§3.3.11): backslash, semicolon, comma and newline; other control characters
/// are not allowed in TEXT and are dropped.
fn text(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            ';' => out.push_str("\\;"),
            ',' => out.push_str("\\,"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push(' '),
            c if c.is_control() => {}
            c => out.push(c),
        }
    }
    out
}

/// Appends a content line, folded so that no line is longer than 75 octets (§3.1), never inside a
/// UTF-8 character, and ended with CRLF.
fn line(out: &mut String, content: &str) {
    let mut width = 0;
    for c in content.chars() {
        let len = c.len_utf8();
        if width + len > 75 {
            out.push_str("\r\n ");
            width = 1;
        }
        out.push(c);
        width += len;
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_fold_at_75_octets_without_splitting_characters() {
        let mut out = String::new();
        line(&mut out, &format!("SUMMARY:{}", "é".repeat(100)));
        for l in out.split("\r\n").filter(|l| !l.is_empty()) {
            assert!(l.len() <= 75, "{} octets: {l}", l.len());
        }
        let unfolded = out.replace("\r\n ", "");
        assert_eq!(unfolded, format!("SUMMARY:{}\r\n", "é".repeat(100)));
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(text("a,b;c\\d\ne"), "a\\,b\\;c\\\\d\\ne");
    }
}
