//! The three compose tools under test, each bringing up and down the same compose file with
//! a project of its own: berth, Docker Compose (Debian's docker-compose 1.29) against the
//! bench's private dockerd, and podman-compose against a private podman store.

use anyhow::{Context, Result, bail};
use berth_bench::tools::{
    berth::Berth, dockerd::Dockerd, output, podman::Podman, processes, rss_kib,
};
use std::path::{Path, PathBuf};
use std::process::Command;

/// A compose tool and its project of the bench's stack.
pub trait Stack {
    /// The tool's name in the report.
    fn name(&self) -> &'static str;
    /// The tool's command line for the project, to which a verb is added.
    fn cmd(&self) -> Command;
    /// The tool's `up -d` of the project.
    fn up(&self) -> Command {
        let mut c = self.cmd();
        c.args(["up", "-d"]);
        c
    }
    /// The tool's `down -v` of the project.
    fn down(&self) -> Command {
        let mut c = self.cmd();
        c.args(["down", "-v"]);
        c
    }
    /// The states of the project's containers (`running`, `exited`, ...), as the tool
    /// reports them; with `all`, also the ones not running.
    fn states(&self, all: bool) -> Result<Vec<String>>;
    /// The summed resident memory in KiB of the processes that stay running for the
    /// project (without the containers' own processes), how many they are, and what.
    fn resident(&self) -> Option<Resident>;
    /// What the report should say of how this tool was run.
    fn note(&self) -> Option<&'static str> {
        None
    }
    /// Removes what the tool's `down -v` leaves behind (untimed).
    fn tidy(&self) -> Result<()> {
        Ok(())
    }
}

/// Resident memory of the processes a tool keeps running.
pub struct Resident {
    /// Summed VmRSS in KiB.
    pub kib: u64,
    /// How many processes.
    pub processes: usize,
    /// What they are.
    pub what: &'static str,
}

impl Resident {
    fn of(pids: &[i32], what: &'static str) -> Resident {
        let sizes: Vec<u64> = pids.iter().filter_map(|p| rss_kib(*p)).collect();
        Resident {
            kib: sizes.iter().sum(),
            processes: sizes.len(),
            what,
        }
    }
}

/// Whether the project of `stack` has no container left, after a `down`.
pub fn gone(stack: &dyn Stack) -> Result<bool> {
    Ok(stack.states(true)?.is_empty())
}

/// The project's containers that run.
pub fn running(stack: &dyn Stack) -> Result<usize> {
    Ok(stack
        .states(false)?
        .iter()
        .filter(|s| s.eq_ignore_ascii_case("running"))
        .count())
}

/// Points a compose tool's command at the project: the compose file in `dir`, the project
/// name, and nothing from the environment that would pick others.
fn for_project<'a>(c: &'a mut Command, dir: &Path, project: &str) -> &'a mut Command {
    c.env_remove("COMPOSE_PROJECT_NAME")
        .env_remove("COMPOSE_FILE")
        .current_dir(dir)
        .args(["-f", "compose.yaml", "-p", project])
}

/// Adds `ps` of the containers labelled `label`=`project` to a docker or podman command.
fn ps_of(c: &mut Command, format: &str, label: &str, project: &str, all: bool) {
    c.args(["ps", "--format", format, "--filter"])
        .arg(format!("label={label}={project}"));
    if all {
        c.arg("-a");
    }
}

fn lines(out: &str) -> Vec<String> {
    out.lines()
        .map(|l| l.trim().to_string())
        .filter(|l| !l.is_empty())
        .collect()
}

/// berth, with its own state root.
pub struct BerthStack {
    berth: Berth,
    dir: PathBuf,
    project: String,
}

impl BerthStack {
    /// berth under `work`/berth, the project `project` of the compose file in `dir`.
    pub fn new(work: &Path, tar: &Path, dir: &Path, project: &str) -> Result<BerthStack> {
        Ok(BerthStack {
            berth: Berth::new(&work.join("berth"), tar)?,
            dir: dir.to_path_buf(),
            project: project.to_string(),
        })
    }
}

impl Stack for BerthStack {
    fn name(&self) -> &'static str {
        "berth"
    }

    fn cmd(&self) -> Command {
        let mut c = self.berth.cmd(&self.dir);
        for_project(&mut c, &self.dir, &self.project);
        c
    }

    fn states(&self, all: bool) -> Result<Vec<String>> {
        let mut c = self.cmd();
        c.args(["ps", "--format", "json"]);
        if all {
            c.arg("-a");
        }
        let out = output(&mut c, "berth ps")?;
        let mut states = Vec::new();
        // One JSON array, or one object per line.
        for line in out.lines().filter(|l| !l.trim().is_empty()) {
            let value: serde_json::Value =
                serde_json::from_str(line.trim()).context("berth ps --format json")?;
            let items = match value {
                serde_json::Value::Array(a) => a,
                v => vec![v],
            };
            for item in items {
                states.push(item["State"].as_str().unwrap_or("?").to_string());
            }
        }
        Ok(states)
    }

    fn resident(&self) -> Option<Resident> {
        let pids: Vec<i32> = self
            .berth
            .supervisor_pid(&self.project)
            .into_iter()
            .collect();
        Some(Resident::of(&pids, "the project's supervisor"))
    }
}

/// Docker Compose against the bench's private dockerd.
pub struct DockerStack {
    daemon: Dockerd,
    dir: PathBuf,
    project: String,
}

impl DockerStack {
    /// A dockerd under `work`/docker, the project `project` of the compose file in `dir`.
    pub fn new(work: &Path, tar: &Path, dir: &Path, project: &str) -> Result<DockerStack> {
        if !berth_bench::tools::on_path("docker-compose") {
            bail!("docker-compose is not installed (apt-get install docker-compose)");
        }
        Ok(DockerStack {
            daemon: Dockerd::start(&work.join("docker"), "berth-bench-updown", tar)?,
            dir: dir.to_path_buf(),
            project: project.to_string(),
        })
    }
}

impl Stack for DockerStack {
    fn name(&self) -> &'static str {
        "docker-compose"
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Debian's docker-compose 1.29 against a private dockerd 20.10 started with \
             --iptables=false --bridge=none: the project network is a user-defined bridge \
             without NAT or forwarding, the published port goes through docker-proxy",
        )
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("docker-compose");
        c.env("DOCKER_HOST", self.daemon.host()).arg("--no-ansi");
        for_project(&mut c, &self.dir, &self.project);
        c
    }

    fn states(&self, all: bool) -> Result<Vec<String>> {
        let mut c = self.daemon.cmd();
        let label = "com.docker.compose.project";
        ps_of(&mut c, "{{.State}}", label, &self.project, all);
        Ok(lines(&output(&mut c, "docker ps")?))
    }

    fn resident(&self) -> Option<Resident> {
        Some(Resident::of(
            &self.daemon.resident(),
            "dockerd, its containerd, the containers' shims, docker-proxy",
        ))
    }
}

/// podman-compose against a private podman store.
pub struct PodmanStack {
    podman: Podman,
    dir: PathBuf,
    project: String,
}

impl PodmanStack {
    /// A podman store under `work`/podman, the project `project` of the compose file in `dir`.
    pub fn new(work: &Path, tar: &Path, dir: &Path, project: &str) -> Result<PodmanStack> {
        if !berth_bench::tools::on_path("podman-compose") {
            bail!("podman-compose is not installed (apt-get install podman-compose)");
        }
        Ok(PodmanStack {
            podman: Podman::new(&work.join("podman"), tar)?,
            dir: dir.to_path_buf(),
            project: project.to_string(),
        })
    }

    /// The project's default network, which podman-compose creates and leaves.
    fn network(&self) -> String {
        format!("{}_default", self.project)
    }
}

impl Stack for PodmanStack {
    fn name(&self) -> &'static str {
        "podman-compose"
    }

    fn note(&self) -> Option<&'static str> {
        Some(
            "Debian's podman-compose 1.0.3 with podman 4.3 (CNI): its up -d waits 1 s after \
             each `podman run` (its default); its down -v leaves the project network, which \
             the bench removes untimed",
        )
    }

    fn cmd(&self) -> Command {
        let mut c = Command::new("podman-compose");
        self.podman.env(&mut c);
        // podman-compose splits this like a shell; the bench's paths have no spaces.
        let global: Vec<String> = self
            .podman
            .global_args()
            .iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        c.arg("--podman-args")
            .arg(global.join(" "))
            .arg("--no-ansi");
        for_project(&mut c, &self.dir, &self.project);
        c
    }

    fn states(&self, all: bool) -> Result<Vec<String>> {
        // podman 4.3's `{{.State}}` is the status text ("Up 2 seconds ago"); its JSON has
        // the state.
        let mut c = self.podman.cmd();
        ps_of(
            &mut c,
            "json",
            "io.podman.compose.project",
            &self.project,
            all,
        );
        let out = output(&mut c, "podman ps")?;
        let value: serde_json::Value =
            serde_json::from_str(out.trim()).context("podman ps --format json")?;
        Ok(value
            .as_array()
            .map(|a| {
                a.iter()
                    .map(|c| c["State"].as_str().unwrap_or("?").to_string())
                    .collect()
            })
            .unwrap_or_default())
    }

    fn resident(&self) -> Option<Resident> {
        let store = self.podman.dir().display().to_string();
        let pids = processes(|_, line| line.contains("conmon") && line.contains(&store));
        Some(Resident::of(&pids, "the containers' conmon processes"))
    }

    fn tidy(&self) -> Result<()> {
        let net = self.network();
        let exists = output(
            self.podman.cmd().args(["network", "exists", &net]),
            "podman network exists",
        )
        .is_ok();
        if exists {
            output(
                self.podman.cmd().args(["network", "rm", "-f", &net]),
                "podman network rm",
            )?;
        }
        // CNI's host-local IPAM keeps a directory of leases per network name.
        let leases = Path::new("/var/lib/cni/networks").join(&net);
        if leases.is_dir() {
            std::fs::remove_dir_all(&leases)
                .with_context(|| format!("cannot remove {}", leases.display()))?;
        }
        Ok(())
    }
}
