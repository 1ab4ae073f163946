//! `volumes_from`: a container gets the volumes and binds of another one (a service's
//! container or a named container), read-write or read-only as asked.

use crate::error::{Result, VolumeError};
use crate::mounts::{Mount, Origin};

/// Whose mounts to take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A service of the project (its first container).
    Service(String),
    /// A container by name (`container:NAME`).
    Container(String),
}

/// One `volumes_from` entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    /// Whose mounts.
    pub source: Source,
    /// `Some(true)` for `:ro`, `Some(false)` for `:rw`, `None` to keep each mount's mode.
    pub read_only: Option<bool>,
}

impl VolumesFrom {
    /// Parses `service`, `service:ro`, `container:name`, `container:name:rw`.
    pub fn parse(spec: &str) -> Result<VolumesFrom> {
        let bad = |reason: &str| VolumeError::InvalidSpec {
            what: "volumes_from",
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (container, rest) = match spec.strip_prefix("container:") {
            Some(rest) => (true, rest),
            None => (false, spec),
        };
        let (name, mode) = match rest.rsplit_once(':') {
            Some((name, mode @ ("ro" | "rw"))) => (name, Some(mode == "ro")),
            Some(_) => return Err(bad("the mode must be ro or rw")),
            None => (rest, None),
        };
        if name.is_empty() {
            return Err(bad("a service or container name is required"));
        }
        let source = if container {
            Source::Container(name.to_owned())
        } else {
            Source::Service(name.to_owned())
        };
        Ok(VolumesFrom {
            source,
            read_only: mode,
        })
    }

    /// The mounts inherited from a container whose mounts are `from`: its volumes and binds
    /// (not its tmpfs, configs or secrets, as Docker), with this entry's mode.
    pub fn inherit(&self, from: &[Mount]) -> Vec<Mount> {
        from.iter()
            .filter(|m| matches!(m.origin, Origin::Volume(_) | Origin::Bind))
            .map(|m| {
                let ro = self.read_only.unwrap_or(m.read_only);
                m.clone().read_only(ro)
            })
            .collect()
    }
}

/// Adds `inherited` mounts to a container's `own`, except at targets it mounts itself.
pub fn merge(own: &mut Vec<Mount>, inherited: Vec<Mount>) {
    for m in inherited {
        if !own.iter().any(|o| o.target == m.target) {
            own.push(m);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_entries() {
        let v = VolumesFrom::parse("db:ro").unwrap();
        assert_eq!(v.source, Source::Service("db".into()));
        assert_eq!(v.read_only, Some(true));
        let c = VolumesFrom::parse("container:app-data").unwrap();
        assert_eq!(c.source, Source::Container("app-data".into()));
        assert_eq!(c.read_only, None);
        assert!(VolumesFrom::parse("db:xx").is_err());
        assert!(VolumesFrom::parse("container:").is_err());
    }

    #[test]
    fn inherits_volumes_and_binds_only() {
        let from = vec![
            Mount::volume("p_data", "/v/p_data/_data", "/data"),
            Mount::bind("/srv", "/srv").read_only(true),
            Mount::tmpfs("/tmp"),
        ];
        let got = VolumesFrom::parse("db:rw").unwrap().inherit(&from);
        assert_eq!(got.len(), 2);
        assert!(got.iter().all(|m| !m.read_only));
        let mut own = vec![Mount::bind("/x", "/data")];
        merge(&mut own, got);
        assert_eq!(own.len(), 2);
        assert_eq!(own[0].source, std::path::PathBuf::from("/x"));
    }
}
