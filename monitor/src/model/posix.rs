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
            .filter(|w| match w.on {
                WaitObject::SysvShm { shmid, ipc_ns } => {
                    shmid == id.id && ipc_ns.unwrap_or(self.home_ns) == id.ns
                }
                _ => false,
            })
            .collect()
    }

    /// The futex waits in the /dev/shm object (device, inode).
    pub fn shm_object_futex_waits(&self, dev: u64, ino: u64) -> Vec<&FutexWait> {
        self.futex_waits()
            .filter(|w| matches!(w.on, WaitObject::ShmFile { dev: d, ino: i, .. } if d == dev && i == ino))
            .collect()
    }
}
