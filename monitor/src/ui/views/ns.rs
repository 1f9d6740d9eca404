//! IPC namespaces in the dashboard: the IPC NS column (left out while only one namespace is
//! shown) and how a namespace is named ([`label`]). Which namespaces are shown is the
//! model's scope (`--ipc-ns`, `--container`, the `n` key: `Store::set_scope`), the one
//! filter that rows, header counts, Problems and findings all follow.
use std::collections::BTreeMap;

use super::{col, Col, Cx, HIDE};
use crate::model::{NsId, NsInfo};

/// The IPC NS column: after every other, and only when more than one namespace is shown.
pub fn column(cx: &Cx) -> Col {
    // Before a command line or a user: which container a pid is in is what tells it apart.
    let prio = if cx.s.ns_shown > 1 { 3 } else { HIDE };
    col("IPC NS", 19, prio)
}

/// How a namespace is named (as `Store::refresh` listed the names, see [`labels`]).
pub fn label(cx: &Cx, ns: NsId) -> String {
    match cx.s.ns_names.get(&ns) {
        Some(l) => l.clone(),
        None if ns == 0 => "?".into(),
        None => ns.to_string(),
    }
}

/// The label while the IPC NS column can show (more than one namespace), else nothing: for
/// the `/` filter, which matches what is shown.
pub fn shown_label(cx: &Cx, ns: NsId) -> String {
    if cx.s.ns_shown > 1 {
        label(cx, ns)
    } else {
        String::new()
    }
}

/// Each namespace's name: its container label ("host", "docker:3f4e5a6b7c8d"), with the
/// inode when another namespace has the same label; the inode alone when no label is known.
pub fn labels(known: &[NsInfo]) -> BTreeMap<NsId, String> {
    known
        .iter()
        .map(|n| {
            let name = match n.container.as_deref() {
                None => n.ns.to_string(),
                Some(l) => {
                    let l = crate::text::escape(l);
                    let shared = known
                        .iter()
                        .any(|o| o.ns != n.ns && o.container.as_deref() == n.container.as_deref());
                    if shared {
                        format!("{l} {}", n.ns)
                    } else {
                        l.into_owned()
                    }
                }
            };
            (n.ns, name)
        })
        .collect()
}
