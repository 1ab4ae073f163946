//! `berth events`: stream the project's container events from its supervisor, as `docker
//! compose events` prints them (plain lines, or `--json` objects).

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::labels;
use crate::engine::state::{ContainerRecord, StateRoot};
use crate::supervisor::client::SupervisorClient;
use crate::supervisor::protocol::{Action, Event};
use anyhow::Context as _;
use clap::Args;
use std::collections::BTreeMap;
use std::io::Write;
use std::process::ExitCode;
use std::time::Duration;

/// Flags of `berth events`.
#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Output events as a stream of json objects
    #[arg(long)]
    pub json: bool,
    /// Show all events created since timestamp (berth keeps no history: only events from
    /// now on, and none before this time)
    #[arg(long, value_name = "TIME")]
    pub since: Option<String>,
    /// Stream events until this timestamp
    #[arg(long, value_name = "TIME")]
    pub until: Option<String>,
    /// Services whose events to show (all when none)
    #[arg(value_name = "SERVICE")]
    pub services: Vec<String>,
}

/// An event as Compose shows it: Docker's action name and the container's attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Shown {
    /// RFC 3339 time.
    pub time: String,
    /// Docker's action (`start`, `die`, `health_status: healthy`).
    pub action: String,
    /// Container id.
    pub id: String,
    /// Service.
    pub service: String,
    /// `name`, `image`, the container's own labels (not Compose's) and the event's details.
    pub attributes: BTreeMap<String, String>,
}

/// Docker's name of an action.
fn action_name(action: Action, attributes: &BTreeMap<String, String>) -> String {
    let name = serde_json::to_value(action)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default();
    match (action, attributes.get("health_status")) {
        (Action::HealthStatus, Some(status)) => format!("{name}: {status}"),
        _ => name,
    }
}

/// What Compose shows of `event`, given its container's record when known; `None` for the
/// events Compose leaves out (one-off containers).
pub fn shown(event: &Event, record: Option<&ContainerRecord>) -> Option<Shown> {
    let mut attributes = BTreeMap::new();
    if let Some(r) = record {
        if r.labels.get(labels::ONEOFF).map(String::as_str) == Some("True") {
            return None;
        }
        for (k, v) in &r.labels {
            if !k.starts_with("com.docker.compose.") {
                attributes.insert(k.clone(), v.clone());
            }
        }
        attributes.insert("image".into(), r.image.reference.clone());
    }
    attributes.insert("name".into(), event.name.clone());
    for (k, v) in &event.attributes {
        attributes.insert(k.clone(), v.clone());
    }
    Some(Shown {
        time: event.time.clone(),
        action: action_name(event.action, &event.attributes),
        id: event.id.clone(),
        service: event.service.clone(),
        attributes,
    })
}

/// `2026-11-22T10:00:00.123456789Z` as Compose prints it: `2026-11-22 10:00:00.123456`.
pub fn plain_time(time: &str) -> String {
    let Some((date, rest)) = time.split_once('T') else {
        return time.to_string();
    };
    let clock = rest.trim_end_matches(['Z', 'z']);
    let (secs, frac) = clock.split_once('.').unwrap_or((clock, ""));
    let mut micros: String = frac
        .chars()
        .take_while(char::is_ascii_digit)
        .take(6)
        .collect();
    while micros.len() < 6 {
        micros.push('0');
    }
    format!("{date} {secs}.{micros}")
}

impl Shown {
    /// Compose's plain line.
    pub fn plain(&self) -> String {
        let attrs: Vec<String> = self
            .attributes
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        format!(
            "{} container {} {} ({})",
            plain_time(&self.time),
            self.action,
            self.id,
            attrs.join(", ")
        )
    }

    /// Compose's `--json` object (keys sorted, as Go marshals a map).
    pub fn json(&self) -> String {
        serde_json::json!({
            "action": self.action,
            "attributes": self.attributes,
            "id": self.id,
            "service": self.service,
            "time": self.time,
            "type": "container",
        })
        .to_string()
    }
}

/// Seconds since the epoch of a `--since`/`--until` value, as Docker reads them: a Unix
/// timestamp, an RFC 3339 time, or a duration before `now` (`10m`, `1h30m`, `45s`).
pub fn parse_time(text: &str, now: f64) -> anyhow::Result<f64> {
    let t = text.trim();
    if let Ok(v) = t.parse::<f64>() {
        return Ok(v);
    }
    if let Some(v) = super::output::parse_rfc3339(t) {
        return Ok(v as f64);
    }
    let mut total = 0.0;
    let mut rest = t;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let value: f64 = rest[..digits]
            .parse()
            .with_context(|| format!("invalid time {text:?}"))?;
        rest = &rest[digits..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1e-9,
            "us" | "µs" => 1e-6,
            "ms" => 1e-3,
            "s" => 1.0,
            "m" => 60.0,
            "h" => 3600.0,
            _ => anyhow::bail!(
                "invalid time {text:?}: give a Unix timestamp, an RFC 3339 time or a duration"
            ),
        };
        total += value * scale;
        rest = &rest[unit_len..];
    }
    Ok(now - total)
}

/// The record of container `id`, cached once found (a container created later is looked
/// up when its first event comes).
fn record<'a>(
    state: &StateRoot,
    cache: &'a mut BTreeMap<String, ContainerRecord>,
    id: &str,
) -> Option<&'a ContainerRecord> {
    if !cache.contains_key(id) {
        let r = state.container(id).ok()?;
        cache.insert(id.to_string(), r);
    }
    cache.get(id)
}

/// Runs `berth events` until interrupted.
pub fn run(global: &GlobalOptions, args: &EventsArgs) -> anyhow::Result<ExitCode> {
    let mut session = Session::open(global, false)?;
    session.check_services(&args.services)?;
    session.unlock();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let since = args
        .since
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()?;
    if let Some(until) = args
        .until
        .as_deref()
        .map(|t| parse_time(t, now))
        .transpose()?
    {
        // The stream blocks on the supervisor: a timer ends the command at `until`.
        let wait = Duration::from_secs_f64((until - now).max(0.0));
        std::thread::spawn(move || {
            std::thread::sleep(wait);
            // Every line is flushed as written (and the stream holds stdout's lock).
            std::process::exit(0);
        });
    }
    let state = session.ctx.machine.state.clone();
    let project = session.name().to_string();
    // A project with containers has a supervisor (started if need be); an empty one gets
    // one with its first `up`, which the loop below waits for.
    let mut client = if session.records()?.is_empty() {
        None
    } else {
        Some(SupervisorClient::ensure_with(
            &state,
            &project,
            &session.ctx.machine.exe,
        )?)
    };
    let mut cache = BTreeMap::new();
    let mut out = std::io::stdout().lock();
    loop {
        // The supervisor exits with the project (`down`); a later `up` starts another one,
        // whose events follow on (those it reports before this poll finds it are missed:
        // unlike Docker's daemon, no one keeps events while no supervisor runs).
        let c = match client.take() {
            Some(c) => c,
            None => match SupervisorClient::connect(&state, &project)? {
                Some(c) => c,
                None => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
            },
        };
        for event in c.events()? {
            let event = event?;
            if !args.services.is_empty() && !args.services.contains(&event.service) {
                continue;
            }
            if let Some(since) = since
                && super::output::parse_rfc3339(&event.time)
                    .is_some_and(|t| (t as f64) < since.floor())
            {
                continue;
            }
            let Some(s) = shown(&event, record(&state, &mut cache, &event.id)) else {
                continue;
            };
            let line = if args.json { s.json() } else { s.plain() };
            writeln!(out, "{line}")
                .and_then(|()| out.flush())
                .context("cannot write events")?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(action: Action, attrs: &[(&str, &str)]) -> Event {
        Event {
            time: "2026-11-22T10:00:00.123456789Z".into(),
            id: "abc".into(),
            name: "p-web-1".into(),
            project: "p".into(),
            service: "web".into(),
            action,
            attributes: attrs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn plain_and_json_forms() {
        let s = shown(&event(Action::Die, &[("exitCode", "3")]), None).unwrap();
        assert_eq!(
            s.plain(),
            "2026-11-22 10:00:00.123456 container die abc (exitCode=3, name=p-web-1)"
        );
        let v: serde_json::Value = serde_json::from_str(&s.json()).unwrap();
        assert_eq!(v["action"], "die");
        assert_eq!(v["type"], "container");
        assert_eq!(v["service"], "web");
        assert_eq!(v["attributes"]["exitCode"], "3");
        let h = shown(
            &event(Action::HealthStatus, &[("health_status", "healthy")]),
            None,
        );
        assert_eq!(h.unwrap().action, "health_status: healthy");
    }

    #[test]
    fn since_and_until_read_as_docker_reads_them() {
        assert_eq!(parse_time("1700000000", 0.0).unwrap(), 1_700_000_000.0);
        assert_eq!(
            parse_time("2026-01-01T00:00:00Z", 0.0).unwrap(),
            1_767_225_600.0
        );
        assert_eq!(parse_time("1h30m", 10_000.0).unwrap(), 4_600.0);
        assert_eq!(parse_time("500ms", 1.0).unwrap(), 0.5);
        assert!(parse_time("soon", 0.0).is_err());
        assert!(parse_time("10x", 0.0).is_err());
    }

    #[test]
    fn times_are_cut_to_microseconds() {
        assert_eq!(
            plain_time("2026-01-02T03:04:05Z"),
            "2026-01-02 03:04:05.000000"
        );
        assert_eq!(
            plain_time("2026-01-02T03:04:05.1Z"),
            "2026-01-02 03:04:05.100000"
        );
    }
}
