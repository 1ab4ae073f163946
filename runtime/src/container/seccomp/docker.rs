//! Docker's seccomp profiles: the file format (`--security-opt seccomp=profile.json`), Docker's
//! default profile translated into Rust data, and the conversion of a profile into the spec's
//! `linux.seccomp` for one container (what moby's `setupSeccomp` does: entries are kept or
//! dropped by the container's capabilities, the architecture and the kernel version).

use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg, LinuxSeccompBuilder,
    LinuxSyscall, LinuxSyscallBuilder,
};
use std::path::Path;

/// A profile that cannot be read or used.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    /// The file cannot be read.
    #[error("seccomp profile {}: {source}", path.display())]
    Read {
        /// The file.
        path: std::path::PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a Docker seccomp profile.
    #[error("seccomp profile {origin}: {message}")]
    Parse {
        /// Where it came from.
        origin: String,
        /// What is wrong.
        message: String,
    },
}

/// Conditions on a profile entry (`includes` / `excludes`).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// Capabilities (`CAP_SYS_ADMIN`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub caps: Vec<String>,
    /// Architectures, in Go's names (`amd64`, `arm64`, `x86`, ...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub arches: Vec<String>,
    /// Minimum kernel version (`4.8`).
    #[serde(default, rename = "minKernel", skip_serializing_if = "Option::is_none")]
    pub min_kernel: Option<String>,
}

/// One entry of a profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileSyscall {
    /// Syscall names.
    #[serde(default)]
    pub names: Vec<String>,
    /// A single name (the older form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The action when the entry matches.
    pub action: Action,
    /// The errno for `SCMP_ACT_ERRNO`.
    #[serde(default, rename = "errnoRet", skip_serializing_if = "Option::is_none")]
    pub errno_ret: Option<u32>,
    /// Argument conditions (all must hold).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub args: Option<Vec<LinuxSeccompArg>>,
    /// Free text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Kept only when all hold.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Filter>,
    /// Dropped when any holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Filter>,
}

/// An architecture and those of its sub-architectures a filter also covers.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ArchMap {
    /// The architecture.
    pub architecture: Arch,
    /// Its sub-architectures.
    #[serde(default, rename = "subArchitectures")]
    pub sub_architectures: Option<Vec<Arch>>,
}

/// A Docker seccomp profile.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Profile {
    /// The action for syscalls no entry matches.
    #[serde(rename = "defaultAction")]
    pub default_action: Action,
    /// The errno of the default action.
    #[serde(
        default,
        rename = "defaultErrnoRet",
        skip_serializing_if = "Option::is_none"
    )]
    pub default_errno_ret: Option<u32>,
    /// Architectures (the older form of `archMap`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architectures: Option<Vec<Arch>>,
    /// Architectures with their sub-architectures.
    #[serde(default, rename = "archMap", skip_serializing_if = "Option::is_none")]
    pub arch_map: Option<Vec<ArchMap>>,
    /// The entries.
    #[serde(default)]
    pub syscalls: Vec<ProfileSyscall>,
}

impl Profile {
    /// Parses a profile file's content.
    pub fn parse(json: &str, origin: &str) -> Result<Profile, ProfileError> {
        let p: Profile = serde_json::from_str(json).map_err(|e| ProfileError::Parse {
            origin: origin.to_string(),
            message: e.to_string(),
        })?;
        if p.architectures.as_ref().is_some_and(|a| !a.is_empty())
            && p.arch_map.as_ref().is_some_and(|a| !a.is_empty())
        {
            return Err(ProfileError::Parse {
                origin: origin.to_string(),
                message: "use either 'architectures' or 'archMap', not both".into(),
            });
        }
        Ok(p)
    }

    /// Reads a profile file.
    pub fn load(path: &Path) -> Result<Profile, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.into(),
            source,
        })?;
        Profile::parse(&text, &path.display().to_string())
    }
}

/// Go's name of the architecture berth runs on (the names profiles use in `arches`).
pub fn native_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "arm" => "arm",
        "riscv64" => "riscv64",
        "s390x" => "s390x",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn native_scmp_arch() -> Option<Arch> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Arch::ScmpArchX86_64),
        "aarch64" => Some(Arch::ScmpArchAarch64),
        "riscv64" => Some(Arch::ScmpArchRiscv64),
        _ => None,
    }
}

/// The running kernel's version as (major, minor).
pub fn kernel_version() -> (u32, u32) {
    let release = nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default();
    parse_version(&release).unwrap_or((0, 0))
}

fn parse_version(s: &str) -> Option<(u32, u32)> {
    let mut it = s.split(|c: char| !c.is_ascii_digit());
    let major = it.next()?.parse().ok()?;
    let minor = it.next().and_then(|m| m.parse().ok()).unwrap_or(0);
    Some((major, minor))
}

/// The spec's `linux.seccomp` for a container whose bounding set is `caps` (`CAP_` names), on
/// architecture `arch` (Go's name) and kernel `kernel`, as moby computes it.
pub fn to_oci(profile: &Profile, caps: &[String], arch: &str, kernel: (u32, u32)) -> LinuxSeccomp {
    let has_cap = |c: &String| caps.iter().any(|x| x.eq_ignore_ascii_case(c));
    let min_ok = |v: &Option<String>| {
        v.as_deref()
            .and_then(parse_version)
            .is_none_or(|min| kernel >= min)
    };
    let mut syscalls = Vec::new();
    for s in &profile.syscalls {
        if let Some(ex) = &s.excludes
            && (ex.arches.iter().any(|a| a == arch)
                || ex.caps.iter().any(has_cap)
                || (ex.min_kernel.is_some() && min_ok(&ex.min_kernel)))
        {
            continue;
        }
        if let Some(inc) = &s.includes
            && ((!inc.arches.is_empty() && !inc.arches.iter().any(|a| a == arch))
                || !inc.caps.iter().all(has_cap)
                || !min_ok(&inc.min_kernel))
        {
            continue;
        }
        let mut names = s.names.clone();
        if let Some(n) = &s.name {
            names.push(n.clone());
        }
        let mut b = LinuxSyscallBuilder::default().names(names).action(s.action);
        if let Some(e) = s.errno_ret {
            b = b.errno_ret(e);
        }
        if let Some(a) = &s.args {
            b = b.args(a.clone());
        }
        if let Ok(sc) = b.build() {
            syscalls.push(sc);
        }
    }
    let mut arches = Vec::new();
    if let Some(native) = native_scmp_arch()
        && let Some(map) = &profile.arch_map
    {
        for m in map.iter().filter(|m| m.architecture == native) {
            arches.push(m.architecture);
            arches.extend(m.sub_architectures.iter().flatten().copied());
        }
    }
    if let Some(a) = &profile.architectures {
        arches.extend(a.iter().copied());
    }
    let mut b = LinuxSeccompBuilder::default()
        .default_action(profile.default_action)
        .syscalls(syscalls);
    if let Some(e) = profile.default_errno_ret {
        b = b.default_errno_ret(e);
    }
    if !arches.is_empty() {
        b = b.architectures(arches);
    }
    b.build().unwrap_or_default()
}

pub use super::default_profile::{default_for, default_profile};

/// Finds the entries naming `name` (tests and diagnostics).
pub fn entries_for<'a>(s: &'a LinuxSeccomp, name: &str) -> Vec<&'a LinuxSyscall> {
    s.syscalls()
        .iter()
        .flatten()
        .filter(|e| e.names().iter().any(|n| n == name))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxSeccompOperator as Op;

    fn caps(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn default_profile_without_sys_admin() {
        let s = to_oci(&default_profile(), &caps(&["CAP_CHOWN"]), "amd64", (6, 1));
        assert_eq!(s.default_action(), Action::ScmpActErrno);
        assert_eq!(s.default_errno_ret(), Some(1));
        assert!(entries_for(&s, "mount").is_empty());
        assert!(entries_for(&s, "reboot").is_empty());
        let clone = entries_for(&s, "clone");
        assert_eq!(clone.len(), 1);
        assert_eq!(
            clone[0].args().as_ref().unwrap()[0].op(),
            Op::ScmpCmpMaskedEq
        );
        let clone3 = entries_for(&s, "clone3");
        assert_eq!(
            (clone3[0].action(), clone3[0].errno_ret()),
            (Action::ScmpActErrno, Some(38))
        );
        assert!(!entries_for(&s, "arch_prctl").is_empty());
        assert!(entries_for(&s, "set_tls").is_empty());
        assert_eq!(entries_for(&s, "personality").len(), 5);
        assert_eq!(
            s.architectures().as_ref().unwrap(),
            &[Arch::ScmpArchX86_64, Arch::ScmpArchX86, Arch::ScmpArchX32]
        );
    }

    #[test]
    fn capabilities_and_kernel_select_entries() {
        let s = to_oci(
            &default_profile(),
            &caps(&["CAP_SYS_ADMIN", "CAP_SYS_BOOT"]),
            "amd64",
            (4, 4),
        );
        assert!(!entries_for(&s, "mount").is_empty());
        assert!(!entries_for(&s, "reboot").is_empty());
        let clone3 = entries_for(&s, "clone3");
        assert!(
            clone3.iter().all(|e| e.action() == Action::ScmpActAllow),
            "clone3 is allowed outright with CAP_SYS_ADMIN"
        );
        assert!(entries_for(&s, "clone").iter().all(|e| e.args().is_none()));
        // ptrace needs kernel 4.8 without CAP_SYS_PTRACE.
        assert!(entries_for(&s, "ptrace").is_empty());
    }

    #[test]
    fn profile_files_parse_and_reject_both_arch_forms() {
        let json = serde_json::to_string(&default_profile()).unwrap();
        assert_eq!(Profile::parse(&json, "x").unwrap(), default_profile());
        let both = r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64"],"archMap":[{"architecture":"SCMP_ARCH_X86_64"}],"syscalls":[]}"#;
        assert!(
            Profile::parse(both, "f")
                .unwrap_err()
                .to_string()
                .contains("either")
        );
        let bad = r#"{"defaultAction":"SCMP_ACT_NOPE"}"#;
        assert!(
            Profile::parse(bad, "f.json")
                .unwrap_err()
                .to_string()
                .starts_with("seccomp profile f.json:")
        );
        let deny = r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["chmod"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#;
        let s = to_oci(&Profile::parse(deny, "f").unwrap(), &[], "amd64", (6, 1));
        assert_eq!(entries_for(&s, "chmod")[0].errno_ret(), Some(13));
    }

    #[test]
    fn versions_parse() {
        assert_eq!(parse_version("6.18.44-fc-v657"), Some((6, 18)));
        assert_eq!(parse_version("4.8"), Some((4, 8)));
        assert_eq!(parse_version("5"), Some((5, 0)));
    }
}
