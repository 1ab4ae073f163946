//! The project name: `-p` > `COMPOSE_PROJECT_NAME` > `name:` > the directory's name.

use crate::error::{Error, Result};

/// The rule a project name must follow, as Docker Compose states it.
pub const NAME_RULE: &str = "must consist only of lowercase alphanumeric characters, hyphens, and underscores as well as start with a letter or number";

/// Checks a name the user gave explicitly (`-p`, `COMPOSE_PROJECT_NAME`, `name:`).
pub fn validate(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(Error::invalid("project name must not be empty"));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Error::invalid(format!(
            "invalid project name {name:?}: {NAME_RULE}"
        )))
    }
}

/// Derives a name from a directory name: lower case, only `[a-z0-9_-]`, no leading `-`/`_`.
pub fn normalize(raw: &str) -> String {
    let lowered: String = raw
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '-' || *c == '_')
        .collect();
    lowered.trim_start_matches(['-', '_']).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_names_follow_the_rule() {
        assert!(validate("my_project-1").is_ok());
        for bad in ["MY_PROJECT", "-x", "_x", "www.my.project"] {
            let e = validate(bad).unwrap_err();
            assert!(
                e.message.contains(&format!("invalid project name {bad:?}")),
                "{e}"
            );
            assert!(e.message.contains("lowercase alphanumeric"));
        }
        assert_eq!(
            validate("").unwrap_err().message,
            "project name must not be empty"
        );
    }

    #[test]
    fn directory_names_are_normalized() {
        assert_eq!(
            normalize("Pihole-Cloudflared-DoH"),
            "pihole-cloudflared-doh"
        );
        assert_eq!(normalize("_My App.v2"), "myappv2");
        assert_eq!(normalize(""), "");
    }
}
