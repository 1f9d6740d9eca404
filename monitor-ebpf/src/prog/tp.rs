//! The per-syscall tracepoints `syscalls/sys_{enter,exit}_<name>` (tracefs): one entry
//! program per arity and one exit program, for the System V calls and the POSIX queue calls
//! (`mq_*`, followed in this mode only: see `monitor_ebpf::sys_index_tp`).
use super::*;

// trace_event_raw_sys_enter: common header (8), int __syscall_nr (8), args at 16.
// trace_event_raw_sys_exit: common header (8), int __syscall_nr (8), long ret at 16.
// The record is the program's context: read directly (aligned loads the verifier allows
// for tracepoint programs), not through a helper call each.
#[inline(always)]
unsafe fn tp_u64(ctx: &TracePointContext, off: usize) -> u64 {
    unsafe { core::ptr::read_volatile((ctx.as_ptr() as *const u8).add(off) as *const u64) }
}

#[inline(always)]
unsafe fn tp_nr(ctx: &TracePointContext) -> u64 {
    unsafe { core::ptr::read_volatile((ctx.as_ptr() as *const u8).add(8) as *const i32) as u64 }
}

/// Reads the first `n` arguments: a program may not read past the shortest record it is
/// attached to (the kernel refuses the attach), so there is one program per arity.
#[inline(always)]
unsafe fn tp_enter(ctx: &TracePointContext, n: usize) {
    unsafe {
        let Some(sys) = sys_index_tp(tp_nr(ctx)) else {
            return;
        };
        // Read from the record after the slot's lookup, straight into the slot: nothing
        // held across helper calls, so the program's stack stays small (see `read_sops`).
        enter(sys, |i| if i < n { tp_u64(ctx, 16 + 8 * i) } else { 0 });
    }
}

// shmdt, mq_unlink
#[tracepoint]
pub fn ipc_tp_enter1(ctx: TracePointContext) -> i32 {
    // SAFETY: sys_enter_* records of one-argument syscalls.
    unsafe { tp_enter(&ctx, 1) };
    0
}

// msgget, mq_notify
#[tracepoint]
pub fn ipc_tp_enter2(ctx: TracePointContext) -> i32 {
    // SAFETY: sys_enter_* records of two-argument syscalls.
    unsafe { tp_enter(&ctx, 2) };
    0
}

// semget, semop, shmget, shmat, shmctl, msgctl, mq_getsetattr
#[tracepoint]
pub fn ipc_tp_enter3(ctx: TracePointContext) -> i32 {
    // SAFETY: sys_enter_* records of three-argument syscalls.
    unsafe { tp_enter(&ctx, 3) };
    0
}

// semtimedop, semctl, msgsnd, mq_open
#[tracepoint]
pub fn ipc_tp_enter4(ctx: TracePointContext) -> i32 {
    // SAFETY: sys_enter_* records of four-argument syscalls.
    unsafe { tp_enter(&ctx, 4) };
    0
}

// msgrcv, mq_timedsend, mq_timedreceive
#[tracepoint]
pub fn ipc_tp_enter5(ctx: TracePointContext) -> i32 {
    // SAFETY: sys_enter_* records of five-argument syscalls.
    unsafe { tp_enter(&ctx, 5) };
    0
}

#[tracepoint]
pub fn ipc_tp_exit(ctx: TracePointContext) -> i32 {
    // SAFETY: offsets of the syscalls/sys_exit_* record format.
    unsafe {
        let Some(sys) = sys_index_tp(tp_nr(&ctx)) else {
            return 0;
        };
        on_exit(sys, tp_u64(&ctx, 16) as i64);
    }
    0
}
