//! cgroup limits (memory, CPU, pids, block IO), devices and device cgroup rules, and the size
//! of /dev/shm. A service value wins over its `deploy.resources` counterpart, as in Compose.

use super::{at, refuse};
use anyhow::Context;
use berth_compose::model::{Resource, ServiceConfig, ThrottleDevice};
use berth_runtime::container::defaults::host_devices;
use oci_spec::runtime::{
    LinuxBlockIo, LinuxBlockIoBuilder, LinuxCpu, LinuxCpuBuilder, LinuxDevice, LinuxDeviceBuilder,
    LinuxDeviceCgroup, LinuxDeviceCgroupBuilder, LinuxDeviceType, LinuxMemory, LinuxMemoryBuilder,
    LinuxPids, LinuxPidsBuilder, LinuxThrottleDevice, LinuxThrottleDeviceBuilder,
    LinuxWeightDeviceBuilder,
};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// Docker's CFS period for `cpus` (100 ms, in microseconds).
const CPU_PERIOD: i64 = 100_000;

fn limits(svc: &ServiceConfig) -> Option<&Resource> {
    svc.deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
}

fn reservations(svc: &ServiceConfig) -> Option<&Resource> {
    svc.deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.reservations.as_ref())
}

/// Memory limits: `mem_limit` (else `deploy.resources.limits.memory`), `mem_reservation`
/// (else the reservation), `memswap_limit` (-1: unlimited swap), `mem_swappiness`,
/// `oom_kill_disable`.
pub fn memory(service: &str, svc: &ServiceConfig) -> anyhow::Result<Option<LinuxMemory>> {
    let limit = svc
        .mem_limit
        .or_else(|| limits(svc).and_then(|l| l.memory))
        .map(|b| b.bytes())
        .filter(|b| *b != 0);
    let reservation = svc
        .mem_reservation
        .or_else(|| reservations(svc).and_then(|r| r.memory))
        .map(|b| b.bytes())
        .filter(|b| *b != 0);
    let swap = svc.memswap_limit.map(|b| b.bytes()).filter(|b| *b != 0);
    // -1 is Docker's "not set".
    let swappiness = svc.mem_swappiness.map(|b| b.bytes()).filter(|s| *s != -1);
    let oom = svc.oom_kill_disable.filter(|d| *d);
    if limit.is_none()
        && reservation.is_none()
        && swap.is_none()
        && swappiness.is_none()
        && oom.is_none()
    {
        return Ok(None);
    }
    if let Some(l) = limit
        && l < 6 * 1024 * 1024
    {
        return Err(refuse(
            service,
            "mem_limit",
            "the minimum memory limit is 6MB",
        ));
    }
    let mut b = LinuxMemoryBuilder::default();
    if let Some(l) = limit {
        b = b.limit(l);
    }
    if let Some(r) = reservation {
        if limit.is_some_and(|l| r > l) {
            return Err(refuse(
                service,
                "mem_reservation",
                "the memory reservation must be smaller than the memory limit",
            ));
        }
        b = b.reservation(r);
    }
    if let Some(s) = swap {
        let Some(l) = limit else {
            return Err(refuse(
                service,
                "memswap_limit",
                "it needs a memory limit (mem_limit) as well",
            ));
        };
        if s != -1 && s < l {
            return Err(refuse(
                service,
                "memswap_limit",
                "the memory plus swap limit must be at least the memory limit",
            ));
        }
        b = b.swap(s);
    }
    if let Some(s) = swappiness {
        let s = u64::try_from(s)
            .ok()
            .filter(|s| *s <= 100)
            .ok_or_else(|| refuse(service, "mem_swappiness", "must be between 0 and 100"))?;
        b = b.swappiness(s);
    }
    if oom.is_some() {
        b = b.disable_oom_killer(true);
    }
    b.build()
        .with_context(|| at(service, "mem_limit"))
        .map(Some)
}

/// CPU limits: `cpus` (else `deploy.resources.limits.cpus`) as a CFS quota over Docker's
/// 100 ms period, or `cpu_quota`/`cpu_period`; `cpu_shares`, `cpuset`, real-time settings.
/// `cpu_count` and `cpu_percent` are Windows settings Docker ignores on Linux.
pub fn cpu(service: &str, svc: &ServiceConfig) -> anyhow::Result<Option<LinuxCpu>> {
    let cpus = svc
        .cpus
        .or_else(|| limits(svc).and_then(|l| l.cpus))
        .filter(|c| *c != 0.0);
    let mut b = LinuxCpuBuilder::default();
    let mut any = false;
    if let Some(c) = cpus {
        if svc.cpu_quota.is_some() || svc.cpu_period.is_some() {
            return Err(refuse(
                service,
                "cpus",
                "conflicting options: cpus and cpu_period/cpu_quota cannot both be set",
            ));
        }
        let available = std::thread::available_parallelism().map_or(1, |n| n.get()) as f64;
        if c.is_nan() || c <= 0.0 || c > available {
            return Err(refuse(
                service,
                "cpus",
                format!("range of CPUs is from 0.01 to {available} (the CPUs available)"),
            ));
        }
        b = b
            .quota((c * CPU_PERIOD as f64).round() as i64)
            .period(CPU_PERIOD as u64);
        any = true;
    }
    if let Some(q) = svc.cpu_quota {
        if q != 0 && q < 1000 {
            return Err(refuse(
                service,
                "cpu_quota",
                "the minimum CPU quota is 1000 (1ms)",
            ));
        }
        b = b.quota(q);
        any = true;
    }
    if let Some(p) = svc.cpu_period {
        let p = u64::try_from(p)
            .ok()
            .filter(|p| (1000..=1_000_000).contains(p))
            .ok_or_else(|| {
                refuse(
                    service,
                    "cpu_period",
                    "must be between 1000 and 1000000 microseconds",
                )
            })?;
        b = b.period(p);
        any = true;
    }
    if let Some(s) = svc.cpu_shares {
        let s =
            u64::try_from(s).map_err(|_| refuse(service, "cpu_shares", "must not be negative"))?;
        b = b.shares(s);
        any = true;
    }
    if let Some(set) = &svc.cpuset {
        if !is_cpu_list(set) {
            return Err(refuse(
                service,
                "cpuset",
                format!("{set:?} is not a CPU list such as 0-3 or 0,2"),
            ));
        }
        b = b.cpus(set.clone());
        any = true;
    }
    if let Some(r) = svc.cpu_rt_runtime {
        b = b.realtime_runtime(r);
        any = true;
    }
    if let Some(p) = svc.cpu_rt_period {
        let p = u64::try_from(p)
            .map_err(|_| refuse(service, "cpu_rt_period", "must not be negative"))?;
        b = b.realtime_period(p);
        any = true;
    }
    if !any {
        return Ok(None);
    }
    b.build().with_context(|| at(service, "cpus")).map(Some)
}

/// Whether `s` is a list of CPUs (`0-3`, `0,2,4-5`).
fn is_cpu_list(s: &str) -> bool {
    !s.is_empty()
        && s.split(',').all(|part| {
            let mut ends = part.splitn(2, '-');
            ends.all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// The process limit: `pids_limit` (else `deploy.resources.limits.pids`); 0 or -1 is
/// unlimited, as in Docker.
pub fn pids(svc: &ServiceConfig) -> Option<LinuxPids> {
    let n = svc
        .pids_limit
        .or_else(|| limits(svc).and_then(|l| l.pids))?;
    let limit = if n <= 0 { -1 } else { n };
    LinuxPidsBuilder::default().limit(limit).build().ok()
}

/// The major and minor numbers of host block device `path`.
fn block_device(service: &str, key: &str, path: &str) -> anyhow::Result<(i64, i64)> {
    let meta = std::fs::metadata(path).with_context(|| format!("{}: {path}", at(service, key)))?;
    if !meta.file_type().is_block_device() {
        return Err(refuse(
            service,
            key,
            format!("{path} is not a block device"),
        ));
    }
    let rdev = meta.rdev();
    Ok((libc::major(rdev) as i64, libc::minor(rdev) as i64))
}

fn throttles(
    service: &str,
    key: &str,
    list: &[ThrottleDevice],
) -> anyhow::Result<Vec<LinuxThrottleDevice>> {
    list.iter()
        .map(|t| {
            let (major, minor) = block_device(service, key, &t.path)?;
            let rate = u64::try_from(t.rate.bytes())
                .map_err(|_| refuse(service, key, "a rate must not be negative"))?;
            LinuxThrottleDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .rate(rate)
                .build()
                .with_context(|| at(service, key))
        })
        .collect()
}

/// `blkio_config`: weights and throttles, per device given by its host path.
pub fn block_io(service: &str, svc: &ServiceConfig) -> anyhow::Result<Option<LinuxBlockIo>> {
    let Some(cfg) = &svc.blkio_config else {
        return Ok(None);
    };
    let weight_ok = |w: u16| w == 0 || (10..=1000).contains(&w);
    let mut b = LinuxBlockIoBuilder::default();
    if let Some(w) = cfg.weight {
        if !weight_ok(w) {
            return Err(refuse(
                service,
                "blkio_config.weight",
                "must be between 10 and 1000",
            ));
        }
        b = b.weight(w);
    }
    let mut weights = Vec::new();
    for d in &cfg.weight_device {
        let key = "blkio_config.weight_device";
        if !weight_ok(d.weight) {
            return Err(refuse(service, key, "a weight must be between 10 and 1000"));
        }
        let (major, minor) = block_device(service, key, &d.path)?;
        weights.push(
            LinuxWeightDeviceBuilder::default()
                .major(major)
                .minor(minor)
                .weight(d.weight)
                .build()
                .with_context(|| at(service, key))?,
        );
    }
    if !weights.is_empty() {
        b = b.weight_device(weights);
    }
    let rb = throttles(
        service,
        "blkio_config.device_read_bps",
        &cfg.device_read_bps,
    )?;
    let wb = throttles(
        service,
        "blkio_config.device_write_bps",
        &cfg.device_write_bps,
    )?;
    let ri = throttles(
        service,
        "blkio_config.device_read_iops",
        &cfg.device_read_iops,
    )?;
    let wi = throttles(
        service,
        "blkio_config.device_write_iops",
        &cfg.device_write_iops,
    )?;
    for (list, set) in [(rb, 0), (wb, 1), (ri, 2), (wi, 3)] {
        if list.is_empty() {
            continue;
        }
        b = match set {
            0 => b.throttle_read_bps_device(list),
            1 => b.throttle_write_bps_device(list),
            2 => b.throttle_read_iops_device(list),
            _ => b.throttle_write_iops_device(list),
        };
    }
    b.build()
        .with_context(|| at(service, "blkio_config"))
        .map(Some)
}

/// The size of /dev/shm (`shm_size`), when the service sets one.
pub fn shm_size(service: &str, svc: &ServiceConfig) -> anyhow::Result<Option<u64>> {
    match svc.shm_size {
        None => Ok(None),
        Some(s) => u64::try_from(s.bytes())
            .ok()
            .filter(|s| *s > 0)
            .map(Some)
            .ok_or_else(|| refuse(service, "shm_size", "must be greater than 0")),
    }
}

/// Host devices mapped into the container (`devices`), with the cgroup rules that allow
/// them. A directory maps every device under it, as Docker does.
pub fn devices(
    service: &str,
    svc: &ServiceConfig,
) -> anyhow::Result<(Vec<LinuxDevice>, Vec<LinuxDeviceCgroup>)> {
    let mut devs = Vec::new();
    let mut rules = Vec::new();
    for d in &svc.devices {
        let key = format!("devices {}", d.source);
        let perms = d.permissions.clone().unwrap_or_else(|| "rwm".into());
        if perms.is_empty() || !perms.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
            return Err(refuse(
                service,
                &key,
                format!("invalid permissions {perms:?} (r, w, m)"),
            ));
        }
        let source = PathBuf::from(&d.source);
        let target = PathBuf::from(d.target.as_deref().unwrap_or(&d.source));
        if !target.is_absolute() {
            return Err(refuse(service, &key, "the target must be an absolute path"));
        }
        let meta = std::fs::metadata(&source).with_context(|| at(service, &key))?;
        let found: Vec<LinuxDevice> = if meta.is_dir() {
            host_devices(&source)
                .into_iter()
                .filter_map(|dev| {
                    let rel = dev.path().strip_prefix(&source).ok()?.to_path_buf();
                    let mut dev = dev.clone();
                    dev.set_path(target.join(rel));
                    Some(dev)
                })
                .collect()
        } else {
            vec![device_node(service, &key, &source, &target, &meta)?]
        };
        for dev in found {
            rules.push(
                LinuxDeviceCgroupBuilder::default()
                    .allow(true)
                    .typ(dev.typ())
                    .major(dev.major())
                    .minor(dev.minor())
                    .access(perms.clone())
                    .build()
                    .with_context(|| at(service, &key))?,
            );
            devs.push(dev);
        }
    }
    for rule in &svc.device_cgroup_rules {
        rules.push(device_rule(service, rule)?);
    }
    Ok((devs, rules))
}

fn device_node(
    service: &str,
    key: &str,
    source: &Path,
    target: &Path,
    meta: &std::fs::Metadata,
) -> anyhow::Result<LinuxDevice> {
    let ft = meta.file_type();
    let typ = if ft.is_char_device() {
        LinuxDeviceType::C
    } else if ft.is_block_device() {
        LinuxDeviceType::B
    } else {
        return Err(refuse(
            service,
            key,
            format!("{} is not a device", source.display()),
        ));
    };
    let rdev = meta.rdev();
    LinuxDeviceBuilder::default()
        .path(target)
        .typ(typ)
        .major(libc::major(rdev) as i64)
        .minor(libc::minor(rdev) as i64)
        .file_mode(meta.mode() & 0o7777)
        .uid(meta.uid())
        .gid(meta.gid())
        .build()
        .with_context(|| at(service, key))
}

/// Parses a device cgroup rule: `c 1:3 mr`, `b 8:* r`, `a *:* rwm`.
pub fn device_rule(service: &str, rule: &str) -> anyhow::Result<LinuxDeviceCgroup> {
    let key = format!("device_cgroup_rules {rule:?}");
    let bad = || {
        refuse(
            service,
            &key,
            "expected TYPE MAJOR:MINOR ACCESS, such as 'c 1:3 mr'",
        )
    };
    let parts: Vec<&str> = rule.split_whitespace().collect();
    let [typ, numbers, access] = parts.as_slice() else {
        return Err(bad());
    };
    let typ = match *typ {
        "a" => LinuxDeviceType::A,
        "b" => LinuxDeviceType::B,
        "c" => LinuxDeviceType::C,
        _ => return Err(bad()),
    };
    let (major, minor) = numbers.split_once(':').ok_or_else(bad)?;
    let number = |n: &str| -> anyhow::Result<Option<i64>> {
        if n == "*" {
            Ok(None)
        } else {
            n.parse().map(Some).map_err(|_| bad())
        }
    };
    let (major, minor) = (number(major)?, number(minor)?);
    if access.is_empty() || !access.chars().all(|c| matches!(c, 'r' | 'w' | 'm')) {
        return Err(bad());
    }
    let mut b = LinuxDeviceCgroupBuilder::default()
        .allow(true)
        .typ(typ)
        .access(access.to_string());
    if let Some(m) = major {
        b = b.major(m);
    }
    if let Some(m) = minor {
        b = b.minor(m);
    }
    b.build().with_context(|| at(service, &key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::service;

    #[test]
    fn memory_limits() {
        let s = service(
            "image: x\nmem_limit: 512m\nmemswap_limit: 1g\nmem_reservation: 256m\nmem_swappiness: 10\noom_kill_disable: true",
        );
        let m = memory("s", &s).unwrap().unwrap();
        assert_eq!(m.limit(), Some(512 << 20));
        assert_eq!(m.swap(), Some(1 << 30));
        assert_eq!(m.reservation(), Some(256 << 20));
        assert_eq!(m.swappiness(), Some(10));
        assert_eq!(m.disable_oom_killer(), Some(true));
        let m = memory(
            "s",
            &service("image: x\ndeploy: {resources: {limits: {memory: 64m}}}"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(m.limit(), Some(64 << 20));
        assert_eq!(
            memory("s", &service("image: x\nmem_limit: 32m\nmemswap_limit: -1"))
                .unwrap()
                .unwrap()
                .swap(),
            Some(-1)
        );
        assert!(memory("s", &service("image: x")).unwrap().is_none());
        assert!(
            memory("s", &service("image: x\nmem_swappiness: -1"))
                .unwrap()
                .is_none()
        );
        assert!(memory("s", &service("image: x\nmem_swappiness: 101")).is_err());
        let e = memory("web", &service("image: x\nmemswap_limit: 1g")).unwrap_err();
        assert!(
            e.to_string().starts_with("service \"web\": memswap_limit"),
            "{e}"
        );
        assert!(memory("s", &service("image: x\nmem_limit: 1k")).is_err());
        assert!(
            memory(
                "s",
                &service("image: x\nmem_limit: 64m\nmemswap_limit: 32m")
            )
            .is_err()
        );
    }

    #[test]
    fn cpu_limits() {
        let c = cpu(
            "s",
            &service("image: x\ncpus: 0.5\ncpu_shares: 512\ncpuset: '0'"),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.quota(), c.period()), (Some(50_000), Some(100_000)));
        assert_eq!(c.shares(), Some(512));
        assert_eq!(c.cpus().as_deref(), Some("0"));
        let c = cpu(
            "s",
            &service("image: x\ndeploy: {resources: {limits: {cpus: '0.25'}}}"),
        )
        .unwrap()
        .unwrap();
        assert_eq!(c.quota(), Some(25_000));
        let c = cpu(
            "s",
            &service("image: x\ncpu_quota: 20000\ncpu_period: 50000"),
        )
        .unwrap()
        .unwrap();
        assert_eq!((c.quota(), c.period()), (Some(20_000), Some(50_000)));
        assert!(cpu("s", &service("image: x\ncpus: 0.5\ncpu_quota: 20000")).is_err());
        assert!(cpu("s", &service("image: x\ncpus: 100000")).is_err());
        assert!(cpu("s", &service("image: x\ncpuset: 'a-b'")).is_err());
        assert!(cpu("s", &service("image: x\ncpu_period: 5")).is_err());
        assert!(cpu("s", &service("image: x")).unwrap().is_none());
    }

    #[test]
    fn pids_limit() {
        assert_eq!(
            pids(&service("image: x\npids_limit: 50")).unwrap().limit(),
            50
        );
        assert_eq!(
            pids(&service("image: x\npids_limit: -1")).unwrap().limit(),
            -1
        );
        assert_eq!(
            pids(&service(
                "image: x\ndeploy: {resources: {limits: {pids: 7}}}"
            ))
            .unwrap()
            .limit(),
            7
        );
        assert!(pids(&service("image: x")).is_none());
    }

    #[test]
    fn shm_and_blkio() {
        assert_eq!(
            shm_size("s", &service("image: x\nshm_size: 128m")).unwrap(),
            Some(128 << 20)
        );
        assert_eq!(shm_size("s", &service("image: x")).unwrap(), None);
        let b = block_io("s", &service("image: x\nblkio_config: {weight: 300}"))
            .unwrap()
            .unwrap();
        assert_eq!(b.weight(), Some(300));
        assert!(block_io("s", &service("image: x\nblkio_config: {weight: 5}")).is_err());
        let e = block_io(
            "s",
            &service("image: x\nblkio_config: {device_read_bps: [{path: /dev/null, rate: 1m}]}"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("not a block device"), "{e}");
    }

    #[test]
    fn devices_and_rules() {
        let (devs, rules) = devices("s", &service("image: x\ndevices: ['/dev/null:/dev/mynull:r']\ndevice_cgroup_rules: ['c 1:3 mr', 'a *:* rwm']")).unwrap();
        assert_eq!(devs.len(), 1);
        assert_eq!(devs[0].path(), Path::new("/dev/mynull"));
        assert_eq!((devs[0].major(), devs[0].minor()), (1, 3));
        assert_eq!(rules.len(), 3);
        assert_eq!(rules[0].access().as_deref(), Some("r"));
        assert_eq!(rules[1].major(), Some(1));
        assert_eq!(rules[2].major(), None);
        assert!(devices("s", &service("image: x\ndevices: ['/etc/hostname']")).is_err());
        assert!(devices("s", &service("image: x\ndevices: ['/nonexistent-dev']")).is_err());
        assert!(device_rule("s", "x 1:3 r").is_err());
        assert!(device_rule("s", "c 1:3").is_err());
        assert!(device_rule("s", "c one:3 r").is_err());
        assert!(device_rule("s", "c 1:3 q").is_err());
    }
}
