//! Whose run a report judges: with `record -- CMD`, the command's process tree and the
//! objects it made or used (the rest of the machine is context); otherwise, or with
//! `--scope all`, everything.
//!
//! How the command's processes are found, from what a recording holds. Format 2 names the
//! command's pid in the header and records every process forked in its tree (the kernel's
//! fork events): the command's are that pid and the processes forked in its tree, however
//! short-lived. A process is its pid and start (format 4 gives each fork the child's start):
//! a pid the command used, reused later by another process, is not the command's. The
//! snapshots' parent links add the processes whose parent, seen in the same snapshot with its
//! start, is the command's (a snapshot may show a process before its fork's line comes, and
//! fork events may be lost to a full socket or not given at all); without fork events, the
//! name rule below too.
//!
//! Format 1 (no command pid): the recorder is a
//! process named `ipctop` (whose command line, when the snapshot read it, says `record`);
//! its children, and theirs, as the
//! snapshots saw them (ppid), are the command's. A process no snapshot saw (too short-lived
//! to be placed: the recording does not carry fork events nor the command's pid) but that the
//! probe saw make calls, named as the command (`argv[0]`) or as one of its placed processes, is
//! judged with the command; others (another test's short-lived process, a pid known only from
//! an object's fields) are context. Processes the snapshots saw outside that tree are context.
use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;

use crate::{
    model::{Model, OBSERVER_COMM},
    record::forks::Fork,
};

/// What the findings and `--fail-on` judge.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub enum ScopeMode {
    /// The recorded command's processes and objects when there is a command, else everything.
    #[default]
    Command,
    /// Everything the recording saw.
    All,
}

/// The pids in scope, gathered over the recording.
#[derive(Clone, Debug, Default)]
pub struct Scope {
    /// The recorded command's processes (`None`: no command).
    command: Option<Command>,
    /// Everything is judged (`--scope all`, or no command).
    all: bool,
}

#[derive(Clone, Debug, Default)]
struct Command {
    /// argv[0]'s file name, as a comm (at most 15 bytes).
    comm: String,
    /// The command's pid, when the recording names it (the root of its tree).
    pid: Option<u32>,
    /// Every fork in its tree was recorded (the header says so, and the command's own fork
    /// is among them: the events did come): no process needs placing by its name.
    forks_followed: bool,
    forks_came: bool,
    /// Times fork events were lost (the recorder's socket overflowed).
    forks_lost: u64,
    recorders: BTreeSet<u32>,
    /// Placed by the process tree: each pid's starts (clock ticks; `None`: unknown, any).
    tree: BTreeMap<u32, Vec<Option<u64>>>,
    /// Every pid a snapshot saw.
    seen: BTreeSet<u32>,
    /// Every pid the probe saw make a call.
    callers: BTreeSet<u32>,
    /// The names of the processes placed in the tree (and the command's).
    comms: BTreeSet<String>,
}

/// The scope as the report's document shows it.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ScopeDoc {
    /// "all", "command", or with `--container`/`--ipc-ns` "container NAME", "IPC namespace
    /// N", "command in container NAME".
    pub judged: String,
    /// The command's processes found (by the process tree, or by name), in pid order: the
    /// first `PIDS_LISTED` of them (a soak's churn makes hundreds of thousands).
    pub pids: Vec<u32>,
    /// How many processes were found, listed or not.
    pub pids_total: usize,
    pub how: String,
    /// Times the recorder lost fork events (processes forked then may be context).
    #[serde(skip_serializing_if = "is_zero")]
    pub forks_lost: u64,
}

/// At most this many of the judged processes are listed in the report's scope.
pub const PIDS_LISTED: usize = 1000;

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// Whether a process's start (`b`, clock ticks) is the one a fork or snapshot placed (`a`):
/// a fork's start is read from /proc when the child still lives (exact), else taken from the
/// event's time, at or after the start — within a tick on a host, up to the kernel's delay
/// between the two in a slow VM (seen past 10 ms in qemu): a second is allowed. A pid comes
/// back to another process only after the whole pid space (32,768 forks at least).
fn same_start(a: Option<u64>, b: Option<u64>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => b <= a + 1 && b + SLACK_TICKS >= a,
        _ => true,
    }
}

/// See [`same_start`]: a second at the usual 100 ticks a second.
const SLACK_TICKS: u64 = 100;

impl Scope {
    /// Everything, or the command's (`command`: the recorded argv).
    pub fn new(mode: ScopeMode, command: Option<&[String]>) -> Self {
        let command = match command.and_then(|c| c.first()) {
            Some(argv0) => {
                let name = argv0.rsplit('/').next().unwrap_or(argv0);
                let comm: String = name.chars().take(15).collect();
                Some(Command {
                    comm,
                    ..Default::default()
                })
            }
            None => None,
        };
        Self {
            all: mode == ScopeMode::All || command.is_none(),
            command,
        }
    }

    /// The recording names the command's pid (format 2), and says whether its forks were
    /// followed.
    pub fn with_command_pid(mut self, pid: Option<u32>, forks_followed: bool) -> Self {
        if let (Some(c), Some(pid)) = (&mut self.command, pid) {
            c.pid = Some(pid);
            c.forks_followed = forks_followed;
            c.tree.insert(pid, vec![None]);
        }
        self
    }

    /// Learns processes forked in the command's tree (the recorder kept only those: forked
    /// by a process of the tree while it lived), and how many times fork events were lost.
    pub fn forks(&mut self, forks: &[Fork], lost: u64) {
        let Some(c) = &mut self.command else { return };
        c.forks_lost = c.forks_lost.max(lost);
        for f in forks {
            if Some(f.child) == c.pid {
                c.forks_came = true;
                c.tree.insert(f.child, vec![f.start]);
            } else {
                c.place(f.child, f.start);
            }
        }
    }

    /// Whether everything is judged.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Whether a process's place, once it has made calls and ended, is known for good:
    /// everything is judged, or the command's forks are followed (every process of its tree
    /// is known from its fork on).
    pub fn is_settled(&self) -> bool {
        self.all
            || self
                .command
                .as_ref()
                .is_some_and(|c| c.forks_followed && c.forks_came)
    }

    /// Learns the process tree from the model (call it after each snapshot, and at the end).
    pub fn observe(&mut self, m: &Model) {
        let Some(c) = &mut self.command else { return };
        // Those that made calls, the ended ones among them (kept a while by the account).
        c.callers.extend(m.account().processes().map(|(p, _)| p));
        c.callers
            .extend(m.account().retired_processes().map(|(p, _)| p));
        if c.pid.is_some() {
            for p in m.all_processes() {
                c.seen.insert(p.pid);
            }
            // The fork events place every process of the tree, but their lines may come after
            // the snapshot that shows a process first (they are written every half second),
            // and some may be lost: the snapshot's links too.
            c.place_children(m);
            for p in m.all_processes() {
                if c.placed(p.pid, p.start_ticks) {
                    c.comms.insert(p.comm.clone());
                }
            }
            return;
        }
        for p in m.all_processes() {
            c.seen.insert(p.pid);
            if p.comm == OBSERVER_COMM
                && p.cmdline
                    .as_deref()
                    .is_none_or(|l| l.split_whitespace().any(|w| w == "record"))
            {
                c.recorders.insert(p.pid);
            }
        }
        for p in m.all_processes() {
            if c.recorders.contains(&p.ppid) {
                c.place(p.pid, p.start_ticks);
            }
        }
        c.place_children(m);
        for p in m.all_processes() {
            if c.placed(p.pid, p.start_ticks) {
                c.comms.insert(p.comm.clone());
            }
        }
    }

    /// Whether a process (its pid and start, when known) is in scope (`comm`: its name,
    /// when known).
    pub fn has(&self, pid: u32, start: Option<u64>, comm: Option<&str>) -> bool {
        self.all || self.of_command(pid, start, comm)
    }

    /// Whether a process (its pid and start, when known) is the recorded command's
    /// (whatever is judged).
    pub fn of_command(&self, pid: u32, start: Option<u64>, comm: Option<&str>) -> bool {
        match &self.command {
            None => false,
            Some(c) => {
                if c.placed(pid, start) {
                    return true;
                }
                if c.forks_followed && c.forks_came {
                    return false;
                }
                // Too short-lived for a snapshot, but named as the command or one of its
                // processes: the command's.
                let named = comm.is_some_and(|n| n == c.comm || c.comms.contains(n));
                let unplaced = !c.seen.contains(&pid) && c.callers.contains(&pid);
                !c.recorders.contains(&pid) && unplaced && named
            }
        }
    }

    /// Whether the process of that pid the model knows now (or knew last) is in scope, its
    /// start and name taken from the model.
    pub fn has_pid(&self, m: &Model, pid: u32) -> bool {
        self.is_all() || self.has(pid, start_of(m, pid), m.comm_of(pid).as_deref())
    }

    /// For the document: the command's (or everything) within the model's scope
    /// (`--container`, `--ipc-ns`: only its processes are judged, the rest is context).
    pub fn doc(&self, m: &Model, pids_seen: impl Iterator<Item = u32>) -> ScopeDoc {
        let mut d = self.doc_uncapped(m, pids_seen);
        d.pids.sort_unstable();
        d.pids.dedup();
        d.pids_total = d.pids.len();
        d.pids.truncate(PIDS_LISTED);
        d
    }

    fn doc_uncapped(&self, m: &Model, pids_seen: impl Iterator<Item = u32>) -> ScopeDoc {
        let ns = m.scope();
        if *ns == crate::model::Scope::All {
            return self.doc_of_command(m, pids_seen);
        }
        let what = match ns {
            crate::model::Scope::Container(c) => {
                format!("container {}", c.split(',').next().unwrap_or(c))
            }
            other => other.describe(),
        };
        let of = match ns {
            crate::model::Scope::Procs { .. } => "processes (by their cgroup, and those they \
                fork) in the host's IPC namespace"
                .to_string(),
            _ => "IPC namespace(s)' processes".to_string(),
        };
        let mut d = self.doc_of_command(m, pids_seen.filter(|&p| m.pid_in_scope(p)));
        if d.judged == "all" {
            d.judged = what.clone();
            d.how = format!(
                "{what}'s {of} (--container/--ipc-ns); the rest of the recording is context"
            );
            d.pids = m
                .account()
                .processes()
                .map(|(p, _)| p)
                .filter(|&p| m.pid_in_scope(p))
                .collect();
        } else {
            d.judged = format!("command in {what}");
            d.how = format!("{}, within {what}'s {of}", d.how);
        }
        d
    }

    fn doc_of_command(&self, m: &Model, pids_seen: impl Iterator<Item = u32>) -> ScopeDoc {
        match self.command.as_ref().filter(|_| !self.all) {
            None => ScopeDoc {
                judged: "all".into(),
                pids: Vec::new(),
                pids_total: 0,
                how: "everything the recording saw".into(),
                forks_lost: 0,
            },
            Some(c) if c.pid.is_some() => ScopeDoc {
                judged: "command".into(),
                pids: pids_seen.filter(|&p| self.has_pid(m, p)).collect(),
                pids_total: 0,
                forks_lost: c.forks_lost,
                how: if c.forks_followed && c.forks_came && c.forks_lost > 0 {
                    format!(
                        "the recorded command's processes: its pid and every process forked \
                         from it (the kernel's fork events, which overflowed {} time(s): \
                         processes forked then are the command's only when a snapshot saw \
                         them under one of its processes, else context); the rest is context \
                         (--scope all judges everything)",
                        c.forks_lost
                    )
                } else if c.forks_followed && c.forks_came {
                    "the recorded command's processes: its pid and every process forked from \
                     it (the kernel's fork events); the rest is context (--scope all judges \
                     everything)"
                        .into()
                } else {
                    format!(
                        "the recorded command's processes: its pid and its descendants as the \
                         snapshots saw them, and processes too short-lived for a snapshot \
                         named as one of them or {:?} (fork events were not available); the \
                         rest is context (--scope all judges everything)",
                        c.comm
                    )
                },
            },
            Some(c) => ScopeDoc {
                judged: "command".into(),
                pids: pids_seen.filter(|&p| self.has_pid(m, p)).collect(),
                pids_total: 0,
                forks_lost: 0,
                how: format!(
                    "the recorded command's processes: the recorder's children and theirs as \
                     the snapshots saw them, and processes too short-lived for a snapshot \
                     named as one of them or {:?}; the rest is context (--scope all judges \
                     everything)",
                    c.comm
                ),
            },
        }
    }
}

/// The start of the process of that pid the model knows now, or knew last.
fn start_of(m: &Model, pid: u32) -> Option<u64> {
    m.process(pid)
        .and_then(|p| p.start_ticks)
        .or_else(|| m.account().process_start(pid))
}

impl Command {
    /// Whether the process of `pid` and `start` was placed in the tree.
    fn placed(&self, pid: u32, start: Option<u64>) -> bool {
        self.tree
            .get(&pid)
            .is_some_and(|s| s.iter().any(|&t| same_start(t, start)))
    }

    /// Places a process of the tree.
    fn place(&mut self, pid: u32, start: Option<u64>) {
        // (An unknown start matches any: the root's, before a snapshot or its fork says it.)
        if !self.placed(pid, start) {
            self.tree.entry(pid).or_default().push(start);
        }
    }

    /// Places the processes a snapshot shows under a process of the tree, both seen in it
    /// (so that the parent's pid is that process's, not a later one's), until none is added.
    fn place_children(&mut self, m: &Model) {
        loop {
            let new: Vec<(u32, Option<u64>)> = m
                .all_processes()
                .filter(|p| !self.placed(p.pid, p.start_ticks))
                .filter(|p| {
                    m.process(p.ppid)
                        .is_some_and(|q| self.placed(q.pid, q.start_ticks))
                })
                .map(|p| (p.pid, p.start_ticks))
                .collect();
            if new.is_empty() {
                break;
            }
            for (pid, start) in new {
                self.place(pid, start);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fork(parent: u32, child: u32, start: u64) -> Fork {
        Fork {
            parent,
            child,
            start: Some(start),
        }
    }

    #[test]
    fn the_tree_is_the_root_and_its_forks_each_of_its_own_start() {
        let mut s = Scope::new(ScopeMode::Command, Some(&["t.sh".to_string()]))
            .with_command_pid(Some(10), true);
        s.forks(&[fork(10, 11, 500), fork(11, 30, 501)], 0);
        s.observe(&Model::new());
        // Until the command's own fork is seen, the events are not known to have come.
        assert!(s.of_command(30, Some(501), None));
        s.forks(&[fork(1, 10, 499)], 0);
        s.observe(&Model::new());
        assert!(s.of_command(30, Some(501), Some("ipcmk")) && s.of_command(10, None, None));
        // The fork's time and the kernel's start may be a tick apart.
        assert!(s.of_command(11, Some(501), None) && s.of_command(11, Some(499), None));
        // Pid 30 reused by another process, minutes later: not the command's.
        assert!(!s.of_command(30, Some(9000), Some("t.sh")));
        // Named as the command but not forked from it: not the command's.
        assert!(!s.of_command(99, Some(600), Some("t.sh")));
    }

    #[test]
    fn a_churning_command_lists_its_first_pids_and_counts_them_all() {
        let mut s = Scope::new(ScopeMode::Command, Some(&["churn".to_string()]))
            .with_command_pid(Some(10), true);
        let n = PIDS_LISTED as u32 + 500;
        let forks: Vec<Fork> = (0..n).map(|i| fork(10, 100 + i, 500)).collect();
        s.forks(&[fork(1, 10, 499)], 0);
        s.forks(&forks, 0);
        s.observe(&Model::new());
        // Seen in no order, some twice.
        let seen = (0..n).rev().map(|i| 100 + i).chain([10, 10, 100]);
        let d = s.doc(&Model::new(), seen);
        assert_eq!(d.pids_total, n as usize + 1);
        assert_eq!(d.pids.len(), PIDS_LISTED);
        assert_eq!(d.pids[..3], [10, 100, 101]);
        assert!(d.pids.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn same_start_allows_the_fork_events_delay_and_unknown() {
        assert!(same_start(Some(10), Some(11)) && same_start(None, Some(5)));
        assert!(same_start(Some(150), Some(60)));
        assert!(!same_start(Some(10), Some(12)) && !same_start(Some(500), Some(300)));
    }
}
