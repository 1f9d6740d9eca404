//! Long waits without the probe.
use super::*;

#[test]
fn long_waits_without_the_probe_need_two_snapshots() {
    let mut s = snap();
    s.sem.push(sem(60, &[(0, 1, 1200)], NOW - 5));
    let mut p = proc_(1201, NOW - 100);
    p.waits = Some(vec![sem_wait(1201, 60, 0, -1)]);
    s.processes.extend([p, proc_(1200, NOW - 100)]);
    let mut m = model(&s);
    let long = |m: &Model| {
        analyze(m, &Config::default())
            .into_iter()
            .filter(|f| matches!(f.what, What::LongWait { .. }))
            .collect::<Vec<_>>()
    };
    assert!(long(&m).is_empty());
    assert_eq!(m.waits().next().unwrap().since_s(m.now_mono_ns()), None);
    let mut s2 = s.clone();
    s2.mono_ns += 20 * S;
    s2.unix_ns += 20 * S;
    m.feed_snapshot(&s2);
    let l = long(&m);
    assert_eq!(l.len(), 1);
    assert!(matches!(
        l[0].what,
        What::LongWait {
            pid: 1201,
            exact: false,
            ..
        }
    ));
    assert!(l[0].reason.contains("at least 20.0 s"), "{}", l[0].reason);
}
