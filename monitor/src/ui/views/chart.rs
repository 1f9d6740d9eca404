//! Charts of an object's history for its details: calls per second at each sample (a
//! sparkline from the model's per-object rates) and the kernel's histogram of wait times
//! with its percentiles, which are bucket bounds (the kernel counts in log2 µs buckets).
use ratatui::text::{Line, Span};

use super::{dur_ns, num, spark, Cx};
use crate::model::{
    account::{hist_bounds_us, RATES_KEPT},
    ObjKind, Tally,
};

/// A bucket bound in µs, short: "16µs", "1.0ms", "4.2s".
fn us(cx: &Cx, us: u64) -> String {
    let u = if cx.t.unicode { "µs" } else { "us" };
    if us < 1000 {
        format!("{us}{u}")
    } else if us < 1_000_000 {
        format!("{:.1}ms", us as f64 / 1e3)
    } else {
        format!("{:.1}s", us as f64 / 1e6)
    }
}

/// A bucket as a range: "8µs-16µs", "<2µs", "≥8.4s".
fn bucket(cx: &Cx, b: usize) -> String {
    match hist_bounds_us(b) {
        (0, Some(hi)) => format!("<{}", us(cx, hi)),
        (lo, Some(hi)) => format!("{}-{}", us(cx, lo), us(cx, hi)),
        (lo, None) => format!("{}{}", cx.t.at_least(), us(cx, lo)),
    }
}

/// Where a percentile falls: "<16µs", or "≥8.4s" in the last bucket.
fn below(cx: &Cx, b: usize) -> String {
    match hist_bounds_us(b) {
        (_, Some(hi)) => format!("<{}", us(cx, hi)),
        (lo, None) => format!("{}{}", cx.t.at_least(), us(cx, lo)),
    }
}

/// The calls per second of an object at its last samples, as a sparkline.
pub fn rate_line(cx: &Cx, kind: ObjKind, id: i32, width: usize) -> Option<Line<'static>> {
    let r: Vec<f32> = cx.s.model.object_rates(kind, id).collect();
    if r.len() < 2 {
        return None;
    }
    let label = format!(
        "calls/s, last {} samples (max {}) ",
        r.len(),
        num(r.iter().copied().fold(0.0, f32::max).into())
    );
    let room = width.saturating_sub(label.len()).min(RATES_KEPT);
    let shown: Vec<u32> = r[r.len().saturating_sub(room)..]
        .iter()
        .map(|&x| x.round() as u32)
        .collect();
    Some(Line::from(vec![
        Span::raw(label),
        Span::styled(spark(&cx.t, &shown), cx.t.good()),
    ]))
}

/// The wait-time histogram of an object's (or process's) blocking calls, with p50, p95,
/// p99 (bucket bounds) and the exact maximum. Nothing when no call blocked.
pub fn wait_lines(cx: &Cx, a: &Tally, width: usize) -> Vec<Line<'static>> {
    let Some(p50) = a.wait_quantile(0.5) else {
        return Vec::new();
    };
    let q = |x| a.wait_quantile(x).map_or("-".into(), |b| below(cx, b));
    let mut v = vec![
        Line::styled(
            "Time in blocking calls (kernel histogram; percentiles are bucket bounds)",
            cx.t.title(),
        ),
        Line::from(format!(
            "  p50 {}  p95 {}  p99 {}  max {}",
            below(cx, p50),
            q(0.95),
            q(0.99),
            dur_ns(a.max_wait_ns)
        )),
    ];
    // The buckets that hold calls (empty ones left out: the ranges say where the gaps are).
    let most = a.hist.iter().copied().max().unwrap_or(1).max(1);
    let used: Vec<(usize, String)> = (0..a.hist.len())
        .filter(|&b| a.hist[b] > 0)
        .map(|b| (b, bucket(cx, b)))
        .collect();
    let lw = used
        .iter()
        .map(|(_, l)| l.chars().count())
        .max()
        .unwrap_or(0);
    let bar_w = width.saturating_sub(lw + 14).clamp(4, 40);
    let full = if cx.t.unicode { "█" } else { "#" };
    for (b, label) in used {
        let c = a.hist[b];
        let n = ((c as f64 / most as f64 * bar_w as f64).round() as usize).clamp(1, bar_w);
        v.push(Line::from(vec![
            Span::raw(format!("  {label:>lw$} ")),
            Span::styled(format!("{:<bar_w$}", full.repeat(n)), cx.t.warn()),
            Span::raw(format!(" {}", num(c as f64))),
        ]));
    }
    v
}
