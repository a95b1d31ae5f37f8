// The web client's sources and their fingerprint, shared by build.rs (which stamps web/dist with the
// fingerprint of the sources it was built from) and the test that checks the committed build is current.

/// The files and folders of web/ that the build reads.
pub const WEB_INPUTS: [&str; 7] =
    ["src", "public", "index.html", "package.json", "package-lock.json", "vite.config.ts", "tsconfig.json"];

/// Where the stamp lives in web/dist.
pub const STAMP: &str = ".source-hash";

/// SHA-256 over every input file's path (relative to web/, with `/`) and contents, in path order.
pub fn source_hash(web: &std::path::Path) -> String {
    use sha2::{Digest, Sha256};
    fn walk(web: &std::path::Path, path: &std::path::Path, files: &mut Vec<(String, std::path::PathBuf)>) {
        if path.is_dir() {
            for entry in std::fs::read_dir(path).into_iter().flatten().flatten() {
                walk(web, &entry.path(), files);
            }
        } else if path.is_file() {
            let rel = path.strip_prefix(web).unwrap_or(path).to_string_lossy().replace('\\', "/");
            files.push((rel, path.to_path_buf()));
        }
    }
    let mut files = Vec::new();
    for input in WEB_INPUTS {
        walk(web, &web.join(input), &mut files);
    }
    files.sort();
    let mut hash = Sha256::new();
    for (rel, path) in files {
        hash.update(rel.as_bytes());
        hash.update([0]);
        // Line endings are normalised, so that a checkout with CRLF hashes as the committed files do.
        let text = std::fs::read(&path).unwrap_or_default();
        let normalised: Vec<u8> = text.into_iter().filter(|b| *b != b'\r').collect();
        hash.update((normalised.len() as u64).to_le_bytes());
        hash.update(&normalised);
    }
    hash.finalize().iter().map(|b| format!("{b:02x}")).collect()
}
