//! The room's chat: who may write (the chat mode, silenced people), the limits (one message a second per
//! person; past 20 a second in the room, slow mode), the last 100 messages for late joiners, and
//! moderators' deletions. Messages are events broadcast once to everyone.
//!
//! Messages and reactions go out together on the room's tick, twice a second: each broadcast wakes every
//! connection of the room and costs each a write, so ten messages and two counts a second in a room of
//! 5,000 would be 60,000 wake-ups a second; on the tick they are two bursts of back-to-back events that
//! each connection writes at once (see `live/connection.rs`), 10,000. A message waits half a second at most.

use super::*;
use stoa_proto::{ChatMessage, ChatMode, ChatState, ModerationAction, Reaction, ReactionCount};

/// How often the chat's new messages and the reactions' counts go out.
const TICK: Duration = Duration::from_millis(500);
/// Reactions one person may give in each of those windows.
const REACTIONS_PER_WINDOW: u32 = 5;

/// Messages a late joiner gets.
pub(super) const HISTORY: usize = 100;
/// One message per person in this long.
const PER_PERSON: Duration = Duration::from_secs(1);
/// At most this many messages in a room in any second; past it, slow mode.
const ROOM_PER_SECOND: usize = 20;
/// Slow mode: one message per person in this long...
const SLOW_PER_PERSON: Duration = Duration::from_secs(10);
/// ...for this long after the room last went over its rate.
const SLOW_FOR: Duration = Duration::from_secs(30);

/// The chat's state in a room.
#[derive(Debug, Default)]
pub(super) struct Chat {
    pub(super) mode: ChatMode,
    pub(super) history: VecDeque<ChatMessage>,
    next_id: u64,
    /// When each of the room's last messages was accepted, for the room's rate.
    recent: VecDeque<Instant>,
    /// When each person's last message was accepted.
    last_by: HashMap<UserId, Instant>,
    pub(super) silenced: HashSet<UserId>,
    /// Until when slow mode lasts, while on.
    pub(super) slow_until: Option<Instant>,
    /// Messages accepted since the last tick, to go out on the next.
    pending: Vec<ChatMessage>,
    /// Reactions given since the last count went out.
    reactions: BTreeMap<Reaction, u32>,
    /// Each person's reactions in this window.
    reactions_by: HashMap<UserId, u32>,
    /// When what is pending (messages, counts) goes out.
    tick_due: Option<Instant>,
    /// Wall-clock milliseconds at `epoch`, for the messages' times (the room's clock is an `Instant`).
    epoch: Option<(Instant, u64)>,
}

impl Room {
    /// Sets the wall clock: `unix_ms` is now. The glue calls it once; message times follow from `now`.
    pub fn set_wall_clock(&mut self, now: Instant, unix_ms: u64) {
        self.chat.epoch = Some((now, unix_ms));
    }

    /// The chat as `user` finds it on joining.
    pub(super) fn chat_state(&self, user: UserId) -> ChatState {
        ChatState {
            mode: self.chat.mode,
            messages: self.chat.history.iter().cloned().collect(),
            slow_mode: self.chat.slow_until.is_some(),
            silenced: self.chat.silenced.contains(&user),
        }
    }

    pub(super) fn send_chat(&mut self, now: Instant, actor: UserId, text: &str) -> Result<(), CommandError> {
        let text = text.trim();
        let len = text.chars().count();
        let limit = stoa_proto::limits::CHAT_MESSAGE;
        if len < limit.min || len > limit.max || text.chars().any(|c| c.is_control() && c != '\n') {
            return Err(CommandError::ChatInvalid);
        }
        let role = self.role_of(actor).ok_or(CommandError::NoSuchParticipant)?;
        match self.chat.mode {
            ChatMode::Off => return Err(CommandError::ChatOff),
            ChatMode::Speakers if role == Role::Listener => return Err(CommandError::ChatSpeakersOnly),
            _ => {}
        }
        if self.chat.silenced.contains(&actor) {
            return Err(CommandError::ChatSilenced);
        }
        let wait = if self.chat.slow_until.is_some() { SLOW_PER_PERSON } else { PER_PERSON };
        if self.chat.last_by.get(&actor).is_some_and(|at| now < *at + wait) {
            return Err(if self.chat.slow_until.is_some() {
                CommandError::ChatSlowMode
            } else {
                CommandError::ChatTooFast
            });
        }
        while self.chat.recent.front().is_some_and(|at| now >= *at + Duration::from_secs(1)) {
            self.chat.recent.pop_front();
        }
        if self.chat.recent.len() >= ROOM_PER_SECOND {
            // Over the room's rate: slow mode, for everyone, and this message is refused.
            if self.chat.slow_until.is_none() {
                self.outputs.push_back(Output::Broadcast(ServerEvent::ChatSlowMode {
                    on: true,
                    seconds_between: SLOW_PER_PERSON.as_secs() as u32,
                }));
            }
            self.chat.slow_until = Some(now + SLOW_FOR);
            return Err(CommandError::ChatSlowMode);
        }
        self.chat.recent.push_back(now);
        self.chat.last_by.insert(actor, now);
        self.chat.next_id += 1;
        let sent_at_ms =
            self.chat.epoch.map_or(0, |(at, ms)| ms + now.saturating_duration_since(at).as_millis() as u64);
        let user = self.participants[&actor].user.clone();
        let message = ChatMessage { id: self.chat.next_id, user, text: text.to_string(), sent_at_ms };
        self.chat.pending.push(message);
        self.chat.tick_due.get_or_insert(now + TICK);
        Ok(())
    }

    pub(super) fn delete_chat(&mut self, actor: UserId, message_id: u64) -> Result<(), CommandError> {
        self.require_moderator(actor)?;
        let deleted = if let Some(at) = self.chat.pending.iter().position(|m| m.id == message_id) {
            // Not sent yet: it never goes out.
            Some(self.chat.pending.remove(at))
        } else {
            let Some(at) = self.chat.history.iter().position(|m| m.id == message_id) else {
                return Err(CommandError::NoSuchMessage);
            };
            self.outputs.push_back(Output::Broadcast(ServerEvent::ChatDeleted { message_id }));
            self.chat.history.remove(at)
        };
        let author = deleted.map(|m| m.user.id);
        self.log(actor, ModerationAction::DeleteChat, author, Some(message_id.to_string()));
        Ok(())
    }

    pub(super) fn silence_chat(&mut self, actor: UserId, user: UserId, silenced: bool) -> Result<(), CommandError> {
        self.require_moderator(actor)?;
        if !self.participants.contains_key(&user) {
            return Err(CommandError::NoSuchParticipant);
        }
        let changed = if silenced { self.chat.silenced.insert(user) } else { self.chat.silenced.remove(&user) };
        if changed {
            self.send_to_user(user, ServerEvent::ChatSilenced { silenced });
            let action = if silenced { ModerationAction::SilenceChat } else { ModerationAction::UnsilenceChat };
            self.log(actor, action, Some(user), None);
        }
        Ok(())
    }

    pub(super) fn set_chat_mode(&mut self, actor: UserId, mode: ChatMode) -> Result<(), CommandError> {
        self.require_moderator(actor)?;
        if self.chat.mode != mode {
            self.chat.mode = mode;
            self.outputs.push_back(Output::Broadcast(ServerEvent::ChatModeChanged { mode }));
            let detail = serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_string));
            self.log(actor, ModerationAction::ChatMode, None, detail);
        }
        Ok(())
    }

    pub(super) fn react(&mut self, now: Instant, actor: UserId, reaction: Reaction) -> Result<(), CommandError> {
        let given = self.chat.reactions_by.entry(actor).or_default();
        if *given >= REACTIONS_PER_WINDOW {
            return Err(CommandError::ReactionsTooFast);
        }
        *given += 1;
        *self.chat.reactions.entry(reaction).or_default() += 1;
        self.chat.tick_due.get_or_insert(now + TICK);
        Ok(())
    }

    /// When slow mode ends or the tick is due, whichever is first.
    pub(super) fn chat_timeout(&self) -> Option<Instant> {
        [self.chat.slow_until, self.chat.tick_due].into_iter().flatten().min()
    }

    /// On the tick, sends the new messages and the reactions' counts, back to back; ends slow mode once its
    /// time is up.
    pub(super) fn handle_chat_timeout(&mut self, now: Instant) {
        if self.chat.tick_due.is_some_and(|due| now >= due) {
            self.chat.tick_due = None;
            for message in std::mem::take(&mut self.chat.pending) {
                if self.chat.history.len() == HISTORY {
                    self.chat.history.pop_front();
                }
                self.chat.history.push_back(message.clone());
                self.outputs.push_back(Output::Broadcast(ServerEvent::ChatMessage { message }));
            }
            self.chat.reactions_by.clear();
            if !self.chat.reactions.is_empty() {
                let counts = std::mem::take(&mut self.chat.reactions)
                    .into_iter()
                    .map(|(reaction, count)| ReactionCount { reaction, count })
                    .collect();
                self.outputs.push_back(Output::Broadcast(ServerEvent::Reactions { counts }));
            }
        }
        if self.chat.slow_until.is_some_and(|until| now >= until) {
            self.chat.slow_until = None;
            self.outputs.push_back(Output::Broadcast(ServerEvent::ChatSlowMode { on: false, seconds_between: 0 }));
        }
    }
}
