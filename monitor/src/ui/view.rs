//! The views (Tab order, titles), what Enter can go to (`Target`) and where the user is
//! (`Screen`). The columns and sort orders of a view are its rows' (`rows/`).
/// The views, in Tab order (number keys 1–8).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Overview,
    Semaphores,
    Shm,
    Queues,
    Processes,
    Events,
    Problems,
    /// POSIX queues, /dev/shm objects and named semaphores, futex waits in shared memory.
    Posix,
}

impl View {
    pub const ALL: [View; 8] = [
        View::Overview,
        View::Semaphores,
        View::Shm,
        View::Queues,
        View::Processes,
        View::Events,
        View::Problems,
        View::Posix,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    pub fn title(self) -> &'static str {
        match self {
            View::Overview => "Overview",
            View::Semaphores => "Semaphores",
            View::Shm => "Shared memory",
            View::Queues => "Message queues",
            View::Processes => "Processes",
            View::Events => "Events",
            View::Problems => "Problems",
            View::Posix => "POSIX",
        }
    }

    /// For narrow tab bars.
    pub fn short(self) -> &'static str {
        match self {
            View::Overview => "Over",
            View::Semaphores => "Sem",
            View::Shm => "Shm",
            View::Queues => "Msg",
            View::Processes => "Proc",
            View::Events => "Ev",
            View::Problems => "Prob",
            View::Posix => "Psx",
        }
    }
}

use crate::model::ObjId;

/// Something a detail shows, and that Enter can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Target {
    /// Objects by their identity (namespace and id: ids repeat across namespaces).
    Sem(ObjId),
    Shm(ObjId),
    Queue(ObjId),
    Proc(u32),
    /// A deadlock, by the first pid of its cycle: its processes and sets.
    Deadlock(u32),
    /// A POSIX object (view 8), by its identity in the model's last look at POSIX IPC.
    Posix(PosixId),
}

/// A POSIX object's identity (what view 8's rows lead to).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PosixId {
    /// A message queue: its IPC namespace and inode.
    Queue { ns: u64, ino: u64 },
    /// A /dev/shm object or named semaphore: the device of its /dev/shm and its inode.
    Shm { dev: u64, ino: u64 },
    /// The futex waits in a System V segment (its process-shared semaphores and mutexes).
    SysvWaits(ObjId),
    /// The futex waits in other shared memory (a memfd, shared anonymous memory, another
    /// shared file): its device and inode.
    MemWaits { dev: u64, ino: u64 },
}

impl Target {
    /// The view that lists it.
    pub fn view(self) -> View {
        match self {
            Target::Sem(_) => View::Semaphores,
            Target::Shm(_) => View::Shm,
            Target::Queue(_) => View::Queues,
            Target::Proc(_) => View::Processes,
            Target::Deadlock(_) => View::Problems,
            Target::Posix(_) => View::Posix,
        }
    }
}

/// Where the user is: a view, and maybe the details of one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub view: View,
    pub detail: Option<Target>,
}
