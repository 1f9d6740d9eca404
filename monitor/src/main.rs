use std::process::ExitCode;

use clap::{CommandFactory, FromArgMatches, Parser, Subcommand};
use ipctop::{cmd, exit};

/// ipctop: what every process on this machine does with System V IPC (semaphores, shared
/// memory, message queues), from an eBPF probe joined with /proc/sysvipc.
#[derive(Debug, Parser)]
#[command(name = "ipctop", version, about, long_about = None)]
#[command(args_conflicts_with_subcommands = true)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    /// Without a subcommand: the live dashboard.
    #[command(flatten)]
    dashboard: cmd::dashboard::DashboardArgs,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print every System V IPC call of every process, like strace (needs root / CAP_BPF).
    Trace(cmd::trace::TraceArgs),
    /// Print the IPC objects (System V, then POSIX: queues, /dev/shm, futex waits in shared
    /// memory), who uses them, waits, leaks and deadlocks, once.
    Snapshot(cmd::snapshot::SnapshotArgs),
    /// Record a session to a file (headless); with `-- COMMAND`, for the command's lifetime.
    Record(cmd::record::RecordArgs),
    /// Analyse a recording: counts, failed calls, contention, leaks, deadlocks; --fail-on gates.
    Report(cmd::report::ReportArgs),
    /// Replay a recording in the dashboard (no root needed); without a file, the built-in demo.
    Replay(cmd::replay::ReplayArgs),
    /// Export the live model as Prometheus/OpenMetrics metrics on GET /metrics (headless).
    #[command(long_about = cmd::serve::METRICS_HELP)]
    Serve(cmd::serve::ServeArgs),
    /// Print a completion script for a shell (bash, zsh, fish, elvish, powershell).
    Completions(cmd::completions::CompletionsArgs),
}

/// The command line, with each command's examples after its help.
fn command() -> clap::Command {
    cmd::examples::attach(Cli::command())
}

fn main() -> ExitCode {
    // Before any thread starts: a monitor's memory comes back after a burst (see `memory`).
    ipctop::memory::tune();
    let parsed = command()
        .try_get_matches()
        .and_then(|mut m| Cli::from_arg_matches_mut(&mut m));
    let cli = match parsed {
        Ok(cli) => cli,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Some(Command::Trace(a)) => cmd::trace::run(a),
        Some(Command::Snapshot(a)) => cmd::snapshot::run(a),
        Some(Command::Record(a)) => cmd::record::run(a),
        Some(Command::Report(a)) => cmd::report::run(a),
        Some(Command::Replay(a)) => cmd::replay::run(a),
        Some(Command::Serve(a)) => cmd::serve::run(a),
        Some(Command::Completions(a)) => cmd::completions::run(a, command()),
        None => cmd::dashboard::run(cli.dashboard),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("ipctop: {e:#}");
            ExitCode::from(exit::code_of(&e))
        }
    }
}
