//! Every IPC namespace with processes, read from inside: two `unshare --ipc` namespaces whose
//! semaphore sets both have id 0 (and a queue in one, a segment in the other), one of them in
//! a Docker-named cgroup; each namespace lists its own objects and its container. Everything
//! made here dies with its namespace when the guard kills the two processes.
mod support;

use std::{
    os::unix::fs::MetadataExt,
    process::{Child, Command},
    time::Instant,
};

use ipctop::{
    container::{self, CgroupPaths, Runtime},
    snapshot::namespaces::{self, IpcNamespace},
};
use support::cgroup::TestCgroup;

const ID: &str = "9a8b7c6d5e4f30211203f4e5d6c7b8a99a8b7c6d5e4f30211203f4e5d6c7b8a9";

/// The sleeping namespace holders and the cgroup made: killed and reaped, then removed, on
/// drop.
#[derive(Default)]
struct Guard {
    children: Vec<Child>,
    cgroup: Option<TestCgroup>,
}

impl Drop for Guard {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        drop(self.cgroup.take());
    }
}

fn ns_of(pid: u32) -> u64 {
    std::fs::metadata(format!("/proc/{pid}/ns/ipc"))
        .unwrap()
        .ino()
}

/// A process in a new IPC namespace (once `unshare` has made it and become `sleep`).
fn holder(g: &mut Guard) -> u32 {
    let child = support::sleeper_in_new_ipc_ns(120);
    let pid = child.id();
    g.children.push(child);
    pid
}

/// Runs `ipcmk ARGS` inside the IPC namespace of `pid`; its output.
fn ipcmk_in(pid: u32, args: &[&str]) -> String {
    let out = Command::new("nsenter")
        .arg(format!("--ipc=/proc/{pid}/ns/ipc"))
        .arg("ipcmk")
        .args(args)
        .output()
        .expect("nsenter (util-linux)");
    assert!(out.status.success(), "ipcmk {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn find(list: &[IpcNamespace], inode: u64) -> &IpcNamespace {
    list.iter()
        .find(|n| n.inode == inode)
        .unwrap_or_else(|| panic!("namespace {inode} not listed: {list:?}"))
}

#[test]
fn every_namespace_is_listed_and_read_from_inside() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        support::skip(
            "every_namespace_is_listed_and_read_from_inside",
            "entering another IPC namespace (setns) and making cgroups need root",
        );
        return;
    }
    let mut g = Guard::default();
    let a = holder(&mut g);
    let b = holder(&mut g);
    // A in a cgroup named as Docker's systemd driver names a container's.
    let mount = CgroupPaths::system()
        .expect("a cgroup2 hierarchy is mounted")
        .mount()
        .to_path_buf();
    let cg = g.cgroup.insert(TestCgroup::new(
        &mount,
        "ipctop-ns-test",
        &format!("docker-{ID}.scope"),
    ));
    cg.enter(a);
    let top = cg.top.clone();

    // Both sets are the first of their namespace: id 0 in each.
    assert!(ipcmk_in(a, &["-S", "1"]).contains("id: 0"));
    assert!(ipcmk_in(b, &["-S", "3"]).contains("id: 0"));
    ipcmk_in(a, &["-Q"]);
    ipcmk_in(b, &["-M", "8192"]);
    // A limit of B's own (the IPC sysctls are per namespace).
    let st = Command::new("nsenter")
        .arg(format!("--ipc=/proc/{b}/ns/ipc"))
        .args(["sh", "-c", "echo 123 > /proc/sys/kernel/msgmni"])
        .status()
        .unwrap();
    assert!(st.success());

    let t = Instant::now();
    let list = namespaces::list();
    let listed = t.elapsed();
    let (na, nb) = (
        find(&list.namespaces, ns_of(a)),
        find(&list.namespaces, ns_of(b)),
    );
    assert_eq!(na.pids, vec![a]);
    assert_eq!(nb.pids, vec![b]);
    assert!(!na.ours && !nb.ours);
    assert_eq!(na.containers.len(), 1, "{na:?}");
    assert_eq!(na.containers[0].runtime, Runtime::Docker);
    assert_eq!(na.containers[0].id, ID);
    assert_eq!(na.label(), "docker:9a8b7c6d5e4f");
    // B stayed in the test's own cgroup.
    let mine = container::of_pid(std::process::id()).unwrap();
    assert_eq!(nb.containers, vec![mine]);
    let ours = list
        .namespaces
        .iter()
        .filter(|n| n.ours)
        .collect::<Vec<_>>();
    assert_eq!(ours.len(), 1);
    assert!(ours[0].pids.contains(&std::process::id()));

    let want = [na.clone(), nb.clone(), ours[0].clone()];
    let t = Instant::now();
    let read = namespaces::read(&want);
    let took = t.elapsed();
    eprintln!(
        "{} namespaces listed in {listed:?} ({} processes unreadable); 3 read in {took:?}",
        list.namespaces.len(),
        list.unreadable
    );
    let ra = read[0].as_ref().unwrap();
    let rb = read[1].as_ref().unwrap();
    assert_eq!((ra.ipc_ns, ra.via_pid), (na.inode, Some(a)));
    assert_eq!((rb.ipc_ns, rb.via_pid), (nb.inode, Some(b)));
    let sets = |r: &namespaces::NsObjects| {
        r.sem
            .iter()
            .map(|s| {
                (
                    s.row.semid,
                    s.row.nsems,
                    s.values.as_ref().map(|v| v.len()).ok(),
                )
            })
            .collect::<Vec<_>>()
    };
    assert_eq!(sets(ra), vec![(0, 1, Some(1))]);
    assert_eq!(sets(rb), vec![(0, 3, Some(3))]);
    assert_eq!(ra.msg.len(), 1);
    assert!(ra.shm.is_empty() && rb.msg.is_empty());
    assert_eq!(
        rb.shm.iter().map(|s| s.size).collect::<Vec<_>>(),
        vec![8192]
    );
    assert!(
        ra.problems.is_empty() && rb.problems.is_empty(),
        "{ra:?} {rb:?}"
    );
    // Ours: read without entering it, and it is really ours.
    let ro = read[2].as_ref().unwrap();
    assert_eq!((ro.ipc_ns, ro.via_pid), (ns_of(std::process::id()), None));
    // The test thread never left its namespace.
    let me = std::fs::metadata("/proc/thread-self/ns/ipc").unwrap().ino();
    assert_eq!(me, ro.ipc_ns);

    // A namespace whose processes are gone, or whose pid now is elsewhere: one sentence.
    let gone = IpcNamespace {
        pids: vec![b],
        ..na.clone()
    };
    let r = namespaces::read(&[gone]);
    let e = r[0].as_ref().unwrap_err();
    assert!(e.contains("another namespace"), "{e}");
    drop(g);
    assert!(!top.exists(), "the test's cgroup was removed");
}
