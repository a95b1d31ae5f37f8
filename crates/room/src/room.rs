//! [`Room`]: one live room's state and rules.

use crate::access::{Access, ClubTag, Relations, may_see};
use crate::error::{CommandError, JoinError};
pub use e2ee::{E2EE_CAPACITY, KEYHOLDER_TIMEOUT};
use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};
use stoa_proto::{
    AudienceMember, AudiencePage, ClientCommand, ClientMessage, Grant, HandMode, ModerationAction, Role, RoomId,
    RoomInfo, RoomOutputs, ServerEvent, StageMember, UserId, UserSummary, Visibility,
};

/// A room's tunables.
#[derive(Debug, Clone)]
pub struct RoomConfig {
    /// How many participants the room holds, stage included.
    pub capacity: u32,
    /// How long a participant whose connection dropped keeps their place and role, so that a reload or a
    /// network blip does not throw a speaker off stage. The creator of a new room has as long to connect.
    pub reconnect_grace: Duration,
}

impl Default for RoomConfig {
    fn default() -> Self {
        RoomConfig { capacity: 5000, reconnect_grace: Duration::from_secs(30) }
    }
}

/// What of a live room outlasts the process: written through to the store as it changes, and what a
/// restarted server brings the room back from ([`Room::restore`]). Who is in the audience is not kept: they
/// come back as they reconnect.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Lasting {
    /// The title.
    pub title: String,
    /// Who may see and join it.
    pub visibility: Visibility,
    /// Who may raise a hand.
    pub hand_mode: HandMode,
    /// The stage in its order: moderators and speakers, and whether each is muted.
    pub stage: Vec<(UserSummary, Role, bool)>,
    /// Invited to a closed room.
    pub invited: Vec<UserId>,
    /// Removed from the room, who may not come back.
    pub removed: Vec<UserId>,
    /// The event's hosts, who come in as moderators whenever they join.
    #[serde(default)]
    pub hosts: Vec<UserId>,
    /// What the room's mix goes to.
    #[serde(default)]
    pub outputs: RoomOutputs,
    /// The club that hosts it.
    #[serde(default)]
    pub club: Option<ClubTag>,
    /// End-to-end encrypted.
    #[serde(default)]
    pub e2ee: bool,
}

/// One connection (WebSocket) to the room. A user has at most one at a time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct ConnId(pub u64);

/// What the glue must do after feeding the room an input.
#[derive(Debug, Clone, PartialEq)]
pub enum Output {
    /// Send an event to one connection.
    Send(ConnId, ServerEvent),
    /// Send an event to every connection.
    Broadcast(ServerEvent),
    /// Close a connection once the events already sent to it are delivered.
    Close(ConnId),
    /// The room has ended: every connection is to be closed. No output follows.
    Ended,
    /// Find out which of `among` the user `of` follows and which they block, and hand the answer to
    /// [`Room::relations_of`]. Asked when someone comes on stage, and when someone joins without their
    /// relations to a member of the stage: the rules look at nobody else's follows and blocks.
    LookUpRelations {
        /// The member of the stage.
        of: UserId,
        /// Participants of the room.
        among: Vec<UserId>,
    },
    /// A moderator acted: an entry for the room's moderation log.
    Moderation {
        /// The moderator.
        actor: UserId,
        /// What they did.
        action: ModerationAction,
        /// To whom.
        target: Option<UserId>,
        /// The deleted message's number, or the new mode.
        detail: Option<String>,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Presence {
    Connected(ConnId),
    /// The connection dropped at this time; the participant keeps their place until the grace runs out.
    Away(Instant),
}

#[derive(Debug)]
struct Participant {
    user: UserSummary,
    role: Role,
    muted: bool,
    /// Order of arrival in the room: the longest-present speaker inherits the room.
    joined_seq: u64,
    /// Order of arrival on stage, for the stage's display order.
    stage_seq: u64,
    presence: Presence,
    /// Sequence number of the raised hand, when it is up.
    hand: Option<u64>,
    invited_to_speak: bool,
    /// What the current connection may do (an access token's scopes): without `speak`, never published and
    /// never on stage by their own doing; without `write`, no moderation, chat or reactions.
    grant: Grant,
    /// Those on stage who follow and who block this participant, and nobody else: bounded by the stage,
    /// whatever the size of anyone's social graph. Kept up to date as the stage changes.
    relations: Relations,
}

/// One live room. See the crate documentation.
#[derive(Debug)]
pub struct Room {
    id: RoomId,
    title: String,
    visibility: Visibility,
    config: RoomConfig,
    hand_mode: HandMode,
    participants: HashMap<UserId, Participant>,
    /// Who is on stage (moderators and speakers), kept as participants come, go and change role: the room
    /// looks at the stage on every join and hand, and walking thousands of participants each time made a
    /// join storm quadratic. Everyone else in `participants` is a listener.
    on_stage: BTreeSet<UserId>,
    conns: HashMap<ConnId, UserId>,
    invited: HashSet<UserId>,
    removed: HashSet<UserId>,
    /// Hosts of the event this room was started for, and the admins of the club that hosts it: they come in
    /// as moderators.
    hosts: HashSet<UserId>,
    /// The club that hosts the room.
    club: Option<ClubTag>,
    /// The chat.
    chat: chat::Chat,
    /// Raised hands in order: sequence number to user.
    hands: BTreeMap<u64, UserId>,
    next_seq: u64,
    next_conn: u64,
    ended: bool,
    listener_count_sent: u32,
    /// When the count was last sent (initially, the room's creation: the first count goes out a second in).
    listener_count_sent_at: Instant,
    /// Bumped whenever anything in [`Room::info`] or [`Room::access`] changes, so that the glue republishes
    /// its snapshot only when needed.
    version: u64,
    /// Look-ups asked for and not answered yet: of whom, among whom. While one is out, a hand refused for
    /// want of a follower on stage may yet be welcome, so it waits for the answers (`deferred_hands`).
    looking_up: HashMap<UserId, HashSet<UserId>>,
    /// Hands raised while a look-up that concerns them was out, with the command's ID: decided when the
    /// answers land. At most one per participant.
    deferred_hands: Vec<(UserId, Option<u64>)>,
    outputs: VecDeque<Output>,
    /// What the room's mix goes to (the replay, clips, the listen link).
    egress: RoomOutputs,
    /// About how many listen through the listen link, as last broadcast.
    public_listeners: u32,
    /// An end-to-end encrypted room's keys: who holds which epoch.
    e2ee: Option<e2ee::Keys>,
}

impl Room {
    /// A new live room. The creator is its first moderator, counted as present but not yet connected: they
    /// have [`RoomConfig::reconnect_grace`] to connect before the room, empty, ends.
    pub fn new(
        now: Instant,
        id: RoomId,
        title: String,
        visibility: Visibility,
        creator: UserSummary,
        invited: HashSet<UserId>,
        config: RoomConfig,
    ) -> Room {
        let mut room = Room {
            id,
            title,
            visibility,
            config,
            hand_mode: HandMode::default(),
            participants: HashMap::new(),
            on_stage: BTreeSet::new(),
            conns: HashMap::new(),
            invited,
            removed: HashSet::new(),
            hosts: HashSet::new(),
            club: None,
            chat: chat::Chat::default(),
            hands: BTreeMap::new(),
            next_seq: 0,
            next_conn: 0,
            ended: false,
            listener_count_sent: 0,
            listener_count_sent_at: now,
            version: 0,
            looking_up: HashMap::new(),
            deferred_hands: Vec::new(),
            outputs: VecDeque::new(),
            egress: RoomOutputs::default(),
            public_listeners: 0,
            e2ee: None,
        };
        let seq = room.seq();
        room.admit(Participant::expected(creator, Role::Moderator, false, seq, now));
        room
    }

    /// A new participant, indexed by role.
    fn admit(&mut self, p: Participant) {
        if p.role != Role::Listener {
            self.on_stage.insert(p.user.id);
        }
        self.participants.insert(p.user.id, p);
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    /// Whether the room has ended. An ended room takes no more input.
    pub fn is_ended(&self) -> bool {
        self.ended
    }

    /// Changes whenever [`Room::info`] or [`Room::access`] would answer differently (the listener count
    /// only when it is broadcast, at most once a second, less often in a large room).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// The next output to act on.
    pub fn poll_output(&mut self) -> Option<Output> {
        self.outputs.pop_front()
    }

    /// The room as the API shows it.
    pub fn info(&self) -> RoomInfo {
        RoomInfo {
            id: self.id.clone(),
            title: self.title.clone(),
            visibility: self.visibility,
            stage: self.stage(),
            listener_count: self.listener_count_sent,
            hand_mode: self.hand_mode,
            outputs: self.egress,
            public_listeners: self.public_listeners,
            club: self
                .club
                .as_ref()
                .map(|c| Box::new(stoa_proto::RoomClub { handle: c.handle.clone(), name: c.name.clone() })),
            e2ee: self.e2ee.is_some(),
        }
    }

    /// The facts that decide who may see the room.
    pub fn access(&self) -> Access {
        Access {
            visibility: self.visibility,
            moderators: self.moderators().collect(),
            invited: self.invited.clone(),
            removed: self.removed.clone(),
            club: self.club.as_ref().map(|c| c.id),
        }
    }

    /// Whether this connection may publish audio: its participant is on stage and not muted. The media
    /// plane forwards packets from no one else.
    pub fn may_publish(&self, conn: ConnId) -> bool {
        self.conns
            .get(&conn)
            .and_then(|u| self.participants.get(u))
            .is_some_and(|p| p.role != Role::Listener && !p.muted && p.grant.speak)
    }

    /// The user behind a connection.
    pub fn user_of(&self, conn: ConnId) -> Option<UserId> {
        self.conns.get(&conn).copied()
    }

    /// The role of a user in the room, if they are in it.
    pub fn role_of(&self, user: UserId) -> Option<Role> {
        self.participants.get(&user).map(|p| p.role)
    }

    /// A user asks to join. On success the new connection's ID is returned and a [`ServerEvent::Joined`]
    /// for it is queued. A user already in the room (a reload, a second tab) takes over their own place and
    /// role; their previous connection is told `replaced` and closed.
    ///
    /// `relations` are the user's relations to `asked`, the stage as the glue last saw it. Whoever is on
    /// stage now and was not asked about is looked up ([`Output::LookUpRelations`]); whoever was asked about
    /// and is no longer on stage is forgotten.
    ///
    /// `grant` is what this connection may do (a password's session: [`Grant::ALL`]); it belongs to the
    /// connection, and a later connection of the same person brings its own.
    pub fn join(
        &mut self,
        _now: Instant,
        user: UserSummary,
        mut relations: Relations,
        asked: &[UserId],
        grant: Grant,
    ) -> Result<ConnId, JoinError> {
        if self.ended {
            return Err(JoinError::NotFound);
        }
        if self.removed.contains(&user.id) {
            return Err(JoinError::Removed);
        }
        if !may_see(&self.access(), user.id, &relations) {
            return Err(JoinError::NotFound);
        }
        let on_stage = |room: &Room, u: &UserId| room.participants.get(u).is_some_and(|p| p.role != Role::Listener);
        relations.followed_by.retain(|u| on_stage(self, u));
        relations.blocked_by.retain(|u| on_stage(self, u));
        let unasked: Vec<UserId> = self
            .participants
            .values()
            .filter(|p| p.role != Role::Listener && p.user.id != user.id && !asked.contains(&p.user.id))
            .map(|p| p.user.id)
            .collect();
        for of in unasked {
            self.look_up(of, vec![user.id]);
        }
        let conn = ConnId(self.next_conn);
        if let Some(p) = self.participants.get_mut(&user.id) {
            if let Presence::Connected(old) = p.presence {
                self.conns.remove(&old);
                self.outputs.push_back(Output::Send(
                    old,
                    ServerEvent::Removed {
                        reason: "replaced".into(),
                        message: "You joined this room from somewhere else.".into(),
                    },
                ));
                self.outputs.push_back(Output::Close(old));
            }
            p.presence = Presence::Connected(conn);
            p.grant = grant;
            p.relations = relations;
            p.user = user.clone();
        } else {
            if self.participants.len() as u32 >= self.config.capacity {
                return Err(JoinError::Full);
            }
            let seq = self.seq();
            self.admit(Participant {
                user: user.clone(),
                role: Role::Listener,
                muted: false,
                joined_seq: seq,
                stage_seq: 0,
                presence: Presence::Connected(conn),
                hand: None,
                invited_to_speak: false,
                grant,
                relations,
            });
        }
        self.next_conn += 1;
        self.conns.insert(conn, user.id);
        let user_id = user.id;
        let p = &self.participants[&user.id];
        let role = p.role;
        let pending_invite = p.invited_to_speak;
        let hands = if role == Role::Moderator { self.hand_queue() } else { Vec::new() };
        let mut room = self.info();
        // The joiner sees the true count at once; everyone else catches up on the next tick.
        room.listener_count = self.listener_count();
        self.outputs.push_back(Output::Send(
            conn,
            ServerEvent::Joined {
                you: user,
                role,
                room,
                hands,
                ice_servers: Vec::new(),
                chat: self.chat_state(user_id),
                may: grant,
                captions: false,
                captions_low_accuracy: false,
            },
        ));
        if role == Role::Listener && self.hosts.contains(&user_id) {
            // An event's co-host comes in as a moderator, whose blocks then apply as any moderator's.
            self.set_role(user_id, Role::Moderator);
            self.enforce_blocks_of(user_id);
            return Ok(conn);
        }
        if pending_invite {
            // A reconnecting listener still has the invitation they had not answered.
            let by = self.moderators().next().and_then(|m| self.participants.get(&m)).map(|p| p.user.clone());
            if let Some(by) = by {
                self.outputs.push_back(Output::Send(conn, ServerEvent::InvitedToSpeak { by }));
            }
        }
        Ok(conn)
    }

    /// Moderators invite more users into the room (for a closed room, this is who may see and join it).
    pub fn invite(&mut self, actor: UserId, users: &[UserId]) -> Result<(), CommandError> {
        self.require_moderator(actor)?;
        self.invited.extend(users.iter().copied());
        self.version += 1;
        Ok(())
    }

    /// `actor` pings `target` to join: they must be in the room. In a closed room a ping also invites, so
    /// only a moderator may ping there.
    pub fn ping(&mut self, actor: UserId, target: UserId) -> Result<(), CommandError> {
        if !self.participants.contains_key(&actor) {
            return Err(CommandError::NoSuchParticipant);
        }
        if self.visibility == Visibility::Closed {
            self.invite(actor, &[target])?;
        }
        Ok(())
    }

    /// Takes `user` out of the room, as a suspension, a deleted account or a lost club does: they are told
    /// why, and their place is settled as when they leave (a moderator's room hands over). Returns whether
    /// they were in it. Either way the room is published again: who may see it changed outside it, and every
    /// node checks its players (WHEP, with no place in the room) against what it publishes.
    pub fn expel_user(&mut self, now: Instant, user: UserId, reason: &str, message: &str) -> bool {
        if self.ended {
            return false;
        }
        self.version += 1;
        if !self.participants.contains_key(&user) {
            return false;
        }
        self.expel(user, reason, message);
        self.e2ee_settle(now);
        true
    }

    /// An admin ends the room.
    pub fn end_by_admin(&mut self) {
        self.end("ended_by_admin");
    }

    /// Changes how many participants the room holds from now on; those already in stay.
    pub fn set_capacity(&mut self, capacity: u32) {
        self.config.capacity = capacity;
    }

    fn log(&mut self, actor: UserId, action: ModerationAction, target: Option<UserId>, detail: Option<String>) {
        self.outputs.push_back(Output::Moderation { actor, action, target, detail });
    }

    /// A connection's socket closed without a `leave`. The participant keeps their place for the grace
    /// period.
    pub fn disconnected(&mut self, now: Instant, conn: ConnId) {
        if let Some(user) = self.conns.remove(&conn)
            && let Some(p) = self.participants.get_mut(&user)
        {
            p.presence = Presence::Away(now);
            self.e2ee_gone(user);
            self.e2ee_settle(now);
        }
    }

    /// When [`Room::handle_timeout`] should next be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.ended {
            return None;
        }
        // Everyone connected has exactly one connection, so only when there are fewer connections than
        // participants is anyone away (and worth a scan).
        let anyone_away = self.conns.len() < self.participants.len();
        let grace = anyone_away
            .then(|| {
                self.participants
                    .values()
                    .filter_map(|p| match p.presence {
                        Presence::Away(since) => Some(since + self.config.reconnect_grace),
                        Presence::Connected(_) => None,
                    })
                    .min()
            })
            .flatten();
        [grace, self.count_due(), self.chat_timeout(), self.e2ee_timeout()].into_iter().flatten().min()
    }

    /// Time passed: drop participants whose grace ran out, and send the audience size if it is due.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.ended {
            return;
        }
        let anyone_away = self.conns.len() < self.participants.len();
        let expired: Vec<UserId> = self
            .participants
            .values()
            .filter(|_| anyone_away)
            .filter(|p| matches!(p.presence, Presence::Away(since) if now >= since + self.config.reconnect_grace))
            .map(|p| p.user.id)
            .collect();
        for user in expired {
            self.depart(user);
            if self.ended {
                return;
            }
        }
        self.handle_chat_timeout(now);
        self.handle_e2ee_timeout(now);
        if self.count_due().is_some_and(|due| now >= due) {
            self.send_count(now);
        }
    }

    /// A command from a connection. A refusal is sent back to that connection alone as an `error` event.
    pub fn command(&mut self, now: Instant, conn: ConnId, message: ClientMessage) {
        let Some(&actor) = self.conns.get(&conn) else {
            // A connection that was replaced or closed: whatever it still says is stale.
            return;
        };
        if self.ended {
            return;
        }
        let raising = matches!(message.command, ClientCommand::RaiseHand);
        let grant = self.participants.get(&actor).map_or(Grant::LISTEN, |p| p.grant);
        let result = match message.command.needs(actor) {
            _ if grant.allows(&message.command, actor) => self.apply(now, conn, actor, message.command),
            stoa_proto::Needs::Write => Err(CommandError::MissingWriteScope),
            _ => Err(CommandError::ListenOnly),
        };
        match result {
            Err(CommandError::NotFollowedBySpeakers) if raising && self.looked_up_for(actor) => {
                // A stage member's follows are being looked up, and may include this listener: the hand
                // waits for the answer rather than be refused by a race with the store.
                if !self.deferred_hands.iter().any(|(u, _)| *u == actor) {
                    self.deferred_hands.push((actor, message.id));
                }
            }
            Err(e) => self.outputs.push_back(Output::Send(
                conn,
                ServerEvent::Error { id: message.id, code: e.code().into(), message: e.to_string() },
            )),
            Ok(()) => {}
        }
        self.e2ee_settle(now);
    }

    fn apply(&mut self, now: Instant, conn: ConnId, actor: UserId, command: ClientCommand) -> Result<(), CommandError> {
        match command {
            ClientCommand::Ping => self.outputs.push_back(Output::Send(conn, ServerEvent::Pong)),
            ClientCommand::RaiseHand => self.raise_hand(actor)?,
            ClientCommand::LowerHand => self.lower_hand(actor),
            ClientCommand::InviteToSpeak { user_id } => {
                let by = self.require_moderator(actor)?.user.clone();
                let target = self.participant_mut(user_id)?;
                if target.role != Role::Listener {
                    return Err(CommandError::NotInAudience);
                }
                target.invited_to_speak = true;
                self.send_to_user(user_id, ServerEvent::InvitedToSpeak { by });
                self.log(actor, ModerationAction::InviteToSpeak, Some(user_id), None);
            }
            ClientCommand::AcceptInvite => {
                let p = self.participant_mut(actor)?;
                if !p.grant.speak {
                    return Err(CommandError::ListenOnly);
                }
                if !p.invited_to_speak || p.role != Role::Listener {
                    return Err(CommandError::NoInvitation);
                }
                self.set_role(actor, Role::Speaker);
            }
            ClientCommand::DeclineInvite => {
                let p = self.participant_mut(actor)?;
                if !p.invited_to_speak {
                    return Err(CommandError::NoInvitation);
                }
                p.invited_to_speak = false;
                self.send_to_moderators(ServerEvent::InviteDeclined { user_id: actor });
            }
            ClientCommand::MoveToAudience { user_id } => {
                if user_id != actor {
                    self.require_moderator(actor)?;
                }
                match self.participant_mut(user_id)?.role {
                    Role::Moderator => return Err(CommandError::TargetIsModerator),
                    Role::Listener => return Err(CommandError::NotOnStage),
                    Role::Speaker => self.set_role(user_id, Role::Listener),
                }
                if user_id != actor {
                    self.log(actor, ModerationAction::MoveToAudience, Some(user_id), None);
                }
            }
            ClientCommand::MakeModerator { user_id } => {
                self.require_moderator(actor)?;
                if self.participant_mut(user_id)?.role != Role::Moderator {
                    self.log(actor, ModerationAction::MakeModerator, Some(user_id), None);
                    self.set_role(user_id, Role::Moderator);
                    self.enforce_blocks_of(user_id);
                }
            }
            ClientCommand::RemoveModerator { user_id } => {
                self.require_moderator(actor)?;
                if self.participant_mut(user_id)?.role != Role::Moderator {
                    return Err(CommandError::NotAModerator);
                }
                if self.moderators().count() == 1 {
                    return Err(CommandError::LastModerator);
                }
                self.set_role(user_id, Role::Speaker);
                self.log(actor, ModerationAction::RemoveModerator, Some(user_id), None);
            }
            ClientCommand::Mute { user_id } => {
                let by = self.require_moderator(actor)?.user.clone();
                let target = self.participant_mut(user_id)?;
                if target.role == Role::Listener {
                    return Err(CommandError::NotOnStage);
                }
                if !target.muted {
                    target.muted = true;
                    self.stage_changed();
                    self.send_to_user(user_id, ServerEvent::Muted { by });
                    self.log(actor, ModerationAction::Mute, Some(user_id), None);
                }
            }
            ClientCommand::SetMuted { muted } => {
                let p = self.participant_mut(actor)?;
                if p.role == Role::Listener {
                    return Err(CommandError::NotOnStage);
                }
                if p.muted != muted {
                    p.muted = muted;
                    self.stage_changed();
                }
            }
            ClientCommand::Remove { user_id } => {
                self.require_moderator(actor)?;
                if user_id == actor {
                    return Err(CommandError::CannotRemoveSelf);
                }
                self.participant_mut(user_id)?;
                self.removed.insert(user_id);
                self.version += 1;
                self.log(actor, ModerationAction::Remove, Some(user_id), None);
                self.expel(
                    user_id,
                    "removed_by_moderator",
                    "A moderator removed you from this room. You cannot rejoin it.",
                );
            }
            ClientCommand::SetHandMode { mode } => {
                self.require_moderator(actor)?;
                if self.hand_mode != mode {
                    self.hand_mode = mode;
                    self.version += 1;
                    if mode == HandMode::Off {
                        // Clients clear every hand on `hand_mode_changed` to `off`; no per-hand event needed.
                        self.hands.clear();
                        for p in self.participants.values_mut() {
                            p.hand = None;
                        }
                    }
                    self.outputs.push_back(Output::Broadcast(ServerEvent::HandModeChanged { mode }));
                    let detail = serde_json::to_value(mode).ok().and_then(|v| v.as_str().map(str::to_string));
                    self.log(actor, ModerationAction::HandMode, None, detail);
                }
            }
            ClientCommand::Leave => self.depart(actor),
            ClientCommand::EndRoom => {
                self.require_moderator(actor)?;
                self.log(actor, ModerationAction::EndRoom, None, None);
                self.end("ended_by_moderator");
            }
            ClientCommand::SendChat { text } => self.send_chat(now, actor, &text)?,
            ClientCommand::DeleteChat { message_id } => self.delete_chat(actor, message_id)?,
            ClientCommand::SilenceChat { user_id, silenced } => self.silence_chat(actor, user_id, silenced)?,
            ClientCommand::SetChatMode { mode } => self.set_chat_mode(actor, mode)?,
            ClientCommand::SetOutputs { recording, clips, listen_link, captions } => {
                self.set_outputs(actor, [recording, clips, listen_link, captions])?
            }
            ClientCommand::React { reaction } => self.react(now, actor, reaction)?,
            ClientCommand::DeviceKey { public_key } => self.device_key(now, actor, public_key)?,
            ClientCommand::E2eeKeys { epoch, wrapped } => self.e2ee_keys(now, actor, epoch, wrapped)?,
            // Media signaling and captions are not room rules: the glue takes them before they get here.
            ClientCommand::Offer { .. } | ClientCommand::Candidate { .. } | ClientCommand::SetCaptions { .. } => {}
        }
        Ok(())
    }

    fn require_moderator(&self, actor: UserId) -> Result<&Participant, CommandError> {
        match self.participants.get(&actor) {
            Some(p) if p.role == Role::Moderator => Ok(p),
            _ => Err(CommandError::NotModerator),
        }
    }

    fn participant_mut(&mut self, user: UserId) -> Result<&mut Participant, CommandError> {
        self.participants.get_mut(&user).ok_or(CommandError::NoSuchParticipant)
    }

    fn connection_of(&self, user: UserId) -> Option<ConnId> {
        match self.participants.get(&user)?.presence {
            Presence::Connected(c) => Some(c),
            Presence::Away(_) => None,
        }
    }

    fn send_to_user(&mut self, user: UserId, event: ServerEvent) {
        if let Some(conn) = self.connection_of(user) {
            self.outputs.push_back(Output::Send(conn, event));
        }
    }

    fn send_to_moderators(&mut self, event: ServerEvent) {
        let conns: Vec<ConnId> = self.moderators().filter_map(|m| self.connection_of(m)).collect();
        for conn in conns {
            self.outputs.push_back(Output::Send(conn, event.clone()));
        }
    }

    /// Takes a participant out of the room with a reason; [`Room::depart`] closes their connection.
    fn expel(&mut self, user: UserId, reason: &str, message: &str) {
        self.send_to_user(user, ServerEvent::Removed { reason: reason.into(), message: message.into() });
        self.depart(user);
    }

    /// A participant is gone (left, expelled, or their grace ran out). Settles the hand, the stage, the
    /// moderator handover and the room's end.
    fn depart(&mut self, user: UserId) {
        self.lower_hand(user);
        let Some(p) = self.participants.remove(&user) else { return };
        self.on_stage.remove(&user);
        self.e2ee_gone(user);
        if let Presence::Connected(conn) = p.presence {
            self.conns.remove(&conn);
            self.outputs.push_back(Output::Close(conn));
        }
        if self.participants.is_empty() {
            self.end("empty");
            return;
        }
        if p.role == Role::Listener {
            // Quiet: nobody is told; the count catches up on the next tick.
            return;
        }
        self.forget_relations_of(user);
        if p.role == Role::Moderator && self.moderators().next().is_none() {
            let heir = self
                .participants
                .values()
                .filter(|p| p.role == Role::Speaker)
                .min_by_key(|p| p.joined_seq)
                .map(|p| p.user.id);
            match heir {
                Some(heir) => {
                    self.set_role(heir, Role::Moderator);
                    self.enforce_blocks_of(heir);
                    return;
                }
                None => {
                    self.end("no_moderator");
                    return;
                }
            }
        }
        self.stage_changed();
    }

    fn end(&mut self, reason: &str) {
        if self.ended {
            return;
        }
        self.ended = true;
        self.version += 1;
        self.outputs.push_back(Output::Broadcast(ServerEvent::RoomEnded { reason: reason.into() }));
        self.outputs.push_back(Output::Ended);
    }
}

mod chat;
mod count;
mod e2ee;
#[cfg(test)]
mod e2ee_tests;
mod lasting;
mod outputs;
mod stage;
#[cfg(test)]
mod tests;
