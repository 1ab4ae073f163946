//! A dockerd of the bench's own: its data root, exec root, socket and pid file in the bench's
//! temporary directory, a cgroup parent of its own, no iptables, no default bridge, no
//! forwarding and no masquerading, so that it leaves the host's network alone. Started in its
//! own process group, so that a Ctrl-C at the terminal reaches the bench, which then stops it
//! in order. User-defined bridge networks (a compose project's default network) still work:
//! without iptables they only join containers on the host, and published ports go through
//! dockerd's userland proxy.

use super::{IMAGE, alive, on_path, output, signal, wait_gone};
use anyhow::{Context, Result, bail};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running private dockerd with the busybox image imported as [`IMAGE`]. Dropping it
/// removes the image, stops the daemon and its containerd, and removes its cgroup parent;
/// containers should be removed before.
pub struct Dockerd {
    client: PathBuf,
    dir: PathBuf,
    daemon: Child,
    cgroup_parent: String,
}

impl Dockerd {
    /// Starts dockerd under `dir` (`name` names its cgroup parent), waits until it answers,
    /// and imports `tar` as [`IMAGE`].
    pub fn start(dir: &Path, name: &str, tar: &Path) -> Result<Dockerd> {
        if !on_path("dockerd") {
            bail!("dockerd is not installed (apt-get install docker.io)");
        }
        // The client of the same package as the daemon, when there is one.
        let client = if Path::new("/usr/bin/docker").is_file() {
            PathBuf::from("/usr/bin/docker")
        } else {
            PathBuf::from("docker")
        };
        std::fs::create_dir_all(dir)?;
        let cgroup_parent = format!("{name}-{}", std::process::id());
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
            // dockerd leaves its cgroup parent behind: one of our own, removed at the end.
            .arg(format!("--cgroup-parent=/{cgroup_parent}"))
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
        let mut docker = Dockerd {
            client,
            dir: dir.to_path_buf(),
            daemon,
            cgroup_parent,
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

    /// The daemon's socket, as DOCKER_HOST takes it (`unix:///...`).
    pub fn host(&self) -> String {
        format!("unix://{}", self.dir.join("docker.sock").display())
    }

    /// The docker client, talking to this daemon.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new(&self.client);
        c.arg("-H").arg(self.host());
        c
    }

    /// The processes that stay running for this daemon's containers: dockerd, its
    /// containerd, the shims of its containers and its port proxies.
    pub fn resident(&self) -> Vec<i32> {
        let dockerd = self.daemon.id() as i32;
        let mut pids = vec![dockerd];
        pids.extend(self.managed_containerd());
        let exec = self.dir.join("exec").display().to_string();
        pids.extend(super::processes(|pid, line| {
            (line.contains("containerd-shim") && line.contains(&exec))
                || (super::parent(pid) == Some(dockerd) && line.contains("docker-proxy"))
        }));
        pids
    }

    fn log_tail(&self) -> String {
        let log = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(8)..].join("\n")
    }

    fn wait_ready(&mut self) -> Result<()> {
        let end = Instant::now() + Duration::from_secs(60);
        loop {
            super::interrupted()?;
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
        (comm.trim() == "containerd" && alive(pid)).then_some(pid)
    }

    fn stop_daemon(&mut self) {
        let containerd = self.managed_containerd();
        let pid = self.daemon.id() as i32;
        if self.daemon.try_wait().ok().flatten().is_none() {
            let _ = signal(pid, libc::SIGTERM);
            let end = Instant::now() + Duration::from_secs(20);
            while self.daemon.try_wait().ok().flatten().is_none() && Instant::now() < end {
                std::thread::sleep(Duration::from_millis(50));
            }
            if self.daemon.try_wait().ok().flatten().is_none() {
                eprintln!("bench: dockerd did not stop within 20 s; killing it");
                let _ = self.daemon.kill();
                let _ = self.daemon.wait();
            }
        }
        if let Some(c) = containerd
            && !wait_gone(c, Duration::from_secs(10))
        {
            eprintln!("bench: dockerd's containerd {c} outlived it; terminating it");
            let _ = signal(c, libc::SIGTERM);
            wait_gone(c, Duration::from_secs(10));
        }
    }

    /// Removes the (by now empty) cgroup parent from every hierarchy.
    fn remove_cgroup_parent(&self) {
        let Ok(entries) = std::fs::read_dir("/sys/fs/cgroup") else {
            return;
        };
        for e in entries.flatten() {
            let dir = e.path().join(&self.cgroup_parent);
            if dir.is_dir()
                && let Err(err) = std::fs::remove_dir(&dir)
            {
                // Co-mounted controllers (cpu,cpuacct) show one directory under two names.
                if dir.is_dir() {
                    eprintln!("bench: cannot remove the cgroup {}: {err}", dir.display());
                }
            }
        }
    }
}

impl Drop for Dockerd {
    fn drop(&mut self) {
        let _ = output(self.cmd().args(["rmi", "-f", IMAGE]), "docker rmi");
        self.stop_daemon();
        self.remove_cgroup_parent();
    }
}
