//! Certificates from an ACME server, against Pebble: obtained at the first start and served,
//! reused after a restart with no new order, renewed when close to expiry (the test moves the
//! server's clock), and, with the ACME server gone, the cached one still served while health
//! names the problem.

use std::path::Path;
use std::time::{Duration, Instant};

use provenant::app::config::TlsSource;
use provenant::base::clock::Clock;
use provenant::tls::acme::AcmeSettings;
use rustls::pki_types::CertificateDer;

use crate::helpers::*;
use crate::pebble::{DOMAIN, Pebble};
use crate::tls_support::TlsClient;

fn acme_app(dir: &Path, pebble: &Pebble, clock: &Clock) -> TestApp {
    let clock = clock.clone();
    let directory = pebble.directory.clone();
    let ca = pebble.https_ca.clone();
    TestApp::spawn_in(
        dir,
        move |s| {
            s.clock = clock;
            s.tls = Some(TlsSource::Acme(AcmeSettings {
                domains: vec![DOMAIN.to_string()],
                email: Some("ops@example.com".to_string()),
                directory,
                directory_ca: Some(ca),
                check_every: Duration::from_millis(200),
                http_challenge: false,
            }));
        },
        Default::default(),
    )
}

/// The certificate served for the domain, once there is one that `root` vouches for.
fn served(
    app: &TestApp,
    root: &CertificateDer<'static>,
    timeout: Duration,
) -> CertificateDer<'static> {
    let deadline = Instant::now() + timeout;
    loop {
        match TlsClient::try_connect(&app.address, root, DOMAIN) {
            Ok(client) => return client.served(),
            Err(e) => assert!(Instant::now() < deadline, "no certificate served: {e}"),
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn wait_for_another(
    app: &TestApp,
    root: &CertificateDer<'static>,
    than: &CertificateDer<'static>,
) -> CertificateDer<'static> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = served(app, root, Duration::from_secs(5));
        if &now != than {
            return now;
        }
        assert!(Instant::now() < deadline, "the certificate was not renewed");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn health(app: &TestApp, root: &CertificateDer<'static>) -> String {
    let (status, reply) = TlsClient::connect(&app.address, root, DOMAIN).get("/api/health", TOKEN);
    assert_eq!(status, 200, "{reply}");
    reply
}

#[test]
fn a_certificate_is_obtained_served_reused_after_a_restart_renewed_near_expiry_and_kept_when_the_ca_is_down()
 {
    let Some(mut pebble) = Pebble::start() else {
        return;
    };
    let root = pebble.root();
    let dir = tempfile::tempdir().expect("dir");
    let clock = Clock::system();

    // First start: an account and a certificate, kept for the owner only.
    let app = acme_app(dir.path(), &pebble, &clock);
    let first = served(&app, &root, Duration::from_secs(30));
    let about = provenant::tls::certs::describe(&first).expect("certificate");
    assert_eq!(about.names, [DOMAIN]);
    let reply = health(&app, &root);
    assert!(reply.contains("\"status\":\"ok\""), "{reply}");
    assert!(reply.contains("strict-transport-security"), "{reply}");
    let cache = dir.path().join("acme");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
        assert_eq!(mode(&cache), 0o700);
        for entry in std::fs::read_dir(&cache).expect("cache") {
            let path = entry.expect("entry").path();
            assert_eq!(mode(&path), 0o600, "{}", path.display());
        }
    }
    let kept = std::fs::read(cache.join("certificate.pem")).expect("cached certificate");
    app.stop();

    // A restart serves the cached certificate at once. That it orders none is shown at the
    // end: this run's metrics count one order (the renewal); the binary test also reads the
    // renewal loop's "not due" line.
    let app = acme_app(dir.path(), &pebble, &clock);
    assert_eq!(served(&app, &root, Duration::from_secs(5)), first);
    assert_eq!(
        std::fs::read(cache.join("certificate.pem")).expect("cache"),
        kept
    );

    // 61 days on, 29 are left: it is renewed, served and kept.
    let now = clock.now_ms();
    clock.pin(now + 61 * 86_400_000);
    let second = wait_for_another(&app, &root, &first);
    assert_ne!(
        std::fs::read(cache.join("certificate.pem")).expect("cache"),
        kept
    );
    // Back to today: the new certificate has its 90 days.
    clock.pin(now);
    clock.resume();

    // The CA goes away, and the certificate comes due: the one served stays, health says why.
    pebble.stop();
    clock.pin(now + 61 * 86_400_000);
    let deadline = Instant::now() + Duration::from_secs(20);
    let reply = loop {
        let reply = health(&app, &root);
        if reply.contains("obtaining a TLS certificate") {
            break reply;
        }
        assert!(
            Instant::now() < deadline,
            "health names no problem: {reply}"
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    assert!(reply.contains("\"status\":\"degraded\""), "{reply}");
    assert!(
        reply.contains(&format!(
            "obtaining a TLS certificate for {DOMAIN} from {} failed (the certificate before is still served)",
            pebble.directory
        )),
        "{reply}"
    );
    assert_eq!(served(&app, &root, Duration::from_secs(5)), second);
    let (_, metrics) = TlsClient::connect(&app.address, &root, DOMAIN).get("/metrics", TOKEN);
    assert!(
        metrics.contains(r#"provenant_tls_certificate_loads_total{source="acme",result="ok"} 1"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"provenant_tls_certificate_loads_total{source="acme",result="error"}"#),
        "{metrics}"
    );
    assert!(
        metrics.contains(r#"provenant_tls_certificate_loads_total{source="cache",result="ok"} 1"#),
        "{metrics}"
    );
    app.stop();
}
