//! The supervisor's socket protocol: JSON lines over the project's unix socket
//! (`StateRoot::supervisor_socket`). The client writes one [`Request`] per line and reads one
//! [`Response`] per line; after [`Request::Subscribe`] and its [`Response::Subscribed`], the
//! connection carries one [`Event`] per line until either side closes it.

use crate::engine::state::RecordedState;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// What a client asks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "request", rename_all = "snake_case")]
pub enum Request {
    /// Is anyone there? Answered with [`Response::Pong`].
    Ping,
    /// The supervisor's pid and containers: [`Response::Status`].
    Status,
    /// Starts a prepared container (record, spec, rootfs, netns in place). Starting a running
    /// container does nothing. [`Response::Ok`].
    Start {
        /// Container id.
        id: String,
    },
    /// Stops a container: its stop signal, then SIGKILL after the grace period (this timeout,
    /// else the record's `stop_grace_period`, else 10 s). A stopped container stays stopped
    /// whatever its restart policy. [`Response::Exited`] with the exit code.
    Stop {
        /// Container id.
        id: String,
        /// Seconds of grace before SIGKILL.
        #[serde(default)]
        timeout_secs: Option<u64>,
    },
    /// Sends a signal (`SIGKILL`, `KILL`, `9`). A killing signal counts as a user stop
    /// (no restart). [`Response::Ok`].
    Kill {
        /// Container id.
        id: String,
        /// The signal.
        signal: String,
    },
    /// Freezes a running container. [`Response::Ok`].
    Pause {
        /// Container id.
        id: String,
    },
    /// Thaws a paused container. [`Response::Ok`].
    Unpause {
        /// Container id.
        id: String,
    },
    /// The container is about to be removed: forget it, its DNS names and its ports. Refused
    /// while it runs. [`Response::Ok`].
    Forget {
        /// Container id.
        id: String,
    },
    /// Re-reads the project's records (new containers, networks, endpoints). [`Response::Ok`].
    Refresh,
    /// Answers when the container's process next ends ([`Response::Exited`]); at once, with
    /// the recorded code, when it does not run.
    Wait {
        /// Container id.
        id: String,
    },
    /// Turns the connection into a stream of [`Event`]s after [`Response::Subscribed`].
    Subscribe,
    /// Stops serving DNS and exits. Refused while supervised containers run, unless `force`
    /// (they keep running; the next supervisor takes them over). [`Response::Ok`].
    Shutdown {
        /// Exit even though containers run.
        #[serde(default)]
        force: bool,
    },
}

/// What the supervisor answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "response", rename_all = "snake_case")]
pub enum Response {
    /// Done.
    Ok,
    /// Answer to [`Request::Ping`].
    Pong {
        /// The supervisor's pid.
        pid: u32,
    },
    /// Answer to [`Request::Status`].
    Status(SupervisorStatus),
    /// The container's process ended with this code (Docker's: 128 + signal when killed,
    /// 255 when unknown).
    Exited {
        /// Exit code.
        code: i32,
    },
    /// Events follow, one per line.
    Subscribed,
    /// The request failed.
    Error {
        /// Why, for people.
        message: String,
    },
}

/// The supervisor and what it supervises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisorStatus {
    /// Its pid.
    pub pid: u32,
    /// Its project.
    pub project: String,
    /// Its containers, by name.
    pub containers: Vec<SupervisedContainer>,
}

/// One supervised container.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SupervisedContainer {
    /// Container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Its state as the supervisor sees it.
    pub state: RecordedState,
    /// Its init's pid while it has a process.
    #[serde(default)]
    pub pid: Option<i32>,
}

/// What happened to a container (Docker's event actions).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    /// Created (emitted by whoever creates; listed for completeness).
    Create,
    /// Its process started.
    Start,
    /// Its process ended (attribute `exitCode`).
    Die,
    /// The user stopped it.
    Stop,
    /// A signal was sent (attribute `signal`).
    Kill,
    /// Frozen.
    Pause,
    /// Thawed.
    Unpause,
    /// Restarted by its restart policy.
    Restart,
    /// The OOM killer struck.
    Oom,
    /// Its health changed (attribute `healthStatus`); see [`super::health`].
    HealthStatus,
}

/// One event.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Event {
    /// When, RFC 3339 UTC with nanoseconds.
    pub time: String,
    /// Container id.
    pub id: String,
    /// Container name.
    pub name: String,
    /// Project.
    pub project: String,
    /// Service (empty when the container has no service label).
    pub service: String,
    /// What happened.
    pub action: Action,
    /// Details (`exitCode`, `signal`, ...).
    #[serde(default)]
    pub attributes: BTreeMap<String, String>,
}

/// One JSON line (without its newline) of a message.
pub fn encode<T: Serialize>(message: &T) -> String {
    // Serializing these plain enums and structs cannot fail.
    serde_json::to_string(message).unwrap_or_else(|e| {
        serde_json::json!({"response": "error", "message": e.to_string()}).to_string()
    })
}

/// Parses one JSON line.
pub fn decode<T: serde::de::DeserializeOwned>(line: &str) -> Result<T, serde_json::Error> {
    serde_json::from_str(line.trim_end())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_round_trip_as_tagged_json_lines() {
        let all = [
            Request::Ping,
            Request::Status,
            Request::Start { id: "ab".into() },
            Request::Stop {
                id: "ab".into(),
                timeout_secs: Some(3),
            },
            Request::Kill {
                id: "ab".into(),
                signal: "SIGKILL".into(),
            },
            Request::Pause { id: "ab".into() },
            Request::Unpause { id: "ab".into() },
            Request::Forget { id: "ab".into() },
            Request::Refresh,
            Request::Wait { id: "ab".into() },
            Request::Subscribe,
            Request::Shutdown { force: true },
        ];
        for r in all {
            let line = encode(&r);
            assert!(!line.contains('\n'));
            assert_eq!(decode::<Request>(&format!("{line}\n")).unwrap(), r);
        }
        assert_eq!(encode(&Request::Ping), r#"{"request":"ping"}"#);
        assert_eq!(
            decode::<Request>(r#"{"request":"stop","id":"x"}"#).unwrap(),
            Request::Stop {
                id: "x".into(),
                timeout_secs: None
            }
        );
        assert!(decode::<Request>(r#"{"request":"explode"}"#).is_err());
    }

    #[test]
    fn responses_and_events_round_trip() {
        let status = Response::Status(SupervisorStatus {
            pid: 7,
            project: "p".into(),
            containers: vec![SupervisedContainer {
                id: "ab".into(),
                name: "p-web-1".into(),
                state: RecordedState::Running,
                pid: Some(42),
            }],
        });
        for r in [
            Response::Ok,
            Response::Pong { pid: 1 },
            status,
            Response::Exited { code: 137 },
            Response::Subscribed,
            Response::Error {
                message: "no".into(),
            },
        ] {
            assert_eq!(decode::<Response>(&encode(&r)).unwrap(), r);
        }
        let event = Event {
            time: "2026-11-22T10:00:00.000000001Z".into(),
            id: "ab".into(),
            name: "p-web-1".into(),
            project: "p".into(),
            service: "web".into(),
            action: Action::HealthStatus,
            attributes: [("exitCode".to_string(), "0".to_string())].into(),
        };
        let line = encode(&event);
        assert!(line.contains(r#""action":"health_status""#));
        assert_eq!(decode::<Event>(&line).unwrap(), event);
    }
}
