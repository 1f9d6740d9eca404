//! The dashboard's formats, one of each: durations (`dur`, `dur_ns`), clock times, compact
//! counts, counts with thousands separators, sizes, limits, pid lists and sparklines.
use crate::ui::theme::Theme;

/// A duration, short: "0.4s", "12.3s", "4m05s", "2h03m", "3d04h".
pub fn dur(s: f64) -> String {
    let s = s.max(0.0);
    if s < 60.0 {
        format!("{s:.1}s")
    } else if s < 3600.0 {
        format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64)
    } else if s < 86400.0 {
        format!(
            "{}h{:02}m",
            (s / 3600.0) as u64,
            ((s % 3600.0) / 60.0) as u64
        )
    } else {
        format!(
            "{}d{:02}h",
            (s / 86400.0) as u64,
            ((s % 86400.0) / 3600.0) as u64
        )
    }
}

/// A nanosecond figure as a duration in the unit that shows it: "-" for none, "850ns",
/// "12µs", "1.2ms", then as [`dur`] from 0.1 s. Never "0.0ms" for something that took time.
pub fn dur_ns(t: &Theme, ns: u64) -> String {
    match ns {
        0 => "-".into(),
        1..1_000 => format!("{ns}ns"),
        1_000..100_000 => format!("{:.0}{}", ns as f64 / 1e3, t.micro()),
        100_000..100_000_000 => format!("{:.1}ms", ns as f64 / 1e6),
        _ => dur(ns as f64 / 1e9),
    }
}

/// "h:mm:ss".
pub fn clock(s: f64) -> String {
    let s = s.max(0.0) as u64;
    format!("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
}

/// A count, compact: 999, 1.2k, 3.4M.
pub fn num(x: f64) -> String {
    let a = x.abs();
    if x.fract() == 0.0 && a < 100_000.0 {
        format!("{x:.0}")
    } else if a < 1000.0 {
        if x.fract() == 0.0 || a >= 100.0 {
            format!("{x:.0}")
        } else {
            format!("{x:.1}")
        }
    } else if a < 1e6 {
        format!("{:.1}k", x / 1e3)
    } else if a < 1e9 {
        format!("{:.1}M", x / 1e6)
    } else {
        format!("{:.1}G", x / 1e9)
    }
}

/// A count with thousands separators: "2,000".
pub fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

pub fn trim_f(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn size(b: u64) -> String {
    humansize::format_size(b, humansize::BINARY.decimal_places(1))
}

/// Whether a kernel limit is in fact no limit: the kernel's defaults for shmall and shmmax
/// are `ULONG_MAX - 2^24` and such, 20-digit numbers that mean "unlimited".
pub fn unlimited(max: u64) -> bool {
    max >= 1 << 62
}

/// A limit as a person reads it: the number, or "unlimited".
pub fn limit(max: u64) -> String {
    if unlimited(max) {
        "unlimited".into()
    } else {
        max.to_string()
    }
}

/// Pids, comma-separated, at most `max` of them ("+N" for the rest; "-" for none).
pub fn pids(v: impl IntoIterator<Item = u32>, max: usize) -> String {
    let v: Vec<u32> = v.into_iter().collect();
    if v.is_empty() {
        return "-".into();
    }
    let mut s = v
        .iter()
        .take(max)
        .map(|p| p.to_string())
        .collect::<Vec<_>>()
        .join(",");
    if v.len() > max {
        s.push_str(&format!(",+{}", v.len() - max));
    }
    s
}

/// "1 thread" / "3 threads", and "in 2 processes" when they are not one each.
pub fn threads(threads: usize, procs: usize) -> String {
    let t = if threads == 1 { "thread" } else { "threads" };
    if threads == procs {
        format!("{threads} {t}")
    } else {
        let p = if procs == 1 { "process" } else { "processes" };
        format!("{threads} {t} in {procs} {p}")
    }
}

/// A sparkline of counts, one cell each, newest on the right.
pub fn spark(t: &Theme, v: &[u32]) -> String {
    spark_f(t, &v.iter().map(|&x| f64::from(x)).collect::<Vec<_>>())
}

/// A sparkline of values, one cell each, scaled to the largest (nothing: the lowest cell).
pub fn spark_f(t: &Theme, v: &[f64]) -> String {
    let max = v.iter().copied().fold(0.0, f64::max);
    let levels = t.levels();
    v.iter()
        .map(|&x| {
            let i = if x <= 0.0 || max <= 0.0 {
                0
            } else {
                1 + ((x / max) * (levels.len() - 2) as f64).round() as usize
            };
            levels[i.min(levels.len() - 1)]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats() {
        assert_eq!(dur(0.42), "0.4s");
        assert_eq!(dur(245.0), "4m05s");
        assert_eq!(dur(7380.0), "2h03m");
        assert_eq!(num(1234.0), "1234");
        assert_eq!(num(1234.5), "1.2k");
        assert_eq!(num(123456.0), "123.5k");
        assert_eq!(num(12.5), "12.5");
        assert_eq!(pids([1, 2, 3], 2), "1,2,+1");
        assert_eq!(size(8192), "8 KiB");
        assert_eq!(clock(3725.0), "1:02:05");
        assert_eq!(thousands(2000), "2,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_234_567), "1,234,567");
        assert_eq!(threads(1, 1), "1 thread");
        assert_eq!(threads(3, 2), "3 threads in 2 processes");
    }

    #[test]
    fn short_durations_keep_their_unit() {
        let t = Theme::default();
        assert_eq!(dur_ns(&t, 0), "-");
        assert_eq!(dur_ns(&t, 850), "850ns");
        assert_eq!(dur_ns(&t, 12_345), "12µs");
        assert_eq!(dur_ns(&t, 40_000), "40µs");
        assert_eq!(dur_ns(&t, 1_200_000), "1.2ms");
        assert_eq!(dur_ns(&t, 4_100_000_000), "4.1s");
        let ascii = Theme {
            unicode: false,
            ..t
        };
        assert_eq!(dur_ns(&ascii, 40_000), "40us");
    }

    #[test]
    fn the_kernels_no_limit_reads_unlimited() {
        assert_eq!(limit(18_446_744_073_692_774_399), "unlimited");
        assert_eq!(limit(32_000), "32000");
    }
}
