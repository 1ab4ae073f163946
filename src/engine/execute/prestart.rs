//! `pre_start` hooks, as Docker Compose runs them: when `up` starts a service none of whose
//! containers runs (first creation, recreation, a stopped service), after its containers are
//! created and before any of them starts, each hook in turn runs in a short-lived container
//! of its own (the hook's image, command and environment over the service's configuration)
//! that shares the volumes of the lowest-numbered container to start and joins its
//! networks. The first hook that exits non-zero fails the step, with Compose's message
//! (`service "web" pre_start[1] exited with code 17`), so the service's containers stay
//! created. Hook containers are removed once they have run, a failed one too (Compose keeps
//! it for inspection): the last lines it printed are quoted in the error instead.

use super::create::{NewContainer, create_container};
use super::ops::Context;
use super::{Progress, supervise, teardown};
use crate::engine::logs::read::{Follower, LogQuery, read};
use anyhow::Context as _;
use berth_compose::model::Project;
use berth_compose::{LoadedProject, Map, Value};
use std::sync::Arc;

/// How many of a failed hook's last output lines its error quotes.
const TAIL_LINES: usize = 5;

/// How often an attached `up` looks for new output of a running hook.
const OUTPUT_POLL: std::time::Duration = std::time::Duration::from_millis(100);

/// Hook attributes that replace the service's when the hook sets them.
const OVERRIDES: [&str; 5] = ["command", "entrypoint", "user", "working_dir", "privileged"];

/// Service attributes a hook container does without: its own mounts come from the service's
/// container, it publishes nothing, is never restarted nor health-checked, has no fixed name
/// and runs no hooks.
const DROPPED: [&str; 14] = [
    "volumes",
    "ports",
    "healthcheck",
    "container_name",
    "deploy",
    "scale",
    "develop",
    "post_start",
    "pre_stop",
    "pre_start",
    "tty",
    "stdin_open",
    "attach",
    "expose",
];

/// Runs the `pre_start` hooks of `service` for the `containers` about to start (lowest
/// number first): each hook once, with the volumes of the first container, or, with
/// `per_replica`, once per container with that container's volumes.
pub async fn run(
    ctx: &Arc<Context>,
    service: &str,
    containers: &[String],
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let loaded = ctx.project.loaded()?;
    let config = loaded
        .project
        .service(service)
        .with_context(|| format!("no such service: {service}"))?;
    let default_image = ctx
        .project
        .desired
        .as_ref()
        .and_then(|d| d.service(service))
        .map(|d| d.image.clone())
        .with_context(|| format!("no such service: {service}"))?;
    let Some(first) = containers.first() else {
        return Ok(());
    };
    for (index, hook) in config.pre_start.iter().enumerate() {
        let image = hook.image.clone().unwrap_or_else(|| default_image.clone());
        let per_replica = hook.per_replica == Some(true);
        let targets = if per_replica {
            containers
        } else {
            std::slice::from_ref(first)
        };
        for target in targets {
            let name = if per_replica {
                format!("{target}-pre_start-{index}")
            } else {
                format!("{}-{service}-pre_start-{index}", loaded.name)
            };
            let run = HookRun {
                service,
                index,
                image: &image,
                volumes_of: target,
                name: &name,
            };
            run_one(ctx, loaded, &run, progress).await?;
        }
    }
    Ok(())
}

/// One run of one hook.
struct HookRun<'a> {
    service: &'a str,
    index: usize,
    image: &'a str,
    /// The container whose volumes it shares.
    volumes_of: &'a str,
    /// The hook container's name.
    name: &'a str,
}

async fn run_one(
    ctx: &Arc<Context>,
    loaded: &LoadedProject,
    run: &HookRun<'_>,
    progress: &dyn Progress,
) -> anyhow::Result<()> {
    let owner = format!("Container {}", run.name);
    let project = hook_project(loaded, run)?;
    remove_leftover(ctx, run.name).await?;
    progress.status(&owner, "Creating", false);
    let created = create_container(
        ctx.clone(),
        NewContainer {
            service: run.service.to_string(),
            number: 1,
            name: run.name.to_string(),
            oneoff: Some(Arc::new(project)),
            anonymous: Vec::new(),
            image: Some(run.image.to_string()),
        },
    )
    .await;
    let id = match created {
        Ok(id) => id,
        Err(e) => {
            progress.status(&owner, "Error", true);
            return Err(e.context(format!(
                "service {:?} pre_start[{}]: cannot create its container",
                run.service, run.index
            )));
        }
    };
    progress.status(&owner, "Starting", false);
    let outcome = match supervise::start(ctx, &id).await {
        Ok(()) => wait_exit(ctx, &id, run).await,
        Err(e) => Err(e),
    };
    let tail = output_tail(ctx, &id);
    if let Err(e) = teardown::remove_container(ctx, &id, true).await {
        ctx.warn(format!(
            "service {:?} pre_start[{}]: cannot remove its container {}: {e:#}",
            run.service, run.index, run.name
        ));
    }
    let failure = match outcome {
        Ok(0) => {
            progress.status(&owner, "Exited", true);
            return Ok(());
        }
        Ok(code) => {
            let message = format!(
                "service {:?} pre_start[{}] exited with code {code}",
                run.service, run.index
            );
            match tail {
                Some(tail) => anyhow::anyhow!("{message}: {tail}"),
                None => anyhow::anyhow!(message),
            }
        }
        Err(e) => e.context(format!(
            "service {:?} pre_start[{}] did not run",
            run.service, run.index
        )),
    };
    progress.status(&owner, "Error", true);
    Err(failure)
}

/// Waits for the hook container `id` to exit; its exit code. With `ctx.hook_output`, its
/// output is printed meanwhile, each line after `<service> pre_start[<i>] -> ` as Compose
/// shows it.
async fn wait_exit(ctx: &Context, id: &str, run: &HookRun<'_>) -> anyhow::Result<i32> {
    let mut client = tokio::task::block_in_place(|| ctx.supervisor())?;
    let waited = id.to_string();
    let waiter = tokio::task::spawn_blocking(move || client.wait(&waited));
    if ctx.hook_output {
        let prefix = format!("{} pre_start[{}] -> ", run.service, run.index);
        let mut follower =
            Follower::new(ctx.machine.state.container_paths(id), LogQuery::default());
        loop {
            let exited = waiter.is_finished();
            // Output is shown as a courtesy: a log that cannot be read does not fail the hook.
            for line in follower.poll().unwrap_or_default() {
                println!("{prefix}{}", line.text);
            }
            if exited {
                for line in follower.finish() {
                    println!("{prefix}{}", line.text);
                }
                break;
            }
            tokio::time::sleep(OUTPUT_POLL).await;
        }
    }
    waiter
        .await
        .context("waiting for the hook container failed")?
}

/// The last lines the hook container wrote (stderr and stdout), when it wrote any.
fn output_tail(ctx: &Context, id: &str) -> Option<String> {
    let query = LogQuery {
        tail: Some(TAIL_LINES),
        ..LogQuery::default()
    };
    let lines = read(&ctx.machine.state.container_paths(id), &query).ok()?;
    let text: Vec<String> = lines.into_iter().map(|l| l.text).collect();
    (!text.is_empty()).then(|| text.join("\n"))
}

/// A hook container left by an interrupted run holds the name: it goes first.
async fn remove_leftover(ctx: &Context, name: &str) -> anyhow::Result<()> {
    let Some(id) = ctx.machine.state.name_holder(name)? else {
        return Ok(());
    };
    supervise::stop(ctx, &id, Some(std::time::Duration::ZERO)).await?;
    teardown::remove_container(ctx, &id, true)
        .await
        .with_context(|| format!("cannot remove the leftover hook container {name}"))
}

/// The project as the hook container of `run` sees it: its service with the hook's image,
/// command, entrypoint, user, working directory and privileges, the hook's environment
/// over the service's, and the mounts of the container `run.volumes_of` instead of its own.
fn hook_project(loaded: &LoadedProject, run: &HookRun<'_>) -> anyhow::Result<LoadedProject> {
    let mut tree = loaded.tree.clone();
    let svc = tree
        .as_map_mut()
        .and_then(|m| m.get_mut("services"))
        .and_then(Value::as_map_mut)
        .and_then(|m| m.get_mut(run.service))
        .and_then(Value::as_map_mut)
        .with_context(|| format!("no such service: {}", run.service))?;
    let hook = svc
        .get("pre_start")
        .and_then(Value::as_seq)
        .and_then(|hooks| hooks.get(run.index))
        .and_then(Value::as_map)
        .cloned()
        .with_context(|| format!("service {:?}: no pre_start[{}]", run.service, run.index))?;
    apply_hook(svc, &hook, run);
    let project = Project::from_tree(&tree).map_err(|e| {
        anyhow::anyhow!(
            "service {:?} pre_start[{}]: {}",
            run.service,
            run.index,
            e.message
        )
    })?;
    Ok(LoadedProject {
        tree,
        project,
        ..loaded.clone()
    })
}

/// Turns the service's tree `svc` into the hook container's.
fn apply_hook(svc: &mut Map, hook: &Map, run: &HookRun<'_>) {
    for key in DROPPED {
        svc.shift_remove(key);
    }
    svc.insert("image".into(), Value::String(run.image.to_string()));
    svc.insert("restart".into(), Value::String("no".into()));
    svc.insert(
        "volumes_from".into(),
        Value::Seq(vec![Value::String(format!("container:{}", run.volumes_of))]),
    );
    for key in OVERRIDES {
        if let Some(v) = hook.get(key).filter(|v| !v.is_null()) {
            svc.insert(key.to_string(), v.clone());
        }
    }
    if let Some(Value::Map(extra)) = hook.get("environment") {
        let env = svc
            .entry("environment".to_string())
            .or_insert_with(|| Value::Map(Map::new()));
        if !matches!(env, Value::Map(_)) {
            *env = Value::Map(Map::new());
        }
        if let Value::Map(env) = env {
            for (k, v) in extra {
                env.insert(k.clone(), v.clone());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(yaml: &str) -> Map {
        let docs = berth_compose::yaml::parse(yaml, "test").unwrap();
        docs[0].value.as_map().unwrap().clone()
    }

    #[test]
    fn a_hook_replaces_command_and_image_and_adds_to_the_environment() {
        let mut svc = map(
            "{image: app, command: [serve], ports: [{target: 80}], volumes: [{type: volume, source: data, target: /data}], environment: {A: '1', B: '2'}, user: app, pre_start: [{command: [init]}]}",
        );
        let hook = map("{command: [sh, -c, init], environment: {B: '3', C: null}, user: root}");
        let run = HookRun {
            service: "web",
            index: 0,
            image: "alpine",
            volumes_of: "p-web-1",
            name: "p-web-pre_start-0",
        };
        apply_hook(&mut svc, &hook, &run);
        let expected = map(
            "{image: alpine, command: [sh, -c, init], environment: {A: '1', B: '3', C: null}, user: root, restart: 'no', volumes_from: ['container:p-web-1']}",
        );
        let mut keys: Vec<&String> = svc.keys().collect();
        keys.sort();
        let mut want: Vec<&String> = expected.keys().collect();
        want.sort();
        assert_eq!(keys, want);
        for (k, v) in &expected {
            assert_eq!(svc.get(k), Some(v), "{k}");
        }
    }
}
