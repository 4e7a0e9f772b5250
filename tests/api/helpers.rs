//! `TestApp`: the real server on 127.0.0.1:0 with its own temporary data folder, spoken to over
//! HTTP. Nothing here reads the developer's environment or configuration.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use provenant::app::config::Settings;
use provenant::db::sql::params;
use provenant::pipeline::worker::Processors;
use serde_json::{Value, json};
use tokio::sync::oneshot;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// What `wait_until_idle` still waits for: work due within this.
const SOON: Duration = Duration::from_secs(2);

pub struct TestApp {
    pub address: String,
    pub data_dir: PathBuf,
    agent: ureq::Agent,
    shutdown: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
    // Kept so the folder lives as long as the app; None when the caller owns the folder.
    _temp: Option<tempfile::TempDir>,
}

pub struct Reply {
    pub status: u16,
    pub headers: ureq::http::HeaderMap,
    pub text: String,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.text)
            .unwrap_or_else(|e| panic!("response is not JSON ({e}): {}", self.text))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// Asserts an RFC 9457 problem document with this status and returns it.
    pub fn problem(&self, status: u16) -> Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.text
        );
        assert_eq!(
            self.header("content-type"),
            Some("application/problem+json"),
            "body: {}",
            self.text
        );
        let body = self.json();
        assert_eq!(body["status"], status);
        assert!(
            body["code"].is_string() && body["title"].is_string() && body["detail"].is_string()
        );
        body
    }
}

pub fn test_settings(data_dir: &Path) -> Settings {
    let mut settings = Settings::for_data_dir(data_dir);
    settings.api_token = Some(TOKEN.to_string());
    settings.retry_schedule = vec![Duration::from_millis(50), Duration::from_millis(50)];
    // The stand-ins for GitHub, GitLab and Slack run here, over plain http: credentials may go
    // to them, and their answers are shown, as the public APIs' are.
    settings.egress_allow.push("127.0.0.1".into());
    settings.egress_allow.push("http://127.0.0.1".into());
    // On PostgreSQL (PROVENANT_TEST_DATABASE_URL), the folder's own schema there.
    settings.database_url = provenant::db::testing::database_url(data_dir)
        .map(|url| url.parse().expect("the test database URL"));
    settings
}

impl TestApp {
    pub fn spawn() -> TestApp {
        Self::spawn_with(|_| {}, Processors::default())
    }

    pub fn spawn_with(adjust: impl FnOnce(&mut Settings), processors: Processors) -> TestApp {
        let temp = tempfile::tempdir().expect("temporary folder");
        let mut app = Self::spawn_in(temp.path(), adjust, processors);
        app._temp = Some(temp);
        app
    }

    /// Starts a server on an existing data folder (to test restarts).
    pub fn spawn_in(
        data_dir: &Path,
        adjust: impl FnOnce(&mut Settings),
        processors: Processors,
    ) -> TestApp {
        // PROVENANT_TEST_LOG=warn (a log filter) shows the servers' own log lines.
        if let Ok(filter) = std::env::var("PROVENANT_TEST_LOG") {
            let _ = tracing_subscriber::fmt()
                .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
                .try_init();
        }
        let mut settings = test_settings(data_dir);
        adjust(&mut settings);
        // An HTTPS server is waited for by its test, which knows which CA to trust.
        let https = settings.tls.is_some();
        let std_listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind port 0");
        std_listener.set_nonblocking(true).expect("nonblocking");
        let address = format!("http://{}", std_listener.local_addr().expect("address"));
        let (tx, rx) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(std_listener).expect("listener");
                let shutdown = async {
                    let _ = rx.await;
                };
                provenant::app::run_with(settings, listener, shutdown, processors)
                    .await
                    .expect("server runs");
            });
        });
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(30)))
            .build()
            .into();
        let app = TestApp {
            address,
            data_dir: data_dir.to_path_buf(),
            agent,
            shutdown: Some(tx),
            thread: Some(thread),
            _temp: None,
        };
        if !https {
            app.wait_until_healthy();
        }
        app
    }

    fn wait_until_healthy(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = self
                .agent
                .get(format!("{}/api/health", self.address))
                .call()
                .map(|r| r.status() == 200)
                .unwrap_or(false);
            if ok {
                return;
            }
            assert!(Instant::now() < deadline, "server did not become healthy");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Stops the server gracefully and waits for it (worker included).
    pub fn stop(mut self) {
        self.stop_inner();
    }

    /// Stops the server and hands its data folder to `inspect` before it is removed.
    pub fn stop_and_keep_files(mut self, inspect: impl FnOnce(&Path)) {
        self.stop_inner();
        inspect(&self.data_dir);
    }

    fn stop_inner(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// Any request; `token` adds the bearer header.
    pub fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        headers: &[(&str, &str)],
        body: Option<Vec<u8>>,
    ) -> Reply {
        let mut builder = ureq::http::Request::builder()
            .method(method)
            .uri(self.url(path));
        if let Some(token) = token {
            builder = builder.header("authorization", format!("Bearer {token}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let result = match body {
            Some(bytes) => self.agent.run(builder.body(bytes).expect("request")),
            None => self.agent.run(builder.body(()).expect("request")),
        };
        let mut resp = result.unwrap_or_else(|e| panic!("{method} {path} failed: {e}"));
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        let text = resp
            .body_mut()
            .with_config()
            .limit(64 * 1024 * 1024)
            .read_to_string()
            .expect("body");
        Reply {
            status,
            headers,
            text,
        }
    }

    pub fn get(&self, path: &str) -> Reply {
        self.request("GET", path, Some(TOKEN), &[], None)
    }

    pub fn delete(&self, path: &str) -> Reply {
        self.request("DELETE", path, Some(TOKEN), &[], None)
    }

    pub fn post_json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "POST",
            path,
            Some(TOKEN),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// POST without a body (retry, test).
    pub fn post(&self, path: &str) -> Reply {
        self.request("POST", path, Some(TOKEN), &[], None)
    }

    pub fn put_json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "PUT",
            path,
            Some(TOKEN),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// How many integrations the API lists.
    pub fn integration_count(&self) -> usize {
        self.get("/api/integrations")
            .json()
            .as_array()
            .expect("list")
            .len()
    }

    pub fn patch_json(&self, path: &str, body: &Value) -> Reply {
        self.request(
            "PATCH",
            path,
            Some(TOKEN),
            &[("content-type", "application/json")],
            Some(body.to_string().into_bytes()),
        )
    }

    /// Creates an integration and returns its API representation.
    pub fn create_integration(&self, kind: &str, config: Value) -> Value {
        let reply = self.post_json(
            "/api/integrations",
            &json!({"type": kind, "name": format!("Test {kind}"), "config": config}),
        );
        assert_eq!(reply.status, 201, "create failed: {}", reply.text);
        reply.json()
    }

    /// Creates an integration and returns its id.
    pub fn create_integration_id(&self, kind: &str, config: Value) -> String {
        self.create_integration(kind, config)["id"]
            .as_str()
            .expect("id")
            .to_string()
    }

    /// Posts a delivery to an integration's public receiver (no token).
    pub fn deliver(&self, integration_id: &str, headers: &[(&str, &str)], body: &[u8]) -> Reply {
        self.request(
            "POST",
            &format!("/api/integrations/webhook/{integration_id}"),
            None,
            headers,
            Some(body.to_vec()),
        )
    }

    /// Delivers, asserts the 202, and returns the stored event's id.
    pub fn deliver_accepted(
        &self,
        integration_id: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> String {
        let reply = self.deliver(integration_id, headers, body);
        assert_eq!(reply.status, 202, "{}", reply.text);
        reply.json()["eventId"]
            .as_str()
            .expect("event id")
            .to_string()
    }

    pub fn event(&self, integration_id: &str, event_id: &str) -> Value {
        let reply = self.get(&format!(
            "/api/integrations/{integration_id}/events/{event_id}"
        ));
        assert_eq!(reply.status, 200, "{}", reply.text);
        reply.json()
    }

    /// Polls an event until its status is one of `statuses` (the worker runs on its own).
    pub fn wait_for_status(
        &self,
        integration_id: &str,
        event_id: &str,
        statuses: &[&str],
    ) -> Value {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            let event = self.event(integration_id, event_id);
            if statuses.iter().any(|s| event["status"] == *s) {
                return event;
            }
            assert!(
                Instant::now() < deadline,
                "event never reached {statuses:?}: {event}"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the worker and the outbox's senders have nothing left to do soon: no event
    /// waiting or processing, no outbox row being sent or due within `SOON` (the tests' retry
    /// schedule is 50 ms, so retries are waited for; a destination paused for longer is not).
    /// Assertions that nothing else was sent come after this.
    pub fn wait_until_idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let busy = self
                .db()
                .query_row(
                    "SELECT (SELECT COUNT(*) FROM webhook_events
                              WHERE status = 'PROCESSING'
                                 OR (status = 'RECEIVED' AND COALESCE(next_attempt_at, 0) <= ?1))
                          + (SELECT COUNT(*) FROM outbox o
                              LEFT JOIN destinations d ON d.destination = o.destination
                              WHERE o.status = 'SENDING'
                                 OR (o.status = 'PENDING'
                                     AND COALESCE(o.next_attempt_at, 0) <= ?1
                                     AND COALESCE(d.paused_until, 0) <= ?1))",
                    params![now_ms() + SOON.as_millis() as i64],
                    |r| r.get::<i64>(0),
                )
                .expect("queue depth");
            if busy == 0 {
                return;
            }
            assert!(Instant::now() < deadline, "still busy: {busy}");
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// The outbox rows about an eval run or a deployment, oldest first.
    pub fn posts_about(&self, subject_id: &str) -> Vec<Value> {
        let mut rows: Vec<Value> = self.get("/api/outbox?limit=200").json()["items"]
            .as_array()
            .expect("items")
            .iter()
            .filter(|r| r["subjectId"] == subject_id)
            .cloned()
            .collect();
        rows.reverse();
        rows
    }

    /// An integration's config as the database holds it (sealed credentials and all), as text.
    pub fn stored_config(&self, integration_id: &str) -> String {
        self.db()
            .value(
                "SELECT config FROM integrations WHERE id = ?1",
                provenant::db::sql::params![integration_id],
            )
            .expect("stored config")
    }

    /// The plaintext of a config value as stored: a sealed inline credential opened with the
    /// data folder's master key (as the server opens it), anything else as it is.
    pub fn open_stored(&self, integration_id: &str, path: &str, stored: &Value) -> String {
        let keys = provenant::domain::secrets::SecretBox::load_or_create(&self.data_dir, None)
            .expect("master key");
        let text = stored.as_str().expect("a stored string");
        assert!(
            text.starts_with("sealed:v1:"),
            "{path} is not sealed at rest: {text}"
        );
        provenant::domain::secrets::sealed::open(&keys, integration_id, path, text).expect("opens")
    }

    /// Opens the database file directly, to check what is really stored.
    /// Makes an API token with `scopes` (as the primary token); its answer, value included.
    pub fn make_token(&self, name: &str, scopes: &[&str]) -> Value {
        let reply = self.post_json(
            "/api/tokens",
            &serde_json::json!({"name": name, "scopes": scopes}),
        );
        assert_eq!(reply.status, 201, "{}", reply.text);
        reply.json()
    }

    /// `method path` with `token`, and `body` sent as JSON when there is one.
    pub fn call(&self, method: &str, path: &str, token: &str, body: Option<&Value>) -> Reply {
        let headers: &[(&str, &str)] = if body.is_some() {
            &[("content-type", "application/json")]
        } else {
            &[]
        };
        self.request(
            method,
            path,
            Some(token),
            headers,
            body.map(|b| b.to_string().into_bytes()),
        )
    }

    pub fn db(&self) -> provenant::db::testing::Sql {
        provenant::db::testing::Sql::open(&self.data_dir)
    }

    /// Whether `needle` is anywhere in what the server stored: the bytes of the SQLite file
    /// and its write-ahead log, or on PostgreSQL every row of every table, as text.
    pub fn database_contains(&self, needle: &str) -> bool {
        if provenant::db::testing::is_postgres() {
            let db = self.db();
            let tables: Vec<String> = db
                .query_map(
                    "SELECT table_name::text FROM information_schema.tables
                     WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'",
                    provenant::db::sql::params![],
                    |r| r.get(0),
                )
                .expect("tables");
            assert!(tables.len() > 10, "{tables:?}");
            return tables.iter().any(|table| {
                let rows: Vec<String> = db
                    .query_map(
                        &format!("SELECT t::text FROM {table} t"),
                        provenant::db::sql::params![],
                        |r| r.get(0),
                    )
                    .expect("rows");
                rows.iter().any(|row| row.contains(needle))
            });
        }
        std::fs::read_dir(&self.data_dir)
            .expect("data folder")
            .map(|entry| entry.expect("entry").path())
            .filter(|path| {
                path.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("provenant.db"))
            })
            .map(|path| std::fs::read(path).expect("read"))
            .any(|bytes| bytes.windows(needle.len()).any(|w| w == needle.as_bytes()))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.stop_inner();
    }
}

pub use crate::fixtures::github_signature;

pub fn github_sha1_signature(secret: &str, body: &[u8]) -> String {
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha1::Sha1>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body);
    format!("sha1={}", hex::encode(mac.finalize().into_bytes()))
}

/// `v1,<base64>` as a Standard Webhooks sender computes it.
pub fn standard_webhooks_signature(key: &[u8], id: &str, timestamp: i64, body: &[u8]) -> String {
    use base64::Engine;
    use hmac::{Hmac, KeyInit, Mac};
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(key).expect("key");
    mac.update(format!("{id}.{timestamp}.").as_bytes());
    mac.update(body);
    format!(
        "v1,{}",
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    )
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_millis() as i64
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64
}

/// Sends raw bytes and reads the status line and headers of the answer.
pub fn raw_http(app: &TestApp, request: &str) -> String {
    let addr = app.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .expect("timeout");
    stream.write_all(request.as_bytes()).expect("write");
    let mut buf = vec![0u8; 4096];
    let n = stream.read(&mut buf).expect("read");
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

/// A connection from `from` (any 127.x address is this machine) to the app.
pub fn connect_from(app: &TestApp, from: [u8; 4]) -> std::net::TcpStream {
    let to: std::net::SocketAddr = app
        .address
        .trim_start_matches("http://")
        .parse()
        .expect("address");
    let socket =
        socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&std::net::SocketAddr::from((from, 0)).into())
        .expect("bind source address");
    socket.connect(&to.into()).expect("connect");
    let stream: std::net::TcpStream = socket.into();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
}

/// Whether an event (as the API shows it) has a trace line containing `needle`.
pub fn trace_has(event: &Value, needle: &str) -> bool {
    event["trace"]
        .as_array()
        .expect("trace")
        .iter()
        .any(|s| s["text"].as_str().is_some_and(|t| t.contains(needle)))
}

/// A WEBHOOK processor that fails for good on a payload saying so, so that an event can be
/// retried.
pub struct FailsWhenAsked;

impl provenant::pipeline::worker::Processor for FailsWhenAsked {
    fn process(
        &self,
        _ctx: &provenant::pipeline::worker::Ctx<'_>,
        _i: &provenant::db::integrations::Integration,
        event: &provenant::db::events::EventDetail,
    ) -> Result<String, provenant::pipeline::worker::ProcessError> {
        let payload: Value = serde_json::from_slice(&event.payload).unwrap_or_default();
        if payload["fail"] == true {
            return Err(provenant::pipeline::worker::ProcessError::Permanent(
                "asked to fail".into(),
            ));
        }
        Ok("done".into())
    }
}
