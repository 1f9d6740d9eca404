//! The row model the list views share: a cell is a typed [`Value`] — its text, its sort key
//! and the filter's text all come from it, so sorting, filtering and drawing cannot disagree —
//! columns say their title, width, priority and default sort, and a row says what Enter opens
//! (its target). [`order`] filters and sorts a table's rows (semaphores under their set).
//!
//! A table's rows are made when the store changes; a large table's cells are made when first
//! asked for (by its [`Fill`]) and kept with the row: the visible rows', the sorted
//! column's, every cell when a filter is typed — so a change to 10,000 objects costs what a
//! frame shows, not 10,000 rows of text.
use std::{cell::OnceCell, cmp::Ordering, rc::Rc};

use crate::ui::{
    fmt,
    store::Store,
    theme::{Theme, Tone},
    view::Target,
};

/// A cell's value: what it shows and how it sorts, one and the same.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Nothing for this row (a set's row in a semaphore's column).
    Blank,
    /// Not known: "?".
    Unknown,
    Int(i64),
    /// A count or rate, compact: "1.2k".
    Count(f64),
    /// A duration in seconds, "≥" before a lower bound.
    Dur {
        s: f64,
        at_least: bool,
    },
    /// A duration in ns ("-" for none).
    Ns(u64),
    /// Seconds since something ("never").
    Ago(Option<f64>),
    Size(u64),
    /// A queue's bytes against its maximum: a bar, the percentage, the bytes.
    Fill {
        bytes: u64,
        max: Option<u64>,
    },
    IpcKey(i32),
    Perms(u32),
    Text(String),
    /// Pids: up to three, "+N" for the rest, "-" for none; sorted by how many.
    Pids(Vec<u32>),
    /// A value, then words about it (sorted by the value).
    With(Box<Value>, String),
    /// A mark before the value (a tree's branch).
    Lead(&'static str, Box<Value>),
}

/// What a value sorts by.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum SortKey<'a> {
    Num(f64),
    Text(&'a str),
}

impl Value {
    /// A count that shows "-" for none.
    pub fn or_dash(n: u64) -> Value {
        if n == 0 {
            Value::Text("-".into())
        } else {
            Value::Int(n as i64)
        }
    }

    /// A pid, "-" for none (the kernel's 0).
    pub fn pid(p: u32) -> Value {
        if p == 0 {
            Value::Text("-".into())
        } else {
            Value::Int(p.into())
        }
    }

    pub fn with(self, words: impl Into<String>) -> Value {
        Value::With(Box::new(self), words.into())
    }

    pub fn text(&self, t: &Theme) -> String {
        match self {
            Value::Blank => String::new(),
            Value::Unknown => "?".into(),
            Value::Int(n) => n.to_string(),
            Value::Count(x) => fmt::num(*x),
            Value::Dur { s, at_least } => {
                let mark = if *at_least { t.at_least() } else { "" };
                format!("{mark}{}", fmt::dur(*s))
            }
            Value::Ns(n) => fmt::dur_ns(t, *n),
            Value::Ago(Some(s)) => fmt::dur(*s),
            Value::Ago(None) => "never".into(),
            Value::Size(b) => fmt::size(*b),
            Value::Fill { bytes, max } => match max {
                Some(m) if *m > 0 => {
                    let r = *bytes as f64 / *m as f64;
                    format!("{} {:>3.0}% {}", t.bar(r, 5), r * 100.0, fmt::size(*bytes))
                }
                _ => format!("{} / ?", fmt::size(*bytes)),
            },
            Value::IpcKey(k) => crate::event::Key(*k).to_string(),
            Value::Perms(p) => format!("{p:04o}"),
            Value::Text(s) => s.clone(),
            Value::Pids(v) => fmt::pids(v.iter().copied(), 3),
            Value::With(v, w) if w.is_empty() => v.text(t),
            Value::With(v, w) => format!("{} {w}", v.text(t)),
            Value::Lead(m, v) => format!("{m}{}", v.text(t)),
        }
    }

    /// The sort key; "-" (none) sorts as 0, unknown and blank first, "never" last.
    pub fn key(&self) -> SortKey<'_> {
        match self {
            Value::Blank | Value::Unknown => SortKey::Num(f64::NEG_INFINITY),
            Value::Int(n) => SortKey::Num(*n as f64),
            Value::Count(x) => SortKey::Num(*x),
            Value::Dur { s, .. } => SortKey::Num(*s),
            Value::Ns(n) => SortKey::Num(*n as f64),
            Value::Ago(Some(s)) => SortKey::Num(*s),
            Value::Ago(None) => SortKey::Num(f64::INFINITY),
            Value::Size(b) | Value::Fill { bytes: b, .. } => SortKey::Num(*b as f64),
            Value::IpcKey(k) => SortKey::Num(f64::from(*k as u32)),
            Value::Perms(p) => SortKey::Num(f64::from(*p)),
            Value::Text(s) if s == "-" => SortKey::Num(0.0),
            Value::Text(s) => SortKey::Text(s),
            Value::Pids(v) => SortKey::Num(v.len() as f64),
            Value::With(v, _) | Value::Lead(_, v) => v.key(),
        }
    }
}

/// Compares two keys: numbers by value, texts as a person reads them (case aside, runs of
/// digits as numbers: "sem 9" before "sem 10"); numbers before texts.
pub fn cmp_keys(a: SortKey, b: SortKey) -> Ordering {
    match (a, b) {
        (SortKey::Num(x), SortKey::Num(y)) => x.total_cmp(&y),
        (SortKey::Num(_), SortKey::Text(_)) => Ordering::Less,
        (SortKey::Text(_), SortKey::Num(_)) => Ordering::Greater,
        (SortKey::Text(x), SortKey::Text(y)) => natural(x, y),
    }
}

/// Texts compared case-insensitively with runs of digits as numbers.
pub fn natural(a: &str, b: &str) -> Ordering {
    let (mut a, mut b) = (a.chars().peekable(), b.chars().peekable());
    loop {
        match (a.peek().copied(), b.peek().copied()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) if x.is_ascii_digit() && y.is_ascii_digit() => {
                let run = |it: &mut std::iter::Peekable<std::str::Chars>| {
                    let mut s = String::new();
                    while let Some(c) = it.next_if(char::is_ascii_digit) {
                        s.push(c);
                    }
                    s
                };
                let (x, y) = (run(&mut a), run(&mut b));
                let (xt, yt) = (x.trim_start_matches('0'), y.trim_start_matches('0'));
                let o = xt.len().cmp(&yt.len()).then_with(|| xt.cmp(yt));
                if o != Ordering::Equal {
                    return o;
                }
            }
            (Some(x), Some(y)) => {
                let o = x.to_lowercase().cmp(y.to_lowercase());
                if o != Ordering::Equal {
                    return o;
                }
                a.next();
                b.next();
            }
        }
    }
}

/// How a column sorts: not at all, or smallest or largest first by default.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sort {
    No,
    Asc,
    Desc,
}

/// A column: its title, width (0: takes what is left), how much it matters (0 first: narrow
/// terminals drop the columns that matter least; [`HIDE`]: left out, and not filtered on),
/// alignment and sort.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Column {
    pub title: &'static str,
    pub width: u16,
    pub prio: u8,
    pub right: bool,
    pub sort: Sort,
    /// A cell too long for the column loses its middle rather than its end, from the last
    /// place this text is (a call's result: `" = "`).
    pub tail: Option<&'static str>,
}

/// The priority of a column a view leaves out (a TID column when every TID is its PID).
pub const HIDE: u8 = u8::MAX;

/// A left-aligned column, sorted smallest first (names, ids).
pub const fn col(title: &'static str, width: u16, prio: u8) -> Column {
    Column {
        title,
        width,
        prio,
        right: false,
        sort: Sort::Asc,
        tail: None,
    }
}

/// A right-aligned column of figures, sorted largest first.
pub const fn rcol(title: &'static str, width: u16, prio: u8) -> Column {
    Column {
        title,
        width,
        prio,
        right: true,
        sort: Sort::Desc,
        tail: None,
    }
}

impl Column {
    pub const fn asc(self) -> Self {
        Self {
            sort: Sort::Asc,
            ..self
        }
    }

    pub const fn desc(self) -> Self {
        Self {
            sort: Sort::Desc,
            ..self
        }
    }

    pub const fn nosort(self) -> Self {
        Self {
            sort: Sort::No,
            ..self
        }
    }

    pub const fn keep_tail(self, from: &'static str) -> Self {
        Self {
            tail: Some(from),
            ..self
        }
    }

    pub const fn prio(self, prio: u8) -> Self {
        Self { prio, ..self }
    }

    pub fn sortable(&self) -> bool {
        self.sort != Sort::No
    }
}

/// A row: its identity (the selection follows it), one value per column (made when first
/// asked for, in a table with a [`Fill`]), what Enter opens, its tone, and rows shown below
/// it when it is open (a set's semaphores).
#[derive(Clone, Debug)]
pub struct Row {
    pub id: u64,
    /// How many cells it has, and those made (the room for them made with the first).
    n: usize,
    cells: OnceCell<Box<[OnceCell<Cell>]>>,
    pub target: Option<Target>,
    pub tone: Tone,
    pub sub: Vec<Row>,
}

impl Row {
    /// A row whose cells are these.
    pub fn new(id: u64, cells: Vec<Value>, target: Option<Target>) -> Self {
        Self {
            id,
            n: cells.len(),
            cells: OnceCell::from(
                cells
                    .into_iter()
                    .map(|value| OnceCell::from(Cell::from(value)))
                    .collect::<Box<[_]>>(),
            ),
            target,
            tone: Tone::Plain,
            sub: Vec::new(),
        }
    }

    /// A row of `n` cells its table's [`Fill`] makes when they are asked for.
    pub fn lazy(id: u64, n: usize, target: Option<Target>) -> Self {
        Self {
            id,
            n,
            cells: OnceCell::new(),
            target,
            tone: Tone::Plain,
            sub: Vec::new(),
        }
    }

    pub fn tone(self, tone: Tone) -> Self {
        Self { tone, ..self }
    }

    /// How many cells it has.
    pub fn width(&self) -> usize {
        self.n
    }
}

/// A cell: its value, and its text once drawn or filtered on.
#[derive(Clone, Debug)]
struct Cell {
    value: Value,
    text: OnceCell<String>,
}

impl From<Value> for Cell {
    fn from(value: Value) -> Self {
        Self {
            value,
            text: OnceCell::new(),
        }
    }
}

/// Makes a cell of a row (store, theme, row, column): what a large table's rows ask when a
/// cell is first wanted. It holds what the builder worked out once for every row (waiters
/// per semaphore, the marks of findings), of the store the rows were built from.
pub type Fill = Rc<dyn Fn(&Store, Theme, &Row, usize) -> Value>;

/// A view's rows, built from the model once per change (see `cache`).
#[derive(Clone, Default)]
pub struct Table {
    /// "Semaphore sets": the title, before its counts.
    pub name: String,
    /// Said after the counts (what could not be read), and how.
    pub note: Option<(String, Tone)>,
    pub columns: Vec<Column>,
    pub rows: Vec<Row>,
    /// What an empty table says.
    pub empty: String,
    /// The view's own order: column and largest first.
    pub sort: (usize, bool),
    /// The title gets the count of rows (a name that has its own counts does not).
    pub counts: bool,
    /// Makes the cells of lazy rows.
    pub fill: Option<Fill>,
    /// The order the rows were built in, if it is a sort's (then sorting by it is free).
    pub built_sorted: Option<(usize, bool)>,
}

impl std::fmt::Debug for Table {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Table")
            .field("name", &self.name)
            .field("columns", &self.columns.len())
            .field("rows", &self.rows.len())
            .finish_non_exhaustive()
    }
}

/// Where a line of a table's order comes from: a row, or one of its `sub` rows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RowRef {
    pub row: usize,
    pub sub: Option<usize>,
}

impl Table {
    pub fn row(&self, l: RowRef) -> &Row {
        let r = &self.rows[l.row];
        l.sub.map_or(r, |s| &r.sub[s])
    }

    /// A row's cell in column `c` (made now if it was not yet), `None` past its cells.
    fn cell<'a>(&'a self, s: &Store, t: Theme, r: &'a Row, c: usize) -> Option<&'a Cell> {
        if c >= r.n {
            return None;
        }
        let cells = r
            .cells
            .get_or_init(|| vec![OnceCell::new(); r.n].into_boxed_slice());
        Some(cells[c].get_or_init(|| {
            Cell::from(match &self.fill {
                Some(f) => f(s, t, r, c),
                None => Value::Blank,
            })
        }))
    }

    /// A row's value in column `c` (blank past its cells).
    pub fn value<'a>(&'a self, s: &Store, t: Theme, r: &'a Row, c: usize) -> &'a Value {
        static BLANK: Value = Value::Blank;
        self.cell(s, t, r, c).map_or(&BLANK, |x| &x.value)
    }

    /// A row's text in column `c`, as the value writes it (kept once written).
    pub fn text<'a>(&'a self, s: &Store, t: Theme, r: &'a Row, c: usize) -> &'a str {
        self.cell(s, t, r, c)
            .map_or("", |x| x.text.get_or_init(|| x.value.text(&t)))
    }

    /// Whether a row's shown text contains `needle` (lowercase): any cell of a column that
    /// is not left out, whatever the terminal's width.
    pub fn matches(&self, s: &Store, t: Theme, r: &Row, needle: &str) -> bool {
        self.columns.iter().enumerate().any(|(c, col)| {
            col.prio != HIDE
                && !matches!(self.value(s, t, r, c), Value::Blank)
                && self.text(s, t, r, c).to_lowercase().contains(needle)
        })
    }
}

/// A table's lines in order: the rows that match `filter`, sorted by `sort` (column,
/// largest first) or else kept as built, each followed by its sub-rows — all of them when the
/// row matches, else those that match (which keep their row).
pub fn order(
    table: &Table,
    s: &Store,
    t: Theme,
    filter: &str,
    sort: Option<(usize, bool)>,
) -> Vec<RowRef> {
    let needle = filter.to_lowercase();
    // Each row kept, with its sub-rows shown (`None`: all of them).
    let mut top: Vec<(usize, Option<Vec<usize>>)> = (0..table.rows.len())
        .filter_map(|i| {
            let r = &table.rows[i];
            if needle.is_empty() || table.matches(s, t, r, &needle) {
                return Some((i, None));
            }
            let subs: Vec<usize> = (0..r.sub.len())
                .filter(|&j| table.matches(s, t, &r.sub[j], &needle))
                .collect();
            (!subs.is_empty()).then_some((i, Some(subs)))
        })
        .collect();
    let sort = sort.filter(|(c, _)| table.columns.get(*c).is_some_and(|c| c.sortable()));
    if let Some((c, desc)) = sort.filter(|&x| Some(x) != table.built_sorted) {
        let keys: Vec<SortKey> = top
            .iter()
            .map(|&(i, _)| table.value(s, t, &table.rows[i], c).key())
            .collect();
        let mut idx: Vec<usize> = (0..top.len()).collect();
        idx.sort_by(|&a, &b| {
            let o = cmp_keys(keys[a], keys[b]);
            if desc {
                o.reverse()
            } else {
                o
            }
        });
        let mut sorted: Vec<Option<(usize, Option<Vec<usize>>)>> =
            top.into_iter().map(Some).collect();
        top = idx.into_iter().filter_map(|i| sorted[i].take()).collect();
    }
    let mut out = Vec::with_capacity(top.len());
    for (i, subs) in top {
        out.push(RowRef { row: i, sub: None });
        let subs = subs.unwrap_or_else(|| (0..table.rows[i].sub.len()).collect());
        out.extend(subs.into_iter().map(|j| RowRef {
            row: i,
            sub: Some(j),
        }));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_sort_as_people_read_them() {
        assert_eq!(natural("sem 9", "sem 10"), Ordering::Less);
        assert_eq!(natural("Sem 10", "sem 9"), Ordering::Greater);
        assert_eq!(natural("abc", "ABC"), Ordering::Equal);
        assert_eq!(natural("a", "ab"), Ordering::Less);
        assert_eq!(natural("007", "7"), Ordering::Equal);
    }

    #[test]
    fn a_value_sorts_by_what_it_shows() {
        let t = Theme::default();
        let v = Value::Dur {
            s: 1020.0,
            at_least: true,
        };
        assert_eq!(v.text(&t), "≥17m00s");
        assert_eq!(v.key(), SortKey::Num(1020.0));
        assert_eq!(Value::Pids(vec![1, 2, 3, 4]).text(&t), "1,2,3,+1");
        assert_eq!(Value::Pids(vec![1, 2, 3, 4]).key(), SortKey::Num(4.0));
        assert_eq!(Value::Ago(None).text(&t), "never");
        let w = Value::Int(3).with("rcv 12");
        assert_eq!(
            (w.text(&t), w.key()),
            ("3 rcv 12".into(), SortKey::Num(3.0))
        );
    }
}
