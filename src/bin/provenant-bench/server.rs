//! The servers under test run as child processes of the bench (this same executable, started
//! with `--serve` or `--serve-ceiling`), so their memory is measured apart from the load
//! generator's, and a restart is a real restart.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

pub const TOKEN: &str = "bench-token-0123456789abcdef";
const MASTER_KEY: &str = "5555555555555555555555555555555555555555555555555555555555555555";

/// `--database-url`: the PostgreSQL database every server of this run uses, if any.
static DATABASE: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();

pub fn use_database(url: Option<String>) {
    let _ = DATABASE.set(url);
}

/// Whether the servers of this run are on PostgreSQL.
pub fn on_postgres() -> bool {
    DATABASE.get().is_some_and(Option::is_some)
}

/// The database URL of the server on `data_dir`: a schema of its own in `--database-url`.
fn database_url(data_dir: &Path) -> Option<String> {
    let base = DATABASE.get()?.as_deref()?;
    Some(provenant::db::testing::schema_url(base, data_dir))
}

/// Where the server on `data_dir` keeps its data, for what the bench fills and reads itself.
pub fn database(data_dir: &Path) -> provenant::db::Location {
    match database_url(data_dir) {
        Some(url) => provenant::db::Location::postgres(&url).expect("the database URL"),
        None => provenant::db::Location::in_data_dir(data_dir),
    }
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
}

impl Server {
    /// The real server on `data_dir`, with its database there or on PostgreSQL (see
    /// [`use_database`]).
    pub fn real(data_dir: &Path) -> anyhow::Result<Server> {
        match database_url(data_dir) {
            Some(url) => Server::start(&[
                "--serve".as_ref(),
                data_dir.as_os_str(),
                "--serve-database-url".as_ref(),
                url.as_ref(),
            ]),
            None => Server::start(&["--serve".as_ref(), data_dir.as_os_str()]),
        }
    }

    /// Another node on the database of the server on `first` (`--database-url` only), with
    /// its own data folder.
    pub fn real_beside(data_dir: &Path, first: &Path) -> anyhow::Result<Server> {
        let url = database_url(first).context("a second node needs --database-url")?;
        Server::start(&[
            "--serve".as_ref(),
            data_dir.as_os_str(),
            "--serve-database-url".as_ref(),
            url.as_ref(),
        ])
    }

    /// The HTTP stack alone, answering 202 without storing.
    pub fn ceiling() -> anyhow::Result<Server> {
        Server::start(&["--serve-ceiling".as_ref()])
    }

    fn start(args: &[&std::ffi::OsStr]) -> anyhow::Result<Server> {
        let exe = std::env::current_exe().context("finding the bench executable")?;
        let mut child = Command::new(exe)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .context("starting the server")?;
        let stdout = child.stdout.take().context("server stdout")?;
        let mut line = String::new();
        BufReader::new(stdout)
            .read_line(&mut line)
            .context("reading the server's address")?;
        let addr = line
            .trim()
            .strip_prefix("listening ")
            .and_then(|a| a.parse().ok())
            .with_context(|| format!("the server did not start: {line:?}"))?;
        let server = Server { child, addr };
        server.wait_healthy()?;
        Ok(server)
    }

    fn wait_healthy(&self) -> anyhow::Result<()> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if std::net::TcpStream::connect(self.addr).is_ok() {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!("the server at {} did not answer", self.addr);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Peak resident memory since start (or since [`Server::reset_peak`]), in bytes.
    pub fn peak_rss(&self) -> Option<u64> {
        status_kb(self.pid(), "VmHWM:").map(|kb| kb * 1024)
    }

    /// Starts the peak-memory count afresh (Linux: `5` to `clear_refs`).
    pub fn reset_peak(&self) {
        let _ = std::fs::write(format!("/proc/{}/clear_refs", self.pid()), "5");
    }

    /// SIGTERM, and waits for a clean stop (the database is closed and checkpointed).
    pub fn stop(mut self) -> anyhow::Result<()> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if let Some(status) = self.child.try_wait()? {
                if !status.success() {
                    bail!("the server exited with {status}");
                }
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        self.child.kill()?;
        bail!("the server did not stop within 60 s")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Empties the kernel's page cache (needs root), so a restart really reads from disk.
pub fn drop_os_caches() -> bool {
    let _ = Command::new("sync").status();
    std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok()
}

/// `--serve DIR`: the real server, exactly as `provenant` runs it, on 127.0.0.1:0.
pub fn serve_real(data_dir: &Path, database_url: Option<&str>) -> anyhow::Result<()> {
    let mut settings = provenant::app::config::Settings::for_data_dir(data_dir);
    settings.api_token = Some(TOKEN.into());
    // One key for every server, so that nodes sharing a database agree on it.
    settings.master_key = Some(MASTER_KEY.into());
    settings.database_url = database_url.map(|url| url.parse()).transpose()?;
    // The runner stand-in of `dispatch-pr` is on this machine, over plain http.
    settings.egress_allow.push("http://127.0.0.1".into());
    if let Ok(sync) = std::env::var("PROVENANT_SYNC") {
        settings.sync = match sync.as_str() {
            "normal" => provenant::db::SyncMode::Normal,
            _ => provenant::db::SyncMode::Full,
        };
    }
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        provenant::app::run(settings, listener, shutdown_signal()).await
    })
}

/// `--serve-ceiling`: poem on the same acceptor, answering every delivery as the receiver
/// does but storing nothing.
pub fn serve_ceiling() -> anyhow::Result<()> {
    use poem::listener::TcpAcceptor;
    use poem::{EndpointExt, Route, handler, http::StatusCode, web::Json};

    #[handler]
    fn accept(body: Vec<u8>) -> (StatusCode, Json<serde_json::Value>) {
        std::hint::black_box(&body);
        (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({
                "eventId": "0b5bd7a4-5a1e-4c3f-9a57-1d7c1f6f2b11",
                "status": "RECEIVED",
                "duplicate": false
            })),
        )
    }

    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        println!("listening {}", listener.local_addr()?);
        let app = Route::new()
            .at("/api/integrations/webhook/:id", poem::post(accept))
            .with(poem::middleware::SizeLimit::new(25 * 1024 * 1024));
        let defaults = provenant::app::config::Settings::for_data_dir("unused");
        let acceptor = provenant::http::acceptor::GuardedAcceptor::new(
            TcpAcceptor::from_tokio(listener)?,
            provenant::http::acceptor::Limits {
                idle: defaults.idle_timeout,
                head: defaults.head_timeout,
                total: defaults.max_connections,
                per_source: defaults.max_connections_per_ip,
            },
            None,
            defaults.trusted_proxies,
        );
        poem::Server::new_with_acceptor(acceptor)
            .run_with_graceful_shutdown(app, shutdown_signal(), Some(Duration::from_secs(5)))
            .await?;
        Ok(())
    })
}

async fn shutdown_signal() {
    if let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    {
        term.recv().await;
    }
}

/// A data folder for one scenario, removed when dropped.
pub struct TempDir(std::path::PathBuf);

impl TempDir {
    pub fn new() -> anyhow::Result<TempDir> {
        use std::sync::atomic::{AtomicU32, Ordering};
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let path = std::env::temp_dir().join(format!(
            "provenant-bench-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        Ok(TempDir(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}
