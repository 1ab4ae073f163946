//! A project under test, driven through the `berth` binary: a temporary state root and run
//! directory, the busybox image made from busybox-static, a unique project name, and a
//! teardown that leaves nothing behind even when the test fails.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

/// The image the stacks run (see examples/make-busybox-image.sh).
pub const IMAGE: &str = "berth-test/busybox:1";

/// A project in a directory of its own, with its own berth state.
pub struct Stack {
    /// The project name.
    pub project: String,
    /// The project directory (holds compose.yaml).
    pub dir: tempfile::TempDir,
    /// BERTH_ROOT.
    pub root: tempfile::TempDir,
    /// BERTH_RUN.
    pub run: tempfile::TempDir,
}

/// Whether the machine can run stacks; fails under BERTH_REQUIRE_PRIVILEGED=1 when not.
pub fn can_run(test: &str) -> bool {
    if !super::require_privileged(test) {
        return false;
    }
    if !Path::new("/bin/busybox").exists() {
        if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
            panic!("{test}: /bin/busybox (busybox-static) is missing");
        }
        eprintln!("skipping {test}: /bin/busybox (busybox-static) is missing");
        return false;
    }
    // No container may reach past the machine (DESIGN.md, egress guard).
    let guard = Path::new(env!("CARGO_MANIFEST_DIR")).join(".ci/egress-guard");
    let ok = Command::new("bash")
        .arg(&guard)
        .status()
        .is_ok_and(|s| s.success());
    assert!(ok, "{test}: cannot install the egress guard");
    true
}

impl Stack {
    /// A stack named `<prefix>-<pid>-<n>` whose compose.yaml is `compose`, with the busybox
    /// image imported into its fresh state root.
    pub fn new(prefix: &str, compose: &str) -> Stack {
        static COUNTER: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let project = format!("{prefix}-{}-{n}", std::process::id());
        let stack = Stack {
            project,
            dir: tempfile::tempdir().expect("temp dir"),
            root: tempfile::tempdir().expect("temp dir"),
            run: tempfile::tempdir().expect("temp dir"),
        };
        stack.write("compose.yaml", compose);
        stack.write("berth-config.toml", "");
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/make-busybox-image.sh");
        let mut cmd = Command::new("sh");
        let out = stack
            .env(&mut cmd)
            .arg(&script)
            .arg(IMAGE)
            .env("BERTH", env!("CARGO_BIN_EXE_berth"))
            .output()
            .expect("run make-busybox-image.sh");
        assert!(
            out.status.success(),
            "make-busybox-image.sh failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        stack
    }

    /// Writes a file of the project directory.
    pub fn write(&self, name: &str, text: &str) {
        let path = self.dir.path().join(name);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(path, text).unwrap();
    }

    fn env<'a>(&self, cmd: &'a mut Command) -> &'a mut Command {
        cmd.env("BERTH_ROOT", self.root.path())
            .env("BERTH_RUN", self.run.path())
            .env("BERTH_CONFIG", self.dir.path().join("berth-config.toml"))
            // The DNS server never forwards to the machine's resolver in tests.
            .env("BERTH_DNS_UPSTREAMS", "127.0.0.1:9")
            .env_remove("COMPOSE_PROJECT_NAME")
            .env_remove("COMPOSE_FILE")
            .current_dir(self.dir.path())
    }

    /// `berth -p <project> ARGS` in the project directory.
    pub fn berth(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        self.env(&mut cmd).arg("-p").arg(&self.project).args(args);
        cmd.stdin(std::process::Stdio::null());
        cmd.output().expect("run berth")
    }

    /// `berth -p <project> ARGS` from a directory without a compose file.
    pub fn berth_elsewhere(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_berth"));
        self.env(&mut cmd)
            .current_dir(self.run.path())
            .arg("-p")
            .arg(&self.project)
            .args(args);
        cmd.stdin(std::process::Stdio::null());
        cmd.output().expect("run berth")
    }

    /// Runs berth and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.berth(args);
        assert!(
            out.status.success(),
            "berth {args:?} failed ({}):\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The `ps --all --format json` row of `service`'s first container (Null when none).
    pub fn ps_row(&self, service: &str) -> serde_json::Value {
        self.ps()
            .into_iter()
            .find(|c| c["Service"] == service)
            .unwrap_or(serde_json::Value::Null)
    }

    /// `ps --all --format json`, one object per container.
    pub fn ps(&self) -> Vec<serde_json::Value> {
        let out = self.berth_elsewhere(&["ps", "--all", "--format", "json"]);
        assert!(
            out.status.success(),
            "ps failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout);
        let trimmed = text.trim();
        if trimmed.starts_with('[') {
            return serde_json::from_str::<Vec<serde_json::Value>>(trimmed).unwrap();
        }
        trimmed
            .lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Container ids of `service`, sorted.
    pub fn ids(&self, service: &str) -> Vec<String> {
        let mut ids: Vec<String> = self
            .ps()
            .iter()
            .filter(|c| c["Service"] == service)
            .map(|c| c["ID"].as_str().unwrap_or_default().to_string())
            .collect();
        ids.sort();
        ids
    }

    /// States of `service`'s containers.
    pub fn states(&self, service: &str) -> Vec<String> {
        self.ps()
            .iter()
            .filter(|c| c["Service"] == service)
            .map(|c| c["State"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Polls `check` until it holds or `timeout` passes (never asserts a duration).
    pub fn eventually(&self, what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
        let start = Instant::now();
        while !check() {
            assert!(start.elapsed() < timeout, "timed out waiting: {what}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// The pid of the project's supervisor, when one runs.
    pub fn supervisor_pid(&self) -> Option<i32> {
        let path = self
            .run
            .path()
            .join("supervisors")
            .join(format!("{}.pid", self.project));
        std::fs::read_to_string(path).ok()?.trim().parse().ok()
    }

    /// The recorded status (`state.json`, else the record's own) of `service`'s first
    /// container, as berth wrote it; `Null` when there is none.
    pub fn status(&self, service: &str) -> serde_json::Value {
        let name = format!("{}-{service}-1", self.project);
        let Ok(dir) = std::fs::read_dir(self.root.path().join("containers")) else {
            return serde_json::Value::Null;
        };
        for entry in dir.flatten() {
            let read = |f: &str| -> Option<serde_json::Value> {
                serde_json::from_str(&std::fs::read_to_string(entry.path().join(f)).ok()?).ok()
            };
            let Some(config) = read("config.json") else {
                continue;
            };
            if config["name"] == name.as_str() {
                return read("state.json").unwrap_or_else(|| config["status"].clone());
            }
        }
        serde_json::Value::Null
    }

    /// The host pid of the init of the container whose id starts with `id`, from the
    /// runtime's state (`<run>/runtime/<id>/state.json`), while it runs.
    pub fn container_pid(&self, id: &str) -> Option<i32> {
        let dir = self.run.path().join("runtime");
        let entry = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .find(|e| e.file_name().to_string_lossy().starts_with(id))?;
        let text = std::fs::read_to_string(entry.path().join("state.json")).ok()?;
        let state: serde_json::Value = serde_json::from_str(&text).ok()?;
        let pid = i32::try_from(state["pid"].as_i64()?).ok()?;
        Path::new(&format!("/proc/{pid}")).exists().then_some(pid)
    }

    /// What a power cut and a boot do to the project, as far as a test may: every process
    /// of it killed at once (its supervisor and its containers, with SIGKILL), every mount
    /// under its state root and run directory gone (root filesystems, image mounts, network
    /// namespaces), its containers' cgroups and its bridges deleted, and the run directory
    /// emptied (it is a tmpfs on a normal machine). The state root stays, as a disk does.
    pub fn simulate_reboot(&self, bridges: &[&str]) {
        let mut victims: Vec<i32> = self.supervisor_pid().into_iter().collect();
        if let Ok(dir) = std::fs::read_dir(self.run.path().join("runtime")) {
            for e in dir.flatten() {
                if let Some(pid) = self.container_pid(&e.file_name().to_string_lossy()) {
                    victims.push(pid);
                }
            }
        }
        for pid in &victims {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        let deadline = Instant::now() + Duration::from_secs(10);
        while victims
            .iter()
            .any(|p| Path::new(&format!("/proc/{p}")).exists())
        {
            assert!(
                Instant::now() < deadline,
                "processes {victims:?} outlived SIGKILL"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        // Deepest first, so that nested mounts go before their parents.
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
        let mut points: Vec<String> = mountinfo
            .lines()
            .filter_map(|l| l.split(' ').nth(4))
            .filter(|p| {
                p.starts_with(&*self.root.path().to_string_lossy())
                    || p.starts_with(&*self.run.path().to_string_lossy())
            })
            .map(str::to_string)
            .collect();
        points.sort_by_key(|p| std::cmp::Reverse(p.len()));
        points.dedup();
        for p in &points {
            let _ = Command::new("umount").arg("-l").arg(p).status();
        }
        // A boot starts with no cgroups: the killed containers' go, as they would.
        if let Ok(dir) = std::fs::read_dir(self.run.path().join("runtime")) {
            for e in dir.flatten() {
                if let Ok(state) = berth_runtime::container::state::State::load(&e.path()) {
                    state
                        .cgroup
                        .remove()
                        .expect("the killed container's cgroup goes");
                }
            }
        }
        for bridge in bridges {
            let name = berth_network::bridge::bridge_name(bridge);
            let _ = Command::new("ip").args(["link", "del", &name]).status();
        }
        for entry in std::fs::read_dir(self.run.path()).unwrap().flatten() {
            let path = entry.path();
            let removed = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            removed.unwrap_or_else(|e| panic!("cannot remove {}: {e}", path.display()));
        }
    }

    /// The run directory's namespace files left for the project.
    pub fn netns_files(&self) -> Vec<PathBuf> {
        let dir = self.run.path().join("network/netns");
        std::fs::read_dir(dir)
            .map(|d| d.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let out = self.berth_elsewhere(&["down", "-v", "--remove-orphans", "-t", "0"]);
        if !out.status.success() {
            eprintln!(
                "teardown of {}: {}",
                self.project,
                String::from_utf8_lossy(&out.stderr)
            );
        }
        // A supervisor that outlived its project (it should not) is ours: end it by pid.
        if let Some(pid) = self.supervisor_pid()
            && Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
        }
        // The run directory's namespace directory is a bind mount of its own.
        // (Two commands that started at once may each have mounted it: undo every layer.)
        for _ in 0..4 {
            let _ = berth_network::netns::release_dir(&self.run.path().join("network/netns"));
        }
    }
}

/// Seconds since the epoch of a recorded time (serde's `SystemTime` form); 0 when absent.
pub fn seconds(t: &serde_json::Value) -> f64 {
    t["secs_since_epoch"].as_f64().unwrap_or(0.0)
        + t["nanos_since_epoch"].as_f64().unwrap_or(0.0) / 1e9
}
