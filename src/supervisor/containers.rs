//! The table of supervised containers: what the supervisor knows of each container it
//! started or took over, shared between the request handlers and the per-container monitors.
//! Guarded by a plain mutex, held only for short, non-async sections.

use super::logpump::LogPumps;
use super::protocol::SupervisedContainer;
use crate::engine::state::{ContainerRecord, ContainerStatus, RecordedState};
use berth_network::ports::PortReservation;
use berth_runtime::container::Container;
use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::{Notify, oneshot};

/// Where a supervised container is in its life.
#[derive(Debug)]
pub enum Phase {
    /// Being created and started (a start request is in progress).
    Starting,
    /// Its process runs (or is frozen).
    Running {
        /// The runtime's handle.
        container: Arc<Container>,
        /// When it started (or was taken over).
        since: Instant,
        /// Taken over from an earlier supervisor: not our child, its exit code is unknown and
        /// how long it ran too.
        adopted: bool,
        /// Frozen.
        paused: bool,
    },
    /// Waiting out its restart back-off; notifying `cancel` ends the wait without a start.
    Restarting {
        /// Cancels the pending restart.
        cancel: Arc<Notify>,
    },
    /// No process.
    Exited,
}

/// One supervised container.
#[derive(Debug)]
pub struct Supervised {
    /// Its record (configuration as last read).
    pub record: ContainerRecord,
    /// Its status as the supervisor last wrote it.
    pub status: ContainerStatus,
    /// Where it is.
    pub phase: Phase,
    /// The user stopped or killed it: no restart after this run.
    pub user_stopped: bool,
    /// Its published ports, held while it runs.
    pub ports: Vec<PortReservation>,
    /// Clients waiting for its process to end.
    pub waiters: Vec<oneshot::Sender<i32>>,
    /// Its log capture.
    pub logs: Option<LogPumps>,
    /// The back-off delay of the latest restart in the current series.
    pub last_delay: Option<Duration>,
    /// Restarts since the last run that lasted `deploy.restart_policy.window` (with a
    /// window, these count against the policy's most attempts).
    pub window_restarts: u32,
}

impl Supervised {
    /// A container known from its record, not running.
    pub fn new(record: ContainerRecord) -> Supervised {
        Supervised {
            status: record.status.clone(),
            record,
            phase: Phase::Exited,
            user_stopped: false,
            ports: Vec::new(),
            waiters: Vec::new(),
            logs: None,
            last_delay: None,
            window_restarts: 0,
        }
    }

    /// Whether it has (or is about to have) a process: it cannot be forgotten then, and a
    /// supervisor with such containers does not shut down unasked.
    pub fn is_active(&self) -> bool {
        !matches!(self.phase, Phase::Exited)
    }

    /// Its running process, if any.
    pub fn container(&self) -> Option<Arc<Container>> {
        match &self.phase {
            Phase::Running { container, .. } => Some(container.clone()),
            _ => None,
        }
    }

    /// Its state, as the protocol reports it.
    pub fn summary(&self) -> SupervisedContainer {
        let (state, pid) = match &self.phase {
            Phase::Starting => (RecordedState::Created, None),
            Phase::Running {
                container, paused, ..
            } => (
                if *paused {
                    RecordedState::Paused
                } else {
                    RecordedState::Running
                },
                Some(container.pid()),
            ),
            Phase::Restarting { .. } => (RecordedState::Restarting, None),
            Phase::Exited => (self.status.state, None),
        };
        SupervisedContainer {
            id: self.record.id.clone(),
            name: self.record.name.clone(),
            state,
            pid,
        }
    }
}

/// The supervised containers, by id.
pub type Table = BTreeMap<String, Supervised>;
