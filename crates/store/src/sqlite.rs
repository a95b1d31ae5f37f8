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
    /// Connections like `readers` for the backchannel's reads, which its tabs make by the thousand a second:
    /// see [`SqliteStore::bulk_reader`].
    bulk: Arc<Readers>,
    /// A connection outside the pool for the writes made in one call (see [`SqliteStore::send_at_once`]),
    /// only ever used under the write lock.
    sole: Arc<tokio::sync::Mutex<SqliteConnection>>,
}

#[derive(Debug)]
struct Readers {
    conns: Box<[tokio::sync::Mutex<SqliteConnection>]>,
    next: AtomicUsize,
}

/// How many connections [`SqliteStore::reader`] lends: one per core here, as each has its own thread.
const READERS: usize = 2;

impl Readers {
    async fn open(options: &SqliteConnectOptions) -> Result<Readers, StoreError> {
        let mut conns = Vec::with_capacity(READERS);
        for _ in 0..READERS {
            conns.push(tokio::sync::Mutex::new(options.connect().await?));
        }
        Ok(Readers { conns: conns.into(), next: AtomicUsize::new(0) })
    }

    /// The first idle connection, else the next in turn, waited for.
    async fn lend(&self) -> tokio::sync::MutexGuard<'_, SqliteConnection> {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        for i in 0..self.conns.len() {
            if let Ok(conn) = self.conns[(start + i) % self.conns.len()].try_lock() {
                return conn;
            }
        }
        self.conns[start % self.conns.len()].lock().await
    }
}

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
        let readers = Arc::new(Readers::open(&options).await?);
        let bulk = Arc::new(Readers::open(&options).await?);
        let sole = Arc::new(tokio::sync::Mutex::new(options.connect().await?));
        Ok(SqliteStore { pool, writer: Default::default(), readers, bulk, sole })
    }

    /// A connection for one read of a few rows, lent without the pool. sqlx's pool checks every connection
    /// given back to it with a round trip to the connection's thread, a second one for every query; what is
    /// read here is a single statement, which leaves nothing open to check (a read cut short by a dropped
    /// request ends on the connection's thread all the same). The first idle one is lent, else the next in
    /// turn, waited for.
    pub(crate) async fn reader(&self) -> Result<tokio::sync::MutexGuard<'_, SqliteConnection>, StoreError> {
        Ok(self.readers.lend().await)
    }

    /// A connection as [`SqliteStore::reader`] lends, from a set of their own, for the backchannel's reads
    /// (a thread's audience, a tab's news and counts): at 1,000 messages a second they are thousands a
    /// second, and a request's own reads (its session, the hallway's relations) must not queue behind them.
    pub(crate) async fn bulk_reader(&self) -> Result<tokio::sync::MutexGuard<'_, SqliteConnection>, StoreError> {
        Ok(self.bulk.lend().await)
    }

    pub(crate) fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// The right to write, in turn.
    pub(crate) async fn write(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        Some(self.writer.lock().await)
    }

    /// Runs `query`, a whole transaction of several statements made by [`send_sql`], in one call to SQLite's
    /// thread under the write lock, and returns its rows. A transaction of separate statements pays a round
    /// trip between the caller and that thread for each, with the lock held throughout; here the lock is held
    /// for about the time SQLite works. The call runs to its end even if the caller is dropped, as the
    /// transaction it opens must be closed; one that fails is rolled back.
    pub(crate) async fn send_at_once(
        &self,
        query: sqlx::query::Query<'static, Sqlite, sqlx::sqlite::SqliteArguments<'static>>,
    ) -> Result<Vec<sqlx::sqlite::SqliteRow>, StoreError> {
        let (writer, sole) = (self.writer.clone(), self.sole.clone());
        let call = tokio::spawn(async move {
            let _write = writer.lock_owned().await;
            let mut conn = sole.lock().await;
            let rows = query.fetch_all(&mut *conn).await;
            if rows.is_err() {
                // "No transaction is active" if it failed before BEGIN or at COMMIT's end: nothing to undo.
                let _ = sqlx::query("ROLLBACK").execute(&mut *conn).await;
            }
            rows
        });
        Ok(call
            .await
            .map_err(|e| StoreError::Database(sqlx::Error::Protocol(format!("a write's task ended: {e}"))))??)
    }

    /// A transaction that holds the write lock from its first statement (see [`SqliteStore`]).
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'_, Sqlite>, sqlx::Error> {
        self.pool.begin_with("BEGIN IMMEDIATE").await
    }
}

/// A message's send as one transaction of several statements, for [`SqliteStore::send_at_once`]: `look`
/// (the checks, see `sql/backchannel.rs`, over `$1` thread, `$2` sender, `$3` the minute's start) guards
/// the message's insert (`$4` text, `$5` time); the thread's time and the sender's reading and acceptance
/// follow only if it was inserted (`changes()` is the count of the statement before). Its one row is the
/// checks (as they read after the write) and the message's ID, or NULL if nothing was written; no row if
/// the sender is not in the thread.
pub(crate) fn send_sql(look: &str) -> String {
    format!(
        "BEGIN IMMEDIATE; \
         INSERT INTO messages (thread_id, sender_id, text, sent_at) SELECT $1, $2, $4, $5 FROM ({look}) a WHERE a.allowed; \
         UPDATE threads SET last_message_at = $5 WHERE id = $1 AND changes() = 1; \
         UPDATE thread_members SET last_read = last_insert_rowid(), state = 'active' \
           WHERE thread_id = $1 AND user_id = $2 AND changes() = 1; \
         SELECT a.*, CASE WHEN changes() = 1 THEN last_insert_rowid() END FROM ({look}) a; \
         COMMIT"
    )
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
