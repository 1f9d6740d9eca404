//! Shared memory: segments with size, nattch, who has them attached, whether their creator
//! is alive, age, hugetlb, marked for destruction.
use ratatui::{layout::Rect, style::Style, text::Line, Frame};

use super::{ago, col, dir, matches, pids, rcol, size, table, Cx};
use crate::{
    model::Segment,
    ui::app::{View, ViewState},
};

const COLS: [super::Col; 13] = [
    rcol("SHMID", 8, 0),
    col("KEY", 11, 4),
    rcol("SIZE", 10, 0),
    rcol("NATTCH", 6, 0),
    col("ATTACHED", 14, 1),
    col("CREATOR", 13, 1),
    rcol("AGE", 7, 2),
    col("FLAGS", 9, 2),
    rcol("LAST AT/DT", 10, 3),
    rcol("RSS", 10, 4),
    col("OWNER", 8, 6),
    col("PERMS", 5, 6),
    col("IPC NS", 10, super::HIDE),
];

/// "alive", "gone" or "reused" for a creator pid.
pub fn creator_state(cx: &Cx, s: &Segment) -> &'static str {
    if cx.s.model.alive_at(s.creator_pid, s.ctime) {
        "alive"
    } else if cx.alive(s.creator_pid) {
        "reused"
    } else {
        "gone"
    }
}

/// "huge", "dest", "lock", "+?" (attachments hidden in unreadable processes).
pub fn flags(s: &Segment) -> String {
    let mut v = Vec::new();
    if s.hugetlb == Some(true) {
        v.push("huge");
    }
    if s.marked_for_destroy {
        v.push("dest");
    }
    if s.locked {
        v.push("lock");
    }
    if v.is_empty() {
        "-".into()
    } else {
        v.join(",")
    }
}

pub fn draw(f: &mut Frame, area: Rect, cx: &Cx, vs: &mut ViewState) {
    let t = cx.t;
    let m = &cx.s.model;
    let mut segs: Vec<&Segment> = m
        .segments()
        .filter(|s| {
            matches(&vs.filter, || {
                format!(
                    "{} {} {} {} {} {}",
                    super::ns::shown_label(cx, s.id.ns),
                    s.id.id,
                    crate::event::Key(s.key),
                    s.creator_pid,
                    pids(s.attached_pids(), 999),
                    flags(s)
                )
            })
        })
        .collect();
    segs.sort_by(|a, b| {
        let o = match vs.sort {
            0 => a.id.id.cmp(&b.id.id),
            1 => a.size.cmp(&b.size),
            2 => a.nattch.cmp(&b.nattch),
            _ => b.ctime.cmp(&a.ctime),
        };
        dir(o, vs.desc).then(super::by_id(a.id, b.id))
    });
    let keys: Vec<u64> = segs.iter().map(|s| cx.s.obj_key(s.id)).collect();
    let total = m.segments().count();
    let leaked = super::leaked(cx, crate::analysis::IpcKind::Shm);
    let sort = super::sorted(View::Shm, vs);
    let mut cols = COLS;
    cols[12] = super::ns::column(cx);
    vs.shown = table(
        f,
        area,
        &t,
        super::title_with("Shared memory segments", segs.len(), total, &vs.filter),
        &cols,
        &keys,
        &mut vs.list,
        &super::empty_text(
            &vs.filter,
            "no shared memory segments in this IPC namespace",
        ),
        sort,
        true,
        |i, c| {
            let s = segs[i];
            Line::from(match c {
                0 => s.id.id.to_string(),
                1 => crate::event::Key(s.key).to_string(),
                2 => size(s.size),
                3 => s.nattch.to_string(),
                4 => {
                    let mut p = pids(s.attached_pids(), 3);
                    if !s.attachments_complete {
                        p.push_str(",?");
                    }
                    p
                }
                5 => format!("{} {}", s.creator_pid, creator_state(cx, s)),
                6 => ago(cx.now_unix, s.ctime),
                7 if leaked.contains(&s.id) => match flags(s).as_str() {
                    "-" => "LEAK".into(),
                    f => format!("LEAK {f}"),
                },
                7 => flags(s),
                8 => ago(cx.now_unix, s.atime.max(s.dtime)),
                9 => s.rss.map_or("-".into(), size),
                10 => cx.user(s.owner_uid),
                12 => super::ns::label(cx, s.id.ns),
                _ => format!("{:04o}", s.perms),
            })
        },
        |i| {
            if leaked.contains(&segs[i].id) {
                t.warn()
            } else if segs[i].marked_for_destroy {
                t.dim()
            } else {
                Style::new()
            }
        },
    );
}
