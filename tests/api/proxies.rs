//! Behind a reverse proxy (`--trusted-proxies`): forwarding headers name the client only when
//! they come from a trusted proxy; the rejections log and the connection caps follow.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::*;

const SECRET: &str = "proxied-webhook-secret-0123";
/// Any 127.x address is this machine: the test's "proxy" connects from this one.
const PROXY: [u8; 4] = [127, 0, 0, 2];
const ELSEWHERE: [u8; 4] = [127, 0, 0, 3];

/// A push delivery with a wrong signature, from `from`, with `forwarding` header lines; the
/// status line of the answer.
fn refused_push(app: &TestApp, id: &str, from: [u8; 4], forwarding: &str) -> String {
    let body = br#"{"ref":"refs/heads/main"}"#;
    let mut stream = connect_from(app, from);
    let head = format!(
        "POST /api/integrations/webhook/{id} HTTP/1.1\r\nhost: hooks.example.com\r\n\
         content-type: application/json\r\nx-github-event: push\r\n\
         x-hub-signature-256: {}\r\n{forwarding}content-length: {}\r\nconnection: close\r\n\r\n",
        github_signature("not the secret", body),
        body.len()
    );
    stream.write_all(head.as_bytes()).expect("head");
    stream.write_all(body).expect("body");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer.lines().next().unwrap_or_default().to_string()
}

/// The sources of the kept rejections, newest first, once there are `n`.
fn sources(app: &TestApp, id: &str, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        let items: Vec<Value> = app
            .get(&format!("/api/integrations/{id}/rejections"))
            .json()["items"]
            .as_array()
            .expect("items")
            .clone();
        if items.len() >= n {
            return items
                .iter()
                .map(|r| r["source"].as_str().unwrap_or("-").to_string())
                .collect();
        }
        assert!(std::time::Instant::now() < deadline, "{items:?}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn the_rejections_log_names_the_client_a_trusted_proxy_forwarded_and_the_socket_otherwise() {
    let app = TestApp::spawn_with(
        |s| {
            s.trusted_proxies =
                provenant::http::proxy::TrustedProxies::parse("127.0.0.2/32").expect("proxies");
        },
        Default::default(),
    );
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": SECRET}),
    );
    let cases = [
        // The trusted proxy, as nginx writes it.
        (
            PROXY,
            "x-forwarded-for: 203.0.113.7\r\nx-forwarded-proto: https\r\n",
        ),
        // A `Forwarded` the proxy passed on from a client: the proxy writes X-Forwarded-For
        // (the default, --forwarded-header), so it is ignored and the proxy itself counts.
        (
            PROXY,
            "forwarded: for=\"[2001:db8:cafe::17]:4711\";proto=https\r\n",
        ),
        // A client that names someone else, straight to the server: not believed.
        (ELSEWHERE, "x-forwarded-for: 198.51.100.1\r\n"),
        // A client that forged a first hop, through the proxy: the proxy's hop counts.
        (PROXY, "x-forwarded-for: 192.0.2.1, 203.0.113.8\r\n"),
        // The proxy without forwarding headers: itself.
        (PROXY, ""),
    ];
    for (from, forwarding) in cases {
        let status = refused_push(&app, &id, from, forwarding);
        assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    }
    let mut got = sources(&app, &id, cases.len());
    got.reverse();
    assert_eq!(
        got,
        [
            "203.0.113.7",
            "127.0.0.2",
            "127.0.0.3",
            "203.0.113.8",
            "127.0.0.2"
        ]
    );
}

#[test]
fn without_trusted_proxies_forwarding_headers_are_ignored() {
    let app = TestApp::spawn();
    let id = app.create_integration_id(
        "GITHUB",
        json!({"repo": "octo/hello", "webhook_secret": SECRET}),
    );
    let status = refused_push(&app, &id, PROXY, "x-forwarded-for: 203.0.113.7\r\n");
    assert!(status.starts_with("HTTP/1.1 401"), "{status}");
    assert_eq!(sources(&app, &id, 1), ["127.0.0.2"]);
}

/// A trusted proxy carries every client's requests: it is held to the total only, while any
/// other address keeps its cap.
#[test]
fn a_trusted_proxy_is_not_held_to_the_per_address_connection_cap() {
    let app = TestApp::spawn_with(
        |s| {
            s.max_connections_per_ip = 2;
            s.trusted_proxies =
                provenant::http::proxy::TrustedProxies::parse("127.0.0.2").expect("proxies");
        },
        Default::default(),
    );
    let held: Vec<TcpStream> = (0..4).map(|_| connect_from(&app, PROXY)).collect();
    let mut fifth = connect_from(&app, PROXY);
    fifth
        .write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("request");
    let mut answer = String::new();
    let _ = fifth.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let others: Vec<TcpStream> = (0..2).map(|_| connect_from(&app, ELSEWHERE)).collect();
    let mut third = connect_from(&app, ELSEWHERE);
    let mut answer = String::new();
    let _ = third.read_to_string(&mut answer);
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    drop((held, others));
}
