//! Service `volumes`: the short syntax `[source:]target[:options]` becomes the long form,
//! as compose-go's `format.ParseVolume` reads it; long forms get their typed values.
//!
//! A bind written in short syntax creates its host path when missing. compose-go records that
//! as `create_host_path: true` and prints it by omission (`bind: {}`), since `true` is that
//! option's default; the tree keeps that printed form, and only an explicit `false` shows.

use super::convert::{
    Fail, Res, Unset, expect_map, fail, to_bool, to_bytes, to_int, to_mapping, with_key,
};
use crate::value::{Map, Path, Value};

/// Rewrites every entry of a service's `volumes` list.
pub(crate) fn canonicalize_volumes(v: &mut Value, p: &Path) -> Res {
    super::convert::each_item(v, p, |item, ip| match item {
        Value::String(spec) => {
            let parsed = parse_volume(spec).map_err(|message| Fail {
                path: ip.clone(),
                message,
            })?;
            *item = Value::Map(parsed);
            Ok(())
        }
        Value::Map(m) => long_volume(m, ip),
        other => fail(
            ip,
            format!("invalid type {} for service volume mount", other.kind()),
        ),
    })
}

/// Typed values of a long-form volume entry.
fn long_volume(m: &mut Map, p: &Path) -> Res {
    with_key(m, p, "read_only", to_bool)?;
    with_key(m, p, "bind", |b, bp| {
        if b.is_null() {
            *b = Value::Map(Map::new());
        }
        let bind = expect_map(b, bp)?;
        with_key(bind, bp, "create_host_path", to_bool)?;
        // `true` is the default and compose-go prints it by leaving it out.
        if bind.get("create_host_path") == Some(&Value::Bool(true)) {
            bind.shift_remove("create_host_path");
        }
        Ok(())
    })?;
    with_key(m, p, "volume", |vol, vp| {
        if vol.is_null() {
            *vol = Value::Map(Map::new());
        }
        let vol = expect_map(vol, vp)?;
        with_key(vol, vp, "nocopy", to_bool)?;
        with_key(vol, vp, "labels", |l, lp| to_mapping(l, lp, Unset::Empty))
    })?;
    with_key(m, p, "tmpfs", |t, tp| {
        if t.is_null() {
            *t = Value::Map(Map::new());
        }
        let tmpfs = expect_map(t, tp)?;
        with_key(tmpfs, tp, "size", to_bytes)?;
        with_key(tmpfs, tp, "mode", to_int)
    })
}

/// Parses a short-syntax volume spec.
pub(crate) fn parse_volume(spec: &str) -> Result<Map, String> {
    let mut vol = ShortVolume::default();
    let chars: Vec<char> = spec.chars().collect();
    match spec.len() {
        0 => return Err("invalid empty volume spec".into()),
        // compose-go takes a spec this short for a container path, without volume options.
        1 | 2 => {
            let mut m = Map::new();
            m.insert("type".into(), "volume".into());
            m.insert("target".into(), Value::String(clean_target(spec)));
            return Ok(m);
        }
        _ => {}
    }
    let mut buffer: Vec<char> = Vec::new();
    for &c in chars.iter().chain(std::iter::once(&END)) {
        if is_windows_drive(&buffer, c) {
            buffer.push(c);
        } else if c == ':' || c == END {
            vol.take_field(c, &buffer)
                .map_err(|e| format!("invalid spec: {spec}: {e}"))?;
            buffer.clear();
        } else {
            buffer.push(c);
        }
    }
    let is_bind = is_file_path(&vol.source);
    Ok(vol.into_map(is_bind))
}

/// Marks the end of the spec in the scan (a character that cannot occur in YAML text).
const END: char = '\0';

/// `C:` at the start of a field is a Windows drive, not a separator.
fn is_windows_drive(buffer: &[char], c: char) -> bool {
    c == ':' && buffer.len() == 1 && buffer.first().is_some_and(|b| b.is_alphabetic())
}

/// Whether a short-syntax source names a host path rather than a volume.
fn is_file_path(source: &str) -> bool {
    let Some(first) = source.chars().next() else {
        return false;
    };
    if matches!(first, '.' | '/' | '~') || source.starts_with(r"\\") {
        return true;
    }
    let mut chars = source.chars();
    let first = chars.next();
    let second = chars.next();
    match (first, second) {
        (Some(f), Some(':')) => f.is_alphabetic(),
        _ => false,
    }
}

#[derive(Default)]
struct ShortVolume {
    source: String,
    target: String,
    read_only: bool,
    nocopy: bool,
    selinux: Option<String>,
    propagation: Option<String>,
}

impl ShortVolume {
    fn take_field(&mut self, c: char, buffer: &[char]) -> Result<(), String> {
        let text: String = buffer.iter().collect();
        if buffer.is_empty() {
            return Err("empty section between colons".into());
        }
        if self.source.is_empty() && c == END {
            self.target = text;
            return Ok(());
        }
        if self.source.is_empty() {
            self.source = text;
            return Ok(());
        }
        if self.target.is_empty() {
            self.target = text;
            return Ok(());
        }
        if c == ':' {
            return Err("too many colons".into());
        }
        for option in text.split(',') {
            match option {
                "ro" => self.read_only = true,
                "rw" => self.read_only = false,
                "nocopy" => self.nocopy = true,
                "rprivate" | "private" | "rshared" | "shared" | "rslave" | "slave" => {
                    self.propagation = Some(option.to_string());
                }
                "z" | "Z" => self.selinux = Some(option.to_string()),
                // compose-go ignores options it does not know.
                _ => {}
            }
        }
        Ok(())
    }

    fn into_map(self, is_bind: bool) -> Map {
        let mut m = Map::new();
        m.insert(
            "type".into(),
            if is_bind { "bind" } else { "volume" }.into(),
        );
        if !self.source.is_empty() {
            m.insert("source".into(), Value::String(self.source));
        }
        if !self.target.is_empty() {
            m.insert("target".into(), Value::String(clean_target(&self.target)));
        }
        if self.read_only {
            m.insert("read_only".into(), Value::Bool(true));
        }
        let bind_opts = self.selinux.is_some() || self.propagation.is_some();
        if is_bind || bind_opts {
            let mut bind = Map::new();
            if let Some(s) = self.selinux {
                bind.insert("selinux".into(), Value::String(s));
            }
            if let Some(prop) = self.propagation {
                bind.insert("propagation".into(), Value::String(prop));
            }
            // A volume (not a bind) with bind options keeps them, but creating a host path
            // only applies to binds; compose-go leaves it false there.
            if !is_bind {
                bind.insert("create_host_path".into(), Value::Bool(false));
            }
            m.insert("bind".into(), Value::Map(bind));
        }
        if !is_bind || self.nocopy {
            let mut volume = Map::new();
            if self.nocopy {
                volume.insert("nocopy".into(), Value::Bool(true));
            }
            m.insert("volume".into(), Value::Map(volume));
        }
        m
    }
}

/// Cleans a container path like Go's `path.Clean` (`/data/` -> `/data`).
fn clean_target(target: &str) -> String {
    crate::paths::clean(target)
}
