//! A cgroup made for one test on the unified hierarchy (`<mount>/<top>/<leaf>`), removed
//! (leaf first) when dropped, after the processes in it are gone.
use std::{path::PathBuf, time::Duration};

pub struct TestCgroup {
    /// The outer directory (`<mount>/<top>`).
    pub top: PathBuf,
    /// The leaf, where processes go.
    pub leaf: PathBuf,
}

impl TestCgroup {
    /// Makes `<mount>/<top>-<our pid>/<leaf>`.
    pub fn new(mount: &std::path::Path, top: &str, leaf: &str) -> TestCgroup {
        let top = mount.join(format!("{top}-{}", std::process::id()));
        let leaf = top.join(leaf);
        std::fs::create_dir(&top).unwrap();
        let g = TestCgroup {
            top,
            leaf: leaf.clone(),
        };
        std::fs::create_dir(&leaf).unwrap();
        g
    }

    /// Moves `pid` into the leaf.
    pub fn enter(&self, pid: u32) {
        std::fs::write(self.leaf.join("cgroup.procs"), pid.to_string()).unwrap();
    }
}

impl Drop for TestCgroup {
    fn drop(&mut self) {
        for d in [&self.leaf, &self.top] {
            // The kernel may take a moment to let go of a dead process's cgroup.
            for _ in 0..50 {
                if std::fs::remove_dir(d).is_ok() || !d.exists() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}
