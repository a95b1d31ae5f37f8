//! The HTTP API, one module per area, each exposing `router()`; [`crate::app`] merges them.

pub mod account;
pub mod accounts;
pub mod admin;
pub mod avatars;
pub mod backchannel;
pub mod club_admin;
pub mod clubs;
pub mod egress;
pub mod events;
pub mod meta;
pub mod moderation;
pub mod notifications;
pub mod openapi;
pub mod restream;
pub mod rooms;
pub mod search;
pub mod share;
pub mod tokens;
pub mod transcripts;
pub mod users;
pub mod web;
pub mod webhooks;
pub mod webrtc;

use crate::error::ApiError;
use serde::Deserialize;
use std::sync::Arc;
use stoa_store::Account;
use utoipa::IntoParams;

/// What only some routes hold, made once per server: not in [`crate::AppState`], which holds what many share.
pub struct Private {
    /// The WHIP and WHEP sessions (`webrtc`).
    pub http_peers: Arc<webrtc::HttpPeers>,
    /// Where avatars are decoded (`avatars`; `/metrics` counts its refusals).
    pub avatar_pool: stoa_egress::pool::WorkPool,
}

/// `?cursor=&limit=` for lists paged by cursor.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CursorQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// A list's page size: `limit` if given, within 1 to [`stoa_proto::limits::PAGE_MAX`], else the default.
pub fn page_limit(limit: Option<u32>) -> Result<u32, ApiError> {
    use stoa_proto::limits::{PAGE_DEFAULT, PAGE_MAX};
    match limit {
        None => Ok(PAGE_DEFAULT),
        Some(n) if (1..=PAGE_MAX).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::bad_request("invalid_limit", format!("A page has 1 to {PAGE_MAX} entries."))),
    }
}

/// The proto view of an account's own data.
pub fn me_of(account: &Account) -> stoa_proto::Me {
    account.me()
}

/// Checks a display name: 1 to 50 characters once trimmed, no control characters. Returns it trimmed.
pub fn valid_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let len = name.chars().count();
    let limit = stoa_proto::limits::DISPLAY_NAME;
    if len < limit.min || len > limit.max || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request(
            "invalid_display_name",
            format!("A display name has {} to {} characters.", limit.min, limit.max),
        ));
    }
    Ok(name.to_string())
}

/// A username as sign-up, login and the login limiter all read it: trimmed and lower-case, so that
/// ` alice`, `alice\t` and `ALICE` are one account and one rate-limit budget.
pub fn normalize_username(name: &str) -> String {
    name.trim().to_ascii_lowercase()
}

/// Folds a username to lower case and checks it: 3 to 20 characters of `[a-z0-9_]`.
pub fn valid_username(name: &str) -> Result<String, ApiError> {
    let name = normalize_username(name);
    let limit = stoa_proto::limits::USERNAME;
    if !(limit.min..=limit.max).contains(&name.len())
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ApiError::bad_request(
            "invalid_username",
            "A username has 3 to 20 characters: lower-case letters, digits and underscores.",
        ));
    }
    Ok(name)
}

/// Checks a room's or an event's title (`what`: "A room's", "An event's"): within `limits::ROOM_TITLE` once
/// trimmed, with no control characters, line breaks included. Returns it trimmed. The one title check.
pub(crate) fn valid_title(title: &str, what: &str) -> Result<String, crate::error::ApiError> {
    let limit = stoa_proto::limits::ROOM_TITLE;
    let title = title.trim();
    let len = title.chars().count();
    if !(limit.min..=limit.max).contains(&len) || title.chars().any(char::is_control) {
        return Err(crate::error::ApiError::bad_request(
            "invalid_title",
            format!("{what} title has {} to {} characters.", limit.min, limit.max),
        ));
    }
    Ok(title.to_string())
}
