//! The model across IPC namespaces: a snapshot's other namespaces, the same ids in two of
//! them, the scope, and findings that never mix namespaces.
use super::*;
use crate::{
    analysis::{self, What},
    fixtures::{self, Feed, MONO, NOW, NS, ROOT},
    snapshot::namespaces::NsObjects,
};

const NS2: NsId = NS + 7;

/// Home namespace NS and NS2 both with set 0; in each a waiter on semaphore 0 of its set 0
/// whose last user (the holder GETPID guesses) is the other namespace's waiter: with ids
/// mixed up across namespaces that is a cycle, within them it is nothing.
fn two_namespaces() -> Model {
    let mut s = fixtures::snapshot(MONO, 1 << 30, None);
    s.sem.push(fixtures::sem(
        0,
        0x11,
        0o600,
        ROOT,
        &[(0, 1, 20)],
        NOW - 5,
        NOW - 60,
    ));
    let mut w10 = fixtures::process(10, "waiter-a", None, NOW - 100);
    w10.waits = Some(vec![fixtures::sem_wait(10, 0, 0, -1)]);
    let mut w20 = fixtures::process(20, "waiter-b", None, NOW - 100);
    w20.ipc_ns = Some(NS2);
    w20.waits = Some(vec![fixtures::sem_wait(20, 0, 0, -1)]);
    s.processes.extend([w10, w20]);
    s.others.push(NsObjects {
        ipc_ns: NS2,
        via_pid: Some(20),
        shm: Vec::new(),
        sem: vec![fixtures::sem(
            0,
            0x22,
            0o600,
            ROOT,
            &[(0, 1, 10)],
            NOW - 5,
            NOW - 60,
        )],
        msg: Vec::new(),
        limits: s.limits.clone(),
        problems: Vec::new(),
    });
    s.ns_labels = vec![(NS, "host".into()), (NS2, "docker:3f4e5a6b7c8d".into())];
    let mut m = Model::new();
    m.feed_snapshot(&s);
    m
}

#[test]
fn both_namespaces_objects_and_the_scope_shows_one() {
    let mut m = two_namespaces();
    let keys: Vec<(NsId, i32, i32)> = m.sem_sets().map(|s| (s.id.ns, s.id.id, s.key)).collect();
    assert_eq!(keys, [(NS, 0, 0x11), (NS2, 0, 0x22)]);
    assert_eq!(m.waits().count(), 2);
    assert_eq!(m.container_of(NS2), Some("docker:3f4e5a6b7c8d"));
    let n = m.namespaces();
    assert_eq!(n.len(), 2);
    assert!(n[0].home && !n[1].home && n[1].objects == 1);
    m.set_scope(Scope::Container("3f4e5a6b".into()));
    assert_eq!(m.sem_sets().map(|s| s.id.ns).collect::<Vec<_>>(), [NS2]);
    assert_eq!(m.waits().map(|w| w.pid).collect::<Vec<_>>(), [20]);
    assert_eq!(m.processes().map(|p| p.pid).collect::<Vec<_>>(), [20]);
    assert_eq!(m.view_ns(), NS2);
    assert_eq!(m.sem_set(0).map(|s| s.key), Some(0x22));
    assert_eq!(m.other_namespaces().len(), 1);
    m.set_scope(Scope::Ns(NS));
    assert_eq!(m.sem_set(0).map(|s| s.key), Some(0x11));
    assert_eq!(m.limits_of(NS2), m.limits_of(NS));
    // A snapshot without NS2's process: that namespace is gone, and its objects with it.
    m.set_scope(Scope::All);
    let mut s = fixtures::snapshot(MONO + 1, 1 << 30, None);
    s.processes
        .push(fixtures::process(10, "waiter-a", None, NOW - 100));
    m.feed_snapshot(&s);
    assert!(m.sem_sets().all(|s| s.id.ns == NS));
}

#[test]
fn a_holder_in_another_namespace_is_no_deadlock() {
    let m = two_namespaces();
    // Each waiter's holder is looked for in its own namespace's set only.
    for w in m.waits() {
        let (_, h) = m.wait_holders(w).unwrap();
        let h = h.expect("the set's last user");
        assert_ne!(m.process_ns(h.pids[0]), w.ns);
    }
    let f = analysis::analyze(&m, &Default::default());
    assert!(
        !f.iter().any(|f| matches!(f.what, What::Deadlock { .. })),
        "{f:?}"
    );
    assert!(!analysis::analyze(&m, &Default::default())
        .iter()
        .any(|f| f.what.kind() == "deadlock"));
}
