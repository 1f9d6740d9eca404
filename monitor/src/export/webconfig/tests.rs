//! The web configuration's errors: one sentence naming the file and what is wrong. (A real
//! certificate is made and served in monitor/tests/serve_tls.rs.)
use super::*;

fn load(yaml: &str) -> Result<WebConfig, String> {
    let dir = std::env::temp_dir().join(format!("ipctop-webcfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    static SEQ: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let p = dir.join(format!("web{n}.yml"));
    std::fs::write(&p, yaml).unwrap();
    let r = WebConfig::load(&p);
    let _ = std::fs::remove_file(&p);
    r
}

#[test]
fn an_empty_file_is_plain_http_without_users() {
    let c = load("").unwrap();
    assert!(c.tls.is_none() && c.users.is_empty() && c.headers.is_empty());
    let c = load("# nothing\n").unwrap();
    assert!(c.tls.is_none());
}

#[test]
fn users_need_bcrypt_hashes_and_headers_may_not_be_ours() {
    let hash = bcrypt::hash("x", 4).unwrap();
    let c = load(&format!(
        "basic_auth_users:\n  prom: '{hash}'\nhttp_server_config:\n  headers:\n    X-Frame-Options: deny\n"
    ))
    .unwrap();
    assert_eq!(c.users.len(), 1);
    assert_eq!(c.headers.len(), 1);
    let e = load("basic_auth_users:\n  prom: plaintext\n").unwrap_err();
    assert!(
        e.contains("basic_auth_users.prom: not a bcrypt hash"),
        "{e}"
    );
    let e = load("http_server_config:\n  headers:\n    Content-Type: x\n").unwrap_err();
    assert!(e.contains("sets Content-Type itself"), "{e}");
}

#[test]
fn what_ipctop_does_not_do_is_refused_not_ignored() {
    for (yaml, want) in [
        (
            "tls_server_config:\n  cipher_suites: [TLS_AES_128_GCM_SHA256]\n",
            "cipher_suites is not supported",
        ),
        (
            "tls_server_config:\n  cert_file: /nonexistent/c.pem\n  key_file: /nonexistent/k.pem\n",
            "cannot read cert /nonexistent/c.pem",
        ),
        ("tls_server_config:\n  key_file: /x\n", "needs cert_file"),
        (
            "tls_server_config:\n  cert_file: /x\n  cert: y\n  key: z\n",
            "not both",
        ),
        (
            "tls_server_config:\n  cert: nope\n  key: nope\n",
            "holds no certificate",
        ),
        ("rate_limit:\n  interval: 1s\n", "rate_limit"),
        ("tls_server_config: [\n", "--web.config.file"),
    ] {
        let e = load(yaml).unwrap_err();
        assert!(e.starts_with("--web.config.file "), "{e}");
        assert!(e.contains(want), "{yaml:?}: {e}");
        assert!(!e.contains('\n'), "one sentence: {e}");
    }
    let e = WebConfig::load(Path::new("/nonexistent/web.yml")).unwrap_err();
    assert!(
        e.contains("cannot read the file /nonexistent/web.yml"),
        "{e}"
    );
}

#[test]
fn tls_versions_are_named_as_the_toolkit_names_them() {
    assert_eq!(version(&None, "TLS12"), Ok("TLS12"));
    assert_eq!(version(&Some("TLS13".into()), "TLS12"), Ok("TLS13"));
    assert!(version(&Some("TLS10".into()), "TLS12")
        .unwrap_err()
        .contains("TLS 1.2 and 1.3 only"));
    assert!(version(&Some("SSL3".into()), "TLS12").is_err());
}
