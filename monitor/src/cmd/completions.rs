//! `ipctop completions SHELL`: a completion script (clap_complete); and the manual page
//! (clap_mangen), printed by `ipctop completions man` (a hidden value, which completion scripts
//! leave out) and written to assets/ipctop.1 by `cargo xtask man`. Both are made from the
//! command line's own definition, so they cannot drift from it: they take `ipctop`'s clap
//! `Command` from `main.rs`.
use std::io::{self, Write};

use clap::{builder::PossibleValuesParser, Command, ValueEnum};
use clap_complete::Shell;
use clap_mangen::{
    roff::{bold, roman, Roff},
    Man,
};

use crate::{cmd::examples, exit};

#[derive(Debug, clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: Target,
}

/// What to print: a shell's completion script, or the manual page.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Target {
    Bash,
    Zsh,
    Fish,
    Elvish,
    #[value(name = "powershell")]
    PowerShell,
    /// The manual page (roff), for `cargo xtask man`.
    #[value(hide = true)]
    Man,
}

/// Prints the completion script of `cli` for the shell, or its manual page.
pub fn run(args: CompletionsArgs, mut cli: Command) -> anyhow::Result<u8> {
    let shell = match args.shell {
        Target::Bash => Shell::Bash,
        Target::Zsh => Shell::Zsh,
        Target::Fish => Shell::Fish,
        Target::Elvish => Shell::Elvish,
        Target::PowerShell => Shell::PowerShell,
        Target::Man => return print(&manpage(cli)?),
    };
    // Completion scripts list a positional's hidden values too (clap_complete 4.6): offer
    // only the shells.
    let shells = Target::value_variants()
        .iter()
        .filter_map(|t| t.to_possible_value().filter(|v| !v.is_hide_set()));
    let shells = PossibleValuesParser::new(shells);
    cli = cli.mut_subcommand("completions", |c| {
        c.mut_arg("shell", |a| a.value_parser(shells))
    });
    let name = cli.get_name().to_string();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cli, name, &mut script);
    print(&script)
}

/// Writes all of `bytes` to stdout; a closed pipe (`| head`) is not an error.
fn print(bytes: &[u8]) -> anyhow::Result<u8> {
    let mut out = io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Err(e) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        _ => Ok(exit::OK),
    }
}

/// The manual's DESCRIPTION.
const DESCRIPTION: &str = "ipctop shows live what every process does with System V IPC: \
semaphore sets, shared memory segments and message queues; who holds what and who waits for it, \
leaks and deadlocks. An eBPF probe sees every IPC system call; periodic snapshots of \
/proc/sysvipc and of /proc/PID add the objects, their users and the calls in progress. \
Without a command it opens the dashboard.

Tracing needs root (or CAP_BPF). Without it, or with --no-probe, ipctop shows the snapshots \
only, and says so.";

/// The exit codes, as `exit.rs` defines them.
const EXIT_STATUS: &[(u8, &str)] = &[
    (exit::OK, "Everything went as asked."),
    (
        exit::FAILURE,
        "A runtime failure, or for report a --fail-on condition that was met.",
    ),
    (exit::USAGE, "Bad usage or unreadable input."),
    (
        exit::NO_PROBE,
        "The eBPF probe cannot run here (no permission, no BPF). The dashboard does not stop for that: it falls back to snapshots of /proc.",
    ),
];

/// One page for `ipctop` and every visible subcommand: NAME, SYNOPSIS, DESCRIPTION, OPTIONS (the
/// dashboard's), COMMANDS, EXAMPLES, then a section per subcommand (its synopsis, options and
/// examples), EXIT STATUS, ENVIRONMENT.
pub fn manpage(cli: Command) -> io::Result<Vec<u8>> {
    // NAME reads "ipctop - <about>": the about without its own "ipctop: ".
    let about = cli.get_about().map(|a| a.to_string()).unwrap_or_default();
    let about = about.strip_prefix("ipctop: ").unwrap_or(&about).to_string();
    let mut cli = cli.about(about).long_about(DESCRIPTION);
    cli.build();
    let man = Man::new(cli.clone());
    let mut page = Vec::new();
    man.render_title(&mut page)?;
    man.render_name_section(&mut page)?;
    man.render_synopsis_section(&mut page)?;
    man.render_description_section(&mut page)?;
    man.render_options_section(&mut page)?;

    let subs: Vec<&Command> = cli
        .get_subcommands()
        .filter(|s| !s.is_hide_set() && s.get_name() != "help")
        .collect();
    let mut roff = Roff::new();
    roff.control("SH", ["COMMANDS"]);
    for s in &subs {
        let about = s.get_about().map(|a| a.to_string()).unwrap_or_default();
        entry(&mut roff, format!("ipctop {}", s.get_name()), about);
    }
    examples_section(&mut roff, ("SH", "EXAMPLES"), "");
    roff.to_writer(&mut page)?;

    for s in subs {
        let name = s.get_name();
        let mut head = Roff::new();
        head.control("SH", [format!("IPCTOP {}", name.to_uppercase()).as_str()]);
        head.to_writer(&mut page)?;
        let sub = Man::new(s.clone());
        let mut part = Vec::new();
        sub.render_description_section(&mut part)?;
        sub.render_synopsis_section(&mut part)?;
        sub.render_options_section(&mut part)?;
        page.extend(demoted(&part));
        let mut roff = Roff::new();
        examples_section(&mut roff, ("SS", "Examples"), name);
        roff.to_writer(&mut page)?;
    }

    let mut roff = Roff::new();
    roff.control("SH", ["EXIT STATUS"]);
    for (code, what) in EXIT_STATUS {
        entry(&mut roff, code.to_string(), *what);
    }
    roff.control("SH", ["ENVIRONMENT"]);
    entry(
        &mut roff,
        "NO_COLOR",
        "Any non-empty value: the dashboard draws without colours.",
    );
    entry(
        &mut roff,
        "TZ",
        "The time zone of the times in trace lines and the dashboard (else /etc/localtime).",
    );
    roff.control("SH", ["SEE ALSO"]);
    roff.text([roman("ipcs(1), lsipc(1), ipcrm(1), strace(1), sysvipc(7)")]);
    roff.to_writer(&mut page)?;
    Ok(page)
}

/// The examples of `name` ("" for ipctop itself) under `heading` (`.SH EXAMPLES` or `.SS
/// Examples`); nothing when there are none.
fn examples_section(roff: &mut Roff, (mac, title): (&str, &str), name: &str) {
    let Some(examples) = examples::of(name) else {
        return;
    };
    roff.control(mac, [title]);
    for (command, what) in examples {
        entry(roff, *command, *what);
    }
}

/// A tagged paragraph: `term` in bold, `text` indented under it.
fn entry(roff: &mut Roff, term: impl Into<String>, text: impl Into<String>) {
    roff.control("TP", []);
    roff.text([bold(term)]);
    roff.text([roman(text)]);
}

/// A subcommand's rendered sections as subsections: `.SH DESCRIPTION` is dropped (the text
/// follows the subcommand's own heading), `.SH OPTIONS` becomes `.SS Options`.
fn demoted(part: &[u8]) -> Vec<u8> {
    let text = String::from_utf8_lossy(part);
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        match line.strip_prefix(".SH ") {
            Some("DESCRIPTION") => continue,
            Some(title) => {
                // "OPTIONS" → "Options" (clap_mangen's headings are ASCII).
                let t = title.trim_matches('"');
                let (first, rest) = t.split_at(t.len().min(1));
                out.push_str(&format!(".SS {first}{}\n", rest.to_lowercase()));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out.into_bytes()
}
