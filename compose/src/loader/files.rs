//! Which compose files make up a project, found the way Docker Compose finds them.

use crate::error::{Error, ErrorKind, Result, Warning};
use std::path::{Path, PathBuf};

/// Default file names, in Docker Compose's order of preference.
pub const DEFAULT_FILE_NAMES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yml",
    "docker-compose.yaml",
];

/// Override files picked up automatically beside a default file.
pub const DEFAULT_OVERRIDE_NAMES: [&str; 4] = [
    "compose.override.yml",
    "compose.override.yaml",
    "docker-compose.override.yml",
    "docker-compose.override.yaml",
];

/// One compose file of the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSource {
    /// The name shown in messages: the path as found, or `-` for standard input.
    pub name: String,
    /// The absolute path, when the file is on disk.
    pub path: Option<PathBuf>,
    /// The text, when it was given rather than read (standard input).
    pub content: Option<String>,
}

impl ConfigSource {
    /// A file on disk.
    pub fn file(path: PathBuf) -> Self {
        ConfigSource {
            name: path.display().to_string(),
            path: Some(path),
            content: None,
        }
    }

    /// Text read from standard input.
    pub fn stdin(content: String) -> Self {
        ConfigSource {
            name: "-".into(),
            path: None,
            content: Some(content),
        }
    }

    /// The text of the file.
    pub fn read(&self) -> Result<String> {
        if let Some(c) = &self.content {
            return Ok(c.clone());
        }
        let path = self.path.as_deref().unwrap_or(Path::new(&self.name));
        std::fs::read_to_string(path).map_err(|e| {
            Error::new(
                ErrorKind::Io,
                format!("cannot read compose file {}: {e}", path.display()),
            )
        })
    }
}

/// Makes `p` absolute against `base` and removes `.` and `..` components lexically.
pub fn absolutize(base: &Path, p: &Path) -> PathBuf {
    let joined = if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    };
    let mut out = PathBuf::new();
    for c in joined.components() {
        match c {
            std::path::Component::ParentDir => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other.as_os_str()),
        }
    }
    out
}

/// Looks for a default compose file in `start` and its parents; returns the file found and
/// its override file, if any.
pub fn find_default_files(start: &Path, warnings: &mut Vec<Warning>) -> Result<Vec<PathBuf>> {
    let mut dir = Some(start.to_path_buf());
    while let Some(d) = dir {
        let found: Vec<PathBuf> = DEFAULT_FILE_NAMES
            .iter()
            .map(|n| d.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                warnings.push(Warning {
                    message: format!(
                        "Found multiple config files with supported names: {}\nUsing {}",
                        found
                            .iter()
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        first.display()
                    ),
                    location: None,
                });
            }
            let mut files = vec![first.clone()];
            let overrides: Vec<PathBuf> = DEFAULT_OVERRIDE_NAMES
                .iter()
                .map(|n| d.join(n))
                .filter(|p| p.is_file())
                .collect();
            if let Some(o) = overrides.first() {
                if overrides.len() > 1 {
                    warnings.push(Warning {
                        message: format!(
                            "Found multiple override files with supported names: {}\nUsing {}",
                            overrides
                                .iter()
                                .map(|p| p.display().to_string())
                                .collect::<Vec<_>>()
                                .join(", "),
                            o.display()
                        ),
                        location: None,
                    });
                }
                files.push(o.clone());
            }
            return Ok(files);
        }
        dir = d.parent().map(Path::to_path_buf);
    }
    Err(Error::new(
        ErrorKind::Io,
        "no configuration file provided: not found",
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_in_parent_directories_with_override() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("compose.yaml"), "services: {}\n").unwrap();
        std::fs::write(dir.path().join("compose.override.yaml"), "services: {}\n").unwrap();
        let sub = dir.path().join("a/b");
        std::fs::create_dir_all(&sub).unwrap();
        let mut w = Vec::new();
        let files = find_default_files(&sub, &mut w).unwrap();
        assert_eq!(
            files,
            vec![
                dir.path().join("compose.yaml"),
                dir.path().join("compose.override.yaml")
            ]
        );
        assert!(w.is_empty());
    }

    #[test]
    fn missing_files_are_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = Vec::new();
        let e = find_default_files(dir.path(), &mut w).unwrap_err();
        assert!(e.message.contains("no configuration file provided"));
    }

    #[test]
    fn absolutize_removes_dots() {
        assert_eq!(
            absolutize(Path::new("/a/b"), Path::new("../c/./d")),
            PathBuf::from("/a/c/d")
        );
    }
}
