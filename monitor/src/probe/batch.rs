//! Reading a whole hash map in a few system calls (`BPF_MAP_LOOKUP_BATCH`, Linux ≥ 5.6)
//! instead of two per entry (`get_next_key` and a lookup, as aya's iterators do): at 16,384
//! `AGG` entries that was 32,768 calls a walk. The kernel walks the map bucket by bucket, so
//! an entry deleted meanwhile does not make it start over (aya's iterator does, see
//! `Probe::slots`): every key comes at most once a walk. Where batches are refused (an older
//! kernel), the callers fall back to aya's iterators.
use std::{
    cell::UnsafeCell,
    os::fd::{AsFd, AsRawFd},
};

use aya::maps::Map;

const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;

/// Entries asked for in one call (the buffers hold this many keys and values).
const CHUNK: usize = 1024;

#[repr(C)]
struct BatchAttr {
    in_batch: u64,
    out_batch: u64,
    keys: u64,
    values: u64,
    count: u32,
    map_fd: u32,
    elem_flags: u64,
    flags: u64,
}

/// Why a walk did not end.
#[derive(Debug)]
pub(super) enum Error {
    /// Before anything was read: this kernel takes no batches of this map.
    Refused,
    /// Midway.
    Failed(std::io::Error),
}

impl From<Error> for anyhow::Error {
    fn from(e: Error) -> Self {
        match e {
            Error::Refused => anyhow::anyhow!("the kernel refused a batched map read"),
            Error::Failed(e) => anyhow::anyhow!("a batched map read failed midway: {e}"),
        }
    }
}

/// Calls `f` with every entry of hash map `map` (per-CPU or not): its key and its value, or
/// its values one per possible CPU for a per-CPU map. `K` and `V` must be the map's key and
/// value types. `Err(Refused)`: the kernel refused batches before `f` was called (the
/// caller iterates instead); `Err(Failed)`: a later call failed, after `f` saw part of the map.
pub(super) fn for_each<K: aya::Pod, V: aya::Pod>(
    map: &Map,
    mut f: impl FnMut(K, &[V]),
) -> Result<(), Error> {
    let (data, per_cpu) = match map {
        Map::HashMap(d) => (d, false),
        Map::PerCpuHashMap(d) => (d, true),
        _ => return Err(Error::Refused),
    };
    // The kernel lays per-CPU values out at an 8-byte stride: V's own size here.
    if per_cpu && !std::mem::size_of::<V>().is_multiple_of(8) {
        return Err(Error::Refused);
    }
    let ncpu = if per_cpu {
        aya::util::nr_cpus().map_err(|_| Error::Refused)?
    } else {
        1
    };
    let fd = data.fd().as_fd().as_raw_fd() as u32;
    if std::mem::align_of::<K>() > 8 || std::mem::align_of::<V>() > 8 {
        return Err(Error::Refused);
    }
    let mut chunk = CHUNK;
    // The buffers are this thread's, kept from one walk to the next: allocated (and, above
    // the allocator's mmap threshold, mapped and unmapped) at every walk they were most of an
    // idle dashboard's in-flight scan, ten times a second. Taken out while `f` runs.
    let mut buf = BUFFERS.with(std::cell::Cell::take);
    let r = walk(fd, &mut buf, &mut chunk, ncpu, &mut f);
    BUFFERS.with(|b| b.set(buf));
    r
}

thread_local! {
    /// The keys' and values' buffers of [`for_each`], in 8-byte words.
    static BUFFERS: std::cell::Cell<(Vec<u64>, Vec<u64>)> = const { std::cell::Cell::new((Vec::new(), Vec::new())) };
}

/// Words of 8 bytes for `n` values of `T`.
fn words<T>(n: usize) -> usize {
    (n * std::mem::size_of::<T>()).div_ceil(8)
}

fn walk<K: aya::Pod, V: aya::Pod>(
    fd: u32,
    (keys, vals): &mut (Vec<u64>, Vec<u64>),
    chunk: &mut usize,
    ncpu: usize,
    f: &mut impl FnMut(K, &[V]),
) -> Result<(), Error> {
    // The bucket to go on from (a u32 for hash maps).
    let (mut token, next) = (0u64, UnsafeCell::new(0u64));
    let mut first = true;
    loop {
        // Grown once and kept (zeroed only when grown: the kernel fills what it returns).
        if keys.len() < words::<K>(*chunk) {
            keys.resize(words::<K>(*chunk), 0);
        }
        if vals.len() < words::<V>(*chunk * ncpu) {
            vals.resize(words::<V>(*chunk * ncpu), 0);
        }
        let attr = UnsafeCell::new(BatchAttr {
            in_batch: if first {
                0
            } else {
                std::ptr::addr_of!(token) as u64
            },
            out_batch: next.get() as u64,
            keys: keys.as_mut_ptr() as u64,
            values: vals.as_mut_ptr() as u64,
            count: *chunk as u32,
            map_fd: fd,
            elem_flags: 0,
            flags: 0,
        });
        let r = super::caps::bpf(BPF_MAP_LOOKUP_BATCH, &attr);
        // SAFETY: the kernel wrote back, through the pointers it was given, how many entries
        // it filled and where to go on from; nothing else holds them.
        let n = (unsafe { (*attr.get()).count } as usize).min(*chunk);
        let end = match r {
            Ok(_) => false,
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => true,
            // One bucket holds more entries than were asked for: ask for more.
            Err(e) if e.raw_os_error() == Some(libc::ENOSPC) && n == 0 && *chunk < 1 << 20 => {
                *chunk *= 2;
                continue;
            }
            Err(_) if first => return Err(Error::Refused),
            Err(e) => return Err(Error::Failed(e)),
        };
        // SAFETY: the kernel wrote `n` keys and `n` values (per CPU) of the map's sizes, K's
        // and V's, plain old data, within the buffers (sized above for `chunk` of each, on
        // 8-byte boundaries, which K's and V's alignments divide: checked by the caller).
        let (ks, vs) = unsafe {
            (
                std::slice::from_raw_parts(keys.as_ptr() as *const K, n),
                std::slice::from_raw_parts(vals.as_ptr() as *const V, n * ncpu),
            )
        };
        for (i, k) in ks.iter().enumerate() {
            f(*k, &vs[i * ncpu..(i + 1) * ncpu]);
        }
        if end {
            return Ok(());
        }
        // SAFETY: as above.
        token = unsafe { *next.get() };
        first = false;
    }
}
