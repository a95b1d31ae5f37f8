//! Why a join or a command was refused.

use thiserror::Error;

/// Why a user may not join a room. The glue maps each to an HTTP error before any socket is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[non_exhaustive]
pub enum CommandError {
    /// Only moderators may do this.
    #[error("Only a moderator can do that.")]
    NotModerator,
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
        }
    }
}
