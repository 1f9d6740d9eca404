//! Whose run a report judges: with `record -- CMD`, the command's process tree and the
//! objects it made or used (the rest of the machine is context); otherwise, or with
//! `--scope all`, everything.
//!
//! How the command's processes are found, from what a recording holds. Format 2 names the
//! command's pid in the header and records every process forked in its tree (the kernel's
//! fork events): the command's are that pid and its descendants, by those fork links and by
//! the snapshots' parent links, however short-lived. Without fork events (a kernel or
//! namespace that gives none), the pid and the snapshots' links, plus the name rule below.
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

use crate::model::{Model, OBSERVER_COMM};

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
    /// Parent links: from the fork events and from every snapshot (child → parent).
    parents: BTreeMap<u32, u32>,
    recorders: BTreeSet<u32>,
    /// Placed by the process tree.
    tree: BTreeSet<u32>,
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
    /// "all", or "command".
    pub judged: &'static str,
    /// The command's processes found (by the process tree, or by name).
    pub pids: Vec<u32>,
    pub how: String,
}

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
            c.tree.insert(pid);
        }
        self
    }

    /// Learns processes forked in the command's tree (`(parent, child)`).
    pub fn forks(&mut self, forks: &[(u32, u32)]) {
        if let Some(c) = &mut self.command {
            c.forks_came |= forks.iter().any(|&(_, k)| Some(k) == c.pid);
            c.parents.extend(
                forks
                    .iter()
                    .filter(|&&(_, k)| Some(k) != c.pid)
                    .map(|&(p, k)| (k, p)),
            );
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
        if let Some(root) = c.pid {
            for p in m.all_processes() {
                c.seen.insert(p.pid);
                // The first parent seen: an orphan is later re-parented (to init or a
                // subreaper), and stays the command's.
                c.parents.entry(p.pid).or_insert(p.ppid);
            }
            c.tree = descendants(root, &c.parents);
            for p in m.all_processes().filter(|p| c.tree.contains(&p.pid)) {
                c.comms.insert(p.comm.clone());
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
        loop {
            let before = c.tree.len();
            for p in m.all_processes() {
                if c.recorders.contains(&p.ppid) || c.tree.contains(&p.ppid) {
                    c.tree.insert(p.pid);
                }
            }
            if c.tree.len() == before {
                break;
            }
        }
        for p in m.all_processes().filter(|p| c.tree.contains(&p.pid)) {
            c.comms.insert(p.comm.clone());
        }
    }

    /// Whether a process is in scope (`comm`: its name, when known).
    pub fn has(&self, pid: u32, comm: Option<&str>) -> bool {
        self.all || self.of_command(pid, comm)
    }

    /// Whether a process is the recorded command's (whatever is judged).
    pub fn of_command(&self, pid: u32, comm: Option<&str>) -> bool {
        match &self.command {
            None => false,
            Some(c) => {
                // Too short-lived for a snapshot, but named as the command or one of its
                // processes: the command's.
                if c.forks_followed && c.forks_came {
                    return c.tree.contains(&pid);
                }
                let named = comm.is_some_and(|n| n == c.comm || c.comms.contains(n));
                let unplaced = !c.seen.contains(&pid) && c.callers.contains(&pid);
                c.tree.contains(&pid) || (!c.recorders.contains(&pid) && unplaced && named)
            }
        }
    }

    /// Whether a process is in scope, its name taken from the model.
    pub fn has_pid(&self, m: &Model, pid: u32) -> bool {
        self.is_all() || self.has(pid, m.comm_of(pid).as_deref())
    }

    /// For the document.
    pub fn doc(&self, m: &Model, pids_seen: impl Iterator<Item = u32>) -> ScopeDoc {
        match self.command.as_ref().filter(|_| !self.all) {
            None => ScopeDoc {
                judged: "all",
                pids: Vec::new(),
                how: "everything the recording saw".into(),
            },
            Some(c) if c.pid.is_some() => ScopeDoc {
                judged: "command",
                pids: pids_seen.filter(|&p| self.has_pid(m, p)).collect(),
                how: if c.forks_followed && c.forks_came {
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
                judged: "command",
                pids: pids_seen.filter(|&p| self.has_pid(m, p)).collect(),
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

/// `root` and every process whose parent links lead to it.
fn descendants(root: u32, parents: &BTreeMap<u32, u32>) -> BTreeSet<u32> {
    let mut children: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for (&k, &p) in parents {
        if k != p {
            children.entry(p).or_default().push(k);
        }
    }
    let mut tree = BTreeSet::from([root]);
    let mut todo = vec![root];
    while let Some(p) = todo.pop() {
        for &k in children.get(&p).into_iter().flatten() {
            if tree.insert(k) {
                todo.push(k);
            }
        }
    }
    tree
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tree_is_the_root_and_what_descends_from_it() {
        let parents = BTreeMap::from([(11, 10), (12, 11), (13, 12), (20, 1), (10, 1), (5, 5)]);
        assert_eq!(descendants(10, &parents), BTreeSet::from([10, 11, 12, 13]));
        assert_eq!(descendants(5, &parents), BTreeSet::from([5]));
        let mut s = Scope::new(ScopeMode::Command, Some(&["t.sh".to_string()]))
            .with_command_pid(Some(10), true);
        s.forks(&[(10, 11), (11, 30)]);
        s.observe(&Model::new());
        // Until the command's own fork is seen, the events are not known to have come.
        assert!(s.of_command(30, None));
        s.forks(&[(1, 10)]);
        s.observe(&Model::new());
        assert!(s.of_command(30, Some("ipcmk")) && s.of_command(10, None));
        // Named as the command but not forked from it: not the command's.
        assert!(!s.of_command(99, Some("t.sh")));
    }
}
