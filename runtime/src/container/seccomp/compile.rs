//! Compiling the spec's `linux.seccomp` to BPF with `seccompiler`.
//!
//! A seccompiler filter has a single action for matching syscalls and one for the others, while
//! a profile mixes actions (allow most, `ENOSYS` for clone3 ...). The kernel runs every installed
//! filter and keeps the most restrictive answer (for equal ones, the last installed filter's
//! data). So a profile becomes:
//! 1. one filter whose matches are allowed and the rest gets the default action, listing
//!    every entry of the profile (whatever its action);
//! 2. one filter per other action, whose matches get that action and the rest is allowed,
//!    installed after the first one.
//!
//! An entry with action A then yields A (filter 1 allows it, its own filter says A), and a call
//! no entry matches yields the default action: the profile's semantics.

use super::CompiledFilter;
use super::syscalls_x86_64::SYSCALLS;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompOperator as Op, LinuxSyscall,
};
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};
use std::collections::BTreeMap;

/// A seccomp configuration that cannot be compiled.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// An action seccompiler cannot express.
    #[error("seccomp action {0} is not supported by berth")]
    UnsupportedAction(String),
    /// Something else berth does not do.
    #[error("seccomp: {0}")]
    Unsupported(String),
    /// seccompiler refused the filter.
    #[error("seccomp filter: {0}")]
    Compile(String),
}

/// The number of a syscall on this architecture; `None` for names that do not exist here
/// (profiles list syscalls of every architecture; unknown ones are skipped, as libseccomp does).
pub fn syscall_number(name: &str) -> Option<i64> {
    SYSCALLS.iter().find(|(n, _)| *n == name).map(|(_, nr)| *nr)
}

fn action(
    a: Action,
    errno: Option<u32>,
    default_errno: u32,
) -> Result<SeccompAction, SeccompError> {
    Ok(match a {
        Action::ScmpActAllow => SeccompAction::Allow,
        Action::ScmpActErrno => SeccompAction::Errno(errno.unwrap_or(default_errno)),
        Action::ScmpActKill | Action::ScmpActKillThread => SeccompAction::KillThread,
        Action::ScmpActKillProcess => SeccompAction::KillProcess,
        Action::ScmpActTrap => SeccompAction::Trap,
        Action::ScmpActTrace => SeccompAction::Trace(errno.unwrap_or(default_errno)),
        Action::ScmpActLog => SeccompAction::Log,
        Action::ScmpActNotify => {
            return Err(SeccompError::UnsupportedAction("SCMP_ACT_NOTIFY".into()));
        }
    })
}

/// The rules of one entry: one rule (all its argument conditions), or none for "any call".
fn rules_of(entry: &LinuxSyscall) -> Result<Vec<SeccompRule>, SeccompError> {
    let Some(args) = entry.args().as_ref().filter(|a| !a.is_empty()) else {
        return Ok(vec![]);
    };
    let mut conditions = Vec::new();
    for a in args {
        let op = match a.op() {
            Op::ScmpCmpEq => SeccompCmpOp::Eq,
            Op::ScmpCmpNe => SeccompCmpOp::Ne,
            Op::ScmpCmpLt => SeccompCmpOp::Lt,
            Op::ScmpCmpLe => SeccompCmpOp::Le,
            Op::ScmpCmpGe => SeccompCmpOp::Ge,
            Op::ScmpCmpGt => SeccompCmpOp::Gt,
            // libseccomp's masked compare: (arg & value) == valueTwo.
            Op::ScmpCmpMaskedEq => SeccompCmpOp::MaskedEq(a.value()),
        };
        let value = if a.op() == Op::ScmpCmpMaskedEq {
            a.value_two().unwrap_or(0)
        } else {
            a.value()
        };
        let index = u8::try_from(a.index())
            .map_err(|_| SeccompError::Unsupported(format!("argument index {}", a.index())))?;
        conditions.push(
            SeccompCondition::new(index, SeccompCmpArgLen::Qword, op, value)
                .map_err(|e| SeccompError::Compile(e.to_string()))?,
        );
    }
    Ok(vec![
        SeccompRule::new(conditions).map_err(|e| SeccompError::Compile(e.to_string()))?,
    ])
}

/// Syscall numbers to their rules (`None`: matches whatever the arguments).
type RuleMap = BTreeMap<i64, Option<Vec<SeccompRule>>>;

/// Adds `entry`'s syscalls to `map`. A syscall that any entry matches without conditions
/// matches always.
fn add_entry(map: &mut RuleMap, entry: &LinuxSyscall) -> Result<(), SeccompError> {
    let rules = rules_of(entry)?;
    for name in entry.names() {
        let Some(nr) = syscall_number(name) else {
            continue;
        };
        let slot = map.entry(nr).or_insert_with(|| Some(Vec::new()));
        match (slot.as_mut(), rules.is_empty()) {
            (_, true) => *slot = None,
            (Some(list), false) => list.extend(rules.iter().cloned()),
            (None, false) => {}
        }
    }
    Ok(())
}

fn build(
    map: RuleMap,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<CompiledFilter, SeccompError> {
    let rules = map
        .into_iter()
        .map(|(nr, r)| (nr, r.unwrap_or_default()))
        .collect();
    let arch = TargetArch::try_from(std::env::consts::ARCH)
        .map_err(|e| SeccompError::Unsupported(e.to_string()))?;
    let filter = SeccompFilter::new(rules, mismatch.clone(), matched, arch)
        .map_err(|e| SeccompError::Compile(e.to_string()))?;
    let mut program: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError::Compile(e.to_string()))?;
    // seccompiler kills a process calling through another ABI (32-bit x86 on x86_64). Such
    // calls get the filter's default instead: the profile's default action (EPERM for
    // Docker's), or "allow" in the extra filters, where filter 1 decides.
    if let Some(ret) = program.get_mut(2)
        && ret.code == 0x06
        && ret.k == libc::SECCOMP_RET_KILL_PROCESS
    {
        ret.k = u32::from(mismatch);
    }
    Ok(CompiledFilter {
        instructions: program.iter().map(|i| (i.code, i.jt, i.jf, i.k)).collect(),
    })
}

/// Compiles `seccomp` into the filters to install, in order. Only x86_64 has a syscall table.
pub fn compile(seccomp: &LinuxSeccomp) -> Result<Vec<CompiledFilter>, SeccompError> {
    if std::env::consts::ARCH != "x86_64" {
        return Err(SeccompError::Unsupported(format!(
            "no syscall table for {}",
            std::env::consts::ARCH
        )));
    }
    if seccomp.listener_path().is_some() {
        return Err(SeccompError::Unsupported(
            "seccomp notify listeners are not supported".into(),
        ));
    }
    if let Some(arches) = seccomp.architectures().as_ref().filter(|a| !a.is_empty())
        && !arches.contains(&Arch::ScmpArchX86_64)
        && !arches.contains(&Arch::ScmpArchNative)
    {
        return Err(SeccompError::Unsupported(format!(
            "the profile does not cover this architecture (x86_64): {arches:?}"
        )));
    }
    let default_errno = seccomp.default_errno_ret().unwrap_or(libc::EPERM as u32);
    let default = action(
        seccomp.default_action(),
        seccomp.default_errno_ret(),
        default_errno,
    )?;
    let entries = seccomp.syscalls().clone().unwrap_or_default();

    let mut filters = Vec::new();
    if default != SeccompAction::Allow {
        let mut all = BTreeMap::new();
        for e in &entries {
            add_entry(&mut all, e)?;
        }
        filters.push(build(all, default.clone(), SeccompAction::Allow)?);
    }
    // One filter per non-allow action, in order of first appearance.
    let mut groups: Vec<(SeccompAction, RuleMap)> = Vec::new();
    for e in &entries {
        let a = action(e.action(), e.errno_ret(), default_errno)?;
        if a == SeccompAction::Allow {
            continue;
        }
        let pos = match groups.iter().position(|(g, _)| *g == a) {
            Some(p) => p,
            None => {
                groups.push((a.clone(), BTreeMap::new()));
                groups.len() - 1
            }
        };
        add_entry(&mut groups[pos].1, e)?;
    }
    for (a, map) in groups {
        if !map.is_empty() {
            filters.push(build(map, SeccompAction::Allow, a)?);
        }
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::seccomp::docker;
    use oci_spec::runtime::{LinuxSeccompArgBuilder, LinuxSeccompBuilder, LinuxSyscallBuilder};

    /// Runs a classic BPF program on a seccomp_data, as the kernel does (the instructions
    /// seccompiler emits: loads, jumps, ALU and, returns).
    fn run(f: &CompiledFilter, arch: u32, nr: u32, args: [u64; 6]) -> u32 {
        let mut data = Vec::new();
        data.extend_from_slice(&nr.to_le_bytes());
        data.extend_from_slice(&arch.to_le_bytes());
        data.extend_from_slice(&0u64.to_le_bytes());
        for a in args {
            data.extend_from_slice(&a.to_le_bytes());
        }
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let (code, jt, jf, k) = f.instructions[pc];
            pc += 1;
            match code {
                0x20 => {
                    acc = u32::from_le_bytes(data[k as usize..k as usize + 4].try_into().unwrap())
                }
                0x54 => acc &= k,
                0x05 => pc += k as usize,
                0x15 => pc += if acc == k { jt } else { jf } as usize,
                0x25 => pc += if acc > k { jt } else { jf } as usize,
                0x35 => pc += if acc >= k { jt } else { jf } as usize,
                0x45 => pc += if acc & k != 0 { jt } else { jf } as usize,
                0x06 => return k,
                other => panic!("opcode {other:#x}"),
            }
        }
    }

    /// The kernel's combination: the most restrictive action, the last filter's on ties.
    fn verdict(filters: &[CompiledFilter], name: &str, args: [u64; 6]) -> u32 {
        let nr = syscall_number(name).unwrap() as u32;
        let rank = |r: u32| match r & 0xffff_0000 {
            0x8000_0000 => 0,
            0x0000_0000 => 1,
            0x0003_0000 => 2,
            0x0005_0000 => 3,
            0x7fc0_0000 => 4,
            0x7ff0_0000 => 5,
            0x7ffc_0000 => 6,
            _ => 7,
        };
        let mut best: Option<u32> = None;
        for f in filters {
            let r = run(f, 0xc000_003e, nr, args);
            best = match best {
                Some(b) if rank(b) < rank(r) => Some(b),
                _ => Some(r),
            };
        }
        best.unwrap()
    }

    const ALLOW: u32 = 0x7fff_0000;
    const EPERM: u32 = 0x0005_0001;

    #[test]
    fn dockers_default_profile_behaves_as_docker() {
        let s = docker::to_oci(
            &docker::default_profile(),
            &["CAP_CHOWN".to_string()],
            "amd64",
            (6, 1),
        );
        let f = compile(&s).unwrap();
        assert_eq!(f.len(), 2);
        assert_eq!(verdict(&f, "read", [0; 6]), ALLOW);
        assert_eq!(verdict(&f, "mount", [0; 6]), EPERM);
        assert_eq!(verdict(&f, "reboot", [0; 6]), EPERM);
        assert_eq!(verdict(&f, "kexec_load", [0; 6]), EPERM);
        assert_eq!(verdict(&f, "clone3", [0; 6]), 0x0005_0000 | 38);
        assert_eq!(
            verdict(&f, "clone", [0x11, 0, 0, 0, 0, 0]),
            ALLOW,
            "fork-like clone"
        );
        assert_eq!(
            verdict(&f, "clone", [0x2000_0000, 0, 0, 0, 0, 0]),
            EPERM,
            "CLONE_NEWUTS"
        );
        assert_eq!(verdict(&f, "socket", [2, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(
            verdict(&f, "socket", [40, 0, 0, 0, 0, 0]),
            EPERM,
            "AF_VSOCK"
        );
        assert_eq!(verdict(&f, "personality", [8, 0, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&f, "personality", [1, 0, 0, 0, 0, 0]), EPERM);
        // Another ABI gets the default action, not a kill.
        assert_eq!(run(&f[0], 0x4000_0003, 1, [0; 6]), EPERM);
    }

    #[test]
    fn an_allow_by_default_profile_is_only_its_denials() {
        let entry = LinuxSyscallBuilder::default()
            .names(vec!["chmod".to_string(), "no_such_syscall".to_string()])
            .action(Action::ScmpActErrno)
            .errno_ret(13u32)
            .build()
            .unwrap();
        let s = LinuxSeccompBuilder::default()
            .default_action(Action::ScmpActAllow)
            .syscalls(vec![entry])
            .build()
            .unwrap();
        let f = compile(&s).unwrap();
        assert_eq!(f.len(), 1);
        assert_eq!(verdict(&f, "chmod", [0; 6]), 0x0005_0000 | 13);
        assert_eq!(verdict(&f, "chown", [0; 6]), ALLOW);
    }

    #[test]
    fn masked_compare_uses_value_two() {
        let arg = LinuxSeccompArgBuilder::default()
            .index(1usize)
            .value(0xf0u64)
            .value_two(0x10u64)
            .op(Op::ScmpCmpMaskedEq)
            .build()
            .unwrap();
        let entry = LinuxSyscallBuilder::default()
            .names(vec!["fcntl".to_string()])
            .action(Action::ScmpActAllow)
            .args(vec![arg])
            .build()
            .unwrap();
        let s = LinuxSeccompBuilder::default()
            .default_action(Action::ScmpActErrno)
            .syscalls(vec![entry])
            .build()
            .unwrap();
        let f = compile(&s).unwrap();
        assert_eq!(verdict(&f, "fcntl", [0, 0x1f, 0, 0, 0, 0]), ALLOW);
        assert_eq!(verdict(&f, "fcntl", [0, 0x2f, 0, 0, 0, 0]), EPERM);
    }

    #[test]
    fn notify_is_refused() {
        let entry = LinuxSyscallBuilder::default()
            .names(vec!["read".to_string()])
            .action(Action::ScmpActNotify)
            .build()
            .unwrap();
        let s = LinuxSeccompBuilder::default()
            .default_action(Action::ScmpActAllow)
            .syscalls(vec![entry])
            .build()
            .unwrap();
        assert!(
            compile(&s)
                .unwrap_err()
                .to_string()
                .contains("SCMP_ACT_NOTIFY")
        );
    }
}
