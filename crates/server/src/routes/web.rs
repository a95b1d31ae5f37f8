//! The web client, embedded at build time (see `build.rs`): its files under `/assets/`, and `index.html` for
//! every other page address (`/`, `/invite/CODE`, `/room/ID`, `/u/NAME`, ...), which the client routes.

use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

mod embedded {
    include!(concat!(env!("OUT_DIR"), "/web_assets.rs"));
}

/// What the page may load: only this server (scripts, styles, the API, and its WebSockets at the public
/// URL's origin, never another host's), plus inline style attributes, which the client uses for avatar
/// colours and the speaking ring.
pub fn csp(public_url: &str) -> String {
    let origin = public_url.trim_end_matches('/');
    let ws = origin.replacen("https://", "wss://", 1).replacen("http://", "ws://", 1);
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; \
         media-src 'self' blob: mediastream:; connect-src 'self' {ws}; frame-ancestors 'none'; base-uri 'none'"
    )
}

fn asset(path: &str) -> Option<(&'static str, &'static [u8])> {
    embedded::ASSETS.iter().find(|(p, _, _)| *p == path).map(|(_, mime, bytes)| (*mime, *bytes))
}

/// Serves a file of the client, or the client's page for any other address, with `head` (Open Graph tags)
/// added to it when given. `None` for API addresses, whose unknown paths stay JSON 404s.
/// `csp` is the page's Content-Security-Policy ([`csp`]).
pub fn serve(uri: &Uri, head: Option<&str>, csp: &HeaderValue) -> Option<Response> {
    let path = uri.path();
    if path.starts_with("/api/") || path == "/healthz" {
        return None;
    }
    let mut headers = HeaderMap::new();
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    if let Some((mime, bytes)) = asset(path).filter(|_| path != "/index.html") {
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
        // Vite names built files by their content hash, so they never change under the same name.
        let cache = if path.starts_with("/assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        return Some((StatusCode::OK, headers, bytes).into_response());
    }
    if path.starts_with("/assets/") {
        return Some((StatusCode::NOT_FOUND, headers, "Not found").into_response());
    }
    let (mime, bytes) = asset("/index.html")?;
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(mime));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
    match head {
        Some(tags) => {
            let page = String::from_utf8_lossy(bytes).replacen("<title>", &format!("{tags}<title>"), 1);
            Some((StatusCode::OK, headers, page).into_response())
        }
        None => Some((StatusCode::OK, headers, bytes).into_response()),
    }
}
