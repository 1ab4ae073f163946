//! What the commands that change a project's containers share: the project, the machine and
//! its lock, the executor's context, progress in Docker Compose's words.

use super::progress::{Reporter, Wording};
use super::project::{ProjectTarget, target_services};
use super::{GlobalOptions, output};
use crate::engine::desired::DesiredProject;
use crate::engine::execute::{self, Context, Progress, ProjectDefinition};
use crate::engine::machine::Machine;
use crate::engine::observed::Observed;
use crate::engine::plan::Plan;
use crate::engine::startup;
use crate::engine::state::{ContainerRecord, ProjectLock};
use crate::engine::unsupported;
use anyhow::Context as _;
use std::borrow::Cow;
use std::collections::BTreeSet;
use std::sync::Arc;

impl Progress for Reporter {
    fn status(&self, owner: &str, status: &str, done: bool) {
        Reporter::status(self, owner, status, done);
    }
}

/// A project command under way: the project, the machine, the project's lock.
pub struct Session {
    /// The executor's context.
    pub ctx: Arc<Context>,
    /// Held for the whole command (one berth command per project at a time), unless the
    /// command lets it go with [`Session::unlock`].
    lock: Option<ProjectLock>,
}

impl Session {
    /// Resolves the project (`needs_file`: the command needs the compose file), opens the
    /// machine and takes the project's lock.
    pub fn open(global: &GlobalOptions, needs_file: bool) -> anyhow::Result<Session> {
        Session::open_for(global, needs_file, &[])
    }

    /// [`Session::open`] for a command that names `services`, whose profiles it activates.
    pub fn open_for(
        global: &GlobalOptions,
        needs_file: bool,
        services: &[String],
    ) -> anyhow::Result<Session> {
        let target = target_services(global, services)?;
        if needs_file && target.loaded.is_none() {
            anyhow::bail!(super::project::NO_CONFIGURATION);
        }
        Session::for_target(global, target)
    }

    /// A session on project `name` as berth's records know it, whatever compose file the
    /// working directory holds (`resume`: what was created is what comes back).
    pub fn open_recorded(global: &GlobalOptions, name: &str) -> anyhow::Result<Session> {
        Session::for_target(
            global,
            ProjectTarget {
                name: name.to_string(),
                loaded: None,
            },
        )
    }

    fn for_target(global: &GlobalOptions, target: ProjectTarget) -> anyhow::Result<Session> {
        let ProjectTarget { name, loaded } = target;
        if let Some(l) = &loaded {
            output::warnings(&unsupported::warnings(&l.tree));
        }
        let desired = loaded
            .as_ref()
            .map(DesiredProject::from_loaded)
            .transpose()?;
        let machine = Machine::open(&global.root)?;
        let lock = machine.state.lock_project(&name)?;
        let ctx = Context::new(
            machine,
            ProjectDefinition {
                name,
                loaded,
                desired,
            },
        );
        Ok(Session {
            ctx: Arc::new(ctx),
            lock: Some(lock),
        })
    }

    /// Lets the project's lock go: for commands that only watch or read (events, wait, top,
    /// stats, cp) and must not block the commands that change the project meanwhile.
    pub fn unlock(&mut self) {
        self.lock = None;
    }

    /// The project name.
    pub fn name(&self) -> &str {
        &self.ctx.project.name
    }

    /// The desired project (commands that need the compose file).
    pub fn desired(&self) -> anyhow::Result<&DesiredProject> {
        self.ctx
            .project
            .desired
            .as_ref()
            .context(super::project::NO_CONFIGURATION)
    }

    /// Sets options on the context before anything runs.
    pub fn configure(&mut self, f: impl FnOnce(&mut Context)) {
        if let Some(ctx) = Arc::get_mut(&mut self.ctx) {
            f(ctx);
        }
    }

    /// Runs `plan`, showing progress; prints the plan's and the run's warnings. `quiet_pull`
    /// (`--quiet-pull`) keeps each image's `Pulling`/`Pulled` but drops its layer progress,
    /// as Compose does.
    pub fn execute(
        &self,
        global: &GlobalOptions,
        plan: &Plan,
        quiet_pull: bool,
    ) -> anyhow::Result<()> {
        for w in &plan.warnings {
            output::warn(w);
        }
        let mut reporter = Reporter::new(global, false, Wording::Compose);
        if quiet_pull {
            reporter = reporter.without_layers();
        }
        let reporter = Arc::new(reporter);
        let result =
            runtime()?.block_on(execute::execute(plan, self.ctx.clone(), reporter.clone()));
        reporter.finish();
        for w in self.ctx.take_warnings() {
            output::warn(&w);
        }
        result
    }
}

/// The async runtime for a command: several threads, because supervisor calls block.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

impl Session {
    /// The project as the compose file defines it, or as its containers' labels record it
    /// when the command runs without the file.
    fn project_view(&self) -> anyhow::Result<Cow<'_, DesiredProject>> {
        if let Some(d) = &self.ctx.project.desired {
            return Ok(Cow::Borrowed(d));
        }
        let observed = self.ctx.machine.observe(&self.ctx.project.name)?;
        Ok(self.project_view_of(&observed))
    }

    /// [`Session::project_view`] from what the caller observed already.
    fn project_view_of(&self, observed: &Observed) -> Cow<'_, DesiredProject> {
        match &self.ctx.project.desired {
            Some(d) => Cow::Borrowed(d),
            None => Cow::Owned(DesiredProject::from_observed(
                &self.ctx.project.name,
                observed,
            )),
        }
    }

    /// Service names in start order: the compose file's order when there is one, else the
    /// recorded containers' services by name.
    pub fn service_order(&self) -> anyhow::Result<Vec<String>> {
        Ok(self
            .project_view()?
            .services
            .iter()
            .map(|s| s.name.clone())
            .collect())
    }

    /// What exists for the project, with records made true first (see
    /// [`execute::settle`]): every command that decides from the observed state asks here.
    pub fn observe(&self) -> anyhow::Result<Observed> {
        let machine = &self.ctx.machine;
        execute::settle(&machine.state, &self.ctx.project.name, &machine.exe)?;
        self.ctx.machine.observe(&self.ctx.project.name)
    }

    /// Every recorded container of the project.
    pub fn records(&self) -> anyhow::Result<Vec<ContainerRecord>> {
        Ok(self
            .ctx
            .machine
            .state
            .containers_of(&self.ctx.project.name)?
            .records)
    }

    /// The named services and, transitively, the services they depend on (all when none is
    /// named), as `start` and `restart` act on them.
    pub fn with_dependencies(&self, services: &[String]) -> anyhow::Result<Vec<String>> {
        if services.is_empty() {
            return Ok(Vec::new());
        }
        Ok(self
            .project_view()?
            .with_dependencies(services, false)?
            .into_iter()
            .collect())
    }

    /// Starts the containers `records` that are not up, dependencies first, each service
    /// after what it depends on meets its `depends_on` condition (`start`, `restart`,
    /// `resume`).
    pub fn start(&self, global: &GlobalOptions, records: &[ContainerRecord]) -> anyhow::Result<()> {
        let observed = self.observe()?;
        let names: BTreeSet<String> = records
            .iter()
            .filter(|r| {
                observed
                    .containers
                    .iter()
                    .any(|c| c.id == r.id && !c.state.is_up())
            })
            .map(|r| r.name.clone())
            .collect();
        let plan = startup::plan_start(&self.project_view_of(&observed), &observed, &names);
        self.execute(global, &plan, false)
    }

    /// Checks that every named service exists (`no such service: x`).
    pub fn check_services(&self, services: &[String]) -> anyhow::Result<()> {
        let known = self.service_order()?;
        for s in services {
            if !known.contains(s) {
                anyhow::bail!("no such service: {s}");
            }
        }
        Ok(())
    }

    /// The service containers (one-offs too when `oneoffs`) of the named services (all when
    /// none), in start order: by service order, then replica number.
    pub fn containers(
        &self,
        services: &[String],
        oneoffs: bool,
    ) -> anyhow::Result<Vec<ContainerRecord>> {
        self.check_services(services)?;
        let order = self.service_order()?;
        let mut records: Vec<ContainerRecord> = self
            .records()?
            .into_iter()
            .filter(|r| {
                let o = r.observed();
                (oneoffs || !o.is_oneoff())
                    && (services.is_empty()
                        || o.service().is_some_and(|s| services.iter().any(|x| x == s)))
            })
            .collect();
        records.sort_by_key(|r| {
            let o = r.observed();
            (
                o.service()
                    .and_then(|s| order.iter().position(|x| x == s))
                    .unwrap_or(usize::MAX),
                o.is_oneoff(),
                o.number(),
                r.name.clone(),
            )
        });
        Ok(records)
    }

    /// A reporter for progress lines.
    pub fn reporter(&self, global: &GlobalOptions) -> Reporter {
        Reporter::new(global, false, Wording::Compose)
    }

    /// Runs `f` for each container in turn, reporting `doing`/`done` for each.
    pub fn each(
        &self,
        global: &GlobalOptions,
        records: &[ContainerRecord],
        doing: &str,
        done: &str,
        mut f: impl FnMut(&ContainerRecord) -> anyhow::Result<()>,
    ) -> anyhow::Result<()> {
        let reporter = self.reporter(global);
        let mut first_error = None;
        for r in records {
            let owner = format!("Container {}", r.name);
            reporter.status(&owner, doing, false);
            match f(r) {
                Ok(()) => reporter.status(&owner, done, true),
                Err(e) => {
                    reporter.status(&owner, "Error", true);
                    first_error.get_or_insert(e);
                }
            }
        }
        reporter.finish();
        match first_error {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}
