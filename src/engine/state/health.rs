//! A container's health check as recorded: its definition (from the service's `healthcheck`
//! or the image's `HEALTHCHECK`, with Docker's defaults filled in) in the container's record,
//! and its live health (status, failing streak, the latest probes) in its status. Both are
//! serialized with defaults, so records written before health checks existed read as
//! "no check".

use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// Docker's default time between probes.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(30);
/// Docker's default time a probe may take.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
/// Docker's default time between probes during the start period.
pub const DEFAULT_START_INTERVAL: Duration = Duration::from_secs(5);
/// Docker's default number of consecutive failures that make a container unhealthy.
pub const DEFAULT_RETRIES: u32 = 3;
/// How many probe results Docker keeps.
pub const MAX_LOG_ENTRIES: usize = 5;
/// How much of a probe's output Docker keeps (bytes).
pub const MAX_OUTPUT_LEN: usize = 4096;

/// A container's health check, every value resolved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheck {
    /// The probe: `["CMD", prog, args...]` (run as is) or `["CMD-SHELL", command]` (run by
    /// `/bin/sh -c`).
    pub test: Vec<String>,
    /// Time between probes.
    #[serde(default = "default_interval")]
    pub interval: Duration,
    /// Time a probe may take before it is killed and counted as failed.
    #[serde(default = "default_timeout")]
    pub timeout: Duration,
    /// After a start, failures within this time do not count.
    #[serde(default)]
    pub start_period: Duration,
    /// Time between probes during the start period, while the container is starting.
    #[serde(default = "default_start_interval")]
    pub start_interval: Duration,
    /// Consecutive failures that make the container unhealthy.
    #[serde(default = "default_retries")]
    pub retries: u32,
}

fn default_interval() -> Duration {
    DEFAULT_INTERVAL
}
fn default_timeout() -> Duration {
    DEFAULT_TIMEOUT
}
fn default_start_interval() -> Duration {
    DEFAULT_START_INTERVAL
}
fn default_retries() -> u32 {
    DEFAULT_RETRIES
}

impl HealthCheck {
    /// The command line a probe runs, or `None` when the test has no command.
    pub fn command(&self) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((kind, rest)) if kind == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((kind, rest)) if kind == "CMD-SHELL" && !rest.is_empty() => {
                Some(vec!["/bin/sh".into(), "-c".into(), rest.join(" ")])
            }
            _ => None,
        }
    }
}

/// Docker's health statuses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum HealthStatus {
    /// No probe succeeded yet since the container started.
    #[default]
    Starting,
    /// The last probe succeeded.
    Healthy,
    /// `retries` probes in a row failed.
    Unhealthy,
}

impl HealthStatus {
    /// Docker's word for it.
    pub fn word(self) -> &'static str {
        match self {
            HealthStatus::Starting => "starting",
            HealthStatus::Healthy => "healthy",
            HealthStatus::Unhealthy => "unhealthy",
        }
    }
}

/// The result of one probe.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeResult {
    /// When it started.
    pub start: SystemTime,
    /// When it ended.
    pub end: SystemTime,
    /// Its exit code (0 healthy; -1 when it could not run or timed out).
    pub exit_code: i32,
    /// Its output (stdout then stderr), at most [`MAX_OUTPUT_LEN`] bytes.
    #[serde(default)]
    pub output: String,
}

/// A container's live health.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct HealthState {
    /// Its status.
    #[serde(default)]
    pub status: HealthStatus,
    /// Consecutive failed probes that counted.
    #[serde(default)]
    pub failing_streak: u32,
    /// The latest probes, oldest first, at most [`MAX_LOG_ENTRIES`].
    #[serde(default)]
    pub log: Vec<ProbeResult>,
}

impl HealthState {
    /// The health at a (re)start: starting, no streak; the log of earlier runs is kept, as
    /// Docker keeps it.
    pub fn restarted(&self) -> HealthState {
        HealthState {
            status: HealthStatus::Starting,
            failing_streak: 0,
            log: self.log.clone(),
        }
    }
}

impl HealthCheck {
    /// Docker's `Config.Healthcheck` of `inspect` (durations in nanoseconds).
    pub fn docker_json(&self) -> serde_json::Value {
        let ns = |d: Duration| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        serde_json::json!({
            "Test": self.test,
            "Interval": ns(self.interval),
            "Timeout": ns(self.timeout),
            "StartPeriod": ns(self.start_period),
            "StartInterval": ns(self.start_interval),
            "Retries": self.retries,
        })
    }
}

impl HealthState {
    /// Docker's `State.Health` of `inspect`.
    pub fn docker_json(&self) -> serde_json::Value {
        use crate::engine::logs::format_time;
        let log: Vec<serde_json::Value> = self
            .log
            .iter()
            .map(|p| {
                serde_json::json!({
                    "Start": format_time(p.start),
                    "End": format_time(p.end),
                    "ExitCode": p.exit_code,
                    "Output": p.output,
                })
            })
            .collect();
        serde_json::json!({
            "Status": self.status.word(),
            "FailingStreak": self.failing_streak,
            "Log": log,
        })
    }
}

/// Keeps the first [`MAX_OUTPUT_LEN`] bytes of `bytes` (cut on a character boundary), as text.
pub fn truncate_output(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_OUTPUT_LEN)]);
    let mut text = text.into_owned();
    // Lossy decoding may grow the text (replacement characters); keep it within the limit.
    while text.len() > MAX_OUTPUT_LEN {
        text.pop();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(test: &[&str]) -> HealthCheck {
        HealthCheck {
            test: test.iter().map(|s| s.to_string()).collect(),
            interval: DEFAULT_INTERVAL,
            timeout: DEFAULT_TIMEOUT,
            start_period: Duration::ZERO,
            start_interval: DEFAULT_START_INTERVAL,
            retries: DEFAULT_RETRIES,
        }
    }

    #[test]
    fn commands_of_tests() {
        assert_eq!(
            check(&["CMD", "pg_isready", "-U", "x"]).command().unwrap(),
            ["pg_isready", "-U", "x"]
        );
        assert_eq!(
            check(&["CMD-SHELL", "[ -f /tmp/ready ]"])
                .command()
                .unwrap(),
            ["/bin/sh", "-c", "[ -f /tmp/ready ]"]
        );
        assert_eq!(check(&["CMD"]).command(), None);
        assert_eq!(check(&["NONE"]).command(), None);
    }

    #[test]
    fn missing_fields_take_docker_defaults() {
        let c: HealthCheck = serde_json::from_str(r#"{"test":["CMD","true"]}"#).unwrap();
        assert_eq!(c, check(&["CMD", "true"]));
        let s: HealthState = serde_json::from_str("{}").unwrap();
        assert_eq!(s.status, HealthStatus::Starting);
        assert_eq!(
            serde_json::to_string(&HealthStatus::Unhealthy).unwrap(),
            r#""unhealthy""#
        );
    }

    #[test]
    fn docker_inspect_forms() {
        let c = check(&["CMD", "true"]).docker_json();
        assert_eq!(c["Interval"], 30_000_000_000u64);
        assert_eq!(c["Retries"], 3);
        let s = HealthState {
            status: HealthStatus::Healthy,
            failing_streak: 0,
            log: vec![ProbeResult {
                start: SystemTime::UNIX_EPOCH,
                end: SystemTime::UNIX_EPOCH,
                exit_code: 0,
                output: "ok".into(),
            }],
        }
        .docker_json();
        assert_eq!(s["Status"], "healthy");
        assert_eq!(s["Log"][0]["ExitCode"], 0);
        assert!(
            s["Log"][0]["Start"]
                .as_str()
                .unwrap()
                .starts_with("1970-01-01T00:00:00")
        );
    }

    #[test]
    fn output_is_cut_at_4k() {
        assert_eq!(truncate_output(b"ok\n"), "ok\n");
        let long = vec![b'x'; 10_000];
        assert_eq!(truncate_output(&long).len(), MAX_OUTPUT_LEN);
        let mut bad = vec![b'x'; MAX_OUTPUT_LEN - 1];
        bad.push(0xff);
        assert!(truncate_output(&bad).len() <= MAX_OUTPUT_LEN);
    }
}
