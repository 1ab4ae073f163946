//! Platforms (`linux/amd64`, `linux/arm/v7`) and the choice of a manifest from a
//! multi-platform index: the host's platform by default, or the one requested (`--platform`).

use std::fmt;
use std::str::FromStr;

use crate::image::store::oci::{Descriptor, Index, PlatformJson};

/// An operating system, CPU architecture and optional CPU variant.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Platform {
    /// `linux`, `windows`, ...
    pub os: String,
    /// `amd64`, `arm64`, `arm`, `386`, `ppc64le`, `s390x`, `riscv64`, ...
    pub architecture: String,
    /// `v7`, `v8`, ... when it matters.
    pub variant: Option<String>,
}

impl Platform {
    /// The platform berth runs on.
    pub fn host() -> Platform {
        let (architecture, variant) = match std::env::consts::ARCH {
            "x86_64" => ("amd64", None),
            "x86" => ("386", None),
            "aarch64" => ("arm64", None),
            "arm" => ("arm", Some("v7")),
            "powerpc64" if cfg!(target_endian = "little") => ("ppc64le", None),
            "loongarch64" => ("loong64", None),
            "mips64" if cfg!(target_endian = "little") => ("mips64le", None),
            other => (other, None),
        };
        Platform {
            os: std::env::consts::OS.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
        .normalized()
    }

    /// The canonical form: architecture aliases resolved (`x86_64` is `amd64`, `aarch64` is
    /// `arm64`), `arm64/v8` is plain `arm64`, `arm` without a variant is `arm/v7`.
    pub fn normalized(&self) -> Platform {
        let os = self.os.to_ascii_lowercase();
        let arch = self.architecture.to_ascii_lowercase();
        let variant = self.variant.as_ref().map(|v| v.to_ascii_lowercase());
        let (architecture, variant) = match (arch.as_str(), variant) {
            ("x86_64" | "x86-64" | "amd64", v) => ("amd64".to_owned(), v.filter(|v| v != "v1")),
            ("aarch64" | "arm64", v) => ("arm64".to_owned(), v.filter(|v| v != "v8" && v != "8")),
            ("armhf", _) => ("arm".to_owned(), Some("v7".to_owned())),
            ("armel", _) => ("arm".to_owned(), Some("v6".to_owned())),
            ("arm", None) => ("arm".to_owned(), Some("v7".to_owned())),
            ("arm", Some(v)) => {
                let v = if v.starts_with('v') {
                    v
                } else {
                    format!("v{v}")
                };
                ("arm".to_owned(), Some(v))
            }
            ("i386" | "i686" | "386", v) => ("386".to_owned(), v),
            (other, v) => (other.to_owned(), v),
        };
        Platform {
            os,
            architecture,
            variant,
        }
    }

    fn from_json(json: &PlatformJson) -> Platform {
        Platform {
            os: json.os.clone(),
            architecture: json.architecture.clone(),
            variant: json.variant.clone().filter(|v| !v.is_empty()),
        }
        .normalized()
    }

    /// How well an image for `candidate` runs here: `None` if it cannot, lower is better.
    /// The exact variant ranks first; older ARM variants run on newer CPUs and rank after.
    fn rank(&self, candidate: &Platform) -> Option<u32> {
        let wanted = self.normalized();
        if wanted.os != candidate.os || wanted.architecture != candidate.architecture {
            return None;
        }
        if wanted.variant == candidate.variant {
            return Some(0);
        }
        match (
            wanted.architecture.as_str(),
            &wanted.variant,
            &candidate.variant,
        ) {
            ("arm", Some(want), Some(have)) => {
                let number = |v: &str| v.trim_start_matches('v').parse::<u32>().ok();
                match (number(want), number(have)) {
                    (Some(w), Some(h)) if h < w => Some(w - h),
                    _ => None,
                }
            }
            // No variant asked for: any variant will do, after an exact match.
            (_, None, Some(_)) => Some(1),
            // A variant asked for, the image has none: it is generic, accept it.
            (_, Some(_), None) => Some(1),
            _ => None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(f, "/{variant}")?;
        }
        Ok(())
    }
}

impl FromStr for Platform {
    type Err = String;

    /// `os/arch[/variant]`, as `--platform` takes it.
    fn from_str(text: &str) -> Result<Platform, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let bad =
            || format!("invalid platform {text:?}: expected os/arch[/variant], like linux/arm64");
        let (os, architecture, variant) = match parts.as_slice() {
            [os, arch] => (*os, *arch, None),
            [os, arch, variant] => (*os, *arch, Some(*variant)),
            _ => return Err(bad()),
        };
        let valid = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        };
        if !valid(os) || !valid(architecture) || variant.is_some_and(|v| !valid(v)) {
            return Err(bad());
        }
        Ok(Platform {
            os: os.to_owned(),
            architecture: architecture.to_owned(),
            variant: variant.map(str::to_owned),
        }
        .normalized())
    }
}

/// Chooses the manifest of `index` for `wanted`: the best-ranked match, the first of equals.
/// Entries without a platform (attestations, unknown/unknown) are never chosen.
pub fn select_manifest<'a>(index: &'a Index, wanted: &Platform) -> Option<&'a Descriptor> {
    index
        .manifests
        .iter()
        .filter_map(|entry| {
            let platform = Platform::from_json(entry.platform.as_ref()?);
            wanted.rank(&platform).map(|rank| (rank, entry))
        })
        .min_by_key(|(rank, _)| *rank)
        .map(|(_, entry)| entry)
}

/// The platforms an index offers, for error messages.
pub fn available_platforms(index: &Index) -> Vec<String> {
    index
        .manifests
        .iter()
        .filter_map(|entry| entry.platform.as_ref())
        .map(|p| Platform::from_json(p).to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(digest: &str, os: &str, arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: "application/vnd.oci.image.manifest.v1+json".into(),
            digest: digest.into(),
            size: 1,
            platform: Some(PlatformJson {
                os: os.into(),
                architecture: arch.into(),
                variant: variant.map(Into::into),
                os_version: None,
            }),
            ..Descriptor::default()
        }
    }

    fn index() -> Index {
        Index {
            schema_version: 2,
            media_type: None,
            manifests: vec![
                entry("unknown", "unknown", "unknown", None),
                entry("amd64", "linux", "amd64", None),
                entry("armv6", "linux", "arm", Some("v6")),
                entry("armv7", "linux", "arm", Some("v7")),
                entry("arm64", "linux", "arm64", Some("v8")),
                entry("windows", "windows", "amd64", None),
            ],
            annotations: None,
        }
    }

    fn pick(text: &str) -> Option<String> {
        let platform: Platform = text.parse().unwrap();
        select_manifest(&index(), &platform).map(|d| d.digest.clone())
    }

    #[test]
    fn selects_platforms() {
        assert_eq!(pick("linux/amd64").as_deref(), Some("amd64"));
        assert_eq!(pick("linux/x86_64").as_deref(), Some("amd64"));
        assert_eq!(pick("linux/arm64").as_deref(), Some("arm64"));
        assert_eq!(pick("linux/arm64/v8").as_deref(), Some("arm64"));
        assert_eq!(pick("linux/arm/v7").as_deref(), Some("armv7"));
        assert_eq!(pick("linux/arm").as_deref(), Some("armv7"));
        assert_eq!(pick("linux/arm/v6").as_deref(), Some("armv6"));
        assert_eq!(pick("linux/arm/v8").as_deref(), Some("armv7"));
        assert_eq!(pick("linux/arm/v5"), None);
        assert_eq!(pick("windows/amd64").as_deref(), Some("windows"));
        assert_eq!(pick("linux/s390x"), None);
        assert_eq!(available_platforms(&index()).len(), 6);
    }

    #[test]
    fn parses_and_prints() {
        assert_eq!(
            "linux/arm64/v8".parse::<Platform>().unwrap().to_string(),
            "linux/arm64"
        );
        assert_eq!(
            "linux/armhf".parse::<Platform>().unwrap().to_string(),
            "linux/arm/v7"
        );
        for bad in ["linux", "linux/", "a/b/c/d", "linux/am d64"] {
            assert!(bad.parse::<Platform>().is_err(), "{bad}");
        }
        let host = Platform::host();
        assert_eq!(host.os, "linux");
        assert!(!host.architecture.is_empty());
    }
}
