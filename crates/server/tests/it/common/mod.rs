//! The shared harness: a real server on port 0 with a fresh data folder, HTTP clients signed in as users,
//! and WebSocket clients joined to rooms.

#![allow(dead_code)]

use futures_util::{SinkExt, StreamExt};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::time::Duration;
use stoa_server::{Running, ServerConfig};
use stoa_store::Store;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

/// How long a test waits for an event before failing. Generous, because CI machines are shared; a test
/// never sleeps this long unless something is broken.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(10);

pub struct TestServer {
    pub running: Option<Running>,
    pub base: String,
    pub dir: tempfile::TempDir,
    pub config: ServerConfig,
    /// A many-use invite, made the way `stoa admin invite` makes one.
    pub invite: String,
}

pub fn test_config(dir: &std::path::Path) -> ServerConfig {
    ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        data: dir.to_path_buf(),
        // Postgres when the test command runs the suite a second time against it (scripts/with-postgres).
        database: stoa_store::test_database(),
        // Tests sign up many users from one address; the rate-limit test sets its own limits.
        auth_attempts_per_ip: 10_000,
        auth_attempts_per_user: 10_000,
        // The limits on costly writes have tests of their own.
        rooms_per_hour: 10_000,
        live_rooms_per_account: 10_000,
        invitations_per_hour: 100_000,
        media_udp: "127.0.0.1:0".parse().unwrap(),
        ..ServerConfig::default()
    }
}

impl TestServer {
    pub async fn start() -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let config = test_config(dir.path());
        TestServer::start_with(dir, config).await
    }

    pub async fn start_with(dir: tempfile::TempDir, config: ServerConfig) -> TestServer {
        let running = stoa_server::start(config.clone()).await.expect("server starts");
        let base = format!("http://{}", running.addr);
        let store = stoa_store::open(&config.data, config.database.as_deref()).await.unwrap();
        let invite = store.create_admin_invite(10_000).await.unwrap();
        TestServer { running: Some(running), base, dir, config, invite }
    }

    /// The server's store, opened beside it as `stoa admin` would.
    pub async fn store(&self) -> std::sync::Arc<dyn Store> {
        stoa_store::open(&self.config.data, self.config.database.as_deref()).await.unwrap()
    }

    pub async fn stop(&mut self) {
        self.running.take().unwrap().stop().await.unwrap();
    }

    /// Signs up a user with the harness's many-use invite. The password is the username followed by `-password`.
    pub async fn user(&self, username: &str) -> Client {
        let (status, body) = post(&self.base, None, "/api/v1/auth/signup", json!({
            "invite": self.invite, "username": username, "display_name": display(username), "password": format!("{username}-password"),
        }))
        .await;
        assert_eq!(status, StatusCode::CREATED, "sign-up of {username}: {body}");
        Client {
            base: self.base.clone(),
            token: body["token"].as_str().unwrap().to_string(),
            id: body["user"]["id"].as_i64().unwrap(),
            username: username.into(),
        }
    }

    /// Signs up the server's admin with the bootstrap invite (the first account the server printed a link
    /// for). Call it once per server, before any other sign-up.
    pub async fn admin(&self) -> Client {
        let store = self.store().await;
        let code = store.bootstrap_invite().await.unwrap().expect("the bootstrap invite is unused");
        let (status, body) = post(
            &self.base,
            None,
            "/api/v1/auth/signup",
            json!({
                "invite": code, "username": "operator", "display_name": "Operator", "password": "operator-password",
            }),
        )
        .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        assert_eq!(body["user"]["is_admin"], true);
        Client {
            base: self.base.clone(),
            token: body["token"].as_str().unwrap().to_string(),
            id: body["user"]["id"].as_i64().unwrap(),
            username: "operator".into(),
        }
    }

    /// Creates a room as `owner` and joins it over the WebSocket.
    pub async fn room(&self, owner: &Client, visibility: &str, invited: &[&str]) -> (String, Ws) {
        let (status, body) = owner
            .post(
                "/api/v1/rooms",
                json!({"title": format!("{}'s room", owner.username), "visibility": visibility, "invited": invited}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{body}");
        let id = body["id"].as_str().unwrap().to_string();
        let mut ws = owner.join(&id).await.expect("the creator joins their room");
        ws.expect("joined").await;
        (id, ws)
    }
}

pub fn display(username: &str) -> String {
    let mut c = username.chars();
    c.next().map(|f| f.to_uppercase().chain(c).collect()).unwrap_or_default()
}

pub async fn request(
    base: &str,
    token: Option<&str>,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = reqwest::Client::new().request(method, format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.expect("request is answered");
    let status = resp.status();
    let text = resp.text().await.unwrap();
    let value = if text.is_empty() {
        Value::Null
    } else {
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
    };
    (status, value)
}

pub async fn post(base: &str, token: Option<&str>, path: &str, body: Value) -> (StatusCode, Value) {
    request(base, token, reqwest::Method::POST, path, Some(body)).await
}

/// A signed-in user.
#[derive(Clone)]
pub struct Client {
    pub base: String,
    pub token: String,
    pub id: i64,
    pub username: String,
}

impl Client {
    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::GET, path, None).await
    }
    pub async fn post(&self, path: &str, body: Value) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::POST, path, Some(body)).await
    }
    pub async fn post_empty(&self, path: &str) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::POST, path, None).await
    }
    pub async fn delete(&self, path: &str) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::DELETE, path, None).await
    }
    pub async fn put(&self, path: &str, body: Value) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::PUT, path, Some(body)).await
    }
    pub async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        request(&self.base, Some(&self.token), reqwest::Method::PATCH, path, Some(body)).await
    }
    pub async fn follow(&self, other: &Client) {
        let (s, b) = self.post_empty(&format!("/api/v1/users/{}/follow", other.username)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    pub async fn block(&self, other: &Client) {
        let (s, b) = self.post_empty(&format!("/api/v1/users/{}/block", other.username)).await;
        assert_eq!(s, StatusCode::OK, "{b}");
    }
    /// The IDs of the rooms in this user's hallway, in order.
    pub async fn hallway(&self) -> Vec<String> {
        let (s, b) = self.get("/api/v1/rooms").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["rooms"].as_array().unwrap().iter().map(|r| r["id"].as_str().unwrap().to_string()).collect()
    }
    /// Opens the room's WebSocket; a refused join is the HTTP status and error body.
    pub async fn join(&self, room: &str) -> Result<Ws, (StatusCode, Value)> {
        self.join_with_receive_buffer(room, None).await
    }

    /// Like `join`, with the socket's kernel receive buffer set (small, to play a slow client).
    pub async fn join_with_receive_buffer(&self, room: &str, buffer: Option<u32>) -> Result<Ws, (StatusCode, Value)> {
        let url = format!("{}/api/v1/rooms/{room}/ws", self.base.replacen("http", "ws", 1));
        let mut req = url.into_client_request().unwrap();
        req.headers_mut().insert("authorization", format!("Bearer {}", self.token).parse().unwrap());
        let addr: std::net::SocketAddr = self.base.trim_start_matches("http://").parse().unwrap();
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        if let Some(size) = buffer {
            socket.set_recv_buffer_size(size).unwrap();
        }
        let tcp = socket.connect(addr).await.unwrap();
        match tokio_tungstenite::client_async(req, tokio_tungstenite::MaybeTlsStream::Plain(tcp)).await {
            Ok((stream, _)) => Ok(Ws { stream }),
            Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => {
                let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
                let body = resp.body().as_ref().map(|b| serde_json::from_slice(b).unwrap()).unwrap_or(Value::Null);
                Err((status, body))
            }
            Err(e) => panic!("WebSocket failed: {e}"),
        }
    }
}

/// A joined room's WebSocket.
pub struct Ws {
    pub stream: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
}

impl Ws {
    pub async fn send(&mut self, command: Value) {
        self.stream.send(Message::Text(command.to_string().into())).await.unwrap();
    }

    pub async fn send_raw(&mut self, text: &str) {
        self.stream.send(Message::Text(text.into())).await.unwrap();
    }

    /// The next event, or None when the socket closed.
    pub async fn next(&mut self) -> Option<Value> {
        loop {
            let msg = tokio::time::timeout(EVENT_TIMEOUT, self.stream.next()).await.expect("an event arrives in time");
            match msg {
                Some(Ok(Message::Text(t))) => return Some(serde_json::from_str(&t).unwrap()),
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => return None,
                Some(Ok(_)) => continue,
            }
        }
    }

    /// Waits for an event of this type, skipping others (audience counts, stage changes...).
    pub async fn expect(&mut self, kind: &str) -> Value {
        loop {
            match self.next().await {
                Some(ev) if ev["type"] == kind => return ev,
                Some(_) => continue,
                None => panic!("socket closed while waiting for {kind}"),
            }
        }
    }

    /// Waits for the socket to close, returning the events before it.
    pub async fn closed(&mut self) -> Vec<Value> {
        let mut events = vec![];
        while let Some(ev) = self.next().await {
            events.push(ev);
        }
        events
    }

    /// Sends a command with an id, and returns the error it caused, skipping other events; a ping after it
    /// proves the absence of an error when there is none.
    pub async fn command_error(&mut self, command: Value) -> Option<String> {
        let mut command = command;
        command["id"] = json!(99);
        self.send(command).await;
        self.send(json!({"type": "ping"})).await;
        let mut error = None;
        loop {
            let ev = self.next().await.expect("socket open");
            if ev["type"] == "error" && ev["id"] == 99 {
                error = Some(ev["code"].as_str().unwrap().to_string());
            }
            if ev["type"] == "pong" {
                return error;
            }
        }
    }
}

/// The live notification stream (Server-Sent Events) of a user.
pub struct Stream {
    resp: reqwest::Response,
    buf: String,
}

impl Stream {
    /// Reads the stream to its end, and gives the data of its last event of kind `kind`, if any.
    pub async fn last_before_end(&mut self, kind: &str) -> Option<Value> {
        let mut last = None;
        loop {
            while let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let data: String = frame.lines().filter_map(|l| l.strip_prefix("data:")).map(str::trim_start).collect();
                if frame.lines().any(|l| l == format!("event: {kind}")) {
                    last = serde_json::from_str(&data).ok();
                }
            }
            let chunk = tokio::time::timeout(EVENT_TIMEOUT, self.resp.chunk()).await.expect("the stream ends in time");
            match chunk {
                Ok(Some(chunk)) => self.buf.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return last,
            }
        }
    }

    /// The next `update` event's data.
    pub async fn next_update(&mut self) -> Value {
        self.next_of("update").await
    }

    /// The next event of kind `kind`'s data (events of other kinds are passed over).
    pub async fn next_of(&mut self, kind: &str) -> Value {
        loop {
            if let Some(end) = self.buf.find("\n\n") {
                let frame: String = self.buf.drain(..end + 2).collect();
                let data: String = frame
                    .lines()
                    .filter_map(|l| l.strip_prefix("data:"))
                    .map(|d| d.trim_start())
                    .collect::<Vec<_>>()
                    .join("\n");
                if frame.lines().any(|l| l == format!("event: {kind}")) && !data.is_empty() {
                    return serde_json::from_str(&data).unwrap();
                }
                continue;
            }
            let chunk = tokio::time::timeout(EVENT_TIMEOUT, self.resp.chunk())
                .await
                .expect("a stream event arrives in time")
                .expect("the stream reads")
                .expect("the stream stays open");
            self.buf.push_str(&String::from_utf8_lossy(&chunk));
        }
    }
}

impl Client {
    /// Opens the notification stream; its first update is the state now.
    pub async fn stream(&self) -> Stream {
        let resp = reqwest::Client::new()
            .get(format!("{}/api/v1/notifications/stream", self.base))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        assert!(resp.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
        Stream { resp, buf: String::new() }
    }

    /// The user's notifications, newest first.
    pub async fn notifications(&self) -> Vec<Value> {
        let (s, b) = self.get("/api/v1/notifications?limit=200").await;
        assert_eq!(s, StatusCode::OK, "{b}");
        b["notifications"].as_array().unwrap().clone()
    }

    /// Waits (on the live stream) until a notification of `kind` that `matches` is there, and returns it.
    pub async fn wait_for_notification(&self, kind: &str, matches: impl Fn(&Value) -> bool) -> Value {
        let mut stream = self.stream().await;
        loop {
            stream.next_update().await;
            if let Some(n) = self.notifications().await.into_iter().find(|n| n["kind"] == kind && matches(n)) {
                return n;
            }
        }
    }
}

static MARKERS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);

impl TestServer {
    /// Waits until every notification job queued before now has been carried out for `user`: a fresh user
    /// follows them, and the `followed` notification that makes, which the single notification worker
    /// stores after every earlier job, arrives.
    pub async fn settle(&self, user: &Client) {
        let n = MARKERS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let marker = self.user(&format!("marker{n}")).await;
        marker.follow(user).await;
        let id = marker.id;
        user.wait_for_notification("followed", |n| n["actor"]["id"] == id).await;
    }
}
