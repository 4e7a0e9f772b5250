//! Storage: one SQLite file in WAL mode. Readers come from an r2d2 pool; accepted deliveries
//! are written by one group-commit thread (`writer`); the worker has a connection of its own.

mod sync_mode;
pub use sync_mode::SyncMode;
pub mod alerts;
pub mod audit;
#[doc(hidden)]
pub mod bench;
pub mod checkup;
pub mod cluster;
pub mod copy;
pub mod error;
pub mod events;
pub mod hosts;
pub mod installations;
pub mod integrations;
pub mod keys;
pub mod manifests;
pub mod migrate;
pub mod outbox;
pub mod packed;
pub mod pg;
mod pg_tls;
pub mod pr_comments;
pub mod reconcile;
pub mod rejections;
pub mod replays;
pub mod run_tokens;
pub mod runs;
pub mod secrets;
pub mod sessions;
pub mod sign_ins;
pub mod slack;
pub mod sql;
pub mod stats;
pub mod storage;
#[doc(hidden)]
pub mod testing;
pub mod tokens;
mod value;
pub mod writer;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use r2d2_sqlite::SqliteConnectionManager;

pub use self::error::{DbError, DbResult};
pub use self::sql::Conn;

use crate::base::error::{AppError, AppResult};

/// Where the database is: one file in the data folder (the default), or a PostgreSQL
/// database that several nodes share.
#[derive(Clone, Debug)]
pub enum Location {
    File(PathBuf),
    Postgres(pg::Target),
}

impl Location {
    /// The SQLite file of the data folder `data_dir`.
    pub fn in_data_dir(data_dir: &Path) -> Location {
        Location::File(db_path(data_dir))
    }

    /// A PostgreSQL database by its URL (`postgres://user:pass@host:port/db`).
    pub fn postgres(url: &str) -> anyhow::Result<Location> {
        Ok(Location::Postgres(pg::Target::parse(url)?))
    }

    /// The database file, when there is one.
    pub fn file(&self) -> Option<&Path> {
        match self {
            Location::File(path) => Some(path),
            Location::Postgres(_) => None,
        }
    }

    pub fn is_postgres(&self) -> bool {
        matches!(self, Location::Postgres(_))
    }

    /// For logs and errors: the file's path, or the URL without its password.
    pub fn describe(&self) -> String {
        match self {
            Location::File(path) => path.display().to_string(),
            Location::Postgres(target) => {
                format!("{} (sslmode={})", target.redacted(), target.tls_mode())
            }
        }
    }
}

/// Connections for request handlers (reads, and API writes in their turn).
#[derive(Clone)]
pub struct Pool(PoolOf);

#[derive(Clone)]
enum PoolOf {
    Sqlite(r2d2::Pool<SqliteConnectionManager>),
    Postgres(r2d2::Pool<pg::Manager>),
}

/// A connection taken from the pool; back in the pool when dropped.
pub struct Pooled(PooledOf);

enum PooledOf {
    Sqlite(r2d2::PooledConnection<SqliteConnectionManager>),
    Postgres(r2d2::PooledConnection<pg::Manager>),
}

impl Pool {
    /// A connection, waiting at most the busy timeout for one to be free.
    pub fn get(&self) -> DbResult<Pooled> {
        Ok(Pooled(match &self.0 {
            PoolOf::Sqlite(pool) => PooledOf::Sqlite(pool.get()?),
            PoolOf::Postgres(pool) => PooledOf::Postgres(pool.get()?),
        }))
    }
}

impl Pooled {
    pub fn conn(&self) -> Conn<'_> {
        match &self.0 {
            PooledOf::Sqlite(c) => Conn::sqlite(c),
            PooledOf::Postgres(c) => Conn::postgres(c),
        }
    }

    /// Runs `work` in one transaction that takes the write lock up front, committed when it
    /// succeeds (see [`in_transaction`]).
    pub fn write<T>(&self, work: impl FnOnce(Conn<'_>) -> AppResult<T>) -> AppResult<T> {
        in_transaction(self.conn(), work)
    }
}

/// What other nodes said through the database (PostgreSQL's LISTEN), for one schema.
pub struct Listener {
    heard: std::sync::mpsc::Receiver<String>,
    /// Kept open: dropping it ends the LISTEN.
    _client: pg::Client,
    schema: String,
}

/// What [`Listener::wait`] found.
pub enum Heard {
    /// Notices for this schema (none: only another schema's, or nothing in time).
    Notices(Vec<cluster::Notice>),
    /// The listening connection ended: listen again once the database is back.
    Lost,
}

impl Listener {
    /// Listens for the notices of the schema `location` works in. None on SQLite, where
    /// every notice would come from this process.
    pub fn open(location: &Location) -> anyhow::Result<Option<Listener>> {
        let Location::Postgres(target) = location else {
            return Ok(None);
        };
        let (tx, heard) = std::sync::mpsc::channel();
        let client = target
            .listen(cluster::CHANNEL, tx)
            .map_err(|e| anyhow::anyhow!("{}", DbError::from(e).describe()))
            .with_context(|| format!("listening on {}", target.redacted()))?;
        let schema: String =
            Conn::postgres(&client).query_value("SELECT current_schema()", sql::params![])?;
        Ok(Some(Listener {
            heard,
            _client: client,
            schema,
        }))
    }

    /// Waits up to `timeout` for a notice, then takes every other one already there.
    pub fn wait(&self, timeout: std::time::Duration) -> Heard {
        use std::sync::mpsc::RecvTimeoutError;
        let mut payloads = Vec::new();
        match self.heard.recv_timeout(timeout) {
            Ok(p) => payloads.push(p),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => return Heard::Lost,
        }
        payloads.extend(self.heard.try_iter());
        let notices = payloads
            .iter()
            .filter_map(|p| {
                let (schema, notice) = p.rsplit_once(' ')?;
                (schema == self.schema).then(|| cluster::Notice::parse(notice))?
            })
            .collect();
        Heard::Notices(notices)
    }
}

/// A connection of its own, for a thread that works outside the pool (the delivery writer,
/// the worker, the outbox, start-up tasks).
pub struct Connection(Owned);

enum Owned {
    Sqlite(rusqlite::Connection),
    /// With where it came from, to connect again after PostgreSQL went away.
    Postgres(pg::Client, pg::Target),
}

impl Connection {
    /// Connects to the database at `location`. `sync` is how a SQLite connection syncs its
    /// commits; on PostgreSQL every commit is durable (`synchronous_commit` as the server
    /// has it, `on` by default).
    pub fn open(location: &Location, sync: SyncMode) -> anyhow::Result<Connection> {
        Ok(Connection(match location {
            Location::File(path) => Owned::Sqlite(connect(path, sync)?),
            Location::Postgres(target) => {
                let client = target
                    .connect()
                    .map_err(|e| anyhow::anyhow!("{}", DbError::from(e).describe()))
                    .with_context(|| format!("connecting to {}", target.redacted()))?;
                if sync == SyncMode::Normal {
                    client.relax_commits();
                }
                Owned::Postgres(client, target.clone())
            }
        }))
    }

    pub fn conn(&self) -> Conn<'_> {
        match &self.0 {
            Owned::Sqlite(c) => Conn::sqlite(c),
            Owned::Postgres(c, _) => Conn::postgres(c),
        }
    }

    /// Connects again when PostgreSQL closed the connection (a restart, a failover, a network
    /// cut), so a thread that owns one goes on once the database is back; until then its
    /// statements fail as unavailable. SQLite's connection is a file: nothing to do. True when
    /// it connected again: the database may then have lost the last commits it made without
    /// waiting for the flush (or that a failover did not carry over), so its owner should put
    /// back what it had claimed.
    pub fn reconnect_if_lost(&mut self) -> bool {
        if let Owned::Postgres(client, target) = &mut self.0
            && client.is_closed()
        {
            match target.connect() {
                Ok(fresh) => {
                    if client.commits_relaxed() {
                        fresh.relax_commits();
                    }
                    *client = fresh;
                    tracing::info!(database = %target.redacted(), "connected to PostgreSQL again");
                    return true;
                }
                Err(e) => {
                    tracing::debug!(error = %DbError::from(e).describe(), "PostgreSQL is still away")
                }
            }
        }
        false
    }

    /// A migrated database in memory, for the table modules' own tests.
    #[cfg(test)]
    pub(crate) fn memory() -> Connection {
        let mut conn = rusqlite::Connection::open_in_memory().expect("open");
        migrate::migrate(&mut conn).expect("migrate");
        Connection(Owned::Sqlite(conn))
    }

    /// Runs `work` in one transaction (see [`in_transaction`]).
    pub fn transaction<T, E: From<DbError>>(
        &self,
        work: impl FnOnce(Conn<'_>) -> Result<T, E>,
    ) -> Result<T, E> {
        in_transaction(self.conn(), work)
    }

    /// Runs `work` in a transaction that is always rolled back (what it wrote is undone).
    pub(in crate::db) fn dry_run<T>(
        &self,
        work: impl FnOnce(Conn<'_>) -> DbResult<T>,
    ) -> DbResult<T> {
        rolled_back_on(self.conn(), work)
    }

    /// Makes a statement that waits for a lock give up after `wait` (the health probe's
    /// write must answer quickly, not queue behind a long one).
    pub fn limit_waits(&self, wait: Duration) -> DbResult<()> {
        match &self.0 {
            Owned::Sqlite(c) => Ok(c.busy_timeout(wait)?),
            Owned::Postgres(c, _) => {
                c.set_lock_timeout(wait);
                Ok(())
            }
        }
    }
}

/// Runs `work` in one transaction on `conn` that takes the write lock up front (SQLite's
/// `IMMEDIATE`), so a read-then-write cannot fail half way because another connection
/// committed in between. Committed when `work` succeeds; otherwise rolled back (see
/// [`OpenTransaction`]).
pub(in crate::db) fn in_transaction<T, E: From<DbError>>(
    conn: Conn<'_>,
    work: impl FnOnce(Conn<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let open = OpenTransaction::begin(conn)?;
    let out = work(open.conn())?;
    open.commit()?;
    Ok(out)
}

/// Runs `work` in a transaction on `conn` that is rolled back however `work` ends: what it
/// writes is seen by what it reads, then undone.
fn rolled_back_on<T, E: From<DbError>>(
    conn: Conn<'_>,
    work: impl FnOnce(Conn<'_>) -> Result<T, E>,
) -> Result<T, E> {
    let open = OpenTransaction::begin(conn)?;
    work(open.conn())
    // `open` is dropped here, unfinished: rolled back.
}

/// A transaction that is rolled back when dropped before a COMMIT went through: when the
/// work failed, when the COMMIT failed (on a full disk SQLite can leave the transaction open,
/// and every later BEGIN would fail), when the work panicked (a pooled connection must not go
/// back with a transaction open), or on purpose (a dry run).
struct OpenTransaction<'c> {
    conn: Conn<'c>,
    committed: bool,
}

impl<'c> OpenTransaction<'c> {
    fn begin(conn: Conn<'c>) -> DbResult<Self> {
        conn.begin()?;
        Ok(OpenTransaction {
            conn,
            committed: false,
        })
    }

    fn conn(&self) -> Conn<'c> {
        self.conn
    }

    fn commit(mut self) -> DbResult<()> {
        // Even when the COMMIT fails, nothing is left to commit (see Drop).
        let committed = self.conn.commit();
        self.committed = committed.is_ok();
        committed
    }
}

impl Drop for OpenTransaction<'_> {
    fn drop(&mut self) {
        if !self.committed && self.conn.in_transaction() && self.conn.rollback().is_err() {
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
/// `work` replaces values that must not stay readable anywhere in the files. On PostgreSQL the
/// old row versions stay in the table's files until VACUUM reuses their space (see README).
pub fn rewrite_securely<T>(
    location: &Location,
    work: impl FnOnce(Conn<'_>) -> AppResult<T>,
) -> anyhow::Result<T> {
    let Location::File(path) = location else {
        let conn = Connection::open(location, SyncMode::Full)?;
        return Ok(conn.transaction(work)?);
    };
    let conn = connect(path, SyncMode::Full)?;
    conn.pragma_update(None, "secure_delete", "ON")?;
    let out = in_transaction(Conn::sqlite(&conn), work)?;
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

/// Migrates the database and returns a pool of connections for request handlers.
pub fn open(location: &Location) -> anyhow::Result<Pool> {
    match location {
        Location::File(path) => {
            let mut conn = connect(path, SyncMode::Full)?;
            migrate::migrate(&mut conn)?;
            drop(conn);
            let manager =
                SqliteConnectionManager::file(path).with_init(|c| configure(c, SyncMode::Full));
            let pool = r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .connection_timeout(BUSY_TIMEOUT)
                .build(manager)
                .context("opening the connection pool")?;
            Ok(Pool(PoolOf::Sqlite(pool)))
        }
        Location::Postgres(target) => {
            let conn = Connection::open(location, SyncMode::Full)?;
            migrate::migrate_postgres(conn.conn())
                .with_context(|| format!("migrating {}", target.redacted()))?;
            drop(conn);
            let pool = r2d2::Pool::builder()
                .max_size(POOL_SIZE)
                .connection_timeout(BUSY_TIMEOUT)
                // A round trip on every checkout would cost more than it finds: a closed
                // connection is seen without one (`has_broken`), and a failed call is a 503.
                .test_on_check_out(false)
                // Connections are made when needed, so a server can start, and answer 503,
                // while PostgreSQL is away.
                .min_idle(Some(0))
                .build_unchecked(pg::Manager(target.clone()));
            Ok(Pool(PoolOf::Postgres(pool)))
        }
    }
}

/// A pool on the database as it is, for reading only (`provenant doctor`): nothing is migrated
/// or created. Returns the schema version found (0: none yet).
pub fn open_as_is(location: &Location) -> anyhow::Result<(Pool, i64)> {
    let pool = match location {
        Location::File(path) => {
            if !path.exists() {
                anyhow::bail!("there is no database at {}", path.display());
            }
            let manager =
                SqliteConnectionManager::file(path).with_init(|c| configure(c, SyncMode::Full));
            r2d2::Pool::builder()
                .max_size(2)
                .connection_timeout(BUSY_TIMEOUT)
                .build(manager)
                .map(|p| Pool(PoolOf::Sqlite(p)))
                .with_context(|| format!("opening {}", path.display()))?
        }
        Location::Postgres(target) => {
            let pool = r2d2::Pool::builder()
                .max_size(2)
                .connection_timeout(BUSY_TIMEOUT)
                .build(pg::Manager(target.clone()))
                .with_context(|| format!("connecting to {}", target.redacted()))?;
            Pool(PoolOf::Postgres(pool))
        }
    };
    let version = migrate::version(pool.get()?.conn())?;
    Ok((pool, version))
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
    with_pooled(pool, move |conn| rolled_back_on(conn.conn(), work)).await
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
pub fn backup(location: &Location, to: &Path) -> anyhow::Result<()> {
    let from = match location {
        Location::File(path) => path,
        Location::Postgres(target) => anyhow::bail!(
            "the database is PostgreSQL ({}): back it up with pg_dump, for instance \
             `pg_dump --format=custom --file={} '<the database URL>'`, and restore it with pg_restore",
            target.redacted(),
            to.display()
        ),
    };
    if !from.exists() {
        anyhow::bail!("no database at {}", from.display());
    }
    if to.exists() {
        anyhow::bail!("{} already exists; choose a new file", to.display());
    }
    let conn = connect(from, SyncMode::Full)?;
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
        let pool = super::open(&super::Location::in_data_dir(dir.path())).expect("pool");
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
