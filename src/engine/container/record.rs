//! The fields of a container's record that come from its service: restart policy, stop
//! signal and grace period, log rotation, the command `ps` shows, `init`, and the ports to
//! publish (the executor picks random host ports and records them as `PortRecord`s).
//! `expose` is informational (containers of a network reach each other's ports anyway).
//! The health check is the service's `healthcheck` over the image's `HEALTHCHECK`, with
//! Docker's defaults for what neither sets.

use super::{ContainerInput, at, process, refuse};
use crate::engine::state::{HealthCheck, LogOptions, PortRecord};
use anyhow::Context;
use berth_compose::model::{Restart, ServiceConfig};
use berth_runtime::image::store::oci::ContainerConfig;
use std::net::IpAddr;
use std::str::FromStr;

/// Docker's default stop timeout, in seconds.
pub const DEFAULT_GRACE_PERIOD: u64 = 10;

/// The host side of a published port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostPort {
    /// A random free port (`"80"` published without a host port).
    Any,
    /// This port.
    Fixed(u16),
    /// Any free port of this range (`"8000-8010:80"`).
    Range(u16, u16),
}

/// One port to publish.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRequest {
    /// The host address (`None`: every address).
    pub host_ip: Option<IpAddr>,
    /// The host port.
    pub host_port: HostPort,
    /// The container port.
    pub container_port: u16,
    /// `tcp` or `udp`.
    pub protocol: String,
}

impl PortRequest {
    /// The record of this port once the executor chose `host_port` for it.
    pub fn record(&self, host_port: u16) -> PortRecord {
        PortRecord {
            host_ip: self.host_ip,
            host_port,
            container_port: self.container_port,
            protocol: self.protocol.clone(),
        }
    }
}

/// The record fields of a container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordFields {
    /// `no`, `always`, `on-failure`, `on-failure:N` or `unless-stopped`.
    pub restart_policy: String,
    /// `deploy.restart_policy.delay` and `.window`.
    pub restart_timing: (Option<std::time::Duration>, Option<std::time::Duration>),
    /// The stop signal, as `SIGNAME`.
    pub stop_signal: String,
    /// Seconds between the stop signal and SIGKILL.
    pub stop_grace_period: u64,
    /// Log rotation.
    pub log: LogOptions,
    /// Entrypoint then command.
    pub command: Vec<String>,
    /// Run berth's init as pid 1.
    pub init: bool,
    /// Ports to publish.
    pub ports: Vec<PortRequest>,
    /// Allocate a terminal (`tty`).
    pub tty: bool,
    /// Keep stdin open (`stdin_open`): the executor gives the container a stdin.
    pub stdin_open: bool,
    /// The health check, if any.
    pub healthcheck: Option<HealthCheck>,
}

/// The restart policy in Compose's spelling.
pub fn restart_policy(service: &str, svc: &ServiceConfig) -> anyhow::Result<String> {
    let key = if svc
        .deploy
        .as_ref()
        .is_some_and(|d| d.restart_policy.is_some())
    {
        "deploy.restart_policy"
    } else {
        "restart"
    };
    Ok(
        match svc.restart_policy().with_context(|| at(service, key))? {
            Restart::No => "no".into(),
            Restart::Always => "always".into(),
            Restart::UnlessStopped => "unless-stopped".into(),
            Restart::OnFailure { max_retries: None } => "on-failure".into(),
            Restart::OnFailure {
                max_retries: Some(n),
            } => format!("on-failure:{n}"),
        },
    )
}

/// Reads a signal as Docker does (`SIGTERM`, `TERM`, `15`) and names it `SIGTERM`.
pub fn signal_name(text: &str) -> Option<String> {
    use nix::sys::signal::Signal;
    let t = text.trim();
    if let Ok(n) = t.parse::<i32>() {
        return Signal::try_from(n).ok().map(|s| s.as_str().to_string());
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).ok().map(|s| s.as_str().to_string())
}

/// The stop signal: the service's, else the image's, else SIGTERM.
pub fn stop_signal(
    service: &str,
    svc: &ServiceConfig,
    image_signal: Option<&str>,
) -> anyhow::Result<String> {
    if let Some(s) = &svc.stop_signal {
        return signal_name(s)
            .ok_or_else(|| refuse(service, "stop_signal", format!("invalid signal {s:?}")));
    }
    match image_signal.filter(|s| !s.is_empty()) {
        Some(s) => signal_name(s).ok_or_else(|| {
            refuse(
                service,
                "stop_signal",
                format!("the image's StopSignal {s:?} is not a signal"),
            )
        }),
        None => Ok("SIGTERM".into()),
    }
}

/// The grace period in whole seconds (Compose truncates), 10 by default.
pub fn stop_grace_period(svc: &ServiceConfig) -> u64 {
    svc.stop_grace_period
        .map_or(DEFAULT_GRACE_PERIOD, |d| d.get().as_secs())
}

/// The `logging.options` of json-file that berth's log files honour.
const JSON_FILE_OPTIONS: &[&str] = &[
    "max-size",
    "max-file",
    "compress",
    "labels",
    "labels-regex",
    "env",
    "env-regex",
    "tag",
];

/// Log rotation from `logging`. berth writes Docker's json-file format itself, so only the
/// `json-file` and `local` drivers (and no driver) are accepted. `max-size` is read with
/// Docker's units, which are binary (`10m` is 10 MiB, go-units' `RAMInBytes`); `-1` is no
/// limit. `max-file` needs `max-size` when above 1, as in Docker. `compress` and the
/// metadata options are accepted and have no effect.
pub fn log_options(service: &str, svc: &ServiceConfig) -> anyhow::Result<LogOptions> {
    let Some(logging) = &svc.logging else {
        return Ok(LogOptions::default());
    };
    match logging.driver.as_deref() {
        None | Some("" | "json-file" | "local") => {}
        Some(d) => {
            return Err(refuse(
                service,
                "logging.driver",
                format!("{d:?} is not supported: berth writes json-file logs (json-file, local)"),
            ));
        }
    }
    let mut out = LogOptions::default();
    for (k, v) in &logging.options {
        let key = format!("logging.options.{k}");
        if !JSON_FILE_OPTIONS.contains(&k.as_str()) {
            return Err(refuse(service, &key, "unknown log option"));
        }
        match k.as_str() {
            "max-size" => {
                out.max_size = if v.trim() == "-1" {
                    None
                } else {
                    let n =
                        berth_volumes::mounts::parse_size(v).with_context(|| at(service, &key))?;
                    if n == 0 {
                        return Err(refuse(service, &key, "must be greater than 0"));
                    }
                    Some(n)
                };
            }
            "max-file" => {
                out.max_files = v
                    .trim()
                    .parse()
                    .ok()
                    .filter(|n| *n >= 1)
                    .ok_or_else(|| refuse(service, &key, "must be a number of at least 1"))?;
            }
            _ => {}
        }
    }
    if out.max_files > 1 && out.max_size.is_none() {
        return Err(refuse(
            service,
            "logging.options.max-file",
            "max-file cannot be greater than 1 when max-size is not set",
        ));
    }
    Ok(out)
}

/// The published ports, one request per container port.
pub fn ports(service: &str, svc: &ServiceConfig) -> anyhow::Result<Vec<PortRequest>> {
    let mut out = Vec::new();
    for p in &svc.ports {
        let key = format!("ports {}", p.target);
        let protocol = p.protocol().to_ascii_lowercase();
        if protocol != "tcp" && protocol != "udp" {
            return Err(refuse(
                service,
                &key,
                format!("protocol {protocol:?} is not supported (tcp, udp)"),
            ));
        }
        if p.target == 0 {
            return Err(refuse(service, &key, "the container port must not be 0"));
        }
        let host_ip = match p.host_ip.as_deref().filter(|s| !s.is_empty()) {
            None => None,
            Some(ip) => Some(
                ip.trim_start_matches('[')
                    .trim_end_matches(']')
                    .parse::<IpAddr>()
                    .map_err(|_| refuse(service, &key, format!("invalid host address {ip:?}")))?,
            ),
        };
        let host_port = match p
            .published
            .as_deref()
            .map(str::trim)
            .filter(|s| !s.is_empty())
        {
            None => HostPort::Any,
            Some(text) => match p.published_range() {
                Some((0, 0)) => HostPort::Any,
                Some((a, b)) if a == b => HostPort::Fixed(a),
                Some((a, b)) if a < b && a > 0 => HostPort::Range(a, b),
                _ => {
                    return Err(refuse(
                        service,
                        &key,
                        format!("invalid published port {text:?}"),
                    ));
                }
            },
        };
        out.push(PortRequest {
            host_ip,
            host_port,
            container_port: p.target,
            protocol,
        });
    }
    Ok(out)
}

/// The health check: the service's `healthcheck` over the image's, each value falling back to
/// the image's and then to Docker's default (a zero duration or retry count means "unset", as
/// in Docker). `disable: true` or a `NONE` test turns any check off; no test means no check.
pub fn healthcheck(
    service: &str,
    svc: &ServiceConfig,
    image: &ContainerConfig,
) -> anyhow::Result<Option<HealthCheck>> {
    use crate::engine::state::health as d;
    use std::time::Duration;
    let own = svc.healthcheck.as_ref();
    if own.is_some_and(|h| h.is_disabled()) {
        return Ok(None);
    }
    let from_image = image.healthcheck.as_ref();
    let nanos = |v: Option<i64>| v.filter(|n| *n > 0).map(|n| Duration::from_nanos(n as u64));
    let pick = |own: Option<Duration>, image: Option<i64>, default: Duration| {
        own.filter(|d| !d.is_zero())
            .or_else(|| nanos(image))
            .unwrap_or(default)
    };
    let test = own
        .and_then(|h| h.test.clone())
        .filter(|t| !t.is_empty())
        .or_else(|| from_image.and_then(|h| h.test.clone()))
        .unwrap_or_default();
    match test.first().map(String::as_str) {
        None | Some("NONE") => return Ok(None),
        Some("CMD" | "CMD-SHELL") if test.len() > 1 => {}
        Some("CMD" | "CMD-SHELL") => {
            return Err(refuse(
                service,
                "healthcheck.test",
                "the test has no command",
            ));
        }
        Some(other) => {
            return Err(refuse(
                service,
                "healthcheck.test",
                format!("must start with \"CMD\", \"CMD-SHELL\" or \"NONE\", not {other:?}"),
            ));
        }
    }
    let retries = own
        .and_then(|h| h.retries)
        .filter(|n| *n > 0)
        .or_else(|| {
            from_image
                .and_then(|h| h.retries)
                .filter(|n| *n > 0)
                .map(|n| n as u64)
        })
        .map_or(d::DEFAULT_RETRIES, |n| u32::try_from(n).unwrap_or(u32::MAX));
    let dur = |f: fn(&berth_compose::model::HealthCheckConfig) -> Option<Duration>| own.and_then(f);
    Ok(Some(HealthCheck {
        test,
        interval: pick(
            dur(|h| h.interval.map(|d| d.get())),
            from_image.and_then(|h| h.interval),
            d::DEFAULT_INTERVAL,
        ),
        timeout: pick(
            dur(|h| h.timeout.map(|d| d.get())),
            from_image.and_then(|h| h.timeout),
            d::DEFAULT_TIMEOUT,
        ),
        start_period: pick(
            dur(|h| h.start_period.map(|d| d.get())),
            from_image.and_then(|h| h.start_period),
            Duration::ZERO,
        ),
        start_interval: pick(
            dur(|h| h.start_interval.map(|d| d.get())),
            from_image.and_then(|h| h.start_interval),
            d::DEFAULT_START_INTERVAL,
        ),
        retries,
    }))
}

/// The record fields of the container of `input`.
pub fn record_fields(input: &ContainerInput) -> anyhow::Result<RecordFields> {
    let svc = input.config()?;
    let service = input.service;
    let image = input.defaults();
    Ok(RecordFields {
        restart_policy: restart_policy(service, svc)?,
        restart_timing: svc
            .deploy
            .as_ref()
            .and_then(|d| d.restart_policy.as_ref())
            .map_or((None, None), |p| {
                (p.delay.map(|d| d.get()), p.window.map(|d| d.get()))
            }),
        stop_signal: stop_signal(service, svc, image.stop_signal.as_deref())?,
        stop_grace_period: stop_grace_period(svc),
        log: log_options(service, svc)?,
        command: process::args(service, svc, image)?,
        init: svc.init == Some(true),
        ports: ports(service, svc)?,
        tty: svc.tty == Some(true),
        stdin_open: svc.stdin_open == Some(true),
        healthcheck: healthcheck(service, svc, image)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::{Fixture, project, service};

    #[test]
    fn restart_policies() {
        let r = |body: &str| restart_policy("s", &service(&format!("image: x\n{body}")));
        assert_eq!(r("").unwrap(), "no");
        assert_eq!(r("restart: always").unwrap(), "always");
        assert_eq!(r("restart: on-failure:3").unwrap(), "on-failure:3");
        assert_eq!(r("restart: unless-stopped").unwrap(), "unless-stopped");
        assert_eq!(
            r("deploy: {restart_policy: {condition: any}}").unwrap(),
            "always"
        );
        assert_eq!(
            r("deploy: {restart_policy: {condition: on-failure, max_attempts: 5}}").unwrap(),
            "on-failure:5"
        );
        assert_eq!(
            r("deploy: {restart_policy: {condition: none}}").unwrap(),
            "no"
        );
        let e = restart_policy("web", &service("image: x\nrestart: sometimes")).unwrap_err();
        assert!(
            format!("{e:#}").starts_with("service \"web\": restart"),
            "{e:#}"
        );
    }

    #[test]
    fn stop_signals_and_grace() {
        let s = service("image: x\nstop_signal: INT\nstop_grace_period: 1m30s");
        assert_eq!(stop_signal("s", &s, Some("SIGQUIT")).unwrap(), "SIGINT");
        assert_eq!(stop_grace_period(&s), 90);
        let s = service("image: x");
        assert_eq!(stop_signal("s", &s, Some("SIGQUIT")).unwrap(), "SIGQUIT");
        assert_eq!(stop_signal("s", &s, Some("9")).unwrap(), "SIGKILL");
        assert_eq!(stop_signal("s", &s, None).unwrap(), "SIGTERM");
        assert_eq!(stop_grace_period(&s), 10);
        assert!(stop_signal("s", &service("image: x\nstop_signal: SIGNOPE"), None).is_err());
        assert_eq!(
            stop_grace_period(&service("image: x\nstop_grace_period: 1500ms")),
            1
        );
    }

    #[test]
    fn log_rotation() {
        let l = |body: &str| log_options("s", &service(&format!("image: x\n{body}")));
        assert_eq!(l("").unwrap(), LogOptions::default());
        let o = l("logging: {driver: json-file, options: {max-size: 10m, max-file: '3', compress: 'true'}}").unwrap();
        assert_eq!((o.max_size, o.max_files), (Some(10 << 20), 3));
        assert_eq!(
            l("logging: {options: {max-size: 1k}}").unwrap().max_size,
            Some(1024)
        );
        assert_eq!(
            l("logging: {options: {max-size: '-1'}}").unwrap().max_size,
            None
        );
        assert!(l("logging: {driver: syslog}").is_err());
        assert!(l("logging: {options: {max-file: '3'}}").is_err());
        assert!(l("logging: {options: {max-file: '0', max-size: 1m}}").is_err());
        assert!(l("logging: {options: {max-size: lots}}").is_err());
        let e = l("logging: {options: {syslog-address: x}}").unwrap_err();
        assert!(
            e.to_string()
                .starts_with("service \"s\": logging.options.syslog-address"),
            "{e}"
        );
    }

    #[test]
    fn published_ports() {
        let s = service(
            "image: x\nports: ['8080:80', '127.0.0.1::53/udp', '9000-9001:9000-9001', '443', '7000-7010:70', '[::1]:81:81']",
        );
        let p = ports("s", &s).unwrap();
        let brief: Vec<(Option<String>, HostPort, u16, &str)> = p
            .iter()
            .map(|r| {
                (
                    r.host_ip.map(|i| i.to_string()),
                    r.host_port,
                    r.container_port,
                    r.protocol.as_str(),
                )
            })
            .collect();
        assert_eq!(
            brief,
            vec![
                (None, HostPort::Fixed(8080), 80, "tcp"),
                (Some("127.0.0.1".into()), HostPort::Any, 53, "udp"),
                (None, HostPort::Fixed(9000), 9000, "tcp"),
                (None, HostPort::Fixed(9001), 9001, "tcp"),
                (None, HostPort::Any, 443, "tcp"),
                (None, HostPort::Range(7000, 7010), 70, "tcp"),
                (Some("::1".into()), HostPort::Fixed(81), 81, "tcp"),
            ]
        );
        assert!(
            ports(
                "s",
                &service("image: x\nports: [{target: 80, protocol: sctp}]")
            )
            .is_err()
        );
    }

    #[test]
    fn health_checks() {
        use berth_runtime::image::store::oci::HealthConfig;
        use std::time::Duration;
        let none = ContainerConfig::default();
        let h = |body: &str, image: &ContainerConfig| {
            healthcheck("s", &service(&format!("image: x\n{body}")), image)
        };
        assert_eq!(h("", &none).unwrap(), None);
        let c = h("healthcheck: {test: 'pg_isready', interval: 1s}", &none)
            .unwrap()
            .unwrap();
        assert_eq!(c.test, ["CMD-SHELL", "pg_isready"]);
        assert_eq!(c.interval, Duration::from_secs(1));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.start_interval, Duration::from_secs(5));
        assert_eq!(c.start_period, Duration::ZERO);
        assert_eq!(c.retries, 3);
        let image = ContainerConfig {
            healthcheck: Some(HealthConfig {
                test: Some(vec!["CMD".into(), "/ok".into()]),
                interval: Some(2_000_000_000),
                retries: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        };
        let c = h("", &image).unwrap().unwrap();
        assert_eq!((c.test[1].as_str(), c.retries), ("/ok", 7));
        assert_eq!(c.interval, Duration::from_secs(2));
        // The service's values win; what it leaves out comes from the image.
        let c = h("healthcheck: {retries: 1, timeout: 3s}", &image)
            .unwrap()
            .unwrap();
        assert_eq!((c.test[1].as_str(), c.retries), ("/ok", 1));
        assert_eq!(c.timeout, Duration::from_secs(3));
        assert_eq!(c.interval, Duration::from_secs(2));
        assert_eq!(h("healthcheck: {disable: true}", &image).unwrap(), None);
        assert_eq!(h("healthcheck: {test: [NONE]}", &image).unwrap(), None);
        assert!(h("healthcheck: {test: [CMD]}", &none).is_err());
    }

    #[test]
    fn all_fields_together() {
        let f = Fixture::new(project(
            "services:\n  s:\n    image: x\n    init: true\n    tty: true\n    entrypoint: [/bin/sh, -c]\n    command: [echo hi]\n",
        ));
        let r = record_fields(&f.input("s")).unwrap();
        assert_eq!(r.command, ["/bin/sh", "-c", "echo hi"]);
        assert!(r.init && r.tty && !r.stdin_open);
        assert_eq!(r.restart_policy, "no");
        assert_eq!(r.stop_signal, "SIGTERM");
        assert_eq!(r.stop_grace_period, 10);
    }
}
