//! A container's root filesystem: an overlay mount of the image's unpacked layers (read-only
//! lower directories) with a writable upper directory and its work directory.
//!
//! The classic `mount(2)` takes all options in one string of at most a page (4096 bytes), and
//! every lower directory is a path in it. Two ways around that limit, as Docker's overlay2
//! driver and newer runtimes do:
//!
//! - short links ([`MountMethod::ShortLinks`]): each layer has a symlink `l/<12 chars>` in the
//!   store, and the mount is made with the store root as the current directory so that lower
//!   directories are `l/ABCDEFGHIJKL` (15 bytes each with the separator: about 250 layers).
//!   The current directory belongs to the whole process, so the mount runs on a short-lived
//!   thread that first unshares its filesystem attributes (`unshare(CLONE_FS)`): changing its
//!   directory does not move any other thread's.
//! - the new mount API ([`MountMethod::MountApi`]): `fsopen("overlay")` and one
//!   `fsconfig("lowerdir+", path)` per layer (Linux 6.8 and later), which has no overall limit.
//!
//! [`MountMethod::Auto`] uses short links when the options fit and the mount API otherwise.

use std::ffi::CString;
use std::fs;
use std::path::{Path, PathBuf};

use rustix::mount::{
    FsMountFlags, FsOpenFlags, MountAttrFlags, MountFlags, MoveMountFlags, UnmountFlags,
};

use crate::image::digest::Digest;
use crate::image::store::{Store, StoreError};

/// The most option bytes `mount(2)` accepts (one page, with the terminating NUL).
const MAX_MOUNT_DATA: usize = 4095;

/// How to pass the lower directories to the kernel.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MountMethod {
    /// Short links when they fit in one page, the mount API otherwise.
    #[default]
    Auto,
    /// `mount(2)` with `l/<ID>` paths relative to the store root.
    ShortLinks,
    /// `fsopen`/`fsconfig("lowerdir+")`/`fsmount`/`move_mount`.
    MountApi,
}

/// The directories of one container's root filesystem.
#[derive(Clone, Debug)]
pub struct RootfsDirs {
    /// The writable layer (created if missing).
    pub upper: PathBuf,
    /// overlayfs's work directory, on the same filesystem as `upper` (created if missing).
    pub work: PathBuf,
    /// Where the merged tree is mounted (created if missing).
    pub target: PathBuf,
}

/// A mounted root filesystem.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountedRootfs {
    /// The mount point.
    pub target: PathBuf,
    /// How many image layers are stacked.
    pub layers: usize,
    /// The method used.
    pub method: MountMethod,
}

/// Why a root filesystem could not be mounted or unmounted.
#[derive(Debug, thiserror::Error)]
pub enum RootfsError {
    /// The image or its layers are not in the store.
    #[error("{0}")]
    Store(#[from] StoreError),
    /// A directory could not be prepared.
    #[error("preparing {}: {source}", path.display())]
    Prepare {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The kernel refused the mount.
    #[error("mounting the root filesystem of {image} ({layers} layers) on {}: {step}: {source}", target.display())]
    Mount {
        /// The image.
        image: String,
        /// How many layers.
        layers: usize,
        /// The mount point.
        target: PathBuf,
        /// Which step failed.
        step: String,
        /// The kernel's reason.
        source: std::io::Error,
    },
    /// Unmounting failed.
    #[error("unmounting {}: {source}", target.display())]
    Unmount {
        /// The mount point.
        target: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Mounts the root filesystem of `image` (name or ID) from `store` at `dirs.target`.
pub fn mount_rootfs(
    store: &Store,
    image: &str,
    dirs: &RootfsDirs,
    method: MountMethod,
) -> Result<MountedRootfs, RootfsError> {
    let record = store.resolve(image)?;
    let manifest =
        store.load_manifest(&Digest::parse(&record.manifest).map_err(StoreError::from)?)?;
    let layers = store.image_layers(&manifest)?;
    // overlayfs lists the top layer first.
    let mut links = Vec::with_capacity(layers.len());
    for layer in layers.iter().rev() {
        links.push(store.layer_link(&layer.diff_id)?);
    }
    if links.is_empty() {
        // An image without layers: an empty, read-only lower directory.
        let empty = store.root().join("empty");
        fs::create_dir_all(&empty).map_err(|source| RootfsError::Prepare {
            path: empty,
            source,
        })?;
        links.push("empty".to_owned());
    }
    let mut absolute = Vec::with_capacity(3);
    for dir in [&dirs.upper, &dirs.work, &dirs.target] {
        fs::create_dir_all(dir).map_err(|source| RootfsError::Prepare {
            path: dir.clone(),
            source,
        })?;
        absolute.push(
            fs::canonicalize(dir).map_err(|source| RootfsError::Prepare {
                path: dir.clone(),
                source,
            })?,
        );
    }
    let [upper, work, target] =
        <[PathBuf; 3]>::try_from(absolute).map_err(|_| RootfsError::Prepare {
            path: dirs.target.clone(),
            source: std::io::Error::other("directory list"),
        })?;
    let options = format!(
        "lowerdir={},upperdir={},workdir={},index=off",
        links.join(":"),
        upper.display(),
        work.display()
    );
    // `mount(2)` options separate with ',' and ':'; paths containing them only work with
    // the mount API, which takes each path as a value of its own.
    let separators = [&upper, &work]
        .iter()
        .any(|p| p.to_string_lossy().contains([',', ':']));
    let method = match method {
        MountMethod::Auto if options.len() <= MAX_MOUNT_DATA && !separators => {
            MountMethod::ShortLinks
        }
        MountMethod::Auto => MountMethod::MountApi,
        other => other,
    };
    let failure = |step: &str, source: std::io::Error| RootfsError::Mount {
        image: image.to_owned(),
        layers: layers.len(),
        target: target.clone(),
        step: step.to_owned(),
        source,
    };
    match method {
        MountMethod::MountApi => {
            let lowers: Vec<PathBuf> = links.iter().map(|l| store.root().join(l)).collect();
            mount_with_api(&lowers, &upper, &work, &target)
                .map_err(|(step, e)| failure(step, e))?;
        }
        _ => {
            if separators {
                return Err(failure(
                    "options",
                    std::io::Error::other(
                        "the upper or work directory contains ',' or ':'; use the mount API",
                    ),
                ));
            }
            if options.len() > MAX_MOUNT_DATA {
                return Err(failure(
                    "options",
                    std::io::Error::other(format!(
                        "{} bytes of mount options, more than one page; use the mount API",
                        options.len()
                    )),
                ));
            }
            mount_from_dir(store.root(), &options, &target).map_err(|e| failure("mount", e))?;
        }
    }
    Ok(MountedRootfs {
        target,
        layers: layers.len(),
        method,
    })
}

/// `mount(2)` with relative lower directories, from a thread whose current directory is
/// `root` and is not shared with the rest of the process.
fn mount_from_dir(root: &Path, options: &str, target: &Path) -> std::io::Result<()> {
    let data = CString::new(options).map_err(std::io::Error::other)?;
    let (root, target) = (root.to_owned(), target.to_owned());
    let worker = std::thread::Builder::new()
        .name("berth-overlay-mount".to_owned())
        .spawn(move || -> std::io::Result<()> {
            // SAFETY: CLONE_FS only detaches this thread's root, current directory and umask;
            // it shares no file descriptors away (unlike CLONE_FILES), so no other thread can
            // observe a descriptor table it does not expect.
            unsafe { rustix::thread::unshare_unsafe(rustix::thread::UnshareFlags::FS) }?;
            std::env::set_current_dir(&root)?;
            rustix::mount::mount(
                "overlay",
                &target,
                "overlay",
                MountFlags::empty(),
                data.as_c_str(),
            )?;
            Ok(())
        })?;
    worker
        .join()
        .map_err(|_| std::io::Error::other("the mount thread panicked"))?
}

/// The new mount API: one `lowerdir+` per layer.
fn mount_with_api(
    lowers: &[PathBuf],
    upper: &Path,
    work: &Path,
    target: &Path,
) -> Result<(), (&'static str, std::io::Error)> {
    let fs = rustix::mount::fsopen("overlay", FsOpenFlags::FSOPEN_CLOEXEC)
        .map_err(|e| ("fsopen", e.into()))?;
    for lower in lowers {
        rustix::mount::fsconfig_set_string(&fs, "lowerdir+", lower.as_path())
            .map_err(|e| ("fsconfig lowerdir+ (needs Linux 6.8)", e.into()))?;
    }
    rustix::mount::fsconfig_set_string(&fs, "upperdir", upper)
        .map_err(|e| ("fsconfig upperdir", e.into()))?;
    rustix::mount::fsconfig_set_string(&fs, "workdir", work)
        .map_err(|e| ("fsconfig workdir", e.into()))?;
    rustix::mount::fsconfig_set_string(&fs, "index", "off")
        .map_err(|e| ("fsconfig index", e.into()))?;
    rustix::mount::fsconfig_create(&fs).map_err(|e| ("fsconfig create", e.into()))?;
    let mount = rustix::mount::fsmount(&fs, FsMountFlags::FSMOUNT_CLOEXEC, MountAttrFlags::empty())
        .map_err(|e| ("fsmount", e.into()))?;
    rustix::mount::move_mount(
        &mount,
        "",
        rustix::fs::CWD,
        target,
        MoveMountFlags::MOVE_MOUNT_F_EMPTY_PATH,
    )
    .map_err(|e| ("move_mount", e.into()))
}

/// Unmounts a root filesystem mounted by [`mount_rootfs`].
pub fn unmount_rootfs(target: &Path) -> Result<(), RootfsError> {
    rustix::mount::unmount(target, UnmountFlags::empty()).map_err(|errno| RootfsError::Unmount {
        target: target.to_owned(),
        source: errno.into(),
    })
}
