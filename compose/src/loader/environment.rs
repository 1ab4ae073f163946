//! The variables a project is interpolated with: `.env` or `--env-file`, under the shell.

use crate::dotenv;
use crate::error::{Error, ErrorKind, Result};
use indexmap::IndexMap;
use std::path::Path;

/// Variables by name, in the order they were defined.
pub type Environment = IndexMap<String, String>;

/// Reads env files in order; each sees the shell and what earlier files defined. A missing
/// file is skipped when `required` is false.
pub fn read_env_files(files: &[&Path], shell: &Environment, required: bool) -> Result<Environment> {
    let mut out = Environment::new();
    for file in files {
        let text = match std::fs::read_to_string(file) {
            Ok(t) => t,
            Err(e) if !required && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => {
                return Err(Error::new(
                    ErrorKind::Io,
                    format!("couldn't read env file {}: {e}", file.display()),
                ));
            }
        };
        let parsed = {
            let lookup = |k: &str| shell.get(k).or_else(|| out.get(k)).cloned();
            dotenv::parse(&text, &lookup).map_err(|e| {
                Error::new(
                    ErrorKind::Invalid,
                    format!("failed to read {}: {e}", file.display()),
                )
            })?
        };
        out.extend(parsed);
    }
    Ok(out)
}

/// The interpolation environment: env-file values, overridden by the shell's, as Docker
/// Compose does.
pub fn layered(files: Environment, shell: &Environment) -> Environment {
    let mut env = files;
    for (k, v) in shell {
        env.insert(k.clone(), v.clone());
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_wins_over_env_files_and_files_chain() {
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a.env");
        let b = dir.path().join("b.env");
        std::fs::write(&a, "A=1\nB=from-a\n").unwrap();
        std::fs::write(&b, "B=${A}-b\nC=3\n").unwrap();
        let mut shell = Environment::new();
        shell.insert("C".into(), "shell".into());
        let files = read_env_files(&[&a, &b], &shell, true).unwrap();
        assert_eq!(files["B"], "1-b");
        let env = layered(files, &shell);
        assert_eq!(env["C"], "shell");
        assert_eq!(env["A"], "1");
    }

    #[test]
    fn missing_optional_file_is_skipped_required_is_an_error() {
        let shell = Environment::new();
        let missing = Path::new("/nonexistent/berth/.env");
        assert!(
            read_env_files(&[missing], &shell, false)
                .unwrap()
                .is_empty()
        );
        assert!(read_env_files(&[missing], &shell, true).is_err());
    }
}
