//! The life of a supervised container: start (create from the prepared spec and rootfs, with
//! its output on the log FIFOs, its ports held and its names in DNS), the monitor that waits
//! for its process, and what happens at its exit (record, clean up, `die`, restart policy).

use super::containers::{Phase, Supervised};
use super::logpump::{self, LogPumps};
use super::restart::{self, Decision, Ended, Policy};
use super::{Action, Supervisor, ports};
use crate::engine::state::{ContainerRecord, RecordedState};
use anyhow::{Context, Result, bail};
use berth_runtime::container::{Container, CreateOptions, Exit, ExitStatus, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

/// Exit code recorded when it cannot be known: the process was not ours (taken over from a
/// supervisor that died) or ended while no supervisor watched. Docker shows 255 for a lost
/// process too.
pub const UNKNOWN_EXIT: i32 = 255;

fn code_of(status: &ExitStatus) -> i32 {
    match status.exit {
        Exit::Unknown => UNKNOWN_EXIT,
        _ => status.code(),
    }
}

impl Supervisor {
    /// Reads container `id`'s record and checks it belongs to this project.
    pub fn record(&self, id: &str) -> Result<ContainerRecord> {
        let record = self
            .state
            .container(id)
            .with_context(|| format!("no such container: {id}"))?;
        if record.project() != Some(self.project.as_str()) {
            bail!(
                "container {} belongs to project {:?}, not {:?}",
                record.name,
                record.project().unwrap_or(""),
                self.project
            );
        }
        Ok(record)
    }

    /// Writes `id`'s status (from the table) to its record.
    pub(super) fn save_status(&self, id: &str) {
        let status = self.table().get(id).map(|s| s.status.clone());
        if let Some(status) = status
            && let Err(e) = self.state.update_container_state(id, &status)
        {
            tracing::warn!("cannot record the state of {id}: {e}");
        }
    }

    /// Starts container `id` at the user's request; nothing to do when it runs already.
    pub async fn start(self: &Arc<Self>, id: &str) -> Result<()> {
        let record = self.record(id)?;
        {
            let mut table = self.table();
            let entry = table
                .entry(id.to_string())
                .or_insert_with(|| Supervised::new(record.clone()));
            if entry.is_active() {
                return Ok(());
            }
            entry.record = record.clone();
            entry.status = record.status.clone();
            entry.phase = Phase::Starting;
            entry.user_stopped = false;
            entry.last_delay = None;
            entry.window_restarts = 0;
        }
        self.launch(id, record, false).await
    }

    /// Starts `id` again after its restart back-off, unless the restart was cancelled.
    async fn restart(self: &Arc<Self>, id: &str) -> Result<()> {
        let record = self.record(id)?;
        {
            let mut table = self.table();
            let Some(entry) = table.get_mut(id) else {
                return Ok(());
            };
            if !matches!(entry.phase, Phase::Restarting { .. }) {
                return Ok(());
            }
            entry.record = record.clone();
            entry.phase = Phase::Starting;
        }
        self.launch(id, record, true).await
    }

    /// Creates and starts the process of `id` (whose phase is `Starting`).
    async fn launch(
        self: &Arc<Self>,
        id: &str,
        record: ContainerRecord,
        by_policy: bool,
    ) -> Result<()> {
        match self.create_and_start(&record).await {
            Ok((container, held)) => {
                let pid = container.pid();
                {
                    let mut table = self.table();
                    let Some(entry) = table.get_mut(id) else {
                        return Ok(());
                    };
                    let mut status = entry.status.started(SystemTime::now());
                    if !by_policy {
                        // restart_count counts the policy's restarts, not the user's starts.
                        status.restart_count = entry.status.restart_count;
                    }
                    // Every run starts `starting` when the container has a health check.
                    status.health = record
                        .healthcheck
                        .as_ref()
                        .map(|_| status.health.take().unwrap_or_default());
                    entry.status = status;
                    entry.ports = held;
                    entry.phase = Phase::Running {
                        container: container.clone(),
                        since: Instant::now(),
                        adopted: false,
                        paused: false,
                    };
                }
                self.save_status(id);
                self.dns.serve_networks(std::slice::from_ref(&record)).await;
                self.dns.add(&record);
                if by_policy {
                    self.emit(&record, Action::Restart, &[]);
                }
                self.emit(&record, Action::Start, &[("pid", pid.to_string())]);
                self.watch(id.to_string(), container);
                Ok(())
            }
            Err(e) => {
                {
                    let mut table = self.table();
                    if let Some(entry) = table.get_mut(id) {
                        entry.phase = Phase::Exited;
                        if by_policy {
                            entry.status.state = RecordedState::Exited;
                        }
                    }
                }
                if by_policy {
                    self.save_status(id);
                }
                Err(e)
            }
        }
    }

    /// Log pumps, ports, a fresh runtime container with the log FIFOs as its output, started.
    async fn create_and_start(
        self: &Arc<Self>,
        record: &ContainerRecord,
    ) -> Result<(Arc<Container>, Vec<berth_network::ports::PortReservation>)> {
        let id = record.id.clone();
        let paths = self.state.container_paths(&id);
        let spec_path = record.spec_path.clone().unwrap_or_else(|| paths.spec());
        let rootfs = record.rootfs.clone().unwrap_or_else(|| paths.rootfs());
        let spec = oci_spec::runtime::Spec::load(&spec_path).with_context(|| {
            format!(
                "cannot read the spec of {} ({})",
                record.name,
                spec_path.display()
            )
        })?;
        {
            let mut table = self.table();
            if let Some(entry) = table.get_mut(&id)
                && entry.logs.is_none()
            {
                entry.logs = Some(
                    LogPumps::start(&paths, record.log.clone())
                        .with_context(|| format!("cannot capture the logs of {}", record.name))?,
                );
            }
        }
        let held = ports::reserve_all(&self.state, record)
            .with_context(|| format!("cannot start {}", record.name))?;
        let (stdout, stderr) = logpump::container_fds(&paths)
            .with_context(|| format!("cannot open the log FIFOs of {}", record.name))?;
        let stdin = if record.stdin_open {
            Some(
                logpump::open_stdin(&paths)
                    .with_context(|| format!("cannot open the stdin of {}", record.name))?,
            )
        } else {
            None
        };
        let runtime = self.runtime.clone();
        let init = record.init;
        let name = record.name.clone();
        let container = tokio::task::spawn_blocking(move || -> Result<Container> {
            remove_stale(&runtime, &id);
            let opts = CreateOptions {
                stdio: Stdio::Fds {
                    stdin,
                    stdout,
                    stderr,
                },
                init,
            };
            let c = runtime
                .create(&id, &spec, &rootfs, opts)
                .with_context(|| format!("cannot create container {name}"))?;
            if let Err(e) = c.start() {
                let _ = c.delete();
                return Err(e).with_context(|| format!("cannot start container {name}"));
            }
            Ok(c)
        })
        .await
        .context("the start task failed")??;
        Ok((Arc::new(container), held))
    }

    /// Watches `container`'s process and handles its exit; probes its health meanwhile when
    /// it has a health check.
    pub fn watch(self: &Arc<Self>, id: String, container: Arc<Container>) {
        self.probe_health(id.clone(), container.clone());
        let sup = self.clone();
        tokio::spawn(async move {
            let c = container.clone();
            let status = match tokio::task::spawn_blocking(move || c.wait()).await {
                Ok(s) => s,
                Err(e) => {
                    tracing::error!("waiting for {id} failed: {e}");
                    return;
                }
            };
            sup.exited(&id, &container, status).await;
        });
    }

    /// The process of `id` ended: record it, clean up, report, and apply the restart policy.
    async fn exited(self: &Arc<Self>, id: &str, container: &Arc<Container>, status: ExitStatus) {
        let code = code_of(&status);
        self.drain_logs(id).await;
        let (record, by_user, ran_for, waiters) = {
            let mut table = self.table();
            let Some(entry) = table.get_mut(id) else {
                return;
            };
            let ran_for = match &entry.phase {
                Phase::Running { container: c, .. } if !Arc::ptr_eq(c, container) => return,
                Phase::Running { since, adopted, .. } => (!adopted).then(|| since.elapsed()),
                _ => return,
            };
            entry.phase = Phase::Exited;
            entry.ports.clear();
            entry.status = entry
                .status
                .exited(code, status.oom_killed, SystemTime::now());
            entry.status.stopped_by_user = entry.user_stopped;
            (
                entry.record.clone(),
                entry.user_stopped,
                ran_for,
                std::mem::take(&mut entry.waiters),
            )
        };
        self.save_status(id);
        let cgroup = container.cgroup().clone();
        let dir = self.runtime.state_dir(id);
        // What Container::delete does, for a handle that others may still hold: the process
        // is reaped, so its cgroup and state go; the next start re-creates it from the same
        // spec (rootfs and network namespace persist).
        let _ = tokio::task::spawn_blocking(move || {
            let _ = cgroup.kill_all();
            if let Err(e) = cgroup.remove() {
                tracing::warn!("cannot remove the cgroup of a container: {e}");
            }
            let _ = std::fs::remove_dir_all(&dir);
        })
        .await;
        self.dns.remove(&record.name);
        self.emit(&record, Action::Die, &[("exitCode", code.to_string())]);
        if status.oom_killed {
            self.emit(&record, Action::Oom, &[]);
        }
        for w in waiters {
            let _ = w.send(code);
        }
        self.apply_policy(id, code, by_user, ran_for).await;
    }

    async fn drain_logs(&self, id: &str) {
        // The pumps live in the table; draining awaits, so it works on a detached channel.
        let drain = {
            let table = self.table();
            table
                .get(id)
                .and_then(|e| e.logs.as_ref().map(LogPumps::drainer))
        };
        if let Some(d) = drain {
            d.drain().await;
        }
    }

    /// After an exit (watched or found), restarts per policy, after the back-off.
    pub async fn apply_policy(
        self: &Arc<Self>,
        id: &str,
        code: i32,
        by_user: bool,
        ran_for: Option<Duration>,
    ) {
        let (record, delay, cancel) = {
            let mut table = self.table();
            let Some(entry) = table.get_mut(id) else {
                return;
            };
            let policy =
                Policy::parse(entry.record.restart_policy.as_deref()).unwrap_or_else(|e| {
                    tracing::warn!("container {}: {e}; not restarting", entry.record.name);
                    Policy::No
                });
            // With a window, only the restarts since a run that lasted it count.
            let counted = match entry.record.restart_window {
                Some(window) => {
                    if ran_for.is_some_and(|r| r >= window) {
                        entry.window_restarts = 0;
                    }
                    entry.window_restarts
                }
                None => entry.status.restart_count,
            };
            let ended = Ended {
                code,
                by_user,
                restart_count: counted,
                ran_for,
            };
            let decision = restart::decide(policy, &ended, entry.last_delay);
            let Decision::Restart(backoff) = decision else {
                return;
            };
            entry.last_delay = Some(backoff);
            entry.window_restarts += 1;
            let delay = entry.record.restart_delay.unwrap_or(backoff);
            let cancel = Arc::new(tokio::sync::Notify::new());
            entry.phase = Phase::Restarting {
                cancel: cancel.clone(),
            };
            entry.status.state = RecordedState::Restarting;
            (entry.record.clone(), delay, cancel)
        };
        self.save_status(id);
        tracing::info!("restarting {} in {:?}", record.name, delay);
        let sup = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(delay) => {}
                _ = cancel.notified() => return,
            }
            if let Err(e) = sup.restart(&id).await {
                tracing::error!("cannot restart {}: {e:#}", record.name);
            }
        });
    }
}

/// Removes what is left of a runtime container `id` whose process is gone (a crash between
/// its exit and our clean-up), so that it can be created again.
pub fn remove_stale(runtime: &berth_runtime::container::Runtime, id: &str) {
    let dir = runtime.state_dir(id);
    if !dir.exists() {
        return;
    }
    match runtime.load(id) {
        // Alive: not stale (the caller's create then fails with "exists", which is right).
        Ok(_) => {}
        Err(_) => {
            if let Ok(st) = berth_runtime::container::state::State::load(&dir) {
                let _ = st.cgroup.kill_all();
                let _ = st.cgroup.remove();
            }
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!("cannot remove the stale state {}: {e}", dir.display());
            }
        }
    }
}
