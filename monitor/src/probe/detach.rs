//! Detaching all at once. Closing a tracepoint's perf event (or link) waits in the kernel for
//! RCU grace periods (60–80 ms each here); closed one after another, the 24 per-syscall
//! tracepoints took ~1.9 s. Closed from one thread each, the waits overlap and the whole
//! detach takes about one of them.

/// The probe's attachments (tracepoint links of either kind), owned apart from the programs
/// so that they can be closed in parallel.
#[derive(Default)]
pub(super) struct Links(Vec<Box<dyn Send>>, Option<super::compat::Watcher>);

/// A handle that detaches a probe from another thread or task than the one that owns it
/// (the live source's owner, when it ends, while a task owns the probe).
#[derive(Clone)]
pub struct Detacher(pub(super) std::sync::Arc<std::sync::Mutex<Links>>);

impl Detacher {
    /// Detaches every program (see [`super::Probe::detach`]); idempotent.
    pub fn detach(&self) {
        if let Ok(mut links) = self.0.lock() {
            links.detach_all();
        }
    }
}

impl Links {
    pub(super) fn push(&mut self, link: impl Send + 'static) {
        self.0.push(Box::new(link));
    }

    /// The 32-bit path's watcher, stopped first at detach.
    pub(super) fn watch(&mut self, w: super::compat::Watcher) {
        self.1 = Some(w);
    }

    /// Closes every link, each on a thread of its own, and returns when all are closed.
    pub(super) fn detach_all(&mut self) {
        let links = std::mem::take(&mut self.0);
        // Its thread closes the 32-bit path's links (if attached) as it ends.
        let watcher = self.1.take().map(|w| Box::new(w) as Box<dyn Send>);
        let links = links.into_iter().chain(watcher);
        std::thread::scope(|s| {
            for link in links {
                // A thread that cannot be started drops its closure, and so closes the link,
                // right here.
                let _ = std::thread::Builder::new()
                    .name("ipctop-detach".into())
                    .stack_size(64 << 10)
                    .spawn_scoped(s, move || drop(link));
            }
        });
    }
}

impl Drop for Links {
    fn drop(&mut self) {
        self.detach_all();
    }
}
