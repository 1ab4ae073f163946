//! Docker's default seccomp profile (moby's profiles/seccomp/default.json), translated into
//! Rust data: the syscalls it allows always, those it allows with a capability, an
//! architecture or a kernel version, and clone3's ENOSYS.

use super::docker::{
    ArchMap, Filter, Profile, ProfileSyscall, kernel_version, native_arch, to_oci,
};
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArgBuilder,
    LinuxSeccompOperator as Op,
};

/// The syscalls Docker's default profile always allows.
const ALLOWED: &[&str] = &[
    "accept",
    "accept4",
    "access",
    "adjtimex",
    "alarm",
    "bind",
    "brk",
    "capget",
    "capset",
    "chdir",
    "chmod",
    "chown",
    "chown32",
    "clock_adjtime",
    "clock_adjtime64",
    "clock_getres",
    "clock_getres_time64",
    "clock_gettime",
    "clock_gettime64",
    "clock_nanosleep",
    "clock_nanosleep_time64",
    "close",
    "close_range",
    "connect",
    "copy_file_range",
    "creat",
    "dup",
    "dup2",
    "dup3",
    "epoll_create",
    "epoll_create1",
    "epoll_ctl",
    "epoll_ctl_old",
    "epoll_pwait",
    "epoll_pwait2",
    "epoll_wait",
    "epoll_wait_old",
    "eventfd",
    "eventfd2",
    "execve",
    "execveat",
    "exit",
    "exit_group",
    "faccessat",
    "faccessat2",
    "fadvise64",
    "fadvise64_64",
    "fallocate",
    "fanotify_mark",
    "fchdir",
    "fchmod",
    "fchmodat",
    "fchown",
    "fchown32",
    "fchownat",
    "fcntl",
    "fcntl64",
    "fdatasync",
    "fgetxattr",
    "flistxattr",
    "flock",
    "fork",
    "fremovexattr",
    "fsetxattr",
    "fstat",
    "fstat64",
    "fstatat64",
    "fstatfs",
    "fstatfs64",
    "fsync",
    "ftruncate",
    "ftruncate64",
    "futex",
    "futex_time64",
    "futex_waitv",
    "futimesat",
    "getcpu",
    "getcwd",
    "getdents",
    "getdents64",
    "getegid",
    "getegid32",
    "geteuid",
    "geteuid32",
    "getgid",
    "getgid32",
    "getgroups",
    "getgroups32",
    "getitimer",
    "getpeername",
    "getpgid",
    "getpgrp",
    "getpid",
    "getppid",
    "getpriority",
    "getrandom",
    "getresgid",
    "getresgid32",
    "getresuid",
    "getresuid32",
    "getrlimit",
    "get_robust_list",
    "getrusage",
    "getsid",
    "getsockname",
    "getsockopt",
    "get_thread_area",
    "gettid",
    "gettimeofday",
    "getuid",
    "getuid32",
    "getxattr",
    "inotify_add_watch",
    "inotify_init",
    "inotify_init1",
    "inotify_rm_watch",
    "io_cancel",
    "ioctl",
    "io_destroy",
    "io_getevents",
    "io_pgetevents",
    "io_pgetevents_time64",
    "ioprio_get",
    "ioprio_set",
    "io_setup",
    "io_submit",
    "io_uring_enter",
    "io_uring_register",
    "io_uring_setup",
    "ipc",
    "kill",
    "landlock_add_rule",
    "landlock_create_ruleset",
    "landlock_restrict_self",
    "lchown",
    "lchown32",
    "lgetxattr",
    "link",
    "linkat",
    "listen",
    "listxattr",
    "llistxattr",
    "_llseek",
    "lremovexattr",
    "lseek",
    "lsetxattr",
    "lstat",
    "lstat64",
    "madvise",
    "membarrier",
    "memfd_create",
    "memfd_secret",
    "mincore",
    "mkdir",
    "mkdirat",
    "mknod",
    "mknodat",
    "mlock",
    "mlock2",
    "mlockall",
    "mmap",
    "mmap2",
    "mprotect",
    "mq_getsetattr",
    "mq_notify",
    "mq_open",
    "mq_timedreceive",
    "mq_timedreceive_time64",
    "mq_timedsend",
    "mq_timedsend_time64",
    "mq_unlink",
    "mremap",
    "msgctl",
    "msgget",
    "msgrcv",
    "msgsnd",
    "msync",
    "munlock",
    "munlockall",
    "munmap",
    "name_to_handle_at",
    "nanosleep",
    "newfstatat",
    "_newselect",
    "open",
    "openat",
    "openat2",
    "pause",
    "pidfd_open",
    "pidfd_send_signal",
    "pipe",
    "pipe2",
    "pkey_alloc",
    "pkey_free",
    "pkey_mprotect",
    "poll",
    "ppoll",
    "ppoll_time64",
    "prctl",
    "pread64",
    "preadv",
    "preadv2",
    "prlimit64",
    "process_mrelease",
    "pselect6",
    "pselect6_time64",
    "pwrite64",
    "pwritev",
    "pwritev2",
    "read",
    "readahead",
    "readlink",
    "readlinkat",
    "readv",
    "recv",
    "recvfrom",
    "recvmmsg",
    "recvmmsg_time64",
    "recvmsg",
    "remap_file_pages",
    "removexattr",
    "rename",
    "renameat",
    "renameat2",
    "restart_syscall",
    "rmdir",
    "rseq",
    "rt_sigaction",
    "rt_sigpending",
    "rt_sigprocmask",
    "rt_sigqueueinfo",
    "rt_sigreturn",
    "rt_sigsuspend",
    "rt_sigtimedwait",
    "rt_sigtimedwait_time64",
    "rt_tgsigqueueinfo",
    "sched_getaffinity",
    "sched_getattr",
    "sched_getparam",
    "sched_get_priority_max",
    "sched_get_priority_min",
    "sched_getscheduler",
    "sched_rr_get_interval",
    "sched_rr_get_interval_time64",
    "sched_setaffinity",
    "sched_setattr",
    "sched_setparam",
    "sched_setscheduler",
    "sched_yield",
    "seccomp",
    "select",
    "semctl",
    "semget",
    "semop",
    "semtimedop",
    "semtimedop_time64",
    "send",
    "sendfile",
    "sendfile64",
    "sendmmsg",
    "sendmsg",
    "sendto",
    "setfsgid",
    "setfsgid32",
    "setfsuid",
    "setfsuid32",
    "setgid",
    "setgid32",
    "setgroups",
    "setgroups32",
    "setitimer",
    "setpgid",
    "setpriority",
    "setregid",
    "setregid32",
    "setresgid",
    "setresgid32",
    "setresuid",
    "setresuid32",
    "setreuid",
    "setreuid32",
    "setrlimit",
    "set_robust_list",
    "setsid",
    "setsockopt",
    "set_thread_area",
    "set_tid_address",
    "setuid",
    "setuid32",
    "setxattr",
    "shmat",
    "shmctl",
    "shmdt",
    "shmget",
    "shutdown",
    "sigaltstack",
    "signalfd",
    "signalfd4",
    "sigprocmask",
    "sigreturn",
    "socketcall",
    "socketpair",
    "splice",
    "stat",
    "stat64",
    "statfs",
    "statfs64",
    "statx",
    "symlink",
    "symlinkat",
    "sync",
    "sync_file_range",
    "syncfs",
    "sysinfo",
    "tee",
    "tgkill",
    "time",
    "timer_create",
    "timer_delete",
    "timer_getoverrun",
    "timer_gettime",
    "timer_gettime64",
    "timer_settime",
    "timer_settime64",
    "timerfd_create",
    "timerfd_gettime",
    "timerfd_gettime64",
    "timerfd_settime",
    "timerfd_settime64",
    "times",
    "tkill",
    "truncate",
    "truncate64",
    "ugetrlimit",
    "umask",
    "uname",
    "unlink",
    "unlinkat",
    "utime",
    "utimensat",
    "utimensat_time64",
    "utimes",
    "vfork",
    "vmsplice",
    "wait4",
    "waitid",
    "waitpid",
    "write",
    "writev",
];

/// Syscalls Docker allows only with CAP_SYS_ADMIN in the bounding set.
const SYS_ADMIN: &[&str] = &[
    "bpf",
    "clone",
    "clone3",
    "fanotify_init",
    "fsconfig",
    "fsmount",
    "fsopen",
    "fspick",
    "lookup_dcookie",
    "mount",
    "mount_setattr",
    "move_mount",
    "open_tree",
    "perf_event_open",
    "quotactl",
    "quotactl_fd",
    "setdomainname",
    "sethostname",
    "setns",
    "syslog",
    "umount",
    "umount2",
    "unshare",
];

/// The CLONE_NEW* flags: clone without CAP_SYS_ADMIN may not create namespaces.
const CLONE_NAMESPACE_FLAGS: u64 = 0x7E02_0000;

struct Entry(ProfileSyscall);

impl Entry {
    fn new(names: &[&str], action: Action) -> Self {
        Entry(ProfileSyscall {
            names: names.iter().map(|s| s.to_string()).collect(),
            name: None,
            action,
            errno_ret: None,
            args: None,
            comment: None,
            includes: None,
            excludes: None,
        })
    }
    fn allow(names: &[&str]) -> Self {
        Self::new(names, Action::ScmpActAllow)
    }
    fn arg(mut self, index: usize, value: u64, op: Op) -> Self {
        let arg = LinuxSeccompArgBuilder::default()
            .index(index)
            .value(value)
            .op(op)
            .build()
            .unwrap_or_default();
        self.0.args.get_or_insert_with(Vec::new).push(arg);
        self
    }
    fn include_caps(mut self, caps: &[&str]) -> Self {
        self.0.includes.get_or_insert_with(Filter::default).caps =
            caps.iter().map(|s| s.to_string()).collect();
        self
    }
    fn include_arches(mut self, arches: &[&str]) -> Self {
        self.0.includes.get_or_insert_with(Filter::default).arches =
            arches.iter().map(|s| s.to_string()).collect();
        self
    }
    fn include_kernel(mut self, v: &str) -> Self {
        self.0
            .includes
            .get_or_insert_with(Filter::default)
            .min_kernel = Some(v.into());
        self
    }
    fn exclude_caps(mut self, caps: &[&str]) -> Self {
        self.0.excludes.get_or_insert_with(Filter::default).caps =
            caps.iter().map(|s| s.to_string()).collect();
        self
    }
    fn exclude_arches(mut self, arches: &[&str]) -> Self {
        self.0.excludes.get_or_insert_with(Filter::default).arches =
            arches.iter().map(|s| s.to_string()).collect();
        self
    }
    fn errno(mut self, errno: u32) -> Self {
        self.0.errno_ret = Some(errno);
        self
    }
}

/// Docker's default seccomp profile (moby's profiles/seccomp/default.json), as data.
pub fn default_profile() -> Profile {
    let arch = |a: Arch, subs: &[Arch]| ArchMap {
        architecture: a,
        sub_architectures: Some(subs.to_vec()),
    };
    let mut entries = vec![
        Entry::allow(ALLOWED),
        Entry::allow(&["process_vm_readv", "process_vm_writev", "ptrace"]).include_kernel("4.8"),
        Entry::allow(&["socket"]).arg(0, 40, Op::ScmpCmpNe),
    ];
    // personality(2): only the harmless personas (Linux, Linux32, UNAME26 and query).
    for persona in [0u64, 8, 131072, 131080, 4294967295] {
        entries.push(Entry::allow(&["personality"]).arg(0, persona, Op::ScmpCmpEq));
    }
    entries.extend([
        Entry::allow(&["sync_file_range2", "swapcontext"]).include_arches(&["ppc64le"]),
        Entry::allow(&[
            "arm_fadvise64_64",
            "arm_sync_file_range",
            "sync_file_range2",
            "breakpoint",
            "cacheflush",
            "set_tls",
        ])
        .include_arches(&["arm", "arm64"]),
        Entry::allow(&["arch_prctl"]).include_arches(&["amd64", "x32"]),
        Entry::allow(&["modify_ldt"]).include_arches(&["amd64", "x32", "x86"]),
        Entry::allow(&[
            "s390_pci_mmio_read",
            "s390_pci_mmio_write",
            "s390_runtime_instr",
        ])
        .include_arches(&["s390", "s390x"]),
        Entry::allow(&["riscv_flush_icache"]).include_arches(&["riscv64"]),
        Entry::allow(&["open_by_handle_at"]).include_caps(&["CAP_DAC_READ_SEARCH"]),
        Entry::allow(SYS_ADMIN).include_caps(&["CAP_SYS_ADMIN"]),
        Entry::allow(&["clone"])
            .arg(0, CLONE_NAMESPACE_FLAGS, Op::ScmpCmpMaskedEq)
            .exclude_caps(&["CAP_SYS_ADMIN"])
            .exclude_arches(&["s390", "s390x"]),
        Entry::allow(&["clone"])
            .arg(1, CLONE_NAMESPACE_FLAGS, Op::ScmpCmpMaskedEq)
            .include_arches(&["s390", "s390x"])
            .exclude_caps(&["CAP_SYS_ADMIN"]),
        // clone3 passes its flags in memory, out of seccomp's sight: ENOSYS makes libc fall
        // back to clone, whose flags the rule above checks.
        Entry::new(&["clone3"], Action::ScmpActErrno)
            .errno(38)
            .exclude_caps(&["CAP_SYS_ADMIN"]),
        Entry::allow(&["reboot"]).include_caps(&["CAP_SYS_BOOT"]),
        Entry::allow(&["chroot"]).include_caps(&["CAP_SYS_CHROOT"]),
        Entry::allow(&["delete_module", "init_module", "finit_module"])
            .include_caps(&["CAP_SYS_MODULE"]),
        Entry::allow(&["acct"]).include_caps(&["CAP_SYS_PACCT"]),
        Entry::allow(&[
            "kcmp",
            "pidfd_getfd",
            "process_madvise",
            "process_vm_readv",
            "process_vm_writev",
            "ptrace",
        ])
        .include_caps(&["CAP_SYS_PTRACE"]),
        Entry::allow(&["iopl", "ioperm"]).include_caps(&["CAP_SYS_RAWIO"]),
        Entry::allow(&["settimeofday", "stime", "clock_settime", "clock_settime64"])
            .include_caps(&["CAP_SYS_TIME"]),
        Entry::allow(&["vhangup"]).include_caps(&["CAP_SYS_TTY_CONFIG"]),
        Entry::allow(&[
            "get_mempolicy",
            "mbind",
            "set_mempolicy",
            "set_mempolicy_home_node",
        ])
        .include_caps(&["CAP_SYS_NICE"]),
        Entry::allow(&["syslog"]).include_caps(&["CAP_SYSLOG"]),
        Entry::allow(&["bpf"]).include_caps(&["CAP_BPF"]),
        Entry::allow(&["perf_event_open"]).include_caps(&["CAP_PERFMON"]),
    ]);
    Profile {
        default_action: Action::ScmpActErrno,
        default_errno_ret: Some(1),
        architectures: None,
        arch_map: Some(vec![
            arch(
                Arch::ScmpArchX86_64,
                &[Arch::ScmpArchX86, Arch::ScmpArchX32],
            ),
            arch(Arch::ScmpArchAarch64, &[Arch::ScmpArchArm]),
            arch(
                Arch::ScmpArchMips64,
                &[Arch::ScmpArchMips, Arch::ScmpArchMips64n32],
            ),
            arch(
                Arch::ScmpArchMips64n32,
                &[Arch::ScmpArchMips, Arch::ScmpArchMips64],
            ),
            arch(
                Arch::ScmpArchMipsel64,
                &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64n32],
            ),
            arch(
                Arch::ScmpArchMipsel64n32,
                &[Arch::ScmpArchMipsel, Arch::ScmpArchMipsel64],
            ),
            arch(Arch::ScmpArchS390x, &[Arch::ScmpArchS390]),
            ArchMap {
                architecture: Arch::ScmpArchRiscv64,
                sub_architectures: None,
            },
        ]),
        syscalls: entries.into_iter().map(|e| e.0).collect(),
    }
}

/// Convenience: the `linux.seccomp` Docker would give a container with bounding set `caps` on
/// this machine.
pub fn default_for(caps: &[String]) -> LinuxSeccomp {
    to_oci(&default_profile(), caps, native_arch(), kernel_version())
}
