//! The command line, the environment and `stoa.toml`, merged into a [`ServerConfig`].

use anyhow::Context;
use clap::Args;
use serde::Deserialize;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;
use stoa_server::ServerConfig;

/// Options every subcommand that touches a data folder takes.
#[derive(Args, Debug, Clone, Default)]
pub struct CommonArgs {
    /// The data folder (the SQLite database lives in it) [default: ./stoa-data].
    #[arg(long, env = "STOA_DATA")]
    pub data: Option<PathBuf>,
    /// A Postgres database to keep everything that lasts in, instead of SQLite in the data folder:
    /// `postgres://USER:PASSWORD@HOST:PORT/DB` (or `postgres:///DB?host=/run/postgresql` for a socket).
    #[arg(long, env = "STOA_DATABASE")]
    pub database: Option<String>,
    /// The HTTP address to listen on. With TLS it only redirects to HTTPS and answers ACME's challenges
    /// [default: 127.0.0.1:8080; with TLS, 0.0.0.0:80].
    #[arg(long, env = "STOA_HTTP")]
    pub http: Option<SocketAddr>,
    /// The URL users reach the server at, for invite links [default: http:// and the HTTP address].
    #[arg(long, env = "STOA_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// A TOML file of options [default: ./stoa.toml, if it exists].
    #[arg(long, env = "STOA_CONFIG")]
    pub config: Option<PathBuf>,
}

/// `stoa serve`'s options.
#[derive(Args, Debug, Clone, Default)]
pub struct ServeArgs {
    #[command(flatten)]
    pub common: CommonArgs,
    /// How many invites each user may create [default: 2].
    #[arg(long, env = "STOA_INVITE_QUOTA")]
    pub invite_quota: Option<u32>,
    /// How many people a room holds, stage included [default: 5000].
    #[arg(long, env = "STOA_ROOM_CAPACITY")]
    pub room_capacity: Option<u32>,
    /// Seconds a participant whose connection dropped keeps their place and role [default: 30].
    #[arg(long, env = "STOA_RECONNECT_GRACE_SECS")]
    pub reconnect_grace_secs: Option<u64>,
    /// Sign-up and login attempts allowed per IP address per minute [default: 30].
    #[arg(long, env = "STOA_AUTH_ATTEMPTS_PER_IP")]
    pub auth_attempts_per_ip: Option<u32>,
    /// Failed logins on one account (in 15 minutes) after which each attempt on it waits, from a second
    /// doubling to eight; an account is never locked [default: 10].
    #[arg(long, env = "STOA_AUTH_ATTEMPTS_PER_USER")]
    pub auth_attempts_per_user: Option<u32>,
    /// Rooms one account may start in an hour, events' rooms included; an address three times as many
    /// [default: 10].
    #[arg(long, env = "STOA_ROOMS_PER_HOUR")]
    pub rooms_per_hour: Option<u32>,
    /// Live rooms one account may have started at once [default: 3].
    #[arg(long, env = "STOA_LIVE_ROOMS_PER_ACCOUNT")]
    pub live_rooms_per_account: Option<u32>,
    /// Live rooms this server (or node) runs at most [default: 1000].
    #[arg(long, env = "STOA_MAX_LIVE_ROOMS")]
    pub max_live_rooms: Option<u32>,
    /// People one account may invite to closed rooms in an hour [default: 500].
    #[arg(long, env = "STOA_INVITATIONS_PER_HOUR")]
    pub invitations_per_hour: Option<u32>,
    /// The space every recording (replays, clips, reports' windows) may take on this server's disk; when it
    /// is full, replays stop (their rooms are told) and clips are refused, and nothing is deleted
    /// [default: 21474836480, 20 GiB].
    #[arg(long, env = "STOA_RECORDINGS_MAX_BYTES")]
    pub recordings_max_bytes: Option<u64>,
    /// The space the replays and clips of rooms one person hosted may take [default: 2147483648, 2 GiB].
    #[arg(long, env = "STOA_RECORDINGS_MAX_BYTES_PER_HOST")]
    pub recordings_max_bytes_per_host: Option<u64>,
    /// Commands a second each room connection may send, in bursts of four seconds' worth; raising hands and
    /// muting get a tenth of it. Past it the client is told, then cut off [default: 10].
    #[arg(long, env = "STOA_ROOM_COMMANDS_PER_SECOND")]
    pub room_commands_per_second: Option<u32>,
    /// The largest request body accepted, in bytes [default: 65536].
    #[arg(long, env = "STOA_MAX_BODY_BYTES")]
    pub max_body_bytes: Option<usize>,
    /// The UDP address WebRTC media is received on. Each media shard after the first uses the next port:
    /// with 2 shards, 7882 and 7883 [default: 127.0.0.1:7882].
    #[arg(long, env = "STOA_MEDIA_UDP")]
    pub media_udp: Option<SocketAddr>,
    /// Join a cluster through this NATS server (`nats://HOST:4222`; several comma-separated). Needs
    /// `--database postgres://...` shared by every node, and `--node-name`.
    #[arg(long, env = "STOA_NATS")]
    pub nats: Option<String>,
    /// This node's name in its cluster: unique, letters, digits, `-` and `_` [default: the host's name].
    #[arg(long, env = "STOA_NODE_NAME")]
    pub node_name: Option<String>,
    /// Media shards: threads that each own a UDP port and a share of the peers [default: one per core].
    #[arg(long, env = "STOA_MEDIA_SHARDS", value_parser = clap::value_parser!(u16).range(1..=256))]
    pub media_shards: Option<u16>,
    /// 20 ms Opus frames joined into each packet to a large room's audience, without decoding; 1 turns it
    /// off. The stage always gets 20 ms packets [default: 3].
    #[arg(long, env = "STOA_AUDIENCE_FRAMES", value_parser = clap::value_parser!(u16).range(1..=6))]
    pub audience_frames: Option<u16>,
    /// Into how many phases a joined audience is split, at most one per joined frame: each 20 ms one phase is
    /// sent to, which shortens the fan-out burst (the tail latency of a large audience: 3 cut the p99 by
    /// 12 ms at 5,000 listeners) for up to a tenth more media CPU [default: 1].
    #[arg(long, env = "STOA_AUDIENCE_PHASES", value_parser = clap::value_parser!(u16).range(1..=6))]
    pub audience_phases: Option<u16>,
    /// From how many listeners a room's audience gets joined packets [default: 500].
    #[arg(long, env = "STOA_AUDIENCE_FRAMES_ABOVE")]
    pub audience_frames_above: Option<u32>,
    /// The IP address advertised to WebRTC clients as the server's candidate, for a server behind 1:1 NAT
    /// (a cloud VM); repeat it, or separate with commas, for several [default: the media address's IP].
    #[arg(long, env = "STOA_PUBLIC_IP", value_delimiter = ',', value_name = "IP")]
    pub public_ip: Vec<std::net::IpAddr>,
    /// The TCP address for ICE-TCP, the media path of clients whose network drops UDP; `off` turns it off
    /// [default: the media UDP address's IP, port 7881 (port 0 when --media-udp's port is 0)].
    #[arg(long, env = "STOA_MEDIA_TCP", value_name = "ADDR|off")]
    pub media_tcp: Option<String>,
    /// A TURN server's URL for clients that reach nothing else (turn:HOST[:PORT][?transport=udp|tcp] or
    /// turns:...), handed to every participant with credentials made from --turn-secret; repeat it, or
    /// separate with commas, for several.
    #[arg(long = "turn-url", env = "STOA_TURN_URL", value_delimiter = ',', value_name = "URL")]
    pub turn_urls: Vec<String>,
    /// The secret shared with the TURN server (coturn's static-auth-secret), for its REST credentials.
    #[arg(long, env = "STOA_TURN_SECRET", value_name = "SECRET", hide_env_values = true)]
    pub turn_secret: Option<String>,
    /// How long the TURN credentials handed out are good for, in seconds [default: 86400].
    #[arg(long, env = "STOA_TURN_TTL_SECS", value_name = "SECS")]
    pub turn_ttl_secs: Option<u64>,
    /// The origin (scheme://host:port) of a web push service on your own network, accepted although it is
    /// not a public https:// host (e.g. http://127.0.0.1:9000 for a local test endpoint); repeat it, or
    /// separate with commas, for several. Public https:// push services need nothing [default: none].
    #[arg(long = "push-allow-origin", env = "STOA_PUSH_ALLOW_ORIGIN", value_delimiter = ',', value_name = "ORIGIN")]
    pub push_origins: Vec<String>,
    /// The origin of a webhook endpoint on your own network, which webhooks may reach although it is not a
    /// public host (every other private address is refused after DNS); repeat it, or separate with commas
    /// [default: none].
    #[arg(
        long = "webhook-allow-origin",
        env = "STOA_WEBHOOK_ALLOW_ORIGIN",
        value_delimiter = ',',
        value_name = "ORIGIN"
    )]
    pub webhook_origins: Vec<String>,
    /// An RTMP host (or host:port) on your own network that restreams may reach although it is not public
    /// (e.g. 127.0.0.1 for a local nginx-rtmp); repeat it, or separate with commas [default: none].
    #[arg(long = "restream-allow-host", env = "STOA_RESTREAM_ALLOW_HOST", value_delimiter = ',', value_name = "HOST")]
    pub restream_hosts: Vec<String>,
    /// The contact push services see with each message (VAPID's subject: mailto:you@example.org or an https
    /// URL) [default: the public URL when it is https].
    #[arg(long, env = "STOA_PUSH_CONTACT", value_name = "URL")]
    pub push_contact: Option<String>,
    /// The ffmpeg that encodes the public listen link's AAC (HLS) and RTMP restreams; without a working
    /// one, both are off and say so [default: ffmpeg, from the PATH].
    #[arg(long, env = "STOA_FFMPEG", value_name = "PATH")]
    pub ffmpeg: Option<PathBuf>,
    /// Live captions: an OpenAI-compatible transcription endpoint each speaker's speech is sent to, e.g.
    /// http://gpu-box:8000/v1/audio/transcriptions (whisper.cpp's server, a faster-whisper server, a hosted
    /// service) [default: none; captions are off].
    #[arg(long, env = "STOA_CAPTIONS_URL", value_name = "URL")]
    pub captions_url: Option<String>,
    /// The model the caption engine is asked for [default: whisper-1].
    #[arg(long, env = "STOA_CAPTIONS_MODEL", value_name = "NAME")]
    pub captions_model: Option<String>,
    /// A bearer key for the caption engine; better given in the environment or the file than here
    /// [default: none].
    #[arg(long, env = "STOA_CAPTIONS_KEY", value_name = "KEY", hide_env_values = true)]
    pub captions_key: Option<String>,
    /// Live captions without an engine of your own: run Debian's pocketsphinx (python3-pocketsphinx and
    /// pocketsphinx-en-us) as a local engine. Its captions are labelled as of low accuracy; it gets about a
    /// quarter of ordinary words right. Ignored with --captions-url.
    #[arg(long, env = "STOA_CAPTIONS_LOCAL")]
    pub captions_local: bool,
    /// A reverse proxy (an address or a CIDR block, e.g. 10.0.0.0/8) whose X-Forwarded-For or Forwarded
    /// header names the client, for rate limits and logs; repeat it for several. From any other address
    /// those headers are ignored [default: none].
    #[arg(long = "trusted-proxy", env = "STOA_TRUSTED_PROXY", value_delimiter = ',', value_name = "CIDR")]
    pub trusted_proxies: Vec<stoa_server::client_ip::IpNet>,
    /// Serve HTTPS with this PEM certificate chain (end-entity first); needs --tls-key.
    #[arg(long, env = "STOA_TLS_CERT", requires = "tls_key", value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// The PEM private key of --tls-cert.
    #[arg(long, env = "STOA_TLS_KEY", requires = "tls_cert", value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Get (and renew) the HTTPS certificate for this domain from an ACME CA, Let's Encrypt by default, by
    /// the HTTP-01 challenge on --http (which must be reachable on port 80 from the internet). Repeat it,
    /// or separate with commas, for several names; the first is the public URL's host.
    #[arg(long, env = "STOA_ACME", value_name = "DOMAIN", value_delimiter = ',', conflicts_with_all = ["tls_cert", "tls_key"])]
    pub acme: Vec<String>,
    /// The ACME CA's directory URL [default: Let's Encrypt's].
    #[arg(long, env = "STOA_ACME_DIRECTORY", value_name = "URL")]
    pub acme_directory: Option<String>,
    /// Also trust this PEM root for the ACME CA's own HTTPS (a private or test CA).
    #[arg(long, env = "STOA_ACME_CA_ROOT", value_name = "FILE")]
    pub acme_ca_root: Option<PathBuf>,
    /// Testing aid: renew an ACME certificate this many days before it expires instead of 30.
    #[arg(long, env = "STOA_ACME_RENEW_BEFORE_DAYS", hide = true)]
    pub acme_renew_before_days: Option<u64>,
    /// Serve Prometheus metrics at http://ADDR/metrics, on a listener of its own (keep it private: it
    /// counts every room, hidden ones included) [default: off].
    #[arg(long, env = "STOA_METRICS", value_name = "ADDR")]
    pub metrics: Option<SocketAddr>,
    /// With TLS, the HTTPS address to listen on [default: 0.0.0.0:443].
    #[arg(long, env = "STOA_HTTPS")]
    pub https: Option<SocketAddr>,
    /// Testing aid: start every media stream's sequence numbers here instead of at random, e.g. 65530 to
    /// see the 16-bit wrap in seconds rather than after 22 minutes of speech.
    #[arg(long, env = "STOA_MEDIA_FIRST_SEQ", hide = true)]
    pub media_first_seq: Option<u16>,
}

/// ICE-TCP's port when none is given.
const DEFAULT_MEDIA_TCP_PORT: u16 = 7881;

/// A DNS name an ACME CA could issue for: dot-separated labels of letters, digits and hyphens.
fn is_domain(name: &str) -> bool {
    name.len() <= 253
        && name.contains('.')
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

/// `--database`, if given, must be a Postgres URL.
fn check_database(database: Option<&str>) -> anyhow::Result<()> {
    match database {
        Some(url) if !stoa_store::is_postgres_url(url) => anyhow::bail!(
            "--database is a postgres:// URL, not {:?}; leave it out to keep SQLite in the data folder",
            stoa_store::redact(url)
        ),
        _ => Ok(()),
    }
}

/// `stoa.toml`: the same options as the flags, by the same names with `_`.
#[derive(Deserialize, Debug, Default)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data: Option<PathBuf>,
    database: Option<String>,
    http: Option<SocketAddr>,
    public_url: Option<String>,
    invite_quota: Option<u32>,
    room_capacity: Option<u32>,
    reconnect_grace_secs: Option<u64>,
    auth_attempts_per_ip: Option<u32>,
    auth_attempts_per_user: Option<u32>,
    rooms_per_hour: Option<u32>,
    live_rooms_per_account: Option<u32>,
    max_live_rooms: Option<u32>,
    invitations_per_hour: Option<u32>,
    room_commands_per_second: Option<u32>,
    recordings_max_bytes: Option<u64>,
    recordings_max_bytes_per_host: Option<u64>,
    max_body_bytes: Option<usize>,
    media_udp: Option<SocketAddr>,
    media_shards: Option<u16>,
    audience_frames: Option<u16>,
    audience_phases: Option<u16>,
    audience_frames_above: Option<u32>,
    public_ip: Option<Vec<std::net::IpAddr>>,
    media_tcp: Option<String>,
    turn_urls: Option<Vec<String>>,
    turn_secret: Option<String>,
    turn_ttl_secs: Option<u64>,
    push_origins: Option<Vec<String>>,
    webhook_origins: Option<Vec<String>>,
    restream_hosts: Option<Vec<String>>,
    push_contact: Option<String>,
    ffmpeg: Option<PathBuf>,
    captions_url: Option<String>,
    captions_model: Option<String>,
    captions_key: Option<String>,
    captions_local: Option<bool>,
    trusted_proxies: Option<Vec<String>>,
    tls_cert: Option<PathBuf>,
    tls_key: Option<PathBuf>,
    https: Option<SocketAddr>,
    acme: Option<Vec<String>>,
    metrics: Option<SocketAddr>,
    acme_directory: Option<String>,
    acme_ca_root: Option<PathBuf>,
    nats: Option<String>,
    node_name: Option<String>,
}

fn load_file(explicit: Option<&Path>) -> anyhow::Result<FileConfig> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let default = PathBuf::from("stoa.toml");
            if !default.exists() {
                return Ok(FileConfig::default());
            }
            default
        }
    };
    let text = std::fs::read_to_string(&path).with_context(|| format!("cannot read {}", path.display()))?;
    toml::from_str(&text).with_context(|| format!("{} is not a valid Stoa configuration", path.display()))
}

/// The options shared by every subcommand, resolved.
pub struct Resolved {
    pub data: PathBuf,
    pub database: Option<String>,
    pub http: SocketAddr,
    pub public_url: Option<String>,
    /// The invite quota the file or the default gives, until an admin sets one in the database.
    pub invite_quota: u32,
    /// The room capacity the file or the default gives, until an admin sets one in the database.
    pub room_capacity: u32,
}

impl CommonArgs {
    fn merge(&self, file: &FileConfig) -> Resolved {
        let defaults = ServerConfig::default();
        Resolved {
            data: self.data.clone().or_else(|| file.data.clone()).unwrap_or(defaults.data),
            database: self.database.clone().or_else(|| file.database.clone()),
            http: self.http.or(file.http).unwrap_or(defaults.http),
            public_url: self.public_url.clone().or_else(|| file.public_url.clone()),
            invite_quota: file.invite_quota.unwrap_or(defaults.invite_quota),
            room_capacity: file.room_capacity.unwrap_or(defaults.room_capacity),
        }
    }

    /// The data folder and addresses, from flags, environment, file and defaults.
    pub fn resolve(&self) -> anyhow::Result<Resolved> {
        let resolved = self.merge(&load_file(self.config.as_deref())?);
        check_database(resolved.database.as_deref())?;
        Ok(resolved)
    }
}

impl ServeArgs {
    /// The server's whole configuration, from flags, environment, file and defaults.
    pub fn resolve(&self) -> anyhow::Result<ServerConfig> {
        let file = load_file(self.common.config.as_deref())?;
        let common = self.common.merge(&file);
        check_database(common.database.as_deref())?;
        let d = ServerConfig::default();
        let https = self.https.or(file.https).unwrap_or(SocketAddr::from(([0, 0, 0, 0], 443)));
        let acme = if self.acme.is_empty() { file.acme.clone().unwrap_or_default() } else { self.acme.clone() };
        let acme: Vec<String> = acme.iter().map(|d| d.trim().trim_end_matches('.').to_ascii_lowercase()).collect();
        if let Some(bad) = acme.iter().find(|d| !is_domain(d)) {
            anyhow::bail!("--acme {bad:?} is not a domain name (e.g. stoa.example.org)");
        }
        let files = (self.tls_cert.clone().or(file.tls_cert), self.tls_key.clone().or(file.tls_key));
        let tls = match files {
            _ if !acme.is_empty() => {
                anyhow::ensure!(
                    files.0.is_none() && files.1.is_none(),
                    "give either --acme or --tls-cert and --tls-key, not both"
                );
                Some(stoa_server::TlsConfig {
                    https,
                    certificate: stoa_server::CertificateSource::Acme(stoa_server::acme::AcmeConfig {
                        domains: acme,
                        directory: self
                            .acme_directory
                            .clone()
                            .or(file.acme_directory)
                            .unwrap_or_else(|| stoa_server::acme::LETS_ENCRYPT.to_string()),
                        ca_root: self.acme_ca_root.clone().or(file.acme_ca_root),
                        renew_before: self
                            .acme_renew_before_days
                            .map_or(stoa_server::acme::RENEW_BEFORE, |d| Duration::from_secs(d * 24 * 3600)),
                    }),
                })
            }
            (Some(cert), Some(key)) => {
                Some(stoa_server::TlsConfig { https, certificate: stoa_server::CertificateSource::Files { cert, key } })
            }
            (None, None) => {
                anyhow::ensure!(
                    self.https.or(file.https).is_none(),
                    "--https needs a certificate: give --acme DOMAIN, or --tls-cert and --tls-key"
                );
                None
            }
            _ => {
                anyhow::bail!("give both a certificate and its key (--tls-cert and --tls-key, or tls_cert and tls_key)")
            }
        };
        let media_udp = self.media_udp.or(file.media_udp).unwrap_or(d.media_udp);
        let media_tcp = match self.media_tcp.clone().or(file.media_tcp) {
            None => {
                Some(SocketAddr::new(media_udp.ip(), if media_udp.port() == 0 { 0 } else { DEFAULT_MEDIA_TCP_PORT }))
            }
            Some(off) if off == "off" => None,
            Some(addr) => {
                Some(addr.parse().map_err(|_| {
                    anyhow::anyhow!("--media-tcp {addr:?} is not an address (e.g. 0.0.0.0:7881) or `off`")
                })?)
            }
        };
        let turn_urls =
            if self.turn_urls.is_empty() { file.turn_urls.unwrap_or_default() } else { self.turn_urls.clone() };
        let turn = match (turn_urls.is_empty(), self.turn_secret.clone().or(file.turn_secret)) {
            (true, None) => None,
            (false, None) => anyhow::bail!(
                "--turn-url needs --turn-secret: the secret shared with the TURN server (coturn's static-auth-secret), \
                 from which each participant's credentials are made"
            ),
            (true, Some(_)) => anyhow::bail!("--turn-secret needs at least one --turn-url"),
            (false, Some(secret)) => {
                anyhow::ensure!(!secret.trim().is_empty(), "--turn-secret is empty");
                for url in &turn_urls {
                    stoa_server::turn::check_url(url).map_err(|e| anyhow::anyhow!("--turn-url {e}"))?;
                }
                let ttl = self
                    .turn_ttl_secs
                    .or(file.turn_ttl_secs)
                    .map_or(stoa_server::turn::DEFAULT_TTL, Duration::from_secs);
                anyhow::ensure!(ttl >= Duration::from_secs(60), "--turn-ttl-secs must be at least 60");
                Some(stoa_server::turn::TurnConfig { urls: turn_urls, secret, ttl })
            }
        };
        // With TLS, plain HTTP is the redirect (and ACME's challenges), which browsers expect on port 80.
        let http = match (&tls, self.common.http.or(file.http)) {
            (_, Some(http)) => http,
            (Some(_), None) => SocketAddr::from(([0, 0, 0, 0], 80)),
            (None, None) => common.http,
        };
        let push_origins = if self.push_origins.is_empty() {
            file.push_origins.unwrap_or_default()
        } else {
            self.push_origins.clone()
        };
        let webhook_origins = if self.webhook_origins.is_empty() {
            file.webhook_origins.unwrap_or_default()
        } else {
            self.webhook_origins.clone()
        };
        for (flag, origins) in [("--push-allow-origin", &push_origins), ("--webhook-allow-origin", &webhook_origins)] {
            for origin in origins {
                let ok = origin.starts_with("http://") || origin.starts_with("https://");
                anyhow::ensure!(
                    ok && !origin.trim_end_matches('/').contains(['?', '#']) && origin.matches('/').count() <= 3,
                    "{flag} takes an origin like http://127.0.0.1:9000, not {origin:?}"
                );
            }
        }
        let restream_hosts = if self.restream_hosts.is_empty() {
            file.restream_hosts.unwrap_or_default()
        } else {
            self.restream_hosts.clone()
        };
        let push_contact = self.push_contact.clone().or(file.push_contact);
        if let Some(contact) = &push_contact {
            anyhow::ensure!(
                contact.starts_with("mailto:") || contact.starts_with("https://"),
                "--push-contact is a mailto: or https:// address, not {contact:?}"
            );
        }
        let cluster = match self.nats.clone().or(file.nats) {
            Some(nats) => {
                anyhow::ensure!(
                    common.database.is_some(),
                    "--nats joins a cluster, whose nodes share one Postgres: give --database postgres://... too"
                );
                let node = match self.node_name.clone().or(file.node_name) {
                    Some(node) => node,
                    None => std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default(),
                };
                anyhow::ensure!(
                    stoa_server::cluster::valid_node_name(&node),
                    "--node-name must be 1 to 64 letters, digits, '-' or '_', not {node:?}"
                );
                Some(stoa_server::cluster::ClusterConfig { nats, node })
            }
            None => {
                anyhow::ensure!(
                    self.node_name.is_none(),
                    "--node-name names a node of a cluster: give --nats nats://... too"
                );
                None
            }
        };
        Ok(ServerConfig {
            cluster,
            ffmpeg: self.ffmpeg.clone().or(file.ffmpeg).unwrap_or(d.ffmpeg),
            captions_url: self.captions_url.clone().or(file.captions_url),
            captions_model: self.captions_model.clone().or(file.captions_model).unwrap_or(d.captions_model),
            captions_key: self.captions_key.clone().or(file.captions_key),
            captions_local: self.captions_local || file.captions_local.unwrap_or(false),
            webhook_timeout: d.webhook_timeout,
            push_origins,
            webhook_origins,
            restream_hosts,
            push_contact,
            http,
            tls,
            metrics: self.metrics.or(file.metrics),
            data: common.data,
            database: common.database,
            public_url: common.public_url,
            invite_quota: self.invite_quota.or(file.invite_quota).unwrap_or(d.invite_quota),
            room_capacity: self.room_capacity.or(file.room_capacity).unwrap_or(d.room_capacity),
            reconnect_grace: self
                .reconnect_grace_secs
                .or(file.reconnect_grace_secs)
                .map(Duration::from_secs)
                .unwrap_or(d.reconnect_grace),
            auth_attempts_per_ip: self
                .auth_attempts_per_ip
                .or(file.auth_attempts_per_ip)
                .unwrap_or(d.auth_attempts_per_ip),
            auth_attempts_per_user: self
                .auth_attempts_per_user
                .or(file.auth_attempts_per_user)
                .unwrap_or(d.auth_attempts_per_user),
            rooms_per_hour: self.rooms_per_hour.or(file.rooms_per_hour).unwrap_or(d.rooms_per_hour),
            live_rooms_per_account: self
                .live_rooms_per_account
                .or(file.live_rooms_per_account)
                .unwrap_or(d.live_rooms_per_account),
            max_live_rooms: self.max_live_rooms.or(file.max_live_rooms).unwrap_or(d.max_live_rooms),
            invitations_per_hour: self
                .invitations_per_hour
                .or(file.invitations_per_hour)
                .unwrap_or(d.invitations_per_hour),
            room_commands_per_second: self
                .room_commands_per_second
                .or(file.room_commands_per_second)
                .unwrap_or(d.room_commands_per_second),
            recordings_max_bytes: self
                .recordings_max_bytes
                .or(file.recordings_max_bytes)
                .unwrap_or(d.recordings_max_bytes),
            recordings_max_bytes_per_host: self
                .recordings_max_bytes_per_host
                .or(file.recordings_max_bytes_per_host)
                .unwrap_or(d.recordings_max_bytes_per_host),
            max_body_bytes: self.max_body_bytes.or(file.max_body_bytes).unwrap_or(d.max_body_bytes),
            media_udp,
            media_tcp,
            turn,
            public_ips: if self.public_ip.is_empty() {
                file.public_ip.unwrap_or_default()
            } else {
                self.public_ip.clone()
            },
            media_shards: self.media_shards.or(file.media_shards).map_or(d.media_shards, usize::from),
            audience_frames: self.audience_frames.or(file.audience_frames).map_or(d.audience_frames, usize::from),
            audience_phases: self.audience_phases.or(file.audience_phases).map_or(d.audience_phases, usize::from),
            audience_frames_above: self
                .audience_frames_above
                .or(file.audience_frames_above)
                .unwrap_or(d.audience_frames_above),
            media_first_seq: self.media_first_seq,
            media_fault_injection: false,
            trusted_proxies: if self.trusted_proxies.is_empty() {
                let listed = file.trusted_proxies.unwrap_or_default();
                listed
                    .iter()
                    .map(|n| n.parse().map_err(|e: String| anyhow::anyhow!("trusted_proxies in the config file: {e}")))
                    .collect::<anyhow::Result<_>>()?
            } else {
                self.trusted_proxies.clone()
            },
        })
    }
}
