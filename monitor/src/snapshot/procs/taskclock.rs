//! When a sleeping thread went to sleep, from the scheduler's clocks, with no probe.
//!
//! A sleeping thread's `se.exec_start` (/proc/…/sched) is its CPU's task clock when it last
//! ran. Every CPU has its own task clock, which leaves out that CPU's interrupt and steal
//! time, so the CPUs' clocks drift apart: 384 ms between the two CPUs of this project's VM
//! after a day. A thread's stamp is therefore only comparable with the clock of the CPU it
//! ran on (`processor`, field 39 of its stat). [`TaskClocks`] reads that CPU's clock by
//! moving the reading thread there for a moment, and puts the thread's CPU affinity back when
//! it is dropped.
use nix::{
    sched::{sched_getaffinity, sched_setaffinity, CpuSet},
    unistd::Pid,
};

/// When a thread had gone to sleep at the latest, in both clocks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Since {
    /// CLOCK_MONOTONIC ns.
    pub mono: u64,
    /// CLOCK_REALTIME ns.
    pub unix: u64,
}

/// One CPU's task clock read against ours: its value (at most its now) and the clocks just
/// after.
#[derive(Clone, Copy)]
struct Now {
    task: u64,
    mono: u64,
    unix: u64,
}

/// The task clocks of the CPUs read so far by this thread.
#[derive(Default)]
pub(crate) struct TaskClocks {
    /// Per CPU: not tried yet, tried and unreadable, or read.
    cpus: Vec<Option<Option<Now>>>,
    /// This thread's affinity before the first move (put back on drop).
    saved: Option<CpuSet>,
}

impl TaskClocks {
    /// When a thread whose last run ended at `exec_start_ns` on `cpu`'s task clock had gone
    /// to sleep at the latest. That CPU's clock, read now, minus the thread's stamp is at most
    /// the time elapsed (the task clock never runs faster than real time), so the age it gives
    /// is a lower bound, never more. `None` when that CPU's clock cannot be read (the CPU is
    /// outside this process's allowed set, or /proc/thread-self is not readable).
    pub(crate) fn since(&mut self, cpu: u32, exec_start_ns: u64) -> Option<Since> {
        let i = cpu as usize;
        if i >= CpuSet::count() {
            return None;
        }
        if self.cpus.len() <= i {
            self.cpus.resize(i + 1, None);
        }
        // Read once per CPU, and again when the thread's stamp is newer than our reading (it
        // went to sleep since): measured against an older reading, its age would be too long.
        let stale = self.cpus[i]
            .flatten()
            .is_some_and(|now| now.task < exec_start_ns);
        if self.cpus[i].is_none() || stale {
            let now = self.read(cpu);
            self.cpus[i] = Some(now);
        }
        let now = self.cpus[i].flatten()?;
        let elapsed = now.task.saturating_sub(exec_start_ns);
        Some(Since {
            mono: now.mono.saturating_sub(elapsed),
            unix: now.unix.saturating_sub(elapsed),
        })
    }

    /// `cpu`'s task clock: this thread moved onto it, its own `se.exec_start` (set when it
    /// was last put on that CPU, so at most the clock's now) and the clocks just after.
    fn read(&mut self, cpu: u32) -> Option<Now> {
        let me = Pid::from_raw(0);
        if self.saved.is_none() {
            self.saved = Some(sched_getaffinity(me).ok()?);
        }
        let mut one = CpuSet::new();
        one.set(cpu as usize).ok()?;
        sched_setaffinity(me, &one).ok()?;
        // SAFETY: sched_getcpu takes no argument and only returns a number.
        if unsafe { libc::sched_getcpu() } != cpu as i32 {
            return None;
        }
        let text = std::fs::read("/proc/thread-self/sched").ok()?;
        let mono = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        let unix = crate::event::clock_ns(libc::CLOCK_REALTIME);
        // Still there: the stamp and the clocks are of the same CPU.
        // SAFETY: as above.
        if unsafe { libc::sched_getcpu() } != cpu as i32 {
            return None;
        }
        let task = exec_start_ns(&text)?;
        Some(Now { task, mono, unix })
    }
}

impl Drop for TaskClocks {
    fn drop(&mut self) {
        if let Some(set) = self.saved.take() {
            let _ = sched_setaffinity(Pid::from_raw(0), &set);
        }
    }
}

/// A sleeping thread's `se.exec_start` and the CPU whose clock it is in. `read(file, parse)`
/// reads one of the thread's /proc files ("stat", "sched") and parses it. The stat is read
/// before and after the sched file: a thread that moved to another CPU in between gives
/// none.
pub(crate) fn sleep_stamp(
    mut read: impl FnMut(&str, fn(&[u8]) -> Option<u64>) -> Option<u64>,
) -> Option<(u32, u64)> {
    let cpu: fn(&[u8]) -> Option<u64> = |b| thread_cpu(b).map(u64::from);
    let before = read("stat", cpu)?;
    let stamp = read("sched", exec_start_ns)?;
    (read("stat", cpu)? == before).then_some((before as u32, stamp))
}

/// `se.exec_start` of a /proc/…/sched file, in ns of the scheduler's task clock: for a
/// sleeping thread, when it last stopped running.
fn exec_start_ns(text: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(text).ok()?;
    let line = text.lines().find(|l| l.starts_with("se.exec_start"))?;
    let ms: f64 = line.split(':').nth(1)?.trim().parse().ok()?;
    (ms.is_finite() && ms >= 0.0).then_some((ms * 1e6) as u64)
}

/// The CPU a thread last ran on: `processor`, field 39 of a /proc/…/stat line.
pub(crate) fn thread_cpu(stat: &[u8]) -> Option<u32> {
    let close = stat.iter().rposition(|&c| c == b')')?;
    // After ") ": field 3 (state) is the first.
    let field = stat
        .get(close + 2..)?
        .split(|&c| c == b' ' || c == b'\n')
        .nth(39 - 3)?;
    std::str::from_utf8(field).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cpu_is_field_39_whatever_the_name() {
        let line = b"4242 (a) b) c) S 1 4242 4242 0 -1 4194560 97 0 0 0 0 0 0 0 20 0 1 0 \
                     123 1000 50 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n";
        assert_eq!(thread_cpu(line), Some(1));
        assert_eq!(thread_cpu(b"4242 (x) S 1"), None);
        assert_eq!(thread_cpu(b"no parens"), None);
    }

    /// A thread pinned to each CPU blocks on a pipe; a reader pinned to each CPU dates its
    /// sleep. The date is never before the waiter last read the clock (the age is never more
    /// than it slept), and never after the reading. With one clock for all CPUs (as before)
    /// this failed on this project's VM, whose CPUs' task clocks were 384 ms apart.
    #[test]
    fn a_sleeping_threads_age_is_never_more_than_it_slept_whatever_the_cpus() {
        use std::sync::mpsc;
        let me = Pid::from_raw(0);
        let allowed = sched_getaffinity(me).unwrap();
        let cpus: Vec<u32> = (0..CpuSet::count())
            .filter(|&c| allowed.is_set(c).unwrap_or(false))
            .take(4)
            .map(|c| c as u32)
            .collect();
        let pin = move |c: u32| {
            let mut one = CpuSet::new();
            one.set(c as usize).unwrap();
            sched_setaffinity(me, &one).unwrap();
        };
        let mono = || crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        let mut checked = 0;
        for &w in &cpus {
            let (rfd, wfd) = nix::unistd::pipe().unwrap();
            let (tx, rx) = mpsc::channel();
            let waiter = std::thread::spawn(move || {
                pin(w);
                tx.send((nix::unistd::gettid().as_raw(), mono())).unwrap();
                let mut b = [0u8; 1];
                let _ = nix::unistd::read(&rfd, &mut b);
            });
            let (tid, before) = rx.recv().unwrap();
            std::thread::sleep(std::time::Duration::from_millis(50));
            for &r in &cpus {
                let got = std::thread::spawn(move || {
                    pin(r);
                    let t = format!("/proc/self/task/{tid}");
                    let cpu = thread_cpu(&std::fs::read(format!("{t}/stat")).unwrap()).unwrap();
                    let theirs =
                        exec_start_ns(&std::fs::read(format!("{t}/sched")).unwrap()).unwrap();
                    let since = TaskClocks::default().since(cpu, theirs);
                    (cpu, since, mono())
                })
                .join()
                .unwrap();
                let (cpu, since, read_at) = got;
                assert_eq!(cpu, w, "the waiter was pinned to CPU {w}");
                let since = since.expect("a CPU of ours has a readable clock").mono;
                // 1 ms: the task clock's rate against CLOCK_MONOTONIC's (NTP-slewed) over the wait.
                assert!(
                    since + 1_000_000 >= before,
                    "waiter on CPU {w}, read from CPU {r}: asleep since {since}, but it ran at \
                     {before} ({} ms before)",
                    (before - since) / 1_000_000
                );
                assert!(
                    since <= read_at,
                    "waiter on CPU {w}, read from CPU {r}: in the future"
                );
                checked += 1;
            }
            nix::unistd::write(&wfd, b"x").unwrap();
            waiter.join().unwrap();
        }
        assert_eq!(checked, cpus.len() * cpus.len());
    }

    /// A CPU's clock read before a thread went to sleep is read again for it: measured
    /// against the old reading its age would include time it ran.
    #[test]
    fn a_reading_older_than_the_sleep_is_read_again() {
        let me = Pid::from_raw(0);
        let mut clocks = TaskClocks::default();
        // SAFETY: no argument, returns a number.
        let cpu = unsafe { libc::sched_getcpu() } as u32;
        let mono = || crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        assert!(clocks.since(cpu, 0).is_some(), "our own CPU's clock");
        std::thread::sleep(std::time::Duration::from_millis(100));
        let (rfd, wfd) = nix::unistd::pipe().unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        let waiter = std::thread::spawn(move || {
            let mut one = CpuSet::new();
            one.set(cpu as usize).unwrap();
            sched_setaffinity(me, &one).unwrap();
            tx.send((nix::unistd::gettid().as_raw(), mono())).unwrap();
            let mut b = [0u8; 1];
            let _ = nix::unistd::read(&rfd, &mut b);
        });
        let (tid, before) = rx.recv().unwrap();
        std::thread::sleep(std::time::Duration::from_millis(50));
        let t = format!("/proc/self/task/{tid}");
        let theirs = exec_start_ns(&std::fs::read(format!("{t}/sched")).unwrap()).unwrap();
        let since = clocks.since(cpu, theirs).unwrap().mono;
        nix::unistd::write(&wfd, b"x").unwrap();
        waiter.join().unwrap();
        assert!(
            since + 1_000_000 >= before,
            "asleep since {since}, but it ran at {before} ({} ms before)",
            (before - since) / 1_000_000
        );
    }
}
