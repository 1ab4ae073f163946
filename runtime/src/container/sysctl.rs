//! Sysctls (`linux.sysctl`): only those the kernel keeps per namespace, and only when the
//! container has its own namespace of that kind. Anything else would change the host for every
//! container and is refused, saying why.

use super::namespaces::Namespaces;
use super::syscall::{Syscall, SyscallError};
use oci_spec::runtime::LinuxNamespaceType;
use std::collections::HashMap;
use std::path::PathBuf;

/// A refused or failed sysctl.
#[derive(Debug, thiserror::Error)]
pub enum SysctlError {
    /// A sysctl that is global to the kernel.
    #[error("sysctl {0:?} is not namespaced: setting it would change the host, so it is refused")]
    NotNamespaced(String),
    /// A namespaced sysctl whose namespace the container shares with the host.
    #[error(
        "sysctl {key:?} belongs to the {ns} namespace, which the container shares with the host"
    )]
    SharedNamespace {
        /// The sysctl.
        key: String,
        /// The namespace kind.
        ns: &'static str,
    },
    /// A malformed name.
    #[error("invalid sysctl name {0:?}")]
    Invalid(String),
    /// Writing the value failed.
    #[error("sysctl {key}={value}: {source}")]
    Write {
        /// The sysctl.
        key: String,
        /// The value.
        value: String,
        /// The failing call.
        source: SyscallError,
    },
}

/// IPC-namespaced sysctls (besides the `fs.mqueue.` family).
const IPC_SYSCTLS: [&str; 8] = [
    "kernel.msgmax",
    "kernel.msgmnb",
    "kernel.msgmni",
    "kernel.sem",
    "kernel.shmall",
    "kernel.shmmax",
    "kernel.shmmni",
    "kernel.shm_rmid_forced",
];

/// The namespace a sysctl belongs to, or `None` for a global one.
pub fn namespace_of(key: &str) -> Option<LinuxNamespaceType> {
    if IPC_SYSCTLS.contains(&key) || key.starts_with("fs.mqueue.") {
        Some(LinuxNamespaceType::Ipc)
    } else if key.starts_with("net.") {
        Some(LinuxNamespaceType::Network)
    } else if key == "kernel.domainname" || key == "kernel.hostname" {
        Some(LinuxNamespaceType::Uts)
    } else {
        None
    }
}

/// Checks every sysctl against the container's namespaces.
pub fn validate(sysctls: &HashMap<String, String>, ns: &Namespaces) -> Result<(), SysctlError> {
    let mut keys: Vec<&String> = sysctls.keys().collect();
    keys.sort();
    for key in keys {
        if key.is_empty() || key.contains('/') || key.split('.').any(|p| p.is_empty() || p == "..")
        {
            return Err(SysctlError::Invalid(key.clone()));
        }
        let kind = namespace_of(key).ok_or_else(|| SysctlError::NotNamespaced(key.clone()))?;
        if ns.is_host(kind) {
            return Err(SysctlError::SharedNamespace {
                key: key.clone(),
                ns: super::namespaces::ns_name(kind),
            });
        }
    }
    Ok(())
}

/// The /proc/sys file of a sysctl.
pub fn proc_path(key: &str) -> PathBuf {
    PathBuf::from("/proc/sys").join(key.replace('.', "/"))
}

/// Writes the sysctls (in the container, after pivot_root, before /proc/sys is read-only).
pub fn apply(sys: &dyn Syscall, sysctls: &HashMap<String, String>) -> Result<(), SysctlError> {
    let mut keys: Vec<&String> = sysctls.keys().collect();
    keys.sort();
    for key in keys {
        let value = &sysctls[key];
        sys.write_file(&proc_path(key), value.as_bytes())
            .map_err(|source| SysctlError::Write {
                key: key.clone(),
                value: value.clone(),
                source,
            })?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::{LinuxBuilder, LinuxNamespaceBuilder, SpecBuilder};

    fn ns(kinds: &[LinuxNamespaceType]) -> Namespaces {
        let list = kinds
            .iter()
            .map(|k| LinuxNamespaceBuilder::default().typ(*k).build().unwrap())
            .collect::<Vec<_>>();
        let spec = SpecBuilder::default()
            .linux(LinuxBuilder::default().namespaces(list).build().unwrap())
            .build()
            .unwrap();
        Namespaces::from_spec(&spec).unwrap()
    }

    fn map(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn namespaced_sysctls_pass_with_their_namespace() {
        let all = ns(&[
            LinuxNamespaceType::Ipc,
            LinuxNamespaceType::Network,
            LinuxNamespaceType::Uts,
        ]);
        validate(
            &map(&[
                ("net.ipv4.ip_forward", "1"),
                ("kernel.shmmax", "1"),
                ("fs.mqueue.msg_max", "20"),
            ]),
            &all,
        )
        .unwrap();
    }

    #[test]
    fn global_or_shared_sysctls_are_refused_clearly() {
        let all = ns(&[LinuxNamespaceType::Ipc, LinuxNamespaceType::Network]);
        let e = validate(&map(&[("vm.swappiness", "1")]), &all)
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "sysctl \"vm.swappiness\" is not namespaced: setting it would change the host, so it is refused"
        );
        let e = validate(
            &map(&[("net.core.somaxconn", "1")]),
            &ns(&[LinuxNamespaceType::Ipc]),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("net namespace"), "{e}");
        assert!(validate(&map(&[("net../x", "1")]), &all).is_err());
    }

    #[test]
    fn values_are_written_under_proc_sys() {
        let sys = RecordingSyscall::new();
        apply(&sys, &map(&[("net.ipv4.ip_forward", "1")])).unwrap();
        assert_eq!(
            sys.calls(),
            [Call::WriteFile {
                path: "/proc/sys/net/ipv4/ip_forward".into(),
                data: b"1".to_vec()
            }]
        );
    }
}
