//! The package: `cargo deb -p monitor` builds a .deb that installs (`dpkg -i`) on this machine
//! and runs `ipctop snapshot`; its systemd unit passes `systemd-analyze verify`, and its
//! system call filter allows every call `ipctop serve` makes (strace of a real one, probe
//! attached, scraped, stopped) with only the unit's capabilities (setpriv). The package is
//! purged at the end, whatever happens. Also, without root: the completions the package
//! ships are what `ipctop completions SHELL` prints.
//!
//! Needs root, cargo-deb (`cargo xtask setup` installs it), dpkg, systemd-analyze and strace.
mod serve_support;
mod support;

use std::{
    collections::BTreeSet,
    path::{Path, PathBuf},
    process::{Command, Output},
    time::Duration,
};

use serve_support::*;
use support::*;

const T: Duration = Duration::from_secs(60);

fn run(cmd: &mut Command) -> Output {
    let o = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    o
}

fn ok(cmd: &mut Command) -> String {
    let o = run(cmd);
    assert!(
        o.status.success(),
        "{cmd:?}: {}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn the_completions_shipped_are_current() {
    for (shell, file) in [
        ("bash", "assets/completions/ipctop.bash"),
        ("zsh", "assets/completions/_ipctop"),
        ("fish", "assets/completions/ipctop.fish"),
    ] {
        let now = ok(Command::new(IPCTOP).args(["completions", shell]));
        let shipped = std::fs::read_to_string(repo().join(file)).unwrap_or_default();
        assert!(
            now == shipped,
            "{file} is not what `ipctop completions {shell}` prints: run `cargo xtask man`"
        );
    }
}

/// The package installed; purged on drop.
struct Installed;

impl Drop for Installed {
    fn drop(&mut self) {
        let _ = Command::new("dpkg").args(["--purge", "ipctop"]).output();
    }
}

/// `dpkg ARGS`, again while another dpkg holds its lock (up to a minute).
fn dpkg(args: &[&str]) -> Output {
    let mut tries = 0;
    loop {
        let o = run(Command::new("dpkg").args(args));
        let locked = String::from_utf8_lossy(&o.stderr).contains("lock");
        if o.status.success() || !locked || tries == 30 {
            return o;
        }
        tries += 1;
        std::thread::sleep(Duration::from_secs(2));
    }
}

/// Every system call a `SystemCallFilter=` line allows (groups expanded by systemd).
fn allowed_by(filter: &str) -> BTreeSet<String> {
    fn expand(item: &str, out: &mut BTreeSet<String>) {
        if !item.starts_with('@') {
            out.insert(item.to_string());
            return;
        }
        let listing = String::from_utf8_lossy(
            &run(Command::new("systemd-analyze").args(["syscall-filter", item])).stdout,
        )
        .into_owned();
        for l in listing.lines().skip(1) {
            let l = l.trim();
            if l.is_empty() || l.starts_with('#') {
                continue;
            }
            expand(l.split_whitespace().next().unwrap(), out);
        }
    }
    let mut out = BTreeSet::new();
    for item in filter.split_whitespace() {
        expand(item, &mut out);
    }
    out
}

/// The system call names in an strace log (`strace -f -o`), each once, from the exec of
/// `program` on (what ran before it, setpriv, is not it).
fn syscalls_in(log: &Path, program: &str) -> BTreeSet<String> {
    let text = std::fs::read_to_string(log).unwrap();
    let exec = format!("execve(\"{program}\"");
    let from = text
        .lines()
        .position(|l| l.contains(&exec))
        .unwrap_or_else(|| panic!("no {exec} in the strace log"));
    text.lines()
        .skip(from + 1)
        .filter_map(|l| {
            // "1234  name(args…) = …", "1234  <... name resumed>…"
            let rest = l.split_once(' ')?.1.trim_start();
            let rest = rest.strip_prefix("<... ").unwrap_or(rest);
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            (!name.is_empty() && !rest.starts_with("+++") && !rest.starts_with("---"))
                .then_some(name)
        })
        .collect()
}

/// A process started under another (setpriv under strace): killed on drop, so that it never
/// outlives the test.
struct ChildOf(i32);

impl ChildOf {
    /// The child of `parent` whose comm is `comm` (waited for).
    fn find(parent: u32, comm: &str) -> ChildOf {
        let found = eventually(&format!("{comm}, a child of {parent}"), T, || {
            std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
                let pid: i32 = e.file_name().to_str()?.parse().ok()?;
                let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
                let (name, rest) = stat.split_once(" (")?.1.rsplit_once(") ")?;
                let ppid: u32 = rest.split_whitespace().nth(1)?.parse().ok()?;
                (ppid == parent && name == comm).then_some(pid)
            })
        });
        ChildOf(found)
    }

    fn signal(&self, sig: i32) {
        // SAFETY: a process this test started.
        unsafe { libc::kill(self.0, sig) };
    }
}

impl Drop for ChildOf {
    fn drop(&mut self) {
        self.signal(libc::SIGKILL);
    }
}

#[test]
fn the_deb_installs_runs_and_its_unit_is_sound() {
    const NAME: &str = "serve_deb";
    if !can_trace(NAME) {
        return;
    }
    for tool in ["cargo-deb", "dpkg", "systemd-analyze", "strace", "setpriv"] {
        if !have(tool) {
            skip(NAME, &format!("{tool} is needed (cargo xtask setup)"));
            return;
        }
    }
    let dir = TempDir::new("deb");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ok(Command::new(cargo)
        .current_dir(repo())
        .args(["deb", "-p", "monitor", "--output"])
        .arg(&dir.0));
    let deb: PathBuf = std::fs::read_dir(&dir.0)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .expect("a .deb");
    // What it holds.
    let listing = ok(Command::new("dpkg-deb").arg("-c").arg(&deb));
    for f in [
        "./usr/bin/ipctop",
        "./usr/share/man/man1/ipctop.1.gz",
        "./usr/share/bash-completion/completions/ipctop",
        "./usr/share/zsh/vendor-completions/_ipctop",
        "./usr/share/fish/vendor_completions.d/ipctop.fish",
        "./usr/lib/systemd/system/ipctop.service",
        "./usr/share/ipctop/prometheus/ipctop-rules.yml",
        "./usr/share/ipctop/grafana/ipctop-dashboard.json",
    ] {
        assert!(listing.contains(f), "the package lacks {f}:\n{listing}");
    }
    assert!(
        !listing.contains("ipctop-workload"),
        "the test helper is not shipped"
    );

    let installed = Installed;
    let o = dpkg(&["-i", deb.to_str().unwrap()]);
    assert!(
        o.status.success(),
        "dpkg -i: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    // The binary is stripped, and it works.
    let file = ok(Command::new("file").arg("-L").arg("/usr/bin/ipctop"));
    assert!(
        file.contains("stripped") && !file.contains("not stripped"),
        "{file}"
    );
    let size = std::fs::metadata("/usr/bin/ipctop").unwrap().len();
    eprintln!(
        "serve_deb: {} ({} bytes), /usr/bin/ipctop {size} bytes",
        deb.display(),
        std::fs::metadata(&deb).unwrap().len()
    );
    let snap = ok(Command::new("/usr/bin/ipctop").args(["snapshot", "--json"]));
    let v: serde_json::Value = serde_json::from_str(&snap).expect("snapshot --json");
    assert!(
        v.get("limits").is_some() || v.get("sem").is_some(),
        "{snap}"
    );
    assert!(ok(Command::new("man").args(["-w", "ipctop"])).contains("ipctop.1"));
    // Enabled by the package's scripts.
    assert!(Path::new("/etc/systemd/system/multi-user.target.wants/ipctop.service").exists());

    // The unit as installed.
    let unit = "/usr/lib/systemd/system/ipctop.service";
    let o = run(Command::new("systemd-analyze").args(["verify", unit]));
    let said = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "systemd-analyze verify: {said}");
    assert!(
        !said.contains("ipctop.service:"),
        "systemd-analyze verify: {said}"
    );

    // Its system call filter and capabilities against a real `ipctop serve`.
    let text = std::fs::read_to_string(unit).unwrap();
    let key = |k: &str| -> String {
        text.lines()
            .filter_map(|l| l.strip_prefix(&format!("{k}=")))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let allowed = allowed_by(&key("SystemCallFilter"));
    assert!(
        allowed.contains("bpf") && allowed.contains("read"),
        "{allowed:?}"
    );
    let caps: Vec<String> = key("CapabilityBoundingSet")
        .split_whitespace()
        .map(|c| format!("+{}", c.trim_start_matches("CAP_").to_lowercase()))
        .collect();
    let log = dir.join("strace.log");
    let port = free_port();
    let serve = Proc::spawn(
        Command::new("strace")
            .args(["-f", "-qq", "-o"])
            .arg(&log)
            .arg("setpriv")
            .arg(format!("--bounding-set=-all,{}", caps.join(",")))
            .args(["/usr/bin/ipctop", "serve", "--interval", "0.5", "--listen"])
            .arg(format!("127.0.0.1:{port}")),
    );
    let ipctop = ChildOf::find(serve.pid(), "ipctop");
    let line = serve.wait_stderr("ipctop: serving", T).pop().unwrap();
    assert!(
        line.contains("probe attached"),
        "with the unit's capabilities: {line}"
    );
    let blocked = Proc::spawn(Command::new(WORKLOAD).arg("sem-blocked"));
    let mut ids = Ids::default();
    ids.sems
        .push(blocked.json(T)["semid"].as_i64().unwrap() as i32);
    eventually("a scrape with the blocked waiter", T, || {
        let a = request(port, "GET", "/metrics", &[("Accept-Encoding", "gzip")])?;
        let text = gunzip(&a.body);
        (value(&text, "ipctop_blocked_threads", &[("kind", "sem")])? >= 1.0).then_some(())
    });
    // SIGTERM to ipctop itself (strace would only detach): it ends, and strace with it.
    ipctop.signal(libc::SIGTERM);
    let mut serve = serve;
    assert!(
        serve.wait(T).is_some(),
        "ipctop serve did not end on SIGTERM"
    );
    drop(blocked);
    let made = syscalls_in(&log, "/usr/bin/ipctop");
    assert!(made.contains("bpf"), "strace saw no bpf: {made:?}");
    let outside: Vec<&String> = made.iter().filter(|s| !allowed.contains(*s)).collect();
    assert!(
        outside.is_empty(),
        "ipctop serve made system calls its unit's SystemCallFilter does not allow: {outside:?}"
    );

    drop(installed);
    assert!(!Path::new("/usr/bin/ipctop").exists(), "purged");
    assert!(!Path::new("/etc/systemd/system/multi-user.target.wants/ipctop.service").exists());
}
