//! Whose run a report judges: with `record -- CMD`, the command's process tree and the
//! objects it made or used (the rest of the machine is context); otherwise, or with
//! `--scope all`, everything.
//!
//! How the command's processes are found, from what a recording holds: the recorder is a
//! process named `ipctop` (whose command line, when the snapshot read it, says `record`);
//! its children, and theirs, as the
//! snapshots saw them (ppid), are the command's. A process no snapshot saw (too short-lived
//! to be placed: the recording does not carry fork events nor the command's pid) but that the
//! probe saw make calls, named as the command (argv[0]) or as one of its placed processes, is
//! judged with the command; others (another test's short-lived process, a pid known only from
//! an object's fields) are context. Processes the snapshots saw outside that tree are context.
use std::collections::BTreeSet;

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

    /// Whether everything is judged.
    pub fn is_all(&self) -> bool {
        self.all
    }

    /// Learns the process tree from the model (call it after each snapshot, and at the end).
    pub fn observe(&mut self, m: &Model) {
        let Some(c) = &mut self.command else { return };
        c.callers.extend(m.account().processes().map(|(p, _)| p));
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
