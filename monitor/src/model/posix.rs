//! POSIX IPC in the model: the last look at it (`Update::Posix`), read through the scope
//! like every object — a queue by its IPC namespace, a /dev/shm object by the IPC namespace
//! of the processes that see it, a futex wait by its waiter's.
use super::{Model, ObjId};
use crate::posix::{FutexWait, MqRead, PosixSnapshot, ShmObject, WaitObject};

impl Model {
    /// The last look at POSIX IPC, whole (not scoped); `None` before the first.
    pub fn posix(&self) -> Option<&PosixSnapshot> {
        self.posix.as_deref()
    }

    /// The POSIX message queues of the namespaces in scope.
    pub fn posix_queues(&self) -> impl Iterator<Item = &MqRead> + '_ {
        self.posix()
            .into_iter()
            .flat_map(|p| &p.queues)
            .filter(|q| self.in_scope(q.ipc_ns))
    }

    /// The /dev/shm objects (shared memory, named semaphores, removed ones still mapped) of
    /// the namespaces in scope (an object whose namespace is unknown is shown everywhere).
    pub fn posix_shm(&self) -> impl Iterator<Item = &ShmObject> + '_ {
        self.posix()
            .into_iter()
            .flat_map(|p| &p.shm)
            .filter(|o| o.ipc_ns.is_none_or(|n| self.in_scope(n)))
    }

    /// The threads in a futex wait on shared memory, of the namespaces in scope.
    pub fn futex_waits(&self) -> impl Iterator<Item = &FutexWait> + '_ {
        self.posix()
            .into_iter()
            .flat_map(|p| &p.futex_waits)
            .filter(|w| w.ipc_ns.is_none_or(|n| self.in_scope(n)))
    }

    /// The futex waits in the System V segment `id` (PostgreSQL's semaphores live there).
    pub fn segment_futex_waits(&self, id: ObjId) -> Vec<&FutexWait> {
        self.futex_waits()
            .filter(|w| self.futex_wait_segment(w) == Some(id))
            .collect()
    }

    /// The System V segment a futex wait falls in (`None`: not in one).
    pub fn futex_wait_segment(&self, w: &FutexWait) -> Option<ObjId> {
        match w.on {
            WaitObject::SysvShm { shmid, ipc_ns } => Some(ObjId {
                ns: ipc_ns.unwrap_or(self.home_ns),
                id: shmid,
            }),
            _ => None,
        }
    }

    /// The POSIX queue of IPC namespace `ns` with inode `ino`, if in scope.
    pub fn posix_queue_at(&self, ns: u64, ino: u64) -> Option<&MqRead> {
        self.posix_queues().find(|q| q.ipc_ns == ns && q.ino == ino)
    }

    /// The /dev/shm object (device, inode), if in scope.
    pub fn posix_shm_at(&self, dev: u64, ino: u64) -> Option<&ShmObject> {
        self.posix_shm().find(|o| o.dev == dev && o.ino == ino)
    }

    /// Seconds between a thread's going to sleep (`asleep_since_unix_ns` of a POSIX wait)
    /// and the last look: how long it had waited at least when the look saw it waiting.
    pub fn posix_waited_s(&self, asleep_since_unix_ns: Option<u64>) -> Option<f64> {
        let at = self.posix()?.unix_ns;
        asleep_since_unix_ns.map(|s| at.saturating_sub(s) as f64 / 1e9)
    }

    /// Seconds since the last look at POSIX IPC (by the model's clock).
    pub fn posix_look_age_s(&self) -> Option<f64> {
        let at = self.posix()?.mono_ns;
        Some(self.now_mono_ns().saturating_sub(at) as f64 / 1e9)
    }

    /// The futex waits in the /dev/shm object (device, inode).
    pub fn shm_object_futex_waits(&self, dev: u64, ino: u64) -> Vec<&FutexWait> {
        self.futex_waits()
            .filter(|w| matches!(w.on, WaitObject::ShmFile { dev: d, ino: i, .. } if d == dev && i == ino))
            .collect()
    }
}
