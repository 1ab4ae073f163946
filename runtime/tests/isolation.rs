//! Isolation of berth's containers, asserted from inside busybox containers (root, in CI).
//!
//! This binary has no libtest harness: its `main` first lets the runtime's helper entry points
//! run (the runtime re-executes this very binary as `__init`/`__exec`), then runs the tests.

#[path = "support/container.rs"]
mod container;
mod support;

use berth_runtime::container::capabilities::DOCKER_DEFAULT_CAPABILITIES;
use berth_runtime::container::defaults::docker_spec;
use berth_runtime::container::process::resolve_user;
use berth_runtime::container::{CreateOptions, Exit, Status, Stdio};
use container::*;
use nix::sys::signal::Signal;
use oci_spec::runtime::{
    LinuxMemoryBuilder, LinuxPidsBuilder, LinuxResources, MountBuilder, PosixRlimitBuilder,
    PosixRlimitType, Process, Spec, UserBuilder,
};
use std::io::{Read, Write};
use std::path::Path;
use std::time::Duration;

fn sh(script: &str) -> Spec {
    let mut s = docker_spec(&["sh", "-c", script]);
    s.set_hostname(Some("box".into()));
    s
}

fn process_mut(spec: &mut Spec) -> &mut Process {
    spec.process_mut().as_mut().unwrap()
}

fn resources_mut(spec: &mut Spec) -> &mut LinuxResources {
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .resources_mut()
        .as_mut()
        .unwrap()
}

/// Runs `script` in a default container and returns its stdout, asserting it exited 0.
fn output_of(spec: &Spec, rootfs: &Rootfs) -> String {
    let rt = runtime();
    let out = run(&rt.runtime, spec, &rootfs.path(), false).expect("the container runs");
    assert_eq!(
        out.status.exit,
        Exit::Code(0),
        "stdout: {}\nstderr: {}",
        out.stdout,
        out.stderr
    );
    out.stdout
}

fn own_pid_1_and_no_host_processes() {
    if !privileged("own_pid_1_and_no_host_processes", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let out = output_of(
        // `ps` alone, not piped: busybox starts the other half of a pipeline by re-executing
        // /proc/self/exe, and `ps` may catch it still named `exe`.
        &sh("echo pid=$$; ls /proc | grep -c '^[0-9]'; ps -o pid,comm"),
        &rootfs,
    );
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "pid=1");
    // sh, ls, grep and ps at most: none of the host's processes.
    let visible: usize = lines[1].trim().parse().unwrap();
    assert!(visible <= 4, "{out}");
    // After the header: `ps` itself and the shell, unless the shell exec'd into `ps`.
    let comms: Vec<&str> = lines[3..]
        .iter()
        .map(|l| l.split_whitespace().nth(1).unwrap_or(""))
        .collect();
    assert!(comms.contains(&"ps") && comms.len() <= 2, "{out}");
    assert!(comms.iter().all(|c| ["sh", "ps"].contains(c)), "{out}");
}

fn hostname_and_domainname_are_set() {
    if !privileged("hostname_and_domainname_are_set", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let mut spec = sh("hostname; cat /proc/sys/kernel/domainname");
    spec.set_hostname(Some("web-1".into()));
    spec.set_domainname(Some("example.test".into()));
    let out = output_of(&spec, &rootfs);
    assert_eq!(out, "web-1\nexample.test\n");
    assert_ne!(
        nix::unistd::gethostname().unwrap().to_string_lossy(),
        "web-1",
        "the host's name is untouched"
    );
}

fn no_access_to_host_mounts() {
    if !privileged("no_access_to_host_mounts", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let marker = tempfile::Builder::new()
        .prefix("berth-host-marker-")
        .tempfile_in("/tmp")
        .unwrap();
    let script = format!(
        "test -e {} && echo host-visible; ls /; cut -d' ' -f5 /proc/self/mountinfo",
        marker.path().display()
    );
    let out = output_of(&sh(&script), &rootfs);
    assert!(!out.contains("host-visible"), "{out}");
    let mut lines = out.lines();
    let root_entries: Vec<&str> = lines.by_ref().take_while(|l| !l.starts_with('/')).collect();
    assert!(
        !root_entries.contains(&"work") && !root_entries.contains(&"boot"),
        "{out}"
    );
    // Every mount point is one the spec asked for (or below one: the cgroup hierarchies,
    // masked and read-only paths, the devices).
    let allowed = ["/", "/proc", "/dev", "/sys", "/etc/hostname"];
    for mp in out.lines().filter(|l| l.starts_with('/')) {
        assert!(
            allowed
                .iter()
                .any(|a| mp == *a || mp.starts_with(&format!("{a}/")) || *a == "/" && mp == "/"),
            "unexpected mount {mp} in\n{out}"
        );
    }
    let host_dir = rootfs.dir.path().display().to_string();
    assert!(
        !out.contains(&host_dir),
        "the rootfs's host path shows through:\n{out}"
    );
}

fn masked_paths_are_unreadable() {
    if !privileged("masked_paths_are_unreadable", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let script = "echo keys=$(wc -c < /proc/keys); echo kcore=$(head -c 16 /proc/kcore | wc -c); \
                  echo firmware=$(ls /sys/firmware | wc -l); touch /sys/firmware/x 2>/dev/null && echo firmware-writable; \
                  echo 1 > /proc/sysrq-trigger 2>/dev/null && echo sysrq-writable; \
                  echo 1 > /proc/sys/kernel/panic 2>/dev/null && echo sys-writable; echo done";
    let out = output_of(&sh(script), &rootfs);
    assert_eq!(out, "keys=0\nkcore=0\nfirmware=0\ndone\n");
}

/// The capability names of a /proc/PID/status mask.
fn cap_names(hex: &str) -> Vec<String> {
    let mask = u64::from_str_radix(hex.trim(), 16).unwrap();
    let mut names: Vec<String> = caps::all()
        .into_iter()
        .filter(|c| mask & c.bitmask() != 0)
        .map(|c| c.to_string())
        .collect();
    names.sort();
    names
}

fn status_field<'a>(status: &'a str, field: &str) -> &'a str {
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .map(str::trim)
        .unwrap_or_else(|| panic!("{field} in {status}"))
}

fn default_capabilities_are_dockers() {
    if !privileged("default_capabilities_are_dockers", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let out = output_of(&sh("cat /proc/self/status"), &rootfs);
    let mut docker: Vec<String> = DOCKER_DEFAULT_CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    docker.sort();
    for field in ["CapEff:", "CapPrm:", "CapBnd:"] {
        assert_eq!(cap_names(status_field(&out, field)), docker, "{field}");
    }
    assert_eq!(
        cap_names(status_field(&out, "CapInh:")),
        Vec::<String>::new()
    );
    assert_eq!(
        cap_names(status_field(&out, "CapAmb:")),
        Vec::<String>::new()
    );
    assert_eq!(status_field(&out, "NoNewPrivs:"), "1");
    assert_eq!(status_field(&out, "Seccomp:"), "2");
}

fn dangerous_syscalls_are_refused() {
    if !privileged("dangerous_syscalls_are_refused", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let probes = [
        ("sched_yield", 24),
        ("mount", 165),
        ("umount2", 166),
        ("swapon", 167),
        ("reboot", 169),
        ("init_module", 175),
        ("kexec_load", 246),
        ("kexec_file_load", 320),
        ("unshare", 272),
        ("setns", 308),
        ("pivot_root", 155),
        ("bpf", 321),
        ("open_by_handle_at", 304),
        ("clone3", 435),
    ];
    install_probes(&rootfs.path(), &probes);
    let script: String = probes
        .iter()
        .map(|(n, _)| format!("probe-{n}; echo {n}=$?; "))
        .collect();
    let out = output_of(&sh(&script), &rootfs);
    let result = |name: &str| -> i32 {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}=")))
            .unwrap_or_else(|| panic!("{name} in {out}"))
            .parse()
            .unwrap()
    };
    assert_eq!(
        result("sched_yield"),
        0,
        "the probe works: an allowed call succeeds"
    );
    for (name, _) in &probes[1..probes.len() - 1] {
        assert_eq!(
            result(name),
            libc::EPERM,
            "{name} must be refused with EPERM\n{out}"
        );
    }
    assert_eq!(
        result("clone3"),
        libc::ENOSYS,
        "clone3 gets ENOSYS so that libc falls back to clone"
    );
}

fn non_root_user_cannot_regain_root() {
    if !privileged("non_root_user_cannot_regain_root", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    // A setuid-root program in the image, the classic way back to root: it exits with its
    // effective uid (busybox itself drops setuid privileges, so it cannot serve).
    let suid = rootfs.path().join("bin/euid");
    std::fs::write(&suid, result_probe(107)).unwrap();
    std::fs::set_permissions(&suid, std::os::unix::fs::PermissionsExt::from_mode(0o4755)).unwrap();
    let user = resolve_user(&rootfs.path(), "app", &[]).unwrap();
    let available = berth_runtime::container::capabilities::available();
    let caps = berth_runtime::container::capabilities::docker_capabilities(
        &[],
        &[],
        false,
        user.uid,
        &available,
    )
    .unwrap();
    let mut spec = sh(
        "id -u; euid; echo euid=$?; grep -E '^Cap(Eff|Prm)' /proc/self/status; \
                        touch /root/x 2>/dev/null && echo root-writable; echo done",
    );
    let p = process_mut(&mut spec);
    p.set_user(
        UserBuilder::default()
            .uid(user.uid)
            .gid(user.gid)
            .additional_gids(user.additional_gids.clone())
            .build()
            .unwrap(),
    );
    p.set_capabilities(Some(caps));
    let out = output_of(&spec, &rootfs);
    // 1000 & 0xff: the exit status keeps the low byte of the euid.
    assert_eq!(
        out,
        "1000\neuid=232\nCapPrm:\t0000000000000000\nCapEff:\t0000000000000000\ndone\n"
    );
    // The control: without no_new_privs (Docker's own default) the same program runs as root,
    // so the assertion above is what berth's default buys.
    process_mut(&mut spec).set_no_new_privileges(Some(false));
    let out = output_of(&spec, &rootfs);
    assert!(out.starts_with("1000\neuid=0\n"), "{out}");
}

fn memory_limit_oom_kills_and_is_reported() {
    if !privileged("memory_limit_oom_kills_and_is_reported", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    // tail keeps the last line of /dev/zero, which never ends: its memory grows until killed.
    let mut spec = docker_spec(&["tail", "/dev/zero"]);
    resources_mut(&mut spec).set_memory(Some(
        LinuxMemoryBuilder::default()
            .limit(32i64 << 20)
            .build()
            .unwrap(),
    ));
    let rt = runtime();
    let out = run(&rt.runtime, &spec, &rootfs.path(), false).expect("run");
    assert!(out.status.oom_killed, "{}", out.status);
    assert_eq!(out.status.exit, Exit::Signal(libc::SIGKILL));
    assert_eq!(out.status.code(), 137);
    // Without a limit hit, no OOM is reported.
    let plain = run(&rt.runtime, &docker_spec(&["true"]), &rootfs.path(), false).unwrap();
    assert!(!plain.status.oom_killed);
}

fn pids_limit_stops_a_fork_bomb() {
    if !privileged("pids_limit_stops_a_fork_bomb", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    // pid 1 execs (no fork) once the bomb is lit, so that it stays whatever the bomb does.
    let mut spec = sh("bomb() { bomb | bomb & }; bomb; exec sleep 30");
    resources_mut(&mut spec).set_pids(Some(
        LinuxPidsBuilder::default().limit(32i64).build().unwrap(),
    ));
    let rt = runtime();
    let id = unique("bomb");
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    guard.get().start().unwrap();
    let mut peak = 0;
    let denied = eventually(Duration::from_secs(20), || {
        let s = guard.get().stats().unwrap().cgroup.pids;
        peak = peak.max(s.current);
        s.denied > 0
    });
    assert!(denied, "the limit refused no fork (peak {peak})");
    for _ in 0..20 {
        let s = guard.get().stats().unwrap().cgroup.pids;
        peak = peak.max(s.current);
        assert_eq!(s.limit, Some(32));
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(peak <= 32, "{peak} processes under a limit of 32");
    let stopped = guard
        .get()
        .stop(Signal::SIGKILL, Duration::from_secs(5))
        .unwrap();
    // Killed, unless the shell gave up by itself first when a fork was refused (busybox sh
    // then exits with an error code): either way the container has ended.
    assert!(
        matches!(
            stopped.status.exit,
            Exit::Signal(libc::SIGKILL) | Exit::Code(1..)
        ),
        "{:?}",
        stopped.status.exit
    );
}

fn read_only_root_refuses_writes() {
    if !privileged("read_only_root_refuses_writes", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let mut spec = sh(
        "touch /x 2>&1; touch /tmp/y 2>&1; touch /dev/shm/ok && echo shm-writable; grep ' / ' /proc/mounts | cut -d' ' -f4 | cut -d, -f1",
    );
    spec.root_mut().as_mut().unwrap().set_readonly(Some(true));
    let out = output_of(&spec, &rootfs);
    assert!(out.contains("touch: /x: Read-only file system"), "{out}");
    assert!(
        out.contains("touch: /tmp/y: Read-only file system"),
        "{out}"
    );
    assert!(out.contains("shm-writable"), "{out}");
    assert!(out.trim_end().ends_with("ro"), "{out}");
    assert!(!rootfs.path().join("x").exists());
}

fn mounts_from_the_spec() {
    if !privileged("mounts_from_the_spec", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let data = tempfile::tempdir().unwrap();
    std::fs::write(data.path().join("in"), "from-host\n").unwrap();
    let hosts = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(hosts.path(), "10.0.0.1 db\n").unwrap();
    let mut spec = sh(
        "cat /data/in; echo x > /data/out; echo y > /ro/z 2>/dev/null || echo ro-refused; \
                       cat /etc/hosts; stat -c '%a' /scratch; df -k /scratch | tail -1 | awk '{print $2}'",
    );
    let mounts = spec.mounts_mut().as_mut().unwrap();
    let opts = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    mounts.push(
        MountBuilder::default()
            .destination("/data")
            .typ("bind")
            .source(data.path())
            .options(opts(&["rbind", "rw"]))
            .build()
            .unwrap(),
    );
    mounts.push(
        MountBuilder::default()
            .destination("/ro")
            .typ("bind")
            .source(data.path())
            .options(opts(&["rbind", "ro"]))
            .build()
            .unwrap(),
    );
    mounts.push(
        MountBuilder::default()
            .destination("/etc/hosts")
            .typ("bind")
            .source(hosts.path())
            .options(opts(&["bind", "ro"]))
            .build()
            .unwrap(),
    );
    mounts.push(
        MountBuilder::default()
            .destination("/scratch")
            .typ("tmpfs")
            .source("tmpfs")
            .options(opts(&["size=1m", "mode=0700"]))
            .build()
            .unwrap(),
    );
    let out = output_of(&spec, &rootfs);
    assert_eq!(out, "from-host\nro-refused\n10.0.0.1 db\n700\n1024\n");
    assert_eq!(
        std::fs::read_to_string(data.path().join("out")).unwrap(),
        "x\n"
    );
}

fn stop_kills_after_grace_when_sigterm_is_ignored() {
    if !privileged("stop_kills_after_grace_when_sigterm_is_ignored", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("stop");
    let mut spec = sh("trap '' TERM; echo ready; while :; do sleep 1; done");
    unique_cgroup(&mut spec, &id);
    let (guard, io) = start_piped(&rt, &id, &spec, &rootfs.path(), false);
    wait_for_line(io.stdout.unwrap(), "ready");
    let stopped = guard
        .get()
        .stop(Signal::SIGTERM, Duration::from_millis(500))
        .unwrap();
    assert!(stopped.killed, "{stopped:?}");
    assert_eq!(stopped.status.exit, Exit::Signal(libc::SIGKILL));
}

fn stop_returns_when_sigterm_is_handled() {
    if !privileged("stop_returns_when_sigterm_is_handled", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("stop");
    let mut spec = sh("trap 'exit 3' TERM; echo ready; while :; do sleep 0.1; done");
    unique_cgroup(&mut spec, &id);
    let (guard, io) = start_piped(&rt, &id, &spec, &rootfs.path(), false);
    wait_for_line(io.stdout.unwrap(), "ready");
    // A grace period far longer than the test: the stop must end by the container's own exit.
    let stopped = guard
        .get()
        .stop(Signal::SIGTERM, Duration::from_secs(600))
        .unwrap();
    assert!(!stopped.killed);
    assert_eq!(stopped.status.exit, Exit::Code(3));
}

/// Reads `f` until a line equal to `want` (the container says it is ready).
fn wait_for_line(f: std::fs::File, want: &str) {
    let mut reader = std::io::BufReader::new(f);
    let mut line = String::new();
    loop {
        line.clear();
        let n = std::io::BufRead::read_line(&mut reader, &mut line).unwrap();
        assert!(n > 0, "EOF before {want:?}");
        if line.trim_end() == want {
            return;
        }
    }
}

fn init_forwards_signals_and_reaps_zombies() {
    if !privileged("init_forwards_signals_and_reaps_zombies", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("init");
    // The orphan `sleep 0.1` is re-parented to pid 1; without reaping it would stay a zombie.
    let mut spec = sh(
        "(sleep 0.1 &); sleep 0.5; ps -o pid,stat,comm | grep -c ' Z ' ; echo ready; while :; do sleep 1; done",
    );
    unique_cgroup(&mut spec, &id);
    let (guard, io) = start_piped(&rt, &id, &spec, &rootfs.path(), true);
    let mut out = std::io::BufReader::new(io.stdout.unwrap());
    let mut zombies = String::new();
    std::io::BufRead::read_line(&mut out, &mut zombies).unwrap();
    assert_eq!(zombies.trim(), "0", "zombies left unreaped");
    let mut ready = String::new();
    std::io::BufRead::read_line(&mut out, &mut ready).unwrap();
    // sh is not pid 1 here: SIGTERM, forwarded by the init, kills it (143), without a kill.
    let stopped = guard
        .get()
        .stop(Signal::SIGTERM, Duration::from_secs(600))
        .unwrap();
    assert!(!stopped.killed);
    assert_eq!(stopped.status.exit, Exit::Code(143));
}

fn exec_joins_the_container() {
    if !privileged("exec_joins_the_container", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("exec");
    let mut spec = sh("trap 'exit 0' TERM; echo $$ > /tmp/init-pid; while :; do sleep 0.1; done");
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    guard.get().start().unwrap();
    assert!(eventually(Duration::from_secs(5), || rootfs
        .path()
        .join("tmp/init-pid")
        .exists()));
    let user = resolve_user(&rootfs.path(), "app", &[]).unwrap();
    let mut p = guard.get().spec().process().clone().unwrap();
    p.set_args(Some(vec!["sh".into(), "-c".into(), "hostname; id -u; id -G; pwd; echo $FOO; cat /tmp/init-pid; echo $$; grep CapEff /proc/self/status".into()]));
    p.set_env(Some(vec!["PATH=/bin".into(), "FOO=bar".into()]));
    p.set_cwd("/tmp".into());
    p.set_user(
        UserBuilder::default()
            .uid(user.uid)
            .gid(user.gid)
            .additional_gids(user.additional_gids)
            .build()
            .unwrap(),
    );
    p.set_capabilities(Some(
        berth_runtime::container::capabilities::docker_capabilities(
            &[],
            &[],
            false,
            1000,
            &berth_runtime::container::capabilities::available(),
        )
        .unwrap(),
    ));
    let mut e = guard.get().exec(&p, Stdio::Piped { stdin: false }).unwrap();
    let io = e.take_io();
    let out = collect(io.stdout.unwrap());
    let err = collect(io.stderr.unwrap());
    assert_eq!(exec_exit(&e), Exit::Code(0));
    let (out, err) = (out.join().unwrap(), err.join().unwrap());
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        &lines[..6],
        ["box", "1000", "1000 10", "/tmp", "bar", "1"],
        "{out}{err}"
    );
    let exec_pid: i32 = lines[6].parse().unwrap();
    assert!(
        exec_pid > 1,
        "the exec'd process is in the container's pid namespace: {out}"
    );
    assert_eq!(lines[7], "CapEff:\t0000000000000000");
    // The exec'd process was in the container's cgroup while it ran; now only the init is.
    assert_eq!(
        guard
            .get()
            .top()
            .unwrap()
            .iter()
            .filter(|p| p.command.contains("sh -c"))
            .count(),
        1
    );
    // A missing executable is an error, not a silent exit.
    p.set_args(Some(vec!["no-such-program".into()]));
    let e = guard.get().exec(&p, Stdio::Null).unwrap_err().to_string();
    assert!(e.contains("executable file not found"), "{e}");
}

fn exec_with_a_resizable_terminal() {
    if !privileged("exec_with_a_resizable_terminal", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("tty");
    let mut spec = sh("trap 'exit 0' TERM; while :; do sleep 0.1; done");
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    guard.get().start().unwrap();
    let mut p = guard.get().spec().process().clone().unwrap();
    p.set_terminal(Some(true));
    p.set_args(Some(vec![
        "sh".into(),
        "-c".into(),
        "stty size; read line; echo got=$line; stty size".into(),
    ]));
    let mut e = guard.get().exec(&p, Stdio::Null).unwrap();
    let mut term = e.take_io().terminal.unwrap();
    let mut seen = Vec::new();
    let mut buf = [0u8; 256];
    // The first size is the default (0 0); then the terminal is resized and a line sent.
    while !String::from_utf8_lossy(&seen).contains('\n') {
        let n = term.read(&mut buf).unwrap();
        seen.extend_from_slice(&buf[..n]);
    }
    e.resize(132, 43).unwrap();
    term.write_all(b"hello\n").unwrap();
    loop {
        match term.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
        if String::from_utf8_lossy(&seen).contains("43 132") {
            break;
        }
    }
    let text = String::from_utf8_lossy(&seen).replace('\r', "");
    assert!(text.contains("got=hello"), "{text}");
    assert!(text.contains("43 132"), "{text}");
    assert_eq!(exec_exit(&e), Exit::Code(0));
}

fn pause_resume_top_and_stats() {
    if !privileged("pause_resume_top_and_stats", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("pause");
    let mut spec = sh(
        "trap 'exit 0' TERM; i=0; while :; do i=$((i+1)); echo $i > /tmp/count; sleep 0.01; done",
    );
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    assert_eq!(guard.get().status(), Status::Created);
    guard.get().start().unwrap();
    assert_eq!(guard.get().status(), Status::Running);
    let count = || std::fs::read_to_string(rootfs.path().join("tmp/count")).unwrap_or_default();
    assert!(eventually(Duration::from_secs(5), || !count().is_empty()));
    guard.get().pause().unwrap();
    assert_eq!(guard.get().status(), Status::Paused);
    let frozen = count();
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(count(), frozen, "a paused container does not run");
    assert!(
        guard
            .get()
            .exec(&guard.get().spec().process().clone().unwrap(), Stdio::Null)
            .is_err()
    );
    guard.get().resume().unwrap();
    assert_eq!(guard.get().status(), Status::Running);
    assert!(
        eventually(Duration::from_secs(5), || count() != frozen),
        "a resumed container runs again"
    );
    let top = guard.get().top().unwrap();
    assert!(
        top.iter()
            .any(|p| p.pid == guard.get().pid() && p.command.starts_with("sh -c")),
        "{top:?}"
    );
    let stats = guard.get().stats().unwrap();
    assert!(
        stats.cgroup.memory.usage > 0 && stats.cgroup.cpu.usage_ns > 0,
        "{stats:?}"
    );
    assert!(stats.cgroup.pids.current >= 1);
    assert!(
        stats.networks.iter().any(|n| n.interface == "lo"),
        "{stats:?}"
    );
    let stopped = guard
        .get()
        .stop(Signal::SIGTERM, Duration::from_secs(600))
        .unwrap();
    assert_eq!(stopped.status.exit, Exit::Code(0));
    assert_eq!(guard.get().status(), Status::Stopped);
}

fn rlimits_sysctls_and_refusals() {
    if !privileged("rlimits_sysctls_and_refusals", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let (_, host_hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    let mut spec = sh("ulimit -n; ulimit -Hn; cat /proc/sys/net/ipv4/ip_forward; umask");
    let limit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(512u64)
        .hard(host_hard.min(4096))
        .build()
        .unwrap();
    process_mut(&mut spec).set_rlimits(Some(vec![limit]));
    process_mut(&mut spec).user_mut().set_umask(Some(0o027));
    spec.linux_mut().as_mut().unwrap().set_sysctl(Some(
        [("net.ipv4.ip_forward".to_string(), "1".to_string())].into(),
    ));
    let out = run(&rt.runtime, &spec, &rootfs.path(), false).unwrap();
    assert_eq!(
        out.stdout,
        format!("512\n{}\n1\n0027\n", host_hard.min(4096)),
        "{}",
        out.stderr
    );

    // Above the host's hard limit: a clear error, and nothing left behind.
    let mut spec = sh("true");
    let limit = PosixRlimitBuilder::default()
        .typ(PosixRlimitType::RlimitNofile)
        .soft(1024u64)
        .hard(host_hard + 1)
        .build()
        .unwrap();
    process_mut(&mut spec).set_rlimits(Some(vec![limit]));
    let e = rt
        .runtime
        .create(
            &unique("rl"),
            &spec,
            &rootfs.path(),
            CreateOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("exceeds the host's hard limit"), "{e}");
    let mut spec = sh("true");
    spec.linux_mut().as_mut().unwrap().set_sysctl(Some(
        [("vm.swappiness".to_string(), "1".to_string())].into(),
    ));
    let e = rt
        .runtime
        .create(
            &unique("sc"),
            &spec,
            &rootfs.path(),
            CreateOptions::default(),
        )
        .unwrap_err()
        .to_string();
    assert!(e.contains("is not namespaced"), "{e}");
    assert!(
        rt.runtime.list().unwrap().is_empty(),
        "failed creates leave no state"
    );
}

fn a_limit_that_cannot_apply_is_an_error() {
    if !privileged("a_limit_that_cannot_apply_is_an_error", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let mut spec = sh("true");
    let id = unique("lim");
    unique_cgroup(&mut spec, &id);
    // A network class id needs the net_cls controller, which these hosts do not mount (and
    // cgroup v2 does not have).
    let net = oci_spec::runtime::LinuxNetworkBuilder::default()
        .class_id(0x100001u32)
        .build()
        .unwrap();
    resources_mut(&mut spec).set_network(Some(net));
    let result = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default());
    let err = match result {
        Ok(c) => {
            let _cleanup = Guard(Some(c));
            panic!("a network class id was accepted");
        }
        Err(e) => e.to_string(),
    };
    let net_cls_mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .contains("net_cls");
    if rt.runtime.hierarchy().is_v2() {
        assert!(err.contains("do not exist in cgroup v2"), "{err}");
    } else if !net_cls_mounted {
        assert_eq!(
            err,
            "network class id needs the net_cls cgroup controller, which is not mounted"
        );
    }
    // Nothing is left: no state, no cgroup.
    assert!(rt.runtime.list().unwrap().is_empty());
}

fn devices_and_their_cgroup_rules() {
    if !privileged("devices_and_their_cgroup_rules", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    // /dev/kmsg (1:11) may be created (mknod is allowed for any device) but not opened.
    let mut spec = sh(
        "head -c 4 /dev/zero | wc -c; mknod /tmp/kmsg c 1 11 && echo made; cat /tmp/kmsg 2>&1 | head -1; ls -l /dev/fuse-like | cut -c1",
    );
    let dev = oci_spec::runtime::LinuxDeviceBuilder::default()
        .path("/dev/fuse-like")
        .typ(oci_spec::runtime::LinuxDeviceType::C)
        .major(1)
        .minor(3)
        .file_mode(0o600u32)
        .build()
        .unwrap();
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_devices(Some(vec![dev]));
    let out = output_of(&spec, &rootfs);
    assert_eq!(
        out,
        "4\nmade\ncat: can't open '/tmp/kmsg': Operation not permitted\nc\n"
    );
}

fn user_namespace_maps_root() {
    if !privileged("user_namespace_maps_root", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let mut spec = sh(
        "id -u; cat /proc/self/uid_map | tr -s ' '; touch /tmp/owned; stat -c %u /tmp/owned; cat /sys/fs/cgroup/pids/pids.max",
    );
    let map = oci_spec::runtime::LinuxIdMappingBuilder::default()
        .container_id(0u32)
        .host_id(200000u32)
        .size(65536u32)
        .build()
        .unwrap();
    let linux = spec.linux_mut().as_mut().unwrap();
    linux.set_uid_mappings(Some(vec![map]));
    linux.set_gid_mappings(Some(vec![map]));
    let mut ns = linux.namespaces().clone().unwrap();
    ns.push(
        oci_spec::runtime::LinuxNamespaceBuilder::default()
            .typ(oci_spec::runtime::LinuxNamespaceType::User)
            .build()
            .unwrap(),
    );
    linux.set_namespaces(Some(ns));
    // The rootfs's /tmp must be writable by the container's root, host uid 200000.
    std::os::unix::fs::chown(rootfs.path().join("tmp"), Some(200000), Some(200000)).unwrap();
    let out = output_of(&spec, &rootfs);
    assert_eq!(out, "0\n 0 200000 65536\n0\nmax\n");
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(rootfs.path().join("tmp/owned"))
            .unwrap()
            .uid(),
        200000
    );
}

fn joined_network_namespace() {
    if !privileged("joined_network_namespace", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("net");
    let mut spec = sh("trap 'exit 0' TERM; while :; do sleep 0.1; done");
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let first = Guard(Some(c));
    first.get().start().unwrap();
    let ns_path = format!("/proc/{}/ns/net", first.get().pid());
    let host_view = std::fs::read_link(&ns_path).unwrap();
    let mut spec = sh("readlink /proc/self/ns/net");
    let linux = spec.linux_mut().as_mut().unwrap();
    let mut ns = linux.namespaces().clone().unwrap();
    for n in ns.iter_mut() {
        if n.typ() == oci_spec::runtime::LinuxNamespaceType::Network {
            n.set_path(Some(ns_path.clone().into()));
        }
    }
    linux.set_namespaces(Some(ns));
    let out = output_of(&spec, &rootfs);
    assert_eq!(out.trim(), host_view.to_string_lossy());
    assert_ne!(std::fs::read_link("/proc/self/ns/net").unwrap(), host_view);
}

fn start_reports_a_missing_executable_at_create() {
    if !privileged("start_reports_a_missing_executable_at_create", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let e = rt
        .runtime
        .create(
            &unique("x"),
            &docker_spec(&["nope"]),
            &rootfs.path(),
            CreateOptions::default(),
        )
        .unwrap_err();
    assert!(
        e.to_string()
            .contains("exec: \"nope\": executable file not found in $PATH"),
        "{e}"
    );
    // An executable that cannot be exec'ed is reported by start.
    std::fs::write(rootfs.path().join("bin/broken"), "not a program").unwrap();
    std::fs::set_permissions(
        rootfs.path().join("bin/broken"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let id = unique("x");
    let mut spec = docker_spec(&["broken"]);
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    let e = guard.get().start().unwrap_err().to_string();
    assert!(
        e.contains("exec /bin/broken") && e.contains("ENOEXEC"),
        "{e}"
    );
    assert_eq!(exit_of(guard.get()).exit, Exit::Code(127));
}

/// What a container says about itself, in a form two runtimes can be compared on.
const SELF_REPORT: &str = "echo '[id]'; id -u; id -g; id -G; \
    echo '[caps]'; grep -E '^Cap' /proc/self/status; \
    echo '[seccomp]'; grep -E '^Seccomp:' /proc/self/status; \
    echo '[mounts]'; cat /proc/self/mountinfo";

/// The sections of a self report. Mounts become sorted "mountpoint fstype" lines, plus the
/// per-mount flags that matter (ro, nosuid, nodev, noexec) on the side, so that order does not
/// count. The filesystem of a masked file is whatever /dev/null the runtime bound over it (the
/// container's own, or the host's devtmpfs), so it is left out for those.
fn sections(report: &str) -> std::collections::BTreeMap<String, Vec<(String, Vec<String>)>> {
    let mut out: std::collections::BTreeMap<String, Vec<(String, Vec<String>)>> =
        Default::default();
    let mut current = String::new();
    for line in report.lines() {
        if line.starts_with('[') && line.ends_with(']') {
            current = line.trim_matches(|c| c == '[' || c == ']').to_string();
            continue;
        }
        let entry = if current == "mounts" {
            let (left, right) = line.split_once(" - ").unwrap_or((line, ""));
            let f: Vec<&str> = left.split_whitespace().collect();
            let fstype = if f.get(3) == Some(&"/null") {
                "(null device)"
            } else {
                right.split_whitespace().next().unwrap_or("")
            };
            let mut flags: Vec<String> = f
                .get(5)
                .unwrap_or(&"")
                .split(',')
                .filter(|o| ["ro", "nosuid", "nodev", "noexec"].contains(o))
                .map(str::to_string)
                .collect();
            flags.sort();
            (format!("{} {}", f.get(4).unwrap_or(&""), fstype), flags)
        } else {
            (line.to_string(), Vec::new())
        };
        out.entry(current.clone()).or_default().push(entry);
    }
    if let Some(m) = out.get_mut("mounts") {
        m.sort();
    }
    out
}

fn same_view_as_crun() {
    if !privileged("same_view_as_crun", &["crun"]) {
        return;
    }
    // crun refuses hybrid cgroups unless hugetlb is a v1 hierarchy (DESIGN.md, facts).
    ensure_hugetlb_v1();
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let mut spec = sh(SELF_REPORT);
    spec.set_hostname(Some("cmp".into()));
    let user = resolve_user(&rootfs.path(), "app", &[]).unwrap();
    let available = berth_runtime::container::capabilities::available();
    for (who, uid) in [("root", 0u32), ("app", user.uid)] {
        let mut spec = spec.clone();
        let p = process_mut(&mut spec);
        if uid != 0 {
            p.set_user(
                UserBuilder::default()
                    .uid(user.uid)
                    .gid(user.gid)
                    .additional_gids(user.additional_gids.clone())
                    .build()
                    .unwrap(),
            );
        }
        p.set_capabilities(Some(
            berth_runtime::container::capabilities::docker_capabilities(
                &["NET_ADMIN".into()],
                &["MKNOD".into()],
                false,
                uid,
                &available,
            )
            .unwrap(),
        ));
        let berth = run(&rt.runtime, &spec, &rootfs.path(), false).expect("berth runs the bundle");
        assert_eq!(berth.status.exit, Exit::Code(0), "{}", berth.stderr);
        let crun = run_crun(&spec, &rootfs);
        let (b, c) = (sections(&berth.stdout), sections(&crun));
        let context = format!("berth:\n{}\ncrun:\n{}", berth.stdout, crun);
        for key in ["id", "caps", "seccomp"] {
            assert_eq!(b.get(key), c.get(key), "{who}: {key} differs\n{context}");
        }
        // The same mounts, of the same types; each at least as restricted in berth. berth is
        // stricter in two places, as runc and Docker are: read-only /proc paths keep nosuid,
        // nodev and noexec, and the tmpfs under the cgroup hierarchies is read-only.
        let (bm, cm) = (&b["mounts"], &c["mounts"]);
        let names =
            |m: &Vec<(String, Vec<String>)>| m.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
        assert_eq!(names(bm), names(cm), "{who}: mount lists differ\n{context}");
        for ((name, bf), (_, cf)) in bm.iter().zip(cm) {
            assert!(
                cf.iter().all(|f| bf.contains(f)),
                "{who}: {name} is {bf:?} in berth, {cf:?} in crun\n{context}"
            );
        }
    }
}

/// Mounts the hugetlb controller as a v1 hierarchy if nothing has (a host prerequisite of crun
/// on hybrid hosts, left in place like the egress guard: other tests may rely on it).
fn ensure_hugetlb_v1() {
    let info = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    if info
        .lines()
        .any(|l| l.contains(" - cgroup ") && l.split(',').any(|o| o.trim() == "hugetlb"))
    {
        return;
    }
    if !info.lines().any(|l| l.contains(" /sys/fs/cgroup/unified ")) {
        return;
    }
    let _ = std::fs::create_dir("/sys/fs/cgroup/hugetlb");
    let status = std::process::Command::new("mount")
        .args([
            "-t",
            "cgroup",
            "-o",
            "hugetlb",
            "cgroup",
            "/sys/fs/cgroup/hugetlb",
        ])
        .status()
        .unwrap();
    assert!(
        status.success(),
        "mounting the hugetlb hierarchy for crun failed"
    );
}

/// Runs `spec` on `rootfs` with `crun run`, returning its stdout.
fn run_crun(spec: &Spec, rootfs: &Rootfs) -> String {
    let bundle = tempfile::tempdir().unwrap();
    let state = tempfile::tempdir().unwrap();
    let id = unique("crun");
    let mut spec = spec.clone();
    spec.root_mut().as_mut().unwrap().set_path(rootfs.path());
    // crun takes a relative cgroupsPath from the hierarchy's root: an absolute, unique path
    // says the same, and is removed below whatever crun leaves.
    let cgroup = format!("/berth-crun-{id}");
    spec.linux_mut()
        .as_mut()
        .unwrap()
        .set_cgroups_path(Some(cgroup.clone().into()));
    spec.save(bundle.path().join("config.json")).unwrap();
    let out = std::process::Command::new("crun")
        .arg("--root")
        .arg(state.path())
        .arg("run")
        .arg("--bundle")
        .arg(bundle.path())
        .arg(&id)
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let _ = std::process::Command::new("crun")
        .arg("--root")
        .arg(state.path())
        .args(["delete", "-f", &id])
        .output();
    for dir in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(dir.path().join(cgroup.trim_start_matches('/')));
    }
    let _ = std::fs::remove_dir(Path::new("/sys/fs/cgroup").join(cgroup.trim_start_matches('/')));
    assert!(
        out.status.success(),
        "crun: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn privileged_container_gets_everything() {
    if !privileged("privileged_container_gets_everything", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let mut spec = sh(
        "grep -E '^(CapEff|Seccomp):' /proc/self/status; mount -t tmpfs t /mnt && echo mounted; \
                       test -c /dev/kmsg && echo kmsg; echo 1 > /sys/kernel/mm/ksm/run 2>/dev/null; wc -c < /proc/keys >/dev/null; echo done",
    );
    std::fs::create_dir_all(rootfs.path().join("mnt")).unwrap();
    berth_runtime::container::defaults::make_privileged(&mut spec).unwrap();
    process_mut(&mut spec).set_no_new_privileges(Some(false));
    let out = output_of(&spec, &rootfs);
    let bounding = caps::read(None, caps::CapSet::Bounding).unwrap();
    let mask: u64 = bounding.iter().map(|c| c.bitmask()).sum();
    assert!(
        out.starts_with(&format!(
            "CapEff:\t{mask:016x}\nSeccomp:\t0\nmounted\nkmsg\n"
        )),
        "{out}"
    );
}

fn seccomp_profile_file_and_unconfined() {
    if !privileged("seccomp_profile_file_and_unconfined", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let profile_path = rootfs.dir.path().join("profile.json");
    std::fs::write(
        &profile_path,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let profile = berth_runtime::container::seccomp::Profile::load(&profile_path).unwrap();
    let caps: Vec<String> = DOCKER_DEFAULT_CAPABILITIES
        .iter()
        .map(|s| s.to_string())
        .collect();
    let oci = berth_runtime::container::seccomp::docker::to_oci(
        &profile,
        &caps,
        berth_runtime::container::seccomp::docker::native_arch(),
        berth_runtime::container::seccomp::docker::kernel_version(),
    );
    let mut spec =
        sh("mkdir /tmp/d 2>&1; touch /tmp/f && echo touched; grep Seccomp: /proc/self/status");
    spec.linux_mut().as_mut().unwrap().set_seccomp(Some(oci));
    let out = output_of(&spec, &rootfs);
    assert_eq!(
        out,
        "mkdir: can't create directory '/tmp/d': Permission denied\ntouched\nSeccomp:\t2\n"
    );
    let mut spec = sh("mkdir /tmp/d && echo made; grep Seccomp: /proc/self/status");
    spec.linux_mut().as_mut().unwrap().set_seccomp(None);
    assert_eq!(output_of(&spec, &rootfs), "made\nSeccomp:\t0\n");
}

fn container_with_a_terminal_and_stdin() {
    if !privileged("container_with_a_terminal_and_stdin", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    // A terminal: the process sees it, and the container's /dev/console is it.
    let id = unique("tty");
    let mut spec = sh(
        "stty size; test -t 0 && echo tty; test -c /dev/console && echo console; read x; echo got=$x",
    );
    process_mut(&mut spec).set_terminal(Some(true));
    process_mut(&mut spec).set_console_size(Some(
        oci_spec::runtime::BoxBuilder::default()
            .width(100u64)
            .height(30u64)
            .build()
            .unwrap(),
    ));
    unique_cgroup(&mut spec, &id);
    let mut c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let mut term = c.take_io().terminal.unwrap();
    let guard = Guard(Some(c));
    guard.get().start().unwrap();
    term.write_all(b"hi\n").unwrap();
    let mut seen = String::new();
    let mut buf = [0u8; 512];
    while !seen.contains("got=hi") {
        match term.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => seen.push_str(&String::from_utf8_lossy(&buf[..n])),
        }
    }
    let seen = seen.replace('\r', "");
    // The terminal echoes what was typed ("hi") wherever it lands in the output.
    assert!(
        seen.replacen("hi\n", "", 1)
            .starts_with("30 100\ntty\nconsole\n"),
        "{seen:?}"
    );
    assert!(seen.contains("got=hi"), "{seen:?}");
    assert_eq!(exit_of(guard.get()).exit, Exit::Code(0));
    drop(guard);

    // Pipes with stdin: what the caller writes, the process reads.
    let id = unique("stdin");
    let mut spec = docker_spec(&["tr", "a-z", "A-Z"]);
    unique_cgroup(&mut spec, &id);
    let mut c = rt
        .runtime
        .create(
            &id,
            &spec,
            &rootfs.path(),
            CreateOptions {
                stdio: Stdio::Piped { stdin: true },
                init: false,
            },
        )
        .unwrap();
    let io = c.take_io();
    let guard = Guard(Some(c));
    guard.get().start().unwrap();
    let out = collect(io.stdout.unwrap());
    let mut stdin = io.stdin.unwrap();
    stdin.write_all(b"hello\n").unwrap();
    drop(stdin);
    assert_eq!(out.join().unwrap(), "HELLO\n");
    assert_eq!(exit_of(guard.get()).exit, Exit::Code(0));
}

fn cgroup_limits_seen_from_inside() {
    if !privileged("cgroup_limits_seen_from_inside", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let v2 = rt.runtime.hierarchy().is_v2();
    let script = if v2 {
        "cd /sys/fs/cgroup; cat memory.max memory.low cpu.max cpu.weight pids.max cpuset.cpus"
    } else {
        "cd /sys/fs/cgroup; cat memory/memory.limit_in_bytes memory/memory.soft_limit_in_bytes memory/memory.memsw.limit_in_bytes \
         cpu/cpu.cfs_quota_us cpu/cpu.cfs_period_us cpu/cpu.shares pids/pids.max cpuset/cpuset.cpus blkio/blkio.bfq.weight 2>/dev/null || cat blkio/blkio.weight"
    };
    let mut spec = sh(script);
    let r = resources_mut(&mut spec);
    r.set_memory(Some(
        LinuxMemoryBuilder::default()
            .limit(64i64 << 20)
            .reservation(32i64 << 20)
            .swap(128i64 << 20)
            .build()
            .unwrap(),
    ));
    r.set_cpu(Some(
        oci_spec::runtime::LinuxCpuBuilder::default()
            .shares(512u64)
            .quota(50000i64)
            .period(100000u64)
            .cpus("0")
            .build()
            .unwrap(),
    ));
    r.set_pids(Some(
        LinuxPidsBuilder::default().limit(100i64).build().unwrap(),
    ));
    r.set_block_io(Some(
        oci_spec::runtime::LinuxBlockIoBuilder::default()
            .weight(300u16)
            .build()
            .unwrap(),
    ));
    let out = output_of(&spec, &rootfs);
    if v2 {
        assert!(
            out.starts_with("67108864\n33554432\n50000 100000\n20\n100\n0\n"),
            "{out}"
        );
    } else {
        assert_eq!(
            out,
            "67108864\n33554432\n134217728\n50000\n100000\n512\n100\n0\n300\n"
        );
    }
}

fn another_runtime_can_load_and_control_a_container() {
    if !privileged("another_runtime_can_load_and_control_a_container", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let id = unique("load");
    let mut spec = sh("trap 'exit 5' TERM; touch /tmp/trapped; while :; do sleep 0.1; done");
    unique_cgroup(&mut spec, &id);
    let c = rt
        .runtime
        .create(&id, &spec, &rootfs.path(), CreateOptions::default())
        .unwrap();
    let guard = Guard(Some(c));
    let other = berth_runtime::container::Runtime::new(rt.state.path()).unwrap();
    assert_eq!(other.list().unwrap(), vec![id.clone()]);
    let seen = other.load(&id).unwrap();
    assert_eq!(seen.status(), Status::Created);
    seen.start().unwrap();
    assert_eq!(guard.get().status(), Status::Running);
    seen.pause().unwrap();
    assert_eq!(guard.get().status(), Status::Paused);
    seen.resume().unwrap();
    assert!(
        seen.top()
            .unwrap()
            .iter()
            .any(|p| p.pid == guard.get().pid())
    );
    // Pid 1 ignores SIGTERM until its trap is set.
    assert!(eventually(Duration::from_secs(10), || rootfs
        .path()
        .join("tmp/trapped")
        .exists()));
    seen.signal(Signal::SIGTERM).unwrap();
    // Only the parent learns the exit code; the other one sees that it ended.
    assert_eq!(exit_of(guard.get()).exit, Exit::Code(5));
    assert!(seen.wait_timeout(Duration::from_secs(5)).is_some());
    assert!(matches!(
        other.load(&id),
        Err(berth_runtime::container::ContainerError::WrongStatus { .. })
    ));
}

fn main() {
    if let Some(code) = berth_runtime::container::dispatch_helper() {
        std::process::exit(code);
    }
    run_tests(&[
        (
            "own_pid_1_and_no_host_processes",
            own_pid_1_and_no_host_processes,
        ),
        (
            "hostname_and_domainname_are_set",
            hostname_and_domainname_are_set,
        ),
        ("no_access_to_host_mounts", no_access_to_host_mounts),
        ("masked_paths_are_unreadable", masked_paths_are_unreadable),
        (
            "default_capabilities_are_dockers",
            default_capabilities_are_dockers,
        ),
        (
            "dangerous_syscalls_are_refused",
            dangerous_syscalls_are_refused,
        ),
        (
            "non_root_user_cannot_regain_root",
            non_root_user_cannot_regain_root,
        ),
        (
            "memory_limit_oom_kills_and_is_reported",
            memory_limit_oom_kills_and_is_reported,
        ),
        ("pids_limit_stops_a_fork_bomb", pids_limit_stops_a_fork_bomb),
        (
            "read_only_root_refuses_writes",
            read_only_root_refuses_writes,
        ),
        ("mounts_from_the_spec", mounts_from_the_spec),
        (
            "stop_kills_after_grace_when_sigterm_is_ignored",
            stop_kills_after_grace_when_sigterm_is_ignored,
        ),
        (
            "stop_returns_when_sigterm_is_handled",
            stop_returns_when_sigterm_is_handled,
        ),
        (
            "init_forwards_signals_and_reaps_zombies",
            init_forwards_signals_and_reaps_zombies,
        ),
        ("exec_joins_the_container", exec_joins_the_container),
        (
            "exec_with_a_resizable_terminal",
            exec_with_a_resizable_terminal,
        ),
        ("pause_resume_top_and_stats", pause_resume_top_and_stats),
        ("rlimits_sysctls_and_refusals", rlimits_sysctls_and_refusals),
        (
            "a_limit_that_cannot_apply_is_an_error",
            a_limit_that_cannot_apply_is_an_error,
        ),
        (
            "devices_and_their_cgroup_rules",
            devices_and_their_cgroup_rules,
        ),
        ("user_namespace_maps_root", user_namespace_maps_root),
        ("joined_network_namespace", joined_network_namespace),
        (
            "start_reports_a_missing_executable_at_create",
            start_reports_a_missing_executable_at_create,
        ),
        ("same_view_as_crun", same_view_as_crun),
        (
            "privileged_container_gets_everything",
            privileged_container_gets_everything,
        ),
        (
            "seccomp_profile_file_and_unconfined",
            seccomp_profile_file_and_unconfined,
        ),
        (
            "container_with_a_terminal_and_stdin",
            container_with_a_terminal_and_stdin,
        ),
        (
            "cgroup_limits_seen_from_inside",
            cgroup_limits_seen_from_inside,
        ),
        (
            "another_runtime_can_load_and_control_a_container",
            another_runtime_can_load_and_control_a_container,
        ),
    ]);
}
