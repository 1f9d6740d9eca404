//! The allocator's behaviour for a process that runs for days (serve, the dashboard, record):
//! glibc keeps what a burst freed in per-thread arenas, so that a monitor's resident memory
//! would stay at its peak — measured: a dashboard whose heap in use peaked at 40 MB under
//! fork-and-object churn had 270 MB resident after 150 s, and 800 MB after an hour.
//! [`tune`] once at start (two arenas for every thread; big buffers mapped and given back
//! when freed), [`give_back`] now and then (what is free returned to the system).

/// Sets the allocator up; call it first, before the runtime's threads start.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets allocator parameters; no allocation is live across it.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 << 10);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

/// Hands the heap's free memory back to the system.
pub fn give_back() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free memory of the allocator's own arenas.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// A collection's room for what it held at a burst, given back when it holds far less:
/// what a long-running monitor keeps then depends on what exists now, not on the largest
/// burst it saw. Under a quarter of its capacity used (and more than a few entries' room),
/// it keeps room for twice what it holds, so that a collection that grows and shrinks by
/// a little neither reallocates every time nor keeps a burst's room.
pub trait GiveBackRoom {
    fn give_back_room(&mut self);
}

/// The capacity a collection of `len` entries with room for `cap` shrinks to, if it should.
fn shrunk(len: usize, cap: usize) -> Option<usize> {
    (cap > 64 && len < cap / 4).then(|| (len * 2).max(16))
}

impl<T> GiveBackRoom for Vec<T> {
    fn give_back_room(&mut self) {
        if let Some(c) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(c);
        }
    }
}

impl<T> GiveBackRoom for std::collections::VecDeque<T> {
    fn give_back_room(&mut self) {
        if let Some(c) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(c);
        }
    }
}

impl<K: Eq + std::hash::Hash, V, S: std::hash::BuildHasher> GiveBackRoom
    for std::collections::HashMap<K, V, S>
{
    fn give_back_room(&mut self) {
        if let Some(c) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(c);
        }
    }
}

impl<T: Eq + std::hash::Hash, S: std::hash::BuildHasher> GiveBackRoom
    for std::collections::HashSet<T, S>
{
    fn give_back_room(&mut self) {
        if let Some(c) = shrunk(self.len(), self.capacity()) {
            self.shrink_to(c);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::GiveBackRoom;

    #[test]
    fn a_burst_s_room_is_given_back_and_a_little_change_keeps_its_room() {
        let mut v: Vec<u64> = (0..10_000).collect();
        v.truncate(9_000);
        v.give_back_room();
        assert!(v.capacity() >= 10_000, "most still used: kept");
        v.truncate(100);
        v.give_back_room();
        assert!((100..=256).contains(&v.capacity()), "{}", v.capacity());
        assert_eq!(v, (0..100).collect::<Vec<_>>(), "nothing lost");
        let mut m: std::collections::HashMap<u32, u32> = (0..10_000).map(|i| (i, i)).collect();
        m.retain(|k, _| *k < 10);
        m.give_back_room();
        assert!(m.capacity() < 100, "{}", m.capacity());
        assert_eq!(m.len(), 10);
        let mut small: Vec<u8> = Vec::with_capacity(64);
        small.give_back_room();
        assert_eq!(small.capacity(), 64, "a small one is left alone");
    }
}
