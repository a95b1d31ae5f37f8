//! A server moved from SQLite to Postgres with `stoa admin migrate-to-postgres`, as an operator who outgrows
//! one machine would: its people, follows, events and settings come along, sign-in still works, and a second
//! copy into the same database is refused. Runs in the test command's Postgres pass (STOA_TEST_POSTGRES, see
//! scripts/with-postgres), where `stoa_store::test_database` makes a fresh database.

use serde_json::{Value, json};
use std::process::Command;
use stoa_server::ServerConfig;

const STOA: &str = env!("CARGO_BIN_EXE_stoa");

fn config(data: &std::path::Path, database: Option<String>) -> ServerConfig {
    ServerConfig {
        http: "127.0.0.1:0".parse().unwrap(),
        media_udp: "127.0.0.1:0".parse().unwrap(),
        data: data.to_path_buf(),
        database,
        ..ServerConfig::default()
    }
}

async fn call(base: &str, token: Option<&str>, method: reqwest::Method, path: &str, body: Value) -> (u16, Value) {
    let mut req = reqwest::Client::new().request(method.clone(), format!("{base}{path}"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if method != reqwest::Method::GET {
        req = req.json(&body);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Value::Null))
}

fn migrate(data: &std::path::Path, database: &str) -> std::process::Output {
    Command::new(STOA)
        .args(["admin", "migrate-to-postgres", "--data", data.to_str().unwrap(), "--database", database])
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[tokio::test]
async fn a_sqlite_server_moves_to_postgres_with_everything_it_knows() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let data = tempfile::tempdir().unwrap();

    // A server on SQLite, with an admin, two people who follow each other one way, an event and a setting.
    let running = stoa_server::start(config(data.path(), None)).await.unwrap();
    let base = format!("http://{}", running.addr);
    let admin_token = first_admin(&running, &base).await;
    let (_, invite) = call(&base, Some(&admin_token), reqwest::Method::POST, "/api/v1/invites", json!({})).await;
    let (s, ada) = call(&base, None, reqwest::Method::POST, "/api/v1/auth/signup",
        json!({"invite": invite["code"], "username": "ada_lovelace", "display_name": "Ada", "password": "ada-password"})).await;
    assert_eq!(s, 201, "{ada}");
    let ada_token = ada["token"].as_str().unwrap().to_string();
    let (s, _) = call(&base, Some(&ada_token), reqwest::Method::POST, "/api/v1/users/operator/follow", json!({})).await;
    assert!(s < 300, "{s}");
    let starts = (std::time::SystemTime::now() + std::time::Duration::from_secs(86_400))
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let starts = chrono_free_rfc3339(starts);
    let (s, event) = call(&base, Some(&admin_token), reqwest::Method::POST, "/api/v1/events",
        json!({"title": "Analytical engines", "description": "Notes on notes", "starts_at": starts, "visibility": "open"})).await;
    assert_eq!(s, 201, "{event}");
    // An avatar: its images are in the database too (bytes, not text).
    let avatar: Value = reqwest::Client::new()
        .put(format!("{base}/api/v1/me/avatar"))
        .bearer_auth(&ada_token)
        .header("content-type", "image/png")
        .body(PNG_1X1.to_vec())
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let avatar = avatar["avatar"].as_str().expect("the avatar is set").to_string();
    let jpeg = reqwest::Client::new().get(format!("{base}{avatar}")).bearer_auth(&ada_token).send().await.unwrap();
    let jpeg = jpeg.bytes().await.unwrap();
    running.stop().await.unwrap();

    let out = migrate(data.path(), &database);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("every count matches"), "{stdout}");
    let users_line = stdout.lines().find(|l| l.starts_with("users ")).unwrap().split_whitespace().collect::<Vec<_>>();
    assert_eq!(users_line, ["users", "2", "2"], "{stdout}");

    // The same server on Postgres, with an empty data folder: nothing comes from SQLite any more.
    let empty = tempfile::tempdir().unwrap();
    let running = stoa_server::start(config(empty.path(), Some(database.clone()))).await.unwrap();
    assert!(running.bootstrap_invite.is_none(), "the accounts came along, so no first-account invite");
    let base = format!("http://{}", running.addr);
    let (s, login) = call(
        &base,
        None,
        reqwest::Method::POST,
        "/api/v1/auth/login",
        json!({"username": "ada_lovelace", "password": "ada-password"}),
    )
    .await;
    assert_eq!(s, 200, "{login}");
    let token = login["token"].as_str().unwrap().to_string();
    let (_, profile) = call(&base, Some(&token), reqwest::Method::GET, "/api/v1/users/operator", Value::Null).await;
    assert_eq!((profile["you_follow"].clone(), profile["followers"].clone()), (json!(true), json!(1)), "{profile}");
    let (s, found) = call(
        &base,
        Some(&token),
        reqwest::Method::GET,
        &format!("/api/v1/events/{}", event["id"].as_str().unwrap()),
        Value::Null,
    )
    .await;
    assert_eq!((s, found["title"].as_str()), (200, Some("Analytical engines")), "{found}");
    let moved = reqwest::Client::new().get(format!("{base}{avatar}")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(moved.status().as_u16(), 200, "the avatar came along");
    assert_eq!(moved.bytes().await.unwrap(), jpeg);
    // Search works on Postgres's own index: a word of the username, a prefix of the event's title.
    let (_, search) = call(&base, Some(&token), reqwest::Method::GET, "/api/v1/search?q=analyt", Value::Null).await;
    assert_eq!(search["events"][0]["title"], "Analytical engines", "{search}");
    let (_, search) = call(&base, Some(&token), reqwest::Method::GET, "/api/v1/search?q=lovel", Value::Null).await;
    assert_eq!(search["people"][0]["username"], "ada_lovelace", "{search}");
    // New rows take IDs after the copied ones.
    let (_, invite) = call(&base, Some(&token), reqwest::Method::POST, "/api/v1/invites", json!({})).await;
    let (s, grace) = call(
        &base,
        None,
        reqwest::Method::POST,
        "/api/v1/auth/signup",
        json!({"invite": invite["code"], "username": "grace", "display_name": "Grace", "password": "grace-password"}),
    )
    .await;
    assert_eq!(s, 201, "{grace}");
    assert!(grace["user"]["id"].as_i64().unwrap() > ada["user"]["id"].as_i64().unwrap());
    running.stop().await.unwrap();

    // A second copy would mix two servers' data: refused, and nothing changes.
    let out = migrate(data.path(), &database);
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already holds 3 accounts"), "{stderr}");
}

/// Signs up the first account (the admin) from the server's bootstrap invite; returns its token.
async fn first_admin(running: &stoa_server::Running, base: &str) -> String {
    let code = running.bootstrap_invite.clone().unwrap();
    let code = code.rsplit('/').next().unwrap();
    let (s, admin) = call(
        base,
        None,
        reqwest::Method::POST,
        "/api/v1/auth/signup",
        json!({"invite": code, "username": "operator", "display_name": "Operator", "password": "operator-password"}),
    )
    .await;
    assert_eq!(s, 201, "{admin}");
    admin["token"].as_str().unwrap().to_string()
}

/// A 1x1 PNG.
const PNG_1X1: [u8; 70] = [
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31, 21, 196,
    137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 248, 207, 80, 15, 0, 3, 134, 1, 128, 90, 52, 125, 107, 0, 0,
    0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// Unix seconds as RFC 3339 in UTC, without a date library.
fn chrono_free_rfc3339(secs: u64) -> String {
    let days = secs / 86_400;
    let rem = secs % 86_400;
    // Civil from days (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[test]
fn a_database_that_is_not_postgres_or_cannot_be_reached_is_a_clear_error_at_start() {
    let dir = tempfile::tempdir().unwrap();
    let run = |database: &str| {
        Command::new(STOA)
            .current_dir(dir.path())
            .args(["serve", "--http", "127.0.0.1:0", "--media-udp", "127.0.0.1:0", "--database", database])
            .env_remove("RUST_LOG")
            .output()
            .unwrap()
    };
    let out = run("mysql://root:hunter2@db/stoa");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("postgres:// URL") && !stderr.contains("hunter2"), "{stderr}");
    let out = run("postgres://stoa:hunter2@localhost/stoa?host=/nonexistent-socket-folder");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(stderr.contains("database") && !stderr.contains("hunter2"), "{stderr}");
}

#[tokio::test]
async fn a_node_that_cannot_reach_nats_at_start_stops_with_a_clear_error() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let data = tempfile::tempdir().unwrap();
    let closed = crate::common::reserved_port(false);
    let config = ServerConfig {
        cluster: Some(stoa_server::cluster::ClusterConfig {
            nats: format!("nats://stoa:secret-word@127.0.0.1:{closed}"),
            node: "a".into(),
        }),
        ..config(data.path(), Some(database))
    };
    let error = stoa_server::start(config).await.err().expect("no NATS, no node").to_string();
    assert!(error.contains("cannot join the cluster") && error.contains("cannot connect to NATS"), "{error}");
    assert!(!error.contains("secret-word"), "the password is never printed: {error}");
}

/// Runs SQL as the test Postgres's superuser on its `postgres` database (beside the one under test).
fn psql(database_url: &str, sql: &str) {
    let (_, query) = database_url.split_once('?').unwrap();
    let url = format!("postgresql://postgres@localhost/postgres?{query}");
    let out = Command::new("psql").args([&url, "-v", "ON_ERROR_STOP=1", "-qc", sql]).output().unwrap();
    assert!(out.status.success(), "psql: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn a_server_whose_postgres_goes_away_answers_503_and_recovers_when_it_is_back() {
    let database = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let name = database.split('/').nth(3).unwrap().split('?').next().unwrap().to_string();
    let data = tempfile::tempdir().unwrap();
    let running = stoa_server::start(config(data.path(), Some(database.clone()))).await.unwrap();
    let base = format!("http://{}", running.addr);
    let token = first_admin(&running, &base).await;
    let (s, _) = call(&base, Some(&token), reqwest::Method::GET, "/api/v1/rooms", Value::Null).await;
    assert_eq!(s, 200);

    // The database stops taking connections and drops the server's, as a Postgres that restarts or fails.
    psql(&database, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS false"));
    psql(&database, &format!("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"));
    let resp = reqwest::Client::new().get(format!("{base}/api/v1/rooms")).bearer_auth(&token).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 503, "a request that needs the store is told to come back");
    assert_eq!(resp.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("2"));
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["error"]["code"], "store_unavailable", "{body}");
    let (s, health) = call(&base, None, reqwest::Method::GET, "/healthz", Value::Null).await;
    assert_eq!((s, health["status"].as_str()), (503, Some("degraded")), "{health}");

    // Back: the same server answers again, with nothing lost.
    psql(&database, &format!("ALTER DATABASE \"{name}\" ALLOW_CONNECTIONS true"));
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let (s, _) = call(&base, Some(&token), reqwest::Method::GET, "/api/v1/rooms", Value::Null).await;
        if s == 200 {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the server never came back: {s}");
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    let (s, _) = call(&base, None, reqwest::Method::GET, "/healthz", Value::Null).await;
    assert_eq!(s, 200);
    running.stop().await.unwrap();
}

/// Upgrades on Postgres: each release's fixture has a `postgres/` folder, made with
/// `scripts/make-fixture.py --database` and dumped with `pg_dump --inserts` (the data folder beside it holds
/// the recordings). Each dump is loaded into a fresh database, this build starts on it (migrating it from
/// that release's schema), and everything in it is there, as on SQLite.
#[tokio::test]
async fn every_postgres_fixture_opens_with_everything_in_it() {
    use sqlx::Connection;
    let mut opened = 0;
    for fixture in crate::upgrades::fixtures() {
        let dir = fixture.join("postgres");
        if !dir.join("dump.sql").is_file() {
            continue;
        }
        let name = format!("{} (Postgres)", fixture.file_name().unwrap().to_string_lossy());
        let expect: serde_json::Value =
            serde_json::from_str(&std::fs::read_to_string(dir.join("FIXTURE.json")).unwrap()).unwrap();
        let url = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
        let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
        sqlx::raw_sql(&std::fs::read_to_string(dir.join("dump.sql")).unwrap()).execute(&mut conn).await.unwrap();
        conn.close().await.unwrap();
        let data = tempfile::tempdir().unwrap();
        crate::upgrades::copy_dir(&dir.join("data"), data.path());
        let mut config = crate::upgrades::config(data.path().to_path_buf());
        config.database = Some(url);
        let running = stoa_server::start(config).await.unwrap_or_else(|e| panic!("{name} does not open: {e:#}"));
        crate::upgrades::check(&name, &format!("http://{}", running.addr), &expect).await;
        drop(running);
        opened += 1;
    }
    assert!(opened >= 2, "the Postgres fixtures of 0.1.0 and 0.2.0 at least");
}

/// A Postgres server's backup, as the README tells it: `stoa admin backup --database` for the files (its
/// manifest names Postgres and its schema), `pg_dump` beside it; restored with `stoa admin restore` and
/// `pg_restore` into an empty database, a server there has everything the fixture has, the replay included.
#[tokio::test]
async fn a_postgres_servers_backup_and_pg_dump_restore_whole() {
    use sqlx::Connection;
    let fixture = crate::upgrades::fixtures().into_iter().find(|f| f.ends_with("v0.2.0")).unwrap().join("postgres");
    let expect: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(fixture.join("FIXTURE.json")).unwrap()).unwrap();
    let bin = std::fs::read_dir("/usr/lib/postgresql")
        .unwrap()
        .flatten()
        .map(|e| e.path().join("bin"))
        .max()
        .expect("Postgres's tools (scripts/test installs them)");
    let url = stoa_store::test_database().expect("the Postgres pass of the test command sets STOA_TEST_POSTGRES");
    let mut conn = sqlx::PgConnection::connect(&url).await.unwrap();
    sqlx::raw_sql(&std::fs::read_to_string(fixture.join("dump.sql")).unwrap()).execute(&mut conn).await.unwrap();
    conn.close().await.unwrap();
    let work = tempfile::tempdir().unwrap();
    let data = work.path().join("data");
    crate::upgrades::copy_dir(&fixture.join("data"), &data);
    // The current build migrates it, then the backup: the files, and the database by pg_dump.
    let mut config = crate::upgrades::config(data.clone());
    config.database = Some(url.clone());
    drop(stoa_server::start(config).await.unwrap());
    let archive = work.path().join("files.tar");
    let dump = work.path().join("stoa.dump");
    let stoa = |args: &[&str]| std::process::Command::new(STOA).arg("admin").args(args).output().unwrap();
    let out =
        stoa(&["backup", "--data", data.to_str().unwrap(), "--database", &url, "--out", archive.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("pg_dump"), "it says the database is backed up apart");
    let dumped = std::process::Command::new(bin.join("pg_dump"))
        .args(["--format=custom", "--file"])
        .arg(&dump)
        .arg(format!("--dbname={url}"))
        .output()
        .unwrap();
    assert!(dumped.status.success(), "{}", String::from_utf8_lossy(&dumped.stderr));

    // Restored into a new folder and an empty database.
    let restored = work.path().join("restored");
    let out = stoa(&["restore", archive.to_str().unwrap(), "--data", restored.to_str().unwrap()]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!restored.join("stoa.db").exists(), "no SQLite database in a Postgres server's backup");
    let fresh = stoa_store::test_database().unwrap();
    let pg_restored = std::process::Command::new(bin.join("pg_restore"))
        .arg("--no-owner")
        .arg(format!("--dbname={fresh}"))
        .arg(&dump)
        .output()
        .unwrap();
    assert!(pg_restored.status.success(), "{}", String::from_utf8_lossy(&pg_restored.stderr));
    let mut config = crate::upgrades::config(restored);
    config.database = Some(fresh);
    let running = stoa_server::start(config).await.unwrap();
    crate::upgrades::check("v0.2.0 (Postgres, restored)", &format!("http://{}", running.addr), &expect).await;
}
