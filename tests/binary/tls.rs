//! HTTPS in the binary: a certificate from files, served to a client that trusts its CA,
//! replaced under the running server without dropping open connections; the redirect
//! listener; HSTS; a certificate that cannot be used stops the start.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::pki_types::{CertificateDer, ServerName};

use crate::fixture::{Server, TOKEN, command};

/// A throw-away CA and the certificates it signs.
pub struct TestCa {
    issuer: rcgen::CertifiedIssuer<'static, rcgen::KeyPair>,
}

/// A certificate with its key, in PEM, and the certificate in DER (to compare with what a
/// client was served).
pub struct Leaf {
    pub cert_pem: String,
    pub key_pem: String,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> TestCa {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "provenant test CA");
        let key = rcgen::KeyPair::generate().expect("CA key");
        TestCa {
            issuer: rcgen::CertifiedIssuer::self_signed(params, key).expect("CA"),
        }
    }

    pub fn der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A server certificate for `names`, valid for `days`.
    pub fn leaf(&self, names: &[&str], days: i64) -> Leaf {
        let mut params =
            rcgen::CertificateParams::new(names.iter().map(|n| n.to_string()).collect::<Vec<_>>())
                .expect("params");
        let now = time::OffsetDateTime::now_utc();
        params.not_before = now - time::Duration::hours(1);
        params.not_after = now + time::Duration::days(days);
        let key = rcgen::KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &self.issuer).expect("sign");
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().clone(),
        }
    }
}

/// Writes the files the way certbot and secret managers replace them: a new file renamed over
/// the old one.
pub fn install(leaf: &Leaf, dir: &Path) {
    for (name, text) in [("cert.pem", &leaf.cert_pem), ("key.pem", &leaf.key_pem)] {
        let next = dir.join(format!("{name}.next"));
        std::fs::write(&next, text).expect("write");
        std::fs::rename(&next, dir.join(name)).expect("rename");
    }
}

/// A TLS connection to `address` (`https://host:port`) that trusts only `ca`, for `name`.
pub struct TlsClient {
    stream: rustls::StreamOwned<rustls::ClientConnection, TcpStream>,
}

impl TlsClient {
    pub fn connect(address: &str, ca: &CertificateDer<'static>, name: &str) -> TlsClient {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).expect("CA");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let socket = TcpStream::connect(address.trim_start_matches("https://")).expect("connect");
        socket
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        let conn = rustls::ClientConnection::new(
            Arc::new(config),
            ServerName::try_from(name.to_string()).expect("name"),
        )
        .expect("client");
        let mut stream = rustls::StreamOwned::new(conn, socket);
        while stream.conn.is_handshaking() {
            stream
                .conn
                .complete_io(&mut stream.sock)
                .expect("TLS handshake");
        }
        TlsClient { stream }
    }

    /// The certificate the server presented.
    pub fn served(&self) -> CertificateDer<'static> {
        self.stream.conn.peer_certificates().expect("certificates")[0].clone()
    }

    /// A keep-alive GET; the status and the lowercased head.
    pub fn get(&mut self, path: &str) -> (u16, String) {
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {TOKEN}\r\n\r\n"
        )
        .expect("request");
        let mut reader = BufReader::new(&mut self.stream);
        let mut head = String::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).expect("read");
            if line == "\r\n" || line.is_empty() {
                break;
            }
            head.push_str(&line.to_ascii_lowercase());
        }
        let length: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length: "))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or(0);
        let mut body = vec![0; length];
        reader.read_exact(&mut body).expect("body");
        let status = head[9..12].parse().expect("status");
        (
            status,
            format!("{head}\n{}", String::from_utf8_lossy(&body)),
        )
    }
}

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
    let (status, reply) = open.get("/api/health");
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
    let (status, reply) = open.get("/api/health");
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
            let (_, reply) =
                TlsClient::connect(&server.address, &ca.der(), "localhost").get("/api/health");
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
    let (_, reply) = TlsClient::connect(&server.address, &ca.der(), "localhost").get("/api/health");
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
    let (status, metrics) = after.get("/metrics");
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
        TlsClient::connect(&server.address, &ca.der(), "localhost").get("/api/health");
    assert_eq!(status, 200);
    assert!(reply.contains("\"status\":\"degraded\""), "{reply}");
    assert!(
        reply.contains("the TLS certificate for localhost expires in ") && reply.contains(" days"),
        "{reply}"
    );
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
