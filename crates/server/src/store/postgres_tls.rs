//! TLS to PostgreSQL, with the `sslmode` and `sslrootcert` options of libpq (what `psql` and
//! every PostgreSQL operator know), so a database on another machine can be reached over the
//! internet:
//!
//! - `disable`: no TLS.
//! - `prefer` (the default) and `require`: TLS when the server offers it (`require`: or fail);
//!   the certificate is not checked, as libpq does, unless `sslrootcert` names the authority to
//!   check it against, which then makes it `verify-ca` (libpq's rule too), TLS required.
//! - `verify-ca`: the certificate must chain to `sslrootcert`, which it needs (any public
//!   authority would vouch for anyone's certificate).
//! - `verify-full`: it must chain to `sslrootcert` (or, without one, a public authority) and
//!   name the host in the address.
//!
//! The client library knows only `disable`, `prefer` and `require`, and not `sslrootcert`: those
//! are taken out of the address here and applied by the verifier given to rustls.

use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Verify {
    /// Encrypt, check nothing about the certificate (libpq's `prefer` and `require`).
    Nothing,
    /// The certificate chains to a trusted authority; any name.
    Authority,
    /// And it names the host.
    Full,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct TlsPolicy {
    pub verify: Verify,
    /// PEM certificates of the authorities to trust instead of the public ones.
    pub root: Option<PathBuf>,
}

/// Takes `sslrootcert` out of `url` and turns `verify-ca`/`verify-full` into the client
/// library's `require`; returns the address for the library and what to check.
pub(super) fn split_tls(url: &str) -> Result<(String, TlsPolicy), String> {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, q),
        None => (url, ""),
    };
    let mut kept = Vec::new();
    let mut mode = None;
    let mut root = None;
    for pair in query.split('&').filter(|p| !p.is_empty()) {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        match key {
            "sslrootcert" => {
                let path = percent_encoding::percent_decode_str(value)
                    .decode_utf8()
                    .map_err(|_| "sslrootcert is not a file name".to_string())?;
                root = Some(PathBuf::from(path.into_owned()));
            }
            "sslmode" => mode = Some(value.to_owned()),
            _ => kept.push(pair.to_owned()),
        }
    }
    // What to check, and the mode the library gets: anything that checks the certificate must
    // not fall back to plain text when a server (or someone in between) declines TLS.
    let (verify, library) = match (mode.as_deref(), root.is_some()) {
        (Some("disable"), _) => (Verify::Nothing, "disable"),
        (Some("prefer") | None, false) => (Verify::Nothing, "prefer"),
        (Some("require"), false) => (Verify::Nothing, "require"),
        (Some("prefer" | "require") | None, true) => (Verify::Authority, "require"),
        (Some("verify-ca"), true) => (Verify::Authority, "require"),
        (Some("verify-ca"), false) => {
            return Err("sslmode=verify-ca needs sslrootcert=FILE, the authority to trust".into())
        }
        (Some("verify-full"), _) => (Verify::Full, "require"),
        (Some(other), _) => {
            return Err(format!(
                "sslmode={other}: expected disable, prefer, require, verify-ca or verify-full"
            ))
        }
    };
    if mode.is_some() || library != "prefer" {
        kept.push(format!("sslmode={library}"));
    }
    let url = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((url, TlsPolicy { verify, root }))
}

/// The TLS connector for the client library; reads `sslrootcert` now, so a missing or
/// unreadable file is an error at start and not at the first connection.
pub(super) fn connector(policy: &TlsPolicy) -> Result<MakeRustlsConnect, String> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let verifier: Arc<dyn ServerCertVerifier> = match policy.verify {
        Verify::Nothing => Arc::new(NoCheck(provider.clone())),
        Verify::Authority | Verify::Full => {
            let mut roots = rustls::RootCertStore::empty();
            match &policy.root {
                Some(path) => {
                    let shown = path.display();
                    let certs = CertificateDer::pem_file_iter(path)
                        .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
                    for cert in certs {
                        let cert = cert.map_err(|e| format!("sslrootcert {shown}: {e}"))?;
                        roots
                            .add(cert)
                            .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
                    }
                    if roots.is_empty() {
                        return Err(format!("sslrootcert {shown}: no certificate in it"));
                    }
                }
                None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
            }
            let webpki =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| e.to_string())?;
            if policy.verify == Verify::Full {
                webpki
            } else {
                Arc::new(AnyName(webpki))
            }
        }
    };
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(config))
}

/// `prefer`/`require` without an authority: the handshake's signatures are still checked
/// (the connection is encrypted to whoever holds the certificate's key), the certificate not.
#[derive(Debug)]
struct NoCheck(Arc<CryptoProvider>);

impl ServerCertVerifier for NoCheck {
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
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca`: everything of the full check but the name.
#[derive(Debug)]
struct AnyName(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for AnyName {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
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
    fn libpq_options_are_taken_out_and_mean_what_they_mean_there() {
        let cases = [
            ("postgres://u@h/d", "postgres://u@h/d", Verify::Nothing, None),
            (
                "postgres://u@h/d?sslmode=require",
                "postgres://u@h/d?sslmode=require",
                Verify::Nothing,
                None,
            ),
            (
                "postgres://u@h/d?sslmode=verify-full&sslrootcert=%2Fetc%2Fca.pem&connect_timeout=3",
                "postgres://u@h/d?connect_timeout=3&sslmode=require",
                Verify::Full,
                Some("/etc/ca.pem"),
            ),
            (
                "postgres://u@h/d?sslmode=verify-full",
                "postgres://u@h/d?sslmode=require",
                Verify::Full,
                None,
            ),
            (
                "postgres://u@h/d?sslmode=verify-ca&sslrootcert=/ca.pem",
                "postgres://u@h/d?sslmode=require",
                Verify::Authority,
                Some("/ca.pem"),
            ),
            // libpq: a root certificate makes `prefer` check the authority; and TLS must not
            // then be declined into plain text.
            (
                "postgres://u@h/d?sslrootcert=/ca.pem",
                "postgres://u@h/d?sslmode=require",
                Verify::Authority,
                Some("/ca.pem"),
            ),
            (
                "postgres://u@h/d?sslmode=disable&sslrootcert=/ca.pem",
                "postgres://u@h/d?sslmode=disable",
                Verify::Nothing,
                Some("/ca.pem"),
            ),
        ];
        for (url, library, verify, root) in cases {
            let (got, policy) = split_tls(url).unwrap();
            assert_eq!(got, library, "{url}");
            assert_eq!(policy.verify, verify, "{url}");
            assert_eq!(
                policy.root.as_deref(),
                root.map(std::path::Path::new),
                "{url}"
            );
        }
        let err = split_tls("postgres://u@h/d?sslmode=always").unwrap_err();
        assert!(err.contains("verify-full"), "{err}");
        // verify-ca against the public authorities would accept anyone's certificate.
        let err = split_tls("postgres://u@h/d?sslmode=verify-ca").unwrap_err();
        assert!(err.contains("sslrootcert"), "{err}");
    }

    #[test]
    fn a_missing_or_empty_authority_file_is_refused_at_start() {
        let policy = TlsPolicy {
            verify: Verify::Full,
            root: Some("/nonexistent/ca.pem".into()),
        };
        let err = connector(&policy).err().unwrap();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        let empty = tempfile::NamedTempFile::new().unwrap();
        let policy = TlsPolicy {
            verify: Verify::Authority,
            root: Some(empty.path().into()),
        };
        assert!(connector(&policy).err().unwrap().contains("no certificate"));
    }
}
