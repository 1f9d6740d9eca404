//! A finished call sent to userspace: the `Event` written into the `EVENTS` ring buffer, with
//! what is only read for calls that are sent (uid, gid, comm, IPC namespace, cgroup).
use super::*;

/// The current task's IPC namespace: `task->nsproxy->ipc_ns->ns.inum` at the offsets the
/// loader found in the kernel's BTF; 0 when it found none (pruned by the verifier) or a
/// read fails (an exiting task has no nsproxy).
#[inline(always)]
fn current_ipc_ns() -> u32 {
    let [nsproxy_off, ipc_ns_off, inum_off] = IPC_NS_OFFSETS.load();
    if nsproxy_off == 0 {
        return 0;
    }
    // SAFETY: kernel pointers read through the helper, which checks them.
    unsafe {
        let task = bpf_get_current_task() as *const u8;
        let Ok(nsproxy) = bpf_probe_read_kernel(task.add(nsproxy_off as usize) as *const u64)
        else {
            return 0;
        };
        if nsproxy == 0 {
            return 0;
        }
        let Ok(ipc_ns) =
            bpf_probe_read_kernel((nsproxy as *const u8).add(ipc_ns_off as usize) as *const u64)
        else {
            return 0;
        };
        if ipc_ns == 0 {
            return 0;
        }
        bpf_probe_read_kernel((ipc_ns as *const u8).add(inum_off as usize) as *const u32)
            .unwrap_or(0)
    }
}

/// The current thread's comm written straight into `buf` (the helper clears it when it fails):
/// no branch on the result, which keeps the verifier's paths few where this is inlined at
/// many sites.
#[inline(always)]
pub(super) fn comm_into(buf: &mut [u8; 16]) {
    // SAFETY: `buf` is 16 writable bytes.
    unsafe { aya_ebpf::helpers::generated::bpf_get_current_comm(buf.as_mut_ptr().cast(), 16) };
}

/// Sends one finished call to userspace; a full ring buffer is counted. `(ipc_ns, ns_id,
/// proc_start)`: the thread's namespace and process as its slot keeps them (zeros: unknown; the
/// inode is then read now);
/// `ended`: the call was ended by the process's death.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn emit(
    sys: u8,
    tgid: u32,
    tid: u32,
    call: Option<&Call>,
    (ipc_ns, ns_id, proc_start): (u32, u64, u64),
    ended: bool,
    ret: i64,
    end_ns: u64,
    s: &mut Stats,
) {
    let Some(mut entry) = EVENTS.reserve::<Event>(0) else {
        s.dropped += 1;
        return;
    };
    let ev = entry.as_mut_ptr();
    let uid_gid = bpf_get_current_uid_gid();
    // SAFETY: `ev` points at reserved ring buffer memory of the right size.
    unsafe {
        (*ev).kind = EVENT_KIND_CALL;
        (*ev).version = EVENT_VERSION;
        (*ev)._pad = 0;
        (*ev).end_ns = end_ns;
        (*ev).ret = ret;
        let c = &mut (*ev).call;
        match call {
            Some(seen) => {
                *c = *seen;
                if sys == sys::MSGRCV && ret >= 0 {
                    // The type of the message received (the buffer starts with it).
                    match bpf_probe_read_user(seen.args[1] as *const i64) {
                        Ok(mtype) => c.aux = mtype,
                        Err(_) => c.flags |= CALL_F_AUX_FAULT,
                    }
                }
            }
            None => {
                *c = core::mem::zeroed();
                c.pid = tgid;
                c.tid = tid;
                c.sys = sys;
                c.flags = CALL_F_NO_ENTRY;
            }
        }
        // Only for calls sent. Only the task itself changes its namespaces (setns,
        // unshare, after which its slot reads it again), so the slot's is the entry's too;
        // the cgroup is the one it returns in (it may be moved while blocked). Calls in
        // progress are of live threads: userspace reads both from the slot and /proc.
        c.ipc_ns = if ipc_ns != 0 {
            ipc_ns
        } else {
            current_ipc_ns()
        };
        if ended {
            c.flags |= CALL_F_ENDED;
        }
        c.ns_id = ns_id;
        c.proc_start = proc_start;
        c.cgroup_id = bpf_get_current_cgroup_id();
        c.uid = uid_gid as u32;
        c.gid = (uid_gid >> 32) as u32;
        comm_into(&mut c.comm);
    }
    s.sent += 1;
    let wake = WAKEUP_BYTES.load();
    let flags = if wake == 0 || EVENTS.query(0) >= wake {
        BPF_RB_FORCE_WAKEUP
    } else {
        BPF_RB_NO_WAKEUP
    };
    entry.submit(flags as u64);
}
