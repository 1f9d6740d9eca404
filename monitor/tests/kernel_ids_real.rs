//! What the kernel side will read, checked with bpftrace (not our program) before our probe
//! uses it: the offsets `kernel_btf` computes lead to the IPC namespace /proc/PID/ns/ipc
//! shows, `thread_info.status` has TS_COMPAT during 32-bit syscalls only, and
//! `bpf_get_current_cgroup_id()` is the id `container::CgroupPaths` resolves to the process's
//! cgroup path.
mod support;

use std::process::Command;

use ipctop::{
    container::{self, CgroupPaths, Runtime},
    kernel_btf::IpcNsOffsets,
};
use support::cgroup::TestCgroup;

/// Has bpftrace, and may trace (root); else says why the test is skipped.
fn bpftrace_ok(name: &str) -> bool {
    if !support::can_trace(name) {
        return false;
    }
    if Command::new("bpftrace").arg("--version").output().is_err() {
        support::skip(
            name,
            "bpftrace is not installed (cargo xtask setup installs it)",
        );
        return false;
    }
    true
}

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

#[test]
fn bpf_cgroup_id_resolves_to_the_process_cgroup() {
    if !bpftrace_ok("bpf_cgroup_id_resolves_to_the_process_cgroup") {
        return;
    }
    let Some(mut paths) = CgroupPaths::system() else {
        support::skip(
            "bpf_cgroup_id_resolves_to_the_process_cgroup",
            "no cgroup2 hierarchy is mounted",
        );
        return;
    };
    let id = "c0ffee00".repeat(8);
    let cg = TestCgroup::new(
        paths.mount(),
        "ipctop-cgid-test",
        &format!("cri-containerd-{id}.scope"),
    );
    // The shell moves itself into the cgroup, prints its cgroup file, becomes bpftrace.
    let out = Command::new("timeout")
        .args(["60", "sh", "-c"])
        .arg(
            "echo $$ > \"$1/cgroup.procs\" && grep '^0::' /proc/$$/cgroup && \
             exec bpftrace -e 'BEGIN { printf(\"cgid %llu\\n\", cgroup); exit(); }'",
        )
        .arg("sh")
        .arg(&cg.leaf)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let cgid: u64 = stdout
        .lines()
        .find_map(|l| l.strip_prefix("cgid ")?.trim().parse().ok())
        .unwrap_or_else(|| panic!("bpftrace printed no cgroup id: {out:?}"));
    let proc_path = container::unified_path(&stdout)
        .unwrap_or_else(|| panic!("no 0:: line: {out:?}"))
        .to_string();
    let resolved = paths.path_of(cgid).map(String::from);
    assert_eq!(
        resolved.as_deref(),
        Some(proc_path.as_str()),
        "cgroup id {cgid}"
    );
    let k = container::from_path(&proc_path).unwrap();
    assert_eq!(
        (k.runtime, k.id.as_str()),
        (Runtime::Containerd, id.as_str())
    );
    let top = cg.top.clone();
    drop(cg);
    assert!(!top.exists(), "the test's cgroup was removed");
}

/// Syscalls of the calling thread, renamed `name`: `n` i386 getppid (number 64, through the
/// compat entry `int 0x80`) and `n` native ones (number 110).
#[cfg(target_arch = "x86_64")]
fn compat_and_native_getppid(name: &str, n: usize) {
    let name = std::ffi::CString::new(name).unwrap();
    std::thread::spawn(move || {
        // SAFETY: PR_SET_NAME with a NUL-terminated string of at most 16 bytes.
        unsafe { libc::prctl(libc::PR_SET_NAME, name.as_ptr()) };
        for _ in 0..n {
            let mut ret: i64 = 64;
            // SAFETY: the compat entry with eax=64 (i386 getppid), no arguments; only rax
            // changes.
            unsafe { std::arch::asm!("int 0x80", inout("rax") ret, options(nostack)) };
            // SAFETY: getppid has no preconditions.
            assert_eq!(ret, i64::from(unsafe { libc::getppid() }));
        }
    })
    .join()
    .unwrap();
}

/// `task->thread_info.status` at the computed offset has TS_COMPAT (0x2) during a 32-bit
/// syscall and not during a native one: what the probe needs to tell the i386 getppid (64)
/// from semget (64 on x86-64).
#[cfg(target_arch = "x86_64")]
#[test]
fn compat_status_offset_marks_32_bit_syscalls() {
    let name = "compat_status_offset_marks_32_bit_syscalls";
    if !bpftrace_ok(name) {
        return;
    }
    let Some(status) = IpcNsOffsets::of_running_kernel().unwrap().task_ti_status else {
        support::skip(name, "the kernel's task_struct has no thread_info.status");
        return;
    };
    let comm = support::unique_name("ts");
    let prog = format!(
        "BEGIN {{ printf(\"ready\\n\"); }} tracepoint:raw_syscalls:sys_enter /comm == \"{comm}\"/ {{ printf(\"id %d compat %u\\n\", args->id, *(uint32*)((uint64)curtask + {status}) & 2); }}"
    );
    let mut cmd = Command::new("unshare");
    cmd.args(["--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "{}; exec bpftrace -e \"$0\"",
            support::MOUNT_TRACEFS
        ))
        .arg(&prog);
    let mut bt = support::Proc::spawn(&mut cmd);
    let t = std::time::Duration::from_secs(30);
    // "Attaching…" comes before the probes are attached; BEGIN runs once they are.
    let mut seen = Vec::new();
    while let Some(l) = bt.line(t) {
        let ready = l == "ready";
        seen.push(l);
        if ready {
            break;
        }
    }
    assert_eq!(
        seen.last().map(String::as_str),
        Some("ready"),
        "bpftrace: {seen:?}"
    );
    compat_and_native_getppid(&comm, 5);
    std::thread::sleep(std::time::Duration::from_millis(300));
    bt.signal(libc::SIGINT);
    bt.wait(t);
    let lines = bt.rest(std::time::Duration::from_secs(5));
    let count = |l: &str| lines.iter().filter(|x| x.as_str() == l).count();
    assert_eq!(count("id 64 compat 2"), 5, "{lines:?}");
    assert!(count("id 110 compat 0") >= 5, "{lines:?}");
    assert!(
        lines
            .iter()
            .all(|l| !l.starts_with("id ") || l.ends_with("compat 0") || l == "id 64 compat 2"),
        "{lines:?}"
    );
}
