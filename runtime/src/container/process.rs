//! The process of a container: who it runs as, its limits, environment and executable.
//!
//! Users and groups are names or numbers resolved in the image's own /etc/passwd and
//! /etc/group (Docker's rules, see [`resolve_user`]); the result fills the spec's numeric
//! `process.user`. Resource limits must stay within the host's hard limits unless the runtime
//! may raise them (CAP_SYS_RESOURCE, which these machines lack).

use super::rootfs::resolve::resolve_in_root;
use super::syscall::{Syscall, SyscallError};
use nix::sys::resource::Resource;
use oci_spec::runtime::{PosixRlimit, PosixRlimitType, User};
use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Why the process of a container cannot be set up.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// A user or group name that the image does not know.
    #[error("unable to find {what} {name}: no matching entries in {file}")]
    UnknownName {
        /// `user` or `group`.
        what: &'static str,
        /// The name asked for.
        name: String,
        /// The file searched (`/etc/passwd`, `/etc/group`).
        file: &'static str,
    },
    /// A malformed user specification.
    #[error("invalid user {0:?}: expected name, uid, name:group or uid:gid")]
    InvalidUser(String),
    /// A file of the image could not be read.
    #[error("cannot read {} in the rootfs: {source}", path.display())]
    Read {
        /// The path in the container.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// An rlimit above what the host allows.
    #[error(
        "ulimit {name}: hard limit {requested} exceeds the host's hard limit {host}, which berth \
         cannot raise (it lacks CAP_SYS_RESOURCE)"
    )]
    RlimitAboveHost {
        /// The limit (`RLIMIT_NOFILE`).
        name: String,
        /// The requested hard limit.
        requested: u64,
        /// The host's hard limit.
        host: u64,
    },
    /// An rlimit whose soft limit is above its hard limit.
    #[error("ulimit {name}: soft limit {soft} is above the hard limit {hard}")]
    RlimitSoftAboveHard {
        /// The limit.
        name: String,
        /// Soft.
        soft: u64,
        /// Hard.
        hard: u64,
    },
    /// The same rlimit twice.
    #[error("ulimit {0} is set twice")]
    RlimitDuplicate(String),
    /// No executable for `args[0]`.
    #[error("exec: {0:?}: executable file not found in $PATH")]
    NotFound(String),
    /// The process has no arguments.
    #[error("process.args is empty: there is nothing to run")]
    NoArgs,
    /// An argument or variable with a NUL byte.
    #[error("{0:?} contains a NUL byte")]
    Nul(String),
    /// A failed call.
    #[error(transparent)]
    Syscall(#[from] SyscallError),
}

/// A user resolved in the image: what goes into the spec's `process.user`, and the home.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ExecUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary groups.
    pub additional_gids: Vec<u32>,
    /// Home directory (for `HOME`), `/` when unknown.
    pub home: String,
}

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// Members (user names).
    pub members: Vec<String>,
}

/// Parses /etc/passwd content; malformed lines are skipped, as libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 4 {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].parse().ok()?,
                gid: f[3].parse().ok()?,
                home: f.get(5).copied().unwrap_or("").to_string(),
            })
        })
        .collect()
}

/// Parses /etc/group content; malformed lines are skipped.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            if f.len() < 3 {
                return None;
            }
            let members = f.get(3).map(|m| {
                m.split(',')
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
                    .collect()
            });
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].parse().ok()?,
                members: members.unwrap_or_default(),
            })
        })
        .collect()
}

/// The largest /etc/passwd or /etc/group read from an image (they are untrusted).
const MAX_DB_SIZE: u64 = 16 << 20;

/// Reads a file of the image (absent is empty), never following a symlink out of the rootfs.
fn read_image_file(rootfs: &Path, path: &str) -> Result<String, ProcessError> {
    use std::io::Read;
    let err = |source| ProcessError::Read {
        path: path.into(),
        source,
    };
    let host = resolve_in_root(rootfs, Path::new(path)).map_err(err)?;
    match std::fs::File::open(&host) {
        Ok(f) => {
            let mut text = String::new();
            f.take(MAX_DB_SIZE).read_to_string(&mut text).map_err(err)?;
            Ok(text)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(String::new()),
        Err(e) => Err(err(e)),
    }
}

/// Resolves a Docker user specification (`name`, `uid`, `name:group`, `uid:gid`, empty for
/// root) plus extra groups (`group_add`, names or numbers) in the rootfs's /etc/passwd and
/// /etc/group.
///
/// Docker's rules: a name must exist; a number need not (then the primary group is 0 and the
/// home `/`). Supplementary groups come from /etc/group membership only when no group was
/// given; the extra groups are added to them.
pub fn resolve_user(
    rootfs: &Path,
    user: &str,
    group_add: &[String],
) -> Result<ExecUser, ProcessError> {
    let passwd = parse_passwd(&read_image_file(rootfs, "/etc/passwd")?);
    let groups = parse_group(&read_image_file(rootfs, "/etc/group")?);
    resolve_user_in(&passwd, &groups, user, group_add)
}

/// [`resolve_user`] on parsed databases.
pub fn resolve_user_in(
    passwd: &[PasswdEntry],
    groups: &[GroupEntry],
    user: &str,
    group_add: &[String],
) -> Result<ExecUser, ProcessError> {
    let (user_part, group_part) = match user.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (user, None),
    };
    if group_part.is_some_and(str::is_empty) || user.matches(':').count() > 1 {
        return Err(ProcessError::InvalidUser(user.to_string()));
    }
    let mut out = ExecUser {
        home: "/".into(),
        ..ExecUser::default()
    };
    let mut matched_name = None;
    if !user_part.is_empty() {
        let entry = match user_part.parse::<u32>() {
            Ok(uid) => {
                out.uid = uid;
                passwd.iter().find(|e| e.uid == uid)
            }
            Err(_) => {
                let e = passwd.iter().find(|e| e.name == user_part).ok_or_else(|| {
                    ProcessError::UnknownName {
                        what: "user",
                        name: user_part.to_string(),
                        file: "/etc/passwd",
                    }
                })?;
                out.uid = e.uid;
                Some(e)
            }
        };
        if let Some(e) = entry {
            out.gid = e.gid;
            if !e.home.is_empty() {
                out.home = e.home.clone();
            }
            matched_name = Some(e.name.clone());
        }
    } else if let Some(e) = passwd.iter().find(|e| e.uid == 0) {
        out.gid = e.gid;
        out.home = if e.home.is_empty() {
            "/".into()
        } else {
            e.home.clone()
        };
        matched_name = Some(e.name.clone());
    }
    match group_part {
        Some(g) => out.gid = lookup_group(groups, g)?,
        None => {
            if let Some(name) = matched_name {
                out.additional_gids = groups
                    .iter()
                    .filter(|g| g.members.contains(&name))
                    .map(|g| g.gid)
                    .collect();
            }
        }
    }
    for g in group_add {
        let gid = lookup_group(groups, g)?;
        if !out.additional_gids.contains(&gid) {
            out.additional_gids.push(gid);
        }
    }
    Ok(out)
}

fn lookup_group(groups: &[GroupEntry], g: &str) -> Result<u32, ProcessError> {
    if let Ok(gid) = g.parse::<u32>() {
        return Ok(gid);
    }
    groups
        .iter()
        .find(|e| e.name == g)
        .map(|e| e.gid)
        .ok_or_else(|| ProcessError::UnknownName {
            what: "group",
            name: g.to_string(),
            file: "/etc/group",
        })
}

/// The kernel resource of an OCI rlimit type.
pub fn rlimit_resource(t: PosixRlimitType) -> Resource {
    match t {
        PosixRlimitType::RlimitCpu => Resource::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => Resource::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => Resource::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => Resource::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => Resource::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => Resource::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => Resource::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => Resource::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => Resource::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => Resource::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => Resource::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => Resource::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => Resource::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => Resource::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => Resource::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => Resource::RLIMIT_RTTIME,
    }
}

/// Checks rlimits before anything is created: soft within hard, no duplicates, and hard limits
/// within `host_hard(resource)` unless `may_raise` (the runtime has CAP_SYS_RESOURCE).
pub fn check_rlimits(
    limits: &[PosixRlimit],
    may_raise: bool,
    host_hard: impl Fn(Resource) -> u64,
) -> Result<(), ProcessError> {
    let mut seen = Vec::new();
    for l in limits {
        let name = l.typ().to_string();
        if seen.contains(&name) {
            return Err(ProcessError::RlimitDuplicate(name));
        }
        seen.push(name.clone());
        if l.soft() > l.hard() {
            return Err(ProcessError::RlimitSoftAboveHard {
                name,
                soft: l.soft(),
                hard: l.hard(),
            });
        }
        let host = host_hard(rlimit_resource(l.typ()));
        if !may_raise && l.hard() > host {
            return Err(ProcessError::RlimitAboveHost {
                name,
                requested: l.hard(),
                host,
            });
        }
    }
    Ok(())
}

/// The calling process's hard limit of `resource` (infinite when unknown).
pub fn host_hard_limit(resource: Resource) -> u64 {
    nix::sys::resource::getrlimit(resource)
        .map(|(_, hard)| hard)
        .unwrap_or(u64::MAX)
}

/// Applies rlimits.
pub fn apply_rlimits(sys: &dyn Syscall, limits: &[PosixRlimit]) -> Result<(), ProcessError> {
    for l in limits {
        sys.setrlimit(rlimit_resource(l.typ()), l.soft(), l.hard())?;
    }
    Ok(())
}

/// Switches to the spec's user: supplementary groups, then group, then user (after the user
/// switch, changing groups would no longer be allowed).
pub fn apply_user(sys: &dyn Syscall, user: &User) -> Result<(), ProcessError> {
    let groups = user.additional_gids().clone().unwrap_or_default();
    sys.setgroups(&groups)?;
    sys.setgid(user.gid())?;
    sys.setuid(user.uid())?;
    Ok(())
}

/// The environment for the process: the spec's, plus `HOME` when absent (from the image's
/// /etc/passwd entry of `uid`, or `/`), as runc does.
pub fn environment(
    env: &[String],
    home: impl FnOnce() -> String,
) -> Result<Vec<CString>, ProcessError> {
    let mut out: Vec<String> = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={}", home()));
    }
    out.into_iter()
        .map(|e| CString::new(e.clone()).map_err(|_| ProcessError::Nul(e)))
        .collect()
}

/// The home of `uid` in the /etc/passwd at `root` (`/` once in the container), or `/`.
pub fn home_of(root: &Path, uid: u32) -> String {
    read_image_file(root, "/etc/passwd")
        .ok()
        .and_then(|t| parse_passwd(&t).into_iter().find(|e| e.uid == uid))
        .map(|e| e.home)
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".into())
}

/// Finds the executable for `arg0`: a path containing `/` is used as is; a name is looked up in
/// the `PATH` of `env` (or the default PATH), under `root` (the container's `/` once pivoted).
pub fn find_executable(root: &Path, arg0: &str, env: &[String]) -> Result<PathBuf, ProcessError> {
    use std::os::unix::fs::PermissionsExt;
    if arg0.is_empty() {
        return Err(ProcessError::NoArgs);
    }
    if arg0.contains('/') {
        return Ok(PathBuf::from(arg0));
    }
    let path = env
        .iter()
        .find_map(|e| e.strip_prefix("PATH="))
        .unwrap_or("/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    for dir in path.split(':').filter(|d| !d.is_empty()) {
        let candidate = Path::new(dir).join(arg0);
        let Ok(host) = resolve_in_root(root, &candidate) else {
            continue;
        };
        if let Ok(meta) = std::fs::metadata(&host)
            && meta.is_file()
            && meta.permissions().mode() & 0o111 != 0
        {
            return Ok(candidate);
        }
    }
    Err(ProcessError::NotFound(arg0.to_string()))
}

/// Converts strings to C strings, naming the first one with a NUL byte.
pub fn c_strings(items: &[String]) -> Result<Vec<CString>, ProcessError> {
    items
        .iter()
        .map(|s| CString::new(s.as_bytes()).map_err(|_| ProcessError::Nul(s.clone())))
        .collect()
}

/// A path as a C string.
pub fn c_path(p: &Path) -> Result<CString, ProcessError> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| ProcessError::Nul(p.display().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::syscall::{Call, RecordingSyscall};
    use oci_spec::runtime::{PosixRlimitBuilder, UserBuilder};

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n\
        daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
        # a comment\n\
        broken line\n\
        app:x:1000:1000:App:/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nwheel:x:10:root,app\napp:x:1000:\nvideo:x:44:app\n";

    fn resolve(user: &str, add: &[&str]) -> Result<ExecUser, ProcessError> {
        let add: Vec<String> = add.iter().map(|s| s.to_string()).collect();
        resolve_user_in(&parse_passwd(PASSWD), &parse_group(GROUP), user, &add)
    }

    #[test]
    fn names_resolve_with_membership_groups() {
        let u = resolve("app", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (1000, 1000, "/home/app"));
        assert_eq!(u.additional_gids, [10, 44]);
    }

    #[test]
    fn an_explicit_group_replaces_membership() {
        let u = resolve("app:video", &[]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 44));
        assert!(u.additional_gids.is_empty());
        let u = resolve("1000:5", &["wheel", "77"]).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 5));
        assert_eq!(u.additional_gids, [10, 77]);
    }

    #[test]
    fn unknown_numbers_are_fine_unknown_names_are_not() {
        let u = resolve("4242", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        let e = resolve("nobody", &[]).unwrap_err().to_string();
        assert_eq!(
            e,
            "unable to find user nobody: no matching entries in /etc/passwd"
        );
        let e = resolve("app:nogroup", &[]).unwrap_err().to_string();
        assert!(e.contains("group nogroup"), "{e}");
        assert!(matches!(
            resolve("app:", &[]),
            Err(ProcessError::InvalidUser(_))
        ));
        assert!(matches!(
            resolve("a:b:c", &[]),
            Err(ProcessError::InvalidUser(_))
        ));
    }

    #[test]
    fn empty_user_is_root_with_its_groups() {
        let u = resolve("", &[]).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.additional_gids, [10]);
    }

    #[test]
    fn image_files_are_read_without_leaving_the_rootfs() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        // /etc/passwd points at /etc/group through many `..`: resolution keeps it inside the
        // rootfs, where there is no group file, so the host's files are never read.
        std::os::unix::fs::symlink("/../../../../../etc/group", root.path().join("etc/passwd"))
            .unwrap();
        let e = resolve_user(root.path(), "root", &[])
            .unwrap_err()
            .to_string();
        assert!(e.contains("unable to find user root"), "{e}");
        std::fs::remove_file(root.path().join("etc/passwd")).unwrap();
        std::fs::write(root.path().join("passwd"), PASSWD).unwrap();
        std::os::unix::fs::symlink("../passwd", root.path().join("etc/passwd")).unwrap();
        assert_eq!(resolve_user(root.path(), "app", &[]).unwrap().uid, 1000);
    }

    fn limit(t: PosixRlimitType, soft: u64, hard: u64) -> PosixRlimit {
        PosixRlimitBuilder::default()
            .typ(t)
            .soft(soft)
            .hard(hard)
            .build()
            .unwrap()
    }

    #[test]
    fn rlimits_above_the_host_are_refused_clearly() {
        let host = |_r: Resource| 20000u64;
        check_rlimits(
            &[limit(PosixRlimitType::RlimitNofile, 1024, 20000)],
            false,
            host,
        )
        .unwrap();
        let e = check_rlimits(
            &[limit(PosixRlimitType::RlimitNofile, 1024, 1048576)],
            false,
            host,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "ulimit RLIMIT_NOFILE: hard limit 1048576 exceeds the host's hard limit 20000, which berth cannot raise (it lacks CAP_SYS_RESOURCE)"
        );
        check_rlimits(
            &[limit(PosixRlimitType::RlimitNofile, 1024, 1048576)],
            true,
            host,
        )
        .unwrap();
        assert!(check_rlimits(&[limit(PosixRlimitType::RlimitCore, 5, 4)], true, host).is_err());
        let twice = [
            limit(PosixRlimitType::RlimitCore, 1, 1),
            limit(PosixRlimitType::RlimitCore, 1, 1),
        ];
        assert!(matches!(
            check_rlimits(&twice, true, host),
            Err(ProcessError::RlimitDuplicate(_))
        ));
    }

    #[test]
    fn user_switch_order_is_groups_gid_uid() {
        let sys = RecordingSyscall::new();
        let user = UserBuilder::default()
            .uid(1000u32)
            .gid(1000u32)
            .additional_gids(vec![10u32, 44])
            .build()
            .unwrap();
        apply_user(&sys, &user).unwrap();
        assert_eq!(
            sys.calls(),
            [
                Call::Setgroups(vec![10, 44]),
                Call::Setgid(1000),
                Call::Setuid(1000)
            ]
        );
    }

    #[test]
    fn home_is_added_only_when_missing() {
        let env = environment(&["PATH=/bin".into()], || "/root".into()).unwrap();
        assert_eq!(
            env,
            [
                CString::new("PATH=/bin").unwrap(),
                CString::new("HOME=/root").unwrap()
            ]
        );
        let env = environment(&["HOME=/x".into()], || unreachable!()).unwrap();
        assert_eq!(env.len(), 1);
    }

    #[test]
    fn executables_are_found_in_the_containers_path() {
        use std::os::unix::fs::PermissionsExt;
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("bin")).unwrap();
        std::fs::create_dir_all(root.path().join("data")).unwrap();
        std::fs::write(root.path().join("bin/sh"), "").unwrap();
        std::fs::set_permissions(
            root.path().join("bin/sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(root.path().join("data/sh"), "").unwrap();
        let env = vec!["PATH=/data:/bin".to_string()];
        assert_eq!(
            find_executable(root.path(), "sh", &env).unwrap(),
            Path::new("/bin/sh")
        );
        assert_eq!(
            find_executable(root.path(), "./x", &env).unwrap(),
            Path::new("./x")
        );
        let e = find_executable(root.path(), "nope", &env)
            .unwrap_err()
            .to_string();
        assert_eq!(e, "exec: \"nope\": executable file not found in $PATH");
    }
}
