//! Docker under test: the bench's private dockerd (`berth_bench::tools::dockerd`) and the
//! containers this bench runs on it.

use crate::engine::{Engine, IMAGE, output};
use anyhow::Result;
use berth_bench::tools::dockerd::Dockerd;
use std::path::Path;

/// The Docker tool, with its daemon.
pub struct Docker {
    daemon: Dockerd,
    live: Vec<String>,
}

impl Docker {
    /// Starts dockerd under `dir`, waits until it answers, and imports `tar` as [`IMAGE`].
    pub fn start(dir: &Path, tar: &Path) -> Result<Docker> {
        Ok(Docker {
            daemon: Dockerd::start(dir, "berth-bench-restart", tar)?,
            live: Vec::new(),
        })
    }
}

impl Engine for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()> {
        self.live.push(name.to_string());
        output(
            self.daemon
                .cmd()
                .args(["run", "-d", "--name", name, "--restart", "always"])
                .args(["--network", "none", "-v"])
                .arg(format!("{}:/mark", mark.display()))
                .args([IMAGE, "sh", "-c", script]),
            "docker run",
        )?;
        Ok(())
    }

    fn pid(&self, name: &str) -> Option<i32> {
        let out = output(
            self.daemon
                .cmd()
                .args(["inspect", "-f", "{{.State.Pid}}", name]),
            "docker inspect",
        )
        .ok()?;
        out.trim().parse().ok().filter(|p| *p > 0)
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        self.live.retain(|n| n != name);
        output(self.daemon.cmd().args(["rm", "-f", name]), "docker rm -f")?;
        Ok(())
    }
}

impl Drop for Docker {
    /// Removes the containers; the daemon stops when its field is dropped after this.
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.live) {
            if let Err(e) = output(self.daemon.cmd().args(["rm", "-f", &name]), "docker rm -f") {
                eprintln!("restart: clean-up of docker's {name}: {e:#}");
            }
        }
    }
}
