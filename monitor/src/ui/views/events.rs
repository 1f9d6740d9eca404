//! Events: a scrolling log of decoded calls, the same text as `ipctop trace`; it follows the
//! end unless scrolled up (or paused with `p`). When the probe aggregates in the kernel it is
//! a sample (failures, waits, creates, removals, control calls): the title says how many calls
//! it leaves out.
use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{col, matches, table, Cx};
use crate::{
    line::text_line,
    ui::app::{Target, ViewState},
};

const COLS: [super::Col; 1] = [col(
    "TIME            PID COMM CALL = RESULT <DURATION>",
    0,
    0,
)];

pub fn draw(
    f: &mut Frame,
    area: Rect,
    cx: &Cx,
    vs: &mut ViewState,
    follow: bool,
) -> Option<Target> {
    let t = cx.t;
    let log = &cx.s.log;
    let clock = cx.s.model.clock();
    let first = cx.s.logged - log.len() as u64;
    let idx: Vec<usize> = if vs.filter.is_empty() {
        (0..log.len()).collect()
    } else {
        (0..log.len())
            .filter(|&i| matches(&vs.filter, || text_line(&log[i].0, &clock, log[i].1)))
            .collect()
    };
    let keys: Vec<u64> = idx.iter().map(|&i| first + i as u64).collect();
    if follow && !keys.is_empty() {
        vs.list.selected = keys.len() - 1;
        vs.list.moved = true;
    }
    let left_out = cx.s.calls_not_logged();
    let mut title = if vs.filter.is_empty() && left_out > 0 {
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
    } else {
        "no event matches the filter"
    };
    table(
        f,
        area,
        &t,
        Line::from(title),
        &COLS,
        &keys,
        &mut vs.list,
        empty,
        true,
        |i, _| {
            let (ev, at) = &log[idx[i]];
            Line::from(text_line(ev, &clock, *at))
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
    let k = vs.list.key?;
    let (ev, _) = log.get(k.checked_sub(first)? as usize)?;
    Some(Target::Proc(ev.pid))
}
