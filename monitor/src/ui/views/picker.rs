//! The namespace picker (`N`): every IPC namespace with its container, processes and
//! objects, over the current view; Enter shows the one chosen.
use ratatui::{
    layout::Rect,
    text::Line,
    widgets::{Clear, Paragraph},
    Frame,
};

use super::table::{block, centered, fit_left};
use crate::ui::rows::{picker::Choice, Cx};

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, choices: &[Choice], at: usize) {
    let t = cx.t;
    let widest = choices
        .iter()
        .map(|c| c.text.chars().count() + 4)
        .max()
        .unwrap_or(0)
        .max(40) as u16;
    let r = centered(area, widest + 2, choices.len() as u16 + 2);
    f.render_widget(Clear, r);
    let b = block(
        r,
        &t,
        Line::from(" Show which IPC namespace? (Enter; Esc closes) "),
    );
    let inner = b.inner(r);
    f.render_widget(b, r);
    let rows = inner.height as usize;
    let top = at.saturating_sub(rows.saturating_sub(1));
    let lines: Vec<Line> = choices
        .iter()
        .enumerate()
        .skip(top)
        .take(rows)
        .map(|(i, c)| {
            let mark = if c.current { "* " } else { "  " };
            let l = fit_left(
                Line::from(format!("{mark}{}", c.text)),
                inner.width,
                None,
                &t,
            );
            if i == at {
                l.patch_style(t.selected())
            } else {
                l
            }
        })
        .collect();
    f.render_widget(Paragraph::new(lines), inner);
}
