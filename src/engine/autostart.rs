//! Coming back after a reboot: per project, a systemd unit that runs `berth resume` for it at
//! boot (`berth autostart enable`), enabled the way `systemctl enable` enables a unit (a link
//! in `multi-user.target.wants`), so it works even when systemd does not run while it is
//! installed. Machines without systemd call `berth resume --all` from their init system;
//! `--all` means every project whose autostart is enabled (the project record remembers it).
//!
//! The unit text is a pure function of the project and the paths; installing and removing
//! touch only the unit directory (`/etc/systemd/system`, or `$BERTH_SYSTEMD_UNIT_DIR`).

use anyhow::Context;
use std::path::{Path, PathBuf};

/// Where units are installed unless `$BERTH_SYSTEMD_UNIT_DIR` says otherwise.
pub const DEFAULT_UNIT_DIR: &str = "/etc/systemd/system";
/// The environment variable naming another unit directory (tests, custom layouts).
pub const UNIT_DIR_ENV: &str = "BERTH_SYSTEMD_UNIT_DIR";
/// The target whose start pulls the units in.
const WANTED_BY: &str = "multi-user.target";

/// The unit directory in use.
pub fn unit_dir() -> PathBuf {
    std::env::var_os(UNIT_DIR_ENV)
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_UNIT_DIR))
}

/// Whether systemd manages this machine (its runtime directory exists while it runs).
pub fn systemd_running() -> bool {
    Path::new("/run/systemd/system").is_dir()
}

/// The unit's file name for `project` (project names are valid in unit names).
pub fn unit_name(project: &str) -> String {
    format!("berth-{project}.service")
}

/// What the unit runs: this program with the state root and run directory in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitCommand {
    /// The `berth` executable (an absolute path).
    pub exe: PathBuf,
    /// The state root (`--root`).
    pub root: PathBuf,
    /// The run directory (`BERTH_RUN`).
    pub run: PathBuf,
}

/// The text of `project`'s unit.
pub fn render_unit(project: &str, command: &UnitCommand) -> String {
    format!(
        "\
# Written by `berth autostart enable` for project {project}; `berth autostart disable`
# removes it. It brings the project's restart: always and unless-stopped services back at
# boot, dependencies first, each after its depends_on condition holds.
[Unit]
Description=berth project {project}
Wants=network-online.target
After=network-online.target local-fs.target

[Service]
Type=oneshot
RemainAfterExit=yes
Environment=BERTH_RUN={run}
ExecStart={exe} --root {root} --project-name {project} resume

[Install]
WantedBy={WANTED_BY}
",
        run = command.run.display(),
        exe = command.exe.display(),
        root = command.root.display(),
    )
}

/// Where a project's unit stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnitStatus {
    /// The unit file's path.
    pub path: PathBuf,
    /// Whether the unit file exists.
    pub installed: bool,
    /// Whether it is enabled (linked from the target's wants directory).
    pub enabled: bool,
}

fn wants_link(dir: &Path, project: &str) -> PathBuf {
    dir.join(format!("{WANTED_BY}.wants"))
        .join(unit_name(project))
}

/// Where `project`'s unit in `dir` stands.
pub fn status(dir: &Path, project: &str) -> UnitStatus {
    let path = dir.join(unit_name(project));
    UnitStatus {
        installed: path.is_file(),
        enabled: wants_link(dir, project).symlink_metadata().is_ok(),
        path,
    }
}

/// Writes `project`'s unit into `dir` (atomically) and enables it. Returns the unit's path.
pub fn install(dir: &Path, project: &str, text: &str) -> anyhow::Result<PathBuf> {
    let path = dir.join(unit_name(project));
    let tmp = dir.join(format!(".{}.tmp", unit_name(project)));
    std::fs::write(&tmp, text)
        .and_then(|()| std::fs::rename(&tmp, &path))
        .with_context(|| format!("cannot write the unit {}", path.display()))?;
    let link = wants_link(dir, project);
    if let Some(wants) = link.parent() {
        std::fs::create_dir_all(wants)
            .with_context(|| format!("cannot create {}", wants.display()))?;
    }
    match std::fs::remove_file(&link) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("cannot replace {}", link.display())),
    }
    std::os::unix::fs::symlink(&path, &link)
        .with_context(|| format!("cannot enable the unit: {}", link.display()))?;
    Ok(path)
}

/// Disables and removes `project`'s unit from `dir`; whether there was one.
pub fn uninstall(dir: &Path, project: &str) -> anyhow::Result<bool> {
    let mut removed = false;
    for path in [wants_link(dir, project), dir.join(unit_name(project))] {
        match std::fs::remove_file(&path) {
            Ok(()) => removed = true,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    Ok(removed)
}

/// Tells a running systemd that units changed (`systemctl daemon-reload`); nothing to do
/// when systemd does not run.
pub fn reload_systemd() -> anyhow::Result<()> {
    if !systemd_running() {
        return Ok(());
    }
    let status = std::process::Command::new("systemctl")
        .arg("daemon-reload")
        .status()
        .context("cannot run systemctl daemon-reload")?;
    anyhow::ensure!(
        status.success(),
        "systemctl daemon-reload failed ({status})"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> UnitCommand {
        UnitCommand {
            exe: "/usr/local/bin/berth".into(),
            root: "/var/lib/berth".into(),
            run: "/run/berth".into(),
        }
    }

    #[test]
    fn the_unit_resumes_its_project_with_the_paths_in_use() {
        let text = render_unit("shop", &command());
        assert!(text.contains(
            "ExecStart=/usr/local/bin/berth --root /var/lib/berth --project-name shop resume\n"
        ));
        assert!(text.contains("Environment=BERTH_RUN=/run/berth\n"));
        assert!(text.contains("Type=oneshot\nRemainAfterExit=yes\n"));
        assert!(text.contains("WantedBy=multi-user.target\n"));
        assert_eq!(unit_name("shop"), "berth-shop.service");
    }

    #[test]
    fn install_enables_and_uninstall_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            status(dir.path(), "shop"),
            UnitStatus {
                path: dir.path().join("berth-shop.service"),
                installed: false,
                enabled: false
            }
        );
        let text = render_unit("shop", &command());
        let path = install(dir.path(), "shop", &text).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
        let link = dir
            .path()
            .join("multi-user.target.wants/berth-shop.service");
        assert_eq!(std::fs::read_link(&link).unwrap(), path);
        let st = status(dir.path(), "shop");
        assert!(st.installed && st.enabled);
        // Installing again replaces both.
        install(dir.path(), "shop", &text).unwrap();
        assert!(uninstall(dir.path(), "shop").unwrap());
        assert!(!path.exists() && link.symlink_metadata().is_err());
        assert!(!uninstall(dir.path(), "shop").unwrap());
    }
}
