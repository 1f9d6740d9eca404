//! What the `serve_*` tests share: a plain HTTP client, reading samples out of an
//! exposition, promtool, Prometheus's query API, and serve's memory.
#![allow(dead_code)]

use std::{
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    path::{Path, PathBuf},
    process::Command,
    time::{Duration, Instant},
};

use serde_json::Value;

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Whether a program is on PATH.
pub fn have(tool: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// An HTTP/1.1 answer: status, head, body (raw bytes).
pub struct Answer {
    pub status: u16,
    pub head: String,
    pub body: Vec<u8>,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A response header's value (case-insensitive name).
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            k.trim()
                .eq_ignore_ascii_case(name)
                .then(|| v.trim().to_string())
        })
    }
}

/// A plain HTTP/1.1 request with extra headers (`Connection: close`).
pub fn request(port: u16, method: &str, path: &str, headers: &[(&str, &str)]) -> Option<Answer> {
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(20))).ok()?;
    let extra: String = headers
        .iter()
        .map(|(k, v)| format!("{k}: {v}\r\n"))
        .collect();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..at]).into_owned();
    let mut body = buf[at + 4..].to_vec();
    let status = head.split_whitespace().nth(1)?.parse().ok()?;
    let a = Answer {
        status,
        head,
        body: Vec::new(),
    };
    if a.header("Transfer-Encoding")
        .is_some_and(|t| t.eq_ignore_ascii_case("chunked"))
    {
        body = dechunk(&body)?;
    }
    Some(Answer { body, ..a })
}

/// A chunked body's bytes.
fn dechunk(mut b: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    loop {
        let eol = b.windows(2).position(|w| w == b"\r\n")?;
        let size_line = std::str::from_utf8(&b[..eol]).ok()?;
        let size = usize::from_str_radix(size_line.split(';').next()?.trim(), 16).ok()?;
        b = &b[eol + 2..];
        if size == 0 {
            return Some(out);
        }
        out.extend_from_slice(b.get(..size)?);
        b = b.get(size + 2..)?;
    }
}

/// A plain HTTP/1.1 GET (or another method): (status, head, body).
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    accept: Option<&str>,
) -> Option<(u16, String, String)> {
    let headers: Vec<(&str, &str)> = accept.map(|a| ("Accept", a)).into_iter().collect();
    let a = request(port, method, path, &headers)?;
    Some((a.status, a.head.clone(), a.text()))
}

/// The body of a gzip answer, decompressed.
pub fn gunzip(body: &[u8]) -> String {
    let mut s = String::new();
    flate2::read::GzDecoder::new(body)
        .read_to_string(&mut s)
        .expect("a gzip body");
    s
}

/// The value of the sample `name{…}` whose labels include all of `labels`.
pub fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    values(text, name, labels).into_iter().next()
}

/// The values of every sample `name{…}` whose labels include all of `labels`.
pub fn values(text: &str, name: &str, labels: &[(&str, &str)]) -> Vec<f64> {
    text.lines()
        .filter_map(|l| {
            let rest = l.strip_prefix(name)?;
            let (labelset, v) = match rest.strip_prefix('{') {
                Some(r) => r.split_once("} ")?,
                None => ("", rest.strip_prefix(' ')?),
            };
            labels
                .iter()
                .all(|(k, v)| labelset.split(',').any(|p| p == format!("{k}=\"{v}\"")))
                .then(|| v.trim().parse().ok())?
        })
        .collect()
}

/// Polls `f` until it gives `Some`, for at most `timeout`.
pub fn eventually<R>(what: &str, timeout: Duration, mut f: impl FnMut() -> Option<R>) -> R {
    let end = Instant::now() + timeout;
    loop {
        if let Some(r) = f() {
            return r;
        }
        assert!(Instant::now() < end, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(250));
    }
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        let p = std::env::temp_dir().join(format!("ipctop-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }

    pub fn join(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// `promtool ARGS` with `stdin`; (success, output).
pub fn promtool(args: &[&str], stdin: Option<&str>) -> (bool, String) {
    let mut c = Command::new("promtool")
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool");
    let mut input = c.stdin.take().unwrap();
    if let Some(s) = stdin {
        input.write_all(s.as_bytes()).unwrap();
    }
    drop(input);
    let o = c.wait_with_output().unwrap();
    let out = format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    (o.status.success(), out)
}

fn encode_query(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A PromQL instant query's results (`data.result`), `None` when the query failed.
pub fn query_all(port: u16, q: &str) -> Option<Vec<Value>> {
    let (status, _, body) = http(
        port,
        "GET",
        &format!("/api/v1/query?query={}", encode_query(q)),
        None,
    )?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_str(&body).ok()?;
    v["data"]["result"].as_array().cloned()
}

/// Why Prometheus refused a query (its error), if it did.
pub fn query_error(port: u16, q: &str) -> Option<String> {
    let (_, _, body) = http(
        port,
        "GET",
        &format!("/api/v1/query?query={}", encode_query(q)),
        None,
    )?;
    let v: Value = serde_json::from_str(&body).ok()?;
    v["error"].as_str().map(str::to_string)
}

/// The value of a PromQL instant query's first result (None: no result yet).
pub fn query(port: u16, q: &str) -> Option<f64> {
    query_all(port, q)?.first()?["value"][1]
        .as_str()?
        .parse()
        .ok()
}

/// A real Prometheus scraping `targets` every second, with `extra` lines under the job
/// (TLS, basic auth), its data in `dir`; killed on drop. Returns it and its port.
pub fn prometheus(dir: &TempDir, targets: &[String], extra: &str) -> (super::support::Proc, u16) {
    let port = free_port();
    let config = dir.join("prometheus.yml");
    let targets: Vec<String> = targets.iter().map(|t| format!("'{t}'")).collect();
    std::fs::write(
        &config,
        format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  \
             - job_name: ipctop\n    static_configs:\n      - targets: [{}]\n{extra}",
            targets.join(", ")
        ),
    )
    .unwrap();
    let p = super::support::Proc::spawn(Command::new("prometheus").args([
        &format!("--config.file={}", config.display()),
        &format!("--storage.tsdb.path={}", dir.join("data").display()),
        &format!("--web.listen-address=127.0.0.1:{port}"),
    ]));
    (p, port)
}

/// A process's resident memory, KiB.
pub fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

/// The port `ipctop serve` says it serves on (its start line), e.g. for `--listen …:0`.
pub fn served_port(start_line: &str) -> u16 {
    let after = start_line
        .split("://")
        .nth(1)
        .unwrap_or_else(|| panic!("no URL in {start_line:?}"));
    let hostport = after.split('/').next().unwrap();
    hostport.rsplit(':').next().unwrap().parse().unwrap()
}
