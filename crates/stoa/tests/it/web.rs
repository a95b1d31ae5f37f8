//! The web client in real Chromium browsers (tests/browser/*.mjs), against this build's `stoa serve`:
//! the full journey in three browsers, and the fallbacks (a refused microphone, blocked autoplay).
//! Screenshots land in test-artifacts/ at the repository's root.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules; scripts/test installs both.

use std::path::PathBuf;
use std::process::Command;

/// Runs a script of tests/browser against this build's binary; it fails by exiting non-zero.
fn run_browser_script(script: &str) {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let browser = root.join("tests/browser");
    assert!(
        std::path::Path::new("/usr/bin/chromium").exists(),
        "Debian's chromium is needed: run scripts/test, which installs it"
    );
    assert!(
        browser.join("node_modules/axe-core").exists(),
        "the browser test packages are needed: run scripts/test, which installs them"
    );
    let status = Command::new("node")
        .arg(script)
        .current_dir(&browser)
        .env("STOA_BIN", env!("CARGO_BIN_EXE_stoa"))
        .env("OUT", root.join("test-artifacts"))
        .env("RUST_LOG", "warn,str0m=error")
        .status()
        .expect("node runs");
    assert!(status.success(), "{script} failed; see its output above and test-artifacts/failure-*.png");
}

#[test]
fn the_full_journey_in_three_browsers() {
    run_browser_script("journey.mjs");
}

#[test]
fn a_refused_microphone_is_explained_and_blocked_autoplay_gets_tap_to_listen() {
    run_browser_script("edges.mjs");
}

#[test]
fn the_events_and_notifications_journey_in_two_browsers() {
    run_browser_script("events.mjs");
}

#[test]
fn reports_the_admin_console_suspension_and_account_settings_in_three_browsers() {
    run_browser_script("community.mjs");
}

#[test]
fn the_listen_link_clips_and_the_replay_in_real_browsers() {
    run_browser_script("egress.mjs");
}
