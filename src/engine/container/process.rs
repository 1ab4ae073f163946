//! The container's process: its arguments (Docker's entrypoint and command rules), its
//! environment, user, working directory, terminal, rlimits, capabilities and security options.

use super::{at, refuse};
use anyhow::Context;
use berth_compose::model::{ServiceConfig, UlimitConfig};
use berth_runtime::container::capabilities;
use berth_runtime::container::defaults::DEFAULT_PATH;
use berth_runtime::container::process::{ExecUser, resolve_user};
use berth_runtime::container::seccomp::Profile;
use berth_runtime::container::seccomp::default_profile;
use berth_runtime::container::seccomp::docker::{kernel_version, native_arch, to_oci};
use berth_runtime::image::store::oci::ContainerConfig;
use oci_spec::runtime::{
    LinuxCapabilities, LinuxSeccomp, PosixRlimit, PosixRlimitBuilder, PosixRlimitType,
};
use std::path::Path;

/// The process's arguments: entrypoint then command, with Docker's rules. A non-empty
/// service `entrypoint` replaces the image's and drops the image's `Cmd` (only the service's
/// `command` follows it); an empty one (`entrypoint: []`) removes the image's entrypoint and
/// keeps its `Cmd`. An empty `command` falls back to the image's, as in the Docker engine.
pub fn args(
    service: &str,
    svc: &ServiceConfig,
    image: &ContainerConfig,
) -> anyhow::Result<Vec<String>> {
    let own_command = svc.command.clone().filter(|c| !c.is_empty());
    let (entrypoint, command) = match &svc.entrypoint {
        Some(e) if !e.is_empty() => (e.clone(), own_command.unwrap_or_default()),
        own => (
            match own {
                Some(_) => Vec::new(),
                None => image.entrypoint.clone().unwrap_or_default(),
            },
            own_command
                .or_else(|| image.cmd.clone())
                .unwrap_or_default(),
        ),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(command).collect();
    if args.is_empty() {
        return Err(refuse(
            service,
            "command",
            "no command specified: neither the image nor the service sets an entrypoint or a command",
        ));
    }
    Ok(args)
}

/// Replaces the variable of `entry` (`KEY=value`) in `env`, or appends it (Docker's
/// `ReplaceOrAppendEnvValues`).
fn replace_or_append(env: &mut Vec<String>, entry: String) {
    let key = entry.split_once('=').map_or(entry.as_str(), |(k, _)| k);
    match env
        .iter_mut()
        .find(|e| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key)
    {
        Some(slot) => *slot = entry,
        None => env.push(entry),
    }
}

/// The environment, in Docker's order: the default PATH, HOSTNAME, TERM (with a terminal),
/// then the image's `Env`, then the service's `environment` (already merged with its
/// `env_file`s by the loader), each replacing variables of the same name. A variable the
/// service declares without a value that the loader could not resolve is left out.
pub fn environment(svc: &ServiceConfig, image: &ContainerConfig, hostname: &str) -> Vec<String> {
    let mut env = vec![DEFAULT_PATH.to_string(), format!("HOSTNAME={hostname}")];
    if svc.tty == Some(true) {
        env.push("TERM=xterm".to_string());
    }
    for e in image.env.iter().flatten() {
        replace_or_append(&mut env, e.clone());
    }
    for (k, v) in &svc.environment {
        if let Some(v) = v {
            replace_or_append(&mut env, format!("{k}={v}"));
        }
    }
    env
}

/// The user specification: the service's `user`, else the image's `User`, else root.
pub fn user_spec<'a>(svc: &'a ServiceConfig, image: &'a ContainerConfig) -> &'a str {
    svc.user.as_deref().or(image.user.as_deref()).unwrap_or("")
}

/// Resolves the user and `group_add` in the image's /etc/passwd and /etc/group under `rootfs`
/// (names must exist there; numbers need not), as Docker does.
pub fn user(
    service: &str,
    svc: &ServiceConfig,
    image: &ContainerConfig,
    rootfs: &Path,
) -> anyhow::Result<ExecUser> {
    let spec = user_spec(svc, image);
    resolve_user(rootfs, spec, &svc.group_add).with_context(|| at(service, "user"))
}

/// The working directory: the service's, else the image's, else `/`; it must be absolute
/// (the runtime creates it when missing, as Docker does).
pub fn working_dir(
    service: &str,
    svc: &ServiceConfig,
    image: &ContainerConfig,
) -> anyhow::Result<String> {
    let dir = svc
        .working_dir
        .as_deref()
        .or(image.working_dir.as_deref())
        .filter(|d| !d.is_empty())
        .unwrap_or("/");
    if !dir.starts_with('/') {
        return Err(refuse(
            service,
            "working_dir",
            format!("{dir:?} is invalid: it needs to be an absolute path"),
        ));
    }
    Ok(dir.to_string())
}

/// The rlimit type of a `ulimits` key (Docker's names).
fn rlimit_type(name: &str) -> Option<PosixRlimitType> {
    Some(match name {
        "as" => PosixRlimitType::RlimitAs,
        "core" => PosixRlimitType::RlimitCore,
        "cpu" => PosixRlimitType::RlimitCpu,
        "data" => PosixRlimitType::RlimitData,
        "fsize" => PosixRlimitType::RlimitFsize,
        "locks" => PosixRlimitType::RlimitLocks,
        "memlock" => PosixRlimitType::RlimitMemlock,
        "msgqueue" => PosixRlimitType::RlimitMsgqueue,
        "nice" => PosixRlimitType::RlimitNice,
        "nofile" => PosixRlimitType::RlimitNofile,
        "nproc" => PosixRlimitType::RlimitNproc,
        "rss" => PosixRlimitType::RlimitRss,
        "rtprio" => PosixRlimitType::RlimitRtprio,
        "rttime" => PosixRlimitType::RlimitRttime,
        "sigpending" => PosixRlimitType::RlimitSigpending,
        "stack" => PosixRlimitType::RlimitStack,
        _ => return None,
    })
}

/// A limit value: `-1` is unlimited.
fn limit_value(v: i64) -> Option<u64> {
    match v {
        -1 => Some(u64::MAX),
        v => u64::try_from(v).ok(),
    }
}

/// The `ulimits`, as rlimits. Whether they fit under the host's hard limits is checked by the
/// runtime when the container is created.
pub fn rlimits(service: &str, svc: &ServiceConfig) -> anyhow::Result<Vec<PosixRlimit>> {
    let mut out = Vec::new();
    for (name, cfg) in &svc.ulimits {
        let key = format!("ulimits.{name}");
        let typ = rlimit_type(name).ok_or_else(|| {
            refuse(
                service,
                &key,
                "unknown limit (as, core, cpu, data, fsize, locks, memlock, msgqueue, nice, nofile, nproc, rss, rtprio, rttime, sigpending, stack)",
            )
        })?;
        let (soft, hard) = match cfg {
            UlimitConfig::Single(v) => (*v, *v),
            UlimitConfig::Range { soft, hard, .. } => (*soft, *hard),
        };
        let (Some(s), Some(h)) = (limit_value(soft), limit_value(hard)) else {
            return Err(refuse(
                service,
                &key,
                "a limit must be -1 (unlimited) or at least 0",
            ));
        };
        if s > h {
            return Err(refuse(
                service,
                &key,
                format!("soft limit {soft} is above the hard limit {hard}"),
            ));
        }
        out.push(
            PosixRlimitBuilder::default()
                .typ(typ)
                .soft(s)
                .hard(h)
                .build()
                .with_context(|| at(service, &key))?,
        );
    }
    Ok(out)
}

/// The capabilities: Docker's default set with `cap_add` / `cap_drop` (`ALL` allowed), every
/// capability when privileged. Effective and permitted only for root, as Docker.
pub fn capabilities(
    service: &str,
    svc: &ServiceConfig,
    uid: u32,
) -> anyhow::Result<LinuxCapabilities> {
    capabilities::docker_capabilities(
        &svc.cap_add,
        &svc.cap_drop,
        svc.privileged == Some(true),
        uid,
        &capabilities::available(),
    )
    .with_context(|| at(service, "cap_add/cap_drop"))
}

/// The seccomp choice of `security_opt`.
#[derive(Debug, Clone, PartialEq)]
pub enum Seccomp {
    /// Docker's default profile (adjusted to the capabilities).
    Default,
    /// No filter (`seccomp=unconfined`, or privileged without a profile).
    Unconfined,
    /// A profile file.
    File(std::path::PathBuf),
}

/// What `security_opt` asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Security {
    /// `no_new_privs` (berth's default is on; `no-new-privileges:false` turns it off).
    pub no_new_privileges: bool,
    /// The seccomp filter.
    pub seccomp: Seccomp,
    /// `systempaths=unconfined`: no masked or read-only /proc paths.
    pub unmask_system_paths: bool,
}

/// Reads `security_opt` (Docker's `key=value` and legacy `key:value` forms). AppArmor and
/// SELinux options other than "off" are refused: berth applies neither.
pub fn security(
    service: &str,
    svc: &ServiceConfig,
    project_dir: &Path,
) -> anyhow::Result<Security> {
    let mut out = Security {
        no_new_privileges: true,
        seccomp: if svc.privileged == Some(true) {
            Seccomp::Unconfined
        } else {
            Seccomp::Default
        },
        unmask_system_paths: false,
    };
    for opt in &svc.security_opt {
        let key = format!("security_opt {opt:?}");
        if opt == "no-new-privileges" {
            out.no_new_privileges = true;
            continue;
        }
        let Some((name, value)) = opt.split_once('=').or_else(|| opt.split_once(':')) else {
            return Err(refuse(service, &key, "expected key=value"));
        };
        match (name, value) {
            ("no-new-privileges", v) => {
                out.no_new_privileges = match v {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(refuse(service, &key, "expected true or false")),
                }
            }
            ("seccomp", "unconfined") => out.seccomp = Seccomp::Unconfined,
            ("seccomp", "builtin") => out.seccomp = Seccomp::Default,
            ("seccomp", path) => out.seccomp = Seccomp::File(project_dir.join(path)),
            ("apparmor", "unconfined") | ("label", "disable") => {}
            ("apparmor", _) => {
                return Err(refuse(
                    service,
                    &key,
                    "AppArmor profiles are not supported by berth",
                ));
            }
            ("label", _) => {
                return Err(refuse(
                    service,
                    &key,
                    "SELinux labels are not supported by berth",
                ));
            }
            ("systempaths", "unconfined") => out.unmask_system_paths = true,
            _ => {
                return Err(refuse(
                    service,
                    &key,
                    "unknown option (no-new-privileges, seccomp, apparmor, label, systempaths)",
                ));
            }
        }
    }
    Ok(out)
}

/// The seccomp filter for `choice`, given the process's bounding capabilities (Docker's
/// profile opens syscalls by capability).
pub fn seccomp(
    service: &str,
    choice: &Seccomp,
    caps: &LinuxCapabilities,
) -> anyhow::Result<Option<LinuxSeccomp>> {
    let bounding: Vec<String> = caps
        .bounding()
        .iter()
        .flatten()
        .map(|c| format!("CAP_{c}"))
        .collect();
    Ok(match choice {
        Seccomp::Unconfined => None,
        Seccomp::Default => Some(default_profile::default_for(&bounding)),
        Seccomp::File(path) => {
            let profile =
                Profile::load(path).with_context(|| at(service, "security_opt seccomp"))?;
            Some(to_oci(&profile, &bounding, native_arch(), kernel_version()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::container::testing::service;

    fn image(entrypoint: Option<&[&str]>, cmd: Option<&[&str]>) -> ContainerConfig {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        ContainerConfig {
            entrypoint: entrypoint.map(v),
            cmd: cmd.map(v),
            ..ContainerConfig::default()
        }
    }

    #[test]
    fn entrypoint_and_command_follow_dockers_rules() {
        let img = image(Some(&["/entry.sh"]), Some(&["serve"]));
        let s = service("image: x");
        assert_eq!(args("s", &s, &img).unwrap(), ["/entry.sh", "serve"]);
        let s = service("image: x\ncommand: [run, fast]");
        assert_eq!(args("s", &s, &img).unwrap(), ["/entry.sh", "run", "fast"]);
        // A new entrypoint drops the image's command.
        let s = service("image: x\nentrypoint: [sh, -c]");
        assert_eq!(args("s", &s, &img).unwrap(), ["sh", "-c"]);
        let s = service("image: x\nentrypoint: [sh, -c]\ncommand: [echo hi]");
        assert_eq!(args("s", &s, &img).unwrap(), ["sh", "-c", "echo hi"]);
        // The shell form is split by the loader.
        let s = service("image: x\ncommand: echo hello world");
        assert_eq!(
            args("s", &s, &img).unwrap(),
            ["/entry.sh", "echo", "hello", "world"]
        );
        let s = service("image: x\nentrypoint: []");
        assert!(args("s", &s, &image(None, None)).is_err());
        assert_eq!(args("s", &s, &img).unwrap(), ["serve"]);
        let s = service("image: x\ncommand: []");
        assert_eq!(args("s", &s, &img).unwrap(), ["/entry.sh", "serve"]);
        let e = args("web", &service("image: x"), &image(None, None)).unwrap_err();
        assert!(e.to_string().contains("service \"web\": command"), "{e}");
    }

    #[test]
    fn environment_layers_defaults_image_and_service() {
        let img = ContainerConfig {
            env: Some(vec![
                "PATH=/opt/bin:/bin".into(),
                "A=image".into(),
                "B=image".into(),
            ]),
            ..ContainerConfig::default()
        };
        let s = service("image: x\ntty: true\nenvironment: {B: svc, C: '1', HOSTNAME: mine}");
        let env = environment(&s, &img, "abc123");
        assert_eq!(
            env,
            [
                "PATH=/opt/bin:/bin",
                "HOSTNAME=mine",
                "TERM=xterm",
                "A=image",
                "B=svc",
                "C=1"
            ]
        );
        let env = environment(&service("image: x"), &ContainerConfig::default(), "h");
        assert_eq!(env, [DEFAULT_PATH.to_string(), "HOSTNAME=h".to_string()]);
    }

    #[test]
    fn user_and_working_dir() {
        let img = ContainerConfig {
            user: Some("1000".into()),
            working_dir: Some("/app".into()),
            ..ContainerConfig::default()
        };
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("etc")).unwrap();
        std::fs::write(
            dir.path().join("etc/passwd"),
            "root:x:0:0::/root:/bin/sh\napp:x:1000:1000::/home/app:/bin/sh\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("etc/group"),
            "root:x:0:\nwheel:x:10:app\napp:x:1000:\n",
        )
        .unwrap();
        let u = user("s", &service("image: x"), &img, dir.path()).unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 1000, vec![10])
        );
        let u = user(
            "s",
            &service("image: x\nuser: app:wheel\ngroup_add: ['5']"),
            &img,
            dir.path(),
        )
        .unwrap();
        assert_eq!(
            (u.uid, u.gid, u.additional_gids.clone()),
            (1000, 10, vec![5])
        );
        let u = user("s", &service("image: x\nuser: '42:7'"), &img, dir.path()).unwrap();
        assert_eq!((u.uid, u.gid), (42, 7));
        let e = user("web", &service("image: x\nuser: ghost"), &img, dir.path()).unwrap_err();
        assert!(format!("{e:#}").contains("service \"web\": user"), "{e:#}");
        assert_eq!(
            working_dir("s", &service("image: x"), &img).unwrap(),
            "/app"
        );
        assert_eq!(
            working_dir("s", &service("image: x\nworking_dir: /w"), &img).unwrap(),
            "/w"
        );
        assert_eq!(
            working_dir("s", &service("image: x"), &ContainerConfig::default()).unwrap(),
            "/"
        );
        assert!(working_dir("s", &service("image: x\nworking_dir: rel"), &img).is_err());
    }

    #[test]
    fn ulimits() {
        let s =
            service("image: x\nulimits: {nofile: {soft: 1024, hard: 2048}, nproc: 100, core: -1}");
        let r = rlimits("s", &s).unwrap();
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].typ(), r[0].soft(), r[0].hard()),
            (PosixRlimitType::RlimitNofile, 1024, 2048)
        );
        assert_eq!((r[1].soft(), r[1].hard()), (100, 100));
        assert_eq!(r[2].hard(), u64::MAX);
        let e = rlimits(
            "web",
            &service("image: x\nulimits: {nofile: {soft: 9, hard: 1}}"),
        )
        .unwrap_err();
        assert!(
            e.to_string()
                .starts_with("service \"web\": ulimits.nofile: "),
            "{e}"
        );
        assert!(rlimits("s", &service("image: x\nulimits: {files: 1}")).is_err());
        assert!(rlimits("s", &service("image: x\nulimits: {nofile: -5}")).is_err());
    }

    #[test]
    fn capabilities_add_and_drop() {
        let caps = capabilities(
            "s",
            &service("image: x\ncap_add: [NET_ADMIN]\ncap_drop: [CHOWN]"),
            0,
        )
        .unwrap();
        let b: Vec<String> = caps
            .bounding()
            .iter()
            .flatten()
            .map(|c| c.to_string())
            .collect();
        assert!(b.iter().any(|c| c.contains("NET_ADMIN")));
        assert!(
            !b.iter()
                .any(|c| c.contains("CHOWN") && !c.contains("FOWNER"))
        );
        let caps = capabilities(
            "s",
            &service("image: x\ncap_drop: [ALL]\ncap_add: [KILL]"),
            1000,
        )
        .unwrap();
        assert_eq!(caps.bounding().as_ref().unwrap().len(), 1);
        assert!(caps.effective().as_ref().unwrap().is_empty());
        assert!(capabilities("s", &service("image: x\ncap_add: [FLY]"), 0).is_err());
    }

    #[test]
    fn security_options() {
        let dir = Path::new("/p");
        let s = security("s", &service("image: x"), dir).unwrap();
        assert_eq!(
            (s.no_new_privileges, s.seccomp.clone()),
            (true, Seccomp::Default)
        );
        let s = security(
            "s",
            &service("image: x\nsecurity_opt: ['no-new-privileges:false', 'seccomp=unconfined', 'apparmor=unconfined', 'label:disable']"),
            dir,
        )
        .unwrap();
        assert_eq!(
            (s.no_new_privileges, s.seccomp),
            (false, Seccomp::Unconfined)
        );
        let s = security(
            "s",
            &service("image: x\nsecurity_opt: ['seccomp=prof.json']"),
            dir,
        )
        .unwrap();
        assert_eq!(s.seccomp, Seccomp::File("/p/prof.json".into()));
        let s = security("s", &service("image: x\nprivileged: true"), dir).unwrap();
        assert_eq!(s.seccomp, Seccomp::Unconfined);
        for bad in [
            "apparmor=docker-default",
            "label=type:svirt_t",
            "frobnicate=1",
            "nonsense",
        ] {
            let e = security(
                "web",
                &service(&format!("image: x\nsecurity_opt: ['{bad}']")),
                dir,
            )
            .unwrap_err();
            assert!(
                e.to_string().starts_with("service \"web\": security_opt"),
                "{e}"
            );
        }
    }

    #[test]
    fn seccomp_follows_the_capabilities() {
        let caps = capabilities("s", &service("image: x"), 0).unwrap();
        assert!(seccomp("s", &Seccomp::Default, &caps).unwrap().is_some());
        assert!(seccomp("s", &Seccomp::Unconfined, &caps).unwrap().is_none());
        assert!(seccomp("s", &Seccomp::File("/nonexistent/p.json".into()), &caps).is_err());
        // Docker's profile allows mount(2) only with CAP_SYS_ADMIN.
        use berth_runtime::container::seccomp::docker::entries_for;
        let plain = seccomp("s", &Seccomp::Default, &caps).unwrap().unwrap();
        assert!(entries_for(&plain, "mount").is_empty());
        let admin = capabilities("s", &service("image: x\ncap_add: [SYS_ADMIN]"), 0).unwrap();
        let opened = seccomp("s", &Seccomp::Default, &admin).unwrap().unwrap();
        assert!(!entries_for(&opened, "mount").is_empty());
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("profile.json");
        std::fs::write(&file, r#"{"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["read"], "action": "SCMP_ACT_ALLOW"}]}"#).unwrap();
        let custom = seccomp("s", &Seccomp::File(file), &caps).unwrap().unwrap();
        assert_eq!(entries_for(&custom, "read").len(), 1);
    }
}
