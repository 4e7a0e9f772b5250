//! TLS to PostgreSQL with libpq's meanings of `sslmode`, so a URL that works with `psql`
//! works here and means the same:
//!
//! | `sslmode`            | encrypted               | certificate checked            |
//! |----------------------|-------------------------|--------------------------------|
//! | `disable`            | no                      | –                              |
//! | `prefer` (default)   | if the server offers it | no                             |
//! | `require`            | yes                     | no (chain, if `sslrootcert`)   |
//! | `verify-ca`          | yes                     | chain                          |
//! | `verify-full`        | yes                     | chain and host name            |
//!
//! The chain is checked against `sslrootcert` (a PEM file), or against the Mozilla roots
//! built into the binary when it is absent or `system`, so a single binary needs nothing
//! from the host. `tokio-postgres` itself knows only disable/prefer/require and rejects the
//! other options, so they are taken out of the URL here before it reads the rest.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme,
};
use tokio_postgres_rustls::MakeRustlsConnect;

/// How much of the server's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::db) enum Mode {
    Disable,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl Mode {
    fn parse(text: &str) -> anyhow::Result<Mode> {
        Ok(match text {
            "disable" => Mode::Disable,
            // libpq's `allow` tries without TLS first; we have no reason to, and prefer is safer.
            "allow" | "prefer" => Mode::Prefer,
            "require" => Mode::Require,
            "verify-ca" => Mode::VerifyCa,
            "verify-full" => Mode::VerifyFull,
            other => anyhow::bail!(
                "the database URL's sslmode `{other}` is not one of disable, prefer, require, \
                 verify-ca, verify-full"
            ),
        })
    }

    pub(in crate::db) fn name(self) -> &'static str {
        match self {
            Mode::Disable => "disable",
            Mode::Prefer => "prefer",
            Mode::Require => "require",
            Mode::VerifyCa => "verify-ca",
            Mode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS part of a database URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::db) struct Options {
    pub mode: Mode,
    /// `sslrootcert`: None for the built-in roots.
    pub root_cert: Option<PathBuf>,
}

/// Takes the TLS options out of a `postgres://…?…` URL: returns the URL for
/// `tokio-postgres` (its `sslmode` reduced to what it knows) and the options.
pub(in crate::db) fn split(url: &str) -> anyhow::Result<(String, Options)> {
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root_cert = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let value = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .map_err(|_| anyhow::anyhow!("the database URL's `{key}` is not valid UTF-8"))?;
        match key {
            "sslmode" => mode = Some(Mode::parse(&value)?),
            "sslrootcert" => {
                root_cert = Some(value.to_string()).filter(|v| !v.is_empty() && v != "system")
            }
            "sslcert" | "sslkey" | "sslpassword" => anyhow::bail!(
                "the database URL's `{key}`: client certificates are not supported; \
                 authenticate with a password (sent inside TLS with sslmode=verify-full)"
            ),
            "sslcrl" | "sslcrldir" => anyhow::bail!(
                "the database URL's `{key}`: certificate revocation lists are not supported"
            ),
            _ => kept.push(pair),
        }
    }
    let mut mode = mode.unwrap_or(Mode::Prefer);
    // As libpq does: a root certificate given with `require` asks for the chain to be checked.
    if mode == Mode::Require && root_cert.is_some() {
        mode = Mode::VerifyCa;
    }
    // The driver only needs to know whether to ask for TLS; the checking is ours.
    kept.push(match mode {
        Mode::Disable => "sslmode=disable",
        Mode::Prefer => "sslmode=prefer",
        Mode::Require | Mode::VerifyCa | Mode::VerifyFull => "sslmode=require",
    });
    Ok((
        format!("{base}?{}", kept.join("&")),
        Options {
            mode,
            root_cert: root_cert.map(PathBuf::from),
        },
    ))
}

/// The connector for every connection of one database; reads `sslrootcert` now, so a missing
/// or empty file stops the start rather than the first connection.
pub(in crate::db) fn connector(options: &Options) -> anyhow::Result<MakeRustlsConnect> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
    let config = match options.mode {
        Mode::Disable | Mode::Prefer | Mode::Require => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(
                provider.signature_verification_algorithms,
            )))
            .with_no_client_auth(),
        Mode::VerifyCa | Mode::VerifyFull => {
            let roots = Arc::new(roots(options.root_cert.as_ref())?);
            let chain = WebPkiServerVerifier::builder_with_provider(roots, provider)
                .build()
                .map_err(|e| anyhow::anyhow!("TLS setup: {e}"))?;
            let verifier: Arc<dyn ServerCertVerifier> = if options.mode == Mode::VerifyCa {
                Arc::new(ChainOnly(chain))
            } else {
                chain
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(verifier)
                .with_no_client_auth()
        }
    };
    Ok(MakeRustlsConnect::new(config))
}

fn roots(file: Option<&PathBuf>) -> anyhow::Result<RootCertStore> {
    let Some(file) = file else {
        return Ok(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        });
    };
    let shown = file.display();
    let mut store = RootCertStore::empty();
    let certs = CertificateDer::pem_file_iter(file)
        .map_err(|e| anyhow::anyhow!("sslrootcert {shown}: {e}"))?;
    for cert in certs {
        let cert = cert.map_err(|e| anyhow::anyhow!("sslrootcert {shown}: {e}"))?;
        store
            .add(cert)
            .map_err(|e| anyhow::anyhow!("sslrootcert {shown}: {e}"))?;
    }
    if store.is_empty() {
        anyhow::bail!("sslrootcert {shown} holds no PEM certificate");
    }
    Ok(store)
}

/// `prefer` and `require`: encrypted, and the handshake's signatures are checked (so the
/// session is with the holder of the certificate's key), but the certificate is not.
#[derive(Debug)]
struct Unchecked(WebPkiSupportedAlgorithms);

impl ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.0)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.0)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_schemes()
    }
}

/// `verify-ca`: the chain must lead to a trusted root; the name in it may be any.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        // webpki checks the chain before the name, so a name error means the chain was good.
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn libpq_modes_are_reduced_to_what_the_driver_knows() {
        let (url, options) =
            split("postgres://u:p@h:5/db?application_name=x&sslmode=verify-full").expect("url");
        assert_eq!(
            url,
            "postgres://u:p@h:5/db?application_name=x&sslmode=require"
        );
        assert_eq!(options.mode, Mode::VerifyFull);
        assert_eq!(options.root_cert, None);

        let (url, options) = split("postgres://u@h/db").expect("url");
        assert_eq!(url, "postgres://u@h/db?sslmode=prefer");
        assert_eq!(options.mode, Mode::Prefer);

        let (_, options) =
            split("postgres://u@h/db?sslmode=require&sslrootcert=%2Fetc%2Fca%20x.pem")
                .expect("url");
        assert_eq!(
            options.mode,
            Mode::VerifyCa,
            "a root given with require checks the chain"
        );
        assert_eq!(options.root_cert, Some(PathBuf::from("/etc/ca x.pem")));

        let (_, options) =
            split("postgres://u@h/db?sslmode=verify-ca&sslrootcert=system").expect("url");
        assert_eq!(options.root_cert, None, "system means the built-in roots");
    }

    #[test]
    fn unknown_modes_and_client_certificates_are_refused_by_name() {
        let e = split("postgres://u@h/db?sslmode=verify").expect_err("a typo");
        assert!(e.to_string().contains("`verify`"), "{e}");
        let e = split("postgres://u@h/db?sslcert=/c.pem").expect_err("client certificates");
        assert!(e.to_string().contains("sslcert"), "{e}");
    }

    #[test]
    fn a_root_file_without_certificates_stops_the_start() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("empty.pem");
        std::fs::write(&file, "not a certificate\n").expect("write");
        let options = Options {
            mode: Mode::VerifyFull,
            root_cert: Some(file.clone()),
        };
        let e = connector(&options).err().expect("no certificates");
        assert!(e.to_string().contains("holds no PEM certificate"), "{e}");
        let missing = Options {
            mode: Mode::VerifyFull,
            root_cert: Some(dir.path().join("missing.pem")),
        };
        let e = connector(&missing).err().expect("a missing file");
        assert!(e.to_string().contains("missing.pem"), "{e}");
    }
}
