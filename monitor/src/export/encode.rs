//! The two text formats — Prometheus text 0.0.4 and OpenMetrics 1.0 — and gzip, and which
//! ones a scraper gets (its `Accept` and `Accept-Encoding` headers).
//!
//! Our samples are written the same way in both formats (counters as `name_total`, infos as
//! `name_info`, histograms as `_bucket`/`_sum`/`_count`); only the metadata differs: an
//! OpenMetrics family is named without `_total`/`_info` and its exposition ends with
//! `# EOF`. So a sample is written once and serves both.
use std::fmt::Write as _;

use super::{
    families::{Sample, Spec, Type, Value},
    metrics::WaitHistogram,
};

/// An exposition format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4`: what `promtool check metrics`, older scrapers and curl get.
    Text,
    /// `application/openmetrics-text; version=1.0.0`.
    OpenMetrics,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Text => "text/plain; version=0.0.4; charset=utf-8",
            Format::OpenMetrics => "application/openmetrics-text; version=1.0.0; charset=utf-8",
        }
    }

    /// The format an `Accept` header prefers (by q-value, then order); the text format when
    /// it names neither (or is absent).
    pub fn negotiate(accept: Option<&str>) -> Format {
        let mut best: Option<(f64, Format)> = None;
        for (media, q, version) in media_ranges(accept.unwrap_or("")) {
            let f = match (media.as_str(), version.as_deref()) {
                ("application/openmetrics-text", None | Some("1.0.0" | "0.0.1")) => {
                    Format::OpenMetrics
                }
                ("text/plain", None | Some("0.0.4")) | ("*/*", _) => Format::Text,
                _ => continue,
            };
            if q > 0.0 && best.is_none_or(|(bq, _)| q > bq) {
                best = Some((q, f));
            }
        }
        best.map_or(Format::Text, |(_, f)| f)
    }
}

/// A content encoding of the response body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Encoding {
    Identity,
    Gzip,
}

impl Encoding {
    /// gzip when `Accept-Encoding` takes it (`gzip` or `*` with a q-value above 0, and not
    /// refused by a later `gzip;q=0`), else the body as it is.
    pub fn negotiate(accept_encoding: Option<&str>) -> Encoding {
        let mut gzip: Option<f64> = None;
        let mut star: Option<f64> = None;
        for (coding, q, _) in media_ranges(accept_encoding.unwrap_or("")) {
            match coding.as_str() {
                "gzip" | "x-gzip" => gzip = Some(q),
                "*" => star = Some(q),
                _ => {}
            }
        }
        match gzip.or(star) {
            Some(q) if q > 0.0 => Encoding::Gzip,
            _ => Encoding::Identity,
        }
    }
}

/// The comma-separated ranges of an `Accept`-like header: (lower-case value, q, version).
fn media_ranges(header: &str) -> impl Iterator<Item = (String, f64, Option<String>)> + '_ {
    header.split(',').filter_map(|range| {
        let mut parts = range.split(';').map(str::trim);
        let media = parts.next()?.to_ascii_lowercase();
        if media.is_empty() {
            return None;
        }
        let mut q = 1.0;
        let mut version = None;
        for p in parts {
            if let Some((k, v)) = p.split_once('=') {
                match k.trim().to_ascii_lowercase().as_str() {
                    "q" => q = v.trim().parse().unwrap_or(0.0),
                    "version" => version = Some(v.trim().to_string()),
                    _ => {}
                }
            }
        }
        Some((media, q, version))
    })
}

/// `# HELP` and `# TYPE` of a family in `format`.
pub fn write_header(out: &mut String, spec: &Spec, format: Format) {
    let (name, ty) = match format {
        Format::OpenMetrics => (spec.base_name(), spec.ty.as_str()),
        // 0.0.4 has no info type: a gauge of value 1, named with its `_info`.
        Format::Text if spec.ty == Type::Info => (spec.name, "gauge"),
        Format::Text => (spec.name, spec.ty.as_str()),
    };
    let _ = writeln!(out, "# HELP {name} {}", spec.help);
    let _ = writeln!(out, "# TYPE {name} {ty}");
}

/// A label value, escaped for both formats (backslash, double quote, newline).
pub fn push_label_value(out: &mut String, v: &str) {
    for c in v.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '"' => out.push_str("\\\""),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
}

/// `k1="v1",k2="v2"` (no braces).
pub fn push_labels<'a>(out: &mut String, labels: impl IntoIterator<Item = (&'a str, &'a str)>) {
    for (i, (k, v)) in labels.into_iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(k);
        out.push_str("=\"");
        push_label_value(out, v);
        out.push('"');
    }
}

/// A float as both formats read it: `+Inf`, `-Inf`, `NaN`, else the shortest decimal that
/// reads back as the same number.
pub fn push_f64(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// One line: `name{labels} value`. `labels` is already written (`k="v",…`, may be empty).
fn push_line(
    out: &mut String,
    name: &str,
    suffix: &str,
    labels: &str,
    value: impl FnOnce(&mut String),
) {
    out.push_str(name);
    out.push_str(suffix);
    if !labels.is_empty() {
        out.push('{');
        out.push_str(labels);
        out.push('}');
    }
    out.push(' ');
    value(out);
    out.push('\n');
}

/// A histogram's lines: cumulative `_bucket`s (`le` last), `_sum`, `_count`.
pub fn push_histogram(out: &mut String, name: &str, labels: &str, h: &WaitHistogram) {
    let mut cumulative = 0;
    let mut le = String::with_capacity(labels.len() + 24);
    for &(bound, n) in &h.buckets {
        cumulative += n;
        le.clear();
        le.push_str(labels);
        if !labels.is_empty() {
            le.push(',');
        }
        le.push_str("le=\"");
        push_f64(&mut le, bound);
        le.push('"');
        push_line(out, name, "_bucket", &le, |o| {
            let _ = write!(o, "{cumulative}");
        });
    }
    push_line(out, name, "_sum", labels, |o| push_f64(o, h.sum_s));
    push_line(out, name, "_count", labels, |o| {
        let _ = write!(o, "{}", h.count);
    });
}

/// One sample of `spec` with its labels already written.
pub fn push_sample(out: &mut String, spec: &Spec, labels: &str, value: &Value) {
    match value {
        Value::Int(v) => push_line(out, spec.name, "", labels, |o| {
            let _ = write!(o, "{v}");
        }),
        Value::Float(v) => push_line(out, spec.name, "", labels, |o| push_f64(o, *v)),
        Value::Info => push_line(out, spec.name, "", labels, |o| o.push('1')),
        Value::Histogram(h) => push_histogram(out, spec.name, labels, h),
    }
}

/// The samples of one family.
pub fn push_samples(out: &mut String, spec: &Spec, samples: &[Sample]) {
    let mut labels = String::new();
    for s in samples {
        labels.clear();
        push_labels(&mut labels, s.labels.iter().map(|(k, v)| (*k, v.as_str())));
        push_sample(out, spec, &labels, &s.value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::families::{BUILD_INFO, CALLS, OBJECT_WAIT};

    const PROMETHEUS_2_42: &str = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1";

    #[test]
    fn accept_headers_choose_the_format() {
        assert_eq!(Format::negotiate(None), Format::Text);
        assert_eq!(Format::negotiate(Some("*/*")), Format::Text);
        assert_eq!(
            Format::negotiate(Some(PROMETHEUS_2_42)),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::negotiate(Some(
                "text/plain;version=0.0.4;q=0.9,application/openmetrics-text;q=0.5"
            )),
            Format::Text
        );
        assert_eq!(
            Format::negotiate(Some(
                "application/openmetrics-text; version=2.0.0, */*;q=0.1"
            )),
            Format::Text,
            "an OpenMetrics version we do not write is not chosen"
        );
        assert_eq!(
            Format::negotiate(Some("application/json")),
            Format::Text,
            "nothing we know: the text format"
        );
    }

    #[test]
    fn accept_encoding_chooses_gzip_only_when_taken() {
        assert_eq!(Encoding::negotiate(None), Encoding::Identity);
        assert_eq!(Encoding::negotiate(Some("gzip")), Encoding::Gzip);
        // What Prometheus sends.
        assert_eq!(Encoding::negotiate(Some("gzip")), Encoding::Gzip);
        assert_eq!(
            Encoding::negotiate(Some("deflate, gzip;q=1.0, *;q=0.5")),
            Encoding::Gzip
        );
        assert_eq!(Encoding::negotiate(Some("GZIP; q=0.3")), Encoding::Gzip);
        assert_eq!(Encoding::negotiate(Some("gzip;q=0")), Encoding::Identity);
        assert_eq!(Encoding::negotiate(Some("*")), Encoding::Gzip);
        assert_eq!(
            Encoding::negotiate(Some("*;q=1, gzip;q=0")),
            Encoding::Identity
        );
        assert_eq!(
            Encoding::negotiate(Some("br, identity")),
            Encoding::Identity
        );
    }

    #[test]
    fn headers_differ_by_format_and_samples_do_not() {
        let mut om = String::new();
        write_header(&mut om, &CALLS, Format::OpenMetrics);
        write_header(&mut om, &BUILD_INFO, Format::OpenMetrics);
        assert!(om.contains("# TYPE ipctop_calls counter\n"), "{om}");
        assert!(om.contains("# TYPE ipctop_build info\n"), "{om}");
        let mut text = String::new();
        write_header(&mut text, &CALLS, Format::Text);
        write_header(&mut text, &BUILD_INFO, Format::Text);
        assert!(
            text.contains("# TYPE ipctop_calls_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ipctop_build_info gauge\n"), "{text}");
        let mut s = String::new();
        push_samples(
            &mut s,
            &BUILD_INFO,
            &[Sample {
                labels: vec![("version", "0.1.0".into())],
                value: Value::Info,
            }],
        );
        assert_eq!(s, "ipctop_build_info{version=\"0.1.0\"} 1\n");
    }

    #[test]
    fn label_values_and_floats_are_escaped_and_written_exactly() {
        let mut s = String::new();
        push_labels(&mut s, [("comm", "a\"b\\c\nd")]);
        assert_eq!(s, r#"comm="a\"b\\c\nd""#);
        for (v, want) in [
            (f64::INFINITY, "+Inf"),
            (f64::NEG_INFINITY, "-Inf"),
            (f64::NAN, "NaN"),
            (2048e-9, "0.000002048"),
            (1.5, "1.5"),
            (0.0, "0"),
        ] {
            let mut s = String::new();
            push_f64(&mut s, v);
            assert_eq!(s, want);
        }
    }

    #[test]
    fn histograms_are_cumulative_with_le_last() {
        let mut s = String::new();
        let h = WaitHistogram {
            buckets: vec![(2048e-9, 3), (4096e-9, 0), (f64::INFINITY, 1)],
            sum_s: 2.5,
            count: 4,
        };
        push_sample(
            &mut s,
            &OBJECT_WAIT,
            "ipc_ns=\"1\",kind=\"sem\",id=\"7\"",
            &Value::Histogram(h),
        );
        assert_eq!(
            s,
            "ipctop_object_wait_seconds_bucket{ipc_ns=\"1\",kind=\"sem\",id=\"7\",le=\"0.000002048\"} 3\n\
             ipctop_object_wait_seconds_bucket{ipc_ns=\"1\",kind=\"sem\",id=\"7\",le=\"0.000004096\"} 3\n\
             ipctop_object_wait_seconds_bucket{ipc_ns=\"1\",kind=\"sem\",id=\"7\",le=\"+Inf\"} 4\n\
             ipctop_object_wait_seconds_sum{ipc_ns=\"1\",kind=\"sem\",id=\"7\"} 2.5\n\
             ipctop_object_wait_seconds_count{ipc_ns=\"1\",kind=\"sem\",id=\"7\"} 4\n"
        );
    }
}
