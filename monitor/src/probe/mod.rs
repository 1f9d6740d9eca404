//! The kernel side, from userspace: loads and attaches the eBPF program, reads its counters
//! and its table of calls in progress, and streams its ring buffer as decoded events into a
//! tokio channel. Nothing outside this module touches BPF.
mod batch;
mod caps;
mod compat;
mod detach;
mod lifecycle;
mod reader;
mod tables;

use std::{
    io,
    path::{Path, PathBuf},
};

use aya::{
    maps::{MapData, RingBuf},
    programs::{RawTracePoint, TracePoint},
    Ebpf, EbpfLoader,
};
use monitor_ebpf::{global, NSYS, SYSCALL_NAMES};

pub use crate::event::start_ticks;
pub use compat::{elf_class, processes_32bit, CompatPath};
pub use detach::Detacher;
pub use lifecycle::{LiveObjects, NsIds, IDLE_NS};
pub use reader::{spawn_reader, Batch, ReaderStats, Spilled};
pub use tables::{row_of, task_cgroup_id};

// The counters' data types live in a leaf module shared with the model and the feed.
use crate::exit;
pub use crate::sample::{Aggregate, Hold, KernelStats};

/// The eBPF object, built by build.rs (empty when built with AYA_BUILD_SKIP=1).
static PROBE_OBJECT: &[u8] = aya::include_bytes_aligned!(concat!(env!("OUT_DIR"), "/monitor-ebpf"));

/// Where the probe hooks into the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum AttachMode {
    /// The per-syscall tracepoints (tracefs mounted privately if it is not), else the raw ones.
    Auto,
    /// Raw tracepoints sys_enter/sys_exit: need no tracefs; run on every syscall.
    Raw,
    /// syscalls/sys_{enter,exit}_* tracepoints: need tracefs; run only on IPC syscalls.
    Tracepoint,
}

#[derive(Clone, Debug)]
pub struct ProbeOptions {
    pub attach: AttachMode,
    /// Only this process (kernel-side filter).
    pub target_pid: Option<u32>,
    /// Only tasks with this comm (kernel-side filter; at most 15 bytes are compared).
    pub comm: Option<String>,
    /// Size of the ring buffer in bytes (a power of two, at least a page).
    pub ring_bytes: u32,
    /// Wake userspace only when this many bytes wait (the rest is picked up by its poll).
    pub wakeup_bytes: u64,
    /// Keep the verifier's log in errors.
    pub verbose: bool,
    /// Send every finished call (trace, record); else aggregate in the kernel and send only
    /// failures, waits of at least `wait_ns`, creates, removals, attaches and control calls.
    pub send_all: bool,
    /// See `send_all`.
    pub wait_ns: u64,
    /// Entries of each of the aggregate and hold tables (`AGG`, `HOLDS`).
    pub table_entries: u32,
}

/// The default of [`ProbeOptions::table_entries`] (see `monitor_ebpf::AGG_MAX_ENTRIES`).
pub const TABLE_ENTRIES: u32 = monitor_ebpf::AGG_MAX_ENTRIES;

impl Default for ProbeOptions {
    fn default() -> Self {
        Self {
            attach: AttachMode::Auto,
            target_pid: None,
            comm: None,
            ring_bytes: 32 << 20,
            wakeup_bytes: 1 << 20,
            verbose: false,
            send_all: true,
            wait_ns: 1_000_000,
            table_entries: TABLE_ENTRIES,
        }
    }
}

/// A loaded, attached probe. Detaches when dropped (or at [`Probe::detach`]).
pub struct Probe {
    // Field order: the links go before the programs and maps they hold.
    links: Detacher,
    ebpf: Ebpf,
    how: String,
    compat: CompatPath,
    /// The watcher's count of 32-bit processes at its last look (tracepoint mode).
    compat_seen: Option<std::sync::Arc<std::sync::atomic::AtomicUsize>>,
    life: lifecycle::Life,
    /// Entries of `AGG` and of `HOLDS`.
    table_entries: u32,
    /// What the in-flight scan read of the threads in calls (see `tables::TaskIds`).
    ids: tables::IdCache,
}

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Runs `f` on a thread of its own whose mount namespace is private and has tracefs mounted
/// at /sys/kernel/tracing (passed to `f` as its `events/syscalls` directory). The rest of the
/// system, and ipctop's other threads, see no change. `Err`: that could not be arranged.
fn private_tracefs<T: Send>(f: impl FnOnce(PathBuf) -> T + Send) -> anyhow::Result<T> {
    let m = crate::privmount::PrivateMount {
        fstype: "tracefs",
        at: &TRACEFS[..1],
        flags: nix::mount::MsFlags::empty(),
        need: "(needs root / CAP_SYS_ADMIN)",
    };
    let r = crate::privmount::with_private_mount(
        &m,
        || Ok(()),
        |at| {
            let dir = at.join("events/syscalls");
            if dir.join("sys_enter_semget").exists() {
                Ok(f(dir))
            } else {
                Err("no syscall tracepoints in tracefs".to_string())
            }
        },
    );
    r.and_then(|r| r).map_err(anyhow::Error::msg)
}

/// The tracefs directory with the syscall tracepoints, if one is mounted.
fn tracefs_syscalls() -> Option<PathBuf> {
    TRACEFS
        .iter()
        .map(|d| Path::new(d).join("events/syscalls"))
        .find(|p| p.join("sys_enter_semget").exists())
}

impl Probe {
    /// Loads and attaches the probe, or says in one sentence why it cannot.
    pub fn load(opts: &ProbeOptions) -> anyhow::Result<Probe> {
        if PROBE_OBJECT.is_empty() {
            return Err(exit::Fatal::new(
                exit::NO_PROBE,
                "this ipctop was built without its eBPF probe (AYA_BUILD_SKIP): rebuild it \
                 after `cargo xtask setup`; `ipctop snapshot` works without the probe",
            )
            .into());
        }
        if let Some(missing) = caps::missing_for_bpf() {
            return Err(exit::Fatal::new(
                exit::NO_PROBE,
                format!(
                    "the eBPF probe needs root or {missing}; without them only \
                     `ipctop snapshot` works (try sudo)"
                ),
            )
            .into());
        }
        if !cfg!(target_arch = "x86_64") {
            // monitor_ebpf::nr and the pt_regs offsets of the raw tracepoints are x86-64's.
            return Err(exit::Fatal::new(
                exit::NO_PROBE,
                format!(
                    "the eBPF probe knows the syscall numbers and registers of x86-64 only, not \
                     of {}; `ipctop snapshot` works without it",
                    std::env::consts::ARCH
                ),
            )
            .into());
        }
        caps::raise_memlock();
        match opts.attach {
            AttachMode::Raw => Self::load_with(opts, None, "as asked"),
            AttachMode::Tracepoint => {
                let dir = tracefs_syscalls().ok_or_else(|| {
                    exit::Fatal::new(
                        exit::NO_PROBE,
                        "--attach tracepoint needs tracefs, which is not mounted (mount -t tracefs \
                         tracefs /sys/kernel/tracing), or use --attach raw",
                    )
                })?;
                Self::load_with(opts, Some(dir), "")
            }
            AttachMode::Auto => match tracefs_syscalls() {
                Some(dir) => Self::load_with(opts, Some(dir), ""),
                // The per-syscall tracepoints cost the rest of the machine far less than raw
                // ones (bench/RESULTS.md); they only need tracefs to be found. Mount it where
                // nobody else sees it: in a mount namespace of a thread of our own.
                None => match private_tracefs(|dir| Self::load_with(opts, Some(dir), "")) {
                    Ok(Ok(mut p)) => {
                        p.how.push_str(
                            "; tracefs was not mounted, so ipctop mounted it in a mount \
                             namespace of its own, which nothing else sees",
                        );
                        Ok(p)
                    }
                    Ok(Err(e)) => Self::load_with(
                        opts,
                        None,
                        &format!("the per-syscall tracepoints failed: {e:#}"),
                    ),
                    Err(e) => Self::load_with(
                        opts,
                        None,
                        &format!(
                            "tracefs is not mounted and could not be mounted privately ({e:#}), \
                             so the per-syscall tracepoints are not available"
                        ),
                    ),
                },
            },
        }
    }

    /// Loads the object and attaches it: to the per-syscall tracepoints under `tp` (the
    /// `events/syscalls` directory of a tracefs), or to the raw ones (`why` says why).
    fn load_with(opts: &ProbeOptions, tp: Option<PathBuf>, why: &str) -> anyhow::Result<Probe> {
        let target = opts.target_pid.unwrap_or(0);
        let ignore = std::process::id();
        let comm: [u8; 16] = match &opts.comm {
            Some(c) => crate::event::Comm::from_str_lossy(c).0,
            None => [0; 16],
        };
        let send_all = u32::from(opts.send_all);
        let (ns_offsets, ti_status, ns_problem) = ipc_ns_offsets();
        let (task_offsets, task_problem) = task_offsets();
        let mut ebpf = EbpfLoader::new()
            // The program does no CO-RE relocations: aya parsing the kernel's BTF (megabytes)
            // would only raise ipctop's peak memory (our own reader takes the three offsets
            // it needs, once: `ipc_ns_offsets`).
            .btf(None)
            .map_max_entries("EVENTS", opts.ring_bytes)
            .map_max_entries("AGG", opts.table_entries)
            .map_max_entries("HOLDS", opts.table_entries)
            .override_global(global::TARGET_TGID, &target, true)
            .override_global(global::IGNORE_TGID, &ignore, true)
            .override_global(global::COMM_FILTER, &comm, true)
            .override_global(global::SEND_ALL, &send_all, true)
            .override_global(global::WAIT_NS, &opts.wait_ns, true)
            .override_global(global::WAKEUP_BYTES, &opts.wakeup_bytes, true)
            .override_global(global::IPC_NS_OFFSETS, &ns_offsets, true)
            .override_global(global::TI_STATUS_OFFSET, &ti_status, true)
            .override_global(global::TASK_OFFSETS, &task_offsets, true)
            .load(PROBE_OBJECT)
            .map_err(|e| load_error("loading the eBPF probe", &e, opts.verbose))?;
        let mut links = detach::Links::default();
        let stop = ebpf
            .take_map("STOPPED")
            .ok_or_else(|| anyhow::anyhow!("the probe has no STOPPED map"))?;
        links.stop_flag(aya::maps::Array::try_from(stop)?);
        let n32 = processes_32bit().len();
        let mut compat_seen = None;
        let compat = match tp {
            // The per-syscall tracepoints never fire for 32-bit syscalls: the raw 32-bit path,
            // while 32-bit processes exist. Without it the 64-bit calls are still followed.
            Some(_) => match compat_watcher(&mut ebpf, opts.verbose) {
                Ok(w) => {
                    let processes = w.processes.load(std::sync::atomic::Ordering::Relaxed);
                    compat_seen = Some(w.processes.clone());
                    links.watch(w);
                    CompatPath::Watched { processes }
                }
                Err(e) => CompatPath::NotAttached {
                    processes: n32,
                    why: Some(format!("{e:#}")),
                },
            },
            None => CompatPath::Raw { processes: n32 },
        };
        let how = match tp {
            Some(dir) => {
                // One entry program per arity (a program may not read past the shortest
                // record it is attached to), one exit program for all.
                let mut attach = |prog: &str, tp_name: &str| -> anyhow::Result<()> {
                    let p: &mut TracePoint = ebpf
                        .program_mut(prog)
                        .expect("program in object")
                        .try_into()?;
                    if p.fd().is_err() {
                        p.load()
                            .map_err(|e| load_error("loading the eBPF probe", &e, opts.verbose))?;
                    }
                    let id = p.attach("syscalls", tp_name).map_err(|e| {
                        load_error(
                            &format!("attaching to tracepoint syscalls/{tp_name}"),
                            &e,
                            opts.verbose,
                        )
                    })?;
                    links.push(p.take_link(id)?);
                    Ok(())
                };
                for (i, name) in SYSCALL_NAMES.iter().enumerate() {
                    let arity = monitor_ebpf::SYSCALL_ARGS[i];
                    attach(
                        &format!("ipc_tp_enter{arity}"),
                        &format!("sys_enter_{name}"),
                    )?;
                    attach("ipc_tp_exit", &format!("sys_exit_{name}"))?;
                }
                // A thread that changes namespace reads its identity again.
                attach("ipc_tp_nschange", "sys_exit_setns")?;
                attach("ipc_tp_nschange", "sys_exit_unshare")?;
                format!(
                    "per-syscall tracepoints syscalls/sys_{{enter,exit}}_* ({} of them, tracefs at {})",
                    2 * NSYS,
                    dir.parent().and_then(Path::parent).unwrap_or(&dir).display()
                )
            }
            None => {
                for (prog, tp_name) in
                    [("ipc_raw_enter", "sys_enter"), ("ipc_raw_exit", "sys_exit")]
                {
                    let p: &mut RawTracePoint = ebpf
                        .program_mut(prog)
                        .expect("program in object")
                        .try_into()?;
                    p.load()
                        .map_err(|e| load_error("loading the eBPF probe", &e, opts.verbose))?;
                    let id = p.attach(tp_name).map_err(|e| {
                        load_error(
                            &format!("attaching to raw tracepoint {tp_name}"),
                            &e,
                            opts.verbose,
                        )
                    })?;
                    links.push(p.take_link(id)?);
                }
                format!("raw tracepoints sys_enter/sys_exit ({why}), without the POSIX queue calls")
            }
        };
        // Every mode: a thread's exit frees its slot.
        {
            let p: &mut RawTracePoint = ebpf
                .program_mut("ipc_task_exit")
                .expect("program in object")
                .try_into()?;
            p.load()
                .map_err(|e| load_error("loading the eBPF probe", &e, opts.verbose))?;
            let id = p.attach("sched_process_exit").map_err(|e| {
                load_error(
                    "attaching to raw tracepoint sched_process_exit",
                    &e,
                    opts.verbose,
                )
            })?;
            links.push(p.take_link(id)?);
        }
        let mut how = match ns_problem {
            Some(why) => format!("{how}; events carry no IPC namespace ({why})"),
            None => how,
        };
        if let Some(why) = task_problem {
            how.push_str(&format!(
                "; rows carry no process start or namespace id and no call is told ended by \
                 its process's death ({why})"
            ));
        }
        how.push_str(&format!("; {compat}"));
        if ti_status == 0 {
            how.push_str(
                " (this kernel's BTF has no task_struct.thread_info.status: 32-bit syscalls are \
                 known by their 32-bit code segment, and `int 0x80` from 64-bit code is missed)",
            );
        }
        Ok(Probe {
            links: Detacher(std::sync::Arc::new(std::sync::Mutex::new(links))),
            ebpf,
            how,
            compat,
            compat_seen,
            life: Default::default(),
            table_entries: opts.table_entries,
            ids: Default::default(),
        })
    }

    /// Stops every program now and detaches it (see `detach::Links`): when this returns, no
    /// program counts or sends anything any more, while the kernel's slow part of detaching
    /// goes on in a child process of its own. The maps stay readable, so that the last
    /// counters and events can still be read. Dropping the probe does it too.
    pub fn detach(&mut self) {
        self.links.detach();
    }

    /// A handle to detach this probe from elsewhere.
    pub fn detacher(&self) -> Detacher {
        self.links.clone()
    }

    /// Where the probe is attached, in words.
    pub fn attached_to(&self) -> &str {
        &self.how
    }

    /// Whether 32-bit processes' calls are followed, now (`attached_to()` says it as at
    /// load): in the tracepoint mode, with the watcher's last count of 32-bit processes.
    pub fn compat_path(&self) -> CompatPath {
        match (&self.compat, &self.compat_seen) {
            (CompatPath::Watched { .. }, Some(n)) => CompatPath::Watched {
                processes: n.load(std::sync::atomic::Ordering::Relaxed),
            },
            (c, _) => c.clone(),
        }
    }

    /// Takes the ring buffer, to hand it to [`spawn_reader`].
    pub fn take_events(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .ok_or_else(|| anyhow::anyhow!("the ring buffer was already taken"))?;
        Ok(RingBuf::try_from(map)?)
    }
}

/// Loads the 32-bit path's programs and starts the thread that attaches them while 32-bit
/// processes exist.
fn compat_watcher(ebpf: &mut Ebpf, verbose: bool) -> anyhow::Result<compat::Watcher> {
    let mut fd = |prog: &str| -> anyhow::Result<std::os::fd::OwnedFd> {
        let p: &mut RawTracePoint = ebpf
            .program_mut(prog)
            .expect("program in object")
            .try_into()?;
        p.load()
            .map_err(|e| load_error("loading the eBPF probe's 32-bit path", &e, verbose))?;
        Ok(std::os::fd::AsFd::as_fd(p.fd()?).try_clone_to_owned()?)
    };
    let (enter, exit) = (fd("ipc_compat_enter")?, fd("ipc_compat_exit")?);
    compat::Watcher::start(enter, exit)
        .map_err(|e| anyhow::anyhow!("attaching the 32-bit path to sys_enter/sys_exit: {e}"))
}

/// The offsets the program reads the IPC namespace with (`[task_struct.nsproxy,
/// nsproxy.ipc_ns, ipc_namespace.ns.inum]`) and TS_COMPAT with (`task_struct.thread_info.status`,
/// 0: unknown), from the running kernel's BTF, computed once; zeros and the reason when the
/// namespace's cannot be known (events then have no namespace).
fn ipc_ns_offsets() -> ([u32; 3], u32, Option<String>) {
    match &kernel_offsets().0 {
        // task_struct starts with thread_info/state: nsproxy is never at offset 0, which the
        // program takes for "unknown"; thread_info.status is not either (flags come first).
        Ok((o, ti)) if o[0] != 0 => (*o, *ti, None),
        Ok((_, ti)) => (
            [0; 3],
            *ti,
            Some("task_struct.nsproxy is at offset 0".into()),
        ),
        Err(e) => ([0; 3], 0, Some(e.clone())),
    }
}

/// The offsets of a task's identity and fate (`monitor_ebpf::global::TASK_OFFSETS`) from
/// the running kernel's BTF; zeros and the reason when they cannot be known.
fn task_offsets() -> ([u32; 6], Option<String>) {
    match &kernel_offsets().1 {
        // group_leader and pending are never at offset 0 (the program's "unknown").
        Ok(a)
            if a[monitor_ebpf::TASK_OFF_GROUP_LEADER] != 0
                && a[monitor_ebpf::TASK_OFF_PENDING] != 0 =>
        {
            (*a, None)
        }
        Ok(_) => (
            [0; 6],
            Some("task_struct.group_leader is at offset 0".into()),
        ),
        Err(e) => ([0; 6], Some(e.clone())),
    }
}

/// Both sets of offsets, from one read of the running kernel's BTF, once.
#[allow(clippy::type_complexity)]
fn kernel_offsets() -> &'static (Result<([u32; 3], u32), String>, Result<[u32; 6], String>) {
    static OFFSETS: std::sync::OnceLock<(
        Result<([u32; 3], u32), String>,
        Result<[u32; 6], String>,
    )> = std::sync::OnceLock::new();
    OFFSETS.get_or_init(|| {
        let (ns, task) = crate::kernel_btf::running_kernel_offsets();
        let ns = ns
            .map(|o| {
                (
                    [o.task_nsproxy, o.nsproxy_ipc_ns, o.ipc_ns_inum],
                    o.task_ti_status.unwrap_or(0),
                )
            })
            .map_err(|e| e.to_string());
        let task = task
            .map(|o| {
                let mut a = [0; 6];
                a[monitor_ebpf::TASK_OFF_GROUP_LEADER] = o.group_leader;
                a[monitor_ebpf::TASK_OFF_START] = o.start_boottime;
                a[monitor_ebpf::TASK_OFF_NS_ID] = o.ipc_ns_id.unwrap_or(0);
                a[monitor_ebpf::TASK_OFF_PENDING] = o.pending_signal;
                a[monitor_ebpf::TASK_OFF_SIGNAL] = o.signal;
                a[monitor_ebpf::TASK_OFF_SIGNAL_FLAGS] = o.signal_flags;
                a
            })
            .map_err(|e| e.to_string());
        (ns, task)
    })
}

/// One sentence for a failed load or attach: permission problems and verifier refusals are
/// named; the verifier's log only with `-v`.
fn load_error(what: &str, err: &(dyn std::error::Error + 'static), verbose: bool) -> anyhow::Error {
    let mut io_err = None;
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = cur {
        if let Some(io) = e.downcast_ref::<io::Error>() {
            io_err = Some(io);
            break;
        }
        if let Some(aya::programs::ProgramError::LoadError { io_error, .. }) =
            e.downcast_ref::<aya::programs::ProgramError>()
        {
            io_err = Some(io_error);
            break;
        }
        cur = e.source();
    }
    let errno = io_err.and_then(|e| e.raw_os_error());
    // A program load refused with a verifier log is the verifier's refusal, whatever the
    // errno (older kernels say EACCES for both a refused program and a missing permission).
    let verifier_log = match err.downcast_ref::<aya::programs::ProgramError>() {
        Some(aya::programs::ProgramError::LoadError { verifier_log, .. }) => {
            Some(verifier_log.to_string()).filter(|l| !l.trim().is_empty())
        }
        _ => None,
    };
    let is_verifier = verifier_log.is_some();
    let msg = if is_verifier && verbose {
        format!(
            "{what} failed: the kernel's verifier refused the program ({}); its log:\n{}",
            io_err.map(|e| e.to_string()).unwrap_or_default(),
            verifier_log.unwrap_or_default()
        )
    } else if !is_verifier && (errno == Some(libc::EPERM) || errno == Some(libc::EACCES)) {
        format!(
            "{what} was refused by the kernel ({}): it needs root, or CAP_BPF and CAP_PERFMON, \
             and a kernel that allows BPF (lockdown, unprivileged_bpf_disabled); \
             `ipctop snapshot` still works without it",
            io_err.map(|e| e.to_string()).unwrap_or_default()
        )
    } else if is_verifier && !verbose {
        format!(
            "{what} failed: the kernel's verifier refused the program ({}); run with -v for \
             the verifier's log; `ipctop snapshot` still works without the probe",
            io_err.map(|e| e.to_string()).unwrap_or_default()
        )
    } else if verbose {
        let mut chain = err.to_string();
        let mut cur = err.source();
        while let Some(e) = cur {
            chain.push_str(": ");
            chain.push_str(&e.to_string());
            cur = e.source();
        }
        format!("{what} failed: {chain}")
    } else {
        let mut last = err.to_string();
        let mut cur = err.source();
        while let Some(e) = cur {
            last = e.to_string();
            cur = e.source();
        }
        format!("{what} failed: {last} (run with -v for details)")
    };
    exit::Fatal::new(exit::NO_PROBE, msg).into()
}
