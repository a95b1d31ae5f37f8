//! Every message between nodes: the subjects they travel on, their shapes, and the signed envelope that
//! carries each one.
//!
//! **The envelope** is binary:
//!
//! ```text
//! mac (32 bytes) | version (1) | node length (1) | node | sent, Unix ms (i64 BE) | nonce (u64 BE)
//!                | head length (u32 BE) | head (the message's JSON) | raw (bytes, as they are)
//! ```
//!
//! `mac` is HMAC-SHA256, under the key the nodes share through the store, of the subject, a zero byte, and
//! everything after the mac: a message moved to another subject (another room, another node) does not
//! open. The raw part carries what is already bytes (an event's JSON, a file's chunk, an HTTP body) as it
//! is, so that an event is never JSON escaped inside JSON, nor a file base64 inside it. A message from
//! anyone without the key, older than [`MAX_AGE`] by its sender's clock, or whose nonce was seen before is
//! refused and counted.

use hmac::{Hmac, Mac};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use stoa_live::clock::now_ms;
use stoa_live::live::{NodeName, RoomReply, RoomRequest};
use stoa_proto::{RoomId, RoomInfo};
use stoa_room::{Access, ConnId};

/// Messages older than this (by their sender's clock) are refused, and nonces are remembered this long.
pub const MAX_AGE: Duration = Duration::from_secs(30);
/// Nonces remembered at most.
const MAX_NONCES: usize = 1_000_000;
/// The envelope's version byte.
const VERSION: u8 = 1;

// The subjects.

/// Heartbeats.
pub const NODES: &str = "stoa.nodes";
/// Notification streams to wake or close, and credentials that changed.
pub const NOTIFY: &str = "stoa.notify";
/// Live rooms' news from their owners.
pub const ROOMS: &str = "stoa.rooms";
/// Reads of recordings another node wrote.
pub const FILES: &str = "stoa.files";
/// Recordings deleted.
pub const FILES_DELETED: &str = "stoa.files.deleted";

/// Where a room's requests go: to its owner.
pub fn room_in(room: &RoomId) -> String {
    format!("stoa.room.{room}.in")
}

/// Where a room's owner sends what is for one node's connections.
pub fn room_to(room: &RoomId, node: &str) -> String {
    format!("stoa.room.{room}.to.{node}")
}

/// Where a room's owner sends room-wide events, once, for every node that holds connections in the room.
pub fn room_all(room: &RoomId) -> String {
    format!("stoa.room.{room}.all")
}

/// Where a node takes forwarded HTTP requests.
pub fn http(node: &str) -> String {
    format!("stoa.http.{node}")
}

// The messages.

/// What a node says of itself once a second.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Heartbeat {
    /// Where its HTTP API is.
    pub url: String,
    /// Where its media plane receives UDP.
    pub media: String,
    /// Live rooms it owns.
    pub rooms: u32,
    /// Media peers it carries.
    pub media_peers: u32,
}

/// A live room's news from its owner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RoomNews {
    /// Which room.
    pub room: RoomId,
    /// Its snapshot.
    pub info: RoomInfo,
    /// Who may see and join it.
    pub access: Access,
    /// Whether it ended.
    pub ended: bool,
}

/// Users whose notification streams must wake (something was stored for them), or close; or whose
/// credentials changed, so that their live connections check theirs again (`revoke`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Notify {
    /// Whom.
    pub users: Vec<stoa_proto::UserId>,
    /// Close their streams rather than wake them.
    pub close: bool,
    /// Their credentials changed.
    #[serde(default)]
    pub revoke: bool,
    /// A private message's wake: each node with a tab open for some of them answers with those.
    #[serde(default)]
    pub ask_tabs: bool,
    /// The answer: the sending node has a tab open for these users (nobody's stream wakes).
    #[serde(default)]
    pub tabs_open: bool,
}

/// What a node sends a room's owner: a request, and the node's ticket for its answer if it wants one.
#[derive(Debug, Serialize, Deserialize)]
pub struct FromNode {
    /// The node's number for the answer.
    pub ticket: Option<u64>,
    /// The request, as a route or socket on that node made it.
    pub request: RoomRequest,
}

/// What a room has for another node's connections, in the order the room made it. The node's side of the
/// routing reads it and acts for its connections (see `relay.rs`).
#[derive(Debug, Serialize, Deserialize)]
pub enum ToNode {
    /// The answer to a request the node made, under the node's ticket: a join's answer comes this way so
    /// that nothing for the connection overtakes it.
    Reply {
        /// The node's ticket.
        ticket: u64,
        /// The answer.
        reply: RoomReply<ConnId>,
    },
    /// A personal event.
    Event {
        /// For whom.
        conn: ConnId,
        /// The encoded event (carried apart from the rest: see [`ToNode::take_text`]).
        #[serde(skip)]
        text: String,
    },
    /// The room closes this connection.
    Close {
        /// Which.
        conn: ConnId,
    },
    /// A room-wide event, once for all of the node's connections.
    Broadcast {
        /// The encoded event (carried apart from the rest).
        #[serde(skip)]
        text: String,
    },
    /// A connection's media offer, for the node that holds the connection to answer from its own SFU (a
    /// listener's media is served where its socket is).
    HostMedia {
        /// Whose.
        conn: ConnId,
        /// The offer.
        sdp: String,
        /// The `slots` event as it stands, to send after the answer.
        slots: Option<String>,
        /// The connection's source number: the CSRC its packets carry, up the link and back down.
        source: u32,
        /// Whether it may be heard now (sent up the link).
        publish: bool,
        /// 20 ms frames per audience packet in the room now (see `AudienceFrames`).
        frames: usize,
    },
    /// How many 20 ms frames the room's audience packets join. While a node's connections include one that
    /// may be heard, the origin sends that node's link the stage's 20 ms packets, and its mirror joins
    /// them for its own listeners as the origin would.
    AudienceFrames {
        /// 1 (no joining) to 6.
        frames: usize,
    },
    /// Whether a connection whose media the node serves may be heard now: the stage changed.
    Publish {
        /// Whose.
        conn: ConnId,
        /// Whether its packets go up the link.
        publish: bool,
    },
    /// The room ended.
    Ended,
}

impl ToNode {
    /// Takes out the event's text, which a transport carries as it is beside the rest of the message
    /// (serialized, the message leaves it out). Empty for messages without one.
    pub fn take_text(&mut self) -> String {
        match self {
            ToNode::Event { text, .. } | ToNode::Broadcast { text } => std::mem::take(text),
            _ => String::new(),
        }
    }

    /// Puts back the text [`ToNode::take_text`] took out.
    pub fn put_text(&mut self, raw: String) {
        if let ToNode::Event { text, .. } | ToNode::Broadcast { text } = self {
            *text = raw;
        }
    }
}

/// What a room's owner sends a node (on the node's subject, or on the room's subject for all of them): a
/// [`ToNode`] with the room's sequence number. A node reads both subjects in that order, so that nothing
/// for one connection overtakes anything for everyone, or the reverse. An event's text travels raw.
#[derive(Debug, Serialize, Deserialize)]
pub struct FromOwner {
    /// The room's count of what it sent other nodes, on either subject.
    pub seq: u64,
    /// The message, its text (if any) apart.
    pub message: ToNode,
}

/// A public HTTP request forwarded to the node that can answer it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    /// The method.
    pub method: String,
    /// The path and query.
    pub uri: String,
    /// The headers passed on.
    pub headers: Vec<(String, String)>,
}

/// The answer to a [`Forwarded`] request; its body travels raw.
#[derive(Debug, Serialize, Deserialize)]
pub struct Answered {
    /// The status.
    pub status: u16,
    /// The headers passed back.
    pub headers: Vec<(String, String)>,
}

/// A read of a recording another node wrote.
#[derive(Debug, Serialize, Deserialize)]
pub struct Read {
    /// The file's name in the recordings folder, as the store has it.
    pub file: String,
    /// Where the read starts.
    pub offset: u64,
}

/// A recording deleted: whoever holds the file removes it.
#[derive(Debug, Serialize, Deserialize)]
pub struct Deleted {
    /// The file's name in the recordings folder.
    pub file: String,
}

/// The answer to a [`Read`]; the bytes from the offset travel raw.
#[derive(Debug, Serialize, Deserialize)]
pub struct Chunk {
    /// The whole file's length.
    pub len: u64,
}

// The envelope.

/// A message opened: who sent it, its head, and its raw part.
#[derive(Debug)]
pub struct Opened<T> {
    /// The sending node.
    pub from: NodeName,
    /// The message.
    pub head: T,
    /// What travelled raw.
    pub raw: bytes::Bytes,
}

/// The nonces of the messages accepted in the last [`MAX_AGE`] (twice over), oldest first.
type Nonces = (HashSet<u64>, VecDeque<(Instant, u64)>);

/// Seals this node's messages and opens the others'.
pub struct Envelopes {
    node: NodeName,
    key: Vec<u8>,
    seen: Mutex<Nonces>,
    /// Messages refused: bad signature, too old, replayed, or malformed.
    pub refused: AtomicU64,
}

impl Envelopes {
    /// Envelopes from `node`, under the cluster's `key`.
    pub fn new(node: NodeName, key: Vec<u8>) -> Envelopes {
        Envelopes { node, key, seen: Mutex::new((HashSet::new(), VecDeque::new())), refused: AtomicU64::new(0) }
    }

    fn mac(&self, subject: &str, rest: &[u8]) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key length");
        mac.update(subject.as_bytes());
        mac.update(&[0]);
        mac.update(rest);
        mac
    }

    /// `head`, with `raw` after it, sealed for `subject`.
    pub fn seal<T: Serialize>(&self, subject: &str, head: &T, raw: &[u8]) -> bytes::Bytes {
        self.seal_at(subject, head, raw, now_ms(), stoa_live::random::u64())
    }

    fn seal_at<T: Serialize>(&self, subject: &str, head: &T, raw: &[u8], sent: i64, nonce: u64) -> bytes::Bytes {
        let json = serde_json::to_vec(head).unwrap_or_default();
        let node = self.node.as_bytes();
        let mut out = Vec::with_capacity(32 + 2 + node.len() + 20 + json.len() + raw.len());
        out.extend_from_slice(&[0; 32]);
        out.push(VERSION);
        // Node names are at most 64 bytes (`valid_node_name`).
        out.push(node.len() as u8);
        out.extend_from_slice(node);
        out.extend_from_slice(&sent.to_be_bytes());
        out.extend_from_slice(&nonce.to_be_bytes());
        out.extend_from_slice(&(json.len() as u32).to_be_bytes());
        out.extend_from_slice(&json);
        out.extend_from_slice(raw);
        let mac = self.mac(subject, &out[32..]).finalize().into_bytes();
        out[..32].copy_from_slice(&mac);
        out.into()
    }

    /// A message's sender, head and raw part, if it is signed with the cluster's key for this subject,
    /// fresh, well formed, and not seen before.
    pub fn open<T: DeserializeOwned>(&self, subject: &str, payload: &bytes::Bytes) -> Option<Opened<T>> {
        let opened = self.try_open(subject, payload);
        if opened.is_none() {
            self.refused.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(subject, "refused a cluster message: not signed with the cluster's key, stale, or replayed");
        }
        opened
    }

    fn try_open<T: DeserializeOwned>(&self, subject: &str, payload: &bytes::Bytes) -> Option<Opened<T>> {
        let (mac, rest) = payload.split_at_checked(32)?;
        self.mac(subject, rest).verify_slice(mac).ok()?;
        let mut at = 32;
        let mut take = |n: usize| {
            let part = payload.get(at..at + n)?;
            at += n;
            Some(part)
        };
        if take(1)? != [VERSION] {
            return None;
        }
        let node_len = take(1)?[0] as usize;
        let from = std::str::from_utf8(take(node_len)?).ok()?.to_string();
        let sent = i64::from_be_bytes(take(8)?.try_into().ok()?);
        let nonce = u64::from_be_bytes(take(8)?.try_into().ok()?);
        let head_len = u32::from_be_bytes(take(4)?.try_into().ok()?) as usize;
        let head: T = serde_json::from_slice(take(head_len)?).ok()?;
        let raw = payload.slice(at..);
        if (now_ms() - sent).unsigned_abs() > MAX_AGE.as_millis() as u64 {
            return None;
        }
        self.first_sight(nonce).then(|| Opened { from: NodeName::from(from.as_str()), head, raw })
    }

    /// Whether a nonce is new (and now remembered).
    fn first_sight(&self, nonce: u64) -> bool {
        let mut seen = self.seen.lock().unwrap_or_else(|e| e.into_inner());
        let (set, order) = &mut *seen;
        while let Some(&(at, old)) = order.front() {
            if at.elapsed() < MAX_AGE * 2 {
                break;
            }
            order.pop_front();
            set.remove(&old);
        }
        if !set.insert(nonce) {
            return false;
        }
        order.push_back((Instant::now(), nonce));
        // Bounded whatever the rate: past the cap the oldest nonces go first (a replay of one of those would
        // still need a valid signature and to be under MAX_AGE old).
        while order.len() > MAX_NONCES {
            if let Some((_, old)) = order.pop_front() {
                set.remove(&old);
            }
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn capacity(capacity: u32) -> FromNode {
        FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity } }
    }

    #[test]
    fn a_message_is_opened_once_only_if_signed_with_the_key_for_its_subject_fresh_and_whole() {
        let a = Envelopes::new(NodeName::from("a"), b"the cluster's key".to_vec());
        let subject = "stoa.room.x.in";
        let sealed = a.seal(subject, &capacity(7), b"raw \"bytes\"");
        let opened = a.open::<FromNode>(subject, &sealed).expect("a sealed message opens");
        assert_eq!(opened.from.as_str(), "a");
        assert!(matches!(opened.head, FromNode { ticket: None, request: RoomRequest::SetCapacity { capacity: 7 } }));
        // The raw part is carried as it is, not escaped.
        assert_eq!(&opened.raw[..], b"raw \"bytes\"");
        assert!(sealed.windows(11).any(|w| w == b"raw \"bytes\""));
        // The same message again is a replay.
        assert!(a.open::<FromNode>(subject, &sealed).is_none());
        // On another subject (another room), it is not valid.
        let sealed = a.seal(subject, &capacity(7), b"");
        assert!(a.open::<FromNode>("stoa.room.y.in", &sealed).is_none());
        // A byte changed anywhere, or signed with another key: refused.
        for i in [0, 33, 40, sealed.len() - 1] {
            let mut bent = sealed.to_vec();
            bent[i] ^= 1;
            assert!(a.open::<FromNode>(subject, &bent.into()).is_none(), "byte {i} changed");
        }
        let b = Envelopes::new(NodeName::from("b"), b"another key".to_vec());
        assert!(a.open::<FromNode>(subject, &b.seal(subject, &capacity(7), b"")).is_none());
        // Signed right but stale, or from the future.
        let stale = a.seal_at(subject, &capacity(7), b"", now_ms() - MAX_AGE.as_millis() as i64 - 1000, 42);
        assert!(a.open::<FromNode>(subject, &stale).is_none());
        let early = a.seal_at(subject, &capacity(7), b"", now_ms() + MAX_AGE.as_millis() as i64 + 1000, 43);
        assert!(a.open::<FromNode>(subject, &early).is_none());
        // Cut short, or a head that is not the message asked for.
        let whole = a.seal(subject, &capacity(7), b"");
        assert!(a.open::<FromNode>(subject, &whole.slice(..whole.len() - 3)).is_none());
        assert!(a.open::<Heartbeat>(subject, &a.seal(subject, &capacity(7), b"")).is_none());
        assert_eq!(a.refused.load(Ordering::Relaxed), 11);
    }

    #[test]
    fn a_room_event_crosses_as_its_own_bytes() {
        let a = Envelopes::new(NodeName::from("a"), b"k".to_vec());
        let text = r#"{"type":"chat_message","text":"say \"hi\""}"#;
        let mut message = ToNode::Broadcast { text: text.to_string() };
        let raw = message.take_text();
        let sealed = a.seal("s", &FromOwner { seq: 9, message }, raw.as_bytes());
        // The event's JSON appears once, unescaped, after the head.
        assert!(sealed.windows(text.len()).any(|w| w == text.as_bytes()));
        let opened = a.open::<FromOwner>("s", &sealed).expect("opens");
        let mut message = opened.head.message;
        message.put_text(std::str::from_utf8(&opened.raw).unwrap().to_string());
        assert!(matches!(message, ToNode::Broadcast { text: t } if t == text));
        assert_eq!(opened.head.seq, 9);
    }
}
