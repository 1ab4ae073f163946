//! Reading [`Observed`] back from the state root, with the networks and volumes listed by
//! their own crates through [`ResourceLister`].

use super::error::Result;
use super::{StateRoot, names};
use crate::engine::observed::{Observed, ObservedImage, ObservedResource};

/// Lists the networks and volumes on the machine. The network and volume crates keep their
/// own records; the engine implements this over them, and tests over [`InMemoryResources`].
pub trait ResourceLister {
    /// Every network, with its labels.
    fn networks(&self) -> Vec<ObservedResource>;
    /// Every volume, with its labels.
    fn volumes(&self) -> Vec<ObservedResource>;
}

/// A [`ResourceLister`] over fixed lists.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct InMemoryResources {
    /// The networks it lists.
    pub networks: Vec<ObservedResource>,
    /// The volumes it lists.
    pub volumes: Vec<ObservedResource>,
}

impl ResourceLister for InMemoryResources {
    fn networks(&self) -> Vec<ObservedResource> {
        self.networks.clone()
    }

    fn volumes(&self) -> Vec<ObservedResource> {
        self.volumes.clone()
    }
}

impl StateRoot {
    /// What exists for `project`, for the reconciler: every recorded container (the
    /// project's first, then the others, which matter for name conflicts), the listed
    /// networks and volumes, and `images` (from the image store). Unreadable container
    /// records are skipped with a warning; `repair` removes them.
    pub fn observe(
        &self,
        project: &str,
        resources: &dyn ResourceLister,
        images: Vec<ObservedImage>,
    ) -> Result<Observed> {
        names::validate("project name", project)?;
        let mut containers: Vec<_> = self
            .containers()?
            .records
            .iter()
            .map(|r| r.observed())
            .collect();
        containers.sort_by_key(|c| c.project() != Some(project));
        Ok(Observed {
            containers,
            networks: resources.networks(),
            volumes: resources.volumes(),
            images,
        })
    }
}
