//! ipctop's eBPF program: follows the System V IPC syscalls and the POSIX queue calls
//! (`mq_*`) of every process.
//!
//! Two attach modes share one body:
//! - raw tracepoints `sys_enter` / `sys_exit` (no tracefs needed; see every syscall and drop
//!   the ones that are not IPC in the first instructions);
//! - the per-syscall tracepoints `syscalls/sys_{enter,exit}_<name>` (need tracefs; the kernel
//!   only calls us for the IPC syscalls).
//!
//! On entry the call's arguments (and the `sembuf`s, semtimedop's timeout and msgsnd's mtype,
//! read from user memory) are kept in the thread's slot (`SLOTS`, or `INFLIGHT` when another
//! thread holds its index), where userspace also sees calls
//! that are blocked right now. On exit one [`Event`] goes to the `EVENTS` ring buffer; a full
//! ring buffer is counted in `STATS`, never silent.
#![cfg_attr(target_arch = "bpf", no_std, no_main)]

#[cfg(not(target_arch = "bpf"))]
fn main() {
    // The host build of the workspace compiles this crate too; the real program only exists
    // for the BPF target (built by monitor/build.rs).
}

#[cfg(target_arch = "bpf")]
mod prog {
    use aya_ebpf::{
        bindings::{BPF_NOEXIST, BPF_RB_FORCE_WAKEUP, BPF_RB_NO_WAKEUP},
        helpers::{
            bpf_get_current_cgroup_id, bpf_get_current_comm, bpf_get_current_pid_tgid,
            bpf_get_current_task, bpf_get_current_uid_gid, bpf_ktime_get_ns, bpf_probe_read_kernel,
            bpf_probe_read_user,
        },
        macros::{map, raw_tracepoint, tracepoint},
        maps::{Array, HashMap, PerCpuArray, PerCpuHashMap, RingBuf},
        programs::{RawTracePointContext, TracePointContext},
        EbpfContext, Global,
    };
    use monitor_ebpf::{
        is_mq, sys, sys_index_tp, AggKey, AggVal, Call, Event, HoldKey, HoldVal, RowRecord, Sembuf,
        Slot, Stats, AGG_MAX_ENTRIES, CALL_F_AUX_FAULT, CALL_F_ENDED, CALL_F_NO_ENTRY,
        CALL_F_SOPS_FAULT, EVENT_KIND_CALL, EVENT_KIND_ROW, EVENT_VERSION, HIST_BUCKETS,
        HOLDS_MAX_ENTRIES, INFLIGHT_MAX_ENTRIES, MAX_SOPS, SEM_UNDO, SLOTS_ENTRIES, SYS_DONE,
    };

    // Settings: read-only globals set by the loader (see `monitor_ebpf::global`). The verifier
    // sees their values, so a filter that is off costs nothing.
    #[unsafe(no_mangle)]
    static TARGET_TGID: Global<u32> = Global::new(0);
    #[unsafe(no_mangle)]
    static IGNORE_TGID: Global<u32> = Global::new(0);
    #[unsafe(no_mangle)]
    static COMM_FILTER: Global<[u64; 2]> = Global::new([0; 2]);
    #[unsafe(no_mangle)]
    static SEND_ALL: Global<u32> = Global::new(1);
    #[unsafe(no_mangle)]
    static WAIT_NS: Global<u64> = Global::new(1_000_000);
    #[unsafe(no_mangle)]
    static WAKEUP_BYTES: Global<u64> = Global::new(0);
    #[unsafe(no_mangle)]
    static IPC_NS_OFFSETS: Global<[u32; 3]> = Global::new([0; 3]);
    #[unsafe(no_mangle)]
    static TASK_OFFSETS: Global<[u32; 6]> = Global::new([0; 6]);

    /// Non-zero once userspace has stopped the probe: every program returns at once from
    /// then on, so that the counts are final without waiting for the detach (which the kernel
    /// makes slow: one RCU grace period per per-syscall tracepoint, one after another).
    /// An array lookup, inlined by the verifier: no helper call.
    #[map]
    static STOPPED: Array<u32> = Array::with_max_entries(1, 0);

    /// Finished calls for userspace. Userspace sets the real size at load time.
    #[map]
    static EVENTS: RingBuf = RingBuf::with_byte_size(1 << 22, 0);

    /// Calls in progress, and each thread's running aggregate, by thread id.
    #[map]
    static INFLIGHT: HashMap<u32, Slot> = HashMap::with_max_entries(INFLIGHT_MAX_ENTRIES, 0);

    /// The threads' slots by `tid % SLOTS_ENTRIES`: an array lookup, which the verifier
    /// inlines, instead of a hash lookup (a helper call, jhash and memcmp) on every entry and
    /// exit. A slot is taken by the first thread to claim it in `SLOT_CLAIMS`.
    #[map]
    static SLOTS: Array<Slot> = Array::with_max_entries(SLOTS_ENTRIES, 0);

    /// Index of `SLOTS` → the thread that holds it: the claim (an insert that fails when
    /// another thread holds the index, atomically) and, for userspace, the slots in use.
    #[map]
    static SLOT_CLAIMS: HashMap<u32, u32> = HashMap::with_max_entries(SLOTS_ENTRIES, 0);

    /// The raw entry's copy of the argument registers (see `ipc_raw_enter`).
    #[map]
    static REGS: PerCpuArray<[u64; 8]> = PerCpuArray::with_max_entries(1, 0);

    /// A zeroed `Slot` to insert new `INFLIGHT` entries from (never written).
    #[map]
    static SLOT_ZERO: PerCpuArray<Slot> = PerCpuArray::with_max_entries(1, 0);

    #[map]
    static STATS: PerCpuArray<Stats> = PerCpuArray::with_max_entries(1, 0);

    /// Per process, syscall and object: counts and wait-time histograms (aggregating mode).
    #[map]
    static AGG: PerCpuHashMap<AggKey, AggVal> = PerCpuHashMap::with_max_entries(AGG_MAX_ENTRIES, 0);

    /// A zeroed `AggVal` to insert new `AGG` entries from (never written).
    #[map]
    static AGG_ZERO: PerCpuArray<AggVal> = PerCpuArray::with_max_entries(1, 0);

    /// Semaphore operations per process and semaphore (taken, given, with SEM_UNDO): who
    /// holds what.
    #[map]
    static HOLDS: HashMap<HoldKey, HoldVal> = HashMap::with_max_entries(HOLDS_MAX_ENTRIES, 0);

    #[inline(always)]
    fn stats() -> Option<&'static mut Stats> {
        // SAFETY: per-CPU slot, BPF programs do not preempt each other on one CPU here.
        STATS.get_ptr_mut(0).map(|p| unsafe { &mut *p })
    }

    /// Whether this process is one we follow (pid and comm filters, ipctop itself left out),
    /// and the probe is not stopped.
    #[inline(always)]
    fn wanted(tgid: u32) -> bool {
        if STOPPED.get(0).is_none_or(|s| *s != 0) {
            return false;
        }
        let target = TARGET_TGID.load();
        if target != 0 && target != tgid {
            return false;
        }
        if IGNORE_TGID.load() == tgid {
            return false;
        }
        let want = COMM_FILTER.load();
        if want[0] != 0 {
            let Ok(comm) = bpf_get_current_comm() else {
                return false;
            };
            // The kernel's comm is NUL-padded, as is the filter.
            // SAFETY: 16 bytes read as two u64s.
            let comm: [u64; 2] = unsafe { core::mem::transmute(comm) };
            if comm != want {
                return false;
            }
        }
        true
    }

    mod agg; // the in-kernel aggregates and holds (src/prog/agg.rs)
    mod compat; // 32-bit tasks (src/prog/compat.rs)
    mod emit; // a finished call sent to userspace (src/prog/emit.rs)
    mod task; // who a thread is, how a call ended, the thread's exit (src/prog/task.rs)
    mod tp; // the per-syscall tracepoints (src/prog/tp.rs)
    use agg::{accumulate, note_holds};
    use emit::{comm_into, emit};
    use task::{ended_by_death, read_ident, Outcome};

    // ---- raw tracepoints ---------------------------------------------------------------

    // x86-64 `struct pt_regs` offsets (bytes) of the syscall argument registers.
    const PT_R10: usize = 56;
    const PT_R9: usize = 64;
    const PT_R8: usize = 72;
    const PT_DX: usize = 96;
    const PT_SI: usize = 104;
    const PT_DI: usize = 112;
    const PT_ORIG_AX: usize = 120;

    #[inline(always)]
    unsafe fn reg(regs: *const u8, off: usize) -> u64 {
        unsafe { bpf_probe_read_kernel(regs.add(off) as *const u64).unwrap_or(0) }
    }

    #[raw_tracepoint(tracepoint = "sys_enter")]
    pub fn ipc_raw_enter(ctx: RawTracePointContext) -> i32 {
        // TP_PROTO(struct pt_regs *regs, long id)
        let id: u64 = ctx.arg(1);
        let regs: *const u8 = ctx.arg(0);
        // A 32-bit task's number is of the i386 table (its getppid is our semget).
        let Some(sys) = compat::raw_enter(regs, id) else {
            return 0;
        };
        // One read of the registers r10..di (pt_regs offsets 56..120) instead of six, into a
        // per-CPU scratch rather than the stack (64 bytes there would put the program on the
        // JIT's private stack, where the sembuf read costs more: see `read_sops`).
        let Some(r) = REGS.get_ptr_mut(0) else {
            return 0;
        };
        // SAFETY: regs is the kernel's pt_regs of this syscall; read through the helper into
        // this CPU's scratch.
        if unsafe {
            aya_ebpf::helpers::generated::bpf_probe_read_kernel(
                r as *mut core::ffi::c_void,
                64,
                regs.add(PT_R10) as *const core::ffi::c_void,
            )
        } != 0
        {
            return 0;
        }
        // Argument i's register, read (volatile) only once the slot is found, so that no
        // copy of the six is held on the stack across the helper calls.
        // Constant offsets in each arm: older verifiers (6.1, 6.12) refuse an index into the
        // scratch that they cannot bound.
        let r = r as *const u64;
        // SAFETY: this CPU's scratch, just written; indexes below 8.
        let at = |off: usize| unsafe { core::ptr::read_volatile(r.add((off - PT_R10) / 8)) };
        enter(sys, |i| match i {
            0 => at(PT_DI),
            1 => at(PT_SI),
            2 => at(PT_DX),
            3 => at(PT_R10),
            4 => at(PT_R8),
            _ => at(PT_R9),
        });
        0
    }

    #[raw_tracepoint(tracepoint = "sys_exit")]
    pub fn ipc_raw_exit(ctx: RawTracePointContext) -> i32 {
        // TP_PROTO(struct pt_regs *regs, long ret)
        let regs: *const u8 = ctx.arg(0);
        // SAFETY: as above.
        let id = unsafe { reg(regs, PT_ORIG_AX) };
        let (sys, ret) = compat::raw_exit(regs, id, ctx.arg(1));
        if sys == compat::NOT_NATIVE {
            return 0;
        }
        on_exit(sys, ret);
        0
    }

    // ---- the common body ---------------------------------------------------------------------

    /// This thread's slot: in `SLOTS` at its index if it holds that, else its `INFLIGHT`
    /// entry; when it has neither and `create`, the index claimed now if nobody holds it,
    /// else an `INFLIGHT` entry created (zeroed). A thread has one slot all its life (one
    /// with an `INFLIGHT` entry never claims its index later, when that is freed).
    #[inline(always)]
    pub(super) fn slot(tid: u32, create: bool) -> Option<&'static mut Slot> {
        let idx = tid & (SLOTS_ENTRIES - 1);
        let sl = SLOTS.get_ptr_mut(idx);
        if let Some(p) = sl {
            // SAFETY: the slot of index `idx`; only its owner writes it once claimed.
            if unsafe { (*p).owner } == tid {
                return Some(unsafe { &mut *p });
            }
        }
        if let Some(p) = INFLIGHT.get_ptr_mut(tid) {
            // SAFETY: this thread's own map entry; nothing else in the kernel writes it.
            return Some(unsafe { &mut *p });
        }
        if !create {
            return None;
        }
        if let Some(p) = sl {
            // SAFETY: as above.
            let sl = unsafe { &mut *p };
            // tid 0 (the idle task) never makes a syscall; 0 means free.
            if sl.owner == 0 && claim(tid) {
                // Claimed: what a previous owner left is zeros (the exit program, or
                // userspace's pruning, zeroes a slot before it drops the claim).
                sl.owner = tid;
                read_ident(sl);
                return Some(sl);
            }
        }
        let zero = SLOT_ZERO.get(0)?;
        if INFLIGHT.insert(tid, zero, BPF_NOEXIST as u64).is_err() {
            if let Some(s) = stats() {
                s.inflight_full += 1;
            }
            return None;
        }
        // SAFETY: as above.
        let sl = INFLIGHT.get_ptr_mut(tid).map(|p| unsafe { &mut *p })?;
        read_ident(sl);
        Some(sl)
    }

    /// Claims thread `tid`'s index of `SLOTS`: false when another thread holds it. A
    /// subprogram of its own, taken once per thread: its key and value live on its own
    /// stack, and the index is computed here again rather than kept across the caller's map
    /// lookup, so that the entry's stack stays under 64 bytes (see `read_sops`).
    #[inline(never)]
    fn claim(tid: u32) -> bool {
        let idx = tid & (SLOTS_ENTRIES - 1);
        SLOT_CLAIMS.insert(&idx, &tid, BPF_NOEXIST as u64).is_ok()
    }

    #[inline(always)]
    fn on_enter(sys: u8, args: &[u64; 6]) {
        enter(sys, |i| args[i]);
    }

    /// The entry of a followed syscall whose argument `i` is `arg(i)` (read only after the
    /// slot is found).
    #[inline(always)]
    fn enter(sys: u8, arg: impl Fn(usize) -> u64) {
        let pid_tgid = bpf_get_current_pid_tgid();
        let tgid = (pid_tgid >> 32) as u32;
        if !wanted(tgid) {
            return;
        }
        let tid = pid_tgid as u32;
        // Each thread keeps its entry: it is rewritten in place on every call and marked done
        // (`sys = SYS_DONE`) on exit, because inserting and deleting a hash entry per call
        // costs more than everything else the probe does. Userspace prunes dead threads.
        let Some(slot) = slot(tid, true) else { return };
        let call = &mut slot.call;
        call.sys = SYS_DONE;
        // Field by field, volatile: LLVM would otherwise turn the stores of zeros (the
        // arguments a syscall does not have, aux, flags) into a call of a memset
        // subprogram, which costs more than the stores.
        // SAFETY: plain stores into this thread's slot.
        unsafe {
            for i in 0..6 {
                core::ptr::write_volatile(&mut call.args[i], arg(i));
            }
            core::ptr::write_volatile(&mut call.aux, 0);
            core::ptr::write_volatile(&mut call.pid, tgid);
            core::ptr::write_volatile(&mut call.tid, tid);
            core::ptr::write_volatile(&mut call.nsops_read, 0);
            core::ptr::write_volatile(&mut call.flags, 0);
        }
        // After the stores: the arguments, the record and the ids are then dead across the
        // helper call (fewer registers spilled to the stack).
        call.start_ns = unsafe { bpf_ktime_get_ns() };
        // uid, gid and comm: only when the call is sent (at exit); sembufs past `nsops_read`
        // are never read, so not zeroed.
        match sys {
            sys::SEMOP | sys::SEMTIMEDOP => {
                read_sops(call, call.args[1] as *const u8, call.args[2]);
                if sys == sys::SEMTIMEDOP {
                    call.aux = -1;
                    let timeout = call.args[3];
                    if timeout != 0 {
                        // SAFETY: user pointer read through the helper.
                        match unsafe { bpf_probe_read_user(timeout as *const [i64; 2]) } {
                            Ok([sec, nsec]) => call.aux = sec * 1_000_000_000 + nsec,
                            Err(_) => call.flags |= CALL_F_AUX_FAULT,
                        }
                    }
                }
            }
            sys::MSGSND => {
                // SAFETY: user pointer read through the helper.
                match unsafe { bpf_probe_read_user(call.args[1] as *const i64) } {
                    Ok(mtype) => call.aux = mtype,
                    Err(_) => call.flags |= CALL_F_AUX_FAULT,
                }
            }
            _ => {}
        }
        // Last, so that a reader never takes a half-written entry for a call in progress.
        call.sys = sys;
    }

    /// Reads the first `min(nsops, MAX_SOPS)` sembufs in one helper call. Each arm has a
    /// constant size: older verifiers (6.1) lose the bound of a computed length
    /// (`min(nsops, 8) * 6`) and refuse it.
    ///
    /// Where the helper writes decides what the kernel's hardened-usercopy check costs
    /// (measured on 6.18, bpf_stats): on the task's own stack it stops at its first test; a
    /// map value (vmalloc) or the per-CPU private stack the JIT gives a program whose stack
    /// reaches 64 bytes take its heap path, ~45 ns more per call. So one sembuf, the common
    /// case, is read into the stack, and `enter` keeps the program's stack under 64 bytes
    /// (nothing live in registers across its helper calls but the slot and `sys`); several
    /// are read straight into the slot (a 48-byte stack buffer would push every call onto
    /// the private stack).
    #[inline(always)]
    fn read_sops(call: &mut Call, ptr: *const u8, nsops: u64) {
        let n: usize = if nsops >= MAX_SOPS as u64 {
            MAX_SOPS
        } else {
            nsops as usize
        };
        let dst = call.sops.as_mut_ptr() as *mut core::ffi::c_void;
        macro_rules! read {
            ($k:literal) => {{
                // SAFETY: user memory read through the helper straight into the slot.
                unsafe {
                    aya_ebpf::helpers::generated::bpf_probe_read_user(
                        dst,
                        ($k * core::mem::size_of::<Sembuf>()) as u32,
                        ptr as *const core::ffi::c_void,
                    ) == 0
                }
            }};
        }
        let ok = match n {
            0 => true,
            // SAFETY: user memory read through the helper into the stack.
            1 => match unsafe { bpf_probe_read_user(ptr as *const Sembuf) } {
                Ok(v) => {
                    call.sops[0] = v;
                    true
                }
                Err(_) => false,
            },
            2 => read!(2),
            3 => read!(3),
            4 => read!(4),
            5 => read!(5),
            6 => read!(6),
            7 => read!(7),
            _ => read!(8),
        };
        if ok {
            call.nsops_read = n as u8;
        } else {
            call.flags |= CALL_F_SOPS_FAULT;
        }
    }

    #[inline(always)]
    fn on_exit(sys: u8, ret: i64) {
        let pid_tgid = bpf_get_current_pid_tgid();
        let tgid = (pid_tgid >> 32) as u32;
        if !wanted(tgid) {
            return;
        }
        let tid = pid_tgid as u32;
        let end_ns = unsafe { bpf_ktime_get_ns() };
        let Some(s) = stats() else { return };
        // A signal's codes: interrupted, or ended when the task is dying (looked at only on
        // that path, so that other calls pay nothing).
        let outcome = if ret < 0 && task::is_interruption(ret) {
            if ended_by_death() {
                Outcome::Ended
            } else {
                Outcome::Interrupted
            }
        } else {
            Outcome::Done
        };
        let idx = sys as usize;
        if idx < s.calls.len() {
            s.calls[idx] += 1;
            if ret < 0 {
                s.errors[idx] += 1;
                match outcome {
                    Outcome::Interrupted => s.interrupted[idx] += 1,
                    Outcome::Ended => s.ended[idx] += 1,
                    Outcome::Done => {}
                }
            }
        }
        let send_all = SEND_ALL.load() != 0;
        let mut slot = slot(tid, false);
        // The call's entry, if it was seen (and is this call's).
        let seen = slot.as_ref().is_some_and(|sl| sl.call.sys == sys);
        let dur = match &slot {
            Some(sl) if seen => end_ns.saturating_sub(sl.call.start_ns),
            _ => 0,
        };
        if let Some(sl) = slot.as_mut() {
            if seen && ret == 0 && (sys == sys::SEMOP || sys == sys::SEMTIMEDOP) {
                note_holds(sl, end_ns, s);
            }
        }
        let send = send_all
            || match sys {
                sys::SEMOP
                | sys::SEMTIMEDOP
                | sys::MSGSND
                | sys::MSGRCV
                | sys::MQ_TIMEDSEND
                | sys::MQ_TIMEDRECEIVE
                | sys::MQ_NOTIFY
                | sys::MQ_GETSETATTR => ret < 0 || !seen || dur >= WAIT_NS.load(),
                _ => true,
            };
        if !send_all {
            let id = match sys {
                sys::SEMGET | sys::SHMGET | sys::MSGGET => {
                    if ret >= 0 {
                        ret as i32
                    } else {
                        -1
                    }
                }
                // A POSIX queue's descriptor is no IPC id: counted per process and syscall.
                sys::SHMDT => -1,
                s if is_mq(s) => -1,
                _ => match &slot {
                    Some(sl) if seen => sl.call.args[0] as i32,
                    _ => -1,
                },
            };
            match slot.as_mut() {
                Some(sl) => accumulate(sl, id, sys, ret, outcome, dur, end_ns, s),
                None => task::unslotted(tgid, id, sys, ret, outcome, end_ns, s),
            }
        }
        if send {
            let (call, ipc_ns, ns_id, start) = match &slot {
                Some(sl) if seen => (
                    Some(&sl.call),
                    sl.ident.ipc_ns,
                    sl.ident.ns_id,
                    sl.ident.start,
                ),
                _ => (None, 0, 0, 0),
            };
            let ended = matches!(outcome, Outcome::Ended);
            let who = (ipc_ns, ns_id, start);
            emit(sys, tgid, tid, call, who, ended, ret, end_ns, s);
        }
        if let Some(sl) = slot {
            sl.call.sys = SYS_DONE;
        }
    }

    #[panic_handler]
    fn panic(_info: &core::panic::PanicInfo) -> ! {
        loop {}
    }
}

#[cfg(target_arch = "bpf")]
#[unsafe(link_section = "license")]
#[unsafe(no_mangle)]
static LICENSE: [u8; 4] = *b"GPL\0";
