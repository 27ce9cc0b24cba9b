//! Optional TLS and mutual TLS on the gRPC port (`--tls-cert`, `--tls-key`, `--tls-client-ca`).
//! Off by default: the service then speaks plaintext HTTP/2, as Envoy's `llmfw_state` cluster in
//! `envoy/envoy.yaml` expects. The admin listener is not affected.

use std::path::{Path, PathBuf};
use std::time::Duration;

use tonic::transport::{Certificate, Identity, ServerTlsConfig};

/// How long a client may take to complete the TLS handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(5);

/// PEM files of the gRPC listener's TLS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsFiles {
    /// The server's certificate chain (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CA certificates (PEM) that client certificates must chain to. Set: mutual TLS, a client
    /// without a valid certificate is refused during the handshake.
    pub client_ca: Option<PathBuf>,
}

/// A TLS configuration that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("--tls-cert and --tls-key must be given together")]
    Incomplete,
    #[error("--tls-client-ca needs --tls-cert and --tls-key")]
    ClientCaWithoutCert,
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: no PEM {what} in it")]
    NotPem { path: PathBuf, what: &'static str },
    #[error("invalid TLS configuration: {0}")]
    Invalid(String),
}

impl TlsFiles {
    /// The TLS files the flags name: `None` when neither certificate nor key is given.
    pub fn from_flags(
        cert: Option<&Path>,
        key: Option<&Path>,
        client_ca: Option<&Path>,
    ) -> Result<Option<TlsFiles>, TlsError> {
        match (cert, key, client_ca) {
            (None, None, None) => Ok(None),
            (None, None, Some(_)) => Err(TlsError::ClientCaWithoutCert),
            (Some(cert), Some(key), ca) => Ok(Some(TlsFiles {
                cert: cert.to_path_buf(),
                key: key.to_path_buf(),
                client_ca: ca.map(Path::to_path_buf),
            })),
            _ => Err(TlsError::Incomplete),
        }
    }

    /// `tls` or `mtls`, for logs.
    pub fn mode(&self) -> &'static str {
        if self.client_ca.is_some() {
            "mtls"
        } else {
            "tls"
        }
    }

    /// Reads the files into tonic's server configuration (client certificates required when a
    /// client CA is set). Checks that each file holds PEM of the right kind; the key and
    /// certificates themselves are checked by [`configure`].
    pub fn server_config(&self) -> Result<ServerTlsConfig, TlsError> {
        let cert = read_pem(&self.cert, "CERTIFICATE", "-----BEGIN CERTIFICATE-----")?;
        let key = read_pem(&self.key, "PRIVATE KEY", "PRIVATE KEY-----")?;
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(cert, key))
            .timeout(HANDSHAKE_TIMEOUT);
        if let Some(ca) = &self.client_ca {
            let ca = read_pem(ca, "CERTIFICATE", "-----BEGIN CERTIFICATE-----")?;
            config = config
                .client_ca_root(Certificate::from_pem(ca))
                .client_auth_optional(false);
        }
        Ok(config)
    }
}

/// Applies `files` (if any) to a server builder; a bad key or certificate is an error here, at
/// start-up, not at the first handshake.
pub fn configure(
    builder: tonic::transport::Server,
    files: Option<&TlsFiles>,
) -> Result<tonic::transport::Server, TlsError> {
    let Some(files) = files else {
        return Ok(builder);
    };
    builder
        .tls_config(files.server_config()?)
        .map_err(|e| TlsError::Invalid(error_chain(&e)))
}

fn read_pem(path: &Path, what: &'static str, marker: &str) -> Result<Vec<u8>, TlsError> {
    let bytes = std::fs::read(path).map_err(|source| TlsError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    if !String::from_utf8_lossy(&bytes).contains(marker) {
        return Err(TlsError::NotPem {
            path: path.to_path_buf(),
            what,
        });
    }
    Ok(bytes)
}

/// An error with its sources, `a: b: c` (tonic's transport error alone says little).
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_must_name_cert_and_key_together() {
        let (c, k, ca) = (Path::new("c.pem"), Path::new("k.pem"), Path::new("ca.pem"));
        assert_eq!(TlsFiles::from_flags(None, None, None).unwrap(), None);
        let tls = TlsFiles::from_flags(Some(c), Some(k), None)
            .unwrap()
            .unwrap();
        assert_eq!(tls.mode(), "tls");
        let mtls = TlsFiles::from_flags(Some(c), Some(k), Some(ca))
            .unwrap()
            .unwrap();
        assert_eq!(mtls.mode(), "mtls");
        assert_eq!(mtls.client_ca.as_deref(), Some(ca));
        assert!(matches!(
            TlsFiles::from_flags(Some(c), None, None),
            Err(TlsError::Incomplete)
        ));
        assert!(matches!(
            TlsFiles::from_flags(None, Some(k), Some(ca)),
            Err(TlsError::Incomplete)
        ));
        assert!(matches!(
            TlsFiles::from_flags(None, None, Some(ca)),
            Err(TlsError::ClientCaWithoutCert)
        ));
    }

    #[test]
    fn unreadable_or_non_pem_files_are_refused_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let missing = TlsFiles {
            cert: dir.path().join("missing.pem"),
            key: dir.path().join("missing.key"),
            client_ca: None,
        };
        let e = missing.server_config().unwrap_err();
        assert!(matches!(e, TlsError::Read { .. }), "{e}");
        assert!(e.to_string().contains("missing.pem"), "{e}");

        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        std::fs::write(&cert, "not a certificate").unwrap();
        std::fs::write(
            &key,
            "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
        )
        .unwrap();
        let files = TlsFiles {
            cert: cert.clone(),
            key: key.clone(),
            client_ca: None,
        };
        assert!(matches!(
            files.server_config(),
            Err(TlsError::NotPem {
                what: "CERTIFICATE",
                ..
            })
        ));

        // PEM markers around garbage: tonic refuses the identity when the server is configured
        std::fs::write(
            &cert,
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
        )
        .unwrap();
        let e = configure(tonic::transport::Server::builder(), Some(&files)).unwrap_err();
        assert!(matches!(e, TlsError::Invalid(_)), "{e}");
        assert!(configure(tonic::transport::Server::builder(), None).is_ok());
    }
}
