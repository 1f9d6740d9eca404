//! The subcommands: each owns its arguments and its run function; `main.rs` only dispatches.
pub mod completions;
pub mod dashboard;
pub mod examples;
pub mod record;
pub mod replay;
pub mod report;
pub mod serve;
pub mod snapshot;
pub mod snapshot_posix;
pub mod trace;

use crate::probe::AttachMode;

/// The probe options `trace`, `record` and the dashboard share.
#[derive(Clone, Debug, clap::Args)]
pub struct ProbeArgs {
    /// Where to hook into the kernel.
    #[arg(long, value_enum, default_value_t = AttachMode::Auto)]
    pub attach: AttachMode,
    /// Only this process's calls (filtered in the kernel; snapshots still see everything).
    /// It must be running when ipctop starts.
    #[arg(long, value_parser = live_pid)]
    pub pid: Option<u32>,
    /// Only the calls of tasks whose comm is exactly this (filtered in the kernel; comm is at
    /// most 15 bytes, so longer names are cut).
    #[arg(long)]
    pub comm: Option<String>,
    /// Entries of each of the probe's kernel tables of per-process counts (rows of process ×
    /// object × syscall, and of process × semaphore). Rows of processes that are gone and of
    /// objects that are removed are deleted at every sample; calls that find the table full
    /// are counted as lost, never lost silently. Default 16384.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(64..=4_194_304))]
    pub table_entries: Option<u32>,
    /// Say more (the verifier's log when the probe is refused).
    #[arg(short, long)]
    pub verbose: bool,
}

impl ProbeArgs {
    /// The live source's options for these probe arguments (the rest as by default).
    pub fn live_options(
        &self,
        interval: std::time::Duration,
        no_probe: bool,
    ) -> crate::live::LiveOptions {
        crate::live::LiveOptions {
            interval,
            attach: self.attach,
            target_pid: self.pid,
            comm: self.comm.clone(),
            verbose: self.verbose,
            no_probe,
            table_entries: self.table_entries,
            ..Default::default()
        }
    }
}

/// `--ipc-ns PID|INODE` and `--container NAME`: which IPC namespaces a command shows (every
/// one by default). Applied in the model ([`crate::model::Scope`]) for the dashboard,
/// `snapshot`, `record`/`report` and `serve`, and to each event's kernel stamp in `trace`.
#[derive(Clone, Debug, Default, clap::Args)]
pub struct ScopeArgs {
    /// Only the IPC namespace of this process (a pid: the namespace it is in when ipctop
    /// starts), or this namespace (its inode: the number in the /proc/PID/ns/ipc link, e.g.
    /// 4026531839). Every namespace by default.
    #[arg(long, value_name = "PID|INODE", value_parser = ipc_ns_arg, conflicts_with = "container")]
    pub ipc_ns: Option<u64>,
    /// Only the IPC namespace(s) of this container, as its runtime names it: its name
    /// ("web"), "runtime:name" ("podman:web"), its id or an id prefix of at least 4 hex digits,
    /// a Kubernetes pod as "namespace/pod" or its uid, a pod's container name, or a label as
    /// shown ("pod:default/web", "host", "ns:4026532177"). A namespace several containers
    /// share is selected by any of them; a container sharing the host's (--ipc=host) by its
    /// processes. Nothing named: one sentence listing what exists, exit 2.
    #[arg(long, value_name = "NAME")]
    pub container: Option<String>,
}

/// What `--ipc-ns`/`--container` select on this machine (see [`ScopeArgs::select`]).
#[derive(Clone, Debug, Default)]
pub struct Selected {
    /// The model's scope.
    pub scope: crate::model::Scope,
    /// The namespaces named when ipctop started (empty: all, or only `--ipc=host` containers).
    pub namespaces: std::collections::BTreeSet<u64>,
    /// Containers named that share the host's IPC namespace: their calls are theirs by the
    /// cgroup the kernel stamps each with (labels as [`crate::container::Labels`] gives).
    pub host_ipc: Vec<String>,
}

impl Selected {
    /// Whether a call stamped with namespace `ns` (`None`: unknown) and the container label of
    /// its cgroup (`None`: unknown) is selected: by its namespace, or by its container.
    pub fn admits(&self, ns: Option<u64>, ns_label: Option<&str>, cgroup: Option<&str>) -> bool {
        use crate::model::Scope;
        match &self.scope {
            Scope::All => true,
            Scope::Ns(n) => ns == Some(*n),
            Scope::Procs { name, .. } => {
                cgroup.is_some_and(|c| c != "host" && crate::model::label_matches(c, name))
            }
            Scope::Container(name) => {
                ns.is_some_and(|n| self.namespaces.contains(&n))
                    || ns.is_some_and(|n| self.scope.admits(n, ns_label))
                    || cgroup.is_some_and(|c| c != "host" && crate::model::label_matches(c, name))
            }
        }
    }
}

impl ScopeArgs {
    /// The model's scope for these arguments, as given (`--container` not resolved: for a
    /// recording, whose labels are its own).
    pub fn scope(&self) -> crate::model::Scope {
        use crate::model::Scope;
        match (&self.ipc_ns, &self.container) {
            (Some(ns), _) => Scope::Ns(*ns),
            (None, Some(c)) => Scope::Container(c.clone()),
            (None, None) => Scope::All,
        }
    }

    /// What these arguments select among the live namespaces and containers: `--container`
    /// resolved by the runtimes' names ([`crate::snapshot::namespaces::select`]). Nothing
    /// named, or containers cannot be named here: one sentence, exit 2.
    pub fn select(&self) -> Result<Selected, crate::exit::Fatal> {
        let Some(name) = self.container.as_deref().filter(|_| self.ipc_ns.is_none()) else {
            return Ok(Selected {
                scope: self.scope(),
                namespaces: self.ipc_ns.into_iter().collect(),
                host_ipc: Vec::new(),
            });
        };
        let s = crate::snapshot::namespaces::select(name)
            .map_err(|e| crate::exit::Fatal::new(crate::exit::USAGE, e))?;
        // Selected all the same (a label as shown, `host`): said once, as the refusal would.
        if let Some(why) = crate::container::blind_reason() {
            eprintln!("ipctop: containers cannot be named here: {why}");
        }
        Ok(Selected {
            scope: crate::model::Scope::Container(s.name),
            namespaces: s.namespaces,
            host_ipc: s.host_ipc,
        })
    }

    /// [`Self::select`] for a command that shows namespaces (`snapshot`, `serve`, the
    /// dashboard): a container sharing the host's IPC namespace (`--ipc=host`), named alone,
    /// is its processes there (by cgroup, and those they fork: [`crate::model::Scope::Procs`]).
    pub fn select_namespaces(&self) -> Result<crate::model::Scope, crate::exit::Fatal> {
        let s = self.select()?;
        if s.namespaces.is_empty() && !s.host_ipc.is_empty() {
            let (ns, pids) = crate::snapshot::namespaces::host_ipc_procs(&s.host_ipc);
            return Ok(crate::model::Scope::Procs {
                name: s.host_ipc.join(","),
                ns,
                pids,
            });
        }
        Ok(s.scope)
    }
}

/// Pids are at most 2^22 (PID_MAX_LIMIT); namespace inodes are far above.
const PID_MAX_LIMIT: u64 = 1 << 22;

/// `--ipc-ns`: a pid (its namespace's inode, read now) or an inode.
pub fn ipc_ns_arg(s: &str) -> Result<u64, String> {
    let n: u64 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is neither a process id nor a namespace inode"))?;
    if n == 0 {
        return Err("0 is neither a process id nor a namespace inode".into());
    }
    if n > PID_MAX_LIMIT {
        return Ok(n);
    }
    let path = format!("/proc/{n}/ns/ipc");
    crate::snapshot::procs::ns_inode(std::path::Path::new(&path))
        .map_err(|e| format!("cannot read the IPC namespace of pid {n} ({path}): {e}"))
}

/// The longest `--duration`: ten years (longer would overflow the clocks; leave the option
/// out to run until stopped).
pub const MAX_DURATION_S: f64 = 10.0 * 365.0 * 86400.0;

/// A clap value parser for seconds (or another unit): a finite number within `min..=max`.
/// Rejects NaN, infinities, `1e400` and negative numbers with one sentence (exit 2).
pub fn number_in(
    min: f64,
    max: f64,
    unit: &'static str,
) -> impl Fn(&str) -> Result<f64, String> + Clone + Send + Sync + 'static {
    move |s: &str| {
        let v: f64 = s
            .trim()
            .parse()
            .map_err(|_| format!("{s:?} is not a number of {unit}"))?;
        if !v.is_finite() {
            return Err(format!("{s} is not a finite number of {unit}"));
        }
        if v < min || v > max {
            return Err(format!("must be between {min} and {max} {unit}"));
        }
        Ok(v)
    }
}

/// `--duration`: 0 to ten years.
pub fn duration_secs(s: &str) -> Result<f64, String> {
    number_in(0.0, MAX_DURATION_S, "seconds")(s)
}

/// `--interval`: 0.05 s to an hour.
pub fn interval_secs(s: &str) -> Result<f64, String> {
    number_in(0.05, 3600.0, "seconds")(s)
}

/// Thresholds such as `--long-wait` and `--sem-idle`: 0 to a billion seconds.
pub fn threshold_secs(s: &str) -> Result<f64, String> {
    number_in(0.0, 1e9, "seconds")(s)
}

/// A pid that names a running process (not 0, which would mean "everyone" to the kernel).
pub fn live_pid(s: &str) -> Result<u32, String> {
    let pid: u32 = s
        .trim()
        .parse()
        .map_err(|_| format!("{s:?} is not a process id"))?;
    if pid == 0 || pid > i32::MAX as u32 {
        return Err(format!("{pid} is not a process id"));
    }
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid as i32), None) {
        Ok(()) | Err(nix::errno::Errno::EPERM) => Ok(pid),
        Err(_) => Err(format!("no process {pid} is running (start it first)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_are_finite_and_bounded() {
        for bad in ["NaN", "nan", "inf", "-inf", "1e400", "1e20", "-3", "x", ""] {
            assert!(duration_secs(bad).is_err(), "{bad}");
        }
        assert_eq!(duration_secs("2.5"), Ok(2.5));
        assert!(interval_secs("0.01").is_err());
        assert!(interval_secs("1e20").is_err());
        assert_eq!(threshold_secs("0"), Ok(0.0));
        assert!(threshold_secs("-3").is_err());
    }

    #[test]
    fn ipc_ns_takes_a_pid_or_an_inode() {
        let ours = crate::snapshot::procs::ns_inode(std::path::Path::new("/proc/self/ns/ipc"));
        assert_eq!(ipc_ns_arg(&std::process::id().to_string()).ok(), ours.ok());
        assert_eq!(ipc_ns_arg("4026532177"), Ok(4026532177));
        assert!(ipc_ns_arg("0").is_err());
        assert!(ipc_ns_arg("x").is_err());
        // A pid that is not running (pids stop at 2^22, and 4194303 is almost never used).
        assert!(ipc_ns_arg("4194303").is_err() || std::path::Path::new("/proc/4194303").exists());
    }

    #[test]
    fn pids_must_be_live() {
        assert!(live_pid("0").is_err());
        assert!(live_pid("-1").is_err());
        assert!(live_pid("4294967295").is_err());
        assert_eq!(live_pid("1"), Ok(1));
        assert_eq!(
            live_pid(&std::process::id().to_string()),
            Ok(std::process::id())
        );
    }
}
