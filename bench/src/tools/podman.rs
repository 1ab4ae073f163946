//! podman with everything of its own in the bench's temporary directory: storage, run state,
//! temporary files and network definitions (so that nothing lands in /etc/cni/net.d), with
//! the settings these machines need (no systemd, ulimits within the hard limits: DESIGN.md,
//! facts of these machines).

use super::{IMAGE, on_path, output};
use anyhow::{Result, bail};
use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Command;

/// podman's private store with the busybox image imported as [`IMAGE`]. Dropping it removes
/// the image; containers, pods and networks should be removed before.
pub struct Podman {
    dir: PathBuf,
}

impl Podman {
    /// Sets up podman's directories under `dir` and imports `tar` as [`IMAGE`].
    pub fn new(dir: &Path, tar: &Path) -> Result<Podman> {
        if !on_path("podman") {
            bail!("podman is not installed (apt-get install podman)");
        }
        std::fs::create_dir_all(dir.join("networks"))?;
        // podman's default ulimits exceed this machine's hard limits; every container it
        // creates (also a pod's infra container) gets these instead.
        std::fs::write(
            dir.join("containers.conf"),
            "[containers]\ndefault_ulimits = [\"nofile=1024:1024\", \"nproc=1024:1024\"]\n",
        )?;
        let podman = Podman {
            dir: dir.to_path_buf(),
        };
        output(
            podman
                .cmd()
                .args(["import", "--change", r#"CMD ["sh"]"#])
                .arg(tar)
                .arg(IMAGE),
            "podman import",
        )?;
        Ok(podman)
    }

    /// podman's global options that point it at this store.
    pub fn global_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = Vec::new();
        for (flag, sub) in [
            ("--root", "root"),
            ("--runroot", "run"),
            ("--tmpdir", "tmp"),
            ("--network-config-dir", "networks"),
        ] {
            args.push(flag.into());
            args.push(self.dir.join(sub).into());
        }
        // No systemd here (DESIGN.md, facts of these machines).
        for a in ["--cgroup-manager", "cgroupfs", "--events-backend", "file"] {
            args.push(a.into());
        }
        args
    }

    /// Sets what podman reads from the environment (its containers.conf) on `cmd`, which
    /// runs podman or a tool that runs it.
    pub fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("CONTAINERS_CONF", self.dir.join("containers.conf"))
    }

    /// podman, using this store.
    pub fn cmd(&self) -> Command {
        let mut c = Command::new("podman");
        self.env(&mut c);
        c.args(self.global_args());
        c
    }

    /// The directory everything of this store is under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

impl Drop for Podman {
    fn drop(&mut self) {
        let _ = output(self.cmd().args(["rmi", "-f", IMAGE]), "podman rmi");
    }
}
