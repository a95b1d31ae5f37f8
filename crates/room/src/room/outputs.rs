//! Where the room's audio goes beyond the room (the replay, clips, the listen link, the restream): set by
//! its moderators, logged, and told to everyone; an output that stops by itself is told too.

use super::*;
use stoa_proto::ModerationAction;

impl Room {
    /// What the room's mix goes to.
    pub fn room_outputs(&self) -> RoomOutputs {
        self.egress
    }

    /// Sets what the room's mix goes to from the start (a new room's request), without a moderator.
    pub fn init_outputs(&mut self, outputs: RoomOutputs) {
        if self.e2ee.is_some() {
            return;
        }
        self.egress = RoomOutputs {
            listen_link: outputs.listen_link && self.visibility == Visibility::Open,
            restream: false,
            ..outputs
        };
        self.version += 1;
    }

    /// A moderator sets the replay, clips, the listen link and whether captions are allowed (each `None`
    /// kept).
    pub(super) fn set_outputs(&mut self, actor: UserId, asked: [Option<bool>; 4]) -> Result<(), CommandError> {
        let [recording, clips, listen_link, captions] = asked;
        self.require_moderator(actor)?;
        if self.e2ee.is_some() && asked.contains(&Some(true)) {
            return Err(CommandError::E2eeRoom);
        }
        if listen_link == Some(true) && self.visibility != Visibility::Open {
            return Err(CommandError::ListenLinkOpenOnly);
        }
        let before = self.egress;
        let after = RoomOutputs {
            recording: recording.unwrap_or(before.recording),
            clips: clips.unwrap_or(before.clips),
            listen_link: listen_link.unwrap_or(before.listen_link),
            restream: before.restream,
            captions: captions.unwrap_or(before.captions),
        };
        if after == before {
            return Ok(());
        }
        self.egress = after;
        self.version += 1;
        let on = |b: bool| if b { "on" } else { "off" };
        let changes = [
            ("recording", before.recording, after.recording),
            ("clips", before.clips, after.clips),
            ("listen_link", before.listen_link, after.listen_link),
            ("captions", before.captions, after.captions),
        ];
        let detail: Vec<String> =
            changes.iter().filter(|(_, b, a)| b != a).map(|(name, _, a)| format!("{name} {}", on(*a))).collect();
        self.log(actor, ModerationAction::Outputs, None, Some(detail.join(", ")));
        self.outputs.push_back(Output::Broadcast(ServerEvent::OutputsChanged { outputs: after }));
        Ok(())
    }

    /// Whether `actor` may start or stop the room's restream: a moderator.
    pub fn may_restream(&self, actor: UserId) -> Result<(), CommandError> {
        self.require_moderator(actor).map(|_| ())
    }

    /// A moderator started (or replaced) or stopped the room's restream, whose target the server checked
    /// and handed to the egress: logged, and everyone told.
    pub fn set_restream(&mut self, actor: UserId, on: bool) -> Result<(), CommandError> {
        self.require_moderator(actor)?;
        if !on && !self.egress.restream {
            return Ok(());
        }
        self.egress.restream = on;
        self.version += 1;
        let detail = if on { "restream on" } else { "restream off" };
        self.log(actor, ModerationAction::Outputs, None, Some(detail.to_string()));
        self.outputs.push_back(Output::Broadcast(ServerEvent::OutputsChanged { outputs: self.egress }));
        Ok(())
    }

    /// The restream stopped by itself (its server refused or dropped it for good): the outputs say so, and
    /// everyone is told why.
    pub fn restream_stopped(&mut self, reason: &str, message: &str) {
        if std::mem::take(&mut self.egress.restream) {
            let (reason, message) = (reason.into(), message.into());
            self.output_stopped(ServerEvent::RestreamStopped { reason, message });
        }
    }

    /// The replay stopped by itself (the space for recordings is full): the outputs say so, and everyone is
    /// told why.
    pub fn recording_stopped(&mut self, reason: &str, message: &str) {
        if std::mem::take(&mut self.egress.recording) {
            let (reason, message) = (reason.into(), message.into());
            self.output_stopped(ServerEvent::RecordingStopped { reason, message });
        }
    }

    /// An output went off by itself: everyone hears why, then the outputs as they are now.
    fn output_stopped(&mut self, why: ServerEvent) {
        self.version += 1;
        self.outputs.push_back(Output::Broadcast(why));
        self.outputs.push_back(Output::Broadcast(ServerEvent::OutputsChanged { outputs: self.egress }));
    }
}
