//! `berth top`: the processes of the project's running containers, in one `ps -ef`-like
//! table as `docker compose top` prints it (`SERVICE # UID PID PPID C STIME TTY TIME CMD`).

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::state::RecordedState;
use anyhow::Context as _;
use berth_runtime::container::Runtime;
use clap::Args;
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

/// Flags of `berth top`.
#[derive(Debug, Args)]
pub struct TopArgs {
    /// Services whose processes to show (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// The columns, as `ps -ef` titles them, after Compose's SERVICE and #.
pub const TITLES: [&str; 10] = [
    "SERVICE", "#", "UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD",
];

/// What /proc/PID/stat tells `top` beyond the runtime's [`ProcessInfo`].
///
/// [`ProcessInfo`]: berth_runtime::container::ProcessInfo
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProcStat {
    /// The controlling terminal (`tty_nr`).
    pub tty: u64,
    /// User plus system CPU time, in clock ticks.
    pub cpu_ticks: u64,
    /// Start, in clock ticks after boot.
    pub start_ticks: u64,
}

/// Parses the fields after the command's closing parenthesis of /proc/PID/stat.
pub fn parse_stat(stat: &str) -> Option<ProcStat> {
    let close = stat.rfind(')')?;
    let f: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    let num = |i: usize| f.get(i).and_then(|v| v.parse::<u64>().ok());
    Some(ProcStat {
        tty: num(4)?,
        cpu_ticks: num(11)? + num(12)?,
        start_ticks: num(19)?,
    })
}

/// A terminal's name from `tty_nr` as ps shows it (`?`, `pts/0`, `tty1`).
pub fn tty_name(tty: u64) -> String {
    let major = (tty >> 8) & 0xfff;
    let minor = (tty & 0xff) | ((tty >> 12) & 0xfff00);
    match major {
        0 => "?".into(),
        136..=143 => format!("pts/{}", minor + (major - 136) * 256),
        4 if minor < 64 => format!("tty{minor}"),
        4 => format!("ttyS{}", minor - 64),
        _ => "?".into(),
    }
}

/// CPU time as ps shows it: `HH:MM:SS`, with `D-` in front past a day.
pub fn cpu_time(seconds: u64) -> String {
    let (d, h, m, s) = (
        seconds / 86_400,
        seconds % 86_400 / 3600,
        seconds % 3600 / 60,
        seconds % 60,
    );
    if d > 0 {
        format!("{d}-{h:02}:{m:02}:{s:02}")
    } else {
        format!("{h:02}:{m:02}:{s:02}")
    }
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// A start time as ps shows it (UTC): `HH:MM` within a day, else `MonDD`, else the year.
pub fn start_time(start: i64, now: i64) -> String {
    let days = start.div_euclid(86_400);
    let secs = start.rem_euclid(86_400);
    if now - start < 86_400 {
        return format!("{:02}:{:02}", secs / 3600, secs % 3600 / 60);
    }
    let (year, month, day) = crate::engine::logs::time::civil_from_days(days);
    let (now_year, _, _) = crate::engine::logs::time::civil_from_days(now.div_euclid(86_400));
    if year == now_year {
        format!("{}{day:02}", MONTHS[(month - 1) as usize])
    } else {
        year.to_string()
    }
}

/// The host's user names by uid (ps names them from the host's /etc/passwd too).
fn user_names() -> BTreeMap<u32, String> {
    std::fs::read_to_string("/etc/passwd")
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split(':');
            let name = f.next()?;
            let uid = f.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

/// The machine's boot time, seconds since the epoch.
fn boot_time() -> i64 {
    std::fs::read_to_string("/proc/stat")
        .ok()
        .and_then(|t| {
            t.lines()
                .find_map(|l| l.strip_prefix("btime ")?.trim().parse().ok())
        })
        .unwrap_or(0)
}

fn ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a constant.
    let v = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if v > 0 { v as u64 } else { 100 }
}

/// Lays out rows as Go's tabwriter (min width 4, padding 2) does for Compose's `top`.
pub fn layout(rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = Vec::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(row.len().saturating_sub(1)) {
            let w = (cell.chars().count() + 2).max(4);
            if widths.len() <= i {
                widths.push(w);
            } else {
                widths[i] = widths[i].max(w);
            }
        }
    }
    let mut out = String::new();
    for row in rows {
        for (i, cell) in row.iter().enumerate() {
            out.push_str(cell);
            if i + 1 < row.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] - cell.chars().count()));
            }
        }
        out.push('\n');
    }
    out
}

/// Runs `berth top`.
pub fn run(global: &GlobalOptions, args: &TopArgs) -> anyhow::Result<ExitCode> {
    let mut session = Session::open(global, false)?;
    let mut records = session.containers(&args.services, false)?;
    session.unlock();
    records.retain(|r| r.status.state == RecordedState::Running);
    records.sort_by(|a, b| a.name.cmp(&b.name));
    let runtime = Runtime::new(session.ctx.machine.state.runtime_dir())?;
    let users = user_names();
    let (boot, ticks) = (boot_time(), ticks_per_second());
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0);
    let mut rows = vec![TITLES.iter().map(|t| t.to_string()).collect::<Vec<_>>()];
    for r in &records {
        // A container that stopped since the listing has no processes to show.
        let Ok(container) = runtime.load(&r.id) else {
            continue;
        };
        let processes = container
            .top()
            .with_context(|| format!("cannot list the processes of {}", r.name))?;
        let o = r.observed();
        for p in processes {
            let stat = std::fs::read_to_string(format!("/proc/{}/stat", p.pid))
                .ok()
                .and_then(|s| parse_stat(&s))
                .unwrap_or_default();
            let started = boot + (stat.start_ticks / ticks) as i64;
            let elapsed = (now - started).max(1) as u64;
            let cpu_secs = stat.cpu_ticks / ticks;
            rows.push(vec![
                o.service().unwrap_or_default().to_string(),
                o.number().to_string(),
                users
                    .get(&p.uid)
                    .cloned()
                    .unwrap_or_else(|| p.uid.to_string()),
                p.pid.to_string(),
                p.ppid.to_string(),
                (stat.cpu_ticks * 100 / ticks / elapsed).to_string(),
                start_time(started, now),
                tty_name(stat.tty),
                cpu_time(cpu_secs),
                p.command,
            ]);
        }
    }
    if rows.len() > 1 {
        print!("{}", layout(&rows));
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields() {
        let stat = "42 (sleep 1) S 1 42 42 34816 42 4194560 100 0 0 0 7 3 0 0 20 0 1 0 5000 \
                    1000 10 18446744073709551615";
        assert_eq!(
            parse_stat(stat),
            Some(ProcStat {
                tty: 34816,
                cpu_ticks: 10,
                start_ticks: 5000
            })
        );
        assert_eq!(tty_name(34816), "pts/0");
        assert_eq!(tty_name(0), "?");
    }

    #[test]
    fn times_as_ps_prints_them() {
        assert_eq!(cpu_time(0), "00:00:00");
        assert_eq!(cpu_time(90_061), "1-01:01:01");
        // 2026-11-22 10:15 UTC, seen an hour later, then three days later, then next year.
        let t = 1_795_342_500;
        assert_eq!(start_time(t, t + 3600), "10:15");
        assert_eq!(start_time(t, t + 3 * 86_400), "Nov22");
        assert_eq!(start_time(t, t + 60 * 86_400), "2026");
    }

    #[test]
    fn table_is_padded_by_two() {
        let rows = vec![
            vec!["SERVICE".to_string(), "#".into(), "CMD".into()],
            vec!["web".to_string(), "1".into(), "sleep 1".into()],
        ];
        assert_eq!(layout(&rows), "SERVICE  #   CMD\nweb      1   sleep 1\n");
    }
}
