//! Drawing a table of rows (`rows::table`): the columns that fit by width and priority, the
//! sort mark, the visible rows' cells (cut with an ellipsis; the full text is in the
//! details), the selection, and where in a long list it is (`12/2,000`). Word wrapping for
//! the documents.
use ratatui::{
    layout::{Constraint, Layout, Rect},
    text::{Line, Span},
    widgets::{Block, Cell, Paragraph, Row, Table},
    Frame,
};

use crate::ui::{
    fmt::thousands,
    list::ViewState,
    rows::{
        table::{Column, HIDE},
        Entry,
    },
    store::Store,
    theme::Theme,
};

/// The columns that fit in `width`, most important first, shown in their order.
pub fn pick(cols: &[Column], width: u16) -> Vec<usize> {
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

/// A box of `w`x`h` (at most the area's) in the middle of `area`, for what is drawn over
/// the views (the help, the picker).
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let (w, h) = (w.min(area.width), h.min(area.height));
    Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    }
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

/// A table's title: its name and counts ("(12)", "(3 of 12, filter "x")"), then its note.
pub fn title(e: &Entry, t: &Theme, filter: &str, extra: &str) -> Line<'static> {
    let (shown, total) = (
        e.order.iter().filter(|l| l.sub.is_none()).count(),
        e.table.rows.len(),
    );
    let name = &e.table.name;
    let mut l = Line::from(match (filter.is_empty(), e.table.counts) {
        (true, true) => format!(" {name} ({total}){extra} "),
        (true, false) => format!(" {name}{extra} "),
        (false, true) => format!(" {name} ({shown} of {total}, filter \"{filter}\"){extra} "),
        (false, false) => format!(" {name}: {shown} match \"{filter}\"{extra} "),
    });
    if let Some((note, tone)) = &e.table.note {
        l.spans.push(Span::styled(note.clone(), t.style(*tone)));
    }
    l
}

/// Draws `e`'s rows in their order, only the visible ones formatted, the selection kept in
/// `vs.list`; `vs.shown` gets the columns shown. `focused`: the selection is drawn.
pub fn draw(
    f: &mut Frame,
    area: Rect,
    (s, t): (&Store, &Theme),
    e: &Entry,
    vs: &mut ViewState,
    title: Line,
    focused: bool,
) {
    let list = &mut vs.list;
    let cols = &e.table.columns;
    let mut b = block(area, t, title);
    let inner = b.inner(area);
    list.resolve(e.ids());
    let height = inner.height.saturating_sub(1) as usize;
    list.scroll(height);
    // Where in a long list: the selected row of how many.
    if focused && e.order.len() > height && inner.height > 0 && inner != area {
        b = b.title_bottom(
            Line::from(format!(
                " {}/{} ",
                thousands(list.selected as u64 + 1),
                thousands(e.order.len() as u64)
            ))
            .right_aligned(),
        );
    }
    f.render_widget(b, area);
    if inner.height == 0 || inner.width == 0 {
        vs.shown = Vec::new();
        return;
    }
    let chosen = pick(cols, inner.width);
    let sort = e.sort(vs.sort);
    let header = Row::new(chosen.iter().map(|&c| {
        let col = &cols[c];
        let title = if sort.0 == c {
            sorted_title(col, t.sort_mark(sort.1))
        } else {
            col.title.to_string()
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
    if e.order.is_empty() {
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
            let empty = if vs.filter.is_empty() {
                e.table.empty.clone()
            } else {
                format!("nothing matches /{} (Esc clears the filter)", vs.filter)
            };
            f.render_widget(
                Paragraph::new(Span::styled(empty, t.dim()))
                    .wrap(ratatui::widgets::Wrap { trim: true }),
                r,
            );
        }
        vs.shown = chosen;
        return;
    }
    let end = (list.offset + height).min(e.order.len());
    let rows: Vec<Row> = (list.offset..end)
        .map(|i| {
            let r = e.table.row(e.order[i]);
            let cells = chosen.iter().map(|&c| {
                let text = e.table.text(s, *t, r, c).to_string();
                let col = &cols[c];
                Cell::from(if col.right {
                    fit_right(text, col.width, t)
                } else {
                    fit_left(Line::from(text), real_w(c), col.tail, t)
                })
            });
            let st = if focused && i == list.selected {
                t.selected()
            } else {
                t.style(r.tone)
            };
            Row::new(cells).style(st)
        })
        .collect();
    f.render_widget(
        Table::new(rows, widths).header(header).column_spacing(1),
        inner,
    );
    vs.shown = chosen;
}

/// A column's title with the sort mark (before a right-aligned title, after a left one),
/// the title shortened if the mark would not fit.
fn sorted_title(col: &Column, mark: &str) -> String {
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

/// A right-aligned cell. Right alignment cuts what does not fit from the left, which turns
/// uid 1234567 into a wrong `234567`: a number wider than its column keeps its first digits
/// and ends in a marker instead (`12345…`), so what shows is never a different number.
fn fit_right(text: String, width: u16, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || Span::raw(text.as_str()).width() <= w {
        return Line::from(text).right_aligned();
    }
    let mut kept: String = text.chars().take(w.saturating_sub(1)).collect();
    kept.push_str(if t.unicode { "…" } else { "+" });
    Line::from(kept)
}

/// A left-aligned cell cut to `width`, ending in an ellipsis when something was cut; with
/// `tail`, the middle goes instead and the end from the last `tail` on stays (a call's
/// result is what a person reads the log for).
pub fn fit_left(l: Line<'static>, width: u16, tail: Option<&str>, t: &Theme) -> Line<'static> {
    let w = usize::from(width);
    if w == 0 || l.width() <= w {
        return l;
    }
    if let Some(mark) = tail {
        let text: String = l.spans.iter().map(|s| s.content.as_ref()).collect();
        if let Some(at) = text.rfind(mark) {
            let end = &text[at..];
            let n = end.chars().count();
            if w >= 20 && n + 10 <= w {
                let head: String = text.chars().take(w - n - 1).collect();
                return Line::from(format!("{head}{}{end}", t.ellipsis())).style(l.style);
            }
        }
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
    use crate::ui::rows::table::{col, rcol};

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
        let _ = rcol("E", 1, 0);
    }

    #[test]
    fn long_uids_are_not_cut_from_the_left() {
        let t = Theme::default();
        let s = |x: &str| fit_right(x.to_string(), 6, &t).to_string();
        assert_eq!(s("1234567"), "12345…");
        assert_eq!(s("4294967294"), "42949…");
        assert_eq!(s("0"), "0");
    }

    #[test]
    fn the_result_survives_a_narrow_call() {
        let t = Theme::default();
        let l = "semtimedop(semid=65536, [{0,-1,SEM_UNDO}], 1, NULL) = -1 EAGAIN (Resource temporarily unavailable)";
        let s = fit_left(Line::from(l), 78, Some(" = "), &t).to_string();
        assert_eq!(s.chars().count(), 78, "{s}");
        assert!(
            s.ends_with(" = -1 EAGAIN (Resource temporarily unavailable)"),
            "{s}"
        );
        assert!(s.starts_with("semtimedop(semid=65536, [{"), "{s}");
        assert_eq!(fit_left(Line::from(l), 300, Some(" = "), &t).to_string(), l);
    }
}
