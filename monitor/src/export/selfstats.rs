//! `ipctop serve`'s own health, as every exporter gives it (`process_*`), from /proc/self.
use std::sync::OnceLock;

use procfs::process::{LimitValue, Process};

use super::metrics::SelfStats;

/// Boot time (unix seconds): read once.
fn boot_time_s() -> u64 {
    static BOOT: OnceLock<u64> = OnceLock::new();
    *BOOT.get_or_init(|| procfs::boot_time_secs().unwrap_or(0))
}

/// CPU, memory, file descriptors, start time and threads of this process (what cannot be
/// read stays 0).
pub fn read() -> SelfStats {
    let mut s = SelfStats::default();
    let Ok(me) = Process::myself() else {
        return s;
    };
    if let Ok(stat) = me.stat() {
        let tck = procfs::ticks_per_second().max(1) as f64;
        s.cpu_s = (stat.utime + stat.stime) as f64 / tck;
        s.virtual_bytes = stat.vsize;
        s.resident_bytes = stat.rss * procfs::page_size();
        s.start_unix_s = boot_time_s() as f64 + stat.starttime as f64 / tck;
        s.threads = stat.num_threads.max(0) as u64;
    }
    s.open_fds = me.fd_count().unwrap_or(0) as u64;
    s.max_fds = me
        .limits()
        .ok()
        .and_then(|l| match l.max_open_files.soft_limit {
            LimitValue::Value(v) => Some(v),
            LimitValue::Unlimited => None,
        });
    s
}

#[cfg(test)]
mod tests {
    #[test]
    fn this_process_is_read_from_proc() {
        let s = super::read();
        assert!(s.resident_bytes > 0 && s.virtual_bytes >= s.resident_bytes);
        assert!(s.open_fds >= 3 && s.threads >= 1);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(s.start_unix_s > now - 86400.0 * 30.0 && s.start_unix_s <= now + 1.0);
    }
}
