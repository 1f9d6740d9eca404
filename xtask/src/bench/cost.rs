//! Sections 1–2: what a call costs under each monitor, measured in interleaved rounds (each
//! round measures every side once, in a rotating order) so that the machine's noise hits
//! every side alike.
use std::path::Path;

use anyhow::Result;

use super::{
    median,
    monitors::{Monitor, Running},
    workload,
};

/// One monitor's figures (medians over the rounds, in ns per call).
pub struct Row {
    pub name: &'static str,
    pub semop: f64,
    /// The median of its rounds' differences to the same round's run without a monitor.
    pub added: f64,
    pub getppid: f64,
    pub added_getppid: f64,
}

pub struct Cost {
    /// No monitor.
    pub base_semop: f64,
    pub base_getppid: f64,
    /// One per monitor, in the order given.
    pub rows: Vec<Row>,
}

/// `rounds` rounds of the IPC-heavy loop (`calls` semops) and the non-IPC loop (`getppid`
/// calls) with no monitor and under each of `mons`.
pub fn measure(
    mons: &[Monitor],
    ipctop: &Path,
    wl: &Path,
    rounds: usize,
    calls: &str,
    getppid: &str,
) -> Result<Cost> {
    let sides = mons.len() + 1;
    let mut semop: Vec<Vec<f64>> = vec![Vec::new(); sides];
    let mut ppid: Vec<Vec<f64>> = vec![Vec::new(); sides];
    for round in 0..rounds {
        for k in 0..sides {
            let side = (k + round) % sides;
            let mon = if side == 0 {
                None
            } else {
                Some(Running::start(&mons[side - 1], ipctop)?)
            };
            semop[side].push(workload(wl, &["burst", calls])?);
            ppid[side].push(workload(wl, &["getppid", getppid])?);
            if let Some(m) = mon {
                m.stop();
            }
        }
        eprintln!("bench: round {}/{rounds} done", round + 1);
    }
    // Pairs measured minutes apart drift with the machine's load: compare within a round.
    let paired = |v: &[Vec<f64>], i: usize| {
        let mut d: Vec<f64> = v[i].iter().zip(&v[0]).map(|(a, b)| a - b).collect();
        median(&mut d)
    };
    let rows = mons
        .iter()
        .enumerate()
        .map(|(i, m)| Row {
            name: m.name,
            semop: median(&mut semop[i + 1].clone()),
            added: paired(&semop, i + 1),
            getppid: median(&mut ppid[i + 1].clone()),
            added_getppid: paired(&ppid, i + 1),
        })
        .collect();
    Ok(Cost {
        base_semop: median(&mut semop[0]),
        base_getppid: median(&mut ppid[0]),
        rows,
    })
}
