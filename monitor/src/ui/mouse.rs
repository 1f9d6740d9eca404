//! The mouse (a click on a tab, a column title, a row; the wheel) and the sort orders it
//! and the keys choose (`s`, `<`, `>`, `S`): every sortable column the last draw showed.
use ratatui::crossterm::event::{KeyCode, KeyEvent, MouseButton, MouseEvent, MouseEventKind};

use super::{
    app::{Action, App},
    rows,
    view::View,
};

impl App {
    /// Handles the mouse: a click on a tab goes there, on a column title sorts by it (again:
    /// reverses), on a row selects it (on the selected row: opens it, as Enter); the wheel
    /// scrolls.
    pub fn on_mouse(&mut self, m: MouseEvent) -> Action {
        let (x, y) = (m.column, m.row);
        let view = self.screen.view;
        match m.kind {
            MouseEventKind::ScrollUp | MouseEventKind::ScrollDown => {
                let d: isize = if m.kind == MouseEventKind::ScrollUp {
                    -3
                } else {
                    3
                };
                if self.help {
                    self.help_scroll = (self.help_scroll as isize + d).max(0) as u16;
                } else if self.picker.is_some() {
                    return Action::None;
                } else if self.in_doc() {
                    self.list().scroll_by(d);
                } else {
                    self.list().step(d);
                    if d < 0 {
                        self.unfollow(view);
                    }
                }
                Action::Redraw
            }
            MouseEventKind::Down(MouseButton::Left)
                if !self.help && self.input.is_none() && self.picker.is_none() =>
            {
                self.message = None;
                if Some(y) == self.tabs_y {
                    if let Some(&(_, _, v)) =
                        self.tabs.iter().find(|(a, b, _)| (*a..*b).contains(&x))
                    {
                        self.go(v);
                        return Action::Redraw;
                    }
                    return Action::None;
                }
                let in_doc = self.in_doc();
                let l = self.list();
                let r = l.rows;
                if y + 1 == r.y && (r.x..r.x + r.width).contains(&x) && !in_doc {
                    let col = l.header.iter().find(|(a, b, _)| (*a..*b).contains(&x));
                    let Some(&(_, _, col)) = col else {
                        return Action::None;
                    };
                    return self.sort_by_col(col);
                }
                if !(r.y..r.y + r.height).contains(&y) || !(r.x..r.x + r.width).contains(&x) {
                    return Action::None;
                }
                let i = usize::from(y - r.y);
                let item = if l.line_items.is_empty() {
                    Some(l.offset + i)
                } else {
                    l.line_items.get(i).copied().flatten()
                };
                let Some(item) = item.filter(|&n| n < l.len) else {
                    return Action::None;
                };
                if item == l.selected && !(in_doc && l.free) {
                    return self.on_key(KeyEvent::from(KeyCode::Enter));
                }
                l.selected = item;
                l.moved = true;
                l.free = false;
                if view == View::Events && !in_doc {
                    self.follow = false;
                }
                Action::Redraw
            }
            _ => Action::None,
        }
    }

    /// The columns of the view's table (none for Problems).
    fn columns(&mut self, view: View) -> Vec<rows::table::Column> {
        self.entry(view)
            .map(|e| e.table.columns.clone())
            .unwrap_or_default()
    }

    /// The sort in force in a view: column and largest first.
    pub(super) fn sort_now(&mut self, view: View) -> Option<(usize, bool)> {
        let asked = self.views[view.index()].sort;
        self.entry(view).map(|e| e.sort(asked))
    }

    /// A click on a column title: sort by it, largest first for times and counts; a second
    /// click reverses.
    fn sort_by_col(&mut self, col: usize) -> Action {
        let view = self.screen.view;
        let cols = self.columns(view);
        let Some(c) = cols.get(col).filter(|c| c.sortable()) else {
            return Action::None;
        };
        let now = self.sort_now(view);
        self.view_state().sort = Some(match now {
            Some((sc, desc)) if sc == col => (col, !desc),
            _ => (col, c.sort == rows::table::Sort::Desc),
        });
        Action::Redraw
    }

    /// The columns `s`, `<` and `>` may sort by: sortable, and shown at the last draw (when
    /// it said which were).
    fn sortable(&mut self, view: View) -> Vec<(usize, bool)> {
        let cols = self.columns(view);
        let shown = self.views[view.index()].shown.clone();
        cols.iter()
            .enumerate()
            .filter(|(i, c)| c.sortable() && (shown.is_empty() || shown.contains(i)))
            .map(|(i, c)| (i, c.sort == rows::table::Sort::Desc))
            .collect()
    }

    /// `<` / `>`: sort by the nearest shown column left (`by` < 0) or right of the sorted
    /// one that can sort (times and counts largest first); at the edge, stays.
    pub(super) fn move_sort(&mut self, by: i32) {
        let view = self.screen.view;
        let Some((cur, _)) = self.sort_now(view) else {
            return;
        };
        let can = self.sortable(view);
        let best = if by < 0 {
            can.into_iter()
                .filter(|(c, _)| *c < cur)
                .max_by_key(|(c, _)| *c)
        } else {
            can.into_iter()
                .filter(|(c, _)| *c > cur)
                .min_by_key(|(c, _)| *c)
        };
        if let Some(s) = best {
            self.view_state().sort = Some(s);
        }
    }

    /// `s`: the next sort order of the view (its column shown, when the last draw said which
    /// are); times and counts start largest first.
    pub(super) fn next_sort(&mut self) {
        let view = self.screen.view;
        let Some((cur, _)) = self.sort_now(view) else {
            return;
        };
        let can = self.sortable(view);
        let next = can.iter().find(|(c, _)| *c > cur).or(can.first()).copied();
        if let Some(s) = next {
            self.view_state().sort = Some(s);
        }
    }
}
