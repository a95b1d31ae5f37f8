//! HTTP requests one node forwards to another over NATS: what only the node that runs a room can answer
//! (its listen link's playlist and segments, which its egress makes) is still answered by any node. The
//! owner runs the request through its own router, exactly as if it had come to it, and sends back the
//! status, the headers that matter and the body (at most [`MAX_BODY`]).

use super::Cluster;
use super::protocol::{self, Answered, Forwarded, Opened};
use axum::body::Body;
use axum::http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use std::time::Duration;
use tower::ServiceExt;

/// The largest body carried back (a listen link's segment is about 16 KB; NATS takes 1 MB a message).
pub const MAX_BODY: usize = 768 * 1024;
/// How long a forwarded request may take: a blocking playlist reload waits up to 6 s on the owner.
const TIMEOUT: Duration = Duration::from_secs(9);
/// The headers carried each way; nothing else (no cookie, no authorization: what is forwarded is public).
const REQUEST_HEADERS: [&str; 2] = ["accept", "range"];
const RESPONSE_HEADERS: [&str; 7] = [
    "content-type",
    "cache-control",
    "retry-after",
    "content-range",
    "accept-ranges",
    "x-content-type-options",
    "x-stoa-audio-age-ms",
];

/// The header that marks a forwarded request.
pub const FORWARDED: &str = "x-stoa-forwarded";

impl Cluster {
    /// Sends a public request (method and path with query) to `node` and returns its answer; `None` if
    /// that node does not answer.
    pub async fn forward(
        &self,
        node: &str,
        method: &axum::http::Method,
        uri: &str,
        headers: &axum::http::HeaderMap,
    ) -> Option<Response<Body>> {
        let headers = REQUEST_HEADERS
            .iter()
            .filter_map(|h| Some((h.to_string(), headers.get(*h)?.to_str().ok()?.to_string())))
            .collect();
        let subject = protocol::http(node);
        let forwarded = Forwarded { method: method.to_string(), uri: uri.to_string(), headers };
        let payload = self.seal(&subject, &forwarded, &[]);
        let request = async_nats::client::Request::new().payload(payload).timeout(Some(TIMEOUT));
        let answer = match self.client.send_request(subject, request).await {
            Ok(message) => self.open::<Answered>(&message.subject, &message.payload),
            Err(e) => {
                tracing::warn!(%node, error = %e, "a forwarded request got no answer");
                None
            }
        };
        let Opened { head: answer, raw: body, .. } = answer?;
        let mut response = Response::new(Body::from(body));
        *response.status_mut() = StatusCode::from_u16(answer.status).unwrap_or(StatusCode::BAD_GATEWAY);
        for (name, value) in answer.headers {
            if let (Ok(name), Ok(value)) = (HeaderName::try_from(name), HeaderValue::try_from(value)) {
                response.headers_mut().insert(name, value);
            }
        }
        Some(response)
    }
}

/// Answers one forwarded request with this node's own router.
pub(crate) async fn serve(cluster: Cluster, router: axum::Router, message: async_nats::Message) {
    let Some(reply) = message.reply.clone() else { return };
    let Some(Opened { head: forwarded, .. }) = cluster.open::<Forwarded>(&message.subject, &message.payload) else {
        return;
    };
    // Only GETs of the listen link: a node forwards nothing else, and takes nothing else.
    if forwarded.method != "GET" || !forwarded.uri.starts_with("/listen/") {
        return;
    }
    // Marked, so that a node that no longer runs the room answers rather than forwards it on.
    let mut request = Request::get(&forwarded.uri).header(FORWARDED, "1");
    for (name, value) in &forwarded.headers {
        if REQUEST_HEADERS.contains(&name.as_str()) {
            request = request.header(name, value);
        }
    }
    let Ok(request) = request.body(Body::empty()) else { return };
    let Ok(response) = router.oneshot(request).await;
    let status = response.status().as_u16();
    let headers = RESPONSE_HEADERS
        .iter()
        .filter_map(|h| Some((h.to_string(), response.headers().get(*h)?.to_str().ok()?.to_string())))
        .collect();
    let (status, body) = match axum::body::to_bytes(response.into_body(), MAX_BODY).await {
        Ok(body) => (status, body),
        Err(_) => (StatusCode::BAD_GATEWAY.as_u16(), Default::default()),
    };
    let payload = cluster.seal(reply.as_str(), &Answered { status, headers }, &body);
    let _ = cluster.client.publish(reply, payload).await;
}
