//! What the server can be told: [`ServerConfig`], and how it serves HTTPS ([`TlsConfig`]).

use crate::{acme, client_ip, cluster, live, turn};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Everything the server can be told.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Where HTTP listens. Port 0 picks a free port.
    pub http: SocketAddr,
    /// The data folder; the SQLite database lives in it, unless `database` names another.
    pub data: PathBuf,
    /// A Postgres database (`postgres://...`) to keep everything that lasts in, instead of SQLite in the
    /// data folder.
    pub database: Option<String>,
    /// The URL users reach the server at, for invite links. Defaults to `http://` and the bound address.
    pub public_url: Option<String>,
    /// How many invites each user may create.
    pub invite_quota: u32,
    /// How many people a room holds, stage included.
    pub room_capacity: u32,
    /// How long a dropped participant keeps their place.
    pub reconnect_grace: Duration,
    /// Sign-up and login attempts allowed per IP address per minute.
    pub auth_attempts_per_ip: u32,
    /// Failed logins on one account (in 15 minutes) after which each attempt on it waits, a second
    /// doubling up to eight: never a lock its owner could be shut out by.
    pub auth_attempts_per_user: u32,
    /// Rooms one account may start in an hour (events' rooms included); an address may start three times
    /// as many.
    pub rooms_per_hour: u32,
    /// Live rooms one account may have started at once.
    pub live_rooms_per_account: u32,
    /// Live rooms this node runs at most (each holds a task and an egress thread).
    pub max_live_rooms: u32,
    /// People one account may invite to closed rooms in an hour.
    pub invitations_per_hour: u32,
    /// Commands a second each room connection may send (in bursts of four seconds' worth); hands and
    /// microphones get a tenth of it. Past it the client is told, then cut off.
    pub room_commands_per_second: u32,
    /// The largest request body accepted.
    pub max_body_bytes: usize,
    /// Where the media plane receives UDP. Port 0 picks a free port.
    pub media_udp: SocketAddr,
    /// The IP addresses advertised to WebRTC clients (a server behind 1:1 NAT, or with several public
    /// addresses); the media address's IP when empty.
    pub public_ips: Vec<std::net::IpAddr>,
    /// Where ICE-TCP listens, for clients whose network drops UDP; off when absent.
    pub media_tcp: Option<SocketAddr>,
    /// TURN servers whose credentials participants get with the `joined` event; none when absent.
    pub turn: Option<turn::TurnConfig>,
    /// Media shards (threads, each with its own UDP port following `media_udp`).
    pub media_shards: usize,
    /// 20 ms Opus frames per packet to a large room's audience (1 turns joining off). The stage always
    /// gets 20 ms packets.
    pub audience_frames: usize,
    /// Into how many phases a joined audience is split (see `stoa_sfu::SfuConfig::audience_phases`).
    pub audience_phases: usize,
    /// From how many listeners a room's audience gets joined packets.
    pub audience_frames_above: u32,
    /// Where every media stream's sequence numbers start (random when absent): for tests of the 16-bit
    /// wrap, which otherwise takes 22 minutes of speech.
    pub media_first_seq: Option<u16>,
    /// Reverse proxies whose `X-Forwarded-For` / `Forwarded` headers name the client, for the rate limits
    /// and the logs. From anyone else those headers are ignored.
    pub trusted_proxies: Vec<client_ip::IpNet>,
    /// Where `/metrics` (Prometheus) is served, on a listener of its own; off when absent.
    pub metrics: Option<SocketAddr>,
    /// HTTPS. Without it the server speaks plain HTTP on `http` (behind a proxy that terminates TLS, or on
    /// loopback); with it, the product is on `tls.https` and `http` only redirects there.
    pub tls: Option<TlsConfig>,
    /// Origins (`http://127.0.0.1:9000`) of push services accepted although they are not public HTTPS: a
    /// push service on the operator's own network. Public `https://` endpoints are always accepted.
    pub push_origins: Vec<String>,
    /// The space every recording (replays, clips, reports' windows) may take on this server's disk.
    pub recordings_max_bytes: u64,
    /// The space the replays and clips of rooms one person hosted may take.
    pub recordings_max_bytes_per_host: u64,
    /// Origins of webhook endpoints allowed although they are not public: an intranet's, or a test's.
    pub webhook_origins: Vec<String>,
    /// RTMP hosts (`127.0.0.1`, `ingest.lan:1935`) restreams may reach although they are not public.
    pub restream_hosts: Vec<String>,
    /// VAPID's contact (`mailto:` or `https:`); the public URL when absent.
    pub push_contact: Option<String>,
    /// How long a webhook's endpoint has to answer one delivery.
    pub webhook_timeout: Duration,
    /// The ffmpeg that makes the listen link's AAC and the RTMP restreams; checked at start, and both are
    /// refused (with a clear error) without one. Replays and clips need nothing but Stoa.
    pub ffmpeg: PathBuf,
    /// An OpenAI-compatible transcription endpoint (`…/v1/audio/transcriptions`) for live captions; none
    /// by default, and then captions are off.
    pub captions_url: Option<String>,
    /// The model the caption engine is asked for.
    pub captions_model: String,
    /// A bearer key for the caption engine, if it wants one.
    pub captions_key: Option<String>,
    /// Without `captions_url`: run the local caption engine (Debian's pocketsphinx, of low accuracy).
    pub captions_local: bool,
    /// For tests of fault isolation only: see `stoa_sfu::SfuConfig::fault_injection`.
    #[doc(hidden)]
    pub media_fault_injection: bool,
    /// A cluster to join (NATS, and this node's name); the store must then be Postgres, shared by all.
    pub cluster: Option<cluster::ClusterConfig>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            http: SocketAddr::from(([127, 0, 0, 1], 8080)),
            data: PathBuf::from("stoa-data"),
            database: None,
            public_url: None,
            invite_quota: 2,
            room_capacity: 5000,
            reconnect_grace: Duration::from_secs(30),
            auth_attempts_per_ip: 30,
            auth_attempts_per_user: 10,
            max_body_bytes: 64 * 1024,
            rooms_per_hour: 10,
            live_rooms_per_account: 3,
            max_live_rooms: 1000,
            invitations_per_hour: 500,
            room_commands_per_second: live::budget::DEFAULT_RATE,
            media_udp: SocketAddr::from(([127, 0, 0, 1], 7882)),
            public_ips: Vec::new(),
            media_tcp: None,
            turn: None,
            media_shards: std::thread::available_parallelism().map_or(1, |n| n.get()),
            // 60 ms packets: a third of the packets for 40 ms more delay, which an audience does not notice.
            audience_frames: 3,
            audience_phases: 1,
            // Below a few hundred listeners a room's packet rate is a small fraction of what one core sends
            // (500 listeners x 50 packets/s = 25,000/s per speaker, against ~350,000/s for this machine's
            // kernel), so the lowest delay wins; above, the packet rate is what limits a room.
            audience_frames_above: 500,
            media_first_seq: None,
            media_fault_injection: false,
            ffmpeg: PathBuf::from("ffmpeg"),
            webhook_timeout: Duration::from_secs(10),
            captions_url: None,
            captions_model: "whisper-1".into(),
            captions_key: None,
            captions_local: false,
            push_origins: Vec::new(),
            webhook_origins: Vec::new(),
            // About 2,000 hours of replays at 24 kbit/s, and 200 hours for one host.
            recordings_max_bytes: 20 << 30,
            recordings_max_bytes_per_host: 2 << 30,
            restream_hosts: Vec::new(),
            push_contact: None,
            trusted_proxies: Vec::new(),
            tls: None,
            metrics: None,
            cluster: None,
        }
    }
}

/// How the server serves HTTPS.
#[derive(Debug, Clone)]
pub struct TlsConfig {
    /// Where HTTPS listens.
    pub https: SocketAddr,
    /// Where its certificate comes from.
    pub certificate: CertificateSource,
}

/// Where the HTTPS certificate comes from.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum CertificateSource {
    /// PEM files: the chain (end-entity first) and its private key, read once at start.
    Files {
        /// The certificate chain.
        cert: PathBuf,
        /// The private key.
        key: PathBuf,
    },
    /// An ACME CA, by the HTTP-01 challenge on the plain-HTTP listener; kept in the data folder.
    Acme(acme::AcmeConfig),
}
