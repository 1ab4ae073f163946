//! Seccomp: Docker's profiles (the default one, `unconfined`, or a profile file) become the
//! spec's `linux.seccomp`, which the runtime compiles to BPF with `seccompiler` and installs.

use super::syscall::{Syscall, SyscallError};

/// A compiled BPF program, in a form that crosses the helper protocol.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CompiledFilter {
    /// `(code, jt, jf, k)` per instruction.
    pub instructions: Vec<(u16, u8, u8, u32)>,
}

impl CompiledFilter {
    /// The program as `seccompiler` instructions.
    pub fn to_program(&self) -> Vec<seccompiler::sock_filter> {
        self.instructions
            .iter()
            .map(|&(code, jt, jf, k)| seccompiler::sock_filter { code, jt, jf, k })
            .collect()
    }
}

/// Installs `filters` in order (the kernel evaluates all of them on every call).
pub fn install(sys: &dyn Syscall, filters: &[CompiledFilter]) -> Result<(), SyscallError> {
    for f in filters {
        sys.load_seccomp(&f.to_program())?;
    }
    Ok(())
}

pub mod compile;
pub mod default_profile;
pub mod docker;
mod syscalls_x86_64;

pub use compile::{SeccompError, compile};
pub use docker::{Profile, ProfileError};
