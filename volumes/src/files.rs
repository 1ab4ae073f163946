//! Configs and secrets: their content (from a file, an environment value or inline content)
//! written into a per-container directory with the owner and mode asked for, then bind-mounted
//! read-only at their targets (`/run/secrets/<name>` and `/<name>` by default, as Docker
//! Compose). Copying rather than binding the source file lets `uid`, `gid` and `mode` apply
//! without touching the user's file.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use crate::error::{Result, VolumeError, io};
use crate::mounts::{Mount, Origin};

/// A config or a secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// `configs:`
    Config,
    /// `secrets:`
    Secret,
}

impl FileKind {
    fn as_str(self) -> &'static str {
        match self {
            FileKind::Config => "config",
            FileKind::Secret => "secret",
        }
    }
}

/// Where the content comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSource {
    /// `file:` (already resolved against the project directory).
    File(PathBuf),
    /// `environment:`: the variable and its value in the project's environment, if set.
    Environment {
        /// The variable's name.
        variable: String,
        /// Its value.
        value: Option<String>,
    },
    /// `content:` (configs).
    Content(Vec<u8>),
}

/// One config or secret of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileSpec {
    /// Config or secret.
    pub kind: FileKind,
    /// The name in the compose file.
    pub name: String,
    /// The content's origin.
    pub source: FileSource,
    /// The target in the container; `None` for the default, a relative secret target goes
    /// under `/run/secrets`.
    pub target: Option<PathBuf>,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// File mode (Docker Compose's default is 0444).
    pub mode: u32,
}

impl FileSpec {
    /// Where the file appears in the container.
    pub fn container_target(&self) -> PathBuf {
        match (&self.target, self.kind) {
            (Some(t), _) if t.is_absolute() => t.clone(),
            (Some(t), FileKind::Secret) => Path::new("/run/secrets").join(t),
            (Some(t), FileKind::Config) => Path::new("/").join(t),
            (None, FileKind::Secret) => Path::new("/run/secrets").join(&self.name),
            (None, FileKind::Config) => Path::new("/").join(&self.name),
        }
    }
}

/// Writes the file of `spec` under `dir` (the container's directory for them, made 0700 so
/// that only root on the host reads secrets) and returns its read-only bind mount.
pub fn materialize(dir: &Path, spec: &FileSpec) -> Result<Mount> {
    let fail = |reason: String| VolumeError::FileSource {
        kind: spec.kind.as_str(),
        name: spec.name.clone(),
        reason,
    };
    if spec.name.is_empty()
        || spec.name == "."
        || spec.name == ".."
        || spec.name.contains(['/', '\0'])
    {
        return Err(fail("the name cannot be used as a file name".to_owned()));
    }
    let content = match &spec.source {
        FileSource::Content(c) => c.clone(),
        FileSource::Environment { variable, value } => value
            .clone()
            .ok_or_else(|| fail(format!("environment variable {variable} is not set")))?
            .into_bytes(),
        FileSource::File(path) => {
            let meta = std::fs::metadata(path)
                .map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?;
            if !meta.is_file() {
                return Err(fail(format!("{} is not a regular file", path.display())));
            }
            std::fs::read(path).map_err(|e| fail(format!("cannot read {}: {e}", path.display())))?
        }
    };
    let sub = dir.join(format!("{}s", spec.kind.as_str()));
    for d in [dir, sub.as_path()] {
        std::fs::create_dir_all(d).map_err(io("creating", d))?;
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700))
            .map_err(io("changing the mode of", d))?;
    }
    let path = sub.join(&spec.name);
    let tmp = sub.join(format!(".{}.tmp{}", spec.name, std::process::id()));
    let write = || -> std::io::Result<()> {
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(&content)?;
        std::os::unix::fs::fchown(&f, Some(spec.uid), Some(spec.gid))?;
        // After chown, which would clear set-id bits.
        f.set_permissions(std::fs::Permissions::from_mode(spec.mode & 0o7777))?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| {
        let _ = std::fs::remove_file(&tmp);
        io("writing", &path)(e)
    })?;
    let origin = match spec.kind {
        FileKind::Config => Origin::Config,
        FileKind::Secret => Origin::Secret,
    };
    let mut mount = Mount::bind(&path, spec.container_target()).read_only(true);
    mount.recursive = false;
    mount.origin = origin;
    Ok(mount)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(kind: FileKind, target: Option<&str>) -> FileSpec {
        FileSpec {
            kind,
            name: "token".into(),
            source: FileSource::Content(b"x".to_vec()),
            target: target.map(PathBuf::from),
            uid: 0,
            gid: 0,
            mode: 0o444,
        }
    }

    #[test]
    fn targets_like_compose() {
        let t = |k, tg| spec(k, tg).container_target();
        assert_eq!(
            t(FileKind::Secret, None),
            PathBuf::from("/run/secrets/token")
        );
        assert_eq!(t(FileKind::Config, None), PathBuf::from("/token"));
        assert_eq!(
            t(FileKind::Secret, Some("a.txt")),
            PathBuf::from("/run/secrets/a.txt")
        );
        assert_eq!(
            t(FileKind::Config, Some("/etc/x.conf")),
            PathBuf::from("/etc/x.conf")
        );
    }
}
