//! `ipctop serve`: the model as Prometheus metrics.
//!
//! ```text
//! LiveSource ─▶ feed thread: Model::apply ─▶ every interval: analysis ─▶ collect (the one
//!               reader of the model) ─▶ Host ─▶ cap ─▶ render (objects kept, written again
//!               only when they change) ─▶ Latest (an Arc swap)
//! HTTP (hyper; server.rs: listeners, TLS, per-client limits) ─▶ GET /metrics ─▶ Latest ─▶
//!               the body of each format and encoding, written once per exposition
//! ```
//!
//! Three threads, so that none waits on another: the probe's runtime (the live source), the
//! feed (owns the model, prepares expositions: [`run_feed`]) and the HTTP side
//! ([`server::serve`]). Scrapes only take the latest prepared [`render::Exposition`], so a
//! scrape never blocks the probe's reader nor walks /proc.
pub mod auth;
pub mod cap;
pub mod collect;
pub mod encode;
pub mod families;
pub mod http;
pub mod metrics;
#[cfg(test)]
mod ns_tests;
pub mod peer;
pub mod posix;
pub mod render;
pub mod selfstats;
pub mod server;
pub mod webconfig;

use std::{
    sync::{Arc, RwLock},
    time::Duration,
};

use crate::{
    analysis,
    event::clock_ns,
    feed::{self, ProbeStatus, Source, Update},
    live::LiveSource,
    model::Model,
};
pub use render::Exposition;

/// The latest exposition, shared by the feed task (writer) and the HTTP side (readers).
#[derive(Clone, Debug, Default)]
pub struct Latest(Arc<RwLock<Arc<Exposition>>>);

impl Latest {
    pub fn get(&self) -> Arc<Exposition> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, e: Exposition) {
        let old = std::mem::replace(
            &mut *self.0.write().unwrap_or_else(|e| e.into_inner()),
            Arc::new(e),
        );
        // The old one's bodies are freed here (or by the last response that holds them).
        drop(old);
    }
}

/// How the feed task prepares expositions.
#[derive(Clone, Debug)]
pub struct Options {
    /// A new exposition this often.
    pub interval: Duration,
    pub max_objects: usize,
    pub max_comms: usize,
    pub analysis: analysis::Config,
    /// The namespaces exported (`--ipc-ns`, `--container`; all by default).
    pub scope: crate::model::Scope,
}

/// A batch of events is left out once it has waited half an interval, and at least this
/// long, to be applied: the model is falling behind the probe (see [`run_feed`]).
pub const BEHIND_AT_LEAST: Duration = Duration::from_secs(2);

/// The exporter's state: the model, the caps on series, what is kept between expositions.
pub struct Exporter {
    pub model: Model,
    cap: cap::Cap,
    cfg: analysis::Config,
    probe_attached: bool,
    probe: collect::ProbeHealth,
    renderer: render::Renderer,
    build: families::Build,
    http: Arc<http::HttpStats>,
    /// How long a batch of events may wait before it is left out.
    behind_ns: u64,
    /// Events left out because the feed was behind.
    shed: u64,
}

impl Exporter {
    pub fn new(opts: &Options, probe: &ProbeStatus, http: Arc<http::HttpStats>) -> Self {
        let mut model = Model::new();
        model.set_scope(opts.scope.clone());
        Self {
            model,
            cap: cap::Cap::new(opts.max_objects, opts.max_comms),
            cfg: opts.analysis.clone(),
            probe_attached: matches!(probe, ProbeStatus::Attached(_)),
            probe: collect::ProbeHealth::default(),
            renderer: render::Renderer::default(),
            build: families::Build::here(),
            http,
            behind_ns: (opts.interval / 2).max(BEHIND_AT_LEAST).as_nanos() as u64,
            shed: 0,
        }
    }

    /// One update into the model (and the probe's word on its tables). `now_mono_ns`: the
    /// time now; a batch of events that waited longer than `Exporter::behind` to be
    /// applied is left out and counted (`Exporter::shed`), so that the feed catches up.
    pub fn apply(&mut self, s: feed::Stamped, now_mono_ns: u64) {
        match &s.update {
            Update::Kernel(k) => self.probe = collect::ProbeHealth::of(k),
            Update::Events(evs) if now_mono_ns.saturating_sub(s.mono_ns) > self.behind_ns => {
                self.shed += evs.len() as u64;
                return;
            }
            _ => {}
        }
        self.model.apply(&s);
    }

    /// An exposition of the model as it is now.
    pub fn prepare(&mut self) -> Exposition {
        let findings = analysis::analyze(&self.model, &self.cfg);
        let mut host =
            collect::collect_counts(&self.model, &findings, self.probe_attached, &self.probe);
        let cut = self.cap.apply(&mut host);
        // Histograms and errnos only for the objects that keep series of their own.
        collect::details(&self.model, &mut host.objects);
        let mut me = selfstats::read();
        self.http.fill(&mut me);
        let head = families::head_families(&host, &self.build, self.shed);
        let tail = families::tail_families(&host, &cut, &me);
        let objects = self.renderer.objects(std::mem::take(&mut host.objects));
        Exposition::new(head, objects, tail)
    }

    /// Objects written anew by the last [`Exporter::prepare`] (the rest were kept).
    pub fn rendered(&self) -> usize {
        self.renderer.rendered
    }
}

/// The feed: applies every update of `source`, and publishes a new exposition every
/// interval (with what came in, and ipctop's own figures, which always move), until `stop`
/// fires or the source ends (then the source is dropped: the probe detaches). The clock is
/// looked at before each update, so that a flood of events never holds back an exposition;
/// and events that come faster than the model takes them are left out once they are half an
/// interval late (at least [`BEHIND_AT_LEAST`]; counted in `ipctop_events_shed_total`: their
/// calls stay counted, by the kernel), so that the kernel's counts that follow them in the
/// stream are not held back behind them.
///
/// It runs on a thread of its own (`serve` gives it one, with its own runtime): the probe's
/// side does synchronous work on its runtime's workers (reading the kernel's tables,
/// scanning the calls in progress), and on a shared runtime under load that held the feed
/// back for tens of seconds, the exposition (kernel counts included) unchanged meanwhile.
pub async fn run_feed(
    mut source: LiveSource,
    latest: Latest,
    opts: Options,
    http: Arc<http::HttpStats>,
    mut stop: tokio::sync::oneshot::Receiver<()>,
) {
    let mut ex = Exporter::new(&opts, &source.probe_status(), http);
    // The first snapshot is already queued: publish as soon as it is in.
    if let Some(s) = source.next().await {
        ex.apply(s, clock_ns(libc::CLOCK_MONOTONIC));
    }
    latest.set(ex.prepare());
    let next = tokio::time::sleep(opts.interval);
    tokio::pin!(next);
    loop {
        tokio::select! {
            // The clock first: however fast updates come, an exposition is never late.
            biased;
            _ = &mut stop => return,
            _ = &mut next => {
                latest.set(ex.prepare());
                give_back_memory();
                next.as_mut().reset(tokio::time::Instant::now() + opts.interval);
            }
            s = source.next() => match s {
                Some(s) => ex.apply(s, clock_ns(libc::CLOCK_MONOTONIC)),
                None => return,
            },
        }
    }
}

/// Hands the heap's free memory back to the system once an interval (glibc keeps what a
/// burst freed — a hundred clients' buffers, a large exposition — in its arenas otherwise:
/// a daemon's RSS would stay at its peak).
fn give_back_memory() {
    crate::memory::give_back();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fixtures::{self, MONO, NOW, ROOT, S};

    #[test]
    fn events_too_late_to_apply_are_left_out_and_counted() {
        let opts = Options {
            interval: Duration::from_secs(5),
            max_objects: 10,
            max_comms: 10,
            analysis: Default::default(),
            scope: Default::default(),
        };
        let mut ex = Exporter::new(&opts, &ProbeStatus::Replay, Arc::default());
        let mut snap = fixtures::snapshot(MONO, 1 << 20, None);
        snap.processes
            .push(fixtures::process(100, "worker", None, NOW - 60));
        ex.apply(
            feed::Stamped {
                mono_ns: MONO,
                update: Update::Snapshot(Box::new(snap)),
            },
            MONO,
        );
        let refused = |t: u64| {
            fixtures::ev(
                100,
                "worker",
                ROOT,
                t,
                Some(t + 1000),
                fixtures::semop(7, 0, -1),
                Some(-11),
            )
        };
        let events = |t: u64, n: usize| feed::Stamped {
            mono_ns: t,
            update: Update::Events((0..n).map(|_| refused(t)).collect()),
        };
        // Applied within half an interval: counted in the model.
        ex.apply(events(MONO + S, 3), MONO + S + 2 * S);
        assert_eq!(ex.model.counts().1, 3);
        // Applied 3 s after they came (the feed behind): left out, said.
        ex.apply(events(MONO + 2 * S, 5), MONO + 5 * S + S / 10);
        assert_eq!(ex.model.counts().1, 3);
        assert_eq!(ex.shed, 5);
        let text = String::from_utf8(
            ex.prepare()
                .body(encode::Format::Text, encode::Encoding::Identity)
                .to_vec(),
        )
        .unwrap();
        assert!(
            !text.contains("ipctop_events_shed_total"),
            "only with the probe's counters"
        );
    }

    #[test]
    fn latest_gives_the_last_exposition_set() {
        let l = Latest::default();
        assert_eq!(l.get().objects(), 0);
        let mut r = render::Renderer::default();
        let objs = r.objects(vec![metrics::ObjectStats::new(1, metrics::Kind::Sem, 3)]);
        l.set(Exposition::new(Vec::new(), objs, Vec::new()));
        assert_eq!(l.get().objects(), 1);
    }
}
