//! The kernel side, from userspace: loads and attaches the eBPF program, reads its counters
//! and its table of calls in progress, and streams its ring buffer as decoded events into a
//! tokio channel. Nothing outside this module touches BPF.
mod caps;
mod reader;

use std::{
    io,
    path::{Path, PathBuf},
};

use aya::{
    maps::{Array, HashMap, MapData, PerCpuArray, PerCpuHashMap, RingBuf},
    programs::{RawTracePoint, TracePoint},
    Ebpf, EbpfLoader,
};
use monitor_ebpf::{
    config, AggKey, AggVal, Call, HoldKey, Stats, HIST_BUCKETS, NSYS, SYSCALL_NAMES,
};

pub use reader::{spawn_reader, Batch, ReaderStats};

// The counters' data types live in a leaf module shared with the model and the feed.
pub use crate::sample::{Aggregate, Hold, KernelStats};
use crate::{decode, event::Event, exit};

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
}

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
        }
    }
}

/// A loaded, attached probe. Detaches when dropped.
pub struct Probe {
    ebpf: Ebpf,
    how: String,
}

const TRACEFS: [&str; 2] = ["/sys/kernel/tracing", "/sys/kernel/debug/tracing"];

/// Runs `f` on a thread of its own whose mount namespace is private and has tracefs mounted
/// at /sys/kernel/tracing (passed to `f` as its `events/syscalls` directory). The rest of the
/// system, and ipctop's other threads, see no change. `Err`: that could not be arranged.
fn private_tracefs<T: Send>(f: impl FnOnce(PathBuf) -> T + Send) -> anyhow::Result<T> {
    use nix::{
        mount::{mount, MsFlags},
        sched::{unshare, CloneFlags},
    };
    std::thread::scope(|s| {
        s.spawn(|| -> anyhow::Result<T> {
            // A new mount namespace for this thread only (CLONE_NEWNS implies CLONE_FS).
            unshare(CloneFlags::CLONE_NEWNS)?;
            mount(
                None::<&str>,
                "/",
                None::<&str>,
                MsFlags::MS_REC | MsFlags::MS_PRIVATE,
                None::<&str>,
            )?;
            let at = Path::new(TRACEFS[0]);
            mount(
                Some("tracefs"),
                at,
                Some("tracefs"),
                MsFlags::empty(),
                None::<&str>,
            )?;
            let dir = at.join("events/syscalls");
            anyhow::ensure!(
                dir.join("sys_enter_semget").exists(),
                "no syscall tracepoints in tracefs"
            );
            Ok(f(dir))
        })
        .join()
        .map_err(|_| anyhow::anyhow!("the tracefs thread panicked"))?
    })
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
        let mut ebpf = EbpfLoader::new()
            // The program does no CO-RE relocations: parsing the kernel's BTF (megabytes)
            // would only raise ipctop's peak memory.
            .btf(None)
            .map_max_entries("EVENTS", opts.ring_bytes)
            .load(PROBE_OBJECT)
            .map_err(|e| load_error("loading the eBPF probe", &e, opts.verbose))?;
        {
            let mut cfg: Array<_, u64> = Array::try_from(ebpf.map_mut("CONFIG").expect("CONFIG"))?;
            cfg.set(
                config::TARGET_TGID,
                u64::from(opts.target_pid.unwrap_or(0)),
                0,
            )?;
            cfg.set(config::IGNORE_TGID, u64::from(std::process::id()), 0)?;
            cfg.set(config::WAKEUP_BYTES, opts.wakeup_bytes, 0)?;
            cfg.set(config::COMM_FILTER_ON, u64::from(opts.comm.is_some()), 0)?;
            cfg.set(config::SEND_ALL, u64::from(opts.send_all), 0)?;
            cfg.set(config::WAIT_NS, opts.wait_ns, 0)?;
        }
        if let Some(comm) = &opts.comm {
            let mut f: Array<_, [u8; 16]> =
                Array::try_from(ebpf.map_mut("COMM_FILTER").expect("COMM_FILTER"))?;
            f.set(0, crate::event::Comm::from_str_lossy(comm).0, 0)?;
        }
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
                    p.attach("syscalls", tp_name).map_err(|e| {
                        load_error(
                            &format!("attaching to tracepoint syscalls/{tp_name}"),
                            &e,
                            opts.verbose,
                        )
                    })?;
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
                    p.attach(tp_name).map_err(|e| {
                        load_error(
                            &format!("attaching to raw tracepoint {tp_name}"),
                            &e,
                            opts.verbose,
                        )
                    })?;
                }
                format!("raw tracepoints sys_enter/sys_exit ({why})")
            }
        };
        Ok(Probe { ebpf, how })
    }

    /// Where the probe is attached, in words.
    pub fn attached_to(&self) -> &str {
        &self.how
    }

    /// Takes the ring buffer, to hand it to [`spawn_reader`].
    pub fn take_events(&mut self) -> anyhow::Result<RingBuf<MapData>> {
        let map = self
            .ebpf
            .take_map("EVENTS")
            .ok_or_else(|| anyhow::anyhow!("the ring buffer was already taken"))?;
        Ok(RingBuf::try_from(map)?)
    }

    /// The kernel's counters, summed over CPUs.
    pub fn stats(&self) -> anyhow::Result<KernelStats> {
        let map: PerCpuArray<_, Stats> =
            PerCpuArray::try_from(self.ebpf.map("STATS").expect("STATS"))?;
        let per_cpu = map.get(&0, 0)?;
        let mut s = KernelStats::default();
        for c in per_cpu.iter() {
            for i in 0..NSYS {
                s.calls[i] += c.calls[i];
                s.errors[i] += c.errors[i];
            }
            s.dropped += c.dropped;
            s.inflight_full += c.inflight_full;
            s.agg_full += c.agg_full;
            s.sent += c.sent;
        }
        Ok(s)
    }

    /// The kernel-side aggregates (aggregating mode), summed over CPUs.
    pub fn aggregates(&self) -> anyhow::Result<Vec<Aggregate>> {
        let map: PerCpuHashMap<_, AggKey, AggVal> =
            PerCpuHashMap::try_from(self.ebpf.map("AGG").expect("AGG"))?;
        let mut out = Vec::new();
        for item in map.iter() {
            let Ok((k, per_cpu)) = item else { continue };
            let Some(syscall) = crate::event::Syscall::from_index(k.sys) else {
                continue;
            };
            let mut a = Aggregate {
                pid: k.tgid,
                id: (k.id >= 0).then_some(k.id),
                syscall,
                calls: 0,
                errors: 0,
                total_ns: 0,
                max_ns: 0,
                last_ns: 0,
                hist: [0; HIST_BUCKETS],
            };
            for v in per_cpu.iter() {
                a.calls += v.calls;
                a.errors += v.errors;
                a.total_ns += v.total_ns;
                a.max_ns = a.max_ns.max(v.max_ns);
                a.last_ns = a.last_ns.max(v.last_ns);
                for (h, x) in a.hist.iter_mut().zip(v.hist.iter()) {
                    *h += x;
                }
            }
            out.push(a);
        }
        Ok(out)
    }

    /// Who holds which semaphore: processes whose successful semops on it sum to less than
    /// zero (they took more than they gave back).
    pub fn holds(&self) -> anyhow::Result<Vec<Hold>> {
        let map: HashMap<_, HoldKey, i64> =
            HashMap::try_from(self.ebpf.map("HOLDS").expect("HOLDS"))?;
        Ok(map
            .iter()
            .filter_map(Result::ok)
            .filter(|(_, net)| *net < 0)
            .map(|(k, net)| Hold {
                semid: k.semid,
                semnum: k.semnum,
                pid: k.tgid,
                held: -net,
            })
            .collect())
    }
}

impl Probe {
    /// Forgets what the kernel keeps for threads and processes that are gone: their
    /// `INFLIGHT` entries (kept per thread, see the program) and their `HOLDS`. Returns how
    /// many entries went. Call it every few seconds.
    pub fn prune(&mut self) -> anyhow::Result<usize> {
        let alive = |id: u32| Path::new(&format!("/proc/{id}")).exists();
        let mut n = 0;
        let mut inflight: HashMap<_, u32, Call> =
            HashMap::try_from(self.ebpf.map_mut("INFLIGHT").expect("INFLIGHT"))?;
        let dead: Vec<u32> = inflight
            .keys()
            .filter_map(Result::ok)
            .filter(|t| !alive(*t))
            .collect();
        for t in dead {
            n += usize::from(inflight.remove(&t).is_ok());
        }
        let mut holds: HashMap<_, HoldKey, i64> =
            HashMap::try_from(self.ebpf.map_mut("HOLDS").expect("HOLDS"))?;
        let dead: Vec<HoldKey> = holds
            .keys()
            .filter_map(Result::ok)
            .filter(|k| !alive(k.tgid))
            .collect();
        for k in dead {
            n += usize::from(holds.remove(&k).is_ok());
        }
        Ok(n)
    }

    /// The calls in progress right now that have run at least `min_age` (blocked ones among
    /// them), oldest first. Calls whose entry was not seen have no start and are left out.
    pub fn in_flight(&self, min_age: std::time::Duration) -> anyhow::Result<Vec<Event>> {
        let now = crate::event::clock_ns(libc::CLOCK_MONOTONIC);
        let min_age = min_age.as_nanos() as u64;
        let map: HashMap<_, u32, Call> =
            HashMap::try_from(self.ebpf.map("INFLIGHT").expect("INFLIGHT"))?;
        let mut out = Vec::new();
        for item in map.iter() {
            // An entry can go away between listing the keys and reading it: normal. Entries of
            // finished calls (SYS_DONE) do not decode and are skipped.
            let Ok((_, call)) = item else { continue };
            if let Ok(ev) = decode::decode_call(&call) {
                if ev
                    .start_ns
                    .is_some_and(|s| now.saturating_sub(s) >= min_age)
                {
                    out.push(ev);
                }
            }
        }
        out.sort_by_key(|e| e.start_ns);
        Ok(out)
    }
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
