//! The views (Tab order, titles, the sort orders each offers), what Enter can go to
//! (`Target`) and where the user is (`Screen`).
/// The views, in Tab order (number keys 1–7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum View {
    Overview,
    Semaphores,
    Shm,
    Queues,
    Processes,
    Events,
    Problems,
}

impl View {
    pub const ALL: [View; 7] = [
        View::Overview,
        View::Semaphores,
        View::Shm,
        View::Queues,
        View::Processes,
        View::Events,
        View::Problems,
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
        }
    }

    /// The sort orders a view offers (`s` cycles, `S` reverses): each by one column.
    pub fn sorts(self) -> &'static [SortBy] {
        match self {
            View::Overview => &[
                SortBy {
                    name: "waited",
                    col: 5,
                    desc: true,
                },
                SortBy {
                    name: "pid",
                    col: 0,
                    desc: false,
                },
                SortBy {
                    name: "object",
                    col: 3,
                    desc: false,
                },
            ],
            View::Semaphores => &[
                SortBy {
                    name: "semid",
                    col: 0,
                    desc: false,
                },
                SortBy {
                    name: "waiters",
                    col: 6,
                    desc: true,
                },
                SortBy {
                    name: "ops/s",
                    col: 8,
                    desc: true,
                },
                SortBy {
                    name: "contention",
                    col: 10,
                    desc: true,
                },
                SortBy {
                    name: "last op",
                    col: 9,
                    desc: true,
                },
            ],
            View::Shm => &[
                SortBy {
                    name: "shmid",
                    col: 0,
                    desc: false,
                },
                SortBy {
                    name: "size",
                    col: 2,
                    desc: true,
                },
                SortBy {
                    name: "nattch",
                    col: 3,
                    desc: true,
                },
                SortBy {
                    name: "age",
                    col: 6,
                    desc: true,
                },
            ],
            View::Queues => &[
                SortBy {
                    name: "msqid",
                    col: 0,
                    desc: false,
                },
                SortBy {
                    name: "messages",
                    col: 2,
                    desc: true,
                },
                SortBy {
                    name: "bytes",
                    col: 3,
                    desc: true,
                },
                SortBy {
                    name: "blocked",
                    col: 6,
                    desc: true,
                },
            ],
            View::Processes => &[
                SortBy {
                    name: "pid",
                    col: 0,
                    desc: false,
                },
                SortBy {
                    name: "wait time",
                    col: 5,
                    desc: true,
                },
                SortBy {
                    name: "waits",
                    col: 4,
                    desc: true,
                },
                SortBy {
                    name: "segments",
                    col: 6,
                    desc: true,
                },
                SortBy {
                    name: "calls",
                    col: 9,
                    desc: true,
                },
                SortBy {
                    name: "failed",
                    col: 10,
                    desc: true,
                },
            ],
            View::Events => &[SortBy {
                name: "time",
                col: 0,
                desc: false,
            }],
            View::Problems => &[SortBy {
                name: "severity",
                col: 0,
                desc: false,
            }],
        }
    }
}

/// A sort order: its name, the column it sorts by, and whether it starts largest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SortBy {
    pub name: &'static str,
    pub col: usize,
    pub desc: bool,
}

use crate::model::ObjId;

/// Something a detail shows, and that Enter can go to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Target {
    /// Objects by their identity (namespace and id: ids repeat across namespaces).
    Sem(ObjId),
    Shm(ObjId),
    Queue(ObjId),
    Proc(u32),
    /// A deadlock, by the first pid of its cycle: its processes and sets.
    Deadlock(u32),
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
        }
    }
}

/// Where the user is: a view, and maybe the details of one thing.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Screen {
    pub view: View,
    pub detail: Option<Target>,
}
