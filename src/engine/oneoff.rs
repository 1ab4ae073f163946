//! The project as a one-off container of `run` sees it: the service's configuration with the
//! command line's overrides (command, entrypoint, environment, user, working directory,
//! ports, volumes, labels), never restarted, without its `container_name`.

use anyhow::{Context as _, bail};
use berth_compose::canonical::{parse_port, parse_volume, split_shell_words};
use berth_compose::model::Project;
use berth_compose::{LoadedProject, Map, Value};

/// The overrides `run` takes.
#[derive(Debug, Clone, Default)]
pub struct OneOffOptions {
    /// The command and its arguments (empty: the service's).
    pub command: Vec<String>,
    /// `--entrypoint`, split like a shell would.
    pub entrypoint: Option<String>,
    /// `-e KEY=VAL` (or `KEY`, taken from `lookup_env`).
    pub env: Vec<String>,
    /// `-l KEY=VAL`.
    pub labels: Vec<String>,
    /// `-u`.
    pub user: Option<String>,
    /// `-w`.
    pub workdir: Option<String>,
    /// `-p`: ports published besides (or, without `service_ports`, instead of) the service's.
    pub publish: Vec<String>,
    /// `--service-ports`: keep the service's ports.
    pub service_ports: bool,
    /// `-v`.
    pub volumes: Vec<String>,
    /// `-T` not given and stdin a terminal: allocate a terminal.
    pub tty: bool,
    /// `-i` (the default): keep its stdin open.
    pub interactive: bool,
}

fn service_mut<'a>(tree: &'a mut Value, service: &str) -> anyhow::Result<&'a mut Map> {
    tree.as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Value::as_map_mut)
        .and_then(|m| m.get_mut(service))
        .and_then(Value::as_map_mut)
        .with_context(|| format!("no such service: {service}"))
}

fn strings(items: &[String]) -> Value {
    Value::Seq(items.iter().map(|s| Value::String(s.clone())).collect())
}

/// `loaded` with `service` changed for a one-off container; `lookup_env` gives values for
/// `-e KEY` without a value.
pub fn oneoff_project(
    loaded: &LoadedProject,
    service: &str,
    opts: &OneOffOptions,
    lookup_env: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<LoadedProject> {
    let mut tree = loaded.tree.clone();
    let svc = service_mut(&mut tree, service)?;
    if !opts.command.is_empty() {
        svc.insert("command".into(), strings(&opts.command));
    }
    if let Some(e) = &opts.entrypoint {
        let words = split_shell_words(e)
            .with_context(|| format!("invalid --entrypoint {e:?}: unbalanced quotes"))?;
        svc.insert("entrypoint".into(), strings(&words));
    }
    if !opts.env.is_empty() {
        let env = svc
            .entry("environment".to_string())
            .or_insert_with(|| Value::Map(Map::new()));
        let Some(env) = env.as_map_mut() else {
            bail!("service {service:?}: environment is not a mapping");
        };
        for e in &opts.env {
            match e.split_once('=') {
                Some((k, v)) => {
                    env.insert(k.to_string(), Value::String(v.to_string()));
                }
                None => {
                    if let Some(v) = lookup_env(e) {
                        env.insert(e.clone(), Value::String(v));
                    }
                }
            }
        }
    }
    if !opts.labels.is_empty() {
        let labels = svc
            .entry("labels".to_string())
            .or_insert_with(|| Value::Map(Map::new()));
        if let Some(labels) = labels.as_map_mut() {
            for l in &opts.labels {
                let (k, v) = l.split_once('=').unwrap_or((l.as_str(), ""));
                labels.insert(k.to_string(), Value::String(v.to_string()));
            }
        }
    }
    if let Some(u) = &opts.user {
        svc.insert("user".into(), Value::String(u.clone()));
    }
    if let Some(w) = &opts.workdir {
        svc.insert("working_dir".into(), Value::String(w.clone()));
    }
    let mut ports: Vec<Value> = if opts.service_ports {
        svc.get("ports")
            .and_then(Value::as_seq)
            .cloned()
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    for p in &opts.publish {
        ports.extend(parse_port(p).with_context(|| format!("invalid --publish {p:?}"))?);
    }
    if ports.is_empty() {
        svc.shift_remove("ports");
    } else {
        svc.insert("ports".into(), Value::Seq(ports));
    }
    if !opts.volumes.is_empty() {
        let mut volumes: Vec<Value> = svc
            .get("volumes")
            .and_then(Value::as_seq)
            .cloned()
            .unwrap_or_default();
        for v in &opts.volumes {
            volumes.push(parse_volume(v).with_context(|| format!("invalid --volume {v:?}"))?);
        }
        svc.insert("volumes".into(), Value::Seq(volumes));
    }
    svc.insert("restart".into(), Value::String("no".into()));
    svc.shift_remove("container_name");
    svc.shift_remove("deploy");
    if opts.tty {
        svc.insert("tty".into(), Value::Bool(true));
    }
    if opts.interactive {
        svc.insert("stdin_open".into(), Value::Bool(true));
    }
    let project = Project::from_tree(&tree)
        .map_err(|e| anyhow::anyhow!("service {service:?}: {}", e.message))?;
    Ok(LoadedProject {
        tree,
        project,
        ..loaded.clone()
    })
}
