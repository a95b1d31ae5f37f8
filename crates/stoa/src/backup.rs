//! `stoa admin backup` and `stoa admin restore`: a data folder in one archive, made while the server runs,
//! and put back into an empty folder only whole and unchanged.
//!
//! The archive is a tar file: `MANIFEST.json` first (the format, Stoa's version, the schema version, the
//! database's kind, and each file's path, size and SHA-256), then the files: `stoa.db` (SQLite's
//! `VACUUM INTO`, one consistent snapshot that holds up no writer; not with Postgres, which `pg_dump`
//! backs up), the recordings and the ACME account and certificates. The VAPID keys and the cluster's
//! secret live in the database.

use anyhow::{Context, bail};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{Read, Write};
use std::path::{Component, Path, PathBuf};

const MANIFEST: &str = "MANIFEST.json";
const FORMAT: u32 = 1;
/// The folders of a data folder a backup takes, besides the database.
const FOLDERS: &[&str] = &["recordings", "acme"];

#[derive(Debug, Serialize, Deserialize)]
struct Manifest {
    format: u32,
    stoa_version: String,
    schema_version: i64,
    /// `sqlite` (the database is in the archive) or `postgres` (it is not: `pg_dump` it beside).
    database: String,
    created_at: String,
    files: Vec<Entry>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct Entry {
    path: String,
    bytes: u64,
    sha256: String,
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn sha256_of(path: &Path) -> anyhow::Result<(u64, String)> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut file, &mut hasher)?;
    Ok((bytes, hex(&hasher.finalize())))
}

/// Every regular file under `dir`, as paths relative to `root`.
fn files_under(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) -> anyhow::Result<()> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Ok(()) };
    for entry in entries.flatten() {
        let kind = entry.file_type()?;
        if kind.is_dir() {
            files_under(root, &entry.path(), out)?;
        } else if kind.is_file() {
            out.push(entry.path().strip_prefix(root)?.to_path_buf());
        }
    }
    Ok(())
}

/// `stoa admin backup`: writes `out` (through `out.partial`, renamed once whole).
pub async fn backup(data: &Path, database: Option<&str>, out: &Path) -> anyhow::Result<String> {
    if out.exists() {
        bail!("{} exists already: name a new file", out.display());
    }
    let staging = tempfile::tempdir().context("cannot make a temporary folder")?;
    let mut files: Vec<(String, PathBuf)> = Vec::new();
    let (schema_version, kind) = match database {
        Some(url) => (stoa_store::migrate::postgres_schema_version(url).await?, "postgres"),
        None => {
            anyhow::ensure!(data.join("stoa.db").is_file(), "{} holds no stoa.db", data.display());
            let copy = staging.path().join("stoa.db");
            let version = stoa_store::migrate::snapshot_sqlite(data, &copy)
                .await
                .with_context(|| format!("cannot snapshot the database in {}", data.display()))?;
            files.push(("stoa.db".into(), copy));
            (version, "sqlite")
        }
    };
    for folder in FOLDERS {
        let mut found = Vec::new();
        files_under(data, &data.join(folder), &mut found)?;
        for relative in found {
            // Copied first, so that the checksum is of exactly what goes into the archive.
            let copy = staging.path().join(&relative);
            std::fs::create_dir_all(copy.parent().unwrap_or(staging.path()))?;
            std::fs::copy(data.join(&relative), &copy)
                .with_context(|| format!("cannot read {}", relative.display()))?;
            files.push((relative.to_string_lossy().replace('\\', "/"), copy));
        }
    }
    let mut entries = Vec::new();
    for (path, copy) in &files {
        let (bytes, sha256) = sha256_of(copy)?;
        entries.push(Entry { path: path.clone(), bytes, sha256 });
    }
    let manifest = Manifest {
        format: FORMAT,
        stoa_version: env!("CARGO_PKG_VERSION").into(),
        schema_version,
        database: kind.into(),
        created_at: httpdate(),
        files: entries,
    };
    let partial = out.with_extension("partial");
    {
        let file = std::fs::File::create(&partial).with_context(|| format!("cannot write {}", partial.display()))?;
        let mut tar = tar::Builder::new(std::io::BufWriter::new(file));
        let json = serde_json::to_vec_pretty(&manifest)?;
        let mut header = tar::Header::new_gnu();
        header.set_size(json.len() as u64);
        header.set_mode(0o600);
        header.set_cksum();
        tar.append_data(&mut header, MANIFEST, json.as_slice())?;
        for (path, copy) in &files {
            tar.append_path_with_name(copy, path)?;
        }
        tar.into_inner()?.flush()?;
    }
    std::fs::rename(&partial, out)?;
    Ok(format!(
        "Backed up {} files (schema {schema_version}, Stoa {}) to {}{}",
        manifest.files.len(),
        manifest.stoa_version,
        out.display(),
        if kind == "postgres" { "; the database itself: pg_dump it (see the README)" } else { "" }
    ))
}

fn httpdate() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs());
    format!("{secs}")
}

fn version(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (parts.next().unwrap_or(0), parts.next().unwrap_or(0), parts.next().unwrap_or(0))
}

/// A path in the archive that stays inside the folder it is restored into.
fn safe(path: &str) -> anyhow::Result<PathBuf> {
    let p = Path::new(path);
    anyhow::ensure!(
        !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_))),
        "the backup names a file outside its folder: {path:?}"
    );
    Ok(p.to_path_buf())
}

/// `stoa admin restore`: into `data`, which must be empty (or not exist); nothing is left there unless the
/// whole archive is sound.
pub fn restore(archive: &Path, data: &Path) -> anyhow::Result<String> {
    if data.exists() && std::fs::read_dir(data)?.next().is_some() {
        bail!("{} is not empty: restore into an empty folder", data.display());
    }
    let file = std::fs::File::open(archive).with_context(|| format!("cannot open {}", archive.display()))?;
    let damaged = |why: String| anyhow::anyhow!("{} is damaged: {why}; nothing was restored", archive.display());
    let mut tar = tar::Archive::new(std::io::BufReader::new(file));
    let mut entries = tar.entries().map_err(|e| damaged(e.to_string()))?;
    let mut first = entries.next().ok_or_else(|| damaged("it is empty".into()))?.map_err(|e| damaged(e.to_string()))?;
    if first.path().map_err(|e| damaged(e.to_string()))?.to_string_lossy() != MANIFEST {
        return Err(damaged(format!("it does not begin with {MANIFEST}")));
    }
    let mut json = Vec::new();
    first.read_to_end(&mut json).map_err(|e| damaged(e.to_string()))?;
    let manifest: Manifest = serde_json::from_slice(&json).map_err(|e| damaged(format!("its manifest: {e}")))?;
    if manifest.format != FORMAT {
        bail!("{} is a backup of format {}, which this Stoa does not read", archive.display(), manifest.format);
    }
    let ours = env!("CARGO_PKG_VERSION");
    if version(&manifest.stoa_version) > version(ours) {
        bail!(
            "{} was made by Stoa {}, newer than this one ({ours}): restore it with that version or later",
            archive.display(),
            manifest.stoa_version
        );
    }
    let known = stoa_store::migrate::known_schema_version(manifest.database == "postgres");
    if manifest.schema_version > known {
        bail!(
            "{} holds schema version {}, newer than this Stoa ({ours}) knows ({known})",
            archive.display(),
            manifest.schema_version
        );
    }
    // Unpacked beside the target first, checked, then moved in.
    let parent = data.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
    std::fs::create_dir_all(parent)?;
    let staging = tempfile::Builder::new().prefix(".stoa-restore").tempdir_in(parent)?;
    let mut seen = Vec::new();
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(e.to_string()))?;
        let path = entry.path().map_err(|e| damaged(e.to_string()))?.to_string_lossy().to_string();
        let relative = safe(&path)?;
        let want = manifest
            .files
            .iter()
            .find(|f| f.path == path)
            .ok_or_else(|| damaged(format!("{path} is not in its manifest")))?;
        let target = staging.path().join(&relative);
        std::fs::create_dir_all(target.parent().unwrap_or(staging.path()))?;
        let mut out = std::fs::File::create(&target)?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut bytes = 0u64;
        loop {
            let n = entry.read(&mut buf).map_err(|e| damaged(format!("{path}: {e}")))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])?;
            bytes += n as u64;
        }
        let sha256 = hex(&hasher.finalize());
        if bytes != want.bytes || sha256 != want.sha256 {
            return Err(damaged(format!("{path} does not match its checksum")));
        }
        seen.push(path);
    }
    for f in &manifest.files {
        if !seen.contains(&f.path) {
            return Err(damaged(format!("{} is missing", f.path)));
        }
    }
    std::fs::create_dir_all(data)?;
    for entry in std::fs::read_dir(staging.path())?.flatten() {
        std::fs::rename(entry.path(), data.join(entry.file_name()))?;
    }
    Ok(format!(
        "Restored {} files (schema {}, made by Stoa {}) into {}{}",
        manifest.files.len(),
        manifest.schema_version,
        manifest.stoa_version,
        data.display(),
        if manifest.database == "postgres" { "; restore the database with pg_restore (see the README)" } else { "" }
    ))
}
