//! The report: one table of the tools (min, median and max of each figure), the ratios of
//! berth to the others, and the raw figures behind them.

use std::time::Duration;

/// One tool's figures, one entry per round it completed.
#[derive(Default)]
pub struct Figures {
    /// Wall-clock time of the `up -d` command.
    pub up: Vec<Duration>,
    /// From the start of `up -d` until every container runs.
    pub ready: Vec<Duration>,
    /// Wall-clock time of the `down -v` command.
    pub down: Vec<Duration>,
    /// Peak RSS (KiB) of the `up -d` command's process tree.
    pub up_rss: Vec<u64>,
    /// Peak RSS (KiB) of the `down -v` command's process tree.
    pub down_rss: Vec<u64>,
    /// Resident memory (KiB) of what stays running while the stack is up.
    pub resident: Vec<u64>,
    /// The same before `up -d` (what runs for the tool without the project).
    pub idle: Vec<u64>,
    /// How many processes [`Figures::resident`] sums (last round).
    pub resident_procs: usize,
    /// What [`Figures::resident`] sums.
    pub resident_what: &'static str,
    /// Whether the published port answered HTTP, per round.
    pub port_ok: Vec<bool>,
    /// Why the tool's measuring stopped, if it did.
    pub failed: Option<String>,
}

/// A tool's name and figures.
pub struct Row<'a> {
    /// The tool.
    pub name: &'static str,
    /// Its figures.
    pub figures: &'a Figures,
}

fn ms(d: Duration) -> String {
    format!("{:.0}", d.as_secs_f64() * 1000.0)
}

fn mib(kib: u64) -> String {
    format!("{:.1}", kib as f64 / 1024.0)
}

/// The middle value of `v`, or the two middle ones (lower, upper) of an even count.
fn middles<T: Ord + Copy>(v: &[T]) -> Option<(T, T)> {
    let mut s = v.to_vec();
    s.sort();
    let n = s.len();
    (n > 0).then(|| (s[(n - 1) / 2], s[n / 2]))
}

fn median_duration(v: &[Duration]) -> Option<Duration> {
    middles(v).map(|(a, b)| (a + b) / 2)
}

fn median_kib(v: &[u64]) -> Option<u64> {
    middles(v).map(|(a, b)| (a + b) / 2)
}

/// `min / median / max` in milliseconds, or `-`.
fn spread(v: &[Duration]) -> String {
    match (v.iter().min(), median_duration(v), v.iter().max()) {
        (Some(a), Some(m), Some(b)) => format!("{} / {} / {}", ms(*a), ms(m), ms(*b)),
        _ => "-".into(),
    }
}

fn median_mib(v: &[u64]) -> String {
    median_kib(v).map(mib).unwrap_or_else(|| "-".into())
}

/// Prints the report.
pub fn print(rounds: usize, port: u16, rows: &[Row], notes: &[String], load_before: &str) {
    println!(
        "up-down: {rounds} rounds; stack: web (httpd, 127.0.0.1:{port}->80), api (depends on web), \
         worker (named volume), default network; tools interleaved, order rotating per round"
    );
    println!(
        "load average before: {load_before}, after: {}",
        berth_bench::tools::load()
    );
    println!();
    println!(
        "{:<15} {:>22} {:>22} {:>22} {:>11} {:>12} {:>10} {:>9} {:>5}",
        "ms: min/med/max",
        "up -d (command)",
        "up -d (all running)",
        "down -v (command)",
        "up RSS MiB",
        "down RSS MiB",
        "stays MiB",
        "idle MiB",
        "port"
    );
    for r in rows {
        let f = r.figures;
        let ok = f.port_ok.iter().filter(|o| **o).count();
        println!(
            "{:<15} {:>22} {:>22} {:>22} {:>11} {:>12} {:>10} {:>9} {:>5}",
            r.name,
            spread(&f.up),
            spread(&f.ready),
            spread(&f.down),
            median_mib(&f.up_rss),
            median_mib(&f.down_rss),
            median_mib(&f.resident),
            median_mib(&f.idle),
            format!("{ok}/{}", f.port_ok.len()),
        );
    }
    println!();
    if let Some(berth) = rows.iter().find(|r| r.name == "berth") {
        for other in rows.iter().filter(|r| r.name != "berth") {
            let ratio =
                |a: &[Duration], b: &[Duration]| match (median_duration(a), median_duration(b)) {
                    (Some(a), Some(b)) if !b.is_zero() => {
                        format!("{:.3}", a.as_secs_f64() / b.as_secs_f64())
                    }
                    _ => "-".into(),
                };
            println!(
                "berth/{} (medians): up -d {}, all running {}, down -v {}",
                other.name,
                ratio(&berth.figures.up, &other.figures.up),
                ratio(&berth.figures.ready, &other.figures.ready),
                ratio(&berth.figures.down, &other.figures.down),
            );
        }
        println!();
    }
    println!("up/down RSS: peak of the command's process tree (wait4 ru_maxrss), median;");
    println!("stays: resident memory (median) of what keeps running while the stack is up,");
    println!("idle: the same just before up -d; port: rounds in which web answered HTTP on it:");
    for r in rows {
        if !r.figures.resident_what.is_empty() {
            println!(
                "  {}: {} ({} processes)",
                r.name, r.figures.resident_what, r.figures.resident_procs
            );
        }
    }
    println!();
    println!("raw (ms, per round in the order run):");
    for r in rows {
        let list = |v: &[Duration]| v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(" ");
        println!("  {} up -d:       {}", r.name, list(&r.figures.up));
        println!("  {} all running: {}", r.name, list(&r.figures.ready));
        println!("  {} down -v:     {}", r.name, list(&r.figures.down));
        if let Some(e) = &r.figures.failed {
            println!("  {} FAILED: {e}", r.name);
        }
    }
    for n in notes {
        println!("note: {n}");
    }
}
