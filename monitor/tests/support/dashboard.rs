//! The dashboard in tmux, for its end-to-end tests: started, filtered, and its waits read.
use std::time::Duration;

use super::{tmux::Tmux, IPCTOP};

/// `ipctop ARGS` started in a new tmux of `w`x`h`, and its first screen with its header.
pub fn dashboard(tag: &str, w: u16, h: u16, args: &str) -> (Tmux, String) {
    let t = Tmux::start(tag, w, h);
    t.type_text(&format!("{IPCTOP} {args}; echo EXIT=$?"));
    t.keys(&["Enter"]);
    let s = t.wait_for("the header", Duration::from_secs(30), |s| {
        s.starts_with("ipctop ") && s.contains("Waiting now")
    });
    (t, s)
}

/// Escape, then a pause as a person's would be: a terminal tells a lone Escape from the start
/// of an escape sequence (or Alt+key) only by the time until the next byte, so Escape sent
/// together with the next keys can be read as Alt+key.
pub fn esc(t: &Tmux) {
    t.keys(&["Escape"]);
    std::thread::sleep(Duration::from_millis(200));
}

/// `/WHAT` Enter: the view's filter.
pub fn filter(t: &Tmux, what: &str) {
    t.keys(&["/"]);
    t.type_text(what);
    t.keys(&["Enter"]);
}

/// The waited time on the screen line of `pid` in the overview ("12.3s", "≥2.0s", "1m05s"),
/// and whether it is a lower bound (`≥`).
pub fn waited_of(screen: &str, pid: u32) -> Option<(f64, bool)> {
    let pid = pid.to_string();
    let line = screen
        .lines()
        .map(|l| l.replace(['│', '|'], " "))
        .find(|l| l.split_whitespace().next() == Some(pid.as_str()))?;
    line.split_whitespace().find_map(|w| {
        let at_least = w.starts_with(['≥', '>']);
        let w = w.trim_start_matches(['≥', '>', '=']);
        let secs = if let Some((m, s)) = w.split_once('m') {
            m.parse::<f64>().ok()? * 60.0 + s.strip_suffix('s')?.parse::<f64>().ok()?
        } else {
            w.strip_suffix('s')?.parse::<f64>().ok()?
        };
        Some((secs, at_least))
    })
}
