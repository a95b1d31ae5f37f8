//! A small TURN client (RFC 8656) for `stoa bot`: one UDP relay allocation on a TURN server, reached over
//! UDP or TCP, with the long-term credential mechanism (RFC 8489 §9.2) and channels (ChannelData) to the
//! SFU's candidates. Enough for a bot behind a network that lets nothing out but TCP to a TURN server.
//!
//! The relayed address becomes a local ICE candidate of the session's str0m; what str0m sends from it goes
//! to [`Relay::send`], and what the TURN server relays back comes out of the session's inbox as if it had
//! arrived at the relayed address.

use anyhow::{Context, bail};
use hmac::{Hmac, Mac};
use md5::Digest;
use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;

const MAGIC: u32 = 0x2112_a442;
const ALLOCATE: u16 = 0x0003;
const REFRESH: u16 = 0x0004;
const CHANNEL_BIND: u16 = 0x0009;
const SUCCESS: u16 = 0x0100;
const ERROR: u16 = 0x0110;

const USERNAME: u16 = 0x0006;
const MESSAGE_INTEGRITY: u16 = 0x0008;
const ERROR_CODE: u16 = 0x0009;
const CHANNEL_NUMBER: u16 = 0x000c;
const LIFETIME: u16 = 0x000d;
const XOR_PEER_ADDRESS: u16 = 0x0012;
const REALM: u16 = 0x0014;
const NONCE: u16 = 0x0015;
const XOR_RELAYED_ADDRESS: u16 = 0x0016;
const REQUESTED_TRANSPORT: u16 = 0x0019;

/// A TURN server to allocate on.
#[derive(Debug, Clone)]
pub struct TurnServer {
    /// Where it is.
    pub addr: SocketAddr,
    /// Whether it is reached over TCP (`?transport=tcp`) rather than UDP.
    pub tcp: bool,
    /// The REST username.
    pub username: String,
    /// The REST password.
    pub password: String,
}

impl TurnServer {
    /// The servers of an ICE server entry: each `turn:` URL resolved (`turns:`, TURN over TLS, is skipped).
    pub async fn from_ice_server(server: &stoa_proto::IceServer) -> Vec<TurnServer> {
        let mut out = Vec::new();
        for url in &server.urls {
            let Some(rest) = url.strip_prefix("turn:") else { continue };
            let (hostport, query) = rest.split_once('?').unwrap_or((rest, ""));
            let tcp = query == "transport=tcp";
            let hostport = if hostport.rsplit_once(':').is_some_and(|(_, p)| p.parse::<u16>().is_ok())
                && !hostport.ends_with(']')
            {
                hostport.to_string()
            } else {
                format!("{hostport}:3478")
            };
            match tokio::net::lookup_host(hostport.as_str()).await.map(|mut a| a.next()) {
                Ok(Some(addr)) => out.push(TurnServer {
                    addr,
                    tcp,
                    username: server.username.clone(),
                    password: server.credential.clone(),
                }),
                _ => tracing::debug!(%url, "cannot resolve a TURN server"),
            }
        }
        out
    }
}

/// An allocation: where the relay is, and how to send through it.
pub struct Relay {
    /// The relayed transport address (the local candidate).
    pub relayed: SocketAddr,
    out: mpsc::Sender<(SocketAddr, Vec<u8>)>,
}

impl Relay {
    /// Sends `data` to `peer` through the relay (dropped if the relay's queue is full or it is gone).
    pub fn send(&self, peer: SocketAddr, data: Vec<u8>) {
        let _ = self.out.try_send((peer, data));
    }
}

/// Either transport to the TURN server.
enum Link {
    Udp(UdpSocket),
    Tcp(tokio::io::ReadHalf<TcpStream>, tokio::io::WriteHalf<TcpStream>),
}

impl Link {
    async fn send(&mut self, data: &[u8]) -> std::io::Result<()> {
        match self {
            Link::Udp(s) => s.send(data).await.map(|_| ()),
            Link::Tcp(_, w) => w.write_all(data).await,
        }
    }

    /// The next STUN message or ChannelData message from the server.
    async fn recv(&mut self, buf: &mut Vec<u8>) -> std::io::Result<()> {
        match self {
            Link::Udp(s) => {
                buf.resize(2048, 0);
                let n = s.recv(buf).await?;
                buf.truncate(n);
                Ok(())
            }
            Link::Tcp(r, _) => read_tcp_message(r, buf).await,
        }
    }
}

/// Reads one STUN or ChannelData message from a TURN TCP stream (RFC 8656 §12.5: ChannelData is padded to
/// four bytes over TCP).
async fn read_tcp_message(r: &mut (impl AsyncRead + Unpin), buf: &mut Vec<u8>) -> std::io::Result<()> {
    let mut head = [0u8; 4];
    r.read_exact(&mut head).await?;
    let len = u16::from_be_bytes([head[2], head[3]]) as usize;
    let (total, padded) = if head[0] & 0xc0 == 0 { (20 + len, 20 + len) } else { (4 + len, 4 + len.div_ceil(4) * 4) };
    buf.clear();
    buf.extend_from_slice(&head);
    buf.resize(padded, 0);
    r.read_exact(&mut buf[4..]).await?;
    buf.truncate(total);
    Ok(())
}

/// Allocates a UDP relay on `server` with channels to each of `peers`, and relays in a task of its own
/// until the returned [`Relay`] is dropped. What arrives from a peer is handed to `deliver(peer, relayed
/// address, data)`.
pub(crate) async fn allocate(
    server: TurnServer,
    peers: Vec<SocketAddr>,
    deliver: impl Fn(SocketAddr, SocketAddr, Vec<u8>) + Send + 'static,
) -> anyhow::Result<Relay> {
    let mut link = if server.tcp {
        let stream = tokio::time::timeout(Duration::from_secs(5), TcpStream::connect(server.addr))
            .await
            .context("the TURN server did not answer")??;
        let _ = stream.set_nodelay(true);
        let (r, w) = tokio::io::split(stream);
        Link::Tcp(r, w)
    } else {
        let any: SocketAddr = if server.addr.is_ipv4() { "0.0.0.0:0" } else { "[::]:0" }.parse()?;
        let socket = UdpSocket::bind(any).await?;
        socket.connect(server.addr).await?;
        Link::Udp(socket)
    };
    let mut client = Client { server, realm: String::new(), nonce: String::new(), key: Vec::new(), buf: Vec::new() };
    let (relayed, lifetime) = client.allocate(&mut link).await?;
    let mut channels = HashMap::new();
    let mut by_channel = HashMap::new();
    for (i, peer) in peers.iter().enumerate() {
        let channel = 0x4000 + i as u16;
        client.bind(&mut link, channel, *peer).await?;
        channels.insert(*peer, channel);
        by_channel.insert(channel, *peer);
    }
    tracing::debug!(%relayed, "TURN relay allocated");
    let (out, mut queue) = mpsc::channel::<(SocketAddr, Vec<u8>)>(1024);
    tokio::spawn(async move {
        let mut refresh = tokio::time::interval(lifetime.min(Duration::from_secs(600)) / 2);
        refresh.tick().await;
        // Channel bindings last 10 minutes (RFC 8656 §12): renewed with the allocation.
        let mut buf = Vec::new();
        loop {
            tokio::select! {
                item = queue.recv() => {
                    let Some((peer, data)) = item else { break };
                    let Some(&channel) = channels.get(&peer) else { continue };
                    let mut message = Vec::with_capacity(data.len() + 8);
                    message.extend_from_slice(&channel.to_be_bytes());
                    message.extend_from_slice(&(data.len() as u16).to_be_bytes());
                    message.extend_from_slice(&data);
                    if matches!(link, Link::Tcp(..)) {
                        message.resize(message.len().div_ceil(4) * 4, 0);
                    }
                    if link.send(&message).await.is_err() {
                        break;
                    }
                }
                received = link.recv(&mut buf) => {
                    if received.is_err() {
                        break;
                    }
                    if buf.len() >= 4 && (0x40..0x50).contains(&buf[0]) {
                        let channel = u16::from_be_bytes([buf[0], buf[1]]);
                        let len = u16::from_be_bytes([buf[2], buf[3]]) as usize;
                        if let (Some(&peer), Some(data)) = (by_channel.get(&channel), buf.get(4..4 + len)) {
                            deliver(peer, relayed, data.to_vec());
                        }
                    }
                    // STUN answers to refreshes carry nothing this loop needs.
                }
                _ = refresh.tick() => {
                    let mut ok = client.request(&mut link, REFRESH, &[(LIFETIME, 600u32.to_be_bytes().to_vec())], true).await.is_ok();
                    for (peer, channel) in &channels {
                        ok &= client.bind(&mut link, *channel, *peer).await.is_ok();
                    }
                    if !ok {
                        tracing::debug!("a TURN refresh failed");
                    }
                }
            }
        }
        // Best effort: tell the server the allocation is no longer needed.
        let _ = client.request(&mut link, REFRESH, &[(LIFETIME, 0u32.to_be_bytes().to_vec())], false).await;
    });
    Ok(Relay { relayed, out })
}

struct Client {
    server: TurnServer,
    realm: String,
    nonce: String,
    key: Vec<u8>,
    buf: Vec<u8>,
}

/// A decoded STUN response: its class and method, and its attributes.
struct Response {
    kind: u16,
    attrs: Vec<(u16, Vec<u8>)>,
}

impl Response {
    fn attr(&self, kind: u16) -> Option<&[u8]> {
        self.attrs.iter().find(|(k, _)| *k == kind).map(|(_, v)| v.as_slice())
    }

    fn error_code(&self) -> Option<u16> {
        let v = self.attr(ERROR_CODE)?;
        (v.len() >= 4).then(|| u16::from(v[2] & 0x7) * 100 + u16::from(v[3]))
    }
}

impl Client {
    async fn allocate(&mut self, link: &mut Link) -> anyhow::Result<(SocketAddr, Duration)> {
        let transport = vec![17, 0, 0, 0]; // UDP
        let response = self.request(link, ALLOCATE, &[(REQUESTED_TRANSPORT, transport)], true).await?;
        let relayed = response
            .attr(XOR_RELAYED_ADDRESS)
            .and_then(|v| xor_address(v, &[0; 12]))
            .context("the TURN server's allocation has no relayed address")?;
        let lifetime = response
            .attr(LIFETIME)
            .and_then(|v| v.get(..4))
            .map_or(600, |v| u32::from_be_bytes([v[0], v[1], v[2], v[3]]));
        Ok((relayed, Duration::from_secs(u64::from(lifetime.max(60)))))
    }

    async fn bind(&mut self, link: &mut Link, channel: u16, peer: SocketAddr) -> anyhow::Result<()> {
        let mut number = channel.to_be_bytes().to_vec();
        number.extend_from_slice(&[0, 0]);
        let attrs = [(CHANNEL_NUMBER, number), (XOR_PEER_ADDRESS, encode_xor_address(peer))];
        self.request(link, CHANNEL_BIND, &attrs, true).await.map(|_| ())
    }

    /// Sends a request and waits for its answer, authenticating (and retrying once) when the server asks.
    async fn request(
        &mut self,
        link: &mut Link,
        method: u16,
        attrs: &[(u16, Vec<u8>)],
        wait: bool,
    ) -> anyhow::Result<Response> {
        for _ in 0..3 {
            let mut txid = [0u8; 12];
            getrandom::fill(&mut txid).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
            let message = self.encode(method, &txid, attrs);
            link.send(&message).await.context("cannot reach the TURN server")?;
            if !wait {
                return Ok(Response { kind: 0, attrs: Vec::new() });
            }
            let response = self.answer(link, &txid).await?;
            if response.kind == (method | SUCCESS) {
                return Ok(response);
            }
            if response.kind != (method | ERROR) {
                bail!("the TURN server answered with an unexpected message");
            }
            match response.error_code() {
                // Unauthenticated (the first try) or a stale nonce: take the realm and nonce, and again.
                Some(401) | Some(438) => {
                    if let Some(realm) = response.attr(REALM) {
                        self.realm = String::from_utf8_lossy(realm).into_owned();
                    }
                    let nonce = response.attr(NONCE).context("the TURN server sent no nonce")?;
                    let retried = !self.key.is_empty() && response.error_code() == Some(401);
                    self.nonce = String::from_utf8_lossy(nonce).into_owned();
                    let mut md5 = md5::Md5::new();
                    md5.update(format!("{}:{}:{}", self.server.username, self.realm, self.server.password));
                    self.key = md5.finalize().to_vec();
                    if retried {
                        bail!("the TURN server refused our credentials");
                    }
                }
                Some(code) => bail!("the TURN server refused the request (error {code})"),
                None => bail!("the TURN server refused the request"),
            }
        }
        bail!("the TURN server kept refusing the request")
    }

    /// Waits (5 s at most) for the answer to transaction `txid`, skipping anything else.
    async fn answer(&mut self, link: &mut Link, txid: &[u8; 12]) -> anyhow::Result<Response> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut buf = std::mem::take(&mut self.buf);
            let got = tokio::time::timeout_at(deadline, link.recv(&mut buf)).await;
            self.buf = buf;
            got.context("the TURN server did not answer")?.context("the TURN server closed the connection")?;
            let m = &self.buf;
            if m.len() < 20 || m[0] & 0xc0 != 0 || m[8..20] != txid[..] {
                continue;
            }
            let kind = u16::from_be_bytes([m[0], m[1]]);
            let len = (u16::from_be_bytes([m[2], m[3]]) as usize).min(m.len() - 20);
            let mut attrs = Vec::new();
            let mut at = 20;
            while at + 4 <= 20 + len {
                let t = u16::from_be_bytes([m[at], m[at + 1]]);
                let l = u16::from_be_bytes([m[at + 2], m[at + 3]]) as usize;
                let Some(v) = m.get(at + 4..at + 4 + l) else { break };
                attrs.push((t, v.to_vec()));
                at += 4 + l.div_ceil(4) * 4;
            }
            return Ok(Response { kind, attrs });
        }
    }

    /// A STUN request with `attrs`, and the credentials and MESSAGE-INTEGRITY once the realm is known.
    fn encode(&self, method: u16, txid: &[u8; 12], attrs: &[(u16, Vec<u8>)]) -> Vec<u8> {
        let mut m = Vec::with_capacity(256);
        m.extend_from_slice(&method.to_be_bytes());
        m.extend_from_slice(&[0, 0]);
        m.extend_from_slice(&MAGIC.to_be_bytes());
        m.extend_from_slice(txid);
        let push = |m: &mut Vec<u8>, kind: u16, value: &[u8]| {
            m.extend_from_slice(&kind.to_be_bytes());
            m.extend_from_slice(&(value.len() as u16).to_be_bytes());
            m.extend_from_slice(value);
            m.resize(m.len().div_ceil(4) * 4, 0);
        };
        for (kind, value) in attrs {
            push(&mut m, *kind, value);
        }
        if !self.key.is_empty() {
            push(&mut m, USERNAME, self.server.username.as_bytes());
            push(&mut m, REALM, self.realm.as_bytes());
            push(&mut m, NONCE, self.nonce.as_bytes());
            // The length counts MESSAGE-INTEGRITY itself (RFC 8489 §14.5), which the HMAC covers up to.
            let len = (m.len() - 20 + 24) as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
            let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&self.key).expect("HMAC takes a key of any length");
            mac.update(&m);
            let digest = mac.finalize().into_bytes();
            push(&mut m, MESSAGE_INTEGRITY, &digest);
        } else {
            let len = (m.len() - 20) as u16;
            m[2..4].copy_from_slice(&len.to_be_bytes());
        }
        m
    }
}

fn encode_xor_address(addr: SocketAddr) -> Vec<u8> {
    let port = addr.port() ^ (MAGIC >> 16) as u16;
    let mut v = vec![0];
    match addr.ip() {
        IpAddr::V4(ip) => {
            v.push(1);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend_from_slice(&(u32::from(ip) ^ MAGIC).to_be_bytes());
        }
        IpAddr::V6(_) => {
            // Our channels are to the SFU's IPv4 candidates; an IPv6 peer would need the transaction ID.
            v.push(2);
            v.extend_from_slice(&port.to_be_bytes());
            v.extend_from_slice(&[0; 16]);
        }
    }
    v
}

fn xor_address(v: &[u8], txid: &[u8; 12]) -> Option<SocketAddr> {
    let port = u16::from_be_bytes([*v.get(2)?, *v.get(3)?]) ^ (MAGIC >> 16) as u16;
    match v.get(1)? {
        1 => {
            let raw = u32::from_be_bytes(v.get(4..8)?.try_into().ok()?) ^ MAGIC;
            Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::from(raw)), port))
        }
        2 => {
            let mut key = [0u8; 16];
            key[..4].copy_from_slice(&MAGIC.to_be_bytes());
            key[4..].copy_from_slice(txid);
            let raw: [u8; 16] = v.get(4..20)?.try_into().ok()?;
            let ip: [u8; 16] = std::array::from_fn(|i| raw[i] ^ key[i]);
            Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(ip)), port))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xor_addresses_round_trip() {
        let addr: SocketAddr = "198.18.0.1:49152".parse().unwrap();
        assert_eq!(xor_address(&encode_xor_address(addr), &[0; 12]), Some(addr));
        assert_eq!(xor_address(&[0, 1, 0], &[0; 12]), None, "cut short");
    }

    #[test]
    fn message_integrity_covers_the_message_with_its_own_length() {
        let server = TurnServer {
            addr: "198.18.0.1:3478".parse().unwrap(),
            tcp: true,
            username: "1:2".into(),
            password: "pw".into(),
        };
        let client = Client { server, realm: "r".into(), nonce: "n".into(), key: vec![1; 16], buf: Vec::new() };
        let m = client.encode(ALLOCATE, &[7; 12], &[(REQUESTED_TRANSPORT, vec![17, 0, 0, 0])]);
        assert_eq!(u16::from_be_bytes([m[2], m[3]]) as usize, m.len() - 20, "the length covers everything");
        let mi = m.len() - 24;
        assert_eq!(&m[mi..mi + 4], &[0x00, 0x08, 0x00, 0x14]);
        let mut mac = Hmac::<sha1::Sha1>::new_from_slice(&[1; 16]).unwrap();
        mac.update(&m[..mi]);
        assert_eq!(&m[mi + 4..], &mac.finalize().into_bytes()[..]);
    }
}
