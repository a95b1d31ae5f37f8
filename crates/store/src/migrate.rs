//! `stoa admin migrate-to-postgres`: a SQLite server's data copied into Postgres, table by table, in one
//! transaction that commits only if every table's count matches.

use crate::{PgStore, StoreError};
use sqlx::{Row, SqlitePool};
use std::path::Path;

/// Every table, in an order that keeps foreign keys satisfied as rows arrive (a user's inviter is an older
/// user, so users go in ID order; reports before the recordings attached to them).
const TABLES: &[&str] = &[
    "users",
    "avatars",
    "invites",
    "sessions",
    "follows",
    "blocks",
    "rooms",
    "settings",
    "events",
    "event_hosts",
    "event_invited",
    "rsvps",
    "calendar_tokens",
    "notifications",
    "push_subscriptions",
    "push_muted_kinds",
    "chat_messages",
    "moderation_log",
    "reports",
    "admin_log",
    "api_tokens",
    "recordings",
    "webhooks",
    "webhook_deliveries",
    "clubs",
    "club_members",
    "club_follows",
    "club_avatars",
    "threads",
    "thread_members",
    "messages",
];

/// One table as copied: its name and how many rows each side holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copied {
    /// The table.
    pub table: &'static str,
    /// Rows in SQLite.
    pub from: i64,
    /// Rows in Postgres after the copy.
    pub to: i64,
}

/// Copies the SQLite database in `data` into the Postgres database at `url`, which must hold no account
/// yet (its migrations are applied first). Nothing is committed unless every table's count matches; the
/// counts are returned. The SQLite side is read in one snapshot: stop the server first all the same, or
/// what it writes after the snapshot stays behind.
pub async fn sqlite_to_postgres(data: &Path, url: &str) -> Result<Vec<Copied>, StoreError> {
    let file = data.join("stoa.db");
    if !file.exists() {
        return Err(StoreError::Migration(format!("there is no Stoa database in {}", data.display())));
    }
    // Opening it as the server would applies SQLite's own migrations, so its schema is the latest.
    drop(crate::SqliteStore::open(data).await?);
    let sqlite = SqlitePool::connect(&format!("sqlite://{}?mode=ro", file.display())).await?;
    let pg = PgStore::connect(url).await?;
    let pg = pg.pool();
    let (users,): (i64,) = sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pg).await?;
    if users > 0 {
        return Err(StoreError::Migration(format!(
            "the Postgres database already holds {users} accounts; copy into an empty one"
        )));
    }
    let mut read = sqlite.begin().await?;
    let mut write = pg.begin().await?;
    let mut copied = Vec::new();
    for &table in TABLES {
        // The columns and their types as Postgres has them; SQLite has the same names (plus its hidden
        // rowid, which Postgres's `rowid` columns stand in for: they are made anew, in the same order).
        let columns: Vec<(String, String)> = sqlx::query_as(
            "SELECT column_name::text, data_type::text FROM information_schema.columns \
             WHERE table_schema = current_schema() AND table_name = $1 AND column_name <> 'rowid' \
             ORDER BY ordinal_position",
        )
        .bind(table)
        .fetch_all(&mut *write)
        .await?;
        let names = columns.iter().map(|(c, _)| format!("\"{c}\"")).collect::<Vec<_>>().join(", ");
        let rows = sqlx::query(&format!("SELECT {names} FROM {table} ORDER BY rowid")).fetch_all(&mut *read).await?;
        // Postgres takes at most 65,535 parameters a statement.
        let per_batch = (60_000 / columns.len().max(1)).clamp(1, 500);
        for batch in rows.chunks(per_batch) {
            let values = (0..batch.len())
                .map(|r| {
                    let params =
                        (0..columns.len()).map(|c| format!("${}", r * columns.len() + c + 1)).collect::<Vec<_>>();
                    format!("({})", params.join(", "))
                })
                .collect::<Vec<_>>()
                .join(", ");
            let sql = format!("INSERT INTO {table} ({names}) VALUES {values}");
            let mut insert = sqlx::query(&sql);
            for row in batch {
                for (i, (column, kind)) in columns.iter().enumerate() {
                    insert = match kind.as_str() {
                        "bigint" => insert.bind(row.try_get::<Option<i64>, _>(i)?),
                        "boolean" => insert.bind(row.try_get::<Option<bool>, _>(i)?),
                        "text" => insert.bind(row.try_get::<Option<String>, _>(i)?),
                        "bytea" => insert.bind(row.try_get::<Option<Vec<u8>>, _>(i)?),
                        other => {
                            return Err(StoreError::Migration(format!(
                                "{table}.{column} is of a type the copy does not know ({other})"
                            )));
                        }
                    };
                }
            }
            insert.execute(&mut *write).await?;
        }
        // Identity columns go on from the highest ID copied.
        if columns.iter().any(|(c, _)| c == "id") && columns.iter().any(|(c, k)| c == "id" && k == "bigint") {
            sqlx::query(&format!(
                "SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT COALESCE(MAX(id), 0) + 1 FROM {table}), false)"
            ))
            .execute(&mut *write)
            .await?;
        }
        let (from,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *read).await?;
        let (to,): (i64,) = sqlx::query_as(&format!("SELECT COUNT(*) FROM {table}")).fetch_one(&mut *write).await?;
        copied.push(Copied { table, from, to });
    }
    if let Some(bad) = copied.iter().find(|c| c.from != c.to) {
        return Err(StoreError::Migration(format!(
            "{} has {} rows in SQLite but {} in Postgres; nothing was committed",
            bad.table, bad.from, bad.to
        )));
    }
    write.commit().await?;
    read.rollback().await?;
    Ok(copied)
}

/// Writes a consistent copy of the SQLite database in `data` to `out` (which must not exist) while the server
/// runs: SQLite's `VACUUM INTO`, which reads one snapshot and holds up no writer. Returns the copy's schema
/// version (its newest migration).
pub async fn snapshot_sqlite(data: &Path, out: &Path) -> Result<i64, StoreError> {
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    let options = SqliteConnectOptions::new()
        .filename(data.join("stoa.db"))
        .read_only(true)
        .busy_timeout(std::time::Duration::from_secs(5));
    let mut conn = options.connect().await?;
    sqlx::query("VACUUM INTO $1").bind(out.to_string_lossy().to_string()).execute(&mut conn).await?;
    drop(conn);
    schema_version(out).await
}

/// The schema version (newest migration) of the SQLite database file at `db`.
pub async fn schema_version(db: &Path) -> Result<i64, StoreError> {
    use sqlx::ConnectOptions;
    use sqlx::sqlite::SqliteConnectOptions;
    let mut conn = SqliteConnectOptions::new().filename(db).read_only(true).connect().await?;
    let (version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await?;
    Ok(version.unwrap_or(0))
}

/// The newest schema version this build knows: SQLite's, or with `postgres` Postgres's.
pub fn known_schema_version(postgres: bool) -> i64 {
    let migrator = if postgres { sqlx::migrate!("./migrations_postgres") } else { sqlx::migrate!("./migrations") };
    migrator.iter().map(|m| m.version).max().unwrap_or(0)
}

/// The schema version of the Postgres database at `url`.
pub async fn postgres_schema_version(url: &str) -> Result<i64, StoreError> {
    use sqlx::Connection;
    let mut conn = sqlx::PgConnection::connect(url).await?;
    let (version,): (Option<i64>,) =
        sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&mut conn).await?;
    Ok(version.unwrap_or(0))
}
