//! The kernel tables' lifecycle against real processes (issue 24): rows carry the process
//! (pid and start) and the IPC namespace the kernel stamped; pruning deletes the rows of
//! processes that are gone and hands their final counts over once, so that summing every
//! sample's growth per row (as the model's account does) gives exactly what each process did
//! on its own namespace's objects — with a table far smaller than the keys that pass through
//! it; and when the table is full, the calls missing from the rows are exactly `lost_calls`.
//! A thread's exit frees its slot and flushes it; a reused pid gets rows of its own; a call
//! a fatal signal ends is `ended`, one a handled signal interrupts `interrupted`.
//! Needs root (loads the probe).
mod support;

use std::{
    collections::HashMap,
    os::{fd::AsRawFd, unix::fs::MetadataExt},
    process::Command,
    time::{Duration, Instant},
};

use ipctop::{
    event::Syscall,
    probe::*,
    sample::{Aggregate, KernelSample, RowKey},
};
use serde_json::Value;
use support::{
    maps::{dump, my_map, u32_at},
    *,
};

const T: Duration = Duration::from_secs(30);

/// The IPC namespace of `pid`: its inode, and the kernel's id of it (NS_GET_ID; `None` where
/// the kernel has none).
fn ns_of(pid: u32) -> (u64, Option<u64>) {
    let path = format!("/proc/{pid}/ns/ipc");
    let ino = std::fs::metadata(&path).unwrap().ino();
    let f = std::fs::File::open(&path).unwrap();
    let mut id: u64 = 0;
    const NS_GET_ID: libc::c_ulong = 0x8008_b70d;
    // SAFETY: NS_GET_ID writes one u64 through the pointer.
    let r = unsafe { libc::ioctl(f.as_raw_fd(), NS_GET_ID, &mut id as *mut u64) };
    (ino, (r == 0).then_some(id))
}

/// /proc/PID/stat's starttime.
fn starttime(pid: u32) -> u64 {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let rest = &s[s.rfind(')').unwrap() + 1..];
    rest.split_whitespace().nth(19).unwrap().parse().unwrap()
}

/// What one row counted in all, summed over samples as the model's account sums them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counts {
    calls: u64,
    errors: u64,
    interrupted: u64,
    ended: u64,
}

/// The account: every sample's growth per row since the previous sample; a retired row is
/// forgotten once its final counts are in (a row of its key seen later began from zero).
#[derive(Default)]
struct Account {
    prev: HashMap<RowKey, Aggregate>,
    total: HashMap<RowKey, Counts>,
    retired_seen: HashMap<RowKey, u32>,
}

impl Account {
    fn add(&mut self, k: &KernelSample) {
        let mut keys = std::collections::HashSet::new();
        for a in &k.aggregates {
            assert!(keys.insert(a.key()), "a key twice in one sample: {a:?}");
            let p = self.prev.get(&a.key()).copied().unwrap_or(Aggregate {
                calls: 0,
                errors: 0,
                interrupted: 0,
                ended: 0,
                ..*a
            });
            assert!(a.calls >= p.calls, "a row went back: {p:?} -> {a:?}");
            let t = self.total.entry(a.key()).or_default();
            t.calls += a.calls - p.calls;
            t.errors += a.errors - p.errors;
            t.interrupted += a.interrupted - p.interrupted;
            t.ended += a.ended - p.ended;
            self.prev.insert(a.key(), *a);
        }
        for r in &k.retired {
            assert!(keys.contains(r), "retired without its final counts: {r:?}");
            self.prev.remove(r);
            *self.retired_seen.entry(*r).or_default() += 1;
        }
    }

    fn of_pid(&self, pid: u32) -> Vec<(RowKey, Counts)> {
        let mut v: Vec<_> = self
            .total
            .iter()
            .filter(|(k, _)| k.pid == pid)
            .map(|(k, c)| (*k, *c))
            .collect();
        v.sort_by_key(|(k, _)| *k);
        v
    }
}

fn sample(probe: &mut Probe, prune: bool, acc: &mut Account) -> KernelSample {
    if prune {
        probe.prune(None).unwrap();
    }
    let k = probe.sample(true, 0).unwrap();
    acc.add(&k);
    k
}

/// One short-lived `ipctop-workload basic` in an IPC namespace of its own: its pid, start,
/// namespace (read while it waits to start) and its JSON line.
struct Basic {
    pid: u32,
    start: u64,
    ns: (u64, Option<u64>),
    out: Value,
}

fn basic_in_own_ns(name: &str) -> Basic {
    let mut p = Proc::spawn(Command::new("unshare").args([
        "--ipc",
        WORKLOAD,
        "--name",
        name,
        "--wait-go",
        "basic",
    ]));
    let pid = p.json(T)["pid"].as_u64().unwrap() as u32;
    assert_eq!(pid, p.pid(), "unshare execs the workload");
    let (start, ns) = (starttime(pid), ns_of(pid));
    p.go();
    let out = p.json(T);
    assert_eq!(p.wait(T), Some(0));
    Basic {
        pid,
        start,
        ns,
        out,
    }
}

/// What `basic` does, per (syscall, id): (calls, errors).
fn basic_rows(out: &Value) -> Vec<(Syscall, Option<i32>, u64, u64)> {
    let id = |k: &str| Some(out[k].as_i64().unwrap() as i32);
    let (sem, shm, msg) = (id("semid"), id("shmid"), id("msqid"));
    let mut v = vec![
        (Syscall::SEMGET, sem, 1, 0),
        (Syscall::SEMCTL, sem, 4, 1),
        (Syscall::SEMTIMEDOP, sem, 2, 0),
        (Syscall::SEMOP, sem, 1, 0),
        (Syscall::SHMGET, shm, 1, 0),
        (Syscall::SHMAT, shm, 1, 0),
        (Syscall::SHMDT, None, 1, 0),
        (Syscall::SHMCTL, shm, 2, 0),
        (Syscall::MSGGET, msg, 1, 0),
        (Syscall::MSGSND, msg, 1, 0),
        (Syscall::MSGRCV, msg, 1, 0),
        (Syscall::MSGCTL, msg, 2, 0),
    ];
    v.sort_by_key(|r| (r.1, r.0));
    v
}

/// Each short-lived process's rows: exactly its calls, on its own namespace's objects, with
/// its start.
fn check_basic(acc: &Account, b: &Basic) {
    let mut got: Vec<(Syscall, Option<i32>, u64, u64)> = Vec::new();
    for (k, c) in acc.of_pid(b.pid) {
        assert_eq!(k.start, Some(b.start), "{k:?}");
        assert_eq!(k.ipc_ns, Some(b.ns.0), "{k:?}: its own namespace");
        assert_eq!(k.ns_id, b.ns.1, "{k:?}: the kernel's namespace id");
        assert_eq!((c.interrupted, c.ended), (0, 0));
        got.push((k.syscall, k.id, c.calls, c.errors));
    }
    got.sort_by_key(|r| (r.1, r.0));
    assert_eq!(got, basic_rows(&b.out), "pid {}", b.pid);
}

#[test]
fn more_keys_than_the_table_holds_are_counted_exactly_while_pruning_keeps_up() {
    if !can_trace("tables_exact") {
        return;
    }
    let name = unique_name("tbx");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        table_entries: 512,
        ..Default::default()
    })
    .expect("probe");
    // A long-lived process in this namespace, calling all along.
    let mut long = Proc::spawn(Command::new(WORKLOAD).args([
        "--name",
        &name,
        "paced-loop",
        "--rate",
        "400",
        "--secs",
        "6",
    ]));
    let long_pid = long.pid();
    let long_start = starttime(long_pid);
    let long_ns = ns_of(long_pid);
    // 60 short-lived ones (720 keys through a table of 512), sampled and pruned every 200 ms.
    let runner = {
        let name = name.clone();
        std::thread::spawn(move || (0..60).map(|_| basic_in_own_ns(&name)).collect::<Vec<_>>())
    };
    let mut acc = Account::default();
    let mut most = 0;
    while !runner.is_finished() {
        let k = sample(&mut probe, true, &mut acc);
        most = most.max(k.fill.unwrap().agg.0);
        std::thread::sleep(Duration::from_millis(200));
    }
    let basics = runner.join().unwrap();
    let out = long.json(T);
    assert_eq!(long.wait(T), Some(0));
    // The long-lived process's rows retired too; then nothing more.
    sample(&mut probe, true, &mut acc);
    let last = sample(&mut probe, true, &mut acc);
    assert!(last.retired.is_empty() && last.aggregates.is_empty());
    let s = last.stats;
    assert_eq!((s.lost_calls, s.agg_full, s.lost_holds), (0, 0, 0), "{s:?}");
    let fill = last.fill.unwrap();
    assert_eq!(fill.agg.1, 512);
    assert!(most <= 512, "{most}");
    eprintln!("tables: at most {most} of 512 rows used; 60 processes, 720 keys");
    for b in &basics {
        check_basic(&acc, b);
    }
    // The long-lived process: every call, on its semaphore of this namespace.
    let semid = out["semid"].as_i64().unwrap() as i32;
    let rows = acc.of_pid(long_pid);
    let mut calls = 0;
    for (k, c) in &rows {
        assert_eq!(
            (k.start, k.ipc_ns, k.ns_id),
            (Some(long_start), Some(long_ns.0), long_ns.1)
        );
        assert_eq!(k.id, Some(semid), "{k:?}");
        calls += c.calls;
    }
    let semops = out["semops"].as_u64().unwrap();
    assert_eq!(calls, semops + 3, "{rows:?}");
    // Everything the kernel counted for these processes is in the rows, once.
    let in_rows: u64 = acc.total.values().map(|c| c.calls).sum();
    assert_eq!(in_rows, s.total_calls());
    assert_eq!(in_rows, 60 * 18 + semops + 3);
    // Every row of a gone process was retired exactly once.
    assert!(
        acc.retired_seen.values().all(|&n| n == 1),
        "{:?}",
        acc.retired_seen
    );
    assert_eq!(acc.retired_seen.len(), acc.total.len());
}

#[test]
fn a_full_table_spills_its_rows_and_loses_no_call() {
    if !can_trace("tables_full") {
        return;
    }
    let name = unique_name("tbf");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        table_entries: 64,
        ..Default::default()
    })
    .expect("probe");
    let mut ring = probe.take_events().expect("ring buffer");
    // No pruning: 12 processes of 12 keys each through a table of 64.
    let basics: Vec<Basic> = (0..12).map(|_| basic_in_own_ns(&name)).collect();
    // What found no room came whole through the ring buffer, as rows (the calls sent as
    // events are not rows: counted by the table already).
    let mut spilled = Vec::new();
    while let Some(item) = ring.next() {
        if let Ok(ipctop::decode::Record::Row(k, v)) = ipctop::decode::decode_any(&item) {
            spilled.extend(ipctop::probe::row_of(&k, &v));
        }
    }
    probe.add_spilled(spilled.clone());
    let mut acc = Account::default();
    let k = sample(&mut probe, false, &mut acc);
    let s = k.stats;
    assert!(!spilled.is_empty() && s.agg_full > 0, "{s:?}");
    let in_rows: u64 = acc.total.values().map(|c| c.calls).sum();
    assert_eq!(s.total_calls(), 12 * 18);
    assert_eq!(s.lost_calls, 0, "{s:?}");
    assert_eq!(in_rows, s.total_calls(), "{s:?}");
    assert_eq!(k.fill.unwrap().agg, (64, 64));
    // Every process whole, those that found room and those spilled.
    for b in &basics {
        check_basic(&acc, b);
    }
}

/// `AGG`'s calls of process `pid` and syscall `sys`, read from the map itself.
fn agg_calls(map: u32, pid: u32, sys: Syscall) -> u64 {
    // AggKey: ident {start u64, ns_id u64, ipc_ns u32, tgid u32}, id i32, sys u8.
    dump(map)
        .iter()
        .filter(|(k, _)| u32_at(k, 20) == pid && usize::from(k[28]) == sys.index())
        .flat_map(|(_, vals)| vals.iter())
        .map(|v| u64::from_le_bytes(v[0..8].try_into().unwrap()))
        .sum()
}

#[test]
fn a_threads_exit_frees_its_slot_and_flushes_it() {
    if !can_trace("tables_exit") {
        return;
    }
    let name = unique_name("tbe");
    let probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        ..Default::default()
    })
    .expect("probe");
    let (claims, inflight, agg) = (my_map("SLOT_CLAIMS"), my_map("INFLIGHT"), my_map("AGG"));
    let mut ids = Ids::default();
    // Blocked in semop until its own second thread raises the semaphore and exits.
    let mut wl = Proc::spawn(Command::new(WORKLOAD).args([
        "--name",
        &name,
        "block",
        "--release-after",
        "0.5",
    ]));
    let out = wl.json(T);
    let pid = out["pid"].as_u64().unwrap() as u32;
    ids.sems.push(out["semid"].as_i64().unwrap() as i32);
    assert_eq!(wl.json(T)["ok"], true);
    let threads = |pid: u32| -> Vec<u32> {
        std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|d| {
                d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    // The helper thread is gone (wait for it): its slot is free, its semop in AGG, while the
    // main thread's semop is still in its slot (not in AGG yet) and its slot is held.
    let end = Instant::now() + T;
    while threads(pid).len() > 1 {
        assert!(Instant::now() < end, "the helper thread did not exit");
        std::thread::sleep(Duration::from_millis(20));
    }
    let holders = || -> Vec<u32> {
        let mut v: Vec<u32> = dump(claims).iter().map(|(_, v)| u32_at(&v[0], 0)).collect();
        v.extend(dump(inflight).iter().map(|(k, _)| u32_at(k, 0)));
        v
    };
    // Only this workload's threads are followed (comm filter, this test's own probe).
    assert_eq!(holders(), [pid], "only the main thread holds a slot");
    assert_eq!(
        agg_calls(agg, pid, Syscall::SEMTIMEDOP),
        1,
        "the helper's semop, flushed"
    );
    // Through the probe: both semops.
    let both = probe
        .aggregates()
        .unwrap()
        .into_iter()
        .find(|a| a.pid == pid && a.syscall == Syscall::SEMTIMEDOP)
        .unwrap();
    assert_eq!(both.calls, 2);
    // The process exits: every slot of it free, both semops in AGG.
    wl.release();
    assert_eq!(wl.wait(T), Some(0));
    let end = Instant::now() + Duration::from_secs(5);
    while holders().contains(&pid) {
        assert!(Instant::now() < end, "the main thread's slot was not freed");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(agg_calls(agg, pid, Syscall::SEMTIMEDOP), 2);
}

/// Starts `ipctop-workload --wait-go basic` with pid `want`, or `None`.
fn basic_with_pid(name: &str, want: u32) -> Option<Proc> {
    support::maps::spawn_with_pid(want, || {
        let mut c = Command::new(WORKLOAD);
        c.args(["--name", name, "--wait-go", "basic"]);
        c
    })
}

#[test]
fn a_reused_pid_gets_rows_of_its_own_and_the_old_ones_are_retired_once() {
    if !can_trace("tables_reuse") {
        return;
    }
    let name = unique_name("tbr");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        ..Default::default()
    })
    .expect("probe");
    // Waiting to start: its pid and start.
    let ready = |p: &Proc| -> (u32, u64) {
        let pid = p.json(T)["pid"].as_u64().unwrap() as u32;
        (pid, starttime(pid))
    };
    let finish = |mut p: Proc| -> Value {
        p.go();
        let out = p.json(T);
        assert_eq!(p.wait(T), Some(0));
        out
    };
    let free = |p: u32| !std::path::Path::new(&format!("/proc/{p}")).exists();
    let base = 300 + std::process::id() % 20000;
    let mut acc = Account::default();
    let a = (base..base + 2000)
        .filter(|&p| free(p))
        .find_map(|p| basic_with_pid(&name, p))
        .expect("a free pid");
    let (pid, a_start) = ready(&a);
    let a_out = finish(a);
    // A's rows, live (no pruning yet).
    let k = sample(&mut probe, false, &mut acc);
    assert_eq!(k.aggregates.iter().filter(|r| r.pid == pid).count(), 12);
    std::thread::sleep(Duration::from_millis(50));
    // B has the pid now (alive, no call yet): A's rows go, retired with their counts.
    let b = basic_with_pid(&name, pid).expect("the pid again");
    let (_, b_start) = ready(&b);
    assert_ne!(a_start, b_start);
    let k = sample(&mut probe, true, &mut acc);
    assert_eq!(k.retired.len(), 12, "{:?}", k.retired);
    assert!(k
        .retired
        .iter()
        .all(|r| r.pid == pid && r.start == Some(a_start)));
    let b_out = finish(b);
    // B's rows: of their own, then retired when it is gone.
    let k = sample(&mut probe, true, &mut acc);
    assert_eq!(k.retired.len(), 12, "{:?}", k.retired);
    assert!(k
        .retired
        .iter()
        .all(|r| r.pid == pid && r.start == Some(b_start)));
    let k = sample(&mut probe, true, &mut acc);
    assert!(k.retired.is_empty());
    assert!(k.aggregates.iter().all(|r| r.pid != pid));
    // Each process's rows are its own, whole.
    for (start, out) in [(a_start, &a_out), (b_start, &b_out)] {
        let mut got: Vec<(Syscall, Option<i32>, u64, u64)> = acc
            .of_pid(pid)
            .into_iter()
            .filter(|(key, _)| key.start == Some(start))
            .map(|(key, c)| (key.syscall, key.id, c.calls, c.errors))
            .collect();
        got.sort_by_key(|r| (r.1, r.0));
        assert_eq!(got, basic_rows(out), "start {start}");
    }
    assert_eq!(acc.retired_seen.len(), 24);
    assert!(acc.retired_seen.values().all(|&n| n == 1));
}

#[test]
fn a_fatal_signal_ends_a_blocked_call_and_a_handled_one_interrupts_it() {
    if !can_trace("tables_ended") {
        return;
    }
    let name = unique_name("tbk");
    let mut probe = Probe::load(&ProbeOptions {
        comm: Some(name.clone()),
        send_all: false,
        ..Default::default()
    })
    .expect("probe");
    let mut ids = Ids::default();
    let mut blocked = |sig: i32| -> u32 {
        let mut wl = Proc::spawn(Command::new(WORKLOAD).args(["--name", &name, "block"]));
        let out = wl.json(T);
        let pid = out["pid"].as_u64().unwrap() as u32;
        ids.sems.push(out["semid"].as_i64().unwrap() as i32);
        wait_in_flight(&probe, pid, T);
        wl.signal(sig);
        let code = wl.wait(T);
        if sig == libc::SIGTERM {
            assert_eq!(code, Some(0), "the workload ends cleanly on SIGTERM");
        }
        assert!(wl.child.try_wait().unwrap().is_some(), "still running");
        pid
    };
    let killed = blocked(libc::SIGKILL);
    let termed = blocked(libc::SIGTERM);
    let mut acc = Account::default();
    let k = sample(&mut probe, false, &mut acc);
    let row = |pid: u32| {
        *k.aggregates
            .iter()
            .find(|a| a.pid == pid && a.syscall == Syscall::SEMTIMEDOP)
            .unwrap_or_else(|| panic!("no semop row of {pid}: {:?}", k.aggregates))
    };
    let r = row(killed);
    assert_eq!(
        (r.calls, r.errors, r.interrupted, r.ended),
        (1, 1, 0, 1),
        "{r:?}"
    );
    let r = row(termed);
    assert_eq!(
        (r.calls, r.errors, r.interrupted, r.ended),
        (1, 1, 1, 0),
        "{r:?}"
    );
    let i = Syscall::SEMTIMEDOP.index();
    assert_eq!(
        (k.stats.ended[i], k.stats.interrupted[i]),
        (1, 1),
        "{:?}",
        k.stats
    );
}

/// A thread that moves to another IPC namespace (unshare) has its next calls on that
/// namespace's objects: the slot's identity is read again when unshare returns (a
/// per-syscall tracepoint in the default mode, a number check in the raw exit).
#[test]
fn calls_after_unshare_are_of_the_new_namespace() {
    if !can_trace("tables_unshare") {
        return;
    }
    for attach in [AttachMode::Auto, AttachMode::Raw] {
        let name = unique_name("tbu");
        let mut probe = Probe::load(&ProbeOptions {
            attach,
            comm: Some(name.clone()),
            send_all: false,
            ..Default::default()
        })
        .expect("probe");
        // semget (and its removal) in one namespace, unshare(CLONE_NEWIPC), semget again.
        let script = format!(
            "import ctypes, os\n\
             c = ctypes.CDLL(None, use_errno=True)\n\
             c.prctl(15, b'{name}')\n\
             a = c.syscall(64, 0, 1, 0o1600)\n\
             c.syscall(66, a, 0, 0)\n\
             n1 = os.stat('/proc/self/ns/ipc').st_ino\n\
             assert c.unshare(0x08000000) == 0\n\
             b = c.syscall(64, 0, 1, 0o1600)\n\
             n2 = os.stat('/proc/self/ns/ipc').st_ino\n\
             print(os.getpid(), a, b, n1, n2)\n"
        );
        let out = Command::new("unshare")
            .args(["--ipc", "python3", "-c", &script])
            .output()
            .expect("python3");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let v: Vec<u64> = String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .map(|x| x.parse().unwrap())
            .collect();
        let (pid, a, b, n1, n2) = (v[0] as u32, v[1] as i32, v[2] as i32, v[3], v[4]);
        assert_ne!(n1, n2);
        let mut acc = Account::default();
        sample(&mut probe, true, &mut acc);
        let mut got: Vec<(Syscall, Option<i32>, Option<u64>, u64)> = acc
            .of_pid(pid)
            .into_iter()
            .map(|(k, c)| (k.syscall, k.id, k.ipc_ns, c.calls))
            .collect();
        got.sort();
        let mut want = vec![
            (Syscall::SEMGET, Some(a), Some(n1), 1),
            (Syscall::SEMCTL, Some(a), Some(n1), 1),
            (Syscall::SEMGET, Some(b), Some(n2), 1),
        ];
        want.sort();
        assert_eq!(got, want, "{attach:?}");
    }
}
