//! Passwords, session tokens, and the [`Session`] extractor.

use crate::AppState;
use crate::error::ApiError;
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};
use stoa_proto::Scope;
use stoa_store::Account;

/// Password hashing off the async threads, on a fixed pool of one thread per core.
///
/// Each argon2id hash takes 19 MiB of scratch memory and tens of milliseconds of CPU on purpose. On tokio's
/// blocking pool, a burst of sign-ups or logins would run as many hashes at once as there are requests, on
/// ever new threads whose allocator arenas keep the memory: a few hundred logins left the server holding
/// over a gigabyte. A fixed pool bounds both: at most one hash per core at a time, and as many arenas; past
/// 4,096 waiting, a login is told to come back in a moment.
pub struct HashPool(stoa_egress::pool::WorkPool);

impl HashPool {
    /// A pool of `threads` hashing threads.
    pub fn new(threads: usize) -> HashPool {
        HashPool(stoa_egress::pool::WorkPool::new("stoa-hash", threads, 4096))
    }

    /// Runs `f` on the pool and waits for its result without blocking the async threads.
    pub async fn run<R: Send + 'static>(&self, f: impl FnOnce() -> R + Send + 'static) -> Result<R, ApiError> {
        self.0.run(f).await.map_err(|_| {
            ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "busy",
                "The server is checking many passwords just now; try again in a moment.",
            )
            .with_retry_after(1)
        })
    }
}

/// The session cookie's name.
pub const COOKIE: &str = "stoa_session";
/// How long a session cookie lives in the browser.
pub const COOKIE_MAX_AGE_SECS: u64 = 30 * 24 * 3600;

/// Hashes a password with argon2id and a fresh salt. Slow on purpose; call it off the async threads.
pub fn hash_password(password: &str) -> Result<String, ApiError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(ApiError::internal)?;
    let salt = SaltString::encode_b64(&salt).map_err(ApiError::internal)?;
    Argon2::default().hash_password(password.as_bytes(), &salt).map(|h| h.to_string()).map_err(ApiError::internal)
}

/// Checks a password against a stored argon2 hash.
pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}

/// A new session token: 32 random bytes, hex.
pub fn new_token() -> Result<String, ApiError> {
    Ok(crate::random::hex::<32>())
}

/// What the store keeps of a token: its SHA-256, hex.
pub fn token_hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The token of an `Authorization: Bearer TOKEN` header (the scheme's name in any case, RFC 6750 §2.1).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    let auth = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = auth.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// The token a request carries: `Authorization: Bearer TOKEN`, else the session cookie. A request with an
/// `Authorization` header of another scheme carries no token: it neither falls back to the cookie nor
/// escapes the origin check that cookie-authenticated writes get.
pub fn request_token(headers: &HeaderMap) -> Option<String> {
    if headers.contains_key(header::AUTHORIZATION) {
        return bearer(headers).map(str::to_string);
    }
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_string())
}

/// The signed-in user of a request, and the token they used. Extracting it answers 401 when there is none.
pub struct Session {
    /// The account.
    pub account: Account,
    /// The token, to revoke at logout.
    pub token: String,
    /// With a personal access token, what it may do; `None` for a session (everything).
    pub scopes: Option<Vec<Scope>>,
    /// When a personal access token expires (Unix seconds), if it does.
    pub expires_at: Option<i64>,
}

impl Session {
    /// The credential this request came with, for a live connection's watch of it (`revoke`).
    pub fn credential(&self) -> crate::revoke::Credential {
        crate::revoke::Credential {
            user: self.account.id,
            hash: token_hash(&self.token),
            token: self.scopes.is_some(),
            expires_at: self.expires_at,
        }
    }

    /// Whether this session may do what `scope` covers.
    pub fn may(&self, scope: Scope) -> bool {
        self.scopes.as_ref().is_none_or(|s| s.contains(&scope))
    }
}

/// Personal access tokens start with this, then 64 hex characters.
pub const TOKEN_PREFIX: &str = "stoa_pat_";

/// A new personal access token.
pub fn new_api_token() -> Result<String, ApiError> {
    Ok(format!("{TOKEN_PREFIX}{}", new_token()?))
}

/// What a personal access token needs for a request: `None` when no token may make it at all (its owner's
/// password, sessions and tokens, signing out). The admin console needs `admin`; the room's WebSocket
/// `listen` or `speak` (checked by the route); reads `rooms:read`; other writes `rooms:write`.
fn scope_for(method: &axum::http::Method, path: &str) -> Option<Option<Scope>> {
    if path.starts_with("/api/v1/account/") || path.starts_with("/api/v1/tokens") || path.starts_with("/api/v1/auth/") {
        return None;
    }
    if path.starts_with("/api/v1/admin/") {
        return Some(Some(Scope::Admin));
    }
    if path.starts_with("/api/v1/rooms/") && path.ends_with("/ws") {
        return Some(None);
    }
    // WHIP publishes into a room; WHEP listens to it.
    if path.starts_with("/api/v1/rooms/") && (path.ends_with("/whip") || path.contains("/whip/")) {
        return Some(Some(Scope::Speak));
    }
    if path.starts_with("/api/v1/rooms/") && (path.ends_with("/whep") || path.contains("/whep/")) {
        return Some(Some(Scope::Listen));
    }
    let read = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD);
    Some(Some(if read { Scope::RoomsRead } else { Scope::RoomsWrite }))
}

impl FromRequestParts<AppState> for Session {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Self::Rejection> {
        let token = request_token(&parts.headers).ok_or_else(ApiError::unauthorized)?;
        let hex = |t: &str| t.len() == 64 && t.bytes().all(|b| b.is_ascii_hexdigit());
        if let Some(secret) = token.strip_prefix(TOKEN_PREFIX) {
            if !hex(secret) {
                return Err(ApiError::unauthorized());
            }
            let (mut account, scopes, expires_at) =
                state.store.api_token_account(&token_hash(&token)).await?.ok_or_else(ApiError::unauthorized)?;
            // An admin's token without the `admin` scope carries no admin power anywhere: every check of
            // `is_admin` (a hidden room's replay, another room's moderation log, others' recordings) sees
            // an ordinary account.
            if !scopes.contains(&Scope::Admin) {
                account.is_admin = false;
            }
            match scope_for(&parts.method, parts.uri.path()) {
                None => {
                    return Err(ApiError::forbidden(
                        "token_not_allowed",
                        "An access token cannot do this: sign in with your password.",
                    ));
                }
                // WHIP and WHEP clients (OBS, GStreamer, players) follow RFC 6750's error codes.
                Some(Some(needed)) if !scopes.contains(&needed) && matches!(needed, Scope::Speak | Scope::Listen) => {
                    return Err(ApiError::insufficient_scope(needed.as_str()));
                }
                Some(Some(needed)) if !scopes.contains(&needed) => {
                    return Err(ApiError::forbidden(
                        "missing_scope",
                        format!("This access token lacks the `{}` scope.", needed.as_str()),
                    ));
                }
                _ => {}
            }
            return Ok(Session { account, token, scopes: Some(scopes), expires_at });
        }
        // Session tokens are 64 hex characters; anything else cannot be one, and is not worth a look-up.
        if !hex(&token) {
            return Err(ApiError::unauthorized());
        }
        let account = state.store.session_account(&token_hash(&token)).await?.ok_or_else(ApiError::unauthorized)?;
        Ok(Session { account, token, scopes: None, expires_at: None })
    }
}
