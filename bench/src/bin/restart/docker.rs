//! Docker under test: a dockerd of the bench's own (its data root, exec root, socket and pid
//! file in the bench's temporary directory; no iptables, no bridge, no forwarding, so it
//! leaves the host's network alone), started in its own process group so that a Ctrl-C at
//! the terminal reaches the bench, which then stops it in order.

use crate::engine::{self, Engine, IMAGE, output};
use anyhow::{Context, Result, bail};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The Docker tool, with its daemon.
pub struct Docker {
    client: PathBuf,
    dir: PathBuf,
    daemon: Child,
    live: Vec<String>,
}

impl Docker {
    /// Starts dockerd under `dir`, waits until it answers, and imports `tar` as [`IMAGE`].
    pub fn start(dir: &Path, tar: &Path) -> Result<Docker> {
        if !engine::on_path("dockerd") {
            bail!("dockerd is not installed (apt-get install docker.io)");
        }
        // The client of the same package as the daemon, when there is one.
        let client = if Path::new("/usr/bin/docker").is_file() {
            PathBuf::from("/usr/bin/docker")
        } else {
            PathBuf::from("docker")
        };
        std::fs::create_dir_all(dir)?;
        let log = std::fs::File::create(dir.join("dockerd.log"))?;
        let daemon = Command::new("dockerd")
            .arg("--data-root")
            .arg(dir.join("data"))
            .arg("--exec-root")
            .arg(dir.join("exec"))
            .arg("--pidfile")
            .arg(dir.join("dockerd.pid"))
            .arg("-H")
            .arg(format!("unix://{}", dir.join("docker.sock").display()))
            // A cgroup parent of its own, removed at the end (dockerd leaves its parent).
            .arg(format!("--cgroup-parent=/{}", cgroup_parent()))
            .args([
                "--iptables=false",
                "--ip6tables=false",
                "--ip-forward=false",
                "--ip-masq=false",
                "--bridge=none",
                "--log-level=warn",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .context("cannot start dockerd")?;
        let mut docker = Docker {
            client,
            dir: dir.to_path_buf(),
            daemon,
            live: Vec::new(),
        };
        docker.wait_ready()?;
        output(
            docker
                .cmd()
                .args(["import", "--change", r#"CMD ["sh"]"#])
                .arg(tar)
                .arg(IMAGE),
            "docker import",
        )?;
        Ok(docker)
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("-H")
            .arg(format!("unix://{}", self.dir.join("docker.sock").display()));
        c
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    fn wait_ready(&mut self) -> Result<()> {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            crate::interrupted()?;
            if let Some(status) = self.daemon.try_wait()? {
                bail!("dockerd exited ({status}):\n{}", self.log_tail());
            }
            if output(self.cmd().arg("version"), "docker version").is_ok() {
                return Ok(());
            }
            if Instant::now() >= end {
                bail!("dockerd did not answer within 60 s:\n{}", self.log_tail());
            }
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The containerd dockerd started for itself, which should end with it.
    fn managed_containerd(&self) -> Option<i32> {
        let pid = std::fs::read_to_string(self.dir.join("exec/containerd/containerd.pid")).ok()?;
        let pid: i32 = pid.trim().parse().ok()?;
        let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?;
        (comm.trim() == "containerd" && engine::alive(pid)).then_some(pid)
    }

    fn stop_daemon(&mut self) {
        let containerd = self.managed_containerd();
        let pid = self.daemon.id() as i32;
        if self.daemon.try_wait().ok().flatten().is_none() {
            let _ = engine::signal(pid, libc::SIGTERM);
            let end = Instant::now() + Duration::from_secs(20);
            while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.daemon.try_wait().ok().flatten().is_none() {
                eprintln!("restart: dockerd did not stop within 20 s; killing it");
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
            }
        }
        if let Some(c) = containerd
            && !engine::wait_gone(c, Duration::from_secs(10))
        {
            eprintln!("restart: dockerd's containerd {c} outlived it; terminating it");
            let _ = engine::signal(c, libc::SIGTERM);
            engine::wait_gone(c, Duration::from_secs(10));
        }
    }
}

impl Engine for Docker {
    fn name(&self) -> &'static str {
        "docker"
    }

    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()> {
        self.live.push(name.to_string());
        output(
            self.cmd()
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
            self.cmd().args(["inspect", "-f", "{{.State.Pid}}", name]),
            "docker inspect",
        )
        .ok()?;
        out.trim().parse().ok().filter(|p| *p > 0)
    }

    fn remove(&mut self, name: &str) -> Result<()> {
        self.live.retain(|n| n != name);
        output(self.cmd().args(["rm", "-f", name]), "docker rm -f")?;
        Ok(())
    }
}

impl Drop for Docker {
    fn drop(&mut self) {
        for name in std::mem::take(&mut self.live) {
            if let Err(e) = output(self.cmd().args(["rm", "-f", &name]), "docker rm -f") {
                eprintln!("restart: clean-up of docker's {name}: {e:#}");
            }
        }
        let _ = output(self.cmd().args(["rmi", "-f", IMAGE]), "docker rmi");
        self.stop_daemon();
        remove_cgroup_parent();
    }
}

fn cgroup_parent() -> String {
    format!("berth-bench-restart-{}", std::process::id())
}

/// Removes the (by now empty) cgroup parent from every hierarchy.
fn remove_cgroup_parent() {
    let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in entries.flatten() {
        let dir = e.path().join(cgroup_parent());
        if dir.is_dir()
            && let Err(err) = std::fs::remove_dir(&dir)
        {
            // Co-mounted controllers (cpu,cpuacct) show one directory under two names.
            if dir.is_dir() {
                eprintln!("restart: cannot remove the cgroup {}: {err}", dir.display());
            }
        }
    }
}
