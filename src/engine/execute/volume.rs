//! Creating and removing a project's named volumes.

use super::ops::Context;
use anyhow::Context as _;
use berth_volumes::store::{VolumeSpec, VolumeStore, compose_labels};
use std::collections::BTreeSet;

/// Creates volume `name` of the project (Docker Compose's labels plus the volume's own). A
/// volume of that name that exists already is used as it is, with Compose's warning when
/// another project or tool made it.
pub fn create(ctx: &Context, name: &str) -> anyhow::Result<Option<String>> {
    let loaded = ctx.project.loaded()?;
    let (key, def) = loaded
        .project
        .volumes
        .iter()
        .find(|(key, def)| def.name.as_deref().unwrap_or(key) == name)
        .with_context(|| format!("volume {name} is not in the project"))?;
    if let Some(existing) = ctx.machine.volumes.get(name)? {
        return Ok(VolumeStore::foreign_warning(&existing, &loaded.name));
    }
    let mut labels = compose_labels(&loaded.name, key);
    for (k, v) in &def.labels {
        labels.insert(k.clone(), v.clone());
    }
    let spec = VolumeSpec {
        name: name.to_string(),
        driver: def.driver.clone().unwrap_or_default(),
        options: def
            .driver_opts
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect(),
        labels,
    };
    ctx.machine
        .volumes
        .create(&spec)
        .with_context(|| format!("cannot create volume {name}"))?;
    Ok(None)
}

/// Removes volume `name` (never one a container still uses). One already gone (an
/// anonymous volume removed with its container) is not an error.
pub fn remove(ctx: &Context, name: &str, in_use: &BTreeSet<String>) -> anyhow::Result<()> {
    match ctx.machine.volumes.remove(name, in_use) {
        Ok(()) | Err(berth_volumes::VolumeError::NotFound(_)) => Ok(()),
        Err(e) => Err(e).with_context(|| format!("cannot remove volume {name}")),
    }
}
