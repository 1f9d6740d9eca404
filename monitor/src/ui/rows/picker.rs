//! The namespace picker's choices (`N`): every IPC namespace, or one, each named by its
//! container with its processes and objects; choosing one moves the model's scope, as `n`
//! and `--ipc-ns` do.
use super::cx::Cx;
use crate::model::Scope;

/// A choice: the scope it shows, its line, and whether it is the scope now.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Choice {
    pub scope: Scope,
    pub text: String,
    pub current: bool,
}

pub fn choices(cx: &Cx) -> Vec<Choice> {
    let m = &cx.s.model;
    let known = m.namespaces();
    let now = m.scope();
    let mut v = vec![Choice {
        scope: Scope::All,
        text: format!(
            "every IPC namespace ({} known)",
            crate::ui::fmt::thousands(known.len() as u64)
        ),
        current: *now == Scope::All,
    }];
    let w = known
        .iter()
        .map(|n| cx.ns_label(n.ns).chars().count())
        .max()
        .unwrap_or(0);
    for n in &known {
        let plural = |k: usize, one: &str| format!("{k} {one}{}", if k == 1 { "" } else { "es" });
        v.push(Choice {
            scope: Scope::Ns(n.ns),
            text: format!(
                "{:<w$}  ipc:[{}]  {}, {} objects{}",
                cx.ns_label(n.ns),
                n.ns,
                plural(n.processes, "process"),
                n.objects,
                if n.home { "  (home)" } else { "" }
            ),
            current: *now == Scope::Ns(n.ns)
                || matches!(now, Scope::Container(_) | Scope::Procs { .. }) && n.in_scope,
        });
    }
    v
}
