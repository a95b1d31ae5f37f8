//! Stoa's live layer, under the HTTP API and above the room rules, the media plane and the store: one task
//! per live room ([`live`]), the routing seam through which a room reaches connections on other nodes
//! (`live::Nodes`, which `stoa-cluster` implements), and what rooms and routes both set going: notifications
//! ([`notify`]), webhooks, recordings, the record of rooms, and the revocation of live connections.
//!
//! It knows nothing of HTTP routes or of the cluster: `stoa-server` serves it, and `stoa-cluster` carries it
//! between nodes.

#![deny(missing_docs)]

pub mod captions;
pub mod clock;
pub mod limits;
pub mod live;
pub mod metrics;
pub mod notify;
pub mod outbound;
pub mod random;
pub mod recordings;
pub mod revoke;
pub mod room_log;
pub mod texts;
pub mod turn;
pub mod webhooks;
