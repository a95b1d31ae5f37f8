//! Cross-site request forgery: every state-changing request that a browser's cookie authenticates, and every
//! room WebSocket it opens, must come from a page of this server.
//!
//! A browser attaches the session cookie to a form another site posts here (`SameSite=Lax` stops that for
//! most cross-site POSTs, but not for same-site ones from a sibling subdomain, nor for top-level navigations
//! and WebSocket handshakes), so the cookie alone proves nothing about who asked. The browser's `Origin`
//! header does: it is set by the browser, not by the page. The check compares it, scheme and port included,
//! with the origin of `--public-url`, never with the request's own `Host` header, which the attacker's
//! request carries just as well. Requests with a bearer token are exempt: no browser adds one by itself.

use crate::error::ApiError;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The origins this server's pages are served from.
#[derive(Debug, Clone)]
pub struct Origins {
    allowed: Vec<String>,
}

impl Origins {
    /// The origin of `public_url`. When the operator set no public URL and the server is on loopback, the
    /// other loopback names of the same port are its pages too (`localhost` for `127.0.0.1`).
    pub fn new(public_url: &str, configured: bool) -> Origins {
        let mut allowed: Vec<String> = origin_of(public_url).into_iter().collect();
        if !configured && let Some(main) = allowed.first().cloned() {
            for (a, b) in [("127.0.0.1", "localhost"), ("[::1]", "localhost")] {
                if let Some(rest) = main.strip_prefix(&format!("http://{a}")) {
                    allowed.push(format!("http://{b}{rest}"));
                }
            }
        }
        Origins { allowed }
    }

    /// Whether an `Origin` header's value is one of this server's.
    pub fn allows(&self, origin: &str) -> bool {
        origin_of(origin).is_some_and(|o| self.allowed.contains(&o))
    }
}

/// `scheme://host[:port]` of a URL, lower-case, with the scheme's default port left out, as browsers write
/// `Origin`. `None` for anything without a scheme and a host (including the opaque origin `null`).
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let authority = rest.split(['/', '?', '#']).next()?.to_ascii_lowercase();
    let authority = authority.rsplit_once('@').map_or(authority.as_str(), |(_, host)| host).to_string();
    if authority.is_empty() || !matches!(scheme.as_str(), "http" | "https") {
        return None;
    }
    let default = if scheme == "https" { ":443" } else { ":80" };
    let authority = authority.strip_suffix(default).unwrap_or(&authority);
    Some(format!("{scheme}://{authority}"))
}

/// Whether a request is a WebSocket handshake: an HTTP/1.1 `Upgrade: websocket`, or HTTP/2's extended
/// CONNECT (RFC 8441), which carries no `Upgrade` header. Nothing else here answers CONNECT, so every
/// CONNECT is treated as a handshake.
fn is_upgrade(method: &Method, headers: &HeaderMap) -> bool {
    *method == Method::CONNECT
        || headers
            .get(header::UPGRADE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.eq_ignore_ascii_case("websocket"))
}

/// Checks where a request comes from. Only state-changing requests (anything but GET, HEAD and OPTIONS) and
/// WebSocket handshakes are checked, and bearer-token requests are exempt. A foreign `Origin` is refused
/// whether or not a cookie came with it (that also stops forged logins). Without an `Origin`, a request
/// that carries the session cookie must say `Sec-Fetch-Site: same-origin`, and a WebSocket handshake
/// carrying the cookie is refused outright: every browser sends `Origin` with those.
pub fn check(method: &Method, headers: &HeaderMap, origins: &Origins) -> Result<(), ApiError> {
    let upgrade = is_upgrade(method, headers);
    let safe = matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS);
    // Only a bearer token exempts a request: a browser attaches no such header on its own, whereas any other
    // scheme (`Basic`) could ride along with the cookie, which is then what authenticates.
    if (safe && !upgrade) || crate::auth::bearer(headers).is_some() {
        return Ok(());
    }
    let refused = || {
        ApiError::forbidden("cross_origin", "This request must come from this server's own pages, or carry a token.")
    };
    match headers.get(header::ORIGIN).map(|v| v.to_str()) {
        Some(Ok(origin)) if origins.allows(origin) => Ok(()),
        Some(_) => Err(refused()),
        None => {
            let cookie = crate::auth::request_token(headers).is_some();
            let same_site = headers
                .get("sec-fetch-site")
                .and_then(|v| v.to_str().ok())
                .is_some_and(|v| v.eq_ignore_ascii_case("same-origin"));
            if cookie && (upgrade || !same_site) { Err(refused()) } else { Ok(()) }
        }
    }
}

/// The middleware form of [`check`], for the whole application.
pub async fn guard(State(origins): State<std::sync::Arc<Origins>>, request: Request, next: Next) -> Response {
    match check(request.method(), request.headers(), &origins) {
        Ok(()) => next.run(request).await,
        Err(e) => e.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins_compare_scheme_host_and_port() {
        let o = Origins::new("https://stoa.example.org/", true);
        assert!(o.allows("https://stoa.example.org"));
        assert!(o.allows("https://STOA.example.org:443"));
        for other in [
            "http://stoa.example.org",
            "https://stoa.example.org:8443",
            "https://evil.example.org",
            "https://stoa.example.org.evil.example",
            "null",
            "",
        ] {
            assert!(!o.allows(other), "{other}");
        }
        let local = Origins::new("http://127.0.0.1:8080", false);
        assert!(local.allows("http://127.0.0.1:8080") && local.allows("http://localhost:8080"));
        assert!(!local.allows("http://localhost:8081"));
        assert!(!Origins::new("http://127.0.0.1:8080", true).allows("http://localhost:8080"), "configured: exact");
    }

    #[test]
    fn cookie_writes_need_our_origin_and_tokens_are_exempt() {
        let o = Origins::new("http://127.0.0.1:8080", true);
        let post = Method::POST;
        let cookie = ("cookie", "stoa_session=abc");
        assert!(check(&post, &headers(&[cookie, ("origin", "http://127.0.0.1:8080")]), &o).is_ok());
        assert!(check(&post, &headers(&[cookie, ("origin", "https://evil.example")]), &o).is_err());
        assert!(check(&post, &headers(&[cookie]), &o).is_err(), "no Origin, no Sec-Fetch-Site");
        assert!(check(&post, &headers(&[cookie, ("sec-fetch-site", "same-origin")]), &o).is_ok());
        assert!(check(&post, &headers(&[cookie, ("sec-fetch-site", "cross-site")]), &o).is_err());
        assert!(check(&Method::DELETE, &headers(&[cookie]), &o).is_err());
        assert!(check(&post, &headers(&[("origin", "https://evil.example")]), &o).is_err(), "a forged login");
        assert!(check(&post, &headers(&[]), &o).is_ok(), "no cookie, no browser: nothing to forge");
        let bearer = ("authorization", "Bearer abc");
        assert!(check(&post, &headers(&[bearer, cookie, ("origin", "https://evil.example")]), &o).is_ok());
        let basic = ("authorization", "Basic YWxhZGRpbjpvcGVuc2VzYW1l");
        assert!(
            check(&post, &headers(&[basic, cookie, ("origin", "https://evil.example")]), &o).is_err(),
            "a non-Bearer Authorization header does not skip the origin check"
        );
        assert!(check(&Method::GET, &headers(&[cookie, ("origin", "https://evil.example")]), &o).is_ok());
        let ws = ("upgrade", "websocket");
        assert!(check(&Method::GET, &headers(&[ws, cookie]), &o).is_err(), "a cookie socket with no Origin");
        assert!(check(&Method::GET, &headers(&[ws, cookie, ("origin", "https://evil.example")]), &o).is_err());
        assert!(check(&Method::GET, &headers(&[ws, cookie, ("origin", "http://127.0.0.1:8080")]), &o).is_ok());
        assert!(check(&Method::GET, &headers(&[ws, bearer]), &o).is_ok());
        // The same handshake over HTTP/2 (extended CONNECT), which has no Upgrade header.
        let h2 = Method::CONNECT;
        assert!(check(&h2, &headers(&[cookie]), &o).is_err(), "an HTTP/2 cookie socket with no Origin");
        assert!(check(&h2, &headers(&[cookie, ("sec-fetch-site", "same-origin")]), &o).is_err());
        assert!(check(&h2, &headers(&[cookie, ("origin", "https://evil.example")]), &o).is_err());
        assert!(check(&h2, &headers(&[cookie, ("origin", "http://127.0.0.1:8080")]), &o).is_ok());
    }
}
