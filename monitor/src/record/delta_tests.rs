//! The delta encoding: samples rebuilt whole, identities, retired rows and fill, random runs,
//! format 2 read.
use super::*;
use crate::sample::KernelStats;

fn row(pid: u32, id: Option<i32>, calls: u64) -> Aggregate {
    Aggregate {
        pid,
        id,
        syscall: Syscall::SEMOP,
        calls,
        errors: 0,
        total_ns: calls * 10,
        max_ns: 10,
        last_ns: calls,
        hist: [calls; HIST_BUCKETS],
        ..Default::default()
    }
}

fn sample(rows: Vec<Aggregate>, holds: Vec<Hold>, n: u64) -> KernelSample {
    let mut stats = KernelStats::default();
    stats.calls[0] = n;
    KernelSample {
        stats,
        aggregates: rows,
        holds,
        undecodable: n / 2,
        ..Default::default()
    }
}

/// Samples that grow, lose rows, change holds and stand still come back whole, and a
/// delta carries only what moved.
#[test]
fn deltas_rebuild_every_sample() {
    let hold = |held| Hold {
        semid: 1,
        semnum: 0,
        pid: 5,
        held,
        ..Default::default()
    };
    let samples = [
        sample(vec![row(5, Some(1), 1), row(6, None, 2)], vec![hold(1)], 1),
        sample(vec![row(5, Some(1), 3), row(6, None, 2)], vec![hold(1)], 2),
        sample(vec![row(5, Some(1), 3), row(7, Some(2), 1)], vec![], 3),
        sample(vec![row(5, Some(1), 3), row(7, Some(2), 1)], vec![], 4),
        // Counts that go down (never seen; still exact).
        sample(vec![row(5, Some(1), 2), row(7, Some(2), 1)], vec![], 5),
        sample(vec![], vec![hold(2)], 6),
    ];
    let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
    for (i, k) in samples.iter().enumerate() {
        let back = match enc.encode(k) {
            Encoded::Whole => {
                assert_eq!(i, 0, "only the first sample is written whole");
                dec.whole(k);
                k.clone()
            }
            Encoded::Delta(d) => {
                if i == 1 {
                    assert!(d.set.is_empty() && d.gone.is_empty() && d.holds.is_none());
                    assert_eq!(d.moved.len(), 1);
                    let c = d.moved[0].change();
                    assert_eq!((c.key.pid, c.calls), (5, 2));
                }
                if i == 2 {
                    assert_eq!(d.set, vec![(&row(7, Some(2), 1)).into()]);
                    assert_eq!(
                        d.gone,
                        vec![DiskKey::Full(6, None, None, None, None, Syscall::SEMOP)]
                    );
                }
                if i == 3 {
                    assert!(d.set.is_empty() && d.moved.is_empty() && d.gone.is_empty());
                    assert!(d.holds.is_none());
                }
                let json = serde_json::to_string(&d).unwrap();
                dec.apply(serde_json::from_str(&json).unwrap()).unwrap()
            }
        };
        assert_eq!(back.aggregates, k.aggregates, "sample {i}");
        assert_eq!(back.holds, k.holds, "sample {i}");
        assert_eq!(back.stats, k.stats, "sample {i}");
        assert_eq!(back.undecodable, k.undecodable, "sample {i}");
    }
}

/// Rows of one pid in two namespaces and of two processes that had the pid in turn are
/// rows of their own; retired keys, a row begun anew after its key was retired, and the
/// tables' fill come back whole.
#[test]
fn identities_retired_rows_and_fill_round_trip() {
    let with = |calls, start, ns, ns_id| Aggregate {
        start,
        ipc_ns: ns,
        ns_id,
        interrupted: calls / 2,
        ended: calls / 3,
        ..row(5, Some(0), calls)
    };
    let fill = |n| crate::sample::TableFill {
        agg: (n, 512),
        holds: (1, 512),
        threads: (2, 32768),
    };
    let a = with(1, Some(100), Some(4026531839), Some(1));
    let b = with(2, Some(100), Some(4026532000), Some(7));
    let c = with(3, Some(900), Some(4026532000), Some(7));
    let old = with(9, Some(50), Some(4026531839), Some(1));
    let mut s0 = sample(vec![a, b, old], vec![], 1);
    s0.fill = Some(fill(3));
    // `old` retired with its final counts; c new.
    let mut s1 = sample(
        vec![with(4, Some(100), Some(4026531839), Some(1)), b, c, old],
        vec![],
        2,
    );
    s1.retired = vec![old.key()];
    s1.fill = Some(fill(3));
    // A row of `old`'s key again, begun anew after the retirement.
    let mut s2 = sample(
        vec![a, b, c, with(1, Some(50), Some(4026531839), Some(1))],
        vec![],
        3,
    );
    s2.fill = Some(fill(4));
    // Ordered by key, as the probe gives them (and the decoder rebuilds them).
    for k in [&mut s0, &mut s1, &mut s2] {
        k.aggregates.sort_by_key(Aggregate::key);
    }
    let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
    assert!(matches!(enc.encode(&s0), Encoded::Whole));
    dec.whole(&s0);
    for (i, k) in [&s1, &s2].into_iter().enumerate() {
        let Encoded::Delta(d) = enc.encode(k) else {
            panic!("a delta")
        };
        if i == 1 {
            // Begun anew: whole, not a difference to the retired row.
            assert!(d.set.iter().any(|r| r.start == Some(50)), "{d:?}");
        }
        let json = serde_json::to_string(&d).unwrap();
        let back = dec.apply(serde_json::from_str(&json).unwrap()).unwrap();
        assert_eq!(back.aggregates, k.aggregates, "sample {i}");
        assert_eq!(back.retired, k.retired, "sample {i}");
        assert_eq!(back.fill, k.fill, "sample {i}");
        assert_eq!(back.aggregates.len(), 4);
    }
}

/// Property: any run of samples — rows of random identities (some unknown) that grow,
/// go, are retired and begin anew, holds and fill that change — comes back whole through
/// deltas written as JSON (a xorshift generator, fixed seeds).
#[test]
fn random_runs_of_samples_round_trip() {
    for seed in 1..=40u64 {
        let mut x = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15);
        let mut rnd = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let (mut enc, mut dec) = (Encoder::default(), Decoder::default());
        let mut rows: BTreeMap<RowKey, Aggregate> = BTreeMap::new();
        for i in 0..12 {
            // Retire some, grow some, add some.
            let mut retired = Vec::new();
            for k in rows.keys().copied().collect::<Vec<_>>() {
                match rnd(5) {
                    0 => retired.push(k),
                    1 | 2 => {
                        let r = rows.get_mut(&k).unwrap();
                        r.calls += 1 + rnd(3);
                        r.ended += rnd(2);
                        r.hist[rnd(HIST_BUCKETS as u64) as usize] += 1;
                    }
                    _ => {}
                }
            }
            for _ in 0..rnd(4) {
                let opt = |v: u64, some: bool| some.then_some(v);
                let a = Aggregate {
                    pid: 1 + rnd(3) as u32,
                    start: opt(100 + rnd(2), rnd(4) != 0),
                    ipc_ns: opt(4_026_531_839 + rnd(2), rnd(4) != 0),
                    ns_id: opt(1 + rnd(2), rnd(3) != 0),
                    id: (rnd(3) != 0).then(|| rnd(3) as i32),
                    syscall: Syscall::from_index(rnd(12) as u8).unwrap(),
                    calls: 1 + rnd(5),
                    interrupted: rnd(2),
                    ..Default::default()
                };
                rows.entry(a.key()).or_insert(a);
            }
            let mut k = sample(rows.values().copied().collect(), vec![], i);
            k.retired = retired.clone();
            k.fill = (rnd(2) == 0).then_some(crate::sample::TableFill {
                agg: (rows.len() as u64, 64),
                holds: (rnd(9), 64),
                threads: (rnd(9), 32_768),
            });
            if rnd(3) == 0 {
                k.holds = vec![Hold {
                    pid: 1,
                    semid: rnd(2) as i32,
                    taken: rnd(4),
                    given: rnd(4),
                    ..Default::default()
                }];
            }
            let back = match enc.encode(&k) {
                Encoded::Whole => {
                    dec.whole(&k);
                    k.clone()
                }
                Encoded::Delta(d) => {
                    let json = serde_json::to_string(&d).unwrap();
                    dec.apply(serde_json::from_str(&json).unwrap()).unwrap()
                }
            };
            assert_eq!(back.aggregates, k.aggregates, "seed {seed} sample {i}");
            assert_eq!(back.retired, k.retired, "seed {seed} sample {i}");
            assert_eq!(back.holds, k.holds, "seed {seed} sample {i}");
            assert_eq!(back.fill, k.fill, "seed {seed} sample {i}");
            for r in retired {
                rows.remove(&r);
            }
        }
    }
}

/// A format-2 delta (rows keyed by pid, id and syscall; moved rows as flat lists) reads.
#[test]
fn format_2_deltas_read() {
    let base = sample(vec![row(5, Some(1), 1), row(6, None, 2)], vec![], 1);
    let mut dec = Decoder::default();
    dec.whole(&base);
    let v2 = r#"{"stats":{"calls":[3],"errors":[0],"dropped":0,"inflight_full":0,"agg_full":0,"sent":0},"undecodable":0,"moved":[[5,1,"semop",2,0,20,10,3,[[0,2]]]],"gone":[[6,null,"semop"]]}"#;
    let d: KernelDelta = serde_json::from_str(v2).unwrap();
    let k = dec.apply(d).unwrap();
    assert_eq!(k.aggregates.len(), 1);
    let r = k.aggregates[0];
    assert_eq!(
        (r.pid, r.id, r.calls, r.total_ns, r.hist[0]),
        (5, Some(1), 3, 30, 3)
    );
    assert_eq!((r.start, r.ipc_ns, r.interrupted), (None, None, 0));
    assert!(k.retired.is_empty() && k.fill.is_none());
}

#[test]
fn duplicate_keys_are_written_whole_and_a_delta_needs_a_base() {
    let mut enc = Encoder::default();
    let dup = sample(vec![row(5, Some(1), 1), row(5, Some(1), 2)], vec![], 1);
    assert!(matches!(enc.encode(&dup), Encoded::Whole));
    assert!(matches!(enc.encode(&dup), Encoded::Whole));
    let ok = sample(vec![row(5, Some(1), 1)], vec![], 1);
    assert!(matches!(enc.encode(&ok), Encoded::Whole));
    assert!(matches!(enc.encode(&ok), Encoded::Delta(_)));
    assert!(Decoder::default().apply(KernelDelta::default()).is_err());
}
