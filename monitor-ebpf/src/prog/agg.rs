//! The in-kernel account: a thread's finished calls added to its running aggregate (per
//! process, namespace, object and syscall: counts, errors, interruptions, waits and their
//! histogram) and its running semaphore operations, both kept in its slot and flushed to
//! `AGG` / `HOLDS` only when the thread moves to another row (or exits), so that the exit
//! makes no map operation per call. A flush that finds no room is counted (`agg_full`) and
//! its row handed to userspace whole through the ring buffer ([`RowRecord`]): only when that
//! is full too are the calls lost (`lost_calls`). Operations a full `HOLDS` has no room for
//! are lost (`lost_holds`).
use super::*;

/// Adds a finished call to an aggregate.
#[inline(always)]
pub(super) fn add_call(v: &mut AggVal, ret: i64, outcome: Outcome, dur: u64, end_ns: u64) {
    v.calls += 1;
    if ret < 0 {
        v.errors += 1;
        match outcome {
            Outcome::Interrupted => v.interrupted += 1,
            Outcome::Ended => v.ended += 1,
            Outcome::Done => {}
        }
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

/// Adds the call to the thread's running aggregate; when the thread changed row (object,
/// syscall, or namespace), the previous one goes to `AGG` first.
#[inline(always)]
#[allow(clippy::too_many_arguments)]
pub(super) fn accumulate(
    sl: &mut Slot,
    id: i32,
    sys: u8,
    ret: i64,
    outcome: Outcome,
    dur: u64,
    end_ns: u64,
    s: &mut Stats,
) {
    let same = sl.acc_used != 0
        && sl.acc_key.id == id
        && sl.acc_key.sys == sys
        && sl.acc_key.ident == sl.ident;
    if !same {
        flush_acc(sl, s);
        sl.acc_key = AggKey {
            ident: sl.ident,
            id,
            sys,
            _pad: [0; 3],
        };
        sl.acc = AggVal::default();
        sl.acc_used = 1;
    }
    add_call(&mut sl.acc, ret, outcome, dur, end_ns);
}

/// The thread's running aggregate, if any, added to `AGG` (the slot's is then unused). Not
/// inlined: one body for its call sites, and nothing returned, so that the verifier's paths
/// through it join again after the call.
#[inline(never)]
pub(super) fn flush_acc(sl: &mut Slot, s: &mut Stats) {
    if sl.acc_used == 0 {
        return;
    }
    sl.acc_used = 0;
    let Some(v) = agg_entry(&sl.acc_key, s) else {
        spill_row(&sl.acc_key, &sl.acc, &sl.comm, s);
        return;
    };
    v.calls += sl.acc.calls;
    v.errors += sl.acc.errors;
    v.interrupted += sl.acc.interrupted;
    v.ended += sl.acc.ended;
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

/// Hands a row `AGG` has no room for to userspace, named `comm` (see [`RowRecord`]); its
/// calls are counted lost when the ring buffer is full too. (Returns nothing: the caller's
/// state after the call is the same either way, which keeps the verifier's paths few.)
#[inline(never)]
pub(super) fn spill_row(key: &AggKey, val: &AggVal, comm: &[u8; 16], s: &mut Stats) {
    let Some(mut e) = EVENTS.reserve::<RowRecord>(0) else {
        s.lost_calls += val.calls;
        return;
    };
    let r = e.as_mut_ptr();
    // SAFETY: `r` points at reserved ring buffer memory of the right size.
    unsafe {
        (*r).kind = EVENT_KIND_ROW;
        (*r).version = EVENT_VERSION;
        (*r)._pad = 0;
        (*r).key = *key;
        (*r).val = *val;
        (*r).val.comm = *comm;
    }
    s.sent += 1;
    e.submit(BPF_RB_NO_WAKEUP as u64);
}

/// Hands one call `AGG` has no room for to userspace, as a row of its own (see
/// [`spill_row`]); counted lost when the ring buffer is full too.
#[inline(never)]
pub(super) fn spill_call(key: &AggKey, ret: i64, outcome: Outcome, end_ns: u64, s: &mut Stats) {
    let Some(mut e) = EVENTS.reserve::<RowRecord>(0) else {
        s.lost_calls += 1;
        return;
    };
    let r = e.as_mut_ptr();
    // SAFETY: `r` points at reserved ring buffer memory of the right size; all zeros is an
    // empty row.
    unsafe {
        *r = core::mem::zeroed();
        (*r).kind = EVENT_KIND_ROW;
        (*r).version = EVENT_VERSION;
        (*r).key = *key;
        add_call(&mut (*r).val, ret, outcome, 0, end_ns);
        comm_into(&mut (*r).val.comm);
    }
    s.sent += 1;
    e.submit(BPF_RB_NO_WAKEUP as u64);
}

/// This CPU's `AGG` value of `key`, created when missing; `None` (counted in `agg_full`)
/// when the table is full.
#[inline(always)]
pub(super) fn agg_entry(key: &AggKey, s: &mut Stats) -> Option<&'static mut AggVal> {
    let mut v = AGG.get_ptr_mut(key);
    if v.is_none() {
        let zero = AGG_ZERO.get(0)?;
        // An error is a lost race with another CPU's insert, or a full map.
        let _ = AGG.insert(key, zero, BPF_NOEXIST as u64);
        v = AGG.get_ptr_mut(key);
        match v {
            // SAFETY: this CPU's copy of the entry just made.
            Some(p) => unsafe { comm_into(&mut (*p).comm) },
            None => s.agg_full += 1,
        }
    }
    // SAFETY: this CPU's copy of the entry.
    v.map(|p| unsafe { &mut *p })
}

/// Units held by a hold value begun with `base` held: taken, less what was given back.
#[inline(always)]
fn held(h: &HoldVal, base: i64) -> i64 {
    base + h.taken as i64 - (h.given - h.posted) as i64
}

/// Adds one operation to a hold value begun with `base` units held: a positive one gives back
/// what is held, and posts the rest.
#[inline(always)]
fn add_op(h: &mut HoldVal, op: &Sembuf, end_ns: u64, base: i64) {
    let undo = op.sem_flg & SEM_UNDO != 0;
    let n = op.sem_op as i64;
    if n < 0 {
        h.taken += (-n) as u64;
    } else {
        // back = min(max(held, 0), n), without branches (each would multiply the paths the
        // verifier explores through the exit).
        let holding = held(h, base);
        let pos = holding & !(holding >> 63);
        let d = pos - n;
        let back = n + (d & (d >> 63));
        h.given += n as u64;
        h.posted += (n - back) as u64;
    }
    if undo {
        h.undo -= n;
    }
    h.last_ns = end_ns;
}

/// Units the `HOLDS` row of `key` holds (0: no row).
#[inline(always)]
fn row_held(key: &HoldKey) -> i64 {
    // SAFETY: a map value read through the helper's pointer.
    match unsafe { HOLDS.get(key) } {
        Some(v) => held(v, 0),
        None => 0,
    }
}

/// Adds a successful semop's operations to the holds: a single operation to the thread's
/// running hold (flushed to `HOLDS` when it names another semaphore), several straight to
/// `HOLDS`. Not inlined, returning nothing: the verifier's paths through it join again after
/// the call (the raw exit's paths are near its million-instruction limit).
#[inline(never)]
pub(super) fn note_holds(sl: &mut Slot, end_ns: u64, s: &mut Stats) {
    let semid = sl.call.args[0] as i32;
    if sl.call.nsops_read == 1 {
        let op = sl.call.sops[0];
        if op.sem_op == 0 {
            return;
        }
        let same = sl.hold_used != 0
            && sl.hold_key.semid == semid
            && sl.hold_key.semnum == op.sem_num
            && sl.hold_key.ident == sl.ident;
        if !same {
            flush_hold(sl, s);
            sl.hold_key = HoldKey {
                ident: sl.ident,
                semid,
                tid: sl.call.tid,
                semnum: op.sem_num,
                _pad: [0; 6],
            };
            sl.hold = HoldVal::default();
            sl.hold_ops = 0;
            sl.hold_used = 1;
            // What the thread held of it already (one lookup when it changes semaphore).
            sl.hold_base = row_held(&sl.hold_key);
        }
        add_op(&mut sl.hold, &op, end_ns, sl.hold_base);
        sl.hold_ops += 1;
        return;
    }
    flush_hold(sl, s);
    let n = sl.call.nsops_read as usize;
    for i in 0..MAX_SOPS {
        if i >= n {
            break;
        }
        op_to_row(sl, i, semid, end_ns, s);
    }
}

/// Operation `i` of a semop of several, straight to its `HOLDS` row. A subprogram: its
/// lookups' branches are explored once per operation, not multiplied by the others' (the
/// raw exit is near the verifier's million-instruction limit).
#[inline(never)]
fn op_to_row(sl: &mut Slot, i: usize, semid: i32, end_ns: u64, s: &mut Stats) {
    if i >= MAX_SOPS {
        return;
    }
    let op = sl.call.sops[i];
    if op.sem_op == 0 {
        return;
    }
    let key = HoldKey {
        ident: sl.ident,
        semid,
        tid: sl.call.tid,
        semnum: op.sem_num,
        _pad: [0; 6],
    };
    let mut one = HoldVal::default();
    // What the thread holds of it (its running hold, of one semaphore, went to `HOLDS` first).
    add_op(&mut one, &op, end_ns, row_held(&key));
    add_hold(&key, &one, 1, s);
}

/// The thread's running hold, if any, added to `HOLDS` (not inlined: as [`note_holds`]).
#[inline(never)]
pub(super) fn flush_hold(sl: &mut Slot, s: &mut Stats) {
    if sl.hold_used == 0 {
        return;
    }
    sl.hold_used = 0;
    let key = sl.hold_key;
    let val = sl.hold;
    add_hold(&key, &val, sl.hold_ops, s);
}

/// Adds `d` to the `HOLDS` row of `key`, created when missing; `ops` operations lost (and
/// counted) when the table is full.
#[inline(always)]
fn add_hold(key: &HoldKey, d: &HoldVal, ops: u64, s: &mut Stats) {
    let mut v = HOLDS.get_ptr_mut(key);
    if v.is_none() {
        // An error is a lost race with another CPU's insert (then added to), or a full map.
        if HOLDS.insert(key, d, BPF_NOEXIST as u64).is_ok() {
            return;
        }
        v = HOLDS.get_ptr_mut(key);
    }
    let Some(v) = v else {
        s.agg_full += 1;
        s.lost_holds += ops;
        return;
    };
    // SAFETY: map value. Two threads of one process flushing the same semaphore on two CPUs
    // at the same instant could lose an update (the BPF target has no 64-bit atomic add in
    // Rust); the holder view is a guide.
    let v = unsafe { &mut *v };
    v.taken += d.taken;
    v.given += d.given;
    v.posted += d.posted;
    v.undo += d.undo;
    if d.last_ns > v.last_ns {
        v.last_ns = d.last_ns;
    }
}
