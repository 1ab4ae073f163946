//! The networks, volumes and images on this machine, as the reconciler observes them.

use super::machine::Machine;
use super::observed::{Observed, ObservedImage, ObservedResource};
use super::state::ResourceLister;
use anyhow::Context;

impl ResourceLister for Machine {
    fn networks(&self) -> Vec<ObservedResource> {
        let Ok(networks) = self.networks() else {
            return Vec::new();
        };
        match networks.ipam().networks() {
            Ok(list) => list
                .into_iter()
                .map(|n| ObservedResource {
                    name: n.name,
                    labels: n.labels,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list networks");
                Vec::new()
            }
        }
    }

    fn volumes(&self) -> Vec<ObservedResource> {
        match self.volumes.list() {
            Ok(list) => list
                .into_iter()
                .map(|v| ObservedResource {
                    name: v.name,
                    labels: v.labels,
                })
                .collect(),
            Err(e) => {
                tracing::warn!(error = %e, "cannot list volumes");
                Vec::new()
            }
        }
    }
}

impl Machine {
    /// Every image in the store under each of its names.
    pub fn observed_images(&self) -> anyhow::Result<Vec<ObservedImage>> {
        let mut out = Vec::new();
        for image in self.images.list().context("cannot list images")? {
            for reference in &image.repo_tags {
                out.push(ObservedImage {
                    reference: reference.clone(),
                    id: image.id.clone(),
                });
            }
        }
        Ok(out)
    }

    /// What exists for `project`.
    pub fn observe(&self, project: &str) -> anyhow::Result<Observed> {
        let images = self.observed_images()?;
        Ok(self.state.observe(project, self, images)?)
    }
}
