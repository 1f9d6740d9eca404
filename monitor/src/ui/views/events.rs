//! Events: a scrolling log of decoded calls, the same text as `ipctop trace`; it follows the
//! end unless scrolled up (or paused with `p`). When the probe aggregates in the kernel it is
//! a sample (failures, waits, creates, removals, control calls): the title says how many calls
//! it leaves out.
use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{col, matches, table, Cx};
use crate::{
    line::text_line,
    ui::app::{Target, View, ViewState},
};

const COLS: [super::Col; 1] = [col(
    "TIME            PID COMM CALL = RESULT <DURATION>",
    0,
    0,
)];

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState, follow: bool) {
    let t = cx.t;
    let log = &cx.s.log;
    let clock = cx.s.model.clock();
    let first = cx.s.logged - log.len() as u64;
    // Of the namespaces in scope (the kernel's stamp, else the caller's as known).
    let m = &cx.s.model;
    let scoped = *m.scope() != crate::model::Scope::All;
    let in_scope = |ev: &crate::event::Event| {
        !scoped || m.in_scope(ev.ipc_ns.unwrap_or_else(|| m.process_ns(ev.pid)))
    };
    let idx: Vec<usize> = (0..log.len())
        .filter(|&i| in_scope(&log[i].0))
        .filter(|&i| matches(&vs.filter, || text_line(&log[i].0, &clock, log[i].1)))
        .collect();
    let keys: Vec<u64> = idx.iter().map(|&i| first + i as u64).collect();
    if follow && !keys.is_empty() {
        vs.list.selected = keys.len() - 1;
        vs.list.moved = true;
    }
    let left_out = cx.s.calls_not_logged();
    let mut title = if scoped {
        format!(
            " Events ({} of {} kept: {}{})",
            idx.len(),
            log.len(),
            m.scope().describe(),
            match vs.filter.as_str() {
                "" => String::new(),
                f => format!(", filter \"{f}\""),
            }
        )
    } else if vs.filter.is_empty() && left_out > 0 {
        format!(
            " Events: sample, {} of {} kept; {} calls counted, not shown",
            log.len(),
            cx.s.logged,
            left_out
        )
    } else if vs.filter.is_empty() {
        format!(" Events ({} kept of {} seen)", log.len(), cx.s.logged)
    } else {
        format!(
            " Events ({} of {} kept, filter \"{}\")",
            idx.len(),
            log.len(),
            vs.filter
        )
    };
    title.push_str(if follow { " following " } else { " scrolled " });
    let empty = if cx.s.logged == 0 {
        match &cx.s.probe {
            crate::feed::ProbeStatus::SnapshotOnly(_) => {
                "no events: the probe is not running (snapshots only)"
            }
            _ => "no calls seen yet",
        }
    } else if vs.filter.is_empty() {
        "no event of the namespaces shown (n: the next)"
    } else {
        "no event matches the filter"
    };
    let sort = super::sorted(View::Events, vs);
    // The line's room (inside the borders).
    let width = usize::from(area.width.saturating_sub(2));
    vs.shown = table(
        f,
        area,
        &t,
        Line::from(title),
        &COLS,
        &keys,
        &mut vs.list,
        empty,
        sort,
        true,
        |i, _| {
            let (ev, at) = &log[idx[i]];
            Line::from(keep_result(text_line(ev, &clock, *at), width, &t))
        },
        |i| {
            let ev = &log[idx[i]].0;
            if ev.failed() {
                t.alert()
            } else if ev.in_progress() {
                t.warn()
            } else {
                Style::new()
            }
        },
    );
}

/// The process of a logged call (the rows' key is its number in the log).
pub fn target(cx: &Cx, key: u64) -> Option<Target> {
    let first = cx.s.logged - cx.s.log.len() as u64;
    let (ev, _) = cx.s.log.get(key.checked_sub(first)? as usize)?;
    Some(Target::Proc(ev.pid))
}

/// A call too long for the line loses the middle of its arguments, never its result: the
/// errno and the duration at the end are what a person reads the log for.
fn keep_result(line: String, width: usize, t: &crate::ui::theme::Theme) -> String {
    let n = line.chars().count();
    if n <= width || width < 20 {
        return line;
    }
    let Some(eq) = line.rfind(" = ") else {
        return line;
    };
    let tail = &line[eq..];
    let tail_n = tail.chars().count();
    if tail_n + 10 > width {
        return line;
    }
    let head: String = line.chars().take(width - tail_n - 1).collect();
    format!("{head}{}{tail}", t.ellipsis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_result_survives_a_narrow_line() {
        let t = crate::ui::theme::Theme::default();
        let l = "12:00:00.000000 1203 pg-writer semtimedop(semid=65536, [{0,-1,SEM_UNDO}], 1, NULL) = -1 EAGAIN (Resource temporarily unavailable) <0.1ms>".to_string();
        let s = keep_result(l.clone(), 78, &t);
        assert_eq!(s.chars().count(), 78, "{s}");
        assert!(
            s.ends_with(" = -1 EAGAIN (Resource temporarily unavailable) <0.1ms>"),
            "{s}"
        );
        assert!(s.starts_with("12:00:00.000000 1203 p"), "{s}");
        assert_eq!(keep_result(l.clone(), 300, &t), l);
    }
}
