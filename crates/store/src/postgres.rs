//! [`PgStore`]: the store on Postgres, for a cluster of nodes. The queries are in `sql/`, shared with
//! SQLite; this file holds what is Postgres's own.

use crate::StoreError;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::time::Duration;

/// The store on a Postgres database.
///
/// The shared SQL was written for SQLite, where one writer at a time is the rule: a transaction that reads
/// and then writes (a quota's count, then the insert) can trust what it read. Postgres's default isolation
/// does not give that, so every such transaction here first takes one transaction-scoped advisory lock,
/// which keeps SQLite's rule across every node of a cluster. Single statements, and reads, do not take it;
/// the transactions that do are short, and rare beside them.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
}

/// The store the shared SQL in `sql/` is compiled for, here.
pub(crate) type This = PgStore;
/// A row of a result.
pub(crate) type DbRow = sqlx::postgres::PgRow;
/// A connection, as a transaction lends it.
pub(crate) type Conn = sqlx::PgConnection;

/// The advisory lock's key: "stoa" in ASCII.
const WRITE_LOCK: i64 = 0x73746f61;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`, or with `?host=/socket/dir`),
    /// and applies the embedded migrations. Gives up after 10 s if the database cannot be reached.
    pub async fn connect(url: &str) -> Result<PgStore, StoreError> {
        Self::connect_migrated(url, sqlx::migrate!("./migrations_postgres")).await
    }

    /// [`PgStore::connect`] with these migrations (the test of a failing one brings its own).
    #[doc(hidden)]
    pub async fn connect_migrated(url: &str, migrator: sqlx::migrate::Migrator) -> Result<PgStore, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("stoa");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        let (migrated,): (bool,) =
            sqlx::query_as("SELECT to_regclass('_sqlx_migrations') IS NOT NULL").fetch_one(&pool).await?;
        let newest = match migrated {
            true => {
                sqlx::query_as::<_, (Option<i64>,)>("SELECT MAX(version) FROM _sqlx_migrations")
                    .fetch_one(&pool)
                    .await?
                    .0
            }
            false => None,
        };
        crate::common::refuse_newer(newest, &migrator)?;
        migrator.run(&pool).await?;
        Ok(PgStore { pool })
    }

    pub(crate) fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// A connection for one read of a few rows: from the pool, as any (SQLite lends its own, see
    /// `SqliteStore::reader`).
    pub(crate) async fn reader(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// A connection for the backchannel's many reads: from the pool, as any.
    pub(crate) async fn bulk_reader(&self) -> Result<sqlx::pool::PoolConnection<Postgres>, StoreError> {
        Ok(self.pool.acquire().await?)
    }

    /// Nothing to wait for: Postgres takes concurrent writers (see [`PgStore`]).
    pub(crate) async fn write(&self) -> Option<tokio::sync::MutexGuard<'_, ()>> {
        None
    }

    /// Runs `query`, one statement made by [`send_sql`], in a transaction under the store's write lock, and
    /// returns its rows (SQLite's twin saves round trips; here it is one statement either way).
    pub(crate) async fn send_at_once(
        &self,
        query: sqlx::query::Query<'static, Postgres, sqlx::postgres::PgArguments>,
    ) -> Result<Vec<sqlx::postgres::PgRow>, StoreError> {
        let mut tx = self.begin_write().await?;
        let rows = query.fetch_all(&mut *tx).await?;
        tx.commit().await?;
        Ok(rows)
    }

    /// A transaction that holds the store's write lock until it ends (see [`PgStore`]).
    ///
    /// It is begun on a task of its own, so that a caller dropped meanwhile (a request whose client went
    /// away) cannot leave it half begun: sqlx 0.8 counts a transaction only once `BEGIN` is answered, so a
    /// `begin` dropped before that left the connection in a transaction that nothing rolled back, and the
    /// pool lent it on, with the lock, to statements that were then never committed (sqlx issue 4393).
    /// Here a dropped caller's transaction is handed back whole and rolled back as any dropped one is.
    pub(crate) async fn begin_write(&self) -> Result<Transaction<'static, Postgres>, sqlx::Error> {
        let pool = self.pool.clone();
        let begin = tokio::spawn(async move {
            let mut tx = pool.begin().await?;
            sqlx::query("SELECT pg_advisory_xact_lock($1)").bind(WRITE_LOCK).execute(&mut *tx).await?;
            Ok(tx)
        });
        begin.await.map_err(|e| sqlx::Error::Protocol(format!("a transaction's beginning ended: {e}")))?
    }
}

/// A message's send as one statement (see SQLite's twin): `look` (the checks, over `$1` thread, `$2` sender,
/// `$3` the minute's start) guards the message's insert (`$4` text, `$5` time), and the thread's time and
/// the sender's reading and acceptance follow it. Its one row is the checks and the message's ID, or NULL if
/// nothing was written; no row if the sender is not in the thread.
pub(crate) fn send_sql(look: &str) -> String {
    format!(
        "WITH l AS ({look}), \
         m AS (INSERT INTO messages (thread_id, sender_id, text, sent_at) SELECT $1, $2, $4, $5 FROM l WHERE l.allowed \
           RETURNING id), \
         t AS (UPDATE threads SET last_message_at = $5 WHERE id = $1 AND EXISTS (SELECT 1 FROM m)), \
         r AS (UPDATE thread_members SET last_read = (SELECT id FROM m), state = 'active' \
           WHERE thread_id = $1 AND user_id = $2 AND EXISTS (SELECT 1 FROM m)) \
         SELECT l.*, (SELECT id FROM m) FROM l"
    )
}

/// A list of IDs bound as parameter `n` (a JSON array, see [`crate::common::json_ids`]), as a table of
/// one column, `value`.
pub(crate) fn ids(n: usize) -> String {
    format!("(SELECT CAST(value AS BIGINT) AS value FROM json_array_elements_text(CAST(${n} AS json)))")
}

/// A list of strings bound as parameter `n` (a JSON array), as a table of one column, `value`.
pub(crate) fn texts(n: usize) -> String {
    format!("(SELECT value FROM json_array_elements_text(CAST(${n} AS json)))")
}

/// The search words as `to_tsquery` takes them. The route hands over FTS5's form, `"ada"* "lov"*` (each
/// word quoted, a prefix, all of them to match), whose words are letters and digits only; here that is
/// `'ada':* & 'lov':*`.
pub(crate) fn fts(query: &str) -> String {
    query
        .split_whitespace()
        .map(|w| w.trim_end_matches('*').trim_matches('"'))
        .filter(|w| !w.is_empty())
        .map(|w| format!("'{}':*", w.replace(['\'', '\\'], "")))
        .collect::<Vec<_>>()
        .join(" & ")
}

/// People whose username or display name match the query bound as parameter `n`, through the `users_search`
/// index: the first `limit`, as `hit` (the account's ID).
pub(crate) fn people_matching(n: usize, limit: u32) -> String {
    format!(
        "(SELECT id AS hit FROM users WHERE deleted_at IS NULL AND to_tsvector('simple', replace(username, '_', ' ') \
         || ' ' || display_name) @@ to_tsquery('simple', ${n}) LIMIT {limit})"
    )
}

/// Clubs whose handle, name or description match the query bound as parameter `n`: the `limit` best by
/// `ts_rank`, as `hit` (the club's ID) and `score` (lower is better).
pub(crate) fn clubs_matching(n: usize, limit: u32) -> String {
    let document = "to_tsvector('simple', replace(handle, '_', ' ') || ' ' || name || ' ' || description)";
    format!(
        "(SELECT id AS hit, -ts_rank({document}, to_tsquery('simple', ${n})) AS score FROM clubs \
         WHERE {document} @@ to_tsquery('simple', ${n}) ORDER BY score LIMIT {limit})"
    )
}

/// Events whose title or description match the query bound as parameter `n`: the `limit` best by `ts_rank`,
/// as `hit` (the event's rowid) and `score` (lower is better).
pub(crate) fn events_matching(n: usize, limit: u32) -> String {
    format!(
        "(SELECT rowid AS hit, -ts_rank(to_tsvector('simple', title || ' ' || description), to_tsquery('simple', ${n})) \
         AS score FROM events WHERE to_tsvector('simple', title || ' ' || description) @@ to_tsquery('simple', ${n}) \
         ORDER BY score LIMIT {limit})"
    )
}

/// Nothing: the search index leaves deleted accounts out by itself.
pub(crate) const FORGET_IN_SEARCH: Option<&str> = None;
