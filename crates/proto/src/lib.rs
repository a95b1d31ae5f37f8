//! Stoa's wire types: every body the HTTP API takes or returns, every WebSocket message, and the typed IDs
//! they carry.
//!
//! This is the only crate whose public types derive `serde`. Domain crates (`stoa-room`, `stoa-store`) keep
//! their own types and convert at the edge, so that a change of wire format is a change here and in the
//! conversions, nothing deeper. Every type also derives `utoipa::ToSchema`, which is how the OpenAPI
//! document at `/api/v1/openapi.json` stays generated from the code.
//!
//! Naming: JSON fields are `snake_case`; enums are internally tagged with `"type"` and `snake_case` variants.

#![deny(missing_docs)]

mod api;
mod backchannel;
mod clubs;
mod community;
mod hooks;
mod ids;
pub mod limits;
mod social;
mod ws;

pub use api::*;
pub use backchannel::*;
pub use clubs::*;
pub use community::*;
pub use hooks::*;
pub use ids::*;
pub use social::*;
pub use ws::*;
