//! Help (`?`, F1): every key, drawn from the one table of keys ([`crate::ui::keys`]), over
//! the current view; it scrolls when it does not fit.
use ratatui::{
    layout::Rect,
    text::{Line, Span},
    widgets::{Clear, Paragraph},
    Frame,
};

use super::table::{block, centered, wrap_line};
use crate::ui::{keys::SECTIONS, rows::Cx};

/// The help's lines: one per binding, a heading per section.
pub fn lines(cx: &Cx, width: usize) -> Vec<Line<'static>> {
    let t = cx.t;
    let label = |k: &str| {
        if t.unicode {
            k.to_string()
        } else {
            k.replace('↑', "Up")
                .replace('↓', "Down")
                .replace('→', "Right")
                .replace('←', "Left")
                .replace('…', "..")
        }
    };
    let kw = SECTIONS
        .iter()
        .flat_map(|(_, b)| b.iter())
        .map(|b| label(b.label).chars().count())
        .max()
        .unwrap_or(0);
    let mut lines = Vec::new();
    for (title, binds) in SECTIONS {
        if !title.is_empty() {
            lines.push(Line::styled(format!(" {title}"), t.title()));
        }
        for b in *binds {
            let l = Line::from(vec![
                Span::styled(format!(" {:<kw$}  ", label(b.label)), t.key()),
                Span::raw(b.help),
            ]);
            lines.extend(wrap_line(l, width, kw + 3));
        }
    }
    lines.push(Line::styled(
        format!(
            " Numbers: waits grow live; {} means at least; calls/s and waits/s are per sample.",
            if t.unicode { "≥" } else { ">=" }
        ),
        t.dim(),
    ));
    lines
}

/// Draws the help with its first line at `scroll` (clamped here); `page` gets its height.
pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, scroll: &mut u16, page: &mut u16) {
    let t = cx.t;
    let width = area.width.saturating_sub(2) as usize;
    let lines = lines(cx, width);
    let w = lines.iter().map(|l| l.width()).max().unwrap_or(0) as u16 + 2;
    let r = centered(area, w, lines.len() as u16 + 2);
    let h = r.height;
    let inner_h = h.saturating_sub(2);
    *page = inner_h;
    let max = (lines.len() as u16).saturating_sub(inner_h);
    *scroll = (*scroll).min(max);
    let more = if max == 0 {
        String::new()
    } else {
        format!(
            "{}/{} {}",
            *scroll + inner_h,
            lines.len(),
            if t.unicode {
                "↑↓ PgUp PgDn"
            } else {
                "Up Down PgUp PgDn"
            }
        )
    };
    f.render_widget(Clear, r);
    let b = block(r, &t, Line::from(" Help: keys (Esc closes) "))
        .title_bottom(Line::from(more).right_aligned());
    let inner = b.inner(r);
    f.render_widget(b, r);
    f.render_widget(Paragraph::new(lines).scroll((*scroll, 0)), inner);
}
