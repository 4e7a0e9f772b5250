//! Pebble, Let's Encrypt's ACME test server (Debian package `pebble`), run by a test on free
//! ports with an HTTPS certificate from a throw-away CA. Every challenge counts as valid
//! (`PEBBLE_VA_ALWAYS_VALID`), so no DNS is needed.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use crate::tls_support::TestCa;

pub const DOMAIN: &str = "hooks.provenant.test";

pub struct Pebble {
    child: Option<Child>,
    /// The stand-in DNS server that resolves every name to 127.0.0.1, when challenges are
    /// really validated.
    dns: Option<(Child, u16)>,
    /// The ACME directory URL.
    pub directory: String,
    /// The CA of Pebble's own HTTPS, to give to `--acme-directory-ca`.
    pub https_ca: PathBuf,
    management: String,
    ca: TestCa,
    folder: tempfile::TempDir,
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port()
}

impl Pebble {
    /// None when Pebble is not installed, unless PROVENANT_REQUIRE_PEBBLE is set (CI): then
    /// its absence fails the test.
    pub fn start() -> Option<Pebble> {
        Self::start_with(None)
    }

    /// Pebble that validates challenges for real: it resolves every name to 127.0.0.1 (through
    /// pebble-challtestsrv's DNS) and checks HTTP-01 on `http_port` and TLS-ALPN-01 on
    /// `tls_port`, where the server under test must answer.
    pub fn validating(http_port: u16, tls_port: u16) -> Option<Pebble> {
        Self::start_with(Some((http_port, tls_port)))
    }

    fn start_with(validate: Option<(u16, u16)>) -> Option<Pebble> {
        if Command::new("pebble").arg("-h").output().is_err() {
            assert!(
                std::env::var_os("PROVENANT_REQUIRE_PEBBLE").is_none(),
                "pebble is not installed (apt-get install pebble)"
            );
            eprintln!("skipped: pebble is not installed");
            return None;
        }
        // Its ports are picked free and then bound by pebble: another test may take one in
        // between (on a loaded CI machine it did), and pebble then exits. Fresh ports again.
        for _ in 0..3 {
            if let Some(pebble) = Self::launch(validate) {
                return Some(pebble);
            }
        }
        panic!("pebble did not start, three times with fresh ports");
    }

    fn launch(validate: Option<(u16, u16)>) -> Option<Pebble> {
        let folder = tempfile::tempdir().expect("dir");
        let ca = TestCa::new();
        let leaf = ca.leaf(&["localhost", "127.0.0.1"], 30);
        std::fs::write(folder.path().join("cert.pem"), &leaf.cert_pem).expect("write");
        std::fs::write(folder.path().join("key.pem"), &leaf.key_pem).expect("write");
        let https_ca = folder.path().join("ca.pem");
        std::fs::write(&https_ca, ca.pem()).expect("write");
        let (acme, management) = (free_port(), free_port());
        let config = serde_json::json!({"pebble": {
            "listenAddress": format!("127.0.0.1:{acme}"),
            "managementListenAddress": format!("127.0.0.1:{management}"),
            "certificate": folder.path().join("cert.pem"),
            "privateKey": folder.path().join("key.pem"),
            "httpPort": validate.map_or_else(free_port, |(http, _)| http),
            "tlsPort": validate.map_or_else(free_port, |(_, tls)| tls),
            "ocspResponderURL": "",
            "externalAccountBindingRequired": false,
            // 90 days, as Let's Encrypt's.
            "certificateValidityPeriod": 90 * 86_400,
        }});
        std::fs::write(folder.path().join("config.json"), config.to_string()).expect("write");
        let dns = validate.map(|_| {
            let port = free_port();
            let child = Command::new("pebble-challtestsrv")
                .args(["-dns01", &format!("127.0.0.1:{port}")])
                .args(["-management", &format!("127.0.0.1:{}", free_port())])
                .args(["-http01", "", "-https01", "", "-tlsalpn01", ""])
                .args(["-defaultIPv4", "127.0.0.1", "-defaultIPv6", ""])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("spawn pebble-challtestsrv");
            (child, port)
        });
        let mut pebble = Pebble {
            child: None,
            dns,
            directory: format!("https://127.0.0.1:{acme}/dir"),
            https_ca,
            management: format!("https://127.0.0.1:{management}"),
            ca,
            folder,
        };
        pebble.run().then_some(pebble)
    }

    /// Whether pebble answers (false: it exited, or did not answer within 15 s).
    fn run(&mut self) -> bool {
        let mut command = Command::new("pebble");
        command
            .arg("-config")
            .arg(self.folder.path().join("config.json"));
        match &self.dns {
            Some((_, port)) => {
                command.args(["-dnsserver", &format!("127.0.0.1:{port}")]);
            }
            None => {
                command.env("PEBBLE_VA_ALWAYS_VALID", "1");
            }
        }
        let child = command
            .env("PEBBLE_VA_NOSLEEP", "1")
            // Deterministic: no nonces refused at random, no authorizations reused at random.
            .env("PEBBLE_WFE_NONCEREJECT", "0")
            .env("PEBBLE_AUTHZREUSE", "0")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn pebble");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(15);
        while self.get(&self.directory).is_none() {
            let exited = self
                .child
                .as_mut()
                .is_some_and(|c| matches!(c.try_wait(), Ok(Some(_))));
            if exited || Instant::now() > deadline {
                return false;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        true
    }

    /// Pebble goes away (its port answers nothing).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn get(&self, url: &str) -> Option<String> {
        let roots = ureq::tls::RootCerts::Specific(std::sync::Arc::new(vec![
            ureq::tls::Certificate::from_der(self.ca.der().as_ref()).to_owned(),
        ]));
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .tls_config(ureq::tls::TlsConfig::builder().root_certs(roots).build())
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        agent.get(url).call().ok()?.body_mut().read_to_string().ok()
    }

    /// The root its certificates chain to (a new one at every Pebble start).
    pub fn root(&self) -> CertificateDer<'static> {
        let pem = self
            .get(&format!("{}/roots/0", self.management))
            .expect("pebble's root");
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("PEM")
    }
}

impl Drop for Pebble {
    fn drop(&mut self) {
        self.stop();
        if let Some((mut dns, _)) = self.dns.take() {
            let _ = dns.kill();
            let _ = dns.wait();
        }
    }
}
