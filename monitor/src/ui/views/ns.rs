//! IPC namespaces in the dashboard, in one place with `Store::namespaces` (which exist,
//! listed once per update): the IPC NS column (left out while there is only one) and the
//! `n` filter (`App::ns`, applied by each view through `Cx::in_ns`). The model is growing
//! objects of every namespace and container labels (issue 13): a label is made here only,
//! in [`label`].
use super::{col, Col, Cx, HIDE};
use crate::model::NsId;

/// The IPC NS column: after every other, and only when there is more than one namespace.
pub fn column(cx: &Cx) -> Col {
    // Before a command line or a user: which container a pid is in is what tells it apart.
    let prio = if cx.s.namespaces.len() > 1 { 3 } else { HIDE };
    col("IPC NS", 10, prio)
}

/// How a namespace is named: its inode ("?" when unknown).
pub fn label(ns: Option<NsId>) -> String {
    ns.filter(|&n| n != 0).map_or("?".into(), |n| n.to_string())
}
