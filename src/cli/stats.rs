//! `berth stats`: live resource usage of the project's containers, with Docker's columns
//! (CONTAINER ID, NAME, CPU %, MEM USAGE / LIMIT, MEM %, NET I/O, BLOCK I/O, PIDS), from the
//! runtime's cgroup accounting, as `docker compose stats`.

use super::GlobalOptions;
use super::lifecycle::Session;
use super::template::{Format, write_rows};
use crate::engine::state::{ContainerRecord, RecordedState};
use berth_runtime::container::{Runtime, Stats};
use clap::Args;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `berth stats`.
#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Show all containers (default shows just running)
    #[arg(short, long)]
    pub all: bool,
    /// Format output: table, json, or a Go template ({{.Name}}\t{{.CPUPerc}})
    #[arg(long, default_value = "table")]
    pub format: String,
    /// Disable streaming stats and only pull the first result
    #[arg(long)]
    pub no_stream: bool,
    /// Do not truncate output
    #[arg(long)]
    pub no_trunc: bool,
    /// Services whose containers to show (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// Docker's default `stats` table.
pub const TABLE: &str = "{{.ID}}\t{{.Name}}\t{{.CPUPerc}}\t{{.MemUsage}}\t{{.MemPerc}}\t\
                         {{.NetIO}}\t{{.BlockIO}}\t{{.PIDs}}";

/// Docker's header of each field.
pub const HEADERS: &[(&str, &str)] = &[
    ("ID", "CONTAINER ID"),
    ("Container", "CONTAINER"),
    ("Name", "NAME"),
    ("CPUPerc", "CPU %"),
    ("MemUsage", "MEM USAGE / LIMIT"),
    ("MemPerc", "MEM %"),
    ("NetIO", "NET I/O"),
    ("BlockIO", "BLOCK I/O"),
    ("PIDs", "PIDS"),
];

/// Go's `%.<precision>g` for the non-negative numbers sizes are (no exponent form).
pub fn general(value: f64, precision: usize) -> String {
    if value <= 0.0 || !value.is_finite() {
        return "0".into();
    }
    let digits = value.log10().floor() as i64 + 1;
    let decimals = (precision as i64 - digits).max(0) as usize;
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_string();
    }
    text
}

fn scaled(bytes: u64, base: f64, units: &[&str], precision: usize) -> String {
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= base && unit + 1 < units.len() {
        value /= base;
        unit += 1;
    }
    format!("{}{}", general(value, precision), units[unit])
}

/// Binary size as Docker's memory column shows it (`1.98MiB`).
pub fn binary_size(bytes: u64) -> String {
    scaled(
        bytes,
        1024.0,
        &["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"],
        4,
    )
}

/// Decimal size as Docker's I/O columns show it (`1.2kB`).
pub fn decimal_size(bytes: u64) -> String {
    scaled(bytes, 1000.0, &["B", "kB", "MB", "GB", "TB", "PB", "EB"], 3)
}

/// A container's usage at one moment, with the machine's CPU time then.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The container's usage.
    pub stats: Stats,
    /// The machine's CPU time (all CPUs, all modes), in nanoseconds.
    pub system_ns: u64,
}

/// The machine's CPU time so far, in nanoseconds, and its number of CPUs (/proc/stat).
pub fn system_cpu() -> (u64, u64) {
    let text = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    // SAFETY: sysconf reads a constant.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    let ticks = if ticks > 0 { ticks as u64 } else { 100 };
    let mut total = 0;
    let mut cpus = 0;
    for l in text.lines() {
        if let Some(rest) = l.strip_prefix("cpu ") {
            // user nice system idle iowait irq softirq steal: what Docker counts.
            total = rest
                .split_whitespace()
                .take(8)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum::<u64>();
        } else if l.starts_with("cpu") {
            cpus += 1;
        }
    }
    (total * (1_000_000_000 / ticks), cpus.max(1))
}

/// The machine's memory (the limit Docker shows for an unlimited container).
fn machine_memory() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| {
            t.lines().find_map(|l| {
                let kb: u64 = l
                    .strip_prefix("MemTotal:")?
                    .trim()
                    .strip_suffix("kB")?
                    .trim()
                    .parse()
                    .ok()?;
                Some(kb * 1024)
            })
        })
        .unwrap_or(0)
}

/// One row of the table: `now` and the previous sample for the CPU share.
pub fn row(
    record: &ContainerRecord,
    now: Option<&Sample>,
    before: Option<&Sample>,
    cpus: u64,
    machine_memory: u64,
    no_trunc: bool,
) -> Value {
    let id = if no_trunc {
        record.id.clone()
    } else {
        record.id.chars().take(12).collect()
    };
    let (mut cpu, mut used, mut limit, mut mem_perc) = (0.0, 0, 0, 0.0);
    let (mut rx, mut tx, mut read, mut write, mut pids) = (0, 0, 0, 0, 0);
    if let Some(s) = now {
        let cg = &s.stats.cgroup;
        if let Some(b) = before {
            let cpu_delta = cg.cpu.usage_ns.saturating_sub(b.stats.cgroup.cpu.usage_ns);
            let sys_delta = s.system_ns.saturating_sub(b.system_ns);
            if sys_delta > 0 {
                cpu = cpu_delta as f64 / sys_delta as f64 * cpus as f64 * 100.0;
            }
        }
        used = cg.memory.usage.saturating_sub(cg.memory.cache);
        limit = cg.memory.limit.unwrap_or(machine_memory);
        if limit > 0 {
            mem_perc = used as f64 / limit as f64 * 100.0;
        }
        for n in s.stats.networks.iter().filter(|n| n.interface != "lo") {
            rx += n.rx_bytes;
            tx += n.tx_bytes;
        }
        read = cg.blkio.read_bytes;
        write = cg.blkio.write_bytes;
        pids = cg.pids.current;
    }
    json!({
        "BlockIO": format!("{} / {}", decimal_size(read), decimal_size(write)),
        "CPUPerc": format!("{cpu:.2}%"),
        "Container": id,
        "ID": id,
        "MemPerc": format!("{mem_perc:.2}%"),
        "MemUsage": format!("{} / {}", binary_size(used), binary_size(limit)),
        "Name": record.name,
        "NetIO": format!("{} / {}", decimal_size(rx), decimal_size(tx)),
        "PIDs": pids.to_string(),
    })
}

/// Samples every running container of `records`.
fn sample(runtime: &Runtime, records: &[ContainerRecord]) -> BTreeMap<String, Sample> {
    let (system_ns, _) = system_cpu();
    records
        .iter()
        .filter(|r| r.status.state == RecordedState::Running)
        .filter_map(|r| {
            // A container that stopped meanwhile shows zeros.
            let stats = runtime.load(&r.id).ok()?.stats().ok()?;
            Some((r.id.clone(), Sample { stats, system_ns }))
        })
        .collect()
}

/// Runs `berth stats`.
pub fn run(global: &GlobalOptions, args: &StatsArgs) -> anyhow::Result<ExitCode> {
    let format = Format::parse(&args.format);
    let mut session = Session::open(global, false)?;
    session.check_services(&args.services)?;
    session.unlock();
    let runtime = Runtime::new(session.ctx.machine.state.runtime_dir())?;
    let memory = machine_memory();
    let (_, cpus) = system_cpu();
    let listing = |session: &Session| -> anyhow::Result<Vec<ContainerRecord>> {
        let mut records = session.containers(&args.services, false)?;
        if !args.all {
            records.retain(|r| r.status.state == RecordedState::Running);
        }
        Ok(records)
    };
    let mut records = listing(&session)?;
    let mut before = sample(&runtime, &records);
    let terminal = std::io::stdout().is_terminal();
    loop {
        // CPU % is a share of a second's time, as Docker's first figure is.
        std::thread::sleep(Duration::from_secs(1));
        let now = sample(&runtime, &records);
        let rows: Vec<Value> = records
            .iter()
            .map(|r| {
                row(
                    r,
                    now.get(&r.id),
                    before.get(&r.id),
                    cpus,
                    memory,
                    args.no_trunc,
                )
            })
            .collect();
        let text = write_rows(&format, TABLE, HEADERS, &rows)?;
        let mut out = std::io::stdout().lock();
        if !args.no_stream && terminal {
            // Docker redraws the table in place.
            write!(out, "\x1b[2J\x1b[H")?;
        }
        out.write_all(text.as_bytes())?;
        out.flush()?;
        if args.no_stream {
            return Ok(ExitCode::SUCCESS);
        }
        drop(out);
        records = listing(&session)?;
        before = now;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_docker_prints_them() {
        assert_eq!(binary_size(0), "0B");
        assert_eq!(binary_size(512), "512B");
        assert_eq!(binary_size(2_076_672), "1.98MiB");
        assert_eq!(binary_size(8 * 1024 * 1024 * 1024), "8GiB");
        assert_eq!(decimal_size(1234), "1.23kB");
        assert_eq!(decimal_size(648), "648B");
        assert_eq!(general(7.7656, 4), "7.766");
    }
}
