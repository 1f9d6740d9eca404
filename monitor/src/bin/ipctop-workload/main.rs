//! ipctop-workload: makes known System V IPC calls on request, for ipctop's tests, benchmarks
//! and demo. Each scenario prints one JSON line with what it made (pids, ids, addresses) when
//! it is set up; long-lived ones then hold until their stdin closes (or SIGTERM/SIGINT), and
//! remove every object they made before they exit.
mod calls;
mod churn;
mod common;
mod judge;
mod paced;
mod situations;
mod sysv_mut;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "ipctop-workload",
    about = "Makes known System V IPC calls for ipctop's tests"
)]
struct Cli {
    /// Set this process's comm (children inherit it), so a tracer can filter on it.
    #[arg(long, global = true)]
    name: Option<String>,
    /// Print {"pid", "waiting": true} and wait for a line on stdin before starting.
    #[arg(long, global = true)]
    wait_go: bool,
    /// Hold for this many seconds instead of until stdin closes (for runs under
    /// `ipctop record -- …`).
    #[arg(long, global = true, value_name = "SECS")]
    hold_for: Option<f64>,
    /// Leave the IPC objects made (the caller removes them): leaks that outlive the run.
    #[arg(long, global = true)]
    leave: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    #[command(flatten)]
    Calls(calls::Cmd),
    #[command(flatten)]
    Situations(situations::Cmd),
    #[command(flatten)]
    Paced(paced::Cmd),
    /// The scenario battery's situations, each in a private IPC namespace (see judge/mod.rs);
    /// with --wait-go it says its namespace first, then waits.
    Judge(judge::Cmd),
    /// Short-lived processes each making and removing a set (optionally each in a namespace
    /// of its own) beside a steady one; prints the calls made when it ends.
    Churn(churn::Args),
}

fn main() {
    common::install_signal_handlers();
    let cli = Cli::parse();
    if let Some(name) = &cli.name {
        common::set_comm(name);
    }
    common::configure(cli.hold_for, cli.leave);
    // A situation of the battery says its namespace before it waits (it makes it first).
    if cli.wait_go && !matches!(cli.cmd, Cmd::Judge(_)) {
        common::wait_go();
    }
    let r = match cli.cmd {
        Cmd::Calls(c) => calls::run(c),
        Cmd::Situations(c) => situations::run(c),
        Cmd::Paced(c) => paced::run(c),
        Cmd::Judge(c) => judge::run(c, cli.wait_go),
        Cmd::Churn(a) => churn::run(a),
    };
    if let Err(e) = r {
        eprintln!("ipctop-workload: {e:#}");
        std::process::exit(1);
    }
}
