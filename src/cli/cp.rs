//! `berth cp`: copy files and folders between a service's containers and the host, as
//! `docker compose cp`. A running container is reached through its init's root
//! (`/proc/PID/root`, which shows its volumes too); a stopped one through its root
//! filesystem, which stays mounted (its volumes are not mounted there, so not visible).
//! Paths inside a container are resolved by the kernel within its root: see [`tree`].

pub mod tree;

use super::GlobalOptions;
use super::lifecycle::Session;
use crate::engine::state::{ContainerRecord, RecordedState};
use anyhow::{Context as _, bail};
use berth_runtime::container::{Runtime, Status};
use clap::Args;
use rustix::fs::{FileType, fstat};
use std::fs::File;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use tree::{HostSink, RootSink, Sink, TarSink};

/// Flags of `berth cp`.
#[derive(Debug, Args)]
pub struct CpArgs {
    /// Include containers created by the run command
    #[arg(long)]
    pub all: bool,
    /// Index of the container if service has multiple replicas
    #[arg(long)]
    pub index: Option<u32>,
    /// Archive mode (copy all uid/gid information)
    #[arg(short, long)]
    pub archive: bool,
    /// Always follow symbol link in SRC_PATH
    #[arg(short = 'L', long)]
    pub follow_link: bool,
    /// SERVICE:SRC_PATH or SRC_PATH|-
    #[arg(value_name = "SOURCE")]
    pub source: String,
    /// DEST_PATH|- or SERVICE:DEST_PATH
    #[arg(value_name = "DEST")]
    pub destination: String,
}

/// One side of a copy: a path of the host (`-` for a tar stream) or of a service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Side {
    /// A host path, or `-`.
    Host(String),
    /// A path in a service's containers.
    Service(String, String),
}

/// Splits `SERVICE:PATH` as Docker does: an absolute path or one starting with `.` is a
/// host path even with a colon in it.
pub fn side(arg: &str) -> Side {
    if arg.starts_with('/') || arg.starts_with('.') {
        return Side::Host(arg.to_string());
    }
    match arg.split_once(':') {
        Some((svc, path)) if !svc.is_empty() => Side::Service(svc.to_string(), path.to_string()),
        _ => Side::Host(arg.to_string()),
    }
}

/// What a source path asks for: its name at the destination and whether only its contents
/// are copied (`dir/.`).
fn source_name(path: &str) -> (PathBuf, bool) {
    let contents = path == "." || path.ends_with("/.");
    let p = Path::new(path);
    let name = if contents {
        PathBuf::new()
    } else {
        p.file_name().map(PathBuf::from).unwrap_or_default()
    };
    (name, contents)
}

/// A container's root as a directory descriptor, and whether its volumes are visible.
fn container_root(runtime: &Runtime, record: &ContainerRecord) -> anyhow::Result<(File, bool)> {
    let alive = |c: &berth_runtime::container::Container| {
        matches!(c.status(), Status::Running | Status::Paused)
    };
    if matches!(
        record.status.state,
        RecordedState::Running | RecordedState::Paused
    ) && let Ok(c) = runtime.load(&record.id)
        && alive(&c)
        && let Ok(root) = File::open(format!("/proc/{}/root", c.pid()))
        // Still the same init after the open (its start time is checked): the pid was not
        // reused by another process meanwhile.
        && alive(&c)
    {
        return Ok((root, true));
    }
    let rootfs = record
        .rootfs
        .as_ref()
        .with_context(|| format!("container {} has no root filesystem", record.name))?;
    let root = File::open(rootfs).with_context(|| {
        format!(
            "cannot open the root filesystem of {} ({})",
            record.name,
            rootfs.display()
        )
    })?;
    Ok((root, false))
}

/// Warns when `path` lies in a volume of a stopped container (not visible then).
fn warn_hidden_volume(record: &ContainerRecord, path: &str) {
    let p = Path::new(path);
    if let Some(m) = record.mounts.iter().find(|m| p.starts_with(&m.target)) {
        eprintln!(
            "WARN[0000] {} is stopped: its mount {} is not visible, the copy goes to or comes from its image's filesystem",
            record.name, m.target
        );
    }
}

/// Where a copy into `dest` goes, given the source's name and kind: the directory to write
/// in and the name the source takes there (Docker's rules: into an existing directory under
/// the source's name, else as `dest` itself).
fn destination_in_root(
    root: &File,
    dest: &str,
    name: &Path,
    contents: bool,
    src_is_dir: bool,
) -> anyhow::Result<(OwnedFd, PathBuf)> {
    let dest_path = Path::new(if dest.is_empty() { "/" } else { dest });
    match tree::open_in_root(root.as_fd(), dest_path, true) {
        Ok(fd) => {
            let st = fstat(&fd)?;
            if FileType::from_raw_mode(st.st_mode) == FileType::Directory {
                let rel = if contents {
                    PathBuf::new()
                } else {
                    name.to_path_buf()
                };
                return Ok((fd, rel));
            }
            if src_is_dir {
                bail!("cannot copy a directory to a file: {dest}");
            }
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if dest.ends_with('/') && !src_is_dir {
                bail!("no such directory: {dest}");
            }
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {dest}")),
    }
    let parent = dest_path.parent().unwrap_or(Path::new("/"));
    let last = dest_path
        .file_name()
        .with_context(|| format!("invalid destination {dest}"))?;
    let fd = tree::open_in_root(root.as_fd(), parent, true)
        .with_context(|| format!("no such directory: {}", parent.display()))?;
    Ok((fd, PathBuf::from(last)))
}

/// The same rules on the host.
fn destination_on_host(
    dest: &str,
    name: &Path,
    contents: bool,
    src_is_dir: bool,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let dest_path = Path::new(dest);
    match std::fs::metadata(dest_path) {
        Ok(m) if m.is_dir() => {
            let rel = if contents {
                PathBuf::new()
            } else {
                name.to_path_buf()
            };
            return Ok((dest_path.to_path_buf(), rel));
        }
        Ok(_) if src_is_dir => bail!("cannot copy a directory to a file: {dest}"),
        Ok(_) => {}
        Err(_) if dest.ends_with('/') && !src_is_dir => bail!("no such directory: {dest}"),
        Err(_) => {}
    }
    let last = dest_path
        .file_name()
        .with_context(|| format!("invalid destination {dest}"))?;
    let parent = match dest_path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !parent.is_dir() {
        bail!("no such directory: {}", parent.display());
    }
    Ok((parent, PathBuf::from(last)))
}

/// The containers a copy involves: `index`'s replica, else every replica when copying in
/// and the first one when copying out; one-offs too with `--all`.
fn targets(
    session: &Session,
    service: &str,
    index: Option<u32>,
    all: bool,
    into: bool,
) -> anyhow::Result<Vec<ContainerRecord>> {
    let records: Vec<ContainerRecord> = session
        .containers(&[service.to_string()], all)?
        .into_iter()
        .filter(|r| index.is_none_or(|n| !r.observed().is_oneoff() && r.observed().number() == n))
        .collect();
    if records.is_empty() {
        match index {
            Some(n) => bail!("service {service:?} has no container #{n}"),
            None => bail!("no container found for service {service:?}"),
        }
    }
    Ok(if into || index.is_some() {
        records
    } else {
        records.into_iter().take(1).collect()
    })
}

/// The container's root for a copy touching `path`, warning when its volumes are not
/// visible there (a stopped container).
fn root_for(runtime: &Runtime, record: &ContainerRecord, path: &str) -> anyhow::Result<File> {
    let (root, volumes) = container_root(runtime, record)?;
    if !volumes {
        warn_hidden_volume(record, path);
    }
    Ok(root)
}

/// Copies host `src` (or a tar stream on standard input) into `dest` of one container.
fn copy_in(
    runtime: &Runtime,
    record: &ContainerRecord,
    src: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let root = root_for(runtime, record, dest)?;
    let owner = if args.archive { None } else { Some((0, 0)) };
    if src == "-" {
        let base = tree::open_in_root(root.as_fd(), Path::new(dest), true)
            .with_context(|| format!("no such directory: {dest}"))?;
        if FileType::from_raw_mode(fstat(&base)?.st_mode) != FileType::Directory {
            bail!("destination {dest} must be a directory when copying from standard input");
        }
        let mut sink = RootSink { base, owner };
        return tree::walk_tar(std::io::stdin().lock(), &mut sink);
    }
    let (name, contents) = source_name(src);
    let follow = args.follow_link || contents || src.ends_with('/');
    let meta = if follow {
        std::fs::metadata(src)
    } else {
        std::fs::symlink_metadata(src)
    }
    .with_context(|| format!("cannot stat {src}"))?;
    let (base, rel) = destination_in_root(&root, dest, &name, contents, meta.is_dir())?;
    let mut sink = RootSink { base, owner };
    tree::walk_host(Path::new(src), &rel, follow, &mut sink)
        .with_context(|| format!("cannot copy {src} to {}:{dest}", record.name))
}

/// Copies `src` of one container to host `dest` (or a tar stream on standard output).
fn copy_out(
    runtime: &Runtime,
    record: &ContainerRecord,
    src: &str,
    dest: &str,
    args: &CpArgs,
) -> anyhow::Result<()> {
    let root = root_for(runtime, record, src)?;
    let (name, contents) = source_name(src);
    let follow = args.follow_link || contents || src.ends_with('/');
    let src_path = Path::new(if src.is_empty() { "/" } else { src });
    let fd = match tree::open_in_root(root.as_fd(), src_path, follow) {
        Ok(fd) => fd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            bail!("could not find the file {src} in container {}", record.name)
        }
        Err(e) => return Err(e).with_context(|| format!("cannot open {}:{src}", record.name)),
    };
    let src_is_dir = FileType::from_raw_mode(fstat(&fd)?.st_mode) == FileType::Directory;
    if dest == "-" {
        let mut sink = TarSink {
            builder: tar::Builder::new(std::io::stdout().lock()),
        };
        tree::walk_fd(fd, &name, &mut sink)?;
        sink.builder.finish().context("cannot write the archive")?;
        return Ok(());
    }
    let (base, rel) = destination_on_host(dest, &name, contents, src_is_dir)?;
    let mut sink: Box<dyn Sink> = Box::new(HostSink {
        base,
        archive: args.archive,
    });
    tree::walk_fd(fd, &rel, sink.as_mut())
        .with_context(|| format!("cannot copy {}:{src} to {dest}", record.name))
}

/// Runs `berth cp`.
pub fn run(global: &GlobalOptions, args: &CpArgs) -> anyhow::Result<ExitCode> {
    let (from, to) = (side(&args.source), side(&args.destination));
    let mut session = Session::open(global, false)?;
    let runtime = Runtime::new(session.ctx.machine.state.runtime_dir())?;
    match (from, to) {
        (Side::Service(..), Side::Service(..)) => {
            bail!("copying between services is not supported")
        }
        (Side::Host(_), Side::Host(_)) => {
            bail!("one of the paths must name a service: SERVICE:PATH")
        }
        (Side::Host(src), Side::Service(service, dest)) => {
            let records = targets(&session, &service, args.index, args.all, true)?;
            session.unlock();
            session.each(global, &records, "Copying", "Copied", |r| {
                copy_in(&runtime, r, &src, &dest, args)
            })?;
        }
        (Side::Service(service, src), Side::Host(dest)) => {
            let records = targets(&session, &service, args.index, args.all, false)?;
            session.unlock();
            session.each(global, &records, "Copying", "Copied", |r| {
                copy_out(&runtime, r, &src, &dest, args)
            })?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sides_split_as_docker_splits_them() {
        assert_eq!(
            side("web:/tmp/x"),
            Side::Service("web".into(), "/tmp/x".into())
        );
        assert_eq!(side("/tmp/a:b"), Side::Host("/tmp/a:b".into()));
        assert_eq!(side("./a:b"), Side::Host("./a:b".into()));
        assert_eq!(side("-"), Side::Host("-".into()));
        assert_eq!(side("file.txt"), Side::Host("file.txt".into()));
        assert_eq!(source_name("/tmp/dir/."), (PathBuf::new(), true));
        assert_eq!(source_name("/tmp/dir/"), (PathBuf::from("dir"), false));
    }

    #[test]
    fn host_destination_rules() {
        let d = tempfile::tempdir().unwrap();
        let dir = d.path().to_str().unwrap();
        let (base, rel) = destination_on_host(dir, Path::new("f"), false, false).unwrap();
        assert_eq!((base.as_path(), rel.as_path()), (d.path(), Path::new("f")));
        let new = format!("{dir}/new");
        let (base, rel) = destination_on_host(&new, Path::new("f"), false, true).unwrap();
        assert_eq!(
            (base.as_path(), rel.as_path()),
            (d.path(), Path::new("new"))
        );
        assert!(
            destination_on_host(&format!("{dir}/nope/"), Path::new("f"), false, false).is_err()
        );
        std::fs::write(d.path().join("file"), "").unwrap();
        assert!(destination_on_host(&format!("{dir}/file"), Path::new("f"), false, true).is_err());
    }
}
