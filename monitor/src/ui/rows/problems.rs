//! Problems as rows: one per finding, each kind of finding one row type ([`kind_of`]: its
//! mark, section, how the header counts it, how bad it is), so the header, the Overview's
//! box, the tab and the Problems view count the same findings; then the failed calls by
//! errno and the limits (which are not findings: their headings say so).
pub use super::problem_kinds::{Kind, Problem};
use super::{
    cx::Cx,
    doc::{Doc, DocLine},
    problem_kinds::{known, KNOWN},
};
use crate::{
    analysis::{CycleStep, Finding, IpcKind, What},
    event::errno_name,
    model::ObjId,
    ui::{fmt, theme::Tone, view::Target},
};

/// The row type of a finding. A kind the analysis adds later still shows: by its name, with
/// its reason, until it gets a row type of its own here (`KNOWN`).
pub fn kind_of(w: &What) -> Kind {
    #[allow(unreachable_patterns)]
    match w {
        What::Deadlock { .. } => known(0),
        What::Stuck { .. } => known(1),
        What::LimitNear { .. } => known(2),
        What::Stalled { .. } => known(3),
        What::LongWait { .. } => known(4),
        What::UsedBeforeInit { .. } => known(5),
        What::Leak { .. } => known(6),
        // What comes next: by the analysis's own name for it.
        other => {
            let name = serde_json::to_value(other)
                .ok()
                .and_then(|v| v["kind"].as_str().map(|s| s.replace('_', " ")))
                .unwrap_or_else(|| "finding".into());
            Kind {
                mark: name.clone(),
                section: name.clone(),
                one: name.clone(),
                many: name,
                tone: Tone::Warn,
                rank: 2,
            }
        }
    }
}

fn ipc_name(k: IpcKind) -> &'static str {
    match k {
        IpcKind::Shm => "shm",
        IpcKind::Sem => "sem",
        IpcKind::Msg => "msq",
    }
}

/// What a deadlock's thread waits on: "sem 5:0", "sem 5", "msq 3", "mutex /dev/shm/x+0x40".
pub fn step_object(st: &CycleStep) -> String {
    if let Some(mx) = &st.mutex {
        return format!("mutex {}+{:#x}", crate::text::escape(&mx.object), mx.offset);
    }
    match (st.ipc, st.semnum) {
        (IpcKind::Sem, Some(n)) => format!("sem {}:{n}", st.id),
        (IpcKind::Sem, None) => format!("sem {}", st.id),
        (_, _) => format!("msq {}", st.id),
    }
}

/// Who a deadlock's step is: "101 a", or "101 a/105" for a thread other than the leader.
fn step_who(cx: &Cx, st: &CycleStep) -> String {
    // A mutex's waiter may be known only to the POSIX look.
    let comm = match cx.s.model.posix().and_then(|l| l.proc(st.pid)) {
        Some(p) if cx.s.model.comm_of(st.pid).is_none() => {
            crate::text::escape(&p.comm).into_owned()
        }
        _ => cx.comm(st.pid),
    };
    if st.tid == st.pid || st.tid == 0 {
        format!("{} {comm}", st.pid)
    } else {
        format!("{} {comm}/{}", st.pid, st.tid)
    }
}

/// A deadlock's threads: "101 a → sem 5:0 → 102 | 102 b → sem 6:0 → 101" (each waits on
/// the object, released only by the pids after it).
pub fn cycle_text(cx: &Cx, cycle: &[CycleStep]) -> String {
    let a = cx.t.arrow();
    cycle
        .iter()
        .map(|st| {
            format!(
                "{}{a}{}{a}{}",
                step_who(cx, st),
                step_object(st),
                st.by
                    .iter()
                    .map(u32::to_string)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        })
        .collect::<Vec<_>>()
        .join(" | ")
}

/// The object a finding names.
fn obj_target(ipc: IpcKind, oid: ObjId) -> Target {
    match ipc {
        IpcKind::Shm => Target::Shm(oid),
        IpcKind::Sem => Target::Sem(oid),
        IpcKind::Msg => Target::Queue(oid),
    }
}

pub fn problem(cx: &Cx, f: &Finding) -> Problem {
    let t = cx.t;
    let oid = |id: i32| ObjId { ns: f.ipc_ns, id };
    #[allow(unreachable_patterns)]
    let (text, more, target) = match &f.what {
        What::Deadlock { cycle, .. } => (
            cycle_text(cx, cycle),
            cycle
                .iter()
                .map(|st| {
                    format!(
                        "{} tid {}{}{}{}{} {}",
                        step_who(cx, st),
                        st.tid,
                        t.arrow(),
                        step_object(st),
                        t.arrow(),
                        st.role.verb(),
                        fmt::pids(st.by.iter().copied(), 4)
                    )
                })
                .collect(),
            cycle.first().map(|s| Target::Deadlock(s.pid)),
        ),
        What::LongWait {
            pid,
            ipc,
            id,
            waited_s,
            exact,
            ..
        } => (
            format!(
                "{} on {} {id} for {}{}",
                cx.who(*pid),
                ipc_name(*ipc),
                if *exact { "" } else { t.at_least() },
                fmt::dur(*waited_s)
            ),
            Vec::new(),
            Some(Target::Proc(*pid)),
        ),
        What::Stuck {
            pid, ipc, id, tid, ..
        } => (
            format!(
                "{} (tid {tid}) on {} {id}: nobody alive can release it",
                cx.who(*pid),
                ipc_name(*ipc)
            ),
            Vec::new(),
            Some(Target::Proc(*pid)),
        ),
        What::Stalled {
            ipc,
            id,
            tids,
            waited_s,
            ..
        } => (
            format!(
                "{} {id}: {} blocked {}{}, holder unknown",
                ipc_name(*ipc),
                fmt::pids(tids.iter().copied(), 4),
                t.at_least(),
                fmt::dur(*waited_s)
            ),
            Vec::new(),
            Some(obj_target(*ipc, oid(*id))),
        ),
        What::UsedBeforeInit { semid, waiters } => (
            format!(
                "sem {semid}: never semop'd, waited on by {}",
                fmt::pids(waiters.iter().copied(), 4)
            ),
            Vec::new(),
            Some(Target::Sem(oid(*semid))),
        ),
        What::Leak { ipc, id } => {
            let extra =
                match ipc {
                    IpcKind::Shm => cx.s.model.segment_at(oid(*id)).map(|s| {
                        format!(" ({}, creator {} gone)", fmt::size(s.size), s.creator_pid)
                    }),
                    IpcKind::Sem => Some(" (unused, users gone)".into()),
                    IpcKind::Msg => {
                        cx.s.model
                            .queue_at(oid(*id))
                            .map(|q| format!(" ({} messages nobody will read)", q.qnum))
                    }
                };
            (
                format!("{} {id}{}", ipc_name(*ipc), extra.unwrap_or_default()),
                Vec::new(),
                Some(obj_target(*ipc, oid(*id))),
            )
        }
        What::LimitNear { limit, used, max } => (
            format!(
                "{limit}: {used} of {} ({:.0}%){}",
                fmt::limit(*max),
                *used as f64 * 100.0 / (*max).max(1) as f64,
                if cx.many_ns() {
                    format!(" in {}", cx.ns_label(f.ipc_ns))
                } else {
                    String::new()
                }
            ),
            Vec::new(),
            None,
        ),
        _ => (f.reason.clone(), Vec::new(), None),
    };
    // Several namespaces shown: each finding says its own (a limit's says it already).
    let text = if cx.many_ns() && !matches!(f.what, What::LimitNear { .. }) {
        format!("{text} in {}", cx.ns_label(f.ipc_ns))
    } else {
        text
    };
    Problem {
        kind: kind_of(&f.what),
        text,
        more,
        reason: f.reason.clone(),
        target,
    }
}

/// Every finding as a row, the worst first (in the analysis's order within a kind).
pub fn problems(cx: &Cx) -> Vec<Problem> {
    let mut v: Vec<Problem> = cx.s.findings.iter().map(|f| problem(cx, f)).collect();
    v.extend(
        cx.s.posix_findings
            .iter()
            .filter_map(|f| super::problems_posix::problem(cx, f)),
    );
    v.sort_by_key(|p| p.kind.rank);
    v
}

/// How many problems there are: the findings, System V's and POSIX's.
pub fn count(cx: &Cx) -> usize {
    cx.s.findings.len()
        + cx.s
            .posix_findings
            .iter()
            .filter(|f| super::problems_posix::kind_of(f).is_some())
            .count()
}

/// How many findings of each kind, the worst first: what the header, the tab and the
/// Problems view all count.
pub fn counts(cx: &Cx) -> Vec<(Kind, usize)> {
    let mut out: Vec<(Kind, usize)> = Vec::new();
    let posix =
        cx.s.posix_findings
            .iter()
            .filter_map(super::problems_posix::kind_of);
    for k in cx.s.findings.iter().map(|f| kind_of(&f.what)).chain(posix) {
        match out.iter_mut().find(|(x, _)| *x == k) {
            Some((_, n)) => *n += 1,
            None => out.push((k, 1)),
        }
    }
    out.sort_by_key(|(k, _)| k.rank);
    out
}

/// The one line of a finding (the Overview's box): its mark, then what it says.
pub fn summary(p: &Problem) -> DocLine {
    let mut l = DocLine::toned(format!("{} ", p.kind.mark), p.kind.tone);
    l.push(p.text.clone(), Tone::Plain);
    l.target = p.target;
    l
}

/// What an errno means for System V IPC.
pub fn errno_hint(errno: i32) -> &'static str {
    match errno {
        libc::EACCES => "permission check refused (the object's mode/owner)",
        libc::EEXIST => "IPC_CREAT|IPC_EXCL: the key exists (a creation race?)",
        libc::EIDRM => "the object was removed while in use",
        libc::ENOSPC => "a system limit was reached (see the limits)",
        libc::ENOENT => "no object with that key (and no IPC_CREAT)",
        libc::EINVAL => "bad id, size, semnum or command (removed already?)",
        libc::EAGAIN => "IPC_NOWAIT and the call would block, or semtimedop timed out",
        libc::ENOMSG => "no message of the wanted type (IPC_NOWAIT)",
        libc::EINTR => "interrupted by a signal",
        libc::E2BIG => "message longer than the buffer, or too many sops",
        libc::EFBIG => "semnum out of range",
        libc::ERANGE => "semaphore value out of range (SEMVMX)",
        libc::ENOMEM => "out of memory",
        libc::EPERM => "not permitted (IPC_SET/IPC_RMID by a non-owner)",
        libc::EFAULT => "a bad address",
        _ => "",
    }
}

/// The Problems view: a section per kind found (each finding an entry, Enter goes to what
/// it names), the kinds not found in one line, the failed calls by errno, and the limits.
/// `width`: a deadlock's cycle on one line when it fits, else a line per step.
pub fn doc(cx: &Cx, width: usize) -> Doc {
    let t = cx.t;
    let all = problems(cx);
    let mut d = Doc::new(format!(" Problems ({}) ", all.len()));
    let none: Vec<String> = (0..KNOWN.len())
        .map(known)
        .filter(|k| !all.iter().any(|p| p.kind == *k))
        .map(|k| k.section.to_lowercase())
        .collect();
    let mut sections: Vec<&Kind> = Vec::new();
    for p in &all {
        if !sections.contains(&&p.kind) {
            sections.push(&p.kind);
        }
    }
    for k in sections {
        let of: Vec<&Problem> = all.iter().filter(|p| p.kind == *k).collect();
        d.toned(format!("{} ({})", k.section, of.len()), Tone::Title);
        for p in of {
            let mut lines = Vec::new();
            if p.more.is_empty() {
                let mut l = DocLine::toned(format!("  {} ", p.kind.mark), p.kind.tone);
                l.push(p.text.clone(), Tone::Plain);
                lines.push(l);
            } else {
                lines.push(DocLine::toned(format!("  {}", p.kind.mark), p.kind.tone));
                if p.text.chars().count() + 4 <= width {
                    lines.push(DocLine::plain(format!("    {}", p.text)));
                } else {
                    lines.extend(p.more.iter().map(|m| DocLine::plain(format!("    {m}"))));
                }
            }
            lines.push(DocLine::toned(format!("    {}", p.reason), Tone::Dim));
            d.entry(p.target, lines);
        }
    }
    if !none.is_empty() {
        d.toned(format!("None found: {}", none.join(", ")), Tone::Good);
    }
    super::problems_posix::unused(cx, &mut d);
    failed_calls(cx, &mut d);
    d.head(&match cx.s.model.scope() {
        crate::model::Scope::All if cx.many_ns() => format!(
            "Limits of IPC namespace {} (not findings: how full each is)",
            cx.ns_label(cx.s.model.view_ns())
        ),
        _ => "Limits (not findings: how full each is)".into(),
    });
    for u in crate::analysis::limit_usage(&cx.s.model) {
        let (ratio, max) = match u.max {
            Some(m) if fmt::unlimited(m) => (0.0, "unlimited".to_string()),
            Some(m) if m > 0 => (u.used as f64 / m as f64, m.to_string()),
            _ => (0.0, "?".into()),
        };
        let near = ratio >= cx.s.cfg.limit_ratio;
        let mut l = DocLine::plain(format!("  {:<7} ", u.limit));
        l.push(
            t.bar(ratio, 10),
            if near { Tone::Alert } else { Tone::Good },
        );
        l.push(
            format!(" {:>4.0}% ", ratio * 100.0),
            if near { Tone::Alert } else { Tone::Plain },
        );
        l.push(format!("{} of {max} {}", u.used, u.what), Tone::Plain);
        d.line(l);
    }
    d
}

/// Failed calls by errno (the account's, of every namespace), each leading to the process
/// that made the last one.
fn failed_calls(cx: &Cx, d: &mut Doc) {
    let acc = cx.s.model.account();
    let total = acc.total();
    // The account's totals are of every namespace (it keeps none per namespace): said so
    // while one is shown.
    let all_ns = match cx.s.model.scope() {
        crate::model::Scope::All => "",
        _ => ", all namespaces",
    };
    d.head(&format!(
        "Failed calls by errno ({} of {} calls{all_ns}; not findings)",
        total.errors, total.calls
    ));
    if total.errnos.is_empty() {
        let why = match cx.s.probe {
            crate::feed::ProbeStatus::SnapshotOnly(_) => {
                "  unknown: failed calls are seen by the probe only (snapshots only now)"
            }
            _ => "  none seen",
        };
        d.toned(why, Tone::Dim);
    }
    let mut errs: Vec<_> = total.errnos.iter().collect();
    errs.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (&(sys, errno), &count) in errs {
        let Some((pid, comm, at)) = acc.last_failure(sys, errno) else {
            continue;
        };
        let gone = if cx.alive(pid) { "" } else { " (gone)" };
        let mut l = DocLine::toned(format!("  {:<7}", errno_name(errno)), Tone::Alert);
        l.push(
            format!(
                " {:<10} x{:<6} last by {pid} {}{gone}, {} ago  ",
                sys.name(),
                count,
                crate::text::escape(comm),
                fmt::dur(cx.now.saturating_sub(at) as f64 / 1e9),
            ),
            Tone::Plain,
        );
        l.push(errno_hint(errno), Tone::Dim);
        d.entry(Some(Target::Proc(pid)), vec![l]);
    }
}
