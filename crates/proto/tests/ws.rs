//! The WebSocket messages' JSON shape, which clients written in other languages rely on.

use stoa_proto::{ClientCommand, ClientMessage, UserId};

#[test]
fn commands_parse_with_and_without_an_id() {
    let cases = [
        (r#"{"type":"end_room"}"#, ClientMessage { id: None, command: ClientCommand::EndRoom }),
        (r#"{"type":"end_room","id":99}"#, ClientMessage { id: Some(99), command: ClientCommand::EndRoom }),
        (r#"{"id":7,"type":"raise_hand"}"#, ClientMessage { id: Some(7), command: ClientCommand::RaiseHand }),
        (
            r#"{"type":"invite_to_speak","user_id":3,"id":1}"#,
            ClientMessage { id: Some(1), command: ClientCommand::InviteToSpeak { user_id: UserId(3) } },
        ),
    ];
    for (json, expected) in cases {
        let parsed: ClientMessage = serde_json::from_str(json).unwrap_or_else(|e| panic!("{json}: {e}"));
        assert_eq!(parsed, expected, "{json}");
        let round: ClientMessage = serde_json::from_str(&serde_json::to_string(&parsed).unwrap()).unwrap();
        assert_eq!(round, expected);
    }
}

#[test]
fn unknown_commands_and_missing_fields_are_refused() {
    for json in [r#"{"type":"launch_missiles"}"#, r#"{"type":"mute"}"#, r#"{"user_id":1}"#, "[]", "nonsense"] {
        assert!(serde_json::from_str::<ClientMessage>(json).is_err(), "{json} should not parse");
    }
}
