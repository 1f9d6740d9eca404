//! The ring buffer → tokio channel pump: wakes on the ring buffer's epoll readiness (the
//! kernel batches those wake-ups) and on a short periodic poll, drains everything that is
//! there, decodes it and sends it on in batches.
use std::{
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use aya::maps::{MapData, RingBuf};
use tokio::{io::unix::AsyncFd, sync::mpsc, task::JoinHandle};

use crate::{decode, event::Event};

/// Decoded events, in the order the ring buffer gave them.
pub type Batch = Vec<Event>;

/// Most events in one batch.
const BATCH_MAX: usize = 4096;

/// Counters of the userspace side of the pipeline.
#[derive(Debug, Default)]
pub struct ReaderStats {
    /// Records read from the ring buffer.
    pub records: AtomicU64,
    /// Records that did not decode (short, unknown kind or version): counted, never silent.
    pub undecodable: AtomicU64,
    /// Rows the kernel's table had no room for, received whole (for the next sample, which
    /// hands them over as retired rows), and how many came.
    pub spilled: std::sync::Mutex<Spilled>,
    pub rows: AtomicU64,
    /// Asks the pump to read the ring buffer now, without waiting for its poll (at the end,
    /// once the probe is detached).
    pub kick: tokio::sync::Notify,
}

/// The rows a full table spilled since they were last taken, one per key: each is a final
/// count of calls the kernel kept nowhere else, so rows of the same key add up (a key whose
/// row spills again and again while the table stays full is one row here, not one per
/// spill: at 10,000 objects × 1,000 processes a list of every spill held 43 MiB between two
/// samples).
#[derive(Debug, Default)]
pub struct Spilled(std::collections::HashMap<crate::sample::RowKey, crate::sample::Aggregate>);

impl Spilled {
    /// Adds a spilled row into its key's.
    pub fn add(&mut self, row: crate::sample::Aggregate) {
        match self.0.entry(row.key()) {
            std::collections::hash_map::Entry::Occupied(mut o) => {
                super::tables::add_rows(o.get_mut(), &row)
            }
            std::collections::hash_map::Entry::Vacant(v) => {
                v.insert(row);
            }
        }
    }

    /// Takes every row, leaving none.
    pub fn take(&mut self) -> Vec<crate::sample::Aggregate> {
        // A new, empty map: what a burst took is given back.
        std::mem::take(&mut self.0).into_values().collect()
    }

    /// Forgets every row (a caller that does not sample).
    pub fn clear(&mut self) {
        self.0 = Default::default();
    }

    /// Keys held.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Starts the pump. It ends when the receiver is dropped; `poll` is how often it looks
/// without a wake-up from the kernel.
pub fn spawn_reader(
    ring: RingBuf<MapData>,
    tx: mpsc::Sender<Batch>,
    poll: Duration,
) -> std::io::Result<(JoinHandle<()>, Arc<ReaderStats>)> {
    // SAFETY: the ring buffer owns its fd for as long as the AsyncFd owns the ring buffer.
    let mut fd = unsafe { AsyncFd::register_with_interest(ring, tokio::io::Interest::READABLE) }
        .map_err(std::io::Error::from)?;
    let stats = Arc::new(ReaderStats::default());
    let st = stats.clone();
    let handle = tokio::spawn(async move {
        let mut tick = tokio::time::interval(poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                guard = fd.readable_mut() => {
                    let Ok(mut guard) = guard else { return };
                    if !drain(guard.get_inner_mut(), &tx, &st).await {
                        return;
                    }
                    guard.clear_ready();
                }
                _ = tick.tick() => {
                    if !drain(fd.get_mut(), &tx, &st).await {
                        return;
                    }
                }
                _ = st.kick.notified() => {
                    if !drain(fd.get_mut(), &tx, &st).await {
                        return;
                    }
                }
                _ = tx.closed() => return,
            }
        }
    });
    Ok((handle, stats))
}

/// Reads everything waiting; false when the receiver is gone.
async fn drain(ring: &mut RingBuf<MapData>, tx: &mpsc::Sender<Batch>, st: &ReaderStats) -> bool {
    loop {
        let mut batch = Vec::with_capacity(256);
        while batch.len() < BATCH_MAX {
            let Some(item) = ring.next() else { break };
            st.records.fetch_add(1, Ordering::Relaxed);
            match decode::decode_any(&item) {
                Ok(decode::Record::Call(ev)) => batch.push(ev),
                Ok(decode::Record::Row(k, v)) => match super::tables::row_of(&k, &v) {
                    Some(row) => {
                        if let Ok(mut s) = st.spilled.lock() {
                            s.add(row);
                        }
                        st.rows.fetch_add(1, Ordering::Relaxed);
                    }
                    None => {
                        st.undecodable.fetch_add(1, Ordering::Relaxed);
                    }
                },
                Err(_) => {
                    st.undecodable.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        let full = batch.len() == BATCH_MAX;
        if !batch.is_empty() && tx.send(batch).await.is_err() {
            return false;
        }
        if !full {
            return true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Spilled;
    use crate::{event::Syscall, sample::Aggregate};

    fn row(pid: u32, id: i32, calls: u64, max_ns: u64) -> Aggregate {
        Aggregate {
            pid,
            id: Some(id),
            syscall: Syscall::SEMOP,
            calls,
            total_ns: calls * 10,
            max_ns,
            last_ns: max_ns,
            ..Default::default()
        }
    }

    #[test]
    fn spilled_rows_of_one_key_add_up_and_others_stay_apart() {
        let mut s = Spilled::default();
        s.add(row(7, 1, 3, 50));
        s.add(row(7, 1, 4, 20));
        s.add(row(7, 2, 1, 5));
        s.add(row(8, 1, 2, 9));
        assert_eq!(s.len(), 3);
        let mut rows = s.take();
        assert!(s.is_empty());
        rows.sort_by_key(Aggregate::key);
        let got: Vec<(u32, Option<i32>, u64, u64, u64)> = rows
            .iter()
            .map(|a| (a.pid, a.id, a.calls, a.total_ns, a.max_ns))
            .collect();
        assert_eq!(
            got,
            [
                (7, Some(1), 7, 70, 50),
                (7, Some(2), 1, 10, 5),
                (8, Some(1), 2, 20, 9)
            ]
        );
    }
}
