//! What `ipctop-workload basic` must look like through `ipctop trace --json`: the 18 calls in
//! order with their decoded arguments, return values and the summary. Shared by the probe's
//! integration tests (monitor/tests/probe_real.rs) and `cargo xtask vm-smoke` (which includes
//! this file), so that other kernels are held to exactly the same expectations.
#![allow(dead_code)]

use serde_json::{json, Value};

/// The calls `ipctop-workload basic` makes, in order.
pub const BASIC_CALLS: [&str; 18] = [
    "semget",
    "semctl",
    "semctl",
    "semtimedop",
    "semtimedop",
    "semop",
    "shmget",
    "shmat",
    "shmdt",
    "shmctl",
    "msgget",
    "msgsnd",
    "msgrcv",
    "msgctl",
    "semctl",
    "shmctl",
    "msgctl",
    "semctl",
];

/// What differs between the trace of `basic` and what it did (`wl`: its JSON line); empty when
/// everything matches. Arguments are checked too: a field read at the wrong offset shows here.
pub fn check_basic(wl: &Value, ev: &[Value], summary: &Value) -> Vec<String> {
    let mut p = Vec::new();
    let names: Vec<&str> = ev
        .iter()
        .map(|e| e["syscall"].as_str().unwrap_or("?"))
        .collect();
    if names != BASIC_CALLS {
        p.push(format!("calls {names:?}, expected {BASIC_CALLS:?}"));
        return p;
    }
    let mut eq = |what: &str, got: &Value, want: Value| {
        if *got != want {
            p.push(format!("{what} = {got}, expected {want}"));
        }
    };
    let (pid, semid, shmid, msqid) = (&wl["pid"], &wl["semid"], &wl["shmid"], &wl["msqid"]);
    for (i, e) in ev.iter().enumerate() {
        eq(&format!("#{i} pid"), &e["pid"], pid.clone());
        eq(&format!("#{i} tid"), &e["tid"], pid.clone());
        eq(&format!("#{i} uid"), &e["uid"], json!(0));
        if e["duration_ns"].as_u64().is_none() {
            eq(
                &format!("#{i} duration_ns"),
                &e["duration_ns"],
                json!("a number"),
            );
        }
        let errno = if i == 17 {
            json!("EINVAL")
        } else {
            Value::Null
        };
        eq(&format!("#{i} errno"), &e["errno"], errno);
    }
    let a = |i: usize| &ev[i]["args"];
    eq("semget key", &a(0)["key"], json!(0));
    eq("semget nsems", &a(0)["nsems"], json!(3));
    eq("semget flags", &a(0)["flags"], json!(["IPC_CREAT"]));
    eq("semget mode", &a(0)["mode"], json!("0600"));
    eq("semget ret", &ev[0]["ret"], semid.clone());
    eq("semctl cmd", &a(1)["cmd"], json!("SETVAL"));
    eq("semctl semnum", &a(1)["semnum"], json!(1));
    eq("semctl arg", &a(1)["arg"], json!(5));
    eq("semctl GETVAL ret", &ev[2]["ret"], json!(5));
    eq("semop semid", &a(3)["semid"], semid.clone());
    eq("semop nsops", &a(3)["nsops"], json!(2));
    eq(
        "semop sops",
        &a(3)["sops"],
        json!([{"sem_num":1,"sem_op":-1,"sem_flg":["SEM_UNDO"]},{"sem_num":2,"sem_op":1,"sem_flg":["IPC_NOWAIT"]}]),
    );
    eq("semop timeout", &a(3)["timeout_ns"], Value::Null);
    eq(
        "semtimedop timeout",
        &a(4)["timeout_ns"],
        json!(1_500_000_000u64),
    );
    eq(
        "semtimedop sops",
        &a(4)["sops"],
        json!([{"sem_num":1,"sem_op":1,"sem_flg":[]}]),
    );
    eq(
        "raw semop sops",
        &a(5)["sops"],
        json!([{"sem_num":0,"sem_op":0,"sem_flg":["IPC_NOWAIT"]}]),
    );
    eq("shmget size", &a(6)["size"], json!(8192));
    eq("shmget ret", &ev[6]["ret"], shmid.clone());
    eq("shmat shmid", &a(7)["shmid"], shmid.clone());
    eq("shmat ret", &ev[7]["ret"], wl["shmaddr"].clone());
    eq("shmdt shmaddr", &a(8)["shmaddr"], wl["shmaddr"].clone());
    eq("shmctl cmd", &a(9)["cmd"], json!("IPC_STAT"));
    eq("msgget ret", &ev[10]["ret"], msqid.clone());
    eq("msgsnd mtype", &a(11)["mtype"], json!(7));
    eq("msgsnd msgsz", &a(11)["msgsz"], json!(16));
    eq("msgrcv msgsz", &a(12)["msgsz"], json!(64));
    eq("msgrcv ret", &ev[12]["ret"], json!(16));
    for i in 14..17 {
        eq(&format!("#{i} cmd"), &a(i)["cmd"], json!("IPC_RMID"));
    }
    eq("EINVAL ret", &ev[17]["ret"], json!(-1));
    eq("EINVAL semid", &a(17)["semid"], semid.clone());
    eq("summary total", &summary["total"], json!(18));
    eq("summary dropped", &summary["dropped"], json!(0));
    eq("summary kernel_calls", &summary["kernel_calls"], json!(18));
    eq("summary semctl", &summary["by_syscall"]["semctl"], json!(4));
    eq(
        "summary semtimedop",
        &summary["by_syscall"]["semtimedop"],
        json!(2),
    );
    eq("summary semop", &summary["by_syscall"]["semop"], json!(1));
    p
}
