//! A small HTTP server on 127.0.0.1:0 that stands in for Slack or the GitHub/GitLab APIs: it
//! records every request and answers from a script (200 `ok` when the script is empty), and can
//! answer 429, 500, 404 or slowly.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub at: Instant,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }

    /// A GitLab commit status as (path, name, state).
    pub fn gitlab_status(&self) -> (String, String, String) {
        let body = self.json();
        (
            self.path.clone(),
            body["name"].as_str().unwrap_or_default().to_string(),
            body["state"].as_str().unwrap_or_default().to_string(),
        )
    }
}

/// The GitLab commit status (path, name, state) expected on `sha` of project 42.
pub fn gitlab_status(sha: &str, name: &str, state: &str) -> (String, String, String) {
    (
        format!("/projects/42/statuses/{sha}"),
        name.to_string(),
        state.to_string(),
    )
}

#[derive(Debug, Clone)]
pub struct Canned {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
    pub delay: Duration,
}

impl Canned {
    pub fn status(status: u16, body: &str) -> Canned {
        Canned {
            status,
            headers: vec![],
            body: body.to_string(),
            delay: Duration::ZERO,
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Canned {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    pub fn after(mut self, delay: Duration) -> Canned {
        self.delay = delay;
        self
    }
}

/// Answers computed from the request (a stand-in that checks what it is sent).
type Responder = Arc<dyn Fn(&Recorded) -> Option<Canned> + Send + Sync>;

struct Shared {
    requests: Mutex<Vec<Recorded>>,
    /// Asked first; `None` leaves the request to the routes and the script.
    responder: Mutex<Option<Responder>>,
    /// Answers by path (query included), before the script.
    routes: Mutex<Vec<(String, Canned)>>,
    script: Mutex<VecDeque<Canned>>,
    default: Mutex<Canned>,
    stop: AtomicBool,
    /// Requests being answered now, and the most there ever were at once.
    in_flight: AtomicUsize,
    max_in_flight: AtomicUsize,
}

pub struct FakeRemote {
    pub url: String,
    addr: String,
    shared: Arc<Shared>,
}

impl FakeRemote {
    pub fn start() -> FakeRemote {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr").to_string();
        let shared = Arc::new(Shared {
            requests: Mutex::new(vec![]),
            responder: Mutex::new(None),
            routes: Mutex::new(vec![]),
            script: Mutex::new(VecDeque::new()),
            default: Mutex::new(Canned::status(200, "ok")),
            stop: AtomicBool::new(false),
            in_flight: AtomicUsize::new(0),
            max_in_flight: AtomicUsize::new(0),
        });
        {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    if shared.stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(stream) = stream else { continue };
                    let shared = shared.clone();
                    std::thread::spawn(move || serve(stream, &shared));
                }
            });
        }
        FakeRemote {
            url: format!("http://{addr}"),
            addr,
            shared,
        }
    }

    /// The next answers, in order; after them, the default.
    pub fn push(&self, canned: Canned) {
        self.shared.script.lock().expect("lock").push_back(canned);
    }

    /// Every request for `path` (with its query) gets `canned`, from now on (replacing an
    /// earlier answer for it).
    #[allow(dead_code)]
    pub fn route(&self, path: &str, canned: Canned) {
        let mut routes = self.shared.routes.lock().expect("lock");
        routes.retain(|(p, _)| p != path);
        routes.push((path.to_string(), canned));
    }

    /// Every request is first offered to `respond`, which may answer it from what it holds.
    #[allow(dead_code)]
    pub fn respond_with(
        &self,
        respond: impl Fn(&Recorded) -> Option<Canned> + Send + Sync + 'static,
    ) {
        *self.shared.responder.lock().expect("lock") = Some(Arc::new(respond));
    }

    pub fn set_default(&self, canned: Canned) {
        *self.shared.default.lock().expect("lock") = canned;
    }

    /// The most requests this remote was answering at one time (the two-node tests read it).
    #[allow(dead_code)]
    pub fn max_in_flight(&self) -> usize {
        self.shared.max_in_flight.load(Ordering::SeqCst)
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().expect("lock").clone()
    }

    /// Waits until at least `n` requests arrived.
    pub fn wait_for(&self, n: usize) -> Vec<Recorded> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.requests();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "expected {n} requests, got {}: {got:?}",
                got.len()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for FakeRemote {
    fn drop(&mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(&self.addr);
    }
}

fn serve(stream: TcpStream, shared: &Shared) {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next().unwrap_or("").to_string();
    let path = parts.next().unwrap_or("").to_string();
    let mut headers = vec![];
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).unwrap_or(0) == 0 {
            return;
        }
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_string()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; length];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    let now = shared.in_flight.fetch_add(1, Ordering::SeqCst) + 1;
    shared.max_in_flight.fetch_max(now, Ordering::SeqCst);
    let recorded = Recorded {
        method,
        path: path.clone(),
        headers,
        body,
        at: Instant::now(),
    };
    shared.requests.lock().expect("lock").push(recorded.clone());
    let responder = shared.responder.lock().expect("lock").clone();
    let responded = responder.and_then(|respond| respond(&recorded));
    let routed = responded.or_else(|| {
        shared
            .routes
            .lock()
            .expect("lock")
            .iter()
            .find(|(p, _)| *p == path)
            .map(|(_, c)| c.clone())
    });
    let canned = routed.unwrap_or_else(|| {
        shared
            .script
            .lock()
            .expect("lock")
            .pop_front()
            .unwrap_or_else(|| shared.default.lock().expect("lock").clone())
    });
    std::thread::sleep(canned.delay);
    let mut response = format!(
        "HTTP/1.1 {} Canned\r\nContent-Length: {}\r\nConnection: close\r\nContent-Type: text/plain\r\n",
        canned.status,
        canned.body.len()
    );
    for (k, v) in &canned.headers {
        response.push_str(&format!("{k}: {v}\r\n"));
    }
    response.push_str("\r\n");
    response.push_str(&canned.body);
    // Answered once the answer starts on its way: counted down first, as a request that this
    // answer lets the caller send (the next one for the destination) may arrive before this
    // thread runs again, and would otherwise be counted as in flight beside this one.
    shared.in_flight.fetch_sub(1, Ordering::SeqCst);
    let mut stream = reader.into_inner();
    let _ = stream.write_all(response.as_bytes());
    let _ = stream.flush();
}
