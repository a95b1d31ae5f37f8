//! The stage: who is on it (an index, so that a join or a hand costs the stage's size, never the audience's),
//! roles and the moves between them, raised hands, and the follows and blocks the stage's rules look at.

use super::*;

impl Room {
    /// The hosts of the event this room was started for (its co-hosts): whenever one joins, they come in
    /// as a moderator, on stage.
    pub fn set_hosts(&mut self, hosts: HashSet<UserId>) {
        self.hosts = hosts;
    }

    /// The club that hosts the room: its visibility then speaks of the club's followers and members.
    pub fn set_club(&mut self, club: crate::access::ClubTag) {
        self.club = Some(club);
        self.version += 1;
    }

    pub(super) fn moderators(&self) -> impl Iterator<Item = UserId> + '_ {
        self.on_stage.iter().copied().filter(|u| self.role_of(*u) == Some(Role::Moderator))
    }

    /// Who is on stage, moderators first, each in order of arrival on stage.
    pub(super) fn stage_in_order(&self) -> Vec<&Participant> {
        // With the count's check (`listener_count`), this makes the index exact.
        debug_assert!(self.on_stage.iter().all(|u| self.participants.get(u).is_some_and(|p| p.role != Role::Listener)));
        let mut on_stage: Vec<&Participant> = self.on_stage.iter().filter_map(|u| self.participants.get(u)).collect();
        on_stage.sort_by_key(|p| (p.role != Role::Moderator, p.stage_seq));
        on_stage
    }

    pub(super) fn stage(&self) -> Vec<StageMember> {
        self.stage_in_order()
            .into_iter()
            .map(|p| StageMember { user: p.user.clone(), role: p.role, muted: p.muted })
            .collect()
    }

    pub(super) fn stage_changed(&mut self) {
        self.version += 1;
        self.outputs.push_back(Output::Broadcast(ServerEvent::StageChanged { stage: self.stage() }));
    }

    /// Changes a participant's role, with everything that goes with it: the stage order, the hand and the
    /// invitation (both settled by going on stage), and the events.
    pub(super) fn set_role(&mut self, user: UserId, role: Role) {
        let seq = self.seq();
        let Some(p) = self.participants.get_mut(&user) else { return };
        let was = p.role;
        if was == role {
            return;
        }
        p.role = role;
        p.invited_to_speak = false;
        if role == Role::Listener {
            self.on_stage.remove(&user);
        } else {
            self.on_stage.insert(user);
        }
        if was == Role::Listener {
            p.stage_seq = seq;
        }
        if role == Role::Listener {
            p.muted = false;
        }
        if was == Role::Listener {
            // On stage, their follows and blocks start to count: look them up among everyone here.
            let among = self.participants.keys().copied().filter(|u| *u != user).collect();
            self.look_up(user, among);
        } else if role == Role::Listener {
            self.forget_relations_of(user);
        }
        self.lower_hand(user);
        self.send_to_user(user, ServerEvent::RoleChanged { role });
        if role == Role::Moderator {
            // A new moderator sees the hand queue they now run.
            let hands = self.hand_queue();
            for h in hands {
                self.send_to_user(user, ServerEvent::HandRaised { user: h });
            }
        }
        self.stage_changed();
    }

    /// When `moderator` becomes a moderator, everyone they block who is in the room (other moderators
    /// aside) is moved out: they could not have joined a room this person moderates.
    pub(super) fn enforce_blocks_of(&mut self, moderator: UserId) {
        let blocked: Vec<UserId> = self
            .participants
            .values()
            .filter(|p| p.role != Role::Moderator && p.relations.blocked_by.contains(&moderator))
            .map(|p| p.user.id)
            .collect();
        for user in blocked {
            self.expel(user, "blocked_by_moderator", "You were moved out because a moderator of this room blocks you.");
        }
    }

    pub(super) fn raise_hand(&mut self, actor: UserId) -> Result<(), CommandError> {
        let stage: Vec<UserId> = self.on_stage.iter().copied().collect();
        let mode = self.hand_mode;
        let seq = self.next_seq + 1;
        let p = self.participant_mut(actor)?;
        if !p.grant.speak {
            return Err(CommandError::ListenOnly);
        }
        if p.role != Role::Listener {
            return Err(CommandError::NotInAudience);
        }
        match mode {
            HandMode::Off => return Err(CommandError::HandsOff),
            HandMode::FollowedBySpeakers if !stage.iter().any(|s| p.relations.followed_by.contains(s)) => {
                return Err(CommandError::NotFollowedBySpeakers);
            }
            _ => {}
        }
        if p.hand.is_some() {
            return Ok(());
        }
        p.hand = Some(seq);
        let user = p.user.clone();
        self.next_seq = seq;
        self.hands.insert(seq, actor);
        self.send_to_moderators(ServerEvent::HandRaised { user: user.clone() });
        if self.role_of(actor) != Some(Role::Moderator) {
            self.send_to_user(actor, ServerEvent::HandRaised { user });
        }
        Ok(())
    }

    /// Lowers a hand if it is up, telling the moderators and the owner. Lowering a hand that is down is
    /// not an error: the client's wish is already true.
    pub(super) fn lower_hand(&mut self, user: UserId) {
        self.deferred_hands.retain(|(u, _)| *u != user);
        let Some(p) = self.participants.get_mut(&user) else { return };
        let Some(seq) = p.hand.take() else { return };
        self.hands.remove(&seq);
        self.send_to_moderators(ServerEvent::HandLowered { user_id: user });
        self.send_to_user(user, ServerEvent::HandLowered { user_id: user });
    }

    pub(super) fn hand_queue(&self) -> Vec<UserSummary> {
        self.hands.values().filter_map(|u| self.participants.get(u)).map(|p| p.user.clone()).collect()
    }

    /// The answer to [`Output::LookUpRelations`] about `of` and `among` (one answer may cover several
    /// look-ups of the same person): `follows` are those of `among` whom `of` follows, and `blocks` those
    /// `of` blocks. If `of` is a moderator, those they block are moved out. An answer about someone no
    /// longer on stage is dropped. Hands that waited for it are then decided.
    pub fn relations_of(&mut self, of: UserId, among: &[UserId], follows: &HashSet<UserId>, blocks: &HashSet<UserId>) {
        if let Some(pending) = self.looking_up.get_mut(&of) {
            for u in among {
                pending.remove(u);
            }
            if pending.is_empty() {
                self.looking_up.remove(&of);
            }
        }
        self.apply_relations(of, follows, blocks);
        self.decide_deferred_hands();
    }

    pub(super) fn apply_relations(&mut self, of: UserId, follows: &HashSet<UserId>, blocks: &HashSet<UserId>) {
        if self.ended || self.participants.get(&of).is_none_or(|p| p.role == Role::Listener) {
            return;
        }
        for p in self.participants.values_mut() {
            if p.user.id == of {
                continue;
            }
            if follows.contains(&p.user.id) {
                p.relations.followed_by.insert(of);
            }
            if blocks.contains(&p.user.id) {
                p.relations.blocked_by.insert(of);
            }
        }
        if self.role_of(of) == Some(Role::Moderator) {
            self.enforce_blocks_of(of);
        }
    }

    /// Someone left the stage: the relations kept for them are dropped, so that what is kept stays bounded
    /// by the stage.
    pub(super) fn forget_relations_of(&mut self, of: UserId) {
        for p in self.participants.values_mut() {
            p.relations.followed_by.remove(&of);
            p.relations.blocked_by.remove(&of);
        }
    }

    /// Asks the glue for `of`'s relations to `among` ([`Output::LookUpRelations`]), and notes it as out.
    pub(super) fn look_up(&mut self, of: UserId, among: Vec<UserId>) {
        self.looking_up.entry(of).or_default().extend(among.iter().copied());
        self.outputs.push_back(Output::LookUpRelations { of, among });
    }

    /// Whether a look-up that is out could show that someone on stage follows `user`.
    pub(super) fn looked_up_for(&self, user: UserId) -> bool {
        self.looking_up.values().any(|among| among.contains(&user))
    }

    /// Decides the hands that waited for look-ups: raised if now welcome, refused once nothing that could
    /// change that is out, and dropped if their owner left the audience or lowered them meanwhile.
    pub(super) fn decide_deferred_hands(&mut self) {
        for (user, id) in std::mem::take(&mut self.deferred_hands) {
            let Some(conn) = self.connection_of(user) else { continue };
            if self.role_of(user) != Some(Role::Listener) {
                continue;
            }
            match self.raise_hand(user) {
                Ok(()) => {}
                Err(CommandError::NotFollowedBySpeakers) if self.looked_up_for(user) => {
                    self.deferred_hands.push((user, id));
                }
                Err(e) => self.outputs.push_back(Output::Send(
                    conn,
                    ServerEvent::Error { id, code: e.code().into(), message: e.to_string() },
                )),
            }
        }
    }
}
