//! The offsets `kernel_btf` computes read the real thing: bpftrace (not our program), inside a
//! new IPC namespace, follows `task + nsproxy → + ipc_ns → + ns.inum` by raw pointer
//! arithmetic with them, and gets the inode that /proc/PID/ns/ipc shows for that namespace.
mod support;

use std::process::Command;

use ipctop::kernel_btf::IpcNsOffsets;

#[test]
fn btf_offsets_read_the_current_ipc_namespace() {
    let name = "btf_offsets_read_the_current_ipc_namespace";
    if !support::can_trace(name) {
        return;
    }
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip(
            name,
            "bpftrace is not installed (cargo xtask setup installs it)",
        );
        return;
    }
    let o = IpcNsOffsets::of_running_kernel().unwrap();
    let prog = format!(
        "BEGIN {{ printf(\"inum %u\\n\", *(uint32*)(*(uint64*)(*(uint64*)((uint64)curtask + {}) + {}) + {})); exit(); }}",
        o.task_nsproxy, o.nsproxy_ipc_ns, o.ipc_ns_inum
    );
    // The shell prints its namespace, then becomes bpftrace (same process, same namespace).
    let out = Command::new("timeout")
        .args(["60", "unshare", "--ipc", "sh", "-c"])
        .arg("readlink /proc/$$/ns/ipc; exec bpftrace -e \"$0\"")
        .arg(&prog)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let ns: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("ipc:[")?.strip_suffix(']')?.parse().ok())
        .unwrap_or_else(|| panic!("no namespace printed: {out:?}"));
    let read: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("inum ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("bpftrace printed no inum: {out:?}"));
    assert_eq!(read, ns, "offsets {o:?}");
    let ours =
        std::fs::metadata("/proc/self/ns/ipc").map(|m| std::os::unix::fs::MetadataExt::ino(&m));
    assert_ne!(Some(ns), ours.ok(), "unshare made no new namespace");
}
