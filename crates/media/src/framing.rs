//! RFC 4571 framing: how ICE-TCP (RFC 6544) carries STUN, DTLS and SRTP datagrams over a TCP stream, each
//! behind its 16-bit length.

use tokio::io::AsyncReadExt;

/// Reads one RFC 4571 frame into `buf` (resized to it). `Ok(false)` at a clean end of stream.
pub async fn read_frame(stream: &mut (impl AsyncReadExt + Unpin), buf: &mut Vec<u8>) -> std::io::Result<bool> {
    let mut len = [0u8; 2];
    match stream.read_exact(&mut len).await {
        Ok(_) => {}
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => return Ok(false),
        Err(e) => return Err(e),
    }
    let len = u16::from_be_bytes(len) as usize;
    buf.resize(len, 0);
    stream.read_exact(buf).await?;
    Ok(true)
}

/// `data` with its RFC 4571 length in front. `None` if it is longer than a frame can say.
pub fn frame(data: &[u8]) -> Option<Vec<u8>> {
    let len = u16::try_from(data.len()).ok()?;
    let mut out = Vec::with_capacity(data.len() + 2);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(data);
    Some(out)
}
