//! Data-driven tests of the room rules: each case is a script of steps and the transcript it must produce.
//!
//! Script lines:
//! - `open` / `social` / `closed bob carol` / `capacity N` / `grace N`: the room alice creates (first line).
//! - `X follows Y`, `X blocks Y`: the social graph. The harness answers the room's look-ups from it, and
//!   hands a joiner their relations to the stage, as the glue does.
//! - `X joins`: X connects (alice, the creator, connects this way too). `X joins unaware`: the glue had
//!   not seen anyone on stage, so the room must look the stage up itself.
//! - `hold lookups` / `answer lookups`: the store is slow: look-ups wait until answered.
//! - `X: command [target]`: a command from X's connection, e.g. `alice: invite_to_speak bob`.
//! - `X drops`: X's socket closes without a leave. `wait N`: N seconds pass.
//!
//! The transcript echoes each step, then what it caused: `-> code` for a refusal, `X <- event` for notable
//! events to X, `* event` for broadcasts; the last line is the room's state.

use super::*;

const USERS: [&str; 6] = ["alice", "bob", "carol", "dave", "erin", "frank"];

fn user(name: &str) -> UserSummary {
    let id = USERS.iter().position(|u| *u == name).unwrap_or_else(|| panic!("unknown user {name}")) as i64 + 1;
    UserSummary { id: UserId(id), username: name.into(), display_name: name.to_uppercase() }
}

fn name(id: UserId) -> &'static str {
    USERS[(id.0 - 1) as usize]
}

struct Harness {
    room: Option<Room>,
    now: Instant,
    follows: HashSet<(UserId, UserId)>,
    blocks: HashSet<(UserId, UserId)>,
    hold: bool,
    held: Vec<(UserId, Vec<UserId>)>,
    conns: HashMap<ConnId, UserId>,
    out: Vec<String>,
    /// Whether moderation log entries are written out (`log on`).
    log: bool,
}

fn run(script: &str) -> String {
    let mut h = Harness {
        room: None,
        now: Instant::now(),
        follows: HashSet::new(),
        blocks: HashSet::new(),
        hold: false,
        held: Vec::new(),
        conns: HashMap::new(),
        out: vec![],
        log: false,
    };
    let mut config = RoomConfig::default();
    for line in script.lines().map(str::trim).filter(|l| !l.is_empty()) {
        h.out.push(line.to_string());
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["capacity", n] => config.capacity = n.parse().unwrap(),
            ["grace", n] => config.reconnect_grace = Duration::from_secs(n.parse().unwrap()),
            [vis @ ("open" | "social" | "closed"), invited @ ..] => {
                let visibility = match *vis {
                    "open" => Visibility::Open,
                    "social" => Visibility::Social,
                    _ => Visibility::Closed,
                };
                let invited = invited.iter().map(|n| user(n).id).collect();
                h.room = Some(Room::new(
                    h.now,
                    RoomId("room00000001".into()),
                    "Test".into(),
                    visibility,
                    user("alice"),
                    invited,
                    config.clone(),
                ));
            }
            [a, "follows", b] => {
                h.follows.insert((user(a).id, user(b).id));
            }
            [a, "blocks", b] => {
                h.blocks.insert((user(a).id, user(b).id));
            }
            ["hold", "lookups"] => h.hold = true,
            ["log", "on"] => h.log = true,
            ["expel", who] => {
                let present = h.room.as_mut().unwrap().expel_user(h.now, user(who).id, "suspended", "Suspended.");
                h.out.push(format!("  -> present={present}"));
            }
            ["admin", "ends"] => h.room.as_mut().unwrap().end_by_admin(),
            ["answer", "lookups"] => {
                h.hold = false;
                for (of, among) in std::mem::take(&mut h.held) {
                    h.answer(of, &among);
                }
            }
            [who, "joins", rest @ ..] => {
                let u = user(who);
                let asked: Vec<UserId> = if rest == ["unaware"] {
                    Vec::new()
                } else {
                    h.room.as_ref().unwrap().info().stage.iter().map(|m| m.user.id).collect()
                };
                let rel = Relations {
                    followed_by: asked.iter().copied().filter(|s| h.follows.contains(&(*s, u.id))).collect(),
                    blocked_by: asked.iter().copied().filter(|s| h.blocks.contains(&(*s, u.id))).collect(),
                    clubs: Default::default(),
                };
                let now = h.now;
                match h.room.as_mut().unwrap().join(now, u.clone(), rel, &asked, Grant::ALL) {
                    Ok(conn) => {
                        h.conns.insert(conn, u.id);
                    }
                    Err(e) => h.out.push(format!("  -> {e:?}")),
                }
            }
            [who, "drops"] => {
                let id = user(who).id;
                let conn = h.conns.iter().filter(|(_, u)| **u == id).map(|(c, _)| *c).max().unwrap();
                let now = h.now;
                h.room.as_mut().unwrap().disconnected(now, conn);
            }
            ["wait", secs] => {
                h.now += Duration::from_secs(secs.parse().unwrap());
                let now = h.now;
                h.room.as_mut().unwrap().handle_timeout(now);
            }
            [who, cmd, rest @ ..] if who.ends_with(':') => {
                let actor = user(who.trim_end_matches(':')).id;
                let conn = h.conns.iter().filter(|(_, u)| **u == actor).map(|(c, _)| *c).max().unwrap();
                let target = rest.first().filter(|_| !matches!(*cmd, "hand_mode" | "outputs")).map(|n| user(n).id);
                let command: ClientCommand = serde_json_free_parse(cmd, target, rest);
                let now = h.now;
                h.room.as_mut().unwrap().command(now, conn, ClientMessage { id: Some(7), command });
            }
            _ => panic!("bad script line: {line}"),
        }
        h.drain();
    }
    h.out.push(h.state());
    h.out.join("\n")
}

/// Builds a command from a script word, without going through JSON.
fn serde_json_free_parse(cmd: &str, target: Option<UserId>, rest: &[&str]) -> ClientCommand {
    let t = || target.expect("command needs a target");
    match cmd {
        "raise_hand" => ClientCommand::RaiseHand,
        "lower_hand" => ClientCommand::LowerHand,
        "invite_to_speak" => ClientCommand::InviteToSpeak { user_id: t() },
        "accept_invite" => ClientCommand::AcceptInvite,
        "decline_invite" => ClientCommand::DeclineInvite,
        "move_to_audience" => ClientCommand::MoveToAudience { user_id: t() },
        "make_moderator" => ClientCommand::MakeModerator { user_id: t() },
        "remove_moderator" => ClientCommand::RemoveModerator { user_id: t() },
        "mute" => ClientCommand::Mute { user_id: t() },
        "unmute_self" => ClientCommand::SetMuted { muted: false },
        "mute_self" => ClientCommand::SetMuted { muted: true },
        "remove" => ClientCommand::Remove { user_id: t() },
        "hand_mode" => ClientCommand::SetHandMode {
            mode: match rest[0] {
                "everyone" => HandMode::Everyone,
                "followed" => HandMode::FollowedBySpeakers,
                _ => HandMode::Off,
            },
        },
        "outputs" => {
            let get = |name: &str| rest.chunks(2).find(|p| p[0] == name).map(|p| p[1] == "on");
            ClientCommand::SetOutputs {
                recording: get("recording"),
                clips: get("clips"),
                listen_link: get("listen_link"),
                captions: get("captions"),
            }
        }
        "leave" => ClientCommand::Leave,
        "end" => ClientCommand::EndRoom,
        "ping" => ClientCommand::Ping,
        other => panic!("unknown command {other}"),
    }
}

impl Harness {
    /// Answers a look-up from the social graph, as the glue does from the store.
    fn answer(&mut self, of: UserId, among: &[UserId]) {
        let follows = among.iter().copied().filter(|a| self.follows.contains(&(of, *a))).collect();
        let blocks = among.iter().copied().filter(|a| self.blocks.contains(&(of, *a))).collect();
        self.room.as_mut().unwrap().relations_of(of, among, &follows, &blocks);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(o) = self.room.as_mut().and_then(Room::poll_output) {
            let line = match o {
                Output::LookUpRelations { of, among } => {
                    if self.hold {
                        self.held.push((of, among));
                    } else {
                        self.answer(of, &among);
                    }
                    continue;
                }
                Output::Send(conn, ev) => {
                    let who = name(self.conns[&conn]);
                    match ev {
                        ServerEvent::Error { code, .. } => format!("  -> {code}"),
                        ServerEvent::Joined { role, hands, .. } => {
                            let hands: Vec<&str> = hands.iter().map(|u| u.username.as_str()).collect();
                            format!("  {who} <- joined as {role:?} hands=[{}]", hands.join(" "))
                        }
                        other => format!("  {who} <- {}", short(&other)),
                    }
                }
                Output::Broadcast(ev) => format!("  * {}", short(&ev)),
                Output::Close(conn) => format!("  {} closed", name(self.conns[&conn])),
                Output::Ended => "  ended".to_string(),
                Output::Moderation { .. } if !self.log => continue,
                Output::Moderation { actor, action, target, detail } => {
                    let target = target.map(|t| format!(" {}", name(t))).unwrap_or_default();
                    let detail = detail.map(|d| format!(" ({d})")).unwrap_or_default();
                    format!("  log: {} {}{target}{detail}", name(actor), action.as_str())
                }
            };
            self.out.push(line);
        }
    }

    fn state(&self) -> String {
        let room = self.room.as_ref().unwrap();
        if room.is_ended() {
            return "= ended".into();
        }
        let info = room.info();
        let stage: Vec<String> = info
            .stage
            .iter()
            .map(|m| {
                let mut s = format!(
                    "{}:{}",
                    m.user.username,
                    match m.role {
                        Role::Moderator => "mod",
                        _ => "spk",
                    }
                );
                if m.muted {
                    s.push_str(":muted");
                }
                s
            })
            .collect();
        let audience = room.audience(0, 100);
        let aud: Vec<String> = audience
            .members
            .iter()
            .map(|m| if m.followed_by_speakers { format!("{}*", m.user.username) } else { m.user.username.clone() })
            .collect();
        let hands: Vec<&str> = room.hands.values().map(|u| name(*u)).collect();
        format!(
            "= stage [{}] audience [{}] hands [{}] mode {:?}",
            stage.join(" "),
            aud.join(" "),
            hands.join(" "),
            info.hand_mode
        )
    }
}

fn short(ev: &ServerEvent) -> String {
    match ev {
        ServerEvent::StageChanged { stage } => {
            let s: Vec<String> = stage.iter().map(|m| m.user.username.clone()).collect();
            format!("stage [{}]", s.join(" "))
        }
        ServerEvent::RoleChanged { role } => format!("role {role:?}"),
        ServerEvent::ListenerCount { count, .. } => format!("listeners {count}"),
        ServerEvent::HandModeChanged { mode } => format!("hand mode {mode:?}"),
        ServerEvent::HandRaised { user } => format!("hand up {}", user.username),
        ServerEvent::HandLowered { user_id } => format!("hand down {}", name(*user_id)),
        ServerEvent::InvitedToSpeak { by } => format!("invited by {}", by.username),
        ServerEvent::InviteDeclined { user_id } => format!("declined by {}", name(*user_id)),
        ServerEvent::Muted { by } => format!("muted by {}", by.username),
        ServerEvent::Removed { reason, .. } => format!("removed {reason}"),
        ServerEvent::RoomEnded { reason } => format!("room ended {reason}"),
        ServerEvent::RecordingStopped { reason, .. } => format!("recording stopped {reason}"),
        ServerEvent::RestreamStopped { reason, .. } => format!("restream stopped {reason}"),
        ServerEvent::Pong => "pong".into(),
        ServerEvent::ChatMessage { message } => format!("chat {}: {}", name(message.user.id), message.text),
        ServerEvent::ChatDeleted { message_id } => format!("chat deleted {message_id}"),
        ServerEvent::ChatModeChanged { mode } => format!("chat mode {mode:?}"),
        ServerEvent::ChatSlowMode { on, .. } => format!("chat slow mode {on}"),
        ServerEvent::ChatSilenced { silenced } => format!("chat silenced {silenced}"),
        ServerEvent::Reactions { counts } => format!("reactions {counts:?}"),
        ServerEvent::OutputsChanged { outputs } => format!(
            "outputs recording={} clips={} listen_link={}",
            outputs.recording, outputs.clips, outputs.listen_link
        ),
        ServerEvent::Answer { .. }
        | ServerEvent::Slots { .. }
        | ServerEvent::Caption { .. }
        | ServerEvent::E2eeRekey { .. }
        | ServerEvent::E2eeEpoch { .. }
        | ServerEvent::E2eeKey { .. } => {
            unreachable!("the room emits no media events")
        }
        ServerEvent::Joined { .. } | ServerEvent::Error { .. } => unreachable!(),
        ServerEvent::ServerRestarting { .. } => unreachable!("the server, not the room, says it restarts"),
    }
}

/// Each case: a name, a script, and the transcript it must produce.
const CASES: &[(&str, &str, &str)] = &[
    (
        "moderators set the room's outputs, everyone is told, each change is logged; a listener cannot",
        "
        open
        log on
        alice joins
        bob joins
        alice: outputs recording on clips on
        alice: outputs recording on
        bob: outputs recording off
        alice: outputs listen_link on recording off
        ",
        "
        open
        log on
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        alice: outputs recording on clips on
          log: alice outputs (recording on, clips on)
          * outputs recording=true clips=true listen_link=false
        alice: outputs recording on
        bob: outputs recording off
          -> forbidden
        alice: outputs listen_link on recording off
          log: alice outputs (recording off, listen_link on)
          * outputs recording=false clips=true listen_link=true
        = stage [alice:mod] audience [bob] hands [] mode Everyone
        ",
    ),
    (
        "a social room refuses the listen link",
        "
        social
        alice joins
        alice: outputs listen_link on
        alice: outputs clips on
        ",
        "
        social
        alice joins
          alice <- joined as Moderator hands=[]
        alice: outputs listen_link on
          -> listen_link_open_only
        alice: outputs clips on
          * outputs recording=false clips=true listen_link=false
        = stage [alice:mod] audience [] hands [] mode Everyone
        ",
    ),
    (
        "every moderator action is logged, with who, whom and what; others' actions are not",
        "
        open
        log on
        alice joins
        bob joins
        carol joins
        alice: invite_to_speak bob
        bob: accept_invite
        alice: mute bob
        alice: make_moderator bob
        bob: remove_moderator bob
        alice: remove_moderator bob
        bob: mute_self
        alice: move_to_audience bob
        carol: mute alice
        alice: hand_mode off
        alice: remove carol
        expel dave
        erin joins
        alice: invite_to_speak erin
        erin: accept_invite
        expel alice
        ",
        "
        open
        log on
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        carol joins
          carol <- joined as Listener hands=[]
        alice: invite_to_speak bob
          bob <- invited by alice
          log: alice invite_to_speak bob
        bob: accept_invite
          bob <- role Speaker
          * stage [alice bob]
        alice: mute bob
          * stage [alice bob]
          bob <- muted by alice
          log: alice mute bob
        alice: make_moderator bob
          log: alice make_moderator bob
          bob <- role Moderator
          * stage [alice bob]
        bob: remove_moderator bob
          bob <- role Speaker
          * stage [alice bob]
          log: bob remove_moderator bob
        alice: remove_moderator bob
          -> not_a_moderator
        bob: mute_self
        alice: move_to_audience bob
          bob <- role Listener
          * stage [alice]
          log: alice move_to_audience bob
        carol: mute alice
          -> forbidden
        alice: hand_mode off
          * hand mode Off
          log: alice hand_mode (off)
        alice: remove carol
          log: alice remove carol
          carol <- removed removed_by_moderator
          carol closed
        expel dave
          -> present=false
        erin joins
          erin <- joined as Listener hands=[]
        alice: invite_to_speak erin
          erin <- invited by alice
          log: alice invite_to_speak erin
        erin: accept_invite
          erin <- role Speaker
          * stage [alice erin]
        expel alice
          -> present=true
          alice <- removed suspended
          alice closed
          erin <- role Moderator
          * stage [erin]
        = stage [erin:mod] audience [bob] hands [] mode Off
    ",
    ),
    (
        "an admin ends a room",
        "
        open
        log on
        alice joins
        bob joins
        admin ends
        ",
        "
        open
        log on
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        admin ends
          * room ended ended_by_admin
          ended
        = ended
    ",
    ),
    (
        "a new moderator's blocks count once the store has answered",
        "
        carol blocks dave
        open
        alice joins
        carol joins
        dave joins
        hold lookups
        alice: make_moderator carol
        answer lookups
    ",
        "
        carol blocks dave
        open
        alice joins
          alice <- joined as Moderator hands=[]
        carol joins
          carol <- joined as Listener hands=[]
        dave joins
          dave <- joined as Listener hands=[]
        hold lookups
        alice: make_moderator carol
          carol <- role Moderator
          * stage [alice carol]
        answer lookups
          dave <- removed blocked_by_moderator
          dave closed
        = stage [alice:mod carol:mod] audience [] hands [] mode Everyone
    ",
    ),
    (
        "a joiner the glue told of no one on stage is looked up against the stage",
        "
        alice follows carol
        bob blocks dave
        open
        alice joins
        bob joins
        alice: hand_mode followed
        carol joins unaware
        carol: raise_hand
        alice: make_moderator bob
        dave joins unaware
    ",
        "
        alice follows carol
        bob blocks dave
        open
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        alice: hand_mode followed
          * hand mode FollowedBySpeakers
        carol joins unaware
          carol <- joined as Listener hands=[]
        carol: raise_hand
          alice <- hand up carol
          carol <- hand up carol
        alice: make_moderator bob
          bob <- role Moderator
          bob <- hand up carol
          * stage [alice bob]
        dave joins unaware
          dave <- joined as Listener hands=[]
          dave <- removed blocked_by_moderator
          dave closed
        = stage [alice:mod bob:mod] audience [carol*] hands [carol] mode FollowedBySpeakers
    ",
    ),
    (
        "leaving the stage, a speaker's follows stop counting",
        "
        bob follows carol
        open
        alice joins
        bob joins
        carol joins
        alice: invite_to_speak bob
        bob: accept_invite
        alice: hand_mode followed
        carol: raise_hand
        carol: lower_hand
        alice: move_to_audience bob
        carol: raise_hand
    ",
        "
        bob follows carol
        open
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        carol joins
          carol <- joined as Listener hands=[]
        alice: invite_to_speak bob
          bob <- invited by alice
        bob: accept_invite
          bob <- role Speaker
          * stage [alice bob]
        alice: hand_mode followed
          * hand mode FollowedBySpeakers
        carol: raise_hand
          alice <- hand up carol
          carol <- hand up carol
        carol: lower_hand
          alice <- hand down carol
          carol <- hand down carol
        alice: move_to_audience bob
          bob <- role Listener
          * stage [alice]
        carol: raise_hand
          -> not_followed_by_speakers
        = stage [alice:mod] audience [bob carol] hands [] mode FollowedBySpeakers
    ",
    ),
    (
        "hands, invitation and acceptance",
        "
        open
        alice joins
        bob joins
        carol joins
        wait 1
        bob: raise_hand
        carol: raise_hand
        alice: invite_to_speak bob
        bob: accept_invite
        carol: lower_hand
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        wait 1
        * listeners 2
        bob: raise_hand
        alice <- hand up bob
        bob <- hand up bob
        carol: raise_hand
        alice <- hand up carol
        carol <- hand up carol
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        alice <- hand down bob
        bob <- hand down bob
        bob <- role Speaker
        * stage [alice bob]
        carol: lower_hand
        alice <- hand down carol
        carol <- hand down carol
        = stage [alice:mod bob:spk] audience [carol] hands [] mode Everyone
    ",
    ),
    (
        "a listener cannot moderate",
        "
        open
        alice joins
        bob joins
        carol joins
        bob: invite_to_speak carol
        bob: remove carol
        bob: mute alice
        bob: make_moderator bob
        bob: hand_mode off
        bob: end
        bob: accept_invite
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        bob: invite_to_speak carol
        -> forbidden
        bob: remove carol
        -> forbidden
        bob: mute alice
        -> forbidden
        bob: make_moderator bob
        -> forbidden
        bob: hand_mode off
        -> forbidden
        bob: end
        -> forbidden
        bob: accept_invite
        -> no_invitation
        = stage [alice:mod] audience [bob carol] hands [] mode Everyone
    ",
    ),
    (
        "a speaker cannot remove anyone",
        "
        open
        alice joins
        bob joins
        carol joins
        alice: invite_to_speak bob
        bob: accept_invite
        bob: remove carol
        bob: make_moderator carol
        bob: invite_to_speak carol
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        bob <- role Speaker
        * stage [alice bob]
        bob: remove carol
        -> forbidden
        bob: make_moderator carol
        -> forbidden
        bob: invite_to_speak carol
        -> forbidden
        = stage [alice:mod bob:spk] audience [carol] hands [] mode Everyone
    ",
    ),
    (
        "an invitation can be declined",
        "
        open
        alice joins
        bob joins
        alice: invite_to_speak bob
        bob: decline_invite
        bob: accept_invite
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: decline_invite
        alice <- declined by bob
        bob: accept_invite
        -> no_invitation
        = stage [alice:mod] audience [bob] hands [] mode Everyone
    ",
    ),
    (
        "moving to the audience",
        "
        open
        alice joins
        bob joins
        carol joins
        alice: invite_to_speak bob
        bob: accept_invite
        alice: invite_to_speak carol
        carol: accept_invite
        alice: move_to_audience bob
        carol: move_to_audience carol
        alice: move_to_audience alice
        alice: move_to_audience bob
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        bob <- role Speaker
        * stage [alice bob]
        alice: invite_to_speak carol
        carol <- invited by alice
        carol: accept_invite
        carol <- role Speaker
        * stage [alice bob carol]
        alice: move_to_audience bob
        bob <- role Listener
        * stage [alice carol]
        carol: move_to_audience carol
        carol <- role Listener
        * stage [alice]
        alice: move_to_audience alice
        -> target_is_moderator
        alice: move_to_audience bob
        -> not_on_stage
        = stage [alice:mod] audience [bob carol] hands [] mode Everyone
    ",
    ),
    (
        "making and removing moderators",
        "
        open
        alice joins
        bob joins
        carol joins
        alice: remove_moderator alice
        alice: make_moderator bob
        bob: remove_moderator alice
        bob: remove_moderator bob
        alice: remove_moderator carol
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        alice: remove_moderator alice
        -> last_moderator
        alice: make_moderator bob
        bob <- role Moderator
        * stage [alice bob]
        bob: remove_moderator alice
        alice <- role Speaker
        * stage [bob alice]
        bob: remove_moderator bob
        -> last_moderator
        alice: remove_moderator carol
        -> forbidden
        = stage [bob:mod alice:spk] audience [carol] hands [] mode Everyone
    ",
    ),
    (
        "muting",
        "
        open
        alice joins
        bob joins
        alice: invite_to_speak bob
        bob: accept_invite
        alice: mute bob
        bob: unmute_self
        alice: mute_self
        alice: mute carol
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        bob <- role Speaker
        * stage [alice bob]
        alice: mute bob
        * stage [alice bob]
        bob <- muted by alice
        bob: unmute_self
        * stage [alice bob]
        alice: mute_self
        * stage [alice bob]
        alice: mute carol
        -> not_in_room
        = stage [alice:mod:muted bob:spk] audience [] hands [] mode Everyone
    ",
    ),
    (
        "a removed user cannot rejoin",
        "
        open
        alice joins
        bob joins
        alice: remove bob
        bob joins
        alice: remove alice
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        alice: remove bob
        bob <- removed removed_by_moderator
        bob closed
        bob joins
        -> Removed
        alice: remove alice
        -> cannot_remove_self
        = stage [alice:mod] audience [] hands [] mode Everyone
    ",
    ),
    (
        "the longest-present speaker inherits the room",
        "
        open
        alice joins
        carol joins
        bob joins
        dave joins
        alice: invite_to_speak bob
        bob: accept_invite
        alice: invite_to_speak carol
        carol: accept_invite
        alice: leave
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        dave joins
        dave <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        bob <- role Speaker
        * stage [alice bob]
        alice: invite_to_speak carol
        carol <- invited by alice
        carol: accept_invite
        carol <- role Speaker
        * stage [alice bob carol]
        alice: leave
        alice closed
        carol <- role Moderator
        * stage [carol bob]
        = stage [carol:mod bob:spk] audience [dave] hands [] mode Everyone
    ",
    ),
    (
        "with no speaker left the room ends",
        "
        open
        alice joins
        bob joins
        carol joins
        alice: leave
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        alice: leave
        alice closed
        * room ended no_moderator
        ended
        = ended
    ",
    ),
    (
        "an empty room ends",
        "
        open
        alice joins
        alice: leave
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        alice: leave
        alice closed
        * room ended empty
        ended
        = ended
    ",
    ),
    (
        "a moderator ends the room",
        "
        open
        alice joins
        bob joins
        alice: end
        bob joins
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        alice: end
        * room ended ended_by_moderator
        ended
        bob joins
        -> NotFound
        = ended
    ",
    ),
    (
        "a full room refuses joins, but not a returning participant",
        "
        capacity 3
        open
        alice joins
        bob joins
        carol joins
        dave joins
        carol joins
    ",
        "
        capacity 3
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        dave joins
        -> Full
        carol joins
        carol <- removed replaced
        carol closed
        carol <- joined as Listener hands=[]
        = stage [alice:mod] audience [bob carol] hands [] mode Everyone
    ",
    ),
    (
        "a user blocked by a moderator cannot join",
        "
        alice blocks bob
        carol blocks dave
        open
        alice joins
        bob joins
        dave joins
    ",
        "
        alice blocks bob
        carol blocks dave
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        -> NotFound
        dave joins
        dave <- joined as Listener hands=[]
        = stage [alice:mod] audience [dave] hands [] mode Everyone
    ",
    ),
    (
        "a new moderator's blocked listeners are moved out",
        "
        carol blocks dave
        open
        alice joins
        carol joins
        dave joins
        erin joins
        alice: make_moderator carol
        dave joins
    ",
        "
        carol blocks dave
        open
        alice joins
        alice <- joined as Moderator hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        dave joins
        dave <- joined as Listener hands=[]
        erin joins
        erin <- joined as Listener hands=[]
        alice: make_moderator carol
        carol <- role Moderator
        * stage [alice carol]
        dave <- removed blocked_by_moderator
        dave closed
        dave joins
        -> NotFound
        = stage [alice:mod carol:mod] audience [erin] hands [] mode Everyone
    ",
    ),
    (
        "social rooms admit users followed by a moderator",
        "
        alice follows bob
        social
        alice joins
        bob joins
        carol joins
    ",
        "
        alice follows bob
        social
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        -> NotFound
        = stage [alice:mod] audience [bob*] hands [] mode Everyone
    ",
    ),
    (
        "closed rooms admit invited users",
        "
        closed bob
        alice joins
        bob joins
        carol joins
    ",
        "
        closed bob
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        -> NotFound
        = stage [alice:mod] audience [bob] hands [] mode Everyone
    ",
    ),
    (
        "hand modes",
        "
        alice follows carol
        open
        alice joins
        carol joins
        dave joins
        alice: hand_mode followed
        carol: raise_hand
        dave: raise_hand
        alice: hand_mode off
        dave: raise_hand
        alice: raise_hand
    ",
        "
        alice follows carol
        open
        alice joins
        alice <- joined as Moderator hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        dave joins
        dave <- joined as Listener hands=[]
        alice: hand_mode followed
        * hand mode FollowedBySpeakers
        carol: raise_hand
        alice <- hand up carol
        carol <- hand up carol
        dave: raise_hand
        -> not_followed_by_speakers
        alice: hand_mode off
        * hand mode Off
        dave: raise_hand
        -> hands_off
        alice: raise_hand
        -> not_in_audience
        = stage [alice:mod] audience [carol* dave] hands [] mode Off
    ",
    ),
    (
        "a dropped speaker keeps their place for the grace period",
        "
        grace 30
        open
        alice joins
        bob joins
        alice: invite_to_speak bob
        bob: accept_invite
        bob drops
        wait 10
        bob joins
        bob drops
        wait 31
    ",
        "
        grace 30
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        alice: invite_to_speak bob
        bob <- invited by alice
        bob: accept_invite
        bob <- role Speaker
        * stage [alice bob]
        bob drops
        wait 10
        bob joins
        bob <- joined as Speaker hands=[]
        bob drops
        wait 31
        * stage [alice]
        = stage [alice:mod] audience [] hands [] mode Everyone
    ",
    ),
    (
        "a second connection replaces the first",
        "
        open
        alice joins
        bob joins
        bob joins
        bob: raise_hand
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        bob joins
        bob <- removed replaced
        bob closed
        bob <- joined as Listener hands=[]
        bob: raise_hand
        alice <- hand up bob
        bob <- hand up bob
        = stage [alice:mod] audience [bob] hands [bob] mode Everyone
    ",
    ),
    (
        "a creator who never connects leaves an empty room",
        "
        grace 30
        open
        wait 31
    ",
        "
        grace 30
        open
        wait 31
        * room ended empty
        ended
        = ended
    ",
    ),
    (
        "the listener count goes out at most once a second",
        "
        open
        alice joins
        bob joins
        carol joins
        wait 1
        dave joins
        erin joins
        carol: leave
        wait 1
        wait 1
    ",
        "
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        wait 1
        * listeners 2
        dave joins
        dave <- joined as Listener hands=[]
        erin joins
        erin <- joined as Listener hands=[]
        carol: leave
        carol closed
        wait 1
        * listeners 3
        wait 1
        = stage [alice:mod] audience [bob dave erin] hands [] mode Everyone
    ",
    ),
    (
        "the audience lists people followed by the stage first",
        "
        alice follows dave
        open
        alice joins
        bob joins
        carol joins
        dave joins
    ",
        "
        alice follows dave
        open
        alice joins
        alice <- joined as Moderator hands=[]
        bob joins
        bob <- joined as Listener hands=[]
        carol joins
        carol <- joined as Listener hands=[]
        dave joins
        dave <- joined as Listener hands=[]
        = stage [alice:mod] audience [dave* bob carol] hands [] mode Everyone
    ",
    ),
    (
        "a hand raised while a stage member's follows are being looked up waits for the answer",
        "
        bob follows dave
        open
        alice joins
        bob joins
        carol joins
        dave joins
        alice: hand_mode followed
        hold lookups
        alice: invite_to_speak bob
        bob: accept_invite
        dave: raise_hand
        carol: raise_hand
        answer lookups
    ",
        "
        bob follows dave
        open
        alice joins
          alice <- joined as Moderator hands=[]
        bob joins
          bob <- joined as Listener hands=[]
        carol joins
          carol <- joined as Listener hands=[]
        dave joins
          dave <- joined as Listener hands=[]
        alice: hand_mode followed
          * hand mode FollowedBySpeakers
        hold lookups
        alice: invite_to_speak bob
          bob <- invited by alice
        bob: accept_invite
          bob <- role Speaker
          * stage [alice bob]
        dave: raise_hand
        carol: raise_hand
        answer lookups
          alice <- hand up dave
          dave <- hand up dave
          -> not_followed_by_speakers
        = stage [alice:mod bob:spk] audience [dave* carol] hands [dave] mode FollowedBySpeakers
    ",
    ),
];

#[test]
fn room_rules() {
    let mut failures = Vec::new();
    for (name, script, expected) in CASES {
        let actual = run(script);
        let expected: Vec<&str> = expected.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let actual_lines: Vec<&str> = actual.lines().map(str::trim).collect();
        if actual_lines != expected {
            failures.push(format!("--- case `{name}`\n{actual}\n"));
        }
    }
    assert!(failures.is_empty(), "transcripts differ:\n{}", failures.join("\n"));
}

#[test]
fn a_restored_room_gives_the_stage_back_to_those_who_return_and_ends_if_nobody_does() {
    let now = Instant::now();
    let config = RoomConfig { capacity: 10, reconnect_grace: Duration::from_secs(30) };
    let id = RoomId("r".into());
    let mut room =
        Room::new(now, id.clone(), "Talk".into(), Visibility::Open, user("alice"), HashSet::new(), config.clone());
    let alice = room.join(now, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    let bob = room.join(now, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    let carol = room.join(now, user("carol"), Relations::default(), &[], Grant::ALL).unwrap();
    let say = |room: &mut Room, conn, command| room.command(now, conn, ClientMessage { id: None, command });
    say(&mut room, alice, ClientCommand::InviteToSpeak { user_id: UserId(2) });
    say(&mut room, bob, ClientCommand::AcceptInvite);
    say(&mut room, bob, ClientCommand::SetMuted { muted: true });
    say(&mut room, alice, ClientCommand::Remove { user_id: UserId(3) });
    let _ = carol;
    let lasting = room.lasting();
    assert_eq!(
        lasting.stage.iter().map(|(u, r, m)| (u.id.0, *r, *m)).collect::<Vec<_>>(),
        [(1, Role::Moderator, false), (2, Role::Speaker, true)]
    );
    assert_eq!(lasting.removed, [UserId(3)]);
    // The state goes through the store as JSON.
    let lasting: Lasting = serde_json_roundtrip(&lasting);

    let later = now + Duration::from_secs(100);
    let mut back = Room::restore(later, id.clone(), lasting.clone(), config.clone()).unwrap();
    assert_eq!(back.lasting(), lasting, "nothing lost on the way back");
    assert!(matches!(back.join(later, user("carol"), Relations::default(), &[], Grant::ALL), Err(JoinError::Removed)));
    back.join(later, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    assert_eq!(back.role_of(UserId(2)), Some(Role::Speaker), "bob is a speaker again");
    back.join(later, user("dave"), Relations::default(), &[], Grant::ALL).unwrap();
    assert_eq!(back.role_of(UserId(4)), Some(Role::Listener));
    // Alice never returns: past the grace, the moderator's place passes to the speaker who came back.
    back.handle_timeout(later + Duration::from_secs(31));
    assert_eq!(back.role_of(UserId(2)), Some(Role::Moderator));
    assert!(!back.is_ended());

    // Nobody returns: the room ends after the grace.
    let mut empty = Room::restore(later, id, lasting, config).unwrap();
    empty.handle_timeout(later + Duration::from_secs(29));
    assert!(!empty.is_ended());
    empty.handle_timeout(later + Duration::from_secs(31));
    assert!(empty.is_ended());
}

fn serde_json_roundtrip(lasting: &Lasting) -> Lasting {
    serde_json::from_str(&serde_json::to_string(lasting).unwrap()).unwrap()
}

#[test]
fn an_events_co_hosts_come_in_as_moderators_even_after_a_restart() {
    let now = Instant::now();
    let config = RoomConfig { capacity: 10, reconnect_grace: Duration::from_secs(30) };
    let id = RoomId("r".into());
    let mut room =
        Room::new(now, id.clone(), "Event".into(), Visibility::Open, user("alice"), HashSet::new(), config.clone());
    room.set_hosts([UserId(2)].into_iter().collect());
    room.join(now, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    room.join(now, user("carol"), Relations::default(), &[], Grant::ALL).unwrap();
    room.join(now, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    assert_eq!(room.role_of(UserId(2)), Some(Role::Moderator), "the co-host is a moderator on arrival");
    assert_eq!(room.role_of(UserId(3)), Some(Role::Listener), "anyone else is a listener");
    assert_eq!(room.listener_count(), 1);
    let lasting = serde_json_roundtrip(&room.lasting());
    assert_eq!(lasting.hosts, [UserId(2)]);
    // After a restart, a co-host who was not there yet still comes in as a moderator.
    let mut back = Room::restore(now, id, Lasting { stage: lasting.stage[..1].to_vec(), ..lasting }, config).unwrap();
    back.join(now, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    assert_eq!(back.role_of(UserId(2)), Some(Role::Moderator));
}

#[test]
fn chat_modes_limits_slow_mode_deletion_silencing_and_history() {
    use stoa_proto::ChatMode;
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 100, reconnect_grace: Duration::from_secs(30) };
    let mut room =
        Room::new(t0, RoomId("r".into()), "Chat".into(), Visibility::Open, user("alice"), HashSet::new(), config);
    room.set_wall_clock(t0, 1_000_000);
    let alice = room.join(t0, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    let bob = room.join(t0, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    while room.poll_output().is_some() {}
    let outputs = |room: &mut Room| std::iter::from_fn(|| room.poll_output()).collect::<Vec<_>>();
    let say =
        |room: &mut Room, at: Instant, conn, command| room.command(at, conn, ClientMessage { id: Some(1), command });
    let error_of = |out: &[Output]| {
        out.iter().find_map(|o| match o {
            Output::Send(_, ServerEvent::Error { code, .. }) => Some(code.clone()),
            _ => None,
        })
    };
    // A message is one broadcast, with its author and time, on the room's next tick (half a second).
    say(&mut room, t0, bob, ClientCommand::SendChat { text: "  hello\nworld  ".into() });
    assert!(outputs(&mut room).is_empty(), "nothing goes out before the tick");
    assert_eq!(room.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    room.handle_timeout(t0 + Duration::from_millis(500));
    let out = outputs(&mut room);
    let Some(Output::Broadcast(ServerEvent::ChatMessage { message })) = out.first() else { panic!("{out:?}") };
    assert_eq!((message.id, message.user.id, message.sent_at_ms), (1, UserId(2), 1_000_000));
    // Bad text, too fast: refused, nothing broadcast.
    for text in [String::new(), "x".repeat(501), "bell\u{7}".into()] {
        say(&mut room, t0 + Duration::from_secs(5), bob, ClientCommand::SendChat { text });
        assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("chat_invalid"));
    }
    say(&mut room, t0 + Duration::from_millis(500), bob, ClientCommand::SendChat { text: "again".into() });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("chat_too_fast"));
    // Modes: speakers only, then off; only moderators set them.
    say(&mut room, t0, bob, ClientCommand::SetChatMode { mode: ChatMode::Off });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("forbidden"));
    say(&mut room, t0, alice, ClientCommand::SetChatMode { mode: ChatMode::Speakers });
    let t1 = t0 + Duration::from_secs(2);
    say(&mut room, t1, bob, ClientCommand::SendChat { text: "hi".into() });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("chat_speakers_only"));
    say(&mut room, t1, alice, ClientCommand::SendChat { text: "mods can".into() });
    assert!(error_of(&outputs(&mut room)).is_none());
    // Deleted before its tick: it never goes out, and the log still has the deletion.
    say(&mut room, t1, alice, ClientCommand::DeleteChat { message_id: 2 });
    let out = outputs(&mut room);
    assert!(out.iter().any(|o| matches!(o, Output::Moderation { action: ModerationAction::DeleteChat, .. })));
    assert!(!out.iter().any(|o| matches!(o, Output::Broadcast(_))), "{out:?}");
    room.handle_timeout(t1 + Duration::from_millis(500));
    assert!(!outputs(&mut room).iter().any(|o| matches!(o, Output::Broadcast(ServerEvent::ChatMessage { .. }))));
    say(&mut room, t1, alice, ClientCommand::SetChatMode { mode: ChatMode::Everyone });
    let out = outputs(&mut room);
    assert!(out.iter().any(|o| matches!(o, Output::Moderation { action: ModerationAction::ChatMode, detail: Some(d), .. } if d == "everyone")));
    // Silenced: told, and refused until let speak again.
    say(&mut room, t1, alice, ClientCommand::SilenceChat { user_id: UserId(2), silenced: true });
    assert!(
        outputs(&mut room)
            .iter()
            .any(|o| matches!(o, Output::Send(c, ServerEvent::ChatSilenced { silenced: true }) if *c == bob))
    );
    let t2 = t1 + Duration::from_secs(2);
    say(&mut room, t2, bob, ClientCommand::SendChat { text: "hi".into() });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("chat_silenced"));
    say(&mut room, t2, alice, ClientCommand::SilenceChat { user_id: UserId(2), silenced: false });
    let out = outputs(&mut room);
    assert!(out.iter().any(|o| matches!(
        o,
        Output::Moderation { action: ModerationAction::UnsilenceChat, target: Some(UserId(2)), .. }
    )));
    // Deletion: for everyone; an unknown message is an error.
    say(&mut room, t2, alice, ClientCommand::DeleteChat { message_id: 1 });
    let out = outputs(&mut room);
    assert!(out.iter().any(|o| matches!(o, Output::Broadcast(ServerEvent::ChatDeleted { message_id: 1 }))));
    // The moderation log has it, with the author as the one it was done to and the message's number.
    let logged = |out: &[Output], action: ModerationAction| {
        out.iter().find_map(|o| match o {
            Output::Moderation { actor, action: a, target, detail } if *a == action => {
                Some((*actor, *target, detail.clone()))
            }
            _ => None,
        })
    };
    assert_eq!(logged(&out, ModerationAction::DeleteChat), Some((UserId(1), Some(UserId(2)), Some("1".into()))));
    say(&mut room, t2, alice, ClientCommand::DeleteChat { message_id: 1 });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("no_such_message"));

    // The room's rate: 20 messages in a second from 20 people pass, the 21st turns slow mode on.
    let t3 = t2 + Duration::from_secs(5);
    let mut conns = Vec::new();
    for i in 0..21 {
        let u = UserSummary { id: UserId(100 + i), username: format!("u{i}"), display_name: format!("U{i}") };
        conns.push(room.join(t3, u, Relations::default(), &[], Grant::ALL).unwrap());
    }
    outputs(&mut room);
    for c in &conns[..20] {
        say(&mut room, t3, *c, ClientCommand::SendChat { text: "wave".into() });
    }
    assert!(error_of(&outputs(&mut room)).is_none());
    say(&mut room, t3, conns[20], ClientCommand::SendChat { text: "one too many".into() });
    let out = outputs(&mut room);
    assert_eq!(error_of(&out).as_deref(), Some("chat_slow_mode"), "the refused sender is told");
    assert!(
        out.iter().any(|o| matches!(o, Output::Broadcast(ServerEvent::ChatSlowMode { on: true, seconds_between: 10 })))
    );
    // The tick sends the 20 back to back.
    room.handle_timeout(t3 + Duration::from_millis(500));
    let out = outputs(&mut room);
    let chat: Vec<&Output> =
        out.iter().filter(|o| matches!(o, Output::Broadcast(ServerEvent::ChatMessage { .. }))).collect();
    assert_eq!(chat.len(), 20, "{out:?}");
    assert!(std::ptr::eq(chat[0], &out[0]) && std::ptr::eq(chat[19], &out[19]), "back to back: {out:?}");
    // In slow mode, 10 s between one person's messages; it ends 30 s after the room last went over.
    say(&mut room, t3 + Duration::from_secs(5), conns[0], ClientCommand::SendChat { text: "soon".into() });
    assert_eq!(error_of(&outputs(&mut room)).as_deref(), Some("chat_slow_mode"));
    say(&mut room, t3 + Duration::from_secs(11), conns[0], ClientCommand::SendChat { text: "later".into() });
    assert!(error_of(&outputs(&mut room)).is_none());
    assert!(room.poll_timeout().is_some_and(|t| t <= t3 + Duration::from_secs(30)), "the room wakes to end slow mode");
    room.handle_timeout(t3 + Duration::from_secs(31));
    assert!(
        outputs(&mut room).iter().any(|o| matches!(o, Output::Broadcast(ServerEvent::ChatSlowMode { on: false, .. })))
    );

    // A late joiner gets the last 100 messages, oldest first.
    let mut at = t3 + Duration::from_secs(40);
    for n in 0..120 {
        at += Duration::from_millis(60);
        say(&mut room, at, conns[n % 20], ClientCommand::SendChat { text: format!("m{n}") });
        room.handle_timeout(at);
        outputs(&mut room);
    }
    at += Duration::from_millis(500);
    room.handle_timeout(at);
    let late = UserSummary { id: UserId(500), username: "late".into(), display_name: "Late".into() };
    let conn = room.join(at, late, Relations::default(), &[], Grant::ALL).unwrap();
    let joined = outputs(&mut room).into_iter().find_map(|o| match o {
        Output::Send(c, ServerEvent::Joined { chat, .. }) if c == conn => Some(chat),
        _ => None,
    });
    let chat = joined.expect("joined");
    assert_eq!(chat.messages.len(), 100);
    assert_eq!(chat.messages.last().unwrap().text, "m119");
    assert!(chat.messages.windows(2).all(|w| w[0].id < w[1].id));
}

#[test]
fn reactions_go_out_as_counts_twice_a_second_never_one_by_one() {
    use stoa_proto::{Reaction, ReactionCount};
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 100, reconnect_grace: Duration::from_secs(30) };
    let mut room =
        Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Open, user("alice"), HashSet::new(), config);
    let alice = room.join(t0, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    let bob = room.join(t0, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    while room.poll_output().is_some() {}
    let react = |room: &mut Room, conn, reaction| {
        room.command(t0, conn, ClientMessage { id: None, command: ClientCommand::React { reaction } })
    };
    for _ in 0..3 {
        react(&mut room, bob, Reaction::Clap);
    }
    react(&mut room, alice, Reaction::Heart);
    react(&mut room, alice, Reaction::Clap);
    assert!(room.poll_output().is_none(), "no event per reaction");
    assert_eq!(room.poll_timeout(), Some(t0 + Duration::from_millis(500)));
    // Five each half second per person; the sixth is refused to its sender alone.
    for _ in 0..2 {
        react(&mut room, bob, Reaction::Fire);
    }
    react(&mut room, bob, Reaction::Fire);
    let refused: Vec<_> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(
        matches!(refused.as_slice(), [Output::Send(c, ServerEvent::Error { code, .. })] if *c == bob && code == "reactions_too_fast"),
        "{refused:?}"
    );
    room.handle_timeout(t0 + Duration::from_millis(500));
    let out: Vec<_> = std::iter::from_fn(|| room.poll_output()).collect();
    let counts = out.iter().find_map(|o| match o {
        Output::Broadcast(ServerEvent::Reactions { counts }) => Some(counts.clone()),
        _ => None,
    });
    assert_eq!(
        counts.unwrap(),
        [
            ReactionCount { reaction: Reaction::Clap, count: 4 },
            ReactionCount { reaction: Reaction::Heart, count: 1 },
            ReactionCount { reaction: Reaction::Fire, count: 2 },
        ]
    );
    room.handle_timeout(t0 + Duration::from_secs(2));
    let later: Vec<_> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(
        !later.iter().any(|o| matches!(o, Output::Broadcast(ServerEvent::Reactions { .. }))),
        "quiet until the next reaction"
    );
}

#[test]
fn a_large_audiences_count_goes_out_every_millisecond_per_listener_at_most() {
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 20_000, reconnect_grace: Duration::from_secs(30) };
    let mut room =
        Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Open, user("alice"), HashSet::new(), config);
    room.join(t0, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    let listener =
        |n: u32| UserSummary { id: UserId(100 + i64::from(n)), username: format!("l{n}"), display_name: "L".into() };
    let counts = |room: &mut Room| -> Vec<u32> {
        std::iter::from_fn(|| room.poll_output())
            .filter_map(|o| match o {
                Output::Broadcast(ServerEvent::ListenerCount { count, .. }) => Some(count),
                _ => None,
            })
            .collect()
    };
    let join = |room: &mut Room, range: std::ops::Range<u32>| {
        for n in range {
            room.join(t0, listener(n), Relations::default(), &[], Grant::LISTEN).unwrap();
        }
    };
    // A small audience: once a second.
    join(&mut room, 0..10);
    room.handle_timeout(t0 + Duration::from_secs(1));
    assert_eq!(counts(&mut room), [10]);
    // 2,500 listeners: not before 2.5 s after the last count, and the room asks to be woken then.
    join(&mut room, 10..2_500);
    let sent = t0 + Duration::from_secs(1);
    assert_eq!(room.poll_timeout(), Some(sent + Duration::from_millis(2_500)));
    room.handle_timeout(sent + Duration::from_millis(2_499));
    assert_eq!(counts(&mut room), Vec::<u32>::new(), "2,500 listeners: not yet after 2.499 s");
    room.handle_timeout(sent + Duration::from_millis(2_500));
    assert_eq!(counts(&mut room), [2_500]);
    // 15,000 listeners: at most 10 s between counts, however large the room.
    join(&mut room, 2_500..15_000);
    let sent = sent + Duration::from_millis(2_500);
    assert_eq!(room.poll_timeout(), Some(sent + Duration::from_secs(10)));
    room.handle_timeout(sent + Duration::from_secs(10));
    assert_eq!(counts(&mut room), [15_000]);
}

#[test]
fn a_listen_only_connection_is_never_published_even_made_a_moderator() {
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 10, reconnect_grace: Duration::from_secs(30) };
    let mut room =
        Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Open, user("alice"), HashSet::new(), config);
    let alice = room.join(t0, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    let bob = room.join(t0, user("bob"), Relations::default(), &[], Grant::LISTEN).unwrap();
    while room.poll_output().is_some() {}
    room.command(t0, alice, ClientMessage { id: None, command: ClientCommand::MakeModerator { user_id: UserId(2) } });
    assert_eq!(room.role_of(UserId(2)), Some(Role::Moderator));
    assert!(!room.may_publish(bob), "a listen-only connection is never forwarded");
    assert!(room.may_publish(alice));
    // A new connection of the same person (a full session) is not restricted.
    let again = room.join(t0, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    assert!(room.may_publish(again));
}

/// Every command the room takes, as a moderator might send it about `other`.
fn every_command(other: UserId) -> Vec<ClientCommand> {
    use stoa_proto::{ChatMode, Reaction};
    vec![
        ClientCommand::RaiseHand,
        ClientCommand::LowerHand,
        ClientCommand::InviteToSpeak { user_id: other },
        ClientCommand::AcceptInvite,
        ClientCommand::DeclineInvite,
        ClientCommand::MoveToAudience { user_id: other },
        ClientCommand::MakeModerator { user_id: other },
        ClientCommand::RemoveModerator { user_id: other },
        ClientCommand::Mute { user_id: other },
        ClientCommand::SetMuted { muted: true },
        ClientCommand::Remove { user_id: other },
        ClientCommand::SetHandMode { mode: HandMode::Off },
        ClientCommand::SendChat { text: "hi".into() },
        ClientCommand::DeleteChat { message_id: 1 },
        ClientCommand::SilenceChat { user_id: other, silenced: true },
        ClientCommand::SetChatMode { mode: ChatMode::Off },
        ClientCommand::SetOutputs { recording: Some(true), clips: None, listen_link: None, captions: None },
        ClientCommand::React { reaction: Reaction::Clap },
        ClientCommand::EndRoom,
    ]
}

#[test]
fn a_moderators_token_may_do_only_what_its_scopes_grant_in_the_room() {
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 10, reconnect_grace: Duration::from_secs(30) };
    for (grant, allowed) in
        [(Grant::LISTEN, stoa_proto::Needs::Nothing), (Grant { speak: true, write: false }, stoa_proto::Needs::Speak)]
    {
        let mut room = Room::new(
            t0,
            RoomId("r".into()),
            "R".into(),
            Visibility::Open,
            user("alice"),
            HashSet::new(),
            config.clone(),
        );
        // Alice, the room's creator and moderator, comes in with a scoped token; Bob is a listener.
        let alice = room.join(t0, user("alice"), Relations::default(), &[], grant).unwrap();
        let joined = room.poll_output();
        assert!(
            matches!(&joined, Some(Output::Send(c, ServerEvent::Joined { may, .. })) if *c == alice && *may == grant),
            "the joined event says what the connection may do: {joined:?}"
        );
        room.join(t0, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
        let bob = UserId(2);
        for command in every_command(bob) {
            let needs = command.needs(UserId(1));
            if needs == stoa_proto::Needs::Nothing || (needs == stoa_proto::Needs::Speak && allowed == needs) {
                continue;
            }
            while room.poll_output().is_some() {}
            room.command(t0, alice, ClientMessage { id: Some(9), command: command.clone() });
            let out: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
            assert!(
                matches!(out.as_slice(), [Output::Send(c, ServerEvent::Error { id: Some(9), code, .. })]
                    if *c == alice && code == "missing_scope"),
                "{grant:?} must refuse {command:?} with missing_scope and do nothing else: {out:?}"
            );
        }
        assert!(!room.is_ended(), "{grant:?}: the room did not end");
        assert_eq!(room.role_of(bob), Some(Role::Listener));
    }
    // Keep-alives stay open to every token.
    let mut room =
        Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Open, user("alice"), HashSet::new(), config);
    let alice = room.join(t0, user("alice"), Relations::default(), &[], Grant::LISTEN).unwrap();
    while room.poll_output().is_some() {}
    room.command(t0, alice, ClientMessage { id: None, command: ClientCommand::Ping });
    assert!(matches!(room.poll_output(), Some(Output::Send(_, ServerEvent::Pong))));
}

#[test]
fn a_restream_is_a_room_output_set_by_moderators_logged_and_told_to_everyone() {
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 10, reconnect_grace: Duration::from_secs(30) };
    let mut room =
        Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Open, user("alice"), HashSet::new(), config.clone());
    room.join(t0, user("alice"), Relations::default(), &[], Grant::ALL).unwrap();
    room.join(t0, user("bob"), Relations::default(), &[], Grant::ALL).unwrap();
    let (alice, bob) = (UserId(1), UserId(2));
    while room.poll_output().is_some() {}
    assert_eq!(room.may_restream(bob), Err(CommandError::NotModerator));
    assert_eq!(room.set_restream(bob, true), Err(CommandError::NotModerator));
    assert!(room.poll_output().is_none(), "a listener's try changes nothing");

    assert_eq!(room.may_restream(alice), Ok(()));
    room.set_restream(alice, true).unwrap();
    let out: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(
        matches!(out.as_slice(), [
            Output::Moderation { actor, action: stoa_proto::ModerationAction::Outputs, detail: Some(d), .. },
            Output::Broadcast(ServerEvent::OutputsChanged { outputs }),
        ] if *actor == alice && d == "restream on" && outputs.restream),
        "logged, then told to everyone: {out:?}"
    );
    assert!(room.room_outputs().restream);

    // Its server dropped it for good: everyone is told why, and the output is off.
    room.restream_stopped("failed", "The RTMP server closed the stream.");
    let out: Vec<Output> = std::iter::from_fn(|| room.poll_output()).collect();
    assert!(
        matches!(out.as_slice(), [
            Output::Broadcast(ServerEvent::RestreamStopped { reason, .. }),
            Output::Broadcast(ServerEvent::OutputsChanged { outputs }),
        ] if reason == "failed" && !outputs.restream),
        "{out:?}"
    );
    room.set_restream(alice, false).unwrap();
    assert!(room.poll_output().is_none(), "stopping what is already off says nothing");
    // A restored room never starts restreaming by itself.
    room.set_restream(alice, true).unwrap();
    let lasting = room.lasting();
    assert!(lasting.outputs.restream);
    let restored = Room::restore(t0, RoomId("r".into()), lasting, config).unwrap();
    assert!(!restored.room_outputs().restream, "the restream's process is gone after a restart");
}
