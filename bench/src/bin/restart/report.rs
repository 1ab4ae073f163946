//! The report: one table of the three tools, the raw figures behind it, and the ratios.

use crate::engine::Phases;
use std::time::Duration;

/// One tool's figures.
#[derive(Default)]
pub struct Figures {
    /// Kill-to-next-run of each spaced kill (each the first restart of a series).
    pub spaced: Vec<Duration>,
    /// Kill-to-next-run of the kills in a row.
    pub quick: Vec<Duration>,
    /// Crash loop: each start's time after the first.
    pub starts: Vec<Duration>,
    /// Where the time of each spaced kill went, when the tool tells.
    pub phases: Vec<Phases>,
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

/// What the run was asked to do.
pub struct Setup {
    /// Spaced kills per tool.
    pub kills: usize,
    /// Quick kills per tool.
    pub quick_kills: usize,
    /// How long the crash loop was watched.
    pub loop_for: Duration,
    /// Run time between spaced kills.
    pub spacing: Duration,
}

pub use berth_bench::tools::load;

fn ms(d: Duration) -> String {
    format!("{:.1}", d.as_secs_f64() * 1000.0)
}

fn median(v: &[Duration]) -> Option<Duration> {
    let mut s = v.to_vec();
    s.sort();
    match s.len() {
        0 => None,
        n if n % 2 == 1 => Some(s[n / 2]),
        n => Some((s[n / 2 - 1] + s[n / 2]) / 2),
    }
}

fn list(v: &[Duration]) -> String {
    v.iter().map(|d| ms(*d)).collect::<Vec<_>>().join(" ")
}

/// The gaps between consecutive starts: the first ten and the last four.
fn gaps(starts: &[Duration]) -> String {
    let g: Vec<Duration> = starts.windows(2).map(|w| w[1] - w[0]).collect();
    if g.len() <= 14 {
        return list(&g);
    }
    format!("{} ... {}", list(&g[..10]), list(&g[g.len() - 4..]))
}

pub fn print(config: &Setup, slots: &[Row], notes: &[String], load_before: &str) {
    println!();
    println!("restart benchmark: kill -9 of a `restart: always` container's pid 1 -> its next run");
    println!(
        "load average before {load_before}, after {}; {} spaced kills per tool ({} s of run \
         between them), {} quick kills in a row, crash loop over {} s",
        load(),
        config.kills,
        config.spacing.as_secs(),
        config.quick_kills,
        config.loop_for.as_secs()
    );
    for n in notes {
        println!("note: {n}");
    }
    println!();
    println!(
        "{:<7} {:>34}  {:<44} crash loop",
        "tool", "first restart min/median/max (ms)", "quick kills in a row (ms)"
    );
    for s in slots {
        let f = &s.figures;
        let first = match (
            f.spaced.iter().min(),
            median(&f.spaced),
            f.spaced.iter().max(),
        ) {
            (Some(a), Some(b), Some(c)) => format!("{} / {} / {}", ms(*a), ms(b), ms(*c)),
            _ => "-".into(),
        };
        let crash = if f.starts.is_empty() {
            "-".into()
        } else {
            format!(
                "{} restarts in {} s",
                f.starts.len() - 1,
                config.loop_for.as_secs()
            )
        };
        println!(
            "{:<7} {:>34}  {:<44} {}",
            s.name,
            first,
            list(&f.quick),
            crash
        );
    }
    println!();
    println!("each spaced kill (ms):");
    for s in slots {
        println!("  {:<7} {}", s.name, list(&s.figures.spaced));
    }
    println!("crash loop, gaps between consecutive starts (ms):");
    for s in slots {
        println!("  {:<7} {}", s.name, gaps(&s.figures.starts));
    }
    for s in slots.iter().filter(|s| !s.figures.phases.is_empty()) {
        println!(
            "where {}'s first restart goes (median of {} spaced kills, from its log):",
            s.name,
            s.figures.phases.len()
        );
        for (i, (phase, _)) in s.figures.phases[0].iter().enumerate() {
            let times: Vec<Duration> = s
                .figures
                .phases
                .iter()
                .filter_map(|p| p.get(i).map(|x| x.1))
                .collect();
            if let Some(m) = median(&times) {
                println!("  {phase:<28} {} ms", ms(m));
            }
        }
    }
    for s in slots {
        if let Some(e) = &s.figures.failed {
            println!("FAILED {}: {e}", s.name);
        }
    }
    let Some(berth) = slots.iter().find(|s| s.name == "berth") else {
        return;
    };
    for other in slots.iter().filter(|s| s.name != "berth") {
        let name = other.name;
        if let (Some(b), Some(o)) = (median(&berth.figures.spaced), median(&other.figures.spaced)) {
            println!(
                "median first restart berth / {name}: {:.2}x",
                b.as_secs_f64() / o.as_secs_f64()
            );
        }
        let (b, o) = (&berth.figures.starts, &other.figures.starts);
        if !b.is_empty() && !o.is_empty() {
            println!(
                "crash-loop restarts berth / {name}: {} / {}",
                b.len() - 1,
                o.len() - 1
            );
        }
    }
}
