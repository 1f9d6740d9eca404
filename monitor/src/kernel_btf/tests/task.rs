//! [`TaskOffsets`]: a fixture blob and the running kernel's BTF against pahole.
use super::*;

/// The identity and signal offsets: through a nested struct (`pending.signal`), pointers
/// checked by what they point to, `ns_id` optional (kernels before 6.18 have none).
#[test]
fn task_offsets_with_and_without_a_namespace_id() {
    let build = |with_ns_id: bool, signal_is_int: bool| {
        let mut b = Builder::new();
        let uint = b.int("unsigned int", 4);
        let ulong = b.int("long unsigned int", 8);
        let u64t = b.typedef("u64", ulong);
        // Ids are given in order: the pointer to task_struct names the id it will have.
        let next = b.next;
        let task_ptr = b.ptr(next + 6);
        let sig_struct = b.strukt(
            "signal_struct",
            64,
            false,
            &[("a", ulong, 0), ("flags", uint, 8 * 8)],
        );
        let sig_ptr = b.ptr(sig_struct);
        let sigset = b.strukt("", 8, false, &[("sig", ulong, 0)]);
        let sigset_t = b.typedef("sigset_t", sigset);
        let pending = b.strukt(
            "sigpending",
            24,
            false,
            &[
                ("list", ulong, 0),
                ("list2", ulong, 64),
                ("signal", sigset_t, 128),
            ],
        );
        assert_eq!(b.next, task_ptr + 6);
        b.strukt(
            "task_struct",
            4096,
            false,
            &[
                ("group_leader", task_ptr, 100 * 8),
                ("start_boottime", u64t, 200 * 8),
                ("pending", pending, 300 * 8),
                (
                    "signal",
                    if signal_is_int { ulong } else { sig_ptr },
                    400 * 8,
                ),
            ],
        );
        let mut ns: Vec<M> = vec![("inum", uint, 24 * 8)];
        if with_ns_id {
            ns.push(("ns_id", u64t, 32 * 8));
        }
        let ns_common = b.strukt("ns_common", 80, false, &ns);
        b.strukt("ipc_namespace", 1200, false, &[("ns", ns_common, 1120 * 8)]);
        Btf::parse(b.build(false)).unwrap()
    };
    let want = TaskOffsets {
        group_leader: 100,
        start_boottime: 200,
        ipc_ns_id: Some(1152),
        pending_signal: 316,
        signal: 400,
        signal_flags: 8,
    };
    assert_eq!(TaskOffsets::from_btf(&build(true, false)).unwrap(), want);
    assert_eq!(
        TaskOffsets::from_btf(&build(false, false)).unwrap(),
        TaskOffsets {
            ipc_ns_id: None,
            ..want
        }
    );
    assert_eq!(
        TaskOffsets::from_btf(&build(true, true))
            .unwrap_err()
            .to_string(),
        "task_struct.signal in the kernel's BTF is an int, not a pointer to struct signal_struct"
    );
}

/// The running kernel's: every offset where pahole puts it.
#[test]
fn task_offsets_of_the_running_kernel_agree_with_pahole() {
    if Command::new("pahole").arg("--version").output().is_err() || !Path::new(VMLINUX).exists() {
        assert!(
            std::env::var_os("IPCTOP_REQUIRE_ROOT").is_none_or(|v| v != "1"),
            "pahole or {VMLINUX} missing and IPCTOP_REQUIRE_ROOT=1 forbids skipping"
        );
        return;
    }
    let file = Path::new(VMLINUX);
    let o = TaskOffsets::from_btf(&Btf::from_file(file).unwrap()).unwrap();
    let at = |strukt: &str, name: &str| pahole_at(file, strukt, name);
    assert_eq!(o.group_leader, at("task_struct", "group_leader"));
    assert_eq!(o.start_boottime, at("task_struct", "start_boottime"));
    assert_eq!(o.signal, at("task_struct", "signal"));
    assert_eq!(o.signal_flags, at("signal_struct", "flags"));
    assert_eq!(
        o.pending_signal,
        at("task_struct", "pending") + at("sigpending", "signal")
    );
    if let Some(id) = o.ipc_ns_id {
        assert_eq!(id, at("ipc_namespace", "ns") + at("ns_common", "ns_id"));
    }
}
