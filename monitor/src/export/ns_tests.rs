//! The exporter across IPC namespaces: set 0 of two namespaces as two objects, each
//! namespace's own stats and findings, its container label, and the scope.
use super::{
    collect::{collect, ProbeHealth},
    families::{head_families, Build, Family, Value, NAMESPACE_INFO, OBJECTS},
    metrics::{Host, Kind},
};
use crate::{
    analysis,
    feed::{Stamped, Update},
    fixtures::{self, MONO, NOW, NS, ROOT},
    model::{Model, Scope},
    snapshot::namespaces::NsObjects,
};

const NS2: u64 = NS + 9;

fn host_of(m: &Model, f: &[analysis::Finding]) -> Host {
    collect(m, f, true, &ProbeHealth::default())
}

fn families(host: &Host) -> Vec<Family> {
    head_families(host, &Build::default(), 0)
}

fn model() -> Model {
    let mut s = fixtures::snapshot(MONO, 1 << 20, None);
    s.processes
        .push(fixtures::process(100, "worker", None, NOW - 60));
    let mut other = fixtures::process(200, "worker", None, NOW - 60);
    other.ipc_ns = Some(NS2);
    s.processes.push(other);
    s.sem.push(fixtures::sem(
        0,
        1,
        0o600,
        ROOT,
        &[(1, 0, 100)],
        NOW,
        NOW - 60,
    ));
    // NS2: its set 0, a queue whose users are gone (its creator unknown: no leak), and a
    // segment whose creator is gone (a leak there only).
    let q = fixtures::msg(
        0,
        2,
        3,
        300,
        (4242, 0),
        ROOT,
        fixtures::QueueAges {
            sent: 100,
            received: 0,
            changed: 200,
        },
    );
    s.others.push(NsObjects {
        ipc_ns: NS2,
        via_pid: Some(200),
        shm: vec![fixtures::shm(5, 7, 4096, 4243, 0, NOW - 100, ROOT)],
        sem: vec![fixtures::sem(
            0,
            3,
            0o600,
            ROOT,
            &[(1, 0, 200)],
            NOW,
            NOW - 60,
        )],
        msg: vec![q],
        limits: s.limits.clone(),
        problems: Vec::new(),
    });
    s.ns_labels = vec![(NS, "host".into()), (NS2, "lxc:web".into())];
    let mut m = Model::new();
    m.apply(&Stamped {
        mono_ns: MONO,
        update: Update::Snapshot(Box::new(s)),
    });
    m
}

#[test]
fn each_namespace_its_own_series_and_label() {
    let mut m = model();
    let f = analysis::analyze(&m, &Default::default());
    let host = host_of(&m, &f);
    let sets: Vec<(u64, i32)> = host
        .objects
        .iter()
        .filter(|o| o.kind == Kind::Sem)
        .map(|o| (o.ns, o.id))
        .collect();
    assert_eq!(sets, [(NS, 0), (NS2, 0)]);
    let leaked: Vec<(u64, Kind)> = host
        .objects
        .iter()
        .filter(|o| o.leaked)
        .map(|o| (o.ns, o.kind))
        .collect();
    assert_eq!(leaked, [(NS2, Kind::Shm)]);
    let per_ns: Vec<(u64, Option<&str>, u64)> = host
        .namespaces
        .iter()
        .map(|n| {
            let leaks = n.leaked.iter().map(|(_, x)| x).sum();
            (n.ns, n.container.as_deref(), leaks)
        })
        .collect();
    assert_eq!(per_ns, [(NS, Some("host"), 0), (NS2, Some("lxc:web"), 1)]);
    let fams = families(&host);
    let info = fams.iter().find(|f| f.spec == &NAMESPACE_INFO).unwrap();
    assert_eq!(info.samples.len(), 2);
    assert!(info.samples.iter().all(|s| s.value == Value::Info));
    assert!(info.samples[1]
        .labels
        .contains(&("container", "lxc:web".to_string())));
    // The scope: NS2's only.
    m.set_scope(Scope::Container("web".into()));
    let host = host_of(&m, &analysis::analyze(&m, &Default::default()));
    assert!(host.objects.iter().all(|o| o.ns == NS2));
    assert_eq!(host.namespaces.len(), 1);
    let fams = families(&host);
    let objs = fams.iter().find(|f| f.spec == &OBJECTS).unwrap();
    assert!(objs
        .samples
        .iter()
        .all(|s| s.labels.contains(&("ipc_ns", NS2.to_string()))));
}

#[test]
fn stuck_and_stalled_threads_are_counted_per_namespace_deadlocks_apart() {
    use analysis::{Finding, IpcKind, What};
    let m = model();
    let finding = |ipc_ns, what| Finding {
        what,
        reason: String::new(),
        ipc_ns,
    };
    let stuck = |tid| What::Stuck {
        pid: 100,
        tid,
        ipc: IpcKind::Sem,
        id: 0,
        semnum: Some(0),
    };
    let f = [
        finding(NS, stuck(100)),
        finding(NS, stuck(101)),
        finding(
            NS2,
            What::Stalled {
                ipc: IpcKind::Sem,
                id: 0,
                pids: vec![200],
                tids: vec![200, 201, 202],
                waited_s: 9.0,
            },
        ),
    ];
    let host = host_of(&m, &f);
    let per_ns: Vec<(u64, u64, u64, u64)> = host
        .namespaces
        .iter()
        .map(|n| (n.ns, n.deadlocks, n.stuck_threads, n.stalled_threads))
        .collect();
    assert_eq!(per_ns, [(NS, 0, 2, 0), (NS2, 0, 0, 3)]);
    let fams = families(&host);
    let value = |spec: &super::families::Spec, ns: u64| {
        fams.iter()
            .find(|f| f.spec == spec)
            .unwrap()
            .samples
            .iter()
            .find(|s| s.labels == [("ipc_ns", ns.to_string())])
            .map(|s| s.value.clone())
    };
    use super::families::{STALLED, STUCK};
    assert_eq!(value(&STUCK, NS), Some(Value::Int(2)));
    assert_eq!(value(&STUCK, NS2), Some(Value::Int(0)));
    assert_eq!(value(&STALLED, NS2), Some(Value::Int(3)));
    assert_eq!(value(&STALLED, NS), Some(Value::Int(0)));
}
