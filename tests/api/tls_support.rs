//! HTTPS for tests: a throw-away CA that signs server certificates, and a TLS client that
//! trusts only a given CA and shows which certificate it was served. Shared by the API and
//! the binary tests.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::{CertificateDer, ServerName};

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

    pub fn pem(&self) -> String {
        self.issuer.pem()
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
        Self::try_connect(address, ca, name).expect("TLS handshake")
    }

    /// Like [`TlsClient::connect`]; a failed handshake is an error.
    pub fn try_connect(
        address: &str,
        ca: &CertificateDer<'static>,
        name: &str,
    ) -> Result<TlsClient, String> {
        let mut roots = rustls::RootCertStore::empty();
        roots.add(ca.clone()).expect("CA");
        let config = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
        let address = address
            .trim_start_matches("https://")
            .trim_start_matches("http://");
        let socket = TcpStream::connect(address).map_err(|e| e.to_string())?;
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
                .map_err(|e| e.to_string())?;
        }
        Ok(TlsClient { stream })
    }

    /// The certificate the server presented.
    pub fn served(&self) -> CertificateDer<'static> {
        self.stream.conn.peer_certificates().expect("certificates")[0].clone()
    }

    /// A keep-alive GET with the API token; the status, and the lowercased head with the
    /// body after it.
    pub fn get(&mut self, path: &str, token: &str) -> (u16, String) {
        write!(
            self.stream,
            "GET {path} HTTP/1.1\r\nhost: localhost\r\nauthorization: Bearer {token}\r\n\r\n"
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
