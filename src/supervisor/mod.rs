//! The per-project supervisor: one process per project, started by the first command that
//! needs it ([`client::SupervisorClient::ensure`]), the parent of the project's containers.
//! It outlives the CLI, captures every container's output into its log file, applies restart
//! policies, holds published ports, serves the project's DNS names, reports events, and
//! answers the CLI over a unix socket ([`protocol`]).
//!
//! The executor prepares everything a container needs (record, spec, rootfs, network
//! namespace, firewall rules); the supervisor runs and watches processes. When it dies, the
//! containers keep running and the next supervisor takes them over ([`adopt`]).
//!
//! Health checks run here too ([`health`]): a probe task per running container with a check,
//! beside its monitor, recording its health and reporting `health_status` events.

pub mod adopt;
pub mod client;
pub mod containers;
pub mod control;
pub mod dns;
pub mod health;
pub mod lifecycle;
pub mod logpump;
pub mod ports;
pub mod protocol;
pub mod restart;
pub mod server;

pub use client::{Events, SupervisorClient};
pub use protocol::{Action, Event, Request, Response, SupervisedContainer, SupervisorStatus};

use crate::engine::labels;
use crate::engine::logs::format_time;
use crate::engine::state::{ContainerRecord, StateRoot};
use anyhow::{Context, Result};
use berth_runtime::container::Runtime;
use containers::Table;
use std::collections::BTreeMap;
use std::io::Write;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;
use tokio::sync::broadcast;

/// The supervisor's shared state.
pub struct Supervisor {
    /// The state root.
    pub state: StateRoot,
    /// Its project.
    pub project: String,
    /// The container runtime (helper: this program).
    pub runtime: Runtime,
    /// The supervised containers.
    table: Mutex<Table>,
    /// The project's DNS.
    pub dns: dns::ProjectDns,
    /// Subscribers' feed.
    events: broadcast::Sender<Event>,
    /// Signalled by a shutdown request.
    shutdown: tokio::sync::Notify,
}

impl Supervisor {
    /// Locks the table (a panic elsewhere cannot leave it half-updated in a way that matters
    /// more than stopping would, so a poisoned lock is used as is).
    pub fn table(&self) -> MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Reports an event about `record` to the subscribers.
    pub fn emit(&self, record: &ContainerRecord, action: Action, attributes: &[(&str, String)]) {
        let event = Event {
            time: format_time(SystemTime::now()),
            id: record.id.clone(),
            name: record.name.clone(),
            project: self.project.clone(),
            service: record
                .labels
                .get(labels::SERVICE)
                .cloned()
                .unwrap_or_default(),
            action,
            attributes: attributes
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect::<BTreeMap<_, _>>(),
        };
        tracing::info!(container = %record.name, "{action:?} {:?}", event.attributes);
        // No subscriber is not an error.
        let _ = self.events.send(event);
    }

    /// Re-reads the project's records: new networks to serve, changed names of running
    /// containers.
    pub async fn refresh(&self) -> Result<()> {
        let listing = self
            .state
            .containers_of(&self.project)
            .context("cannot list the project's containers")?;
        self.dns.serve_networks(&listing.records).await;
        let running: Vec<ContainerRecord> = {
            let mut table = self.table();
            listing
                .records
                .iter()
                .filter_map(|r| {
                    let entry = table.get_mut(&r.id)?;
                    entry.record = r.clone();
                    entry.container().map(|_| r.clone())
                })
                .collect()
        };
        for r in &running {
            self.dns.remove(&r.name);
            self.dns.add(r);
        }
        Ok(())
    }

    /// A new feed of events.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }
}

/// Runs the supervisor of `project` until it is asked to shut down. Returns quietly when
/// another supervisor of the project runs already (two CLIs raced to start one).
pub fn run(state: StateRoot, project: &str, take_over: adopt::TakeOver) -> Result<()> {
    // First: container inits are grandchildren (the runtime's helper forks them and exits);
    // as a subreaper we become their parent, can reap them and read their exit codes.
    // SAFETY: prctl with integer arguments.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(std::io::Error::last_os_error()).context("cannot become a subreaper");
    }
    let Some(_lock) = take_lock(&state, project)? else {
        tracing::info!("another supervisor of project {project} runs; exiting");
        return Ok(());
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let result = runtime.block_on(async move {
        let listener = server::bind(&state, project)?;
        let containers = Runtime::new(state.runtime_dir())
            .context("cannot open the container runtime's state")?;
        let (events, _) = broadcast::channel(1024);
        let sup = Arc::new(Supervisor {
            dns: dns::ProjectDns::new(state.clone()),
            state: state.clone(),
            project: project.to_string(),
            runtime: containers,
            table: Mutex::new(Table::new()),
            events,
            shutdown: tokio::sync::Notify::new(),
        });
        tracing::info!(
            "supervisor of project {project} running, pid {}",
            std::process::id()
        );
        adopt::take_over(&sup, take_over).await;
        tokio::spawn(exit_when_idle(sup.clone()));
        server::serve(sup.clone(), listener).await;
        sup.dns.stop().await;
        let _ = std::fs::remove_file(state.supervisor_socket(project));
        tracing::info!("supervisor of project {project} exiting");
        Ok(())
    });
    // Monitors of containers left running (a forced shutdown) block in waits that never end:
    // do not wait for them.
    runtime.shutdown_background();
    result
}

/// Ends the supervisor once its project has no container left (a `down` whose shutdown
/// request it missed, a supervisor that started after its project was taken down, a state
/// root that was removed): it would have nothing to supervise.
async fn exit_when_idle(sup: Arc<Supervisor>) {
    loop {
        tokio::time::sleep(std::time::Duration::from_secs(2)).await;
        let empty = sup
            .state
            .containers_of(&sup.project)
            .map(|l| l.records.is_empty())
            .unwrap_or(true);
        if empty {
            tracing::info!("project {} has no container left", sup.project);
            sup.shutdown.notify_one();
            return;
        }
    }
}

/// Takes the project's supervisor lock (an exclusive lock on its pid file, held for the
/// process's life) and writes our pid there; `None` when another supervisor holds it.
fn take_lock(state: &StateRoot, project: &str) -> Result<Option<std::fs::File>> {
    let path = state.supervisor_pid_file(project);
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {}
        Err(std::fs::TryLockError::WouldBlock) => return Ok(None),
        Err(std::fs::TryLockError::Error(e)) => {
            return Err(e).with_context(|| format!("cannot lock {}", path.display()));
        }
    }
    file.set_len(0)
        .and_then(|_| writeln!(file, "{}", std::process::id()))
        .with_context(|| format!("cannot write {}", path.display()))?;
    Ok(Some(file))
}
