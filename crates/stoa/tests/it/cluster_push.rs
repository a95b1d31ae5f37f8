//! A private message's web push on a cluster: held until the other nodes say whether a tab is open there.

use super::{WAIT, nats, node_with, via};
use serde_json::json;
use std::time::{Duration, Instant};
use stoa_client::Api;
use stoa_server::ServerConfig;

/// A web push endpoint that keeps the paths it was sent to, and says when one comes.
async fn push_endpoint() -> (String, std::sync::Arc<(std::sync::Mutex<Vec<String>>, tokio::sync::Notify)>) {
    let got = std::sync::Arc::new((std::sync::Mutex::new(Vec::new()), tokio::sync::Notify::new()));
    let seen = got.clone();
    let app = axum::Router::new().route(
        "/push/{name}",
        axum::routing::post(move |axum::extract::Path(name): axum::extract::Path<String>| {
            let seen = seen.clone();
            async move {
                seen.0.lock().unwrap().push(name);
                seen.1.notify_one();
                axum::http::StatusCode::CREATED
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (origin, got)
}

/// A private message's push is never sent to someone with a tab open, even on another node: the node that
/// took the message holds the push until the others answer its wake. Bea writes through B to a group of
/// Eve, whose tab is open on C, and Dee, who has none; Dee's push is the event to wait for (one push for
/// both, filtered at once), and Eve's never comes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_is_not_pushed_to_someone_whose_tab_is_open_on_another_node() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let nats = nats();
    let dir = tempfile::tempdir().unwrap();
    let (origin, got) = push_endpoint().await;
    let with_push = |c: &mut ServerConfig| c.push_origins = vec![origin.clone()];
    let b = node_with("b", &database, &nats.url, dir.path(), with_push).await;
    let c = node_with("c", &database, &nats.url, dir.path(), with_push).await;
    let (base_b, base_c) = (format!("http://{}", b.addr), format!("http://{}", c.addr));
    let bootstrap = b.bootstrap_invite.clone().unwrap();
    let admin =
        Api::sign_up(&base_b, bootstrap.rsplit('/').next().unwrap(), "operator", "operator-password").await.unwrap();
    let store = stoa_store::open(dir.path(), Some(&database)).await.unwrap();
    let invite = store.create_admin_invite(10).await.unwrap();
    let mut people = Vec::new();
    for name in ["bea", "dee", "eve"] {
        people.push(Api::sign_up(&base_b, &invite, name, &format!("{name}-password")).await.unwrap());
    }
    let [bea, dee, eve]: [Api; 3] = people.try_into().unwrap();
    for (who, name) in [(&dee, "dee"), (&eve, "eve")] {
        let sub = json!({"endpoint": format!("{origin}/push/{name}"), "keys": {
            "p256dh": "BGsX0fLhLEJH-Lzm5WOkQPJ3A32BLeszoPShOUXYmMKWT-NC4v4af5uO5-tKfA-eFivOM1drMV7Oy7ZAaDe_UfU",
            "auth": "AAECAwQFBgcICQoLDA0ODw"}});
        who.post("/api/v1/push/subscriptions", sub).await.unwrap();
    }
    // The two nodes hear each other.
    let deadline = Instant::now() + WAIT;
    while via(&admin, &c).get("/healthz").await.unwrap()["cluster"]["nodes"].as_array().map_or(0, |n| n.len()) < 2 {
        assert!(Instant::now() < deadline, "the nodes never heard each other");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let mut tab = reqwest::Client::new()
        .get(format!("{base_c}/api/v1/notifications/stream"))
        .bearer_auth(&eve.token)
        .send()
        .await
        .unwrap();
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        seen.push_str(&String::from_utf8_lossy(&tab.chunk().await.unwrap().unwrap()));
    }
    bea.post("/api/v1/threads", json!({"usernames": ["eve", "dee"], "text": "To you both"})).await.unwrap();
    tokio::time::timeout(WAIT, async {
        while got.0.lock().unwrap().is_empty() {
            got.1.notified().await;
        }
    })
    .await
    .expect("Dee, with no tab open, gets a push");
    assert_eq!(*got.0.lock().unwrap(), ["dee"], "Eve's tab is open on C: no push for her");
    drop(tab);
}
