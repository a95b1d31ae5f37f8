//! The HTTP API, one module per area, each exposing `router()`; [`crate::app`] merges them.

pub mod accounts;
pub mod meta;
pub mod rooms;
pub mod users;
pub mod web;

use crate::error::ApiError;
use serde::Deserialize;
use stoa_store::Account;
use utoipa::IntoParams;

/// `?cursor=&limit=` for lists paged by cursor.
#[derive(Debug, Deserialize, IntoParams)]
pub struct CursorQuery {
    /// The `next_cursor` of the previous page.
    pub cursor: Option<i64>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<u32>,
}

/// The proto view of an account's own data.
pub fn me_of(account: &Account) -> stoa_proto::Me {
    stoa_proto::Me {
        id: account.id,
        username: account.username.clone(),
        display_name: account.display_name.clone(),
        bio: account.bio.clone(),
        is_admin: account.is_admin,
        nominated_by: account.nominated_by.clone(),
    }
}

/// Checks a display name: 1 to 50 characters once trimmed, no control characters. Returns it trimmed.
pub fn valid_display_name(name: &str) -> Result<String, ApiError> {
    let name = name.trim();
    let len = name.chars().count();
    if len == 0 || len > 50 || name.chars().any(char::is_control) {
        return Err(ApiError::bad_request("invalid_display_name", "A display name has 1 to 50 characters."));
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
    if !(3..=20).contains(&name.len())
        || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(ApiError::bad_request(
            "invalid_username",
            "A username has 3 to 20 characters: lower-case letters, digits and underscores.",
        ));
    }
    Ok(name)
}
