//! Drawing a document (`rows::doc`: the details, the Problems view): lines wrapped to the
//! width (a wrapped link keeps its index on every piece, so the whole of it is highlighted),
//! the selected link kept in view, or the page scrolled with the first link in view
//! selected, so Enter goes to something shown.
use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::Paragraph,
    Frame,
};

use super::table::{block, wrap_hanging};
use crate::ui::{list::ListState, rows::doc::DocLine, theme::Theme};

/// A document's line as ratatui draws it.
pub fn line(t: &Theme, l: &DocLine) -> Line<'static> {
    Line::from(
        l.spans
            .iter()
            .map(|s| Span::styled(s.text.clone(), t.style(s.tone)))
            .collect::<Vec<_>>(),
    )
}

/// Draws `lines` in a box titled `title`; with `focused`, the links are selectable (the
/// selection in `list`: its index among the document's links).
pub fn draw(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    title: String,
    lines: &[DocLine],
    list: &mut ListState,
    focused: bool,
) {
    let b = block(area, t, Line::from(title));
    let inner = b.inner(area);
    f.render_widget(b, area);
    let n_links = lines
        .iter()
        .filter(|l| l.target.is_some() && !l.cont)
        .count();
    list.resolve(&(0..n_links as u64).collect::<Vec<_>>());
    let width = inner.width as usize;
    let mut wrapped: Vec<(Line<'static>, Option<usize>)> = Vec::new();
    let mut link_i = 0;
    for l in lines {
        let li = match (l.target, l.cont) {
            (None, _) => None,
            (Some(_), true) => Some(link_i - 1),
            (Some(_), false) => {
                link_i += 1;
                Some(link_i - 1)
            }
        };
        for piece in wrap_hanging(line(t, l), width) {
            wrapped.push((piece, li));
        }
    }
    let h = inner.height as usize;
    let max_top = wrapped.len().saturating_sub(h);
    let mut top = list.offset.min(max_top);
    // The selected link kept in view, unless the page was scrolled (then the first link in
    // view becomes the selection).
    let first = |i: usize| wrapped.iter().position(|(_, l)| *l == Some(i));
    let last = |i: usize| wrapped.iter().rposition(|(_, l)| *l == Some(i));
    if list.free {
        let first_in_view = wrapped[top..(top + h).min(wrapped.len())]
            .iter()
            .find_map(|(_, l)| *l);
        let sel_line = first(list.selected);
        if sel_line.is_none_or(|l| l < top || l >= top + h) {
            if let Some(i) = first_in_view {
                list.selected = i;
                list.key = Some(i as u64);
            }
        }
    } else if let (Some(a), Some(z)) = (first(list.selected), last(list.selected)) {
        if a < top {
            top = a;
        }
        if z >= top + h {
            top = (z + 1).saturating_sub(h).min(a);
        }
    }
    list.offset = top.min(max_top);
    list.page = h.max(1);
    list.len_lines = wrapped.len();
    list.rows = inner;
    list.header.clear();
    list.line_items = wrapped
        .iter()
        .skip(list.offset)
        .take(h)
        .map(|(_, li)| *li)
        .collect();
    let out: Vec<Line> = wrapped
        .into_iter()
        .skip(list.offset)
        .take(h)
        .map(|(l, li)| {
            if focused && li == Some(list.selected) {
                l.patch_style(t.selected())
            } else {
                l
            }
        })
        .collect();
    f.render_widget(Paragraph::new(out), inner);
}
