//! `--max-objects` under real load: thousands of idle objects (`ipctop-workload many`, in a
//! private IPC namespace, made before) and, after them, a busy set three threads wait on.
//! Under the default cap (2,000 places) the busy set must have its series, with its calls
//! and its waiters counted as the kernel counts them (semncnt: threads, here three of one
//! process), and the idle objects must be the ones cut.
mod serve_support;
mod support;

use std::{
    process::Command,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::Duration,
};

use ipctop::sysv::{self, semcmd};
use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(60);

/// A set of two semaphores in our namespace: three threads blocked on semaphore 0, and one
/// that takes and gives semaphore 1 about 100 times a second. Removing the set (on drop)
/// wakes the three (EIDRM); the threads are joined.
struct BusySet {
    id: i32,
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusySet {
    fn start() -> BusySet {
        let id = sysv_mut::semget(libc::IPC_PRIVATE, 2, libc::IPC_CREAT | 0o600).unwrap();
        sysv_mut::semctl_setall(id, &[0, 1]).unwrap();
        let stop = Arc::new(AtomicBool::new(false));
        let mut threads = Vec::new();
        for _ in 0..3 {
            threads.push(std::thread::spawn(move || {
                let _ = sysv_mut::semop(id, &mut [sysv_mut::sembuf(0, -1, 0)]);
            }));
        }
        let s = stop.clone();
        threads.push(std::thread::spawn(move || {
            while !s.load(Ordering::Relaxed) {
                let r = sysv_mut::semop(
                    id,
                    &mut [sysv_mut::sembuf(1, -1, 0), sysv_mut::sembuf(1, 1, 0)],
                );
                if r.is_err() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        }));
        BusySet { id, stop, threads }
    }
}

impl Drop for BusySet {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = sysv_mut::semctl_rmid(self.id);
        for t in self.threads.drain(..) {
            let _ = t.join();
        }
    }
}

#[test]
fn a_busy_waited_on_set_has_its_series_among_thousands_of_idle_objects() {
    const NAME: &str = "serve_cap";
    if !can_trace(NAME) {
        return;
    }
    let serve = Proc::spawn(Command::new(IPCTOP).args([
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--interval",
        "1",
    ]));
    let port = served_port(serve.wait_stderr("ipctop: serving", T).last().unwrap());
    let scrape = || {
        request(port, "GET", "/metrics", &[])
            .filter(|a| a.status == 200)
            .map(|a| a.text())
    };
    // 4,000 idle objects in a namespace of their own, made while serve watches.
    let mut many =
        Proc::spawn(Command::new(WORKLOAD).args(["many", "--objects", "4000", "--procs", "10"]));
    many.json(Duration::from_secs(300));
    let cut = |t: &str| {
        values(t, "ipctop_export_objects_cut", &[])
            .iter()
            .sum::<f64>()
    };
    eventually("the idle objects over the cap", T, || {
        let t = scrape()?;
        (cut(&t) >= 2000.0).then_some(())
    });
    // Several expositions with the idle ones holding every place.
    std::thread::sleep(Duration::from_secs(3));

    let busy = BusySet::start();
    let id = busy.id.to_string();
    let ncnt = || sysv::semctl_int(busy.id, 0, semcmd::GETNCNT, 0).unwrap();
    eventually("the three threads to block", T, || {
        (ncnt() == 3).then_some(())
    });
    let text = eventually("the busy set's series", T, || {
        let t = scrape()?;
        let calls = values(
            &t,
            "ipctop_object_calls_total",
            &[("kind", "sem"), ("id", &id)],
        );
        let waiters = value(&t, "ipctop_object_waiters", &[("kind", "sem"), ("id", &id)]);
        (calls.iter().sum::<f64>() > 50.0 && waiters == Some(3.0)).then_some(t)
    });
    // The kernel's count of waiting tasks, and ours: threads, with their one process.
    assert_eq!(ncnt(), 3);
    assert_eq!(
        value(
            &text,
            "ipctop_object_waiting_processes",
            &[("kind", "sem"), ("id", &id)]
        ),
        Some(1.0)
    );
    let home = value(
        &text,
        "ipctop_object_waiters",
        &[("kind", "sem"), ("id", &id)],
    );
    assert_eq!(home, Some(3.0));
    // The idle ones are what is cut, and the places are full.
    assert!(cut(&text) >= 2000.0, "cut {}", cut(&text));
    let placed = text
        .lines()
        .filter(|l| {
            l.starts_with("ipctop_object_waiters{") || l.starts_with("ipctop_shm_size_bytes{")
        })
        .count();
    assert!(
        placed <= 2000,
        "{placed} objects with series under a cap of 2000"
    );
    // It keeps its place while busy.
    std::thread::sleep(Duration::from_secs(3));
    let t = scrape().unwrap();
    assert_eq!(
        value(&t, "ipctop_object_waiters", &[("kind", "sem"), ("id", &id)]),
        Some(3.0)
    );
    drop(busy);
    many.release();
    assert_eq!(many.wait(T), Some(0));
}
