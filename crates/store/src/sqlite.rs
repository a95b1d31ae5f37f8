//! [`SqliteStore`]: the embedded default, one SQLite file in WAL mode. The queries are in `sql/`, shared
//! with Postgres; this file holds what is SQLite's own.

use crate::StoreError;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{ConnectOptions, Sqlite, SqliteConnection, SqlitePool, Transaction};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// The store over one SQLite database file.
///
/// Every transaction here writes, and begins `IMMEDIATE`: it takes the write lock first, waiting its turn
/// under the busy timeout. A deferred transaction that reads and then writes fails at once with
/// `SQLITE_BUSY` in WAL mode if another connection wrote in between (its snapshot is stale), which the
/// notification worker's batches made common.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    /// Taken by every write: SQLite has one writer at a time, and writers that queue here are woken the
    /// moment the one before commits, in order, where writers left to SQLite's busy handler sleep and poll
    /// (1, 2, 5, 10 ms...), which made a request that met a notification batch wait several milliseconds.
    /// Other processes (the admin CLI) still meet the busy handler.
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Connections outside the pool for the point reads that nearly every request makes (its session or
    /// token, a joiner's relations): see [`SqliteStore::reader`].
    readers: Arc<Readers>,
}

#[derive(Debug)]
struct Readers {
    conns: Box<[tokio::sync::Mutex<SqliteConnection>]>,
    next: AtomicUsize,
}

/// How many connections [`SqliteStore::reader`] lends: one per core here, as each has its own thread.
const READERS: usize = 2;

/// The store the shared SQL in `sql/` is compiled for, here.
pub(crate) type This = SqliteStore;
/// A row of a result.
pub(crate) type DbRow = sqlx::sqlite::SqliteRow;
/// A connection, as a transaction lends it.
pub(crate) type Conn = sqlx::SqliteConnection;

impl SqliteStore {
    /// Opens (creating if needed) `stoa.db` in `dir`, and applies the embedded migrations.
    pub async fn open(dir: &Path) -> Result<SqliteStore, StoreError> {
        Self::open_migrated(dir, sqlx::migrate!("./migrations")).await
    }

    /// [`SqliteStore::open`] with these migrations (the test of a failing one brings its own).
    #[doc(hidden)]
    pub async fn open_migrated(dir: &Path, migrator: sqlx::migrate::Migrator) -> Result<SqliteStore, StoreError> {
        let options = SqliteConnectOptions::from_str("sqlite://")?
            .filename(dir.join("stoa.db"))
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // In WAL mode NORMAL is durable across application crashes, and much faster than FULL.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            // The admin CLI writes while the server runs; a writer waits for the other rather than failing.
            .busy_timeout(Duration::from_secs(5));
        // A file's connection cannot go stale, so no ping before each use: sqlx's default would cost every
        // query a second round trip to the connection's worker thread.
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .test_before_acquire(false)
            .connect_with(options.clone())
            .await?;
        // A new database has no migration table yet: nothing to refuse.
        let (newest,): (Option<i64>,) =
            sqlx::query_as("SELECT MAX(version) FROM _sqlx_migrations").fetch_one(&pool).await.unwrap_or_default();
        crate::common::refuse_newer(newest, &migrator)?;
        migrator.run(&pool).await?;
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            conns.push(tokio::sync::Mutex::new(options.connect().await?));
        }
        let readers = Arc::new(Readers { conns: conns.into(), next: AtomicUsize::new(0) });
        Ok(SqliteStore { pool, writer: Default::default(), readers })
    }

    /// A connection for one read of a few rows, lent without the pool. sqlx's pool checks every connection
    /// given back to it with a round trip to the connection's thread, a second one for every query; what is
    /// read here is a single statement, which leaves nothing open to check (a read cut short by a dropped
    /// request ends on the connection's thread all the same). The first idle one is lent, else the next in
    /// turn, waited for.
    pub(crate) async fn reader(&self) -> Result<tokio::sync::MutexGuard<'_, SqliteConnection>, StoreError> {
        let conns = &self.readers.conns;
        let start = self.readers.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..conns.len() {
            if let Ok(conn) = conns[(start + i) % conns.len()].try_lock() {
                return Ok(conn);
            }
        }
        Ok(conns[start % conns.len()].lock().await)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The right to write, in turn.
    pub(crate) async fn write(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// A transaction that holds the write lock from its first statement (see [`SqliteStore`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// A list of IDs bound as parameter `n` (a JSON array, see [`crate::common::json_ids`]), as a table of
/// one column, `value`.
pub(crate) fn ids(n: usize) -> String {
    format!("(SELECT value FROM json_each(${n}))")
}

/// A list of strings bound as parameter `n` (a JSON array), as a table of one column, `value`.
pub(crate) fn texts(n: usize) -> String {
    ids(n)
}

/// The search words as the full-text index takes them: the route's FTS5 query as it is.
pub(crate) fn fts(query: &str) -> String {
    query.to_string()
}

/// People whose username or display name match the query bound as parameter `n`: the first `limit`
/// accounts FTS5's prefix index finds, as `hit` (the account's ID).
pub(crate) fn people_matching(n: usize, limit: u32) -> String {
    format!("(SELECT rowid AS hit FROM users_fts WHERE users_fts MATCH ${n} LIMIT {limit})")
}

/// Events whose title or description match the query bound as parameter `n`: the `limit` best by bm25, as
/// `hit` (the event's rowid) and `score` (lower is better).
pub(crate) fn events_matching(n: usize, limit: u32) -> String {
    format!(
        "(SELECT rowid AS hit, rank AS score FROM events_fts WHERE events_fts MATCH ${n} ORDER BY rank LIMIT {limit})"
    )
}

/// Clubs whose handle, name or description match the query bound as parameter `n`: the `limit` best by
/// bm25, as `hit` (the club's ID) and `score` (lower is better).
pub(crate) fn clubs_matching(n: usize, limit: u32) -> String {
    format!(
        "(SELECT rowid AS hit, rank AS score FROM clubs_fts WHERE clubs_fts MATCH ${n} ORDER BY rank LIMIT {limit})"
    )
}

/// Run with the account's ID as `$1` when it is deleted: its update's trigger indexed the anonymous stand-in,
/// which search is not to find.
pub(crate) const FORGET_IN_SEARCH: Option<&str> = Some(
    "INSERT INTO users_fts(users_fts, rowid, username, display_name) \
     SELECT 'delete', id, username, display_name FROM users WHERE id = $1",
);
