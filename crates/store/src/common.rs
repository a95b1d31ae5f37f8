//! What both SQL backends share that does not touch the database.

use crate::StoreError;
use std::time::{SystemTime, UNIX_EPOCH};
use stoa_proto::{UserId, Visibility};

/// Invite codes: 12 characters of `[a-z0-9]`, about 62 bits, unguessable by trying.
pub(crate) const INVITE_CODE_LEN: usize = 12;

/// A session unused for this long is over.
pub const SESSION_IDLE_SECS: i64 = 30 * 24 * 3600;
/// How long a deleted account's username stays reserved: 30 days.
pub const USERNAME_RESERVED_SECS: i64 = 30 * 24 * 3600;
/// A session this old is over, however much it is used.
pub const SESSION_MAX_SECS: i64 = 365 * 24 * 3600;
/// How stale a session's last use may be before reading it writes the new time: an hour, so an active user
/// costs one write an hour rather than one per request, and the idle limit is still kept to the hour.
pub(crate) const SESSION_TOUCH_SECS: i64 = 3600;

pub(crate) fn now() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs() as i64).unwrap_or(0)
}

pub(crate) fn visibility_str(v: Visibility) -> &'static str {
    match v {
        Visibility::Open => "open",
        Visibility::Social => "social",
        Visibility::Closed => "closed",
    }
}

/// The one place a unique-key violation becomes a domain error.
pub(crate) fn on_unique(e: sqlx::Error, err: StoreError) -> StoreError {
    match &e {
        sqlx::Error::Database(db) if db.is_unique_violation() => err,
        _ => StoreError::Database(e),
    }
}

/// The links column: a JSON array of strings (SQLite's `json_array` wrote it); anything else is no links.
pub(crate) fn parse_links(json: &str) -> Vec<String> {
    serde_json::from_str(json).unwrap_or_default()
}

/// Where a user's avatar is served (256 px; `?size=64` for the small one). The version makes the address
/// change with each upload, so that it can be cached for good.
pub fn avatar_path(user: UserId, version: i64) -> String {
    format!("/avatars/{user}/{version}.jpg")
}

/// A list of IDs as a JSON array, bound as one parameter; the backend reads it as a table (`ids(n)`).
pub(crate) fn json_ids(ids: impl IntoIterator<Item = i64>) -> String {
    let ids: Vec<String> = ids.into_iter().map(|i| i.to_string()).collect();
    format!("[{}]", ids.join(","))
}

/// A token's scopes as the store keeps them: their names, sorted, once each, space-separated.
pub(crate) fn scope_text(scopes: &[stoa_proto::Scope]) -> String {
    let mut names: Vec<&str> = scopes.iter().map(|s| s.as_str()).collect();
    names.sort_unstable();
    names.dedup();
    names.join(" ")
}

/// The scopes of [`scope_text`]'s text; an unknown name is skipped.
pub(crate) fn parse_scopes(text: &str) -> Vec<stoa_proto::Scope> {
    text.split_whitespace().filter_map(stoa_proto::Scope::parse).collect()
}

/// Refuses a database whose newest migration (`newest`, none for a new one) is past what `migrator` knows: a
/// newer build made it, and this one would not know its tables. Nothing is changed.
pub(crate) fn refuse_newer(newest: Option<i64>, migrator: &sqlx::migrate::Migrator) -> Result<(), crate::StoreError> {
    let known = migrator.iter().map(|m| m.version).max().unwrap_or(0);
    match newest {
        Some(found) if found > known => {
            Err(crate::StoreError::TooNew { found, known, version: env!("CARGO_PKG_VERSION") })
        }
        _ => Ok(()),
    }
}
