//! What `stoa bench` takes on its command line.

use clap::Args;

#[derive(Args, Debug, Clone)]
pub struct BenchArgs {
    /// A running server to load, or the nodes of a cluster, comma-separated (`http://a:8080,http://b:8080`):
    /// the room starts on the first, where its speakers are, and the listeners are spread over all of them
    /// in turn. Without it, the bench starts its own `stoa serve` as a separate process on a fresh data
    /// folder, so that the server's CPU and memory are measured apart from the bench's.
    #[arg(long)]
    pub(crate) server: Option<String>,
    /// With --server: each node's `/metrics` address (`stoa serve --metrics`), comma-separated in the order
    /// of --server, to report each node's packets sent and CPU over the measuring window.
    #[arg(long, requires = "server")]
    pub(crate) metrics: Option<String>,
    /// With several --server: no listener joins through the first (the room's origin), so that what it
    /// sends is only its speakers' share and one stream per edge, however large the audience.
    #[arg(long, requires = "server")]
    pub(crate) listeners_on_edges: bool,
    /// With several --server: the speakers' sockets go to this one (0 is the first, where the room is made
    /// and which is its origin), so that what is measured is a speaker on an edge, heard through the link up
    /// to the origin and back down.
    #[arg(long, requires = "server", default_value_t = 0)]
    pub(crate) speakers_through: usize,
    /// With --server: a multi-use invite code (`stoa admin invite --uses N`) for the bench's accounts.
    #[arg(long, requires = "server")]
    pub(crate) invite: Option<String>,
    /// Listeners to join.
    #[arg(long, default_value_t = 200)]
    pub(crate) listeners: usize,
    /// Speakers on stage; one talks at a time, the others are silent with DTX.
    #[arg(long, default_value_t = 2)]
    pub(crate) speakers: usize,
    /// Seconds to measure, once every listener has joined.
    #[arg(long, default_value_t = 10.0)]
    pub(crate) seconds: f64,
    /// Seconds over which listeners join (a join storm).
    #[arg(long, default_value_t = 20.0)]
    pub(crate) join_window: f64,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
    /// Opus for the speakers to send, looped: a .wav file (encoded with libopus) or an .ogg Opus file, as
    /// `stoa bot speak` takes. Without it they send synthetic 60-byte frames that carry their send time.
    #[arg(long)]
    pub(crate) file: Option<std::path::PathBuf>,
    /// Instead of a room: send the audience's packet rate and sizes over plain UDP to as many loopback
    /// sockets (no WebRTC, no server), then as fast as possible, for this machine's ceiling. Uses only
    /// --listeners and --seconds.
    #[arg(long)]
    pub(crate) raw_udp: bool,
    /// Extra `stoa serve` options for the bench's own server, e.g. "--audience-frames-above 0".
    #[arg(long, allow_hyphen_values = true)]
    pub(crate) serve_args: Option<String>,
    /// Instead of a room: the hallway's latency for a user who follows --follows of --users accounts,
    /// against one who follows 5, with --rooms live rooms, over --requests requests each.
    #[arg(long)]
    pub(crate) hallway: bool,
    /// Instead of a room: a user with --users followers starts a room; the time until the last follower's
    /// notification is stored, and the latency of another user's requests (reads and writes) meanwhile
    /// against before, over --requests requests.
    #[arg(long)]
    pub(crate) fanout: bool,
    /// With --fanout: the star owns a club that --users people follow, and starts the club's room for its
    /// followers and members (the star has no followers of their own).
    #[arg(long)]
    pub(crate) club: bool,
    /// Instead of a room: private messages among --users people in pairs of friends, each with a tab open
    /// (their notification stream), at --message-rate for --seconds; each message's time from its send to
    /// its reader's tab, and another user's hallway and room joins (--requests of each) before and during.
    #[arg(long)]
    pub(crate) backchannel: bool,
    /// Instead of a room of listeners: an end-to-end encrypted room of --users participants (real clients
    /// with their own device keys, the host's making each key); --requests times someone leaves, and the
    /// time until everyone left holds the new key is measured.
    #[arg(long)]
    pub(crate) e2ee_rekey: bool,
    /// The room is closed and end-to-end encrypted, inviting every listener (at most 300 people in all):
    /// 20 ms packets for everyone, no RED, no egress.
    #[arg(long)]
    pub(crate) e2ee: bool,
    /// Instead of a room of listeners: live captions' delay and cost, with --speakers saying --file (a WAV
    /// of speech) on stage and a reader turning captions off, on and off again, --seconds each; name the
    /// caption engine with --serve-args "--captions-url URL" (or "--captions-local").
    #[arg(long)]
    pub(crate) captions: bool,
    /// With --backchannel: messages a second.
    #[arg(long, default_value_t = 1000.0)]
    pub(crate) message_rate: f64,
    /// Instead of a room: search's latency (people, rooms and events) over --requests queries, with --users
    /// accounts and --events events in the database.
    #[arg(long)]
    pub(crate) search: bool,
    /// With --search: scheduled events in the database.
    #[arg(long, default_value_t = 10_000)]
    pub(crate) events: usize,
    /// With --hallway, --fanout, --search or --backchannel: accounts in the database (with --fanout, the star's
    /// followers; with --backchannel, the people writing, an even number).
    #[arg(long, default_value_t = 100_000)]
    pub(crate) users: usize,
    /// With --hallway: how many accounts the heavy user follows.
    #[arg(long, default_value_t = 5_000)]
    pub(crate) follows: usize,
    /// With --hallway: live rooms, each hosted by an account the heavy user follows.
    #[arg(long, default_value_t = 50)]
    pub(crate) rooms: usize,
    /// With --hallway, --fanout, --search or --backchannel: requests measured (per user, per phase or in all).
    #[arg(long, default_value_t = 1_000)]
    pub(crate) requests: usize,
    /// Processes to spread the listeners over (0: as many as this machine's open-file limit needs, which is
    /// one, the bench itself, until a process cannot hold two sockets per listener).
    #[arg(long, default_value_t = 0)]
    pub(crate) listener_processes: usize,
    /// Listeners do not offer RED (audio/red), so the server sends them no redundancy: for comparing the
    /// packets and bytes redundancy costs.
    #[arg(long)]
    pub(crate) no_red: bool,
    /// Chat messages a second in the room during the second half of the measuring window (the first half
    /// is the quiet baseline), sent by extra participants; with --reaction-rate, the chat-and-reactions
    /// bench. The report then has both halves and their ratios.
    #[arg(long, default_value_t = 0.0)]
    pub(crate) chat_rate: f64,
    /// Reactions a second in the room during the second half of the window (see --chat-rate).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) reaction_rate: f64,
    /// HLS players on the room's public listen link during the second half of the window (the room is made
    /// with its listen link on): each polls the playlist every 2 s and fetches each new segment, as hls.js
    /// does. The report has both halves, the HLS requests and errors, and each segment's age when fetched.
    #[arg(long, default_value_t = 0)]
    pub(crate) hls_listeners: usize,
    /// The HLS players play at low latency, as hls.js and Safari do with a playlist that has parts: a
    /// blocking reload for the hinted part, then that part, about twice a second.
    #[arg(long)]
    pub(crate) hls_low_latency: bool,
    /// The host turns on "Record a replay" for the second half of the window: the room's mix (decode,
    /// mix, encode) and its file. The report has both halves.
    #[arg(long)]
    pub(crate) replay: bool,
    /// Instead of a Stoa room: Janus's HTTP API (e.g. `http://198.18.0.1:8088/janus`), whose streaming
    /// plugin serves one 20 ms stream, fed by the bench to --janus-rtp, to --listeners listeners built like
    /// this bench's. `scripts/bench-janus` sets Janus up and runs both servers alternated.
    #[arg(long, requires = "janus_rtp", conflicts_with = "server")]
    pub(crate) janus: Option<String>,
    /// With --janus: the mountpoint's RTP address, where the bench sends the stream.
    #[arg(long, requires = "janus")]
    pub(crate) janus_rtp: Option<String>,
    /// Also report the server's CPU and RSS and the latency's p99 every this many seconds of the window
    /// (a soak: `--seconds 1800 --timeline 10`; `scripts/plot-soak.py` draws it), and what the server's
    /// `/metrics` counted as dropped over the window (the bench's own server is then started with
    /// `--metrics`).
    #[arg(long, default_value_t = 0.0)]
    pub(crate) timeline: f64,
    /// With --janus: the mountpoint to watch.
    #[arg(long, default_value_t = 1)]
    pub(crate) janus_mountpoint: u64,
    /// With --janus: Janus's process, whose CPU and memory are measured over the window.
    #[arg(long, requires = "janus")]
    pub(crate) janus_pid: Option<u32>,
}
