//! A room's egress, fed through its tap as the SFU feeds it: a clip of what was said decodes to what was
//! said, and a replay records it.

use std::sync::Arc;
use std::time::{Duration, Instant};
use stoa_egress::{EgressConfig, RoomEgress};
use stoa_sfu::{SourceId, Tapped};

const RATE: u32 = 48_000;

fn tone_packets(hz: f32, frames: usize) -> Vec<Vec<u8>> {
    let mut enc = opus::Encoder::new(RATE, opus::Channels::Mono, opus::Application::Audio).unwrap();
    (0..frames)
        .map(|f| {
            let pcm: Vec<i16> = (0..960)
                .map(|i| {
                    let t = (f * 960 + i) as f32 / RATE as f32;
                    (12_000.0 * (std::f32::consts::TAU * hz * t).sin()) as i16
                })
                .collect();
            let mut out = vec![0u8; 1275];
            let n = enc.encode(&pcm, &mut out).unwrap();
            out.truncate(n);
            out
        })
        .collect()
}

fn decode_ogg(bytes: &[u8]) -> Vec<i16> {
    let mut reader = ogg::PacketReader::new(std::io::Cursor::new(bytes.to_vec()));
    let mut dec = opus::Decoder::new(RATE, opus::Channels::Mono).unwrap();
    let mut pcm = Vec::new();
    let mut n = 0;
    while let Some(p) = reader.read_packet().unwrap() {
        n += 1;
        if n <= 2 {
            continue;
        }
        let mut out = vec![0i16; 5760];
        let k = dec.decode(&p.data, &mut out, false).unwrap();
        pcm.extend_from_slice(&out[..k]);
    }
    pcm
}

fn crossings_hz(pcm: &[i16]) -> f64 {
    let crossings = pcm.windows(2).filter(|w| (w[0] < 0) != (w[1] < 0)).count();
    crossings as f64 / 2.0 / (pcm.len() as f64 / RATE as f64)
}

#[tokio::test]
async fn a_clip_of_the_last_seconds_is_what_the_speaker_said_and_the_replay_has_it_too() {
    let dir = tempfile::tempdir().unwrap();
    let (egress, tap) = RoomEgress::start("test", &EgressConfig::new(None, 64)).unwrap();
    let replay = dir.path().join("replay.opus");
    egress.record(Some((replay.clone(), "Test".into()))).await.unwrap();
    let packets = tone_packets(440.0, 150);
    let start = Instant::now();
    let sender = std::thread::spawn(move || {
        for (i, p) in packets.into_iter().enumerate() {
            let at = start + Duration::from_millis(20 * i as u64);
            std::thread::sleep(at.saturating_duration_since(Instant::now()));
            tap.send(Tapped {
                source: SourceId(9),
                seq: i as u64,
                timestamp: 1000 + 960 * i as u32,
                level: None,
                payload: Arc::from(p),
            })
            .unwrap();
        }
    });
    tokio::task::spawn_blocking(move || sender.join().unwrap()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let clip = egress.window(2, 0, "Test").await.unwrap();
    let pcm = decode_ogg(&clip);
    assert!((pcm.len() as i64 - 2 * RATE as i64).abs() < 2000, "two seconds: {}", pcm.len());
    let hz = crossings_hz(&pcm[RATE as usize / 2..RATE as usize * 3 / 2]);
    assert!((hz - 440.0).abs() < 10.0, "the clip is the tone: {hz:.0} Hz");

    let done = egress.record(None).await.unwrap().expect("a replay was recording");
    assert!(done.millis >= 2_900, "{} ms", done.millis);
    let pcm = decode_ogg(&std::fs::read(&replay).unwrap());
    let hz = crossings_hz(&pcm[RATE as usize / 2..RATE as usize * 5 / 2]);
    assert!((hz - 440.0).abs() < 10.0, "the replay is the tone: {hz:.0} Hz");
    egress.stop();
}
