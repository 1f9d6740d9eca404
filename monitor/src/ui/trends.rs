//! The dashboard's history of what the model lacks a series for: at each sample of the
//! account (each kernel sample; each snapshot when the probe does not sample), per object and
//! per process, the threads blocked on average over the sample, the calls that waited per
//! second, the calls per second, and levels read off the model (threads waiting on an object,
//! a queue's messages and bytes, a segment's attachments). Nothing is counted here: every
//! point is a difference of the account's own totals between two samples, or a value the
//! model holds. An object's calls per second are the account's own (`Model::object_rates`).
//!
//! Time blocked: the kernel adds a call's whole duration when it ends, so a 10 s wait that
//! ends would read as 10 s blocked in a 1 s sample. The sample's share is the ended calls'
//! time less what those of them already waiting at the last sample had waited by then, plus
//! the waits still going on since the last sample (or their start): one thread blocked all
//! along reads 1.0, whenever its call ends.
use std::collections::{HashMap, VecDeque};

use crate::{
    memory::GiveBackRoom,
    model::{Model, ObjId, ObjKind, Tally, Wait},
};

/// A wait going on at a sample: its thread and its start (monotonic ns).
type Going = (u32, u64);

/// Points kept per subject (one per sample: a minute at the probe's 1 s).
pub const KEPT: usize = 60;

/// One sample of a subject.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Point {
    /// Calls per second since the previous sample.
    pub calls_s: f32,
    /// Threads blocked, on average over the sample: seconds spent in blocking calls per
    /// second (2.0: two threads blocked all along).
    pub blocked_s: f32,
    /// Calls that waited (≥ `model::WAIT_NS`) per second.
    pub waits_s: f32,
    /// Threads waiting on it now (an object) or of it (a process).
    pub waiting: u32,
    /// A queue's messages, a segment's attachments.
    pub level: u32,
    /// A queue's bytes.
    pub bytes: u32,
    /// The rates are known (not the first sample of its subject).
    pub rated: bool,
}

/// The samples of one subject, oldest first.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Trend {
    /// The previous sample: time and the account's (calls, blocked ns, waits).
    prev: Option<(u64, [u64; 3])>,
    /// The waits going on at the previous sample.
    going: Vec<Going>,
    points: VecDeque<Point>,
    /// The last sample that saw the subject (those gone are dropped).
    seen: u64,
    /// Idle points at the end, in a row.
    idle_run: usize,
}

impl Trend {
    /// Notes a sample at `t`: the rates from the tally's totals since the previous one;
    /// `going`: the waits going on now.
    fn note(&mut self, t: u64, a: Option<&Tally>, mut p: Point, going: Vec<Going>) {
        let now = a.map_or([0; 3], |a| [a.calls, a.blocked_ns, a.waits]);
        if let Some((t0, before)) = self.prev.filter(|(t0, _)| t > *t0) {
            let s = (t - t0) as f64 / 1e9;
            let d = |i: usize| now[i].saturating_sub(before[i]) as f64 / s;
            p.calls_s = d(0) as f32;
            p.waits_s = d(2) as f32;
            // The ended calls' time in this sample: less what the waits that ended had
            // waited by the last sample; plus the waits going on, since the last sample.
            let ended = now[1].saturating_sub(before[1]);
            let before_t0: u64 = self
                .going
                .iter()
                .filter(|g| !going.contains(g))
                .map(|&(_, start)| t0.saturating_sub(start))
                .sum();
            let since_t0: u64 = going
                .iter()
                .map(|&(_, start)| t.saturating_sub(start.max(t0)))
                .sum();
            let blocked = ended.saturating_sub(before_t0) + since_t0;
            p.blocked_s = (blocked as f64 / 1e9 / s) as f32;
            p.rated = true;
        }
        self.prev = Some((t, now));
        self.going = going;
        // Nothing to chart yet (an idle set, an empty queue): no points kept, so that
        // thousands of idle objects cost no history.
        let idle = Point {
            rated: p.rated,
            ..Point::default()
        };
        if self.points.is_empty() && p == idle {
            return;
        }
        self.idle_run = if p == idle { self.idle_run + 1 } else { 0 };
        // Idle at every point kept: nothing to chart any more, as before it was ever busy
        // (thousands of sets used once and left alone cost no history after a minute).
        if self.idle_run >= KEPT {
            (self.points, self.idle_run) = (VecDeque::new(), 0);
            return;
        }
        self.points.push_back(p);
        if self.points.len() > KEPT {
            self.points.pop_front();
        }
    }

    /// The points, oldest first.
    pub fn points(&self) -> impl ExactSizeIterator<Item = &Point> {
        self.points.iter()
    }

    /// One figure of every point, oldest first.
    pub fn series(&self, f: impl Fn(&Point) -> f64) -> Vec<f64> {
        self.points.iter().map(f).collect()
    }

    /// A rate of every point that has rates, oldest first.
    pub fn rates(&self, f: impl Fn(&Point) -> f64) -> Vec<f64> {
        self.points.iter().filter(|p| p.rated).map(f).collect()
    }
}

/// The shortest window a rate is taken over (ns): a sample closer than this to the last one
/// is left out, its counts go into the next window (a last sample of the probe's counts
/// taken 20 ms after the one before would read as a rate 50 times too high).
const MIN_WINDOW_NS: u64 = 100_000_000;

/// Every subject's trend, and when the account was last sampled.
#[derive(Clone, Debug, Default)]
pub struct Trends {
    at: Option<u64>,
    total: Trend,
    objects: HashMap<(ObjKind, ObjId), Trend>,
    procs: HashMap<u32, Trend>,
}

impl Trends {
    /// Takes a sample at `t` (monotonic ns) if it is a new one, and not too close to the
    /// last (see `MIN_WINDOW_NS`): the samples taken depend on the samples alone, not on
    /// how they were batched, so a replay charts the rates the live session did. Subjects
    /// gone are dropped.
    pub fn sample(&mut self, m: &Model, t: u64) {
        if self.at.is_some_and(|a| t < a + MIN_WINDOW_NS) {
            return;
        }
        self.at = Some(t);
        let acc = m.account();
        // The waits going on, by subject: their thread and start (as exact as the model's
        // `Wait` knows it; a lower bound otherwise).
        let start = |w: &Wait| {
            let s = w.since_s(t).unwrap_or_else(|| w.at_least_s(t));
            t.saturating_sub((s * 1e9) as u64)
        };
        let mut all: Vec<Going> = Vec::new();
        let mut of_obj: HashMap<(ObjKind, ObjId), Vec<Going>> = HashMap::new();
        let mut of_pid: HashMap<u32, Vec<Going>> = HashMap::new();
        for w in m.waits() {
            let g = (w.tid, start(w));
            all.push(g);
            let id = ObjId {
                ns: w.ns,
                id: w.on.id(),
            };
            of_obj.entry((w.on.obj_kind(), id)).or_default().push(g);
            of_pid.entry(w.pid).or_default().push(g);
        }
        let waiting_total = all.len() as u32;
        self.total.note(
            t,
            Some(acc.total()),
            Point {
                waiting: waiting_total,
                ..Point::default()
            },
            all,
        );
        // Each object's levels (threads waiting, messages or attachments, bytes), in one
        // pass: no map of what was seen, the subjects not seen at `t` are dropped after.
        let objects = &mut self.objects;
        let mut put = |kind, id, level: u64, bytes: u64| {
            let p = Point {
                waiting: m.waiters_at(kind, id).count() as u32,
                level: level.min(u32::MAX.into()) as u32,
                bytes: bytes.min(u32::MAX.into()) as u32,
                ..Point::default()
            };
            let tr = objects.entry((kind, id)).or_default();
            tr.seen = t;
            let going = of_obj.remove(&(kind, id)).unwrap_or_default();
            tr.note(t, m.object_account_at(kind, id), p, going);
        };
        for s in m.sem_sets() {
            put(ObjKind::Sem, s.id, 0, 0);
        }
        for s in m.segments() {
            put(ObjKind::Shm, s.id, s.nattch, 0);
        }
        for q in m.queues() {
            put(ObjKind::Msg, q.id, q.qnum, q.cbytes);
        }
        self.objects.retain(|_, tr| tr.seen == t);
        self.objects.give_back_room();
        // Of every namespace, as the Processes view lists them.
        for p in m.all_processes() {
            let going = of_pid.remove(&p.pid).unwrap_or_default();
            let point = Point {
                waiting: going.len() as u32,
                ..Point::default()
            };
            let tr = self.procs.entry(p.pid).or_default();
            tr.seen = t;
            tr.note(t, acc.process(p.pid), point, going);
        }
        self.procs.retain(|_, tr| tr.seen == t);
        self.procs.give_back_room();
    }

    /// Everything: calls, blocked time and waits per second, threads waiting.
    pub fn total(&self) -> &Trend {
        &self.total
    }

    pub fn object(&self, kind: ObjKind, id: ObjId) -> Option<&Trend> {
        self.objects.get(&(kind, id))
    }

    pub fn process(&self, pid: u32) -> Option<&Trend> {
        self.procs.get(&pid)
    }

    /// Points kept in all (for the benchmark's memory figure).
    pub fn points_kept(&self) -> usize {
        self.total.points.len()
            + self.objects.values().map(|t| t.points.len()).sum::<usize>()
            + self.procs.values().map(|t| t.points.len()).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: u64 = 1_000_000_000;

    fn tally(calls: u64, blocked_ns: u64, waits: u64) -> Tally {
        let mut t = Tally::default();
        (t.calls, t.blocked_ns, t.waits) = (calls, blocked_ns, waits);
        t
    }

    #[test]
    fn rates_are_differences_of_the_totals_between_samples() {
        let mut tr = Trend::default();
        let level = |n| Point {
            level: n,
            ..Point::default()
        };
        tr.note(10 * S, Some(&tally(100, 0, 0)), level(1), Vec::new());
        // Two seconds later: 300 more calls, 1.5 s more blocked, 4 more waits.
        tr.note(
            12 * S,
            Some(&tally(400, 1_500_000_000, 4)),
            level(2),
            Vec::new(),
        );
        let p: Vec<&Point> = tr.points().collect();
        assert_eq!(p.len(), 2);
        assert!(!p[0].rated, "the first sample has no rate");
        assert!(p[1].rated);
        assert_eq!(p[1].calls_s, 150.0);
        assert_eq!(p[1].blocked_s, 0.75);
        assert_eq!(p[1].waits_s, 2.0);
        assert_eq!(tr.rates(|p| f64::from(p.calls_s)), [150.0]);
        assert_eq!(tr.series(|p| f64::from(p.level)), [1.0, 2.0]);
        // A sample at the same time again is no sample.
        tr.note(12 * S, Some(&tally(500, 0, 0)), level(3), Vec::new());
        assert_eq!(tr.points().len(), 3);
        assert_eq!(tr.points().last().map(|p| p.rated), Some(false));
    }

    #[test]
    fn idle_subjects_keep_no_points_until_something_happens() {
        let mut tr = Trend::default();
        for i in 0..10 {
            tr.note(i * S, Some(&tally(7, 0, 0)), Point::default(), Vec::new());
        }
        assert_eq!(tr.points().len(), 0);
        tr.note(10 * S, Some(&tally(17, 0, 0)), Point::default(), Vec::new());
        assert_eq!(tr.rates(|p| f64::from(p.calls_s)), [10.0]);
        for i in 11..11 + KEPT as u64 - 1 {
            tr.note(i * S, Some(&tally(17, 0, 0)), Point::default(), Vec::new());
        }
        assert_eq!(tr.points().len(), KEPT, "bounded");
        assert!(tr.points().any(|p| p.calls_s > 0.0));
        // Idle at every point kept: the history goes, until something happens again.
        for i in 70..200 {
            tr.note(i * S, Some(&tally(17, 0, 0)), Point::default(), Vec::new());
        }
        assert_eq!(tr.points().len(), 0);
        tr.note(
            200 * S,
            Some(&tally(18, 0, 0)),
            Point::default(),
            Vec::new(),
        );
        assert_eq!(tr.rates(|p| f64::from(p.calls_s)), [1.0]);
    }

    #[test]
    fn one_thread_blocked_all_along_reads_one_whenever_its_call_ends() {
        let mut tr = Trend::default();
        let blocked = |tr: &Trend| tr.points().last().map(|p| p.blocked_s);
        // A thread blocked since 5 s, seen at samples 10 s, 11 s, 12 s.
        tr.note(
            10 * S,
            Some(&tally(0, 0, 0)),
            Point::default(),
            vec![(7, 5 * S)],
        );
        tr.note(
            11 * S,
            Some(&tally(0, 0, 0)),
            Point::default(),
            vec![(7, 5 * S)],
        );
        assert_eq!(blocked(&tr), Some(1.0));
        // Its call ends at 11.5 s (6.5 s in all, the kernel adds it then); another thread
        // waits from 11.5 s on.
        tr.note(
            12 * S,
            Some(&tally(1, 6_500_000_000, 1)),
            Point::default(),
            vec![(8, 11 * S + S / 2)],
        );
        // 0.5 s of the first and 0.5 s of the second in a 1 s sample: one thread.
        assert_eq!(blocked(&tr), Some(1.0));
    }
}
