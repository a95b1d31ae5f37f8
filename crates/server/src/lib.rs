//! Stoa's control plane: the HTTP API and the room WebSockets, over `stoa-live` (one task per live room)
//! and, with `--nats`, `stoa-cluster`.
//!
//! [`start`] opens the store, binds the HTTP listener and serves [`app`]. Requests reach rooms through the
//! [`live::Directory`]; each live room is owned by its task, which drives a sans-IO [`stoa_room::Room`].
//! The modules of `stoa-live` are re-exported here under their own names.

#![deny(missing_docs)]

pub use stoa_cluster as cluster;
pub use stoa_live::{clock, live, notify, outbound, random, revoke, turn, webhooks};

pub mod acme;
pub mod auth;
pub mod client_ip;
pub mod community;
mod config;
pub mod error;
pub mod ical;
pub mod limits;
pub mod metrics;
pub mod origin;
pub mod recordings;
pub mod routes;
mod state;
pub mod tls;
pub mod visibility;

use crate::error::ApiError;
use crate::limits::RateLimiter;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
pub use config::{CertificateSource, ServerConfig, TlsConfig};
pub use state::{AppState, AppStateInner};
use std::future::IntoFuture;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use stoa_store::StoreError;
use thiserror::Error;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// Brings a room back from its lasting state and starts it on this node: after a restart, or when this node
/// takes over the room of a node that stopped. False if the state was never written or cannot be read.
fn bring_back(state: &AppState, id: stoa_proto::RoomId, lasting: Option<String>) -> bool {
    let room_config =
        stoa_room::RoomConfig { capacity: state.live.room_capacity(), reconnect_grace: state.config.reconnect_grace };
    let lasting = lasting.and_then(|json| serde_json::from_str::<stoa_room::Lasting>(&json).ok());
    let room =
        lasting.and_then(|l| stoa_room::Room::restore(std::time::Instant::now(), id.clone(), l, room_config.clone()));
    let Some(room) = room else { return false };
    live::spawn_room(
        room,
        id,
        state.store.clone(),
        state.rooms.clone(),
        state.sfu.clone(),
        state.room_settings(),
        state.metrics.rooms.clone(),
    );
    true
}

/// Brings back the rooms a previous run left live (after a crash or a restart), each empty, with its stage's
/// places kept for the reconnect grace; a room whose state was never written, or cannot be read, is ended.
async fn restore_rooms(state: &AppState, unended: Vec<(stoa_proto::RoomId, Option<String>)>) -> Result<(), StoreError> {
    let (mut restored, mut ended) = (0, 0);
    for (id, lasting) in unended {
        if bring_back(state, id.clone(), lasting) {
            restored += 1;
        } else {
            state.store.end_room(&id).await?;
            ended += 1;
        }
    }
    if restored + ended > 0 {
        tracing::info!(restored, ended, "rooms the previous run left live");
    }
    Ok(())
}

/// The TURN servers' addresses, so that the media plane can count the peers it reaches through them. A
/// name that does not resolve now is left out (its peers count as UDP).
async fn turn_ips(turn: Option<&turn::TurnConfig>) -> Vec<std::net::IpAddr> {
    let mut ips = Vec::new();
    for url in turn.map(|t| t.urls.as_slice()).unwrap_or_default() {
        let Some((host, port)) = turn::host_and_port(url) else { continue };
        match tokio::net::lookup_host((host.as_str(), port)).await {
            Ok(addrs) => ips.extend(addrs.map(|a| a.ip())),
            Err(e) => tracing::warn!(%url, error = %e, "cannot resolve a TURN server"),
        }
    }
    ips.sort();
    ips.dedup();
    ips
}

/// The whole HTTP application. `private` is what only some routes hold.
pub fn app(state: AppState, private: &routes::Private) -> Router {
    let max_body = state.config.max_body_bytes;
    let origins = Arc::new(origin::Origins::new(&state.public_url, state.config.public_url.is_some()));
    let csp = axum::http::HeaderValue::from_str(&routes::web::csp(&state.public_url))
        .unwrap_or(axum::http::HeaderValue::from_static("default-src 'self'"));
    Router::new()
        .merge(routes::meta::router())
        .merge(routes::openapi::router())
        .merge(routes::accounts::router())
        .merge(routes::account::router())
        .merge(routes::admin::router())
        .merge(routes::moderation::router())
        .merge(routes::tokens::router())
        .merge(routes::users::router())
        .merge(routes::rooms::router())
        .merge(routes::events::router())
        .merge(routes::clubs::router())
        .merge(routes::backchannel::router())
        .merge(routes::club_admin::router())
        .merge(routes::avatars::router(private.avatar_pool.clone()))
        .merge(routes::notifications::router())
        .merge(routes::search::router())
        .merge(routes::share::router())
        .merge(routes::egress::router())
        .merge(routes::transcripts::router())
        .merge(routes::restream::router())
        .merge(routes::webrtc::router(private.http_peers.clone()))
        .merge(routes::webhooks::router())
        .fallback(
            move |State(state): axum::extract::State<AppState>,
                  method: axum::http::Method,
                  uri: axum::http::Uri,
                  headers: axum::http::HeaderMap| async move {
                if method != axum::http::Method::GET && method != axum::http::Method::HEAD {
                    return ApiError::not_found("There is nothing at this address.").into_response();
                }
                // An open room's or event's page unfolds in chat apps: its tags are rendered here, in the
                // language the app (or the person) asks for.
                let lang = headers
                    .get(axum::http::header::ACCEPT_LANGUAGE)
                    .and_then(|v| v.to_str().ok())
                    .map_or(stoa_live::texts::Lang::En, stoa_live::texts::Lang::from_accept_language);
                let tags = routes::share::meta_tags(&state, uri.path(), lang).await;
                routes::web::serve(&uri, tags.as_deref(), &csp)
                    .unwrap_or_else(|| ApiError::not_found("There is nothing at this address.").into_response())
            },
        )
        .method_not_allowed_fallback(|| async {
            ApiError::new(
                StatusCode::METHOD_NOT_ALLOWED,
                "method_not_allowed",
                "This address does not take that method.",
            )
        })
        .layer(axum::middleware::from_fn_with_state(origins, origin::guard))
        .layer(axum::middleware::from_fn_with_state(state.clone(), metrics::count_requests))
        .layer(axum::middleware::map_response(json_errors))
        .layer(DefaultBodyLimit::max(max_body))
        .with_state(state)
}

/// Extractors other than ours (paths, query strings) answer errors in plain text. This rewrites any error
/// that is not already JSON into the API's error shape, keeping the status and axum's explanation (which
/// names the parameter and the problem, never internals).
async fn json_errors(response: Response) -> Response {
    let status = response.status();
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if !(status.is_client_error() || status.is_server_error()) || is_json {
        return response;
    }
    let code = match status {
        StatusCode::BAD_REQUEST => "bad_request",
        StatusCode::NOT_FOUND => "not_found",
        StatusCode::PAYLOAD_TOO_LARGE => "body_too_large",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "unsupported_media_type",
        StatusCode::UPGRADE_REQUIRED => "websocket_required",
        s if s.is_server_error() => return ApiError::internal(format!("plain {s} response")).into_response(),
        _ => "bad_request",
    };
    let text = axum::body::to_bytes(response.into_body(), 1024).await.unwrap_or_default();
    let mut message = String::from_utf8_lossy(&text).trim().to_string();
    if message.is_empty() || message.len() > 300 {
        message = status.canonical_reason().unwrap_or("Bad request").to_string();
    }
    if !message.ends_with('.') {
        message.push('.');
    }
    let mut out = ApiError::new(status, code, message).into_response();
    *out.status_mut() = status;
    out
}

/// Why the server could not start.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum StartError {
    /// The data folder could not be created.
    #[error("cannot create the data folder {0}: {1}")]
    DataDir(PathBuf, std::io::Error),
    /// The database (named: the data folder's SQLite, or the Postgres URL without its password) could not be
    /// opened, reached or migrated.
    #[error("cannot open the database {0}: {1}")]
    OpenStore(String, StoreError),
    /// The database failed while the server started.
    #[error("the database failed: {0}")]
    Store(#[from] StoreError),
    /// The HTTP address could not be bound.
    #[error("cannot listen on {0}: {1}")]
    Bind(SocketAddr, std::io::Error),
    /// The cluster could not be joined.
    #[error("cannot join the cluster: {0}")]
    Cluster(#[from] cluster::ClusterError),
    /// A cluster needs a store all its nodes share.
    #[error("a cluster keeps its data in Postgres: give --database postgres://... with --nats")]
    ClusterNeedsPostgres,
    /// The media plane could not start (its UDP address could not be bound, or a shard not started).
    #[error("cannot start the media plane: {0}")]
    Media(#[from] stoa_sfu::SfuError),
    /// The HTTPS certificate could not be used.
    #[error("cannot serve HTTPS: {0}")]
    Tls(#[from] tls::TlsError),
    /// No certificate could be had from the ACME CA.
    #[error("cannot get a certificate: {0}")]
    Acme(#[from] acme::AcmeError),
    /// A setting cannot be used as given.
    #[error("{0}")]
    Config(String),
}

/// A server that is running.
pub struct Running {
    /// Where the product is served: the HTTPS address with TLS, the HTTP address without.
    pub addr: SocketAddr,
    /// With TLS, where plain HTTP answers ACME challenges and redirects to HTTPS.
    pub http_addr: Option<SocketAddr>,
    /// Where `/metrics` is served, when it is.
    pub metrics_addr: Option<SocketAddr>,
    /// Where media (UDP) is received.
    pub media_addr: SocketAddr,
    /// Where ICE-TCP listens, when it does.
    pub media_tcp_addr: Option<SocketAddr>,
    rooms: live::Directory,
    /// The base URL of links.
    pub public_url: String,
    /// On a database with no account yet, the one-time admin invite URL.
    pub bootstrap_invite: Option<String>,
    shutdown: watch::Sender<bool>,
    task: JoinHandle<std::io::Result<()>>,
    /// Tasks that run as long as the server (certificate renewal), stopped with it.
    background: Vec<JoinHandle<()>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

impl Running {
    /// Stops accepting requests, lets those in flight finish, and waits for the server to stop.
    pub async fn stop(mut self) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// A graceful stop before a restart: `/readyz` turns false, every room's participants are told the
    /// server is restarting (with a suggested delay before they reconnect), their events get a moment to
    /// leave, and the server stops. Rooms' lasting state is already in the store (written through), so
    /// they come back with the next start.
    pub async fn restart_stop(mut self, retry_after: Duration) -> std::io::Result<()> {
        let _ = self.shutdown.send(true);
        let retry_after_ms = retry_after.as_millis().min(u128::from(u32::MAX)) as u32;
        for room in self.rooms.handles() {
            let _ = room.tx.try_send(live::RoomInput::Restarting { retry_after_ms });
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }

    /// Waits until the server stops by itself (it does not, short of an I/O failure).
    pub async fn wait(mut self) -> std::io::Result<()> {
        (&mut self.task).await.unwrap_or_else(|e| Err(std::io::Error::other(e)))
    }
}

/// The key under which the server records its public URL, so that `stoa admin invite` can print links
/// with the right host while the server runs.
pub const PUBLIC_URL_SETTING: &str = "public_url";

/// Reads a certificate file (so that a bad one stops the start before anything listens), opens the store
/// in the data folder, ends the rooms a previous run left live, binds HTTP (and HTTPS), gets an ACME
/// certificate if that is the source and none is kept, and serves.
pub async fn start(config: ServerConfig) -> Result<Running, StartError> {
    tls::install_default_crypto();
    let mut certificate = match config.tls.as_ref().map(|t| &t.certificate) {
        Some(CertificateSource::Files { cert, key }) => Some(tls::Certificate::from_files(cert, key)?),
        _ => None,
    };
    std::fs::create_dir_all(&config.data).map_err(|e| StartError::DataDir(config.data.clone(), e))?;
    let challenges = tls::Challenges::default();
    let acme = match config.tls.as_ref().map(|t| &t.certificate) {
        Some(CertificateSource::Acme(acme)) => {
            Some(Arc::new(acme::Acme::new(acme.clone(), &config.data, challenges.clone())?))
        }
        _ => None,
    };
    let store = stoa_store::open(&config.data, config.database.as_deref()).await.map_err(|e| {
        let what = match &config.database {
            Some(url) => stoa_store::redact(url),
            None => format!("in {}", config.data.display()),
        };
        StartError::OpenStore(what, e)
    })?;
    match &config.database {
        Some(url) => tracing::info!(database = %stoa_store::redact(url), "the store is on Postgres"),
        None => tracing::info!(data = %config.data.display(), "the store is SQLite in the data folder"),
    }
    // The media plane starts first: a node of a cluster is handed it when it joins.
    let sfu = stoa_sfu::Sfu::start(stoa_sfu::SfuConfig {
        udp: config.media_udp,
        tcp: config.media_tcp,
        public_ips: config.public_ips.clone(),
        turn_ips: turn_ips(config.turn.as_ref()).await,
        shards: config.media_shards,
        audience_phases: config.audience_phases,
        first_seq: config.media_first_seq,
        fault_injection: config.media_fault_injection,
        ..Default::default()
    })?;
    let recordings = config.data.join("recordings");
    // A node of a cluster takes its rooms through leases (below); a single server brings back all it left.
    let cluster = match &config.cluster {
        Some(c) => {
            if config.database.is_none() {
                return Err(StartError::ClusterNeedsPostgres);
            }
            let cluster = cluster::Cluster::connect(c, store.as_ref(), sfu.clone(), recordings.clone()).await?;
            tracing::info!(node = %c.node, nats = %cluster::redact(&c.nats), "joined the cluster");
            Some(cluster)
        }
        None => None,
    };
    let routing = match &cluster {
        Some(cluster) => live::Routing::cluster(Arc::new(cluster.clone())),
        None => live::Routing::local(),
    };
    tracing::info!(routing = routing.name(), "rooms are routed");
    let unended = if cluster.is_some() { Vec::new() } else { store.unended_rooms().await? };
    let bind = |addr: SocketAddr| async move {
        let listener = TcpListener::bind(addr).await.map_err(|e| StartError::Bind(addr, e))?;
        let bound = listener.local_addr().map_err(|e| StartError::Bind(addr, e))?;
        Ok::<_, StartError>((listener, bound))
    };
    let (http_listener, http_addr) = bind(config.http).await?;
    let https = match &config.tls {
        Some(tls) => Some(bind(tls.https).await?),
        None => None,
    };
    let addr = https.as_ref().map_or(http_addr, |(_, a)| *a);
    let redirect_addr = https.as_ref().map(|_| http_addr);
    let public_url = config.public_url.clone().unwrap_or_else(|| match (&config.tls, &certificate) {
        (Some(TlsConfig { certificate: CertificateSource::Acme(acme), .. }), _) => {
            https_url(acme.domains.first().map(String::as_str), addr)
        }
        (_, Some(cert)) => https_url(cert.names.iter().find(|n| !n.starts_with('*')).map(String::as_str), addr),
        _ => format!("http://{addr}"),
    });
    let (shutdown, stopped) = watch::channel(false);
    let until_stopped = move || {
        let mut stopped = stopped.clone();
        async move {
            let _ = stopped.wait_for(|s| *s).await;
        }
    };
    // With TLS, plain HTTP serves from now on: the redirect, and the ACME challenges the order below needs.
    let (plain, http_listener) = if https.is_some() {
        let plain = tls::plain_http(Arc::from(public_url.as_str()), challenges.clone());
        let serving = axum::serve(http_listener, plain).with_graceful_shutdown(until_stopped()).into_future();
        (Some(tokio::spawn(serving)), None)
    } else {
        (None, Some(http_listener))
    };
    if let Some(acme) = &acme {
        match acme.certificate().await {
            Ok(cert) => certificate = Some(cert),
            Err(e) => {
                let _ = shutdown.send(true);
                if let Some(plain) = plain {
                    let _ = plain.await;
                }
                return Err(e.into());
            }
        }
    }
    let media_addr = sfu.local_addr();
    let media_tcp_addr = sfu.tcp_addr();
    store.set_setting(PUBLIC_URL_SETTING, &public_url).await?;
    let contact = config.push_contact.clone().unwrap_or_else(|| {
        if public_url.starts_with("https://") { public_url.clone() } else { "mailto:admin@localhost".to_string() }
    });
    let push = notify::push::Push::start(
        store.clone(),
        contact,
        config.push_origins.clone(),
        outbound::Outbound::new(outbound::client_builder, &config.push_origins),
    )
    .await?;
    let other_nodes = cluster.clone().map(|c| Arc::new(c) as Arc<dyn notify::hub::OtherNodes>);
    let notifier = notify::Notifier::start(store.clone(), push, other_nodes);
    let live = community::LiveSettings::load(store.as_ref(), config.invite_quota, config.room_capacity).await?;
    let ffmpeg = match stoa_egress::ffmpeg::check(&config.ffmpeg) {
        Ok(version) => {
            tracing::info!(%version, "ffmpeg found: the listen link (HLS) and restreams (RTMP) are available");
            Some(config.ffmpeg.clone())
        }
        Err(e) => {
            tracing::warn!(error = %e, "no usable ffmpeg: the listen link (HLS) and restreams (RTMP) are off");
            None
        }
    };
    std::fs::create_dir_all(&recordings).map_err(|e| StartError::DataDir(recordings.clone(), e))?;
    recordings::close_unfinished(store.as_ref(), &recordings, cluster.is_some()).await?;
    routes::avatars::import_files(store.as_ref(), &config.data).await?;
    let egress = Arc::new(stoa_egress::EgressConfig::new(ffmpeg, 64));
    let captions = match &config.captions_url {
        Some(url) => {
            let engine =
                stoa_live::captions::CaptionEngine::new(url, &config.captions_model, config.captions_key.clone())
                    .map_err(StartError::Config)?;
            tracing::info!(%url, "live captions are available, from the engine at this URL");
            Some(Arc::new(engine))
        }
        None if config.captions_local => match stoa_live::captions::CaptionEngine::local().await {
            Ok(engine) => {
                tracing::info!("live captions are available, from the local engine (pocketsphinx: low accuracy)");
                Some(Arc::new(engine))
            }
            Err(e) => {
                tracing::warn!(error = %e, "no local caption engine: live captions are off");
                None
            }
        },
        None => {
            tracing::info!("no caption engine (--captions-url or --captions-local): live captions are off");
            None
        }
    };
    // What only some routes hold, made once here: WHIP and WHEP sessions, and the avatars' decoding pool.
    let private = routes::Private { http_peers: Arc::default(), avatar_pool: routes::avatars::pool() };
    let tls_stats = https.is_some().then(|| Arc::new(tls::TlsStats::default()));
    let pools = vec![("windows", egress.windows.clone()), ("avatars", private.avatar_pool.clone())];
    let state = AppState(Arc::new(AppStateInner {
        egress,
        captions,
        webhooks: webhooks::start(
            store.clone(),
            outbound::Outbound::new(outbound::client_builder, &config.webhook_origins),
            config.webhook_timeout,
        ),
        live: Arc::new(live),
        room_log: community::RoomLog::start(store.clone()),
        admin_tail: Arc::default(),
        store,
        notifier,
        limiter: Arc::new(RateLimiter::new(config.auth_attempts_per_ip)),
        failed_logins: Arc::new(limits::FailedLogins::new(config.auth_attempts_per_user)),
        hashing: Arc::new(auth::HashPool::new(std::thread::available_parallelism().map_or(1, |n| n.get()))),
        config: Arc::new(config),
        public_url: Arc::from(public_url.as_str()),
        rooms: live::Directory::default(),
        sfu,
        metrics: Arc::new(metrics::Metrics::new(tls_stats.clone(), pools)),
        stopping: shutdown.subscribe(),
        routing,
        cluster,
    }));
    restore_rooms(&state, unended).await?;
    let mut cluster_tasks = Vec::new();
    if let Some(cluster) = state.cluster.clone() {
        let me = cluster::Heartbeat {
            url: state.public_url.to_string(),
            media: state.sfu.local_addr().to_string(),
            rooms: 0,
            media_peers: 0,
        };
        let (runner, directory) = (cluster.clone(), state.rooms.clone());
        let hub = state.notifier.hub.clone();
        // Requests other nodes forward (a room's listen link) run through this node's own application.
        let router = app(state.clone(), &private);
        cluster_tasks.push(tokio::spawn(async move {
            if let Err(e) = runner.run(directory, me, hub, router).await {
                tracing::error!(error = %e, "the cluster's messages stopped");
            }
        }));
        let adopting = state.clone();
        cluster_tasks.push(tokio::spawn(cluster::leases(
            cluster,
            state.store.clone(),
            state.rooms.clone(),
            move |id, lasting| bring_back(&adopting, id, lasting),
        )));
    }
    community::AdminTail::start(state.clone()).await?;
    let state_rooms = state.rooms.clone();
    let bootstrap_invite = state.store.bootstrap_invite().await?.map(|code| state.invite_url(&code));
    let mut background = cluster_tasks;
    let metrics_addr = match state.config.metrics {
        Some(at) => {
            let (listener, bound) = bind(at).await?;
            let serving = axum::serve(listener, metrics::router(state.clone())).with_graceful_shutdown(until_stopped());
            background.push(tokio::spawn(async move {
                let _ = serving.await;
            }));
            tracing::info!(addr = %bound, "serving /metrics");
            Some(bound)
        }
        None => None,
    };
    let task = match (https, certificate, plain, http_listener) {
        (Some((https_listener, _)), Some(certificate), Some(plain), None) => {
            use axum::serve::ListenerExt;
            let certs = tls::Certificates::new(certificate);
            if let Some(acme) = acme {
                background.push(acme.keep_renewed(certs.clone()));
            }
            let stats = tls_stats.unwrap_or_default();
            let listener = tls::TlsListener::new(https_listener, tls::server_config(certs), stats)
                .map_err(|e| StartError::Bind(addr, e))?
                // Lets handlers see the client's address (ConnectInfo), as on plain TCP.
                .tap_io(|_| {});
            let product = app(state, &private).layer(axum::middleware::map_response(tls::hsts));
            let product = axum::serve(listener, product.into_make_service_with_connect_info::<SocketAddr>())
                .with_graceful_shutdown(until_stopped());
            tracing::info!(%addr, %http_addr, "serving HTTPS, and plain HTTP as a redirect");
            tokio::spawn(async move {
                let (a, b) = tokio::join!(product.into_future(), plain);
                a.and(b.unwrap_or_else(|e| Err(std::io::Error::other(e))))
            })
        }
        (None, _, None, Some(http_listener)) => {
            use axum::serve::ListenerExt;
            let service = app(state, &private).into_make_service_with_connect_info::<SocketAddr>();
            // Nagle off, as for HTTPS: a room event written behind another not yet acknowledged would wait
            // for the client's delayed ACK (40 ms).
            let http_listener = http_listener.tap_io(|tcp| {
                let _ = tcp.set_nodelay(true);
            });
            let serving = axum::serve(http_listener, service).with_graceful_shutdown(until_stopped());
            tracing::info!(%addr, "serving HTTP");
            tokio::spawn(serving.into_future())
        }
        _ => unreachable!("TLS has a listener, a certificate and a plain side, or none of them"),
    };
    Ok(Running {
        addr,
        http_addr: redirect_addr,
        metrics_addr,
        media_addr,
        media_tcp_addr,
        rooms: state_rooms,
        public_url,
        bootstrap_invite,
        shutdown,
        task,
        background,
    })
}

/// The public URL of an HTTPS server that was not told one: `host` (the certificate's first name that is
/// not a wildcard, or the ACME domain) with the port unless it is 443; or the bound address.
fn https_url(host: Option<&str>, addr: SocketAddr) -> String {
    let port = if addr.port() == 443 { String::new() } else { format!(":{}", addr.port()) };
    match host {
        Some(name) => format!("https://{name}{port}"),
        None => format!("https://{addr}"),
    }
}
