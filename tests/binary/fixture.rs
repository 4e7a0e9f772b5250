//! Spawns the real binary with settings from flags and a clean environment, finds its address
//! from the `listening on` line, and kills it when dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const TOKEN: &str = "binary-test-token-0123456789";

pub struct Server {
    child: Child,
    pub address: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

pub fn command(data_dir: &Path) -> Command {
    command_listening_on(data_dir, "127.0.0.1:0")
}

/// [`command`], listening on the address given.
pub fn command_listening_on(data_dir: &Path, listen: &str) -> Command {
    let mut cmd = base_command(listen);
    cmd.arg("--data-dir").arg(data_dir);
    // On PostgreSQL (PROVENANT_TEST_DATABASE_URL), the folder's own schema there.
    if let Some(url) = provenant::db::testing::database_url(data_dir) {
        cmd.env("PROVENANT_DATABASE_URL", url);
    }
    cmd
}

/// The binary with the tests' environment and no `--data-dir`.
pub fn command_without_folder() -> Command {
    base_command("127.0.0.1:0")
}

fn base_command(listen: &str) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_provenant"));
    // Nothing from the developer's environment (no stray PROVENANT_* settings).
    cmd.env_clear()
        // No checks of GitHub's delivery log on their own: the stand-ins count requests.
        .env("PROVENANT_RECONCILE_EVERY", "0s")
        // The stand-ins for GitHub, GitLab and Slack run here, over plain http: credentials
        // may go to them, and their answers are shown.
        .env(
            "PROVENANT_ALLOWED_API_HOSTS",
            "api.github.com,gitlab.com,slack.com,hooks.slack.com,127.0.0.1,http://127.0.0.1",
        )
        .arg("--listen")
        .arg(listen)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    cmd
}

impl Server {
    pub fn start(data_dir: &Path, token: Option<&str>) -> Server {
        let mut cmd = command(data_dir);
        if let Some(t) = token {
            cmd.env("PROVENANT_API_TOKEN", t);
        }
        Self::spawn(cmd)
    }

    pub fn spawn(mut cmd: Command) -> Server {
        Self::adopt(
            cmd.spawn().expect("spawn provenant"),
            Duration::from_secs(20),
        )
    }

    /// A server already spawned: waits up to `timeout` for its `listening on` line.
    pub fn adopt(mut child: std::process::Child, timeout: Duration) -> Server {
        let stderr = child.stderr.take().expect("stderr");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = mpsc::channel();
        {
            let lines = lines.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    // With --log-format json, the line is an object with the same message.
                    let message = if line.starts_with('{') {
                        serde_json::from_str::<serde_json::Value>(&line)
                            .ok()
                            .and_then(|v| v["message"].as_str().map(str::to_string))
                            .unwrap_or_default()
                    } else {
                        line.clone()
                    };
                    if let Some(addr) = message.strip_prefix("listening on ") {
                        let _ = tx.send(addr.to_string());
                    }
                    lines.lock().expect("lock").push(line);
                }
            });
        }
        let address = match rx.recv_timeout(timeout) {
            Ok(a) => a,
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "no `listening on` line; stderr: {:?}",
                    lines.lock().expect("lock")
                );
            }
        };
        Server {
            child,
            address,
            stderr: lines,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn stderr(&self) -> String {
        self.stderr.lock().expect("lock").join("\n")
    }

    /// Waits until a line of stderr contains `needle`; false after `timeout`.
    pub fn wait_for_stderr(&self, needle: &str, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if self
                .stderr
                .lock()
                .expect("lock")
                .iter()
                .any(|l| l.contains(needle))
            {
                return true;
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        false
    }

    /// SIGKILL: no chance to clean up, as in a crash or an OOM kill.
    pub fn kill(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM, then waits for the exit.
    pub fn terminate(mut self) -> ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill -TERM");
        assert!(status.success());
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "server did not stop after SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(10)))
        .build()
        .into()
}

/// GET, returning the status and body text.
/// A JSON request with the API token; the status and the body.
pub fn call(agent: &ureq::Agent, method: &str, url: &str, body: &str) -> (u16, String) {
    let req = ureq::http::Request::builder()
        .method(method)
        .uri(url)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json")
        .body(body.as_bytes().to_vec())
        .expect("request");
    let mut resp = agent.run(req).expect("response");
    let status = resp.status().as_u16();
    (status, resp.body_mut().read_to_string().expect("body"))
}

pub fn get(agent: &ureq::Agent, url: &str, token: Option<&str>) -> (u16, String) {
    let mut req = agent.get(url);
    if let Some(t) = token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    let mut resp = req.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = resp.status().as_u16();
    let text = resp
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_string()
        .expect("body");
    (status, text)
}

/// Creates a WEBHOOK integration without a secret; returns its delivery URL.
pub fn webhook_url(agent: &ureq::Agent, server: &Server, name: &str) -> String {
    let (status, text) = call(
        agent,
        "POST",
        &format!("{}/api/integrations", server.address),
        &format!(r#"{{"type":"WEBHOOK","name":"{name}","config":{{}}}}"#),
    );
    assert_eq!(status, 201, "{text}");
    let created: serde_json::Value = serde_json::from_str(&text).expect("json");
    format!(
        "{}/api/integrations/webhook/{}",
        server.address,
        created["id"].as_str().expect("id")
    )
}

/// Waits until nothing is waiting or being processed or sent (the queue and the outbox, as
/// health reports them), at most `limit`.
pub fn wait_drained(server: &Server, limit: Duration) {
    let agent = agent();
    let deadline = Instant::now() + limit;
    loop {
        let (_, health) = get(
            &agent,
            &format!("{}/api/health", server.address),
            Some(TOKEN),
        );
        let health: serde_json::Value = serde_json::from_str(&health).expect("json");
        if health["queue"]["received"] == 0
            && health["queue"]["processing"] == 0
            && health["outbox"]["pending"] == 0
            && health["outbox"]["sending"] == 0
        {
            return;
        }
        assert!(Instant::now() < deadline, "never drained: {health}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A GitHub delivery of `body` signed with `secret`, as GitHub sends it; the status and the
/// answer (Null when it is not JSON).
pub fn deliver_github(
    agent: &ureq::Agent,
    server: &Server,
    integration_id: &str,
    delivery: &str,
    secret: &str,
    body: &serde_json::Value,
) -> (u16, serde_json::Value) {
    let body = body.to_string();
    let signature = crate::fixtures::github_signature(secret, body.as_bytes());
    let mut resp = agent
        .post(&format!(
            "{}/api/integrations/webhook/{integration_id}",
            server.address
        ))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .header("x-github-delivery", delivery)
        .header("x-hub-signature-256", &signature)
        .send(body.as_bytes())
        .expect("deliver");
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or_default())
}
