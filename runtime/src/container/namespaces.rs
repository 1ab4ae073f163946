//! Linux namespaces of a container: which are new, which are joined from a path.
//!
//! The spec lists namespaces by type; a type with a `path` is joined (`setns`), one without is
//! created. A type that is absent is shared with the runtime (the host). The user namespace, when
//! new, is created first and mapped by the parent; the others are created by the `clone` that
//! makes the container's init (the pid namespace can only be entered by a child).

use super::syscall::{Syscall, SyscallError};
use nix::sched::CloneFlags;
use oci_spec::runtime::{LinuxNamespaceType, Spec};
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

/// What is wrong with the namespaces of a spec, or with joining them.
#[derive(Debug, thiserror::Error)]
pub enum NamespaceError {
    /// The same type is listed twice.
    #[error("linux.namespaces lists the {0} namespace twice")]
    Duplicate(&'static str),
    /// A type berth cannot create or join.
    #[error("linux.namespaces: the {0} namespace is not supported by berth")]
    Unsupported(&'static str),
    /// A new user namespace without id mappings.
    #[error("a new user namespace needs linux.uidMappings and linux.gidMappings")]
    MissingMappings,
    /// A namespace path that cannot be opened.
    #[error("cannot open the {kind} namespace at {path}: {source}")]
    Open {
        /// The namespace type.
        kind: &'static str,
        /// The path from the spec.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A failed `setns` or `unshare`.
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

/// The kernel's name of a namespace type (as in /proc/PID/ns/NAME).
pub fn ns_name(kind: LinuxNamespaceType) -> &'static str {
    match kind {
        LinuxNamespaceType::Mount => "mnt",
        LinuxNamespaceType::Cgroup => "cgroup",
        LinuxNamespaceType::Uts => "uts",
        LinuxNamespaceType::Ipc => "ipc",
        LinuxNamespaceType::User => "user",
        LinuxNamespaceType::Pid => "pid",
        LinuxNamespaceType::Network => "net",
        LinuxNamespaceType::Time => "time",
    }
}

/// The `CLONE_NEW*` flag of a namespace type.
pub fn clone_flag(kind: LinuxNamespaceType) -> CloneFlags {
    match kind {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        // CLONE_NEWTIME shares its bit with CSIGNAL in clone(2); it is refused before use.
        LinuxNamespaceType::Time => CloneFlags::empty(),
    }
}

/// The order in which joined namespaces are entered: the user namespace first (it grants the
/// rights to join the others), the mount namespace last (paths are opened before any join).
const JOIN_ORDER: [LinuxNamespaceType; 7] = [
    LinuxNamespaceType::User,
    LinuxNamespaceType::Ipc,
    LinuxNamespaceType::Uts,
    LinuxNamespaceType::Network,
    LinuxNamespaceType::Pid,
    LinuxNamespaceType::Cgroup,
    LinuxNamespaceType::Mount,
];

/// The namespaces of one container, read from its spec.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Namespaces {
    /// Types to create, as kernel names (`mnt`, `pid`, ...).
    new: Vec<String>,
    /// Types to join, with the path of the namespace file.
    join: Vec<(String, PathBuf)>,
}

fn kind_from_name(name: &str) -> Option<LinuxNamespaceType> {
    JOIN_ORDER.into_iter().find(|k| ns_name(*k) == name)
}

impl Namespaces {
    /// Reads `linux.namespaces` of `spec`.
    pub fn from_spec(spec: &Spec) -> Result<Self, NamespaceError> {
        let mut out = Namespaces::default();
        let list = spec
            .linux()
            .as_ref()
            .and_then(|l| l.namespaces().clone())
            .unwrap_or_default();
        let mut seen = Vec::new();
        for ns in &list {
            let kind = ns.typ();
            let name = ns_name(kind);
            if seen.contains(&name) {
                return Err(NamespaceError::Duplicate(name));
            }
            seen.push(name);
            if kind == LinuxNamespaceType::Time {
                return Err(NamespaceError::Unsupported("time"));
            }
            match ns.path() {
                Some(path) if !path.as_os_str().is_empty() => {
                    out.join.push((name.to_string(), path.clone()))
                }
                _ => out.new.push(name.to_string()),
            }
        }
        if out.is_new(LinuxNamespaceType::User) {
            let linux = spec.linux().as_ref();
            let uids = linux
                .and_then(|l| l.uid_mappings().as_ref())
                .is_some_and(|m| !m.is_empty());
            let gids = linux
                .and_then(|l| l.gid_mappings().as_ref())
                .is_some_and(|m| !m.is_empty());
            if !uids || !gids {
                return Err(NamespaceError::MissingMappings);
            }
        }
        Ok(out)
    }

    /// Whether the container gets a new namespace of this type.
    pub fn is_new(&self, kind: LinuxNamespaceType) -> bool {
        self.new.iter().any(|n| n == ns_name(kind))
    }

    /// The path of the namespace of this type that the container joins, if any.
    pub fn joined(&self, kind: LinuxNamespaceType) -> Option<&Path> {
        self.join
            .iter()
            .find(|(n, _)| n == ns_name(kind))
            .map(|(_, p)| p.as_path())
    }

    /// Whether the container shares the runtime's namespace of this type (neither new nor joined).
    pub fn is_host(&self, kind: LinuxNamespaceType) -> bool {
        !self.is_new(kind) && self.joined(kind).is_none()
    }

    /// Flags for the `clone` that creates the init: every new namespace except the user one,
    /// which is created (and mapped) before.
    pub fn clone_flags(&self) -> CloneFlags {
        self.new
            .iter()
            .filter_map(|n| kind_from_name(n))
            .filter(|k| *k != LinuxNamespaceType::User)
            .fold(CloneFlags::empty(), |acc, k| acc | clone_flag(k))
    }

    /// Opens every namespace to join, in join order. Done before any `setns`, because joining
    /// a mount namespace changes what the later paths mean.
    pub fn open_joined(
        &self,
    ) -> Result<Vec<(LinuxNamespaceType, PathBuf, OwnedFd)>, NamespaceError> {
        let mut out = Vec::new();
        for kind in JOIN_ORDER {
            if let Some(path) = self.joined(kind) {
                let file = std::fs::File::open(path).map_err(|source| NamespaceError::Open {
                    kind: ns_name(kind),
                    path: path.to_path_buf(),
                    source,
                })?;
                out.push((kind, path.to_path_buf(), OwnedFd::from(file)));
            }
        }
        Ok(out)
    }

    /// Joins the namespaces opened by [`Namespaces::open_joined`].
    pub fn join(
        sys: &dyn Syscall,
        opened: &[(LinuxNamespaceType, PathBuf, OwnedFd)],
    ) -> Result<(), NamespaceError> {
        for (kind, path, fd) in opened {
            sys.setns(fd.as_fd(), clone_flag(*kind), path)?;
        }
        Ok(())
    }

    /// The namespaces of a running process, to join them all (exec): every type whose
    /// /proc/PID/ns link differs from the runtime's own.
    pub fn of_process(pid: i32) -> Result<Self, NamespaceError> {
        let mut out = Namespaces::default();
        for kind in JOIN_ORDER {
            let name = ns_name(kind);
            let theirs = PathBuf::from(format!("/proc/{pid}/ns/{name}"));
            let target = std::fs::read_link(&theirs).map_err(|source| NamespaceError::Open {
                kind: name,
                path: theirs.clone(),
                source,
            })?;
            let ours = std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
            if ours.as_ref() != Some(&target) {
                out.join.push((name.to_string(), theirs));
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::{
        LinuxBuilder, LinuxIdMappingBuilder, LinuxNamespaceBuilder, SpecBuilder,
    };

    fn spec(list: Vec<(LinuxNamespaceType, Option<&str>)>) -> Spec {
        let namespaces = list
            .into_iter()
            .map(|(typ, path)| {
                let mut b = LinuxNamespaceBuilder::default().typ(typ);
                if let Some(p) = path {
                    b = b.path(PathBuf::from(p));
                }
                b.build().unwrap()
            })
            .collect::<Vec<_>>();
        SpecBuilder::default()
            .linux(
                LinuxBuilder::default()
                    .namespaces(namespaces)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap()
    }

    #[test]
    fn new_and_joined_namespaces_are_told_apart() {
        let ns = Namespaces::from_spec(&spec(vec![
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Mount, None),
            (LinuxNamespaceType::Network, Some("/run/netns/x")),
        ]))
        .unwrap();
        assert!(ns.is_new(LinuxNamespaceType::Pid));
        assert_eq!(
            ns.joined(LinuxNamespaceType::Network),
            Some(Path::new("/run/netns/x"))
        );
        assert!(ns.is_host(LinuxNamespaceType::Uts));
        assert_eq!(
            ns.clone_flags(),
            CloneFlags::CLONE_NEWPID | CloneFlags::CLONE_NEWNS
        );
    }

    #[test]
    fn duplicates_time_and_unmapped_user_are_refused() {
        let dup = Namespaces::from_spec(&spec(vec![
            (LinuxNamespaceType::Pid, None),
            (LinuxNamespaceType::Pid, None),
        ]));
        assert!(matches!(dup, Err(NamespaceError::Duplicate("pid"))));
        let time = Namespaces::from_spec(&spec(vec![(LinuxNamespaceType::Time, None)]));
        assert!(matches!(time, Err(NamespaceError::Unsupported("time"))));
        let user = Namespaces::from_spec(&spec(vec![(LinuxNamespaceType::User, None)]));
        assert!(matches!(user, Err(NamespaceError::MissingMappings)));
    }

    #[test]
    fn user_namespace_with_mappings_is_not_in_clone_flags() {
        let mut s = spec(vec![
            (LinuxNamespaceType::User, None),
            (LinuxNamespaceType::Uts, None),
        ]);
        let map = LinuxIdMappingBuilder::default()
            .host_id(100000u32)
            .container_id(0u32)
            .size(65536u32)
            .build()
            .unwrap();
        let linux = s.linux_mut().as_mut().unwrap();
        linux.set_uid_mappings(Some(vec![map]));
        linux.set_gid_mappings(Some(vec![map]));
        let ns = Namespaces::from_spec(&s).unwrap();
        assert!(ns.is_new(LinuxNamespaceType::User));
        assert_eq!(ns.clone_flags(), CloneFlags::CLONE_NEWUTS);
    }

    #[test]
    fn joins_happen_user_first_mount_last() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a");
        let b = dir.path().join("b");
        let c = dir.path().join("c");
        for p in [&a, &b, &c] {
            std::fs::write(p, "").unwrap();
        }
        let ns = Namespaces::from_spec(&spec(vec![
            (LinuxNamespaceType::Mount, Some(a.to_str().unwrap())),
            (LinuxNamespaceType::Network, Some(b.to_str().unwrap())),
            (LinuxNamespaceType::User, Some(c.to_str().unwrap())),
        ]))
        .unwrap();
        let opened = ns.open_joined().unwrap();
        let sys = RecordingSyscall::new();
        Namespaces::join(&sys, &opened).unwrap();
        let order: Vec<CloneFlags> = sys
            .calls()
            .into_iter()
            .map(|c| match c {
                Call::Setns { nstype, .. } => nstype,
                other => panic!("unexpected {other:?}"),
            })
            .collect();
        assert_eq!(
            order,
            vec![
                CloneFlags::CLONE_NEWUSER,
                CloneFlags::CLONE_NEWNET,
                CloneFlags::CLONE_NEWNS
            ]
        );
    }

    #[test]
    fn a_missing_namespace_path_is_an_error_naming_it() {
        let ns = Namespaces::from_spec(&spec(vec![(
            LinuxNamespaceType::Network,
            Some("/nonexistent/netns"),
        )]))
        .unwrap();
        let err = ns.open_joined().unwrap_err().to_string();
        assert!(err.contains("net namespace at /nonexistent/netns"), "{err}");
    }
}
