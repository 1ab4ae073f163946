//! Health probes: while a container with a health check runs, a task beside its monitor runs
//! the check's test inside it, Docker's way. The first probe comes one interval after the
//! start (the start interval during the start period, while still starting); a probe that
//! outlives its timeout is killed and fails. A success makes the container healthy; `retries`
//! failures in a row make it unhealthy, except that failures within the start period do not
//! count while it is starting. Each result goes into the record (the latest five, output cut
//! at 4 KiB) and every change of status is reported as a `health_status` event.
//!
//! The decisions ([`next_delay`], [`record_probe`]) are pure; [`run_probe`] blocks (it runs on
//! the blocking pool); the task ends when the container it was started for stops running.

use super::containers::Phase;
use super::{Action, Supervisor};
use crate::engine::exec::{ExecRequest, exec_process};
use crate::engine::readiness::go_duration;
use crate::engine::state::{
    HealthCheck, HealthState, HealthStatus, MAX_LOG_ENTRIES, ProbeResult, truncate_output,
};
use berth_runtime::container::{Container, Stdio};
use std::io::Read;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// The exit code of a probe that could not run or was killed at its timeout.
pub const PROBE_ERROR: i32 = -1;

/// Time until the next probe: the start interval while the container is starting within its
/// start period, else the interval.
pub fn next_delay(check: &HealthCheck, since_start: Duration, status: HealthStatus) -> Duration {
    if since_start < check.start_period && status == HealthStatus::Starting {
        check.start_interval
    } else {
        check.interval
    }
}

/// The health after `result`, for a container that started at `started_at`.
pub fn record_probe(
    state: &HealthState,
    check: &HealthCheck,
    result: ProbeResult,
    started_at: SystemTime,
) -> HealthState {
    let mut next = state.clone();
    if result.exit_code == 0 {
        next.failing_streak = 0;
        next.status = HealthStatus::Healthy;
    } else {
        let in_start_period = result
            .start
            .duration_since(started_at)
            .map_or(true, |d| d < check.start_period);
        // A failure within the start period does not count until a probe succeeded.
        if !(state.status == HealthStatus::Starting && in_start_period) {
            next.failing_streak += 1;
            if next.failing_streak >= check.retries.max(1) {
                next.status = HealthStatus::Unhealthy;
            }
        }
    }
    next.log.push(result);
    let extra = next.log.len().saturating_sub(MAX_LOG_ENTRIES);
    next.log.drain(..extra);
    next
}

/// Runs `command` in `container` (with the process settings of its spec: user, environment,
/// working directory), killing it after `timeout`. Blocks.
pub fn run_probe(container: &Container, command: Vec<String>, timeout: Duration) -> ProbeResult {
    let start = SystemTime::now();
    let failed = |output: String| ProbeResult {
        start,
        end: SystemTime::now(),
        exit_code: PROBE_ERROR,
        output,
    };
    let Some(base) = container.spec().process().clone() else {
        return failed("the container has no process to run the health check as".into());
    };
    let request = ExecRequest {
        command,
        ..Default::default()
    };
    let process = match exec_process(&base, &request) {
        Ok(p) => p,
        Err(e) => return failed(format!("cannot run the health check: {e:#}")),
    };
    let mut exec = match container.exec(&process, Stdio::Piped { stdin: false }) {
        Ok(e) => e,
        Err(e) => return failed(format!("cannot run the health check: {e}")),
    };
    let io = exec.take_io();
    let (tx, rx) = std::sync::mpsc::channel::<(usize, Vec<u8>)>();
    let mut readers = 0;
    for (n, stream) in [io.stdout, io.stderr].into_iter().enumerate() {
        let Some(mut stream) = stream else { continue };
        readers += 1;
        let tx = tx.clone();
        // Reads to the end (a process blocked on a full pipe would never exit), keeping the
        // first bytes only.
        std::thread::spawn(move || {
            let mut kept = Vec::new();
            let mut buf = [0u8; 4096];
            while let Ok(n) = stream.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let room = crate::engine::state::health::MAX_OUTPUT_LEN.saturating_sub(kept.len());
                kept.extend_from_slice(&buf[..n.min(room)]);
            }
            let _ = tx.send((n, kept));
        });
    }
    drop(tx);
    let Some(exit) = exec.wait_timeout(timeout) else {
        let _ = exec.signal(nix::sys::signal::Signal::SIGKILL);
        let _ = exec.wait_timeout(Duration::from_secs(5));
        return failed(format!(
            "Health check exceeded timeout ({})",
            go_duration(timeout)
        ));
    };
    let end = SystemTime::now();
    // A child the probe left behind may hold its pipes open: do not wait long for them.
    let mut parts: Vec<(usize, Vec<u8>)> = Vec::new();
    for _ in 0..readers {
        match rx.recv_timeout(Duration::from_secs(1)) {
            Ok(p) => parts.push(p),
            Err(_) => break,
        }
    }
    parts.sort_by_key(|(n, _)| *n);
    let output: Vec<u8> = parts.into_iter().flat_map(|(_, b)| b).collect();
    ProbeResult {
        start,
        end,
        exit_code: exit.code(),
        output: truncate_output(&output),
    }
}

/// Where a probe task's container is.
enum Target {
    /// Running (the same process the task was started for), with its health.
    Running(HealthState),
    /// Frozen: no probe now.
    Paused,
    /// Gone, or replaced by a new run: the task ends.
    Gone,
}

impl Supervisor {
    /// Starts probing `container` (the running process of `id`) when its record has a health
    /// check.
    pub fn probe_health(self: &Arc<Self>, id: String, container: Arc<Container>) {
        let (check, started_at) = {
            let table = self.table();
            let Some(entry) = table.get(&id) else { return };
            let Some(check) = entry.record.healthcheck.clone() else {
                return;
            };
            (
                check,
                entry.status.started_at.unwrap_or_else(SystemTime::now),
            )
        };
        let Some(command) = check.command() else {
            tracing::warn!("{id}: the health check has no command; not probing");
            return;
        };
        let sup = self.clone();
        tokio::spawn(async move {
            loop {
                let Target::Running(health) = sup.probe_target(&id, &container) else {
                    return;
                };
                let since = SystemTime::now()
                    .duration_since(started_at)
                    .unwrap_or_default();
                tokio::time::sleep(next_delay(&check, since, health.status)).await;
                match sup.probe_target(&id, &container) {
                    Target::Gone => return,
                    Target::Paused => continue,
                    Target::Running(_) => {}
                }
                let (c, cmd, timeout) = (container.clone(), command.clone(), check.timeout);
                let result =
                    match tokio::task::spawn_blocking(move || run_probe(&c, cmd, timeout)).await {
                        Ok(r) => r,
                        Err(e) => {
                            tracing::error!("the health probe of {id} failed: {e}");
                            return;
                        }
                    };
                if !sup.probed(&id, &container, &check, result, started_at) {
                    return;
                }
            }
        });
    }

    fn probe_target(&self, id: &str, container: &Arc<Container>) -> Target {
        let table = self.table();
        match table.get(id).map(|e| (&e.phase, &e.status.health)) {
            Some((
                Phase::Running {
                    container: c,
                    paused,
                    ..
                },
                health,
            )) if Arc::ptr_eq(c, container) => {
                if *paused {
                    Target::Paused
                } else {
                    Target::Running(health.clone().unwrap_or_default())
                }
            }
            _ => Target::Gone,
        }
    }

    /// Records a probe's result; false when the container is no longer the one probed.
    fn probed(
        &self,
        id: &str,
        container: &Arc<Container>,
        check: &HealthCheck,
        result: ProbeResult,
        started_at: SystemTime,
    ) -> bool {
        let (record, before, after) = {
            let mut table = self.table();
            let Some(entry) = table.get_mut(id) else {
                return false;
            };
            match &entry.phase {
                Phase::Running { container: c, .. } if Arc::ptr_eq(c, container) => {}
                _ => return false,
            }
            let before = entry.status.health.clone().unwrap_or_default();
            let after = record_probe(&before, check, result, started_at);
            entry.status.health = Some(after.clone());
            (entry.record.clone(), before.status, after.status)
        };
        self.save_status(id);
        if before != after {
            tracing::info!("{} is {}", record.name, after.word());
            self.emit(
                &record,
                Action::HealthStatus,
                &[("healthStatus", after.word().to_string())],
            );
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(retries: u32, start_period: u64) -> HealthCheck {
        HealthCheck {
            test: vec!["CMD".into(), "true".into()],
            interval: Duration::from_secs(30),
            timeout: Duration::from_secs(30),
            start_period: Duration::from_secs(start_period),
            start_interval: Duration::from_secs(5),
            retries,
        }
    }

    fn at(secs: u64) -> SystemTime {
        SystemTime::UNIX_EPOCH + Duration::from_secs(1000 + secs)
    }

    fn probe(secs: u64, code: i32) -> ProbeResult {
        ProbeResult {
            start: at(secs),
            end: at(secs),
            exit_code: code,
            output: String::new(),
        }
    }

    fn run(check: &HealthCheck, probes: &[(u64, i32)]) -> Vec<(HealthStatus, u32)> {
        let mut state = HealthState::default();
        probes
            .iter()
            .map(|&(t, code)| {
                state = record_probe(&state, check, probe(t, code), at(0));
                (state.status, state.failing_streak)
            })
            .collect()
    }

    #[test]
    fn retries_failures_in_a_row_make_it_unhealthy() {
        use HealthStatus::*;
        let c = check(3, 0);
        assert_eq!(
            run(&c, &[(1, 1), (2, 1), (3, 1), (4, 0), (5, 1)]),
            [
                (Starting, 1),
                (Starting, 2),
                (Unhealthy, 3),
                (Healthy, 0),
                (Healthy, 1)
            ]
        );
        assert_eq!(
            run(&check(1, 0), &[(1, 0), (2, 7)]),
            [(Healthy, 0), (Unhealthy, 1)]
        );
    }

    #[test]
    fn failures_in_the_start_period_do_not_count_until_a_success() {
        use HealthStatus::*;
        let c = check(2, 10);
        assert_eq!(
            run(&c, &[(1, 1), (5, 1), (9, 1), (11, 1), (12, 1)]),
            [
                (Starting, 0),
                (Starting, 0),
                (Starting, 0),
                (Starting, 1),
                (Unhealthy, 2)
            ]
        );
        // Once healthy, failures count even within the start period.
        assert_eq!(
            run(&c, &[(1, 0), (2, 1), (3, 1)]),
            [(Healthy, 0), (Healthy, 1), (Unhealthy, 2)]
        );
    }

    #[test]
    fn the_log_keeps_the_latest_five() {
        let c = check(3, 0);
        let mut state = HealthState::default();
        for t in 0..8 {
            state = record_probe(&state, &c, probe(t, 0), at(0));
        }
        assert_eq!(state.log.len(), MAX_LOG_ENTRIES);
        assert_eq!(state.log[0].start, at(3));
        assert_eq!(state.log[4].start, at(7));
    }

    #[test]
    fn start_interval_only_while_starting_in_the_start_period() {
        let c = check(3, 60);
        let s = Duration::from_secs;
        assert_eq!(next_delay(&c, s(1), HealthStatus::Starting), s(5));
        assert_eq!(next_delay(&c, s(1), HealthStatus::Healthy), s(30));
        assert_eq!(next_delay(&c, s(61), HealthStatus::Starting), s(30));
        assert_eq!(
            next_delay(&check(3, 0), s(0), HealthStatus::Starting),
            s(30)
        );
    }
}
