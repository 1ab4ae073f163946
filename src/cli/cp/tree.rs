//! The trees `cp` copies: sources (a host path, a path inside a container's root, a tar
//! stream) walked into sinks (a host directory, a directory inside a container's root, a tar
//! stream). Inside a container every lookup is either resolved by the kernel within the
//! container's root (`openat2` with `RESOLVE_IN_ROOT`) or is one name under a directory
//! already opened, without following symlinks: a symlink in the container can never lead
//! outside it.

use anyhow::{Context as _, bail};
use rustix::fs::{
    AtFlags, Dir, FileType, Mode, OFlags, ResolveFlags, Timestamps, fchmod, fchown, fstat,
    futimens, mkdirat, openat, openat2, readlinkat, statat, symlinkat, unlinkat,
};
use rustix::fs::{Gid, Uid, chownat};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{BorrowedFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

/// What is kept of an entry besides its content.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    /// Permission bits (with setuid, setgid, sticky).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Modification time: seconds and nanoseconds since the epoch.
    pub mtime: (i64, i64),
}

/// Where entries go; `rel` is relative to the sink's base, and empty for the base itself.
pub trait Sink {
    /// A directory (its entries follow).
    fn dir(&mut self, rel: &Path, meta: &Meta) -> anyhow::Result<()>;
    /// A regular file of `size` bytes.
    fn file(
        &mut self,
        rel: &Path,
        meta: &Meta,
        size: u64,
        data: &mut dyn Read,
    ) -> anyhow::Result<()>;
    /// A symbolic link.
    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> anyhow::Result<()>;
}

/// Warns about an entry that is neither a file, a directory nor a symlink (not copied).
fn skipped(rel: &Path) {
    eprintln!(
        "WARN[0000] {} is not a file, a directory or a symbolic link: not copied",
        rel.display()
    );
}

// ---------------------------------------------------------------------------------------
// Host side.

fn host_meta(m: &std::fs::Metadata) -> Meta {
    Meta {
        mode: m.mode() & 0o7777,
        uid: m.uid(),
        gid: m.gid(),
        mtime: (m.mtime(), m.mtime_nsec()),
    }
}

/// Walks host path `path` into `sink` as `rel` (following `path` itself when `follow`).
pub fn walk_host(path: &Path, rel: &Path, follow: bool, sink: &mut dyn Sink) -> anyhow::Result<()> {
    let m = if follow {
        std::fs::metadata(path)
    } else {
        std::fs::symlink_metadata(path)
    }
    .with_context(|| format!("cannot read {}", path.display()))?;
    let meta = host_meta(&m);
    let ft = m.file_type();
    if ft.is_dir() {
        sink.dir(rel, &meta)?;
        let mut names: Vec<_> = std::fs::read_dir(path)
            .with_context(|| format!("cannot read {}", path.display()))?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<Result<_, _>>()
            .with_context(|| format!("cannot read {}", path.display()))?;
        names.sort();
        for name in names {
            walk_host(&path.join(&name), &rel.join(&name), false, sink)?;
        }
    } else if ft.is_file() {
        let mut f = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
        sink.file(rel, &meta, m.len(), &mut f)?;
    } else if ft.is_symlink() {
        let target =
            std::fs::read_link(path).with_context(|| format!("cannot read {}", path.display()))?;
        sink.symlink(rel, &target, &meta)?;
    } else {
        skipped(rel);
    }
    Ok(())
}

/// Writes into a host directory.
pub struct HostSink {
    /// The directory `rel` paths start from.
    pub base: PathBuf,
    /// Keep the owners of the source (`--archive`); else the files belong to whoever runs
    /// berth.
    pub archive: bool,
}

impl HostSink {
    fn path(&self, rel: &Path) -> PathBuf {
        self.base.join(rel)
    }

    /// Removes what stands where a non-directory goes.
    fn clear(path: &Path) -> anyhow::Result<()> {
        match std::fs::symlink_metadata(path) {
            Ok(m) if m.is_dir() => bail!(
                "cannot overwrite directory {} with a non-directory",
                path.display()
            ),
            Ok(_) => std::fs::remove_file(path)
                .with_context(|| format!("cannot replace {}", path.display())),
            Err(_) => Ok(()),
        }
    }

    fn own(&self, path: &Path, meta: &Meta) -> anyhow::Result<()> {
        if self.archive {
            std::os::unix::fs::lchown(path, Some(meta.uid), Some(meta.gid))
                .with_context(|| format!("cannot change the owner of {}", path.display()))?;
        }
        Ok(())
    }
}

impl Sink for HostSink {
    fn dir(&mut self, rel: &Path, meta: &Meta) -> anyhow::Result<()> {
        let path = self.path(rel);
        match std::fs::symlink_metadata(&path) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => bail!(
                "cannot overwrite non-directory {} with a directory",
                path.display()
            ),
            Err(_) => std::fs::create_dir(&path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        }
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(meta.mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        self.own(&path, meta)
    }

    fn file(&mut self, rel: &Path, meta: &Meta, _: u64, data: &mut dyn Read) -> anyhow::Result<()> {
        let path = self.path(rel);
        Self::clear(&path)?;
        let mut f =
            File::create_new(&path).with_context(|| format!("cannot create {}", path.display()))?;
        std::io::copy(data, &mut f).with_context(|| format!("cannot write {}", path.display()))?;
        f.set_permissions(std::fs::Permissions::from_mode(meta.mode))
            .with_context(|| format!("cannot set the mode of {}", path.display()))?;
        let _ = f.set_modified(system_time(meta.mtime));
        self.own(&path, meta)
    }

    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> anyhow::Result<()> {
        let path = self.path(rel);
        Self::clear(&path)?;
        std::os::unix::fs::symlink(target, &path)
            .with_context(|| format!("cannot create {}", path.display()))?;
        self.own(&path, meta)
    }
}

fn system_time((secs, nanos): (i64, i64)) -> std::time::SystemTime {
    let d = std::time::Duration::new(secs.unsigned_abs(), nanos.clamp(0, 999_999_999) as u32);
    if secs >= 0 {
        std::time::UNIX_EPOCH + d
    } else {
        std::time::UNIX_EPOCH - d
    }
}

// ---------------------------------------------------------------------------------------
// Container side.

/// Opens `path` inside the root `root` (`O_PATH`), resolved by the kernel within that root;
/// the last component is not followed unless `follow`.
pub fn open_in_root(root: BorrowedFd<'_>, path: &Path, follow: bool) -> std::io::Result<OwnedFd> {
    let mut flags = OFlags::PATH | OFlags::CLOEXEC;
    if !follow {
        flags |= OFlags::NOFOLLOW;
    }
    Ok(openat2(
        root,
        path,
        flags,
        Mode::empty(),
        ResolveFlags::IN_ROOT,
    )?)
}

fn stat_meta(st: &rustix::fs::Stat) -> Meta {
    Meta {
        mode: st.st_mode & 0o7777,
        uid: st.st_uid,
        gid: st.st_gid,
        mtime: (st.st_mtime, st.st_mtime_nsec as i64),
    }
}

/// Walks the entry `fd` (an `O_PATH` descriptor inside a container's root) into `sink` as
/// `rel`.
pub fn walk_fd(fd: OwnedFd, rel: &Path, sink: &mut dyn Sink) -> anyhow::Result<()> {
    let st = fstat(&fd).with_context(|| format!("cannot read {}", rel.display()))?;
    let meta = stat_meta(&st);
    match FileType::from_raw_mode(st.st_mode) {
        FileType::Directory => {
            sink.dir(rel, &meta)?;
            let dir = openat(
                &fd,
                ".",
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| format!("cannot open {}", rel.display()))?;
            let mut names = Vec::new();
            for entry in
                Dir::read_from(&dir).with_context(|| format!("cannot read {}", rel.display()))?
            {
                let entry = entry.with_context(|| format!("cannot read {}", rel.display()))?;
                let name = entry.file_name().to_bytes();
                if name != b"." && name != b".." {
                    names.push(name.to_vec());
                }
            }
            names.sort();
            for name in names {
                let name = std::ffi::OsStr::from_bytes(&name);
                let child = openat(
                    &dir,
                    name,
                    OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                    Mode::empty(),
                )
                .with_context(|| format!("cannot open {}", rel.join(name).display()))?;
                walk_fd(child, &rel.join(name), sink)?;
            }
        }
        FileType::RegularFile => {
            // An O_PATH descriptor cannot be read: reopen the very same file through procfs.
            let mut f = File::open(format!(
                "/proc/self/fd/{}",
                std::os::fd::AsRawFd::as_raw_fd(&fd)
            ))
            .with_context(|| format!("cannot open {}", rel.display()))?;
            sink.file(rel, &meta, st.st_size as u64, &mut f)?;
        }
        FileType::Symlink => {
            let target = readlinkat(&fd, "", Vec::new())
                .with_context(|| format!("cannot read {}", rel.display()))?;
            let target = PathBuf::from(std::ffi::OsStr::from_bytes(target.as_bytes()));
            sink.symlink(rel, &target, &meta)?;
        }
        _ => skipped(rel),
    }
    Ok(())
}

/// Writes into a directory inside a container's root.
pub struct RootSink {
    /// The directory `rel` paths start from (opened inside the container's root).
    pub base: OwnedFd,
    /// The owner of what is written; `None` keeps the source's (`--archive`).
    pub owner: Option<(u32, u32)>,
}

/// The single name of each component of `rel`; an absolute path, `..` or `.` is refused.
fn names(rel: &Path) -> anyhow::Result<Vec<&std::ffi::OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => bail!(
                "refusing the path {}: it leaves its directory",
                rel.display()
            ),
        })
        .collect()
}

impl RootSink {
    /// The directory holding `rel` (opened one name at a time, never through a symlink),
    /// and `rel`'s last name.
    fn parent<'a>(&self, rel: &'a Path) -> anyhow::Result<(OwnedFd, &'a std::ffi::OsStr)> {
        let parts = names(rel)?;
        let (last, dirs) = parts.split_last().context("empty path")?;
        let mut dir = openat(
            &self.base,
            ".",
            OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        for d in dirs {
            dir = openat(
                &dir,
                *d,
                OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .with_context(|| format!("cannot open the directory of {}", rel.display()))?;
        }
        Ok((dir, last))
    }

    fn ids(&self, meta: &Meta) -> (Uid, Gid) {
        let (u, g) = self.owner.unwrap_or((meta.uid, meta.gid));
        (Uid::from_raw(u), Gid::from_raw(g))
    }

    /// Removes what stands where a non-directory goes.
    fn clear(dir: &OwnedFd, name: &std::ffi::OsStr, rel: &Path) -> anyhow::Result<()> {
        match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) if FileType::from_raw_mode(st.st_mode) == FileType::Directory => bail!(
                "cannot overwrite directory {} with a non-directory",
                rel.display()
            ),
            Ok(_) => unlinkat(dir, name, AtFlags::empty())
                .with_context(|| format!("cannot replace {}", rel.display())),
            Err(_) => Ok(()),
        }
    }
}

impl Sink for RootSink {
    fn dir(&mut self, rel: &Path, meta: &Meta) -> anyhow::Result<()> {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let (parent, name) = self.parent(rel)?;
        match mkdirat(&parent, name, Mode::from_raw_mode(meta.mode)) {
            Ok(()) => {}
            Err(rustix::io::Errno::EXIST) => {}
            Err(e) => return Err(e).with_context(|| format!("cannot create {}", rel.display())),
        }
        let dir = openat(
            &parent,
            name,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .with_context(|| {
            format!(
                "cannot overwrite non-directory {} with a directory",
                rel.display()
            )
        })?;
        fchmod(&dir, Mode::from_raw_mode(meta.mode))
            .with_context(|| format!("cannot set the mode of {}", rel.display()))?;
        let (u, g) = self.ids(meta);
        fchown(&dir, Some(u), Some(g))
            .with_context(|| format!("cannot change the owner of {}", rel.display()))?;
        Ok(())
    }

    fn file(&mut self, rel: &Path, meta: &Meta, _: u64, data: &mut dyn Read) -> anyhow::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Self::clear(&parent, name, rel)?;
        let fd = openat(
            &parent,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(meta.mode),
        )
        .with_context(|| format!("cannot create {}", rel.display()))?;
        let mut f = File::from(fd);
        std::io::copy(data, &mut f).with_context(|| format!("cannot write {}", rel.display()))?;
        f.flush()?;
        fchmod(&f, Mode::from_raw_mode(meta.mode))
            .with_context(|| format!("cannot set the mode of {}", rel.display()))?;
        let (u, g) = self.ids(meta);
        fchown(&f, Some(u), Some(g))
            .with_context(|| format!("cannot change the owner of {}", rel.display()))?;
        let t = rustix::fs::Timespec {
            tv_sec: meta.mtime.0,
            tv_nsec: meta.mtime.1 as _,
        };
        let _ = futimens(
            &f,
            &Timestamps {
                last_access: t,
                last_modification: t,
            },
        );
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> anyhow::Result<()> {
        let (parent, name) = self.parent(rel)?;
        Self::clear(&parent, name, rel)?;
        symlinkat(target, &parent, name)
            .with_context(|| format!("cannot create {}", rel.display()))?;
        let (u, g) = self.ids(meta);
        chownat(&parent, name, Some(u), Some(g), AtFlags::SYMLINK_NOFOLLOW)
            .with_context(|| format!("cannot change the owner of {}", rel.display()))?;
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------
// Tar streams (`-`).

/// Writes a tar stream.
pub struct TarSink<W: Write> {
    /// The archive being written.
    pub builder: tar::Builder<W>,
}

fn header(meta: &Meta, kind: tar::EntryType, size: u64) -> tar::Header {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(kind);
    h.set_mode(meta.mode);
    h.set_uid(u64::from(meta.uid));
    h.set_gid(u64::from(meta.gid));
    h.set_mtime(meta.mtime.0.max(0) as u64);
    h.set_size(size);
    h
}

impl<W: Write> Sink for TarSink<W> {
    fn dir(&mut self, rel: &Path, meta: &Meta) -> anyhow::Result<()> {
        if rel.as_os_str().is_empty() {
            return Ok(());
        }
        let mut h = header(meta, tar::EntryType::Directory, 0);
        self.builder
            .append_data(&mut h, rel, std::io::empty())
            .context("cannot write the archive")
    }

    fn file(
        &mut self,
        rel: &Path,
        meta: &Meta,
        size: u64,
        data: &mut dyn Read,
    ) -> anyhow::Result<()> {
        let mut h = header(meta, tar::EntryType::Regular, size);
        // Exactly `size` bytes, even if the file changes meanwhile.
        let mut exact = data.take(size).chain(std::io::repeat(0)).take(size);
        self.builder
            .append_data(&mut h, rel, &mut exact)
            .context("cannot write the archive")
    }

    fn symlink(&mut self, rel: &Path, target: &Path, meta: &Meta) -> anyhow::Result<()> {
        let mut h = header(meta, tar::EntryType::Symlink, 0);
        self.builder
            .append_link(&mut h, rel, target)
            .context("cannot write the archive")
    }
}

/// Reads a tar stream into `sink`.
pub fn walk_tar(input: impl Read, sink: &mut dyn Sink) -> anyhow::Result<()> {
    let mut archive = tar::Archive::new(input);
    for entry in archive.entries().context("cannot read the archive")? {
        let mut entry = entry.context("cannot read the archive")?;
        let path = entry
            .path()
            .context("bad path in the archive")?
            .into_owned();
        // Leading `/` and `./` are dropped, as tar does; `..` is refused by the sink.
        let rel: PathBuf = path
            .components()
            .filter(|c| !matches!(c, Component::RootDir | Component::CurDir))
            .collect();
        let h = entry.header();
        let meta = Meta {
            mode: h.mode().unwrap_or(0o644) & 0o7777,
            uid: h.uid().unwrap_or(0) as u32,
            gid: h.gid().unwrap_or(0) as u32,
            mtime: (h.mtime().unwrap_or(0) as i64, 0),
        };
        match h.entry_type() {
            tar::EntryType::Directory => sink.dir(&rel, &meta)?,
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                let size = entry.size();
                sink.file(&rel, &meta, size, &mut entry)?
            }
            tar::EntryType::Symlink => {
                let target = entry
                    .link_name()
                    .context("bad link in the archive")?
                    .context("a symbolic link without a target")?
                    .into_owned();
                sink.symlink(&rel, &target, &meta)?
            }
            _ => skipped(&rel),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsFd;

    /// Copies host tree → tar → a directory opened as a container root would be.
    #[test]
    fn trees_go_through_tar_and_stay_inside_the_root() {
        let src = tempfile::tempdir().unwrap();
        std::fs::create_dir(src.path().join("d")).unwrap();
        std::fs::write(src.path().join("d/f.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", src.path().join("d/link")).unwrap();
        let mut tar = TarSink {
            builder: tar::Builder::new(Vec::new()),
        };
        walk_host(&src.path().join("d"), Path::new("d"), false, &mut tar).unwrap();
        let bytes = tar.builder.into_inner().unwrap();

        let root = tempfile::tempdir().unwrap();
        let root_fd = File::open(root.path()).unwrap();
        let base = open_in_root(root_fd.as_fd(), Path::new("/"), true).unwrap();
        let mut sink = RootSink { base, owner: None };
        walk_tar(&bytes[..], &mut sink).unwrap();
        assert_eq!(
            std::fs::read_to_string(root.path().join("d/f.txt")).unwrap(),
            "hello"
        );
        assert_eq!(
            std::fs::read_link(root.path().join("d/link")).unwrap(),
            Path::new("/etc/passwd")
        );
        // Writing through the link stays in the root: the link is replaced, not followed.
        let mut sink = RootSink {
            base: open_in_root(root_fd.as_fd(), Path::new("/"), true).unwrap(),
            owner: Some((0, 0)),
        };
        let meta = Meta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: (0, 0),
        };
        sink.file(Path::new("d/link"), &meta, 1, &mut &b"x"[..])
            .unwrap();
        assert!(
            std::fs::symlink_metadata(root.path().join("d/link"))
                .unwrap()
                .is_file()
        );
        assert!(
            sink.file(Path::new("../x"), &meta, 1, &mut &b"x"[..])
                .is_err()
        );
        // An absolute link resolves inside the root.
        std::os::unix::fs::symlink("/d", root.path().join("abs")).unwrap();
        let fd = open_in_root(root_fd.as_fd(), Path::new("abs/f.txt"), false).unwrap();
        let mut out = HostSink {
            base: src.path().to_path_buf(),
            archive: false,
        };
        walk_fd(fd, Path::new("copy.txt"), &mut out).unwrap();
        assert_eq!(
            std::fs::read_to_string(src.path().join("copy.txt")).unwrap(),
            "hello"
        );
    }
}
