//! The rows' promises, for every view and every column of the fixture's busy machine:
//! sorting by a column orders the rows by the values that column shows (read back from the
//! text, as a person would read it), filtering by the text of any cell keeps its row, and
//! Enter opens the target of the row shown selected.
use std::cmp::Ordering;

use super::{
    app::{App, View},
    rows::{
        table::{natural, Value, HIDE},
        table_of,
    },
    tests::{busy_store, render},
    theme::Theme,
};

/// A cell's text as a person reads it: a number (with its unit), or words.
#[derive(Clone, Debug, PartialEq)]
enum Reading {
    Num(f64),
    Text(String),
}

fn cmp(a: &Reading, b: &Reading) -> Ordering {
    match (a, b) {
        (Reading::Num(x), Reading::Num(y)) => x.total_cmp(y),
        (Reading::Num(_), Reading::Text(_)) => Ordering::Less,
        (Reading::Text(_), Reading::Num(_)) => Ordering::Greater,
        (Reading::Text(x), Reading::Text(y)) => natural(x, y),
    }
}

/// "12", "-1", "1.2k", "3.4M".
fn count(s: &str) -> Option<f64> {
    let (n, mult) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1e3),
        'M' => (&s[..s.len() - 1], 1e6),
        'G' => (&s[..s.len() - 1], 1e9),
        _ => (s, 1.0),
    };
    Some(n.parse::<f64>().ok()? * mult)
}

/// "850ns", "12µs", "1.2ms", "12.3s", "4m05s", "2h03m", "3d04h", in seconds.
fn duration(s: &str) -> Option<f64> {
    for (unit, f) in [("ns", 1e-9), ("µs", 1e-6), ("us", 1e-6), ("ms", 1e-3)] {
        if let Some(n) = s.strip_suffix(unit) {
            return Some(n.parse::<f64>().ok()? * f);
        }
    }
    for (big, small, fb, fs) in [
        ('d', 'h', 86400.0, 3600.0),
        ('h', 'm', 3600.0, 60.0),
        ('m', 's', 60.0, 1.0),
    ] {
        if let Some((a, b)) = s.split_once(big) {
            let b = b.strip_suffix(small)?;
            return Some(a.parse::<f64>().ok()? * fb + b.parse::<f64>().ok()? * fs);
        }
    }
    s.strip_suffix('s')?.parse().ok()
}

/// "0 B", "2.2 KiB", "8 MiB", "1 GiB".
fn bytes(s: &str) -> Option<f64> {
    let (n, unit) = s.trim().split_once(' ')?;
    let f = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        "TiB" => 1024f64.powi(4),
        _ => return None,
    };
    Some(n.parse::<f64>().ok()? * f)
}

/// The text of a cell read back, knowing only what kind of figure the column shows.
fn read(v: &Value, text: &str) -> Reading {
    let t = text
        .trim()
        .trim_start_matches(['≥', '≤', '<', '>', '='])
        .trim_start_matches(['▸', '▾'])
        .trim_start_matches("+ ")
        .trim_start_matches("- ")
        .trim();
    let num = |x: Option<f64>| Reading::Num(x.unwrap_or_else(|| panic!("{text:?} ({v:?})")));
    match t {
        "" | "?" => return Reading::Num(f64::NEG_INFINITY),
        "-" => return Reading::Num(0.0),
        "never" => return Reading::Num(f64::INFINITY),
        _ => {}
    }
    match v {
        Value::With(inner, words) => {
            let head = t.strip_suffix(words.as_str()).unwrap_or(t).trim();
            read(inner, head)
        }
        Value::Lead(_, inner) => read(inner, t),
        Value::Text(_) => Reading::Text(t.to_string()),
        Value::Int(_) | Value::Count(_) => num(count(t)),
        Value::Dur { .. } | Value::Ns(_) | Value::Ago(_) => num(duration(t)),
        Value::Size(_) => num(bytes(t)),
        Value::Fill { .. } => num(bytes(t.rsplit_once('%').map_or(t, |(_, b)| b))),
        Value::IpcKey(_) if t == "IPC_PRIVATE" => Reading::Num(0.0),
        Value::IpcKey(_) => num(u32::from_str_radix(t.trim_start_matches("0x"), 16)
            .ok()
            .map(f64::from)),
        Value::Perms(_) => num(u32::from_str_radix(t, 8).ok().map(f64::from)),
        // "1200,1201,+2": four pids.
        Value::Pids(_) => num(Some(
            t.split(',')
                .map(|p| {
                    p.strip_prefix('+')
                        .map_or(1.0, |n| n.parse().unwrap_or(0.0))
                })
                .sum(),
        )),
        Value::Blank | Value::Unknown => Reading::Num(f64::NEG_INFINITY),
    }
}

/// The busy machine, every set open, the processes as a tree of all of them.
fn app() -> App {
    let mut app = App::new(busy_store(), Theme::default());
    app.expand_all = true;
    let p = &mut app.views[View::Processes.index()];
    (p.all, p.tree) = (true, true);
    app
}

const TABLES: [View; 6] = [
    View::Overview,
    View::Semaphores,
    View::Shm,
    View::Queues,
    View::Processes,
    View::Events,
];

#[test]
fn sorting_by_a_column_orders_the_rows_by_what_it_shows() {
    let mut app = app();
    let t = Theme::default();
    let mut checked = 0;
    for view in TABLES {
        assert!(table_of(view).is_some());
        let cols = app.entry(view).unwrap().table.columns.clone();
        for (c, col) in cols.iter().enumerate() {
            if !col.sortable() {
                continue;
            }
            for desc in [false, true] {
                app.views[view.index()].sort = Some((c, desc));
                let (e, s) = app.entry_of(view).unwrap();
                let shown: Vec<(Reading, String)> = e
                    .order
                    .iter()
                    .filter(|l| l.sub.is_none())
                    .map(|&l| {
                        let v = e.table.value(s, t, e.table.row(l), c);
                        let text = v.text(&t);
                        (read(v, &text), text)
                    })
                    .collect();
                assert!(shown.len() > 1 || view == View::Overview, "{view:?}");
                for w in shown.windows(2) {
                    let o = cmp(&w[0].0, &w[1].0);
                    let ok = if desc {
                        o != Ordering::Less
                    } else {
                        o != Ordering::Greater
                    };
                    assert!(
                        ok,
                        "{view:?} by {} ({}): {:?} before {:?}",
                        col.title,
                        if desc {
                            "largest first"
                        } else {
                            "smallest first"
                        },
                        w[0].1,
                        w[1].1
                    );
                }
                checked += 1;
            }
        }
        app.views[view.index()].sort = None;
    }
    assert!(checked > 100, "{checked} orders checked");
}

#[test]
fn filtering_by_any_cells_text_keeps_its_row() {
    let mut app = app();
    let t = Theme::default();
    let mut checked = 0;
    for view in TABLES {
        let (e, s) = app.entry_of(view).unwrap();
        let (e, s) = (e.clone(), s.clone());
        for r in &e.table.rows {
            assert_eq!(r.width(), e.table.columns.len(), "{view:?} {r:?}");
        }
        let lines = e.order.clone();
        for l in lines {
            let row = e.table.row(l).clone();
            for c in 0..row.width() {
                let text = e.table.value(&s, t, &row, c).text(&t);
                if e.table.columns[c].prio == HIDE || text.trim().is_empty() {
                    continue;
                }
                // The whole text, and its first half (typed before it is all typed).
                let half: String = text
                    .chars()
                    .take(text.chars().count().div_ceil(2))
                    .collect();
                for f in [text.clone(), half.to_ascii_uppercase()] {
                    app.views[view.index()].filter = f.clone();
                    let kept = app.entry(view).unwrap();
                    assert!(
                        kept.order.contains(&l),
                        "{view:?}: /{f} (column {}) drops the row that shows it: {row:?}",
                        e.table.columns[c].title
                    );
                    checked += 1;
                }
            }
        }
        app.views[view.index()].filter.clear();
    }
    assert!(checked > 500, "{checked} filters checked");
}

#[test]
fn a_filter_drops_the_rows_that_do_not_show_it() {
    let mut app = app();
    // The leaked segment shows LEAK; the attached ones do not.
    app.views[View::Shm.index()].filter = "LEAK".into();
    let (e, s) = app.entry_of(View::Shm).unwrap();
    let ids: Vec<u64> = e.ids().to_vec();
    assert_eq!(ids.len(), 1, "{:?}", e.order);
    let t = Theme::default();
    let leak = e.table.row(e.order[0]);
    assert_eq!(e.table.value(s, t, leak, 0).text(&t), "32771");
    // Sizes, owners, modes and creators' states are shown, so they match.
    for (f, n) in [("64", 1), ("postgres", 4), ("0600", 4), ("gone", 1)] {
        app.views[View::Shm.index()].filter = f.into();
        assert_eq!(app.entry(View::Shm).unwrap().ids().len(), n, "/{f}");
    }
    app.views[View::Queues.index()].filter = "full".into();
    assert_eq!(app.entry(View::Queues).unwrap().ids().len(), 1);
}

#[test]
fn enter_opens_the_row_drawn_selected_in_every_order() {
    let mut app = app();
    for view in TABLES.into_iter().chain([View::Posix]) {
        app.go(view);
        let cols = app.entry(view).unwrap().table.columns.len();
        for c in 0..cols {
            app.views[view.index()].sort = Some((c, true));
            app.views[view.index()].list.step(2);
            render(&mut app, 160, 48);
            let sel = app.views[view.index()].list.selected;
            let e = app.entry(view).unwrap();
            let l = e.order[sel];
            let want = e.table.row(l).target;
            assert!(want.is_some(), "{view:?}: every row leads somewhere");
            assert_eq!(app.enter(), want, "{view:?} sorted by column {c}");
        }
    }
}
