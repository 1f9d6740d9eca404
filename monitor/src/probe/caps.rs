//! What the process may do with BPF, from its effective capabilities.

const CAP_SYS_ADMIN: u32 = 21;
const CAP_PERFMON: u32 = 38;
const CAP_BPF: u32 = 39;

/// The effective capability set of this process.
fn effective() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapEff:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
}

/// `None` when this process may load and attach tracing BPF programs; else the names of the
/// capabilities it lacks.
pub fn missing_for_bpf() -> Option<&'static str> {
    let eff = effective()?;
    let has = |c: u32| eff & (1u64 << c) != 0;
    if has(CAP_SYS_ADMIN) || (has(CAP_BPF) && has(CAP_PERFMON)) {
        None
    } else if has(CAP_BPF) {
        Some("CAP_PERFMON")
    } else {
        Some("CAP_BPF and CAP_PERFMON")
    }
}

/// Lifts RLIMIT_MEMLOCK: kernels before 5.11 charge BPF maps to it, and its usual default
/// (8 MiB or less) is smaller than the probe's ring buffer, so that loading would fail with
/// EPERM, which reads as a missing privilege. Newer kernels ignore it.
pub fn raise_memlock() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    // SAFETY: setrlimit with a valid struct; failure (no CAP_SYS_RESOURCE) leaves it as it was.
    if unsafe { libc::setrlimit(libc::RLIMIT_MEMLOCK, &unlimited) } != 0 {
        // Without the right to lift it, raise the soft limit to the hard one.
        let mut cur = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        unsafe {
            if libc::getrlimit(libc::RLIMIT_MEMLOCK, &mut cur) == 0 {
                cur.rlim_cur = cur.rlim_max;
                libc::setrlimit(libc::RLIMIT_MEMLOCK, &cur);
            }
        }
    }
}

/// The `bpf(2)` system call with command `cmd` and attribute `attr` (for the commands aya
/// does not offer): its non-negative result, or the error.
pub(super) fn bpf<T>(cmd: libc::c_long, attr: &T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a valid `union bpf_attr` prefix of its size for `cmd`, and whatever
    // it points to outlives the call (the caller's buffers).
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *const T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    if r < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(r)
}
