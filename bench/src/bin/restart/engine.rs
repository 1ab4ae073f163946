//! What the benchmark needs of a container tool, and the helpers the three tools share:
//! running their CLI, telling a live process from a dead one, and the image they all run.

use anyhow::{Context, Result, bail};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant, SystemTime};

/// The image reference under which every tool gets the same busybox root filesystem.
pub const IMAGE: &str = "berth-bench/busybox:1";

/// A container tool under test. Containers run `sh -c SCRIPT` from [`IMAGE`] with restart
/// policy `always`, no network, and their marker directory bind-mounted at /mark. Dropping
/// the tool removes whatever it still has.
pub trait Engine {
    /// The tool's name in the report.
    fn name(&self) -> &'static str;
    /// Starts container `name` (detached; it keeps restarting until removed).
    fn run(&mut self, name: &str, mark: &Path, script: &str) -> Result<()>;
    /// The host pid of the running container's process 1, if the tool reports one.
    fn pid(&self, name: &str) -> Option<i32>;
    /// Removes container `name`, stopping it first.
    fn remove(&mut self, name: &str) -> Result<()>;
    /// Where the time between a kill at `killed` and the next run's start at `started` went,
    /// as consecutive phases, when the tool tells.
    fn phases(&self, _name: &str, _killed: SystemTime, _started: SystemTime) -> Option<Phases> {
        None
    }
}

/// Named consecutive durations.
pub type Phases = Vec<(&'static str, Duration)>;

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
            eprintln!("restart: unmounted a leftover mount {p}");
        }
    }
}
