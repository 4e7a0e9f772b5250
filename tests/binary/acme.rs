//! `provenant --acme-domain …` as an operator runs it, against Pebble: the first start obtains
//! a certificate and serves https at the domain, which becomes the public URL; a restart says
//! it serves the cached one and orders none.

use std::time::{Duration, Instant};

use crate::fixture::{Server, TOKEN, command, command_listening_on};
use crate::pebble::{DOMAIN, Pebble, free_port};
use crate::tls_support::TlsClient;

#[test]
fn acme_domain_alone_gives_an_https_webhook_url_and_a_restart_reuses_the_certificate() {
    let Some(pebble) = Pebble::start() else {
        return;
    };
    let root = pebble.root();
    let dir = tempfile::tempdir().expect("dir");
    let start = || {
        let mut cmd = command(dir.path());
        cmd.env("PROVENANT_API_TOKEN", TOKEN)
            .args(["--acme-domain", DOMAIN, "--acme-email", "ops@example.com"])
            .arg("--acme-directory")
            .arg(&pebble.directory)
            .arg("--acme-directory-ca")
            .arg(&pebble.https_ca);
        Server::spawn(cmd)
    };
    let server = start();
    assert!(
        server.wait_for_stderr(
            "obtained a certificate from the ACME server",
            Duration::from_secs(30)
        ),
        "{}",
        server.stderr()
    );
    let port = server.address.rsplit(':').next().expect("port").to_string();
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut client = loop {
        match TlsClient::try_connect(&server.address, &root, DOMAIN) {
            Ok(client) => break client,
            Err(e) => assert!(Instant::now() < deadline, "{e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let first = client.served();
    let (status, cluster) = client.get("/api/cluster", TOKEN);
    assert_eq!(status, 200, "{cluster}");
    assert!(
        cluster.contains(&format!("https://{DOMAIN}:{port}")),
        "the public URL is not the domain's: {cluster}"
    );
    assert!(server.terminate().success());

    // doctor reads the kept certificate.
    let out = command(dir.path())
        .env("PROVENANT_API_TOKEN", TOKEN)
        .args(["--acme-domain", DOMAIN])
        .arg("--acme-directory")
        .arg(&pebble.directory)
        .arg("doctor")
        .stdout(std::process::Stdio::piped())
        .output()
        .expect("doctor");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines().any(|l| l.starts_with(&format!(
            "✔ TLS certificate: for {DOMAIN}, valid for 89 more days"
        ))),
        "{text}"
    );

    let again = start();
    assert!(
        again.wait_for_stderr(
            "serving the cached ACME certificate",
            Duration::from_secs(5)
        ),
        "{}",
        again.stderr()
    );
    assert_eq!(
        TlsClient::connect(&again.address, &root, DOMAIN).served(),
        first
    );
    // The renewal loop has looked at it and found it not due: no order follows.
    assert!(
        again.wait_for_stderr("not due for renewal yet", Duration::from_secs(5)),
        "{}",
        again.stderr()
    );
    assert!(
        !again.stderr().contains("obtained a certificate"),
        "a new order at restart: {}",
        again.stderr()
    );
    assert!(again.terminate().success());
}

/// Pebble checks the challenge for real, as Let's Encrypt does: it resolves the domain to this
/// machine and connects to the server under test, on the https port (TLS-ALPN-01) or, with
/// --redirect-http, on the plain one (HTTP-01).
fn a_really_validated_certificate(http01: bool) {
    let (https, http) = (free_port(), free_port());
    let Some(pebble) = Pebble::validating(http, https) else {
        return;
    };
    let root = pebble.root();
    let dir = tempfile::tempdir().expect("dir");
    let mut cmd = command_listening_on(dir.path(), &format!("127.0.0.1:{https}"));
    cmd.env("PROVENANT_API_TOKEN", TOKEN)
        .args(["--acme-domain", DOMAIN])
        .arg("--acme-directory")
        .arg(&pebble.directory)
        .arg("--acme-directory-ca")
        .arg(&pebble.https_ca);
    if http01 {
        cmd.args(["--redirect-http", &format!("127.0.0.1:{http}")]);
    }
    let server = Server::spawn(cmd);
    assert!(
        server.wait_for_stderr(
            "obtained a certificate from the ACME server",
            Duration::from_secs(60)
        ),
        "{}",
        server.stderr()
    );
    let served = TlsClient::connect(&server.address, &root, DOMAIN).served();
    let about = provenant::tls::certs::describe(&served).expect("certificate");
    assert_eq!(about.names, [DOMAIN]);
    assert!(server.terminate().success());
}

#[test]
fn pebble_validates_tls_alpn_01_on_the_https_port() {
    a_really_validated_certificate(false);
}

#[test]
fn pebble_validates_http_01_on_the_plain_listener() {
    a_really_validated_certificate(true);
}
