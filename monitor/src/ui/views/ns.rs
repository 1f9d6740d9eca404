//! IPC namespaces in the dashboard, in one place: which exist, the IPC NS column (left out
//! while there is only one) and the `n` filter (`App::ns`, applied by each view through
//! `Cx::in_ns`). The model is growing objects of every namespace and container labels
//! (issue 13): a label is made here only, in [`label`].
use std::collections::BTreeSet;

use super::{col, Col, Cx, HIDE};
use crate::{model::NsId, ui::store::Store};

/// The namespaces seen, the viewed one first: of the processes, the waits and the objects
/// the account counted calls on (0, unknown, left out).
pub fn namespaces(s: &Store) -> Vec<NsId> {
    let m = &s.model;
    let mut others: BTreeSet<NsId> = m.all_processes().filter_map(|p| p.ipc_ns).collect();
    others.extend(m.waits().map(|w| w.ns));
    others.extend(m.account().objects().map(|((_, id), _)| id.ns));
    let view = m.view_ns();
    others.remove(&view);
    others.remove(&0);
    std::iter::once(view)
        .filter(|&n| n != 0)
        .chain(others)
        .collect()
}

/// The IPC NS column: after every other, and only when there is more than one namespace.
pub fn column(cx: &Cx) -> Col {
    // Before a command line or a user: which container a pid is in is what tells it apart.
    let prio = if namespaces(cx.s).len() > 1 { 3 } else { HIDE };
    col("IPC NS", 10, prio)
}

/// How a namespace is named: its inode ("?" when unknown).
pub fn label(ns: Option<NsId>) -> String {
    ns.filter(|&n| n != 0).map_or("?".into(), |n| n.to_string())
}
