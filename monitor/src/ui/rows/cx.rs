//! What every row builder reads: the store (model, findings, trends, names), the theme,
//! and the model's "now"; with the lookups they share (names, owners, namespaces, the marks
//! findings put on objects).
use std::collections::BTreeMap;

use super::table::{col, Column, Value, HIDE};
use crate::{
    analysis::{IpcKind, What},
    model::{NsId, ObjId, ObjKind, Tally},
    ui::{store::Store, theme::Theme},
};

pub struct Cx<'a> {
    pub s: &'a Store,
    pub t: Theme,
    /// Monotonic and unix "now" of the model.
    pub now: u64,
    pub now_unix: f64,
}

impl<'a> Cx<'a> {
    pub fn new(s: &'a Store, t: Theme) -> Self {
        Self {
            s,
            t,
            now: s.model.now_mono_ns(),
            now_unix: s.model.now_unix_s(),
        }
    }

    /// An object's account (calls, failures, waits, rate); `None`: no calls seen.
    pub fn acct(&self, kind: ObjKind, id: ObjId) -> Option<&'a Tally> {
        self.s.model.object_account_at(kind, id)
    }

    /// An object's calls per second (the account's).
    pub fn rate(&self, kind: ObjKind, id: ObjId) -> f64 {
        self.acct(kind, id).map_or(0.0, |a| a.rate())
    }

    /// A process's name: from /proc, else from its calls, else as the last look at POSIX
    /// IPC saw it; "?" when never seen.
    pub fn comm(&self, pid: u32) -> String {
        let m = &self.s.model;
        match m.comm_of(pid) {
            Some(c) => crate::text::escape(&c).into_owned(),
            None => m
                .posix()
                .and_then(|p| p.proc(pid))
                .map_or_else(|| "?".into(), |p| crate::text::escape(&p.comm).into_owned()),
        }
    }

    /// "4242 worker", "4242 worker (gone)" for a process that has exited (one the model
    /// does not know but the last POSIX look saw is not said gone).
    pub fn who(&self, pid: u32) -> String {
        let m = &self.s.model;
        let gone = match m.process(pid) {
            Some(p) => !p.alive(),
            None => m.posix().and_then(|p| p.proc(pid)).is_none(),
        };
        format!(
            "{pid} {}{}",
            self.comm(pid),
            if gone { " (gone)" } else { "" }
        )
    }

    /// A uid as a user name (the number when it has none).
    pub fn user(&self, uid: u32) -> String {
        self.s.names.user(uid)
    }

    /// "user:group" of an owner.
    pub fn owner(&self, uid: u32, gid: u32) -> String {
        format!("{}:{}", self.s.names.user(uid), self.s.names.group(gid))
    }

    /// The time since a kernel time (unix seconds; 0 is "never").
    pub fn since(&self, unix_s: i64) -> Value {
        Value::Ago((unix_s != 0).then_some(self.now_unix - unix_s as f64))
    }

    pub fn alive(&self, pid: u32) -> bool {
        self.s.model.process(pid).is_some_and(|p| p.alive())
    }

    /// How a namespace is named (as `Store::refresh` listed the names).
    pub fn ns_label(&self, ns: NsId) -> String {
        match self.s.ns_names.get(&ns) {
            Some(l) => l.clone(),
            None if ns == 0 => "?".into(),
            None => ns.to_string(),
        }
    }

    /// More than one namespace is shown (rows then say theirs).
    pub fn many_ns(&self) -> bool {
        self.s.ns_shown > 1
    }

    /// The IPC NS column: after every other, and only when more than one namespace is shown
    /// (left out otherwise, and then not filtered on).
    pub fn ns_column(&self) -> Column {
        // As much as an id: ids are per namespace (eight containers' set 0 are eight rows
        // of "0" without it), and which container a pid is in tells it apart.
        col("IPC NS", 19, if self.many_ns() { 0 } else { HIDE })
    }

    /// The marks findings put on the objects of a kind: "LEAK", "DEADLOCK", "NO INIT".
    pub fn marks(&self, kind: IpcKind) -> BTreeMap<ObjId, Vec<&'static str>> {
        let mut m: BTreeMap<ObjId, Vec<&'static str>> = BTreeMap::new();
        let mut mark = |id: i32, ns: NsId, what: &'static str| {
            let v = m.entry(ObjId { ns, id }).or_default();
            if !v.contains(&what) {
                v.push(what);
            }
        };
        for f in &self.s.findings {
            match &f.what {
                What::Leak { ipc, id } if *ipc == kind => mark(*id, f.ipc_ns, "LEAK"),
                What::Deadlock { cycle, .. } => {
                    for st in cycle.iter().filter(|st| st.ipc == kind) {
                        mark(st.id, f.ipc_ns, "DEADLOCK");
                    }
                }
                What::Stuck { ipc, id, .. } if *ipc == kind => mark(*id, f.ipc_ns, "STUCK"),
                What::Stalled { ipc, id, .. } if *ipc == kind => mark(*id, f.ipc_ns, "STALLED"),
                What::UsedBeforeInit { semid, .. } if kind == IpcKind::Sem => {
                    mark(*semid, f.ipc_ns, "NO INIT")
                }
                _ => {}
            }
        }
        m
    }
}
