//! Who a thread is and what becomes of it: its [`Ident`] (process start, IPC namespace) read
//! once when it takes its slot and again after setns/unshare; whether a call a signal cut
//! short was interrupted or ended by the process's death; and the thread's exit, where what
//! its slot has not flushed goes to `AGG` / `HOLDS` and the slot is freed, so that the
//! tables hold only what is alive and a reused thread id starts clean.
use aya_ebpf::{
    helpers::{bpf_get_current_pid_tgid, bpf_get_current_task, bpf_probe_read_kernel},
    macros::{raw_tracepoint, tracepoint},
    programs::{RawTracePointContext, TracePointContext},
    EbpfContext,
};
use monitor_ebpf::{
    AggKey, Ident, Slot, Stats, SLOTS_ENTRIES, TASK_OFF_GROUP_LEADER, TASK_OFF_NS_ID,
    TASK_OFF_PENDING, TASK_OFF_SIGNAL, TASK_OFF_SIGNAL_FLAGS, TASK_OFF_START,
};

use super::{
    agg::{add_call, agg_entry, flush_acc, flush_hold, spill_call},
    emit::comm_into,
    slot, stats, INFLIGHT, IPC_NS_OFFSETS, SLOTS, SLOT_CLAIMS, SLOT_ZERO, STOPPED, TASK_OFFSETS,
};

/// How a finished call ended.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// It returned (success or a failure).
    Done,
    /// A signal interrupted it and the process lives on.
    Interrupted,
    /// A signal interrupted it because the process is dying.
    Ended,
}

/// `-EINTR` and the kernel's `-ERESTART*` codes: what a call a signal cut short returns.
#[inline(always)]
pub(super) fn is_interruption(ret: i64) -> bool {
    ret == -4 || ret == -512 || ret == -513 || ret == -514 || ret == -516
}

/// `SIGKILL`'s bit in a `sigset_t` and `SIGNAL_GROUP_EXIT` in `signal_struct.flags`.
const SIGKILL_BIT: u64 = 1 << (9 - 1);
const SIGNAL_GROUP_EXIT: u32 = 0x4;

/// Whether the current task is dying: SIGKILL pending for it (a fatal signal, or another
/// thread's exit_group, puts it there) or its thread group exiting. Read only for calls a
/// signal cut short; false when the loader found no offsets.
#[inline(never)]
pub(super) fn ended_by_death() -> bool {
    let o = TASK_OFFSETS.load();
    let (pending, signal, flags) = (
        o[TASK_OFF_PENDING],
        o[TASK_OFF_SIGNAL],
        o[TASK_OFF_SIGNAL_FLAGS],
    );
    if pending == 0 {
        return false;
    }
    // SAFETY: kernel memory read through the helper, which checks it.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        let set = bpf_probe_read_kernel(task.add(pending as usize) as *const u64).unwrap_or(0);
        if set & SIGKILL_BIT != 0 {
            return true;
        }
        let Ok(sig) = bpf_probe_read_kernel(task.add(signal as usize) as *const u64) else {
            return false;
        };
        if sig == 0 {
            return false;
        }
        let f = bpf_probe_read_kernel((sig as *const u8).add(flags as usize) as *const u32)
            .unwrap_or(0);
        f & SIGNAL_GROUP_EXIT != 0
    }
}

/// Fills `out` with the current thread's identity: its process (tgid, and the group
/// leader's `start_boottime`) and IPC namespace (inode, and `ns_id` where the kernel has
/// one). What cannot be read stays 0. A subprogram: its stack is its own (the entry's must
/// stay small, see `read_sops`).
#[inline(never)]
pub(super) fn fill_ident(out: &mut Ident) {
    out.tgid = (bpf_get_current_pid_tgid() >> 32) as u32;
    out.start = 0;
    out.ns_id = 0;
    out.ipc_ns = 0;
    let o = TASK_OFFSETS.load();
    let [nsproxy_off, ipc_ns_off, inum_off] = IPC_NS_OFFSETS.load();
    // SAFETY: kernel pointers read through the helper, which checks them.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        if o[TASK_OFF_GROUP_LEADER] != 0 {
            if let Ok(leader) =
                bpf_probe_read_kernel(task.add(o[TASK_OFF_GROUP_LEADER] as usize) as *const u64)
            {
                if leader != 0 {
                    out.start = bpf_probe_read_kernel(
                        (leader as *const u8).add(o[TASK_OFF_START] as usize) as *const u64,
                    )
                    .unwrap_or(0);
                }
            }
        }
        if nsproxy_off == 0 {
            return;
        }
        let Ok(nsproxy) = bpf_probe_read_kernel(task.add(nsproxy_off as usize) as *const u64)
        else {
            return;
        };
        if nsproxy == 0 {
            return;
        }
        let Ok(ipc_ns) =
            bpf_probe_read_kernel((nsproxy as *const u8).add(ipc_ns_off as usize) as *const u64)
        else {
            return;
        };
        if ipc_ns == 0 {
            return;
        }
        let ns = ipc_ns as *const u8;
        out.ipc_ns = bpf_probe_read_kernel(ns.add(inum_off as usize) as *const u32).unwrap_or(0);
        if o[TASK_OFF_NS_ID] != 0 {
            out.ns_id = bpf_probe_read_kernel(ns.add(o[TASK_OFF_NS_ID] as usize) as *const u64)
                .unwrap_or(0);
        }
    }
}

/// Reads the thread's identity into its slot (when it takes it, and after it changed
/// namespace).
#[inline(always)]
pub(super) fn read_ident(sl: &mut Slot) {
    fill_ident(&mut sl.ident);
    comm_into(&mut sl.comm);
}

/// A finished call of a thread without a slot (its entry unseen and no room for one): added
/// straight to `AGG`, or counted lost.
#[inline(always)]
pub(super) fn unslotted(
    _tgid: u32,
    id: i32,
    sys: u8,
    ret: i64,
    outcome: Outcome,
    end_ns: u64,
    s: &mut Stats,
) {
    let mut key = AggKey {
        id,
        sys,
        ..AggKey::default()
    };
    fill_ident(&mut key.ident);
    match agg_entry(&key, s) {
        Some(v) => add_call(v, ret, outcome, 0, end_ns),
        None => spill_call(&key, ret, outcome, end_ns, s),
    }
}

/// The current thread moved to another namespace (setns or unshare returned): its slot, if
/// it has one, reads its identity again, so that its next calls are of the new namespace.
#[inline(never)]
pub(super) fn ns_changed() {
    let tid = bpf_get_current_pid_tgid() as u32;
    if let Some(sl) = slot(tid, false) {
        read_ident(sl);
    }
}

/// `sys_exit_setns` and `sys_exit_unshare` (per-syscall tracepoint mode; the raw exit looks at
/// the numbers itself).
#[tracepoint]
pub fn ipc_tp_nschange(ctx: TracePointContext) -> i32 {
    // SAFETY: trace_event_raw_sys_exit: `long ret` at 16.
    let ret =
        unsafe { core::ptr::read_volatile((ctx.as_ptr() as *const u8).add(16) as *const i64) };
    if ret == 0 {
        ns_changed();
    }
    0
}

/// A thread exits (`sched_process_exit`, in the exiting thread): what its slot has not
/// flushed goes to `AGG` / `HOLDS`, and the slot is freed — in `SLOTS` zeroed and its claim
/// dropped, in `INFLIGHT` deleted — so that nothing of a gone thread lives only in a slot
/// and a reused thread id starts clean. Nothing once the probe is stopped (its counts are
/// final then).
#[raw_tracepoint(tracepoint = "sched_process_exit")]
pub fn ipc_task_exit(_ctx: RawTracePointContext) -> i32 {
    if STOPPED.get(0).is_none_or(|s| *s != 0) {
        return 0;
    }
    let tid = bpf_get_current_pid_tgid() as u32;
    if tid == 0 {
        return 0;
    }
    let Some(s) = stats() else { return 0 };
    let idx = tid & (SLOTS_ENTRIES - 1);
    if let Some(p) = SLOTS.get_ptr_mut(idx) {
        // SAFETY: the slot of index `idx`; its owner, this thread, is the only writer.
        let sl = unsafe { &mut *p };
        if sl.owner == tid {
            flush_acc(sl, s);
            flush_hold(sl, s);
            zero(sl);
            let _ = SLOT_CLAIMS.remove(&idx);
            // A thread has one slot (see `slot`).
            return 0;
        }
    }
    if let Some(p) = INFLIGHT.get_ptr_mut(tid) {
        // SAFETY: this thread's own entry.
        let sl = unsafe { &mut *p };
        flush_acc(sl, s);
        flush_hold(sl, s);
        let _ = INFLIGHT.remove(&tid);
    }
    0
}

/// Zeroes a slot (owner 0: free) in one helper call from the never-written `SLOT_ZERO`.
#[inline(always)]
fn zero(sl: &mut Slot) {
    let Some(z) = SLOT_ZERO.get_ptr(0) else {
        return;
    };
    // SAFETY: both are map values of `Slot`'s size.
    unsafe {
        aya_ebpf::helpers::generated::bpf_probe_read_kernel(
            sl as *mut Slot as *mut core::ffi::c_void,
            core::mem::size_of::<Slot>() as u32,
            z as *const core::ffi::c_void,
        );
    }
}
