//! HTTPS in the binary: a certificate from files, served to a client that trusts its CA,
//! replaced under the running server without dropping open connections; the redirect
//! listener; HSTS; a certificate that cannot be used stops the start.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::fixture::{Server, TOKEN, command};
use crate::tls_support::{TestCa, TlsClient, install};

fn https_server(dir: &Path, extra: &[&str]) -> Server {
    let mut cmd = command(&dir.join("data"));
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .arg("--tls-cert")
        .arg(dir.join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.join("key.pem"))
        .args(extra);
    Server::spawn(cmd)
}

fn wait_until(what: &str, timeout: Duration, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !done() {
        assert!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn https_serves_the_given_certificate_and_a_replaced_one_to_new_connections_without_dropping_open_ones()
 {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    let first = ca.leaf(&["localhost", "127.0.0.1"], 90);
    install(&first, dir.path());
    let server = https_server(dir.path(), &[]);
    assert!(server.address.starts_with("https://"), "{}", server.address);

    let mut open = TlsClient::connect(&server.address, &ca.der(), "localhost");
    assert_eq!(open.served(), first.der);
    let (status, reply) = open.get("/api/health", TOKEN);
    assert_eq!(status, 200, "{reply}");
    assert!(
        reply.contains("strict-transport-security: max-age=63072000"),
        "{reply}"
    );
    // The address is in the certificate too.
    let by_ip = TlsClient::connect(&server.address, &ca.der(), "127.0.0.1");
    assert_eq!(by_ip.served(), first.der);

    let second = ca.leaf(&["localhost"], 90);
    install(&second, dir.path());
    wait_until(
        "a new connection is served the new certificate",
        Duration::from_secs(10),
        || TlsClient::connect(&server.address, &ca.der(), "localhost").served() == second.der,
    );
    assert!(server.wait_for_stderr("reloaded the TLS certificate", Duration::from_secs(1)));
    // The connection opened before the change is still served, with the certificate it had.
    let (status, reply) = open.get("/api/health", TOKEN);
    assert_eq!(status, 200, "{reply}");
    assert_eq!(open.served(), first.der);

    // A replacement whose key is not the certificate's: the one before stays, and health
    // says why.
    let third = ca.leaf(&["localhost"], 90);
    std::fs::write(dir.path().join("cert.pem"), &third.cert_pem).expect("write");
    wait_until(
        "health names the failed reload",
        Duration::from_secs(10),
        || {
            let (_, reply) = TlsClient::connect(&server.address, &ca.der(), "localhost")
                .get("/api/health", TOKEN);
            reply.contains("could not be reloaded") && reply.contains("does not fit")
        },
    );
    assert_eq!(
        TlsClient::connect(&server.address, &ca.der(), "localhost").served(),
        second.der
    );
    // Its key arrives: served, and the problem is gone.
    std::fs::write(dir.path().join("key.pem"), &third.key_pem).expect("write");
    wait_until(
        "the completed pair is served",
        Duration::from_secs(10),
        || TlsClient::connect(&server.address, &ca.der(), "localhost").served() == third.der,
    );
    let (_, reply) =
        TlsClient::connect(&server.address, &ca.der(), "localhost").get("/api/health", TOKEN);
    assert!(!reply.contains("could not be reloaded"), "{reply}");

    // SIGHUP reads the files again (and does not end the process, as it would by default).
    let hangup = std::process::Command::new("kill")
        .args(["-HUP", &server.pid().to_string()])
        .status()
        .expect("kill -HUP");
    assert!(hangup.success());
    wait_until("SIGHUP reloads", Duration::from_secs(5), || {
        server
            .stderr()
            .matches("reloaded the TLS certificate")
            .count()
            >= 3
    });
    let mut after = TlsClient::connect(&server.address, &ca.der(), "localhost");
    let (status, metrics) = after.get("/metrics", TOKEN);
    assert_eq!(status, 200);
    assert!(
        metrics.contains(r#"provenant_tls_certificate_loads_total{source="files",result="ok"} 4"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"provenant_tls_certificate_loads_total{source="files",result="error"}"#),
        "{metrics}"
    );
    assert!(server.terminate().success());
}

#[test]
fn a_certificate_close_to_its_end_is_a_health_problem() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    install(&ca.leaf(&["localhost"], 5), dir.path());
    let server = https_server(dir.path(), &[]);
    let (status, reply) =
        TlsClient::connect(&server.address, &ca.der(), "localhost").get("/api/health", TOKEN);
    assert_eq!(status, 200);
    assert!(reply.contains("\"status\":\"degraded\""), "{reply}");
    assert!(
        reply.contains("the TLS certificate for localhost expires in ") && reply.contains(" days"),
        "{reply}"
    );
    // `provenant doctor` with the same settings says so too, and what to do.
    let out = command(&dir.path().join("data"))
        .env("PROVENANT_API_TOKEN", TOKEN)
        .arg("--tls-cert")
        .arg(dir.path().join("cert.pem"))
        .arg("--tls-key")
        .arg(dir.path().join("key.pem"))
        .arg("doctor")
        .stdout(std::process::Stdio::piped())
        .output()
        .expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("✘ TLS certificate: for localhost: expires in ")),
        "{text}"
    );
    assert!(server.terminate().success());
}

#[test]
fn the_plain_listener_redirects_every_request_to_https() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    install(&ca.leaf(&["localhost"], 90), dir.path());
    let server = https_server(dir.path(), &["--redirect-http", "127.0.0.1:0"]);
    let line = server.stderr();
    let plain = line
        .lines()
        .find_map(|l| l.strip_prefix("redirecting http://"))
        .and_then(|l| l.strip_suffix(" to https"))
        .expect("the redirect line")
        .to_string();
    let port = server.address.rsplit(':').next().expect("port").to_string();
    let ask = |host: &str| {
        let mut stream = TcpStream::connect(&plain).expect("connect");
        write!(
            stream,
            "POST /api/integrations/webhook/abc?x=1 HTTP/1.1\r\nhost: {host}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
        )
        .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer.to_ascii_lowercase()
    };
    let answer = ask("hooks.example.com");
    assert!(answer.starts_with("http/1.1 308"), "{answer}");
    assert!(
        answer.contains(&format!(
            "location: https://hooks.example.com:{port}/api/integrations/webhook/abc?x=1"
        )),
        "{answer}"
    );
    // Nothing a client writes into Host becomes a redirect to elsewhere.
    assert!(ask("evil.example/@x").starts_with("http/1.1 400"));
    // The https side does not speak plain HTTP.
    let mut stream =
        TcpStream::connect(server.address.trim_start_matches("https://")).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .expect("timeout");
    let _ = stream.write_all(b"GET /api/health HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut answer = Vec::new();
    let _ = stream.read_to_end(&mut answer);
    assert!(!String::from_utf8_lossy(&answer).contains("200 OK"));
    assert!(server.terminate().success());
}

#[test]
fn a_certificate_that_cannot_be_used_stops_the_start_with_the_reason() {
    let dir = tempfile::tempdir().expect("dir");
    let ca = TestCa::new();
    let (one, other) = (ca.leaf(&["localhost"], 90), ca.leaf(&["localhost"], 90));
    std::fs::write(dir.path().join("cert.pem"), &one.cert_pem).expect("write");
    std::fs::write(dir.path().join("key.pem"), &other.key_pem).expect("write");
    let run = |extra: &[&str]| {
        let mut cmd = command(&dir.path().join("data"));
        cmd.stderr(std::process::Stdio::piped()).args(extra);
        let out = cmd.output().expect("run");
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let cert = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    let (cert, key) = (cert.to_str().expect("path"), key.to_str().expect("path"));
    let (code, stderr) = run(&["--tls-cert", cert, "--tls-key", key]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("the key does not fit the certificate"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tls-cert", cert, "--tls-key", "/nonexistent/key.pem"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(
        stderr.contains("--tls-key: cannot read /nonexistent/key.pem"),
        "{stderr}"
    );
    let (code, stderr) = run(&["--tls-cert", cert]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--tls-key"), "{stderr}");
    let (code, stderr) = run(&["--redirect-http", "127.0.0.1:0"]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("--redirect-http"), "{stderr}");
}
