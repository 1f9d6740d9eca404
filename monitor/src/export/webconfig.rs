//! `--web.config.file`: TLS and basic authentication for `ipctop serve`, in the format of
//! the Prometheus exporter toolkit (what node_exporter and most exporters take), so that one
//! file serves a fleet's exporters alike:
//!
//! ```yaml
//! tls_server_config:
//!   cert_file: /etc/ipctop/ipctop.crt      # or cert: <PEM>
//!   key_file: /etc/ipctop/ipctop.key       # or key: <PEM>
//!   client_auth_type: RequireAndVerifyClientCert   # NoClientCert (default), VerifyClientCertIfGiven
//!   client_ca_file: /etc/ipctop/clients.crt
//!   min_version: TLS12                     # TLS12 (default) or TLS13
//!   max_version: TLS13
//! http_server_config:
//!   headers: {Strict-Transport-Security: max-age=31536000}
//! basic_auth_users:
//!   prometheus: $2y$10$…                   # bcrypt hashes (htpasswd -nBC 10 "")
//! ```
//!
//! TLS is rustls (TLS 1.2 and 1.3, its default cipher suites). What the toolkit has and
//! ipctop does not do (`cipher_suites`, `curve_preferences`, `client_allowed_sans`,
//! `RequestClientCert`, `RequireAnyClientCert`, TLS 1.0/1.1) is refused with a sentence rather
//! than ignored: a security setting that silently does nothing is worse than none. The file
//! is read again when it (or a certificate or key it names) changes, so certificates can be
//! rotated without a restart.
use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::Arc,
    time::SystemTime,
};

use rustls::{
    pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
    server::WebPkiClientVerifier,
    RootCertStore, ServerConfig,
};
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    tls_server_config: Option<TlsFile>,
    http_server_config: Option<HttpFile>,
    basic_auth_users: Option<BTreeMap<String, String>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsFile {
    cert_file: Option<PathBuf>,
    key_file: Option<PathBuf>,
    cert: Option<String>,
    key: Option<String>,
    client_auth_type: Option<String>,
    client_ca_file: Option<PathBuf>,
    min_version: Option<String>,
    max_version: Option<String>,
    prefer_server_cipher_suites: Option<bool>,
    cipher_suites: Option<serde::de::IgnoredAny>,
    curve_preferences: Option<serde::de::IgnoredAny>,
    client_allowed_sans: Option<serde::de::IgnoredAny>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct HttpFile {
    /// HTTP/2: ipctop speaks HTTP/1.1 only (a scrape is one request); accepted and unused.
    #[allow(dead_code)]
    http2: Option<bool>,
    headers: Option<BTreeMap<String, String>>,
}

/// A web configuration, ready to serve with.
#[derive(Debug, Default)]
pub struct WebConfig {
    /// TLS, when configured.
    pub tls: Option<Arc<ServerConfig>>,
    /// Users and their bcrypt hashes; empty: no authentication.
    pub users: BTreeMap<String, String>,
    /// Extra response headers.
    pub headers: Vec<(hyper::header::HeaderName, hyper::header::HeaderValue)>,
    /// The files it was read from, with their modification times (to see changes).
    files: Vec<(PathBuf, Option<SystemTime>)>,
}

/// Headers a configuration may not set: ipctop sets them itself.
const OWN_HEADERS: &[&str] = &[
    "content-type",
    "content-length",
    "content-encoding",
    "transfer-encoding",
    "www-authenticate",
    "vary",
    "connection",
    "allow",
];

fn modified(p: &Path) -> Option<SystemTime> {
    std::fs::metadata(p).and_then(|m| m.modified()).ok()
}

fn read_file(p: &Path, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(p).map_err(|e| format!("cannot read {what} {}: {e}", p.display()))
}

/// The PEM of `file` or `inline` (exactly one of them).
fn pem(
    file: &Option<PathBuf>,
    inline: &Option<String>,
    what: &str,
    files: &mut Vec<(PathBuf, Option<SystemTime>)>,
) -> Result<Vec<u8>, String> {
    match (file, inline) {
        (Some(p), None) => {
            files.push((p.clone(), modified(p)));
            read_file(p, what)
        }
        (None, Some(s)) => Ok(s.as_bytes().to_vec()),
        (None, None) => Err(format!("tls_server_config needs {what}_file (or {what})")),
        (Some(_), Some(_)) => Err(format!("give {what}_file or {what}, not both")),
    }
}

fn version(v: &Option<String>, default: &'static str) -> Result<&'static str, String> {
    match v.as_deref().unwrap_or(default) {
        "TLS12" => Ok("TLS12"),
        "TLS13" => Ok("TLS13"),
        "TLS10" | "TLS11" => Err(format!(
            "{} is not offered (rustls speaks TLS 1.2 and 1.3 only): use TLS12 or TLS13",
            v.as_deref().unwrap_or_default()
        )),
        other => Err(format!("unknown TLS version {other:?}: use TLS12 or TLS13")),
    }
}

fn tls_config(
    t: &TlsFile,
    files: &mut Vec<(PathBuf, Option<SystemTime>)>,
) -> Result<ServerConfig, String> {
    for (set, key) in [
        (t.cipher_suites.is_some(), "cipher_suites"),
        (t.curve_preferences.is_some(), "curve_preferences"),
        (t.client_allowed_sans.is_some(), "client_allowed_sans"),
    ] {
        if set {
            return Err(format!(
                "tls_server_config.{key} is not supported by ipctop (rustls chooses among safe \
                 suites and curves itself): remove it"
            ));
        }
    }
    let cert_pem = pem(&t.cert_file, &t.cert, "cert", files)?;
    let key_pem = pem(&t.key_file, &t.key, "key", files)?;
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| format!("the certificate is not valid PEM: {e}"))?;
    if certs.is_empty() {
        return Err("the certificate file holds no certificate".into());
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem)
        .map_err(|e| format!("the key is not a valid PEM private key: {e}"))?;
    let (min, max) = (
        version(&t.min_version, "TLS12")?,
        version(&t.max_version, "TLS13")?,
    );
    let versions: Vec<&'static rustls::SupportedProtocolVersion> = match (min, max) {
        ("TLS12", "TLS12") => vec![&rustls::version::TLS12],
        ("TLS13", "TLS13") => vec![&rustls::version::TLS13],
        ("TLS12", "TLS13") => vec![&rustls::version::TLS13, &rustls::version::TLS12],
        _ => return Err("min_version is above max_version".into()),
    };
    // ring: pure Rust and assembly, no C toolchain (cmake) to build; deprecated by rustls
    // only for lacking post-quantum key exchange, which a metrics endpoint can do without.
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_protocol_versions(&versions)
        .map_err(|e| format!("TLS versions: {e}"))?;
    let verifier = match t.client_auth_type.as_deref().unwrap_or("NoClientCert") {
        "NoClientCert" => None,
        kind @ ("VerifyClientCertIfGiven" | "RequireAndVerifyClientCert") => {
            let Some(ca) = &t.client_ca_file else {
                return Err(format!("client_auth_type {kind} needs client_ca_file"));
            };
            files.push((ca.clone(), modified(ca)));
            let mut roots = RootCertStore::empty();
            for c in CertificateDer::pem_slice_iter(&read_file(ca, "client_ca_file")?) {
                let c = c.map_err(|e| format!("client_ca_file is not valid PEM: {e}"))?;
                roots.add(c).map_err(|e| format!("client_ca_file: {e}"))?;
            }
            let b = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider);
            let b = if kind == "VerifyClientCertIfGiven" {
                b.allow_unauthenticated()
            } else {
                b
            };
            Some(b.build().map_err(|e| format!("client_ca_file: {e}"))?)
        }
        kind @ ("RequestClientCert" | "RequireAnyClientCert") => {
            return Err(format!(
                "client_auth_type {kind} (a client certificate nobody verifies) is not supported: \
                 use VerifyClientCertIfGiven or RequireAndVerifyClientCert"
            ))
        }
        other => return Err(format!("unknown client_auth_type {other:?}")),
    };
    let builder = match verifier {
        Some(v) => builder.with_client_cert_verifier(v),
        None => builder.with_no_client_auth(),
    };
    let mut cfg = builder
        .with_single_cert(certs, key)
        .map_err(|e| format!("the certificate and key do not go together: {e}"))?;
    cfg.ignore_client_order = t.prefer_server_cipher_suites.unwrap_or(true);
    cfg.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(cfg)
}

impl WebConfig {
    /// Reads and checks the file; the error is one sentence naming it.
    pub fn load(path: &Path) -> Result<WebConfig, String> {
        Self::load_inner(path).map_err(|e| format!("--web.config.file {}: {e}", path.display()))
    }

    fn load_inner(path: &Path) -> Result<WebConfig, String> {
        let mut files = vec![(path.to_path_buf(), modified(path))];
        let text = String::from_utf8(read_file(path, "the file")?)
            .map_err(|_| "it is not UTF-8 text".to_string())?;
        let f: File = if text.trim().is_empty() {
            File::default()
        } else {
            serde_saphyr::from_str(&text).map_err(|e| {
                // Its first line (the rest draws the place in the file).
                let e = e.to_string();
                let first = e.lines().next().unwrap_or_default();
                first.strip_prefix("error: ").unwrap_or(first).to_string()
            })?
        };
        let tls = match &f.tls_server_config {
            Some(t) => Some(Arc::new(tls_config(t, &mut files)?)),
            None => None,
        };
        let users = f.basic_auth_users.unwrap_or_default();
        for (user, hash) in &users {
            if user.contains(':') {
                return Err(format!(
                    "basic_auth_users: the user name {user:?} holds a colon"
                ));
            }
            hash.parse::<bcrypt::HashParts>().map_err(|_| {
                format!(
                    "basic_auth_users.{user}: not a bcrypt hash (make one with htpasswd -nBC 10 \"\" | tr -d ':')"
                )
            })?;
        }
        let mut headers = Vec::new();
        for (k, v) in f
            .http_server_config
            .and_then(|h| h.headers)
            .unwrap_or_default()
        {
            let name = hyper::header::HeaderName::from_bytes(k.as_bytes())
                .map_err(|_| format!("http_server_config.headers: {k:?} is not a header name"))?;
            if OWN_HEADERS.contains(&name.as_str()) {
                return Err(format!(
                    "http_server_config.headers: ipctop sets {k} itself"
                ));
            }
            let value = hyper::header::HeaderValue::from_str(&v)
                .map_err(|_| format!("http_server_config.headers.{k}: not a header value"))?;
            headers.push((name, value));
        }
        Ok(WebConfig {
            tls,
            users,
            headers,
            files,
        })
    }

    /// Whether a file it was read from has changed since.
    pub fn changed(&self) -> bool {
        self.files.iter().any(|(p, t)| modified(p) != *t)
    }

    /// The file it came from.
    pub fn path(&self) -> Option<&Path> {
        self.files.first().map(|(p, _)| p.as_path())
    }
}

#[cfg(test)]
mod tests;
