//! The command line's conventions: `--help` with examples for every command, shell completions
//! that load in bash and complete, and the manual page (assets/ipctop.1) current and rendering
//! with man(1) without warnings. No root needed.
use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

const IPCTOP: &str = env!("CARGO_BIN_EXE_ipctop");

fn ipctop(args: &[&str]) -> Output {
    Command::new(IPCTOP)
        .args(args)
        .output()
        .expect("run ipctop")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The visible commands, as `ipctop --help` lists them (without `help`).
fn commands() -> Vec<String> {
    let help = stdout(&ipctop(&["--help"]));
    let list = help
        .split("Commands:\n")
        .nth(1)
        .and_then(|r| r.split("\n\n").next())
        .expect("a Commands: section");
    let names: Vec<String> = list
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|n| *n != "help")
        .map(str::to_string)
        .collect();
    assert!(names.len() >= 6, "{names:?}");
    names
}

/// The words bash completes after `words` (the last one being completed), with the script of
/// `ipctop completions bash` sourced in a fresh bash.
fn bash_complete(script: &Path, words: &[&str]) -> Vec<String> {
    let quoted: Vec<String> = words.iter().map(|w| format!("'{w}'")).collect();
    let prog = format!(
        "source '{}' || exit 9\n\
         complete -p ipctop >/dev/null || exit 8\n\
         COMP_WORDS=({})\n\
         COMP_CWORD={}\n\
         COMP_LINE=\"${{COMP_WORDS[*]}}\"\n\
         COMP_POINT=${{#COMP_LINE}}\n\
         _ipctop ipctop \"${{COMP_WORDS[COMP_CWORD]}}\" \"${{COMP_WORDS[COMP_CWORD-1]}}\"\n\
         printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script.display(),
        quoted.join(" "),
        words.len() - 1
    );
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &prog])
        .output()
        .expect("bash");
    assert!(
        out.status.success(),
        "bash: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out).lines().map(str::to_string).collect()
}

struct TempFile(PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

#[test]
fn every_command_has_examples_in_its_help() {
    let top = stdout(&ipctop(&["--help"]));
    assert!(top.contains("\nExamples:\n  sudo ipctop\n"), "{top}");
    for c in commands() {
        let o = ipctop(&[&c, "--help"]);
        assert!(o.status.success(), "{c} --help: {:?}", o.status);
        let help = stdout(&o);
        let examples = help
            .split("\nExamples:\n")
            .nth(1)
            .unwrap_or_else(|| panic!("`ipctop {c} --help` has no examples:\n{help}"));
        assert!(
            examples.contains(&format!("  ipctop {c}"))
                || examples.contains(&format!("  sudo ipctop {c}")),
            "the examples of {c} do not run it:\n{examples}"
        );
    }
}

#[test]
fn bash_completion_loads_and_completes_commands_options_and_shells() {
    let o = ipctop(&["completions", "bash"]);
    assert!(o.status.success());
    let script = TempFile(
        std::env::temp_dir().join(format!("ipctop-completion-{}.bash", std::process::id())),
    );
    std::fs::write(&script.0, &o.stdout).unwrap();

    let words = bash_complete(&script.0, &["ipctop", ""]);
    for c in commands() {
        assert!(words.contains(&c), "{c} not completed: {words:?}");
    }
    assert!(words.contains(&"--no-probe".to_string()), "{words:?}");
    // A prefix narrows it; a subcommand's own options follow it.
    assert_eq!(bash_complete(&script.0, &["ipctop", "sn"]), ["snapshot"]);
    let trace = bash_complete(&script.0, &["ipctop", "trace", "--"]);
    for opt in ["--json", "--notable", "--pid", "--duration"] {
        assert!(trace.contains(&opt.to_string()), "{opt}: {trace:?}");
    }
    assert!(!trace.contains(&"--no-probe".to_string()), "{trace:?}");
    // The shells, and not the hidden `man`.
    let shells = bash_complete(&script.0, &["ipctop", "completions", ""]);
    for s in ["bash", "zsh", "fish"] {
        assert!(shells.contains(&s.to_string()), "{shells:?}");
    }
    assert!(!shells.contains(&"man".to_string()), "{shells:?}");
}

#[test]
fn completions_for_other_shells_and_a_clear_error_for_an_unknown_one() {
    for (shell, marker) in [
        ("zsh", "#compdef ipctop"),
        ("fish", "complete -c ipctop"),
        ("elvish", "ipctop"),
        ("powershell", "ipctop"),
    ] {
        let o = ipctop(&["completions", shell]);
        assert!(o.status.success(), "{shell}");
        assert!(stdout(&o).contains(marker), "{shell}");
    }
    let o = ipctop(&["completions", "tcsh"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("invalid value 'tcsh'"));
}

fn page_path() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../assets/ipctop.1")
}

#[test]
fn the_shipped_man_page_is_current() {
    let o = ipctop(&["completions", "man"]);
    assert!(o.status.success());
    let shipped = std::fs::read(page_path()).unwrap_or_default();
    assert!(
        shipped == o.stdout,
        "assets/ipctop.1 is not what `ipctop completions man` prints: run `cargo xtask man`"
    );
}

#[test]
fn man_renders_the_page_with_every_command_and_no_warnings() {
    let out = Command::new("man")
        .args(["--warnings", "-l"])
        .arg(page_path())
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "80")
        .env("LANG", "C.UTF-8")
        .output()
        .expect("man(1) (package man-db, installed by cargo xtask setup)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.is_empty(), "{stderr}");
    let text = stdout(&out);
    for section in [
        "NAME",
        "SYNOPSIS",
        "DESCRIPTION",
        "OPTIONS",
        "COMMANDS",
        "EXAMPLES",
        "EXIT STATUS",
    ] {
        assert!(
            text.contains(&format!("\n{section}\n")),
            "{section}:\n{text}"
        );
    }
    for c in commands() {
        let heading = format!("\nIPCTOP {}\n", c.to_uppercase());
        assert!(text.contains(&heading), "no section for {c}:\n{text}");
    }
    assert!(!text.contains("IPCTOP HELP"), "{text}");
}
