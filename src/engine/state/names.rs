//! Container names: `names/<name>` holds the id of the container that owns the name. A name
//! is reserved by hard-linking a complete temporary file to `names/<name>`; `link(2)` fails
//! when the name exists, so of two berth processes (or threads) asking for one name exactly
//! one gets it, and nobody ever reads a half-written reservation.

use super::atomic;
use super::error::{Result, StateError};
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::Path;

/// Checks that `name` is usable as a file name in the state root and follows Docker's rule for
/// container and project names: `[a-zA-Z0-9][a-zA-Z0-9_.-]*`, at most 255 bytes.
pub fn validate(what: &'static str, name: &str) -> Result<()> {
    let bad = |reason| {
        Err(StateError::InvalidName {
            what,
            name: name.to_string(),
            reason,
        })
    };
    let Some(first) = name.chars().next() else {
        return bad("it is empty");
    };
    if name.len() > 255 {
        return bad("it is longer than 255 bytes");
    }
    if !first.is_ascii_alphanumeric() {
        return bad("it must start with a letter or a digit");
    }
    if !name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
    {
        return bad("only letters, digits, '_', '.' and '-' are allowed");
    }
    Ok(())
}

/// The id holding `name`, if any. An empty string means a reservation without an owner
/// (which `link(2)` never produces; only a damaged root has one).
pub fn holder(dir: &Path, name: &str) -> Result<Option<String>> {
    let path = dir.join(name);
    match fs::read_to_string(&path) {
        Ok(id) => Ok(Some(id.trim().to_string())),
        Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
        Err(e) => Err(StateError::io("read", path)(e)),
    }
}

/// Reserves `name` for `id`, durably. Fails with [`StateError::NameInUse`] when another id
/// holds it; succeeds when `id` already holds it. Returns whether this call made the
/// reservation (only then may the caller undo it on failure).
pub fn reserve(dir: &Path, name: &str, id: &str) -> Result<bool> {
    validate("container name", name)?;
    let target = dir.join(name);
    // A holder may release the name between our failed link and our read of its holder;
    // then the name is free and we try again, a few times at most.
    for _ in 0..4 {
        if link_new(dir, &target, name, id)? {
            return atomic::sync_dir(dir).map(|()| true);
        }
        match holder(dir, name)? {
            Some(h) if h == id => return Ok(false),
            Some(h) => {
                return Err(StateError::NameInUse {
                    name: name.to_string(),
                    holder: h,
                });
            }
            None => continue,
        }
    }
    Err(StateError::NameInUse {
        name: name.to_string(),
        holder: String::new(),
    })
}

/// Writes `id` to a temporary file (fsynced: the link must never name an empty file) and
/// links it to `target`; returns false when `target` exists.
fn link_new(dir: &Path, target: &Path, name: &str, id: &str) -> Result<bool> {
    let tmp = dir.join(atomic::temp_name(name));
    let linked = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(StateError::io("create", &tmp))?;
        file.write_all(id.as_bytes())
            .and_then(|()| file.sync_all())
            .map_err(StateError::io("write", &tmp))?;
        match fs::hard_link(&tmp, target) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(StateError::io("link", target)(e)),
        }
    })();
    let _ = fs::remove_file(&tmp);
    linked
}

/// Releases `name` if `id` holds it (a name another container took meanwhile stays).
pub fn release(dir: &Path, name: &str, id: &str) -> Result<()> {
    if holder(dir, name)?.as_deref() == Some(id) && atomic::remove_file(&dir.join(name))? {
        atomic::sync_dir(dir)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_dockers_rule() {
        for ok in ["shop-web-1", "a", "x_y.z", "0db"] {
            validate("container name", ok).unwrap();
        }
        for bad in ["", "-a", ".a", "a/b", "..", "a b", "é"] {
            assert!(validate("container name", bad).is_err(), "{bad}");
        }
        assert!(validate("container name", &"a".repeat(256)).is_err());
    }

    #[test]
    fn reserve_is_exclusive_idempotent_and_released_by_its_holder_only() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        assert!(reserve(d, "p-web-1", "aaa").unwrap());
        assert!(!reserve(d, "p-web-1", "aaa").unwrap());
        match reserve(d, "p-web-1", "bbb") {
            Err(StateError::NameInUse { holder, .. }) => assert_eq!(holder, "aaa"),
            other => panic!("{other:?}"),
        }
        release(d, "p-web-1", "bbb").unwrap();
        assert_eq!(holder(d, "p-web-1").unwrap().as_deref(), Some("aaa"));
        release(d, "p-web-1", "aaa").unwrap();
        assert_eq!(holder(d, "p-web-1").unwrap(), None);
        assert!(reserve(d, "p-web-1", "bbb").unwrap());
        // Only the reservation remains: no temporary files.
        assert_eq!(fs::read_dir(d).unwrap().count(), 1);
    }
}
