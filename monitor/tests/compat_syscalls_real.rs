//! 32-bit (compat) syscalls are not System V IPC calls of the 64-bit table: on x86-64 the
//! i386 getppid is number 64, which is semget in the 64-bit table. Raw `sys_enter` sees both
//! tables' numbers alike; only `task->thread_info.status & TS_COMPAT` (offset from
//! `kernel_btf::IpcNsOffsets::task_ti_status`) tells them apart.
//!
//! Found while doing issue 13's groundwork: `trace --attach raw` reported these getppid calls
//! as `semget` with the parent's pid as the new semid (issue 17).
mod support;

use std::time::Duration;

use support::*;

/// i386 syscall 64 (getppid) through `int 0x80`, `n` times, on a thread named `name`.
#[cfg(target_arch = "x86_64")]
fn compat_getppid(name: &str, n: usize) -> Vec<i64> {
    let name = std::ffi::CString::new(name).unwrap();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME with a NUL-terminated string of at most 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        (0..n)
            .map(|_| {
                let mut ret: i64 = 64;
                // SAFETY: the compat entry with eax=64 (getppid) and no arguments; it only
                // returns a value in rax.
                unsafe { std::arch::asm!("int 0x80", inout("rax") ret, options(nostack)) };
                ret
            })
            .collect()
    })
    .join()
    .unwrap()
}

#[cfg(target_arch = "x86_64")]
#[test]
fn compat_syscalls_are_not_taken_for_ipc_calls() {
    if !can_trace("compat_syscalls") {
        return;
    }
    let name = unique_name("c32");
    let (trace, _) = start_trace_in(&[], &["--attach", "raw", "--comm", &name]);
    let rets = compat_getppid(&name, 5);
    // SAFETY: getppid has no preconditions.
    let ppid = i64::from(unsafe { libc::getppid() });
    assert!(rets.iter().all(|&r| r == ppid), "{rets:?} (ppid {ppid})");
    std::thread::sleep(Duration::from_millis(300));
    let (events, summary, _) = stop_trace(trace);
    assert!(
        events.is_empty(),
        "compat getppid calls reported as IPC calls: {events:?} ({summary})"
    );
}
