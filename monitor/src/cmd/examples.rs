//! Examples of the dashboard and of each subcommand, written once: shown after `--help` and in
//! the manual page (`ipctop manpage`, assets/ipctop.1).
use clap::Command;

/// A command line and what it does.
pub type Example = (&'static str, &'static str);

/// The examples by subcommand name; "" is `ipctop` itself (the dashboard). A visible
/// subcommand without an entry here fails the CLI tests.
const EXAMPLES: &[(&str, &[Example])] = &[
    (
        "",
        &[
            ("sudo ipctop", "The live dashboard (? for the keys, q to quit)."),
            (
                "ipctop --no-probe",
                "Without root: snapshots of /proc only, no calls.",
            ),
            (
                "sudo ipctop --pid 4242 --long-wait 2",
                "One process's calls; waits of 2 s or more are flagged.",
            ),
            (
                "sudo ipctop --record session.ipctop.zst",
                "Watch and record at once (replay it later with `ipctop replay`).",
            ),
        ],
    ),
    (
        "trace",
        &[
            ("sudo ipctop trace", "Every System V IPC call, strace-like."),
            (
                "sudo ipctop trace --pid 4242 --json",
                "One process's calls, one JSON object per line and a summary at the end.",
            ),
            (
                "sudo ipctop trace --notable --wait-ms 10",
                "Only failures, creates, removals, attaches, control commands and waits of 10 ms or more.",
            ),
            (
                "sudo ipctop trace --comm postgres --duration 30",
                "The calls of tasks named postgres, for 30 seconds.",
            ),
        ],
    ),
    (
        "snapshot",
        &[
            (
                "sudo ipctop snapshot",
                "The objects, who uses them, waits, leaks and deadlocks, as tables.",
            ),
            (
                "sudo ipctop snapshot --json | jq .leaks",
                "The same as JSON, here only the leaks.",
            ),
            (
                "sudo ipctop snapshot --ipc-ns 4242",
                "The IPC namespace of process 4242 (a container's).",
            ),
        ],
    ),
    (
        "record",
        &[
            (
                "sudo ipctop record -o run.ipctop.zst --duration 60",
                "One minute of the whole machine, compressed.",
            ),
            (
                "sudo ipctop record -o test.ipctop.zst -- ./run-tests.sh",
                "For the command's lifetime; ipctop exits with its status.",
            ),
            (
                "sudo ipctop record -o all.ipctop --every-call --pid 4242",
                "Every call of one process (larger files).",
            ),
        ],
    ),
    (
        "report",
        &[
            (
                "ipctop report run.ipctop.zst",
                "Calls, failures, contention, leaks and deadlocks over the whole recording.",
            ),
            (
                "ipctop report run.ipctop.zst --json",
                "The same as one JSON document.",
            ),
            (
                "ipctop report run.ipctop.zst --fail-on 'leak,deadlock,wait>30'",
                "Exit 1, naming each condition met: a gate for CI.",
            ),
        ],
    ),
    (
        "replay",
        &[
            ("ipctop replay", "The built-in demo in the dashboard."),
            (
                "ipctop replay run.ipctop.zst --speed 4",
                "A recording, four times as fast (space pauses).",
            ),
        ],
    ),
    (
        "serve",
        &[
            (
                "sudo ipctop serve",
                "Metrics for Prometheus on http://127.0.0.1:9632/metrics.",
            ),
            (
                "sudo ipctop serve --listen 0.0.0.0:9632 --interval 5",
                "Scrapable from other machines; a new exposition every 5 s (15 by default).",
            ),
            (
                "sudo ipctop serve --ipc-ns 4242 --max-objects 500",
                "A container's IPC namespace, at most 500 objects with series of their own.",
            ),
            (
                "sudo ipctop serve --listen :9632 --web.config.file /etc/ipctop/web.yml",
                "Every address, with TLS and basic authentication (exporter toolkit format).",
            ),
        ],
    ),
    (
        "completions",
        &[
            (
                "ipctop completions bash > ~/.local/share/bash-completion/completions/ipctop",
                "Completion for bash (loaded by bash-completion on first use).",
            ),
            (
                "ipctop completions zsh > ~/.zfunc/_ipctop",
                "For zsh, with ~/.zfunc in $fpath before compinit.",
            ),
            (
                "ipctop completions fish > ~/.config/fish/completions/ipctop.fish",
                "For fish.",
            ),
        ],
    ),
];

/// The examples of a subcommand ("" for `ipctop` itself).
pub fn of(name: &str) -> Option<&'static [Example]> {
    EXAMPLES.iter().find(|(n, _)| *n == name).map(|(_, e)| *e)
}

/// `ipctop`'s command with each command's examples after its help.
pub fn attach(cli: Command) -> Command {
    let mut cli = match of("") {
        Some(e) => cli.after_help(help_text(e)),
        None => cli,
    };
    let names: Vec<String> = cli
        .get_subcommands()
        .map(|s| s.get_name().to_string())
        .collect();
    for name in names {
        if let Some(e) = of(&name) {
            cli = cli.mut_subcommand(name, |s| s.after_help(help_text(e)));
        }
    }
    cli
}

/// "Examples:", then each command line indented, with what it does under it.
fn help_text(examples: &[Example]) -> String {
    let mut s = String::from("Examples:");
    for (command, what) in examples {
        s.push_str(&format!("\n  {command}\n      {what}"));
    }
    s
}
