//! The snapshot document and tables carry what the findings say.
use super::*;

#[test]
fn json_has_the_issue_fields() {
    let mut s = snap();
    s.shm.push(shm(1, 500, 0, NOW - 10));
    s.sem.push(sem(30, &[(0, 1, 901)], NOW - 5));
    s.msg.push(msg(20, 3, 800, 0));
    let mut a = proc_(901, NOW - 100);
    a.waits = Some(vec![sem_wait(901, 30, 0, -1)]);
    s.processes.push(a);
    let m = model(&s);
    let f = analyze(&m, &Config::default());
    let doc = serde_json::to_value(crate::cmd::snapshot::to_json(&m, &f)).unwrap();
    assert_eq!(doc["schema_version"], 2);
    let has = |v: &serde_json::Value, keys: &[&str]| {
        for k in keys {
            assert!(v.get(k).is_some(), "no {k} in {v}");
        }
    };
    has(
        &doc["shm_segments"][0],
        &[
            "shmid",
            "key",
            "size",
            "perms",
            "owner_uid",
            "nattch",
            "attached_pids",
            "creator_pid",
            "creator_alive",
            "last_pid",
            "marked_for_destroy",
            "hugetlb",
        ],
    );
    assert_eq!(doc["shm_segments"][0]["perms"], "0600");
    has(
        &doc["semaphore_sets"][0],
        &["semid", "key", "nsems", "perms", "owner_uid", "semaphores"],
    );
    has(
        &doc["semaphore_sets"][0]["semaphores"][0],
        &[
            "semnum",
            "value",
            "ncnt",
            "zcnt",
            "last_pid",
            "holders_role",
        ],
    );
    has(
        &doc["message_queues"][0],
        &[
            "msqid",
            "key",
            "qnum",
            "qbytes",
            "last_send_pid",
            "last_recv_pid",
        ],
    );
    has(
        &doc["processes"][0],
        &["pid", "comm", "uid", "attached_shmids"],
    );
    has(
        &doc["waits"][0],
        &[
            "pid", "kind", "semid", "semnum", "sem_op", "since_s", "waited_s",
        ],
    );
    assert_eq!(doc["waits"][0]["kind"], "sem");
    assert!(doc["waits"][0]["since_s"].is_null());
    has(&doc["leaks"][0], &["kind", "id", "reason"]);
    assert_eq!(doc["leaks"][0]["kind"], "shm");
    has(&doc, &["deadlocks", "limits", "ipc_namespace", "unknown"]);
    // Every finding with its kind, namespace and container.
    has(&doc["findings"][0], &["kind", "reason", "ipc_ns"]);
    // The tables render too.
    let t = crate::cmd::snapshot::tables(&m, &f);
    assert!(t.contains("leak shm 1"), "{t}");
}
