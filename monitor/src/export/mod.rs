//! `ipctop serve`: the model as Prometheus metrics.
//!
//! ```text
//! LiveSource ─▶ feed task: Model::apply ─▶ every interval: analysis ─▶ collect (the one
//!               reader of the model) ─▶ Host ─▶ cap ─▶ render (objects kept, written again
//!               only when they change) ─▶ Latest (an Arc swap)
//! HTTP (hyper; server.rs: listeners, TLS, per-client limits) ─▶ GET /metrics ─▶ Latest ─▶
//!               the body of each format and encoding, written once per exposition
//! ```
//!
//! The feed task owns the model; scrapes only take the latest prepared
//! [`render::Exposition`], so a scrape never blocks the probe's reader nor walks /proc.
pub mod auth;
pub mod cap;
pub mod collect;
pub mod comms;
pub mod encode;
pub mod families;
pub mod http;
pub mod metrics;
#[cfg(test)]
mod ns_tests;
pub mod peer;
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

/// The exporter's state: the model, the caps on series, what is kept between expositions.
pub struct Exporter {
    pub model: Model,
    cap: cap::Cap,
    cfg: analysis::Config,
    probe_attached: bool,
    carry: comms::CommCarry,
    probe: collect::ProbeHealth,
    renderer: render::Renderer,
    build: families::Build,
    http: Arc<http::HttpStats>,
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
            carry: comms::CommCarry::default(),
            probe: collect::ProbeHealth::default(),
            renderer: render::Renderer::default(),
            build: families::Build::here(),
            http,
        }
    }

    /// One update into the model (and the probe's word on its tables).
    pub fn apply(&mut self, s: feed::Stamped) {
        if let Update::Kernel(k) = &s.update {
            self.probe = collect::ProbeHealth::of(k);
        }
        self.model.apply(&s);
    }

    /// An exposition of the model as it is now.
    pub fn prepare(&mut self) -> Exposition {
        let findings = analysis::analyze(&self.model, &self.cfg);
        let mut host = collect::collect(
            &self.model,
            &findings,
            self.probe_attached,
            &mut self.carry,
            &self.probe,
        );
        let cut = self.cap.apply(&mut host);
        let mut me = selfstats::read();
        self.http.fill(&mut me);
        let head = families::head_families(&host, &self.build);
        let tail = families::tail_families(&host, &cut, &me);
        let objects = self.renderer.objects(std::mem::take(&mut host.objects));
        Exposition::new(head, objects, tail)
    }

    /// Objects written anew by the last [`Exporter::prepare`] (the rest were kept).
    pub fn rendered(&self) -> usize {
        self.renderer.rendered
    }
}

/// The feed task: applies every update of `source`, and publishes a new exposition every
/// interval (with what came in, and ipctop's own figures, which always move). The clock is
/// looked at before each update, so that a flood of events never holds back an exposition.
/// Returns when the source ends. Needs the multi-threaded runtime (it prepares with
/// `block_in_place`).
pub async fn run_feed(
    mut source: LiveSource,
    latest: Latest,
    opts: Options,
    http: Arc<http::HttpStats>,
) {
    let mut ex = Exporter::new(&opts, &source.probe_status(), http);
    // The first snapshot is already queued: publish as soon as it is in.
    if let Some(s) = source.next().await {
        ex.apply(s);
    }
    latest.set(ex.prepare());
    let next = tokio::time::sleep(opts.interval);
    tokio::pin!(next);
    loop {
        tokio::select! {
            // The clock first: however fast updates come, an exposition is never late.
            biased;
            _ = &mut next => {
                // Tens of ms with thousands of objects: off the worker that serves scrapes.
                latest.set(tokio::task::block_in_place(|| ex.prepare()));
                next.as_mut().reset(tokio::time::Instant::now() + opts.interval);
            }
            s = source.next() => match s {
                Some(s) => ex.apply(s),
                None => return,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
