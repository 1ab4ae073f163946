//! Observing a project: `berth -p <project> ps --all --format json` (one JSON object per line,
//! or an array), read with Docker Compose's field names, and sorted into service containers,
//! one-off containers and helpers (corpus README, "Observing state").

use std::collections::BTreeMap;

use serde_json::Value as Json;

const NUMBER: &str = "com.docker.compose.container-number";
const ONEOFF: &str = "com.docker.compose.oneoff";
const SERVICE: &str = "com.docker.compose.service";

/// One published port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Publisher {
    /// Host port.
    pub published: u64,
    /// Container port.
    pub target: u64,
    /// `tcp` or `udp`.
    pub protocol: String,
}

/// One container as `ps` shows it.
#[derive(Debug, Clone, Default)]
pub struct Container {
    /// `ID`.
    pub id: String,
    /// `Name`.
    pub name: String,
    /// `Service`, or the service label.
    pub service: String,
    /// `State`, lower case.
    pub state: String,
    /// `Health`, lower case (empty without a health check).
    pub health: String,
    /// `ExitCode`.
    pub exit_code: Option<i64>,
    /// `Publishers`.
    pub publishers: Vec<Publisher>,
    /// `Labels`.
    pub labels: BTreeMap<String, String>,
    /// Names (or sources) of the mounts.
    pub mounts: Vec<String>,
}

impl Container {
    /// The replica number, for service containers.
    pub fn number(&self) -> Option<u64> {
        self.labels.get(NUMBER).and_then(|n| n.trim().parse().ok())
    }

    /// Whether `run` created it.
    pub fn is_one_off(&self) -> bool {
        self.labels
            .get(ONEOFF)
            .is_some_and(|v| v.eq_ignore_ascii_case("true"))
    }

    /// Whether it is a service container (a replica).
    pub fn is_service_container(&self) -> bool {
        !self.is_one_off() && self.labels.contains_key(NUMBER)
    }
}

/// The containers of a project at one moment.
#[derive(Debug, Clone, Default)]
pub struct Observation {
    /// Every container, helpers included.
    pub containers: Vec<Container>,
}

impl Observation {
    /// The service containers of `service`, by replica number.
    pub fn replicas(&self, service: &str) -> Vec<&Container> {
        let mut list: Vec<&Container> = self
            .containers
            .iter()
            .filter(|c| c.service == service && c.is_service_container())
            .collect();
        list.sort_by_key(|c| (c.number(), c.name.clone()));
        list
    }

    /// The one-off containers of `service`.
    pub fn one_offs(&self, service: &str) -> Vec<&Container> {
        let mut list: Vec<&Container> = self
            .containers
            .iter()
            .filter(|c| c.service == service && c.is_one_off())
            .collect();
        list.sort_by(|a, b| a.id.cmp(&b.id));
        list
    }

    /// Every container of `service`: replicas, one-offs and helpers.
    pub fn all_of(&self, service: &str) -> Vec<&Container> {
        self.containers
            .iter()
            .filter(|c| c.service == service)
            .collect()
    }
}

fn string(value: Option<&Json>) -> String {
    match value {
        Some(Json::String(s)) => s.clone(),
        Some(Json::Number(n)) => n.to_string(),
        Some(Json::Bool(b)) => b.to_string(),
        _ => String::new(),
    }
}

/// `Labels` as an object, or as Docker's `k=v,k=v` text.
fn labels(value: Option<&Json>) -> BTreeMap<String, String> {
    match value {
        Some(Json::Object(map)) => map
            .iter()
            .map(|(k, v)| (k.clone(), string(Some(v))))
            .collect(),
        Some(Json::String(text)) => text
            .split(',')
            .filter_map(|pair| pair.split_once('='))
            .map(|(k, v)| (k.trim().to_owned(), v.to_owned()))
            .collect(),
        _ => BTreeMap::new(),
    }
}

/// `Mounts` as Docker's comma-joined text, a list of names, or a list of mount objects.
fn mounts(value: Option<&Json>) -> Vec<String> {
    match value {
        Some(Json::String(text)) => text
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect(),
        Some(Json::Array(items)) => items
            .iter()
            .flat_map(|item| match item {
                Json::Object(map) => ["Name", "Source", "name", "source"]
                    .iter()
                    .filter_map(|key| map.get(*key))
                    .map(|v| string(Some(v)))
                    .filter(|s| !s.is_empty())
                    .collect::<Vec<_>>(),
                other => vec![string(Some(other))],
            })
            .collect(),
        _ => Vec::new(),
    }
}

fn publishers(value: Option<&Json>) -> Vec<Publisher> {
    let Some(Json::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| {
            let published = item.get("PublishedPort")?.as_u64()?;
            let target = item.get("TargetPort")?.as_u64()?;
            let protocol = string(item.get("Protocol"));
            Some(Publisher {
                published,
                target,
                protocol: if protocol.is_empty() {
                    "tcp".to_owned()
                } else {
                    protocol.to_lowercase()
                },
            })
        })
        .collect()
}

fn container(value: &Json) -> Container {
    let labels = labels(value.get("Labels"));
    let mut service = string(value.get("Service"));
    if service.is_empty() {
        service = labels.get(SERVICE).cloned().unwrap_or_default();
    }
    Container {
        id: string(value.get("ID")),
        name: string(value.get("Name")),
        service,
        state: string(value.get("State")).to_lowercase(),
        health: string(value.get("Health")).to_lowercase(),
        exit_code: value.get("ExitCode").and_then(Json::as_i64),
        publishers: publishers(value.get("Publishers")),
        labels,
        mounts: mounts(value.get("Mounts")),
    }
}

/// Parses `ps --format json` output: an array, or one object per line.
pub fn parse_ps(stdout: &str) -> Result<Observation, String> {
    let trimmed = stdout.trim();
    let values: Vec<Json> = if trimmed.is_empty() {
        Vec::new()
    } else if trimmed.starts_with('[') {
        serde_json::from_str(trimmed).map_err(|e| format!("ps output is not JSON: {e}"))?
    } else {
        trimmed
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| {
                serde_json::from_str(line).map_err(|e| format!("ps output line not JSON: {e}"))
            })
            .collect::<Result<_, _>>()?
    };
    Ok(Observation {
        containers: values.iter().map(container).collect(),
    })
}
