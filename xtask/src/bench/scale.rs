//! Section 4: frame, snapshot and namespace times at 10,000 objects and 1,000 processes: the
//! monitor crate's benchmarks (`monitor/benches/`, `cargo bench`, release), each printing its
//! machine-readable lines on stdout. (The exporter's are section 10, `serve.rs`.)
use anyhow::Result;

pub struct Scale {
    /// `VIEW median_us p95_us`, one line per view (`frame_time`).
    pub frames: Vec<String>,
    /// `SNAPSHOT_BENCH …`
    pub snapshot: String,
    /// `NAMESPACES_BENCH …`
    pub namespaces: String,
}

/// The stdout of `cargo bench -p monitor --bench NAME`.
fn bench(name: &str) -> Result<String> {
    let out = crate::cargo_stdout(&["bench", "-p", "monitor", "--bench", name])?;
    Ok(String::from_utf8_lossy(&out).into_owned())
}

/// The lines of `out` that begin with `prefix`, or one that says none was printed.
fn lines(out: &str, prefix: &str) -> Vec<String> {
    let found: Vec<String> = out
        .lines()
        .filter(|l| l.starts_with(prefix))
        .map(str::to_string)
        .collect();
    if found.is_empty() {
        vec![format!("{prefix} not printed")]
    } else {
        found
    }
}

pub fn measure() -> Result<Scale> {
    let frames = bench("frame_time")?
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    let snapshot = lines(&bench("snapshot_bench")?, "SNAPSHOT_BENCH").remove(0);
    let namespaces = lines(&bench("namespaces_bench")?, "NAMESPACES_BENCH").remove(0);
    Ok(Scale {
        frames,
        snapshot,
        namespaces,
    })
}
