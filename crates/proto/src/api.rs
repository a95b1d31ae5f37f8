//! Bodies of the HTTP API under `/api/v1`.

use crate::{IceServer, RoomId, UserId};
use serde::{Deserialize, Serialize};
use ts_rs::TS;
use utoipa::ToSchema;

/// Every error the API returns: `{"error":{"code":"snake_case","message":"A sentence."}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// What went wrong, for a program (`code`) and for a person (`message`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ErrorDetail {
    /// A stable `snake_case` code, e.g. `invite_used`, `room_full`, `not_found`.
    pub code: String,
    /// A sentence a user can act on.
    pub message: String,
}

/// `POST /api/v1/auth/signup`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct SignupRequest {
    /// The invite code (the last part of an invite URL).
    pub invite: String,
    /// 3 to 20 characters of `[a-z0-9_]`; upper case is folded to lower case.
    pub username: String,
    /// The name others see, 1 to 50 characters.
    pub display_name: String,
    /// At least 8 characters.
    pub password: String,
}

/// `POST /api/v1/auth/login`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct LoginRequest {
    /// The username, in any case.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The answer to a successful sign-up or login. The same token is also set as the `stoa_session` cookie.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AuthResponse {
    /// A bearer token for `Authorization: Bearer TOKEN`.
    pub token: String,
    /// The signed-in user.
    pub user: Me,
}

/// `GET /api/v1/ice-servers`: the TURN servers, with fresh credentials for the caller.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct IceServers {
    /// Empty when the server has no TURN server configured.
    pub ice_servers: Vec<IceServer>,
}

/// A user as others see them in lists: enough to draw a face and a name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct UserSummary {
    /// The user's ID.
    pub id: UserId,
    /// The unique, lower-case username.
    pub username: String,
    /// The display name.
    pub display_name: String,
}

/// The signed-in user's own account: `GET /api/v1/me`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Me {
    /// The user's ID.
    pub id: UserId,
    /// The unique, lower-case username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// A short text about the user.
    pub bio: String,
    /// Whether this account runs the server (the first account, made from the bootstrap invite).
    pub is_admin: bool,
    /// Who invited this user, if anyone did (the bootstrap admin was invited by nobody).
    pub nominated_by: Option<UserSummary>,
    /// The avatar (256 px JPEG; add `?size=64` for 64 px), absent if none was uploaded.
    pub avatar: Option<String>,
    /// Links on the profile.
    pub links: Vec<String>,
    /// The language Stoa writes to this user in (web push, the calendar feed): `en`, `ru` or `ar`.
    pub language: String,
}

/// `PATCH /api/v1/me`: the fields to change; absent fields stay as they are.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct UpdateMeRequest {
    /// A new display name, 1 to 50 characters.
    pub display_name: Option<String>,
    /// A new bio, at most 300 characters.
    pub bio: Option<String>,
    /// New links for the profile: at most two http(s) URLs of at most 200 characters; `[]` removes them.
    pub links: Option<Vec<String>>,
    /// The language Stoa writes to this user in: `en`, `ru` or `ar`.
    pub language: Option<String>,
}

/// A user's profile as the caller sees it: `GET /api/v1/users/{username}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Profile {
    /// The user's ID.
    pub id: UserId,
    /// The unique, lower-case username.
    pub username: String,
    /// The display name.
    pub display_name: String,
    /// A short text about the user.
    pub bio: String,
    /// Who invited this user.
    pub nominated_by: Option<UserSummary>,
    /// How many users follow this user.
    pub followers: i64,
    /// How many users this user follows.
    pub following: i64,
    /// Whether the caller follows this user.
    pub you_follow: bool,
    /// Whether the caller blocks this user.
    pub you_block: bool,
    /// Whether this user follows the caller.
    pub follows_you: bool,
    /// Their avatar (256 px JPEG; add `?size=64` for 64 px), absent if they have none.
    pub avatar: Option<String>,
    /// Links on their profile (at most two, http or https).
    pub links: Vec<String>,
}

/// One page of a follower or following list, newest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct UserPage {
    /// The users on this page.
    pub users: Vec<UserSummary>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    pub next_cursor: Option<i64>,
}

/// `POST /api/v1/invites` answers with a fresh invite.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteCreated {
    /// The code.
    pub code: String,
    /// The URL to share: `http://HOST/invite/CODE`.
    pub url: String,
}

/// One invite the caller made.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteInfo {
    /// The code.
    pub code: String,
    /// The URL to share.
    pub url: String,
    /// Who signed up with it, once used.
    pub used_by: Option<UserSummary>,
}

/// `GET /api/v1/invites`: the caller's quota and invites.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteList {
    /// How many invites the caller may still create.
    pub remaining: i64,
    /// How many invites each user may create in all.
    pub quota: i64,
    /// The invites the caller created, newest first.
    pub invites: Vec<InviteInfo>,
}

/// Who may see and join a room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum Visibility {
    /// Any signed-in user.
    Open,
    /// Users followed by at least one of the room's moderators.
    Social,
    /// Only invited users; moderators can invite more.
    Closed,
}

/// Who in the audience may raise a hand.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum HandMode {
    /// Every listener.
    #[default]
    Everyone,
    /// Listeners followed by at least one person on stage.
    FollowedBySpeakers,
    /// Nobody.
    Off,
}

/// A participant's role in a live room.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// On stage, and runs the room.
    Moderator,
    /// On stage.
    Speaker,
    /// In the audience.
    Listener,
}

/// `POST /api/v1/rooms`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct CreateRoomRequest {
    /// 1 to 100 characters.
    pub title: String,
    /// Who may see and join the room.
    pub visibility: Visibility,
    /// Usernames invited to a closed room. Ignored for open and social rooms.
    #[serde(default)]
    pub invited: Vec<String>,
    /// What the room's mix goes to from the start (all off unless given).
    #[serde(default)]
    pub outputs: RoomOutputs,
    /// The handle of a club to host the room (the caller must be one of its leaders, admins or owner).
    /// Then `social` means the club's followers and members, and `closed` its members only.
    #[serde(default)]
    pub club: Option<String>,
    /// End-to-end encrypted (closed rooms only, with no outputs): the server forwards audio it cannot
    /// hear. Holds at most 300 people.
    #[serde(default)]
    pub e2ee: bool,
}

/// What a room's audio goes to beyond the room, as its moderators set it. Everyone in the room sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RoomOutputs {
    /// A replay is being recorded (everyone in the room is shown a badge).
    #[serde(default)]
    pub recording: bool,
    /// Listeners may make a clip of the last 30 seconds.
    #[serde(default)]
    pub clips: bool,
    /// Anyone, without an account, may listen at `/listen/{id}` (HLS); open rooms only. A newcomer to a
    /// full room is offered it.
    #[serde(default)]
    pub listen_link: bool,
    /// The room's mix goes out to an RTMP server (YouTube, Twitch...), as a moderator set it through
    /// `POST /rooms/{id}/restream`; everyone in the room is shown it.
    #[serde(default)]
    pub restream: bool,
    /// Live captions may be turned on (on the server's caption engine, if it has one). On unless the
    /// room's moderators turn them off.
    #[serde(default = "on")]
    pub captions: bool,
}

fn on() -> bool {
    true
}

impl Default for RoomOutputs {
    /// Everything off, but captions allowed.
    fn default() -> Self {
        RoomOutputs { recording: false, clips: false, listen_link: false, restream: false, captions: true }
    }
}

/// One person on a room's stage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct StageMember {
    /// Who.
    pub user: UserSummary,
    /// `moderator` or `speaker`.
    pub role: Role,
    /// Whether their microphone is muted.
    pub muted: bool,
}

/// A live room: `GET /api/v1/rooms/{id}`, and each entry of the hallway.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct RoomInfo {
    /// The room's ID.
    pub id: RoomId,
    /// The title.
    pub title: String,
    /// Who may see and join it.
    pub visibility: Visibility,
    /// Moderators first, then speakers, each in the order they came on stage.
    pub stage: Vec<StageMember>,
    /// How many people are in the audience.
    pub listener_count: u32,
    /// Who may raise a hand.
    pub hand_mode: HandMode,
    /// What the room's mix goes to.
    #[serde(default)]
    pub outputs: RoomOutputs,
    /// About how many listen through the listen link (HLS players that fetched its recent segments from
    /// this server).
    #[serde(default)]
    pub public_listeners: u32,
    /// The club that hosts it, if one does. Its visibility then speaks of the club: `social` is for the
    /// club's followers and members, `closed` for its members (and whoever the room invites).
    /// (Boxed: a room's events carry its info, and most rooms have no club.)
    #[serde(default)]
    pub club: Option<Box<crate::RoomClub>>,
    /// End-to-end encrypted: the audio is sealed on each speaker's device with a key the server never
    /// holds (see the `e2ee_*` events), so the server cannot record, mix, caption or stream it.
    #[serde(default)]
    pub e2ee: bool,
}

/// `GET /api/v1/rooms`: the live rooms the caller may see, rooms with people they follow on stage first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Hallway {
    /// The rooms.
    pub rooms: Vec<RoomInfo>,
}

/// One person in a room's audience.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AudienceMember {
    /// Who.
    pub user: UserSummary,
    /// Whether someone on stage follows them.
    pub followed_by_speakers: bool,
}

/// `GET /api/v1/rooms/{id}/audience`: one page of the audience, people followed by the speakers first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct AudiencePage {
    /// The whole audience's size.
    pub total: u32,
    /// This page.
    pub members: Vec<AudienceMember>,
    /// Pass as `offset` for the next page; absent on the last page.
    pub next_offset: Option<u32>,
}

/// `POST /api/v1/rooms/{id}/invited`: moderators invite more people into a closed room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct InviteToRoomRequest {
    /// The usernames to invite.
    pub usernames: Vec<String>,
}

/// `GET /healthz`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Health {
    /// `"ok"`, or `"degraded"` when the store does not answer or a media shard is down (then with status
    /// 503).
    pub status: String,
    /// How many rooms are live, hidden ones included: for admins only, absent for everyone else, since a
    /// count that moves when a closed room starts would tell outsiders that it exists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub live_rooms: Option<u32>,
    /// How many media (WebRTC) connections the SFU holds: for admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_peers: Option<u32>,
    /// Whether the store answers (`"ok"` or `"unavailable"`): for admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub store: Option<String>,
    /// How many media shards there are: for admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_shards: Option<u32>,
    /// How many of them run: for admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_shards_running: Option<u32>,
    /// The cluster, on a node of one: for admins only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterHealth>,
}

/// A node's view of its cluster, in `/healthz` (admins only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClusterHealth {
    /// This node's name.
    pub node: String,
    /// Whether NATS is connected (`"ok"` or `"unavailable"`).
    pub nats: String,
    /// The nodes heard from in the last few seconds, this one included.
    pub nodes: Vec<ClusterNode>,
    /// Messages refused since the start: not signed with the cluster's key, stale, or replayed.
    pub refused: u64,
}

/// A node of the cluster as last heard.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ClusterNode {
    /// Its name.
    pub name: String,
    /// Where its HTTP API is.
    pub url: String,
    /// Where its media plane receives UDP.
    pub media: String,
    /// Live rooms it runs.
    pub rooms: u32,
    /// Media peers it carries.
    pub media_peers: u32,
    /// Milliseconds since it was last heard from.
    pub heard_ms_ago: u64,
}

/// Whether the server takes traffic: false while it stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct Ready {
    /// True while the server takes new requests.
    pub ready: bool,
}

/// What a recording is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
#[serde(rename_all = "snake_case")]
pub enum RecordingKind {
    /// A room's replay, recorded while a moderator had "Record a replay" on.
    Replay,
    /// A listener's clip of 30 seconds.
    Clip,
    /// The ten minutes around a report, for the admins.
    Report,
}

/// A replay or a clip: `GET /api/v1/recordings/{id}`, and the lists on a profile and a room.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Recording {
    /// Its ID (in its page's address, `/r/{id}`).
    pub id: String,
    /// Replay or clip.
    pub kind: RecordingKind,
    /// The room it is from.
    pub room_id: RoomId,
    /// The room's title.
    pub title: String,
    /// The room's host.
    pub host: UserSummary,
    /// Who recorded it (for a clip, who made it).
    pub made_by: UserSummary,
    /// When it starts, in milliseconds since 1970.
    pub started_at_ms: i64,
    /// How long it is; absent while a replay is still being recorded.
    pub duration_ms: Option<i64>,
    /// Where its audio is (Ogg Opus, with range requests for seeking).
    pub audio_url: String,
    /// Whether the caller may delete it (the host, or an admin).
    pub can_delete: bool,
}

/// A line of a replay's transcript: what one speaker said between pauses, placed on the replay's time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct TranscriptLine {
    /// When it starts, in milliseconds from the replay's start.
    pub at_ms: i64,
    /// When it ends, likewise.
    pub end_ms: i64,
    /// Who said it.
    pub speaker: UserSummary,
    /// The words, as the caption engine heard them.
    pub text: String,
}

/// `GET /api/v1/recordings/{id}/transcript`: a replay's transcript, in order (empty when nothing was
/// transcribed: no caption engine, captions off, or nobody spoke).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct Transcript {
    /// The lines, earliest first.
    pub lines: Vec<TranscriptLine>,
}

/// A replay found by words in its transcript, with the first line that has them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct TranscriptMatch {
    /// The replay.
    pub recording: Recording,
    /// Where the words are said.
    pub line: TranscriptLine,
}

/// `GET /api/v1/rooms/{id}/recordings` and `GET /api/v1/users/{username}/recordings`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct RecordingList {
    /// Newest first.
    pub recordings: Vec<Recording>,
}

/// `POST /api/v1/rooms/{id}/restream`: send the room's mix to an RTMP server.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RestreamRequest {
    /// `rtmp://` or `rtmps://` and the server's application path, e.g. `rtmp://a.rtmp.youtube.com/live2`.
    pub url: String,
    /// The stream key the service gave you; appended to the URL, never shown again or logged.
    pub stream_key: String,
}

/// Where a room's restream stands: `GET /api/v1/rooms/{id}/restream`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema, TS)]
pub struct RestreamStatus {
    /// `off`, `connecting`, `live`, `retrying` or `failed`.
    pub state: String,
    /// What went wrong, for `retrying` and `failed` (the stream key hidden).
    pub error: Option<String>,
    /// The URL it goes to (without the key), while on.
    pub url: Option<String>,
}

/// `GET /api/v1/rooms/{id}/listen`: what the public listen page shows (no account needed).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema, TS)]
pub struct ListenInfo {
    /// The room's ID.
    pub id: RoomId,
    /// The title.
    pub title: String,
    /// Who is on stage.
    pub stage: Vec<StageMember>,
    /// How many are in the room.
    pub listener_count: u32,
    /// About how many listen through the link.
    pub public_listeners: u32,
    /// The HLS playlist.
    pub playlist_url: String,
    /// The multivariant playlist of the audio with its live captions as WebVTT subtitles, while the room
    /// has captions (the server has a caption engine and the moderators allow them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub captions_url: Option<String>,
    /// Whether those captions are of low accuracy (the server's local fallback engine's).
    #[serde(default)]
    pub captions_low_accuracy: bool,
}
