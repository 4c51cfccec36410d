//! TLS for the end-to-end tests: a throw-away CA with a server and a client certificate, a
//! Prometheus web configuration (`--web.config.file`) with TLS and basic auth, and a blocking
//! HTTPS client.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};

/// A CA and the certificates it signed, as PEM files in a temporary folder.
#[derive(Debug)]
pub struct Pki {
    /// The folder, removed when the `Pki` is dropped.
    pub dir: crate::Scratch,
    /// The CA's certificate.
    pub ca: PathBuf,
    /// A server certificate for `127.0.0.1` and `localhost`.
    pub server_cert: PathBuf,
    /// Its key.
    pub server_key: PathBuf,
    /// A client certificate (for mutual TLS).
    pub client_cert: PathBuf,
    /// Its key.
    pub client_key: PathBuf,
    /// A server certificate for the same names that no CA here signed (self-signed).
    pub stranger_cert: PathBuf,
    /// Its key.
    pub stranger_key: PathBuf,
}

/// Makes a fresh CA and certificates in a temporary folder named after `tag`.
///
/// # Panics
///
/// When the folder cannot be written.
#[must_use]
pub fn pki(tag: &str) -> Pki {
    let dir = crate::Scratch::new(&format!("pki-{tag}"));
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "tsmon test CA");
    let ca_key = KeyPair::generate().expect("CA key");
    let ca_cert = ca_params.self_signed(&ca_key).expect("CA certificate");
    let issuer = Issuer::new(ca_params, ca_key);
    let names = vec!["127.0.0.1".to_owned(), "localhost".to_owned()];
    let write = |name: &str, text: &str| {
        let path = dir.join(name);
        std::fs::write(&path, text).expect("pem");
        path
    };
    let leaf = |cn: &str| {
        let mut params = CertificateParams::new(names.clone()).expect("leaf params");
        params.distinguished_name.push(DnType::CommonName, cn);
        let key = KeyPair::generate().expect("leaf key");
        let cert = params.signed_by(&key, &issuer).expect("leaf certificate");
        (cert.pem(), key.serialize_pem())
    };
    let (server_cert, server_key) = leaf("tsmon test server");
    let (client_cert, client_key) = leaf("tsmon test client");
    let stranger_key = KeyPair::generate().expect("key");
    let stranger = CertificateParams::new(names.clone())
        .expect("params")
        .self_signed(&stranger_key)
        .expect("self-signed");
    Pki {
        ca: write("ca.pem", &ca_cert.pem()),
        server_cert: write("server.pem", &server_cert),
        server_key: write("server-key.pem", &server_key),
        client_cert: write("client.pem", &client_cert),
        client_key: write("client-key.pem", &client_key),
        stranger_cert: write("stranger.pem", &stranger.pem()),
        stranger_key: write("stranger-key.pem", &stranger_key.serialize_pem()),
        dir,
    }
}

/// Writes a Prometheus web configuration: TLS with the PKI's server certificate, and basic
/// auth for `users` (user, password), hashed with bcrypt as the exporter toolkit wants.
///
/// # Panics
///
/// When it cannot be written.
#[must_use]
pub fn web_config(pki: &Pki, users: &[(&str, &str)]) -> PathBuf {
    let mut text = format!(
        "tls_server_config:\n  cert_file: {}\n  key_file: {}\n",
        pki.server_cert.display(),
        pki.server_key.display()
    );
    if !users.is_empty() {
        text.push_str("basic_auth_users:\n");
        for (user, password) in users {
            let hash = bcrypt::hash(password, 4).expect("bcrypt");
            text.push_str(&format!("  {user}: '{hash}'\n"));
        }
    }
    let path = pki.dir.join("web.yml");
    std::fs::write(&path, text).expect("web config");
    path
}

/// How an HTTPS request authenticates: the CA to trust, basic auth, a client certificate.
#[derive(Debug, Clone, Copy, Default)]
pub struct HttpsAuth<'a> {
    /// The CA file that signed the server's certificate.
    pub ca: Option<&'a Path>,
    /// Basic auth (user, password).
    pub basic: Option<(&'a str, &'a str)>,
    /// A client certificate and key (PEM files).
    pub client: Option<(&'a Path, &'a Path)>,
}

fn certs(path: &Path) -> Vec<rustls::pki_types::CertificateDer<'static>> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::pem_file_iter(path)
        .expect("pem")
        .map(|c| c.expect("certificate"))
        .collect()
}

/// A blocking HTTP/1.0 request over TLS on loopback: (status, head, body). Test plumbing only.
///
/// # Errors
///
/// When the server cannot be reached, the handshake fails or the answer is garbage.
///
/// # Panics
///
/// When a PEM file cannot be read.
pub fn https(
    method: &str,
    addr: &str,
    path: &str,
    auth: HttpsAuth<'_>,
    body: &str,
) -> std::io::Result<(u16, String, String)> {
    use rustls::pki_types::pem::PemObject as _;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut roots = rustls::RootCertStore::empty();
    if let Some(ca) = auth.ca {
        for c in certs(ca) {
            roots.add(c).expect("CA");
        }
    }
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots);
    let config = match auth.client {
        Some((cert, key)) => builder
            .with_client_auth_cert(
                certs(cert),
                rustls::pki_types::PrivateKeyDer::from_pem_file(key).expect("key"),
            )
            .expect("client certificate"),
        None => builder.with_no_client_auth(),
    };
    let name = rustls::pki_types::ServerName::try_from("127.0.0.1").expect("name");
    let conn =
        rustls::ClientConnection::new(Arc::new(config), name).map_err(std::io::Error::other)?;
    let sock = std::net::TcpStream::connect(addr)?;
    sock.set_read_timeout(Some(std::time::Duration::from_secs(10)))?;
    let mut tls = rustls::StreamOwned::new(conn, sock);
    let mut req = format!(
        "{method} {path} HTTP/1.0\r\nHost: {addr}\r\nContent-Length: {}\r\n",
        body.len()
    );
    if let Some((user, password)) = auth.basic {
        use base64::Engine as _;
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        req.push_str(&format!("Authorization: Basic {encoded}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    tls.write_all(req.as_bytes())?;
    let mut raw = Vec::new();
    match tls.read_to_end(&mut raw) {
        Ok(_) => {}
        // Some servers close without a TLS close_notify after an HTTP/1.0 answer.
        Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof && !raw.is_empty() => {}
        Err(e) => return Err(e),
    }
    let raw = String::from_utf8_lossy(&raw).into_owned();
    crate::parse_response(&raw)
}
