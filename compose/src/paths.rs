//! Making the relative paths of a canonical project tree absolute, as compose-go's
//! `paths.ResolveRelativePaths` does: build contexts (unless remote), additional contexts,
//! `env_file` and `label_file` entries, `extends.file`, bind-mount sources (with `~`),
//! `develop.watch` paths, `secrets`/`configs` files, `include` entries and the device of a
//! local volume bound to a host directory.
//!
//! Paths are joined and cleaned like Go's `filepath.Join` on Unix. Windows-style absolute
//! paths (`C:\x`, `\\host\share`) are left alone where compose-go leaves them alone (bind
//! sources, secret and config files), so a file written for Docker Desktop keeps its meaning.

use crate::error::{Error, Result};
use crate::value::{Map, Value};
use std::path::Path as FsPath;

/// Resolves the relative paths of a canonical tree (see [`crate::canonical::canonicalize`])
/// against `working_dir`; `~` expands to `home` (left as is when `home` is `None`, as
/// compose-go does without `HOME`).
pub fn resolve_paths(tree: &mut Value, working_dir: &FsPath, home: Option<&FsPath>) -> Result<()> {
    let wd = absolute_dir(working_dir)?;
    let resolver = Resolver {
        working_dir: wd,
        home: home.map(|h| h.to_string_lossy().into_owned()),
    };
    let Some(root) = tree.as_map_mut() else {
        return Ok(());
    };
    if let Some(Value::Map(services)) = root.get_mut("services") {
        for (name, service) in services.iter_mut() {
            if let Value::Map(service) = service {
                resolver.service(name, service)?;
            }
        }
    }
    for kind in ["secrets", "configs"] {
        if let Some(Value::Map(objects)) = root.get_mut(kind) {
            for object in objects.values_mut() {
                if let Some(Value::String(file)) =
                    object.as_map_mut().and_then(|o| o.get_mut("file"))
                {
                    *file = resolver.maybe_unix_path(file);
                }
            }
        }
    }
    if let Some(Value::Map(volumes)) = root.get_mut("volumes") {
        for volume in volumes.values_mut() {
            if let Value::Map(volume) = volume {
                resolver.volume_device(volume);
            }
        }
    }
    if let Some(Value::Seq(includes)) = root.get_mut("include") {
        for include in includes.iter_mut() {
            if let Value::Map(include) = include {
                for key in ["path", "project_directory", "env_file"] {
                    if let Some(v) = include.get_mut(key) {
                        resolver.abs_path_value(v);
                    }
                }
            }
        }
    }
    Ok(())
}

/// The working directory as an absolute, cleaned path.
fn absolute_dir(dir: &FsPath) -> Result<String> {
    let text = dir.to_string_lossy().into_owned();
    if text.starts_with('/') {
        return Ok(clean(&text));
    }
    let cwd = std::env::current_dir().map_err(|e| {
        Error::new(
            crate::error::ErrorKind::Io,
            format!("cannot make {text:?} absolute: {e}"),
        )
    })?;
    Ok(join(&cwd.to_string_lossy(), &text))
}

struct Resolver {
    working_dir: String,
    home: Option<String>,
}

impl Resolver {
    fn service(&self, name: &str, s: &mut Map) -> Result<()> {
        if let Some(Value::Map(build)) = s.get_mut("build") {
            if let Some(Value::String(ctx)) = build.get_mut("context") {
                *ctx = self.abs_context_path(ctx);
            }
            if let Some(Value::Map(contexts)) = build.get_mut("additional_contexts") {
                for ctx in contexts.values_mut() {
                    if let Value::String(c) = ctx {
                        *c = self.abs_context_path(c);
                    }
                }
            }
        }
        if let Some(Value::Seq(files)) = s.get_mut("env_file") {
            for file in files.iter_mut() {
                match file {
                    Value::Map(f) => {
                        if let Some(Value::String(path)) = f.get_mut("path") {
                            *path = self.abs_path(path);
                        }
                    }
                    Value::String(path) => *path = self.abs_path(path),
                    _ => {}
                }
            }
        }
        if let Some(v) = s.get_mut("label_file") {
            self.abs_path_value(v);
        }
        if let Some(Value::Map(extends)) = s.get_mut("extends")
            && let Some(Value::String(file)) = extends.get_mut("file")
            && !is_remote_resource(file)
        {
            *file = self.abs_path(file);
        }
        if let Some(Value::Map(develop)) = s.get_mut("develop")
            && let Some(Value::Seq(watch)) = develop.get_mut("watch")
        {
            for rule in watch.iter_mut() {
                if let Some(Value::String(path)) = rule.as_map_mut().and_then(|r| r.get_mut("path"))
                {
                    *path = resolve_symbolic_link(&self.abs_path(path)).map_err(|e| {
                        Error::invalid(format!(
                            "services.{name}.develop.watch: cannot resolve {path:?}: {e}"
                        ))
                    })?;
                }
            }
        }
        if let Some(Value::Seq(volumes)) = s.get_mut("volumes") {
            for (i, volume) in volumes.iter_mut().enumerate() {
                let Value::Map(volume) = volume else {
                    // Not in canonical form: nothing compose-go would resolve.
                    continue;
                };
                if volume.get("type").and_then(Value::as_str) != Some("bind") {
                    continue;
                }
                match volume.get_mut("source") {
                    Some(Value::String(src)) => *src = self.maybe_unix_path(src),
                    _ => {
                        return Err(Error::schema(format!(
                            "services.{name}.volumes[{i}]: invalid mount config for type \"bind\": field Source must not be empty"
                        )));
                    }
                }
            }
        }
        Ok(())
    }

    /// A local volume with `o: bind` mounts a host directory: its `device` is a host path.
    fn volume_device(&self, volume: &mut Map) {
        if volume.get("driver").and_then(Value::as_str) != Some("local") {
            return;
        }
        let Some(Value::Map(opts)) = volume.get_mut("driver_opts") else {
            return;
        };
        if opts.get("o").and_then(Value::as_str) != Some("bind") {
            return;
        }
        if let Some(Value::String(device)) = opts.get_mut("device") {
            *device = self.maybe_unix_path(device);
        }
    }

    /// `~` expanded with the home directory, like compose-go's `ExpandUser`.
    fn expand_user(&self, p: &str) -> String {
        match (p.strip_prefix('~'), &self.home) {
            (Some(rest), Some(home)) => join(home, rest),
            _ => p.to_string(),
        }
    }

    /// A path relative to the working directory made absolute (empty stays empty).
    fn abs_path(&self, p: &str) -> String {
        let p = self.expand_user(p);
        if p.starts_with('/') || p.is_empty() {
            return p;
        }
        join(&self.working_dir, &p)
    }

    /// [`Self::abs_path`] on a string or on each string of a list.
    fn abs_path_value(&self, v: &mut Value) {
        match v {
            Value::String(s) => *s = self.abs_path(s),
            Value::Seq(items) => {
                for item in items.iter_mut() {
                    if let Value::String(s) = item {
                        *s = self.abs_path(s);
                    }
                }
            }
            _ => {}
        }
    }

    /// Build contexts: URLs, git references and `scheme://` contexts stay as written.
    fn abs_context_path(&self, p: &str) -> String {
        if p.contains("://") || is_remote_context(p) {
            return p.to_string();
        }
        self.abs_path(p)
    }

    /// Host paths that may be written for a Windows engine: absolute in either convention
    /// means absolute.
    fn maybe_unix_path(&self, p: &str) -> String {
        let p = self.expand_user(p);
        if p.starts_with('/') || is_windows_abs(&p) {
            return p;
        }
        join(&self.working_dir, &p)
    }
}

/// Whether a build context is a Git reference or an HTTP(S) URL (BuildKit's rule).
fn is_remote_context(p: &str) -> bool {
    [
        "https://",
        "http://",
        "git://",
        "ssh://",
        "github.com/",
        "git@",
    ]
    .iter()
    .any(|prefix| p.starts_with(prefix))
}

/// Whether an `extends.file` is fetched by a remote loader (git or OCI) rather than read.
fn is_remote_resource(p: &str) -> bool {
    p.contains("://") || is_remote_context(p)
}

/// Whether `p` is absolute for Windows: `C:\x`, `C:/x`, `\\host\share\x`, or a reserved
/// device name such as `NUL`.
pub(crate) fn is_windows_abs(p: &str) -> bool {
    let upper = p.to_ascii_uppercase();
    if matches!(upper.as_str(), "CON" | "PRN" | "AUX" | "NUL")
        || ((upper.starts_with("COM") || upper.starts_with("LPT"))
            && upper.len() == 4
            && upper
                .as_bytes()
                .get(3)
                .is_some_and(|b| (b'1'..=b'9').contains(b)))
    {
        return true;
    }
    let bytes = p.as_bytes();
    let is_slash = |b: u8| b == b'/' || b == b'\\';
    if bytes.len() >= 3 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':' {
        return is_slash(bytes[2]);
    }
    // UNC: two slashes, a host, a slash, a share, then the path.
    if bytes.len() >= 5 && is_slash(bytes[0]) && is_slash(bytes[1]) && !is_slash(bytes[2]) {
        let rest = &p[2..];
        let Some(host_end) = rest.find(['/', '\\']) else {
            return false;
        };
        let share = &rest[host_end + 1..];
        if share.is_empty() || share.starts_with(['/', '\\']) {
            return false;
        }
        return share.find(['/', '\\']).is_some();
    }
    false
}

/// Replaces the first symbolic link along `p` by its target, as compose-go does for
/// `develop.watch` paths so that file events match. A missing path stays as written.
fn resolve_symbolic_link(p: &str) -> std::io::Result<String> {
    let parts: Vec<&str> = p.split('/').filter(|s| !s.is_empty()).collect();
    let mut current = String::new();
    for (i, part) in parts.iter().enumerate() {
        current.push('/');
        current.push_str(part);
        let is_link = std::fs::symlink_metadata(&current)
            .map(|m| m.file_type().is_symlink())
            .unwrap_or(false);
        if is_link {
            let target = std::fs::canonicalize(&current)?;
            let rest = parts.get(i + 1..).unwrap_or_default();
            let mut resolved = target.to_string_lossy().into_owned();
            for part in rest {
                resolved.push('/');
                resolved.push_str(part);
            }
            return Ok(resolved);
        }
    }
    Ok(p.to_string())
}

/// Joins two paths and cleans the result, like Go's `filepath.Join` on Unix.
pub(crate) fn join(base: &str, rel: &str) -> String {
    match (base.is_empty(), rel.is_empty()) {
        (true, true) => String::new(),
        (true, false) => clean(rel),
        (false, true) => clean(base),
        (false, false) => clean(&format!("{base}/{rel}")),
    }
}

/// The shortest equivalent of a slash-separated path, like Go's `path.Clean`: no `.`
/// elements, no `..` after a name, no repeated or trailing slashes; `""` becomes `"."`.
pub fn clean(p: &str) -> String {
    if p.is_empty() {
        return ".".into();
    }
    let rooted = p.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if parts.last().is_some_and(|last| *last != "..") {
                    parts.pop();
                } else if !rooted {
                    parts.push("..");
                }
            }
            name => parts.push(name),
        }
    }
    let body = parts.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".into(),
        (false, false) => body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clean_follows_go() {
        assert_eq!(clean("/a/b/../c/./d/"), "/a/c/d");
        assert_eq!(clean("a/../../b"), "../b");
        assert_eq!(clean("/.."), "/");
        assert_eq!(clean(""), ".");
        assert_eq!(clean("./"), ".");
        assert_eq!(join("/w", "./dir"), "/w/dir");
        assert_eq!(join("/w", "."), "/w");
        assert_eq!(join("/home/u", "/configs"), "/home/u/configs");
    }

    #[test]
    fn windows_absolute_paths() {
        assert!(is_windows_abs(r"C:\data"));
        assert!(is_windows_abs("c:/data"));
        assert!(is_windows_abs(r"\\host\share\dir"));
        assert!(!is_windows_abs("C:data"));
        assert!(!is_windows_abs("./data"));
        assert!(!is_windows_abs(r"\\host"));
    }
}
