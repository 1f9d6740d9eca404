//! The probe keeps each thread's slot in the `SLOTS` array at index `tid % SLOTS_ENTRIES`, and
//! in the `INFLIGHT` hash when another live thread holds that index. Two real processes made
//! to have pids of one index (the kernel's `ns_last_pid`): both followed exactly, the second
//! through the hash (seen in the kernel's maps), and pruning frees the index once its holder
//! is gone. Needs root; alone in its test binary (it reads the maps this process holds).
mod support;

use std::{process::Command, time::Duration};

use ipctop::{event::Syscall, probe::*};
use monitor_ebpf::SLOTS_ENTRIES;
use support::{
    maps::{entries, my_map},
    *,
};

const T: Duration = Duration::from_secs(30);

/// Starts a blocking workload whose pid is `want`, or `None`.
fn spawn_with_pid(name: &str, want: u32, wait_go: bool) -> Option<Proc> {
    support::maps::spawn_with_pid(want, || {
        let mut cmd = Command::new(WORKLOAD);
        cmd.args(["--name", name]);
        if wait_go {
            cmd.arg("--wait-go");
        }
        cmd.arg("block");
        cmd
    })
}

#[test]
fn a_thread_whose_index_is_held_is_followed_through_the_hash_and_pruning_frees_the_index() {
    if !can_trace("slots") {
        return;
    }
    let name = unique_name("slt");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        ..Default::default()
    })
    .expect("probe");
    let (claims, inflight) = (my_map("SLOT_CLAIMS"), my_map("INFLIGHT"));
    let mut ids = Ids::default();

    // Two free pids of one index, both chosen (pids below 300 are reserved; pid_max may be
    // as low as 32768, so the pair is p and p + SLOTS_ENTRIES with p below it).
    let pid_max: u32 = std::fs::read_to_string("/proc/sys/kernel/pid_max")
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(pid_max > 300 + SLOTS_ENTRIES, "pid_max {pid_max}");
    let free = |p: u32| !std::path::Path::new(&format!("/proc/{p}")).exists();
    let start = 300 + std::process::id() % (SLOTS_ENTRIES - 300);
    let (mut a, mut b) = (start..SLOTS_ENTRIES)
        .chain(300..start)
        .filter(|&p| free(p) && free(p + SLOTS_ENTRIES))
        .take(100)
        .find_map(|p| {
            let a = spawn_with_pid(&name, p, false)?;
            let b = spawn_with_pid(&name, p + SLOTS_ENTRIES, true)?;
            Some((a, b))
        })
        .expect("no two free pids of one index could be had");
    let out_a = a.json(T);
    let pid_a = out_a["pid"].as_u64().unwrap() as u32;
    ids.sems.push(out_a["semid"].as_i64().unwrap() as i32);
    // a is blocked, its slot claimed, before b makes its first call.
    wait_in_flight(&probe, pid_a, T);
    b.go();
    assert_eq!(b.json(T)["waiting"], true);
    let out_b = b.json(T);
    let pid_b = out_b["pid"].as_u64().unwrap() as u32;
    assert_eq!(pid_a % SLOTS_ENTRIES, pid_b % SLOTS_ENTRIES);
    ids.sems.push(out_b["semid"].as_i64().unwrap() as i32);

    // Both blocked calls in progress, each with its own semaphore set.
    let (ea, eb) = (
        wait_in_flight(&probe, pid_a, T),
        wait_in_flight(&probe, pid_b, T),
    );
    assert_eq!(ea.args.unwrap().id(), Some(ids.sems[0]));
    assert_eq!(eb.args.unwrap().id(), Some(ids.sems[1]));
    // In the kernel: a holds the index, b is in the hash.
    let idx = pid_a % SLOTS_ENTRIES;
    assert!(
        entries(claims).contains(&(idx, pid_a)),
        "{:?}",
        entries(claims)
    );
    assert!(
        entries(inflight).iter().any(|(k, _)| *k == pid_b),
        "b not in INFLIGHT"
    );

    // Released by this process (the probe ignores its loader): each process's calls and its
    // hold, exact.
    std::thread::sleep(Duration::from_millis(200));
    for &semid in &ids.sems {
        sysv_mut::semop(semid, &mut [sysv_mut::sembuf(1, 1, 0)]).unwrap();
    }
    assert_eq!(a.json(T)["ok"], true);
    assert_eq!(b.json(T)["ok"], true);
    let check = |aggs: &[ipctop::sample::Aggregate], pid: u32, semid: i32| {
        let of = |s: Syscall| {
            *aggs
                .iter()
                .find(|x| x.pid == pid && x.syscall == s)
                .unwrap_or_else(|| panic!("no {s:?} of {pid}: {aggs:?}"))
        };
        let get = of(Syscall::SEMGET);
        assert_eq!((get.calls, get.errors, get.id), (1, 0, Some(semid)));
        let op = of(Syscall::SEMTIMEDOP);
        assert_eq!((op.calls, op.errors, op.id), (1, 0, Some(semid)));
        assert!(op.total_ns >= 200_000_000, "{op:?}");
    };
    let aggs = probe.aggregates().unwrap();
    check(&aggs, pid_a, ids.sems[0]);
    check(&aggs, pid_b, ids.sems[1]);
    let holds = probe.holds().unwrap();
    for (pid, semid) in [(pid_a, ids.sems[0]), (pid_b, ids.sems[1])] {
        assert!(
            holds
                .iter()
                .any(|h| (h.semid, h.semnum, h.pid, h.held) == (semid, 1, pid, 1)),
            "{holds:?}"
        );
    }

    // a gone: its exit freed its slot and the index (the kernel's exit program); pruning
    // retires its rows, whose final counts the next sample hands over once.
    a.release();
    assert_eq!(a.wait(T), Some(0));
    probe.prune(None).unwrap();
    assert!(
        !entries(claims).iter().any(|(i, _)| *i == idx),
        "index still claimed: {:?}",
        entries(claims)
    );
    let k = probe.sample(true, 0).unwrap();
    check(&k.aggregates, pid_a, ids.sems[0]);
    check(&k.aggregates, pid_b, ids.sems[1]);
    assert!(k.retired.iter().all(|r| r.pid == pid_a) && !k.retired.is_empty());
    b.release();
    assert_eq!(b.wait(T), Some(0));
    // Its exit freed its entry in the hash (it never took the index a left free: one slot
    // per thread).
    assert!(!entries(inflight).iter().any(|(k, _)| *k == pid_b));
    probe.prune(None).unwrap();
    let k = probe.sample(true, 0).unwrap();
    check(&k.aggregates, pid_b, ids.sems[1]);
    assert!(k.retired.iter().all(|r| r.pid == pid_b) && !k.retired.is_empty());
    assert!(probe
        .aggregates()
        .unwrap()
        .iter()
        .all(|r| r.pid != pid_a && r.pid != pid_b));
}
