//! Encoding with prometheus-client (OpenMetrics text), and the classic Prometheus text format
//! (0.0.4) derived from it; which one a scraper gets depends on its `Accept` header.
use std::sync::Arc;

use prometheus_client::{
    collector::Collector,
    encoding::{DescriptorEncoder, MetricEncoder, NoLabelSet},
    metrics::MetricType,
    registry::Registry,
};

use super::families::{Family, Type, Value, SPECS};

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
        for range in accept.unwrap_or("").split(',') {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
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

/// The families as a prometheus-client collector.
#[derive(Debug)]
struct Families(Arc<Vec<Family>>);

fn metric_type(t: Type) -> MetricType {
    match t {
        Type::Counter => MetricType::Counter,
        Type::Gauge => MetricType::Gauge,
        Type::Histogram => MetricType::Histogram,
        Type::Info => MetricType::Info,
    }
}

fn encode_value(e: &mut MetricEncoder, v: &Value, ty: Type) -> Result<(), std::fmt::Error> {
    match (v, ty) {
        (Value::Int(v), Type::Counter) => e.encode_counter::<NoLabelSet, _, u64>(v, None),
        (Value::Float(v), Type::Counter) => e.encode_counter::<NoLabelSet, _, f64>(v, None),
        (Value::Int(v), _) => e.encode_gauge(v),
        (Value::Float(v), _) => e.encode_gauge(v),
        (Value::Histogram(h), _) => {
            e.encode_histogram::<NoLabelSet>(h.sum_s, h.count, &h.buckets, None)
        }
        (Value::Info, _) => Ok(()), // encoded with its labels by the caller
    }
}

impl Collector for Families {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        for f in self.0.iter() {
            let spec = f.spec;
            let mut m = encoder.encode_descriptor(
                spec.base_name(),
                spec.help,
                None,
                metric_type(spec.ty),
            )?;
            for s in &f.samples {
                if let Value::Info = s.value {
                    m.encode_info(&s.labels)?;
                    continue;
                }
                // No labels: no `{}`.
                if s.labels.is_empty() {
                    encode_value(&mut m, &s.value, spec.ty)?;
                } else {
                    encode_value(&mut m.encode_family(&s.labels)?, &s.value, spec.ty)?;
                }
            }
        }
        Ok(())
    }
}

/// Encodes the families in `format`.
pub fn encode(families: Arc<Vec<Family>>, format: Format) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(Families(families)));
    let mut om = String::new();
    prometheus_client::encoding::text::encode(&mut om, &registry)
        .expect("writing to a String cannot fail");
    match format {
        Format::OpenMetrics => om,
        Format::Text => to_text_004(&om),
    }
}

/// OpenMetrics text → Prometheus text 0.0.4: the samples are the same; the metadata names
/// counters and infos by their sample names (`x_total`, `x_info`, an info being a gauge), and
/// `# UNIT` and `# EOF` go.
fn to_text_004(om: &str) -> String {
    let mut out = String::with_capacity(om.len());
    for line in om.lines() {
        if line == "# EOF" || line.starts_with("# UNIT ") {
            continue;
        }
        let meta = ["# HELP ", "# TYPE "]
            .into_iter()
            .find(|p| line.starts_with(p));
        if let Some(prefix) = meta {
            let rest = &line[prefix.len()..];
            let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
            if let Some(spec) = SPECS.iter().find(|s| s.base_name() == name) {
                let tail = if prefix == "# TYPE " && spec.ty == Type::Info {
                    "gauge"
                } else {
                    tail
                };
                out.push_str(prefix);
                out.push_str(spec.name);
                out.push(' ');
                out.push_str(tail);
                out.push('\n');
                continue;
            }
        }
        out.push_str(line);
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{
        families::{Sample, BUILD_INFO, OBJECT_CALLS, OBJECT_WAIT},
        metrics::WaitHistogram,
    };

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

    fn sample_families() -> Arc<Vec<Family>> {
        let labels = vec![
            ("ipc_ns", "4026531839".to_string()),
            ("kind", "sem".to_string()),
            ("id", "7".to_string()),
        ];
        let mut calls = labels.clone();
        calls.push(("syscall", "semop".into()));
        Arc::new(vec![
            Family {
                spec: &BUILD_INFO,
                samples: vec![Sample {
                    labels: vec![("version", "0.1.0".into())],
                    value: Value::Info,
                }],
            },
            Family {
                spec: &OBJECT_CALLS,
                samples: vec![Sample {
                    labels: calls,
                    value: Value::Int(1000),
                }],
            },
            Family {
                spec: &OBJECT_WAIT,
                samples: vec![Sample {
                    labels,
                    value: Value::Histogram(WaitHistogram {
                        buckets: vec![(2e-6, 3), (f64::INFINITY, 1)],
                        sum_s: 2.5,
                        count: 4,
                    }),
                }],
            },
        ])
    }

    #[test]
    fn both_formats_carry_the_same_samples() {
        let om = encode(sample_families(), Format::OpenMetrics);
        let text = encode(sample_families(), Format::Text);
        assert!(om.ends_with("# EOF\n"), "{om}");
        assert!(om.contains("# TYPE ipctop_object_calls counter\n"), "{om}");
        assert!(om.contains("# TYPE ipctop_build info\n"), "{om}");
        assert!(!text.contains("# EOF"), "{text}");
        assert!(
            text.contains("# TYPE ipctop_object_calls_total counter\n"),
            "{text}"
        );
        assert!(text.contains("# TYPE ipctop_build_info gauge\n"), "{text}");
        let sample = "ipctop_object_calls_total{ipc_ns=\"4026531839\",kind=\"sem\",id=\"7\",syscall=\"semop\"} 1000\n";
        assert!(om.contains(sample) && text.contains(sample), "{om}\n{text}");
        for t in [&om, &text] {
            assert!(t.contains("ipctop_object_wait_seconds_bucket{le=\"+Inf\",ipc_ns=\"4026531839\",kind=\"sem\",id=\"7\"} 4\n"), "{t}");
            assert!(t.contains("ipctop_object_wait_seconds_count{ipc_ns=\"4026531839\",kind=\"sem\",id=\"7\"} 4\n"), "{t}");
        }
    }
}
