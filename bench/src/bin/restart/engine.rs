//! What the benchmark needs of a container tool. The helpers the three tools share (running
//! their CLI, telling a live process from a dead one, the image they all run) live in
//! `berth_bench::tools`.

use anyhow::Result;
use std::path::Path;
use std::time::{Duration, SystemTime};

pub use berth_bench::tools::{IMAGE, alive, busybox_tar, output, signal, wait_gone};

/// A container tool under test. Containers run `sh -c SCRIPT` from [`IMAGE`] with restart
/// policy `always`, no network, and their marker directory bind-mounted at /mark. Dropping
/// the tool removes whatever it still has.
pub trait Engine {
    /// The tool's name in the report.
    fn name(&self) -> &'static str;
    /// Starts container `name` (detached; it keeps restarting until removed).
    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()>;
    /// The host pid of the running container's process 1, if the tool reports one.
    fn pid(&self, name: &str) -> Option<i32>;
    /// Removes container `name`, stopping it first.
    fn remove(&mut self, name: &str) -> Result<()>;
    /// Where the time between a kill at `killed` and the next run's start at `started` went,
    /// as consecutive phases, when the tool tells.
    fn phases(&self, _name: &str, _killed: SystemTime, _started: SystemTime) -> Option<Phases> {
        None
    }
}

/// Named consecutive durations.
pub type Phases = Vec<(&'static str, Duration)>;
