//! `berth wait`: block until the services' containers stop and print their exit codes, as
//! `docker compose wait`; `--down-project` then takes the project down.

use super::GlobalOptions;
use super::down::{DownArgs, run as down};
use super::lifecycle::Session;
use crate::supervisor::client::SupervisorClient;
use anyhow::{Context as _, bail};
use clap::Args;
use std::process::ExitCode;
use std::sync::mpsc;

/// Flags of `berth wait`.
#[derive(Debug, Args)]
pub struct WaitArgs {
    /// Drops project when the first container stops
    #[arg(long)]
    pub down_project: bool,
    /// Services to wait for
    #[arg(value_name = "SERVICE", required = true)]
    pub services: Vec<String>,
}

/// Compose's line for a container that stopped.
pub fn exit_line(id: &str, code: i32) -> String {
    format!("container {id:?} exited with status code {code}")
}

/// Runs `berth wait`: the exit code is the last stopped container's.
pub fn run(global: &GlobalOptions, args: &WaitArgs) -> anyhow::Result<ExitCode> {
    let mut session = Session::open(global, false)?;
    let records = session.containers(&args.services, true)?;
    if records.is_empty() {
        bail!("no containers for project {:?}", session.name());
    }
    // Waiting must not keep `stop` or `down` out of the project.
    session.unlock();
    let state = session.ctx.machine.state.clone();
    let project = session.name().to_string();
    let exe = session.ctx.machine.exe.clone();
    let (tx, rx) = mpsc::channel();
    for r in records {
        let (tx, state, project, exe) = (tx.clone(), state.clone(), project.clone(), exe.clone());
        // One connection per container: a wait holds its connection until the exit.
        std::thread::spawn(move || {
            let code = SupervisorClient::ensure_with(&state, &project, &exe)
                .and_then(|mut c| c.wait(&r.id))
                .with_context(|| format!("cannot wait for {}", r.name));
            let _ = tx.send((r.id, code));
        });
    }
    drop(tx);
    let mut last = 0;
    for (id, code) in rx {
        let code = code?;
        println!("{}", exit_line(&id, code));
        last = code;
    }
    if args.down_project {
        down(
            global,
            &DownArgs {
                remove_orphans: true,
                rmi: None,
                timeout: None,
                volumes: false,
                services: Vec::new(),
            },
        )?;
    }
    Ok(ExitCode::from(last.clamp(0, 255) as u8))
}

#[cfg(test)]
mod tests {
    #[test]
    fn exit_line_as_compose_prints_it() {
        assert_eq!(
            super::exit_line("abc", 3),
            "container \"abc\" exited with status code 3"
        );
    }
}
