//! The cost of `ipctop serve` with 10,000 objects and 1,000 processes (ipctop-workload `many`
//! in a private IPC namespace, made while the probe counts, so every object has calls and
//! wait histograms). A benchmark (`cargo xtask bench` runs it and keeps its lines in
//! bench/RESULTS.md), as root:
//!
//!     cargo bench -p monitor --bench serve_bench
//!
//! Measures, against a real `ipctop serve --ipc-ns PID --interval 5 --max-objects M`:
//! scrape times (GET /metrics over loopback, one a second for 30 s: with a 5 s interval one
//! scrape in five is the first of a new exposition and encodes it), response sizes (text and
//! OpenMetrics), and ipctop's CPU (user+system, /proc/PID/stat) over 60 s scraped every 5 s.
//! First, without root, where a cold scrape's time goes: preparing and encoding 10,000 objects
//! in-process. Ends with one machine-readable line per measurement on stdout:
//!
//!     ENCODE_BENCH objects=10000 series=… prepare_ms=… text_ms=… om_ms=… bytes=…
//!     SERVE_BENCH max_objects=10000 objects=10000 series=… text_bytes=… om_bytes=… scrape_ms_median=… scrape_ms_max=… cpu_pct=…
use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

mod common;
use common::{cpu_secs, ms};

struct Kill(Child);

impl Drop for Kill {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn get(port: u16, accept: &str) -> (Duration, String) {
    let t = Instant::now();
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    write!(
        s,
        "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept: {accept}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut buf = String::new();
    s.read_to_string(&mut buf).unwrap();
    let d = t.elapsed();
    let body = buf.split_once("\r\n\r\n").unwrap().1.to_string();
    (d, body)
}

fn objects_in(text: &str) -> u64 {
    text.lines()
        .filter(|l| l.starts_with("ipctop_objects{"))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<u64>().ok())
        .sum()
}

fn bench(max_objects: usize) {
    let mut wl = Command::new(env!("CARGO_BIN_EXE_ipctop-workload"))
        .args(["--wait-go", "many", "--objects", "10000", "--procs", "1000"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(wl.stdout.take().unwrap()).lines();
    let mut stdin = wl.stdin.take().unwrap();
    let wl = Kill(wl);
    // {"pid", "waiting": true}: it waits for "go".
    lines.next().unwrap().unwrap();
    let port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let serve = Kill(
        Command::new(env!("CARGO_BIN_EXE_ipctop"))
            .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
            // Every namespace (the default): the workload enters one of its own only when it
            // starts making objects, after this has started.
            .args(["--interval", "5"])
            .args(["--max-objects", &max_objects.to_string()])
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let serve_pid = serve.0.id();
    std::thread::sleep(Duration::from_secs(3)); // the probe attaches
    writeln!(stdin, "go").unwrap();
    let t = Instant::now();
    let made: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    eprintln!("set up {made} in {:?}", t.elapsed());
    // Until the exposition shows every object.
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, body) = get(port, "*/*");
        if objects_in(&body) >= 10_000 {
            break;
        }
        assert!(Instant::now() < end, "the objects never showed");
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(6)); // a full interval with the aggregates
    let mut times = Vec::new();
    let (mut text, mut om) = (String::new(), String::new());
    for i in 0..30 {
        let (d, body) = get(port, "*/*");
        times.push(d);
        text = body;
        if i % 10 == 0 {
            om = get(port, "application/openmetrics-text;version=1.0.0").1;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    times.sort();
    // CPU over 60 s, scraped every 5 s.
    let c0 = cpu_secs(serve_pid);
    let t0 = Instant::now();
    for _ in 0..12 {
        get(port, "application/openmetrics-text;version=1.0.0");
        std::thread::sleep(Duration::from_secs(5));
    }
    let cpu_pct = (cpu_secs(serve_pid) - c0) / t0.elapsed().as_secs_f64() * 100.0;
    let series = text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
        .count();
    let line = format!(
        "SERVE_BENCH max_objects={max_objects} objects={} series={series} text_bytes={} om_bytes={} scrape_ms_median={} scrape_ms_max={} cpu_pct={:.1}",
        objects_in(&text),
        text.len(),
        om.len(),
        ms(times[times.len() / 2]),
        ms(*times.last().unwrap()),
        cpu_pct
    );
    eprintln!("{line}");
    println!("{line}");
    drop(serve);
    drop(stdin);
    drop(wl);
}

fn main() {
    encode_objects(10_000);
    encode_objects(50_000);
    common::require_root("serve_bench (the probe, unshare, --ipc-ns)");
    bench(10_000);
    bench(2_000);
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
        let t = Instant::now();
        let mut h = Host {
            objects: objects(generation),
            ..Default::default()
        };
        let built = t.elapsed();
        let t = Instant::now();
        cap.apply(&mut h);
        let objs = renderer.objects(h.objects);
        let e = Exposition::new(Vec::new(), objs, Vec::new());
        (e, t.elapsed(), built)
    };
    let (first, first_t, _) = prepare(0);
    let (next, next_t, _) = prepare(1);
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
    let line = format!(
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
    );
    eprintln!("{line}");
    println!("{line}");
}
