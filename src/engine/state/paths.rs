//! Where each piece of a container lives on disk, in one place, so that the engine that
//! prepares a container, the supervisor that runs it and the commands that read it agree.

use std::path::{Path, PathBuf};

/// The files of one container under `<root>/containers/<id>/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerPaths {
    dir: PathBuf,
}

impl ContainerPaths {
    /// The paths of the container whose directory is `dir`.
    pub fn new(dir: impl Into<PathBuf>) -> ContainerPaths {
        ContainerPaths { dir: dir.into() }
    }

    /// The container's directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The OCI runtime spec the runtime starts it from.
    pub fn spec(&self) -> PathBuf {
        self.dir.join("spec.json")
    }

    /// The mount point of its root filesystem.
    pub fn rootfs(&self) -> PathBuf {
        self.dir.join("rootfs")
    }

    /// The overlay's upper (writable) directory.
    pub fn upper(&self) -> PathBuf {
        self.dir.join("upper")
    }

    /// The overlay's work directory.
    pub fn work(&self) -> PathBuf {
        self.dir.join("work")
    }

    /// Its `/etc/hosts`.
    pub fn hosts(&self) -> PathBuf {
        self.dir.join("hosts")
    }

    /// Its `/etc/resolv.conf`.
    pub fn resolv_conf(&self) -> PathBuf {
        self.dir.join("resolv.conf")
    }

    /// Its `/etc/hostname`.
    pub fn hostname(&self) -> PathBuf {
        self.dir.join("hostname")
    }

    /// Where the `n`th image of its `type: image` mounts is mounted (1, 2, ...).
    pub fn image_mount(&self, n: u32) -> PathBuf {
        self.dir.join("images").join(n.to_string())
    }

    /// The directory of its image mounts.
    pub fn image_mounts(&self) -> PathBuf {
        self.dir.join("images")
    }

    /// Materialized secrets and configs.
    pub fn files(&self) -> PathBuf {
        self.dir.join("files")
    }

    /// The current log file (Docker's json-file format; see `engine::logs`).
    pub fn log(&self) -> PathBuf {
        self.dir.join("container.log")
    }

    /// Rotated log file `n` (1 is the newest).
    pub fn rotated_log(&self, n: u32) -> PathBuf {
        self.dir.join(format!("container.log.{n}"))
    }

    /// The FIFO its stdin is read from, with `stdin_open`.
    pub fn stdin_fifo(&self) -> PathBuf {
        self.dir.join("stdin.fifo")
    }

    /// The FIFO its stdout is written to (read by the supervisor).
    pub fn stdout_fifo(&self) -> PathBuf {
        self.dir.join("stdout.fifo")
    }

    /// The FIFO its stderr is written to.
    pub fn stderr_fifo(&self) -> PathBuf {
        self.dir.join("stderr.fifo")
    }
}

impl super::StateRoot {
    /// The paths of container `id`.
    pub fn container_paths(&self, id: &str) -> ContainerPaths {
        ContainerPaths::new(self.container_dir(id))
    }

    /// The container runtime's state directory (process ids, cgroups, exec FIFOs): run
    /// state, gone after a reboot like the processes it describes.
    pub fn runtime_dir(&self) -> PathBuf {
        self.run().join("runtime")
    }

    /// The image store.
    pub fn images_dir(&self) -> PathBuf {
        self.root().join("images")
    }

    /// The volume store.
    pub fn volumes_dir(&self) -> PathBuf {
        self.root().join("volumes")
    }

    /// The networks' durable state (IPAM, leases).
    pub fn networks_dir(&self) -> PathBuf {
        self.root().join("networks")
    }

    /// The networks' run state (namespace files, locks).
    pub fn network_run_dir(&self) -> PathBuf {
        self.run().join("network")
    }

    /// The unix socket of project `name`'s supervisor.
    pub fn supervisor_socket(&self, project: &str) -> PathBuf {
        self.run()
            .join("supervisors")
            .join(format!("{project}.sock"))
    }

    /// The pid file of project `name`'s supervisor.
    pub fn supervisor_pid_file(&self, project: &str) -> PathBuf {
        self.run()
            .join("supervisors")
            .join(format!("{project}.pid"))
    }

    /// Where project `name`'s supervisor writes its own diagnostics.
    pub fn supervisor_log(&self, project: &str) -> PathBuf {
        self.project_dir(project).join("supervisor.log")
    }
}
