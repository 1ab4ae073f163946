//! After the run: what berth left behind under the run's temporary directory, removed so
//! that the harness cleans up everything it caused even when `down` did not (supervisors
//! whose command line names the run's state root, and mounts below it).

use std::path::Path;
use std::process::Command;

/// Kills the processes whose command line names `work` (berth supervisors of this run), by
/// pid, and lazily unmounts every mount below `work`. Returns what it did, for the log.
pub fn sweep(work: &Path) -> Vec<String> {
    let mut done = Vec::new();
    let needle = work.display().to_string();
    let me = std::process::id();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
                continue;
            };
            if pid as u32 == me {
                continue;
            }
            let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if !cmdline.contains(&needle) {
                continue;
            }
            if let Some(pid) = rustix::process::Pid::from_raw(pid)
                && rustix::process::kill_process(pid, rustix::process::Signal::KILL).is_ok()
            {
                done.push(format!("killed {pid:?}: {}", cmdline.trim()));
            }
        }
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut points: Vec<&str> = mountinfo
        .lines()
        .filter_map(|line| line.split(' ').nth(4))
        .filter(|point| point.starts_with(&needle))
        .collect();
    // Deepest first.
    points.sort_by_key(|p| std::cmp::Reverse(p.len()));
    for point in points {
        if Command::new("umount")
            .args(["-l", point])
            .status()
            .is_ok_and(|s| s.success())
        {
            done.push(format!("unmounted {point}"));
        }
    }
    done
}
