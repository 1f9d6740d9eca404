//! The dashboard drawn on a test backend, as text (what a terminal of that size shows).
use ipctop::ui::{views, App};
use ratatui::{backend::TestBackend, Terminal};

/// One frame of `app` at `w`x`h`, a line per row.
pub fn screen(app: &mut App, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    t.draw(|f| views::draw(f, app)).unwrap();
    let b = t.backend().buffer();
    let mut out = String::new();
    for y in 0..b.area.height {
        for x in 0..b.area.width {
            out.push_str(b[(x, y)].symbol());
        }
        out.push('\n');
    }
    out
}
