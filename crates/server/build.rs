//! Embeds the web client (`web/dist`) in the binary, so that `cargo run --release` stays the one command
//! that runs Stoa. The built client is committed, stamped with the fingerprint of the sources it came
//! from: a machine without npm uses it as it is, and one with npm rebuilds it only when the sources changed
//! (a test fails when the committed build is stale).

use std::path::{Path, PathBuf};
use std::process::Command;

include!("web_sources.rs");

fn main() {
    let web = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("../../web");
    let dist = web.join("dist");
    for input in WEB_INPUTS {
        println!("cargo:rerun-if-changed={}", web.join(input).display());
    }
    println!("cargo:rerun-if-changed={}", dist.join(STAMP).display());
    let wanted = source_hash(&web);
    let stamped = std::fs::read_to_string(dist.join(STAMP)).unwrap_or_default();
    if stamped.trim() != wanted {
        let npm = Command::new("npm").arg("--version").output().is_ok_and(|o| o.status.success());
        if npm {
            build(&web);
            std::fs::write(dist.join(STAMP), format!("{wanted}\n")).unwrap();
        } else if dist.join("index.html").exists() {
            println!(
                "cargo:warning=web/ changed since web/dist was built, and npm is not installed: embedding the \
                 committed build. Install Node.js 20+ with npm to rebuild it."
            );
        } else {
            panic!(
                "\n\nStoa's web client (web/dist) is missing and npm was not found to build it.\n\
                 Install Node.js 20 or newer with npm (on Debian: `apt-get install nodejs npm`), then build again.\n\n"
            );
        }
    }
    embed(&dist);
}

/// Installs the web client's packages when they are missing or the lock file changed, and builds it.
fn build(web: &Path) {
    let installed = web.join("node_modules/.package-lock.json");
    let stale = match (std::fs::metadata(&installed), std::fs::metadata(web.join("package-lock.json"))) {
        (Ok(i), Ok(l)) => l.modified().ok() > i.modified().ok(),
        _ => true,
    };
    if stale {
        run(web, &["ci", "--no-audit", "--no-fund", "--loglevel=error"]);
    }
    run(web, &["run", "build", "--silent"]);
}

fn run(dir: &Path, args: &[&str]) {
    let status = Command::new("npm").args(args).current_dir(dir).status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("\n\n`npm {}` in {} failed ({s}); see its output above.\n\n", args.join(" "), dir.display()),
        Err(e) => panic!("\n\ncannot run npm in {}: {e}\n\n", dir.display()),
    }
}

/// Writes `$OUT_DIR/web_assets.rs`: every file of the build as (URL path, content type, bytes).
fn embed(dist: &Path) {
    let mut files = Vec::new();
    collect(dist, dist, &mut files);
    files.sort();
    let mut out = String::from(
        "/// The web client's files: (URL path, content type, bytes).\npub static ASSETS: &[(&str, &str, &[u8])] = &[\n",
    );
    for (url, path) in files {
        let mime = match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
            "html" => "text/html; charset=utf-8",
            "js" | "mjs" => "text/javascript; charset=utf-8",
            "css" => "text/css; charset=utf-8",
            "svg" => "image/svg+xml",
            "png" => "image/png",
            "ico" => "image/x-icon",
            "json" | "webmanifest" => "application/json",
            "woff2" => "font/woff2",
            _ => "application/octet-stream",
        };
        out.push_str(&format!("    ({url:?}, {mime:?}, include_bytes!({:?})),\n", path.display().to_string()));
    }
    out.push_str("];\n");
    let target = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("web_assets.rs");
    std::fs::write(target, out).unwrap();
}

fn collect(root: &Path, dir: &Path, files: &mut Vec<(String, PathBuf)>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        panic!("\n\nthe web client's build left no {}\n\n", dir.display());
    };
    for entry in entries.flatten() {
        let path = entry.path();
        // The build's stamp is for the build, not for browsers.
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        if path.is_dir() {
            collect(root, &path, files);
        } else {
            let rel = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
            files.push((format!("/{rel}"), path.canonicalize().unwrap()));
        }
    }
}
