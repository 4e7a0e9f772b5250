//! Storage: one SQLite file in WAL mode. Readers come from an r2d2 pool; accepted deliveries
//! are written by one group-commit thread (`writer`); the worker has a connection of its own.

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
pub mod storage;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;
use rusqlite::Connection;

use crate::config::SyncMode;
use crate::error::{AppError, AppResult};

pub type Pool = r2d2::Pool<SqliteConnectionManager>;

const DB_FILE: &str = "provenant.db";
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
const POOL_SIZE: u32 = 8;

pub fn db_path(data_dir: &Path) -> PathBuf {
    data_dir.join(DB_FILE)
}

/// The PRAGMAs every connection gets. `synchronous` is per connection: the delivery writer
/// uses the configured mode, the pool (whose writes are configuration changes made through
/// the API: integrations, secrets, run statuses) syncs every commit, and the worker need not
/// (see `Worker::new`).
fn configure(conn: &Connection, sync: SyncMode) -> rusqlite::Result<()> {
    conn.busy_handler(Some(retry_while_busy))?;
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
    work: impl FnOnce(&Connection) -> AppResult<T>,
) -> anyhow::Result<T> {
    let mut conn = connect(path, SyncMode::Full)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = work(&tx)?;
    tx.commit()?;
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

/// Opens one connection outside the pool (for the writer and the worker threads).
pub fn connect(path: &Path, sync: SyncMode) -> anyhow::Result<Connection> {
    let conn = Connection::open(path).with_context(|| format!("opening {}", path.display()))?;
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
    Ok(pool)
}

/// Runs blocking SQLite work off the async executor threads.
pub async fn run<T, F>(pool: &Pool, work: F) -> AppResult<T>
where
    T: Send + 'static,
    F: FnOnce(&mut Connection) -> AppResult<T> + Send + 'static,
{
    let pool = pool.clone();
    tokio::task::spawn_blocking(move || {
        let mut conn = pool.get()?;
        work(&mut conn)
    })
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
    F: FnOnce(&rusqlite::Transaction<'_>) -> AppResult<T> + Send + 'static,
{
    let _turn = gate.lock().await;
    run(pool, move |conn| {
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let out = work(&tx)?;
        tx.commit()?;
        Ok(out)
    })
    .await
}

/// Turns "no row" into the resource's 404; anything else stays a database error.
pub(crate) fn not_found(what: &'static str) -> impl FnOnce(rusqlite::Error) -> AppError {
    move |e| match e {
        rusqlite::Error::QueryReturnedNoRows => AppError::NotFound(what),
        other => AppError::Db(other),
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
            .query_row("PRAGMA synchronous", [], |r| r.get(0))
            .expect("pragma");
        // 2 = FULL: a configuration change the API answered 2xx for survives a power cut.
        assert_eq!(mode, 2);
    }
}
