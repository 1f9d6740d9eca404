//! The rows are built from the model when it changes, not per frame: each table, detail and
//! the Problems view is kept with the stamp of the store it was built from (its generation,
//! and the pause epoch: a paused display shows a frozen copy), and a table's order (filter,
//! sort) with the filter and sort it was made for.
use std::collections::{BTreeSet, HashMap};

use super::{
    cx::Cx,
    doc::Doc,
    events, overview, problems, procs, queues,
    sems::{self, Open},
    shm,
    table::{order, RowRef, Table},
};
use crate::{model::ObjId, ui::view::Target};

/// The store a build is of: the pause epoch and the store's generation.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Stamp {
    pub epoch: u64,
    pub generation: u64,
}

/// The tables the views show.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TableId {
    Waits,
    Busiest,
    Sems,
    Shm,
    Queues,
    Procs,
    Events,
    Posix,
}

/// What a table's rows depend on besides the store: the open sets, the processes shown.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Opts {
    pub expand_all: bool,
    pub expanded: BTreeSet<ObjId>,
    pub procs: procs::Shown,
}

/// What a table's order was made for: the store, the filter and the sort.
type OrderKey = (Stamp, String, Option<(usize, bool)>);

/// A table and its order.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    built: Option<(Stamp, Opts)>,
    pub table: Table,
    ordered: Option<OrderKey>,
    pub order: Vec<RowRef>,
    /// The rows' ids in that order (what the selection follows).
    ids: Vec<u64>,
}

impl Entry {
    /// The sort in force: the one asked for, else the table's own.
    pub fn sort(&self, asked: Option<(usize, bool)>) -> (usize, bool) {
        asked
            .filter(|(c, _)| self.table.columns.get(*c).is_some_and(|c| c.sortable()))
            .unwrap_or(self.table.sort)
    }

    /// The row ids in order (what the selection follows).
    pub fn ids(&self) -> &[u64] {
        &self.ids
    }

    /// What Enter opens on the row of this id.
    pub fn target_of(&self, id: u64) -> Option<Target> {
        self.order
            .iter()
            .map(|&l| self.table.row(l))
            .find(|r| r.id == id)
            .and_then(|r| r.target)
    }
}

#[derive(Clone, Debug, Default)]
pub struct Cache {
    tables: HashMap<TableId, Entry>,
    docs: HashMap<Target, (Stamp, Doc)>,
    problems: Option<(Stamp, usize, String, Doc)>,
}

fn build(id: TableId, cx: &Cx, opts: &Opts, prev: Option<Table>) -> Table {
    match id {
        TableId::Waits => overview::waits(cx),
        TableId::Busiest => overview::busiest(cx),
        TableId::Sems => sems::table(
            cx,
            &Open {
                all: opts.expand_all,
                sets: &opts.expanded,
            },
        ),
        TableId::Shm => shm::table(cx),
        TableId::Queues => queues::table(cx),
        TableId::Procs => procs::table(cx, opts.procs),
        TableId::Events => events::table(cx, prev),
        TableId::Posix => super::posix::table(cx),
    }
}

impl Cache {
    /// The table `id` of the store `cx` shows (built again if the store changed since),
    /// ordered by `filter` and `sort`.
    pub fn table(
        &mut self,
        id: TableId,
        cx: &Cx,
        stamp: Stamp,
        opts: &Opts,
        filter: &str,
        sort: Option<(usize, bool)>,
    ) -> &Entry {
        let e = self.tables.entry(id).or_default();
        // Only what a table depends on: the open sets matter to the semaphores alone.
        let opts = match id {
            TableId::Sems => Opts {
                procs: Default::default(),
                ..opts.clone()
            },
            TableId::Procs => Opts {
                procs: opts.procs,
                ..Opts::default()
            },
            _ => Opts::default(),
        };
        let fresh = e
            .built
            .as_ref()
            .is_some_and(|(s, o)| *s == stamp && *o == opts);
        if !fresh {
            let prev = std::mem::take(&mut e.table);
            e.table = build(id, cx, &opts, Some(prev));
            e.built = Some((stamp, opts));
            e.ordered = None;
        }
        let sort = Some(e.sort(sort));
        let key = (stamp, filter.to_string(), sort);
        if e.ordered.as_ref() != Some(&key) {
            e.order = order(&e.table, cx.s, cx.t, filter, sort);
            e.ids = e.order.iter().map(|&l| e.table.row(l).id).collect();
            e.ordered = Some(key);
        }
        e
    }

    /// The details of `target` in the store `cx` shows.
    pub fn doc(&mut self, cx: &Cx, stamp: Stamp, target: Target) -> &Doc {
        if self.docs.len() > 64 {
            self.docs.retain(|_, (s, _)| *s == stamp);
        }
        let e = self.docs.entry(target).or_insert_with(|| {
            (
                Stamp {
                    epoch: u64::MAX,
                    ..stamp
                },
                Doc::default(),
            )
        });
        if e.0 != stamp {
            *e = (stamp, super::detail::doc(cx, target));
        }
        &e.1
    }

    /// The Problems view laid out for `width` columns, its entries that match `filter`.
    pub fn problems(&mut self, cx: &Cx, stamp: Stamp, width: usize, filter: &str) -> &Doc {
        let fresh = self
            .problems
            .as_ref()
            .is_some_and(|(s, w, f, _)| *s == stamp && *w == width && f == filter);
        if !fresh {
            let d = problems::doc(cx, width).filtered(filter);
            self.problems = Some((stamp, width, filter.to_string(), d));
        }
        &self.problems.as_ref().expect("just built").3
    }
}
