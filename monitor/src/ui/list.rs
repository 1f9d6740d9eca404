//! Selection and scrolling state: a list's (`ListState`) and a view's (`ViewState`: its
//! list, filter and sort).
use ratatui::layout::Rect;

/// A scrolling, selectable list. The selection follows its row's key when the data changes
/// (rows re-sort every update); keys move it by index.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ListState {
    pub selected: usize,
    pub offset: usize,
    pub key: Option<u64>,
    /// Moved by a key since the last draw (then the index wins over the key).
    pub moved: bool,
    /// Rows and visible rows at the last draw.
    pub len: usize,
    pub page: usize,
    /// Details: scrolled by the page rather than by the selection; the lines drawn.
    pub free: bool,
    pub len_lines: usize,
    /// Where the last draw put the rows, for the mouse: their area, the column titles
    /// (x from, x to, column) on the line above, and for lists of several lines per item
    /// (details, Problems) the item of each visible line.
    pub rows: Rect,
    pub header: Vec<(u16, u16, usize)>,
    pub line_items: Vec<Option<usize>>,
}

impl ListState {
    /// Settles the selection on this draw's rows.
    pub fn resolve(&mut self, keys: &[u64]) {
        self.len = keys.len();
        if !self.moved {
            if let Some(k) = self.key {
                if let Some(i) = keys.iter().position(|&x| x == k) {
                    self.selected = i;
                }
            }
        }
        self.moved = false;
        self.selected = self.selected.min(self.len.saturating_sub(1));
        self.key = keys.get(self.selected).copied();
    }

    /// Keeps the selection within `height` visible rows.
    pub fn scroll(&mut self, height: usize) {
        self.page = height.max(1);
        if self.selected < self.offset {
            self.offset = self.selected;
        }
        if self.selected >= self.offset + self.page {
            self.offset = self.selected + 1 - self.page;
        }
        self.offset = self.offset.min(self.len.saturating_sub(self.page));
    }

    /// Scrolls the page by lines (details), leaving the selection to follow.
    pub(super) fn scroll_by(&mut self, delta: isize) {
        let max = self.len_lines.saturating_sub(self.page) as isize;
        self.offset = (self.offset as isize + delta).clamp(0, max.max(0)) as usize;
        self.free = true;
    }

    pub(super) fn step(&mut self, delta: isize) {
        self.free = false;
        let max = self.len.saturating_sub(1) as isize;
        self.selected = (self.selected as isize + delta).clamp(0, max.max(0)) as usize;
        self.moved = true;
    }

    pub(super) fn home(&mut self) {
        self.selected = 0;
        self.moved = true;
    }

    pub(super) fn end(&mut self) {
        self.selected = self.len.saturating_sub(1);
        self.moved = true;
    }
}

/// Per view: selection, filter, sort.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ViewState {
    pub list: ListState,
    pub filter: String,
    /// The column sorted by and whether largest first (`None`: the view's own order).
    pub sort: Option<(usize, bool)>,
    /// Processes: every process, not only those using IPC.
    pub all: bool,
    /// Processes: each with its objects below it (F5).
    pub tree: bool,
    /// The columns the last draw showed (`s` sorts only by those).
    pub shown: Vec<usize>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selection_follows_its_key_and_moves_by_index() {
        let mut l = ListState::default();
        l.resolve(&[10, 20, 30]);
        l.step(1);
        l.resolve(&[10, 20, 30]);
        assert_eq!((l.selected, l.key), (1, Some(20)));
        // Re-sorted: the selection follows 20.
        l.resolve(&[20, 30, 10]);
        assert_eq!((l.selected, l.key), (0, Some(20)));
        // Gone: the index stays, clamped.
        l.selected = 2;
        l.key = Some(99);
        l.resolve(&[1, 2]);
        assert_eq!((l.selected, l.key), (1, Some(2)));
        l.resolve(&[]);
        assert_eq!((l.selected, l.key), (0, None));
        // Scrolling keeps the selection visible.
        l.resolve(&(0..100).collect::<Vec<u64>>());
        l.selected = 50;
        l.scroll(10);
        assert_eq!(l.offset, 41);
        l.selected = 3;
        l.scroll(10);
        assert_eq!(l.offset, 3);
    }
}
