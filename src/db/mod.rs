//! Storage: one SQLite file in WAL mode. Readers come from an r2d2 pool; accepted deliveries
//! are written by one group-commit thread (`writer`); the worker has a connection of its own.

#[doc(hidden)]
pub mod bench;
pub mod error;
pub mod events;
pub mod hosts;
pub mod integrations;
pub mod migrate;
pub mod outbox;
pub mod packed;
pub mod reconcile;
pub mod rejections;
pub mod replays;
pub mod runs;
pub mod secrets;
pub mod slack;
pub mod sql;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;

pub use self::error::{DbError, DbResult};
pub use self::sql::Conn;
use crate::config::SyncMode;
use crate::error::{AppError, AppResult};

/// Connections for request handlers (reads, and API writes in their turn).
#[derive(Clone)]
pub struct Pool(r2d2::Pool<SqliteConnectionManager>);

/// A connection taken from the pool; back in the pool when dropped.
pub struct Pooled(r2d2::PooledConnection<SqliteConnectionManager>);

impl Pool {
    /// A connection, waiting at most the busy timeout for one to be free.
    pub fn get(&self) -> DbResult<Pooled> {
        Ok(Pooled(self.0.get()?))
    }
}

impl Pooled {
    pub fn conn(&self) -> Conn<'_> {
        Conn::sqlite(&self.0)
    }

    /// Runs `work` in one `IMMEDIATE` transaction, committed when it succeeds.
    pub fn write<T>(&self, work: impl FnOnce(Conn<'_>) -> AppResult<T>) -> AppResult<T> {
        in_transaction(&self.0, work)
    }
}

/// A connection of its own, for a thread that works outside the pool (the delivery writer,
/// the worker, the outbox, start-up tasks).
pub struct Connection(rusqlite::Connection);

impl Connection {
    pub fn open(path: &Path, sync: SyncMode) -> anyhow::Result<Connection> {
        Ok(Connection(connect(path, sync)?))
    }

    pub fn conn(&self) -> Conn<'_> {
        Conn::sqlite(&self.0)
    }

    /// A migrated database in memory, for the table modules' own tests.
    #[cfg(test)]
    pub(crate) fn memory() -> Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        migrate::migrate(&mut conn).expect("migrate");
        Connection(conn)
    }

    /// Runs `work` in one `IMMEDIATE` transaction (see [`in_transaction`]).
    pub fn transaction<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        in_transaction(&self.0, work)
    }
}

/// Runs `work` in one `IMMEDIATE` transaction on `conn`: the write lock is taken up front, so a
/// read-then-write cannot fail half way because another connection committed in between.
/// Committed when `work` succeeds; otherwise rolled back (see [`OpenTransaction`]).
fn in_transaction<T, E: From<DbError>>(
    conn: &rusqlite::Connection,
    work: impl FnOnce(Conn<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let open = OpenTransaction::begin(conn)?;
    let out = work(open.conn())?;
    open.conn().execute_batch("COMMIT")?;
    Ok(out)
}

/// An `IMMEDIATE` transaction that is rolled back when dropped before a COMMIT went through:
/// when the work failed, when the COMMIT failed (on a full disk that can leave the transaction
/// open, and every later BEGIN would fail), when the work panicked (a pooled connection must
/// not go back with a transaction open), or on purpose (a dry run).
struct OpenTransaction<'c>(&'c rusqlite::Connection);

impl<'c> OpenTransaction<'c> {
    fn begin(conn: &'c rusqlite::Connection) -> DbResult<Self> {
        Conn::sqlite(conn).execute_batch("BEGIN IMMEDIATE")?;
        Ok(OpenTransaction(conn))
    }

    fn conn(&self) -> Conn<'c> {
        Conn::sqlite(self.0)
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if !self.0.is_autocommit() && self.0.execute_batch("ROLLBACK").is_err() {
            tracing::error!("a transaction could not be rolled back");
        }
    }
}

const DB_FILE: &str = "provenant.db";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 8;
/// Prepared statements kept per connection: every statement of the hot paths stays parsed.
const STATEMENT_CACHE: usize = 128;

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// The PRAGMAs every connection gets. `synchronous` is per connection: the delivery writer
/// uses the configured mode, the pool (whose writes are configuration changes made through
/// the API: integrations, secrets, run statuses) syncs every commit, and the worker need not
/// (see `Worker::new`).
fn configure(conn: &rusqlite::Connection, sync: SyncMode) -> rusqlite::Result<()> {
    conn.busy_handler(Some(retry_while_busy))?;
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.pragma_update(None, "synchronous", sync.pragma())?;
    // What is deleted or rewritten is zeroed where that costs no extra writes: an old config
    // row does not linger in the file's free space.
    conn.pragma_update(None, "secure_delete", "FAST")?;
    Ok(())
}

/// Runs `work` in one transaction on a connection of its own that zeroes everything it
/// deletes or rewrites, then checkpoints the WAL into the database file and empties it: when
/// `work` replaces values that must not stay readable anywhere in the files.
pub fn rewrite_securely<T>(
    path: &Path,
    work: impl FnOnce(Conn<'_>) -> AppResult<T>,
) -> anyhow::Result<T> {
    let conn = connect(path, SyncMode::Full)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let out = in_transaction(&conn, work)?;
    conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))?;
    Ok(out)
}

/// How long a busy-handler nap lasts. SQLite's own busy timeout sleeps in steps of up to
/// 100 ms, so a connection that meets the lock at the wrong moment waits far longer than the
/// lock is held (a commit holds it for about a millisecond). Short naps keep the worker's
/// small transactions moving while the delivery writer commits.
const BUSY_NAP: Duration = Duration::from_micros(200);

/// SQLite calls this with the number of earlier calls for the same lock; `false` gives up
/// (the statement then fails with SQLITE_BUSY, which the API reports as 503).
fn retry_while_busy(attempts: i32) -> bool {
    let waited = BUSY_NAP * attempts.max(0) as u32;
    if waited >= BUSY_TIMEOUT {
        return false;
    }
    std::thread::sleep(BUSY_NAP);
    true
}

/// Opens one connection outside the pool.
fn connect(path: &Path, sync: SyncMode) -> anyhow::Result<rusqlite::Connection> {
    let conn =
        rusqlite::Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
    configure(&conn, sync)?;
    Ok(conn)
}

/// Migrates the database file and returns a pool of connections for request handlers.
pub fn open(path: &Path) -> anyhow::Result<Pool> {
    let mut conn = connect(path, SyncMode::Full)?;
    migrate::migrate(&mut conn)?;
    drop(conn);
    let manager = SqliteConnectionManager::file(path).with_init(|c| configure(c, SyncMode::Full));
    let pool = r2d2::Pool::builder()
        .max_size(POOL_SIZE)
        .connection_timeout(BUSY_TIMEOUT)
        .build(manager)
        .context("opening the connection pool")?;
    Ok(Pool(pool))
}

/// Runs blocking database work off the async executor threads.
pub async fn run<T, F>(pool: &Pool, work: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(Conn<'_>) -> AppResult<T> + Send + 'static,
{
    with_pooled(pool, move |conn| work(conn.conn())).await
}

/// Runs `work` on a pooled connection on a blocking thread.
async fn with_pooled<T, F>(pool: &Pool, work: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(&Pooled) -> AppResult<T> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || work(&pool.get()?))
        .await
        .map_err(|e| AppError::Internal(anyhow::anyhow!("database task failed: {e}")))?
}

/// Lets every writer in the process take its turn, in arrival order (tokio's mutex is fair):
/// API writes, the delivery writer's batches and the worker's transactions. Without it they
/// would meet in SQLite's busy handler, which is not fair: under a delivery flood some would
/// wait past the timeout, and a busy worker could starve the delivery writer.
pub type WriteGate = std::sync::Arc<tokio::sync::Mutex<()>>;

/// Runs a write from a request handler in one `IMMEDIATE` transaction, after the writes that
/// came before it. `IMMEDIATE` takes the write lock at the start: a read-then-write in a
/// `DEFERRED` transaction fails at once with SQLITE_BUSY when another connection committed in
/// between, instead of waiting its turn.
pub async fn write<T, F>(pool: &Pool, gate: &WriteGate, work: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(Conn<'_>) -> AppResult<T> + Send + 'static,
{
    let _turn = gate.lock().await;
    with_pooled(pool, move |conn| conn.write(work)).await
}

/// Runs `work` in its turn, in a transaction that is always rolled back: what it would write
/// is seen by what it reads, then undone, whether it succeeded, failed or panicked (the
/// connection goes back to the pool with no transaction open).
pub async fn rolled_back<T, F>(pool: &Pool, gate: &WriteGate, work: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(Conn<'_>) -> AppResult<T> + Send + 'static,
{
    let _turn = gate.lock().await;
    with_pooled(pool, move |conn| {
        let open = OpenTransaction::begin(&conn.0)?;
        work(open.conn())
        // `open` is dropped here, unfinished: rolled back.
    })
    .await
}

/// Turns "no row" into the resource's 404; anything else stays a database error.
pub(crate) fn not_found(what: &'static str) -> impl FnOnce(DbError) -> AppError {
    move |e| {
        if e.is_no_row() {
            AppError::NotFound(what)
        } else {
            AppError::Db(e)
        }
    }
}

/// Writes a consistent, compacted copy of the database to `to` (which must not exist).
/// Safe while the server runs: WAL lets it read a snapshot without stopping writers.
pub fn backup(data_dir: &Path, to: &Path) -> anyhow::Result<()> {
    let from = db_path(data_dir);
    if !from.exists() {
        anyhow::bail!("no database at {}", from.display());
    }
    if to.exists() {
        anyhow::bail!("{} already exists; choose a new file", to.display());
    }
    let conn = connect(&from, SyncMode::Full)?;
    let target = to
        .to_str()
        .ok_or_else(|| anyhow::anyhow!("the backup path must be valid UTF-8"))?;
    conn.execute("VACUUM INTO ?1", [target])
        .with_context(|| format!("writing the backup to {}", to.display()))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn api_connections_sync_every_commit() {
        let dir = tempfile::tempdir().expect("temporary folder");
        let pool = super::open(&super::db_path(dir.path())).expect("pool");
        let conn = pool.get().expect("connection");
        let mode: i64 = conn
            .conn()
            .query_value("PRAGMA synchronous", super::sql::params![])
            .expect("pragma");
        // 2 = FULL: a configuration change the API answered 2xx for survives a power cut.
        assert_eq!(mode, 2);
    }
}

#[cfg(test)]
mod seam {
    use std::path::Path;

    /// Every `.rs` file under `dir`, with its text.
    fn sources(dir: &Path, out: &mut Vec<(String, String)>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            if path.is_dir() {
                sources(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let text = std::fs::read_to_string(&path).expect("read source");
                out.push((path.display().to_string(), text));
            }
        }
    }

    /// The storage seam holds: outside `src/db/`, no code (server, benchmark or tests) names a
    /// database crate or runs transaction statements of its own, so a second backend needs no
    /// change outside `db`.
    #[test]
    fn nothing_outside_db_names_a_database_crate_or_runs_its_own_transactions() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR"));
        let db = root.join("src").join("db");
        let mut files = Vec::new();
        sources(&root.join("src"), &mut files);
        sources(&root.join("tests"), &mut files);
        assert!(files.len() > 50, "found only {} sources", files.len());
        let crates = regex::Regex::new(
            r"\b(rusqlite|r2d2_sqlite|r2d2|postgres|tokio_postgres|r2d2_postgres)::",
        )
        .expect("pattern");
        let transactions = regex::Regex::new(r#""\s*(BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b"#)
            .expect("pattern");
        let mut offenders = Vec::new();
        for (path, text) in &files {
            if path.starts_with(&db.display().to_string()) {
                continue;
            }
            for (n, line) in text.lines().enumerate() {
                let in_src = path.starts_with(&root.join("src").display().to_string());
                if crates.is_match(line) || (in_src && transactions.is_match(line)) {
                    offenders.push(format!("{path}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        assert!(offenders.is_empty(), "{}", offenders.join("\n"));
    }
}
