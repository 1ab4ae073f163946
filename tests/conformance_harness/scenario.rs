//! `scenario.yaml`, read into plain data: the keys of the corpus README, section
//! "scenario.yaml". Unknown keys are errors, so that a scenario the harness does not
//! understand fails instead of passing vacuously.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use serde_json::Value as Json;

/// One scenario.
#[derive(Debug, Clone)]
pub struct Scenario {
    /// `TestName`.
    pub name: String,
    /// Pre-made images it needs (`alpine:3.14`).
    pub images: Vec<String>,
    /// `build`, `root-network`, `registry`, `tty`.
    pub needs: Vec<String>,
    /// Variables for every step.
    pub env: BTreeMap<String, String>,
    /// Fixture files not stored in the corpus.
    pub withheld_files: Vec<String>,
    /// The steps, in order.
    pub steps: Vec<Step>,
    /// Best-effort actions after teardown.
    pub cleanup: Vec<Action>,
}

/// One step.
#[derive(Debug, Clone, Default)]
pub struct Step {
    /// What it demonstrates.
    pub name: String,
    /// Its action, if any.
    pub action: Option<Action>,
    /// Variables for this step's command.
    pub env: BTreeMap<String, String>,
    /// Bound on the command's run time.
    pub within: Option<Duration>,
    /// Required exit status.
    pub exit: Option<Exit>,
    /// Output expectations.
    pub output_contains: Vec<String>,
    /// Strings that must occur in neither stream.
    pub output_not_contains: Vec<String>,
    /// Strings that must occur in stdout.
    pub stdout_contains: Vec<String>,
    /// Strings that must occur in stderr.
    pub stderr_contains: Vec<String>,
    /// Regular expressions that must match stdout.
    pub stdout_matches: Vec<String>,
    /// `(pattern, count)`: exact number of matches in stdout.
    pub stdout_match_count: Vec<(String, usize)>,
    /// Checks evaluated once after the command: `(kind, argument)`.
    pub checks: Vec<(String, Json)>,
    /// Checks re-evaluated until they hold, and the bound.
    pub eventually: Option<(Duration, Vec<(String, Json)>)>,
}

/// A required exit status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exactly this status.
    Code(i32),
    /// Anything but 0.
    Nonzero,
}

/// A step's action, or a cleanup action: its kind and its argument.
#[derive(Debug, Clone)]
pub enum Action {
    /// `berth -f compose.yaml -p <project> <args>`.
    Run(Vec<String>),
    /// Any other action key with its (mapping) argument.
    Other(String, Json),
}

/// Converts the YAML tree of berth's compose loader into JSON.
fn to_json(value: &berth_compose::Value) -> Json {
    use berth_compose::Value;
    match value {
        Value::Null => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) => Json::from(*i),
        Value::Float(f) => serde_json::Number::from_f64(*f).map_or(Json::Null, Json::Number),
        Value::String(s) => Json::String(s.clone()),
        Value::Seq(items) => Json::Array(items.iter().map(to_json).collect()),
        Value::Map(map) => Json::Object(
            map.iter()
                .map(|(key, value)| (key.clone(), to_json(value)))
                .collect(),
        ),
    }
}

/// A scalar as text (YAML numbers and booleans included).
pub fn text(value: &Json) -> Option<String> {
    match value {
        Json::String(s) => Some(s.clone()),
        Json::Number(n) => Some(n.to_string()),
        Json::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

fn strings(value: Option<&Json>, key: &str) -> Result<Vec<String>, String> {
    match value {
        None | Some(Json::Null) => Ok(Vec::new()),
        Some(Json::Array(items)) => items
            .iter()
            .map(|item| text(item).ok_or_else(|| format!("{key}: expected strings")))
            .collect(),
        Some(other) => text(other)
            .map(|s| vec![s])
            .ok_or_else(|| format!("{key}: expected a list of strings")),
    }
}

fn string_map(value: Option<&Json>, key: &str) -> Result<BTreeMap<String, String>, String> {
    match value {
        None | Some(Json::Null) => Ok(BTreeMap::new()),
        Some(Json::Object(map)) => map
            .iter()
            .map(|(k, v)| {
                text(v)
                    .map(|v| (k.clone(), v))
                    .ok_or_else(|| format!("{key}.{k}: expected a scalar"))
            })
            .collect(),
        Some(_) => Err(format!("{key}: expected a mapping")),
    }
}

/// `30s`, `2m`, `500ms`, or a number of seconds.
pub fn duration(value: &Json) -> Result<Duration, String> {
    let text = text(value).ok_or("expected a duration")?;
    let (number, unit) = match text.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(at) => text.split_at(at),
        None => (text.as_str(), "s"),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("invalid duration {text:?}"))?;
    let seconds = match unit {
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        _ => return Err(format!("invalid duration unit in {text:?}")),
    };
    Ok(Duration::from_secs_f64(seconds))
}

/// A list of checks: each a one-key mapping `{kind: argument}`.
fn checks(value: Option<&Json>) -> Result<Vec<(String, Json)>, String> {
    let Some(value) = value else {
        return Ok(Vec::new());
    };
    let Json::Array(items) = value else {
        return Err("checks: expected a list".to_owned());
    };
    items
        .iter()
        .map(|item| match item {
            Json::Object(map) if map.len() == 1 => {
                let (kind, argument) = map.iter().next().ok_or("checks: empty entry")?;
                Ok((kind.clone(), argument.clone()))
            }
            _ => Err(format!(
                "checks: each entry is a one-key mapping, got {item}"
            )),
        })
        .collect()
}

const ACTIONS: &[&str] = &[
    "run",
    "remove_container",
    "create_volume",
    "remove_volume",
    "start_external_container",
    "remove_external_container",
    "remove_image",
    "ensure_image",
    "capture_image_id",
];

fn action_of(map: &serde_json::Map<String, Json>) -> Result<Option<Action>, String> {
    let mut found = None;
    for key in ACTIONS {
        if let Some(argument) = map.get(*key) {
            if found.is_some() {
                return Err("a step has more than one action".to_owned());
            }
            found = Some(if *key == "run" {
                Action::Run(strings(Some(argument), "run")?)
            } else {
                Action::Other((*key).to_owned(), argument.clone())
            });
        }
    }
    Ok(found)
}

fn step(value: &Json) -> Result<Step, String> {
    let Json::Object(map) = value else {
        return Err("a step is a mapping".to_owned());
    };
    const KEYS: &[&str] = &[
        "name",
        "env",
        "within",
        "exit",
        "output_contains",
        "output_not_contains",
        "stdout_contains",
        "stderr_contains",
        "stdout_matches",
        "stdout_match_count",
        "checks",
        "eventually",
    ];
    for key in map.keys() {
        if !KEYS.contains(&key.as_str()) && !ACTIONS.contains(&key.as_str()) {
            return Err(format!("unknown step key {key:?}"));
        }
    }
    let exit = match map.get("exit") {
        None => None,
        Some(Json::Number(n)) => Some(Exit::Code(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or("exit: invalid status")?,
        )),
        Some(Json::String(s)) if s == "nonzero" => Some(Exit::Nonzero),
        Some(other) => return Err(format!("exit: invalid value {other}")),
    };
    let mut match_count = Vec::new();
    if let Some(Json::Array(items)) = map.get("stdout_match_count") {
        for item in items {
            let pattern = item.get("pattern").and_then(text);
            let count = item.get("count").and_then(Json::as_u64);
            match (pattern, count) {
                (Some(p), Some(c)) => match_count.push((p, c as usize)),
                _ => return Err("stdout_match_count: {pattern, count} expected".to_owned()),
            }
        }
    }
    let eventually = match map.get("eventually") {
        None => None,
        Some(value) => {
            let timeout = duration(value.get("timeout").ok_or("eventually: no timeout")?)?;
            Some((timeout, checks(value.get("checks"))?))
        }
    };
    Ok(Step {
        name: map.get("name").and_then(text).unwrap_or_default(),
        action: action_of(map)?,
        env: string_map(map.get("env"), "env")?,
        within: map.get("within").map(duration).transpose()?,
        exit,
        output_contains: strings(map.get("output_contains"), "output_contains")?,
        output_not_contains: strings(map.get("output_not_contains"), "output_not_contains")?,
        stdout_contains: strings(map.get("stdout_contains"), "stdout_contains")?,
        stderr_contains: strings(map.get("stderr_contains"), "stderr_contains")?,
        stdout_matches: strings(map.get("stdout_matches"), "stdout_matches")?,
        stdout_match_count: match_count,
        checks: checks(map.get("checks"))?,
        eventually,
    })
}

impl Scenario {
    /// Reads `<dir>/scenario.yaml`; the scenario's name is the directory's.
    pub fn load(dir: &Path) -> Result<Scenario, String> {
        let name = dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let file = dir.join("scenario.yaml");
        let text = std::fs::read_to_string(&file)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        let docs = berth_compose::yaml::parse(&text, &file.display().to_string())
            .map_err(|e| format!("{e}"))?;
        let doc = docs.first().ok_or("scenario.yaml is empty")?;
        let root = to_json(&doc.value);
        let Json::Object(map) = &root else {
            return Err("scenario.yaml is not a mapping".to_owned());
        };
        const KEYS: &[&str] = &[
            "intent",
            "images",
            "images_absent",
            "needs",
            "env",
            "withheld_files",
            "steps",
            "cleanup",
        ];
        for key in map.keys() {
            if !KEYS.contains(&key.as_str()) {
                return Err(format!("unknown scenario key {key:?}"));
            }
        }
        let steps = match map.get("steps") {
            Some(Json::Array(items)) => items.iter().map(step).collect::<Result<_, _>>()?,
            _ => return Err("steps: expected a list".to_owned()),
        };
        let mut cleanup = Vec::new();
        if let Some(Json::Array(items)) = map.get("cleanup") {
            for item in items {
                let Json::Object(entry) = item else {
                    return Err("cleanup: each entry is a mapping".to_owned());
                };
                cleanup.push(action_of(entry)?.ok_or("cleanup: an entry without an action")?);
            }
        }
        Ok(Scenario {
            name,
            images: strings(map.get("images"), "images")?,
            needs: strings(map.get("needs"), "needs")?,
            env: string_map(map.get("env"), "env")?,
            withheld_files: strings(map.get("withheld_files"), "withheld_files")?,
            steps,
            cleanup,
        })
    }

    /// Whether the scenario needs `capability`.
    pub fn needs(&self, capability: &str) -> bool {
        self.needs.iter().any(|n| n == capability)
    }
}
