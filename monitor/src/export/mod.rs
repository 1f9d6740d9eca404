//! `ipctop serve`: the model as Prometheus metrics.
//!
//! ```text
//! LiveSource ─▶ feed task: Model::apply ─▶ collect (the one reader of the model's account)
//!                         every interval, if changed: analysis ─▶ Host ─▶ cap ─▶ families
//!                                                                   └─▶ Latest (an Arc swap)
//! HTTP (hyper) ─▶ GET /metrics ─▶ Latest ─▶ encode once per format (prometheus-client)
//! ```
//!
//! The feed task owns the model; scrapes only take the latest prepared [`Exposition`], so a
//! scrape never blocks the probe's reader nor walks /proc.
pub mod cap;
pub mod collect;
pub mod encode;
pub mod families;
pub mod http;
pub mod metrics;
#[cfg(test)]
mod ns_tests;

use std::{
    sync::{Arc, OnceLock, RwLock},
    time::Duration,
};

use hyper::body::Bytes;

use crate::{
    analysis,
    feed::{self, ProbeStatus, Source},
    live::LiveSource,
    model::Model,
};
use encode::Format;
use families::Family;

/// One exposition: its families, encoded lazily once per format.
#[derive(Debug, Default)]
pub struct Exposition {
    families: Arc<Vec<Family>>,
    text: OnceLock<Bytes>,
    openmetrics: OnceLock<Bytes>,
}

impl Exposition {
    pub fn new(families: Vec<Family>) -> Self {
        Self {
            families: Arc::new(families),
            ..Default::default()
        }
    }

    /// The body in `format`.
    pub fn body(&self, format: Format) -> Bytes {
        let cell = match format {
            Format::Text => &self.text,
            Format::OpenMetrics => &self.openmetrics,
        };
        cell.get_or_init(|| Bytes::from(encode::encode(self.families.clone(), format)))
            .clone()
    }
}

/// The latest exposition, shared by the feed task (writer) and the HTTP side (readers).
#[derive(Clone, Debug, Default)]
pub struct Latest(Arc<RwLock<Arc<Exposition>>>);

impl Latest {
    pub fn get(&self) -> Arc<Exposition> {
        self.0.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn set(&self, e: Exposition) {
        *self.0.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(e);
    }
}

/// How the feed task prepares expositions.
#[derive(Clone, Debug)]
pub struct Options {
    /// A new exposition at most this often (when something changed).
    pub interval: Duration,
    pub max_objects: usize,
    pub max_comms: usize,
    pub analysis: analysis::Config,
    /// The namespaces exported (`--ipc-ns`, `--container`; all by default).
    pub scope: crate::model::Scope,
}

/// The exporter's state: the model, and the caps on series.
pub struct Exporter {
    pub model: Model,
    cap: cap::Cap,
    cfg: analysis::Config,
    probe_attached: bool,
}

impl Exporter {
    pub fn new(opts: &Options, probe: &ProbeStatus) -> Self {
        let mut model = Model::new();
        model.set_scope(opts.scope.clone());
        Self {
            model,
            cap: cap::Cap::new(opts.max_objects, opts.max_comms),
            cfg: opts.analysis.clone(),
            probe_attached: matches!(probe, ProbeStatus::Attached(_)),
        }
    }

    /// One update into the model.
    pub fn apply(&mut self, s: feed::Stamped) {
        self.model.apply(&s);
    }

    /// An exposition of the model as it is now.
    pub fn prepare(&mut self) -> Exposition {
        let findings = analysis::analyze(&self.model, &self.cfg);
        let mut host = collect::collect(&self.model, &findings, self.probe_attached);
        let cut = self.cap.apply(&mut host);
        Exposition::new(families::families(&host, &cut))
    }
}

/// The feed task: applies every update of `source`, and publishes a new exposition every
/// interval when something changed. Returns when the source ends. Needs the multi-threaded
/// runtime (it prepares with `block_in_place`).
pub async fn run_feed(mut source: LiveSource, latest: Latest, opts: Options) {
    let mut ex = Exporter::new(&opts, &source.probe_status());
    // The first snapshot is already queued: publish as soon as it is in.
    if let Some(s) = source.next().await {
        ex.apply(s);
    }
    latest.set(ex.prepare());
    let mut tick = tokio::time::interval(opts.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut dirty = false;
    loop {
        tokio::select! {
            s = source.next() => match s {
                Some(s) => {
                    ex.apply(s);
                    dirty = true;
                }
                None => return,
            },
            _ = tick.tick() => if dirty {
                // Tens of ms with thousands of objects: off the worker that serves scrapes.
                latest.set(tokio::task::block_in_place(|| ex.prepare()));
                dirty = false;
            },
        }
    }
}
