//! POSIX findings as problems: a queue whose waiters nobody can serve is STUCK — the same
//! row type as System V's (a deadlock through robust/PI mutexes is the wait-for graph's, a
//! `What::Deadlock` like any other: `problems.rs`), so the
//! header, the tab and the Problems view count them together; an object deleted but still
//! mapped is its own kind. Unused objects are not findings (a lock file idle between
//! commands is no leak): the Problems view lists them apart, with when each was last used.
use super::{
    cx::Cx,
    doc::{Doc, DocLine},
    problem_kinds::{known, Kind, Problem},
};
use crate::{
    analysis::posix::{PosixAt, PosixFinding},
    ui::{
        fmt,
        theme::Tone,
        view::{PosixId, Target},
    },
};

/// The kind of a POSIX finding that is a problem (`None`: "unused", which is not).
pub fn kind_of(f: &PosixFinding) -> Option<Kind> {
    match f.kind {
        "unused" => None,
        _ if f.is_stuck() => Some(known(1)),
        other => {
            let (mark, section) = match other {
                "deleted_mapped" => (
                    "deleted".to_string(),
                    "POSIX shared memory deleted but still mapped".to_string(),
                ),
                _ => (other.replace('_', " "), other.replace('_', " ")),
            };
            Some(Kind {
                one: format!("{mark} mapped"),
                many: format!("{mark} mapped"),
                mark,
                section,
                tone: Tone::Warn,
                rank: 6,
            })
        }
    }
}

/// "101 a, 102 b (gone)": as the model knows them, else as the POSIX look saw them.
fn whos(cx: &Cx, pids: &[u32]) -> String {
    let look = cx.s.model.posix();
    pids.iter()
        .map(|&p| match look.and_then(|l| l.proc(p)) {
            Some(x) if !cx.alive(p) => format!("{p} {}", crate::text::escape(&x.comm)),
            _ => cx.who(p),
        })
        .collect::<Vec<_>>()
        .join(", ")
}

/// A POSIX finding that is a problem, as a row (Enter leads to its object's detail, which
/// names its processes).
pub fn problem(cx: &Cx, f: &PosixFinding) -> Option<Problem> {
    let kind = kind_of(f)?;
    let object = crate::text::escape(&f.object).into_owned();
    let mut text = match f.kind {
        _ if f.is_stuck() => format!("{object}: {} blocked", whos(cx, &f.pids)),
        _ if f.pids.is_empty() => object,
        _ => format!("{object}: {}", whos(cx, &f.pids)),
    };
    if cx.many_ns() {
        if let Some(ns) = f.ipc_ns {
            text = format!("{text} in {}", cx.ns_label(ns));
        }
    }
    Some(Problem {
        kind,
        text,
        more: Vec::new(),
        reason: f.reason.clone(),
        target: Some(Target::Posix(match f.at {
            PosixAt::Queue { ns, ino } => PosixId::Queue { ns, ino },
            PosixAt::Shm { dev, ino } => PosixId::Shm { dev, ino },
        })),
    })
}

/// The POSIX objects nobody uses, apart from the findings, with their last use.
pub fn unused(cx: &Cx, d: &mut Doc) {
    let unused: Vec<&PosixFinding> =
        cx.s.posix_findings
            .iter()
            .filter(|f| f.kind == "unused")
            .collect();
    if unused.is_empty() {
        return;
    }
    d.head(&format!(
        "POSIX objects nobody has open ({}; not findings: unused since their last use)",
        unused.len()
    ));
    const LISTED: usize = 40;
    for f in unused.iter().take(LISTED) {
        let since = f.since_unix_s.map_or_else(
            || "?".to_string(),
            |s| fmt::dur((cx.now_unix - s as f64).max(0.0)) + " ago",
        );
        let mut l = DocLine::plain(format!("  {} ", crate::text::escape(&f.object)));
        l.push(format!("unused since {since}"), Tone::Dim);
        d.line(l);
    }
    if unused.len() > LISTED {
        d.toned(
            format!(
                "  … and {} more (view 8 lists them all)",
                unused.len() - LISTED
            ),
            Tone::Dim,
        );
    }
}
