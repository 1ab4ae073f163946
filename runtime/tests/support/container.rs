//! Test support for container tests: a busybox root filesystem (Debian's busybox-static),
//! privilege checks, unique names, and guards that clean up containers and directories.
//! Included by the container tests next to `support` (whose checks it uses), as
//! `#[path = "support/container.rs"] mod container;`.

use berth_runtime::container::{Container, CreateOptions, Runtime, Stdio};
use oci_spec::runtime::Spec;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Where Debian's busybox-static installs its binary.
pub const BUSYBOX: &str = "/bin/busybox";

/// Says whether the test can run: needs root, a static busybox and the listed programs. When
/// it cannot, fails under `BERTH_REQUIRE_PRIVILEGED=1` (CI), else explains and returns false.
pub fn privileged(test: &str, programs: &[&str]) -> bool {
    if !is_static_busybox() {
        return crate::support::prerequisites(
            test,
            true,
            &["a static busybox at /bin/busybox (Debian package busybox-static)"],
        );
    }
    crate::support::prerequisites(test, true, programs)
}

/// Whether BUSYBOX is a statically linked 64-bit ELF: no PT_INTERP program header (the one
/// naming the dynamic loader), so it runs in a rootfs that has nothing else.
fn is_static_busybox() -> bool {
    let Ok(b) = std::fs::read(BUSYBOX) else {
        return false;
    };
    if b.len() < 64 || !b.starts_with(b"\x7fELF\x02") {
        return false;
    }
    let u16_at = |o: usize| u16::from_le_bytes([b[o], b[o + 1]]) as usize;
    let phoff = u64::from_le_bytes(b[0x20..0x28].try_into().unwrap()) as usize;
    let (size, count) = (u16_at(0x36), u16_at(0x38));
    (0..count).all(|i| {
        let o = phoff + i * size;
        b.get(o..o + 4)
            .is_some_and(|t| u32::from_le_bytes(t.try_into().unwrap()) != 3)
    })
}

static COUNTER: AtomicUsize = AtomicUsize::new(0);

/// A name unique to this test process and call.
pub fn unique(prefix: &str) -> String {
    format!(
        "{prefix}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

/// A busybox root filesystem in a temporary directory: the static binary, a symlink per
/// applet, /etc/passwd and /etc/group with root, a user `app` (1000) and `nobody`.
pub struct Rootfs {
    pub dir: tempfile::TempDir,
}

impl Rootfs {
    pub fn path(&self) -> PathBuf {
        self.dir.path().join("rootfs")
    }
}

pub fn busybox_rootfs() -> Rootfs {
    let dir = tempfile::Builder::new()
        .prefix("berth-rootfs-")
        .tempdir()
        .expect("temp dir");
    fill_busybox_rootfs(&dir.path().join("rootfs"));
    Rootfs { dir }
}

/// Fills `root` with the busybox root filesystem [`busybox_rootfs`] describes.
pub fn fill_busybox_rootfs(root: &Path) {
    for d in [
        "bin",
        "etc",
        "proc",
        "sys",
        "dev",
        "tmp",
        "root",
        "home/app",
        "var/empty",
    ] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(BUSYBOX, root.join("bin/busybox")).unwrap();
    let out = std::process::Command::new(BUSYBOX)
        .arg("--list")
        .output()
        .unwrap();
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet != "busybox" && !applet.is_empty() {
            let _ = std::os::unix::fs::symlink("busybox", root.join("bin").join(applet));
        }
    }
    std::fs::write(
        root.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\nnobody:x:65534:65534:nobody:/var/empty:/bin/false\n",
    )
    .unwrap();
    std::fs::write(
        root.join("etc/group"),
        "root:x:0:\nwheel:x:10:app\napp:x:1000:\nnogroup:x:65534:\n",
    )
    .unwrap();
    std::fs::set_permissions(
        root.join("tmp"),
        std::os::unix::fs::PermissionsExt::from_mode(0o1777),
    )
    .unwrap();
    std::os::unix::fs::chown(root.join("home/app"), Some(1000), Some(1000)).unwrap();
}

/// A runtime with its state in a temporary directory; the helper is this test binary.
pub struct TestRuntime {
    pub runtime: Runtime,
    pub state: tempfile::TempDir,
}

pub fn runtime() -> TestRuntime {
    let state = tempfile::Builder::new()
        .prefix("berth-state-")
        .tempdir()
        .unwrap();
    let runtime = Runtime::new(state.path()).expect("runtime");
    TestRuntime { runtime, state }
}

/// Creates and starts a container with piped stdout/stderr (no stdin), guarded so that it is
/// deleted when the test ends; returns the guard and the container's pipes.
pub fn start_piped(
    rt: &TestRuntime,
    id: &str,
    spec: &Spec,
    rootfs: &Path,
    init: bool,
) -> (Guard, berth_runtime::container::ProcessIo) {
    let mut c = rt
        .runtime
        .create(
            id,
            spec,
            rootfs,
            CreateOptions {
                stdio: Stdio::Piped { stdin: false },
                init,
            },
        )
        .expect("creating the container");
    let io = c.take_io();
    let guard = Guard(Some(c));
    guard.get().start().expect("starting the container");
    (guard, io)
}

/// A container that is deleted (killed, reaped, cgroup and state removed) when dropped.
pub struct Guard(pub Option<Container>);

impl Guard {
    pub fn get(&self) -> &Container {
        self.0.as_ref().unwrap()
    }
    pub fn get_mut(&mut self) -> &mut Container {
        self.0.as_mut().unwrap()
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        if let Some(c) = self.0.take()
            && let Err(e) = c.delete()
        {
            eprintln!("cleanup: {e}");
        }
    }
}

/// Gives a spec a cgroup path unique to the test, under the test process's own cgroup.
pub fn unique_cgroup(spec: &mut Spec, id: &str) {
    let linux = spec.linux_mut().as_mut().unwrap();
    linux.set_cgroups_path(Some(PathBuf::from(format!("berth-test/{id}"))));
}

/// What a container printed and how it ended.
pub struct Output {
    pub stdout: String,
    pub stderr: String,
    pub status: berth_runtime::container::ExitStatus,
}

/// How long a test waits for a container or process that should end by itself.
pub const END_TIMEOUT: Duration = Duration::from_secs(120);

/// Waits for a container that should end by itself; panics (and so, through its guard,
/// kills it) if it does not, instead of hanging the test run.
pub fn exit_of(c: &Container) -> berth_runtime::container::ExitStatus {
    c.wait_timeout(END_TIMEOUT)
        .unwrap_or_else(|| panic!("container {} did not end within {END_TIMEOUT:?}", c.id()))
}

/// [`exit_of`] for an exec'd process.
pub fn exec_exit(e: &berth_runtime::container::ExecProcess) -> berth_runtime::container::Exit {
    e.wait_timeout(END_TIMEOUT).unwrap_or_else(|| {
        panic!(
            "exec'd process {} did not end within {END_TIMEOUT:?}",
            e.pid()
        )
    })
}

/// Creates, starts and waits for a container running `spec` on `rootfs`, with piped output.
pub fn run(
    rt: &Runtime,
    spec: &Spec,
    rootfs: &Path,
    init: bool,
) -> Result<Output, berth_runtime::container::ContainerError> {
    let id = unique("c");
    let mut spec = spec.clone();
    unique_cgroup(&mut spec, &id);
    let options = CreateOptions {
        stdio: Stdio::Piped { stdin: false },
        init,
    };
    let c = rt.create(&id, &spec, rootfs, options)?;
    let mut guard = Guard(Some(c));
    let io = guard.get_mut().take_io();
    guard.get().start()?;
    let out = collect(io.stdout.unwrap());
    let err = collect(io.stderr.unwrap());
    let status = exit_of(guard.get());
    Ok(Output {
        stdout: out.join().unwrap(),
        stderr: err.join().unwrap(),
        status,
    })
}

/// Reads everything from a pipe in a thread (so that a full pipe never blocks the container).
pub fn collect(mut f: std::fs::File) -> std::thread::JoinHandle<String> {
    std::thread::spawn(move || {
        let mut s = String::new();
        let _ = f.read_to_string(&mut s);
        s
    })
}

/// Waits until `cond` holds, up to `timeout`.
pub fn eventually(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < deadline {
        if cond() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    cond()
}

/// A tiny test runner for binaries with `harness = false` (they must dispatch the runtime's
/// helper entry points before anything else): runs the tests whose name contains one of the
/// non-flag arguments (all without any), a few at a time, and exits non-zero on failure.
pub fn run_tests(tests: &[(&'static str, fn())]) -> ! {
    let filters: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with('-'))
        .collect();
    if std::env::args().any(|a| a == "--list") {
        for (name, _) in tests {
            println!("{name}: test");
        }
        std::process::exit(0);
    }
    let selected: Vec<&(&str, fn())> = tests
        .iter()
        .filter(|(n, _)| filters.is_empty() || filters.iter().any(|f| n.contains(f.as_str())))
        .collect();
    println!("\nrunning {} tests", selected.len());
    let failures = std::sync::Mutex::new(Vec::new());
    let next = AtomicUsize::new(0);
    // A hung test must not hang CI: after the deadline the run fails, naming what still runs.
    let running = std::sync::Arc::new(std::sync::Mutex::new(Vec::<&'static str>::new()));
    let watched = running.clone();
    let limit = Duration::from_secs(
        std::env::var("BERTH_TEST_DEADLINE_SECS")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(900),
    );
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!(
            "test run exceeded {limit:?}; still running: {:?}",
            watched.lock().unwrap()
        );
        std::process::exit(102);
    });
    let workers = std::env::var("BERTH_TEST_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3usize);
    std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let i = next.fetch_add(1, Ordering::SeqCst);
                    let Some((name, f)) = selected.get(i) else {
                        break;
                    };
                    let started = std::time::Instant::now();
                    running.lock().unwrap().push(name);
                    let result = std::panic::catch_unwind(f);
                    running.lock().unwrap().retain(|n| n != name);
                    let secs = started.elapsed().as_secs_f32();
                    match result {
                        Ok(()) => println!("test {name} ... ok ({secs:.2}s)"),
                        Err(e) => {
                            let msg = e
                                .downcast_ref::<String>()
                                .cloned()
                                .or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()))
                                .unwrap_or_default();
                            println!("test {name} ... FAILED ({secs:.2}s)");
                            failures.lock().unwrap().push((name.to_string(), msg));
                        }
                    }
                }
            });
        }
    });
    let failures = failures.into_inner().unwrap();
    for (name, msg) in &failures {
        println!("\n---- {name} ----\n{msg}");
    }
    let passed = selected.len() - failures.len();
    println!(
        "\ntest result: {}. {passed} passed; {} failed\n",
        if failures.is_empty() { "ok" } else { "FAILED" },
        failures.len()
    );
    std::process::exit(if failures.is_empty() { 0 } else { 101 })
}

/// A tiny static x86_64 program (no libc) that makes system call `nr` with all arguments zero
/// and exits with the errno it got (0 on success). Arguments of zero keep every probe harmless
/// even where it is allowed: `reboot` with a zero magic is EINVAL, `kexec_load` of nothing
/// unloads nothing, `mount` of NULLs is EFAULT.
pub fn syscall_probe(nr: u32) -> Vec<u8> {
    probe_program(nr, true)
}

/// Like [`syscall_probe`], but exits with the call's raw result (`geteuid` gives the euid).
pub fn result_probe(nr: u32) -> Vec<u8> {
    probe_program(nr, false)
}

fn probe_program(nr: u32, errno: bool) -> Vec<u8> {
    let mut code = vec![0xb8];
    code.extend_from_slice(&nr.to_le_bytes()); // mov eax, nr
    code.extend_from_slice(&[
        0x31, 0xff, // xor edi, edi
        0x31, 0xf6, // xor esi, esi
        0x31, 0xd2, // xor edx, edx
        0x45, 0x31, 0xd2, // xor r10d, r10d
        0x45, 0x31, 0xc0, // xor r8d, r8d
        0x45, 0x31, 0xc9, // xor r9d, r9d
        0x0f, 0x05, // syscall
    ]);
    if errno {
        code.extend_from_slice(&[0xf7, 0xd8]); // neg eax
    }
    code.extend_from_slice(&[
        0x89, 0xc7, // mov edi, eax
        0xb8, 0x3c, 0x00, 0x00, 0x00, // mov eax, 60 (exit)
        0x0f, 0x05, // syscall
    ]);
    let base: u64 = 0x40_0000;
    let header_len: u64 = 64 + 56;
    let total = header_len + code.len() as u64;
    let mut elf = Vec::new();
    elf.extend_from_slice(&[0x7f, b'E', b'L', b'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    elf.extend_from_slice(&2u16.to_le_bytes()); // ET_EXEC
    elf.extend_from_slice(&0x3eu16.to_le_bytes()); // x86_64
    elf.extend_from_slice(&1u32.to_le_bytes());
    elf.extend_from_slice(&(base + header_len).to_le_bytes()); // entry
    elf.extend_from_slice(&64u64.to_le_bytes()); // phoff
    elf.extend_from_slice(&0u64.to_le_bytes()); // shoff
    elf.extend_from_slice(&0u32.to_le_bytes()); // flags
    elf.extend_from_slice(&64u16.to_le_bytes()); // ehsize
    elf.extend_from_slice(&56u16.to_le_bytes()); // phentsize
    elf.extend_from_slice(&1u16.to_le_bytes()); // phnum
    elf.extend_from_slice(&[0; 6]); // shentsize, shnum, shstrndx
    elf.extend_from_slice(&1u32.to_le_bytes()); // PT_LOAD
    elf.extend_from_slice(&5u32.to_le_bytes()); // R+X
    elf.extend_from_slice(&0u64.to_le_bytes()); // offset
    elf.extend_from_slice(&base.to_le_bytes()); // vaddr
    elf.extend_from_slice(&base.to_le_bytes()); // paddr
    elf.extend_from_slice(&total.to_le_bytes()); // filesz
    elf.extend_from_slice(&total.to_le_bytes()); // memsz
    elf.extend_from_slice(&0x1000u64.to_le_bytes()); // align
    elf.extend_from_slice(&code);
    elf
}

/// Installs probes as /bin/probe-NAME in the rootfs.
pub fn install_probes(rootfs: &Path, probes: &[(&str, u32)]) {
    for (name, nr) in probes {
        let path = rootfs.join("bin").join(format!("probe-{name}"));
        std::fs::write(&path, syscall_probe(*nr)).unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755))
            .unwrap();
    }
}
