//! Capabilities: Docker's default set with `cap_add`/`cap_drop`/`privileged` (to fill a spec),
//! and applying the five sets of a spec to the container's process.

use super::syscall::{CapKind, Syscall, SyscallError};
use caps::{CapSet, Capability, CapsHashSet};
use oci_spec::runtime::{
    Capabilities as OciCaps, Capability as OciCap, LinuxCapabilities, LinuxCapabilitiesBuilder,
};
use std::str::FromStr;

/// Docker's default capability set (moby's `DefaultCapabilities`).
pub const DOCKER_DEFAULT_CAPABILITIES: [&str; 14] = [
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_FSETID",
    "CAP_FOWNER",
    "CAP_MKNOD",
    "CAP_NET_RAW",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETFCAP",
    "CAP_SETPCAP",
    "CAP_NET_BIND_SERVICE",
    "CAP_SYS_CHROOT",
    "CAP_KILL",
    "CAP_AUDIT_WRITE",
];

/// Why a capability set cannot be built or applied.
#[derive(Debug, thiserror::Error)]
pub enum CapabilityError {
    /// A name that is no capability.
    #[error("unknown capability: {0:?}")]
    Unknown(String),
    /// A capability the runtime itself does not have, so cannot give.
    #[error(
        "capability {0} is requested, but berth's own bounding set lacks it, so no container can have it"
    )]
    Unavailable(String),
    /// Applying failed.
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

/// Normalizes a capability name as Docker does: case-insensitive, `CAP_` optional, `ALL`.
pub fn normalize(name: &str) -> Result<String, CapabilityError> {
    let upper = name.trim().to_ascii_uppercase();
    if upper == "ALL" {
        return Ok(upper);
    }
    let full = if upper.starts_with("CAP_") {
        upper
    } else {
        format!("CAP_{upper}")
    };
    Capability::from_str(&full).map_err(|_| CapabilityError::Unknown(name.to_string()))?;
    Ok(full)
}

/// Docker's capability computation (moby `TweakCapabilities` and `SetCapabilities`).
///
/// `available` is every capability the runtime can grant (its own bounding set): `privileged`
/// and `cap_add: [ALL]` mean all of those. A root process gets the set as bounding, effective
/// and permitted; another user gets it as bounding only, which is what execve would leave it.
pub fn docker_capabilities(
    add: &[String],
    drop: &[String],
    privileged: bool,
    uid: u32,
    available: &CapsHashSet,
) -> Result<LinuxCapabilities, CapabilityError> {
    let mut all: Vec<String> = available.iter().map(|c| c.to_string()).collect();
    all.sort_by_key(|n| {
        Capability::from_str(n)
            .map(|c| c.index())
            .unwrap_or(u8::MAX)
    });
    let add = add
        .iter()
        .map(|a| normalize(a))
        .collect::<Result<Vec<_>, _>>()?;
    let drop = drop
        .iter()
        .map(|d| normalize(d))
        .collect::<Result<Vec<_>, _>>()?;
    let has = |v: &[String], c: &str| v.iter().any(|x| x == c);
    let list: Vec<String> = if privileged {
        all
    } else if add.is_empty() && drop.is_empty() {
        DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .collect()
    } else if has(&add, "ALL") {
        all.into_iter().filter(|c| !has(&drop, c)).collect()
    } else if has(&drop, "ALL") {
        let mut out = Vec::new();
        for c in add {
            if !has(&out, &c) {
                out.push(c);
            }
        }
        out
    } else {
        let mut out: Vec<String> = DOCKER_DEFAULT_CAPABILITIES
            .iter()
            .map(|s| s.to_string())
            .filter(|c| !has(&drop, c))
            .collect();
        for c in add {
            if !has(&out, &c) {
                out.push(c);
            }
        }
        out
    };
    let set: OciCaps = list.iter().map(|n| to_oci(n)).collect::<Result<_, _>>()?;
    let mut b = LinuxCapabilitiesBuilder::default().bounding(set.clone());
    if uid == 0 {
        b = b.effective(set.clone()).permitted(set);
    } else {
        b = b.effective(OciCaps::new()).permitted(OciCaps::new());
    }
    b.inheritable(OciCaps::new())
        .ambient(OciCaps::new())
        .build()
        .map_err(|e| CapabilityError::Unknown(e.to_string()))
}

fn to_oci(name: &str) -> Result<OciCap, CapabilityError> {
    let short = name.strip_prefix("CAP_").unwrap_or(name);
    OciCap::from_str(short).map_err(|_| CapabilityError::Unknown(name.to_string()))
}

fn from_oci(c: &OciCap) -> Result<Capability, CapabilityError> {
    let name = format!("CAP_{c}");
    Capability::from_str(&name).map_err(|_| CapabilityError::Unknown(name))
}

/// The capability sets of a process, checked against what the runtime can grant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CapabilityPlan {
    /// Bounding set.
    pub bounding: CapsHashSet,
    /// Effective set.
    pub effective: CapsHashSet,
    /// Permitted set.
    pub permitted: CapsHashSet,
    /// Inheritable set.
    pub inheritable: CapsHashSet,
    /// Ambient set.
    pub ambient: CapsHashSet,
}

impl CapabilityPlan {
    /// Reads the spec's sets (absent sets are empty: a spec without capabilities gets none).
    pub fn from_spec(
        caps: Option<&LinuxCapabilities>,
        available: &CapsHashSet,
    ) -> Result<Self, CapabilityError> {
        let convert = |set: Option<&OciCaps>| -> Result<CapsHashSet, CapabilityError> {
            let mut out = CapsHashSet::new();
            for c in set.into_iter().flatten() {
                let cap = from_oci(c)?;
                if !available.contains(&cap) {
                    return Err(CapabilityError::Unavailable(cap.to_string()));
                }
                out.insert(cap);
            }
            Ok(out)
        };
        let Some(c) = caps else {
            return Ok(Self::default());
        };
        Ok(CapabilityPlan {
            bounding: convert(c.bounding().as_ref())?,
            effective: convert(c.effective().as_ref())?,
            permitted: convert(c.permitted().as_ref())?,
            inheritable: convert(c.inheritable().as_ref())?,
            ambient: convert(c.ambient().as_ref())?,
        })
    }

    /// Drops from the bounding set every capability of `current` the plan does not keep.
    /// Done while still root, before the user switch.
    pub fn drop_bounding(
        &self,
        sys: &dyn Syscall,
        current: &CapsHashSet,
    ) -> Result<(), CapabilityError> {
        let mut drop: Vec<Capability> = current.difference(&self.bounding).copied().collect();
        drop.sort_by_key(|c| c.index());
        for cap in drop {
            sys.drop_bounding_cap(cap)?;
        }
        Ok(())
    }

    /// Sets the inheritable, effective, permitted and ambient sets, after the user switch.
    /// Inheritable goes first, while the old permitted set still allows any value.
    pub fn apply(&self, sys: &dyn Syscall) -> Result<(), CapabilityError> {
        sys.set_caps(CapKind::Inheritable, &self.inheritable)?;
        sys.set_caps(CapKind::Effective, &self.effective)?;
        sys.set_caps(CapKind::Permitted, &self.permitted)?;
        sys.set_caps(CapKind::Ambient, &self.ambient)?;
        Ok(())
    }

    /// Whether the process keeps `cap` in its bounding set (seccomp's rules depend on it).
    pub fn has(&self, cap: Capability) -> bool {
        self.bounding.contains(&cap) || self.effective.contains(&cap)
    }
}

/// The capabilities the runtime itself may grant: its bounding set.
pub fn available() -> CapsHashSet {
    caps::read(None, CapSet::Bounding).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};

    fn names(set: &Option<OciCaps>) -> Vec<String> {
        let mut v: Vec<String> = set.iter().flatten().map(|c| format!("CAP_{c}")).collect();
        v.sort();
        v
    }

    fn everything() -> CapsHashSet {
        caps::all()
    }

    fn sorted(v: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn default_set_is_dockers_fourteen() {
        let c = docker_capabilities(&[], &[], false, 0, &everything()).unwrap();
        assert_eq!(names(c.bounding()), sorted(&DOCKER_DEFAULT_CAPABILITIES));
        assert_eq!(names(c.effective()), names(c.bounding()));
        assert!(names(c.inheritable()).is_empty());
    }

    #[test]
    fn non_root_users_get_bounding_only() {
        let c = docker_capabilities(&[], &[], false, 1000, &everything()).unwrap();
        assert_eq!(names(c.bounding()).len(), 14);
        assert!(names(c.effective()).is_empty() && names(c.permitted()).is_empty());
    }

    #[test]
    fn add_and_drop_follow_docker() {
        let c = docker_capabilities(
            &["net_admin".into()],
            &["CAP_CHOWN".into(), "mknod".into()],
            false,
            0,
            &everything(),
        )
        .unwrap();
        let n = names(c.bounding());
        assert!(n.contains(&"CAP_NET_ADMIN".to_string()));
        assert!(!n.contains(&"CAP_CHOWN".to_string()) && !n.contains(&"CAP_MKNOD".to_string()));
        assert_eq!(n.len(), 13);
        let c = docker_capabilities(&["kill".into()], &["ALL".into()], false, 0, &everything())
            .unwrap();
        assert_eq!(names(c.bounding()), ["CAP_KILL"]);
        let c = docker_capabilities(
            &["all".into()],
            &["sys_admin".into()],
            false,
            0,
            &everything(),
        )
        .unwrap();
        assert_eq!(names(c.bounding()).len(), everything().len() - 1);
        let e = docker_capabilities(&["CAP_FLY".into()], &[], false, 0, &everything()).unwrap_err();
        assert_eq!(e.to_string(), "unknown capability: \"CAP_FLY\"");
    }

    #[test]
    fn privileged_is_everything_the_runtime_has() {
        let mut avail = everything();
        avail.remove(&Capability::CAP_SYS_RESOURCE);
        let c = docker_capabilities(&[], &[], true, 0, &avail).unwrap();
        assert_eq!(names(c.bounding()).len(), avail.len());
        assert!(!names(c.bounding()).contains(&"CAP_SYS_RESOURCE".to_string()));
    }

    #[test]
    fn unavailable_capabilities_are_refused_by_name() {
        let c =
            docker_capabilities(&["SYS_RESOURCE".into()], &[], false, 0, &everything()).unwrap();
        let mut avail = everything();
        avail.remove(&Capability::CAP_SYS_RESOURCE);
        let e = CapabilityPlan::from_spec(Some(&c), &avail)
            .unwrap_err()
            .to_string();
        assert!(e.contains("CAP_SYS_RESOURCE"), "{e}");
    }

    #[test]
    fn bounding_drops_then_sets_in_safe_order() {
        let c = docker_capabilities(&[], &[], false, 0, &everything()).unwrap();
        let plan = CapabilityPlan::from_spec(Some(&c), &everything()).unwrap();
        let sys = RecordingSyscall::new();
        plan.drop_bounding(&sys, &everything()).unwrap();
        plan.apply(&sys).unwrap();
        let calls = sys.calls();
        let drops = calls
            .iter()
            .filter(|c| matches!(c, Call::DropBounding(_)))
            .count();
        assert_eq!(drops, everything().len() - 14);
        assert!(!calls.contains(&Call::DropBounding(Capability::CAP_CHOWN)));
        let sets: Vec<CapKind> = calls
            .iter()
            .filter_map(|c| match c {
                Call::SetCaps { set, .. } => Some(*set),
                _ => None,
            })
            .collect();
        assert_eq!(
            sets,
            [
                CapKind::Inheritable,
                CapKind::Effective,
                CapKind::Permitted,
                CapKind::Ambient
            ]
        );
    }
}
