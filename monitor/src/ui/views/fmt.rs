//! The dashboard's formats, one of each: durations (`dur`, `dur_ns`, `ago`), clock times,
//! compact counts, sizes, pid lists, IPC keys and sparklines.
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

/// A nanosecond total as a duration ("-" for none).
pub fn dur_ns(ns: u64) -> String {
    if ns == 0 {
        "-".into()
    } else if ns < 100_000_000 {
        format!("{:.1}ms", ns as f64 / 1e6)
    } else {
        dur(ns as f64 / 1e9)
    }
}

/// Time since a unix time in seconds ("never" for 0).
pub fn ago(now_unix: f64, t: i64) -> String {
    if t == 0 {
        "never".into()
    } else {
        dur(now_unix - t as f64)
    }
}

/// "4m05s ago", or "never" for 0.
pub fn ago_said(now_unix: f64, t: i64) -> String {
    if t == 0 {
        "never".into()
    } else {
        format!("{} ago", dur(now_unix - t as f64))
    }
}

/// Time since a monotonic stamp.
pub fn ago_mono(now: u64, t: Option<u64>) -> String {
    match t {
        Some(t) => dur(now.saturating_sub(t) as f64 / 1e9),
        None => "-".into(),
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

pub(super) fn trim_f(x: f64) -> String {
    let s = format!("{x:.2}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

pub fn size(b: u64) -> String {
    humansize::format_size(b, humansize::BINARY.decimal_places(1))
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

/// An IPC key as ipcs shows it.
pub fn key(k: i32) -> String {
    if k == 0 {
        "private".into()
    } else {
        format!("{:#010x}", k as u32)
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
        assert_eq!(key(0), "private");
        assert_eq!(clock(3725.0), "1:02:05");
    }
}
