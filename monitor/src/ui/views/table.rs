//! Tables whose columns are chosen by width and priority, cells cut with an ellipsis (the
//! full text is in the details), the sort mark, and word wrapping for details and Problems.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    style::Style,
    text::{Line, Span},
    widgets::{Block, Cell, Paragraph, Row, Table, Wrap},
    Frame,
};

use crate::ui::{
    app::{ListState, View, ViewState},
    theme::Theme,
};

/// A table column: its width (0: takes what is left), and how much it matters (0 first):
/// narrow terminals drop the columns that matter least.
#[derive(Clone, Copy, Debug)]
pub struct Col {
    pub title: &'static str,
    pub width: u16,
    pub prio: u8,
    pub right: bool,
}

pub const fn col(title: &'static str, width: u16, prio: u8) -> Col {
    Col {
        title,
        width,
        prio,
        right: false,
    }
}

pub const fn rcol(title: &'static str, width: u16, prio: u8) -> Col {
    Col {
        title,
        width,
        prio,
        right: true,
    }
}

/// The priority of a column a view leaves out (a TID column when every TID is its PID).
pub const HIDE: u8 = u8::MAX;

/// The columns that fit in `width`, most important first, shown in their order.
pub fn pick(cols: &[Col], width: u16) -> Vec<usize> {
    let mut order: Vec<usize> = (0..cols.len()).filter(|&i| cols[i].prio != HIDE).collect();
    order.sort_by_key(|&i| (cols[i].prio, i));
    let mut used = 0u16;
    let mut chosen = Vec::new();
    for i in order {
        // A column taking what is left needs room for a holder or a command to be read.
        let w = if cols[i].width == 0 {
            20
        } else {
            cols[i].width
        };
        let need = w + u16::from(!chosen.is_empty());
        if used + need <= width {
            used += need;
            chosen.push(i);
        }
    }
    if chosen.is_empty() && !cols.is_empty() {
        chosen.push((0..cols.len()).min_by_key(|&i| cols[i].prio).unwrap_or(0));
    }
    chosen.sort();
    chosen
}

/// A bordered block (borderless when there is no room for borders).
pub fn block<'a>(area: Rect, t: &Theme, title: Line<'a>) -> Block<'a> {
    if area.height >= 3 && area.width >= 24 {
        Block::bordered()
            .border_set(t.border())
            .border_style(t.dim())
            .title(title.style(t.title()))
    } else {
        Block::new()
    }
}

/// Draws a table of `keys.len()` rows (already filtered and sorted), only the visible ones
/// formatted (`cell(row, column)`), with the selection kept in `list`.
#[allow(clippy::too_many_arguments)]
pub fn table(
    f: &mut Frame,
    area: Rect,
    t: &Theme,
    title: Line,
    cols: &[Col],
    keys: &[u64],
    list: &mut ListState,
    empty: &str,
    sort: Option<(usize, bool)>,
    focused: bool,
    mut cell: impl FnMut(usize, usize) -> Line<'static>,
    row_style: impl Fn(usize) -> Style,
) -> Vec<usize> {
    let b = block(area, t, title);
    let inner = b.inner(area);
    f.render_widget(b, area);
    list.resolve(keys);
    if inner.height == 0 || inner.width == 0 {
        return Vec::new();
    }
    let chosen = pick(cols, inner.width);
    let header = Row::new(chosen.iter().map(|&c| {
        let col = &cols[c];
        let title = match sort {
            Some((sc, desc)) if sc == c => sorted_title(col, t.sort_mark(desc)),
            _ => col.title.to_string(),
        };
        let l = Line::from(title);
        Cell::from(if col.right { l.right_aligned() } else { l })
    }))
    .style(t.header_row());
    let widths: Vec<Constraint> = chosen
        .iter()
        .map(|&c| match cols[c].width {
            0 => Constraint::Fill(1),
            w => Constraint::Length(w),
        })
        .collect();
    // What each chosen column really gets: cells wider than that end in an ellipsis
    // (their full text is in the details).
    let fixed: u16 =
        chosen.iter().map(|&c| cols[c].width).sum::<u16>() + chosen.len().saturating_sub(1) as u16;
    let fills = chosen
        .iter()
        .filter(|&&c| cols[c].width == 0)
        .count()
        .max(1) as u16;
    let fill_w = inner.width.saturating_sub(fixed) / fills;
    let real_w = |c: usize| match cols[c].width {
        0 => fill_w,
        w => w,
    };
    let height = inner.height.saturating_sub(1) as usize;
    list.scroll(height);
    // For the mouse: the rows' area and the column titles' x ranges (as the table lays
    // them out: fixed widths, one space between, from the left).
    list.rows = Rect {
        y: inner.y + 1,
        height: height as u16,
        ..inner
    };
    list.line_items.clear();
    list.header = Layout::horizontal(widths.clone())
        .spacing(1)
        .flex(ratatui::layout::Flex::Start)
        .split(inner)
        .iter()
        .zip(&chosen)
        .map(|(r, &c)| (r.x, r.x + r.width, c))
        .collect();
    if keys.is_empty() {
        f.render_widget(
            Table::new(Vec::<Row>::new(), widths.clone()).header(header),
            inner,
        );
        if inner.height >= 2 {
            let r = Rect {
                y: inner.y + 1,
                height: inner.height - 1,
                ..inner
            };
            f.render_widget(
                Paragraph::new(Span::styled(empty.to_string(), t.dim())).wrap(Wrap { trim: true }),
                r,
            );
        }
        return chosen;
    }
    let end = (list.offset + height).min(keys.len());
    let rows: Vec<Row> = (list.offset..end)
        .map(|i| {
            let cells = chosen.iter().map(|&c| {
                let l = cell(i, c);
                Cell::from(if cols[c].right {
                    fit_right(l, cols[c].width, t)
                } else {
                    fit_left(l, real_w(c), t)
                })
            });
            let st = if focused && i == list.selected {
                t.selected()
            } else {
                row_style(i)
            };
            Row::new(cells).style(st)
        })
        .collect();
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
    chosen
}

/// A column's title with the sort mark (before a right-aligned title, after a left one),
/// the title shortened if the mark would not fit.
fn sorted_title(col: &Col, mark: &str) -> String {
    let room = if col.width == 0 {
        usize::MAX
    } else {
        usize::from(col.width) - 1
    };
    let title: String = col.title.chars().take(room).collect();
    if col.right {
        format!("{mark}{title}")
    } else {
        format!("{title}{mark}")
    }
}

/// The sort of a view as `table` marks it: the column and whether largest first.
pub fn sorted(view: View, vs: &ViewState) -> Option<(usize, bool)> {
    view.sorts().get(vs.sort).map(|s| (s.col, vs.desc))
}

/// A right-aligned cell. Right alignment cuts what does not fit from the left, which turns
/// uid 1234567 into a wrong `234567`: a number wider than its column keeps its first digits
/// and ends in a marker instead (`12345…`), so what shows is never a different number.
fn fit_right(l: Line<'static>, width: u16, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || l.width() <= w {
        return l.right_aligned();
    }
    let style = l.spans.first().map_or(l.style, |s| l.style.patch(s.style));
    let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
    let mut kept: String = text.chars().take(w.saturating_sub(1)).collect();
    kept.push_str(if t.unicode { "…" } else { "+" });
    Line::from(Span::styled(kept, style))
}

/// A left-aligned cell cut to `width`, ending in an ellipsis when something was cut.
pub fn fit_left(l: Line<'static>, width: u16, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || l.width() <= w {
        return l;
    }
    let mut out = Vec::new();
    let mut room = w - 1;
    for s in l.spans {
        let mut kept = String::new();
        for ch in s.content.chars() {
            let cw = Span::raw(ch.to_string()).width();
            if cw > room {
                break;
            }
            room -= cw;
            kept.push(ch);
        }
        let done = kept.chars().count() < s.content.chars().count();
        out.push(Span::styled(kept, s.style));
        if done {
            break;
        }
    }
    let style = out.last().map_or(l.style, |s| s.style);
    out.push(Span::styled(t.ellipsis(), style));
    Line::from(out).style(l.style)
}

/// Word-wraps a line to `width` columns, continuation lines indented two more than it.
pub fn wrap_hanging(l: Line<'static>, width: usize) -> Vec<Line<'static>> {
    let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
    let lead = text.len() - text.trim_start_matches(' ').len();
    wrap_line(l, width, (lead + 2).min(width / 3))
}

/// Word-wraps a line to `width` columns; continuation lines are indented by `indent`.
pub fn wrap_line(l: Line<'static>, width: usize, indent: usize) -> Vec<Line<'static>> {
    if width <= indent + 4 || l.width() <= width {
        return vec![l];
    }
    let mut lines = Vec::new();
    let mut cur: Vec<Span<'static>> = Vec::new();
    let mut used = 0usize;
    for s in l.spans {
        // Words with their trailing space.
        let text = s.content.to_string();
        let mut rest = text.as_str();
        while !rest.is_empty() {
            let end = rest.find(' ').map_or(rest.len(), |i| i + 1);
            let (word, tail) = rest.split_at(end);
            rest = tail;
            let ww = Span::raw(word.trim_end()).width();
            if used + ww > width && used > indent {
                lines.push(Line::from(std::mem::take(&mut cur)).style(l.style));
                cur.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            // A word longer than a whole line is cut into pieces.
            let mut word = word.to_string();
            while used + Span::raw(word.trim_end()).width() > width {
                let take = width.saturating_sub(used).max(1);
                let head: String = word.chars().take(take).collect();
                word = word.chars().skip(take).collect();
                cur.push(Span::styled(head, s.style));
                lines.push(Line::from(std::mem::take(&mut cur)).style(l.style));
                cur.push(Span::raw(" ".repeat(indent)));
                used = indent;
            }
            used += Span::raw(word.as_str()).width();
            cur.push(Span::styled(word, s.style));
        }
    }
    if !cur.is_empty() {
        lines.push(Line::from(cur).style(l.style));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn columns_fit_by_priority() {
        let cols = [
            col("A", 10, 0),
            col("B", 10, 2),
            col("C", 10, 1),
            col("D", 0, 3),
        ];
        assert_eq!(pick(&cols, 100), [0, 1, 2, 3]);
        assert_eq!(pick(&cols, 21), [0, 2]);
        // The last one needs 20 columns.
        assert_eq!(pick(&cols, 52), [0, 1, 2]);
        assert_eq!(pick(&cols, 53), [0, 1, 2, 3]);
        assert_eq!(pick(&cols, 5), [0]);
    }
}

#[cfg(test)]
mod fit_tests {
    use ratatui::{backend::TestBackend, Terminal};

    use super::*;

    #[test]
    fn long_uids_are_not_cut_from_the_left() {
        const COLS: [Col; 2] = [col("PID", 7, 0), rcol("UID", 6, 1)];
        let uids = ["1234567", "4294967294", "0"];
        let keys: Vec<u64> = (0..uids.len() as u64).collect();
        let mut term = Terminal::new(TestBackend::new(30, 6)).unwrap();
        let t = Theme::default();
        let mut list = ListState::default();
        term.draw(|f| {
            let area = f.area();
            table(
                f,
                area,
                &t,
                Line::from("t"),
                &COLS,
                &keys,
                &mut list,
                "",
                None,
                false,
                |i, c| {
                    Line::from(if c == 0 {
                        "1".to_string()
                    } else {
                        uids[i].to_string()
                    })
                },
                |_| Style::new(),
            );
        })
        .unwrap();
        let screen: String = term
            .backend()
            .buffer()
            .content()
            .iter()
            .map(|c| c.symbol())
            .collect();
        assert!(screen.contains("12345…"), "{screen}");
        assert!(screen.contains("42949…"), "{screen}");
        assert!(
            !screen.contains("234567") && !screen.contains("967294"),
            "{screen}"
        );
        assert!(
            screen.contains("     0"),
            "short numbers stay right-aligned: {screen}"
        );
    }
}
