//! Docker's `local` volume driver: `driver_opts` `type`, `o` and `device` describe a mount
//! (`mount -t TYPE -o O DEVICE`) made at the volume's `_data` when it is first used and undone
//! when it is released: tmpfs, NFS, a bind of a host directory (`o: bind`), a block device.
//!
//! `o` mixes mount flags (`ro`, `nosuid`, `bind`, ...) and file-system data (`size=1m`,
//! `addr=...`): flags become mount(2) flags, the rest is passed as data, as Docker does. For
//! NFS, a host name in `addr=` is resolved to an address, because the kernel takes only those.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use nix::mount::{MntFlags, MsFlags};

use crate::error::{Result, VolumeError, io};

/// The `driver_opts` of a local volume.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LocalOptions {
    /// `type`: the file system type (`tmpfs`, `nfs`, `none` for a bind, `ext4`, ...).
    pub fstype: String,
    /// `o`: comma-separated mount options.
    pub options: String,
    /// `device`: what to mount (`tmpfs`, `:/export`, a host directory, `/dev/sdb1`).
    pub device: String,
}

impl LocalOptions {
    /// Reads `driver_opts`: `None` when empty (a plain directory volume), an error for keys
    /// the local driver does not know (Docker refuses them too).
    pub fn parse(opts: &BTreeMap<String, String>) -> Result<Option<LocalOptions>> {
        if opts.is_empty() {
            return Ok(None);
        }
        let mut out = LocalOptions::default();
        for (key, value) in opts {
            match key.as_str() {
                "type" => out.fstype = value.clone(),
                "o" => out.options = value.clone(),
                "device" => out.device = value.clone(),
                other => {
                    return Err(VolumeError::InvalidOption(format!(
                        "unknown key {other:?} (the local driver takes type, o and device)"
                    )));
                }
            }
        }
        if out.device.is_empty() {
            return Err(VolumeError::InvalidOption(
                "\"device\" is required when driver options are given".to_owned(),
            ));
        }
        Ok(Some(out))
    }

    /// The mount flags and the data string that `o` stands for.
    pub fn flags_and_data(&self) -> Result<(MsFlags, String)> {
        let mut flags = MsFlags::empty();
        let mut data: Vec<String> = Vec::new();
        for opt in self.options.split(',').filter(|o| !o.is_empty()) {
            let (set, clear) = match opt {
                "ro" => (MsFlags::MS_RDONLY, MsFlags::empty()),
                "rw" => (MsFlags::empty(), MsFlags::MS_RDONLY),
                "bind" => (MsFlags::MS_BIND, MsFlags::empty()),
                "rbind" => (MsFlags::MS_BIND | MsFlags::MS_REC, MsFlags::empty()),
                "nosuid" => (MsFlags::MS_NOSUID, MsFlags::empty()),
                "suid" => (MsFlags::empty(), MsFlags::MS_NOSUID),
                "nodev" => (MsFlags::MS_NODEV, MsFlags::empty()),
                "dev" => (MsFlags::empty(), MsFlags::MS_NODEV),
                "noexec" => (MsFlags::MS_NOEXEC, MsFlags::empty()),
                "exec" => (MsFlags::empty(), MsFlags::MS_NOEXEC),
                "sync" => (MsFlags::MS_SYNCHRONOUS, MsFlags::empty()),
                "async" => (MsFlags::empty(), MsFlags::MS_SYNCHRONOUS),
                "dirsync" => (MsFlags::MS_DIRSYNC, MsFlags::empty()),
                "noatime" => (MsFlags::MS_NOATIME, MsFlags::empty()),
                "atime" => (MsFlags::empty(), MsFlags::MS_NOATIME),
                "nodiratime" => (MsFlags::MS_NODIRATIME, MsFlags::empty()),
                "relatime" => (MsFlags::MS_RELATIME, MsFlags::empty()),
                "strictatime" => (MsFlags::MS_STRICTATIME, MsFlags::empty()),
                "mand" => (MsFlags::MS_MANDLOCK, MsFlags::empty()),
                "defaults" => (MsFlags::empty(), MsFlags::empty()),
                _ => {
                    data.push(self.data_option(opt)?);
                    continue;
                }
            };
            flags.insert(set);
            flags.remove(clear);
        }
        Ok((flags, data.join(",")))
    }

    /// One data option; NFS's `addr=HOST` gets HOST resolved.
    fn data_option(&self, opt: &str) -> Result<String> {
        let Some(host) = opt.strip_prefix("addr=") else {
            return Ok(opt.to_owned());
        };
        if !self.fstype.starts_with("nfs") || host.parse::<std::net::IpAddr>().is_ok() {
            return Ok(opt.to_owned());
        }
        let addr = std::net::ToSocketAddrs::to_socket_addrs(&(host, 0))
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| {
                VolumeError::InvalidOption(format!("cannot resolve the NFS server {host:?}"))
            })?;
        Ok(format!("addr={}", addr.ip()))
    }
}

/// Mounts the volume described by `opts` at `target` (the volume's `_data`), unless something
/// is mounted there already (another container uses the volume).
pub fn mount(opts: &LocalOptions, target: &Path) -> Result<()> {
    if is_mount_point(target)? {
        return Ok(());
    }
    let (flags, data) = opts.flags_and_data()?;
    let fstype = match opts.fstype.as_str() {
        "" | "none" => None,
        t => Some(t),
    };
    let data = (!data.is_empty()).then_some(data.as_str());
    let fail = |source| VolumeError::Mount {
        what: format!(
            "mounting {} (type {:?}, o {:?}) on",
            opts.device, opts.fstype, opts.options
        ),
        path: target.to_path_buf(),
        source,
    };
    // A bind ignores every flag but MS_REC on the first call: read-only and the others need
    // a remount of the bind, as mount(8) does.
    let bind = flags.contains(MsFlags::MS_BIND);
    let first = if bind {
        flags & (MsFlags::MS_BIND | MsFlags::MS_REC)
    } else {
        flags
    };
    nix::mount::mount(Some(opts.device.as_str()), target, fstype, first, data).map_err(fail)?;
    let extra = flags - (MsFlags::MS_BIND | MsFlags::MS_REC);
    if bind && !extra.is_empty() {
        let remount = MsFlags::MS_BIND | MsFlags::MS_REMOUNT | extra;
        if let Err(e) = nix::mount::mount(None::<&str>, target, None::<&str>, remount, None::<&str>)
        {
            let _ = nix::mount::umount2(target, MntFlags::empty());
            return Err(fail(e));
        }
    }
    Ok(())
}

/// Unmounts the volume at `target` if it is mounted.
pub fn unmount(target: &Path) -> Result<()> {
    if !is_mount_point(target)? {
        return Ok(());
    }
    match nix::mount::umount2(target, MntFlags::empty()) {
        Ok(()) | Err(nix::Error::EINVAL) => Ok(()),
        Err(source) => Err(VolumeError::Mount {
            what: "unmounting".to_owned(),
            path: target.to_path_buf(),
            source,
        }),
    }
}

/// Whether `path` is a mount point (listed in this process's mountinfo). A missing path is
/// not one.
pub fn is_mount_point(path: &Path) -> Result<bool> {
    let path = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("resolving", path)(e)),
    };
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).map_err(io("reading", info))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp) == path))
}

/// Whether anything is mounted at `path` or below it: what must not be deleted through.
pub fn has_mounts_under(path: &Path) -> Result<bool> {
    let path = match std::fs::canonicalize(path) {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(false),
        Err(e) => return Err(io("resolving", path)(e)),
    };
    let info = Path::new("/proc/self/mountinfo");
    let text = std::fs::read_to_string(info).map_err(io("reading", info))?;
    Ok(text
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .any(|mp| unescape(mp).starts_with(&path)))
}

/// mountinfo escapes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> PathBuf {
    use std::os::unix::ffi::OsStringExt;
    let b = field.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        if let (b'\\', Some(d)) = (b[i], octal) {
            let v = d.iter().fold(0u32, |acc, c| acc * 8 + u32::from(c - b'0'));
            out.push(v as u8);
            i += 4;
            continue;
        }
        out.push(b[i]);
        i += 1;
    }
    PathBuf::from(std::ffi::OsString::from_vec(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn parses_docker_options() {
        assert_eq!(LocalOptions::parse(&BTreeMap::new()).unwrap(), None);
        let o = LocalOptions::parse(&opts(&[
            ("type", "tmpfs"),
            ("device", "tmpfs"),
            ("o", "size=1m,uid=1000,noexec,ro"),
        ]))
        .unwrap()
        .unwrap();
        let (flags, data) = o.flags_and_data().unwrap();
        assert_eq!(flags, MsFlags::MS_NOEXEC | MsFlags::MS_RDONLY);
        assert_eq!(data, "size=1m,uid=1000");
        assert!(LocalOptions::parse(&opts(&[("size", "1m"), ("device", "x")])).is_err());
        assert!(LocalOptions::parse(&opts(&[("type", "tmpfs")])).is_err());
    }

    #[test]
    fn nfs_addresses_stay() {
        let o = LocalOptions {
            fstype: "nfs".into(),
            options: "addr=127.0.0.1,rw,nfsvers=4".into(),
            device: ":/export".into(),
        };
        assert_eq!(o.flags_and_data().unwrap().1, "addr=127.0.0.1,nfsvers=4");
    }

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape("/a\\040b"), PathBuf::from("/a b"));
        assert_eq!(unescape("/plain"), PathBuf::from("/plain"));
        assert_eq!(unescape("/end\\"), PathBuf::from("/end\\"));
    }
}
