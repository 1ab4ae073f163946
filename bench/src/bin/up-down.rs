//! berth's main job side by side with the tools users would pick instead: the time of
//! `up -d` (until every container runs) and of `down -v` (until everything is removed) of the
//! same small stack, berth against Docker Compose with dockerd and against podman-compose, in
//! the same run.
//!
//! Run as root, after building berth:
//! `cargo build --release -p berth -p berth-bench && target/release/up-down`
//! (BERTH_BENCH_ROUNDS, default 5; BERTH_BENCH_TOOLS=berth,docker,podman picks tools;
//! BERTH_BIN names another berth). Debian packages: busybox-static, docker.io,
//! docker-compose, podman, podman-compose.
//!
//! The stack is one compose file, used unchanged by all three tools: `web` (busybox httpd on
//! port 80, published on a free port of 127.0.0.1), `api` (sleeping, depends on web) and
//! `worker` (sleeping, with a named volume), on the project's default network. Images are one
//! busybox root filesystem imported into each tool, never pulled; dockerd is the bench's own
//! (without iptables: its bridge networks only join containers on the host), podman's store
//! is the bench's own. Every round runs each tool in turn (the order rotates): `up -d`, timed
//! by the wall clock of the command, and until the tool's `ps` shows every container running
//! if the command returned before; then `down -v`, timed, after which the bench checks that
//! nothing is left. Peak RSS is the largest resident size of any process of the command's
//! tree that the command waited for (wait4's ru_maxrss); the resident memory of what stays
//! running is read from /proc while the stack is up.
//!
//! Figures only, never asserted. The bench removes everything it made, also on failure and
//! on Ctrl-C (projects, images, the dockerd, its temporary directory).

#[path = "up-down/report.rs"]
mod report;
#[path = "up-down/stacks.rs"]
mod stacks;

use anyhow::{Context, Result, bail};
use berth_bench::tools::{self, interrupted, output};
use report::Figures;
use stacks::Stack;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The longest a stack may take to come up or go down.
const TIMEOUT: Duration = Duration::from_secs(60);
/// The services of the stack.
const SERVICES: usize = 3;

/// The compose file of the stack; `{port}` is the published host port. The containers end
/// at once on SIGTERM (a shell as process 1 ignores it otherwise, and `down` would time the
/// stop timeout).
const COMPOSE: &str = r#"services:
  web:
    image: berth-bench/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; httpd -f -p 80 -h /tmp & wait"]
    ports:
      - "127.0.0.1:{port}:80"
  api:
    image: berth-bench/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    depends_on:
      - web
  worker:
    image: berth-bench/busybox:1
    command: ["sh", "-c", "trap 'exit 0' TERM; sleep 86400 & wait"]
    volumes:
      - data:/data
volumes:
  data: {}
"#;

fn main() {
    let rounds = std::env::var("BERTH_BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5usize);
    tools::run_bench("up-down", |work| bench(rounds, work));
}

/// A tool, its figures, and whether its project may be up (then dropping it takes it down).
struct Slot {
    stack: Box<dyn Stack>,
    up: bool,
    figures: Figures,
}

impl Slot {
    fn round(&mut self, dir: &Path, port: u16) -> Result<()> {
        let log = dir.join(format!("{}.log", self.stack.name()));
        if let Some(r) = self.stack.resident() {
            self.figures.idle.push(r.kib);
        }
        let t0 = Instant::now();
        self.up = true;
        let (took, rss) = timed(&mut self.stack.up(), &log, "up -d")?;
        let mut ready = took;
        let mut first = true;
        loop {
            interrupted()?;
            if stacks::running(self.stack.as_ref())? >= SERVICES {
                if !first {
                    ready = t0.elapsed();
                }
                break;
            }
            first = false;
            if t0.elapsed() > TIMEOUT {
                bail!(
                    "not all {SERVICES} containers run {TIMEOUT:?} after up -d (states: {:?}); \
                     its output:\n{}",
                    self.stack.states(true).unwrap_or_default(),
                    log_tail(&log)
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.figures.up.push(took);
        self.figures.ready.push(ready);
        self.figures.up_rss.push(rss);
        if let Some(r) = self.stack.resident() {
            self.figures.resident.push(r.kib);
            self.figures.resident_procs = r.processes;
            self.figures.resident_what = r.what;
        }
        self.figures.port_ok.push(http_answers(port));
        // The stack runs a moment before it goes, as it would.
        std::thread::sleep(Duration::from_millis(500));
        let (took, rss) = timed(&mut self.stack.down(), &log, "down -v")?;
        if !stacks::gone(self.stack.as_ref())? {
            bail!("containers are left after down -v");
        }
        self.up = false;
        self.stack.tidy()?;
        self.figures.down.push(took);
        self.figures.down_rss.push(rss);
        Ok(())
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if self.up {
            if let Err(e) = output(&mut self.stack.down(), "down -v") {
                eprintln!("up-down: clean-up of {}: {e:#}", self.stack.name());
            }
            if let Err(e) = self.stack.tidy() {
                eprintln!("up-down: clean-up of {}: {e:#}", self.stack.name());
            }
        }
    }
}

fn bench(rounds: usize, work: &Path) -> Result<()> {
    let load_before = tools::load();
    let tar = tools::busybox_tar(work)?;
    let port = free_port()?;
    let dir = work.join("stack");
    std::fs::create_dir_all(&dir)?;
    std::fs::write(
        dir.join("compose.yaml"),
        COMPOSE.replace("{port}", &port.to_string()),
    )?;
    let project = format!("updown{}", std::process::id());
    let (mut slots, mut notes) = tools::set_up("up-down", |tool| {
        let stack: Box<dyn Stack> = match tool {
            "berth" => Box::new(stacks::BerthStack::new(work, &tar, &dir, &project)?),
            "docker" => Box::new(stacks::DockerStack::new(work, &tar, &dir, &project)?),
            "podman" => Box::new(stacks::PodmanStack::new(work, &tar, &dir, &project)?),
            other => bail!("unknown tool {other:?}"),
        };
        Ok(Slot {
            stack,
            up: false,
            figures: Figures::default(),
        })
    })?;
    notes.extend(
        slots
            .iter()
            .filter_map(|s| Some(format!("{}: {}", s.stack.name(), s.stack.note()?))),
    );
    let n = slots.len();
    for round in 0..rounds {
        eprintln!("up-down: round {} of {rounds}", round + 1);
        for k in 0..n {
            let slot = &mut slots[(round + k) % n];
            if slot.figures.failed.is_some() {
                continue;
            }
            if let Err(e) = slot.round(&dir, port) {
                interrupted()?;
                eprintln!("up-down: {} failed: {e:#}", slot.stack.name());
                slot.figures.failed = Some(format!("{e:#}"));
            }
        }
    }
    let rows: Vec<report::Row> = slots
        .iter()
        .map(|s| report::Row {
            name: s.stack.name(),
            figures: &s.figures,
        })
        .collect();
    report::print(rounds, port, &rows, &notes, &load_before);
    Ok(())
}

/// Runs `cmd` with its output appended to `log`; its wall-clock time and the peak resident
/// size in KiB of its process tree (the largest of the command and the children it waited
/// for), or an error with the log's tail.
fn timed(cmd: &mut Command, log: &Path, what: &str) -> Result<(Duration, u64)> {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(log)?;
    let t0 = Instant::now();
    let child = cmd
        .stdin(Stdio::null())
        .stdout(file.try_clone()?)
        .stderr(file)
        .spawn()
        .with_context(|| format!("cannot run {what}"))?;
    let pid = child.id() as libc::pid_t;
    let mut status = 0;
    // SAFETY: an all-zero rusage is a valid value of the plain C struct.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let waited = loop {
        // wait4 rather than Child::wait: it reports the child's rusage alone.
        // SAFETY: pid is our unwaited child; status and usage are valid for writing.
        let r = unsafe { libc::wait4(pid, &mut status, 0, &mut usage) };
        if r == -1 && std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted {
            continue;
        }
        break r;
    };
    let took = t0.elapsed();
    if waited != pid {
        bail!("wait4 of {what}: {}", std::io::Error::last_os_error());
    }
    if !libc::WIFEXITED(status) || libc::WEXITSTATUS(status) != 0 {
        bail!("{what} failed (wait status {status}):\n{}", log_tail(log));
    }
    Ok((took, usage.ru_maxrss.max(0) as u64))
}

/// The last lines of a command's log.
fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(12)..].join("\n")
}

/// A free TCP port of 127.0.0.1 (free when asked; the tools publish on it in turn).
fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("bind 127.0.0.1:0")?;
    Ok(listener.local_addr()?.port())
}

/// Whether busybox httpd answers an HTTP request on the published port of 127.0.0.1 within
/// three seconds (a tool may still be setting up its forwarding when `ps` says running).
fn http_answers(port: u16) -> bool {
    let end = Instant::now() + Duration::from_secs(3);
    loop {
        if http_once(port) {
            return true;
        }
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn http_once(port: u16) -> bool {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET / HTTP/1.0\r\n\r\n").is_err() {
        return false;
    }
    let mut buf = [0u8; 12];
    matches!(s.read(&mut buf), Ok(n) if n >= 5 && buf.starts_with(b"HTTP/"))
}
