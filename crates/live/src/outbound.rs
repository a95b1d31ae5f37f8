//! Requests to addresses that users or admins choose (web push endpoints, webhooks, RTMP restreams), which
//! must never reach into the server's own network (SSRF).
//!
//! A host name is resolved here, every address it resolves to is checked ([`is_public`]), and the
//! connection goes to a checked address: the HTTP client's resolver is [`PublicOnly`], so a name that
//! resolves to a public address when checked and to 127.0.0.1 when connected (DNS rebinding) has nothing
//! to slip through. Redirects are never followed. An operator reaches a private address only by naming
//! its origin (`--push-allow-origin`, `--webhook-allow-origin`) or host (`--restream-allow-host`).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Whether `ip` is an address on the public internet: not loopback, private (RFC 1918, IPv6 ULA), link-
/// local, CGNAT, "this network" (`0.0.0.0/8`), reserved (`240.0.0.0/4`), multicast, documentation or
/// benchmarking, and not an IPv6 form that carries an IPv4 address (mapped, compatible, NAT64 `64:ff9b::/96`,
/// 6to4 `2002::/16`, Teredo), whose IPv4 half could be any of those.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(a == 0                                   // 0.0.0.0/8, "this network"
        || a == 10                             // private
        || a == 127                            // loopback
        || (a == 100 && (b & 0xc0) == 64)      // 100.64.0.0/10, CGNAT
        || (a == 169 && b == 254)              // link-local
        || (a == 172 && (b & 0xf0) == 16)      // private
        || (a == 192 && b == 168)              // private
        || (a == 192 && b == 0 && c == 0)      // IETF protocol assignments
        || (a == 192 && b == 0 && c == 2)      // documentation
        || (a == 198 && (b & 0xfe) == 18)      // 198.18.0.0/15, benchmarking
        || (a == 198 && b == 51 && c == 100)   // documentation
        || (a == 203 && b == 0 && c == 113)    // documentation
        || a >= 224) // multicast, 240.0.0.0/4 reserved, broadcast
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let s = ip.segments();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (s[0] & 0xfe00) == 0xfc00                                  // fc00::/7, unique local
        || (s[0] & 0xffc0) == 0xfe80                                  // fe80::/10, link-local
        || (s[0] & 0xffc0) == 0xfec0                                  // fec0::/10, site-local
        || (s[0..6] == [0, 0, 0, 0, 0, 0xffff])                       // ::ffff:0:0/96, IPv4-mapped
        || (s[0..6] == [0; 6])                                        // ::/96, IPv4-compatible
        || (s[0] == 0x64 && s[1] == 0xff9b)                           // 64:ff9b::/96 and 64:ff9b:1::/48, NAT64
        || s[0] == 0x2002                                             // 2002::/16, 6to4
        || (s[0] == 0x2001 && s[1] == 0)                              // 2001::/32, Teredo
        || (s[0] == 0x2001 && s[1] == 0x0db8)                         // documentation
        || (s[0] == 0x0100 && s[1..4] == [0, 0, 0])) // 100::/64, discard
}

/// Why a request to a chosen address was refused, in words a user can act on that say nothing about the
/// state of the server's network.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refused {
    /// Not a URL, or not of the expected scheme.
    #[error("That address is not a URL this server can send to.")]
    NotAUrl,
    /// The host is, or resolves to, an address that is not public.
    #[error("That address is not on a public host.")]
    NotPublic,
}

/// The client's resolver: a name's public addresses, and an error when it has none.
#[derive(Debug, Clone, Copy, Default)]
pub struct PublicOnly;

impl reqwest::dns::Resolve for PublicOnly {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs = public_addrs(&host, 0).await.map_err(|e| -> Box<dyn std::error::Error + Send + Sync> {
                Box::new(std::io::Error::other(e.to_string()))
            })?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Resolves `host` and keeps its public addresses: [`Refused::NotPublic`] when it has none (a name that
/// does not resolve says the same, so that nothing is learnt of the server's resolver).
pub async fn public_addrs(host: &str, port: u16) -> Result<Vec<SocketAddr>, Refused> {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if let Ok(ip) = host.parse::<IpAddr>() {
        return if is_public(ip) { Ok(vec![SocketAddr::new(ip, port)]) } else { Err(Refused::NotPublic) };
    }
    let found = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port)))
        .await
        .map_err(|_| Refused::NotPublic)?
        .map_err(|_| Refused::NotPublic)?;
    let public: Vec<SocketAddr> = found.filter(|a| is_public(a.ip())).collect();
    if public.is_empty() { Err(Refused::NotPublic) } else { Ok(public) }
}

/// The HTTP clients for chosen addresses, and the origins an operator allowed although they are private.
#[derive(Clone, Debug)]
pub struct Outbound {
    /// Resolves through [`PublicOnly`]; follows no redirect.
    guarded: reqwest::Client,
    /// For the allowed origins only: the system's resolver; follows no redirect either.
    trusted: reqwest::Client,
    allowed: Arc<[String]>,
}

impl Outbound {
    /// Clients from `builder` (timeouts, TLS roots), each with the redirects off; `allowed` are origins
    /// (`http://127.0.0.1:9000`) that may be private.
    pub fn new(builder: impl Fn() -> reqwest::ClientBuilder, allowed: &[String]) -> Outbound {
        let none = || reqwest::redirect::Policy::none();
        let guarded = builder().redirect(none()).dns_resolver(Arc::new(PublicOnly)).build().unwrap_or_default();
        let trusted = builder().redirect(none()).build().unwrap_or_default();
        let allowed = allowed.iter().map(|o| normalize_origin(o)).collect::<Vec<_>>().into();
        Outbound { guarded, trusted, allowed }
    }

    /// Whether the operator allowed `url`'s origin.
    pub fn allows(&self, url: &reqwest::Url) -> bool {
        self.allowed.contains(&url.origin().ascii_serialization().to_ascii_lowercase())
    }

    /// The client to send to `url` with, once its host is checked: an allowed origin's, or the guarded one
    /// for an `https`/`http` URL without credentials whose host is public. An IP literal is checked here
    /// (no resolver sees it); a name is checked by the guarded client's resolver when it connects, and
    /// here first, so that a private one is refused at once with a clear answer.
    pub async fn client_for(&self, url: &str) -> Result<&reqwest::Client, Refused> {
        let url = reqwest::Url::parse(url).map_err(|_| Refused::NotAUrl)?;
        if self.allows(&url) {
            return Ok(&self.trusted);
        }
        if !matches!(url.scheme(), "https" | "http") || !url.username().is_empty() || url.password().is_some() {
            return Err(Refused::NotAUrl);
        }
        let host = url.host_str().ok_or(Refused::NotAUrl)?;
        public_addrs(host, url.port_or_known_default().unwrap_or(443)).await?;
        Ok(&self.guarded)
    }
}

/// An origin as [`reqwest::Url::origin`] serializes it, lower case, without a trailing slash.
fn normalize_origin(origin: &str) -> String {
    let trimmed = origin.trim().trim_end_matches('/');
    match reqwest::Url::parse(trimmed) {
        Ok(url) => url.origin().ascii_serialization().to_ascii_lowercase(),
        Err(_) => trimmed.to_ascii_lowercase(),
    }
}

/// Checks a restream target's host (`rtmp://HOST[:PORT]/...`) and gives the address to connect to, so that
/// ffmpeg connects to the address that was checked and never resolves the name again: the host's first
/// public address, or, for a host the operator allowed (`--restream-allow-host`), its first address.
pub async fn restream_addr(host_port: &str, allowed_hosts: &[String]) -> Result<SocketAddr, Refused> {
    let (host, port) = split_host_port(host_port).ok_or(Refused::NotAUrl)?;
    if allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host) || h.eq_ignore_ascii_case(host_port)) {
        let found = tokio::time::timeout(Duration::from_secs(5), tokio::net::lookup_host((host, port)))
            .await
            .map_err(|_| Refused::NotPublic)?
            .map_err(|_| Refused::NotPublic)?;
        return found.into_iter().next().ok_or(Refused::NotPublic);
    }
    let addrs = public_addrs(host, port).await?;
    addrs.first().copied().ok_or(Refused::NotPublic)
}

/// `host:port`, `[v6]:port` or a bare host (RTMP's port, 1935).
fn split_host_port(s: &str) -> Option<(&str, u16)> {
    if let Some(rest) = s.strip_prefix('[') {
        let (host, after) = rest.split_once(']')?;
        let port = match after.strip_prefix(':') {
            Some(p) => p.parse().ok()?,
            None if after.is_empty() => 1935,
            None => return None,
        };
        return Some((host, port));
    }
    match s.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => Some((host, port.parse().ok()?)),
        Some(_) => None,
        None => Some((s, 1935)),
    }
    .filter(|(h, _)| !h.is_empty())
}

/// The HTTP client for what the server calls out to (push services, webhooks): the web PKI's roots, rustls
/// with aws-lc-rs as everywhere else. [`Outbound`] adds the resolver and turns redirects off.
pub fn client_builder() -> reqwest::ClientBuilder {
    let roots = rustls::RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() };
    let tls = rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        .with_safe_default_protocol_versions()
        .map(|b| b.with_root_certificates(roots).with_no_client_auth());
    let builder = reqwest::Client::builder().connect_timeout(Duration::from_secs(5));
    match tls {
        Ok(tls) => builder.use_preconfigured_tls(tls),
        Err(_) => builder,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_are_public() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "100.127.255.255",
            "0.0.0.0",
            "0.1.2.3",
            "240.0.0.1",
            "255.255.255.255",
            "224.0.0.1",
            "198.18.0.1",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:8.8.8.8",
            "::127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::1",
            "2001:0:4136:e378::1",
            "ff02::1",
        ] {
            assert!(!is_public(private.parse().unwrap()), "{private} is not public");
        }
        for public in ["8.8.8.8", "1.1.1.1", "172.32.0.1", "100.128.0.1", "2606:4700:4700::1111", "2a00:1450::1"] {
            assert!(is_public(public.parse().unwrap()), "{public} is public");
        }
    }

    #[test]
    fn host_and_port_are_split_as_rtmp_writes_them() {
        assert_eq!(split_host_port("live.example.org"), Some(("live.example.org", 1935)));
        assert_eq!(split_host_port("127.0.0.1:22"), Some(("127.0.0.1", 22)));
        assert_eq!(split_host_port("[::1]:1935"), Some(("::1", 1935)));
        assert_eq!(split_host_port("[::1]"), Some(("::1", 1935)));
        assert_eq!(split_host_port("::1"), None);
        assert_eq!(split_host_port(":80"), None);
    }

    #[tokio::test]
    async fn names_and_literals_of_private_hosts_are_refused_before_any_connection() {
        let outbound = Outbound::new(super::client_builder, &["http://127.0.0.1:9000/".to_string()]);
        for url in ["http://127.0.0.1:8080/x", "https://localhost/x", "http://[::1]/", "https://10.0.0.1/"] {
            assert_eq!(outbound.client_for(url).await.err(), Some(Refused::NotPublic), "{url}");
        }
        for url in ["ftp://example.org/", "https://user:pw@example.org/", "not a url"] {
            assert_eq!(outbound.client_for(url).await.err(), Some(Refused::NotAUrl), "{url}");
        }
        assert!(outbound.client_for("http://127.0.0.1:9000/push/1").await.is_ok(), "an allowed origin");
        assert_eq!(restream_addr("127.0.0.1:22", &[]).await, Err(Refused::NotPublic));
        assert_eq!(restream_addr("localhost", &[]).await, Err(Refused::NotPublic));
        assert_eq!(restream_addr("127.0.0.1:1935", &["127.0.0.1".into()]).await, Ok("127.0.0.1:1935".parse().unwrap()));
    }
}
