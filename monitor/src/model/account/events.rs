//! The probe's events into the account: a finished call counted (everything, when every call
//! is sent; else its errno, and whether a signal interrupted it or its process's death ended
//! it), on its process (or the retired entry of one that has ended), its command's totals, and
//! the object it names when that exists; observers found by their calls.
use super::{
    can_block, hist_bucket, lifecycle, observer_comm, Account, CountSource, ObjKey, Tally, Who,
};
use crate::{event::Event, model::NsId};

impl Account {
    /// One finished call. `obj`: the object it named (`None`: none, or unknown); `ns`: the
    /// namespace it was made in.
    pub(in crate::model) fn event(
        &mut self,
        ev: &Event,
        obj: Option<ObjKey>,
        ns: NsId,
        who: &dyn Who,
    ) {
        if ev.in_progress() {
            return;
        }
        let t = ev.end_ns.unwrap_or(0);
        self.now_ns = self.now_ns.max(t);
        let comm = ev.comm.as_str();
        if observer_comm(&comm) || who.observer(ev.pid) {
            self.observer_found(ev.pid);
        }
        let observer = self.observers.contains(&ev.pid);
        let (interrupted, ended) = classify(ev);
        let errno = ev.errno().filter(|_| !interrupted && !ended);
        if let Some(e) = errno {
            self.last_failures
                .insert((ev.syscall, e), (ev.pid, comm.to_string(), t));
        }
        // In kernel mode the rows count calls, failures and waits; the totals and syscalls
        // count calls and failures from the kernel's counters once sampled.
        let from_events = self.source == CountSource::Events;
        let totals_from_events = from_events && self.kernel_at.is_none();
        let dur = ev.duration_ns();
        let negative = ev.ret.is_some_and(|r| r < 0);
        let touch = |x: &mut Tally, calls: bool, waits: bool| {
            if calls {
                x.calls += 1;
                x.by_syscall[ev.syscall.index()] += 1;
                x.raw.negative += u64::from(negative);
            }
            if let (true, true, Some(d)) = (waits, can_block(ev.syscall), dur) {
                x.add_wait(d, d, |h| h[hist_bucket(d)] += 1);
            }
            if let Some(e) = errno {
                *x.errnos.entry((ev.syscall, e)).or_default() += 1;
            }
            x.raw.interrupted_events += u64::from(interrupted);
            x.raw.ended_events += u64::from(ended);
            x.settle();
            x.note_last(t, Some(ev.pid));
        };
        touch(&mut self.total, totals_from_events, from_events);
        touch(
            &mut self.syscalls[ev.syscall.index()],
            totals_from_events,
            from_events,
        );
        // The kernel's start of the caller first: /proc may have another process of the pid now.
        let start = ev.proc_start.or_else(|| who.start(ev.pid));
        touch(
            self.comm_totals.entry((ns, comm.to_string())).or_default(),
            from_events,
            from_events,
        );
        // A call of a process that has ended (its event read after its end, or an older one
        // of the pid): its retired entry's, while kept.
        let older = match self.processes.get(&ev.pid) {
            Some(e) => e.start.zip(start).is_some_and(|(s, r)| r < s),
            None => self.retired_process_ended_after(ev.pid, start, t),
        };
        if older {
            if let Some(i) = self.retired_process_at(ev.pid, start) {
                let mut added = Tally::default();
                touch(&mut added, from_events, from_events);
                let r = &mut self.retired[i];
                touch(&mut r.tally, from_events, from_events);
                if let lifecycle::RetiredWhat::Process { comm: c, .. } = &mut r.what {
                    c.get_or_insert_with(|| comm.to_string());
                }
                self.note_late(i, added);
            }
        } else {
            let e = self.process_entry(ev.pid, start, ns, who);
            if e.comm.as_deref() != Some(&*comm) {
                e.comm = Some(comm.to_string());
            }
            touch(&mut e.tally, from_events, from_events);
        }
        let Some(k) = obj.filter(|_| !observer) else {
            return;
        };
        // The object of that key now is of another namespace that had the inode, or none is
        // and one ended after the call: the call was of an object that has ended (its event
        // read late, or after a snapshot that found it gone), which keeps its final account.
        let other_ns = self
            .objects
            .get(&k)
            .is_some_and(|e| ev.ns_id.is_some() && e.ns_id.is_some() && e.ns_id != ev.ns_id);
        if other_ns
            || (!self.objects.contains_key(&k) && self.retired_object_ended_after(k, ev.ns_id, t))
        {
            if let Some(i) = self.retired_object_at(k, ev.ns_id) {
                let mut added = Tally::default();
                touch(&mut added, from_events, from_events);
                let r = &mut self.retired[i];
                touch(&mut r.tally, from_events, from_events);
                if from_events {
                    lifecycle::add_user(&mut r.what, ev.pid, 1);
                }
                self.note_late(i, added);
            }
            return;
        }
        // Else an object the call names only when it exists (a call that failed on an id
        // nothing has names none).
        if !(self.objects.contains_key(&k) || who.object_known(&k) || !ev.failed()) {
            return;
        }
        let e = self.objects.entry(k).or_default();
        e.ns_id = e.ns_id.or(ev.ns_id);
        touch(&mut e.tally, from_events, from_events);
        touch(
            self.pairs.entry((k, ev.pid)).or_default(),
            from_events,
            from_events,
        );
    }

    /// A process is an observer (another ipctop): its calls, once counted on the objects it
    /// looked at before it was known as one, are taken back from them.
    pub(super) fn observer_found(&mut self, pid: u32) {
        if !self.observers.insert(pid) {
            return;
        }
        let mine: Vec<(ObjKey, u32)> = self
            .pairs
            .keys()
            .filter(|(_, p)| *p == pid)
            .copied()
            .collect();
        for k in mine {
            if let Some(t) = self.pairs.remove(&k) {
                if let Some(o) = self.objects.get_mut(&k.0) {
                    o.tally.retract(&t);
                }
            }
        }
    }
}

/// Whether a finished call was interrupted by a signal (EINTR, ERESTART*: the process lived
/// on) or ended by its process's death (killed while in it).
fn classify(ev: &Event) -> (bool, bool) {
    let ended = ev.ended;
    let interrupted =
        !ended && (ev.interrupted().is_some() || ev.ret == Some(-(libc::EINTR as i64)));
    (interrupted, ended)
}
