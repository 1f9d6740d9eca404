//! Objects and processes coming and going: shm attach/detach/remove, vanished processes, other namespaces.
use super::*;

#[test]
fn shm_events_attach_detach_remove() {
    let mut s = snap();
    s.shm.push(shm(300, 1500, 0, NOW - 10));
    s.processes.push(proc_(1500, NOW - 100));
    let mut m = model(&s);
    let t = MONO + S;
    let at = |shmid| Args::Shmat {
        shmid,
        shmaddr: 0,
        flags: Flags::new(0, crate::event::SHMAT_FLAGS),
    };
    m.feed_event(&ev(1500, t, Some(t + 1), at(300), Some(0x7000_0000)));
    assert_eq!(m.segment(300).unwrap().attached_pids(), [1500]);
    assert_eq!(m.segment(300).unwrap().nattch, 1);
    assert_eq!(m.process(1500).unwrap().attached_shmids(), [300]);
    m.feed_event(&ev(
        1500,
        t + 2,
        Some(t + 3),
        Args::Shmctl {
            shmid: 300,
            cmd: crate::event::Cmd {
                value: 0,
                name: Some("IPC_RMID"),
            },
        },
        Some(0),
    ));
    assert!(m.segment(300).unwrap().marked_for_destroy);
    m.feed_event(&ev(
        1500,
        t + 4,
        Some(t + 5),
        Args::Shmdt {
            shmaddr: 0x7000_0000,
        },
        Some(0),
    ));
    assert!(m.segment(300).is_none());
    assert!(m.process(1500).unwrap().attached_shmids().is_empty());
    // The account: the shmdt counts on the segment it detached (found by its address), which
    // has ended: its final account is among the retired.
    let a = m.account();
    assert_eq!(a.process(1500).unwrap().calls, 3);
    assert_eq!(a.total().calls, 3);
    let shm = crate::model::ObjId { ns: NS, id: 300 };
    assert!(a.object(crate::model::ObjKind::Shm, shm).is_none());
    let gone: Vec<u64> = a
        .retired()
        .filter(|r| {
            matches!(r.what, crate::model::RetiredWhat::Object { key, .. }
                if key == (crate::model::ObjKind::Shm, shm))
        })
        .map(|r| r.tally.calls)
        .collect();
    assert_eq!(gone, [3]);
}

#[test]
fn processes_vanish_and_other_namespaces_are_counted() {
    let mut s = snap();
    s.processes.push(proc_(1600, NOW - 100));
    let mut other = proc_(1601, NOW - 100);
    other.ipc_ns = Some(NS + 1);
    other.attachments = None;
    let mut other2 = proc_(1602, NOW - 100);
    other2.ipc_ns = Some(NS + 1);
    s.processes.extend([other, other2]);
    let mut m = model(&s);
    // Every namespace by default; one when the scope says so, the others counted.
    assert_eq!(m.processes().count(), 3);
    m.set_scope(crate::model::Scope::Ns(NS));
    assert_eq!(m.processes().count(), 1);
    let o = m.other_namespaces();
    assert_eq!((o.len(), o[0].processes), (1, 2));
    let mut s2 = s.clone();
    s2.processes.truncate(1);
    let mut m2 = m.clone();
    m2.feed_snapshot(&s2);
    assert!(m2.other_namespaces().is_empty());
}
