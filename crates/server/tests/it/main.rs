//! The server's integration tests, one binary: each file is a module (the feature it tests), over the
//! shared harness in `common` (a real server on port 0 with a fresh database, HTTP and WebSocket clients).
//! One binary links the server once, where a binary per file linked it once per file.

mod accounts;
mod backchannel;
mod bad_input;
mod chat;
mod club_rooms;
mod clubs;
mod common;
mod community;
mod events;
mod forgery;
mod languages;
mod lifecycle;
mod notifications;
mod profiles;
mod revocation;
mod rooms;
mod search;
mod share;
mod tokens;
mod turn;
mod web_build;
