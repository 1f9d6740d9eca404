//! The exposition, built incrementally: each object's samples are written once and kept
//! ([`Renderer`]), and written again only when its figures change, so that with thousands
//! of objects, most of them idle, a new exposition costs a comparison per object, not a
//! rendering of every series. An [`Exposition`] shares those rendered objects and writes the
//! body of a format (and its gzip) once, when a scraper first asks for it.
use std::{
    collections::HashMap,
    io::Write as _,
    sync::{Arc, OnceLock},
};

use flate2::{write::GzEncoder, Compression};
use hyper::body::Bytes;

use super::{
    encode::{self, Encoding, Format},
    families::{Family, Spec, Value, OBJECT_SPECS},
    metrics::{Kind, ObjKey, ObjectStats, WaitHistogram},
};

/// One object's samples of every per-object family ([`OBJECT_SPECS`]), written from its
/// figures: one string, family after family (`ends[i]`: where family `i`'s samples end),
/// so that thousands of objects kept between expositions cost one allocation each.
#[derive(Debug)]
pub struct RenderedObject {
    stats: ObjectStats,
    text: Box<str>,
    ends: [u32; OBJECT_SPECS.len()],
}

impl RenderedObject {
    fn new(o: ObjectStats) -> Self {
        let mut obj = String::new();
        encode::push_labels(
            &mut obj,
            [
                ("ipc_ns", o.ns.to_string().as_str()),
                ("kind", o.kind.as_str()),
                ("id", o.id.to_string().as_str()),
            ],
        );
        let mut short = String::new();
        encode::push_labels(
            &mut short,
            [
                ("ipc_ns", o.ns.to_string().as_str()),
                ("id", o.id.to_string().as_str()),
            ],
        );
        let mut part = String::new();
        let mut ends = [0u32; OBJECT_SPECS.len()];
        let mut labels = String::new();
        for (spec, end) in OBJECT_SPECS.iter().zip(ends.iter_mut()) {
            let one = |part: &mut String, labels: &str, v: u64| {
                encode::push_sample(part, spec, labels, &Value::Int(v))
            };
            let opt = |part: &mut String, v: Option<u64>| {
                if let Some(v) = v {
                    one(part, &short, v);
                }
            };
            let part = &mut part;
            match spec.name {
                "ipctop_object_calls_total" => {
                    for c in &o.calls {
                        labels.clone_from(&obj);
                        labels.push(',');
                        encode::push_labels(&mut labels, [("syscall", c.syscall)]);
                        one(part, &labels, c.calls);
                    }
                }
                "ipctop_object_errors_total" => {
                    for (syscall, errno, n) in &o.errors_by_errno {
                        labels.clone_from(&obj);
                        labels.push(',');
                        encode::push_labels(
                            &mut labels,
                            [("syscall", *syscall), ("errno", errno.as_str())],
                        );
                        one(part, &labels, *n);
                    }
                }
                "ipctop_object_wait_seconds" => {
                    if let Some(h) = &o.wait {
                        encode::push_histogram(part, spec.name, &obj, &trimmed(h));
                    }
                }
                "ipctop_object_waiters" if o.kind != Kind::Shm => one(part, &obj, o.waiters),
                "ipctop_object_waiting_processes" if o.kind != Kind::Shm => {
                    one(part, &obj, o.waiting_processes)
                }
                "ipctop_object_leaked" if o.leaked => one(part, &obj, 1),
                "ipctop_object_deadlocked" if o.deadlocked => one(part, &obj, 1),
                "ipctop_shm_size_bytes" => opt(part, o.size_bytes),
                "ipctop_shm_attachments" => opt(part, o.attachments),
                "ipctop_shm_attached_processes" => opt(part, o.attached_processes),
                "ipctop_queue_bytes" => opt(part, o.queue_bytes),
                "ipctop_queue_messages" => opt(part, o.queue_messages),
                _ => {}
            }
            *end = part.len() as u32;
        }
        Self {
            stats: o,
            text: part.into_boxed_str(),
            ends,
        }
    }

    /// Family `i`'s samples ([`OBJECT_SPECS`]`[i]`).
    fn part(&self, i: usize) -> &str {
        let start = i.checked_sub(1).map_or(0, |j| self.ends[j]);
        &self.text[start as usize..self.ends[i] as usize]
    }
}

/// A histogram with the buckets that tell nothing left out: of the kernel's 24, those from
/// just below the shortest call seen (a zero, so that quantiles in the first bucket
/// interpolate from its true lower bound) to the longest, and +Inf. The ones below hold 0
/// and the ones above hold the count, which `+Inf` says. The range only widens as calls
/// come (the counts are cumulative), so a bucket's series, once there, stays.
pub fn trimmed(h: &WaitHistogram) -> WaitHistogram {
    let last = h.buckets.len().saturating_sub(1);
    let first_used = h.buckets.iter().position(|b| b.1 > 0).unwrap_or(last);
    let last_used = h.buckets.iter().rposition(|b| b.1 > 0).unwrap_or(last);
    let from = first_used.saturating_sub(1);
    let mut buckets: Vec<(f64, u64)> = h.buckets[from..=last_used.min(last)].to_vec();
    if last_used < last {
        buckets.push((h.buckets[last].0, 0));
    }
    WaitHistogram {
        buckets,
        sum_s: h.sum_s,
        count: h.count,
    }
}

/// The objects' rendered samples, kept from one exposition to the next.
#[derive(Debug, Default)]
pub struct Renderer {
    cache: HashMap<ObjKey, Arc<RenderedObject>>,
    /// Objects written anew by the last [`Renderer::objects`].
    pub rendered: usize,
}

impl Renderer {
    /// The rendered samples of `objects` (in their order): kept ones where the figures are
    /// the same as last time, new ones where they changed. Objects not given are forgotten.
    pub fn objects(&mut self, objects: Vec<ObjectStats>) -> Vec<Arc<RenderedObject>> {
        let mut next = HashMap::with_capacity(objects.len());
        let mut out = Vec::with_capacity(objects.len());
        self.rendered = 0;
        for o in objects {
            let key = o.key();
            let r = match self.cache.remove(&key) {
                Some(r) if r.stats == o => r,
                _ => {
                    self.rendered += 1;
                    Arc::new(RenderedObject::new(o))
                }
            };
            next.insert(key, r.clone());
            out.push(r);
        }
        self.cache = next;
        out
    }
}

/// One family's samples, written.
#[derive(Debug)]
struct Written {
    spec: &'static Spec,
    samples: String,
}

fn written(families: Vec<Family>) -> Vec<Written> {
    families
        .into_iter()
        .map(|f| {
            let mut samples = String::new();
            encode::push_samples(&mut samples, f.spec, &f.samples);
            Written {
                spec: f.spec,
                samples,
            }
        })
        .collect()
}

/// One exposition: the families before the objects, the objects, the families after; each
/// (format, encoding) body made once, when first asked for.
#[derive(Debug, Default)]
pub struct Exposition {
    head: Vec<Written>,
    objects: Vec<Arc<RenderedObject>>,
    tail: Vec<Written>,
    bodies: [OnceLock<Bytes>; 4],
}

impl Exposition {
    pub fn new(head: Vec<Family>, objects: Vec<Arc<RenderedObject>>, tail: Vec<Family>) -> Self {
        Self {
            head: written(head),
            objects,
            tail: written(tail),
            bodies: Default::default(),
        }
    }

    /// An exposition of these families alone (no objects).
    pub fn of_families(families: Vec<Family>) -> Self {
        Self::new(families, Vec::new(), Vec::new())
    }

    /// The body in `format` and `encoding`.
    pub fn body(&self, format: Format, encoding: Encoding) -> Bytes {
        let i =
            (format == Format::OpenMetrics) as usize * 2 + (encoding == Encoding::Gzip) as usize;
        self.bodies[i]
            .get_or_init(|| match encoding {
                Encoding::Identity => {
                    let mut v = Vec::with_capacity(self.len_hint());
                    self.write(format, |b| v.extend_from_slice(b));
                    Bytes::from(v)
                }
                Encoding::Gzip => {
                    let mut gz = GzEncoder::new(
                        Vec::with_capacity(self.len_hint() / 8),
                        Compression::fast(),
                    );
                    // Writing to a Vec cannot fail.
                    self.write(format, |b| {
                        let _ = gz.write_all(b);
                    });
                    Bytes::from(gz.finish().unwrap_or_default())
                }
            })
            .clone()
    }

    /// About the size of a plain body.
    fn len_hint(&self) -> usize {
        let fams = |w: &[Written]| w.iter().map(|f| f.samples.len() + 200).sum::<usize>();
        let objs: usize = self.objects.iter().map(|o| o.text.len()).sum();
        fams(&self.head) + objs + fams(&self.tail) + OBJECT_SPECS.len() * 200 + 16
    }

    /// Writes the exposition in `format`, piece by piece.
    fn write(&self, format: Format, mut out: impl FnMut(&[u8])) {
        let mut header = String::new();
        let mut family = |spec: &Spec, out: &mut dyn FnMut(&[u8])| {
            header.clear();
            encode::write_header(&mut header, spec, format);
            out(header.as_bytes());
        };
        for w in &self.head {
            family(w.spec, &mut out);
            out(w.samples.as_bytes());
        }
        for (i, spec) in OBJECT_SPECS.iter().enumerate() {
            if self.objects.iter().all(|o| o.part(i).is_empty()) {
                continue;
            }
            family(spec, &mut out);
            for o in &self.objects {
                out(o.part(i).as_bytes());
            }
        }
        for w in &self.tail {
            family(w.spec, &mut out);
            out(w.samples.as_bytes());
        }
        if format == Format::OpenMetrics {
            out(b"# EOF\n");
        }
    }

    /// The number of objects with series of their own.
    pub fn objects(&self) -> usize {
        self.objects.len()
    }
}

/// The families of a host alone, for tests: as [`Exposition::new`] would write them.
pub fn text_of(families: Vec<Family>, format: Format) -> String {
    let e = Exposition::of_families(families);
    String::from_utf8(e.body(format, Encoding::Identity).to_vec()).expect("UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::export::{
        families::{Sample, BUILD_INFO},
        metrics::{SyscallCount, WaitHistogram},
    };
    use std::io::Read as _;

    fn obj(id: i32, calls: u64) -> ObjectStats {
        let mut o = ObjectStats::new(4026531839, Kind::Sem, id);
        o.calls.push(SyscallCount {
            syscall: "semop",
            calls,
            errors: 0,
        });
        o.wait = Some(WaitHistogram {
            buckets: vec![(2048e-9, calls), (f64::INFINITY, 0)],
            sum_s: 0.001,
            count: calls,
        });
        o.waiters = 3;
        o.waiting_processes = 1;
        o
    }

    fn info() -> Vec<Family> {
        vec![Family {
            spec: &BUILD_INFO,
            samples: vec![Sample {
                labels: vec![("version", "0.1.0".into())],
                value: Value::Info,
            }],
        }]
    }

    #[test]
    fn only_changed_objects_are_written_again_and_bodies_agree() {
        let mut r = Renderer::default();
        let first = r.objects(vec![obj(1, 10), obj(2, 20)]);
        assert_eq!(r.rendered, 2);
        let second = r.objects(vec![obj(1, 10), obj(2, 21), obj(3, 0)]);
        assert_eq!(r.rendered, 2, "object 2 changed, object 3 is new");
        assert!(Arc::ptr_eq(&first[0], &second[0]), "object 1 is kept");
        let e = Exposition::new(info(), second, Vec::new());
        let text = String::from_utf8(e.body(Format::Text, Encoding::Identity).to_vec()).unwrap();
        let om =
            String::from_utf8(e.body(Format::OpenMetrics, Encoding::Identity).to_vec()).unwrap();
        assert!(
            text.contains("# TYPE ipctop_object_calls_total counter\n"),
            "{text}"
        );
        assert!(om.contains("# TYPE ipctop_object_calls counter\n"), "{om}");
        assert!(om.ends_with("# EOF\n") && !text.contains("# EOF"));
        for t in [&text, &om] {
            assert!(t.contains(
                "ipctop_object_calls_total{ipc_ns=\"4026531839\",kind=\"sem\",id=\"2\",syscall=\"semop\"} 21\n"
            ));
            assert!(t.contains(
                "ipctop_object_waiters{ipc_ns=\"4026531839\",kind=\"sem\",id=\"3\"} 3\n"
            ));
            // One header per family, the objects' samples under it.
            assert_eq!(t.matches("# HELP ipctop_object_waiters ").count(), 1);
        }
        // gzip decodes to the same body.
        let gz = e.body(Format::Text, Encoding::Gzip);
        let mut plain = String::new();
        flate2::read::GzDecoder::new(&gz[..])
            .read_to_string(&mut plain)
            .unwrap();
        assert_eq!(plain, text);
        assert!(gz.len() < text.len());
    }

    #[test]
    fn histograms_keep_the_buckets_that_tell_something() {
        let b = |counts: &[u64]| WaitHistogram {
            buckets: counts
                .iter()
                .enumerate()
                .map(|(i, &n)| {
                    let le = if i + 1 == counts.len() {
                        f64::INFINITY
                    } else {
                        i as f64
                    };
                    (le, n)
                })
                .collect(),
            sum_s: 1.0,
            count: counts.iter().sum(),
        };
        let les = |h: WaitHistogram| -> Vec<(f64, u64)> { trimmed(&h).buckets };
        // Calls in buckets 3 and 5: from 2 (a zero) to 5, then +Inf.
        assert_eq!(
            les(b(&[0, 0, 0, 4, 0, 1, 0, 0, 0])),
            [(2.0, 0), (3.0, 4), (4.0, 0), (5.0, 1), (f64::INFINITY, 0)]
        );
        // In the first bucket and the last: every bucket.
        assert_eq!(les(b(&[1, 0, 0, 2])).len(), 4);
        // Only over the last bound: the one below and +Inf.
        assert_eq!(les(b(&[0, 0, 0, 2])), [(2.0, 0), (f64::INFINITY, 2)]);
        // The cumulative counts at the bounds kept are the full histogram's.
        let full = b(&[0, 0, 7, 0, 3, 0]);
        let mut s = String::new();
        crate::export::encode::push_histogram(&mut s, "x", "", &trimmed(&full));
        assert!(s.contains("x_bucket{le=\"1\"} 0\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"4\"} 10\n"), "{s}");
        assert!(s.contains("x_bucket{le=\"+Inf\"} 10\n"), "{s}");
    }

    #[test]
    fn families_without_samples_have_no_header() {
        let mut r = Renderer::default();
        let e = Exposition::new(info(), r.objects(vec![obj(1, 1)]), Vec::new());
        let text = String::from_utf8(e.body(Format::Text, Encoding::Identity).to_vec()).unwrap();
        assert!(!text.contains("ipctop_shm_size_bytes"), "{text}");
        assert!(!text.contains("ipctop_object_leaked"), "{text}");
    }
}
