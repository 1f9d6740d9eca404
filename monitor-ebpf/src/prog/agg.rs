//! The in-kernel account: a thread's finished calls added to its running aggregate (per
//! process, object and syscall: counts, errors, waits and their histogram) and its net
//! semaphore operation, both kept in its `INFLIGHT` slot and flushed to `AGG` / `HOLDS` only
//! when the thread moves to another object, so that the exit makes no map operation per call.
use super::*;

/// Adds a finished call to an aggregate.
#[inline(always)]
pub(super) fn add_call(v: &mut AggVal, ret: i64, dur: u64, end_ns: u64) {
    v.calls += 1;
    if ret < 0 {
        v.errors += 1;
    }
    v.total_ns += dur;
    if dur > v.max_ns {
        v.max_ns = dur;
    }
    v.last_ns = end_ns;
    let mut us = dur >> 10;
    let mut b = 0usize;
    while us > 1 && b < HIST_BUCKETS - 1 {
        us >>= 1;
        b += 1;
    }
    if b < HIST_BUCKETS {
        v.hist[b] += 1;
    }
}

/// Adds the call to the thread's running aggregate; when the thread changed object or
/// syscall, the previous one goes to `AGG` first.
#[inline(always)]
pub(super) fn accumulate(
    sl: &mut Slot,
    key: &AggKey,
    ret: i64,
    dur: u64,
    end_ns: u64,
    s: &mut Stats,
) {
    let same = sl.acc_used != 0
        && sl.acc_key.tgid == key.tgid
        && sl.acc_key.id == key.id
        && sl.acc_key.sys == key.sys;
    if !same {
        if sl.acc_used != 0 {
            // The thread moved on: its running aggregate goes to the shared map.
            if let Some(v) = agg_entry(&sl.acc_key, s) {
                v.calls += sl.acc.calls;
                v.errors += sl.acc.errors;
                v.total_ns += sl.acc.total_ns;
                if sl.acc.max_ns > v.max_ns {
                    v.max_ns = sl.acc.max_ns;
                }
                if sl.acc.last_ns > v.last_ns {
                    v.last_ns = sl.acc.last_ns;
                }
                for i in 0..HIST_BUCKETS {
                    v.hist[i] += sl.acc.hist[i];
                }
            }
        }
        sl.acc_key = *key;
        sl.acc = AggVal::default();
        sl.acc_used = 1;
    }
    add_call(&mut sl.acc, ret, dur, end_ns);
}

/// This CPU's `AGG` value of `key`, created when missing.
#[inline(always)]
pub(super) fn agg_entry(key: &AggKey, s: &mut Stats) -> Option<&'static mut AggVal> {
    let mut v = AGG.get_ptr_mut(key);
    if v.is_none() {
        let zero = AGG_ZERO.get(0)?;
        // An error is a lost race with another CPU's insert, or a full map.
        let _ = AGG.insert(key, zero, BPF_NOEXIST as u64);
        v = AGG.get_ptr_mut(key);
        if v.is_none() {
            s.agg_full += 1;
        }
    }
    // SAFETY: this CPU's copy of the entry.
    v.map(|p| unsafe { &mut *p })
}

/// Adds a successful semop's operations to the holds: a single operation to the thread's
/// running net (flushed to `HOLDS` when it names another semaphore), several straight to
/// `HOLDS`.
#[inline(always)]
pub(super) fn note_holds(sl: &mut Slot, tgid: u32, s: &mut Stats) {
    let semid = sl.call.args[0] as i32;
    if sl.call.nsops_read == 1 {
        let op = sl.call.sops[0];
        if op.sem_op == 0 {
            return;
        }
        let same = sl.hold_used != 0
            && sl.hold_key.semid == semid
            && sl.hold_key.tgid == tgid
            && sl.hold_key.semnum == op.sem_num;
        if same {
            sl.hold_net += op.sem_op as i64;
            return;
        }
        if sl.hold_used != 0 && sl.hold_net != 0 {
            let key = sl.hold_key;
            add_hold(&key, sl.hold_net, s);
        }
        sl.hold_key = HoldKey {
            semid,
            tgid,
            semnum: op.sem_num,
            _pad: [0; 6],
        };
        sl.hold_net = op.sem_op as i64;
        sl.hold_used = 1;
        return;
    }
    let n = sl.call.nsops_read as usize;
    for i in 0..MAX_SOPS {
        if i >= n {
            break;
        }
        let op = sl.call.sops[i];
        if op.sem_op == 0 {
            continue;
        }
        let key = HoldKey {
            semid,
            tgid,
            semnum: op.sem_num,
            _pad: [0; 6],
        };
        add_hold(&key, op.sem_op as i64, s);
    }
}

#[inline(always)]
fn add_hold(key: &HoldKey, delta: i64, s: &mut Stats) {
    match HOLDS.get_ptr_mut(key) {
        Some(v) => {
            // SAFETY: map value. Two threads of one process flushing the same semaphore on
            // two CPUs at the same instant could lose an update (the BPF target has no
            // 64-bit atomic add in Rust); the holder view is a guide. An entry back at zero
            // stays; userspace prunes the entries of dead processes and removed sets.
            unsafe { *v += delta };
        }
        None => {
            if HOLDS.insert(key, &delta, BPF_NOEXIST as u64).is_err() {
                s.agg_full += 1;
            }
        }
    }
}
