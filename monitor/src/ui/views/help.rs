//! Help (`?`): every key, over the current view.
use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::{Clear, Paragraph},
    Frame,
};

use super::Cx;
use crate::ui::app::{KEYS, REPLAY_KEYS};

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx) {
    let t = cx.t;
    let kw = KEYS
        .iter()
        .chain(REPLAY_KEYS)
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    let push = |lines: &mut Vec<Line>, k: &str, what: &str| {
        let k = if t.unicode {
            k.to_string()
        } else {
            k.replace('↑', "Up")
                .replace('↓', "Down")
                .replace('→', "Right")
                .replace('←', "Left")
                .replace('…', "..")
        };
        lines.push(Line::from(vec![
            Span::styled(format!(" {k:<kw$}  "), t.key()),
            Span::raw(what.to_string()),
        ]));
    };
    for (k, w) in KEYS {
        push(&mut lines, k, w);
    }
    lines.push(Line::styled(" Replays (ipctop replay):", t.title()));
    for (k, w) in REPLAY_KEYS {
        push(&mut lines, k, w);
    }
    lines.push(Line::styled(
        " Esc or ? closes this help.  Numbers: waits grow live; >= means at least.",
        t.dim(),
    ));
    let w = (lines.iter().map(|l| l.width()).max().unwrap_or(0) as u16 + 2).min(area.width);
    let h = (lines.len() as u16 + 2).min(area.height);
    let r = Rect {
        x: area.x + (area.width - w) / 2,
        y: area.y + (area.height - h) / 2,
        width: w,
        height: h,
    };
    f.render_widget(Clear, r);
    let b = super::block(r, &t, Line::from(" Help: keys "));
    let inner = b.inner(r);
    f.render_widget(b, r);
    f.render_widget(Paragraph::new(lines), inner);
}
