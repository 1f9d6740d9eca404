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

/// Every line the benchmark printed.
pub struct Serve {
    pub lines: Vec<Line>,
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
    Ok(Serve { lines })
}

pub fn write(md: &mut String, s: &Serve) -> Result<()> {
    let of = |kind: &'static str| s.lines.iter().filter(move |l| l.kind == kind);
    writeln!(
        md,
        "\n## 10. What `ipctop serve` costs (10,000 and 50,000 objects, release)\n"
    )?;
    writeln!(md, "`monitor/benches/serve_bench.rs` (`cargo bench -p monitor --bench serve_bench`, as root).\n")?;
    writeln!(md, "Building the exposition in-process (no probe, no HTTP): the first one writes every object; the next, with 1 % of the objects changed, writes only those (the rest are kept); then writing the bodies a scrape takes:\n")?;
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
    writeln!(md, "\nA real `ipctop serve` over `ipctop-workload many` (objects made while the probe counts, 1,000 processes), scraped as Prometheus does (OpenMetrics, gzip) every 15 s for 2 minutes; CPU over those 2 minutes (its snapshots of /proc and samples of the probe every interval included), memory at the end and at its peak (the objects' creation included):\n")?;
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
    for l in of("HOSTILE_BENCH") {
        writeln!(
            md,
            "\nAnother user (nobody) holding {} idle and {} never-reading connections for 30 s, 10,000 objects (`--max-objects 10000`), scraped every 0.5 s (plain and gzip): {} scrapes succeeded, {} failed, median {} ms, at most {} ms; serve's RSS {} MiB before, at most {} MiB during, {} MiB 10 s after.",
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
            "\nUnder load: 10,000 objects, {} processes failing IPC calls as fast as they can (every failure an event) and {} CPU hogs, 35 s scraped every 0.25 s (interval {} s): the exact call counts stayed the same for at most {} s, the probe's counters in the exposition were at most {} s old; {} events shed, {} dropped; peak RSS {} MiB.",
            l.get("failing"),
            l.get("hogs"),
            l.get("interval_s"),
            l.get("counts_unchanged_s_max"),
            l.get("kernel_sample_age_s_max"),
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
