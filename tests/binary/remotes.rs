//! Remotes that misbehave, against the real binary (its logs read at `debug`): GitHub, GitLab
//! and Slack stand-ins that refuse connections, reset them, cut answers short, answer garbage or
//! a body without end, echo the token back in 500s, storm 429s with and without `Retry-After`,
//! and redirect to another host. Timeouts and bounds hold, a healthy destination keeps flowing,
//! retries follow the schedule, each row ends in the right state with a clear error, and no
//! token or webhook URL appears in any error text or log line.

use std::collections::VecDeque;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::fake::{Canned, FakeRemote};
use crate::fixture::*;
use crate::fixtures::{github_pr, gitlab_mr};

const GITHUB_TOKEN: &str = "ghp_RogueTokenNeverShown0123456789";
const GITLAB_TOKEN: &str = "glpat-RogueTokenNeverShown98765";
const SLACK_PATH: &str = "/services/T0ROGUE/B0ROGUE/SlackPathNeverShown42";

/// What a rogue remote does with one connection.
#[derive(Clone, Debug)]
enum Act {
    /// Closes without reading the request: the kernel answers with a reset.
    Reset,
    /// Promises 1,000 bytes of body, sends 10, and closes.
    CutShort,
    /// Bytes that are not HTTP.
    Garbage,
    /// `500` with a body that never ends (until the client stops reading).
    Endless,
    /// An answer whose body repeats the request's credentials (token and path), after this
    /// many characters of padding.
    EchoCredentials(u16, usize),
    /// A status with headers.
    Answer(u16, Vec<(&'static str, String)>),
}

struct Rogue {
    url: String,
    script: Arc<Mutex<VecDeque<Act>>>,
    /// Requests seen (method, path).
    seen: Arc<Mutex<Vec<(String, String, Instant)>>>,
    /// Bytes of the endless body the client took before it stopped reading.
    endless_sent: Arc<AtomicUsize>,
}

impl Rogue {
    /// Follows `script`, then answers 201 `{}` (GitHub's answer to a commit status) forever.
    fn start(script: Vec<Act>) -> Rogue {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let script = Arc::new(Mutex::new(VecDeque::from(script)));
        let seen = Arc::new(Mutex::new(Vec::new()));
        let endless_sent = Arc::new(AtomicUsize::new(0));
        {
            let (script, seen, endless_sent) = (script.clone(), seen.clone(), endless_sent.clone());
            std::thread::spawn(move || {
                for stream in listener.incoming() {
                    let Ok(stream) = stream else { continue };
                    let act = script
                        .lock()
                        .expect("lock")
                        .pop_front()
                        .unwrap_or(Act::Answer(201, vec![]));
                    let (seen, endless_sent) = (seen.clone(), endless_sent.clone());
                    std::thread::spawn(move || serve(stream, act, &seen, &endless_sent));
                }
            });
        }
        Rogue {
            url,
            script,
            seen,
            endless_sent,
        }
    }

    fn seen(&self) -> usize {
        self.seen.lock().expect("lock").len()
    }

    fn script_left(&self) -> usize {
        self.script.lock().expect("lock").len()
    }
}

/// Reads a request's head and body; returns (method, path, the whole head).
fn read_request(stream: &TcpStream) -> Option<(String, String, String)> {
    let mut reader = BufReader::new(stream);
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).ok()? == 0 {
            return None;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap_or(0);
        }
        let end = line == "\r\n";
        head.push_str(&line);
        if end {
            break;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut words = head.split_whitespace();
    let (method, path) = (words.next()?.to_string(), words.next()?.to_string());
    Some((method, path, head))
}

fn serve(
    mut stream: TcpStream,
    act: Act,
    seen: &Mutex<Vec<(String, String, Instant)>>,
    endless_sent: &AtomicUsize,
) {
    if let Act::Reset = act {
        // Give the request time to arrive, so it is unread when the socket closes (RST).
        std::thread::sleep(Duration::from_millis(20));
        seen.lock()
            .expect("lock")
            .push(("?".into(), "reset".into(), Instant::now()));
        return;
    }
    let Some((method, path, head)) = read_request(&stream) else {
        return;
    };
    seen.lock()
        .expect("lock")
        .push((method, path.clone(), Instant::now()));
    let reply = |status: u16, headers: &[(&str, String)], body: &str| {
        let mut text = format!(
            "HTTP/1.1 {status} Rogue\r\nContent-Length: {}\r\nConnection: close\r\n",
            body.len()
        );
        for (k, v) in headers {
            text.push_str(&format!("{k}: {v}\r\n"));
        }
        text.push_str("\r\n");
        text.push_str(body);
        text
    };
    let out = match act {
        Act::Reset => unreachable!(),
        Act::CutShort => {
            "HTTP/1.1 201 Created\r\nContent-Length: 1000\r\nConnection: close\r\n\r\n{\"id\": 12"
                .to_string()
        }
        Act::Garbage => "\u{1}\u{2}SMTP READY 220 ☃☃☃ not http at all\r\n\r\n".to_string(),
        Act::Endless => {
            let _ = stream.write_all(
                b"HTTP/1.1 500 Rogue\r\nContent-Length: 1073741824\r\nConnection: close\r\n\r\n",
            );
            let chunk = vec![b'x'; 64 * 1024];
            while stream.write_all(&chunk).is_ok() {
                if endless_sent.fetch_add(chunk.len(), Ordering::SeqCst) > (1 << 30) {
                    break;
                }
            }
            return;
        }
        Act::EchoCredentials(status, pad) => {
            // The credentials first, so that they fall within the excerpt that is kept.
            let token = head
                .lines()
                .filter_map(|l| l.split_once(':'))
                .find(|(k, _)| {
                    k.eq_ignore_ascii_case("authorization")
                        || k.eq_ignore_ascii_case("private-token")
                })
                .map(|(_, v)| v.trim().to_string())
                .unwrap_or_default();
            let body = format!(
                "{}you sent [{token}] to [{path}]; rejected",
                ".".repeat(pad)
            );
            reply(status, &[], &body)
        }
        Act::Answer(status, headers) => {
            let body = if status < 300 {
                "{}"
            } else {
                "{\"message\":\"no\"}"
            };
            reply(status, &headers, body)
        }
    };
    let _ = stream.write_all(out.as_bytes());
}

fn create(agent: &ureq::Agent, server: &Server, body: Value) -> String {
    let mut resp = agent
        .post(format!("{}/api/integrations", server.address))
        .header("authorization", format!("Bearer {TOKEN}"))
        .content_type("application/json")
        .send(body.to_string().as_bytes())
        .expect("create");
    assert_eq!(resp.status(), 201);
    let created: Value =
        serde_json::from_str(&resp.body_mut().read_to_string().expect("body")).expect("json");
    created["id"].as_str().expect("id").to_string()
}

fn deliver_pr(agent: &ureq::Agent, server: &Server, id: &str, number: i64) {
    let sha = format!("{number:040x}");
    let body = github_pr("opened", number, "main", &sha, false, None).to_string();
    let resp = agent
        .post(format!("{}/api/integrations/webhook/{id}", server.address))
        .header("content-type", "application/json")
        .header("x-github-event", "pull_request")
        .send(body.as_bytes())
        .expect("deliver");
    assert_eq!(resp.status(), 202);
}

fn deliver_merge_request(agent: &ureq::Agent, server: &Server, id: &str) {
    let body = gitlab_mr("open", 5, &"c0ffee".repeat(7)[..40], None, None).to_string();
    let resp = agent
        .post(format!("{}/api/integrations/webhook/{id}", server.address))
        .header("content-type", "application/json")
        .header("x-gitlab-event", "Merge Request Hook")
        .send(body.as_bytes())
        .expect("deliver");
    assert_eq!(resp.status(), 202);
}

fn outbox_rows(agent: &ureq::Agent, server: &Server, integration: &str) -> Vec<Value> {
    let (status, text) = get(
        agent,
        &format!(
            "{}/api/outbox?integrationId={integration}&limit=100",
            server.address
        ),
        Some(TOKEN),
    );
    assert_eq!(status, 200, "{text}");
    let page: Value = serde_json::from_str(&text).expect("json");
    page["items"].as_array().expect("items").clone()
}

/// Waits until every outbox row of `integration` is SENT or FAILED; returns them.
fn settled(
    agent: &ureq::Agent,
    server: &Server,
    integration: &str,
    within: Duration,
) -> Vec<Value> {
    let deadline = Instant::now() + within;
    loop {
        let rows = outbox_rows(agent, server, integration);
        if !rows.is_empty()
            && rows
                .iter()
                .all(|r| r["status"] == "SENT" || r["status"] == "FAILED")
        {
            return rows;
        }
        assert!(Instant::now() < deadline, "not settled: {rows:#?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn misbehaving_remotes_are_bounded_retried_or_refused_and_never_see_or_leak_a_token() {
    // GitHub: everything that can go wrong, once each, then a clean 201.
    let github = Rogue::start(vec![
        Act::Reset,
        Act::CutShort,
        Act::Garbage,
        Act::Endless,
        Act::EchoCredentials(500, 0),
        // A storm of 429s, with and without Retry-After (the primary limit's reset instead).
        Act::Answer(429, vec![("retry-after", "1".into())]),
        Act::Answer(429, vec![("retry-after", "1".into())]),
        Act::Answer(
            429,
            vec![
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", "0".into()),
            ],
        ),
        Act::Answer(
            403,
            vec![
                ("x-ratelimit-remaining", "0".into()),
                ("x-ratelimit-reset", "0".into()),
            ],
        ),
    ]);
    // Another GitHub host: a redirect points here, and nothing must arrive.
    let elsewhere = Rogue::start(vec![]);
    let redirecting = Rogue::start(vec![Act::Answer(
        307,
        vec![(
            "location",
            format!("{}/steal?from=provenant", elsewhere.url),
        )],
    )]);
    // Nobody listens here: connections are refused.
    let refused_url = {
        let l = TcpListener::bind("127.0.0.1:0").expect("bind");
        format!("http://{}", l.local_addr().expect("addr"))
    };
    let gitlab = Rogue::start(vec![Act::Garbage, Act::EchoCredentials(502, 0)]);
    let slack = Rogue::start(vec![
        Act::Reset,
        Act::EchoCredentials(500, 0),
        Act::Answer(429, vec![]),
    ]);
    // A remote that refuses for good, repeating the token in its answer where the kept
    // excerpt (300 characters) would cut it in two.
    let echoing = Rogue::start(vec![Act::EchoCredentials(422, 270)]);
    let healthy = FakeRemote::start();
    healthy.set_default(Canned::status(201, "{}"));

    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command(dir.path());
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .env("PROVENANT_LOG", "debug")
        // Six attempts, quickly: the transport failures and the 500 use five of them.
        .env(
            "PROVENANT_RETRY_SCHEDULE",
            "100ms,100ms,100ms,100ms,100ms,100ms",
        );
    let server = Server::spawn(cmd);
    let agent = agent();
    // Unsigned deliveries act here (the test is about what the remotes answer).
    let repo = |api: &str, token: &str| json!({"repo": "octo-org/agent-repo", "token": token, "api_url": api, "allow_unverified": true});
    let rogue_id = create(
        &agent,
        &server,
        json!({"type": "GITHUB", "name": "rogue", "config": repo(&github.url, GITHUB_TOKEN)}),
    );
    let redirect_id = create(
        &agent,
        &server,
        json!({"type": "GITHUB", "name": "redirect", "config": repo(&redirecting.url, GITHUB_TOKEN)}),
    );
    let refused_id = create(
        &agent,
        &server,
        json!({"type": "GITHUB", "name": "refused", "config": repo(&refused_url, GITHUB_TOKEN)}),
    );
    let healthy_id = create(
        &agent,
        &server,
        json!({"type": "GITHUB", "name": "healthy", "config": repo(&healthy.url, "ghp_healthy_token_000")}),
    );
    let echo_id = create(
        &agent,
        &server,
        json!({"type": "GITHUB", "name": "echo", "config": repo(&echoing.url, GITHUB_TOKEN)}),
    );
    let gitlab_id = create(
        &agent,
        &server,
        json!({"type": "GITLAB", "name": "rogue lab", "config": {
        "project_id": 42, "token": GITLAB_TOKEN, "api_url": gitlab.url, "allow_unverified": true}}),
    );
    let slack_id = create(
        &agent,
        &server,
        json!({"type": "SLACK", "name": "rogue slack", "config": {
        "webhook_url": format!("{}{SLACK_PATH}", slack.url), "events": ["drift.*"]}}),
    );
    let monitor_id = create(
        &agent,
        &server,
        json!({"type": "WEBHOOK", "name": "monitor", "config": {"allow_unverified": true}}),
    );

    let started = Instant::now();
    deliver_pr(&agent, &server, &rogue_id, 1);
    deliver_pr(&agent, &server, &redirect_id, 2);
    deliver_pr(&agent, &server, &refused_id, 3);
    deliver_pr(&agent, &server, &echo_id, 4);
    deliver_merge_request(&agent, &server, &gitlab_id);
    let resp = agent
        .post(format!(
            "{}/api/integrations/webhook/{monitor_id}",
            server.address
        ))
        .header("content-type", "application/json")
        .send(br#"{"type":"drift.critical","message":"rogue slack check"}"#)
        .expect("deliver");
    assert_eq!(resp.status(), 202);

    // Meanwhile a healthy destination flows as if nothing were wrong.
    for n in 10..15 {
        deliver_pr(&agent, &server, &healthy_id, n);
    }
    let healthy_rows = settled(&agent, &server, &healthy_id, Duration::from_secs(10));
    assert!(
        healthy_rows.iter().all(|r| r["status"] == "SENT"),
        "{healthy_rows:#?}"
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "the healthy destination waited {:?}",
        started.elapsed()
    );

    // The rogue GitHub: five failures retried (within the six attempts), four rate-limit
    // answers paused it without counting, then the status was accepted.
    let rows = settled(&agent, &server, &rogue_id, Duration::from_secs(30));
    assert_eq!(rows.len(), 1, "{rows:#?}");
    assert_eq!(rows[0]["status"], "SENT", "{:#}", rows[0]);
    assert_eq!(github.script_left(), 0);
    assert_eq!(
        github.seen(),
        10,
        "one request per scripted act, then the success"
    );
    // The endless body: the client read a bounded amount, then hung up.
    let taken = github.endless_sent.load(Ordering::SeqCst);
    assert!(
        taken < 16 << 20,
        "the client read {taken} bytes of an endless body"
    );
    // Retries followed the schedule: no two attempts closer than the 100 ms wait (less the
    // ±20 % spread), and the 429s' pauses of about a second were honoured.
    let times: Vec<Instant> = github
        .seen
        .lock()
        .expect("lock")
        .iter()
        .map(|s| s.2)
        .collect();
    for pair in times[..5].windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(75),
            "retried after only {gap:?}"
        );
    }
    let after_first_429 = times[6] - times[5];
    assert!(
        after_first_429 >= Duration::from_millis(900),
        "Retry-After: 1 ignored ({after_first_429:?})"
    );

    // The redirect: refused at once with a clear reason; the other host saw nothing.
    let rows = settled(&agent, &server, &redirect_id, Duration::from_secs(10));
    assert_eq!(rows[0]["status"], "FAILED");
    let error = rows[0]["lastError"].as_str().expect("error");
    assert!(
        error.contains("307")
            && error.contains("redirects are not followed")
            && error.contains(&elsewhere.url),
        "{error}"
    );
    assert_eq!(redirecting.seen(), 1);
    assert_eq!(elsewhere.seen(), 0, "a redirect was followed");

    // Refused connections: retried by the schedule, then failed with the reason.
    let rows = settled(&agent, &server, &refused_id, Duration::from_secs(20));
    assert_eq!(rows[0]["status"], "FAILED");
    assert_eq!(rows[0]["attempts"], 7, "{:#}", rows[0]);
    let error = rows[0]["lastError"].as_str().expect("error");
    assert!(
        error.contains("gave up after 7 attempts") && error.contains("could not be reached"),
        "{error}"
    );

    // GitLab: garbage and an echoing 502 retried, then sent.
    let rows = settled(&agent, &server, &gitlab_id, Duration::from_secs(20));
    assert!(rows.iter().all(|r| r["status"] == "SENT"), "{rows:#?}");
    assert_eq!(gitlab.script_left(), 0);

    // Slack: a reset, an echoing 500 and a 429 without Retry-After, then delivered.
    let rows = settled(&agent, &server, &slack_id, Duration::from_secs(20));
    assert_eq!(rows[0]["status"], "SENT", "{:#}", rows[0]);
    assert_eq!(slack.seen(), 4);

    // No credential anywhere: not in any row of the outbox (errors, excerpts) and not in the
    // server's log.
    let (_, all_rows) = get(
        &agent,
        &format!("{}/api/outbox?limit=200", server.address),
        Some(TOKEN),
    );
    let (_, destinations) = get(
        &agent,
        &format!("{}/api/outbox/destinations", server.address),
        Some(TOKEN),
    );
    let log = server.stderr();
    for secret in [
        GITHUB_TOKEN,
        &GITHUB_TOKEN[..12],
        GITLAB_TOKEN,
        &GITLAB_TOKEN[..12],
        SLACK_PATH,
        "SlackPathNeverShown42",
    ] {
        assert!(
            !all_rows.contains(secret),
            "{secret} in the outbox: {all_rows}"
        );
        assert!(!destinations.contains(secret), "{secret} in destinations");
        assert!(!log.contains(secret), "{secret} in the log:\n{log}");
    }
    // The echo was there, and was scrubbed.
    let rows = settled(&agent, &server, &echo_id, Duration::from_secs(10));
    assert_eq!(rows[0]["status"], "FAILED");
    let error = rows[0]["lastError"].as_str().expect("error");
    assert!(error.contains("you sent [Bearer ***]"), "{error}");
}
