//! The address a request really comes from. Behind a reverse proxy every request arrives from the proxy, so
//! the rate limits would lump every user together; the proxy names the client in `X-Forwarded-For` or
//! `Forwarded` (RFC 7239). Those headers are believed only from the proxies the operator lists with
//! `--trusted-proxy`: from anyone else they are whatever the client chose to write, and ignored.

use axum::http::HeaderMap;
use std::net::IpAddr;
use std::str::FromStr;

/// A block of addresses, as `10.0.0.0/8`, `2001:db8::/32`, or one address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl FromStr for IpNet {
    type Err = String;

    fn from_str(s: &str) -> Result<IpNet, String> {
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s.trim(), None),
        };
        let addr: IpAddr = addr.parse().map_err(|_| format!("`{s}` is not an address or a CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            Some(p) => p.parse::<u8>().ok().filter(|p| *p <= max).ok_or_else(|| format!("`{s}`: bad prefix length"))?,
            None => max,
        };
        Ok(IpNet { addr, prefix })
    }
}

impl IpNet {
    /// Whether `ip` is in this block. An IPv4 address written as IPv6 (`::ffff:a.b.c.d`) counts as IPv4.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }
}

/// The client's address: the connection's peer, unless the peer is a trusted proxy, in which case the
/// nearest address in the forwarding chain that is not itself a trusted proxy (walking from the right, the
/// end the trusted proxies appended to). `X-Forwarded-For` is read first, then `Forwarded`.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let chain = forwarded_chain(headers);
    chain.into_iter().rev().find(|ip| !is_trusted(*ip)).unwrap_or(peer)
}

/// The client's address as an extractor, for the routes whose limits are per address.
pub struct ClientAddr(pub IpAddr);

impl axum::extract::FromRequestParts<crate::AppState> for ClientAddr {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        state: &crate::AppState,
    ) -> Result<Self, Self::Rejection> {
        let peer = parts
            .extensions
            .get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
            .map_or(IpAddr::from([0, 0, 0, 0]), |c| c.0.ip());
        Ok(ClientAddr(client_ip(peer, &parts.headers, &state.config.trusted_proxies)))
    }
}

/// The addresses a request passed through, client first, from `X-Forwarded-For` or else `Forwarded`.
/// Entries that are not addresses (`unknown`, obfuscated names) end the chain's trustworthy part, so
/// everything before them is dropped.
fn forwarded_chain(headers: &HeaderMap) -> Vec<IpAddr> {
    let values = |name: &str| -> Vec<String> {
        headers.get_all(name).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect()
    };
    let xff = values("x-forwarded-for");
    let entries: Vec<String> = if !xff.is_empty() {
        xff.iter().flat_map(|v| v.split(',')).map(|e| e.trim().to_string()).collect()
    } else {
        values("forwarded")
            .iter()
            .flat_map(|v| v.split(','))
            .filter_map(|element| {
                element.split(';').find_map(|pair| {
                    let (k, v) = pair.trim().split_once('=')?;
                    k.trim().eq_ignore_ascii_case("for").then(|| v.trim().trim_matches('"').to_string())
                })
            })
            .collect()
    };
    let mut chain = Vec::new();
    for entry in entries {
        match parse_node(&entry) {
            Some(ip) => chain.push(ip),
            None => chain.clear(),
        }
    }
    chain
}

/// An address as proxies write it: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1`, `[2001:db8::1]:4711`.
fn parse_node(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse() {
        return Some(ip);
    }
    if let Some(rest) = s.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    s.rsplit_once(':').and_then(|(ip, _)| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn nets(s: &[&str]) -> Vec<IpNet> {
        s.iter().map(|n| n.parse().unwrap()).collect()
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn blocks_contain_what_they_should() {
        let net: IpNet = "10.0.0.0/8".parse().unwrap();
        assert!(net.contains(ip("10.1.2.3")) && !net.contains(ip("11.0.0.1")));
        assert!(net.contains(ip("::ffff:10.9.9.9")), "IPv4 written as IPv6");
        let one: IpNet = "192.0.2.7".parse().unwrap();
        assert!(one.contains(ip("192.0.2.7")) && !one.contains(ip("192.0.2.8")));
        let v6: IpNet = "2001:db8::/32".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1::5")) && !v6.contains(ip("2001:db9::1")) && !v6.contains(ip("10.0.0.1")));
        let all: IpNet = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.9")));
        for bad in ["10.0.0.0/33", "nonsense", "10.0.0.0/x", "2001:db8::/129"] {
            assert!(bad.parse::<IpNet>().is_err(), "{bad}");
        }
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = nets(&["10.0.0.0/8"]);
        let mut h = HeaderMap::new();
        h.insert("x-forwarded-for", HeaderValue::from_static("198.51.100.1, 203.0.113.5, 10.0.0.9"));
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &trusted), ip("203.0.113.5"), "the nearest untrusted hop");
        assert_eq!(client_ip(ip("192.0.2.1"), &h, &trusted), ip("192.0.2.1"), "ignored from anyone else");
        assert_eq!(client_ip(ip("10.0.0.2"), &h, &[]), ip("10.0.0.2"), "ignored with no proxy trusted");
        let mut f = HeaderMap::new();
        f.insert("forwarded", HeaderValue::from_static(r#"for="[2001:db8::1]:4711";proto=https, for=10.0.0.3"#));
        assert_eq!(client_ip(ip("10.0.0.2"), &f, &trusted), ip("2001:db8::1"));
        let mut junk = HeaderMap::new();
        junk.insert("x-forwarded-for", HeaderValue::from_static("unknown, 10.0.0.5"));
        assert_eq!(client_ip(ip("10.0.0.2"), &junk, &trusted), ip("10.0.0.2"), "no client named: the proxy");
        assert_eq!(client_ip(ip("10.0.0.2"), &HeaderMap::new(), &trusted), ip("10.0.0.2"));
    }
}
