//! Waiting for containers to be ready, as Docker Compose waits: for a `depends_on` condition
//! (`service_healthy`, `service_completed_successfully`) before starting a dependent, and for
//! every service with `up --wait`. What a container's record says about a condition is
//! decided by [`check`] (pure); [`wait`] polls the records until all are ready, one fails, or
//! the time runs out, and reports progress in Compose's words (`Waiting`, then `Healthy` or
//! `Exited`).

use super::execute::{Context, Progress};
use super::state::{ContainerRecord, HealthStatus, RecordedState};
use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

/// How long after its start a container without a health check may still be found exiting.
const JUST_STARTED: Duration = Duration::from_secs(2);

/// What a container must reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// `service_healthy`: its health check says healthy (a container without a check fails).
    Healthy,
    /// `up --wait`: running, and healthy when it has a health check; a container that exited
    /// 0 is done.
    RunningOrHealthy,
    /// `service_completed_successfully`: it exited 0.
    Completed,
}

/// Where one container stands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Readiness {
    /// Not yet.
    Waiting,
    /// Ready; the word progress shows (`Healthy`, `Exited`).
    Ready(&'static str),
    /// It never will be: Compose's message.
    Failed(String),
}

/// Whether `record` (a container of `service`) meets `condition`.
pub fn check(record: &ContainerRecord, service: &str, condition: Condition) -> Readiness {
    let s = &record.status;
    let code = s.exit_code.unwrap_or(255);
    let exited =
        matches!(s.state, RecordedState::Exited | RecordedState::Dead) && s.started_at.is_some();
    let health = || {
        s.health
            .as_ref()
            .map_or(HealthStatus::Starting, |h| h.status)
    };
    let running = matches!(s.state, RecordedState::Running | RecordedState::Paused);
    match condition {
        Condition::Completed => match (exited, code) {
            (true, 0) => Readiness::Ready("Exited"),
            (true, code) => Readiness::Failed(format!(
                "service {service:?} didn't complete successfully: exit {code}"
            )),
            _ => Readiness::Waiting,
        },
        Condition::Healthy => {
            let failed =
                |why: String| Readiness::Failed(format!("dependency failed to start: {why}"));
            if exited {
                return failed(format!("container {} exited ({code})", record.name));
            }
            if record.healthcheck.is_none() {
                // A dependency that exits right after its start is reported as exited, with
                // its code, rather than as lacking a check: give it a moment to end.
                let just_started = s.started_at.is_some_and(|t| {
                    SystemTime::now()
                        .duration_since(t)
                        .is_ok_and(|d| d < JUST_STARTED)
                });
                if running && just_started {
                    return Readiness::Waiting;
                }
                return failed(format!(
                    "container {} has no healthcheck configured",
                    record.name
                ));
            }
            match health() {
                HealthStatus::Healthy if running => Readiness::Ready("Healthy"),
                HealthStatus::Unhealthy if running => failed(unhealthy(record)),
                _ => Readiness::Waiting,
            }
        }
        Condition::RunningOrHealthy => {
            if exited {
                return if code == 0 {
                    Readiness::Ready("Exited")
                } else {
                    Readiness::Failed(format!("container {} exited ({code})", record.name))
                };
            }
            if !running {
                return Readiness::Waiting;
            }
            if record.healthcheck.is_none() {
                return Readiness::Ready("Healthy");
            }
            match health() {
                HealthStatus::Healthy => Readiness::Ready("Healthy"),
                HealthStatus::Unhealthy => Readiness::Failed(unhealthy(record)),
                HealthStatus::Starting => Readiness::Waiting,
            }
        }
    }
}

/// Compose's words for an unhealthy container, with what its last failed probe said, so
/// that the reason is in front of the user without a trip to `inspect`.
fn unhealthy(record: &ContainerRecord) -> String {
    let last = record
        .status
        .health
        .as_ref()
        .and_then(|h| h.log.iter().rev().find(|p| p.exit_code != 0));
    match last {
        Some(p) => {
            let output: String = p.output.trim().chars().take(200).collect();
            if output.is_empty() {
                format!(
                    "container {} is unhealthy (last check: exit {})",
                    record.name, p.exit_code
                )
            } else {
                format!(
                    "container {} is unhealthy (last check: exit {}: {output})",
                    record.name, p.exit_code
                )
            }
        }
        None => format!("container {} is unhealthy", record.name),
    }
}

/// Go's text of a duration (`30s`, `1m30s`, `1.5s`, `500ms`), which Docker's messages use.
pub fn go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".into();
    }
    if d < Duration::from_secs(1) {
        let ms = d.as_secs_f64() * 1000.0;
        return format!("{}ms", trim(ms));
    }
    let total = d.as_secs();
    let (h, m) = (total / 3600, (total % 3600) / 60);
    let secs = (total % 60) as f64 + f64::from(d.subsec_nanos()) / 1e9;
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    out.push_str(&format!("{}s", trim(secs)));
    out
}

fn trim(v: f64) -> String {
    let text = format!("{v:.9}");
    text.trim_end_matches('0').trim_end_matches('.').to_string()
}

/// Waits until the containers of each `(service, condition)` (one-offs aside) meet it.
/// `timeout`: fail with Compose's `application not healthy after ...` when it passes.
pub async fn wait(
    ctx: &Context,
    targets: &[(String, Condition)],
    progress: &dyn Progress,
    timeout: Option<Duration>,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut announced: BTreeSet<String> = BTreeSet::new();
    let mut ready: BTreeSet<String> = BTreeSet::new();
    // Compose looks first after half a second: a dependency that exits at once is then
    // reported as exited rather than as running without a health check.
    let mut pause = Duration::from_millis(500);
    loop {
        let records = ctx.machine.state.containers_of(&ctx.project.name)?.records;
        for (service, _) in targets {
            for r in records.iter().filter(|r| {
                let o = r.observed();
                o.service() == Some(service.as_str()) && !o.is_oneoff()
            }) {
                if announced.insert(r.name.clone()) {
                    progress.status(&format!("Container {}", r.name), "Waiting", false);
                }
            }
        }
        tokio::time::sleep(pause).await;
        pause = Duration::from_millis(200);
        let records = ctx.machine.state.containers_of(&ctx.project.name)?.records;
        let mut all = true;
        for (service, condition) in targets {
            for r in records.iter().filter(|r| {
                let o = r.observed();
                o.service() == Some(service.as_str()) && !o.is_oneoff()
            }) {
                let owner = format!("Container {}", r.name);
                if announced.insert(r.name.clone()) {
                    progress.status(&owner, "Waiting", false);
                }
                if ready.contains(&r.name) {
                    continue;
                }
                match check(r, service, *condition) {
                    Readiness::Waiting => all = false,
                    Readiness::Ready(word) => {
                        ready.insert(r.name.clone());
                        progress.status(&owner, word, true);
                    }
                    Readiness::Failed(why) => {
                        progress.status(&owner, "Error", true);
                        anyhow::bail!(why);
                    }
                }
            }
        }
        if all {
            return Ok(());
        }
        if let Some(t) = timeout
            && start.elapsed() >= t
        {
            anyhow::bail!("application not healthy after {}", go_duration(t));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{ContainerStatus, HealthCheck, HealthState, ImageRecord};

    fn record(
        state: RecordedState,
        code: Option<i32>,
        health: Option<HealthStatus>,
    ) -> ContainerRecord {
        ContainerRecord {
            healthcheck: health.map(|_| HealthCheck {
                test: vec!["CMD".into(), "true".into()],
                interval: Duration::from_secs(1),
                timeout: Duration::from_secs(1),
                start_period: Duration::ZERO,
                start_interval: Duration::from_secs(1),
                retries: 3,
            }),
            status: ContainerStatus {
                state,
                exit_code: code,
                started_at: (state != RecordedState::Created).then_some(SystemTime::UNIX_EPOCH),
                health: health.map(|status| HealthState {
                    status,
                    ..Default::default()
                }),
                ..Default::default()
            },
            ..ContainerRecord::new(
                "ab",
                "p-db-1",
                ImageRecord {
                    reference: "x".into(),
                    id: "sha256:1".into(),
                },
            )
        }
    }

    #[test]
    fn an_unhealthy_dependency_is_reported_with_its_last_failed_probe() {
        let mut r = record(RecordedState::Running, None, Some(HealthStatus::Unhealthy));
        let probe = |exit_code, output: &str| crate::engine::state::ProbeResult {
            start: SystemTime::UNIX_EPOCH,
            end: SystemTime::UNIX_EPOCH,
            exit_code,
            output: output.into(),
        };
        if let Some(h) = r.status.health.as_mut() {
            h.log = vec![probe(1, "db not ready\n"), probe(0, "ok")];
        }
        assert_eq!(
            check(&r, "db", Condition::Healthy),
            Readiness::Failed(
                "dependency failed to start: container p-db-1 is unhealthy (last check: exit 1: db not ready)"
                    .into()
            )
        );
    }

    #[test]
    fn service_healthy_like_compose() {
        use HealthStatus::*;
        use RecordedState::*;
        let c = |r: &ContainerRecord| check(r, "db", Condition::Healthy);
        assert_eq!(
            c(&record(Running, None, Some(Starting))),
            Readiness::Waiting
        );
        assert_eq!(
            c(&record(Created, None, Some(Starting))),
            Readiness::Waiting
        );
        assert_eq!(
            c(&record(Running, None, Some(Healthy))),
            Readiness::Ready("Healthy")
        );
        assert_eq!(
            c(&record(Running, None, Some(Unhealthy))),
            Readiness::Failed("dependency failed to start: container p-db-1 is unhealthy".into())
        );
        assert_eq!(
            c(&record(Exited, Some(1), None)),
            Readiness::Failed("dependency failed to start: container p-db-1 exited (1)".into())
        );
        assert_eq!(
            c(&record(Running, None, None)),
            Readiness::Failed(
                "dependency failed to start: container p-db-1 has no healthcheck configured".into()
            )
        );
    }

    #[test]
    fn up_wait_and_completion() {
        use HealthStatus::*;
        use RecordedState::*;
        let w = |r: &ContainerRecord| check(r, "db", Condition::RunningOrHealthy);
        assert_eq!(w(&record(Running, None, None)), Readiness::Ready("Healthy"));
        assert_eq!(w(&record(Created, None, None)), Readiness::Waiting);
        assert_eq!(
            w(&record(Running, None, Some(Starting))),
            Readiness::Waiting
        );
        assert_eq!(
            w(&record(Running, None, Some(Unhealthy))),
            Readiness::Failed("container p-db-1 is unhealthy".into())
        );
        assert_eq!(
            w(&record(Exited, Some(0), None)),
            Readiness::Ready("Exited")
        );
        assert_eq!(
            w(&record(Exited, Some(3), None)),
            Readiness::Failed("container p-db-1 exited (3)".into())
        );
        let d = |r: &ContainerRecord| check(r, "db", Condition::Completed);
        assert_eq!(d(&record(Running, None, None)), Readiness::Waiting);
        assert_eq!(
            d(&record(Exited, Some(0), None)),
            Readiness::Ready("Exited")
        );
        assert_eq!(
            d(&record(Exited, Some(2), None)),
            Readiness::Failed("service \"db\" didn't complete successfully: exit 2".into())
        );
    }

    #[test]
    fn durations_as_go_prints_them() {
        let s = Duration::from_secs;
        assert_eq!(go_duration(s(30)), "30s");
        assert_eq!(go_duration(s(90)), "1m30s");
        assert_eq!(go_duration(s(600)), "10m0s");
        assert_eq!(go_duration(s(3600)), "1h0m0s");
        assert_eq!(go_duration(Duration::from_millis(1500)), "1.5s");
        assert_eq!(go_duration(Duration::from_millis(500)), "500ms");
        assert_eq!(go_duration(Duration::ZERO), "0s");
    }
}
