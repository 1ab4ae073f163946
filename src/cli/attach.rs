//! Attached `up`: the attached containers' output on the terminal, each line prefixed with its
//! container's name, until they have all exited; `--abort-on-container-exit`,
//! `--abort-on-container-failure` and `--exit-code-from` as in Docker Compose; the first
//! Ctrl-C stops the project gracefully, the second kills it.

use super::GlobalOptions;
use super::lifecycle::Session;
use super::logs::{LogPrinter, use_color};
use super::up::UpArgs;
use crate::engine::logs::read::{Follower, LogQuery};
use crate::engine::state::{ContainerRecord, RecordedState};
use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime};

/// How many times SIGINT (Ctrl-C) or SIGTERM arrived.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

extern "C" fn on_interrupt(_: libc::c_int) {
    INTERRUPTS.fetch_add(1, Ordering::SeqCst);
}

fn catch_interrupts() {
    use nix::sys::signal::{SaFlags, SigAction, SigHandler, SigSet, Signal, sigaction};
    let action = SigAction::new(
        SigHandler::Handler(on_interrupt),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for sig in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only touches an atomic counter, which is async-signal-safe.
        let _ = unsafe { sigaction(sig, &action) };
    }
}

/// The services whose output `up` shows.
fn attached_services(session: &Session, args: &UpArgs) -> anyhow::Result<Vec<String>> {
    let all = session.service_order()?;
    let mut chosen: Vec<String> = if !args.attach.is_empty() {
        args.attach.clone()
    } else if !args.services.is_empty() && !args.attach_dependencies {
        args.services.clone()
    } else {
        all
    };
    chosen.retain(|s| !args.no_attach.contains(s));
    Ok(chosen)
}

fn is_over(r: &ContainerRecord) -> bool {
    matches!(r.status.state, RecordedState::Exited | RecordedState::Dead)
}

/// Follows the attached containers until they have all exited, or an abort condition or a
/// Ctrl-C ends the project; returns the exit code Compose would.
pub fn follow(
    global: &GlobalOptions,
    session: &Session,
    args: &UpArgs,
) -> anyhow::Result<ExitCode> {
    catch_interrupts();
    let since = SystemTime::now() - Duration::from_secs(2);
    let services = attached_services(session, args)?;
    let records: Vec<ContainerRecord> = session.containers(&services, false)?.into_iter().collect();
    let color = !args.no_color && use_color(global.ansi);
    let mut printer = LogPrinter::new(color, !args.no_log_prefix, args.timestamps).stderr_apart();
    for r in &records {
        printer.register(r);
    }
    let state = &session.ctx.machine.state;
    let mut followers: Vec<(String, String, Follower)> = records
        .iter()
        .map(|r| {
            let query = LogQuery {
                since: Some(since.max(r.created)),
                ..LogQuery::default()
            };
            (
                r.id.clone(),
                r.name.clone(),
                Follower::new(state.container_paths(&r.id), query),
            )
        })
        .collect();
    let mut reported: BTreeMap<String, i32> = BTreeMap::new();
    let abort_on_exit = args.abort_on_container_exit || args.exit_code_from.is_some();
    let mut abort_code: Option<i32> = None;
    let mut stopping = false;
    let mut stopper: Option<std::thread::JoinHandle<anyhow::Result<()>>> = None;
    loop {
        let mut batch = Vec::new();
        for (_, name, follower) in &mut followers {
            batch.extend(follower.poll()?.into_iter().map(|l| (name.clone(), l)));
        }
        printer.print(batch)?;
        let current: BTreeMap<String, ContainerRecord> = session
            .records()?
            .into_iter()
            .map(|r| (r.id.clone(), r))
            .collect();
        let mut all_over = true;
        for (id, name, follower) in &mut followers {
            match current.get(id.as_str()) {
                Some(r) if is_over(r) && !reported.contains_key(id.as_str()) => {
                    let rest = follower.poll()?.into_iter().chain(follower.finish());
                    printer.print(rest.map(|l| (name.clone(), l)).collect())?;
                    let code = r.status.exit_code.unwrap_or(255);
                    printer.note(name, &format!("exited with code {code}"));
                    reported.insert(id.clone(), code);
                    if !stopping
                        && (abort_on_exit || (args.abort_on_container_failure && code != 0))
                    {
                        abort_code = Some(code);
                    }
                }
                Some(r) if is_over(r) => {}
                Some(_) => all_over = false,
                None => {}
            }
        }
        let interrupts = INTERRUPTS.load(Ordering::SeqCst);
        if !stopping && (abort_code.is_some() || interrupts > 0) {
            stopping = true;
            if interrupts > 0 {
                eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            } else {
                eprintln!("Aborting on container exit...");
            }
            stopper = Some(stop_project(global, session, args.timeout)?);
            continue;
        }
        if interrupts > 1 {
            kill_project(session);
        }
        if all_over && stopper.as_ref().is_none_or(|t| t.is_finished()) {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let code = match &args.exit_code_from {
        Some(service) => records
            .iter()
            .find(|r| r.observed().service() == Some(service.as_str()))
            .and_then(|r| reported.get(&r.id).copied())
            .unwrap_or(0),
        None => abort_code.unwrap_or(0),
    };
    if let Some(t) = stopper
        && let Ok(Err(e)) = t.join()
    {
        super::output::error(&e);
    }
    Ok(ExitCode::from(code.clamp(0, 255) as u8))
}

/// Stops every running container of the project (after an abort or a Ctrl-C), dependents
/// first, in a thread of its own so that a second Ctrl-C can still kill them.
fn stop_project(
    global: &GlobalOptions,
    session: &Session,
    timeout: Option<u64>,
) -> anyhow::Result<std::thread::JoinHandle<anyhow::Result<()>>> {
    let running: Vec<ContainerRecord> = session
        .containers(&[], false)?
        .into_iter()
        .rev()
        .filter(|r| !is_over(r))
        .collect();
    let ctx = session.ctx.clone();
    let reporter = session.reporter(global);
    Ok(std::thread::spawn(move || {
        let rt = super::lifecycle::runtime()?;
        let timeout = timeout.map(Duration::from_secs);
        for r in running {
            let owner = format!("Container {}", r.name);
            reporter.status(&owner, "Stopping", false);
            match rt.block_on(ctx.stop_container(&r.id, timeout)) {
                Ok(_) => reporter.status(&owner, "Stopped", true),
                Err(e) => {
                    reporter.status(&owner, "Error", true);
                    tracing::warn!(container = %r.name, error = %e, "stop failed");
                }
            }
        }
        reporter.finish();
        Ok(())
    }))
}

/// Kills every running container of the project (a second Ctrl-C).
fn kill_project(session: &Session) {
    let Ok(mut client) = session.ctx.supervisor() else {
        return;
    };
    if let Ok(records) = session.records() {
        for r in records.iter().filter(|r| !is_over(r)) {
            let _ = client.kill(&r.id, "SIGKILL");
        }
    }
}
