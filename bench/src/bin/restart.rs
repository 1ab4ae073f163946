//! How fast a `restart: always` container is back after `kill -9` of its process, and the
//! rhythm of a crash-looping service: berth against dockerd and podman in the same run.
//!
//! Run as root, after building berth:
//! `cargo build --release -p berth && cargo run --release -p berth-bench --bin restart`
//! (`-- --quick` for a smoke run of a minute and a half; BERTH_BENCH_KILLS, BERTH_BENCH_LOOP_SECS
//! and BERTH_BENCH_TOOLS=berth,docker,podman adjust it; BERTH_BIN names another berth).
//! Debian packages: busybox-static, podman, docker.io (dockerd and its containerd and runc;
//! the bench starts a dockerd of its own in a temporary directory, without iptables or a
//! bridge, and stops it at the end). No network: every container runs with network `none`,
//! and the images are one busybox root filesystem imported into each tool.
//!
//! The measure is the same for all three tools. Each run of a container creates a new file in
//! a bind-mounted host directory, which the bench watches with inotify. The bench asks the
//! tool for the host pid of the container's process 1, sends it SIGKILL itself, and times
//! from the kill to the next run's file.
//!
//! - Spaced kills: a kill every 11 s of run time, so that every restart is the first of a
//!   series (Docker and berth reset their back-off after a 10 s run). The tools take turns.
//! - Quick kills: kills in a row, each as soon as the new run is up: the back-off at work.
//! - Crash loop: a service whose command exits 1 at once; its starts over 60 s.
//!
//! Figures only, never asserted. The bench removes everything it made, also on failure and
//! on Ctrl-C (containers, images, the dockerd, its temporary directory).

#[path = "restart/berth.rs"]
mod berth;
#[path = "restart/docker.rs"]
mod docker;
#[path = "restart/engine.rs"]
mod engine;
#[path = "restart/marks.rs"]
mod marks;
#[path = "restart/podman.rs"]
mod podman;
#[path = "restart/report.rs"]
mod report;

use anyhow::{Context, Result, bail};
use engine::{Engine, Phases};
use marks::Marks;
use report::Figures;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

/// Run time between spaced kills: more than the 10 s after which the back-off starts over.
const SPACING: Duration = Duration::from_secs(11);
/// A container that marks its start and then waits, ending at once on SIGTERM.
const STEADY: &str = "mktemp /mark/start.XXXXXXXX >/dev/null; trap 'exit 0' TERM; while :; do sleep 3600 & wait; done";
/// A container that marks its start and fails.
const CRASH: &str = "mktemp /mark/start.XXXXXXXX >/dev/null; exit 1";
/// The longest wait for a start (Docker's back-off reaches a minute).
const START_TIMEOUT: Duration = Duration::from_secs(90);

pub use berth_bench::tools::interrupted;

struct Config {
    kills: usize,
    quick_kills: usize,
    loop_for: Duration,
}

impl Config {
    fn from_env() -> Config {
        let quick = std::env::args().any(|a| a == "--quick");
        let num = |name: &str, default: u64| {
            std::env::var(name)
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(default)
        };
        Config {
            kills: num("BERTH_BENCH_KILLS", if quick { 2 } else { 5 }) as usize,
            quick_kills: if quick { 4 } else { 6 },
            loop_for: Duration::from_secs(num(
                "BERTH_BENCH_LOOP_SECS",
                if quick { 15 } else { 60 },
            )),
        }
    }
}

/// A tool and what the bench knows of it.
struct Slot {
    engine: Box<dyn Engine>,
    steady: Option<Marks>,
    last_start: Instant,
    last_pid: Option<i32>,
    figures: Figures,
}

impl Slot {
    fn new(engine: Box<dyn Engine>) -> Slot {
        Slot {
            engine,
            steady: None,
            last_start: Instant::now(),
            last_pid: None,
            figures: Figures::default(),
        }
    }

    fn ok(&self) -> bool {
        self.figures.failed.is_none()
    }

    /// Records a failure of this tool (the others go on), unless the bench is interrupted.
    fn fail(&mut self, e: anyhow::Error) -> Result<()> {
        interrupted()?;
        eprintln!("restart: {} failed: {e:#}", self.engine.name());
        self.figures.failed = Some(format!("{e:#}"));
        Ok(())
    }

    /// Waits for the tool to report the pid of the current run.
    fn wait_pid(&self, name: &str) -> Result<i32> {
        let end = Instant::now() + Duration::from_secs(30);
        loop {
            interrupted()?;
            if let Some(pid) = self.engine.pid(name)
                && Some(pid) != self.last_pid
                && engine::alive(pid)
            {
                return Ok(pid);
            }
            if Instant::now() >= end {
                bail!(
                    "{} reports no running process for {name}",
                    self.engine.name()
                );
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Kills the steady container's process 1; the time until its next run started, and
    /// where it went when the tool tells.
    fn kill_once(&mut self) -> Result<(Duration, Option<Phases>)> {
        let pid = self.wait_pid("steady")?;
        let marks = self.steady.as_ref().context("no steady container")?;
        marks.drain();
        let wall = SystemTime::now();
        let t0 = Instant::now();
        engine::signal(pid, libc::SIGKILL)?;
        self.last_pid = Some(pid);
        let t = marks.next_within(START_TIMEOUT, "restart after kill -9")?;
        self.last_start = t;
        let took = t - t0;
        Ok((took, self.engine.phases("steady", wall, wall + took)))
    }
}

fn main() {
    let config = Config::from_env();
    berth_bench::tools::run_bench("restart", |work| bench(&config, work));
}

fn bench(config: &Config, work: &Path) -> Result<()> {
    let load_before = report::load();
    let tar = engine::busybox_tar(work)?;
    let (mut slots, notes) = berth_bench::tools::set_up("restart", |tool| {
        let engine: Box<dyn Engine> = match tool {
            "berth" => Box::new(berth::Berth::new(&work.join("berth"), &tar)?),
            "docker" => Box::new(docker::Docker::start(&work.join("docker"), &tar)?),
            "podman" => Box::new(podman::Podman::new(&work.join("podman"), &tar)?),
            other => bail!("unknown tool {other:?}"),
        };
        Ok(Slot::new(engine))
    })?;

    // Steady containers, one per tool, all started before the first kill.
    for slot in &mut slots {
        let dir = marks_dir(work, slot.engine.name(), "steady")?;
        let started = Marks::watch(&dir).and_then(|m| {
            slot.engine.run("steady", &dir, STEADY)?;
            let t = m.next_within(START_TIMEOUT, "first start")?;
            Ok((m, t))
        });
        match started {
            Ok((m, t)) => {
                slot.steady = Some(m);
                slot.last_start = t;
            }
            Err(e) => slot.fail(e)?,
        }
    }

    // Spaced kills, the tools taking turns; one tool restarts at a time.
    eprintln!(
        "restart: {} spaced kills per tool, {} s apart",
        config.kills,
        SPACING.as_secs()
    );
    let n = slots.len();
    for round in 0..config.kills {
        for k in 0..n {
            let slot = &mut slots[(round + k) % n];
            if !slot.ok() {
                continue;
            }
            sleep_until(slot.last_start + SPACING)?;
            match slot.kill_once() {
                Ok((d, phases)) => {
                    slot.figures.spaced.push(d);
                    slot.figures.phases.extend(phases);
                }
                Err(e) => slot.fail(e)?,
            }
        }
    }

    // Quick kills: a fresh series (after a long run), then kills in a row.
    for slot in &mut slots {
        if !slot.ok() {
            continue;
        }
        sleep_until(slot.last_start + SPACING)?;
        for _ in 0..config.quick_kills {
            match slot.kill_once() {
                Ok((d, _)) => slot.figures.quick.push(d),
                Err(e) => {
                    slot.fail(e)?;
                    break;
                }
            }
        }
        if let Err(e) = slot.engine.remove("steady") {
            slot.fail(e)?;
        }
        slot.steady = None;
    }

    // Crash loops, one tool at a time.
    for slot in &mut slots {
        if !slot.ok() {
            continue;
        }
        eprintln!(
            "restart: crash loop of {} for {} s",
            slot.engine.name(),
            config.loop_for.as_secs()
        );
        match crash_loop(slot, work, config.loop_for) {
            Ok(starts) => slot.figures.starts = starts,
            Err(e) => slot.fail(e)?,
        }
        if let Err(e) = slot.engine.remove("crash") {
            slot.fail(e)?;
        }
    }

    let rows: Vec<report::Row> = slots
        .iter()
        .map(|s| report::Row {
            name: s.engine.name(),
            figures: &s.figures,
        })
        .collect();
    report::print(
        &report::Setup {
            kills: config.kills,
            quick_kills: config.quick_kills,
            loop_for: config.loop_for,
            spacing: SPACING,
        },
        &rows,
        &notes,
        &load_before,
    );
    Ok(())
}

/// Starts the crash-looping container; its starts during `span` after the first one.
fn crash_loop(slot: &mut Slot, work: &Path, span: Duration) -> Result<Vec<Duration>> {
    let dir = marks_dir(work, slot.engine.name(), "crash")?;
    let marks = Marks::watch(&dir)?;
    slot.engine.run("crash", &dir, CRASH)?;
    let first = marks.next_within(START_TIMEOUT, "the crash loop's first start")?;
    let mut starts = vec![Duration::ZERO];
    while let Some(t) = marks.next_before(first + span)? {
        starts.push(t - first);
    }
    Ok(starts)
}

fn marks_dir(work: &Path, tool: &str, kind: &str) -> Result<PathBuf> {
    let dir = work.join("marks").join(format!("{tool}-{kind}"));
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    Ok(dir)
}

fn sleep_until(when: Instant) -> Result<()> {
    loop {
        interrupted()?;
        let now = Instant::now();
        if now >= when {
            return Ok(());
        }
        std::thread::sleep((when - now).min(Duration::from_millis(100)));
    }
}
