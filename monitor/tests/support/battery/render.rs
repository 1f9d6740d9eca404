//! The table `cargo xtask battery` prints and the counts over runs: per scenario and surface
//! the verdict per kind, the checks, the phases; per kind the false positives and negatives.
use std::{collections::BTreeMap, fmt::Write as _};

use super::{
    judge::{Cell, Mark, Outcome},
    table::Want,
    Kind, Surface,
};

/// Counts over runs: per kind, false positives and false negatives (a scenario's surface
/// counting once) and the cells judged; per check, failures and runs.
#[derive(Debug, Default)]
pub struct Tally {
    pub kinds: BTreeMap<Kind, (usize, usize, usize)>,
    pub checks: BTreeMap<&'static str, (usize, usize)>,
    pub void: usize,
}

pub fn tally(outcomes: &[Outcome]) -> Tally {
    let mut t = Tally::default();
    for o in outcomes {
        if o.error.is_some() {
            t.void += 1;
            continue;
        }
        for s in Surface::ALL {
            for k in Kind::ALL {
                let c = o.cell(s, k);
                let e = t.kinds.entry(k).or_default();
                match (c.mark, c.want) {
                    (Mark::NotShown, _) | (_, Want::Any) => {}
                    (m, _) => {
                        e.2 += 1;
                        e.0 += usize::from(m == Mark::FalsePositive);
                        e.1 += usize::from(m == Mark::FalseNegative);
                    }
                }
            }
        }
        for c in o.checks() {
            let e = t.checks.entry(c.name).or_default();
            e.0 += usize::from(!c.ok);
            e.1 += 1;
        }
    }
    t
}

/// One cell as the table shows it: "yes"/"no", "FP yes", "FN no", "(yes)" when either was
/// right, "n/a"; "?" marks a kind the surface does not know.
fn cell_text(c: &Cell) -> String {
    let got = if c.got { "yes" } else { "no" };
    let u = if c.unsupported { "?" } else { "" };
    match (c.mark, c.want) {
        (Mark::NotShown, _) => "n/a".into(),
        (Mark::FalsePositive, _) => format!("FP {got}{u}"),
        (Mark::FalseNegative, _) => format!("FN {got}{u}"),
        (_, Want::Any) => format!("({got}){u}"),
        _ => format!("{got}{u}"),
    }
}

/// The table of `cargo xtask battery`: per scenario and surface the verdict per kind, the
/// checks, then the counts.
pub fn render(outcomes: &[Outcome]) -> String {
    let mut s = String::new();
    let _ = writeln!(
        s,
        "Cells: what the surface showed (yes/no); FP = shown where it must not be (at any \
         look), FN = not shown (at the end) where it must be, or shown without naming who; \
         (…) = either is right; ? = the surface does not know this kind; n/a = cannot show it."
    );
    for o in outcomes {
        s.push('\n');
        s.push_str(&render_one(o));
    }
    let t = tally(outcomes);
    let _ = writeln!(
        s,
        "\nFalse positives and false negatives per kind (each scenario's surface counts \
         once; cells left open by the scenario and cells a surface cannot show are not \
         counted):"
    );
    let _ = writeln!(s, "  {:<10} {:>4} {:>4} {:>6}", "kind", "FP", "FN", "cells");
    for (k, (fp, fneg, n)) in &t.kinds {
        let _ = writeln!(s, "  {:<10} {fp:>4} {fneg:>4} {n:>6}", k.name());
    }
    let _ = writeln!(s, "Checks (failed / run):");
    for (name, (bad, n)) in &t.checks {
        let _ = writeln!(s, "  {name:<20} {bad}/{n}");
    }
    if t.void > 0 {
        let _ = writeln!(s, "Runs that failed (not counted): {}", t.void);
    }
    s
}

/// One run as the table shows it: its cells, its checks, and why each wrong cell is wrong.
pub fn render_one(o: &Outcome) -> String {
    let mut s = String::new();
    let sc = o.scenario;
    let _ = writeln!(s, "{} ({:.0} s): {}", sc.name, o.secs, sc.about);
    if let Some(e) = &o.error {
        let _ = writeln!(s, "  RUN FAILED: {e}");
    }
    let phases: Vec<String> = o
        .phases
        .iter()
        .map(|(t, w)| format!("{w} {t:.1}"))
        .collect();
    let _ = writeln!(s, "  phases (s): {}", phases.join(", "));
    for (surf, obs) in &o.obs {
        for n in &obs.notes {
            let _ = writeln!(s, "  note {}: {n}", surf.name());
        }
    }
    let _ = write!(s, "  {:<10}", "surface");
    for k in Kind::ALL {
        let _ = write!(s, " {:<10}", k.name());
    }
    s.push('\n');
    for surf in Surface::ALL {
        let _ = write!(s, "  {:<10}", surf.name());
        for k in Kind::ALL {
            let _ = write!(s, " {:<10}", cell_text(&o.cell(surf, k)));
        }
        s.push('\n');
    }
    for c in o.checks() {
        let _ = writeln!(
            s,
            "  check {} ({}): {}{}",
            c.name,
            c.on,
            if c.ok { "ok" } else { "FAIL " },
            if c.ok {
                String::new()
            } else {
                c.detail.clone()
            }
        );
    }
    for surf in Surface::ALL {
        for k in Kind::ALL {
            let c = o.cell(surf, k);
            if matches!(c.mark, Mark::FalsePositive | Mark::FalseNegative) && !c.why.is_empty() {
                let why: String = c.why.split_whitespace().collect::<Vec<_>>().join(" ");
                let why: String = why.chars().take(300).collect();
                let _ = writeln!(s, "  why {} {}: {why}", surf.name(), k.name());
            }
        }
    }

    s
}
