//! `ipctop report FILE`: the analysis over a whole recording, for people or as JSON, and a
//! gate for smoke tests (`--fail-on`).
use std::path::PathBuf;

use crate::{analysis, exit, record, report, text};

#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    /// The recording (plain or .zst).
    pub file: PathBuf,
    /// JSON (schema_version 3) instead of text.
    #[arg(long)]
    pub json: bool,
    /// Exit 1 when any of these is met by the judged processes (comma-separated): leak,
    /// deadlock (proven), stuck (a waiter nobody alive can release), stalled (blocked, cannot
    /// be told), error (failed calls; interrupted and ended ones are not), drops (events or
    /// calls lost), wait>SECS.
    #[arg(long, value_delimiter = ',', value_name = "CONDITIONS")]
    pub fail_on: Vec<report::FailOn>,
    /// A wait this long is a finding (seconds).
    #[arg(long, default_value_t = crate::analysis::LONG_WAIT_S, value_name = "SECS", value_parser = super::threshold_secs)]
    pub long_wait: f64,
    /// A semaphore set idle this long, with its users gone, is a leak (seconds).
    #[arg(long, default_value_t = 300.0, value_name = "SECS", value_parser = super::threshold_secs)]
    pub sem_idle: f64,
    /// What the findings and --fail-on judge: the recorded command's processes and objects
    /// (`command`; the rest of the machine is context), or everything (`all`). A recording
    /// without a command is judged whole.
    #[arg(long, value_enum, default_value_t = report::ScopeMode::Command)]
    pub scope: report::ScopeMode,
    /// `--ipc-ns INODE` or `--container NAME`: only those namespaces' objects, processes and
    /// findings (a pid names a process running here, not one of the recording).
    #[command(flatten)]
    pub ns: super::ScopeArgs,
}

pub fn run(args: ReportArgs) -> anyhow::Result<u8> {
    let reader =
        record::open(&args.file).map_err(|e| exit::Fatal::new(exit::USAGE, e.to_string()))?;
    let cfg = analysis::Config {
        long_wait_s: args.long_wait,
        sem_idle_s: args.sem_idle,
        ..Default::default()
    };
    // A recording's labels are its own: `--container` matches them as given, and as the
    // runtimes here name what it selects (an id, a pod uid), when they still do; a container
    // here in the host's IPC namespace (`--ipc=host`) is its processes, found by the cgroup
    // of their recorded calls. Nothing of it in the recording: one sentence, exit 2.
    let ns_scope = match (&args.ns.ipc_ns, &args.ns.container) {
        (None, Some(c)) => match crate::snapshot::namespaces::select(c) {
            Ok(s) if s.namespaces.is_empty() && !s.host_ipc.is_empty() => {
                crate::model::Scope::Procs {
                    name: s.host_ipc.join(","),
                    ns: 0,
                    pids: Default::default(),
                }
            }
            Ok(s) => crate::model::Scope::Container(format!("{c},{}", s.name)),
            Err(_) => crate::model::Scope::Container(c.clone()),
        },
        _ => args.ns.scope(),
    };
    let rep = report::build_scoped(reader, &cfg, args.scope, ns_scope)
        .map_err(|e| exit::Fatal::new(exit::USAGE, e))?;
    let doc = if args.json {
        let mut s = serde_json::to_string_pretty(&rep)?;
        s.push('\n');
        text::json_inert(&s).into_owned()
    } else {
        text::inert(&rep.text()).into_owned()
    };
    // A reader that went away (`| head`) ends it quietly: the gate's answer still stands.
    exit::write_stdout(doc.as_bytes())?;
    if let Some(why) = &rep.stopped_early {
        eprintln!(
            "ipctop report: {}: {}",
            text::escape(&args.file.display().to_string()),
            text::escape(why)
        );
    }
    let failed = rep.failures(&args.fail_on);
    for f in &failed {
        eprintln!("ipctop report: fail-on {f}");
    }
    Ok(if failed.is_empty() {
        exit::OK
    } else {
        exit::FAILURE
    })
}
