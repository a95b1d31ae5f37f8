//! Messages on a room's WebSocket, `GET /api/v1/rooms/{id}/ws`.
//!
//! Both directions are JSON text frames, internally tagged by `"type"`. A client command may carry an `id`;
//! an `error` event caused by that command echoes it, so a client can tell which of its commands failed.
//! New message kinds are new variants: WebRTC signaling (offer, answer, candidates, ICE restart) joins these
//! enums as its own variants, next to the room's commands and events, on the same socket.

use crate::{HandMode, Role, RoomInfo, RoomOutputs, StageMember, UserId, UserSummary};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// What one connection to a room may do, decided by the scopes of the token it joined with. Every
/// connection may listen, leave, offer its media and `ping`; `speak` adds the hand, accepting an invitation
/// and speaking; `rooms:write` adds moderation, chat, reactions, the room's outputs and ending it. A command
/// outside the grant is refused with an `error` event, `code: "missing_scope"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Grant {
    /// Raise a hand, accept an invitation to speak, be heard (the `speak` scope).
    pub speak: bool,
    /// Moderate, chat, react, set the outputs, end the room (the `rooms:write` scope).
    pub write: bool,
}

impl Grant {
    /// A password's session: everything.
    pub const ALL: Grant = Grant { speak: true, write: true };
    /// Listening only.
    pub const LISTEN: Grant = Grant { speak: false, write: false };

    /// Whether the grant covers what `command` needs.
    pub fn allows(self, command: &ClientCommand, actor: UserId) -> bool {
        match command.needs(actor) {
            Needs::Nothing => true,
            Needs::Speak => self.speak,
            Needs::Write => self.write,
        }
    }
}

impl Default for Grant {
    /// Older servers sent no grant: they let every connection do everything.
    fn default() -> Self {
        Grant::ALL
    }
}

/// What a command needs beyond being in the room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Needs {
    /// Open to every connection: listening, leaving, media signaling, keep-alives.
    Nothing,
    /// The `speak` scope.
    Speak,
    /// The `rooms:write` scope.
    Write,
}

impl ClientCommand {
    /// What this command needs of a connection's grant when `actor` sends it. Leaving the stage oneself is
    /// part of speaking; moving someone else is moderation.
    pub fn needs(&self, actor: UserId) -> Needs {
        use ClientCommand as C;
        match self {
            C::Ping
            | C::Leave
            | C::Offer { .. }
            | C::Candidate { .. }
            | C::SetCaptions { .. }
            | C::DeviceKey { .. }
            | C::E2eeKeys { .. } => Needs::Nothing,
            C::RaiseHand | C::LowerHand | C::AcceptInvite | C::DeclineInvite | C::SetMuted { .. } => Needs::Speak,
            C::MoveToAudience { user_id } if *user_id == actor => Needs::Speak,
            C::MoveToAudience { .. }
            | C::InviteToSpeak { .. }
            | C::MakeModerator { .. }
            | C::RemoveModerator { .. }
            | C::Mute { .. }
            | C::Remove { .. }
            | C::SetHandMode { .. }
            | C::EndRoom
            | C::SendChat { .. }
            | C::DeleteChat { .. }
            | C::SilenceChat { .. }
            | C::SetChatMode { .. }
            | C::SetOutputs { .. }
            | C::React { .. } => Needs::Write,
        }
    }
}

/// A frame from the client: an optional correlation `id` and a command.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClientMessage {
    /// Echoed in an `error` event caused by this command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<u64>,
    /// What the client asks for.
    #[serde(flatten)]
    pub command: ClientCommand,
}

/// What a participant can ask of the room. Moderator-only commands are refused with an `error` event
/// (`code: "forbidden"`) for anyone else.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "type", rename_all = "snake_case", remote = "Self")]
pub enum ClientCommand {
    /// A listener raises their hand (subject to the room's hand mode).
    RaiseHand,
    /// A listener lowers their hand.
    LowerHand,
    /// Moderator: invite a listener to speak. They answer with `accept_invite` or `decline_invite`.
    InviteToSpeak {
        /// Whom.
        user_id: UserId,
    },
    /// Accept a pending invitation to speak, and go on stage.
    AcceptInvite,
    /// Decline a pending invitation to speak.
    DeclineInvite,
    /// Moderator: move a speaker to the audience. A speaker may also move themselves.
    MoveToAudience {
        /// Whom.
        user_id: UserId,
    },
    /// Moderator: make a participant a moderator (a listener is brought on stage).
    MakeModerator {
        /// Whom.
        user_id: UserId,
    },
    /// Moderator: make a moderator a plain speaker. The last moderator cannot be removed.
    RemoveModerator {
        /// Whom.
        user_id: UserId,
    },
    /// Moderator: mute a person on stage. They may unmute themselves.
    Mute {
        /// Whom.
        user_id: UserId,
    },
    /// Turns live captions on or off for this connection. With them on, each line a speaker says comes as
    /// a `caption` event; with them off (the default) the connection is sent none, and a room where nobody
    /// has them on transcribes nothing. A server without a caption engine answers with an `error`
    /// (`code: "no_captions"`).
    SetCaptions {
        /// On or off.
        on: bool,
    },
    /// A person on stage mutes or unmutes their own microphone.
    SetMuted {
        /// The new state.
        muted: bool,
    },
    /// Moderator: remove a participant from the room. They cannot rejoin it.
    Remove {
        /// Whom.
        user_id: UserId,
    },
    /// Moderator: change who may raise a hand.
    SetHandMode {
        /// The new mode.
        mode: HandMode,
    },
    /// Leave quietly: nobody is told, unless the leaver was on stage.
    Leave,
    /// Moderator: end the room for everyone.
    EndRoom,
    /// Keep-alive; answered with `pong`.
    Ping,
    /// WebRTC: the client's SDP offer. Every participant offers one audio m-line it sends on (used only
    /// while it is an unmuted speaker) and up to three it receives on (the slots). A new offer replaces the
    /// client's previous media connection, which is how a client restarts ICE. Answered with `answer`.
    Offer {
        /// The SDP.
        sdp: String,
    },
    /// Write in the room's chat: 1 to 500 characters of plain text (no control characters but newlines).
    /// Who may write is the room's chat mode; one message a second per person, and at most 20 a second in a
    /// room, past which the room goes into slow mode (one message per person every 10 s, for 30 s).
    SendChat {
        /// The text.
        text: String,
    },
    /// Moderator: delete a chat message for everyone.
    DeleteChat {
        /// Which.
        message_id: u64,
    },
    /// Moderator: silence (or let speak again) one person's chat in this room.
    SilenceChat {
        /// Whom.
        user_id: UserId,
        /// Silenced or not.
        silenced: bool,
    },
    /// Moderator: change who may write in the chat.
    SetChatMode {
        /// The new mode.
        mode: ChatMode,
    },
    /// Moderator: change what the room's audio goes to; each field given is set, each absent one kept.
    /// The listen link is for open rooms only.
    SetOutputs {
        /// Record a replay.
        #[serde(default)]
        recording: Option<bool>,
        /// Let listeners clip the last 30 seconds.
        #[serde(default)]
        clips: Option<bool>,
        /// The public listen link.
        #[serde(default)]
        listen_link: Option<bool>,
        /// Whether live captions may be turned on; off stops them for everyone in the room at once.
        #[serde(default)]
        captions: Option<bool>,
    },
    /// A reaction. Reactions are counted and sent to everyone twice a second as totals, never one by one;
    /// at most 5 per person in each half second count.
    React {
        /// Which.
        reaction: Reaction,
    },
    /// WebRTC: a trickled ICE candidate. The server is ICE-lite and learns the client's address from its
    /// connectivity checks, so candidates are accepted and need not be sent.
    Candidate {
        /// The candidate line.
        candidate: String,
    },
    /// End-to-end encrypted rooms: this device's public key (X25519, 32 bytes in unpadded base64url, 43
    /// characters), for the room's key to be wrapped for. The secret never leaves the device. Each new key
    /// starts a new epoch.
    DeviceKey {
        /// The public key.
        public_key: String,
    },
    /// End-to-end encrypted rooms, from the keyholder asked by `e2ee_rekey`: the epoch's key wrapped for
    /// each member's device, in the order of the request's `members` (unpadded base64url, 130 characters
    /// each).
    E2eeKeys {
        /// The epoch asked for.
        epoch: u32,
        /// One blob per member, in the request's order.
        wrapped: Vec<String>,
    },
}

/// A device in an end-to-end encrypted room's epoch: whose it is and its public key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct E2eeMember {
    /// The participant.
    pub user_id: UserId,
    /// Their device's X25519 public key, unpadded base64url.
    pub device_key: String,
}

/// Who may write in a room's chat. Everyone in the room may always read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum ChatMode {
    /// Everyone in the room.
    #[default]
    Everyone,
    /// Moderators and speakers.
    Speakers,
    /// Nobody: the chat is closed.
    Off,
}

/// The reactions a room takes: a small fixed set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum Reaction {
    /// 👏
    Clap,
    /// ❤️
    Heart,
    /// 😂
    Laugh,
    /// 🔥
    Fire,
    /// 💯
    Hundred,
    /// 🙌
    Raised,
}

impl Reaction {
    /// Every reaction, in the order clients show them.
    pub const ALL: [Reaction; 6] =
        [Reaction::Clap, Reaction::Heart, Reaction::Laugh, Reaction::Fire, Reaction::Hundred, Reaction::Raised];
}

/// How many times a reaction was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ReactionCount {
    /// Which.
    pub reaction: Reaction,
    /// How many times, in the last half second.
    pub count: u32,
}

/// One chat message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct ChatMessage {
    /// Its ID in the room, increasing.
    pub id: u64,
    /// Who wrote it.
    pub user: UserSummary,
    /// The text, plain (clients show links as links; the server never fetches them).
    pub text: String,
    /// When, in milliseconds since 1970 (UTC).
    pub sent_at_ms: u64,
}

/// The chat as a joiner finds it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize, ToSchema, TS)]
pub struct ChatState {
    /// Who may write.
    pub mode: ChatMode,
    /// The last 100 messages, oldest first.
    pub messages: Vec<ChatMessage>,
    /// Whether slow mode is on.
    pub slow_mode: bool,
    /// Whether you are silenced in this room.
    pub silenced: bool,
}

/// A TURN (or STUN) server, as WebRTC's `RTCIceServer` takes it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct IceServer {
    /// `turn:` and `turns:` URLs (RFC 7065), e.g. `turn:turn.example.org:3478?transport=tcp`.
    pub urls: Vec<String>,
    /// The username: `EXPIRY:USER-ID`, the expiry in seconds since 1970 (coturn's REST scheme).
    pub username: String,
    /// The password: base64 of HMAC-SHA1(shared secret, username).
    pub credential: String,
}

/// What the room tells a client. Events about the stage go to everyone; events about hands go to the
/// moderators and the hand's owner; a listener joining or leaving is told to nobody, only counted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
#[serde(tag = "type", rename_all = "snake_case", remote = "Self")]
pub enum ServerEvent {
    /// The first event on every socket: who you are in the room and the room as it is now.
    Joined {
        /// You.
        you: UserSummary,
        /// Your role.
        role: Role,
        /// The room.
        room: RoomInfo,
        /// The raised hands, oldest first (moderators only; empty for others).
        hands: Vec<UserSummary>,
        /// The TURN servers to reach the media through when nothing else gets through, with credentials
        /// for this user that expire (as `RTCIceServer`s); empty when the server has none.
        #[serde(default)]
        ice_servers: Vec<IceServer>,
        /// The room's chat: its last 100 messages, oldest first, and who may write.
        #[serde(default)]
        chat: ChatState,
        /// What this connection may do, by the scopes of the token it joined with, so that a client hides
        /// what it cannot use. A password's session may do everything.
        #[serde(default)]
        may: Grant,
        /// Whether live captions can be turned on here (`set_captions`): the server has a caption engine.
        #[serde(default)]
        captions: bool,
        /// Whether that engine's captions are of low accuracy (the local fallback's), for the client to
        /// say so.
        #[serde(default)]
        captions_low_accuracy: bool,
    },
    /// The stage changed: someone came on or left, changed role, or was muted or unmuted.
    StageChanged {
        /// The whole stage, moderators first.
        stage: Vec<StageMember>,
    },
    /// Your own role changed (e.g. you accepted an invitation, or were moved to the audience).
    RoleChanged {
        /// Your new role.
        role: Role,
    },
    /// The audience's size; sent only when it changed, at most once a second, and in a room of over 1,000
    /// listeners at most once every millisecond per listener (every 5 s at 5,000; at least every 10 s).
    ListenerCount {
        /// How many people are in the audience.
        count: u32,
        /// About how many listen through the listen link.
        #[serde(default)]
        public: u32,
    },
    /// What the room's mix goes to changed: a replay started or stopped, clips or the listen link were
    /// turned on or off.
    OutputsChanged {
        /// The outputs now.
        outputs: RoomOutputs,
    },
    /// The replay stopped without a moderator stopping it (the server's or the host's space for recordings
    /// is full); an `outputs_changed` with the recording off comes with it.
    RecordingStopped {
        /// Why, as a code: `quota_full`.
        reason: String,
        /// A sentence for the room.
        message: String,
    },
    /// The restream stopped without a moderator stopping it (the RTMP server refused it or dropped it for
    /// good); an `outputs_changed` with the restream off comes with it.
    RestreamStopped {
        /// Why, as a code: `failed`.
        reason: String,
        /// A sentence for the room.
        message: String,
    },
    /// The hand mode changed.
    HandModeChanged {
        /// The new mode.
        mode: HandMode,
    },
    /// A hand went up (to moderators, and to its owner).
    HandRaised {
        /// Whose.
        user: UserSummary,
    },
    /// A hand went down (to moderators, and to its owner).
    HandLowered {
        /// Whose.
        user_id: UserId,
    },
    /// A moderator invites you to speak.
    InvitedToSpeak {
        /// The moderator.
        by: UserSummary,
    },
    /// A listener declined an invitation to speak (to moderators).
    InviteDeclined {
        /// Who declined.
        user_id: UserId,
    },
    /// A moderator muted you.
    Muted {
        /// The moderator.
        by: UserSummary,
    },
    /// You are out of the room; the socket closes after this event.
    Removed {
        /// Why, as a code: `removed_by_moderator`, `blocked_by_moderator`, `replaced` (you joined from
        /// somewhere else), `too_slow` (your connection could not keep up).
        reason: String,
        /// A sentence for the user.
        message: String,
    },
    /// The server is restarting: the socket closes soon after this event. The room survives the restart
    /// (your place and role are kept for the reconnect grace); reconnect after about `retry_after_ms`,
    /// with some jitter so that a large audience does not return in the same instant.
    ServerRestarting {
        /// A suggested delay before reconnecting, in milliseconds.
        retry_after_ms: u32,
    },
    /// The room ended; the socket closes after this event.
    RoomEnded {
        /// Why, as a code: `ended_by_moderator`, `no_moderator`, `empty`.
        reason: String,
    },
    /// A chat message, to everyone in the room.
    ChatMessage {
        /// The message.
        message: ChatMessage,
    },
    /// A moderator deleted a chat message: it disappears for everyone.
    ChatDeleted {
        /// Which.
        message_id: u64,
    },
    /// Who may write in the chat changed.
    ChatModeChanged {
        /// The new mode.
        mode: ChatMode,
    },
    /// The room's chat went into slow mode (too many messages a second), or out of it.
    ChatSlowMode {
        /// Whether slow mode is on.
        on: bool,
        /// While on, the seconds each person waits between messages.
        seconds_between: u32,
    },
    /// A moderator silenced your chat in this room, or let you write again.
    ChatSilenced {
        /// Whether you are silenced.
        silenced: bool,
    },
    /// The reactions of the last half second, counted: sent at most twice a second, only when there were any.
    Reactions {
        /// Each reaction given, with how many times.
        counts: Vec<ReactionCount>,
    },
    /// A command of yours was refused. Nothing changed.
    Error {
        /// The `id` of the command, if it had one.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        id: Option<u64>,
        /// A stable `snake_case` code.
        code: String,
        /// A sentence a user can act on.
        message: String,
    },
    /// A line of live captions, for a connection that turned them on (`set_captions`): what one speaker
    /// said between two pauses, as the server's caption engine heard it.
    Caption {
        /// Who said it.
        speaker: UserId,
        /// The words.
        text: String,
        /// When they started saying it (milliseconds since 1970, as near as the server can tell).
        start_ms: u64,
        /// When they stopped.
        end_ms: u64,
        /// Whether the line is final. Lines are final today; a later engine may send a line as it grows,
        /// then again with `final: true`.
        #[serde(rename = "final")]
        is_final: bool,
    },
    /// The answer to `ping`.
    Pong,
    /// WebRTC: the server's SDP answer to your offer. It carries the server's one ICE candidate.
    Answer {
        /// The SDP.
        sdp: String,
    },
    /// Who is heard in each receive slot, in the order of your offer's receive m-lines; sent to everyone
    /// when it changes. Each forwarded packet also names its speaker by a source number, as its CSRC, which
    /// browsers expose through `RTCRtpReceiver.getContributingSources()`. RTP headers travel in the clear,
    /// so the source number is opaque: random, per media connection, and mapped to the speaker only here.
    Slots {
        /// One entry per slot: the speaker's user ID, or null for a free slot.
        slots: Vec<Option<UserId>>,
        /// One entry per slot: the source number (CSRC) the slot's packets carry for that speaker, or null.
        sources: Vec<Option<u32>>,
    },
    /// End-to-end encrypted rooms, to the keyholder (the longest-present moderator whose device gave its
    /// key): make a new random key for `epoch` and wrap it for each of `members` (yourself included), then
    /// answer with `e2ee_keys`. Asked again whenever someone arrives or leaves; the room waits for one
    /// answer at a time, and asks another moderator after 5 seconds without one.
    E2eeRekey {
        /// The new epoch.
        epoch: u32,
        /// Every device in the room, in the order the answer follows.
        members: Vec<E2eeMember>,
    },
    /// End-to-end encrypted rooms, to everyone: epoch `epoch` began. Its members hold its key; anyone not
    /// among them (no device key, or gone) cannot open what is said in it. The safety code is computed over
    /// the key and these members.
    E2eeEpoch {
        /// The epoch.
        epoch: u32,
        /// Who made its key: the wraps open only as from this device key.
        keyholder: E2eeMember,
        /// Who holds it.
        members: Vec<E2eeMember>,
    },
    /// End-to-end encrypted rooms, to one member: the epoch's key, wrapped by the keyholder for your device.
    E2eeKey {
        /// The epoch.
        epoch: u32,
        /// The blob, unpadded base64url.
        wrapped: String,
    },
}

/// Reads an internally tagged enum only when its `"type"` is a string. serde's derive also takes a number
/// there, as the variant's index (so `{"type":13}` would be `end_room`); no client is meant to send that,
/// and an API that accepts undocumented spellings cannot be fuzzed or reimplemented faithfully.
fn string_tagged<'de, D, T>(
    deserializer: D,
    tagged: impl FnOnce(serde_json::Value) -> Result<T, serde_json::Error>,
) -> Result<T, D::Error>
where
    D: serde::Deserializer<'de>,
{
    use serde::de::Error;
    let value = serde_json::Value::deserialize(deserializer)?;
    match value.get("type") {
        Some(serde_json::Value::String(_)) => tagged(value).map_err(D::Error::custom),
        Some(_) => Err(D::Error::custom("`type` must be a string: one of the documented message types")),
        None => Err(D::Error::missing_field("type")),
    }
}

// The derives above, with `remote = "Self"`, are inherent functions; these are the trait impls, which put
// the string check in front of them.
impl<'de> Deserialize<'de> for ClientCommand {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string_tagged(deserializer, ClientCommand::deserialize)
    }
}

impl Serialize for ClientCommand {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ClientCommand::serialize(self, serializer)
    }
}

impl<'de> Deserialize<'de> for ServerEvent {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        string_tagged(deserializer, ServerEvent::deserialize)
    }
}

impl Serialize for ServerEvent {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        ServerEvent::serialize(self, serializer)
    }
}
