//! `berth autostart enable|disable|status`: whether a project comes back at boot (see
//! [`crate::engine::autostart`]).

use super::GlobalOptions;
use super::project::target;
use crate::engine::autostart::{self, UnitCommand};
use crate::engine::machine::Machine;
use crate::engine::resume;
use anyhow::Context;
use clap::{Args, Subcommand};
use std::path::Path;
use std::process::ExitCode;

/// Flags of `berth autostart`.
#[derive(Debug, Args)]
pub struct AutostartArgs {
    #[command(subcommand)]
    pub action: AutostartAction,
}

/// What `berth autostart` does.
#[derive(Debug, Subcommand)]
pub enum AutostartAction {
    /// Bring the project's always/unless-stopped services back at boot (installs a systemd unit)
    Enable,
    /// Stop bringing the project back at boot (removes its unit)
    Disable,
    /// Tell whether the project comes back at boot, and what
    Status,
}

/// Runs `berth autostart`.
pub fn run(global: &GlobalOptions, args: &AutostartArgs) -> anyhow::Result<ExitCode> {
    let name = target(global)?.name;
    let machine = Machine::open(&global.root)?;
    let _lock = machine.state.lock_project(&name)?;
    let mut record = machine.state.project(&name)?.with_context(|| {
        format!("project {name} is not known to berth: bring it up first (berth up -d)")
    })?;
    let dir = autostart::unit_dir();
    match args.action {
        AutostartAction::Enable => {
            record.autostart = true;
            machine.state.save_project(&record)?;
            if dir.is_dir() {
                let text = autostart::render_unit(&name, &unit_command(&machine)?);
                let path = autostart::install(&dir, &name, &text)?;
                autostart::reload_systemd()?;
                println!("Autostart of project {name} enabled: {}", path.display());
            } else {
                println!(
                    "Autostart of project {name} enabled. There is no systemd here ({} is missing): have your init system run `berth resume --all` at boot.",
                    dir.display()
                );
            }
            print_services(&machine, &name)?;
        }
        AutostartAction::Disable => {
            record.autostart = false;
            machine.state.save_project(&record)?;
            if dir.is_dir() && autostart::uninstall(&dir, &name)? {
                autostart::reload_systemd()?;
            }
            println!("Autostart of project {name} disabled");
        }
        AutostartAction::Status => {
            let unit = autostart::status(&dir, &name);
            let state = if record.autostart {
                "enabled"
            } else {
                "disabled"
            };
            println!("Project:   {name}");
            println!("Autostart: {state}");
            let unit_state = match (unit.installed, unit.enabled) {
                (true, true) => "installed, enabled",
                (true, false) => "installed, not enabled",
                (false, _) => "not installed",
            };
            println!("Unit:      {} ({unit_state})", unit.path.display());
            let systemd = if autostart::systemd_running() {
                "running"
            } else {
                "not running here: boot brings the project back only if the init system runs `berth resume --all`"
            };
            println!("systemd:   {systemd}");
            print_services(&machine, &name)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_services(machine: &Machine, name: &str) -> anyhow::Result<()> {
    let records = machine.state.containers_of(name)?.records;
    let services = resume::resumed_services(&records);
    if services.is_empty() {
        println!("Services:  none has restart: always or unless-stopped");
    } else {
        println!("Services:  {}", services.join(", "));
    }
    Ok(())
}

/// The command the unit runs: this program, with the state root and run directory in use.
fn unit_command(machine: &Machine) -> anyhow::Result<UnitCommand> {
    let absolute = |p: &Path| {
        std::fs::canonicalize(p).with_context(|| format!("cannot resolve {}", p.display()))
    };
    Ok(UnitCommand {
        exe: absolute(&machine.exe)?,
        root: absolute(machine.state.root())?,
        run: absolute(machine.state.run())?,
    })
}
