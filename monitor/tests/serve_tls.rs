//! `ipctop serve --web.config.file`: TLS with a certificate made here by openssl, basic
//! authentication against a bcrypt hash, client certificates, and a certificate replaced
//! while it runs — checked with curl and openssl s_client (real TLS clients), and a real
//! Prometheus scraping it over TLS with basic auth. Also: a configuration it cannot use is
//! refused at start with one sentence and exit 2.
//!
//! Needs no root (snapshots only: --no-probe); openssl, curl and prometheus (Debian's
//! packages) are needed, skipped without them where skipping is allowed.
mod serve_support;
mod support;

use std::{path::Path, process::Command, time::Duration};

use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(30);

fn openssl(args: &[&str]) {
    let o = Command::new("openssl").args(args).output().unwrap();
    assert!(
        o.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&o.stderr)
    );
}

/// A CA, and a certificate for `cn` (with SANs localhost and 127.0.0.1) signed by it, as
/// `name.crt`/`name.key` in `dir` (the CA made once per directory).
fn certificate(dir: &Path, name: &str, cn: &str) {
    let p = |f: &str| dir.join(f).to_str().unwrap().to_string();
    if !dir.join("ca.crt").exists() {
        openssl(&[
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
            &p("ca.key"),
            "-out",
            &p("ca.crt"),
            "-days",
            "2",
            "-subj",
            "/CN=ipctop test CA",
        ]);
    }
    openssl(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-keyout",
        &p(&format!("{name}.key")),
        "-out",
        &p(&format!("{name}.csr")),
        "-subj",
        &format!("/CN={cn}"),
    ]);
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n",
    )
    .unwrap();
    openssl(&[
        "x509",
        "-req",
        "-in",
        &p(&format!("{name}.csr")),
        "-CA",
        &p("ca.crt"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-out",
        &p(&format!("{name}.crt")),
        "-days",
        "2",
        "-extfile",
        &p("san.ext"),
    ]);
}

/// curl's HTTP status for `url` with `args` (0 when the connection or handshake failed).
fn curl(args: &[&str], url: &str) -> (u32, String) {
    let o = Command::new("curl")
        .args(["-s", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10"])
        .args(args)
        .arg(url)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&o.stdout).into_owned();
    let (body, code) = out.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// The subject CN of the certificate served on `port`.
fn served_cn(port: u16) -> String {
    let o = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect 127.0.0.1:{port} -servername localhost </dev/null 2>/dev/null | openssl x509 -noout -subject"
        ))
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).trim().to_string()
}

fn start(config: &Path) -> (Proc, u16) {
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--no-probe",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "0.5",
        "--web.config.file",
        config.to_str().unwrap(),
    ]));
    let line = serve.wait_stderr("ipctop: serving", T).pop().unwrap();
    assert!(line.contains("https://127.0.0.1:"), "{line}");
    (serve, served_port(&line))
}

#[test]
fn tls_and_basic_auth_from_a_web_config_file() {
    const NAME: &str = "serve_tls";
    if !have("openssl") || !have("curl") {
        skip(NAME, "openssl and curl are needed");
        return;
    }
    let dir = TempDir::new("serve-tls");
    certificate(&dir.0, "server", "first");
    let hash = bcrypt::hash("s3cret", 6).unwrap();
    let config = dir.join("web.yml");
    let d = |f: &str| dir.join(f).display().to_string();
    std::fs::write(
        &config,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\nbasic_auth_users:\n  prometheus: '{hash}'\n",
            d("server.crt"),
            d("server.key")
        ),
    )
    .unwrap();
    let (serve, port) = start(&config);
    let url = format!("https://localhost:{port}/metrics");
    let ca = d("ca.crt");
    // The right credentials: the metrics; wrong or none: 401; plain HTTP: nothing.
    let (code, body) = curl(&["--cacert", &ca, "-u", "prometheus:s3cret"], &url);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("ipctop_objects{"), "{body}");
    let (code, _) = curl(&["--cacert", &ca, "-u", "prometheus:wrong"], &url);
    assert_eq!(code, 401);
    let (code, _) = curl(&["--cacert", &ca, "-u", "nobody:s3cret"], &url);
    assert_eq!(code, 401);
    let (code, _) = curl(&["--cacert", &ca], &url);
    assert_eq!(code, 401);
    let (code, _) = curl(
        &["--cacert", &ca, "--compressed", "-u", "prometheus:s3cret"],
        &url,
    );
    assert_eq!(code, 200, "gzip over TLS");
    assert_ne!(
        curl(&[], &format!("http://127.0.0.1:{port}/metrics")).0,
        200
    );
    // An unknown CA: the handshake fails.
    assert_eq!(curl(&["-u", "prometheus:s3cret"], &url).0, 0);

    // A real Prometheus scraping it over TLS with basic auth.
    if have("prometheus") {
        let pdir = TempDir::new("serve-tls-prom");
        let extra = format!(
            "    scheme: https\n    tls_config:\n      ca_file: {ca}\n      server_name: localhost\n    basic_auth:\n      username: prometheus\n      password: s3cret\n"
        );
        let (_prom, pport) = prometheus(&pdir, &[format!("127.0.0.1:{port}")], &extra);
        eventually("Prometheus to scrape over TLS", T, || {
            (query(pport, "up{job=\"ipctop\"}")? == 1.0
                && query(pport, "count(ipctop_objects)")? > 0.0)
                .then_some(())
        });
    } else {
        skip(
            NAME,
            "Debian's prometheus package is not installed (cargo xtask setup)",
        );
    }

    // The certificate replaced on disk: served from the next connections on.
    assert!(
        served_cn(port).contains("CN = first"),
        "{}",
        served_cn(port)
    );
    certificate(&dir.0, "next", "second");
    std::fs::rename(dir.join("next.crt"), dir.join("server.crt")).unwrap();
    std::fs::rename(dir.join("next.key"), dir.join("server.key")).unwrap();
    eventually("the new certificate to be served", T, || {
        served_cn(port).contains("CN = second").then_some(())
    });
    drop(serve);

    // Client certificates required: without one the handshake fails, with one it works.
    certificate(&dir.0, "client", "scraper");
    std::fs::write(
        &config,
        format!(
            "tls_server_config:\n  cert_file: {}\n  key_file: {}\n  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {ca}\n  min_version: TLS13\n",
            d("server.crt"),
            d("server.key")
        ),
    )
    .unwrap();
    let (_serve, port) = start(&config);
    let url = format!("https://localhost:{port}/metrics");
    assert_eq!(curl(&["--cacert", &ca], &url).0, 0);
    let (code, _) = curl(
        &[
            "--cacert",
            &ca,
            "--cert",
            &d("client.crt"),
            "--key",
            &d("client.key"),
        ],
        &url,
    );
    assert_eq!(code, 200);
    // TLS 1.3 only: a TLS 1.2 client is refused.
    assert_eq!(
        curl(
            &[
                "--cacert",
                &ca,
                "--tls-max",
                "1.2",
                "--cert",
                &d("client.crt"),
                "--key",
                &d("client.key")
            ],
            &url
        )
        .0,
        0
    );
}

#[test]
fn a_web_config_it_cannot_use_is_refused_at_start() {
    let dir = TempDir::new("serve-tls-bad");
    for (yaml, want) in [
        (
            "tls_server_config:\n  cert_file: /nonexistent.crt\n  key_file: /nonexistent.key\n",
            "cannot read cert /nonexistent.crt",
        ),
        (
            "basic_auth_users:\n  prometheus: s3cret\n",
            "not a bcrypt hash",
        ),
        (
            "tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "cipher_suites is not supported",
        ),
    ] {
        let f = dir.join("web.yml");
        std::fs::write(&f, yaml).unwrap();
        let o = Command::new(IPCTOP)
            .args([
                "serve",
                "--no-probe",
                "--listen",
                "127.0.0.1:0",
                "--web.config.file",
            ])
            .arg(&f)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&o.stderr);
        assert_eq!(o.status.code(), Some(2), "{yaml}: {err}");
        assert!(err.contains(want), "{yaml}: {err}");
        assert_eq!(err.trim().lines().count(), 1, "one sentence: {err}");
    }
    let o = Command::new(IPCTOP)
        .args([
            "serve",
            "--no-probe",
            "--listen",
            "no-such-host.invalid:9632",
        ])
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("--listen \"no-such-host.invalid:9632\""),
        "{err}"
    );
}
