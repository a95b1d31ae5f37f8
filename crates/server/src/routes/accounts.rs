//! Sign-up, login, logout, the caller's own account, and invites.

use crate::AppState;
use crate::auth::{COOKIE, COOKIE_MAX_AGE_SECS, Session, hash_password, new_token, token_hash, verify_password};
use crate::error::{ApiError, ApiJson};
use crate::routes::{me_of, valid_display_name, valid_username};
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use std::net::SocketAddr;
use std::sync::OnceLock;
use stoa_proto::{
    AuthResponse, ErrorBody, IceServers, InviteCreated, InviteInfo, InviteList, LoginRequest, Me, SignupRequest,
    UpdateMeRequest,
};
use stoa_store::{Account, NewAccount};

/// The accounts routes.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/api/v1/auth/signup", post(signup))
        .route("/api/v1/auth/login", post(login))
        .route("/api/v1/auth/logout", post(logout))
        .route("/api/v1/auth/logout-everywhere", post(logout_everywhere))
        .route("/api/v1/me", get(me).patch(update_me))
        .route("/api/v1/ice-servers", get(ice_servers))
        .route("/api/v1/invites", post(create_invite).get(list_invites))
}

/// Password bounds. The longest matters too: argon2 hashes any length, but an unbounded one is a cheap way
/// to burn CPU.
const PASSWORD: stoa_proto::limits::TextLimit = stoa_proto::limits::PASSWORD;

/// Opens a session for `account`: a token in the body and the same token as an HttpOnly cookie. The
/// session keeps the browser's user agent, for the owner's list of sessions.
async fn open_session(
    state: &AppState,
    account: Account,
    status: StatusCode,
    headers: &HeaderMap,
) -> Result<Response, ApiError> {
    let token = new_token()?;
    let agent = headers.get(header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    state.store.create_session(account.id, &token_hash(&token), agent).await?;
    let secure = if state.public_url.starts_with("https://") { "; Secure" } else { "" };
    let cookie = format!("{COOKIE}={token}; HttpOnly; SameSite=Lax; Path=/; Max-Age={COOKIE_MAX_AGE_SECS}{secure}");
    let mut response = (status, Json(AuthResponse { token, user: me_of(&account) })).into_response();
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&cookie).map_err(ApiError::internal)?);
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/auth/signup", tag = "accounts", request_body = SignupRequest,
    responses((status = 201, body = AuthResponse), (status = 400, body = ErrorBody), (status = 409, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Signs up with an invite code. The caller is signed in at once.
pub async fn signup(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SignupRequest>,
) -> Result<Response, ApiError> {
    let ip = crate::client_ip::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    state.limiter.check_ip(ip)?;
    let username = valid_username(&body.username)?;
    let display_name = valid_display_name(&body.display_name)?;
    valid_password(&body.password)?;
    let password = body.password;
    let password_hash = state.hashing.run(move || hash_password(&password)).await??;
    let account = state
        .store
        .sign_up(NewAccount { invite: body.invite.trim().to_string(), username, display_name, password_hash })
        .await?;
    tracing::info!(user = %account.username, %ip, "signed up");
    open_session(&state, account, StatusCode::CREATED, &headers).await
}

/// Checks a new password's length.
pub(crate) fn valid_password(password: &str) -> Result<(), ApiError> {
    let chars = password.chars().count();
    if chars < PASSWORD.min {
        return Err(ApiError::bad_request(
            "weak_password",
            format!("A password has at least {} characters.", PASSWORD.min),
        ));
    }
    if chars > PASSWORD.max {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!("A password has at most {} characters.", PASSWORD.max),
        ));
    }
    Ok(())
}

/// A hash to check passwords against when the username is unknown, so that a wrong username takes as
/// long to refuse as a wrong password and logins do not reveal which usernames exist.
fn dummy_hash() -> &'static str {
    static HASH: OnceLock<String> = OnceLock::new();
    HASH.get_or_init(|| hash_password("not a real password").unwrap_or_default())
}

#[utoipa::path(post, path = "/api/v1/auth/login", tag = "accounts", request_body = LoginRequest,
    responses((status = 200, body = AuthResponse), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody), (status = 429, body = ErrorBody)))]
/// Signs in with a username and password.
pub async fn login(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let ip = crate::client_ip::client_ip(peer.ip(), &headers, &state.config.trusted_proxies);
    state.limiter.check_ip(ip)?;
    // An account that failed recently waits before its password is checked; it is never locked, so that
    // a guesser cannot shut its owner out.
    let name = crate::routes::normalize_username(&body.username);
    let delay = state.failed_logins.delay(std::time::Instant::now(), &name);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let found = match valid_username(&body.username) {
        Ok(name) if body.password.chars().count() <= PASSWORD.max => state.store.credentials(&name).await?,
        _ => None,
    };
    let (account, hash) = match found {
        Some((account, hash)) => (Some(account), hash),
        None => (None, dummy_hash().to_string()),
    };
    let password = body.password;
    let ok = state.hashing.run(move || verify_password(&password, &hash)).await?;
    match account {
        // Only the right password learns of a suspension: it says nothing to someone guessing.
        Some(account) if ok && account.suspended.is_some() => Err(ApiError::forbidden(
            stoa_proto::SUSPENDED_CODE,
            format!("Your account is suspended: {}", account.suspended.unwrap_or_default()),
        )),
        Some(account) if ok => {
            state.failed_logins.succeeded(&name);
            open_session(&state, account, StatusCode::OK, &headers).await
        }
        _ => {
            state.failed_logins.failed(std::time::Instant::now(), &name);
            // Debug-formatted: a username is the client's text, and its line breaks must not forge log lines.
            tracing::info!(%ip, username = ?name, "failed login");
            Err(ApiError::new(StatusCode::UNAUTHORIZED, "invalid_credentials", "Wrong username or password."))
        }
    }
}

#[utoipa::path(post, path = "/api/v1/auth/logout", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
/// Revokes the caller's token and clears the cookie.
pub async fn logout(State(state): State<AppState>, session: Session) -> Result<Response, ApiError> {
    state.store.delete_session(&token_hash(&session.token)).await?;
    state.notifier.hub.revoke_everywhere(session.account.id);
    signed_out()
}

/// 204 with the session cookie cleared.
pub(crate) fn signed_out() -> Result<Response, ApiError> {
    let mut response = StatusCode::NO_CONTENT.into_response();
    let clear = format!("{COOKIE}=; HttpOnly; SameSite=Lax; Path=/; Max-Age=0");
    response.headers_mut().insert(header::SET_COOKIE, HeaderValue::from_str(&clear).map_err(ApiError::internal)?);
    Ok(response)
}

#[utoipa::path(post, path = "/api/v1/auth/logout-everywhere", tag = "accounts", security(("bearer" = [])),
    responses((status = 204), (status = 401, body = ErrorBody)))]
/// Signs out everywhere: revokes every session of the caller, this one included, and clears the cookie.
pub async fn logout_everywhere(State(state): State<AppState>, session: Session) -> Result<Response, ApiError> {
    let revoked = state.store.delete_sessions_of(session.account.id).await?;
    state.notifier.hub.revoke_everywhere(session.account.id);
    tracing::info!(user = %session.account.username, revoked, "signed out everywhere");
    signed_out()
}

#[utoipa::path(get, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = Me), (status = 401, body = ErrorBody)))]
/// The caller's own account.
pub async fn me(session: Session) -> Json<Me> {
    Json(me_of(&session.account))
}

#[utoipa::path(get, path = "/api/v1/ice-servers", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = IceServers), (status = 401, body = ErrorBody)))]
/// The TURN servers, with credentials for the caller that expire (coturn's REST scheme): the same as the
/// room's `joined` event carries, for a client that needs fresh ones (an ICE restart after a long session).
pub async fn ice_servers(State(state): State<AppState>, session: Session) -> Json<IceServers> {
    let now = std::time::SystemTime::now();
    let ice_servers = state.config.turn.iter().map(|t| t.ice_server(session.account.id, now)).collect();
    Json(IceServers { ice_servers })
}

#[utoipa::path(patch, path = "/api/v1/me", tag = "accounts", security(("bearer" = [])), request_body = UpdateMeRequest,
    responses((status = 200, body = Me), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
/// Changes the caller's display name, bio, links or language.
pub async fn update_me(
    State(state): State<AppState>,
    session: Session,
    ApiJson(body): ApiJson<UpdateMeRequest>,
) -> Result<Json<Me>, ApiError> {
    let display_name = body.display_name.as_deref().map(valid_display_name).transpose()?;
    let bio = body.bio.map(|b| b.trim().to_string());
    let limit = stoa_proto::limits::BIO;
    if bio.as_ref().is_some_and(|b| b.chars().count() > limit.max) {
        return Err(ApiError::bad_request("invalid_bio", format!("A bio has at most {} characters.", limit.max)));
    }
    if let Some(links) = &body.links {
        if links.len() > 2 {
            return Err(ApiError::bad_request("too_many_links", "A profile has at most two links."));
        }
        let links = links.iter().map(|l| crate::routes::avatars::valid_link(l)).collect::<Result<Vec<_>, _>>()?;
        state.store.set_links(session.account.id, &links).await?;
    }
    if let Some(language) = &body.language {
        let Some(lang) = stoa_live::texts::Lang::parse(language).filter(|l| l.code() == language) else {
            return Err(ApiError::bad_request("invalid_language", "The language is `en`, `ru` or `ar`."));
        };
        state.store.set_language(session.account.id, lang.code()).await?;
    }
    let account = state.store.update_account(session.account.id, display_name.as_deref(), bio.as_deref()).await?;
    Ok(Json(me_of(&account)))
}

#[utoipa::path(post, path = "/api/v1/invites", tag = "accounts", security(("bearer" = [])),
    responses((status = 201, body = InviteCreated), (status = 401, body = ErrorBody), (status = 403, body = ErrorBody)))]
/// Creates a single-use invite from the caller's quota.
pub async fn create_invite(
    State(state): State<AppState>,
    session: Session,
) -> Result<(StatusCode, Json<InviteCreated>), ApiError> {
    let code =
        state.store.create_user_invite(session.account.id, state.live.invite_quota()).await.map_err(|e| match e {
            stoa_store::StoreError::QuotaExhausted => ApiError::forbidden(
                "invite_quota_exhausted",
                format!("You have used all {} of your invites.", state.live.invite_quota()),
            ),
            other => other.into(),
        })?;
    let url = state.invite_url(&code);
    Ok((StatusCode::CREATED, Json(InviteCreated { code, url })))
}

#[utoipa::path(get, path = "/api/v1/invites", tag = "accounts", security(("bearer" = [])),
    responses((status = 200, body = InviteList), (status = 401, body = ErrorBody)))]
/// The caller's remaining quota and the invites they made.
pub async fn list_invites(State(state): State<AppState>, session: Session) -> Result<Json<InviteList>, ApiError> {
    let invites = state.store.invites_of(session.account.id).await?;
    let quota = state.live.invite_quota() as i64;
    Ok(Json(InviteList {
        remaining: (quota - invites.len() as i64).max(0),
        quota,
        invites: invites
            .into_iter()
            .map(|i| InviteInfo { url: state.invite_url(&i.code), code: i.code, used_by: i.used_by })
            .collect(),
    }))
}
