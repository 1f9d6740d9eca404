//! 32-bit (compat) tasks on x86-64: their syscall numbers are the i386 table's, so that
//! getppid (64) must not be read as the 64-bit semget (64). A compat syscall is known by the
//! task's `thread_info.status & TS_COMPAT` (set by the kernel's 32-bit entry, cleared only on
//! the way back to user mode, after `sys_exit`), or, when the loader found no offset for it,
//! by the 32-bit user code segment it was entered from.
//!
//! The System V IPC calls and POSIX queue calls of a 32-bit task are mapped onto the 64-bit
//! calls' arguments, then go through the common body (`on_enter`/`on_exit`) like the others,
//! marked [`CALL_F_COMPAT`]:
//! - the POSIX queue calls (277..=282, mq_timedsend/receive_time64 418/419): their six
//!   registers zero-extended (the probe follows none of their pointers, so neither the
//!   timespec's layout, 32-bit for 279/280 and 64-bit for 418/419, nor mq_attr's of 32-bit
//!   longs matters to it);
//! - the direct i386 calls (393..=402, semtimedop_time64 420): arguments in ebx, ecx, edx,
//!   esi, edi, ebp; `IPC_64` is taken out of *ctl commands; msgrcv's msgtyp is a signed
//!   32-bit `long`;
//! - `ipc(call, first, second, third, ptr, fifth)` (117), as the kernel's
//!   `compat_ksys_ipc` reads it: semctl's fourth argument is the u32 at `ptr`; msgrcv of
//!   version 0 finds `msgp` and `msgtyp` in a `{u32, i32}` at `ptr`; semtimedop's timeout is a
//!   32-bit `struct old_timespec32`; shmat returns 0 and writes the address to the u32 at
//!   `third`, which is what the event's return value becomes.
//!
//! Two programs of their own (`ipc_compat_enter`/`ipc_compat_exit`) serve the per-syscall
//! tracepoint mode, whose tracepoints the kernel never fires for compat syscalls: raw
//! tracepoints that return at once for anything but an i386 IPC or POSIX queue number of a
//! compat task.
use aya_ebpf::{
    helpers::{
        bpf_get_current_pid_tgid, bpf_get_current_task, bpf_probe_read_kernel, bpf_probe_read_user,
    },
    macros::raw_tracepoint,
    programs::RawTracePointContext,
    Global,
};
use monitor_ebpf::{
    ipc_call, is_ia32_ipc, is_ia32_mq, nr32, nr_ns, sys, sys_index, CALL_F_AUX_FAULT, CALL_F_COMPAT,
};

use super::{on_enter, on_exit, reg, slot, task::ns_changed, PT_ORIG_AX};

/// See `monitor_ebpf::global::TI_STATUS_OFFSET`.
#[unsafe(no_mangle)]
static TI_STATUS_OFFSET: Global<u32> = Global::new(0);

/// x86 `TS_COMPAT` in `thread_info.status`.
const TS_COMPAT: u32 = 0x0002;
/// `pt_regs.cs` and the kernel's `__USER32_CS`.
const PT_CS: usize = 136;
const USER32_CS: u64 = 0x23;
/// `pt_regs.bp`, the first of the registers read in one go (bp .. di).
const PT_BP: usize = 32;
const IPC_64: u32 = 0x100;

/// Whether the running syscall is a 32-bit one.
#[inline(always)]
pub(super) fn in_compat_syscall(regs: *const u8) -> bool {
    let off = TI_STATUS_OFFSET.load();
    // SAFETY: kernel memory read through the helper, which checks it.
    unsafe {
        if off != 0 {
            let task = bpf_get_current_task() as *const u8;
            let status = bpf_probe_read_kernel(task.add(off as usize) as *const u32).unwrap_or(0);
            return status & TS_COMPAT != 0;
        }
        reg(regs, PT_CS) == USER32_CS
    }
}

/// The i386 argument registers ebx, ecx, edx, esi, edi, ebp (32 bits each).
#[inline(always)]
fn ia32_args(regs: *const u8) -> Option<[u32; 6]> {
    // bp 32, bx 40, r11, r10, r9, r8, ax, cx 88, dx 96, si 104, di 112.
    // SAFETY: the kernel's pt_regs of this syscall, read through the helper.
    let r = unsafe { bpf_probe_read_kernel(regs.add(PT_BP) as *const [u64; 11]) }.ok()?;
    let at = |off: usize| r[(off - PT_BP) / 8] as u32;
    Some([at(40), at(88), at(96), at(104), at(112), at(32)])
}

/// A signed 32-bit value as the 64-bit call's argument.
#[inline(always)]
fn sext(v: u32) -> u64 {
    v as i32 as i64 as u64
}

/// What a 32-bit call is in 64-bit terms: its [`sys`] index and arguments, and whether its
/// timeout is a 32-bit `old_timespec32`.
struct Mapped {
    sys: u8,
    args: [u64; 6],
    time32: bool,
}

#[inline(always)]
fn mapped(sys: u8, args: [u32; 6]) -> Option<Mapped> {
    Some(Mapped {
        sys,
        args: args.map(u64::from),
        time32: false,
    })
}

/// Whether `nr` is an i386 syscall the 32-bit path of the per-syscall tracepoint mode
/// follows: the System V IPC calls and the POSIX queue calls. The raw mode
/// ([`raw_enter`]/[`raw_exit`]) keeps to System V's, of either table: its exit program, which
/// follows every syscall number at once, verifies in 885k of the kernel's 1M instructions on
/// 6.18 (aggregating), and the POSIX queue calls took it over the limit (E2BIG).
#[inline(always)]
fn followed32(nr: u64) -> bool {
    is_ia32_ipc(nr) || is_ia32_mq(nr)
}

/// The [`sys`] index of an i386 IPC syscall, or when `MQ` a POSIX queue one (`call` is
/// `ipc()`'s first argument). The raw mode's copy (`MQ` false) has no queue numbers at all:
/// the verifier explores a copy's every arm, pruned or not (it took the raw exit over its
/// budget).
#[inline(always)]
fn sys_of<const MQ: bool>(nr: u32, call: u32) -> Option<u8> {
    if MQ {
        let mq = match nr {
            nr32::MQ_OPEN => Some(sys::MQ_OPEN),
            nr32::MQ_UNLINK => Some(sys::MQ_UNLINK),
            nr32::MQ_TIMEDSEND | nr32::MQ_TIMEDSEND_TIME64 => Some(sys::MQ_TIMEDSEND),
            nr32::MQ_TIMEDRECEIVE | nr32::MQ_TIMEDRECEIVE_TIME64 => Some(sys::MQ_TIMEDRECEIVE),
            nr32::MQ_NOTIFY => Some(sys::MQ_NOTIFY),
            nr32::MQ_GETSETATTR => Some(sys::MQ_GETSETATTR),
            _ => None,
        };
        if mq.is_some() {
            return mq;
        }
    }
    Some(match nr {
        nr32::SEMGET => sys::SEMGET,
        nr32::SEMCTL => sys::SEMCTL,
        nr32::SHMGET => sys::SHMGET,
        nr32::SHMCTL => sys::SHMCTL,
        nr32::SHMAT => sys::SHMAT,
        nr32::SHMDT => sys::SHMDT,
        nr32::MSGGET => sys::MSGGET,
        nr32::MSGSND => sys::MSGSND,
        nr32::MSGRCV => sys::MSGRCV,
        nr32::MSGCTL => sys::MSGCTL,
        nr32::SEMTIMEDOP_TIME64 => sys::SEMTIMEDOP,
        nr32::IPC => match call & 0xffff {
            ipc_call::SEMOP => sys::SEMOP,
            ipc_call::SEMGET => sys::SEMGET,
            ipc_call::SEMCTL => sys::SEMCTL,
            ipc_call::SEMTIMEDOP => sys::SEMTIMEDOP,
            ipc_call::MSGSND => sys::MSGSND,
            ipc_call::MSGRCV => sys::MSGRCV,
            ipc_call::MSGGET => sys::MSGGET,
            ipc_call::MSGCTL => sys::MSGCTL,
            ipc_call::SHMAT => sys::SHMAT,
            ipc_call::SHMDT => sys::SHMDT,
            ipc_call::SHMGET => sys::SHMGET,
            ipc_call::SHMCTL => sys::SHMCTL,
            _ => return None,
        },
        _ => return None,
    })
}

/// Maps an i386 IPC call onto the 64-bit call's arguments (reading what `ipc()` keeps in
/// user memory).
#[inline(always)]
fn map_call<const MQ: bool>(nr: u32, r: [u32; 6]) -> Option<Mapped> {
    let [bx, cx, dx, si, di, bp] = r;
    let sys = sys_of::<MQ>(nr, bx)?;
    if nr != nr32::IPC {
        return match sys {
            sys::SEMCTL => mapped(sys, [bx, cx, dx & !IPC_64, si, 0, 0]),
            sys::SHMCTL | sys::MSGCTL => mapped(sys, [bx, cx & !IPC_64, dx, 0, 0, 0]),
            sys::MSGRCV => Some(Mapped {
                sys,
                args: [bx as u64, cx as u64, dx as u64, sext(si), di as u64, 0],
                time32: false,
            }),
            _ => mapped(sys, r),
        };
    }
    // ipc(call, first, second, third, ptr, fifth)
    let (version, first, second, third, ptr, fifth) = (bx >> 16, cx, dx, si, di, bp);
    match sys {
        sys::SEMOP => mapped(sys, [first, ptr, second, 0, 0, 0]),
        sys::SEMTIMEDOP => Some(Mapped {
            sys,
            args: [first as u64, ptr as u64, second as u64, fifth as u64, 0, 0],
            time32: true,
        }),
        sys::SEMGET | sys::SHMGET => mapped(sys, [first, second, third, 0, 0, 0]),
        sys::SEMCTL => {
            // SAFETY: user memory read through the helper (0 when unreadable: the kernel
            // fails the call with EFAULT then).
            let arg = unsafe { bpf_probe_read_user(ptr as usize as *const u32) }.unwrap_or(0);
            mapped(sys, [first, second, third & !IPC_64, arg, 0, 0])
        }
        sys::MSGSND => mapped(sys, [first, ptr, second, third, 0, 0]),
        sys::MSGRCV => {
            let (msgp, msgtyp) = if version == 0 {
                // struct compat_ipc_kludge { compat_uptr_t msgp; compat_long_t msgtyp; }
                // SAFETY: as above.
                match unsafe { bpf_probe_read_user(ptr as usize as *const [u32; 2]) } {
                    Ok([p, t]) => (p, t),
                    Err(_) => (0, 0),
                }
            } else {
                (ptr, fifth)
            };
            Some(Mapped {
                sys,
                args: [
                    first as u64,
                    msgp as u64,
                    second as u64,
                    sext(msgtyp),
                    third as u64,
                    0,
                ],
                time32: false,
            })
        }
        sys::MSGGET => mapped(sys, [first, second, 0, 0, 0, 0]),
        sys::MSGCTL | sys::SHMCTL => mapped(sys, [first, second & !IPC_64, ptr, 0, 0, 0]),
        sys::SHMAT => mapped(sys, [first, ptr, second, 0, 0, 0]),
        sys::SHMDT => mapped(sys, [ptr, 0, 0, 0, 0, 0]),
        _ => None,
    }
}

/// The raw `sys_enter` of the mode that follows every syscall: a 32-bit task's IPC call is
/// entered here; `Some` is a 64-bit task's IPC call, for the caller.
#[inline(always)]
pub(super) fn raw_enter(regs: *const u8, nr: u64) -> Option<u8> {
    // A plain index (NOT_NATIVE for none), not an `Option` kept across the helper calls below:
    // LLVM would keep its payload in a register it leaves undefined on the 32-bit path, and
    // the verifier refuses the spill of an undefined register.
    let native = sys_index(nr).unwrap_or(NOT_NATIVE);
    if native == NOT_NATIVE && !is_ia32_ipc(nr) {
        return None;
    }
    if in_compat_syscall(regs) {
        enter::<false>(regs, nr);
        return None;
    }
    (native != NOT_NATIVE).then_some(native)
}

/// No 64-bit IPC syscall (see [`raw_enter`]); as [`raw_exit`]'s syscall: none followed.
pub(super) const NOT_NATIVE: u8 = 0xff;

/// The raw `sys_exit`, as [`raw_enter`]; and a thread that returns from setns or unshare
/// (either table's numbers: reading its identity again is harmless) has its slot's identity
/// read again.
/// Returns the followed syscall (a [`sys`] index, [`NOT_NATIVE`] for none) and its result,
/// of either table: the caller's one exit body serves both (two would double what the
/// verifier explores).
#[inline(always)]
pub(super) fn raw_exit(regs: *const u8, nr: u64, ret: i64) -> (u8, i64) {
    let native = sys_index(nr).unwrap_or(NOT_NATIVE);
    if native == NOT_NATIVE && !is_ia32_ipc(nr) {
        if ret == 0 && is_ns_change(nr) {
            ns_changed();
        }
        return (NOT_NATIVE, 0);
    }
    if in_compat_syscall(regs) {
        return exit::<false>(regs, nr, ret);
    }
    (native, ret)
}

/// The entry of a 32-bit task's syscall `nr` (known to be a compat one; the POSIX queue
/// calls too when `MQ`). A subprogram: its stack is its own, not the 64-bit path's (see
/// `read_sops` in main.rs).
#[inline(never)]
fn enter<const MQ: bool>(regs: *const u8, nr: u64) {
    let Some(r) = ia32_args(regs) else { return };
    let Some(m) = map_call::<MQ>(nr as u32, r) else {
        return;
    };
    on_enter(m.sys, &m.args);
    // The thread's entry, now written: mark it 32-bit, and read a 32-bit timeout.
    let tid = bpf_get_current_pid_tgid() as u32;
    let Some(sl) = slot(tid, false) else {
        return;
    };
    let call = &mut sl.call;
    if call.sys != m.sys {
        return;
    }
    call.flags |= CALL_F_COMPAT;
    if m.time32 && m.args[3] != 0 {
        // SAFETY: user memory read through the helper.
        match unsafe { bpf_probe_read_user(m.args[3] as *const [i32; 2]) } {
            Ok([sec, nsec]) => {
                call.aux = sec as i64 * 1_000_000_000 + nsec as i64;
                call.flags &= !CALL_F_AUX_FAULT;
            }
            Err(_) => call.flags |= CALL_F_AUX_FAULT,
        }
    }
}

/// The exit of a 32-bit task's syscall `nr` (known to be a compat one), mapped onto the
/// 64-bit call's: its [`sys`] index ([`NOT_NATIVE`] for none) and result, for the caller's
/// one exit body.
#[inline(always)]
fn exit<const MQ: bool>(regs: *const u8, nr: u64, mut ret: i64) -> (u8, i64) {
    // The argument registers are as they were at entry (only ax holds the result).
    let Some(r) = ia32_args(regs) else {
        return (NOT_NATIVE, 0);
    };
    let Some(sys) = sys_of::<MQ>(nr as u32, r[0]) else {
        return (NOT_NATIVE, 0);
    };
    if nr as u32 == nr32::IPC && sys == sys::SHMAT && ret == 0 {
        // ipc(SHMAT) returns 0 and the address through `third`.
        // SAFETY: user memory read through the helper.
        if let Ok(addr) = unsafe { bpf_probe_read_user(r[3] as usize as *const u32) } {
            ret = addr as i64;
        }
    }
    (sys, ret)
}

/// `sys_enter` for the per-syscall tracepoint mode: compat IPC calls only.
#[raw_tracepoint(tracepoint = "sys_enter")]
pub fn ipc_compat_enter(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct pt_regs *regs, long id)
    let id: u64 = ctx.arg(1);
    if !followed32(id) {
        return 0;
    }
    let regs: *const u8 = ctx.arg(0);
    if in_compat_syscall(regs) {
        enter::<true>(regs, id);
    }
    0
}

/// setns or unshare, of either table.
#[inline(always)]
fn is_ns_change(nr: u64) -> bool {
    let nr = nr as u32;
    nr == nr_ns::SETNS || nr == nr_ns::UNSHARE || nr == nr_ns::SETNS_32 || nr == nr_ns::UNSHARE_32
}

/// `sys_exit` for the per-syscall tracepoint mode: compat IPC calls only (and a 32-bit
/// setns/unshare, which the per-syscall tracepoints do not see either).
#[raw_tracepoint(tracepoint = "sys_exit")]
pub fn ipc_compat_exit(ctx: RawTracePointContext) -> i32 {
    // TP_PROTO(struct pt_regs *regs, long ret)
    let regs: *const u8 = ctx.arg(0);
    // SAFETY: the kernel's pt_regs, read through the helper.
    let id = unsafe { reg(regs, PT_ORIG_AX) };
    if !followed32(id) {
        let nr = id as u32;
        if (nr == nr_ns::SETNS_32 || nr == nr_ns::UNSHARE_32)
            && ctx.arg::<i64>(1) == 0
            && in_compat_syscall(regs)
        {
            ns_changed();
        }
        return 0;
    }
    if in_compat_syscall(regs) {
        let (sys, ret) = exit::<true>(regs, id, ctx.arg(1));
        if sys != NOT_NATIVE {
            on_exit(sys, ret);
        }
    }
    0
}
