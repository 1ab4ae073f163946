//! What can be observed of a running container: its processes (`top`) and its resource usage
//! (`stats`: the cgroup's accounting and the network namespace's counters).

use super::cgroups::CgroupStats;
use super::error::ContainerError;
use super::lifecycle::Container;

/// A process in the container, as `top` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ProcessInfo {
    /// Pid (in the runtime's pid namespace).
    pub pid: i32,
    /// Parent pid.
    pub ppid: i32,
    /// Real user id.
    pub uid: u32,
    /// State letter (R, S, Z ...).
    pub state: String,
    /// Command line.
    pub command: String,
}

/// Network counters of one interface of the container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct NetStats {
    /// Interface name.
    pub interface: String,
    /// Bytes received.
    pub rx_bytes: u64,
    /// Packets received.
    pub rx_packets: u64,
    /// Bytes sent.
    pub tx_bytes: u64,
    /// Packets sent.
    pub tx_packets: u64,
}

/// Resource usage of a container.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Stats {
    /// From the cgroup: CPU, memory, processes, block IO.
    pub cgroup: CgroupStats,
    /// Per interface of the container's network namespace.
    pub networks: Vec<NetStats>,
}

/// Parses /proc/PID/net/dev.
pub fn parse_net_dev(text: &str) -> Vec<NetStats> {
    text.lines()
        .skip(2)
        .filter_map(|l| {
            let (name, rest) = l.split_once(':')?;
            let f: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|v| v.parse().ok())
                .collect();
            (f.len() >= 10).then(|| NetStats {
                interface: name.trim().to_string(),
                rx_bytes: f[0],
                rx_packets: f[1],
                tx_bytes: f[8],
                tx_packets: f[9],
            })
        })
        .collect()
}

impl Container {
    /// The container's processes.
    pub fn top(&self) -> Result<Vec<ProcessInfo>, ContainerError> {
        let mut out = Vec::new();
        for pid in self.state.cgroup.pids()? {
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                continue;
            };
            let Some(close) = stat.rfind(')') else {
                continue;
            };
            let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let uid = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
                .unwrap_or(0);
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut command = cmdline
                .split(|b| *b == 0)
                .filter(|s| !s.is_empty())
                .map(|s| String::from_utf8_lossy(s).into_owned())
                .collect::<Vec<_>>()
                .join(" ");
            if command.is_empty() {
                let open = stat.find('(').unwrap_or(0);
                command = format!("[{}]", &stat[open + 1..close]);
            }
            out.push(ProcessInfo {
                pid,
                ppid: fields.get(1).and_then(|v| v.parse().ok()).unwrap_or(0),
                uid,
                state: fields.first().map(|s| s.to_string()).unwrap_or_default(),
                command,
            });
        }
        out.sort_by_key(|p| p.pid);
        Ok(out)
    }

    /// Resource usage: the cgroup's accounting and the network namespace's counters.
    pub fn stats(&self) -> Result<Stats, ContainerError> {
        let cgroup = self.state.cgroup.stats()?;
        let networks = std::fs::read_to_string(format!("/proc/{}/net/dev", self.pid()))
            .map(|t| parse_net_dev(&t))
            .unwrap_or_default();
        Ok(Stats { cgroup, networks })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_dev_is_parsed() {
        let text = "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     140       2    0    0    0     0          0         0      140       2    0    0    0     0       0          0\n  eth0: 1000 10 0 0 0 0 0 0 2000 20 0 0 0 0 0 0\n";
        let s = parse_net_dev(text);
        assert_eq!(s.len(), 2);
        assert_eq!(
            s[1],
            NetStats {
                interface: "eth0".into(),
                rx_bytes: 1000,
                rx_packets: 10,
                tx_bytes: 2000,
                tx_packets: 20
            }
        );
    }
}
