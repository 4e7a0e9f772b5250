//! The PostgreSQL backend's connection: `tokio-postgres` behind a blocking facade, so the
//! table modules run the same statements on it as on SQLite, from the same threads.
//!
//! Every connection's socket is driven by one small runtime of our own ([`runtime`]); the
//! calling thread waits for the answer with [`block_on`], which needs no Tokio context. That
//! is why this is not the sync `postgres` crate: it runs its own `block_on` inside every call
//! and in `Drop`, and panics on any thread that carries a Tokio context, which every
//! `spawn_blocking` thread (where our request handlers' queries run) does.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::future::Future;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use bytes::BytesMut;
use tokio_postgres::Statement;
use tokio_postgres::types::{FromSql, IsNull, ToSql, Type, to_sql_checked};

use super::error::{DbError, DbResult};
use super::value::Value;

/// Where a PostgreSQL database is, as the operator gave it; never shown with its password.
#[derive(Clone)]
pub struct Target {
    config: Arc<tokio_postgres::Config>,
    tls: tokio_postgres_rustls::MakeRustlsConnect,
    tls_mode: super::pg_tls::Mode,
}

impl Target {
    /// Reads a `postgres://user:pass@host:port/db?…` URL (or libpq's `key=value` form). The
    /// error names what is wrong without repeating the URL, which may hold a password.
    pub fn parse(url: &str) -> anyhow::Result<Target> {
        let (url, tls) = super::pg_tls::split(url)?;
        let mut config = tokio_postgres::Config::from_str(&url)
            .map_err(|e| anyhow::anyhow!("the database URL is not a valid PostgreSQL URL: {e}"))?;
        if config.get_hosts().is_empty() {
            anyhow::bail!("the database URL names no host");
        }
        // A lost network must end a call with an error (503), never hang a worker for good.
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(5));
        }
        config.keepalives_idle(Duration::from_secs(10));
        config.tcp_user_timeout(Duration::from_secs(15));
        if config.get_application_name().is_none() {
            config.application_name("provenant");
        }
        Ok(Target {
            config: Arc::new(config),
            tls: super::pg_tls::connector(&tls)?,
            tls_mode: tls.mode,
        })
    }

    /// `postgres://user@host:port/db`, for logs and errors: the password is never shown.
    pub fn redacted(&self) -> String {
        let host = match self.config.get_hosts().first() {
            Some(tokio_postgres::config::Host::Tcp(h)) => h.clone(),
            Some(tokio_postgres::config::Host::Unix(p)) => p.display().to_string(),
            None => String::new(),
        };
        let port = self.config.get_ports().first().copied().unwrap_or(5432);
        let user = self.config.get_user().unwrap_or("");
        let db = self.config.get_dbname().unwrap_or("");
        format!("postgres://{user}@{host}:{port}/{db}")
    }

    /// The `sslmode` in force, for the start's log line.
    pub fn tls_mode(&self) -> &'static str {
        self.tls_mode.name()
    }

    pub(in crate::db) fn connect(&self) -> Result<Client, tokio_postgres::Error> {
        let (config, tls) = (Arc::clone(&self.config), self.tls.clone());
        let connected = runtime().spawn(async move {
            let (client, connection) = config.connect(tls).await?;
            // The socket is read and written by this task until the client is dropped.
            tokio::spawn(async move {
                if let Err(e) = connection.await {
                    tracing::debug!(error = %e, "a PostgreSQL connection ended");
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = block_on(connected).expect("the PostgreSQL connect task")?;
        Ok(Client::new(client))
    }
}

impl Target {
    /// A connection of its own that LISTENs on `channel` and hands each notification's
    /// payload to `heard`, until the connection ends (then `heard` is dropped, which its
    /// receiver sees) or the returned client is dropped.
    pub(in crate::db) fn listen(
        &self,
        channel: &str,
        heard: std::sync::mpsc::Sender<String>,
    ) -> Result<Client, tokio_postgres::Error> {
        let (config, tls) = (Arc::clone(&self.config), self.tls.clone());
        let connected = runtime().spawn(async move {
            let (client, mut connection) = config.connect(tls).await?;
            tokio::spawn(async move {
                loop {
                    match std::future::poll_fn(|cx| connection.poll_message(cx)).await {
                        Some(Ok(tokio_postgres::AsyncMessage::Notification(n))) => {
                            if heard.send(n.payload().to_string()).is_err() {
                                break;
                            }
                        }
                        Some(Ok(_)) => {}
                        Some(Err(e)) => {
                            tracing::debug!(error = %e, "the PostgreSQL listener's connection ended");
                            break;
                        }
                        None => break,
                    }
                }
            });
            Ok::<_, tokio_postgres::Error>(client)
        });
        let client = block_on(connected).expect("the PostgreSQL connect task")?;
        block_on(client.batch_execute(&format!("LISTEN {channel}")))?;
        Ok(Client::new(client))
    }
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Prepared statements kept per connection; beyond this the cache starts over (statements
/// built with a varying number of parameters would otherwise grow it without end).
const STATEMENT_CACHE: usize = 256;

/// One PostgreSQL connection with its prepared statements, keyed by their `?N` text.
pub struct Client {
    client: tokio_postgres::Client,
    statements: RefCell<HashMap<String, Statement>>,
    /// How long a statement in this connection's transactions waits for a lock, set with
    /// each BEGIN (`SET LOCAL`, so PgBouncer in transaction mode keeps it to the transaction).
    lock_timeout: Cell<Duration>,
    /// Whether a transaction is open, and whether a failed statement aborted it.
    in_transaction: Cell<bool>,
    aborted: Cell<bool>,
    /// Statements whose answer nobody waits for (a savepoint set or released), sent together
    /// with the next statement: one round trip for all of them.
    deferred: RefCell<Vec<&'static str>>,
    /// Commits of this connection need not wait for the WAL flush (`synchronous_commit =
    /// off` for each of its transactions): SQLite's `synchronous = NORMAL`, for the worker
    /// and the outbox, whose last few changes may be lost in a crash of PostgreSQL itself
    /// and are then done again. Deliveries are never stored this way.
    relaxed: Cell<bool>,
}

/// How long a transaction waits for a row or table lock before it gives up (and the request
/// is answered 503): SQLite's busy timeout, the same 5 s.
pub(in crate::db) const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

impl Client {
    fn new(client: tokio_postgres::Client) -> Client {
        Client {
            client,
            statements: RefCell::new(HashMap::new()),
            lock_timeout: Cell::new(LOCK_TIMEOUT),
            in_transaction: Cell::new(false),
            aborted: Cell::new(false),
            deferred: RefCell::new(Vec::new()),
            relaxed: Cell::new(false),
        }
    }

    /// Opens a transaction whose lock waits end after this connection's timeout.
    pub(in crate::db) fn begin(&self) -> DbResult<()> {
        let relaxed = if self.relaxed.get() {
            "; SET LOCAL synchronous_commit = off"
        } else {
            ""
        };
        self.batch(&format!(
            "BEGIN; SET LOCAL lock_timeout = {}{relaxed}",
            self.lock_timeout.get().as_millis()
        ))?;
        self.in_transaction.set(true);
        self.aborted.set(false);
        Ok(())
    }

    /// A statement failed: inside a transaction, PostgreSQL ignores everything after it
    /// until the transaction (or a savepoint before it) is rolled back.
    fn failed(&self, e: tokio_postgres::Error, sql: &str) -> DbError {
        if self.in_transaction.get() {
            self.aborted.set(true);
        }
        in_statement(e, sql)
    }

    /// Ends the transaction. PostgreSQL answers a COMMIT of a transaction that an earlier
    /// statement aborted with a ROLLBACK and no error: that is reported as the error it is,
    /// so nothing is acknowledged that was not stored.
    pub(in crate::db) fn commit(&self) -> DbResult<()> {
        let aborted = self.aborted.replace(false);
        self.in_transaction.set(false);
        if aborted {
            self.deferred.borrow_mut().clear();
            let _ = self.batch("ROLLBACK");
            return Err(DbError::new(
                super::error::DbErrorKind::Other,
                "the transaction was rolled back: a statement in it had failed",
            ));
        }
        self.batch("COMMIT")
    }

    pub(in crate::db) fn rollback(&self) -> DbResult<()> {
        self.aborted.set(false);
        self.in_transaction.set(false);
        // Whatever was deferred is undone with the rest.
        self.deferred.borrow_mut().clear();
        self.batch("ROLLBACK")
    }

    /// Undoes the work since the savepoint; the transaction can go on.
    pub(in crate::db) fn rollback_to(&self, savepoint: &str) -> DbResult<()> {
        self.execute(&format!("ROLLBACK TO SAVEPOINT {savepoint}"), &[])?;
        self.aborted.set(false);
        Ok(())
    }

    /// Sends `sql` (no parameters, no answer needed) with the next statement instead of on
    /// its own; its error, if any, is that statement's.
    pub(in crate::db) fn defer(&self, sql: &'static str) {
        self.deferred.borrow_mut().push(sql);
    }

    /// Commits without waiting for the WAL flush from the next transaction on.
    pub(in crate::db) fn relax_commits(&self) {
        self.relaxed.set(true);
    }

    pub(in crate::db) fn commits_relaxed(&self) -> bool {
        self.relaxed.get()
    }

    /// Runs `main` after the deferred statements, all sent before any answer is awaited.
    fn with_deferred<T, F: Future<Output = Result<T, tokio_postgres::Error>>>(
        &self,
        main: impl FnOnce() -> F,
    ) -> Result<T, tokio_postgres::Error> {
        let deferred = std::mem::take(&mut *self.deferred.borrow_mut());
        if deferred.is_empty() {
            return block_on(main());
        }
        let statements = deferred
            .iter()
            .map(|sql| self.statement(sql))
            .collect::<Result<Vec<_>, _>>()?;
        let before =
            futures_util::future::join_all(statements.iter().map(|s| self.client.execute(s, &[])));
        // `join` polls `before` first: the requests go out in order.
        let (before, out) = block_on(futures_util::future::join(before, main()));
        for answer in before {
            answer?;
        }
        out
    }

    /// Lock waits in later transactions end after `wait`.
    pub(in crate::db) fn set_lock_timeout(&self, wait: Duration) {
        self.lock_timeout.set(wait);
    }

    fn statement(&self, sql: &str) -> Result<Statement, tokio_postgres::Error> {
        if let Some(statement) = self.statements.borrow().get(sql) {
            return Ok(statement.clone());
        }
        let statement = block_on(self.client.prepare(&numbered_placeholders(sql)))?;
        let mut cache = self.statements.borrow_mut();
        if cache.len() >= STATEMENT_CACHE {
            cache.clear();
        }
        cache.insert(sql.to_string(), statement.clone());
        Ok(statement)
    }

    pub(in crate::db) fn execute(&self, sql: &str, params: &[Value<'_>]) -> DbResult<u64> {
        let run = || {
            let statement = self.statement(sql)?;
            let bound = bind(params);
            self.with_deferred(|| self.client.execute(&statement, &bound))
        };
        run().map_err(|e| self.failed(e, sql))
    }

    pub(in crate::db) fn query(
        &self,
        sql: &str,
        params: &[Value<'_>],
    ) -> DbResult<Vec<tokio_postgres::Row>> {
        let run = || {
            let statement = self.statement(sql)?;
            let bound = bind(params);
            self.with_deferred(|| self.client.query(&statement, &bound))
        };
        run().map_err(|e| self.failed(e, sql))
    }

    /// Runs `sql` once for each set of parameters, pipelined: every one is sent before the
    /// first answer is awaited, so a batch costs about one round trip instead of one each.
    /// After a failure inside a transaction the later ones fail too (it is aborted).
    pub(in crate::db) fn execute_pipelined(
        &self,
        sql: &str,
        sets: &[Vec<Value<'_>>],
    ) -> DbResult<Vec<DbResult<u64>>> {
        let statement = self.statement(sql).map_err(|e| self.failed(e, sql))?;
        let runs = sets.iter().map(|params| {
            let statement = &statement;
            async move { self.client.execute(statement, &bind(params)).await }
        });
        let answers = self
            .with_deferred(|| async { Ok(futures_util::future::join_all(runs).await) })
            .map_err(|e| self.failed(e, sql))?;
        Ok(answers
            .into_iter()
            .map(|answer| answer.map_err(|e| self.failed(e, sql)))
            .collect())
    }

    /// Statements without parameters, sent as one simple query.
    pub(in crate::db) fn batch(&self, sql: &str) -> DbResult<()> {
        self.with_deferred(|| self.client.batch_execute(sql))
            .map_err(|e| self.failed(e, sql))
    }

    pub(in crate::db) fn in_transaction(&self) -> bool {
        self.in_transaction.get()
    }

    pub(in crate::db) fn is_closed(&self) -> bool {
        self.client.is_closed()
    }
}

/// A statement that PostgreSQL refused as written (not for want of storage) is a defect of
/// ours: the error names its start, so a report says which one.
fn in_statement(e: tokio_postgres::Error, sql: &str) -> DbError {
    let error = DbError::from(e);
    if error.is_unavailable() || error.is_no_row() {
        return error;
    }
    let start: String = sql.split_whitespace().collect::<Vec<_>>().join(" ");
    let start: String = start.chars().take(120).collect();
    DbError::new(
        super::error::DbErrorKind::Other,
        format!("{} (in `{start}…`)", error.describe()),
    )
}

fn bind<'a>(params: &'a [Value<'a>]) -> Vec<&'a (dyn ToSql + Sync)> {
    params.iter().map(|p| p as &(dyn ToSql + Sync)).collect()
}

/// The statements are written with SQLite's `?N`; PostgreSQL numbers its parameters `$N`.
/// Quoted text is left alone.
pub(in crate::db) fn numbered_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut quoted = false;
    for c in sql.chars() {
        match c {
            '\'' => {
                quoted = !quoted;
                out.push(c);
            }
            '?' if !quoted => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

/// A column's value as the table modules read it, whatever PostgreSQL type carries it.
pub(in crate::db) fn column<'r>(
    row: &'r tokio_postgres::Row,
    index: usize,
) -> Result<Value<'r>, tokio_postgres::Error> {
    row.try_get::<_, Value<'r>>(index)
}

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().as_str().to_sql(ty, out),
                _ => Err(format!("an integer cannot be bound as {ty}").into()),
            },
            Value::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(format!("a number cannot be bound as {ty}").into()),
            },
            // SQLite keeps whatever it was given: text in a column PostgreSQL holds as bytes.
            Value::Text(t) if *ty == Type::BYTEA => t.as_bytes().to_sql(ty, out),
            Value::Text(t) => t.to_sql(ty, out),
            Value::Blob(b) => b.to_sql(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

impl<'a> FromSql<'a> for Value<'a> {
    fn from_sql(ty: &Type, raw: &'a [u8]) -> Result<Self, BoxError> {
        Ok(match *ty {
            Type::INT8 => Value::Int(i64::from_sql(ty, raw)?),
            Type::INT4 => Value::Int(i32::from_sql(ty, raw)?.into()),
            Type::INT2 => Value::Int(i16::from_sql(ty, raw)?.into()),
            Type::BOOL => Value::Int(bool::from_sql(ty, raw)?.into()),
            Type::FLOAT8 => Value::Real(f64::from_sql(ty, raw)?),
            Type::FLOAT4 => Value::Real(f32::from_sql(ty, raw)?.into()),
            Type::BYTEA => Value::Blob(<&[u8]>::from_sql(ty, raw)?),
            Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                Value::Text(<&str>::from_sql(ty, raw)?)
            }
            // SUM and AVG of integers are NUMERIC: the query casts them back to BIGINT.
            _ => {
                return Err(format!("a {ty} column is not read here; cast it in the query").into());
            }
        })
    }

    fn from_sql_null(_: &Type) -> Result<Self, BoxError> {
        Ok(Value::Null)
    }

    fn accepts(_: &Type) -> bool {
        true
    }
}

/// The runtime that drives every connection's socket: one thread is plenty, since each call
/// is a short exchange and the callers wait on their own threads.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .thread_name("provenant-postgres")
            .enable_all()
            .build()
            .expect("starting the PostgreSQL I/O thread")
    })
}

/// Waits on this thread for a future whose I/O is driven elsewhere (by [`runtime`]).
fn block_on<F: Future>(future: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut future = std::pin::pin!(future);
    loop {
        match future.as_mut().poll(&mut cx) {
            Poll::Ready(out) => return out,
            Poll::Pending => std::thread::park(),
        }
    }
}

/// Connections for the pool.
pub(in crate::db) struct Manager(pub Target);

impl r2d2::ManageConnection for Manager {
    type Connection = Client;
    type Error = tokio_postgres::Error;

    fn connect(&self) -> Result<Client, Self::Error> {
        self.0.connect()
    }

    fn is_valid(&self, conn: &mut Client) -> Result<(), Self::Error> {
        block_on(conn.client.batch_execute(""))
    }

    fn has_broken(&self, conn: &mut Client) -> bool {
        conn.is_closed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_numbered_the_postgres_way_outside_quotes() {
        assert_eq!(
            numbered_placeholders("SELECT ?1, '?2' FROM t WHERE a = ?12"),
            "SELECT $1, '?2' FROM t WHERE a = $12"
        );
    }

    #[test]
    fn the_password_is_never_shown() {
        let target =
            Target::parse("postgres://app:s3cret@db.internal:6432/provenant").expect("url");
        assert_eq!(
            target.redacted(),
            "postgres://app@db.internal:6432/provenant"
        );
        assert!(!format!("{target:?}").contains("s3cret"));
        let bad =
            Target::parse("postgres://app:s3cret@db.internal:notaport/x").expect_err("a bad port");
        assert!(!bad.to_string().contains("s3cret"), "{bad}");
    }
}
