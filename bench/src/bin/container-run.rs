//! How long it takes to create, start and wait for a container running `true` in a busybox
//! image: berth's runtime (in-process, as the supervisor uses it), `crun run` on the same
//! bundle, and `podman run --rm` on the same files imported as an image. All in one run, on the
//! same machine, with ratios to berth.
//!
//! Run as root: `cargo run --release -p berth-bench --bin container-run`
//! (Debian packages busybox-static, crun, podman; BERTH_BENCH_RUNS sets the sample count).
//!
//! This binary is also berth's helper for the runtime (`container-run __init`): `main`
//! dispatches that before anything else.

use berth_bench::Samples;
use berth_runtime::container::defaults::docker_spec;
use berth_runtime::container::{CreateOptions, Exit, Runtime, Stdio};
use std::path::Path;
use std::process::Command;

fn main() {
    if let Some(code) = berth_runtime::container::dispatch_helper() {
        std::process::exit(code);
    }
    if !is_root() {
        eprintln!("container-run needs root (it creates namespaces and cgroups)");
        std::process::exit(2);
    }
    let runs: usize = std::env::var("BERTH_BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let work = tempfile::Builder::new()
        .prefix("berth-bench-run-")
        .tempdir()
        .expect("temp dir");
    let bundle = work.path().join("bundle");
    let rootfs = bundle.join("rootfs");
    build_rootfs(&rootfs);
    berth_bench::ensure_hugetlb_v1();

    let mut spec = docker_spec(&["true"]);
    spec.set_hostname(Some("bench".into()));
    let cgroup = format!("/berth-bench-{}", std::process::id());

    // berth, in-process.
    let rt = Runtime::new(work.path().join("berth-state")).expect("runtime");
    let mut n = 0;
    let berth = Samples::measure(3, runs, || {
        n += 1;
        let id = format!("b{n}");
        let mut s = spec.clone();
        s.linux_mut()
            .as_mut()
            .unwrap()
            .set_cgroups_path(Some(format!("{cgroup}-{id}").into()));
        let c = rt
            .create(
                &id,
                &s,
                &rootfs,
                CreateOptions {
                    stdio: Stdio::Null,
                    init: false,
                },
            )
            .expect("create");
        c.start().expect("start");
        let status = c.wait();
        assert_eq!(status.exit, Exit::Code(0), "berth: {status}");
        c.delete().expect("delete");
    });
    println!("berth create+start+wait: {}", berth.summary());

    let mut results = vec![("berth", berth)];
    if which("crun") {
        let mut s = spec.clone();
        s.root_mut().as_mut().unwrap().set_path(rootfs.clone());
        s.linux_mut()
            .as_mut()
            .unwrap()
            .set_cgroups_path(Some(format!("{cgroup}-crun").into()));
        s.save(bundle.join("config.json")).expect("config.json");
        let state = work.path().join("crun-state");
        let mut n = 0;
        let crun = Samples::measure(3, runs, || {
            n += 1;
            let st = Command::new("crun")
                .arg("--root")
                .arg(&state)
                .args(["run", "--bundle"])
                .arg(&bundle)
                .arg(format!("c{n}"))
                .stdin(std::process::Stdio::null())
                .status()
                .expect("crun");
            assert!(st.success(), "crun run failed: {st}");
        });
        println!("crun run:                {}", crun.summary());
        results.push(("crun", crun));
    } else {
        println!("crun run: skipped (crun is not installed)");
    }
    if which("podman") {
        let storage = work.path().join("podman");
        let podman = |args: &[&str]| {
            let mut c = Command::new("podman");
            c.arg("--root")
                .arg(storage.join("root"))
                .arg("--runroot")
                .arg(storage.join("run"));
            c.args(["--events-backend", "file", "--cgroup-manager", "cgroupfs"])
                .args(args);
            c.stdin(std::process::Stdio::null());
            c
        };
        let tar = work.path().join("rootfs.tar");
        let st = Command::new("tar")
            .arg("-C")
            .arg(&rootfs)
            .arg("-cf")
            .arg(&tar)
            .arg(".")
            .status()
            .expect("tar");
        assert!(st.success());
        let out = podman(&["import", tar.to_str().unwrap(), "berth-bench-busybox"])
            .output()
            .expect("podman import");
        assert!(
            out.status.success(),
            "podman import: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        // Podman's default ulimits exceed this machine's hard limits (DESIGN.md, facts);
        // no network, so nothing can leave the machine.
        let run = [
            "run",
            "--rm",
            "--network",
            "none",
            "--ulimit",
            "nofile=1024:1024",
            "--ulimit",
            "nproc=1024:1024",
        ];
        let p = Samples::measure(2, runs.div_ceil(3), || {
            let mut args = run.to_vec();
            args.extend(["berth-bench-busybox", "/bin/true"]);
            let st = podman(&args).status().expect("podman run");
            assert!(st.success(), "podman run failed: {st}");
        });
        println!("podman run --rm:         {}", p.summary());
        results.push(("podman", p));
        let _ = podman(&["rmi", "-a", "-f"]).output();
    } else {
        println!("podman run --rm: skipped (podman is not installed)");
    }

    let base = results[0].1.percentile(50.0).as_secs_f64();
    for (name, s) in &results[1..] {
        println!(
            "median {name} / berth: {:.2}x",
            s.percentile(50.0).as_secs_f64() / base
        );
    }
    for dir in std::fs::read_dir("/sys/fs/cgroup")
        .into_iter()
        .flatten()
        .flatten()
    {
        let _ = std::fs::remove_dir(
            dir.path()
                .join(format!("{}-crun", cgroup.trim_start_matches('/'))),
        );
    }
}

fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() == 0 }
}

fn which(name: &str) -> bool {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| Path::new(d).join(name).is_file())
}

/// A busybox rootfs: Debian's static busybox and a symlink per applet.
fn build_rootfs(root: &Path) {
    for d in ["bin", "etc", "proc", "sys", "dev", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy("/bin/busybox", root.join("bin/busybox"))
        .expect("/bin/busybox (Debian package busybox-static)");
    let out = Command::new("/bin/busybox").arg("--list").output().unwrap();
    for applet in String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|a| *a != "busybox")
    {
        let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
}
