//! TURN for clients that reach nothing else: coturn's shared-secret REST scheme (its `use-auth-secret`).
//!
//! The server hands every participant, with the room's `joined` event, a username `EXPIRY:LABEL` and the
//! password base64(HMAC-SHA1(secret, username)). The label is random, new with every credential: a TURN
//! username crosses the network in the clear (STUN's USERNAME attribute), so it never carries the account's
//! ID, and two credentials of one person cannot be linked by it. The TURN server checks the HMAC with the same secret and
//! refuses a username whose expiry has passed, so a credential is good for [`TurnConfig::ttl`] and for
//! nothing but TURN, and no TURN account is ever stored.

use base64::Engine;
use hmac::{Hmac, Mac};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use stoa_proto::{IceServer, UserId};

/// The TURN servers and their shared secret.
#[derive(Clone)]
pub struct TurnConfig {
    /// `turn:`/`turns:` URLs, checked by [`check_url`].
    pub urls: Vec<String>,
    /// coturn's `static-auth-secret`.
    pub secret: String,
    /// How long a credential is good for.
    pub ttl: Duration,
}

impl std::fmt::Debug for TurnConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret, in logs or errors.
        f.debug_struct("TurnConfig").field("urls", &self.urls).field("ttl", &self.ttl).finish_non_exhaustive()
    }
}

/// A day: long enough for any conversation (a credential is checked when an allocation is made and
/// refreshed), short enough that a leaked one soon stops working.
pub const DEFAULT_TTL: Duration = Duration::from_secs(24 * 3600);

impl TurnConfig {
    /// The ICE server entry for `user`, with a credential that expires `ttl` after `now`. The user is
    /// not named in it (see the module's documentation).
    pub fn ice_server(&self, _user: UserId, now: SystemTime) -> IceServer {
        let expiry = (now + self.ttl).duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        let label = crate::random::hex::<12>();
        let username = format!("{expiry}:{label}");
        IceServer { urls: self.urls.clone(), credential: rest_password(&self.secret, &username), username }
    }
}

/// coturn's REST password for `username`: base64 of HMAC-SHA1 keyed with the shared secret.
pub fn rest_password(secret: &str, username: &str) -> String {
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(username.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// Checks a TURN URL (RFC 7065): `turn:` or `turns:`, a host, an optional port, and an optional
/// `?transport=udp|tcp`. Returns a sentence saying what is wrong.
pub fn check_url(url: &str) -> Result<(), String> {
    let rest = url
        .strip_prefix("turn:")
        .or_else(|| url.strip_prefix("turns:"))
        .ok_or_else(|| format!("{url:?} is not a TURN URL: it must start with turn: or turns:"))?;
    let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
    if !matches!(query, "" | "transport=udp" | "transport=tcp") {
        return Err(format!("{url:?}: the only query a TURN URL takes is ?transport=udp or ?transport=tcp"));
    }
    let host = match hostport.strip_prefix('[') {
        Some(v6) => {
            let (ip, port) = v6.split_once(']').ok_or_else(|| format!("{url:?}: an unclosed [ in the host"))?;
            ip.parse::<std::net::Ipv6Addr>().map_err(|_| format!("{url:?}: {ip:?} is not an IPv6 address"))?;
            check_port(url, port.strip_prefix(':'), port)?;
            return Ok(());
        }
        None => match hostport.rsplit_once(':') {
            Some((host, port)) => {
                check_port(url, Some(port), port)?;
                host
            }
            None => hostport,
        },
    };
    let valid = !host.is_empty()
        && host.len() <= 253
        && host.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !valid {
        return Err(format!("{url:?}: {host:?} is not a host name or an IP address"));
    }
    Ok(())
}

fn check_port(url: &str, port: Option<&str>, raw: &str) -> Result<(), String> {
    match port {
        None if raw.is_empty() => Ok(()),
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        _ => Err(format!("{url:?}: the port must be a number from 1 to 65535")),
    }
}

/// The host of a TURN URL checked by [`check_url`], and its port (3478, or 5349 for `turns:`).
pub fn host_and_port(url: &str) -> Option<(String, u16)> {
    let secure = url.starts_with("turns:");
    let rest = url.strip_prefix("turn:").or_else(|| url.strip_prefix("turns:"))?;
    let hostport = rest.split('?').next()?;
    let default = if secure { 5349 } else { 3478 };
    if let Some(v6) = hostport.strip_prefix('[') {
        let (ip, port) = v6.split_once(']')?;
        let port = port.strip_prefix(':').map_or(Some(default), |p| p.parse().ok())?;
        return Some((ip.to_string(), port));
    }
    match hostport.rsplit_once(':') {
        Some((host, port)) => Some((host.to_string(), port.parse().ok()?)),
        None => Some((hostport.to_string(), default)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_follow_coturns_rest_scheme() {
        // A known answer, computed with `printf '1234:user' | openssl dgst -sha1 -hmac secret -binary | base64`.
        assert_eq!(rest_password("secret", "1234:user"), "TOULffkZMvfceQnPB56NGjcf9ls=");
        let config = TurnConfig {
            urls: vec!["turn:t.example:3478".into()],
            secret: "s3cret".into(),
            ttl: Duration::from_secs(60),
        };
        let at = UNIX_EPOCH + Duration::from_secs(1_000);
        let server = config.ice_server(UserId(42), at);
        let (expiry, label) = server.username.split_once(':').unwrap();
        assert_eq!(expiry, "1060");
        assert!(label != "42" && label.len() == 24, "an opaque label, not the account: {label}");
        assert_eq!(server.credential, rest_password("s3cret", &server.username));
        assert!(!format!("{config:?}").contains("s3cret"), "the secret never prints");
    }

    #[test]
    fn turn_urls_are_checked() {
        for good in [
            "turn:turn.example.org",
            "turn:198.18.0.1:3478",
            "turns:turn.example.org:5349",
            "turn:turn.example.org:3478?transport=tcp",
            "turn:[2001:db8::1]:3478?transport=udp",
            "turn:[2001:db8::1]",
        ] {
            assert_eq!(check_url(good), Ok(()), "{good}");
        }
        for bad in [
            "stun:turn.example.org",
            "http://turn.example.org",
            "turn:",
            "turn:host:0",
            "turn:host:99999",
            "turn:host:3478?transport=sctp",
            "turn:ho st",
            "turn:[2001:db8::1",
            "turn:a..b",
        ] {
            assert!(check_url(bad).is_err(), "{bad}");
        }
        assert_eq!(host_and_port("turn:198.18.0.1?transport=tcp"), Some(("198.18.0.1".into(), 3478)));
        assert_eq!(host_and_port("turns:t.example"), Some(("t.example".into(), 5349)));
        assert_eq!(host_and_port("turn:[::1]:99"), Some(("::1".into(), 99)));
    }
}
