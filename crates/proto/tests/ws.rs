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

/// Regression: serde reads a number as a variant's index, so `{"type":13}` ended a room and `{"type":0}`
/// raised a hand. Only the documented string tags are accepted, in both directions.
#[test]
fn numeric_tags_are_refused() {
    for json in [r#"{"type":13}"#, r#"{"type":0}"#, r#"{"type":0,"id":1}"#, r#"{"type":true}"#, r#"{"type":null}"#] {
        let err = serde_json::from_str::<ClientMessage>(json).expect_err(json);
        assert!(err.to_string().contains("type"), "{json}: {err}");
    }
    for json in [r#"{"type":20}"#, r#"{"type":14}"#] {
        assert!(serde_json::from_str::<stoa_proto::ServerEvent>(json).is_err(), "{json}");
    }
    // Number-valued fields of the documented kinds still parse, and so do string tags.
    let ok: ClientMessage = serde_json::from_str(r#"{"type":"invite_to_speak","user_id":3}"#).unwrap();
    assert_eq!(ok.command, ClientCommand::InviteToSpeak { user_id: UserId(3) });
    let ok: stoa_proto::ServerEvent = serde_json::from_str(r#"{"type":"pong"}"#).unwrap();
    assert_eq!(ok, stoa_proto::ServerEvent::Pong);
}
