//! `berth inspect CONTAINER...` (and `berth container inspect`): what berth knows of
//! containers, as a JSON array shaped like `docker inspect`'s, with the state, the restart
//! count and the health with its last probe outputs.

use super::{GlobalOptions, output, project, summary};
use crate::engine::logs::format_time;
use crate::engine::state::{ContainerRecord, MountKind, RecordedState, StateRoot};
use crate::supervisor::restart::Policy;
use anyhow::bail;
use berth_runtime::container::Runtime;
use clap::Args;
use serde_json::{Map, Value, json};
use std::process::ExitCode;
use std::time::SystemTime;

/// Flags of `berth inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The containers, by name, id or id prefix
    #[arg(required = true, value_name = "CONTAINER")]
    pub containers: Vec<String>,
}

/// Runs `berth inspect`.
pub fn run(global: &GlobalOptions, args: &InspectArgs) -> anyhow::Result<ExitCode> {
    let state = project::open_state(global)?;
    let runtime = Runtime::new(state.runtime_dir())?;
    let mut shown = Vec::new();
    let mut failed = false;
    for name in &args.containers {
        match find(&state, name) {
            Ok(record) => {
                let running = matches!(
                    record.status.state,
                    RecordedState::Running | RecordedState::Paused
                );
                let pid = running
                    .then(|| runtime.load(&record.id).ok().map(|c| c.pid()))
                    .flatten();
                shown.push(inspect_json(&record, pid));
            }
            Err(e) => {
                output::error(&e);
                failed = true;
            }
        }
    }
    output::emit(&format!("{:#}\n", Value::Array(shown)), None)?;
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

/// The record of the container named `name` (its name, its id, or a unique id prefix).
fn find(state: &StateRoot, name: &str) -> anyhow::Result<ContainerRecord> {
    if let Some(id) = state.name_holder(name)? {
        return Ok(state.container(&id)?);
    }
    let all = state.containers()?.records;
    let mut matching = all.into_iter().filter(|r| r.id.starts_with(name));
    match (matching.next(), matching.next()) {
        (Some(r), None) if !name.is_empty() => Ok(r),
        (Some(_), Some(_)) => bail!("multiple containers match the id prefix {name}"),
        _ => bail!("No such container: {name}"),
    }
}

/// Docker's zero time, for a time that never was.
const ZERO_TIME: &str = "0001-01-01T00:00:00Z";

fn time(t: Option<SystemTime>) -> String {
    t.map(format_time).unwrap_or_else(|| ZERO_TIME.to_string())
}

/// One container as `docker inspect` shows it (the fields berth has).
pub fn inspect_json(record: &ContainerRecord, pid: Option<i32>) -> Value {
    let status = &record.status;
    let health = status.health.as_ref().map(|h| {
        json!({
            "Status": h.status.word(),
            "FailingStreak": h.failing_streak,
            "Log": h.log.iter().map(|p| json!({
                "Start": format_time(p.start),
                "End": format_time(p.end),
                "ExitCode": p.exit_code,
                "Output": p.output,
            })).collect::<Vec<_>>(),
        })
    });
    let mut state = json!({
        "Status": summary::state_word(status.state),
        "Running": matches!(status.state, RecordedState::Running | RecordedState::Paused),
        "Paused": status.state == RecordedState::Paused,
        "Restarting": status.state == RecordedState::Restarting,
        "OOMKilled": status.oom_killed,
        "Dead": status.state == RecordedState::Dead,
        "Pid": pid.unwrap_or(0),
        "ExitCode": status.exit_code.unwrap_or(0),
        "Error": "",
        "StartedAt": time(status.started_at),
        "FinishedAt": time(status.finished_at),
    });
    if let (Some(h), Some(o)) = (health, state.as_object_mut()) {
        o.insert("Health".into(), h);
    }
    let (policy, max) = Policy::parse(record.restart_policy.as_deref())
        .map(Policy::docker_name)
        .unwrap_or(("no", 0));
    let mounts: Vec<Value> = record
        .mounts
        .iter()
        .map(|m| {
            let kind = match m.kind {
                MountKind::Volume => "volume",
                MountKind::Bind => "bind",
                MountKind::Tmpfs => "tmpfs",
            };
            let mut v = json!({
                "Type": kind,
                "Source": m.source,
                "Destination": m.target,
                "RW": !m.read_only,
            });
            if m.kind == MountKind::Volume
                && let Some(o) = v.as_object_mut()
            {
                o.insert("Name".into(), json!(m.source));
            }
            v
        })
        .collect();
    let networks: Map<String, Value> = record
        .endpoints
        .iter()
        .map(|e| {
            (
                e.network.clone(),
                json!({
                    "Aliases": e.aliases,
                    "IPAddress": e.ipv4.map(|a| a.to_string()).unwrap_or_default(),
                    "GlobalIPv6Address": e.ipv6.map(|a| a.to_string()).unwrap_or_default(),
                    "MacAddress": e.mac.clone().unwrap_or_default(),
                }),
            )
        })
        .collect();
    let mut ports: Map<String, Value> = Map::new();
    for p in &record.ports {
        let key = format!("{}/{}", p.container_port, p.protocol);
        let binding = json!({
            "HostIp": p.host_ip.map(|a| a.to_string()).unwrap_or_else(|| "0.0.0.0".into()),
            "HostPort": p.host_port.to_string(),
        });
        match ports.get_mut(&key).and_then(Value::as_array_mut) {
            Some(list) => list.push(binding),
            None => {
                ports.insert(key, json!([binding]));
            }
        }
    }
    let (path, args) = match record.command.split_first() {
        Some((p, a)) => (p.clone(), a.to_vec()),
        None => (String::new(), Vec::new()),
    };
    json!({
        "Id": record.id,
        "Created": format_time(record.created),
        "Path": path,
        "Args": args,
        "State": state,
        "Image": record.image.id,
        "Name": format!("/{}", record.name),
        "RestartCount": status.restart_count,
        "HostConfig": {
            "RestartPolicy": { "Name": policy, "MaximumRetryCount": max },
        },
        "Mounts": mounts,
        "Config": {
            "Image": record.image.reference,
            "Labels": record.labels,
        },
        "NetworkSettings": { "Networks": networks, "Ports": ports },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::state::{
        ContainerStatus, HealthState, HealthStatus, ImageRecord, PortRecord, ProbeResult,
    };
    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn health_with_its_last_outputs_and_the_restart_policy_show() {
        let mut r = ContainerRecord::new(
            "abc123",
            "p-db-1",
            ImageRecord {
                reference: "busybox".into(),
                id: "sha256:1".into(),
            },
        );
        r.restart_policy = Some("on-failure:3".into());
        r.command = vec!["sh".into(), "-c".into(), "true".into()];
        r.ports = vec![PortRecord {
            host_ip: None,
            host_port: 8080,
            container_port: 80,
            protocol: "tcp".into(),
        }];
        let at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        r.status = ContainerStatus {
            state: RecordedState::Running,
            restart_count: 2,
            started_at: Some(at),
            health: Some(HealthState {
                status: HealthStatus::Unhealthy,
                failing_streak: 3,
                log: vec![ProbeResult {
                    start: at,
                    end: at + Duration::from_millis(5),
                    exit_code: 1,
                    output: "no\n".into(),
                }],
            }),
            ..Default::default()
        };
        let v = inspect_json(&r, Some(42));
        assert_eq!(v["Name"], "/p-db-1");
        assert_eq!(v["Path"], "sh");
        assert_eq!(v["State"]["Status"], "running");
        assert_eq!(v["State"]["Pid"], 42);
        assert_eq!(v["State"]["FinishedAt"], ZERO_TIME);
        assert_eq!(v["State"]["Health"]["Status"], "unhealthy");
        assert_eq!(v["State"]["Health"]["FailingStreak"], 3);
        assert_eq!(v["State"]["Health"]["Log"][0]["Output"], "no\n");
        assert_eq!(v["State"]["Health"]["Log"][0]["ExitCode"], 1);
        assert_eq!(v["RestartCount"], 2);
        assert_eq!(v["HostConfig"]["RestartPolicy"]["Name"], "on-failure");
        assert_eq!(v["HostConfig"]["RestartPolicy"]["MaximumRetryCount"], 3);
        assert_eq!(
            v["NetworkSettings"]["Ports"]["80/tcp"][0]["HostPort"],
            "8080"
        );
    }
}
