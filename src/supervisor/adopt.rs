//! Take-over: a new supervisor (the previous one died, or was shut down with `force`) finds
//! the project's containers that its records say run. A live one is supervised again (its
//! FIFOs reopened, its pidfd watched); a dead one is recorded exited and its restart policy
//! applied, which is what brings `always` services back after a supervisor was killed.
//!
//! Unless the command that started the supervisor defers that ([`TakeOver::Defer`]): after a
//! reboot a dead container's root filesystem and network namespace are gone too, and
//! `resume`/`up`/`start` make them again and start the containers in dependency order with
//! their health gates, which a restart by policy, one container at a time, would not.

use super::Supervisor;
use super::containers::{Phase, Supervised};
use super::lifecycle::{UNKNOWN_EXIT, remove_stale};
use super::logpump::LogPumps;
use super::{Action, ports};
use crate::engine::state::{ContainerRecord, RecordedState};
use berth_runtime::container::{Container, Status};
use std::sync::Arc;
use std::time::{Instant, SystemTime};

/// What a new supervisor does with the containers it finds dead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TakeOver {
    /// Record them exited and apply their restart policies.
    Restart,
    /// Record them exited; the command that started the supervisor starts them.
    Defer,
}

/// Takes over the project's recorded running, paused and restarting containers.
pub async fn take_over(sup: &Arc<Supervisor>, mode: TakeOver) {
    let listing = match sup.state.containers_of(&sup.project) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("cannot list the containers of {}: {e}", sup.project);
            return;
        }
    };
    sup.dns.serve_networks(&listing.records).await;
    for record in listing.records {
        if !record.status.state.is_active() {
            continue;
        }
        let runtime = sup.runtime.clone();
        let id = record.id.clone();
        let loaded = tokio::task::spawn_blocking(move || runtime.load(&id)).await;
        match loaded {
            Ok(Ok(c)) if matches!(c.status(), Status::Running | Status::Paused) => {
                adopt(sup, record, c)
            }
            Ok(Ok(c)) => {
                // Created but never started: its supervisor died in between. Start over.
                let _ = tokio::task::spawn_blocking(move || c.delete()).await;
                lost(sup, record, mode).await;
            }
            _ => lost(sup, record, mode).await,
        }
    }
}

/// Supervises a live container again.
fn adopt(sup: &Arc<Supervisor>, record: ContainerRecord, container: Container) {
    let id = record.id.clone();
    tracing::info!("taking over {} (pid {})", record.name, container.pid());
    let paused = container.status() == Status::Paused;
    let mut entry = Supervised::new(record.clone());
    entry.status.state = if paused {
        RecordedState::Paused
    } else {
        RecordedState::Running
    };
    if record.healthcheck.is_some() && entry.status.health.is_none() {
        entry.status.health = Some(Default::default());
    }
    match LogPumps::start(&sup.state.container_paths(&id), record.log.clone()) {
        Ok(p) => entry.logs = Some(p),
        Err(e) => tracing::warn!("cannot capture the logs of {}: {e}", record.name),
    }
    match ports::reserve_all(&sup.state, &record) {
        Ok(held) => entry.ports = held,
        Err(e) => tracing::warn!("{}: {e:#}", record.name),
    }
    let container = Arc::new(container);
    entry.phase = Phase::Running {
        container: container.clone(),
        since: Instant::now(),
        // Not our child: its exit code will be unknown (recorded as 255).
        adopted: true,
        paused,
    };
    sup.table().insert(id.clone(), entry);
    sup.dns.add(&record);
    sup.watch(id, container);
}

/// A container recorded as running whose process is gone: record it exited (with an unknown
/// code unless it was waiting to restart) and apply its restart policy.
async fn lost(sup: &Arc<Supervisor>, record: ContainerRecord, mode: TakeOver) {
    let id = record.id.clone();
    let runtime = sup.runtime.clone();
    let stale = id.clone();
    let _ = tokio::task::spawn_blocking(move || remove_stale(&runtime, &stale)).await;
    let was_restarting = record.status.state == RecordedState::Restarting;
    let code = if was_restarting {
        record.status.exit_code.unwrap_or(UNKNOWN_EXIT)
    } else {
        UNKNOWN_EXIT
    };
    tracing::info!(
        "{} ended while unsupervised (exit code {code})",
        record.name
    );
    let mut entry = Supervised::new(record.clone());
    entry.status = if was_restarting {
        let mut s = record.status.clone();
        s.state = RecordedState::Exited;
        s
    } else {
        record.status.exited(code, false, SystemTime::now())
    };
    let status = entry.status.clone();
    sup.table().insert(id.clone(), entry);
    if let Err(e) = sup.state.update_container_state(&id, &status) {
        tracing::warn!("cannot record the state of {}: {e}", record.name);
    }
    if !was_restarting {
        sup.emit(&record, Action::Die, &[("exitCode", code.to_string())]);
    }
    if mode == TakeOver::Restart {
        sup.apply_policy(&id, code, false, None).await;
    }
}
