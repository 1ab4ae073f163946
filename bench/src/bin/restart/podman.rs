//! podman under test, with its storage, run state and temporary directory in the bench's
//! temporary directory (`berth_bench::tools::podman`). Without systemd, podman's restart policy is carried out by the
//! `podman container cleanup` that conmon runs when the container's process ends.

use crate::engine::{Engine, IMAGE, output};
use anyhow::{Result, bail};
use berth_bench::tools::podman::Podman as Store;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The podman tool.
pub struct Podman {
    store: Store,
    live: Vec<String>,
}

impl Podman {
    /// Sets up podman's storage under `dir` and imports `tar` as [`IMAGE`].
    pub fn new(dir: &Path, tar: &Path) -> Result<Podman> {
        Ok(Podman {
            store: Store::new(dir, tar)?,
            live: Vec::new(),
        })
    }

    fn cmd(&self) -> Command {
        self.store.cmd()
    }

    fn rm(&self, name: &str) -> Result<()> {
        // A crash-looping container may be between runs, in the middle of its clean-up and
        // restart; removal is retried until it goes.
        let mut last = None;
        for _ in 0..5 {
            match output(
                self.cmd().args(["rm", "-f", "-t", "2", name]),
                "podman rm -f",
            ) {
                Ok(_) => {
                    let gone = output(
                        self.cmd().args(["container", "exists", name]),
                        "podman container exists",
                    )
                    .is_err();
                    if gone {
                        return Ok(());
                    }
                }
                Err(e) => last = Some(e),
            }
            std::thread::sleep(Duration::from_millis(500));
        }
        match last {
            Some(e) => Err(e),
            None => bail!("podman container {name} is still there after 5 removals"),
        }
    }
}

impl Engine for Podman {
    fn name(&self) -> &'static str {
        "podman"
    }

    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()> {
        self.live.push(name.to_string());
        // Podman's default ulimits exceed this machine's hard limits (DESIGN.md, facts).
        output(
            self.cmd()
                .args(["run", "-d", "--name", name, "--restart", "always"])
                .args(["--network", "none"])
                .args([
                    "--ulimit",
                    "nofile=1024:1024",
                    "--ulimit",
                    "nproc=1024:1024",
                ])
                .arg("-v")
                .arg(format!("{}:/mark", mark.display()))
                .args([IMAGE, "sh", "-c", script]),
            "podman run",
        )?;
        Ok(())
    }

    fn pid(&self, name: &str) -> Option<i32> {
        let out = output(
            self.cmd().args(["inspect", "-f", "{{.State.Pid}}", name]),
            "podman inspect",
        )
        .ok()?;
        out.trim().parse().ok().filter(|p| *p > 0)
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        self.live.retain(|n| n != name);
        self.rm(name)
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.live) {
            if let Err(e) = self.rm(&name) {
                eprintln!("restart: clean-up of podman's {name}: {e:#}");
            }
        }
    }
}
