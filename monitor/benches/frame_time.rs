//! Frame time of every dashboard view with 10,000 objects and 1,000 processes (a tenth of
//! them blocked), fed as the live dashboard is: a snapshot, then two kernel samples of
//! aggregates a second apart. Prints one line per view and size: `VIEW@WxH median_us
//! p95_us` for a frame of rows already built (a key, a tick without news), and
//! `VIEW@WxH+rows median_us p95_us` for a frame after the store changed (the view's rows
//! built again, then drawn: every frame after new data). Rendering into ratatui's test
//! backend, so the terminal's own cost is left out. Run by `cargo xtask bench` (`cargo bench
//! -p monitor --bench frame_time`).
use std::time::Instant;

use ipctop::{
    event::Syscall,
    feed::{ProbeStatus, Stamped, Update},
    sample::{Aggregate, KernelSample},
    snapshot::{
        sysvipc::{MsgRow, SemRow, ShmRow},
        MapAttach, MsgRead, ProcRead, SemSetRead, SemValue, Snapshot, TaskWait, WaitCall,
    },
    ui::{
        app::{App, View},
        store::{SessionInfo, Store},
        views, Theme,
    },
};
use ratatui::{backend::TestBackend, Terminal};

const S: u64 = 1_000_000_000;
const MONO: u64 = 5_000 * S;
const NOW: i64 = 1_700_000_000;
const NS: u64 = 4_026_531_839;
const SHM_DEV: (u32, u32) = (0, 1);
/// Frames timed per view and size.
const FRAMES: usize = 30;

fn snapshot(objects: usize, procs: usize) -> Snapshot {
    let third = objects / 3;
    let mut s = Snapshot {
        unix_ns: NOW as u64 * S,
        mono_ns: MONO,
        ipc_ns: Some(NS),
        shm_dev: Some(SHM_DEV),
        ..Default::default()
    };
    for p in 0..procs as u32 {
        let pid = 10_000 + p;
        s.processes.push(ProcRead {
            pid,
            ppid: 1,
            comm: "worker".into(),
            state: 'S',
            uid: Some(1000),
            start_unix_ns: Some((NOW as u64 - 1000) * S),
            start_ticks: None,
            threads: 1,
            observer: false,
            ipc_ns: Some(NS),
            attachments: Some(
                (0..3u64)
                    .map(|i| MapAttach {
                        shmid: ((p as usize * 3 + i as usize) % third) as i32,
                        start: 0x7f00_0000_0000 + i * 0x10_0000,
                        end: 0x7f00_0000_0000 + i * 0x10_0000 + 4096,
                        dev: SHM_DEV,
                        writable: true,
                    })
                    .collect(),
            ),
            waits: Some(if p % 10 == 0 {
                vec![TaskWait {
                    tid: pid,
                    call: WaitCall::Sem {
                        semid: (p as usize % third) as i32,
                        nsops: 1,
                        sops: None,
                        timed: false,
                    },
                    wchan: None,
                    asleep_since_ns: None,
                }]
            } else {
                Vec::new()
            }),
            cmdline: Some("worker --shard".into()),
        });
    }
    let owner = |i: usize| 10_000 + (i % procs) as u32;
    for i in 0..third {
        s.shm.push(ShmRow {
            key: i as i32 + 1,
            shmid: i as i32,
            mode: 0o600,
            size: 4096 * (i as u64 % 97 + 1),
            cpid: owner(i),
            lpid: owner(i),
            nattch: 3,
            uid: 1000,
            gid: 1000,
            cuid: 1000,
            cgid: 1000,
            atime: NOW - 499,
            dtime: 0,
            ctime: NOW - 500,
            rss: Some(2048),
            swap: Some(0),
        });
        s.sem.push(SemSetRead {
            row: SemRow {
                key: i as i32 + 1,
                semid: i as i32,
                mode: 0o600,
                nsems: 3,
                uid: 1000,
                gid: 1000,
                cuid: 1000,
                cgid: 1000,
                otime: NOW - 5,
                ctime: NOW - 500,
            },
            values: Ok((0..3)
                .map(|n| SemValue {
                    value: i32::from(n == 0),
                    ncnt: 0,
                    zcnt: 0,
                    last_pid: owner(i) as i32,
                })
                .collect()),
        });
    }
    for i in 0..objects - 2 * third {
        s.msg.push(MsgRead {
            row: MsgRow {
                key: i as i32 + 1,
                msqid: i as i32,
                mode: 0o600,
                cbytes: (i % 50) as u64 * 100,
                qnum: (i % 50) as u64,
                lspid: owner(i),
                lrpid: 0,
                uid: 1000,
                gid: 1000,
                cuid: 1000,
                cgid: 1000,
                stime: NOW - 3,
                rtime: 0,
                ctime: NOW - 500,
            },
            qbytes: Ok(16384),
        });
    }
    s
}

/// The kernel's aggregates after `secs` seconds: every process semop-ing on its sets.
fn sample(objects: usize, procs: usize, secs: u64) -> KernelSample {
    let mut k = KernelSample::default();
    for i in 0..objects / 3 {
        let mut hist = [0; monitor_ebpf::HIST_BUCKETS];
        hist[0] = 90 * secs;
        hist[11] = 10 * secs;
        k.aggregates.push(Aggregate {
            pid: 10_000 + (i % procs) as u32,
            id: Some(i as i32),
            syscall: Syscall::SEMOP,
            calls: 100 * secs,
            errors: 0,
            total_ns: 30_000_000 * secs,
            max_ns: 3_000_000,
            last_ns: MONO + secs * S,
            hist,
            ..Default::default()
        });
    }
    k.stats.calls[Syscall::SEMOP.index()] = 100 * secs * (objects / 3) as u64;
    k
}

fn store(objects: usize, procs: usize) -> Store {
    let mut store = Store::new(
        SessionInfo {
            host: "bench".into(),
            kernel: "6.18".into(),
        },
        ProbeStatus::Attached("raw tracepoints".into()),
        Default::default(),
    );
    let at = |mono_ns, update| Stamped { mono_ns, update };
    store.ingest(&[at(
        MONO,
        Update::Snapshot(Box::new(snapshot(objects, procs))),
    )]);
    for secs in 1..=2 {
        store.ingest(&[at(
            MONO + secs * S,
            Update::Kernel(Box::new(sample(objects, procs, secs))),
        )]);
    }
    store
}

fn main() {
    let t0 = Instant::now();
    let store = store(10_000, 1_000);
    eprintln!(
        "fixture: 10000 objects, 1000 processes, built in {:?}",
        t0.elapsed()
    );
    // A kernel sample taken in (model, findings, trends), timed on copies of the store.
    let mut copies: Vec<Store> = (0..5).map(|_| store.clone()).collect();
    let sample3 = Stamped {
        mono_ns: MONO + 3 * S,
        update: Update::Kernel(Box::new(sample(10_000, 1_000, 3))),
    };
    let mut ingest_us: Vec<u128> = copies
        .iter_mut()
        .map(|c| {
            let t = Instant::now();
            c.ingest(std::slice::from_ref(&sample3));
            t.elapsed().as_micros()
        })
        .collect();
    ingest_us.sort_unstable();
    // Of which the trends' sample alone.
    let mut trend_us: Vec<u128> = (0..5)
        .map(|i| {
            let mut tr = store.trends.clone();
            let t = Instant::now();
            tr.sample(&store.model, MONO + (10 + i) * S);
            t.elapsed().as_micros()
        })
        .collect();
    trend_us.sort_unstable();
    let kept = copies[0].trends.points_kept();
    eprintln!(
        "a kernel sample ingested in {} us, of which the trends' sample {} us (medians of 5); \
         trends keep {kept} points ({} KiB)",
        ingest_us[2],
        trend_us[2],
        kept * std::mem::size_of::<ipctop::ui::trends::Point>() / 1024
    );
    println!("VIEW median_us p95_us");
    for (w, h) in [(80u16, 24u16), (250, 70)] {
        for view in View::ALL {
            let mut app = App::new(store.clone(), Theme::default());
            app.go(view);
            app.expand_all = view == View::Semaphores;
            let mut term = Terminal::new(TestBackend::new(w, h)).expect("test backend");
            term.draw(|f| views::draw(f, &mut app)).expect("draw");
            let name = format!("{}@{w}x{h}", view.title().replace(' ', "_"));
            for rebuilt in [false, true] {
                let mut us: Vec<u128> = (0..FRAMES)
                    .map(|_| {
                        if rebuilt {
                            // As after new data: the rows kept are of an older store.
                            app.rows = Default::default();
                        }
                        let t = Instant::now();
                        term.draw(|f| views::draw(f, &mut app)).expect("draw");
                        t.elapsed().as_micros()
                    })
                    .collect();
                us.sort_unstable();
                let p95 = us[(us.len() * 95).div_ceil(100) - 1];
                let tag = if rebuilt { "+rows" } else { "" };
                println!("{name}{tag} {} {p95}", us[us.len() / 2]);
            }
        }
    }
}
