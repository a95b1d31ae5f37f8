//! Compiles the vendored libopus (1.3.1, floating point, portable C: no SIMD paths) with the `cc` crate,
//! from the source lists its own makefiles keep (`vendor/libopus/*_sources.mk`), the way its
//! `Makefile.unix` does. A C compiler is all it needs.

use std::path::{Path, PathBuf};

/// Where libopus's sources are: third-party code lives under the workspace's `vendor/`, apart from ours.
fn libopus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../vendor/libopus")
}

/// The files a variable of one of libopus's `*_sources.mk` lists.
fn sources(mk: &str, var: &str) -> Vec<String> {
    let text = std::fs::read_to_string(libopus().join(mk)).expect("the vendored libopus is complete");
    let mut out = Vec::new();
    let mut inside = false;
    for line in text.lines() {
        let line = line.trim();
        if let Some(rest) = line.strip_prefix(var).map(str::trim_start).and_then(|r| r.strip_prefix('=')) {
            inside = true;
            out.extend(rest.split_whitespace().filter(|w| *w != "\\").map(str::to_string));
            inside &= line.ends_with('\\');
            continue;
        }
        if inside {
            out.extend(line.split_whitespace().filter(|w| *w != "\\").map(str::to_string));
            inside = line.ends_with('\\');
        }
    }
    assert!(!out.is_empty(), "{var} in {mk} lists no sources");
    out
}

fn main() {
    let dir = libopus();
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files = sources("celt_sources.mk", "CELT_SOURCES");
    files.extend(sources("silk_sources.mk", "SILK_SOURCES"));
    files.extend(sources("silk_sources.mk", "SILK_SOURCES_FLOAT"));
    files.extend(sources("opus_sources.mk", "OPUS_SOURCES"));
    files.extend(sources("opus_sources.mk", "OPUS_SOURCES_FLOAT"));
    let mut build = cc::Build::new();
    build
        .files(files.iter().map(|f| dir.join(f)))
        .includes(["include", "celt", "silk", "silk/float"].map(|d| dir.join(d)))
        .define("OPUS_BUILD", None)
        .define("USE_ALLOCA", None)
        .define("HAVE_LRINTF", None)
        .define("HAVE_LRINT", None)
        .define("PACKAGE_VERSION", "\"1.3.1-stoa\"")
        .warnings(false)
        .opt_level(2);
    build.compile("opus");
    println!("cargo:include={}", dir.join("include").display());
}
