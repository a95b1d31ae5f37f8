//! The web client's full journey in three real Chromium browsers (tests/browser/journey.mjs), against this
//! build's `stoa serve`. Screenshots land in test-artifacts/ at the repository's root.
//!
//! Needs /usr/bin/chromium and tests/browser/node_modules; scripts/test installs both.

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_full_journey_in_three_browsers() {
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
        .arg("journey.mjs")
        .current_dir(&browser)
        .env("STOA_BIN", env!("CARGO_BIN_EXE_stoa"))
        .env("OUT", root.join("test-artifacts"))
        .env("RUST_LOG", "warn,str0m=error")
        .status()
        .expect("node runs");
    assert!(status.success(), "the journey failed; see its output above and test-artifacts/failure-*.png");
}
