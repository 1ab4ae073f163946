//! Accounting read from a container's cgroup: CPU time, memory, processes, block IO.

use super::{Cgroup, CgroupError, Hierarchy, read_file};

/// CPU time used by the cgroup, in nanoseconds.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CpuStats {
    /// Total.
    pub usage_ns: u64,
    /// In user mode.
    pub user_ns: u64,
    /// In kernel mode.
    pub system_ns: u64,
}

/// Memory of the cgroup, in bytes.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct MemoryStats {
    /// Current usage (including page cache, as the kernel counts it).
    pub usage: u64,
    /// The limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// Page cache part of the usage (Docker subtracts it to show "used" memory).
    pub cache: u64,
}

/// Processes of the cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct PidsStats {
    /// How many now.
    pub current: u64,
    /// The limit, `None` when unlimited.
    pub limit: Option<u64>,
    /// How many forks the limit refused (`pids.events`, `max`).
    pub denied: u64,
}

/// Block IO of the cgroup, in bytes, summed over devices.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct BlkioStats {
    /// Read.
    pub read_bytes: u64,
    /// Written.
    pub write_bytes: u64,
}

/// Everything a cgroup accounts.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct CgroupStats {
    /// CPU.
    pub cpu: CpuStats,
    /// Memory.
    pub memory: MemoryStats,
    /// Processes.
    pub pids: PidsStats,
    /// Block IO.
    pub blkio: BlkioStats,
}

/// The value of `key` in a "key value" file (memory.stat, memory.events, cpu.stat ...).
pub fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next().and_then(|v| v.parse().ok()))
            .flatten()
    })
}

fn limit(text: &str) -> Option<u64> {
    // "max" (v2) or a huge page-aligned number (v1) mean no limit.
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|v| *v < (1u64 << 62))
}

/// The clock ticks per second of cpuacct.stat.
fn ticks_per_second() -> u64 {
    // SAFETY: sysconf has no memory effects.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

pub(super) fn read(cg: &Cgroup) -> Result<CgroupStats, CgroupError> {
    let mut s = CgroupStats::default();
    match cg.hierarchy() {
        Hierarchy::V1 { .. } => {
            if let Some(d) = cg.v1_dir("cpuacct") {
                s.cpu.usage_ns = read_file(&d, "cpuacct.usage")?.parse().unwrap_or(0);
                let stat = read_file(&d, "cpuacct.stat")?;
                let ns_per_tick = 1_000_000_000 / ticks_per_second();
                s.cpu.user_ns = keyed(&stat, "user").unwrap_or(0) * ns_per_tick;
                s.cpu.system_ns = keyed(&stat, "system").unwrap_or(0) * ns_per_tick;
            }
            if let Some(d) = cg.v1_dir("memory") {
                s.memory.usage = read_file(&d, "memory.usage_in_bytes")?.parse().unwrap_or(0);
                s.memory.limit = limit(&read_file(&d, "memory.limit_in_bytes")?);
                s.memory.cache =
                    keyed(&read_file(&d, "memory.stat")?, "total_inactive_file").unwrap_or(0);
            }
            if let Some(d) = cg.v1_dir("pids") {
                s.pids.current = read_file(&d, "pids.current")?.parse().unwrap_or(0);
                s.pids.limit = limit(&read_file(&d, "pids.max")?);
                s.pids.denied = read_file(&d, "pids.events")
                    .ok()
                    .and_then(|t| keyed(&t, "max"))
                    .unwrap_or(0);
            }
            if let Some(d) = cg.v1_dir("blkio") {
                let text = read_file(&d, "blkio.throttle.io_service_bytes").unwrap_or_default();
                for l in text.lines() {
                    let f: Vec<&str> = l.split_whitespace().collect();
                    if let [_, op, v] = f.as_slice() {
                        let v: u64 = v.parse().unwrap_or(0);
                        match *op {
                            "Read" => s.blkio.read_bytes += v,
                            "Write" => s.blkio.write_bytes += v,
                            _ => {}
                        }
                    }
                }
            }
        }
        Hierarchy::V2 { .. } => {
            let d = cg.v2_dir().unwrap_or_default();
            if let Ok(stat) = read_file(&d, "cpu.stat") {
                s.cpu.usage_ns = keyed(&stat, "usage_usec").unwrap_or(0) * 1000;
                s.cpu.user_ns = keyed(&stat, "user_usec").unwrap_or(0) * 1000;
                s.cpu.system_ns = keyed(&stat, "system_usec").unwrap_or(0) * 1000;
            }
            if let Ok(cur) = read_file(&d, "memory.current") {
                s.memory.usage = cur.parse().unwrap_or(0);
                s.memory.limit = read_file(&d, "memory.max").ok().and_then(|v| limit(&v));
                s.memory.cache = read_file(&d, "memory.stat")
                    .ok()
                    .and_then(|t| keyed(&t, "inactive_file"))
                    .unwrap_or(0);
            }
            if let Ok(cur) = read_file(&d, "pids.current") {
                s.pids.current = cur.parse().unwrap_or(0);
                s.pids.limit = read_file(&d, "pids.max").ok().and_then(|v| limit(&v));
                s.pids.denied = read_file(&d, "pids.events")
                    .ok()
                    .and_then(|t| keyed(&t, "max"))
                    .unwrap_or(0);
            }
            if let Ok(text) = read_file(&d, "io.stat") {
                for l in text.lines() {
                    for kv in l.split_whitespace().skip(1) {
                        match kv.split_once('=') {
                            Some(("rbytes", v)) => {
                                s.blkio.read_bytes += v.parse::<u64>().unwrap_or(0)
                            }
                            Some(("wbytes", v)) => {
                                s.blkio.write_bytes += v.parse::<u64>().unwrap_or(0)
                            }
                            _ => {}
                        }
                    }
                }
            }
        }
    }
    Ok(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    #[test]
    fn keyed_files() {
        assert_eq!(
            keyed("oom_kill_disable 0\nunder_oom 0\noom_kill 3\n", "oom_kill"),
            Some(3)
        );
        assert_eq!(keyed("a 1\n", "b"), None);
        assert_eq!(limit("max"), None);
        assert_eq!(limit("9223372036854771712"), None);
        assert_eq!(limit("1048576\n"), Some(1048576));
    }

    #[test]
    fn v2_stats_are_read_and_scaled() {
        let root = tempfile::tempdir().unwrap();
        let d = root.path().join("c");
        std::fs::create_dir_all(&d).unwrap();
        std::fs::write(
            d.join("cpu.stat"),
            "usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n",
        )
        .unwrap();
        std::fs::write(d.join("memory.current"), "4096\n").unwrap();
        std::fs::write(d.join("memory.max"), "max\n").unwrap();
        std::fs::write(d.join("pids.current"), "3\n").unwrap();
        std::fs::write(d.join("pids.max"), "10\n").unwrap();
        std::fs::write(
            d.join("io.stat"),
            "8:0 rbytes=100 wbytes=50 rios=1 wios=1\n8:16 rbytes=1 wbytes=2\n",
        )
        .unwrap();
        let h = Hierarchy::V2 {
            mountpoint: root.path().into(),
            own: "/".into(),
        };
        let cg = Cgroup::new(&h, Path::new("/c")).unwrap();
        let s = cg.stats().unwrap();
        assert_eq!(
            s.cpu,
            CpuStats {
                usage_ns: 1_500_000,
                user_ns: 1_000_000,
                system_ns: 500_000
            }
        );
        assert_eq!(s.memory.usage, 4096);
        assert_eq!(s.memory.limit, None);
        assert_eq!(
            s.pids,
            PidsStats {
                current: 3,
                limit: Some(10),
                denied: 0
            }
        );
        assert_eq!(
            s.blkio,
            BlkioStats {
                read_bytes: 101,
                write_bytes: 52
            }
        );
    }
}
