//! The committed web client (`web/dist`) was built from the committed sources: a machine without npm
//! embeds it as it is, so a change to `web/src` must land with its build. Fails when the build's stamp
//! does not match the sources; the fix is to build (`cargo build` does it when npm is installed, or
//! `npm run build` in web/) and commit web/dist.

#[path = "../../web_sources.rs"]
#[allow(dead_code)]
mod web_sources;

use std::path::PathBuf;
use std::process::Command;

#[test]
fn the_committed_web_build_is_built_from_the_committed_sources() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let web = root.join("web");
    let sources = web_sources::source_hash(&web);
    // On a clean checkout (as in CI) the build script may already have rebuilt a stale web/dist in the
    // working tree, so the stamp that counts is the committed one. While the sources have uncommitted
    // changes (a developer at work), the working tree's stamp is compared instead.
    let git = |args: &[&str]| Command::new("git").args(args).current_dir(&root).output().ok();
    let mut inputs: Vec<String> = web_sources::WEB_INPUTS.iter().map(|i| format!("web/{i}")).collect();
    inputs.insert(0, "HEAD".into());
    inputs.insert(1, "--".into());
    let mut diff = vec!["diff", "--quiet"];
    diff.extend(inputs.iter().map(String::as_str));
    let sources_committed = git(&diff).is_some_and(|o| o.status.success());
    let committed_stamp = git(&["show", &format!("HEAD:web/dist/{}", web_sources::STAMP)])
        .filter(|o| o.status.success())
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string());
    let stamp = match committed_stamp {
        Some(stamp) if sources_committed => stamp,
        _ => std::fs::read_to_string(web.join("dist").join(web_sources::STAMP)).unwrap_or_default().trim().to_string(),
    };
    assert_eq!(
        stamp, sources,
        "web/dist was not built from the current web/ sources: build (cargo build with npm installed, or `npm run \
         build` in web/) and commit web/dist"
    );
}

/// Issue 33 §3: every message catalog (web/src/locales) has every key, every plural form its language's
/// CLDR rules use and every placeholder, and a text for every error code, removal and stop reason the
/// server can send; `web/scripts/check-catalogs.mjs` lists what is missing.
#[test]
fn every_catalog_has_every_key_plural_form_and_server_code() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..");
    let out = Command::new("node")
        .arg(root.join("web/scripts/check-catalogs.mjs"))
        .output()
        .expect("node runs web/scripts/check-catalogs.mjs (scripts/test installs Node)");
    assert!(
        out.status.success(),
        "the message catalogs lack texts:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
