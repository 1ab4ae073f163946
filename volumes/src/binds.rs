//! Bind sources: host paths relative to the project directory, checked before a container is
//! made. A missing source is created as a directory when asked (`create_host_path`, true for
//! the short syntax, as Docker Compose does), and is otherwise a clear error rather than the
//! runtime's bare ENOENT. A bind source is never deleted by berth.

use std::path::{Component, Path, PathBuf};

use crate::error::{Result, VolumeError, io};

/// The host path of bind source `source`: absolute as is, otherwise relative to
/// `project_dir`; `.` and `..` are folded lexically, as Docker Compose does.
pub fn resolve_source(project_dir: &Path, source: &Path) -> PathBuf {
    let joined = if source.is_absolute() {
        source.to_path_buf()
    } else {
        project_dir.join(source)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Checks bind source `source` and returns its host path; a missing one is created as a
/// directory (mode 0755, owned by the caller) when `create_host_path`, refused otherwise.
pub fn check_source(project_dir: &Path, source: &Path, create_host_path: bool) -> Result<PathBuf> {
    let path = resolve_source(project_dir, source);
    match std::fs::metadata(&path) {
        Ok(_) => Ok(path),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create_host_path {
                return Err(VolumeError::BindSourceMissing(path));
            }
            std::fs::create_dir_all(&path).map_err(io("creating the bind source", &path))?;
            Ok(path)
        }
        Err(e) => Err(io("checking the bind source", &path)(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_to_project() {
        let p = Path::new("/srv/app");
        assert_eq!(
            resolve_source(p, Path::new("./data")),
            PathBuf::from("/srv/app/data")
        );
        assert_eq!(
            resolve_source(p, Path::new("../shared/x")),
            PathBuf::from("/srv/shared/x")
        );
        assert_eq!(resolve_source(p, Path::new("/etc")), PathBuf::from("/etc"));
    }
}
