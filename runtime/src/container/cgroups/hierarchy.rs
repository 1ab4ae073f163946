//! Detecting the host's cgroup layout from /proc/self/mountinfo and /proc/self/cgroup.

use super::CgroupError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One v1 hierarchy.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct V1Mount {
    /// Where it is mounted.
    pub mountpoint: PathBuf,
    /// The controllers it carries (`cpu`, `cpuacct`); empty for a named hierarchy.
    pub controllers: Vec<String>,
    /// The name of a named hierarchy (`systemd` for `name=systemd`).
    pub name: Option<String>,
    /// The runtime's own cgroup in it (from /proc/self/cgroup), for relative paths.
    pub own: PathBuf,
}

/// The cgroup layout of the host.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum Hierarchy {
    /// v1 controllers (a v2 mount beside them, if any, is left alone).
    V1 {
        /// The hierarchies.
        mounts: Vec<V1Mount>,
    },
    /// The unified hierarchy.
    V2 {
        /// Where it is mounted.
        mountpoint: PathBuf,
        /// The runtime's own cgroup.
        own: PathBuf,
    },
}

impl Hierarchy {
    /// Detects the host's layout.
    pub fn detect() -> Result<Hierarchy, CgroupError> {
        let read = |p: &str| {
            std::fs::read_to_string(p).map_err(|source| CgroupError::Io {
                what: "read",
                path: p.into(),
                source,
            })
        };
        Hierarchy::parse(&read("/proc/self/mountinfo")?, &read("/proc/self/cgroup")?)
    }

    /// Detects the layout from the text of /proc/self/mountinfo and /proc/self/cgroup.
    pub fn parse(mountinfo: &str, own_cgroups: &str) -> Result<Hierarchy, CgroupError> {
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let fields: Vec<&str> = left.split_whitespace().collect();
            let rfields: Vec<&str> = right.split_whitespace().collect();
            if fields.len() < 5 || rfields.len() < 3 {
                continue;
            }
            let mountpoint = PathBuf::from(unescape(fields[4]));
            match rfields[0] {
                "cgroup" => {
                    let mut controllers = Vec::new();
                    let mut name = None;
                    for opt in rfields[2].split(',') {
                        if let Some(n) = opt.strip_prefix("name=") {
                            name = Some(n.to_string());
                        } else if !matches!(
                            opt,
                            "rw" | "ro"
                                | "relatime"
                                | "noatime"
                                | "nosuid"
                                | "nodev"
                                | "noexec"
                                | "xattr"
                                | "clone_children"
                                | "noprefix"
                                | "cpuset_v2_mode"
                        ) && !opt.starts_with("release_agent=")
                        {
                            controllers.push(opt.to_string());
                        }
                    }
                    v1.push(V1Mount {
                        mountpoint,
                        controllers,
                        name,
                        own: PathBuf::from("/"),
                    });
                }
                "cgroup2" => v2 = Some(mountpoint),
                _ => {}
            }
        }
        // The runtime's own cgroup per hierarchy: "ID:controllers:path", "0::path" for v2.
        let mut own_v1: BTreeMap<String, PathBuf> = BTreeMap::new();
        let mut own_v2 = PathBuf::from("/");
        for line in own_cgroups.lines() {
            let mut parts = line.splitn(3, ':');
            let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            if ctrls.is_empty() {
                own_v2 = PathBuf::from(path);
            } else {
                own_v1.insert(ctrls.to_string(), PathBuf::from(path));
            }
        }
        let with_controllers = v1.iter().any(|m| !m.controllers.is_empty());
        if with_controllers {
            for m in &mut v1 {
                let key = match &m.name {
                    Some(n) => format!("name={n}"),
                    None => m.controllers.join(","),
                };
                if let Some(p) = own_v1.get(&key) {
                    m.own = p.clone();
                }
            }
            return Ok(Hierarchy::V1 { mounts: v1 });
        }
        match v2 {
            Some(mountpoint) => Ok(Hierarchy::V2 {
                mountpoint,
                own: own_v2,
            }),
            None => Err(CgroupError::NoHierarchy),
        }
    }

    /// Whether this is the unified hierarchy.
    pub fn is_v2(&self) -> bool {
        matches!(self, Hierarchy::V2 { .. })
    }
}

/// Undoes mountinfo's octal escapes (`\040` for a space).
fn unescape(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && bytes[i + 1..i + 4]
                .iter()
                .all(|b| (b'0'..=b'7').contains(b))
        {
            let v = (bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unified_hosts_are_v2() {
        let info = "30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime - cgroup2 cgroup2 rw,nsdelegate\n";
        let h = Hierarchy::parse(info, "0::/user.slice\n").unwrap();
        assert_eq!(
            h,
            Hierarchy::V2 {
                mountpoint: "/sys/fs/cgroup".into(),
                own: "/user.slice".into()
            }
        );
        assert!(matches!(
            Hierarchy::parse("", ""),
            Err(CgroupError::NoHierarchy)
        ));
    }

    #[test]
    fn mountinfo_escapes_are_undone() {
        assert_eq!(unescape("/a\\040b"), "/a b");
        assert_eq!(unescape("/plain"), "/plain");
    }
}
