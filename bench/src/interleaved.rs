//! Throughput measured in interleaved rounds, for comparing paths on a machine that other
//! work shares: every case runs once per round, the order reversed every other round (ABBA),
//! so drift in the machine's load falls on all cases alike. Each round also records how much
//! CPU the rest of the machine used meanwhile, so a reader (or a filter) can tell a slow path
//! from a busy machine.

use std::time::Duration;

/// One run of one case.
#[derive(Clone, Copy, Debug)]
pub struct Round {
    /// Bytes per second.
    pub rate: f64,
    /// CPU time of this process per GiB moved: with both ends of a stream in this process,
    /// that is the path's cost (including the softirq work the kernel charges to them).
    pub cpu_per_gib: Duration,
    /// Share of the machine's CPU (0..1, all cores) used by other processes during the round.
    pub foreign_load: f64,
}

const GIB: f64 = 1024.0 * 1024.0 * 1024.0;

/// Runs `rounds` rounds over `cases` cases; `stream(i)` runs case `i` once and returns the
/// bytes it moved and how long that took. Returns the rounds of each case, in order.
pub fn run(
    cases: usize,
    rounds: usize,
    mut stream: impl FnMut(usize) -> Result<(u64, Duration), String>,
) -> Result<Vec<Vec<Round>>, String> {
    let mut results = vec![Vec::with_capacity(rounds); cases];
    for round in 0..rounds {
        let order: Vec<usize> = if round % 2 == 0 {
            (0..cases).collect()
        } else {
            (0..cases).rev().collect()
        };
        for i in order {
            let (cpu, machine) = (process_cpu(), machine_ticks());
            let (bytes, elapsed) = stream(i)?;
            let cpu = process_cpu().saturating_sub(cpu);
            let foreign_load = match (machine, machine_ticks()) {
                (Some(before), Some(after)) => foreign(before, after, cpu),
                _ => f64::NAN,
            };
            results[i].push(Round {
                rate: bytes as f64 / elapsed.as_secs_f64().max(1e-9),
                cpu_per_gib: cpu.div_f64((bytes as f64 / GIB).max(1e-9)),
                foreign_load,
            });
        }
    }
    Ok(results)
}

/// User and system time of this process so far.
pub fn process_cpu() -> Duration {
    // SAFETY: a zeroed rusage is a valid value for getrusage to fill in.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: the pointer is valid for the call; RUSAGE_SELF cannot fail.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    let tv = |t: libc::timeval| {
        Duration::from_secs(t.tv_sec.max(0) as u64) + Duration::from_micros(t.tv_usec.max(0) as u64)
    };
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// The machine's busy and total CPU time so far, in clock ticks, from /proc/stat.
fn machine_ticks() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().find(|l| l.starts_with("cpu "))?;
    let fields: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal (guest time is already in user).
    let total: u64 = fields.iter().take(8).sum();
    let idle = fields.get(3)? + fields.get(4).copied().unwrap_or(0);
    Some((total - idle, total))
}

fn foreign(before: (u64, u64), after: (u64, u64), own: Duration) -> f64 {
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    let busy = after.0.saturating_sub(before.0) as f64 / hz;
    let total = after.1.saturating_sub(before.1) as f64 / hz;
    if total <= 0.0 {
        return f64::NAN;
    }
    ((busy - own.as_secs_f64()) / total).clamp(0.0, 1.0)
}

/// Restricts the calling thread (and the threads it spawns from now on) to the CPUs in
/// `cpus`, or to every CPU for an empty slice. Pinning the two ends of a stream to CPUs of
/// their own takes the scheduler's placement out of the comparison: unpinned, a round where
/// both ends (and the softirq work) share one CPU is far slower than one where they do not.
pub fn pin_current_thread(cpus: &[usize]) -> Result<(), String> {
    // SAFETY: an all-zero cpu_set_t is the empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let all: Vec<usize> = if cpus.is_empty() {
        (0..online_cpus()).collect()
    } else {
        cpus.to_vec()
    };
    for cpu in all {
        // SAFETY: CPU_SET only writes inside the set; cpu is checked against its size.
        if cpu < libc::CPU_SETSIZE as usize {
            unsafe { libc::CPU_SET(cpu, &mut set) };
        }
    }
    // SAFETY: the set is valid for the call; 0 is the calling thread.
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc == 0 {
        Ok(())
    } else {
        Err(format!(
            "sched_setaffinity {cpus:?}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

/// How many CPUs are online.
pub fn online_cpus() -> usize {
    // SAFETY: sysconf has no preconditions.
    unsafe { libc::sysconf(libc::_SC_NPROCESSORS_ONLN) }.max(1) as usize
}

/// The median (the mean of the middle two for an even count); 0 for none.
pub fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => 0.0,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// Smallest and largest value.
pub fn range(values: &[f64]) -> (f64, f64) {
    values
        .iter()
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(*v), hi.max(*v))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_ranges() {
        assert_eq!(median(vec![]), 0.0);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(vec![4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(range(&[2.0, 5.0, 1.0]), (1.0, 5.0));
    }

    #[test]
    fn rounds_alternate_their_order() {
        let mut seen = Vec::new();
        let rounds = run(3, 2, |i| {
            seen.push(i);
            Ok((1 << 20, Duration::from_millis(10)))
        })
        .unwrap();
        assert_eq!(seen, [0, 1, 2, 2, 1, 0]);
        assert_eq!(rounds.len(), 3);
        assert!(rounds.iter().all(|r| r.len() == 2));
        let rate = rounds[0][0].rate;
        assert!((rate - 100.0 * 1048576.0).abs() < 1.0, "{rate}");
    }

    #[test]
    fn foreign_load_excludes_this_process() {
        // SAFETY: sysconf has no preconditions.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        // 2 s on 2 cores (4 s of CPU), 3 s busy of which 1 s was this process: 2/4 foreign.
        let load = foreign((0, 0), (3 * hz, 4 * hz), Duration::from_secs(1));
        assert!((load - 0.5).abs() < 1e-9, "{load}");
        assert!(foreign((0, 0), (0, 0), Duration::ZERO).is_nan());
    }
}
