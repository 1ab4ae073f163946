//! What the side-by-side benchmarks share to run berth, Docker and podman on this machine:
//! running a tool's CLI, telling a live process from a dead one, the busybox image every tool
//! imports (no pulls), the private dockerd, the interrupt flag that lets a bench unwind through
//! its clean-up on Ctrl-C, and the last-resort unmount of what a tool left behind.

pub mod berth;
pub mod dockerd;
pub mod podman;

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

/// The image reference under which every tool gets the same busybox root filesystem.
pub const IMAGE: &str = "berth-bench/busybox:1";

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// Makes SIGINT and SIGTERM set the flag [`interrupted`] reports instead of ending the
/// process, so that the bench removes what it made before it exits.
fn catch_interrupts() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Fails once SIGINT or SIGTERM arrived, so that the bench unwinds through its clean-up.
pub fn interrupted() -> Result<()> {
    if STOP.load(Ordering::Relaxed) {
        bail!("interrupted");
    }
    Ok(())
}

/// The frame of a side-by-side bench named `bench`: checks for root, catches interrupts,
/// installs the egress guard (DESIGN.md: no container may reach past the machine), makes sure
/// crun can run, and runs `body` in a temporary directory, after which it detaches whatever
/// a tool left mounted there and removes it. Exits with status 1 when `body` fails.
pub fn run_bench(bench: &str, body: impl FnOnce(&Path) -> Result<()>) {
    if !is_root() {
        eprintln!("{bench} needs root (it runs containers with three tools and a dockerd)");
        std::process::exit(2);
    }
    catch_interrupts();
    let result = egress_guard().and_then(|()| {
        crate::ensure_hugetlb_v1();
        let work = tempfile::Builder::new()
            .prefix(&format!("berth-bench-{bench}-"))
            .tempdir()
            .context("temporary directory")?;
        let result = body(work.path());
        unmount_under(work.path());
        result
    });
    if let Err(e) = result {
        eprintln!("{bench}: {e:#}");
        std::process::exit(1);
    }
}

/// Sets up each tool the bench is asked for (BERTH_BENCH_TOOLS, a comma-separated list;
/// default berth,docker,podman; each once) with `make`. A tool that cannot be set up is left
/// out with a note; fails when none is left or the bench is interrupted.
pub fn set_up<T>(
    bench: &str,
    mut make: impl FnMut(&str) -> Result<T>,
) -> Result<(Vec<T>, Vec<String>)> {
    let wanted =
        std::env::var("BERTH_BENCH_TOOLS").unwrap_or_else(|_| "berth,docker,podman".into());
    let mut seen = std::collections::HashSet::new();
    let mut made = Vec::new();
    let mut notes = Vec::new();
    for tool in wanted.split(',').map(str::trim).filter(|t| seen.insert(*t)) {
        match make(tool) {
            Ok(t) => made.push(t),
            Err(e) => {
                interrupted()?;
                eprintln!("{bench}: {tool} not measured: {e:#}");
                notes.push(format!("{tool}: not measured: {e:#}"));
            }
        }
    }
    if made.is_empty() {
        bail!("no tool to measure");
    }
    Ok((made, notes))
}

/// Whether the process runs as root (the benches run containers with three tools).
fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

/// Installs the egress guard (DESIGN.md): no container may reach past the machine.
fn egress_guard() -> Result<()> {
    let guard = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.ci/egress-guard");
    output(Command::new("bash").arg(&guard), "the egress guard")?;
    Ok(())
}

/// The load average of the machine.
pub fn load() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

/// Runs `cmd` with no input; its stdout when it succeeds, else an error with its stderr.
pub fn output(cmd: &mut Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("cannot run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether `pid` is a process that has not ended (zombies have ended).
pub fn alive(pid: i32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    // The state follows the command name, which is in parentheses and may hold anything.
    stat.rsplit_once(')')
        .and_then(|(_, rest)| rest.split_whitespace().next())
        .is_some_and(|state| state != "Z" && state != "X")
}

/// Waits until `pid` has ended (or `timeout` passed); whether it did.
pub fn wait_gone(pid: i32, timeout: Duration) -> bool {
    let end = Instant::now() + timeout;
    while alive(pid) {
        if Instant::now() >= end {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// Sends `sig` to `pid`.
pub fn signal(pid: i32, sig: libc::c_int) -> Result<()> {
    // SAFETY: kill has no memory preconditions; the pid was read from a tool just before.
    if unsafe { libc::kill(pid, sig) } != 0 {
        bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
    }
    Ok(())
}

/// The resident memory of process `pid` in KiB (VmRSS), if it is there.
pub fn rss_kib(pid: i32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The live processes of the machine for which `pick(pid, command line)` holds (the
/// command line with spaces between its arguments).
pub fn processes(mut pick: impl FnMut(i32, &str) -> bool) -> Vec<i32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|n| n.parse::<i32>().ok()) else {
            continue;
        };
        let Ok(raw) = std::fs::read(format!("/proc/{pid}/cmdline")) else {
            continue;
        };
        let line = String::from_utf8_lossy(&raw).replace('\0', " ");
        if pick(pid, line.trim_end()) && alive(pid) {
            found.push(pid);
        }
    }
    found
}

/// The parent of process `pid`.
pub fn parent(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The busybox root filesystem every tool imports, as a tar: Debian's static busybox with a
/// link per applet, root in /etc/passwd and /etc/group (what examples/make-busybox-image.sh
/// makes for berth).
pub fn busybox_tar(work: &Path) -> Result<PathBuf> {
    let root = work.join("rootfs");
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp", "root", "mark"] {
        std::fs::create_dir_all(root.join(d))?;
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .context("/bin/busybox is missing: apt-get install busybox-static")?;
    let list = output(Command::new("/bin/busybox").arg("--list"), "busybox --list")?;
    for applet in list.lines().filter(|a| *a != "busybox") {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet))?;
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n")?;
    std::fs::write(root.join("etc/group"), "root:x:0:\n")?;
    let tar = work.join("rootfs.tar");
    output(
        Command::new("tar")
            .arg("-C")
            .arg(&root)
            .arg("-cf")
            .arg(&tar)
            .arg("."),
        "tar of the rootfs",
    )?;
    Ok(tar)
}

/// Whether `name` is an executable on PATH.
pub fn on_path(name: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(name).is_file())
}

/// Detaches every mount below `dir` (deepest first): the last resort of the clean-up, for
/// what a tool left mounted in the bench's temporary directory.
pub fn unmount_under(dir: &Path) {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let prefix = format!("{}/", dir.display());
    let mut points: Vec<String> = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|p| p.starts_with(&prefix))
        .map(|p| p.replace("\\040", " "))
        .collect();
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    points.dedup();
    for p in points {
        let Ok(c) = std::ffi::CString::new(p.clone()) else {
            continue;
        };
        // berth keeps its namespace directory mounted (as `ip netns` does): not a leak.
        // SAFETY: c is a valid NUL-terminated path.
        if unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) } == 0
            && !p.ends_with("/run/network/netns")
        {
            eprintln!("bench: unmounted a leftover mount {p}");
        }
    }
}
