//! The mounts a container gets, described neutrally: source, target, kind (bind or tmpfs),
//! read-only or not, propagation. The engine turns each into an OCI mount with
//! [`Mount::fstype`], [`Mount::oci_source`] and [`Mount::oci_options`]; this crate does not
//! know the runtime.

use std::path::{Path, PathBuf};

use crate::error::{Result, VolumeError};

/// What a mount is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MountKind {
    /// A bind of a host path (a volume's `_data`, a host directory, a config file).
    Bind,
    /// A fresh tmpfs.
    Tmpfs,
}

/// Where a mount came from: what `volumes_from` inherits and what keeps a volume in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// A named or anonymous volume of the store.
    Volume(String),
    /// A host path.
    Bind,
    /// A tmpfs (`tmpfs:` or a `type: tmpfs` volume).
    Tmpfs,
    /// A config file.
    Config,
    /// A secret file.
    Secret,
}

/// Mount propagation, with Docker's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Propagation {
    /// `private`
    Private,
    /// `rprivate` (Docker's default)
    RPrivate,
    /// `shared`
    Shared,
    /// `rshared`
    RShared,
    /// `slave`
    Slave,
    /// `rslave`
    RSlave,
}

impl Propagation {
    /// Parses Docker's spelling.
    pub fn parse(text: &str) -> Result<Propagation> {
        Ok(match text {
            "private" => Propagation::Private,
            "rprivate" => Propagation::RPrivate,
            "shared" => Propagation::Shared,
            "rshared" => Propagation::RShared,
            "slave" => Propagation::Slave,
            "rslave" => Propagation::RSlave,
            _ => {
                return Err(VolumeError::InvalidSpec {
                    what: "propagation",
                    spec: text.to_owned(),
                    reason: "expected private, rprivate, shared, rshared, slave or rslave".into(),
                });
            }
        })
    }

    /// The OCI mount option.
    pub fn as_str(self) -> &'static str {
        match self {
            Propagation::Private => "private",
            Propagation::RPrivate => "rprivate",
            Propagation::Shared => "shared",
            Propagation::RShared => "rshared",
            Propagation::Slave => "slave",
            Propagation::RSlave => "rslave",
        }
    }
}

/// One mount of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mount {
    /// Bind or tmpfs.
    pub kind: MountKind,
    /// The host path (binds); empty for tmpfs.
    pub source: PathBuf,
    /// The path in the container.
    pub target: PathBuf,
    /// Read-only.
    pub read_only: bool,
    /// Propagation; `None` is Docker's default, `rprivate`.
    pub propagation: Option<Propagation>,
    /// Binds only: recursive (`rbind`, Docker's default) or not (`bind.recursive: disabled`).
    pub recursive: bool,
    /// Tmpfs only: its size in bytes.
    pub tmpfs_size: Option<u64>,
    /// Tmpfs only: the mode of its root.
    pub tmpfs_mode: Option<u32>,
    /// Further mount options passed as they are (`noexec`, `nosuid`, `uid=1000`, ...).
    pub extra: Vec<String>,
    /// Where it came from.
    pub origin: Origin,
}

impl Mount {
    /// A bind of host path `source` at `target`, read-write, recursive.
    pub fn bind(source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount {
            kind: MountKind::Bind,
            source: source.into(),
            target: target.into(),
            read_only: false,
            propagation: None,
            recursive: true,
            tmpfs_size: None,
            tmpfs_mode: None,
            extra: Vec::new(),
            origin: Origin::Bind,
        }
    }

    /// A volume of the store (its `_data` at `source`) mounted at `target`.
    pub fn volume(name: &str, source: impl Into<PathBuf>, target: impl Into<PathBuf>) -> Mount {
        Mount {
            origin: Origin::Volume(name.to_owned()),
            ..Mount::bind(source, target)
        }
    }

    /// A tmpfs at `target` with Docker's defaults (`nosuid`, `nodev`, `noexec`).
    pub fn tmpfs(target: impl Into<PathBuf>) -> Mount {
        Mount {
            kind: MountKind::Tmpfs,
            source: PathBuf::new(),
            target: target.into(),
            read_only: false,
            propagation: None,
            recursive: false,
            tmpfs_size: None,
            tmpfs_mode: None,
            extra: vec!["nosuid".into(), "nodev".into(), "noexec".into()],
            origin: Origin::Tmpfs,
        }
    }

    /// The same mount, read-only when `ro`.
    pub fn read_only(mut self, ro: bool) -> Mount {
        self.read_only = ro;
        self
    }

    /// Parses a service `tmpfs:` entry: `/run` or `/run:rw,noexec,size=64m,mode=1777`.
    pub fn parse_tmpfs(spec: &str) -> Result<Mount> {
        let bad = |reason: &str| VolumeError::InvalidSpec {
            what: "tmpfs",
            spec: spec.to_owned(),
            reason: reason.to_owned(),
        };
        let (target, opts) = spec.split_once(':').unwrap_or((spec, ""));
        if !target.starts_with('/') {
            return Err(bad("the target must be an absolute path"));
        }
        let mut m = Mount::tmpfs(target);
        for opt in opts.split(',').filter(|o| !o.is_empty()) {
            if let Some(size) = opt.strip_prefix("size=") {
                m.tmpfs_size = Some(parse_size(size)?);
            } else if let Some(mode) = opt.strip_prefix("mode=") {
                m.tmpfs_mode =
                    Some(u32::from_str_radix(mode, 8).map_err(|_| bad("mode must be octal"))?);
            } else if opt == "ro" || opt == "rw" {
                m.read_only = opt == "ro";
            } else {
                // `exec` undoes the default `noexec`, and so on.
                let negated = format!("no{opt}");
                if m.extra.contains(&negated) {
                    m.extra.retain(|o| *o != negated);
                } else if !m.extra.iter().any(|o| o == opt) {
                    m.extra.push(opt.to_owned());
                }
            }
        }
        Ok(m)
    }

    /// The OCI mount type.
    pub fn fstype(&self) -> &'static str {
        match self.kind {
            MountKind::Bind => "bind",
            MountKind::Tmpfs => "tmpfs",
        }
    }

    /// The OCI mount source.
    pub fn oci_source(&self) -> &Path {
        match self.kind {
            MountKind::Bind => &self.source,
            MountKind::Tmpfs => Path::new("tmpfs"),
        }
    }

    /// The OCI mount options.
    pub fn oci_options(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.kind == MountKind::Bind {
            out.push(if self.recursive { "rbind" } else { "bind" }.to_owned());
        }
        out.push(if self.read_only { "ro" } else { "rw" }.to_owned());
        out.extend(self.extra.iter().cloned());
        if let Some(size) = self.tmpfs_size {
            out.push(format!("size={size}"));
        }
        if let Some(mode) = self.tmpfs_mode {
            out.push(format!("mode={mode:o}"));
        }
        if self.kind == MountKind::Bind {
            let p = self.propagation.unwrap_or(Propagation::RPrivate);
            out.push(p.as_str().to_owned());
        } else if let Some(p) = self.propagation {
            out.push(p.as_str().to_owned());
        }
        out
    }
}

/// The image's `VOLUME` paths that no mount of the container covers: each gets an anonymous
/// volume, as Docker does.
pub fn uncovered_image_volumes<'a>(
    image_volumes: &'a [PathBuf],
    mounts: &[Mount],
) -> Vec<&'a Path> {
    image_volumes
        .iter()
        .filter(|p| !mounts.iter().any(|m| clean(&m.target) == clean(p)))
        .map(PathBuf::as_path)
        .collect()
}

/// A container path without `.` components or trailing slashes, for comparisons.
fn clean(p: &Path) -> PathBuf {
    p.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// A size in binary units, as Docker reads them: `65536`, `64k`, `64m`, `1g`, `1gb`, `1GiB`.
pub fn parse_size(text: &str) -> Result<u64> {
    let bad = |reason: &str| VolumeError::InvalidSpec {
        what: "size",
        spec: text.to_owned(),
        reason: reason.to_owned(),
    };
    let lower = text.trim().to_ascii_lowercase();
    let digits = lower.bytes().take_while(u8::is_ascii_digit).count();
    if digits == 0 {
        return Err(bad(
            "expected a number with an optional unit (b, k, m, g, t)",
        ));
    }
    let number: u64 = lower[..digits]
        .parse()
        .map_err(|_| bad("number too large"))?;
    let unit = lower[digits..].trim_end_matches("ib").trim_end_matches('b');
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        _ => return Err(bad("unknown unit (b, k, m, g, t)")),
    };
    number
        .checked_mul(1u64 << shift)
        .ok_or_else(|| bad("size too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("65536").unwrap(), 65536);
        assert_eq!(parse_size("64k").unwrap(), 65536);
        assert_eq!(parse_size("512m").unwrap(), 512 << 20);
        assert_eq!(parse_size("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_size("2gb").unwrap(), 2 << 30);
        assert!(parse_size("m").is_err());
        assert!(parse_size("5x").is_err());
        assert!(parse_size("99999999999999t").is_err());
    }

    #[test]
    fn tmpfs_entries() {
        let m = Mount::parse_tmpfs("/run:rw,exec,size=64m,mode=1777").unwrap();
        assert_eq!(m.target, PathBuf::from("/run"));
        assert_eq!(m.tmpfs_size, Some(64 << 20));
        assert_eq!(
            m.oci_options(),
            ["rw", "nosuid", "nodev", "size=67108864", "mode=1777"]
        );
        assert!(Mount::parse_tmpfs("run").is_err());
        assert!(Mount::parse_tmpfs("/x:mode=9").is_err());
    }

    #[test]
    fn image_volumes_without_a_mount() {
        let image = vec![PathBuf::from("/var/lib/mysql/"), PathBuf::from("/logs")];
        let mounts = vec![Mount::bind("/srv/db", "/var/lib/mysql")];
        assert_eq!(
            uncovered_image_volumes(&image, &mounts),
            vec![Path::new("/logs")]
        );
    }

    #[test]
    fn bind_options() {
        let m = Mount::bind("/srv", "/data").read_only(true);
        assert_eq!(m.oci_options(), ["rbind", "ro", "rprivate"]);
        let mut n = Mount::bind("/srv", "/data");
        n.recursive = false;
        n.propagation = Some(Propagation::parse("rshared").unwrap());
        assert_eq!(n.oci_options(), ["bind", "rw", "rshared"]);
        assert!(Propagation::parse("sideways").is_err());
    }
}
