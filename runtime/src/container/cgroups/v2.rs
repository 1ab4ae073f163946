//! cgroup v2: one directory; controllers must be enabled in every ancestor's
//! `cgroup.subtree_control`, and several v1 values have v2 equivalents on another scale.

use super::devices;
use super::{Cgroup, CgroupError, create_levels, read_file, write_file};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};
use std::path::Path;

/// Creates the cgroup, enabling at each level the controllers the level above offers.
pub(super) fn create(cg: &Cgroup) -> Result<(), CgroupError> {
    let Some((base, _)) = cg.bases_and_dirs().into_iter().next() else {
        return Ok(());
    };
    // Enabled once the child exists: an empty child does not stand in the way, and a parent
    // recreated after a concurrent removal gets its controllers too.
    create_levels(&base, &cg.path, |parent, _| {
        enable_controllers(parent);
        Ok(())
    })
}

/// Enables in `dir`'s children every controller `dir` has. Failures are left for the limits
/// to report: a controller that could not be enabled shows up as a missing interface file.
fn enable_controllers(dir: &Path) {
    let Ok(available) = read_file(dir, "cgroup.controllers") else {
        return;
    };
    let enabled = read_file(dir, "cgroup.subtree_control").unwrap_or_default();
    for c in available.split_whitespace() {
        if !enabled.split_whitespace().any(|e| e == c) {
            let _ = write_file(
                dir,
                "cgroup.subtree_control",
                &format!("+{c}"),
                "enabling a controller",
            );
        }
    }
}

/// Fails unless `controller` is enabled for the cgroup (a cgroup's `cgroup.controllers` lists
/// exactly what its parent enabled for it).
fn require(dir: &Path, controller: &'static str, what: &str) -> Result<(), CgroupError> {
    if read_file(dir, "cgroup.controllers")
        .is_ok_and(|c| c.split_whitespace().any(|x| x == controller))
    {
        Ok(())
    } else {
        Err(CgroupError::MissingController {
            what: what.to_string(),
            controller,
            where_: "available in cgroup.controllers",
        })
    }
}

/// cpu.shares (2..262144) to cpu.weight (1..10000), as runc and crun convert.
pub fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.clamp(2, 262144) - 2) * 9999 / 262142
}

/// blkio.weight (10..1000) to io.weight (1..10000).
pub fn blkio_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

pub(super) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<(), CgroupError> {
    let dir = cg.v2_dir().unwrap_or_default();
    if let Some(m) = r.memory() {
        memory(&dir, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(&dir, c)?;
    }
    if let Some(p) = r.pids() {
        require(&dir, "pids", "pids limit")?;
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        write_file(&dir, "pids.max", &v, "pids limit")?;
    }
    if let Some(b) = r.block_io() {
        io(&dir, b)?;
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        require(&dir, "hugetlb", "hugepage limits")?;
        for h in r.hugepage_limits().iter().flatten() {
            write_file(
                &dir,
                &format!("hugetlb.{}.max", h.page_size()),
                &h.limit().to_string(),
                "hugepage limit",
            )?;
        }
    }
    if r.network()
        .as_ref()
        .is_some_and(|n| n.class_id().is_some() || n.priorities().is_some())
    {
        return Err(CgroupError::Unsupported(
            "network class ids and priorities (net_cls, net_prio) do not exist in cgroup v2".into(),
        ));
    }
    if let Some(rules) = r.devices() {
        devices::attach_v2(&dir, rules)?;
    }
    for (key, value) in r.unified().iter().flatten() {
        if key.contains('/') || key.starts_with('.') {
            return Err(CgroupError::Unsupported(format!(
                "linux.resources.unified: invalid file name {key:?}"
            )));
        }
        write_file(&dir, key, value, &format!("unified resource {key}"))?;
    }
    Ok(())
}

fn memory(dir: &Path, m: &LinuxMemory) -> Result<(), CgroupError> {
    require(dir, "memory", "memory limit")?;
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        return Err(CgroupError::Unsupported(
            "kernel memory limits do not exist in cgroup v2".into(),
        ));
    }
    if m.swappiness().is_some() {
        return Err(CgroupError::Unsupported(
            "memory swappiness cannot be set per cgroup in cgroup v2".into(),
        ));
    }
    if m.disable_oom_killer() == Some(true) {
        return Err(CgroupError::Unsupported(
            "disabling the OOM killer is not possible in cgroup v2".into(),
        ));
    }
    let num = |v: i64| {
        if v < 0 {
            "max".to_string()
        } else {
            v.to_string()
        }
    };
    if let Some(limit) = m.limit() {
        write_file(dir, "memory.max", &num(limit), "memory limit")?;
    }
    if let Some(res) = m.reservation() {
        write_file(dir, "memory.low", &num(res), "memory reservation")?;
    }
    if let Some(swap) = m.swap() {
        // The spec's swap is memory+swap (v1's memsw); v2 limits swap alone.
        let value = match (swap, m.limit()) {
            (s, _) if s < 0 => "max".to_string(),
            (s, Some(l)) if l >= 0 => {
                if s < l {
                    return Err(CgroupError::Unsupported(format!(
                        "memory+swap limit {s} is below the memory limit {l}"
                    )));
                }
                (s - l).to_string()
            }
            _ => {
                return Err(CgroupError::Unsupported(
                    "a memory+swap limit needs a memory limit on cgroup v2 (swap alone is limited)"
                        .into(),
                ));
            }
        };
        if !dir.join("memory.swap.max").exists() {
            return Err(CgroupError::MissingFile {
                what: "memory+swap limit".into(),
                path: dir.join("memory.swap.max"),
                why: "the kernel has no swap accounting",
            });
        }
        write_file(dir, "memory.swap.max", &value, "memory+swap limit")?;
    }
    Ok(())
}

fn cpu(dir: &Path, c: &LinuxCpu) -> Result<(), CgroupError> {
    if c.shares().is_some()
        || c.quota().is_some()
        || c.period().is_some()
        || c.idle().is_some()
        || c.burst().is_some()
    {
        require(dir, "cpu", "cpu limit")?;
    }
    if let Some(shares) = c.shares().filter(|s| *s > 0) {
        write_file(
            dir,
            "cpu.weight",
            &shares_to_weight(shares).to_string(),
            "cpu shares",
        )?;
    }
    if c.quota().is_some() || c.period().is_some() {
        let quota = match c.quota() {
            Some(q) if q > 0 => q.to_string(),
            _ => "max".to_string(),
        };
        let period = c.period().unwrap_or(100_000);
        write_file(dir, "cpu.max", &format!("{quota} {period}"), "cpu quota")?;
    }
    if let Some(burst) = c.burst() {
        write_file(dir, "cpu.max.burst", &burst.to_string(), "cpu burst")?;
    }
    if let Some(idle) = c.idle() {
        write_file(dir, "cpu.idle", &idle.to_string(), "cpu idle")?;
    }
    if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
        return Err(CgroupError::Unsupported(
            "realtime cpu limits are not available in cgroup v2".into(),
        ));
    }
    if c.cpus().as_deref().is_some_and(|s| !s.is_empty())
        || c.mems().as_deref().is_some_and(|s| !s.is_empty())
    {
        require(dir, "cpuset", "cpuset")?;
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write_file(dir, "cpuset.cpus", cpus, "cpuset cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write_file(dir, "cpuset.mems", mems, "cpuset mems")?;
        }
    }
    Ok(())
}

fn io(dir: &Path, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    require(dir, "io", "block IO limit")?;
    let weight_file = if dir.join("io.weight").exists() {
        "io.weight"
    } else {
        "io.bfq.weight"
    };
    if let Some(w) = b.weight() {
        let v = if weight_file == "io.weight" {
            blkio_to_io_weight(w)
        } else {
            u64::from(w)
        };
        write_file(dir, weight_file, &format!("default {v}"), "block IO weight")?;
    }
    if b.leaf_weight().is_some() {
        return Err(CgroupError::Unsupported(
            "block IO leaf weights do not exist in cgroup v2".into(),
        ));
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let v = if weight_file == "io.weight" {
                blkio_to_io_weight(w)
            } else {
                u64::from(w)
            };
            write_file(
                dir,
                weight_file,
                &format!("{}:{} {v}", d.major(), d.minor()),
                "block IO device weight",
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (b.throttle_read_bps_device(), "rbps"),
        (b.throttle_write_bps_device(), "wbps"),
        (b.throttle_read_iops_device(), "riops"),
        (b.throttle_write_iops_device(), "wiops"),
    ];
    for (list, key) in throttles {
        for d in list.iter().flatten() {
            write_file(
                dir,
                "io.max",
                &format!("{}:{} {key}={}", d.major(), d.minor(), d.rate()),
                "block IO throttle",
            )?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Hierarchy;
    use super::*;
    use oci_spec::runtime::{LinuxCpuBuilder, LinuxMemoryBuilder, LinuxResourcesBuilder};

    fn tree(controllers: &str) -> (tempfile::TempDir, Cgroup) {
        let root = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("cgroup.controllers"), controllers).unwrap();
        std::fs::write(root.path().join("cgroup.subtree_control"), "").unwrap();
        let h = Hierarchy::V2 {
            mountpoint: root.path().into(),
            own: "/".into(),
        };
        let cg = Cgroup::new(&h, Path::new("/c1")).unwrap();
        create(&cg).unwrap();
        for f in [
            "memory.max",
            "memory.low",
            "memory.swap.max",
            "cpu.weight",
            "cpu.max",
            "pids.max",
        ] {
            std::fs::write(root.path().join("c1").join(f), "").unwrap();
        }
        std::fs::write(root.path().join("c1/cgroup.controllers"), controllers).unwrap();
        (root, cg)
    }

    #[test]
    fn conversions_match_the_usual_scales() {
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(blkio_to_io_weight(500), 4950);
    }

    #[test]
    fn v2_values_and_enabled_controllers() {
        let (root, cg) = tree("cpu memory pids");
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(100i64)
                    .swap(300i64)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(1024u64)
                    .quota(20000i64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        cg.apply(&r).unwrap();
        let read = |f: &str| std::fs::read_to_string(root.path().join("c1").join(f)).unwrap();
        assert_eq!(read("memory.max"), "100");
        assert_eq!(read("memory.swap.max"), "200");
        assert_eq!(read("cpu.weight"), "39");
        assert_eq!(read("cpu.max"), "20000 100000");
        // The fake subtree_control file keeps the last write; the kernel would accumulate.
        assert!(
            std::fs::read_to_string(root.path().join("cgroup.subtree_control"))
                .unwrap()
                .starts_with('+')
        );
    }

    #[test]
    fn v2_refuses_what_it_cannot_do() {
        let (_root, cg) = tree("memory");
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .swappiness(10u64)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(cg.apply(&r).unwrap_err().to_string().contains("swappiness"));
        let (_root, cg) = tree("");
        let r = LinuxResourcesBuilder::default()
            .memory(LinuxMemoryBuilder::default().limit(1i64).build().unwrap())
            .build()
            .unwrap();
        let e = cg.apply(&r).unwrap_err().to_string();
        assert_eq!(
            e,
            "memory limit needs the memory cgroup controller, which is not available in cgroup.controllers"
        );
    }
}
