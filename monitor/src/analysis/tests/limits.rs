//! Limits nearly reached.
use super::*;

#[test]
fn limits_nearly_reached() {
    let mut s = snap();
    s.limits.shmmni = Some(10);
    s.limits.msgmni = Some(100);
    s.processes.push(proc_(1400, NOW - 1000));
    for i in 0..9 {
        let mut r = shm(100 + i, 1400, 0, NOW - 10);
        r.size = 4096 * 3;
        s.shm.push(r);
    }
    for i in 0..50 {
        s.msg.push(msg(200 + i, 0, 0, 0));
    }
    let f = run(&s);
    let l: Vec<_> = f
        .iter()
        .filter_map(|f| match f.what {
            What::LimitNear { limit, used, max } => Some((limit, used, max)),
            _ => None,
        })
        .collect();
    assert_eq!(l, [("shmmni", 9, 10)]);
    let usage = limit_usage(&model(&s));
    let pages = usage.iter().find(|u| u.limit == "shmall").unwrap();
    assert_eq!(pages.used, 27);
}
