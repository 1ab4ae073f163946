//! Device access rules (`linux.resources.devices`): `devices.allow`/`devices.deny` lines on v1,
//! an eBPF program of type `BPF_PROG_TYPE_CGROUP_DEVICE` attached to the cgroup on v2.

use super::CgroupError;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

/// One line for a v1 devices file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V1Rule {
    /// `devices.allow` or `devices.deny`.
    pub file: &'static str,
    /// `c 1:3 rwm`.
    pub value: String,
}

fn type_char(t: Option<LinuxDeviceType>) -> char {
    match t {
        Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => 'c',
        Some(LinuxDeviceType::B) => 'b',
        Some(LinuxDeviceType::P) => 'p',
        Some(LinuxDeviceType::A) | None => 'a',
    }
}

fn num(n: Option<i64>) -> String {
    match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".into(),
    }
}

fn access_of(r: &LinuxDeviceCgroup) -> String {
    r.access()
        .clone()
        .filter(|a| !a.is_empty())
        .unwrap_or_else(|| "rwm".into())
}

/// The v1 lines for `rules`, in order.
pub fn v1_rules(rules: &[LinuxDeviceCgroup]) -> Vec<V1Rule> {
    rules
        .iter()
        .map(|r| V1Rule {
            file: if r.allow() {
                "devices.allow"
            } else {
                "devices.deny"
            },
            value: format!(
                "{} {}:{} {}",
                type_char(r.typ()),
                num(r.major()),
                num(r.minor()),
                access_of(r)
            ),
        })
        .collect()
}

/// One eBPF instruction (`struct bpf_insn`).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BpfInsn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JNE_X: u8 = 0x5d; // BPF_JMP | BPF_JNE | BPF_X
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> BpfInsn {
    BpfInsn {
        code,
        regs: (src << 4) | (dst & 0x0f),
        off,
        imm,
    }
}

/// The program for `rules`: rules are checked from the last to the first, the first match
/// decides (later rules override earlier ones, as v1's list does), and no match denies.
///
/// Registers: r2 the device type, r3 the requested access, r4 major, r5 minor (from
/// `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }`).
pub fn program(rules: &[LinuxDeviceCgroup]) -> Vec<BpfInsn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block = Vec::new();
        // Each check jumps over the rest of the block to the next rule; offsets are patched
        // once the block length is known.
        let t = match type_char(r.typ()) {
            'c' => Some(2),
            'b' => Some(1),
            'p' => continue, // FIFOs are not devices the cgroup controls.
            _ => None,
        };
        if let Some(t) = t {
            block.push(insn(JNE_K, 2, 0, 0, t));
        }
        let access = access_of(r);
        let mask: i32 = access
            .chars()
            .map(|c| match c {
                'm' => 1,
                'r' => 2,
                'w' => 4,
                _ => 0,
            })
            .fold(0, |a, b| a | b);
        if mask != 7 {
            // Matches when the requested access is within the rule's: (r3 & mask) == r3.
            block.push(insn(MOV_X, 1, 3, 0, 0));
            block.push(insn(AND_K, 1, 0, 0, mask));
            block.push(insn(JNE_X, 1, 3, 0, 0));
        }
        if let Some(m) = r.major().filter(|m| *m >= 0) {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor().filter(|m| *m >= 0) {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV_K, 0, 0, 0, i32::from(r.allow())));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        let unconditional = len == 2;
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JNE_X {
                ins.off = (len - i - 1) as i16;
            }
        }
        p.extend(block);
        if unconditional {
            // A rule matching everything decides every request: the verifier refuses code
            // after it as unreachable.
            return p;
        }
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

#[repr(C)]
#[derive(Default)]
struct ProgLoadAttr {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
    _pad: [u64; 8],
}

#[repr(C)]
#[derive(Default)]
struct ProgAttachAttr {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
    replace_bpf_fd: u32,
    _pad: [u32; 27],
}

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

/// Loads the program for `rules` and attaches it to the v2 cgroup at `dir`. An empty rule list
/// attaches nothing (every device allowed, as with no v1 rules).
pub fn attach_v2(dir: &Path, rules: &[LinuxDeviceCgroup]) -> Result<(), CgroupError> {
    if rules.is_empty() {
        return Ok(());
    }
    let insns = program(rules);
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 4096];
    let mut name = [0u8; 16];
    name[..12].copy_from_slice(b"berth_device");
    let attr = ProgLoadAttr {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: insns.len() as u32,
        insns: insns.as_ptr() as u64,
        license: license.as_ptr() as u64,
        log_level: 1,
        log_size: log.len() as u32,
        log_buf: log.as_mut_ptr() as u64,
        prog_name: name,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    // SAFETY: `attr` points at live buffers (instructions, license, log) for the whole call,
    // and its size is passed.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_LOAD,
            &attr as *const ProgLoadAttr,
            std::mem::size_of::<ProgLoadAttr>(),
        )
    };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let text = String::from_utf8_lossy(&log[..log.iter().position(|b| *b == 0).unwrap_or(0)])
            .into_owned();
        return Err(CgroupError::Unsupported(format!(
            "loading the device-access eBPF program failed: {err} {text}"
        )));
    }
    // SAFETY: the kernel returned a new file descriptor that nothing else owns.
    let prog = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    let cgroup = std::fs::File::open(dir).map_err(|source| CgroupError::Io {
        what: "open",
        path: dir.into(),
        source,
    })?;
    let attr = ProgAttachAttr {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
        ..Default::default()
    };
    // SAFETY: `attr` is a valid attach request whose fds are open for the call.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_PROG_ATTACH,
            &attr as *const ProgAttachAttr,
            std::mem::size_of::<ProgAttachAttr>(),
        )
    };
    if rc < 0 {
        return Err(CgroupError::Unsupported(format!(
            "attaching the device-access eBPF program to {} failed: {}",
            dir.display(),
            std::io::Error::last_os_error()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        t: Option<LinuxDeviceType>,
        major: Option<i64>,
        minor: Option<i64>,
        access: &str,
    ) -> LinuxDeviceCgroup {
        crate::container::defaults::device_rule(allow, t, major, minor, access)
    }

    #[test]
    fn v1_lines() {
        let rules = [
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rw"),
        ];
        let lines = v1_rules(&rules);
        assert_eq!(
            lines[0],
            V1Rule {
                file: "devices.deny",
                value: "a *:* rwm".into()
            }
        );
        assert_eq!(
            lines[1],
            V1Rule {
                file: "devices.allow",
                value: "c 1:3 rw".into()
            }
        );
    }

    /// Runs the program on a request, as the kernel would (a tiny interpreter of the
    /// instructions the generator uses).
    fn run(p: &[BpfInsn], typ: u32, access: u32, major: u32, minor: u32) -> u64 {
        let ctx = [(access << 16) | typ, major, minor];
        let mut r = [0u64; 11];
        let mut pc = 0usize;
        loop {
            let i = p[pc];
            let (dst, src) = ((i.regs & 0x0f) as usize, (i.regs >> 4) as usize);
            pc += 1;
            match i.code {
                LDX_W => r[dst] = u64::from(ctx[(i.off / 4) as usize]),
                AND_K => r[dst] &= i.imm as u32 as u64,
                RSH_K => r[dst] >>= i.imm,
                MOV_K => r[dst] = i.imm as u64,
                MOV_X => r[dst] = r[src],
                JNE_K if r[dst] != i.imm as u32 as u64 => pc += i.off as usize,
                JNE_X if r[dst] != r[src] => pc += i.off as usize,
                JNE_K | JNE_X => {}
                EXIT => return r[0],
                other => panic!("unknown opcode {other:#x}"),
            }
        }
    }

    #[test]
    fn later_rules_override_and_no_match_denies() {
        let rules = [
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(3), "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(136), None, "rw"),
            rule(true, Some(LinuxDeviceType::C), Some(5), Some(2), "rwm"),
            rule(false, Some(LinuxDeviceType::C), Some(5), Some(2), "rwm"),
        ];
        let p = program(&rules);
        assert_eq!(run(&p, 2, 2, 1, 3), 1, "read /dev/null");
        assert_eq!(run(&p, 2, 4 | 2, 136, 7), 1, "rw a pty");
        assert_eq!(run(&p, 2, 1, 136, 7), 0, "mknod a pty is not in rw");
        assert_eq!(run(&p, 1, 2, 1, 3), 0, "block 1:3 is not char 1:3");
        assert_eq!(run(&p, 2, 2, 5, 2), 0, "the last rule denies ptmx");
        assert_eq!(run(&p, 2, 2, 8, 0), 0, "unlisted");
    }

    #[test]
    fn the_kernel_accepts_and_enforces_the_program() {
        // Needs root and a cgroup2 mount (the unified hierarchy; present on hybrid hosts too).
        let Some(base) = ["/sys/fs/cgroup/unified", "/sys/fs/cgroup"]
            .iter()
            .map(Path::new)
            .find(|p| {
                std::fs::read_to_string("/proc/self/mountinfo").is_ok_and(|m| {
                    m.contains(&format!(" {} ", p.display()))
                        && m.lines().any(|l| {
                            l.contains(&format!(" {} ", p.display())) && l.contains(" - cgroup2 ")
                        })
                })
            })
        else {
            if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                panic!("no cgroup2 mount to test the device program on");
            }
            eprintln!("skipping: no cgroup2 mount");
            return;
        };
        if !nix::unistd::Uid::effective().is_root() {
            if std::env::var("BERTH_REQUIRE_PRIVILEGED").as_deref() == Ok("1") {
                panic!("the device program test needs root");
            }
            eprintln!("skipping: not root");
            return;
        }
        let dir = base.join(format!("berth-devtest-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        struct Cleanup(std::path::PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir(&self.0);
            }
        }
        let _cleanup = Cleanup(dir.clone());
        let rules = [
            rule(false, None, None, None, "rwm"),
            rule(true, Some(LinuxDeviceType::C), Some(1), Some(5), "rw"),
        ];
        attach_v2(&dir, &rules).unwrap();
        // A child joins the cgroup, then tries /dev/zero (allowed) and /dev/full (denied).
        let script = format!(
            "echo $$ > {}/cgroup.procs || exit 9; \
             [ \"$(head -c1 /dev/zero | wc -c)\" -eq 1 ] && echo zero-ok; \
             [ \"$(head -c1 /dev/full | wc -c)\" -eq 0 ] && echo full-denied",
            dir.display()
        );
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&script)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("zero-ok") && text.contains("full-denied"),
            "{text} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
