//! Issue 34's shared part in two implementations, held to each other in Chromium: crates/e2ee (Rust, the
//! `sframe` crate, for `stoa bot`) and web/src/e2ee.ts (WebCrypto, for the web client). Rust wraps an
//! epoch's key for a device and seals frames; the browser unwraps the key with that device's X25519 secret,
//! opens every frame, seals its own and computes the safety code; Rust opens the browser's frames, and the
//! codes match; the browser, as the next epoch's keyholder, wraps a key of its own that Rust opens, and
//! neither opens a blob claimed by another keyholder. Frames past the eighth carry their counter outside the config byte, so both header forms
//! are crossed.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::path::PathBuf;
use std::process::Command;
use stoa_e2ee::wrap::{DeviceKey, wrap};
use stoa_e2ee::{EpochKey, Receiver, Sender};

#[test]
fn chromium_opens_what_rust_seals_and_rust_opens_what_chromium_seals() {
    const ROOM: &str = "room0000abcd";
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).unwrap();
    let device = DeviceKey::from_bytes(secret);
    let (moderator, rust_device) = (DeviceKey::random(), DeviceKey::random());
    let members = [(42u32, moderator.public()), (77, device.public()), (5, rust_device.public())];
    let key = EpochKey::random(3);
    let mut speaker = Sender::new(&key, 42).unwrap();
    let frames: Vec<Vec<u8>> = (0..12u8).map(|i| (0..20 + i).map(|b| b ^ i).collect()).collect();
    let sealed: Vec<String> = frames.iter().map(|f| hex(&speaker.seal(f).unwrap())).collect();
    let input = serde_json::json!({
        "room": ROOM,
        "d": URL_SAFE_NO_PAD.encode(secret),
        "x": URL_SAFE_NO_PAD.encode(device.public()),
        "blob": hex(&wrap(&key, ROOM, &moderator, &device.public())),
        "keyholder": hex(&moderator.public()),
        "rust_device": hex(&rust_device.public()),
        "members": members.iter().map(|(u, d)| serde_json::json!([u, hex(d)])).collect::<Vec<_>>(),
        "sealed": sealed,
    });
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("in.json"), input.to_string()).unwrap();
    let status = Command::new("node")
        .arg("e2ee.mjs")
        .arg(dir.path().join("in.json"))
        .arg(dir.path().join("out.json"))
        .current_dir(root.join("tests/browser"))
        .status()
        .expect("node runs (scripts/test installs it, Chromium and the web's packages)");
    assert!(status.success(), "e2ee.mjs failed; see its output above");
    let out: serde_json::Value = serde_json::from_slice(&std::fs::read(dir.path().join("out.json")).unwrap()).unwrap();

    let opened: Vec<String> = frames.iter().map(|f| hex(f)).collect();
    assert_eq!(out["opened"], serde_json::json!(opened), "the browser opened every frame Rust sealed");
    assert_eq!(out["epoch"], 3);
    assert_eq!(out["code"], key.safety_code(ROOM, &members), "the same safety code on both");
    // The browser as keyholder: Rust's device opens its wrap only as from the browser's device key.
    let wrapped = unhex(out["wrapped"].as_str().unwrap());
    assert!(rust_device.unwrap(ROOM, &moderator.public(), &wrapped).is_none(), "not as from another keyholder");
    let next = rust_device.unwrap(ROOM, &device.public(), &wrapped).expect("Rust opens the browser's wrap");
    assert_eq!(next.epoch(), 4);
    assert_eq!(out["next_code"], next.safety_code(ROOM, &members), "and the same code for it");
    let mut receiver = Receiver::new();
    receiver.add_epoch(key);
    for (i, frame) in out["sealed"].as_array().unwrap().iter().enumerate() {
        let frame = unhex(frame.as_str().unwrap());
        assert_eq!(receiver.open(&frame).unwrap(), (0..30 + i as u8).collect::<Vec<u8>>(), "browser frame {i}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Vec<u8> {
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap()).collect()
}
