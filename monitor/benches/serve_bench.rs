//! What `ipctop serve` costs, at 10,000 and 50,000 objects. A benchmark (`cargo xtask bench`
//! runs it for its section 10 and keeps its lines in bench/RESULTS.md), as root:
//!
//!     cargo bench -p monitor --bench serve_bench
//!
//! - `ENCODE_BENCH`: in-process, no probe, no HTTP: the first exposition of N objects (every
//!   object written), the next one with 1 % of them changed (the rest kept), and writing the
//!   bodies (text, OpenMetrics, gzip).
//! - `SERVE_BENCH`: a real `ipctop serve` (release; the default interval, 15 s, and 5 s) over
//!   `ipctop-workload many`
//!   (a private IPC namespace, objects made while the probe counts, so they have calls and
//!   histograms; 1,000 processes), scraped as Prometheus does (OpenMetrics, gzip) every 15 s
//!   for 2 minutes: scrape time, sizes (plain and gzip), ipctop's CPU (user + system over the
//!   2 minutes) and memory (resident at the end, and its peak), per `--max-objects`.
//! - `HOSTILE_BENCH`: 10,000 objects; another user (nobody) holds 200 idle and 64
//!   never-reading connections for 30 s (tests/serve_support/hostile.py) while we scrape
//!   every second: the scrapes, and serve's memory before, at most during, and after.
//! - `FRESH_BENCH`: 10,000 objects, `--interval 5`, three processes failing IPC calls as fast as they can (every
//!   failure is an event) and two CPU hogs, for 35 s, scraped every 0.25 s: how long the
//!   exact call counts stayed the same at most, how old the probe's counters in the exposition
//!   were at most, events shed, peak memory.
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

mod common;
use common::{cpu_secs, ms};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A GET of /metrics: (time, body as sent, the body's text).
fn get(port: u16, headers: &str) -> Option<(Duration, Vec<u8>, String)> {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\n{headers}Connection: close\r\n\r\n"
    )
    .ok()?;
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).ok()?;
    let d = t.elapsed();
    let at = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..at]).to_lowercase();
    let body = buf[at + 4..].to_vec();
    let text = if head.contains("content-encoding: gzip") {
        let mut t = String::new();
        flate2::read::GzDecoder::new(&body[..])
            .read_to_string(&mut t)
            .ok()?;
        t
    } else {
        String::from_utf8_lossy(&body).into_owned()
    };
    Some((d, body, text))
}

const PROMETHEUS: &str =
    "Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5\r\nAccept-Encoding: gzip\r\n";

fn sum_of(text: &str, prefix: &str) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn rss_mib(pid: u32, field: &str) -> f64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .unwrap_or(0.0)
        / 1024.0
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `ipctop-workload many` waiting for "go", `ipctop serve` started, then the objects made
/// while the probe counts; returns when the exposition shows all of them.
struct Setup {
    serve: Kill,
    port: u16,
    _stdin: std::process::ChildStdin,
    _many: Kill,
}

fn setup(objects: usize, max_objects: usize, interval: u32) -> Setup {
    let mut wl = Command::new(env!("CARGO_BIN_EXE_ipctop-workload"))
        .args(["--wait-go", "many", "--objects", &objects.to_string()])
        .args(["--procs", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(wl.stdout.take().unwrap()).lines();
    let mut stdin = wl.stdin.take().unwrap();
    let many = Kill(wl);
    lines.next().unwrap().unwrap(); // {"pid", "waiting": true}
    let port = free_port();
    let mut serve = Kill(
        Command::new(env!("CARGO_BIN_EXE_ipctop"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            .args(["--interval", &interval.to_string()])
            .args(["--max-objects", &max_objects.to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    // The probe attaches before serve says it serves: only then are the objects made (on a
    // loaded machine a fixed wait was too short, and the objects had no calls counted).
    let mut said = BufReader::new(serve.0.stderr.take().unwrap()).lines();
    let serving = said
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("serving"));
    assert!(
        serving
            .as_deref()
            .is_some_and(|l| l.contains("probe attached")),
        "serve did not attach the probe: {serving:?}"
    );
    // The rest of what it says is read (and dropped), so that it never blocks on the pipe.
    std::thread::spawn(move || said.for_each(drop));
    writeln!(stdin, "go").unwrap();
    let t = Instant::now();
    let made = lines.next().unwrap().unwrap();
    eprintln!("set up {made} in {:?}", t.elapsed());
    let end = Instant::now() + Duration::from_secs(300);
    loop {
        if let Some((_, _, text)) = get(port, PROMETHEUS) {
            if sum_of(&text, "ipctop_objects{") >= objects as f64 {
                break;
            }
        }
        assert!(Instant::now() < end, "the objects never showed");
        std::thread::sleep(Duration::from_millis(500));
    }
    // A full interval with the aggregates.
    std::thread::sleep(Duration::from_secs(interval as u64 + 1));
    Setup {
        serve,
        port,
        _stdin: stdin,
        _many: many,
    }
}

fn line(l: String) {
    eprintln!("{l}");
    println!("{l}");
}

/// Scraped as Prometheus does, every 15 s for 2 minutes.
fn serve_bench(objects: usize, max_objects: usize, interval: u32) {
    let s = setup(objects, max_objects, interval);
    let pid = s.serve.0.id();
    let (_, _, text) = get(s.port, "").unwrap();
    let plain = text.len();
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let c0 = cpu_secs(pid);
    let t0 = Instant::now();
    let mut times = Vec::new();
    let mut gz = 0;
    for _ in 0..8 {
        let (d, body, _) = get(s.port, PROMETHEUS).expect("a scrape");
        times.push(d);
        gz = body.len();
        std::thread::sleep(Duration::from_secs(15));
    }
    let cpu = (cpu_secs(pid) - c0) / t0.elapsed().as_secs_f64() * 100.0;
    times.sort();
    line(format!(
        "SERVE_BENCH objects={objects} max_objects={max_objects} interval_s={interval} series={series} text_bytes={plain} gzip_bytes={gz} scrape_ms_median={} scrape_ms_max={} cpu_pct={cpu:.1} rss_mib={:.0} peak_rss_mib={:.0}",
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap()),
        rss_mib(pid, "VmRSS:"),
        rss_mib(pid, "VmHWM:"),
    ));
}

/// Another user's connections while we scrape.
fn hostile_bench() {
    let Some(python) = ["/usr/bin/python3", "/usr/local/bin/python3"]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
    else {
        line("HOSTILE_BENCH not run: no /usr/bin/python3".into());
        return;
    };
    let s = setup(10_000, 10_000, 5);
    let pid = s.serve.0.id();
    for _ in 0..4 {
        get(s.port, "");
        get(s.port, PROMETHEUS);
    }
    let before = rss_mib(pid, "VmRSS:");
    let hostile = Kill(
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                python,
                "-c",
            ])
            .arg(include_str!("../tests/serve_support/hostile.py"))
            .args([&s.port.to_string(), "200", "64", "33"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_secs(3));
    let (mut ok, mut failed, mut times, mut peak) = (0, 0, Vec::new(), before);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(30) {
        for h in ["", PROMETHEUS] {
            match get(s.port, h) {
                Some((d, _, t)) if t.contains("ipctop_objects{") => {
                    ok += 1;
                    times.push(d);
                }
                _ => failed += 1,
            }
        }
        peak = peak.max(rss_mib(pid, "VmRSS:"));
        std::thread::sleep(Duration::from_millis(500));
    }
    drop(hostile);
    std::thread::sleep(Duration::from_secs(10));
    get(s.port, PROMETHEUS);
    times.sort();
    line(format!(
        "HOSTILE_BENCH objects=10000 idle=200 noread=64 scrapes_ok={ok} scrapes_failed={failed} scrape_ms_median={} scrape_ms_max={} rss_mib_before={before:.0} rss_mib_peak={peak:.0} rss_mib_after={:.0}",
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap()),
        rss_mib(pid, "VmRSS:"),
    ));
}

/// How current the exposition stays under a flood of failing calls and CPU hogs.
fn fresh_bench() {
    let s = setup(10_000, 2_000, 5);
    let pid = s.serve.0.id();
    let _load: Vec<Kill> = (0..3)
        .map(|_| {
            Kill(
                Command::new(env!("CARGO_BIN_EXE_ipctop-workload"))
                    .args(["failing", "--rate", "200000", "--secs", "40"])
                    .stdout(Stdio::null())
                    .spawn()
                    .unwrap(),
            )
        })
        .chain((0..2).map(|_| {
            Kill(
                Command::new("sh")
                    .args(["-c", "while :; do :; done"])
                    .spawn()
                    .unwrap(),
            )
        }))
        .collect();
    std::thread::sleep(Duration::from_secs(3));
    let calls = |t: &str| sum_of(t, "ipctop_calls_total{");
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    };
    let (mut last, mut since, mut same, mut age, mut text) =
        (-1.0, Instant::now(), 0.0f64, 0.0f64, String::new());
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_secs(35) {
        if let Some((_, _, t)) = get(s.port, PROMETHEUS) {
            let c = calls(&t);
            if c != last {
                (last, since) = (c, Instant::now());
            }
            same = same.max(since.elapsed().as_secs_f64());
            let sampled = sum_of(&t, "ipctop_kernel_sample_timestamp_seconds ");
            if sampled > 0.0 {
                age = age.max(now() - sampled);
            }
            text = t;
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    line(format!(
        "FRESH_BENCH objects=10000 failing=3 hogs=2 interval_s=5 counts_unchanged_s_max={same:.1} kernel_sample_age_s_max={age:.1} events_shed={} events_dropped={} peak_rss_mib={:.0}",
        sum_of(&text, "ipctop_events_shed_total "),
        sum_of(&text, "ipctop_events_dropped_total "),
        rss_mib(pid, "VmHWM:"),
    ));
}

fn main() {
    encode_objects(10_000);
    encode_objects(50_000);
    common::require_root("serve_bench (the probe, unshare)");
    for (objects, max, interval) in [
        (10_000, 2_000, 15),
        (10_000, 2_000, 5),
        (10_000, 10_000, 15),
        (50_000, 2_000, 15),
        (50_000, 50_000, 15),
    ] {
        serve_bench(objects, max, interval);
    }
    hostile_bench();
    fresh_bench();
}

/// Preparing and writing an exposition of `n` objects in-process (no probe, no HTTP): where a
/// cold scrape's time goes, and what the next exposition costs when 1 % of the objects
/// changed (the rest are kept rendered).
fn encode_objects(n: usize) {
    use ipctop::export::{
        cap::Cap,
        collect::kernel_bucket_upper_s,
        encode::{Encoding, Format},
        metrics::{Host, Kind, ObjectStats, SyscallCount, WaitHistogram},
        render::Renderer,
        Exposition,
    };
    let objects = |generation: u64| -> Vec<ObjectStats> {
        (0..n)
            .map(|id| {
                let kind = [Kind::Sem, Kind::Shm, Kind::Msg][id % 3];
                let mut o = ObjectStats::new(4026531839, kind, id as i32);
                // 1 % of the objects move from one generation to the next.
                let moved = if id % 100 == 0 { generation } else { 0 };
                for s in ["semget", "semctl", "semtimedop"] {
                    o.calls.push(SyscallCount {
                        syscall: s,
                        calls: 1000 + id as u64 + moved,
                        errors: 0,
                    });
                }
                if kind != Kind::Shm {
                    // Fast calls in the first buckets; one object in ten also waited
                    // around 4 ms (bucket 12).
                    let counts: Vec<u64> = (0..24)
                        .map(|i| match i {
                            1..=3 => 300 + i as u64 + moved,
                            12 if id % 10 == 0 => 5,
                            _ => 0,
                        })
                        .collect();
                    o.wait = Some(WaitHistogram {
                        count: counts.iter().sum(),
                        buckets: (0..24)
                            .map(|i| (kernel_bucket_upper_s(i), counts[i]))
                            .collect(),
                        sum_s: 1.5,
                    });
                }
                o
            })
            .collect()
    };
    let mut renderer = Renderer::default();
    let mut cap = Cap::new(n, 200);
    let mut prepare = |generation: u64| {
        let mut h = Host {
            objects: objects(generation),
            ..Default::default()
        };
        let t = Instant::now();
        cap.apply(&mut h);
        let objs = renderer.objects(h.objects);
        let e = Exposition::new(Vec::new(), objs, Vec::new());
        (e, t.elapsed())
    };
    let (first, first_t) = prepare(0);
    let (next, next_t) = prepare(1);
    let t = Instant::now();
    let text = next.body(Format::Text, Encoding::Identity);
    let text_t = t.elapsed();
    let t = Instant::now();
    let om = next.body(Format::OpenMetrics, Encoding::Identity);
    let om_t = t.elapsed();
    let t = Instant::now();
    let gz = next.body(Format::OpenMetrics, Encoding::Gzip);
    let gz_t = t.elapsed();
    drop(first);
    line(format!(
        "ENCODE_BENCH objects={n} series={} first_prepare_ms={:.1} next_prepare_ms={:.1} text_ms={:.1} om_ms={:.1} gzip_ms={:.1} text_bytes={} om_bytes={} gzip_bytes={}",
        std::str::from_utf8(&text).unwrap().lines().filter(|l| !l.starts_with('#')).count(),
        first_t.as_secs_f64() * 1e3,
        next_t.as_secs_f64() * 1e3,
        text_t.as_secs_f64() * 1e3,
        om_t.as_secs_f64() * 1e3,
        gz_t.as_secs_f64() * 1e3,
        text.len(),
        om.len(),
        gz.len(),
    ));
}
