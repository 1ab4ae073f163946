//! berth as the benches run it: the release binary beside the bench's own (or BERTH_BIN), a
//! state root, run directory and empty config of its own, and the busybox image imported.

use super::{IMAGE, output};
use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

/// berth with a private state root under a directory of the bench.
pub struct Berth {
    bin: PathBuf,
    dir: PathBuf,
}

impl Berth {
    /// Sets up a state root under `dir` and imports the busybox `tar` as [`IMAGE`].
    pub fn new(dir: &Path, tar: &Path) -> Result<Berth> {
        let bin = match std::env::var_os("BERTH_BIN") {
            Some(b) => PathBuf::from(b),
            None => std::env::current_exe()?
                .parent()
                .context("the bench binary has no directory")?
                .join("berth"),
        };
        if !bin.is_file() {
            bail!(
                "{} is missing: build berth first (cargo build --release -p berth) or set BERTH_BIN",
                bin.display()
            );
        }
        for d in ["root", "run", "projects"] {
            std::fs::create_dir_all(dir.join(d))?;
        }
        std::fs::write(dir.join("config.toml"), "")?;
        let berth = Berth {
            bin,
            dir: dir.to_path_buf(),
        };
        output(
            berth
                .cmd(&berth.dir)
                .args(["image", "import", "--change", r#"CMD ["sh"]"#])
                .arg(tar)
                .arg(IMAGE),
            "berth image import",
        )?;
        Ok(berth)
    }

    /// berth, run in `cwd`, with this state root.
    pub fn cmd(&self, cwd: &Path) -> Command {
        let mut c = Command::new(&self.bin);
        c.env("BERTH_ROOT", self.dir.join("root"))
            .env("BERTH_RUN", self.dir.join("run"))
            .env("BERTH_CONFIG", self.dir.join("config.toml"))
            // Nothing is ever forwarded to the machine's resolver.
            .env("BERTH_DNS_UPSTREAMS", "127.0.0.1:9")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .current_dir(cwd);
        c
    }

    /// The directory everything of this berth is under.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The pid of `project`'s supervisor, if it has one.
    pub fn supervisor_pid(&self, project: &str) -> Option<i32> {
        let file = self
            .dir
            .join("run/supervisors")
            .join(format!("{project}.pid"));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }
}
