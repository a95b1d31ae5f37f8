//! The backchannel over real HTTP: threads of two and groups, Requests and their decline, blocks, who may
//! read what, deleting one's own messages, the counts that reach every open tab at once, and the limits
//! with their bypasses.

use crate::common;

use common::{Client, TestServer};
use reqwest::StatusCode;
use serde_json::{Value, json};

fn code(body: &Value) -> Option<&str> {
    body["error"]["code"].as_str()
}

async fn write(from: &Client, to: &[&str], text: &str) -> (StatusCode, Value) {
    from.post("/api/v1/threads", json!({"usernames": to, "text": text})).await
}

async fn thread_ids(c: &Client, requests: bool) -> Vec<i64> {
    let (s, b) = c.get(&format!("/api/v1/threads?requests={requests}")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["threads"].as_array().unwrap().iter().map(|t| t["id"].as_i64().unwrap()).collect()
}

async fn texts(c: &Client, thread: i64) -> Vec<String> {
    let (s, b) = c.get(&format!("/api/v1/threads/{thread}/messages")).await;
    assert_eq!(s, StatusCode::OK, "{b}");
    b["messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap().to_string()).collect()
}

#[tokio::test]
async fn a_stranger_lands_in_requests_a_decline_is_not_told_and_a_follower_lands_in_the_inbox() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    cat.follow(&ann).await;

    // Bad input changes nothing.
    for (body, expected) in [
        (json!({"usernames": ["bob"], "text": "  "}), "invalid_text"),
        (json!({"usernames": ["bob"], "text": "x".repeat(1001)}), "invalid_text"),
        (json!({"usernames": [], "text": "hi"}), "invalid_members"),
        (json!({"usernames": ["ann"], "text": "hi"}), "self"),
        (json!({"usernames": ["bob"], "text": "hi", "extra": 1}), "invalid_body"),
    ] {
        let (s, b) = ann.post("/api/v1/threads", body.clone()).await;
        assert_eq!((s, code(&b)), (StatusCode::BAD_REQUEST, Some(expected)), "{body}");
    }
    let (s, _) = write(&ann, &["nobody_at_all"], "hi").await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    assert!(thread_ids(&ann, false).await.is_empty());

    // Bob does not follow ann: her message waits in his Requests.
    let (s, t) = write(&ann, &["bob"], "Hello Bob, https://example.org").await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    let to_bob = t["id"].as_i64().unwrap();
    assert_eq!((t["group"].as_bool(), t["members"][0]["username"].as_str()), (Some(false), Some("bob")));
    assert_eq!(thread_ids(&bob, true).await, [to_bob]);
    assert!(thread_ids(&bob, false).await.is_empty());
    assert_eq!(texts(&bob, to_bob).await, ["Hello Bob, https://example.org"], "the text as written, never fetched");
    // Writing again is the same thread of the two.
    let (_, again) = write(&ann, &["bob"], "Are you there?").await;
    assert_eq!(again["id"].as_i64(), Some(to_bob));

    // He declines: it leaves his lists and is a 404 to him; ann is not told and may still write.
    let (s, _) = bob.post_empty(&format!("/api/v1/threads/{to_bob}/decline")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    assert!(thread_ids(&bob, true).await.is_empty());
    let (s, _) = bob.get(&format!("/api/v1/threads/{to_bob}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, seen) = ann.get(&format!("/api/v1/threads/{to_bob}")).await;
    assert_eq!(seen["members"][0]["username"], "bob", "nothing tells ann");
    let (s, _) = ann.post(&format!("/api/v1/threads/{to_bob}/messages"), json!({"text": "Hello?"})).await;
    assert_eq!(s, StatusCode::CREATED);
    assert!(thread_ids(&bob, true).await.is_empty(), "a declined thread stays out of his Requests");

    // Cat follows ann: straight into the inbox, unread until read.
    let (_, t) = write(&ann, &["cat"], "Hi Cat").await;
    let to_cat = t["id"].as_i64().unwrap();
    assert_eq!(thread_ids(&cat, false).await, [to_cat]);
    let (_, t) = cat.get(&format!("/api/v1/threads/{to_cat}")).await;
    assert_eq!((t["unread"].as_i64(), t["request"].as_bool()), (Some(1), Some(false)));
    let newest = t["last_message"]["id"].as_i64().unwrap();
    let (s, _) = cat.post(&format!("/api/v1/threads/{to_cat}/read"), json!({"up_to": newest})).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, t) = cat.get(&format!("/api/v1/threads/{to_cat}")).await;
    assert_eq!(t["unread"], 0);

    // Answering from Requests accepts: dan writes to ann, who answers.
    let dan = server.user("dan").await;
    let (_, t) = write(&dan, &["ann"], "Hi Ann").await;
    let from_dan = t["id"].as_i64().unwrap();
    assert_eq!(thread_ids(&ann, true).await, [from_dan]);
    ann.post(&format!("/api/v1/threads/{from_dan}/messages"), json!({"text": "Hi Dan"})).await;
    assert!(thread_ids(&ann, true).await.is_empty());
    assert!(thread_ids(&ann, false).await.contains(&from_dan));
}

#[tokio::test]
async fn blocks_stop_messages_and_hide_people_from_each_other_in_a_group() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    let dan = server.user("dan").await;
    let (_, t) = write(&ann, &["bob"], "Hi").await;
    let pair = t["id"].as_i64().unwrap();
    bob.block(&ann).await;
    let (s, b) = ann.post(&format!("/api/v1/threads/{pair}/messages"), json!({"text": "Hi again"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")));
    let (s, b) = write(&ann, &["bob"], "Hi again").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")));
    let (s, b) = write(&ann, &["cat", "bob"], "A group").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")), "nor add him to a group");
    let (s, b) = write(&bob, &["ann"], "Still here?").await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")), "the blocker cannot either");

    // In a group, cat blocks dan after it started: neither sees the other, nor the other's messages.
    let (s, g) = write(&ann, &["cat", "dan"], "Welcome both").await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = g["id"].as_i64().unwrap();
    cat.block(&dan).await;
    dan.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "From Dan"})).await;
    cat.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "From Cat"})).await;
    let members = |c: &Client| {
        let c = c.clone();
        async move {
            let (_, t) = c.get(&format!("/api/v1/threads/{group}")).await;
            let mut m: Vec<String> =
                t["members"].as_array().unwrap().iter().map(|u| u["username"].as_str().unwrap().to_string()).collect();
            m.sort();
            m
        }
    };
    assert_eq!(members(&cat).await, ["ann"]);
    assert_eq!(members(&dan).await, ["ann"]);
    assert_eq!(members(&ann).await, ["cat", "dan"]);
    assert_eq!(texts(&cat, group).await, ["From Cat", "Welcome both"]);
    assert_eq!(texts(&dan, group).await, ["From Dan", "Welcome both"]);
    assert_eq!(texts(&ann, group).await, ["From Cat", "From Dan", "Welcome both"]);
}

#[tokio::test]
async fn only_members_read_a_thread_a_group_left_is_a_404_and_only_ones_own_message_is_deleted() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let eve = server.user("eve").await;
    bob.follow(&ann).await;
    let (_, g) = write(&ann, &["bob", "eve"], "Group hello").await;
    let group = g["id"].as_i64().unwrap();
    let (_, pair) = write(&ann, &["bob"], "Just us").await;
    let pair = pair["id"].as_i64().unwrap();
    for path in [format!("/api/v1/threads/{pair}"), format!("/api/v1/threads/{pair}/messages")] {
        let (s, b) = eve.get(&path).await;
        assert_eq!(
            (s, b["error"]["message"].as_str()),
            (StatusCode::NOT_FOUND, Some("There is no such conversation."))
        );
    }
    let (s, _) = eve.get("/api/v1/threads/999999").await;
    assert_eq!(s, StatusCode::NOT_FOUND, "the same as one that never existed");
    let (s, _) = eve.post(&format!("/api/v1/threads/{pair}/messages"), json!({"text": "let me in"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = eve.post(&format!("/api/v1/threads/{pair}/leave"), json!({})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Eve leaves the group: it is a 404 to her from then on, and her place is gone.
    let (s, _) = eve.post_empty(&format!("/api/v1/threads/{group}/leave")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    ann.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "After Eve"})).await;
    let (s, _) = eve.get(&format!("/api/v1/threads/{group}/messages")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = eve.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "back?"})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (_, t) = ann.get(&format!("/api/v1/threads/{group}")).await;
    assert_eq!(t["members"].as_array().unwrap().len(), 1, "{t}");
    let (s, _) = bob.post_empty(&format!("/api/v1/threads/{pair}/leave")).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a thread of two is not left, only muted");

    // Deleting: one's own, for everyone; not another's.
    let (_, page) = bob.get(&format!("/api/v1/threads/{pair}/messages")).await;
    let anns = page["messages"][0]["id"].as_i64().unwrap();
    let (s, _) = bob.delete(&format!("/api/v1/messages/{anns}")).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _) = ann.delete(&format!("/api/v1/messages/{anns}")).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let (_, page) = bob.get(&format!("/api/v1/threads/{pair}/messages")).await;
    assert_eq!(
        (page["messages"][0]["deleted"].as_bool(), page["messages"][0]["text"].as_str()),
        (Some(true), Some(""))
    );

    // Muting takes the thread out of the count.
    ann.post(&format!("/api/v1/threads/{pair}/messages"), json!({"text": "ping"})).await;
    let mut stream = bob.stream().await;
    assert_eq!(stream.next_update().await["messages"]["unread_threads"], 2);
    bob.put(&format!("/api/v1/threads/{pair}/mute"), json!({"muted": true})).await;
    assert_eq!(stream.next_update().await["messages"]["unread_threads"], 1);
}

#[tokio::test]
async fn a_new_message_reaches_every_open_tab_of_each_member_at_once() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let mut tabs = [bob.stream().await, bob.stream().await];
    for tab in &mut tabs {
        assert_eq!(tab.next_update().await["messages"], json!({"unread_threads": 0, "requests": 0}));
    }
    write(&ann, &["bob"], "Knock knock").await;
    for tab in &mut tabs {
        assert_eq!(tab.next_update().await["messages"], json!({"unread_threads": 0, "requests": 1}));
    }
    bob.follow(&ann).await;
    let carl = server.user("carl").await;
    bob.follow(&carl).await;
    carl.follow(&bob).await;
    let (_, t) = write(&carl, &["bob"], "Hi").await;
    let id = t["id"].as_i64().unwrap();
    for tab in &mut tabs {
        let mut update = tab.next_update().await;
        while update["messages"]["unread_threads"] != 1 {
            update = tab.next_update().await;
        }
    }
    let (_, t) = bob.get(&format!("/api/v1/threads/{id}")).await;
    bob.post(&format!("/api/v1/threads/{id}/read"), json!({"up_to": t["last_message"]["id"]})).await;
    for tab in &mut tabs {
        let mut update = tab.next_update().await;
        while update["messages"]["unread_threads"] != 0 {
            update = tab.next_update().await;
        }
    }
}

/// The stream carries each message itself, so that an open conversation shows it without asking: each new
/// one once, a deletion as the message deleted, and nothing from a thread the person is not in or from
/// someone they blocked.
#[tokio::test]
async fn a_tab_is_told_each_new_and_deleted_message_once_and_nothing_it_may_not_read() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    let dan = server.user("dan").await;
    bob.follow(&ann).await;
    let mut tab = bob.stream().await;
    tab.next_update().await;
    let (_, t) = write(&ann, &["bob"], "One").await;
    let pair = t["id"].as_i64().unwrap();
    let one = tab.next_of("message").await;
    assert_eq!(
        (one["thread_id"].as_i64(), one["text"].as_str(), one["deleted"].as_bool()),
        (Some(pair), Some("One"), Some(false))
    );
    assert_eq!(one["sender"]["username"], "ann");
    let (s, two) = ann.post(&format!("/api/v1/threads/{pair}/messages"), json!({"text": "Two"})).await;
    assert_eq!(s, StatusCode::CREATED, "{two}");
    assert_eq!(tab.next_of("message").await["text"], "Two", "told once: One does not come again");
    let (s, _) = ann.delete(&format!("/api/v1/messages/{}", two["id"])).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let gone = tab.next_of("message").await;
    assert_eq!(
        (gone["id"].clone(), gone["deleted"].as_bool(), gone["text"].as_str()),
        (two["id"].clone(), Some(true), Some(""))
    );

    // Not bob's thread, and a group where bob blocked dan: neither reaches bob's tab.
    write(&cat, &["ann"], "Not for Bob").await;
    let (s, g) = write(&ann, &["bob", "dan"], "A group").await;
    assert_eq!(s, StatusCode::CREATED, "{g}");
    let group = g["id"].as_i64().unwrap();
    assert_eq!(tab.next_of("message").await["text"], "A group");
    bob.block(&dan).await;
    let (s, b) = dan.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "From Dan"})).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    ann.post(&format!("/api/v1/threads/{pair}/messages"), json!({"text": "Three"})).await;
    assert_eq!(tab.next_of("message").await["text"], "Three", "neither Cat's nor Dan's came before it");
}

#[tokio::test]
async fn messages_a_minute_and_conversations_with_strangers_an_hour_are_limited_whatever_the_thread() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let mut strangers = Vec::new();
    for i in 0..6 {
        strangers.push(server.user(&format!("stranger{i}")).await);
    }
    // Five new conversations an hour with people who do not follow ann; a sixth is refused.
    for s in &strangers[..5] {
        let (status, b) = write(&ann, &[s.username.as_str()], "Hi").await;
        assert_eq!(status, StatusCode::CREATED, "{b}");
    }
    let (s, b) = write(&ann, &["stranger5"], "Hi").await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_requests")));
    // Bypass: a group with a stranger in it is a conversation with a stranger too.
    let friend = server.user("friend").await;
    friend.follow(&ann).await;
    let (s, b) = write(&ann, &["friend", "stranger5"], "Hi both").await;
    assert_eq!((s, code(&b)), (StatusCode::TOO_MANY_REQUESTS, Some("too_many_requests")));
    // Writing again where one already is is no new conversation.
    let (s, _) = write(&ann, &["stranger0"], "Me again").await;
    assert_eq!(s, StatusCode::CREATED);

    // Thirty messages a minute, counted across every thread (spreading them is no way round), and deleting
    // them gives none back. Six have gone out above.
    let (_, t) = write(&ann, &["friend"], "To a friend").await;
    let to_friend = t["id"].as_i64().unwrap();
    let mut sent = 7;
    let mut refused = None;
    for i in 0..40 {
        let (s, b) = if i % 2 == 0 {
            ann.post(&format!("/api/v1/threads/{to_friend}/messages"), json!({"text": format!("m{i}")})).await
        } else {
            write(&ann, &["stranger1"], &format!("m{i}")).await
        };
        if s == StatusCode::TOO_MANY_REQUESTS {
            refused = Some(code(&b).map(str::to_string));
            break;
        }
        let id = if i % 2 == 0 { b["id"].as_i64() } else { b["last_message"]["id"].as_i64() };
        ann.delete(&format!("/api/v1/messages/{}", id.unwrap())).await;
        sent += 1;
    }
    assert_eq!((sent, refused), (30, Some(Some("too_many_messages".to_string()))));
}

#[tokio::test]
async fn a_reported_message_reaches_the_admins_with_ten_around_it_and_a_deleted_account_leaves_a_stand_in() {
    let server = TestServer::start().await;
    let operator = server.admin().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    bob.follow(&ann).await;
    let (_, t) = write(&ann, &["bob"], "m0").await;
    let thread = t["id"].as_i64().unwrap();
    let mut ids = vec![t["last_message"]["id"].as_i64().unwrap()];
    for i in 1..=20 {
        let (_, m) = ann.post(&format!("/api/v1/threads/{thread}/messages"), json!({"text": format!("m{i}")})).await;
        ids.push(m["id"].as_i64().unwrap());
    }
    let report = |who: &Client, id: i64| {
        let who = who.clone();
        async move { who.post(&format!("/api/v1/messages/{id}/reports"), json!({"reason": "harassment"})).await }
    };
    let (s, b) = report(&bob, ids[10]).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    let (_, again) = report(&bob, ids[10]).await;
    assert_eq!(again["id"], b["id"]);
    let (s, _) = report(&ann, ids[10]).await;
    assert_eq!(s, StatusCode::BAD_REQUEST, "not one's own");
    let eve = server.user("eve").await;
    let (s, _) = report(&eve, ids[10]).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "only a message one can read");
    // Deleted after the report, it stays as written for the admins.
    ann.delete(&format!("/api/v1/messages/{}", ids[10])).await;
    let (s, detail) = operator.get(&format!("/api/v1/admin/reports/{}", b["id"])).await;
    assert_eq!(s, StatusCode::OK, "{detail}");
    assert_eq!(detail["report"]["message_id"].as_i64(), Some(ids[10]));
    assert_eq!(detail["report"]["target"]["username"], "ann");
    let context: Vec<&str> = detail["chat"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    let expected: Vec<String> = (0..=20).map(|i| format!("m{i}")).collect();
    assert_eq!(context, expected);

    // Bob's export holds the conversation and what he wrote.
    bob.post(&format!("/api/v1/threads/{thread}/messages"), json!({"text": "Bob's reply"})).await;
    let (_, export) = bob.get("/api/v1/account/export").await;
    assert_eq!(export["threads"][0]["id"].as_i64(), Some(thread));
    let mine: Vec<&str> =
        export["private_messages"].as_array().unwrap().iter().map(|m| m["text"].as_str().unwrap()).collect();
    assert_eq!(mine, ["Bob's reply"]);

    // Ann deletes her account: her messages go (the reported one stays for the admins, deleted), the thread
    // shows a stand-in, and nobody can write to it.
    let (s, b) = ann.post("/api/v1/account/delete", json!({"password": "ann-password"})).await;
    assert!(s.is_success(), "{b}");
    let (_, t) = bob.get(&format!("/api/v1/threads/{thread}")).await;
    assert_eq!(t["members"][0]["display_name"], "Deleted account");
    let (_, page) = bob.get(&format!("/api/v1/threads/{thread}/messages")).await;
    let left: Vec<(&str, bool)> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["text"].as_str().unwrap(), m["deleted"].as_bool().unwrap()))
        .collect();
    assert_eq!(left, [("Bob's reply", false), ("", true)]);
    let (s, b) = bob.post(&format!("/api/v1/threads/{thread}/messages"), json!({"text": "Hello?"})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("frozen")));
}

/// Subscribes `who` to web push at `{origin}/push/{name}`; returns the browser's key and secret.
async fn subscribe(who: &Client, origin: &str, name: &str) -> (web_push_native::p256::SecretKey, [u8; 16]) {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let ua = web_push_native::p256::SecretKey::from_slice(&secret).unwrap();
    let mut auth = [0u8; 16];
    getrandom::fill(&mut auth).unwrap();
    let sub = json!({"endpoint": format!("{origin}/push/{name}"),
        "keys": {"p256dh": URL_SAFE_NO_PAD.encode(ua.public_key().to_sec1_bytes()), "auth": URL_SAFE_NO_PAD.encode(auth)}});
    let (s, b) = who.post("/api/v1/push/subscriptions", sub).await;
    assert_eq!(s, StatusCode::CREATED, "{b}");
    (ua, auth)
}

#[tokio::test]
async fn a_message_is_pushed_to_those_with_no_tab_open_who_did_not_mute_it() {
    let (origin, service) = crate::notifications::push_service().await;
    let dir = tempfile::tempdir().unwrap();
    let mut config = common::test_config(dir.path());
    config.push_origins = vec![origin.clone()];
    let server = TestServer::start_with(dir, config).await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let cat = server.user("cat").await;
    subscribe(&bob, &origin, "bob").await;
    let (cat_key, cat_auth) = subscribe(&cat, &origin, "cat").await;
    let wait_for = |n: usize| {
        let service = service.clone();
        async move {
            loop {
                if service.got.lock().unwrap().len() >= n {
                    return;
                }
                tokio::time::timeout(common::EVENT_TIMEOUT, service.arrived.notified()).await.expect("a push arrives");
            }
        }
    };
    // Bob has a tab open: the group's message reaches him there, and is pushed to cat alone.
    let mut tab = bob.stream().await;
    tab.next_update().await;
    let (_, g) = write(&ann, &["bob", "cat"], "Hello both").await;
    let group = g["id"].as_i64().unwrap();
    wait_for(1).await;
    let (_, body) = service.got.lock().unwrap()[0].clone();
    let plain = web_push_native::decrypt(body.to_vec(), &cat_key, web_push_native::Auth::from_slice(&cat_auth))
        .expect("for cat");
    let payload: Value = serde_json::from_slice(&plain).unwrap();
    assert_eq!((payload["body"].as_str(), payload["kind"].as_str()), (Some("Ann: Hello both"), Some("message")));
    assert_eq!(payload["link"], format!("/messages/{group}"));
    // Cat mutes the group; then a message to cat alone. The pushes go out in order, one batch after another:
    // when this one arrives, nothing more came of the group's (not to bob, whose tab was open), and the muted
    // group's next message is pushed to no one.
    cat.put(&format!("/api/v1/threads/{group}/mute"), json!({"muted": true})).await;
    ann.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "Muted for cat"})).await;
    write(&ann, &["cat"], "Just you").await;
    wait_for(2).await;
    let got = service.got.lock().unwrap().clone();
    assert_eq!(got.len(), 2, "nothing to bob (a tab open), nothing of the muted group");
    let plain =
        web_push_native::decrypt(got[1].1.to_vec(), &cat_key, web_push_native::Auth::from_slice(&cat_auth)).unwrap();
    assert_eq!(serde_json::from_slice::<Value>(&plain).unwrap()["body"], "Ann: Just you");
    drop(tab);
}

#[tokio::test]
async fn people_added_to_a_group_read_only_what_comes_after_and_blocks_and_size_hold() {
    let server = TestServer::start().await;
    let ann = server.user("ann").await;
    let bob = server.user("bob").await;
    let _cat = server.user("cat").await;
    let dan = server.user("dan").await;
    let (_, g) = write(&ann, &["bob"], "Before").await;
    let (s, _) = ann.post(&format!("/api/v1/threads/{}/members", g["id"]), json!({"usernames": ["cat"]})).await;
    assert_eq!(s, StatusCode::NOT_FOUND, "a thread of two takes no one more");
    let (_, g) = write(&ann, &["bob", "cat"], "Before Dan").await;
    let group = g["id"].as_i64().unwrap();
    dan.block(&ann).await;
    let (s, b) = ann.post(&format!("/api/v1/threads/{group}/members"), json!({"usernames": ["dan"]})).await;
    assert_eq!((s, code(&b)), (StatusCode::FORBIDDEN, Some("blocked")));
    dan.delete("/api/v1/users/ann/block").await;
    let (s, _) = bob.post(&format!("/api/v1/threads/{group}/members"), json!({"usernames": ["dan"]})).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "any member adds");
    assert_eq!(thread_ids(&dan, true).await, [group], "dan does not follow bob: Requests");
    assert!(texts(&dan, group).await.is_empty(), "nothing from before he came");
    ann.post(&format!("/api/v1/threads/{group}/messages"), json!({"text": "Welcome Dan"})).await;
    assert_eq!(texts(&dan, group).await, ["Welcome Dan"]);
    let (s, _) = dan.post(&format!("/api/v1/threads/{group}/members"), json!({"usernames": ["nobody_here"]})).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    // Ten at most.
    let mut more = Vec::new();
    for i in 0..7 {
        more.push(server.user(&format!("extra{i}")).await.username);
    }
    let (s, b) = ann.post(&format!("/api/v1/threads/{group}/members"), json!({"usernames": more})).await;
    assert_eq!((s, code(&b)), (StatusCode::CONFLICT, Some("group_full")));
    let (_, t) = ann.get(&format!("/api/v1/threads/{group}")).await;
    assert_eq!(t["members"].as_array().unwrap().len(), 3, "nothing changed");
}
