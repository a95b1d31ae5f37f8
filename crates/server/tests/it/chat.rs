//! The room's chat over real WebSockets: messages reach everyone once, a late joiner gets the history, a
//! moderator's deletion and silencing reach the people concerned, and bad messages change nothing.

use crate::common;

use serde_json::json;

#[tokio::test]
async fn chat_reaches_everyone_history_greets_a_late_joiner_and_moderators_delete_and_silence() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    let joined = bws.expect("joined").await;
    assert_eq!(joined["chat"], json!({"mode": "everyone", "messages": [], "slow_mode": false, "silenced": false}));

    bws.send(json!({"type": "send_chat", "text": "Hello, https://example.org!"})).await;
    let seen = hws.expect("chat_message").await;
    assert_eq!(seen["message"]["text"], "Hello, https://example.org!");
    assert_eq!(seen["message"]["user"]["username"], "bob");
    let now_ms = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let sent = seen["message"]["sent_at_ms"].as_u64().unwrap();
    assert!(sent <= now_ms && now_ms - sent < 60_000, "a wall-clock time: {sent} against {now_ms}");
    let own = bws.expect("chat_message").await;
    assert_eq!(own["message"]["id"], seen["message"]["id"], "the sender gets it once too");
    let id = seen["message"]["id"].as_u64().unwrap();

    // Bad messages: a clear error, nothing sent.
    for bad in
        [json!({"type": "send_chat", "text": "x".repeat(501)}), json!({"type": "send_chat", "text": "\u{1b}[31m"})]
    {
        assert_eq!(bws.command_error(bad).await.as_deref(), Some("chat_invalid"));
    }
    // A late joiner gets the history.
    let mut cws = carol.join(&room).await.unwrap();
    let joined = cws.expect("joined").await;
    assert_eq!(joined["chat"]["messages"][0]["text"], "Hello, https://example.org!");

    // Deleted for everyone; a listener may not delete.
    assert_eq!(cws.command_error(json!({"type": "delete_chat", "message_id": id})).await.as_deref(), Some("forbidden"));
    hws.send(json!({"type": "delete_chat", "message_id": id})).await;
    for ws in [&mut bws, &mut cws] {
        assert_eq!(ws.expect("chat_deleted").await["message_id"], id);
    }
    // Silenced: told, refused; the chat off: refused for everyone.
    hws.send(json!({"type": "silence_chat", "user_id": carol.id, "silenced": true})).await;
    assert_eq!(cws.expect("chat_silenced").await["silenced"], true);
    assert_eq!(cws.command_error(json!({"type": "send_chat", "text": "hey"})).await.as_deref(), Some("chat_silenced"));
    hws.send(json!({"type": "set_chat_mode", "mode": "off"})).await;
    assert_eq!(bws.expect("chat_mode_changed").await["mode"], "off");
    assert_eq!(bws.command_error(json!({"type": "send_chat", "text": "hey"})).await.as_deref(), Some("chat_off"));
}

#[tokio::test]
async fn reactions_arrive_as_counts_and_unknown_ones_are_refused() {
    let server = common::TestServer::start().await;
    let host = server.user("host").await;
    let bob = server.user("bob").await;
    let (room, mut hws) = server.room(&host, "open", &[]).await;
    let mut bws = bob.join(&room).await.unwrap();
    bws.expect("joined").await;
    for reaction in ["clap", "clap", "heart"] {
        bws.send(json!({"type": "react", "reaction": reaction})).await;
    }
    hws.send(json!({"type": "react", "reaction": "clap"})).await;
    // Counts, twice a second: everything given arrives in one or two counts, never one event each.
    let (mut seen, mut events) = (0, 0);
    while seen < 4 {
        let ev = bws.expect("reactions").await;
        seen += ev["counts"].as_array().unwrap().iter().map(|c| c["count"].as_u64().unwrap()).sum::<u64>();
        events += 1;
    }
    assert_eq!(seen, 4);
    assert!(events <= 2, "{events} events for 4 reactions");
    bws.send_raw(r#"{"type":"react","reaction":"poop"}"#).await;
    let err = bws.expect("error").await;
    assert_eq!(err["code"], "invalid_message", "a reaction not in the set is refused: {err}");
}
