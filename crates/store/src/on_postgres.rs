//! The SQL of every trait (`sql/*.rs`), compiled for Postgres: there, `super::backend` is [`crate::postgres`].
// The same files are compiled once per backend on purpose: that is how the two share one SQL.
#![allow(clippy::duplicate_mod)]

use crate::postgres as backend;

#[path = "sql/backchannel.rs"]
mod backchannel;
#[path = "sql/clubs.rs"]
mod clubs;
#[path = "sql/community.rs"]
mod community;
#[path = "sql/core.rs"]
mod core;
#[path = "sql/notify.rs"]
mod notify;
#[path = "sql/recordings.rs"]
mod recordings;
#[path = "sql/social.rs"]
mod social;
#[path = "sql/webhooks.rs"]
mod webhooks;
