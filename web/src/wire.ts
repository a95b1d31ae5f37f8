// Generated from crates/proto by `STOA_WRITE_TS=1 cargo test -p stoa-proto --test typescript`.
// Do not edit by hand: change the Rust types and regenerate.

export type UserId = number;

export type RoomId = string;

export type ErrorBody = { 
/**
 * The error.
 */
error: ErrorDetail, };

export type ErrorDetail = { 
/**
 * A stable `snake_case` code, e.g. `invite_used`, `room_full`, `not_found`.
 */
code: string, 
/**
 * A sentence a user can act on.
 */
message: string, };

export type SignupRequest = { 
/**
 * The invite code (the last part of an invite URL).
 */
invite: string, 
/**
 * 3 to 20 characters of `[a-z0-9_]`; upper case is folded to lower case.
 */
username: string, 
/**
 * The name others see, 1 to 50 characters.
 */
display_name: string, 
/**
 * At least 8 characters.
 */
password: string, };

export type LoginRequest = { 
/**
 * The username, in any case.
 */
username: string, 
/**
 * The password.
 */
password: string, };

export type AuthResponse = { 
/**
 * A bearer token for `Authorization: Bearer TOKEN`.
 */
token: string, 
/**
 * The signed-in user.
 */
user: Me, };

export type UserSummary = { 
/**
 * The user's ID.
 */
id: UserId, 
/**
 * The unique, lower-case username.
 */
username: string, 
/**
 * The display name.
 */
display_name: string, };

export type Me = { 
/**
 * The user's ID.
 */
id: UserId, 
/**
 * The unique, lower-case username.
 */
username: string, 
/**
 * The display name.
 */
display_name: string, 
/**
 * A short text about the user.
 */
bio: string, 
/**
 * Whether this account runs the server (the first account, made from the bootstrap invite).
 */
is_admin: boolean, 
/**
 * Who invited this user, if anyone did (the bootstrap admin was invited by nobody).
 */
nominated_by: UserSummary | null, 
/**
 * The avatar (256 px JPEG; add `?size=64` for 64 px), absent if none was uploaded.
 */
avatar: string | null, 
/**
 * Links on the profile.
 */
links: Array<string>, 
/**
 * The language Stoa writes to this user in (web push, the calendar feed): `en`, `ru` or `ar`.
 */
language: string, };

export type UpdateMeRequest = { 
/**
 * A new display name, 1 to 50 characters.
 */
display_name: string | null, 
/**
 * A new bio, at most 300 characters.
 */
bio: string | null, 
/**
 * New links for the profile: at most two http(s) URLs of at most 200 characters; `[]` removes them.
 */
links: Array<string> | null, 
/**
 * The language Stoa writes to this user in: `en`, `ru` or `ar`.
 */
language: string | null, };

export type Profile = { 
/**
 * The user's ID.
 */
id: UserId, 
/**
 * The unique, lower-case username.
 */
username: string, 
/**
 * The display name.
 */
display_name: string, 
/**
 * A short text about the user.
 */
bio: string, 
/**
 * Who invited this user.
 */
nominated_by: UserSummary | null, 
/**
 * How many users follow this user.
 */
followers: number, 
/**
 * How many users this user follows.
 */
following: number, 
/**
 * Whether the caller follows this user.
 */
you_follow: boolean, 
/**
 * Whether the caller blocks this user.
 */
you_block: boolean, 
/**
 * Whether this user follows the caller.
 */
follows_you: boolean, 
/**
 * Their avatar (256 px JPEG; add `?size=64` for 64 px), absent if they have none.
 */
avatar: string | null, 
/**
 * Links on their profile (at most two, http or https).
 */
links: Array<string>, };

export type UserPage = { 
/**
 * The users on this page.
 */
users: Array<UserSummary>, 
/**
 * Pass as `cursor` to get the next page; absent on the last page.
 */
next_cursor: number | null, };

export type InviteCreated = { 
/**
 * The code.
 */
code: string, 
/**
 * The URL to share: `http://HOST/invite/CODE`.
 */
url: string, };

export type InviteInfo = { 
/**
 * The code.
 */
code: string, 
/**
 * The URL to share.
 */
url: string, 
/**
 * Who signed up with it, once used.
 */
used_by: UserSummary | null, };

export type InviteList = { 
/**
 * How many invites the caller may still create.
 */
remaining: number, 
/**
 * How many invites each user may create in all.
 */
quota: number, 
/**
 * The invites the caller created, newest first.
 */
invites: Array<InviteInfo>, };

export type Visibility = "open" | "social" | "closed";

export type HandMode = "everyone" | "followed_by_speakers" | "off";

export type Role = "moderator" | "speaker" | "listener";

export type CreateRoomRequest = { 
/**
 * 1 to 100 characters.
 */
title: string, 
/**
 * Who may see and join the room.
 */
visibility: Visibility, 
/**
 * Usernames invited to a closed room. Ignored for open and social rooms.
 */
invited: Array<string>, 
/**
 * What the room's mix goes to from the start (all off unless given).
 */
outputs: RoomOutputs, 
/**
 * The handle of a club to host the room (the caller must be one of its leaders, admins or owner).
 * Then `social` means the club's followers and members, and `closed` its members only.
 */
club: string | null, 
/**
 * End-to-end encrypted (closed rooms only, with no outputs): the server forwards audio it cannot
 * hear. Holds at most 300 people.
 */
e2ee: boolean, };

export type StageMember = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * `moderator` or `speaker`.
 */
role: Role, 
/**
 * Whether their microphone is muted.
 */
muted: boolean, };

export type E2eeMember = { 
/**
 * The participant.
 */
user_id: UserId, 
/**
 * Their device's X25519 public key, unpadded base64url.
 */
device_key: string, };

export type RoomInfo = { 
/**
 * The room's ID.
 */
id: RoomId, 
/**
 * The title.
 */
title: string, 
/**
 * Who may see and join it.
 */
visibility: Visibility, 
/**
 * Moderators first, then speakers, each in the order they came on stage.
 */
stage: Array<StageMember>, 
/**
 * How many people are in the audience.
 */
listener_count: number, 
/**
 * Who may raise a hand.
 */
hand_mode: HandMode, 
/**
 * What the room's mix goes to.
 */
outputs: RoomOutputs, 
/**
 * About how many listen through the listen link (HLS players that fetched its recent segments from
 * this server).
 */
public_listeners: number, 
/**
 * The club that hosts it, if one does. Its visibility then speaks of the club: `social` is for the
 * club's followers and members, `closed` for its members (and whoever the room invites).
 * (Boxed: a room's events carry its info, and most rooms have no club.)
 */
club: RoomClub | null, 
/**
 * End-to-end encrypted: the audio is sealed on each speaker's device with a key the server never
 * holds (see the `e2ee_*` events), so the server cannot record, mix, caption or stream it.
 */
e2ee: boolean, };

export type RoomOutputs = { 
/**
 * A replay is being recorded (everyone in the room is shown a badge).
 */
recording: boolean, 
/**
 * Listeners may make a clip of the last 30 seconds.
 */
clips: boolean, 
/**
 * Anyone, without an account, may listen at `/listen/{id}` (HLS); open rooms only. A newcomer to a
 * full room is offered it.
 */
listen_link: boolean, 
/**
 * The room's mix goes out to an RTMP server (YouTube, Twitch...), as a moderator set it through
 * `POST /rooms/{id}/restream`; everyone in the room is shown it.
 */
restream: boolean, 
/**
 * Live captions may be turned on (on the server's caption engine, if it has one). On unless the
 * room's moderators turn them off.
 */
captions: boolean, };

export type RecordingKind = "replay" | "clip" | "report";

export type Recording = { 
/**
 * Its ID (in its page's address, `/r/{id}`).
 */
id: string, 
/**
 * Replay or clip.
 */
kind: RecordingKind, 
/**
 * The room it is from.
 */
room_id: RoomId, 
/**
 * The room's title.
 */
title: string, 
/**
 * The room's host.
 */
host: UserSummary, 
/**
 * Who recorded it (for a clip, who made it).
 */
made_by: UserSummary, 
/**
 * When it starts, in milliseconds since 1970.
 */
started_at_ms: number, 
/**
 * How long it is; absent while a replay is still being recorded.
 */
duration_ms: number | null, 
/**
 * Where its audio is (Ogg Opus, with range requests for seeking).
 */
audio_url: string, 
/**
 * Whether the caller may delete it (the host, or an admin).
 */
can_delete: boolean, };

export type RecordingList = { 
/**
 * Newest first.
 */
recordings: Array<Recording>, };

export type TranscriptLine = { 
/**
 * When it starts, in milliseconds from the replay's start.
 */
at_ms: number, 
/**
 * When it ends, likewise.
 */
end_ms: number, 
/**
 * Who said it.
 */
speaker: UserSummary, 
/**
 * The words, as the caption engine heard them.
 */
text: string, };

export type Transcript = { 
/**
 * The lines, earliest first.
 */
lines: Array<TranscriptLine>, };

export type TranscriptMatch = { 
/**
 * The replay.
 */
recording: Recording, 
/**
 * Where the words are said.
 */
line: TranscriptLine, };

export type RestreamRequest = { 
/**
 * `rtmp://` or `rtmps://` and the server's application path, e.g. `rtmp://a.rtmp.youtube.com/live2`.
 */
url: string, 
/**
 * The stream key the service gave you; appended to the URL, never shown again or logged.
 */
stream_key: string, };

export type RestreamStatus = { 
/**
 * `off`, `connecting`, `live`, `retrying` or `failed`.
 */
state: string, 
/**
 * What went wrong, for `retrying` and `failed` (the stream key hidden).
 */
error: string | null, 
/**
 * The URL it goes to (without the key), while on.
 */
url: string | null, };

export type ListenInfo = { 
/**
 * The room's ID.
 */
id: RoomId, 
/**
 * The title.
 */
title: string, 
/**
 * Who is on stage.
 */
stage: Array<StageMember>, 
/**
 * How many are in the room.
 */
listener_count: number, 
/**
 * About how many listen through the link.
 */
public_listeners: number, 
/**
 * The HLS playlist.
 */
playlist_url: string, 
/**
 * The multivariant playlist of the audio with its live captions as WebVTT subtitles, while the room
 * has captions (the server has a caption engine and the moderators allow them).
 */
captions_url?: string | null, 
/**
 * Whether those captions are of low accuracy (the server's local fallback engine's).
 */
captions_low_accuracy: boolean, };

export type NewWebhook = { 
/**
 * `https://` (or `http://`) URL that takes a JSON POST.
 */
url: string, 
/**
 * Which events: `room.started`, `room.ended`, `event.scheduled`, `recording.ready`, `report.filed`.
 */
events: Array<string>, };

export type Webhook = { 
/**
 * Its ID.
 */
id: number, 
/**
 * Where events go.
 */
url: string, 
/**
 * Which events.
 */
events: Array<string>, 
/**
 * When it was registered, in milliseconds since 1970.
 */
created_at_ms: number, 
/**
 * The signing secret (`whsec_` and base64): only in the answer that registers it.
 */
secret?: string | null, };

export type WebhookList = { 
/**
 * The webhooks, oldest first.
 */
webhooks: Array<Webhook>, };

export type WebhookDelivery = { 
/**
 * Its ID (the `webhook-id` header is `msg_` and this).
 */
id: number, 
/**
 * The event.
 */
event: string, 
/**
 * `pending` (being retried), `delivered`, or `failed` (every retry spent, over about a day).
 */
state: string, 
/**
 * Attempts so far.
 */
attempts: number, 
/**
 * The last answer's HTTP status, if there was one.
 */
last_status: number | null, 
/**
 * The last error (a timeout, a refused connection, a non-2xx answer).
 */
last_error: string | null, 
/**
 * When the event happened, in milliseconds since 1970.
 */
created_at_ms: number, };

export type WebhookDeliveries = { 
/**
 * The deliveries.
 */
deliveries: Array<WebhookDelivery>, };

export type Hallway = { 
/**
 * The rooms.
 */
rooms: Array<RoomInfo>, };

export type AudienceMember = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * Whether someone on stage follows them.
 */
followed_by_speakers: boolean, };

export type AudiencePage = { 
/**
 * The whole audience's size.
 */
total: number, 
/**
 * This page.
 */
members: Array<AudienceMember>, 
/**
 * Pass as `offset` for the next page; absent on the last page.
 */
next_offset: number | null, };

export type InviteToRoomRequest = { 
/**
 * The usernames to invite.
 */
usernames: Array<string>, };

export type Health = { 
/**
 * `"ok"`, or `"degraded"` when the store does not answer or a media shard is down (then with status
 * 503).
 */
status: string, 
/**
 * How many rooms are live, hidden ones included: for admins only, absent for everyone else, since a
 * count that moves when a closed room starts would tell outsiders that it exists.
 */
live_rooms?: number | null, 
/**
 * How many media (WebRTC) connections the SFU holds: for admins only.
 */
media_peers?: number | null, 
/**
 * Whether the store answers (`"ok"` or `"unavailable"`): for admins only.
 */
store?: string | null, 
/**
 * How many media shards there are: for admins only.
 */
media_shards?: number | null, 
/**
 * How many of them run: for admins only.
 */
media_shards_running?: number | null, 
/**
 * The cluster, on a node of one: for admins only.
 */
cluster?: ClusterHealth | null, };

export type ClusterHealth = { 
/**
 * This node's name.
 */
node: string, 
/**
 * Whether NATS is connected (`"ok"` or `"unavailable"`).
 */
nats: string, 
/**
 * The nodes heard from in the last few seconds, this one included.
 */
nodes: Array<ClusterNode>, 
/**
 * Messages refused since the start: not signed with the cluster's key, stale, or replayed.
 */
refused: number, };

export type ClusterNode = { 
/**
 * Its name.
 */
name: string, 
/**
 * Where its HTTP API is.
 */
url: string, 
/**
 * Where its media plane receives UDP.
 */
media: string, 
/**
 * Live rooms it runs.
 */
rooms: number, 
/**
 * Media peers it carries.
 */
media_peers: number, 
/**
 * Milliseconds since it was last heard from.
 */
heard_ms_ago: number, };

export type Ready = { 
/**
 * True while the server takes new requests.
 */
ready: boolean, };

export type ClientMessage = { 
/**
 * Echoed in an `error` event caused by this command.
 */
id?: number | null, } & ({ "type": "raise_hand" } | { "type": "lower_hand" } | { "type": "invite_to_speak", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "accept_invite" } | { "type": "decline_invite" } | { "type": "move_to_audience", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "make_moderator", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "remove_moderator", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "mute", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "set_captions", 
/**
 * On or off.
 */
on: boolean, } | { "type": "set_muted", 
/**
 * The new state.
 */
muted: boolean, } | { "type": "remove", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "set_hand_mode", 
/**
 * The new mode.
 */
mode: HandMode, } | { "type": "leave" } | { "type": "end_room" } | { "type": "ping" } | { "type": "offer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "send_chat", 
/**
 * The text.
 */
text: string, } | { "type": "delete_chat", 
/**
 * Which.
 */
message_id: number, } | { "type": "silence_chat", 
/**
 * Whom.
 */
user_id: UserId, 
/**
 * Silenced or not.
 */
silenced: boolean, } | { "type": "set_chat_mode", 
/**
 * The new mode.
 */
mode: ChatMode, } | { "type": "set_outputs", 
/**
 * Record a replay.
 */
recording: boolean | null, 
/**
 * Let listeners clip the last 30 seconds.
 */
clips: boolean | null, 
/**
 * The public listen link.
 */
listen_link: boolean | null, 
/**
 * Whether live captions may be turned on; off stops them for everyone in the room at once.
 */
captions: boolean | null, } | { "type": "react", 
/**
 * Which.
 */
reaction: Reaction, } | { "type": "candidate", 
/**
 * The candidate line.
 */
candidate: string, } | { "type": "device_key", 
/**
 * The public key.
 */
public_key: string, } | { "type": "e2ee_keys", 
/**
 * The epoch asked for.
 */
epoch: number, 
/**
 * One blob per member, in the request's order.
 */
wrapped: Array<string>, });

export type ClientCommand = { "type": "raise_hand" } | { "type": "lower_hand" } | { "type": "invite_to_speak", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "accept_invite" } | { "type": "decline_invite" } | { "type": "move_to_audience", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "make_moderator", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "remove_moderator", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "mute", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "set_captions", 
/**
 * On or off.
 */
on: boolean, } | { "type": "set_muted", 
/**
 * The new state.
 */
muted: boolean, } | { "type": "remove", 
/**
 * Whom.
 */
user_id: UserId, } | { "type": "set_hand_mode", 
/**
 * The new mode.
 */
mode: HandMode, } | { "type": "leave" } | { "type": "end_room" } | { "type": "ping" } | { "type": "offer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "send_chat", 
/**
 * The text.
 */
text: string, } | { "type": "delete_chat", 
/**
 * Which.
 */
message_id: number, } | { "type": "silence_chat", 
/**
 * Whom.
 */
user_id: UserId, 
/**
 * Silenced or not.
 */
silenced: boolean, } | { "type": "set_chat_mode", 
/**
 * The new mode.
 */
mode: ChatMode, } | { "type": "set_outputs", 
/**
 * Record a replay.
 */
recording: boolean | null, 
/**
 * Let listeners clip the last 30 seconds.
 */
clips: boolean | null, 
/**
 * The public listen link.
 */
listen_link: boolean | null, 
/**
 * Whether live captions may be turned on; off stops them for everyone in the room at once.
 */
captions: boolean | null, } | { "type": "react", 
/**
 * Which.
 */
reaction: Reaction, } | { "type": "candidate", 
/**
 * The candidate line.
 */
candidate: string, } | { "type": "device_key", 
/**
 * The public key.
 */
public_key: string, } | { "type": "e2ee_keys", 
/**
 * The epoch asked for.
 */
epoch: number, 
/**
 * One blob per member, in the request's order.
 */
wrapped: Array<string>, };

export type ChatMode = "everyone" | "speakers" | "off";

export type Reaction = "clap" | "heart" | "laugh" | "fire" | "hundred" | "raised";

export type ReactionCount = { 
/**
 * Which.
 */
reaction: Reaction, 
/**
 * How many times, in the last half second.
 */
count: number, };

export type ChatMessage = { 
/**
 * Its ID in the room, increasing.
 */
id: number, 
/**
 * Who wrote it.
 */
user: UserSummary, 
/**
 * The text, plain (clients show links as links; the server never fetches them).
 */
text: string, 
/**
 * When, in milliseconds since 1970 (UTC).
 */
sent_at_ms: number, };

export type ChatState = { 
/**
 * Who may write.
 */
mode: ChatMode, 
/**
 * The last 100 messages, oldest first.
 */
messages: Array<ChatMessage>, 
/**
 * Whether slow mode is on.
 */
slow_mode: boolean, 
/**
 * Whether you are silenced in this room.
 */
silenced: boolean, };

export type Grant = { 
/**
 * Raise a hand, accept an invitation to speak, be heard (the `speak` scope).
 */
speak: boolean, 
/**
 * Moderate, chat, react, set the outputs, end the room (the `rooms:write` scope).
 */
write: boolean, };

export type IceServer = { 
/**
 * `turn:` and `turns:` URLs (RFC 7065), e.g. `turn:turn.example.org:3478?transport=tcp`.
 */
urls: Array<string>, 
/**
 * The username: `EXPIRY:USER-ID`, the expiry in seconds since 1970 (coturn's REST scheme).
 */
username: string, 
/**
 * The password: base64 of HMAC-SHA1(shared secret, username).
 */
credential: string, };

export type IceServers = { 
/**
 * Empty when the server has no TURN server configured.
 */
ice_servers: Array<IceServer>, };

export type ServerEvent = { "type": "joined", 
/**
 * You.
 */
you: UserSummary, 
/**
 * Your role.
 */
role: Role, 
/**
 * The room.
 */
room: RoomInfo, 
/**
 * The raised hands, oldest first (moderators only; empty for others).
 */
hands: Array<UserSummary>, 
/**
 * The TURN servers to reach the media through when nothing else gets through, with credentials
 * for this user that expire (as `RTCIceServer`s); empty when the server has none.
 */
ice_servers: Array<IceServer>, 
/**
 * The room's chat: its last 100 messages, oldest first, and who may write.
 */
chat: ChatState, 
/**
 * What this connection may do, by the scopes of the token it joined with, so that a client hides
 * what it cannot use. A password's session may do everything.
 */
may: Grant, 
/**
 * Whether live captions can be turned on here (`set_captions`): the server has a caption engine.
 */
captions: boolean, 
/**
 * Whether that engine's captions are of low accuracy (the local fallback's), for the client to
 * say so.
 */
captions_low_accuracy: boolean, } | { "type": "stage_changed", 
/**
 * The whole stage, moderators first.
 */
stage: Array<StageMember>, } | { "type": "role_changed", 
/**
 * Your new role.
 */
role: Role, } | { "type": "listener_count", 
/**
 * How many people are in the audience.
 */
count: number, 
/**
 * About how many listen through the listen link.
 */
public: number, } | { "type": "outputs_changed", 
/**
 * The outputs now.
 */
outputs: RoomOutputs, } | { "type": "recording_stopped", 
/**
 * Why, as a code: `quota_full`.
 */
reason: string, 
/**
 * A sentence for the room.
 */
message: string, } | { "type": "restream_stopped", 
/**
 * Why, as a code: `failed`.
 */
reason: string, 
/**
 * A sentence for the room.
 */
message: string, } | { "type": "hand_mode_changed", 
/**
 * The new mode.
 */
mode: HandMode, } | { "type": "hand_raised", 
/**
 * Whose.
 */
user: UserSummary, } | { "type": "hand_lowered", 
/**
 * Whose.
 */
user_id: UserId, } | { "type": "invited_to_speak", 
/**
 * The moderator.
 */
by: UserSummary, } | { "type": "invite_declined", 
/**
 * Who declined.
 */
user_id: UserId, } | { "type": "muted", 
/**
 * The moderator.
 */
by: UserSummary, } | { "type": "removed", 
/**
 * Why, as a code: `removed_by_moderator`, `blocked_by_moderator`, `replaced` (you joined from
 * somewhere else), `too_slow` (your connection could not keep up).
 */
reason: string, 
/**
 * A sentence for the user.
 */
message: string, } | { "type": "server_restarting", 
/**
 * A suggested delay before reconnecting, in milliseconds.
 */
retry_after_ms: number, } | { "type": "room_ended", 
/**
 * Why, as a code: `ended_by_moderator`, `no_moderator`, `empty`.
 */
reason: string, } | { "type": "chat_message", 
/**
 * The message.
 */
message: ChatMessage, } | { "type": "chat_deleted", 
/**
 * Which.
 */
message_id: number, } | { "type": "chat_mode_changed", 
/**
 * The new mode.
 */
mode: ChatMode, } | { "type": "chat_slow_mode", 
/**
 * Whether slow mode is on.
 */
on: boolean, 
/**
 * While on, the seconds each person waits between messages.
 */
seconds_between: number, } | { "type": "chat_silenced", 
/**
 * Whether you are silenced.
 */
silenced: boolean, } | { "type": "reactions", 
/**
 * Each reaction given, with how many times.
 */
counts: Array<ReactionCount>, } | { "type": "error", 
/**
 * The `id` of the command, if it had one.
 */
id?: number | null, 
/**
 * A stable `snake_case` code.
 */
code: string, 
/**
 * A sentence a user can act on.
 */
message: string, } | { "type": "caption", 
/**
 * Who said it.
 */
speaker: UserId, 
/**
 * The words.
 */
text: string, 
/**
 * When they started saying it (milliseconds since 1970, as near as the server can tell).
 */
start_ms: number, 
/**
 * When they stopped.
 */
end_ms: number, 
/**
 * Whether the line is final. Lines are final today; a later engine may send a line as it grows,
 * then again with `final: true`.
 */
final: boolean, } | { "type": "pong" } | { "type": "answer", 
/**
 * The SDP.
 */
sdp: string, } | { "type": "slots", 
/**
 * One entry per slot: the speaker's user ID, or null for a free slot.
 */
slots: Array<UserId | null>, 
/**
 * One entry per slot: the source number (CSRC) the slot's packets carry for that speaker, or null.
 */
sources: Array<number | null>, } | { "type": "e2ee_rekey", 
/**
 * The new epoch.
 */
epoch: number, 
/**
 * Every device in the room, in the order the answer follows.
 */
members: Array<E2eeMember>, } | { "type": "e2ee_epoch", 
/**
 * The epoch.
 */
epoch: number, 
/**
 * Who made its key: the wraps open only as from this device key.
 */
keyholder: E2eeMember, 
/**
 * Who holds it.
 */
members: Array<E2eeMember>, } | { "type": "e2ee_key", 
/**
 * The epoch.
 */
epoch: number, 
/**
 * The blob, unpadded base64url.
 */
wrapped: string, };

export type ClubPolicy = "open" | "approval" | "invitation";

export type ClubRole = "owner" | "admin" | "leader" | "member";

export type ClubStanding = "member" | "requested" | "invited" | "banned";

export type CreateClubRequest = { 
/**
 * The handle: 3 to 20 of `[a-z0-9_]`, unique in any case (folded to lower case).
 */
handle: string, 
/**
 * The name shown.
 */
name: string, 
/**
 * What the club is about.
 */
description: string, 
/**
 * The club's rules.
 */
rules: string, 
/**
 * How people become members.
 */
policy: ClubPolicy, };

export type UpdateClubRequest = { 
/**
 * The name shown.
 */
name: string | null, 
/**
 * What the club is about.
 */
description: string | null, 
/**
 * The club's rules.
 */
rules: string | null, 
/**
 * How people become members.
 */
policy: ClubPolicy | null, };

export type ClubViewer = { 
/**
 * Member, requested, invited or banned; absent if none.
 */
standing: ClubStanding | null, 
/**
 * The caller's role, if a member.
 */
role: ClubRole | null, 
/**
 * Whether the caller follows the club.
 */
following: boolean, };

export type Club = { 
/**
 * The unique, lower-case handle.
 */
handle: string, 
/**
 * The name shown.
 */
name: string, 
/**
 * What the club is about.
 */
description: string, 
/**
 * The club's rules.
 */
rules: string, 
/**
 * How people become members.
 */
policy: ClubPolicy, 
/**
 * Its owner.
 */
owner: UserSummary, 
/**
 * How many members it has.
 */
members: number, 
/**
 * How many people follow it.
 */
followers: number, 
/**
 * Its avatar (256 px JPEG; add `?size=64` for 64 px), absent if it has none.
 */
avatar: string | null, 
/**
 * When it was made, Unix seconds.
 */
created_at: number, 
/**
 * The caller's place in it.
 */
you: ClubViewer, };

export type ClubSummary = { 
/**
 * The handle.
 */
handle: string, 
/**
 * The name shown.
 */
name: string, 
/**
 * Its avatar, if any.
 */
avatar: string | null, 
/**
 * How people become members.
 */
policy: ClubPolicy, 
/**
 * How many members it has.
 */
members: number, };

export type ClubOf = { 
/**
 * The club.
 */
club: ClubSummary, 
/**
 * Member or invited (a person sees their own invitations and requests; others see memberships only).
 */
standing: ClubStanding, 
/**
 * The role, for a member.
 */
role: ClubRole | null, };

export type ClubList = { 
/**
 * The clubs, the oldest membership first.
 */
clubs: Array<ClubOf>, };

export type ClubMember = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * Member, requested, invited or banned (the list asked for).
 */
standing: ClubStanding, 
/**
 * The role, for a member.
 */
role: ClubRole | null, 
/**
 * Since when, Unix seconds.
 */
since: number, };

export type ClubMemberPage = { 
/**
 * This page.
 */
members: Array<ClubMember>, 
/**
 * Pass as `cursor` for the next page; absent on the last.
 */
next_cursor: number | null, };

export type ClubPersonRequest = { 
/**
 * Their username.
 */
username: string, };

export type SetClubRoleRequest = { 
/**
 * Admin, leader or member (a club has one owner: hand it over with `transfer`).
 */
role: ClubRole, };

export type AnswerClubRequest = { 
/**
 * Let them in, or not (they are not told of a refusal).
 */
approve: boolean, };

export type ClubJoined = { 
/**
 * `member` (joined, or accepted an invitation) or `requested` (waiting for an admin).
 */
standing: ClubStanding, };

export type RoomClub = { 
/**
 * The club's handle.
 */
handle: string, 
/**
 * The club's name.
 */
name: string, };

export type ClubSuggestion = { 
/**
 * The club.
 */
club: ClubSummary, 
/**
 * How many of the people the caller follows are members.
 */
members_you_follow: number, };

export type AdminClub = { 
/**
 * The club.
 */
club: ClubSummary, 
/**
 * Its owner.
 */
owner: UserSummary, 
/**
 * How many follow it.
 */
followers: number, 
/**
 * Why it is suspended, if it is.
 */
suspended: string | null, 
/**
 * When it was made, Unix seconds.
 */
created_at: number, };

export type AdminClubs = { 
/**
 * This page.
 */
clubs: Array<AdminClub>, 
/**
 * Pass as `cursor` for the next page; absent on the last.
 */
next_cursor: number | null, };

export type ClubReportRequest = { 
/**
 * Why.
 */
reason: ReportReason, 
/**
 * Up to 1,000 characters more.
 */
text: string, };

export type NewThreadRequest = { 
/**
 * The other people, by username: one for a thread of two, up to nine for a group.
 */
usernames: Array<string>, 
/**
 * The first message: 1 to 1,000 characters of plain text.
 */
text: string, };

export type SendMessageRequest = { 
/**
 * 1 to 1,000 characters of plain text; links are shown as links and never fetched by the server.
 */
text: string, };

export type Message = { 
/**
 * Its ID; later messages have larger IDs.
 */
id: number, 
/**
 * The thread.
 */
thread_id: number, 
/**
 * Who wrote it.
 */
sender: UserSummary, 
/**
 * What they wrote; empty once deleted.
 */
text: string, 
/**
 * When, Unix milliseconds.
 */
sent_at_ms: number, 
/**
 * Whether its writer deleted it (for everyone).
 */
deleted: boolean, };

export type Thread = { 
/**
 * Its ID.
 */
id: number, 
/**
 * A group (up to ten people), or two.
 */
group: boolean, 
/**
 * The other members the caller may see (never one who blocks them or whom they block), in the order
 * they joined.
 */
members: Array<UserSummary>, 
/**
 * The newest message the caller may see.
 */
last_message: Message | null, 
/**
 * Messages from others after the caller's last read.
 */
unread: number, 
/**
 * Whether the caller muted it (no push, no count).
 */
muted: boolean, 
/**
 * Whether it is in the caller's Requests: someone they do not follow wrote first, and they have not
 * accepted.
 */
request: boolean, };

export type ThreadList = { 
/**
 * The threads.
 */
threads: Array<Thread>, };

export type MessagePage = { 
/**
 * This page.
 */
messages: Array<Message>, 
/**
 * Pass as `before` for the next (older) page; absent on the last.
 */
next_before: number | null, };

export type MuteRequest = { 
/**
 * Muted or not.
 */
muted: boolean, };

export type ReadUpToRequest = { 
/**
 * The newest message read.
 */
up_to: number, };

export type InboxCounts = { 
/**
 * Threads (not muted, not in Requests) with messages the person has not read.
 */
unread_threads: number, 
/**
 * Threads waiting in Requests.
 */
requests: number, };

export type MessageReportRequest = { 
/**
 * Why.
 */
reason: ReportReason, 
/**
 * Up to 1,000 characters more.
 */
text: string, 
/**
 * Also block the message's writer, in the same step.
 */
block: boolean, };

export type AddMembersRequest = { 
/**
 * Their usernames.
 */
usernames: Array<string>, };

export type EventId = string;

export type CreateEventRequest = { 
/**
 * 1 to 100 characters.
 */
title: string, 
/**
 * Up to 1,000 characters.
 */
description: string, 
/**
 * When it starts: RFC 3339 (`2026-12-01T18:00:00Z`; an offset is converted to UTC), in the future and at
 * most 60 days ahead.
 */
starts_at: string, 
/**
 * Who may see the event and its room: the rules of rooms, with the hosts as moderators.
 */
visibility: Visibility, 
/**
 * Up to 10 usernames asked to co-host; each must accept.
 */
cohosts: Array<string>, 
/**
 * For a closed event, the usernames who may see it.
 */
invited: Array<string>, 
/**
 * The handle of a club to host the event (the caller must be one of its leaders, admins or owner):
 * then `social` means the club's followers and members, and `closed` its members (and the invited).
 */
club: string | null, };

export type UpdateEventRequest = { 
/**
 * A new title.
 */
title: string | null, 
/**
 * A new description.
 */
description: string | null, 
/**
 * A new start time (RFC 3339).
 */
starts_at: string | null, };

export type EventState = "scheduled" | "live" | "ended" | "missed" | "cancelled";

export type EventHost = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * Whether they accepted (the creator always has).
 */
accepted: boolean, };

export type EventInfo = { 
/**
 * The ID.
 */
id: EventId, 
/**
 * The title.
 */
title: string, 
/**
 * The description.
 */
description: string, 
/**
 * When it starts, RFC 3339 in UTC.
 */
starts_at: string, 
/**
 * Who may see it.
 */
visibility: Visibility, 
/**
 * The creator first, then the co-hosts; those who have not accepted are shown to hosts only.
 */
hosts: Array<EventHost>, 
/**
 * Where it stands.
 */
state: EventState, 
/**
 * The live room, while the event is live.
 */
room_id: RoomId | null, 
/**
 * How many people RSVPed: for hosts only.
 */
rsvp_count: number | null, 
/**
 * Whether the caller RSVPed.
 */
you_rsvped: boolean, 
/**
 * Whether the caller hosts it (accepted).
 */
you_host: boolean, 
/**
 * Whether the caller is asked to co-host and has not answered.
 */
you_are_asked: boolean, 
/**
 * The page to share: `https://HOST/event/ID`.
 */
url: string, 
/**
 * The club that hosts it, if one does.
 */
club: RoomClub | null, };

export type EventList = { 
/**
 * The events.
 */
events: Array<EventInfo>, };

export type RsvpPage = { 
/**
 * How many in all.
 */
total: number, 
/**
 * This page.
 */
users: Array<UserSummary>, 
/**
 * Pass as `cursor` for the next page; absent on the last.
 */
next_cursor: number | null, };

export type CalendarFeed = { 
/**
 * The feed's secret address (`https://HOST/cal/TOKEN.ics`), shown once; a new one revokes the old.
 */
url: string, 
/**
 * The same as `webcal://`, which calendar apps open as a subscription.
 */
webcal_url: string, };

export type NotificationKind = "room_started" | "on_stage" | "event_started" | "event_changed" | "event_cancelled" | "cohost_invite" | "followed" | "pinged" | "room_invite" | "club_request" | "club_invite" | "club_approved" | "club_room_started" | "message";

export type Notification = { 
/**
 * Its ID; newer ones have larger IDs.
 */
id: number, 
/**
 * What it is about.
 */
kind: NotificationKind, 
/**
 * Who did it, if someone did.
 */
actor: UserSummary | null, 
/**
 * The room it is about.
 */
room_id: RoomId | null, 
/**
 * The event it is about.
 */
event_id: EventId | null, 
/**
 * The club it is about, by handle.
 */
club: string | null, 
/**
 * The room's, event's or club's title (name) when it was told.
 */
title: string, 
/**
 * When, RFC 3339 in UTC.
 */
created_at: string, 
/**
 * Whether it was marked read.
 */
read: boolean, 
/**
 * Where clicking it goes, a path on this server (`/room/ID`, `/event/ID`, `/u/NAME`, `/c/HANDLE`).
 */
link: string, 
/**
 * One sentence that says it all: "Ada started a room: Coffee".
 */
text: string, };

export type NotificationPage = { 
/**
 * This page.
 */
notifications: Array<Notification>, 
/**
 * How many are unread in all.
 */
unread: number, 
/**
 * Pass as `cursor` for the next (older) page; absent on the last.
 */
next_cursor: number | null, };

export type MarkReadRequest = { 
/**
 * These notifications (at most 200); with neither field, all of them.
 */
ids: Array<number>, 
/**
 * Every notification up to and including this ID.
 */
up_to: number | null, };

export type NotificationUpdate = { 
/**
 * How many are unread.
 */
unread: number, 
/**
 * The newest notification, if any.
 */
latest: Notification | null, 
/**
 * The backchannel's unread threads and Requests.
 */
messages: InboxCounts, };

export type PushKeys = { 
/**
 * The subscription's P-256 public key, base64url (65 bytes uncompressed).
 */
p256dh: string, 
/**
 * The authentication secret, base64url (16 bytes).
 */
auth: string, };

export type PushSubscriptionRequest = { 
/**
 * The push service's URL for this subscription (https, or http on loopback for tests).
 */
endpoint: string, 
/**
 * Its keys.
 */
keys: PushKeys, };

export type PushKindSetting = { 
/**
 * The kind.
 */
kind: NotificationKind, 
/**
 * Whether it is pushed.
 */
push: boolean, };

export type PushSettings = { 
/**
 * The server's VAPID public key (base64url), for `pushManager.subscribe({applicationServerKey})`.
 */
vapid_public_key: string, 
/**
 * How many push subscriptions (browsers) the caller has.
 */
subscriptions: number, 
/**
 * Each kind and whether it is pushed.
 */
kinds: Array<PushKindSetting>, };

export type UpdatePushSettings = { 
/**
 * The kinds and whether each is pushed.
 */
kinds: Array<PushKindSetting>, };

export type PushPayload = { 
/**
 * The notification's title line.
 */
title: string, 
/**
 * Its text.
 */
body: string, 
/**
 * Where clicking goes.
 */
link: string, 
/**
 * The notification's ID.
 */
id: number, 
/**
 * Its kind.
 */
kind: NotificationKind, };

export type PingRequest = { 
/**
 * Whom, by username. They must follow the caller.
 */
username: string, };

export type SearchResults = { 
/**
 * People, by username or display name.
 */
people: Array<UserSummary>, 
/**
 * Live rooms, by title.
 */
rooms: Array<RoomInfo>, 
/**
 * Upcoming and live events, by title and description.
 */
events: Array<EventInfo>, 
/**
 * Clubs, by handle, name and description.
 */
clubs: Array<ClubSummary>, 
/**
 * Replays whose transcript has the words, that the caller may hear.
 */
replays: Array<TranscriptMatch>, };

export type Suggestion = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * How many people follow them.
 */
followers: number, 
/**
 * How many of the people the caller follows follow them.
 */
followed_by_your_follows: number, 
/**
 * Whether they invited the caller.
 */
invited_you: boolean, };

export type Suggestions = { 
/**
 * People to follow, most-followed first.
 */
people: Array<Suggestion>, 
/**
 * Clubs that people the caller follows belong to, and the caller neither belongs to nor follows: the
 * most such people first.
 */
clubs: Array<ClubSuggestion>, };

export type Preview = { 
/**
 * The title.
 */
title: string, 
/**
 * For an event, its description; empty for a room.
 */
description: string, 
/**
 * The people on stage (a room) or the hosts (an event).
 */
people: Array<UserSummary>, 
/**
 * A room's audience size; absent for an event.
 */
listener_count: number | null, 
/**
 * An event's start, RFC 3339 in UTC; absent for a room.
 */
starts_at: string | null, 
/**
 * The address to share.
 */
url: string, };

export type ModerationAction = "invite_to_speak" | "move_to_audience" | "make_moderator" | "remove_moderator" | "mute" | "remove" | "delete_chat" | "silence_chat" | "unsilence_chat" | "chat_mode" | "hand_mode" | "end_room" | "outputs";

export type ModerationEntry = { 
/**
 * When, Unix milliseconds.
 */
at_ms: number, 
/**
 * The moderator (an admin ending the room from the console is recorded as that admin).
 */
actor: UserSummary, 
/**
 * What they did.
 */
action: ModerationAction, 
/**
 * To whom, when it was done to someone.
 */
target: UserSummary | null, 
/**
 * The deleted message's text, or the new mode.
 */
detail: string | null, };

export type ModerationLog = { 
/**
 * The entries.
 */
entries: Array<ModerationEntry>, };

export type ChatRecord = { 
/**
 * The author.
 */
user: UserSummary, 
/**
 * The text.
 */
text: string, 
/**
 * When it was sent, Unix milliseconds.
 */
sent_at_ms: number, 
/**
 * Who deleted it, if a moderator did.
 */
deleted_by: UserSummary | null, };

export type ReportReason = "harassment" | "hate" | "spam" | "sexual" | "violence" | "impersonation" | "other";

export type ReportRequest = { 
/**
 * The person reported, who must be in the room; absent to report the room itself.
 */
user_id: UserId | null, 
/**
 * Why.
 */
reason: ReportReason, 
/**
 * Up to 1,000 characters more.
 */
text: string, 
/**
 * Also block the person reported, in the same step.
 */
block: boolean, };

export type ReportReceipt = { 
/**
 * The report's number.
 */
id: number, 
/**
 * Whether the person reported is now blocked.
 */
blocked: boolean, 
/**
 * A sentence for the reporter.
 */
message: string, };

export type Report = { 
/**
 * Its number.
 */
id: number, 
/**
 * Who reported.
 */
reporter: UserSummary, 
/**
 * The room.
 */
room_id: RoomId, 
/**
 * The room's title when reported.
 */
room_title: string, 
/**
 * The person reported; absent for a report on the room.
 */
target: UserSummary | null, 
/**
 * Why.
 */
reason: ReportReason, 
/**
 * What the reporter wrote.
 */
text: string, 
/**
 * When, Unix milliseconds.
 */
created_at_ms: number, 
/**
 * When an admin resolved it.
 */
resolved_at_ms: number | null, 
/**
 * Who resolved it (absent when done from the command line).
 */
resolved_by: UserSummary | null, 
/**
 * The admin's note.
 */
resolution_note: string | null, 
/**
 * For a report on a club: its handle (`room_id` is then empty and `room_title` the club's name).
 */
club: string | null, 
/**
 * For a report on a private message: its ID (`room_id` is then empty, `target` its writer, and the
 * report's context is the ten messages before and after it).
 */
message_id: number | null, };

export type ReportDetail = { 
/**
 * The report.
 */
report: Report, 
/**
 * The chat, oldest first, deleted messages included.
 */
chat: Array<ChatRecord>, 
/**
 * The moderation log, oldest first.
 */
moderation: Array<ModerationEntry>, 
/**
 * Other reports on the same person, newest first (at most 20).
 */
earlier_reports: Array<Report>, };

export type ReportList = { 
/**
 * The reports, newest first.
 */
reports: Array<Report>, 
/**
 * The cursor of the next page.
 */
next_cursor: number | null, };

export type ResolveReportRequest = { 
/**
 * 1 to 1,000 characters: what was done and why.
 */
note: string, };

export type SuspendRequest = { 
/**
 * 1 to 1,000 characters, shown to the person when they try to sign in.
 */
reason: string, };

export type AdminUser = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * Whether they are an admin.
 */
is_admin: boolean, 
/**
 * When they signed up, Unix seconds.
 */
created_at: number, 
/**
 * Why they are suspended, if they are.
 */
suspended: string | null, 
/**
 * Whether the account was deleted (then `user` is its anonymous stand-in).
 */
deleted: boolean, 
/**
 * Who invited whom, from the first account down to this person's inviter.
 */
invited_by: Array<UserSummary>, 
/**
 * Whom this person invited, oldest first.
 */
invitees: Array<Invitee>, 
/**
 * Reports on this person.
 */
reports_against: number, };

export type Invitee = { 
/**
 * Who.
 */
user: UserSummary, 
/**
 * How many they invited in turn.
 */
invitees: number, 
/**
 * Whether they are suspended.
 */
suspended: boolean, };

export type AdminSettings = { 
/**
 * Invites each user may create (0 to 10,000).
 */
invite_quota: number, 
/**
 * Participants a room holds, stage included (2 to 100,000); applies to live rooms at once.
 */
room_capacity: number, };

export type AdminRooms = { 
/**
 * The rooms.
 */
rooms: Array<RoomInfo>, };

export type AdminLogEntry = { 
/**
 * Its number.
 */
id: number, 
/**
 * Who did it; absent for the command line.
 */
admin: UserSummary | null, 
/**
 * What: `suspend`, `unsuspend`, `end_room`, `resolve_report` or `settings`.
 */
action: string, 
/**
 * To what: a user's ID, a room or a report's number.
 */
subject: string, 
/**
 * When the subject is a person, their username now.
 */
subject_username: string | null, 
/**
 * The reason, note or new value.
 */
detail: string, 
/**
 * When, Unix seconds.
 */
created_at: number, };

export type AdminLog = { 
/**
 * Newest first.
 */
entries: Array<AdminLogEntry>, };

export type SessionInfo = { 
/**
 * Its ID, to revoke it by.
 */
id: string, 
/**
 * The device, as its browser named itself ("Chrome on Linux").
 */
device: string, 
/**
 * When it signed in, Unix seconds.
 */
created_at: number, 
/**
 * When it was last used, Unix seconds, to the hour.
 */
last_seen: number, 
/**
 * Whether it is the session asking.
 */
current: boolean, };

export type SessionList = { 
/**
 * Newest first.
 */
sessions: Array<SessionInfo>, };

export type ChangePasswordRequest = { 
/**
 * The password now.
 */
current_password: string, 
/**
 * The new one: 8 to 1,024 characters.
 */
new_password: string, };

export type DeleteAccountRequest = { 
/**
 * The password.
 */
password: string, };

export type AccountExport = { 
/**
 * When it was made, Unix seconds.
 */
exported_at: number, 
/**
 * The profile.
 */
profile: Me, 
/**
 * When they signed up, Unix seconds.
 */
created_at: number, 
/**
 * Whom they follow.
 */
following: Array<UserSummary>, 
/**
 * Who follows them.
 */
followers: Array<UserSummary>, 
/**
 * Whom they block.
 */
blocking: Array<UserSummary>, 
/**
 * Events they host or were asked to co-host.
 */
events: Array<ExportedEvent>, 
/**
 * Events they RSVPed to (IDs and titles).
 */
rsvps: Array<ExportedEvent>, 
/**
 * The invites they made, and who used each.
 */
invites: Array<InviteInfo>, 
/**
 * Their chat messages, oldest first.
 */
messages: Array<ExportedMessage>, 
/**
 * Reports they filed.
 */
reports: Array<ExportedReport>, 
/**
 * Their clubs, with the invitations and requests still waiting.
 */
clubs: Array<ClubOf>, 
/**
 * Their private conversations (those in their inbox and Requests).
 */
threads: Array<Thread>, 
/**
 * The private messages they wrote, oldest first.
 */
private_messages: Array<Message>, };

export type ExportedEvent = { 
/**
 * The ID.
 */
id: EventId, 
/**
 * The title.
 */
title: string, 
/**
 * The description.
 */
description: string, 
/**
 * When it starts, Unix seconds.
 */
starts_at: number, };

export type ExportedMessage = { 
/**
 * The room.
 */
room_id: RoomId, 
/**
 * The text.
 */
text: string, 
/**
 * When, Unix milliseconds.
 */
sent_at_ms: number, 
/**
 * Whether a moderator deleted it.
 */
deleted: boolean, };

export type ExportedReport = { 
/**
 * The room.
 */
room_id: RoomId, 
/**
 * Why.
 */
reason: ReportReason, 
/**
 * What they wrote.
 */
text: string, 
/**
 * When, Unix milliseconds.
 */
created_at_ms: number, };

export type Scope = "rooms:read" | "rooms:write" | "listen" | "speak" | "admin";

export type CreateTokenRequest = { 
/**
 * 1 to 50 characters, to tell tokens apart ("OBS on the studio Mac").
 */
name: string, 
/**
 * At least one.
 */
scopes: Array<Scope>, 
/**
 * Days until it expires, 1 to 365; absent for a token that does not expire.
 */
expires_in_days: number | null, };

export type TokenInfo = { 
/**
 * Its ID, to revoke it by.
 */
id: number, 
/**
 * Its name.
 */
name: string, 
/**
 * What it may do.
 */
scopes: Array<Scope>, 
/**
 * When it was made, Unix seconds.
 */
created_at: number, 
/**
 * When it expires, Unix seconds.
 */
expires_at: number | null, 
/**
 * When it was last used, Unix seconds, to the hour.
 */
last_used_at: number | null, };

export type TokenCreated = { 
/**
 * The token.
 */
info: TokenInfo, 
/**
 * The secret: `Authorization: Bearer stoa_pat_...`. Stoa keeps only its hash.
 */
token: string, };

export type TokenList = { 
/**
 * Newest first.
 */
tokens: Array<TokenInfo>, };
