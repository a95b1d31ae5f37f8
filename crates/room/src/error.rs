//! Why a join or a command was refused.

use thiserror::Error;

/// Why a user may not join a room. The glue maps each to an HTTP error before any socket is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum JoinError {
    /// The room has ended, or the user may not see it. Answered exactly like an unknown room.
    #[error("There is no such room.")]
    NotFound,
    /// A moderator removed this user from the room earlier.
    #[error("You were removed from this room and cannot rejoin it.")]
    Removed,
    /// The room holds as many people as it may.
    #[error("This room is full.")]
    Full,
}

/// Why a command from a participant was refused. Nothing changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error, serde::Serialize, serde::Deserialize)]
#[non_exhaustive]
pub enum CommandError {
    /// Only moderators may do this.
    #[error("Only a moderator can do that.")]
    NotModerator,
    /// This connection may only listen (an access token without the `speak` scope).
    #[error("This connection may only listen: its access token lacks the `speak` scope.")]
    ListenOnly,
    /// This connection's access token lacks `rooms:write`: no moderation, chat, reactions or outputs.
    #[error("This connection's access token lacks the `rooms:write` scope.")]
    MissingWriteScope,
    /// The target is not in the room.
    #[error("That person is not in the room.")]
    NoSuchParticipant,
    /// The target (or the caller) must be in the audience for this.
    #[error("That person is not in the audience.")]
    NotInAudience,
    /// The target (or the caller) must be on stage for this.
    #[error("That person is not on stage.")]
    NotOnStage,
    /// A moderator cannot be moved to the audience before their moderator role is removed.
    #[error("That person is a moderator; remove their moderator role first.")]
    TargetIsModerator,
    /// The target is not a moderator.
    #[error("That person is not a moderator.")]
    NotAModerator,
    /// A room always keeps at least one moderator.
    #[error("A room needs at least one moderator; make someone else a moderator first.")]
    LastModerator,
    /// Moderators cannot remove themselves; they can leave.
    #[error("You cannot remove yourself; leave the room instead.")]
    CannotRemoveSelf,
    /// Hands are off in this room.
    #[error("Hand raising is turned off in this room.")]
    HandsOff,
    /// The hand mode admits only listeners followed by someone on stage.
    #[error("Only people followed by the speakers can raise their hand in this room.")]
    NotFollowedBySpeakers,
    /// There is no pending invitation to speak to accept or decline.
    #[error("You have no invitation to speak.")]
    NoInvitation,
    /// A chat message is empty, too long, or has control characters.
    #[error("A chat message has 1 to 500 characters of plain text.")]
    ChatInvalid,
    /// The room's chat is off.
    #[error("The chat is off in this room.")]
    ChatOff,
    /// Only people on stage may write in this room's chat.
    #[error("Only people on stage can write in this room's chat.")]
    ChatSpeakersOnly,
    /// A moderator silenced the sender's chat.
    #[error("A moderator silenced your chat in this room.")]
    ChatSilenced,
    /// One message a second per person.
    #[error("Wait a second between messages.")]
    ChatTooFast,
    /// The room is in slow mode.
    #[error("The chat is in slow mode: one message every 10 seconds each.")]
    ChatSlowMode,
    /// Too many reactions from one person.
    #[error("Slow down: at most 5 reactions each half second.")]
    ReactionsTooFast,
    /// The listen link is for open rooms only.
    #[error("Only an open room can have a public listen link.")]
    ListenLinkOpenOnly,
    /// No such chat message (deleted already, or too old to be kept).
    #[error("That message is gone.")]
    NoSuchMessage,
    /// The server cannot hear an end-to-end encrypted room, so nothing that needs its audio can be on.
    #[error(
        "This room is end-to-end encrypted: the server cannot hear it, so it cannot record, clip, caption or stream it."
    )]
    E2eeRoom,
    /// Keys are for end-to-end encrypted rooms.
    #[error("This room is not end-to-end encrypted.")]
    NotE2ee,
    /// A device key is 32 bytes in unpadded base64url.
    #[error("A device key is an X25519 public key: 32 bytes in unpadded base64url (43 characters).")]
    InvalidDeviceKey,
    /// Keys for an epoch the room did not ask this participant for (or no longer waits for).
    #[error("The room is not waiting for your keys for that epoch.")]
    StaleEpoch,
    /// The wrapped keys do not match the request: one per member, each 97 bytes in unpadded base64url.
    #[error("Send one wrapped key (130 characters of unpadded base64url) for each member, in the request's order.")]
    InvalidKeys,
}

impl CommandError {
    /// The stable `snake_case` code sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            CommandError::NotModerator => "forbidden",
            CommandError::NoSuchParticipant => "not_in_room",
            CommandError::NotInAudience => "not_in_audience",
            CommandError::NotOnStage => "not_on_stage",
            CommandError::TargetIsModerator => "target_is_moderator",
            CommandError::NotAModerator => "not_a_moderator",
            CommandError::LastModerator => "last_moderator",
            CommandError::CannotRemoveSelf => "cannot_remove_self",
            CommandError::HandsOff => "hands_off",
            CommandError::NotFollowedBySpeakers => "not_followed_by_speakers",
            CommandError::NoInvitation => "no_invitation",
            CommandError::ListenOnly | CommandError::MissingWriteScope => "missing_scope",
            CommandError::ChatInvalid => "chat_invalid",
            CommandError::ChatOff => "chat_off",
            CommandError::ChatSpeakersOnly => "chat_speakers_only",
            CommandError::ChatSilenced => "chat_silenced",
            CommandError::ChatTooFast => "chat_too_fast",
            CommandError::ChatSlowMode => "chat_slow_mode",
            CommandError::NoSuchMessage => "no_such_message",
            CommandError::ListenLinkOpenOnly => "listen_link_open_only",
            CommandError::E2eeRoom => "e2ee_room",
            CommandError::NotE2ee => "not_e2ee",
            CommandError::InvalidDeviceKey => "invalid_device_key",
            CommandError::StaleEpoch => "stale_epoch",
            CommandError::InvalidKeys => "invalid_keys",
            CommandError::ReactionsTooFast => "reactions_too_fast",
        }
    }
}
