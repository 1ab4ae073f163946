//! cgroup v1: one directory per hierarchy, one interface file per limit.

use super::devices;
use super::{Cgroup, CgroupError, V1Mount, create_levels, read_file, write_file};
use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxResources, LinuxThrottleDevice};
use std::path::Path;

/// Creates the cgroup in every hierarchy. A new cpuset cgroup starts with no CPUs and no
/// memory nodes, which would make joining it fail; each level gets its parent's.
pub(super) fn create(cg: &Cgroup, mounts: &[V1Mount]) -> Result<(), CgroupError> {
    for (m, (base, _)) in mounts.iter().zip(cg.bases_and_dirs()) {
        let cpuset = m.controllers.iter().any(|c| c == "cpuset");
        create_levels(&base, &cg.path, |parent, dir| {
            if cpuset {
                for file in ["cpuset.cpus", "cpuset.mems"] {
                    if read_file(dir, file)?.is_empty() {
                        let v = read_file(parent, file)?;
                        write_file(dir, file, &v, "initialising the cpuset cgroup")?;
                    }
                }
            }
            Ok(())
        })?;
    }
    Ok(())
}

fn dir_for(
    cg: &Cgroup,
    controller: &'static str,
    what: &str,
) -> Result<std::path::PathBuf, CgroupError> {
    cg.v1_dir(controller)
        .ok_or_else(|| CgroupError::MissingController {
            what: what.to_string(),
            controller,
            where_: "mounted",
        })
}

/// Applies every resource of the spec, or fails on the first that cannot be applied.
pub(super) fn apply(cg: &Cgroup, r: &LinuxResources) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        memory(cg, m)?;
    }
    if let Some(c) = r.cpu() {
        cpu(cg, c)?;
    }
    if let Some(p) = r.pids() {
        let dir = dir_for(cg, "pids", "pids limit")?;
        let v = if p.limit() > 0 {
            p.limit().to_string()
        } else {
            "max".into()
        };
        write_file(&dir, "pids.max", &v, "pids limit")?;
    }
    if let Some(b) = r.block_io() {
        blkio(cg, b)?;
    }
    if let Some(rules) = r.devices() {
        let dir = dir_for(cg, "devices", "device rules")?;
        for rule in devices::v1_rules(rules) {
            write_file(&dir, rule.file, &rule.value, "device rule")?;
        }
    }
    if r.hugepage_limits().as_ref().is_some_and(|h| !h.is_empty()) {
        let dir = dir_for(cg, "hugetlb", "hugepage limits")?;
        for h in r.hugepage_limits().iter().flatten() {
            let file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
            write_file(&dir, &file, &h.limit().to_string(), "hugepage limit")?;
        }
    }
    if let Some(n) = r.network() {
        if let Some(id) = n.class_id() {
            let dir = dir_for(cg, "net_cls", "network class id")?;
            write_file(&dir, "net_cls.classid", &id.to_string(), "network class id")?;
        }
        if n.priorities().as_ref().is_some_and(|p| !p.is_empty()) {
            let dir = dir_for(cg, "net_prio", "network priorities")?;
            for p in n.priorities().iter().flatten() {
                write_file(
                    &dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                    "network priority",
                )?;
            }
        }
    }
    if r.unified().as_ref().is_some_and(|u| !u.is_empty()) {
        return Err(CgroupError::Unsupported(
            "linux.resources.unified sets cgroup v2 files, but this host uses cgroup v1".into(),
        ));
    }
    Ok(())
}

fn memory(cg: &Cgroup, m: &LinuxMemory) -> Result<(), CgroupError> {
    let dir = dir_for(cg, "memory", "memory limit")?;
    if m.kernel().is_some() || m.kernel_tcp().is_some() {
        return Err(CgroupError::Unsupported(
            "kernel memory limits (memory.kmem.*) are deprecated by the kernel and not supported"
                .into(),
        ));
    }
    let num = |v: i64| {
        if v < 0 {
            "-1".to_string()
        } else {
            v.to_string()
        }
    };
    if let Some(limit) = m.limit() {
        write_file(&dir, "memory.limit_in_bytes", &num(limit), "memory limit")?;
    }
    if let Some(res) = m.reservation() {
        write_file(
            &dir,
            "memory.soft_limit_in_bytes",
            &num(res),
            "memory reservation",
        )?;
    }
    if let Some(swap) = m.swap() {
        if !dir.join("memory.memsw.limit_in_bytes").exists() {
            return Err(CgroupError::MissingFile {
                what: "memory+swap limit".into(),
                path: dir.join("memory.memsw.limit_in_bytes"),
                why: "the kernel has no swap accounting (boot with swapaccount=1)",
            });
        }
        if let (Some(limit), true) = (m.limit(), swap >= 0)
            && limit >= 0
            && swap < limit
        {
            return Err(CgroupError::Unsupported(format!(
                "memory+swap limit {swap} is below the memory limit {limit}"
            )));
        }
        write_file(
            &dir,
            "memory.memsw.limit_in_bytes",
            &num(swap),
            "memory+swap limit",
        )?;
    }
    if let Some(s) = m.swappiness() {
        if s > 100 {
            return Err(CgroupError::Unsupported(format!(
                "memory swappiness {s} is above 100"
            )));
        }
        write_file(
            &dir,
            "memory.swappiness",
            &s.to_string(),
            "memory swappiness",
        )?;
    }
    if let Some(disable) = m.disable_oom_killer() {
        write_file(
            &dir,
            "memory.oom_control",
            if disable { "1" } else { "0" },
            "OOM killer switch",
        )?;
    }
    Ok(())
}

fn cpu(cg: &Cgroup, c: &LinuxCpu) -> Result<(), CgroupError> {
    let needs_cpu =
        c.shares().is_some() || c.quota().is_some() || c.period().is_some() || c.idle().is_some();
    if needs_cpu {
        let dir = dir_for(cg, "cpu", "cpu limit")?;
        if let Some(shares) = c.shares() {
            write_file(&dir, "cpu.shares", &shares.to_string(), "cpu shares")?;
        }
        // The period goes first: a quota is checked against the current period.
        if let Some(period) = c.period() {
            write_file(&dir, "cpu.cfs_period_us", &period.to_string(), "cpu period")?;
        }
        if let Some(quota) = c.quota() {
            let v = if quota <= 0 {
                "-1".to_string()
            } else {
                quota.to_string()
            };
            write_file(&dir, "cpu.cfs_quota_us", &v, "cpu quota")?;
        }
        if let Some(burst) = c.burst() {
            write_file(&dir, "cpu.cfs_burst_us", &burst.to_string(), "cpu burst")?;
        }
        if let Some(idle) = c.idle() {
            write_file(&dir, "cpu.idle", &idle.to_string(), "cpu idle")?;
        }
    }
    if c.realtime_period().is_some() || c.realtime_runtime().is_some() {
        let dir = dir_for(cg, "cpu", "realtime cpu limit")?;
        if let Some(p) = c.realtime_period() {
            write_file(&dir, "cpu.rt_period_us", &p.to_string(), "realtime period")?;
        }
        if let Some(r) = c.realtime_runtime() {
            write_file(
                &dir,
                "cpu.rt_runtime_us",
                &r.to_string(),
                "realtime runtime",
            )?;
        }
    }
    if c.cpus().is_some() || c.mems().is_some() {
        let dir = dir_for(cg, "cpuset", "cpuset")?;
        if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
            write_file(&dir, "cpuset.cpus", cpus, "cpuset cpus")?;
        }
        if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
            write_file(&dir, "cpuset.mems", mems, "cpuset mems")?;
        }
    }
    Ok(())
}

/// The weight file: CFQ's `blkio.weight`, else BFQ's `blkio.bfq.weight`.
fn weight_file(dir: &Path) -> Result<&'static str, CgroupError> {
    if dir.join("blkio.weight").exists() {
        Ok("blkio.weight")
    } else if dir.join("blkio.bfq.weight").exists() {
        Ok("blkio.bfq.weight")
    } else {
        Err(CgroupError::MissingFile {
            what: "block IO weight".into(),
            path: dir.join("blkio.weight"),
            why: "neither blkio.weight (CFQ) nor blkio.bfq.weight (BFQ) is offered by this kernel",
        })
    }
}

fn blkio(cg: &Cgroup, b: &LinuxBlockIo) -> Result<(), CgroupError> {
    let dir = dir_for(cg, "blkio", "block IO limit")?;
    if let Some(w) = b.weight() {
        write_file(&dir, weight_file(&dir)?, &w.to_string(), "block IO weight")?;
    }
    if let Some(w) = b.leaf_weight() {
        write_file(
            &dir,
            "blkio.leaf_weight",
            &w.to_string(),
            "block IO leaf weight",
        )?;
    }
    for d in b.weight_device().iter().flatten() {
        if let Some(w) = d.weight() {
            let file = if weight_file(&dir)? == "blkio.weight" {
                "blkio.weight_device"
            } else {
                "blkio.bfq.weight_device"
            };
            write_file(
                &dir,
                file,
                &format!("{}:{} {w}", d.major(), d.minor()),
                "block IO device weight",
            )?;
        }
    }
    let throttles: [(&Option<Vec<LinuxThrottleDevice>>, &str); 4] = [
        (
            b.throttle_read_bps_device(),
            "blkio.throttle.read_bps_device",
        ),
        (
            b.throttle_write_bps_device(),
            "blkio.throttle.write_bps_device",
        ),
        (
            b.throttle_read_iops_device(),
            "blkio.throttle.read_iops_device",
        ),
        (
            b.throttle_write_iops_device(),
            "blkio.throttle.write_iops_device",
        ),
    ];
    for (list, file) in throttles {
        for d in list.iter().flatten() {
            write_file(
                &dir,
                file,
                &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
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
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxCpuBuilder, LinuxMemoryBuilder, LinuxPidsBuilder,
        LinuxResourcesBuilder,
    };
    use std::path::PathBuf;

    /// A fake v1 tree: hierarchies with the given interface files at their root.
    pub fn fake(root: &Path, hierarchies: &[(&str, &[&str])]) -> Hierarchy {
        let mut mounts = Vec::new();
        for (name, files) in hierarchies {
            let mp = root.join(name);
            std::fs::create_dir_all(&mp).unwrap();
            for f in *files {
                std::fs::write(mp.join(f), "").unwrap();
            }
            mounts.push(V1Mount {
                mountpoint: mp,
                controllers: vec![name.to_string()],
                name: None,
                own: "/".into(),
            });
        }
        Hierarchy::V1 { mounts }
    }

    /// Creating directories in a plain tree does not make interface files appear, as the
    /// kernel would; this copies them from the root.
    pub fn populate(cg: &Cgroup) {
        let Hierarchy::V1 { mounts } = cg.hierarchy() else {
            return;
        };
        for m in mounts {
            let dir = cg.v1_dir(&m.controllers[0]).unwrap();
            for e in std::fs::read_dir(&m.mountpoint).unwrap() {
                let e = e.unwrap();
                if e.file_type().unwrap().is_file() {
                    let _ = std::fs::write(dir.join(e.file_name()), "");
                }
            }
        }
    }

    fn read(p: PathBuf) -> String {
        std::fs::read_to_string(p).unwrap()
    }

    #[test]
    fn limits_land_in_their_files() {
        let root = tempfile::tempdir().unwrap();
        let h = fake(
            root.path(),
            &[
                (
                    "memory",
                    &[
                        "memory.limit_in_bytes",
                        "memory.soft_limit_in_bytes",
                        "memory.memsw.limit_in_bytes",
                        "cgroup.procs",
                    ],
                ),
                (
                    "cpu",
                    &["cpu.shares", "cpu.cfs_quota_us", "cpu.cfs_period_us"],
                ),
                ("pids", &["pids.max"]),
                ("blkio", &["blkio.bfq.weight"]),
            ],
        );
        let cg = Cgroup::new(&h, Path::new("/berth/c1")).unwrap();
        super::create(
            &cg,
            match &h {
                Hierarchy::V1 { mounts } => mounts,
                _ => unreachable!(),
            },
        )
        .unwrap();
        populate(&cg);
        let r = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(64i64 << 20)
                    .reservation(32i64 << 20)
                    .swap(128i64 << 20)
                    .build()
                    .unwrap(),
            )
            .cpu(
                LinuxCpuBuilder::default()
                    .shares(512u64)
                    .quota(50000i64)
                    .period(100000u64)
                    .build()
                    .unwrap(),
            )
            .pids(LinuxPidsBuilder::default().limit(20i64).build().unwrap())
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(300u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        cg.apply(&r).unwrap();
        let m = root.path().join("memory/berth/c1");
        assert_eq!(read(m.join("memory.limit_in_bytes")), "67108864");
        assert_eq!(read(m.join("memory.soft_limit_in_bytes")), "33554432");
        assert_eq!(read(m.join("memory.memsw.limit_in_bytes")), "134217728");
        let c = root.path().join("cpu/berth/c1");
        assert_eq!(read(c.join("cpu.cfs_quota_us")), "50000");
        assert_eq!(read(c.join("cpu.shares")), "512");
        assert_eq!(read(root.path().join("pids/berth/c1/pids.max")), "20");
        assert_eq!(
            read(root.path().join("blkio/berth/c1/blkio.bfq.weight")),
            "300"
        );
    }

    #[test]
    fn limits_that_cannot_apply_say_why() {
        let root = tempfile::tempdir().unwrap();
        let h = fake(root.path(), &[("memory", &["memory.limit_in_bytes"])]);
        let cg = Cgroup::new(&h, Path::new("/c")).unwrap();
        let Hierarchy::V1 { mounts } = &h else {
            unreachable!()
        };
        super::create(&cg, mounts).unwrap();
        populate(&cg);
        let swap = LinuxResourcesBuilder::default()
            .memory(
                LinuxMemoryBuilder::default()
                    .limit(1i64 << 20)
                    .swap(2i64 << 20)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        let e = cg.apply(&swap).unwrap_err().to_string();
        assert!(e.contains("no swap accounting"), "{e}");
        let pids = LinuxResourcesBuilder::default()
            .pids(LinuxPidsBuilder::default().limit(5i64).build().unwrap())
            .build()
            .unwrap();
        let e = cg.apply(&pids).unwrap_err().to_string();
        assert_eq!(
            e,
            "pids limit needs the pids cgroup controller, which is not mounted"
        );
        let blk = LinuxResourcesBuilder::default()
            .block_io(
                LinuxBlockIoBuilder::default()
                    .weight(10u16)
                    .build()
                    .unwrap(),
            )
            .build()
            .unwrap();
        assert!(cg.apply(&blk).is_err());
    }

    #[test]
    fn removal_takes_empty_parents_but_not_shared_ones() {
        let root = tempfile::tempdir().unwrap();
        let h = fake(root.path(), &[("pids", &[])]);
        let Hierarchy::V1 { mounts } = &h else {
            unreachable!()
        };
        let a = Cgroup::new(&h, Path::new("/berth/a")).unwrap();
        let b = Cgroup::new(&h, Path::new("/berth/b")).unwrap();
        super::create(&a, mounts).unwrap();
        super::create(&b, mounts).unwrap();
        a.remove().unwrap();
        assert!(
            root.path().join("pids/berth").exists(),
            "b still uses berth/"
        );
        b.remove().unwrap();
        assert!(!root.path().join("pids/berth").exists());
        assert!(root.path().join("pids").exists(), "never above the base");
    }

    #[test]
    fn new_cpusets_inherit_cpus_and_mems() {
        let root = tempfile::tempdir().unwrap();
        let h = fake(root.path(), &[("cpuset", &["cpuset.cpus", "cpuset.mems"])]);
        std::fs::write(root.path().join("cpuset/cpuset.cpus"), "0-1\n").unwrap();
        std::fs::write(root.path().join("cpuset/cpuset.mems"), "0\n").unwrap();
        // The kernel creates the files in each new directory, empty.
        let cg = Cgroup::new(&h, Path::new("/a")).unwrap();
        std::fs::create_dir_all(root.path().join("cpuset/a")).unwrap();
        std::fs::write(root.path().join("cpuset/a/cpuset.cpus"), "").unwrap();
        std::fs::write(root.path().join("cpuset/a/cpuset.mems"), "").unwrap();
        let Hierarchy::V1 { mounts } = &h else {
            unreachable!()
        };
        super::create(&cg, mounts).unwrap();
        assert_eq!(read(root.path().join("cpuset/a/cpuset.cpus")), "0-1");
        assert_eq!(read(root.path().join("cpuset/a/cpuset.mems")), "0");
    }
}
