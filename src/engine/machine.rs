//! Everything on this machine that the engine acts on, opened once per command: the state
//! root, the image store, the volume store and berth's networks.

use super::state::StateRoot;
use anyhow::Context;
use berth_network::{Networks, Options as NetworkOptions};
use berth_runtime::image::Store;
use berth_volumes::store::VolumeStore;
use std::path::{Path, PathBuf};

/// The berth executable that runs supervisors: the running binary unless a test points
/// elsewhere with `BERTH_EXE`.
pub fn berth_exe() -> PathBuf {
    std::env::var_os("BERTH_EXE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/proc/self/exe"))
}

/// The opened stores.
#[derive(Debug, Clone)]
pub struct Machine {
    /// Containers, projects, names, locks.
    pub state: StateRoot,
    /// Images.
    pub images: Store,
    /// Volumes.
    pub volumes: VolumeStore,
    /// The berth executable, re-run as the supervisor (the running binary unless a test
    /// points elsewhere with `BERTH_EXE`).
    pub exe: PathBuf,
}

impl Machine {
    /// Opens the stores under `root`, with run state under `BERTH_RUN` (default `/run/berth`).
    pub fn open(root: &Path) -> anyhow::Result<Machine> {
        let state = StateRoot::open(root, super::state::run_dir_from_env())
            .with_context(|| format!("cannot open berth's state under {}", root.display()))?;
        let images = Store::open(state.images_dir()).with_context(|| {
            format!(
                "cannot open the image store {}",
                state.images_dir().display()
            )
        })?;
        let volumes = VolumeStore::open(state.volumes_dir()).with_context(|| {
            format!(
                "cannot open the volume store {}",
                state.volumes_dir().display()
            )
        })?;
        Ok(Machine {
            state,
            images,
            volumes,
            exe: berth_exe(),
        })
    }

    /// berth's networks (opened on demand: it checks for nftables and netlink state), with
    /// the address pools of berth's configuration file.
    pub fn networks(&self) -> anyhow::Result<Networks> {
        let mut options =
            NetworkOptions::new(self.state.networks_dir(), self.state.network_run_dir());
        let config = super::config::EngineConfig::load()?;
        if !config.pools_v4.is_empty() {
            options.pools_v4 = config.pools_v4;
        }
        if !config.pools_v6.is_empty() {
            options.pools_v6 = config.pools_v6;
        }
        Networks::open(options).context("cannot open berth's network state")
    }
}
