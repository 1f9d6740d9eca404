//! The live snapshots read only the semaphore sets that changed (`snapshot::SemCache`), and
//! what they report stays what the kernel says. Runs in a private IPC namespace of the test's
//! own thread, so that the semctl counts are exactly ours whatever else runs on the machine.
mod support;

use std::{sync::Mutex, time::Duration};

use ipctop::snapshot::{self, SemCache, SemValue, Snapshot};
use support::sysv_mut as sysv;

fn values(s: &Snapshot, semid: i32) -> Vec<SemValue> {
    s.sem
        .iter()
        .find(|x| x.row.semid == semid)
        .unwrap_or_else(|| panic!("set {semid} not in the snapshot"))
        .values
        .clone()
        .expect("values read")
}

#[test]
fn only_changed_sets_are_read_and_the_values_stay_exact() {
    if !support::can_trace("sem_cache") {
        // Not the probe, but unshare(CLONE_NEWIPC) needs root as well.
        return;
    }
    std::thread::spawn(|| {
        // SAFETY: unshare of the IPC namespace of this thread only (and the threads it starts).
        assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWIPC) }, 0);
        let a = sysv::semget(libc::IPC_PRIVATE, 3, libc::IPC_CREAT | 0o600).unwrap();
        let b = sysv::semget(libc::IPC_PRIVATE, 2, libc::IPC_CREAT | 0o600).unwrap();
        sysv::semctl_setall(b, &[4, 2]).unwrap();
        // Created a second ago or more: a set is "changed" in the second of its last change.
        std::thread::sleep(Duration::from_millis(1100));
        let opts = snapshot::Options::default();
        let cache = Mutex::new(SemCache::default());
        let take = || snapshot::take_with(&opts, Some(&cache)).unwrap();
        // Only this thread's namespace's reads (other namespaces are read too, in turn).
        let here = std::fs::metadata("/proc/thread-self/ns/ipc").unwrap();
        let here = std::os::unix::fs::MetadataExt::ino(&here);
        let calls = || cache.lock().unwrap().calls_in(here);

        // The first look reads everything: GETALL, and GETPID, GETNCNT, GETZCNT each.
        let s1 = take();
        assert_eq!(calls(), (1 + 3 * 3) + (1 + 3 * 2));
        assert_eq!(
            values(&s1, b).iter().map(|v| v.value).collect::<Vec<_>>(),
            [4, 2]
        );
        // Nothing changed: nothing read, and the same values reported.
        std::thread::sleep(Duration::from_millis(1100));
        let s2 = take();
        assert_eq!(calls(), 0);
        assert_eq!(values(&s2, a), values(&s1, a));
        assert_eq!(values(&s2, b), values(&s1, b));
        // A SETVAL on one set: that set is read again (GETALL and GETPID each), the other not.
        sysv::semctl_setval(a, 1, 5).unwrap();
        let s3 = take();
        assert_eq!(calls(), 1 + 3);
        let va = values(&s3, a);
        assert_eq!(va[1].value, 5);
        assert_eq!(va[1].last_pid as u32, std::process::id());
        // What the cache reports is what a full read says.
        let full = snapshot::take(&opts).unwrap();
        assert_eq!(values(&full, a), va);
        assert_eq!(values(&full, b), values(&s3, b));
        // A removed set goes from the snapshot.
        sysv::semctl_rmid(b).unwrap();
        let s4 = take();
        assert!(s4.sem.iter().all(|x| x.row.semid != b));
        sysv::semctl_rmid(a).unwrap();
    })
    .join()
    .unwrap();
}
