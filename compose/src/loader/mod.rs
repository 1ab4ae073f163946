//! Loading a project: files, environment and name, then the stages in compose-go's order.
//!
//! Per file: parse, interpolate, validate, include, extends; then merge into the files before
//! it. On the merged tree: canonical long syntax, absolute paths, env and label files,
//! normalization, profiles, consistency, and finally the typed model.

mod environment;
mod extends;
mod files;
mod include;
mod project_name;
mod service_files;

pub use environment::Environment;
pub use files::{ConfigSource, DEFAULT_FILE_NAMES, DEFAULT_OVERRIDE_NAMES};
pub use project_name::{
    NAME_RULE, normalize as normalize_project_name, validate as validate_project_name,
};

use crate::error::{Error, ErrorKind, Result, Warning};
use crate::model::Project;
use crate::value::{Map, Path, Value};
use crate::yaml::{self, MergeTag, Positions};
use crate::{canonical, consistency, interpolate, merge, normalize, paths, profiles, schema};
use files::absolutize;
use std::path::PathBuf;

/// What to load and how; the defaults are those of `docker compose config`.
#[derive(Debug, Clone)]
pub struct LoadOptions {
    /// `-f` files in order (`ConfigSource::stdin` for `-`); empty: `COMPOSE_FILE` or the
    /// default names, searched upward from `working_dir`.
    pub files: Vec<ConfigSource>,
    /// The directory commands run in (relative paths of `-f` are relative to it).
    pub working_dir: PathBuf,
    /// `--project-directory`.
    pub project_directory: Option<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// The shell environment, complete: nothing else is read from the process.
    pub environment: Environment,
    /// `--env-file` files; empty: `.env` of the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// Services named on the command line (they enable their own profiles).
    pub services: Vec<String>,
    /// Take the project name from `COMPOSE_PROJECT_NAME` (the command line does; compose-go's
    /// library does not).
    pub name_from_environment: bool,
    /// Fall back to the project directory's name.
    pub name_from_directory: bool,
    /// Substitute `${...}` (off: `--no-interpolate`).
    pub interpolate: bool,
    /// Validate against the schema.
    pub validate: bool,
    /// Make relative paths absolute (off: `--no-path-resolution`).
    pub resolve_paths: bool,
    /// Read `env_file` / `label_file` of services (off: `--no-env-resolution`).
    pub resolve_service_files: bool,
    /// Fill in defaults and implicit dependencies (off: `--no-normalize`).
    pub normalize: bool,
    /// Check cross references (off: `--no-consistency`).
    pub consistency: bool,
    /// The user's home directory, for `~` in paths.
    pub home: Option<PathBuf>,
}

impl LoadOptions {
    /// Options for a command run in `working_dir` with `environment`.
    pub fn new(working_dir: PathBuf, environment: Environment) -> Self {
        let home = environment.get("HOME").map(PathBuf::from);
        LoadOptions {
            files: Vec::new(),
            working_dir,
            project_directory: None,
            project_name: None,
            environment,
            env_files: Vec::new(),
            profiles: Vec::new(),
            services: Vec::new(),
            name_from_environment: true,
            name_from_directory: true,
            interpolate: true,
            validate: true,
            resolve_paths: true,
            resolve_service_files: true,
            normalize: true,
            consistency: true,
            home,
        }
    }
}

/// A loaded project: its canonical tree and its typed model.
#[derive(Debug, Clone)]
pub struct LoadedProject {
    /// The project name.
    pub name: String,
    /// The project directory (absolute).
    pub working_dir: PathBuf,
    /// The compose files, as named.
    pub config_files: Vec<String>,
    /// The variables the files were interpolated with.
    pub environment: Environment,
    /// The enabled profiles.
    pub profiles: Vec<String>,
    /// The canonical tree of the project (enabled services only), as `config` prints it.
    pub tree: Value,
    /// Services that their profiles disable.
    pub disabled_services: Map,
    /// The typed model.
    pub project: Project,
    /// Where the nodes of the files came from.
    pub positions: Positions,
    /// Things worth telling the user.
    pub warnings: Vec<Warning>,
}

/// The directory and name a file's relative references are resolved against.
#[derive(Debug, Clone)]
pub(crate) struct FileContext {
    display_name: String,
    path: Option<PathBuf>,
    base_dir: PathBuf,
}

/// State shared by the stages while one project loads.
pub(crate) struct Loader<'o> {
    opts: &'o LoadOptions,
    env: Environment,
    warnings: Vec<Warning>,
    positions: Positions,
    include_chain: Vec<PathBuf>,
    warned_unset: std::collections::HashSet<String>,
    /// A raw model: short syntax is kept (it may hold `${...}`).
    raw: bool,
}

/// A project loaded as a raw model: merged, normalized and with absolute paths, but neither
/// interpolated nor in canonical form (what `config --no-interpolate` prints).
#[derive(Debug, Clone)]
pub struct RawModel {
    /// The project name.
    pub name: String,
    /// The tree.
    pub tree: Value,
    /// The variables the files would be interpolated with.
    pub environment: Environment,
    /// Things worth telling the user.
    pub warnings: Vec<Warning>,
}

/// Loads a project.
pub fn load(opts: &LoadOptions) -> Result<LoadedProject> {
    let parts = load_tree(opts, false)?;
    let project = Project::from_tree_at(&parts.tree, &parts.positions)?;
    Ok(LoadedProject {
        name: parts.name,
        working_dir: parts.working_dir,
        config_files: parts.config_files,
        environment: parts.environment,
        profiles: parts.profiles,
        tree: parts.tree,
        disabled_services: parts.disabled_services,
        project,
        positions: parts.positions,
        warnings: parts.warnings,
    })
}

/// Loads a project without interpolation: `${...}` stays as written, so short syntax is not
/// expanded and no typed model is built, as Docker Compose's raw model.
pub fn load_raw_model(opts: &LoadOptions) -> Result<RawModel> {
    let mut opts = opts.clone();
    opts.interpolate = false;
    let parts = load_tree(&opts, true)?;
    Ok(RawModel {
        name: parts.name,
        tree: parts.tree,
        environment: parts.environment,
        warnings: parts.warnings,
    })
}

/// What every load produces before the typed model.
struct TreeParts {
    name: String,
    working_dir: PathBuf,
    config_files: Vec<String>,
    environment: Environment,
    profiles: Vec<String>,
    tree: Value,
    disabled_services: Map,
    positions: Positions,
    warnings: Vec<Warning>,
}

fn load_tree(opts: &LoadOptions, raw: bool) -> Result<TreeParts> {
    let mut warnings = Vec::new();
    let shell = &opts.environment;
    let cwd = opts.working_dir.clone();

    let sources = config_sources(opts, &mut warnings)?;

    let working_dir = match &opts.project_directory {
        Some(d) => absolutize(&cwd, d),
        None => sources
            .iter()
            .find_map(|s| s.path.as_ref().and_then(|p| p.parent().map(PathBuf::from)))
            .unwrap_or_else(|| cwd.clone()),
    };

    let env_file_list = dot_env_files(opts, &working_dir);
    let from_files = environment::read_env_files(
        &env_file_list
            .iter()
            .map(PathBuf::as_path)
            .collect::<Vec<_>>(),
        shell,
        !opts.env_files.is_empty(),
    )?;
    let mut env = environment::layered(from_files, shell);

    // Parse every file first: `name:` decides COMPOSE_PROJECT_NAME, which the files may use.
    let mut parsed = Vec::new();
    for source in &sources {
        let text = source.read()?;
        let docs = yaml::parse(&text, &source.name)?;
        if docs.is_empty() || docs.iter().all(|d| d.value.is_null()) {
            return Err(Error::new(ErrorKind::Schema, "empty compose file").at(None));
        }
        parsed.push((source.clone(), docs));
    }
    let name = project_name(opts, &env, &parsed, &working_dir)?;
    env.entry("COMPOSE_PROJECT_NAME".into())
        .or_insert_with(|| name.clone());

    let mut loader = Loader {
        opts,
        env,
        warnings,
        positions: Positions::default(),
        include_chain: Vec::new(),
        warned_unset: Default::default(),
        raw: false,
    };
    let mut merged: Option<Value> = None;
    for (source, docs) in parsed {
        let ctx = FileContext {
            display_name: source.name.clone(),
            path: source.path.clone(),
            base_dir: working_dir.clone(),
        };
        if let Some(p) = &source.path {
            loader.include_chain.push(p.clone());
        }
        for doc in docs {
            let (tree, tags) = loader.process_document(doc, &ctx)?;
            merged = Some(match merged {
                None => {
                    let mut t = tree;
                    merge::apply_resets(&mut t, &tags);
                    t
                }
                Some(base) => merge::merge(base, tree, &tags)?,
            });
        }
        loader.include_chain.clear();
    }
    let mut tree = merged.unwrap_or_else(|| Value::Map(Map::new()));
    if let Some(m) = tree.as_map_mut() {
        m.insert("name".into(), Value::String(name.clone()));
    }
    if opts.validate {
        schema::validate_merged(&tree, &loader.positions)?;
    }
    loader.raw = raw;
    loader.finish_subtree(&mut tree, &working_dir)?;

    if opts.resolve_service_files && !raw {
        let env = loader.env.clone();
        service_files::resolve(&mut tree, &|k| env.get(k).cloned())?;
    }
    if opts.normalize {
        let env = loader.env.clone();
        normalize::normalize(&mut tree, &|k| env.get(k).cloned())?;
        if raw && opts.resolve_paths {
            // A raw model keeps short syntax, which normalization has just expanded for
            // `build` (`build: ./dir`): resolve the paths it brought.
            paths::resolve_paths(&mut tree, &working_dir, opts.home.as_deref())?;
        }
    }
    let active_profiles = active_profiles(opts, &loader.env);
    let disabled = profiles::apply_profiles(&mut tree, &active_profiles, &opts.services)?;
    let disabled_services = disabled.as_map().cloned().unwrap_or_default();
    if opts.consistency && !raw {
        // Consistency errors name the service and the reference; they concern the project
        // as a whole, so no single place in a file is given.
        consistency::check(&tree)?;
        crate::graph::DependencyGraph::new(&tree)?;
    }
    Ok(TreeParts {
        name,
        working_dir,
        config_files: sources.iter().map(|s| s.name.clone()).collect(),
        environment: loader.env,
        profiles: active_profiles,
        tree,
        disabled_services,
        positions: loader.positions,
        warnings: loader.warnings,
    })
}

/// The compose files of the project: `-f`, else `COMPOSE_FILE` (which the project
/// directory's `.env` may set), else the default names searched upward.
pub fn config_sources(
    opts: &LoadOptions,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<ConfigSource>> {
    let shell = &opts.environment;
    let cwd = opts.working_dir.clone();
    // The project directory's `.env` may name the files (COMPOSE_FILE), so it is read first
    // when no file was given.
    let early_dir = opts
        .project_directory
        .as_ref()
        .map(|d| absolutize(&cwd, d))
        .unwrap_or_else(|| cwd.clone());
    let mut sources = opts.files.clone();
    if sources.is_empty() {
        let dot_env = dot_env_files(opts, &early_dir);
        let pre = environment::read_env_files(
            &dot_env.iter().map(PathBuf::as_path).collect::<Vec<_>>(),
            shell,
            !opts.env_files.is_empty(),
        )?;
        let pre = environment::layered(pre, shell);
        if let Some(list) = pre.get("COMPOSE_FILE").filter(|s| !s.is_empty()) {
            let sep = pre
                .get("COMPOSE_PATH_SEPARATOR")
                .filter(|s| !s.is_empty())
                .cloned()
                .unwrap_or_else(|| ":".into());
            sources = list
                .split(sep.as_str())
                .filter(|s| !s.is_empty())
                .map(|f| ConfigSource::file(absolutize(&early_dir, std::path::Path::new(f))))
                .collect();
        } else {
            sources = files::find_default_files(&early_dir, warnings)?
                .into_iter()
                .map(ConfigSource::file)
                .collect();
        }
    } else {
        for s in &mut sources {
            if let Some(p) = &s.path {
                s.path = Some(absolutize(&cwd, p));
            }
        }
    }
    for s in &sources {
        if let Some(p) = &s.path
            && !p.is_file()
        {
            return Err(Error::new(
                ErrorKind::Io,
                format!("open {}: no such file or directory", p.display()),
            ));
        }
    }

    Ok(sources)
}

/// `--env-file` files, or `.env` of `dir`.
fn dot_env_files(opts: &LoadOptions, dir: &std::path::Path) -> Vec<PathBuf> {
    if opts.env_files.is_empty() {
        vec![dir.join(".env")]
    } else {
        opts.env_files
            .iter()
            .map(|f| absolutize(&opts.working_dir, f))
            .collect()
    }
}

fn active_profiles(opts: &LoadOptions, env: &Environment) -> Vec<String> {
    if !opts.profiles.is_empty() {
        return opts.profiles.clone();
    }
    env.get("COMPOSE_PROFILES")
        .map(|p| {
            p.split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn project_name(
    opts: &LoadOptions,
    env: &Environment,
    parsed: &[(ConfigSource, Vec<yaml::Document>)],
    working_dir: &std::path::Path,
) -> Result<String> {
    if let Some(n) = &opts.project_name {
        project_name::validate(n)?;
        return Ok(n.clone());
    }
    if opts.name_from_environment
        && let Some(n) = env.get("COMPOSE_PROJECT_NAME").filter(|n| !n.is_empty())
    {
        project_name::validate(n)?;
        return Ok(n.clone());
    }
    // The last file that sets `name:` wins, as in a merge.
    let mut from_file = None;
    for (source, docs) in parsed {
        for doc in docs {
            match doc.value.get("name") {
                None | Some(Value::Null) => {}
                Some(Value::String(s)) => {
                    let loc = doc.positions.find(&Path::root().key("name"));
                    from_file = Some((s.clone(), loc));
                }
                Some(_) => {
                    let loc = doc.positions.find(&Path::root().key("name"));
                    return Err(Error::schema(format!(
                        "validating {}: name must be a string",
                        source.name
                    ))
                    .at(loc));
                }
            }
        }
    }
    if let Some((raw, loc)) = from_file {
        let name = if opts.interpolate {
            interpolate::substitute(&raw, &|k| env.get(k).cloned())
                .map_err(|e| Error::new(ErrorKind::Interpolation, e.to_string()).at(loc.clone()))?
                .value
        } else {
            raw
        };
        if !name.is_empty() {
            project_name::validate(&name).map_err(|e| e.at(loc))?;
            return Ok(name);
        }
    }
    if opts.name_from_directory {
        let dir_name = working_dir
            .file_name()
            .map(|n| n.to_string_lossy().to_string())
            .unwrap_or_default();
        let name = project_name::normalize(&dir_name);
        if !name.is_empty() {
            return Ok(name);
        }
    }
    Err(Error::invalid("project name must not be empty"))
}

impl Loader<'_> {
    /// Interpolates, validates and expands one document of a file.
    fn process_document(
        &mut self,
        doc: yaml::Document,
        ctx: &FileContext,
    ) -> Result<(Value, Vec<(Path, MergeTag)>)> {
        let mut tree = doc.value;
        if !matches!(tree, Value::Map(_)) {
            let loc = doc.positions.find(&Path::root());
            return Err(Error::schema("top-level object must be a mapping").at(loc));
        }
        if self.opts.interpolate {
            let env = self.env.clone();
            let warnings =
                interpolate::interpolate(&mut tree, &|k| env.get(k).cloned(), &doc.positions)?;
            for w in warnings {
                if self.warned_unset.insert(w.message.clone()) {
                    self.warnings.push(w);
                }
            }
        }
        if self.opts.validate {
            let warnings = schema::validate(&tree, &doc.positions)?;
            self.warnings.extend(warnings);
        }
        include::apply(self, &mut tree, ctx)?;
        extends::apply(self, &mut tree, ctx).map_err(|e| {
            let loc = doc.positions.find(&Path::root().key("services"));
            e.at(loc)
        })?;
        self.positions.extend(doc.positions);
        Ok((tree, doc.tags))
    }

    /// Loads one file of an included project (its documents merged).
    fn load_file(
        &mut self,
        source: &ConfigSource,
        ctx: &FileContext,
    ) -> Result<(Value, Vec<(Path, MergeTag)>)> {
        let text = source.read()?;
        let docs = yaml::parse(&text, &source.name)?;
        if docs.is_empty() {
            return Err(Error::schema(format!("empty compose file {}", source.name)));
        }
        let mut merged: Option<Value> = None;
        let mut last_tags = Vec::new();
        for doc in docs {
            let (tree, tags) = self.process_document(doc, ctx)?;
            merged = Some(match merged {
                None => {
                    let mut t = tree;
                    merge::apply_resets(&mut t, &tags);
                    t
                }
                Some(base) => merge::merge(base, tree, &tags)?,
            });
            last_tags = tags;
        }
        Ok((merged.unwrap_or_default(), last_tags))
    }

    /// Reads a file named by `extends.file`, relative to the extending file's directory.
    fn load_extends_file(&mut self, file: &str, ctx: &FileContext) -> Result<(Value, FileContext)> {
        let dir = ctx
            .path
            .as_ref()
            .and_then(|p| p.parent().map(PathBuf::from))
            .unwrap_or_else(|| ctx.base_dir.clone());
        let path = absolutize(&dir, std::path::Path::new(file));
        let source = ConfigSource::file(path.clone());
        let text = source.read()?;
        let docs = yaml::parse(&text, &source.name)?;
        let mut tree = Value::Map(Map::new());
        for doc in docs {
            let mut t = doc.value;
            if self.opts.interpolate {
                let env = self.env.clone();
                interpolate::interpolate(&mut t, &|k| env.get(k).cloned(), &doc.positions)?;
            }
            tree = merge::merge(tree, t, &doc.tags)?;
        }
        let other = FileContext {
            display_name: source.name,
            base_dir: path.parent().map(PathBuf::from).unwrap_or_default(),
            path: Some(path),
        };
        Ok((tree, other))
    }

    /// Makes a service from another file's directory refer to paths the way it meant them.
    fn rebase_service(&mut self, service: Value, ctx: &FileContext) -> Result<Value> {
        let mut services = Map::new();
        services.insert("base".into(), service);
        let mut top = Map::new();
        top.insert("services".into(), Value::Map(services));
        let mut tree = Value::Map(top);
        self.finish_subtree(&mut tree, &ctx.base_dir)?;
        Ok(tree
            .get("services")
            .and_then(|s| s.get("base"))
            .cloned()
            .unwrap_or_default())
    }

    /// The stages every (sub)tree goes through once merged: de-duplication, long syntax and
    /// absolute paths against `dir`.
    fn finish_subtree(&mut self, tree: &mut Value, dir: &std::path::Path) -> Result<()> {
        merge::enforce_unicity(tree)?;
        if !self.raw {
            let warnings = canonical::canonicalize_with_positions(tree, &self.positions)?;
            self.warnings.extend(warnings);
        }
        if self.opts.resolve_paths {
            paths::resolve_paths(tree, dir, self.opts.home.as_deref())?;
        }
        Ok(())
    }
}
