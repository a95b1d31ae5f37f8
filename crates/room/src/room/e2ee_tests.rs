//! The end-to-end encrypted room's epochs: who is asked for each key, who is given it, and what is refused.

use super::*;

fn person(id: i64) -> UserSummary {
    UserSummary { id: UserId(id), username: format!("u{id}"), display_name: format!("U{id}") }
}

fn device(n: u8) -> String {
    format!("{}{}", (b'A' + n) as char, "x".repeat(42))
}

fn blob(n: usize) -> String {
    format!("{n:03}{}", "w".repeat(127))
}

fn say(room: &mut Room, now: Instant, conn: ConnId, command: ClientCommand) {
    room.command(now, conn, ClientMessage { id: None, command });
}

/// What the room sent since the last call: (to whom or `*`, the event), errors included.
fn drain(room: &mut Room, conns: &HashMap<ConnId, i64>) -> Vec<(String, ServerEvent)> {
    let mut out = Vec::new();
    while let Some(o) = room.poll_output() {
        match o {
            Output::Send(c, e) => out.push((format!("u{}", conns.get(&c).copied().unwrap_or(0)), e)),
            Output::Broadcast(e) => out.push(("*".into(), e)),
            _ => {}
        }
    }
    out
}

fn rekeys(out: &[(String, ServerEvent)]) -> Vec<(String, u32, Vec<i64>)> {
    out.iter()
        .filter_map(|(to, e)| match e {
            ServerEvent::E2eeRekey { epoch, members } => {
                Some((to.clone(), *epoch, members.iter().map(|m| m.user_id.0).collect()))
            }
            _ => None,
        })
        .collect()
}

fn errors(out: &[(String, ServerEvent)]) -> Vec<String> {
    out.iter()
        .filter_map(|(_, e)| match e {
            ServerEvent::Error { code, .. } => Some(code.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn each_arrival_and_departure_makes_an_epoch_keyed_by_a_moderator_for_the_devices_present() {
    let t0 = Instant::now();
    let config = RoomConfig { capacity: 5000, reconnect_grace: Duration::from_secs(30) };
    let invited = (2..=6).map(UserId).collect();
    let mut room = Room::new(t0, RoomId("r".into()), "R".into(), Visibility::Closed, person(1), invited, config);
    room.make_e2ee();
    assert!(room.info().e2ee);
    let mut conns = HashMap::new();
    let mut join = |room: &mut Room, id: i64| {
        let c = room.join(t0, person(id), Relations::default(), &[], Grant::ALL).unwrap();
        conns.insert(c, id);
        c
    };
    let alice = join(&mut room, 1);
    let bob = join(&mut room, 2);
    let carol = join(&mut room, 3);
    let dave = join(&mut room, 4);
    drain(&mut room, &conns);

    // Nothing the server would need to hear can be turned on.
    say(
        &mut room,
        t0,
        alice,
        ClientCommand::SetOutputs { recording: Some(true), clips: None, listen_link: None, captions: None },
    );
    assert_eq!(errors(&drain(&mut room, &conns)), ["e2ee_room"]);
    say(&mut room, t0, bob, ClientCommand::DeviceKey { public_key: "short".into() });
    assert_eq!(errors(&drain(&mut room, &conns)), ["invalid_device_key"]);

    // A listener's device first: no moderator has a device yet, so nobody is asked.
    say(&mut room, t0, bob, ClientCommand::DeviceKey { public_key: device(2) });
    assert!(rekeys(&drain(&mut room, &conns)).is_empty(), "no keyholder yet");
    // The moderator's device arrives: they are asked for epoch 1, for both devices.
    say(&mut room, t0, alice, ClientCommand::DeviceKey { public_key: device(1) });
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u1".into(), 1, vec![1, 2])]);
    // Carol's device arrives while epoch 1 is out: she waits for the next one, asked once it is answered.
    say(&mut room, t0, carol, ClientCommand::DeviceKey { public_key: device(3) });
    assert!(rekeys(&drain(&mut room, &conns)).is_empty(), "one request at a time");
    // Only the keyholder answers, for the epoch asked, one blob per member.
    say(&mut room, t0, bob, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![blob(1), blob(2)] });
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![blob(1)] });
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![blob(1), "x".into()] });
    assert_eq!(errors(&drain(&mut room, &conns)), ["stale_epoch", "invalid_keys", "invalid_keys"]);
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![blob(1), blob(2)] });
    let out = drain(&mut room, &conns);
    let epoch = out.iter().find_map(|(to, e)| match e {
        ServerEvent::E2eeEpoch { epoch, keyholder, members } if to == "*" => {
            Some((*epoch, keyholder.user_id.0, members.iter().map(|m| m.user_id.0).collect::<Vec<_>>()))
        }
        _ => None,
    });
    assert_eq!(epoch, Some((1, 1, vec![1, 2])), "everyone is told the epoch's members");
    let keys: Vec<(String, u32, String)> = out
        .iter()
        .filter_map(|(to, e)| match e {
            ServerEvent::E2eeKey { epoch, wrapped } => Some((to.clone(), *epoch, wrapped.clone())),
            _ => None,
        })
        .collect();
    assert_eq!(keys, [("u1".into(), 1, blob(1)), ("u2".into(), 1, blob(2))], "each member gets their own blob");
    assert_eq!(rekeys(&out), [("u1".into(), 2, vec![1, 2, 3])], "carol's epoch follows at once");
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![blob(1), blob(2)] });
    assert_eq!(errors(&drain(&mut room, &conns)), ["stale_epoch"], "an epoch answered is not answered again");
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 2, wrapped: vec![blob(1), blob(2), blob(3)] });
    assert!(rekeys(&drain(&mut room, &conns)).is_empty());

    // Bob leaves: the next epoch is without him. Dave has no device: never a member, never given a blob.
    say(&mut room, t0, bob, ClientCommand::Leave);
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u1".into(), 3, vec![1, 3])]);
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 3, wrapped: vec![blob(1), blob(3)] });
    let out = drain(&mut room, &conns);
    assert!(!out.iter().any(|(to, e)| to == "u4" && matches!(e, ServerEvent::E2eeKey { .. })));

    // The keyholder does not answer: after 5 s the next moderator is asked, and the silent one comes last.
    say(&mut room, t0, alice, ClientCommand::MakeModerator { user_id: UserId(4) });
    say(&mut room, t0, dave, ClientCommand::DeviceKey { public_key: device(4) });
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u1".into(), 4, vec![1, 3, 4])]);
    room.handle_timeout(t0 + KEYHOLDER_TIMEOUT - Duration::from_millis(1));
    assert!(rekeys(&drain(&mut room, &conns)).is_empty(), "not before its time");
    assert!(room.poll_timeout().is_some_and(|t| t <= t0 + KEYHOLDER_TIMEOUT), "the room asks to be woken for it");
    room.handle_timeout(t0 + KEYHOLDER_TIMEOUT);
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u4".into(), 5, vec![1, 3, 4])]);
    say(&mut room, t0, alice, ClientCommand::E2eeKeys { epoch: 4, wrapped: vec![blob(1), blob(3), blob(4)] });
    assert_eq!(errors(&drain(&mut room, &conns)), ["stale_epoch"], "too late");
    // The keyholder's connection drops before answering: someone else is asked at once, without them.
    let later = t0 + KEYHOLDER_TIMEOUT + Duration::from_secs(1);
    room.disconnected(later, dave);
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u1".into(), 6, vec![1, 3])]);
    // Removed from the room: the next epoch leaves them out.
    say(&mut room, later, alice, ClientCommand::E2eeKeys { epoch: 6, wrapped: vec![blob(1), blob(3)] });
    drain(&mut room, &conns);
    say(&mut room, later, alice, ClientCommand::Remove { user_id: UserId(3) });
    assert_eq!(rekeys(&drain(&mut room, &conns)), [("u1".into(), 7, vec![1])]);
    assert_eq!(room.e2ee_epoch(), 7);
}

#[test]
fn an_e2ee_room_holds_at_most_300_keeps_no_outputs_and_keys_are_refused_elsewhere() {
    let t0 = Instant::now();
    let outputs = RoomOutputs { recording: true, clips: true, captions: true, ..RoomOutputs::default() };
    let mut room = Room::new(
        t0,
        RoomId("r".into()),
        "R".into(),
        Visibility::Closed,
        person(1),
        HashSet::new(),
        RoomConfig::default(),
    );
    room.init_outputs(outputs);
    room.make_e2ee();
    room.init_outputs(outputs);
    let none = RoomOutputs { captions: false, ..RoomOutputs::default() };
    assert_eq!(room.info().outputs, none, "outputs asked at the start are dropped, captions with them");
    assert_eq!(room.config.capacity, E2EE_CAPACITY);
    let restored = Room::restore(t0, RoomId("r".into()), room.lasting(), RoomConfig::default()).unwrap();
    assert!(restored.is_e2ee(), "it stays end-to-end encrypted after a restart");

    let mut plain = Room::new(
        t0,
        RoomId("p".into()),
        "P".into(),
        Visibility::Closed,
        person(1),
        HashSet::new(),
        RoomConfig::default(),
    );
    let conns = HashMap::new();
    let alice = plain.join(t0, person(1), Relations::default(), &[], Grant::ALL).unwrap();
    drain(&mut plain, &conns);
    say(&mut plain, t0, alice, ClientCommand::DeviceKey { public_key: device(1) });
    say(&mut plain, t0, alice, ClientCommand::E2eeKeys { epoch: 1, wrapped: vec![] });
    assert_eq!(errors(&drain(&mut plain, &conns)), ["not_e2ee", "not_e2ee"]);
}
