//! Running a process in a running container: `exec`, lifecycle hooks and health probes start
//! from the container's own process (its environment, user, capabilities, working
//! directory) and change what was asked.

use super::state::{ContainerRecord, StateRoot};
use anyhow::{Context as _, bail};
use berth_runtime::container::{ExecProcess, Runtime, Stdio};
use oci_spec::runtime::Process;

/// What to run and how.
#[derive(Debug, Clone, Default)]
pub struct ExecRequest {
    /// The command and its arguments.
    pub command: Vec<String>,
    /// `uid[:gid]`, numeric.
    pub user: Option<String>,
    /// The working directory.
    pub workdir: Option<String>,
    /// `KEY=VALUE` entries added to (or replacing those of) the container's environment.
    pub env: Vec<String>,
    /// Extended privileges (not supported yet: refused).
    pub privileged: bool,
}

/// The process `request` describes, derived from the container's own `base`.
pub fn exec_process(base: &Process, request: &ExecRequest) -> anyhow::Result<Process> {
    if request.command.is_empty() {
        bail!("no command to run");
    }
    if request.privileged {
        bail!("privileged exec is not supported yet");
    }
    let mut process = base.clone();
    process.set_args(Some(request.command.clone()));
    process.set_terminal(Some(false));
    let mut env = process.env().clone().unwrap_or_default();
    for e in &request.env {
        let key = e.split('=').next().unwrap_or(e);
        env.retain(|x| x.split('=').next() != Some(key));
        env.push(e.clone());
    }
    process.set_env(Some(env));
    if let Some(w) = &request.workdir {
        process.set_cwd(w.into());
    }
    if let Some(u) = &request.user {
        let (uid, gid) = match u.split_once(':') {
            Some((u, g)) => (u, Some(g)),
            None => (u.as_str(), None),
        };
        let (Ok(uid), Ok(gid)) = (uid.parse::<u32>(), gid.map(str::parse::<u32>).transpose())
        else {
            bail!("user {u:?}: give a numeric uid[:gid]");
        };
        let mut user = process.user().clone();
        user.set_uid(uid);
        user.set_gid(gid.unwrap_or(uid));
        process.set_user(user);
    }
    Ok(process)
}

/// Starts `request` in the running container of `record`.
pub fn exec(
    state: &StateRoot,
    record: &ContainerRecord,
    request: &ExecRequest,
    stdio: Stdio,
) -> anyhow::Result<ExecProcess> {
    let runtime = Runtime::new(state.runtime_dir())?;
    let container = runtime
        .load(&record.id)
        .with_context(|| format!("container {} is not running", record.name))?;
    let base = container
        .spec()
        .process()
        .clone()
        .context("the container has no process")?;
    let process = exec_process(&base, request)?;
    container
        .exec(&process, stdio)
        .with_context(|| format!("cannot exec in {}", record.name))
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_runtime::container::defaults::docker_spec;

    #[test]
    fn exec_processes_start_from_the_containers_own() {
        let spec = docker_spec(&["sleep", "1"]);
        let mut base = spec.process().clone().unwrap();
        base.set_env(Some(vec!["A=1".into(), "B=2".into()]));
        let p = exec_process(
            &base,
            &ExecRequest {
                command: vec!["env".into()],
                user: Some("1000:1001".into()),
                workdir: Some("/tmp".into()),
                env: vec!["B=3".into(), "C=4".into()],
                privileged: false,
            },
        )
        .unwrap();
        assert_eq!(p.args().as_deref(), Some(&["env".to_string()][..]));
        assert_eq!(
            p.env().as_deref(),
            Some(&["A=1".to_string(), "B=3".into(), "C=4".into()][..])
        );
        assert_eq!((p.user().uid(), p.user().gid()), (1000, 1001));
        assert_eq!(p.cwd().to_str(), Some("/tmp"));
        let named = ExecRequest {
            command: vec!["id".into()],
            user: Some("www-data".into()),
            ..Default::default()
        };
        assert!(exec_process(&base, &named).is_err());
        assert!(exec_process(&base, &ExecRequest::default()).is_err());
    }
}
