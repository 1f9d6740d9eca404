//! Issue 18, hostile input: ipctop runs as root, so these are tried as an unprivileged
//! attacker and a careful user would — links and special files planted by uid 65534 where
//! root writes a recording, process names, host names and recording fields made of escape
//! sequences, huge and NaN numbers, full disks and closed pipes, damaged recordings, FIFOs.
mod support;

use std::{
    fs,
    io::Write,
    os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt},
    path::Path,
    process::{Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use serde_json::Value;
use support::{hostile::*, *};

// ---- bugs 1 and 2: output files ----

/// Bugs 1, 2: `record -o` onto names planted in a sticky world-writable directory by uid
/// 65534 — a symlink to a root file, a dangling symlink, a FIFO, a device node, a socket, a
/// directory — is refused (exit 2, one sentence, before the probe loads, no blocking), and
/// nothing is followed, chmodded or chowned; a hard link or a file of theirs is replaced by a
/// new file of ipctop's (0600, given to SUDO_UID), the linked file untouched.
#[test]
fn planted_links_and_special_files_never_become_a_takeover() {
    if !can_trace("planted_links_and_special_files_never_become_a_takeover") {
        return;
    }
    // A /tmp of our own: root's, sticky, world-writable; and a root-only place for the victim.
    let pub_dir = TempDir::new("sticky");
    fs::set_permissions(&pub_dir.0, fs::Permissions::from_mode(0o1777)).unwrap();
    let private = TempDir::new("private");
    fs::set_permissions(&private.0, fs::Permissions::from_mode(0o700)).unwrap();
    let victim = private.join("victim");
    fs::write(&victim, "secret\n").unwrap();
    fs::set_permissions(&victim, fs::Permissions::from_mode(0o644)).unwrap();
    let victim_ino = fs::metadata(&victim).unwrap().ino();
    let not_yet = private.join("created-through-a-dangling-link");

    // What nobody plants.
    as_nobody("ln", &[Path::new("-s"), &victim, &pub_dir.join("link")]);
    as_nobody(
        "ln",
        &[Path::new("-s"), &not_yet, &pub_dir.join("dangling")],
    );
    as_nobody("mkfifo", &[&pub_dir.join("fifo")]);
    as_nobody(
        "sh",
        &[
            Path::new("-c"),
            Path::new("echo theirs > \"$0\""),
            &pub_dir.join("theirs"),
        ],
    );
    // A hard link to the victim (fs.protected_hardlinks stops nobody making one; an old
    // link or a lax machine may still leave one there) and a device node, made as root.
    fs::hard_link(&victim, pub_dir.join("hard")).unwrap();
    let null = pub_dir.join("null");
    let c = std::ffi::CString::new(null.to_str().unwrap()).unwrap();
    // SAFETY: mknod with a valid path; /dev/null's numbers.
    let r = unsafe { libc::mknod(c.as_ptr(), libc::S_IFCHR | 0o666, libc::makedev(1, 3)) };
    assert_eq!(r, 0, "mknod");
    fs::set_permissions(&null, fs::Permissions::from_mode(0o666)).unwrap();
    let _sock = std::os::unix::net::UnixListener::bind(pub_dir.join("sock")).unwrap();
    fs::create_dir(pub_dir.join("dir")).unwrap();

    let sudo = [("SUDO_UID", "65534"), ("SUDO_GID", "65534")];
    let record = |name: &str| {
        let p = pub_dir.join(name);
        let t = Instant::now();
        let r = ipctop(
            &["record", "--duration", "0.3", "-o", p.to_str().unwrap()],
            &sudo,
        );
        (r, t.elapsed())
    };

    let mut tried = 0;
    for (name, kind) in [
        ("link", "symbolic link"),
        ("dangling", "symbolic link"),
        ("fifo", "FIFO"),
        ("null", "character device"),
        ("sock", "socket"),
        ("dir", "directory"),
    ] {
        let ((code, stdout, stderr), took) = record(name);
        tried += 1;
        assert_eq!(code, Some(2), "{name}: {stderr}");
        assert!(stderr.contains(kind), "{name}: {stderr}");
        assert_eq!(
            stderr.trim().lines().count(),
            1,
            "{name}: one sentence: {stderr}"
        );
        assert!(stdout.is_empty());
        assert!(
            took < Duration::from_secs(10),
            "{name} took {took:?} (blocked?)"
        );
    }
    // Nothing was followed or changed.
    let m = fs::metadata(&victim).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "secret\n");
    assert_eq!(
        (m.mode() & 0o7777, m.uid(), m.gid()),
        (0o644, 0, 0),
        "victim untouched"
    );
    assert!(
        !not_yet.exists(),
        "nothing created through the dangling link"
    );
    let n = fs::symlink_metadata(&null).unwrap();
    assert!(n.file_type().is_char_device());
    assert_eq!(
        (n.mode() & 0o7777, n.uid(), n.rdev()),
        (0o666, 0, libc::makedev(1, 3))
    );
    assert!(fs::symlink_metadata(pub_dir.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
    assert!(fs::symlink_metadata(pub_dir.join("fifo"))
        .unwrap()
        .file_type()
        .is_fifo());

    // A hard link and a planted regular file: replaced by ipctop's own new file.
    for name in ["hard", "theirs"] {
        let before = fs::symlink_metadata(pub_dir.join(name)).unwrap().ino();
        let ((code, _, stderr), _) = record(name);
        tried += 1;
        assert_eq!(code, Some(0), "{name}: {stderr}");
        let m = fs::symlink_metadata(pub_dir.join(name)).unwrap();
        assert!(m.file_type().is_file());
        assert_ne!(
            m.ino(),
            before,
            "{name}: a new file, not the old one rewritten"
        );
        assert_eq!(m.nlink(), 1, "{name}");
        assert_eq!(
            (m.mode() & 0o7777, m.uid(), m.gid()),
            (0o600, NOBODY, NOBODY)
        );
        let (code, _, stderr) = ipctop(&["report", pub_dir.join(name).to_str().unwrap()], &[]);
        assert_eq!(code, Some(0), "{name} is a recording: {stderr}");
    }
    let m = fs::metadata(&victim).unwrap();
    assert_eq!(fs::read_to_string(&victim).unwrap(), "secret\n");
    assert_eq!(
        (m.ino(), m.mode() & 0o7777, m.uid(), m.nlink()),
        (victim_ino, 0o644, 0, 1),
        "the hard-linked file was not written, chmodded or chowned"
    );
    // No temporary file left behind.
    let left: Vec<String> = fs::read_dir(&pub_dir.0)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains(".ipctop-"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
    eprintln!("output files: {tried} cases handled");
}

// ---- bug 3: escape injection ----

/// Bug 3: a process named `ESC[2J ESC]0;PWN BEL` (prctl PR_SET_NAME, as any user can) is
/// shown escaped by `trace` (text and JSON) and `snapshot` (text and JSON).
#[test]
fn hostile_process_names_are_shown_inert() {
    if !can_trace("hostile_process_names_are_shown_inert") {
        return;
    }
    // trace: one line per call of `basic` (18 calls), each with the name escaped.
    let mut t =
        Proc::spawn(Command::new(IPCTOP).args(["trace", "--comm", HOSTILE, "--duration", "30"]));
    t.wait_stderr("ipctop: tracing", Duration::from_secs(30));
    let st = Command::new(WORKLOAD)
        .args(["--name", HOSTILE, "basic"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    thread::sleep(Duration::from_millis(500));
    t.signal(libc::SIGTERM);
    assert_eq!(t.wait(Duration::from_secs(30)), Some(0));
    let lines = t.rest(Duration::from_secs(5));
    assert_eq!(lines.len(), 18, "{lines:#?}");
    for l in &lines {
        assert!(l.contains(&format!(" {HOSTILE_SHOWN} ")), "{l}");
        assert_inert("trace", l.as_bytes());
    }

    // snapshot: a holder of attached segments under that name.
    let mut w = Proc::spawn(Command::new(WORKLOAD).args(["--name", HOSTILE, "shm-attached", "2"]));
    let v = w.json(Duration::from_secs(30));
    let mut ids = Ids::default();
    ids.shms.push(v["shmid"].as_i64().unwrap() as i32);
    let pid = v["pid"].as_u64().unwrap();
    let (code, out, err) = ipctop(&["snapshot"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_inert("snapshot", &out);
    let text = String::from_utf8_lossy(&out);
    assert!(
        text.lines()
            .any(|l| l.contains(&pid.to_string()) && l.contains(HOSTILE_SHOWN)),
        "{text}"
    );
    let (code, out, err) = ipctop(&["snapshot", "--json"], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_inert("snapshot --json", &out);
    let doc: Value = serde_json::from_slice(&out).unwrap();
    let p = doc["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == pid)
        .unwrap_or_else(|| panic!("pid {pid} in {doc}"));
    assert_eq!(
        p["comm"], HOSTILE,
        "JSON keeps the exact name, escaped the JSON way"
    );
    w.release();
    w.wait(Duration::from_secs(10));
}

/// Bug 3: a recording whose header (host, kernel, probe) carries escape sequences and C1
/// controls: `report` text shows them escaped, `report --json` keeps them as JSON escapes.
#[test]
fn hostile_recording_fields_are_shown_inert() {
    let d = TempDir::new("fields");
    let mut lines = demo_lines();
    let mut h: Value = serde_json::from_str(&lines[0]).unwrap();
    h["host"] = "\x1b]0;PWN\x07host\x1b[2J".into();
    h["kernel"] = "6.1\u{9b}31m\u{202e}".into();
    h["probe"] = "attached\x1b]52;c;cHduZWQ=\x07".into();
    lines[0] = h.to_string();
    let f = d.join("hostile.ipctop");
    write_lines(&f, &lines);
    let (code, out, err) = ipctop(&["report", f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_inert("report", &out);
    assert!(String::from_utf8_lossy(&out).contains("\\x1b]0;PWN\\x07host\\x1b[2J"));
    let (code, out, err) = ipctop(&["report", "--json", f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_inert("report --json", &out);
    let v: Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(v["recording"]["host"], h["host"]);
    assert_eq!(v["recording"]["kernel"], h["kernel"]);
}

// ---- bugs 5, 6, 10: numbers, output errors, CLI ----

/// Bugs 5, 10: huge, NaN, negative and out-of-range numbers, `--pid 0` and a dead pid are
/// usage errors: exit 2 with one sentence, never a panic, never a probe error.
#[test]
fn bad_numbers_are_usage_errors() {
    let dead = {
        let mut c = Command::new("true").spawn().unwrap();
        let pid = c.id();
        c.wait().unwrap();
        pid.to_string()
    };
    let cases: Vec<Vec<&str>> = vec![
        vec!["--interval", "1e20"],
        vec!["--interval", "NaN"],
        vec!["--long-wait", "inf"],
        vec!["--pid", "0"],
        vec!["record", "--duration", "1e20", "-o", "/tmp/never"],
        vec!["record", "--interval", "-1", "-o", "/tmp/never"],
        vec!["trace", "--duration", "1e300"],
        vec!["trace", "--duration", "18446744073709551616"],
        vec!["trace", "--duration", "1e19"],
        vec!["trace", "--duration", "NaN"],
        vec!["trace", "--buffer-mib", "4096"],
        vec!["trace", "--buffer-mib", "3"],
        vec!["trace", "--wait-ms", "NaN"],
        vec!["trace", "--pid", "0"],
        vec!["trace", "--pid", &dead],
        vec!["trace", "--pid", "-5"],
        vec!["report", "--long-wait", "NaN", "x"],
        vec!["report", "--sem-idle=-3", "x"],
        vec!["report", "--fail-on", "wait>inf", "x"],
        vec!["report", "--fail-on", "wait>1e400", "x"],
        vec!["report", "--fail-on", "wait>NaN", "x"],
        vec!["replay", "--speed", "0"],
        vec!["replay", "--speed", "1e400"],
        vec!["snapshot", "--long-wait", "NaN"],
    ];
    for args in &cases {
        let (code, out, err) = ipctop(args, &[]);
        assert_eq!(code, Some(2), "{args:?}: {err}");
        assert_no_panic(&format!("{args:?}"), &err);
        assert!(out.is_empty(), "{args:?}");
        // One sentence: clap's (with its hint line) or ipctop's own.
        assert!(
            err.starts_with("error: ")
                || (err.starts_with("ipctop: ") && err.trim().lines().count() == 1),
            "{args:?}: {err}"
        );
    }
    eprintln!("bad numbers: {} cases handled", cases.len());
}

/// Bug 6: `report > /dev/full` exits 1 naming standard output; `report --json` into a pipe
/// closed at once ends quietly with its usual status.
#[test]
fn report_output_errors_are_errors_and_a_closed_pipe_is_quiet() {
    let demo = demo_path();
    for json in [false, true] {
        let mut c = Command::new(IPCTOP);
        c.arg("report").arg(&demo);
        if json {
            c.arg("--json");
        }
        let out = c
            .stdout(
                fs::OpenOptions::new()
                    .write(true)
                    .open("/dev/full")
                    .unwrap(),
            )
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{err}");
        assert!(
            err.contains("standard output") && err.contains("No space left"),
            "{err}"
        );
        assert_no_panic("report > /dev/full", &err);

        let mut child = c
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        drop(child.stdout.take()); // the reader goes away at once (`| head -c 0`)
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(0), "{err}");
        assert_no_panic("report | closed pipe", &err);
        assert!(!err.contains("failed printing"), "{err}");
    }
}

/// Bug 6: `trace --json > /dev/full` does not claim success: it counts the calls it could
/// not write and exits 1.
#[test]
fn trace_to_a_full_disk_says_what_it_could_not_write() {
    if !can_trace("trace_to_a_full_disk_says_what_it_could_not_write") {
        return;
    }
    let name = unique_name("hfull");
    let mut t = Proc::spawn(Command::new("sh").args([
        "-c",
        &format!("exec {IPCTOP} trace --json --comm {name} --duration 30 > /dev/full"),
    ]));
    t.wait_stderr("ipctop: tracing", Duration::from_secs(30));
    let st = Command::new(WORKLOAD)
        .args(["--name", &name, "basic"])
        .stdout(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
    // It stops at the failed write (or at SIGTERM, if the write happens later).
    if t.wait(Duration::from_secs(5)).is_none() {
        t.signal(libc::SIGTERM);
    }
    let code = t.wait(Duration::from_secs(30));
    let err = t
        .wait_stderr("could not be written", Duration::from_secs(5))
        .join("\n");
    assert_eq!(code, Some(1), "{err}");
    // It stops at the first failed write: the calls received by then, all unwritten.
    let num = |before: &str| -> u64 {
        let i = err
            .find(before)
            .unwrap_or_else(|| panic!("{before:?} in {err}"));
        let head = &err[..i];
        let start = head
            .rfind(|c: char| !c.is_ascii_digit())
            .map_or(0, |j| j + 1);
        head[start..].parse().unwrap()
    };
    let traced = num(" calls traced, 0 dropped");
    let unwritten = num(" of them could not be written to standard output");
    assert!((1..=18).contains(&traced), "{err}");
    assert_eq!(unwritten, traced, "{err}");
    assert!(err.contains("No space left"), "{err}");
}

// ---- bugs 8, 9: FIFOs and damaged recordings ----

/// Bug 9: an unknown event version is refused (exit 2, one sentence); records after the end
/// mark (a reversed file) and time running backwards stop the reading, said with the line.
#[test]
fn damaged_recordings_are_refused_or_read_up_to_the_damage() {
    let d = TempDir::new("damaged");
    let lines = demo_lines();
    let mut h: Value = serde_json::from_str(&lines[0]).unwrap();
    h["event_version"] = 99.into();
    let mut v99 = lines.clone();
    v99[0] = h.to_string();
    let f = d.join("v99.ipctop");
    write_lines(&f, &v99);
    let (code, out, err) = ipctop(&["report", f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(out.is_empty());
    assert!(
        err.contains("event version 99") && err.trim().lines().count() == 1,
        "{err}"
    );

    // Reversed, with the end mark now first.
    let mut rev = vec![lines[0].clone()];
    rev.extend(lines[1..].iter().rev().cloned());
    let f = d.join("reversed.ipctop");
    write_lines(&f, &rev);
    let (code, _, err) = ipctop(&["report", f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert!(
        err.contains("stopped at line 3: records after the end mark"),
        "{err}"
    );

    // Reversed without the end mark: time runs backwards.
    let mut rev = vec![lines[0].clone()];
    rev.extend(
        lines[1..]
            .iter()
            .rev()
            .filter(|l| !l.contains("\"end\""))
            .cloned(),
    );
    let f = d.join("reversed-no-end.ipctop");
    write_lines(&f, &rev);
    let (code, out, err) = ipctop(&["report", "--json", f.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    // (A kernel delta before any whole sample, or time backwards: the first line that tells.)
    assert!(
        err.contains("time runs backwards")
            || err.contains("a kernel delta with no whole kernel sample"),
        "{err}"
    );
    let v: Value = serde_json::from_slice(&out).unwrap();
    let said = v["stopped_early"].as_str().unwrap();
    assert!(
        said.contains("time runs backwards") || said.contains("a kernel delta"),
        "the report itself says where it stopped: {v}"
    );

    // The demo itself reads to its end mark without damage.
    let (code, v, err) = {
        let (c, o, e) = ipctop(&["report", "--json", demo_path().to_str().unwrap()], &[]);
        (c, serde_json::from_slice::<Value>(&o).unwrap(), e)
    };
    assert_eq!(code, Some(0), "{err}");
    assert!(v["stopped_early"].is_null(), "{v}");
}

/// Bug 8: `report` on a FIFO with no writer says it waits, then reads what comes.
#[test]
fn a_fifo_without_a_writer_is_waited_for_aloud() {
    let d = TempDir::new("fifo");
    let fifo = d.join("fifo");
    let c = std::ffi::CString::new(fifo.to_str().unwrap()).unwrap();
    // SAFETY: valid path.
    assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
    let mut r = Proc::spawn(Command::new(IPCTOP).arg("report").arg(&fifo));
    r.wait_stderr("waiting for a writer", Duration::from_secs(10));
    let text = demo_lines().join("\n") + "\n";
    let f2 = fifo.clone();
    let writer = thread::spawn(move || {
        let mut w = fs::OpenOptions::new().write(true).open(f2).unwrap();
        w.write_all(text.as_bytes()).unwrap();
    });
    assert_eq!(r.wait(Duration::from_secs(30)), Some(0));
    writer.join().unwrap();
    let out = r.rest(Duration::from_secs(5)).join("\n");
    assert!(out.contains("Calls (judged): 60066"), "{out}");
    // replay reads a file more than once (to seek): a pipe is refused at once.
    let (code, _, err) = ipctop(&["replay", fifo.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("not a regular file"), "{err}");
}

/// Bugs 6, 10: a recording that fills its file system ends with exit 1 and a sentence naming
/// the file; an output where no file can be made (`/proc/version`) is refused before the
/// probe loads, saying why.
#[test]
fn recording_write_failures_name_the_file() {
    if !can_trace("recording_write_failures_name_the_file") {
        return;
    }
    let (code, _, err) = ipctop(&["record", "--duration", "1", "-o", "/proc/version"], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert_eq!(
        err.trim().lines().count(),
        1,
        "refused before the probe: {err}"
    );
    assert!(
        err.contains("/proc/version") && err.contains("takes no new files"),
        "{err}"
    );

    // A 64 KiB tmpfs of our own (in a private mount namespace), filled by --every-call.
    let d = TempDir::new("full");
    let rec = d.join("rec");
    let out = Command::new("timeout")
        .args(["60", "unshare", "--mount", "--propagation", "private", "sh", "-c"])
        .arg(format!(
            "mount -t tmpfs -o size=64k tmpfs {} && exec {IPCTOP} record --every-call -o {} -- {WORKLOAD} burst 200000 > /dev/null",
            d.0.display(),
            rec.display()
        ))
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "writing the recording {}: No space left",
            rec.display()
        )),
        "{err}"
    );
    assert_no_panic("record on a full disk", &err);
}

/// Bug 3: a host name made of escapes (set in a UTS namespace of our own) is recorded as
/// is and shown escaped by `report`.
#[test]
fn a_hostile_host_name_is_shown_inert() {
    if !can_trace("a_hostile_host_name_is_shown_inert") {
        return;
    }
    let d = TempDir::new("host");
    let rec = d.join("rec.ipctop");
    let st = Command::new("timeout")
        .args(["60", "unshare", "--uts", "sh", "-c"])
        .arg(format!(
            "printf 'h\\033]0;PWN\\007\\033[2J' > /proc/sys/kernel/hostname && exec {IPCTOP} record --duration 0.3 -o {} 2>/dev/null",
            rec.display()
        ))
        .status()
        .unwrap();
    assert!(st.success());
    let (code, out, err) = ipctop(&["report", rec.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    assert_inert("report", &out);
    assert!(
        String::from_utf8_lossy(&out).contains(" on h\\x1b]0;PWN\\x07\\x1b[2J "),
        "{}",
        String::from_utf8_lossy(&out)
    );
}
