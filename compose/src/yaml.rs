//! YAML text to [`Value`] trees and back.
//!
//! The reader is built on the event stream of `saphyr-parser` so that it keeps what a typed
//! decoder would lose: the line and column of every node (for errors), the `!reset` and
//! `!override` tags (for merging), and `<<` merge keys. Scalars are typed by the YAML 1.2 core
//! schema, as Docker Compose's YAML library does: only `true`/`false` are booleans, and
//! numbers with leading zeros stay strings.

use crate::error::{Error, ErrorKind, Location, Result};
use crate::value::{Map, Path, Seg, Value};
use saphyr_parser::{Event, Marker, Parser, ScalarStyle, ScanError, Span, StrInput, Tag};
use std::collections::HashMap;
use std::sync::Arc;

/// How deep mappings and sequences may nest; deeper input is refused rather than recursed into.
const MAX_DEPTH: usize = 200;
/// How many nodes aliases may copy in one document before it counts as an alias bomb.
const MAX_ALIAS_NODES: usize = 100_000;

/// A tag that changes how a node merges with the same node of an earlier file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MergeTag {
    /// `!reset`: remove what earlier files set here.
    Reset,
    /// `!override`: replace what earlier files set here instead of merging with it.
    Override,
}

/// Where the nodes of a tree came from.
#[derive(Debug, Clone, Default)]
pub struct Positions {
    nodes: HashMap<Path, Location>,
    keys: HashMap<Path, Location>,
}

impl Positions {
    /// Records where the node at `path` starts.
    pub fn insert(&mut self, path: Path, loc: Location) {
        self.nodes.insert(path, loc);
    }

    /// Records where the key of the mapping entry at `path` starts.
    pub fn insert_key(&mut self, path: Path, loc: Location) {
        self.keys.insert(path, loc);
    }

    /// The place of the key of the entry at `path` (for errors about the key itself), else
    /// that of its value.
    pub fn find_key(&self, path: &Path) -> Option<Location> {
        self.keys.get(path).cloned().or_else(|| self.find(path))
    }

    /// The place of the node at `path`, or of its nearest ancestor with a known place.
    pub fn find(&self, path: &Path) -> Option<Location> {
        let mut p = path.clone();
        loop {
            if let Some(l) = self.nodes.get(&p) {
                return Some(l.clone());
            }
            p = p.parent()?;
        }
    }

    /// Adds every place of `other`, replacing those at the same paths.
    pub fn extend(&mut self, other: Positions) {
        self.nodes.extend(other.nodes);
        self.keys.extend(other.keys);
    }

    /// Re-roots every place under `prefix` (used when a file's tree is grafted into another).
    pub fn prefixed(self, prefix: &Path) -> Positions {
        let graft = |table: HashMap<Path, Location>| {
            table
                .into_iter()
                .map(|(p, l)| {
                    let mut segs = prefix.0.clone();
                    segs.extend(p.0);
                    (Path(segs), l)
                })
                .collect()
        };
        Positions {
            nodes: graft(self.nodes),
            keys: graft(self.keys),
        }
    }
}

/// One YAML document of a compose file.
#[derive(Debug, Clone)]
pub struct Document {
    /// The tree.
    pub value: Value,
    /// Where each node came from.
    pub positions: Positions,
    /// Nodes tagged `!reset` or `!override`, by path.
    pub tags: Vec<(Path, MergeTag)>,
}

/// Parses every document of a YAML text. `file` names the source in error messages.
pub fn parse(text: &str, file: &str) -> Result<Vec<Document>> {
    let file: Arc<str> = Arc::from(file);
    let mut reader = Reader {
        events: Parser::new_from_str(text),
        file: file.clone(),
        anchors: HashMap::new(),
        aliased_nodes: 0,
        positions: Positions::default(),
        tags: Vec::new(),
        depth: 0,
    };
    let mut docs = Vec::new();
    loop {
        let (ev, span) = reader.next()?;
        match ev {
            Event::StreamStart | Event::DocumentEnd | Event::Nothing => {}
            Event::StreamEnd => break,
            Event::DocumentStart(_) => {
                reader.anchors.clear();
                reader.aliased_nodes = 0;
                let value = reader.node(&Path::root(), None)?;
                docs.push(Document {
                    value,
                    positions: std::mem::take(&mut reader.positions),
                    tags: std::mem::take(&mut reader.tags),
                });
            }
            other => {
                return Err(reader.err_at(span.start, format!("unexpected YAML event {other:?}")));
            }
        }
    }
    Ok(docs)
}

struct Anchor {
    /// `None` while the anchored node is still being read (an alias to it is a cycle).
    value: Option<Value>,
    path: Path,
    nodes: usize,
}

struct Reader<'a> {
    events: Parser<'a, StrInput<'a>>,
    file: Arc<str>,
    anchors: HashMap<usize, Anchor>,
    aliased_nodes: usize,
    positions: Positions,
    tags: Vec<(Path, MergeTag)>,
    depth: usize,
}

fn location(file: &Arc<str>, m: Marker) -> Location {
    Location {
        file: file.clone(),
        line: m.line(),
        column: m.col() + 1,
    }
}

fn count_nodes(v: &Value) -> usize {
    match v {
        Value::Seq(s) => 1 + s.iter().map(count_nodes).sum::<usize>(),
        Value::Map(m) => 1 + m.values().map(count_nodes).sum::<usize>(),
        _ => 1,
    }
}

impl<'a> Reader<'a> {
    fn next(&mut self) -> Result<(Event<'a>, Span)> {
        match self.events.next_event() {
            Some(Ok(e)) => Ok(e),
            Some(Err(e)) => Err(self.scan_error(e)),
            None => Ok((Event::StreamEnd, Span::default())),
        }
    }

    fn scan_error(&self, e: ScanError) -> Error {
        let info = e.info();
        let message = if info.contains("tab") {
            format!("found a tab character that violates indentation ({info})")
        } else {
            info.to_string()
        };
        Error {
            kind: ErrorKind::Syntax,
            message,
            location: Some(location(&self.file, *e.marker())),
        }
    }

    fn err_at(&self, m: Marker, message: String) -> Error {
        Error {
            kind: ErrorKind::Syntax,
            message,
            location: Some(location(&self.file, m)),
        }
    }

    fn note_tag(&mut self, path: &Path, tag: &Option<std::borrow::Cow<'_, Tag>>) {
        if let Some(t) = tag
            && t.handle == "!"
        {
            match t.suffix.as_str() {
                "reset" => self.tags.push((path.clone(), MergeTag::Reset)),
                "override" => self.tags.push((path.clone(), MergeTag::Override)),
                _ => {}
            }
        }
    }

    /// Reads the next node. `merge_parent` is set when the node is the value of a `<<` key
    /// in the mapping at that path.
    fn node(&mut self, path: &Path, merge_parent: Option<&Path>) -> Result<Value> {
        let (ev, span) = self.next()?;
        self.node_from(ev, span, path, merge_parent)
    }

    fn node_from(
        &mut self,
        ev: Event<'a>,
        span: Span,
        path: &Path,
        merge_parent: Option<&Path>,
    ) -> Result<Value> {
        let loc = location(&self.file, span.start);
        self.positions.insert(path.clone(), loc);
        match ev {
            Event::Scalar(text, style, anchor, tag) => {
                self.note_tag(path, &tag);
                let v = resolve_scalar(&text, style, tag.as_deref());
                if anchor > 0 {
                    self.anchors.insert(
                        anchor,
                        Anchor {
                            value: Some(v.clone()),
                            path: path.clone(),
                            nodes: 1,
                        },
                    );
                }
                Ok(v)
            }
            Event::Alias(id) => self.alias(id, span, path, merge_parent),
            Event::SequenceStart(anchor, tag) => {
                self.note_tag(path, &tag);
                self.enter(span.start)?;
                self.begin_anchor(anchor, path);
                let mut items = Vec::new();
                loop {
                    let (ev, span) = self.next()?;
                    if matches!(ev, Event::SequenceEnd) {
                        break;
                    }
                    let p = path.index(items.len());
                    items.push(self.node_from(ev, span, &p, None)?);
                }
                self.depth -= 1;
                let v = Value::Seq(items);
                self.end_anchor(anchor, &v);
                Ok(v)
            }
            Event::MappingStart(anchor, tag) => {
                self.note_tag(path, &tag);
                self.enter(span.start)?;
                self.begin_anchor(anchor, path);
                let v = Value::Map(self.mapping(path)?);
                self.depth -= 1;
                self.end_anchor(anchor, &v);
                Ok(v)
            }
            other => Err(self.err_at(span.start, format!("unexpected YAML event {other:?}"))),
        }
    }

    fn enter(&mut self, at: Marker) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.err_at(at, format!("document nests deeper than {MAX_DEPTH} levels")));
        }
        Ok(())
    }

    fn begin_anchor(&mut self, anchor: usize, path: &Path) {
        if anchor > 0 {
            self.anchors.insert(
                anchor,
                Anchor {
                    value: None,
                    path: path.clone(),
                    nodes: 0,
                },
            );
        }
    }

    fn end_anchor(&mut self, anchor: usize, v: &Value) {
        if let Some(a) = self.anchors.get_mut(&anchor) {
            a.nodes = count_nodes(v);
            a.value = Some(v.clone());
        }
    }

    fn alias(
        &mut self,
        id: usize,
        span: Span,
        path: &Path,
        merge_parent: Option<&Path>,
    ) -> Result<Value> {
        let Some(anchor) = self.anchors.get(&id) else {
            return Err(self.err_at(span.start, "unknown anchor".into()));
        };
        let Some(value) = &anchor.value else {
            // Compose reports a merge of an enclosing anchor as a reference from
            // `<mapping>.<its last key>` to the mapping.
            let (from, to) = match merge_parent {
                Some(parent) => {
                    let last = match parent.0.last() {
                        Some(Seg::Key(k)) => k.clone(),
                        Some(Seg::Index(i)) => i.to_string(),
                        None => String::new(),
                    };
                    (parent.key(&last), parent.clone())
                }
                None => (path.clone(), anchor.path.clone()),
            };
            return Err(Error {
                kind: ErrorKind::Syntax,
                message: format!(
                    "cycle detected: node at path {from} references node at path {to}"
                ),
                location: Some(location(&self.file, span.start)),
            });
        };
        self.aliased_nodes += anchor.nodes;
        if self.aliased_nodes > MAX_ALIAS_NODES {
            return Err(self.err_at(span.start, "document contains excessive aliasing".into()));
        }
        Ok(value.clone())
    }

    fn mapping(&mut self, path: &Path) -> Result<Map> {
        let mut map = Map::new();
        let mut key_lines: HashMap<String, usize> = HashMap::new();
        // Entries brought in by `<<`, in order of precedence, and where they go.
        let mut merges: Vec<(usize, Vec<Map>)> = Vec::new();
        loop {
            let (ev, span) = self.next()?;
            let key = match ev {
                Event::MappingEnd => break,
                Event::Scalar(text, style, _, tag) => {
                    let k = resolve_scalar(&text, style, tag.as_deref());
                    match k {
                        Value::String(s) => s,
                        other => {
                            let shown = other.scalar_to_string().unwrap_or_else(|| "null".into());
                            let message = if path.is_root() {
                                format!("non-string key at top level: {shown}")
                            } else {
                                format!("non-string key in {path}: {shown}")
                            };
                            return Err(self.err_at(span.start, message).kind(ErrorKind::Schema));
                        }
                    }
                }
                Event::Alias(id) => match self.anchors.get(&id).and_then(|a| a.value.clone()) {
                    Some(Value::String(s)) => s,
                    _ => {
                        return Err(
                            self.err_at(span.start, format!("non-string key in {path}: alias"))
                        );
                    }
                },
                _ => {
                    let message = if path.is_root() {
                        "non-string key at top level".to_string()
                    } else {
                        format!("non-string key in {path}")
                    };
                    return Err(self.err_at(span.start, message).kind(ErrorKind::Schema));
                }
            };
            let line = span.start.line();
            if key == "<<" {
                let v = self.node(&path.key("<<"), Some(path))?;
                let maps = match v {
                    Value::Map(m) => vec![m],
                    Value::Seq(items) => {
                        let mut maps = Vec::new();
                        for item in items {
                            match item {
                                Value::Map(m) => maps.push(m),
                                _ => {
                                    return Err(self.err_at(
                                        span.start,
                                        "map merge requires map or sequence of maps as the value"
                                            .into(),
                                    ));
                                }
                            }
                        }
                        maps
                    }
                    _ => {
                        return Err(self.err_at(
                            span.start,
                            "map merge requires map or sequence of maps as the value".into(),
                        ));
                    }
                };
                merges.push((map.len(), maps));
                continue;
            }
            if let Some(first) = key_lines.get(&key) {
                return Err(self.err_at(
                    span.start,
                    format!("line {line}: mapping key \"{key}\" already defined at line {first}"),
                ));
            }
            key_lines.insert(key.clone(), line);
            let child = path.key(&key);
            self.positions
                .insert_key(child.clone(), location(&self.file, span.start));
            let v = self.node(&child, None)?;
            map.insert(key, v);
        }
        if merges.is_empty() {
            return Ok(map);
        }
        // Explicit keys win over merged ones; among merged maps the first one listed wins.
        let mut out = Map::new();
        let mut explicit = map.into_iter().enumerate().peekable();
        let mut merges = merges.into_iter().peekable();
        let mut index = 0;
        loop {
            while let Some((at, _)) = merges.peek() {
                if *at != index {
                    break;
                }
                let (_, maps) = merges.next().unwrap_or_default();
                for m in maps {
                    for (k, v) in m {
                        if !key_lines.contains_key(&k) && !out.contains_key(&k) {
                            out.insert(k, v);
                        }
                    }
                }
            }
            match explicit.next() {
                Some((_, (k, v))) => {
                    out.insert(k, v);
                    index += 1;
                }
                None => {
                    if merges.peek().is_none() {
                        break;
                    }
                    index = merges.peek().map(|(at, _)| *at).unwrap_or(index);
                }
            }
        }
        Ok(out)
    }
}

impl Error {
    fn kind(mut self, kind: ErrorKind) -> Self {
        self.kind = kind;
        self
    }
}

fn resolve_scalar(text: &str, style: ScalarStyle, tag: Option<&Tag>) -> Value {
    if let Some(t) = tag
        && t.is_yaml_core_schema()
    {
        return match t.suffix.as_str() {
            "str" => Value::String(text.to_string()),
            "int" => parse_int(text).map_or_else(|| Value::String(text.into()), Value::Int),
            "float" => text
                .parse::<f64>()
                .map_or_else(|_| Value::String(text.into()), Value::Float),
            "bool" => match text {
                "true" | "True" | "TRUE" => Value::Bool(true),
                "false" | "False" | "FALSE" => Value::Bool(false),
                _ => Value::String(text.into()),
            },
            "null" => Value::Null,
            _ => Value::String(text.into()),
        };
    }
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    resolve_plain(text)
}

/// Types a plain scalar by the YAML 1.2 core schema.
pub fn resolve_plain(text: &str) -> Value {
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Value::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Value::Float(f64::NEG_INFINITY),
        ".nan" | ".NaN" | ".NAN" => return Value::Float(f64::NAN),
        _ => {}
    }
    if let Some(i) = parse_int(text) {
        return Value::Int(i);
    }
    if is_float(text)
        && let Ok(f) = text.parse::<f64>()
    {
        return Value::Float(f);
    }
    Value::String(text.to_string())
}

fn parse_int(text: &str) -> Option<i64> {
    if let Some(oct) = text.strip_prefix("0o") {
        return i64::from_str_radix(oct, 8).ok();
    }
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok();
    }
    let digits = text.strip_prefix(['-', '+']).unwrap_or(text);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    // A leading zero makes it a string (`0440`, `007`), as the design asks.
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    text.parse().ok()
}

fn is_float(text: &str) -> bool {
    let t = text.strip_prefix(['-', '+']).unwrap_or(text);
    let (mantissa, exp) = match t.find(['e', 'E']) {
        Some(i) => (&t[..i], Some(&t[i + 1..])),
        None => (t, None),
    };
    let (int, frac) = match mantissa.find('.') {
        Some(i) => (&mantissa[..i], Some(&mantissa[i + 1..])),
        None => (mantissa, None),
    };
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !digits(int) || !frac.is_none_or(digits) {
        return false;
    }
    if int.is_empty() && frac.is_none_or(|f| f.is_empty()) {
        return false;
    }
    // An integer with a leading zero is not a float either.
    if frac.is_none() && exp.is_none() {
        return false;
    }
    match exp {
        None => true,
        Some(e) => {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        }
    }
}

/// Prints a tree as block-style YAML that [`parse`] reads back to the same tree.
pub fn to_string(v: &Value) -> String {
    let mut out = String::new();
    match v {
        Value::Map(m) if !m.is_empty() => write_map(&mut out, m, 0),
        Value::Seq(s) if !s.is_empty() => write_seq(&mut out, s, 0),
        other => {
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
    out
}

fn indent(out: &mut String, n: usize) {
    out.extend(std::iter::repeat_n(' ', n));
}

fn write_map(out: &mut String, m: &Map, ind: usize) {
    for (k, v) in m {
        indent(out, ind);
        out.push_str(&quote_str(k));
        out.push(':');
        write_child(out, v, ind);
    }
}

fn write_seq(out: &mut String, s: &[Value], ind: usize) {
    for v in s {
        indent(out, ind);
        out.push('-');
        match v {
            Value::Map(m) if !m.is_empty() => {
                // The first entry shares the dash's line.
                out.push(' ');
                let mut first = true;
                for (k, v) in m {
                    if !first {
                        indent(out, ind + 2);
                    }
                    first = false;
                    out.push_str(&quote_str(k));
                    out.push(':');
                    write_child(out, v, ind + 2);
                }
            }
            _ => write_child(out, v, ind),
        }
    }
}

/// Writes what follows `key:` or `-`: a scalar on the same line, or a block below.
fn write_child(out: &mut String, v: &Value, ind: usize) {
    match v {
        Value::Map(m) if !m.is_empty() => {
            out.push('\n');
            write_map(out, m, ind + 2);
        }
        Value::Seq(s) if !s.is_empty() => {
            out.push('\n');
            write_seq(out, s, ind + 2);
        }
        Value::String(s) if is_literal_block(s) => {
            let chomp = if !s.ends_with('\n') {
                "-"
            } else if s.ends_with("\n\n") {
                "+"
            } else {
                ""
            };
            out.push_str(" |");
            out.push_str(chomp);
            out.push('\n');
            let body = s.strip_suffix('\n').unwrap_or(s);
            for line in body.split('\n') {
                if !line.is_empty() {
                    indent(out, ind + 2);
                    out.push_str(line);
                }
                out.push('\n');
            }
        }
        other => {
            out.push(' ');
            out.push_str(&scalar(other));
            out.push('\n');
        }
    }
}

fn is_literal_block(s: &str) -> bool {
    s.contains('\n')
        && !s.starts_with([' ', '\n', '\t'])
        && s.chars().all(|c| c == '\n' || !c.is_control())
        && !s.split('\n').any(|l| l.ends_with([' ', '\t']))
}

fn scalar(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Float(f) if f.is_nan() => ".nan".into(),
        Value::Float(f) if f.is_infinite() => if *f > 0.0 { ".inf" } else { "-.inf" }.into(),
        Value::Float(f) => {
            let s = format!("{f:?}");
            if s.contains(['.', 'e', 'E']) {
                s
            } else {
                format!("{s}.0")
            }
        }
        Value::String(s) => quote_str(s),
        Value::Seq(_) => "[]".into(),
        Value::Map(_) => "{}".into(),
    }
}

/// A string as a YAML scalar: plain when that reads back as the same string, else quoted.
pub fn quote_str(s: &str) -> String {
    if needs_quotes(s) {
        let mut q = String::with_capacity(s.len() + 2);
        q.push('"');
        for c in s.chars() {
            match c {
                '"' => q.push_str("\\\""),
                '\\' => q.push_str("\\\\"),
                '\n' => q.push_str("\\n"),
                '\t' => q.push_str("\\t"),
                '\r' => q.push_str("\\r"),
                c if c.is_control() => q.push_str(&format!("\\u{:04x}", c as u32)),
                c => q.push(c),
            }
        }
        q.push('"');
        q
    } else {
        s.to_string()
    }
}

fn needs_quotes(s: &str) -> bool {
    if s.is_empty() || !matches!(resolve_plain(s), Value::String(_)) {
        return true;
    }
    // Strings other YAML readers would type (YAML 1.1 booleans, leading-zero numbers).
    let lower = s.to_ascii_lowercase();
    if matches!(
        lower.as_str(),
        "y" | "n" | "yes" | "no" | "on" | "off" | "=" | "<<"
    ) || s.starts_with(|c: char| c.is_ascii_digit() || c == '.' || c == '+' || c == '-')
        && s.trim_start_matches(['-', '+']).parse::<f64>().is_ok()
    {
        return true;
    }
    let first = s.chars().next().unwrap_or(' ');
    if "-?:,[]{}#&*!|>'\"%@`".contains(first) || first.is_whitespace() {
        return true;
    }
    if s.ends_with(char::is_whitespace) || s.ends_with(':') {
        return true;
    }
    s.contains(": ")
        || s.contains(" #")
        || s.chars().any(|c| c.is_control() || c == '\u{feff}')
        || s.contains(['\n', '\r', '\t'])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Value {
        parse(text, "t.yaml").unwrap().remove(0).value
    }

    #[test]
    fn scalars_follow_the_core_schema() {
        let v = one("a: yes\nb: true\nc: 0440\nd: 12\ne: 1.5\nf: ~\ng: '1'\nh: 0o17\n");
        let m = v.as_map().unwrap();
        assert_eq!(m["a"], Value::from("yes"));
        assert_eq!(m["b"], Value::Bool(true));
        assert_eq!(m["c"], Value::from("0440"));
        assert_eq!(m["d"], Value::Int(12));
        assert_eq!(m["e"], Value::Float(1.5));
        assert_eq!(m["f"], Value::Null);
        assert_eq!(m["g"], Value::from("1"));
        assert_eq!(m["h"], Value::Int(15));
    }

    #[test]
    fn merge_keys_yield_to_explicit_keys() {
        let v = one("x: &x {a: 1, b: 2}\ny: &y {b: 3, c: 4}\nz:\n  <<: [*x, *y]\n  a: 9\n");
        let z = v.get("z").unwrap().as_map().unwrap();
        assert_eq!(z["a"], Value::Int(9));
        assert_eq!(z["b"], Value::Int(2));
        assert_eq!(z["c"], Value::Int(4));
    }

    #[test]
    fn duplicate_keys_name_both_lines() {
        let e = parse("a: 1\na: 2\n", "f.yaml").unwrap_err();
        assert!(
            e.to_string()
                .contains("line 2: mapping key \"a\" already defined at line 1")
        );
        assert_eq!(e.location.unwrap().line, 2);
    }

    #[test]
    fn positions_are_recorded() {
        let docs = parse("services:\n  web:\n    image: x\n", "f.yaml").unwrap();
        let loc = docs[0]
            .positions
            .find(&Path::parse("services.web.image"))
            .unwrap();
        assert_eq!((loc.line, loc.column), (3, 12));
    }

    #[test]
    fn reset_tags_are_collected() {
        let docs = parse("a:\n  b: !reset null\n  c: !override [1]\n", "f.yaml").unwrap();
        assert_eq!(
            docs[0].tags,
            vec![
                (Path::parse("a.b"), MergeTag::Reset),
                (Path::parse("a.c"), MergeTag::Override)
            ]
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        let text = "[".repeat(10_000);
        assert!(parse(&text, "f").is_err());
    }

    #[test]
    fn printing_round_trips() {
        let text = "a:\n  - x: 1\n    y: \"yes\"\n  - []\n  - \"\"\nb: |\n  line1\n  line2\nc: \"0440\"\nd: \"a: b\"\ne: {}\nf: null\ng: 1.5\nh: \"-1\"\n";
        let v = one(text);
        let printed = to_string(&v);
        assert_eq!(one(&printed), v, "{printed}");
    }
}
