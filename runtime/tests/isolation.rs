//! Isolation of berth's containers, asserted from inside busybox containers (root, in CI).
//!
//! This binary has no libtest harness: its `main` first lets the runtime's helper entry points
//! run (the runtime re-executes this very binary as `__init`/`__exec`), then runs the tests.

mod support;

use berth_runtime::container::defaults::docker_spec;
use support::*;

fn basic_run_is_isolated() {
    if !privileged("basic_run_is_isolated", &[]) {
        return;
    }
    let rootfs = busybox_rootfs();
    let rt = runtime();
    let mut spec = docker_spec(&["sh", "-c", "echo pid=$$; hostname; ps -o pid,comm; id"]);
    spec.set_hostname(Some("box".into()));
    let out = run(&rt.runtime, &spec, &rootfs.path(), false).expect("run");
    println!("{}\n{}\n{}", out.stdout, out.stderr, out.status);
    assert!(out.stdout.contains("pid=1"), "{}", out.stdout);
}

fn main() {
    if let Some(code) = berth_runtime::container::dispatch_helper() {
        std::process::exit(code);
    }
    run_tests(&[("basic_run_is_isolated", basic_run_is_isolated)]);
}
