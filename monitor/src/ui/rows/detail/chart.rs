//! Charts of history for the details and the Overview: an object's or a process's figures
//! at each sample as sparklines (calls/s from the model's per-object rates; threads blocked,
//! waits, threads waiting, a queue's depth, a segment's attachments from `ui::trends`), and
//! the kernel's histogram of wait times with its percentiles, which are bucket bounds (the
//! kernel counts in log2 µs buckets) — never above the exact maximum.
use crate::{
    model::{
        account::{hist_bounds_us, RATES_KEPT},
        ObjId, ObjKind, Tally,
    },
    ui::{
        fmt::{dur_ns, num, size, spark_f},
        rows::{cx::Cx, doc::DocLine},
        theme::Tone,
        trends::{Point, Trend},
    },
};

/// A bucket bound in µs, short: "16µs", "1.0ms", "4.2s".
fn us(cx: &Cx, us: u64) -> String {
    if us < 1000 {
        format!("{us}{}", cx.t.micro())
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

/// Where a percentile falls: "<16µs" (below the bucket's upper bound), "≤1.2ms" when the
/// exact maximum is lower than that bound, "≥8.4s" in the last bucket.
fn below(cx: &Cx, b: usize, max_ns: u64) -> String {
    match hist_bounds_us(b) {
        // The kernel's µs are ns >> 10.
        (_, Some(hi)) if max_ns > 0 && max_ns < hi << 10 => {
            let le = if cx.t.unicode { "≤" } else { "<=" };
            format!("{le}{}", dur_ns(&cx.t, max_ns))
        }
        (_, Some(hi)) => format!("<{}", us(cx, hi)),
        (lo, None) => format!("{}{}", cx.t.at_least(), us(cx, lo)),
    }
}

/// How a figure reads: a count or rate, threads, bytes.
#[derive(Clone, Copy)]
enum Unit {
    Count,
    /// Threads on average over a sample (time blocked per second).
    Threads,
    Bytes,
}

impl Unit {
    fn fmt(self, x: f64) -> String {
        match self {
            Unit::Count => num(x),
            Unit::Threads if x == 0.0 => "0".into(),
            Unit::Threads if x < 10.0 => format!("{x:.2}"),
            Unit::Threads => format!("{x:.0}"),
            Unit::Bytes => size(x as u64),
        }
    }
}

/// A figure over the samples: its label, values (oldest first), unit, and whether it is
/// shown when zero all along.
type Series = (&'static str, Vec<f64>, Unit, bool);

/// A figure of a trend: label, the figure of a point, unit, and whether it is a rate (the
/// first sample of a subject has none).
type Figure = (&'static str, fn(&Point) -> f64, Unit, bool);

/// Figures as lines of one chart, `  calls/s   ▁▂▃▅▇█  now 120  max 300`, the sparklines
/// right-aligned in one column of cells; a figure with fewer than two samples, or zero all
/// along (unless it is always shown), is left out. Above them, what they show.
fn chart(cx: &Cx, series: Vec<Series>, width: usize) -> Vec<DocLine> {
    let series: Vec<Series> = series
        .into_iter()
        .filter(|(_, v, _, always)| v.len() >= 2 && (*always || v.iter().any(|&x| x != 0.0)))
        .collect();
    let longest = series.iter().map(|s| s.1.len()).max().unwrap_or(0);
    let blocked = series.iter().any(|s| s.0 == "blocked");
    // Label 12, "  now X  max Y" up to 28.
    let cells = width
        .saturating_sub(12 + 28)
        .clamp(8, RATES_KEPT)
        .min(longest);
    let mut lines: Vec<DocLine> = series
        .into_iter()
        .map(|(label, v, unit, _)| {
            let max = v.iter().copied().fold(0.0, f64::max);
            let last = v.last().copied().unwrap_or(0.0);
            let shown = &v[v.len().saturating_sub(cells)..];
            DocLine::of(vec![
                (format!("  {label:<10}"), Tone::Plain),
                (format!("{:>cells$}", spark_f(&cx.t, shown)), Tone::Good),
                (
                    format!("  now {}  max {}", unit.fmt(last), unit.fmt(max)),
                    Tone::Plain,
                ),
            ])
        })
        .collect();
    if !lines.is_empty() {
        let what = if blocked {
            "  a cell per sample, newest right; blocked: threads blocked, on average"
        } else {
            "  a cell per sample, newest right"
        };
        lines.insert(0, DocLine::toned(what, Tone::Dim));
    }
    lines
}

/// The figures every trend has: threads blocked, waits, threads waiting.
const WAITS: [Figure; 3] = [
    ("blocked", |p| f64::from(p.blocked_s), Unit::Threads, true),
    ("waits/s", |p| f64::from(p.waits_s), Unit::Count, true),
    ("waiting", |p| f64::from(p.waiting), Unit::Count, false),
];

fn figures(tr: Option<&Trend>, figs: &[Figure]) -> Vec<Series> {
    let Some(tr) = tr else {
        return Vec::new();
    };
    figs.iter()
        .map(|&(label, f, unit, rate)| {
            let v = if rate { tr.rates(f) } else { tr.series(f) };
            (label, v, unit, false)
        })
        .collect()
}

/// An object's figures over the samples: calls/s (the account's), threads blocked, waits
/// and threads waiting per sample, and its depth (a queue's messages and bytes) or
/// attachments.
pub fn object_lines(cx: &Cx, kind: ObjKind, id: ObjId, width: usize) -> Vec<DocLine> {
    let rates: Vec<f64> =
        cx.s.model
            .object_rates_at(kind, id)
            .map(f64::from)
            .collect();
    let levels: &[Figure] = match kind {
        ObjKind::Sem => &[],
        ObjKind::Msg => &[
            ("messages", |p| f64::from(p.level), Unit::Count, false),
            ("bytes", |p| f64::from(p.bytes), Unit::Bytes, false),
        ],
        ObjKind::Shm => &[("attached", |p| f64::from(p.level), Unit::Count, false)],
    };
    let tr = cx.s.trends.object(kind, id);
    let mut series = vec![("calls/s", rates, Unit::Count, true)];
    series.extend(figures(tr, &WAITS));
    series.extend(figures(tr, levels));
    chart(cx, series, width)
}

/// A process's figures over the samples: calls/s, threads blocked, waits, threads waiting.
pub fn process_lines(cx: &Cx, pid: u32, width: usize) -> Vec<DocLine> {
    let tr = cx.s.trends.process(pid);
    let mut series = figures(
        tr,
        &[("calls/s", |p| f64::from(p.calls_s), Unit::Count, true)],
    );
    if let Some(s) = series.first_mut() {
        s.3 = true;
    }
    series.extend(figures(tr, &WAITS));
    chart(cx, series, width)
}

/// The Overview's one line: calls/s and waits/s at each sample (the same samples, the same
/// window: the account's totals between two samples), each with its latest figure, side by
/// side in `width`.
pub fn overview_line(cx: &Cx, width: usize) -> DocLine {
    let total = cx.s.trends.total();
    let half = width / 2;
    let part = |label: &str, v: Vec<f64>, room: usize, tone: Tone| {
        let last = v.last().map_or("-".to_string(), |&x| num(x));
        let label = format!("{label} {last} ");
        let n = room.saturating_sub(label.chars().count() + 1);
        let shown = &v[v.len().saturating_sub(n)..];
        vec![
            (label, Tone::Dim),
            (format!("{:<n$} ", spark_f(&cx.t, shown)), tone),
        ]
    };
    let mut spans = part(
        "calls/s",
        total.rates(|p| f64::from(p.calls_s)),
        half,
        Tone::Good,
    );
    spans.extend(part(
        "waits/s",
        total.rates(|p| f64::from(p.waits_s)),
        width - half,
        Tone::Warn,
    ));
    DocLine::of(spans)
}

/// The wait-time histogram of an object's (or process's) blocking calls, with p50, p95,
/// p99 (bucket bounds, not above the maximum) and the exact maximum. Nothing when no call
/// blocked.
pub fn wait_lines(cx: &Cx, a: &Tally, width: usize) -> Vec<DocLine> {
    let Some(p50) = a.wait_quantile(0.5) else {
        return Vec::new();
    };
    let max = a.max_wait_ns;
    let q = |x| a.wait_quantile(x).map_or("-".into(), |b| below(cx, b, max));
    let mut v = vec![
        DocLine::toned(
            "Time in blocking calls (kernel histogram; percentiles are bucket bounds)",
            Tone::Title,
        ),
        DocLine::plain(format!(
            "  p50 {}  p95 {}  p99 {}  max {}",
            below(cx, p50, max),
            q(0.95),
            q(0.99),
            dur_ns(&cx.t, max)
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
        v.push(DocLine::of(vec![
            (format!("  {label:>lw$} "), Tone::Plain),
            (format!("{:<bar_w$}", full.repeat(n)), Tone::Warn),
            (format!(" {}", num(c as f64)), Tone::Plain),
        ]));
    }
    v
}

#[cfg(test)]
mod tests {
    use super::Unit;

    #[test]
    fn threads_blocked_read_as_threads() {
        assert_eq!(Unit::Threads.fmt(0.0), "0");
        assert_eq!(Unit::Threads.fmt(0.6), "0.60");
        assert_eq!(Unit::Threads.fmt(12.4), "12");
        assert_eq!(Unit::Bytes.fmt(24576.0), "24 KiB");
    }
}
