//! Shared measuring helpers for berth's benchmarks: run a closure many times, report
//! percentiles. Benchmarks print figures; they never assert durations.

use std::time::{Duration, Instant};

pub mod interleaved;
pub mod tools;

/// Timings of repeated runs.
pub struct Samples(pub Vec<Duration>);

impl Samples {
    /// Runs `f` `warmup` times unmeasured, then `runs` times measured.
    pub fn measure(warmup: usize, runs: usize, mut f: impl FnMut()) -> Samples {
        for _ in 0..warmup {
            f();
        }
        let mut v = Vec::with_capacity(runs);
        for _ in 0..runs {
            let t = Instant::now();
            f();
            v.push(t.elapsed());
        }
        v.sort();
        Samples(v)
    }

    /// The `p`-th percentile (0..=100).
    pub fn percentile(&self, p: f64) -> Duration {
        if self.0.is_empty() {
            return Duration::ZERO;
        }
        let idx = ((p / 100.0) * (self.0.len() - 1) as f64).round() as usize;
        self.0[idx.min(self.0.len() - 1)]
    }

    /// One line: min, median and p99 in milliseconds.
    pub fn summary(&self) -> String {
        let ms = |d: Duration| d.as_secs_f64() * 1000.0;
        format!(
            "min {:.3} ms, median {:.3} ms, p99 {:.3} ms over {} runs",
            ms(self.percentile(0.0)),
            ms(self.percentile(50.0)),
            ms(self.percentile(99.0)),
            self.0.len()
        )
    }
}

/// crun refuses hybrid cgroups unless hugetlb is a v1 hierarchy (DESIGN.md, facts of these
/// machines): mounts it when the machine is hybrid and it is not mounted yet.
pub fn ensure_hugetlb_v1() {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let hybrid = info.lines().any(|l| l.contains(" /sys/fs/cgroup/unified "));
    let mounted = info
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.split(',').any(|o| o.trim() == "hugetlb"));
    if hybrid && !mounted {
        let dir = std::path::Path::new("/sys/fs/cgroup/hugetlb");
        let _ = std::fs::create_dir(dir);
        let _ = std::process::Command::new("mount")
            .args(["-t", "cgroup", "-o", "hugetlb", "cgroup"])
            .arg(dir)
            .status();
    }
}
