//! Section 10: what `ipctop serve` costs at 10,000 and 50,000 objects — the monitor crate's
//! `serve_bench` (`monitor/benches/serve_bench.rs`, release, as root): building the
//! exposition in-process, a real serve scraped as Prometheus does, another user's hostile
//! connections, and how current the counts stay under a flood of failing calls.
use std::{collections::BTreeMap, fmt::Write as _, path::Path};

use anyhow::Result;

/// One machine-readable line: its kind and `key=value` fields.
#[derive(Debug, Default)]
pub struct Line {
    pub kind: String,
    pub fields: BTreeMap<String, String>,
}

impl Line {
    fn parse(l: &str) -> Option<Line> {
        let mut parts = l.split_whitespace();
        let kind = parts.next()?.to_string();
        let fields = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Some(Line { kind, fields })
    }

    fn get(&self, k: &str) -> &str {
        self.fields.get(k).map_or("?", String::as_str)
    }

    /// A byte count in MB (or "?").
    fn mb(&self, k: &str) -> String {
        self.fields
            .get(k)
            .and_then(|v| v.parse::<f64>().ok())
            .map_or("?".into(), |b| format!("{:.2}", b / 1e6))
    }
}

/// Every line the benchmark printed, and where it ran.
pub struct Serve {
    pub lines: Vec<Line>,
    /// `date -u` when it ended.
    pub date: String,
    /// The CPU's model name (/proc/cpuinfo).
    pub cpu: String,
}

pub fn measure() -> Result<Serve> {
    let out = crate::cargo_stdout(&["bench", "-p", "monitor", "--bench", "serve_bench"])?;
    let lines = String::from_utf8_lossy(&out)
        .lines()
        .filter(|l| {
            [
                "ENCODE_BENCH ",
                "SERVE_BENCH ",
                "HOSTILE_BENCH ",
                "FRESH_BENCH ",
            ]
            .iter()
            .any(|k| l.starts_with(k))
        })
        .filter_map(Line::parse)
        .collect();
    let date = super::utc_now();
    let cpu = super::cpu_model();
    Ok(Serve { lines, date, cpu })
}

impl Line {
    fn num(&self, k: &str) -> Option<f64> {
        self.fields.get(k)?.parse().ok()
    }
}

/// Issue 24's targets for serve at 10,000 objects scraped every 15 s.
const TARGET_MB: f64 = 100.0;
const TARGET_CPU_PCT: f64 = 5.0;

/// "met" or "missed" (or "?" without the figure).
fn verdict(v: Option<f64>, at_most: f64) -> &'static str {
    match v {
        Some(v) if v <= at_most => "met",
        Some(_) => "missed",
        None => "?",
    }
}

/// MiB as MB.
fn mib_to_mb(v: f64) -> f64 {
    v * 1.048576
}

pub fn write(md: &mut String, s: &Serve) -> Result<()> {
    let of = |kind: &'static str| s.lines.iter().filter(move |l| l.kind == kind);
    writeln!(
        md,
        "\n## 10. What `ipctop serve` costs (10,000 and 50,000 objects, release)\n"
    )?;
    writeln!(md, "`monitor/benches/serve_bench.rs` (`cargo bench -p monitor --bench serve_bench`, as root; `cargo xtask bench --serve-only` runs this section alone), {}, on this VM: {}, 2 cores, shared with other builds and tests (compare figures within this section only).\n", s.date, s.cpu)?;
    writeln!(md, "Building the exposition in-process (no probe, no HTTP), every object with series: the first exposition writes every object's samples; the next, after 1 % of the objects changed, writes only those again (the rest are kept as written); then the bodies a scrape is answered from, written once per exposition and format (text 0.0.4, OpenMetrics, and the text gzipped):\n")?;
    writeln!(md, "| objects | series | first exposition | next exposition | text body | OpenMetrics body | gzip | text | gzip |")?;
    writeln!(
        md,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for l in of("ENCODE_BENCH") {
        writeln!(
            md,
            "| {} | {} | {} ms | {} ms | {} ms | {} ms | {} ms | {} MB | {} MB |",
            l.get("objects"),
            l.get("series"),
            l.get("first_prepare_ms"),
            l.get("next_prepare_ms"),
            l.get("text_ms"),
            l.get("om_ms"),
            l.get("gzip_ms"),
            l.mb("text_bytes"),
            l.mb("gzip_bytes"),
        )?;
    }
    for l in of("ENCODE_BENCH") {
        if let (Some(first), Some(next), Some(text), Some(gz)) = (
            l.num("first_prepare_ms"),
            l.num("next_prepare_ms"),
            l.num("text_bytes"),
            l.num("gzip_bytes"),
        ) {
            writeln!(
                md,
                "\nAt {} objects the next exposition took {:.0} % of the first's time, and gzip made the body {:.0} times smaller.",
                l.get("objects"),
                next / first * 100.0,
                text / gz,
            )?;
        }
    }
    writeln!(md, "\nA real `ipctop serve` (release, the probe attached) over `ipctop-workload many` in a private IPC namespace (the objects made while the probe counts, so each has calls and a histogram; 1,000 processes), at the default `--interval` (15 s) and at 5 s, scraped as Prometheus does (OpenMetrics, gzip) every 15 s for 2 minutes. `series` and `plain` are one scrape in text 0.0.4 without gzip, `gzip` the scrapes' bodies; scrape times from the request to the last byte over loopback; CPU is user + system over the 2 minutes (the snapshots of /proc, the probe's samples and the expositions every interval included); RSS at the end, and its peak (VmHWM) since serve started, the objects' creation included:\n")?;
    writeln!(md, "| objects | --max-objects | --interval | series | plain | gzip | scrape median | scrape max | CPU (one core) | RSS | peak RSS |")?;
    writeln!(
        md,
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )?;
    for l in of("SERVE_BENCH") {
        writeln!(
            md,
            "| {} | {} | {} s | {} | {} MB | {} MB | {} ms | {} ms | {} % | {} MiB | {} MiB |",
            l.get("objects"),
            l.get("max_objects"),
            l.get("interval_s"),
            l.get("series"),
            l.mb("text_bytes"),
            l.mb("gzip_bytes"),
            l.get("scrape_ms_median"),
            l.get("scrape_ms_max"),
            l.get("cpu_pct"),
            l.get("rss_mib"),
            l.get("peak_rss_mib"),
        )?;
    }
    let at = |objects: &'static str, interval: &'static str| {
        of("SERVE_BENCH")
            .filter(move |l| l.get("objects") == objects && l.get("interval_s") == interval)
    };
    let targets: Vec<String> = at("10000", "15")
        .map(|l| {
            let (cpu, rss, peak) = (l.num("cpu_pct"), l.num("rss_mib"), l.num("peak_rss_mib"));
            format!(
                "with `--max-objects {}`, {} % of a core (CPU target {}), {:.0} MB at the end (memory target {}), {:.0} MB at the peak ({})",
                l.get("max_objects"),
                l.get("cpu_pct"),
                verdict(cpu, TARGET_CPU_PCT),
                rss.map_or(f64::NAN, mib_to_mb),
                verdict(rss.map(mib_to_mb), TARGET_MB),
                peak.map_or(f64::NAN, mib_to_mb),
                verdict(peak.map(mib_to_mb), TARGET_MB),
            )
        })
        .collect();
    if !targets.is_empty() {
        writeln!(
            md,
            "\nIssue 24's targets, at most {TARGET_MB:.0} MB and {TARGET_CPU_PCT:.0} % of a core at 10,000 objects scraped every 15 s (the default interval): {}.",
            targets.join("; ")
        )?;
    }
    let cpu_of = |objects: &'static str, max: &str, interval: &'static str| {
        at(objects, interval)
            .find(|l| l.get("max_objects") == max)
            .and_then(|l| l.num("cpu_pct"))
    };
    if let (Some(slow), Some(fast)) = (cpu_of("10000", "2000", "15"), cpu_of("10000", "2000", "5"))
    {
        writeln!(
            md,
            "\nThe interval is most of the CPU: at 10,000 objects (`--max-objects 2000`) serve used {fast} % of a core with `--interval 5` against {slow} % at 15 s ({:.1} times as much for three times the expositions).",
            fast / slow
        )?;
    }
    let peaks: Vec<String> = at("50000", "15")
        .map(|l| {
            format!(
                "{} MiB at the peak with `--max-objects {}`",
                l.get("peak_rss_mib"),
                l.get("max_objects")
            )
        })
        .collect();
    if !peaks.is_empty() {
        writeln!(
            md,
            "\nAt 50,000 objects: {} (the packaged unit's MemoryMax is 512 MiB).",
            peaks.join(", ")
        )?;
    }
    for l in of("HOSTILE_BENCH") {
        writeln!(
            md,
            "\nAnother user (nobody) holding {} idle and {} never-reading connections for 30 s (`tests/serve_support/hostile.py`), 10,000 objects (`--max-objects 10000 --interval 5`), scraped twice every 0.5 s (plain and gzip): {} scrapes succeeded, {} failed, median {} ms, at most {} ms; serve's RSS {} MiB before, at most {} MiB during, {} MiB 10 s after they closed.",
            l.get("idle"),
            l.get("noread"),
            l.get("scrapes_ok"),
            l.get("scrapes_failed"),
            l.get("scrape_ms_median"),
            l.get("scrape_ms_max"),
            l.get("rss_mib_before"),
            l.get("rss_mib_peak"),
            l.get("rss_mib_after"),
        )?;
    }
    for l in of("FRESH_BENCH") {
        writeln!(
            md,
            "\nUnder load: 10,000 objects (`--max-objects 2000 --interval {}`), {} processes failing IPC calls as fast as they can (every failure an event) and {} CPU hogs on the 2 cores, scraped every 0.25 s for 35 s: the exact call counts (`ipctop_calls_total`) stayed the same for at most {} s and the probe's counters in the exposition were at most {} s old (an exposition every {} s; before serve had threads of its own they stayed the same for tens of seconds); {} events shed, {} dropped; peak RSS {} MiB.",
            l.get("interval_s"),
            l.get("failing"),
            l.get("hogs"),
            l.get("counts_unchanged_s_max"),
            l.get("kernel_sample_age_s_max"),
            l.get("interval_s"),
            l.get("events_shed"),
            l.get("events_dropped"),
            l.get("peak_rss_mib"),
        )?;
    }
    if s.lines.is_empty() {
        writeln!(md, "serve_bench printed nothing.")?;
    }
    Ok(())
}

/// Puts a measured section (`## N. …`) into the results file in place of the one there:
/// up to the next numbered or hand-written section; added after the numbered ones when the
/// file has none.
pub fn splice(results: &Path, number: u32, section: &str) -> Result<()> {
    let old = std::fs::read_to_string(results).unwrap_or_default();
    let section = section.trim_start_matches('\n').trim_end();
    let heading = format!("## {number}. ");
    let starts: Vec<usize> = old
        .match_indices("\n## ")
        .map(|(i, _)| i + 1)
        .chain(old.starts_with("## ").then_some(0))
        .collect();
    let out = match old.find(&format!("\n{heading}")).map(|i| i + 1) {
        Some(at) => {
            let end = starts
                .iter()
                .copied()
                .filter(|&s| s > at)
                .min()
                .unwrap_or(old.len());
            format!("{}{section}\n\n{}", &old[..at], old[end..].trim_start())
        }
        None => {
            // Before the first hand-written section (not numbered), else at the end.
            let at = starts
                .iter()
                .copied()
                .filter(|&s| !old[s + 3..].starts_with(|c: char| c.is_ascii_digit()))
                .min();
            match at {
                Some(at) => format!("{}{section}\n\n{}", &old[..at], &old[at..]),
                None => format!("{}\n\n{section}\n", old.trim_end()),
            }
        }
    };
    std::fs::write(results, out.trim_end().to_string() + "\n")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_prose_says_what_the_figures_say() {
        let lines = [
            "SERVE_BENCH objects=10000 max_objects=2000 interval_s=15 series=22498 text_bytes=1747345 gzip_bytes=98879 scrape_ms_median=9.4 scrape_ms_max=13.4 cpu_pct=4.1 rss_mib=67 peak_rss_mib=158",
            "SERVE_BENCH objects=10000 max_objects=2000 interval_s=5 series=8019 text_bytes=498168 gzip_bytes=78280 scrape_ms_median=7.3 scrape_ms_max=10.4 cpu_pct=8.2 rss_mib=67 peak_rss_mib=97",
        ];
        let s = Serve {
            lines: lines.iter().filter_map(|l| Line::parse(l)).collect(),
            date: "2026-12-07 03:00 UTC".into(),
            cpu: "AMD EPYC".into(),
        };
        let mut md = String::new();
        write(&mut md, &s).unwrap();
        assert!(md.contains("on this VM: AMD EPYC, 2 cores"), "{md}");
        assert!(md.contains("with `--max-objects 2000`, 4.1 % of a core (CPU target met), 70 MB at the end (memory target met), 166 MB at the peak (missed)"), "{md}");
        assert!(
            md.contains("8.2 % of a core with `--interval 5` against 4.1 % at 15 s (2.0 times"),
            "{md}"
        );
        assert!(!md.contains("At 50,000 objects"), "{md}");
    }

    #[test]
    fn a_section_is_replaced_or_put_before_the_hand_written_ones() {
        let dir = std::env::temp_dir().join(format!("xtask-splice-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let f = dir.join("RESULTS.md");
        std::fs::write(&f, "# t\n\n## 9. Compat\n\nc\n\n## Notes\n\nn\n").unwrap();
        splice(&f, 10, "\n## 10. Serve\n\none\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# t\n\n## 9. Compat\n\nc\n\n## 10. Serve\n\none\n\n## Notes\n\nn\n"
        );
        splice(&f, 10, "## 10. Serve\n\ntwo\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# t\n\n## 9. Compat\n\nc\n\n## 10. Serve\n\ntwo\n\n## Notes\n\nn\n"
        );
        std::fs::write(&f, "# t\n\n## 9. Compat\n\nc\n").unwrap();
        splice(&f, 10, "## 10. Serve\n\nx\n").unwrap();
        assert_eq!(
            std::fs::read_to_string(&f).unwrap(),
            "# t\n\n## 9. Compat\n\nc\n\n## 10. Serve\n\nx\n"
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn lines_are_read_as_fields() {
        let l = Line::parse("SERVE_BENCH objects=10000 text_bytes=2500000").unwrap();
        assert_eq!(l.kind, "SERVE_BENCH");
        assert_eq!(l.get("objects"), "10000");
        assert_eq!(l.mb("text_bytes"), "2.50");
        assert_eq!(l.get("nothing"), "?");
    }
}
