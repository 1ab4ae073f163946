//! berth under test: the release binary beside this one, a state root and run directory of
//! its own (`berth_bench::tools::berth`), one compose project per container (`berth up -d`, `berth down -v`).

use crate::engine::{self, Engine, IMAGE, Phases, output};
use anyhow::Result;
use berth_bench::tools::berth::Berth as Tool;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The berth tool.
pub struct Berth {
    berth: Tool,
    /// Projects that may still have containers: (container name, project name).
    live: Vec<(String, String)>,
}

impl Berth {
    /// Sets up a state root under `dir` and imports the busybox `tar` as [`IMAGE`].
    pub fn new(dir: &Path, tar: &Path) -> Result<Berth> {
        Ok(Berth {
            berth: Tool::new(dir, tar)?,
            live: Vec::new(),
        })
    }

    fn project(&self, name: &str) -> String {
        format!("rbench{}-{name}", std::process::id())
    }

    fn project_cmd(&self, name: &str) -> Command {
        let project = self.project(name);
        let mut c = self
            .berth
            .cmd(&self.berth.dir().join("projects").join(name));
        c.arg("-p").arg(project);
        c
    }

    fn supervisor_pid(&self, name: &str) -> Option<i32> {
        self.berth.supervisor_pid(&self.project(name))
    }

    fn down(&self, name: &str) -> Result<()> {
        let supervisor = self.supervisor_pid(name);
        output(
            self.project_cmd(name).args(["down", "-v", "-t", "5"]),
            "berth down",
        )?;
        // The supervisor ends by itself once its project is empty; make sure it did.
        if let Some(pid) = supervisor
            && !engine::wait_gone(pid, Duration::from_secs(5))
        {
            eprintln!("restart: berth's supervisor {pid} outlived `down`; terminating it");
            let _ = engine::signal(pid, libc::SIGTERM);
            engine::wait_gone(pid, Duration::from_secs(5));
        }
        Ok(())
    }
}

impl Engine for Berth {
    fn name(&self) -> &'static str {
        "berth"
    }

    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()> {
        let dir = self.berth.dir().join("projects").join(name);
        std::fs::create_dir_all(&dir)?;
        let compose = format!(
            "services:\n  svc:\n    image: {IMAGE}\n    network_mode: none\n    restart: always\n    \
             volumes:\n      - {}\n    command: {}\n",
            serde_json::to_string(&format!("{}:/mark", mark.display()))?,
            serde_json::to_string(&["sh", "-c", script])?,
        );
        std::fs::write(dir.join("compose.yaml"), compose)?;
        self.live.push((name.to_string(), self.project(name)));
        output(self.project_cmd(name).args(["up", "-d"]), "berth up -d")?;
        Ok(())
    }

    fn pid(&self, name: &str) -> Option<i32> {
        let ps = output(
            self.project_cmd(name)
                .args(["ps", "--format", "json", "--no-trunc"]),
            "berth ps",
        )
        .ok()?;
        let first = ps.trim().lines().next()?.trim();
        let value: serde_json::Value = serde_json::from_str(first).ok()?;
        let item = match value {
            serde_json::Value::Array(mut a) if !a.is_empty() => a.swap_remove(0),
            v => v,
        };
        if item["State"] != "running" {
            return None;
        }
        let id = item["ID"].as_str()?;
        // The runtime's record of the current run names its process.
        let state = std::fs::read_to_string(
            self.berth
                .dir()
                .join("run/runtime")
                .join(id)
                .join("state.json"),
        )
        .ok()?;
        let state: serde_json::Value = serde_json::from_str(&state).ok()?;
        state["pid"].as_i64().and_then(|p| i32::try_from(p).ok())
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        self.live.retain(|(n, _)| n != name);
        self.down(name)
    }

    /// From the supervisor's log: the `Die` event (exit seen, cgroup and state cleaned up)
    /// and the restart decision, between the kill and the marker.
    fn phases(&self, name: &str, killed: SystemTime, started: SystemTime) -> Option<Phases> {
        let project = self.project(name);
        let log = std::fs::read_to_string(
            self.berth
                .dir()
                .join("root/projects")
                .join(&project)
                .join("supervisor.log"),
        )
        .ok()?;
        let container = format!("container={project}-svc-1");
        let kill = day_seconds(killed);
        // The log's lines carry the wall clock's time of day, UTC, in microseconds.
        let after_kill = |line: &&str| {
            line_time(line).is_some_and(|t| (t - kill).rem_euclid(86_400.0) < 3_600.0)
        };
        let mut lines = log.lines().filter(after_kill);
        let die = lines
            .by_ref()
            .find(|l| l.contains(" Die ") && l.contains(&container))?;
        let decided = lines.find(|l| l.contains("restarting ") && l.contains(" in 0ns"))?;
        let (die, decided) = (line_time(die)?, line_time(decided)?);
        let secs = |a: f64, b: f64| Duration::from_secs_f64((b - a).rem_euclid(86_400.0));
        Some(vec![
            ("kill -> die event", secs(kill, die)),
            ("die -> restart decided", secs(die, decided)),
            (
                "decided -> new run's marker",
                secs(decided, day_seconds(started)),
            ),
        ])
    }
}

/// Seconds since midnight UTC.
fn day_seconds(t: SystemTime) -> f64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs_f64() % 86_400.0)
        .unwrap_or(0.0)
}

/// The time of day of a log line (`2026-11-22T22:29:20.944875Z  INFO ...`).
fn line_time(line: &str) -> Option<f64> {
    let (_, rest) = line.split_once('T')?;
    let clock = rest.get(..rest.find('Z')?)?;
    let mut parts = clock.splitn(3, ':');
    let h: f64 = parts.next()?.parse().ok()?;
    let m: f64 = parts.next()?.parse().ok()?;
    let s: f64 = parts.next()?.parse().ok()?;
    Some(h * 3600.0 + m * 60.0 + s)
}

impl Drop for Berth {
    fn drop(&mut self) {
        for (name, _) in std::mem::take(&mut self.live) {
            if let Err(e) = self.down(&name) {
                eprintln!("restart: clean-up of berth's {name}: {e:#}");
            }
        }
    }
}
