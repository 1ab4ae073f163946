//! `.env` files (`.env`, `--env-file`, `env_file:`), read the way compose-go's `dotenv`
//! package reads them, and the `raw` format of `env_file` entries (docker's `--env-file`).
//!
//! Compose's dialect: `KEY=value` or `KEY: value`, an optional `export ` prefix, `#` comments
//! (inline only after a space in unquoted values), single quotes kept literally, double quotes
//! with backslash escapes, quoted values spanning lines, `${VAR}` expansion in unquoted and
//! double-quoted values (the lookup first, then keys defined earlier), and a line holding only
//! a name, which takes that variable from the lookup or is dropped.

use crate::interpolate::{go_quote, substitute};
use indexmap::IndexMap;

/// A `.env` text that cannot be read. The message is compose-go's (`line N: ...` where
/// compose-go gives the line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct DotenvError {
    /// The 1-based line the problem is on, when known.
    pub line: Option<usize>,
    /// The complete message.
    pub message: String,
}

impl DotenvError {
    fn at(line: usize, what: impl std::fmt::Display) -> Self {
        DotenvError {
            line: Some(line),
            message: format!("line {line}: {what}"),
        }
    }
}

/// Parses a `.env` text in compose's dialect. `lookup` resolves bare names and references
/// (it wins over keys of the file itself when a value refers to them). Keys that begin with a
/// digit are kept, as compose keeps them.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut parser = Parser {
        line: 1,
        lookup,
        out: IndexMap::new(),
    };
    let mut rest = text;
    while let Some(statement) = parser.statement_start(rest) {
        rest = parser.statement(statement)?;
    }
    Ok(parser.out)
}

/// Parses an `env_file` entry with `format: raw`, as `docker run --env-file` does: one
/// `KEY=value` per line with the value taken verbatim (no quotes, escapes, comments after
/// values or expansion), leading whitespace and `#` comment lines ignored, and a bare `KEY`
/// taken from `lookup` or dropped.
pub fn parse_raw(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<IndexMap<String, String>, DotenvError> {
    let mut out = IndexMap::new();
    for (index, raw_line) in text.split('\n').enumerate() {
        // Go's line scanner drops one trailing carriage return per line, and the byte order
        // mark only at the start of the data.
        let mut line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if index == 0 {
            line = line.strip_prefix('\u{feff}').unwrap_or(line);
        }
        let line = line.trim_start();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let error = |message: String| DotenvError {
            line: Some(index + 1),
            message,
        };
        let (key, value) = match line.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (line, None),
        };
        if key.is_empty() {
            return Err(error(format!("no variable name on line '{line}'")));
        }
        if key.contains([' ', '\t']) {
            return Err(error(format!("variable '{key}' contains whitespaces")));
        }
        match value {
            Some(value) => {
                out.insert(key.to_string(), value.to_string());
            }
            None => {
                if let Some(value) = lookup(line) {
                    out.insert(key.to_string(), value);
                }
            }
        }
    }
    Ok(out)
}

struct Parser<'a> {
    /// The line the parser is on (1-based).
    line: usize,
    lookup: &'a dyn Fn(&str) -> Option<String>,
    out: IndexMap<String, String>,
}

/// Space that is not a line break (dotenv's `isSpace`).
fn is_inline_space(c: char) -> bool {
    matches!(
        c,
        '\t' | '\u{b}' | '\u{c}' | '\r' | ' ' | '\u{85}' | '\u{a0}'
    )
}

/// A character a key may contain besides inline space.
fn is_key_char(c: char) -> bool {
    matches!(c, '_' | '.' | '-' | '[' | ']') || c.is_alphabetic() || c.is_numeric()
}

impl Parser<'_> {
    /// Skips blank space and comment lines; `None` at the end of the text.
    fn statement_start<'t>(&mut self, mut src: &'t str) -> Option<&'t str> {
        loop {
            let start = src.find(|c: char| !c.is_whitespace())?;
            self.line += src.get(..start)?.matches('\n').count();
            src = src.get(start..)?;
            if !src.starts_with('#') {
                return Some(src);
            }
            src = src.get(src.find('\n')?..)?;
        }
    }

    /// Reads one statement; returns the text after it.
    fn statement<'t>(&mut self, src: &'t str) -> Result<&'t str, DotenvError> {
        let statement_line = self.line;
        let (key, rest, inherited) = self.locate_key(src)?;
        if key.contains(' ') {
            return Err(DotenvError::at(
                statement_line,
                "key cannot contain a space",
            ));
        }
        if inherited {
            if let Some(value) = (self.lookup)(key) {
                self.out.insert(key.to_string(), value);
            }
            return Ok(rest);
        }
        let (value, rest) = self.value(rest)?;
        self.out.insert(key.to_string(), value);
        Ok(rest)
    }

    /// The key of a statement, the text after its separator, and whether the statement is a
    /// bare name (ended by a line break).
    fn locate_key<'t>(&mut self, src: &'t str) -> Result<(&'t str, &'t str, bool), DotenvError> {
        let mut src = src;
        if let Some(after) = src.strip_prefix("export") {
            // `export` counts as a prefix only when whitespace follows (Go's `\s`).
            if after.starts_with(['\t', '\n', '\u{c}', '\r', ' ']) {
                src = after.trim_start_matches(is_inline_space);
            }
        }
        let mut end = None;
        for (i, c) in src.char_indices() {
            if is_inline_space(c) {
                continue;
            }
            match c {
                '=' | ':' | '\n' => {
                    end = Some((i, c == '\n'));
                    break;
                }
                c if is_key_char(c) => {}
                c => {
                    let first_line = src.split('\n').next().unwrap_or_default();
                    return Err(DotenvError::at(
                        self.line,
                        format!(
                            "unexpected character {} in variable name {}",
                            go_quote(&c.to_string()),
                            go_quote(first_line)
                        ),
                    ));
                }
            }
        }
        if src.is_empty() {
            return Err(DotenvError {
                line: Some(self.line),
                message: "zero length string".to_string(),
            });
        }
        // Without a separator compose-go reads the whole rest as the value of an empty key.
        let (key, value_start, inherited) = match end {
            Some((i, inherited)) => (src.get(..i).unwrap_or_default(), i + 1, inherited),
            None => ("", 0, false),
        };
        if inherited {
            self.line += 1;
        }
        let key = key.trim_end();
        let rest = src
            .get(value_start..)
            .unwrap_or_default()
            .trim_start_matches(is_inline_space);
        Ok((key, rest, inherited))
    }

    /// The value at the start of `src` and the text after it.
    fn value<'t>(&mut self, src: &'t str) -> Result<(String, &'t str), DotenvError> {
        let start_line = self.line;
        let quote = match src.as_bytes().first() {
            Some(&q @ (b'"' | b'\'')) => q,
            _ => {
                let (line, rest) = src.split_once('\n').unwrap_or((src, ""));
                self.line += 1;
                // An inline comment needs a space before its `#`.
                let value = line.split(" #").next().unwrap_or_default().trim_end();
                return Ok((self.expand(value, start_line)?, rest));
            }
        };
        let Some((raw, rest)) = self.quoted(src, quote) else {
            let first_line = src.split('\n').next().unwrap_or_default();
            return Err(DotenvError::at(
                start_line,
                format!("unterminated quoted value {first_line}"),
            ));
        };
        if quote == b'"' {
            Ok((self.expand(&expand_escapes(&raw), start_line)?, rest))
        } else {
            Ok((raw, rest))
        }
    }

    /// The text between the quote at the start of `src` and its closing quote (a backslash
    /// before the quote character keeps it; other backslashes stay), and the text after it.
    fn quoted<'t>(&mut self, src: &'t str, quote: u8) -> Option<(String, &'t str)> {
        let bytes = src.as_bytes();
        let mut chars = Vec::new();
        let mut escaped = false;
        for (i, &b) in bytes.iter().enumerate().skip(1) {
            if b == b'\n' {
                self.line += 1;
            }
            if escaped {
                escaped = false;
                if b != quote {
                    chars.push(b'\\');
                }
                chars.push(b);
                continue;
            }
            if b == b'\\' {
                escaped = true;
            } else if b == quote {
                let value = String::from_utf8_lossy(&chars).into_owned();
                return Some((value, src.get(i + 1..).unwrap_or_default()));
            } else {
                chars.push(b);
            }
        }
        None
    }

    /// `${VAR}` expansion: the lookup first, then keys defined earlier.
    fn expand(&self, value: &str, line: usize) -> Result<String, DotenvError> {
        let out = &self.out;
        let lookup = |name: &str| (self.lookup)(name).or_else(|| out.get(name).cloned());
        substitute(value, &lookup)
            .map(|s| s.value)
            .map_err(|e| DotenvError::at(line, e))
    }
}

/// The backslash escapes of double-quoted values: `\a \b \f \n \r \t \v \" \\`, octal
/// `\0NNN`, and `\$` for a literal dollar; anything else stays as written.
fn expand_escapes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        let Some(&next) = chars.peek() else {
            out.push('\\');
            continue;
        };
        let simple = match next {
            'a' => Some("\u{7}"),
            'b' => Some("\u{8}"),
            'f' => Some("\u{c}"),
            'n' => Some("\n"),
            'r' => Some("\r"),
            't' => Some("\t"),
            'v' => Some("\u{b}"),
            '"' => Some("\""),
            '\\' => Some("\\"),
            // Substitution reads `$$` as a literal dollar.
            '$' => Some("$$"),
            // `\c` is matched by compose-go's pattern but is no escape: kept as written.
            'c' => Some("\\c"),
            _ => None,
        };
        if let Some(replacement) = simple {
            chars.next();
            out.push_str(replacement);
            continue;
        }
        if next == '0' {
            chars.next();
            let mut digits = String::new();
            while digits.len() < 3 {
                match chars.peek() {
                    Some(&d) if d.is_ascii_digit() => {
                        digits.push(d);
                        chars.next();
                    }
                    _ => break,
                }
            }
            match octal(&digits) {
                Some(c) => out.push(c),
                None => {
                    out.push_str("\\0");
                    out.push_str(&digits);
                }
            }
            continue;
        }
        out.push('\\');
    }
    out
}

/// Exactly three octal digits with a value up to 255, as Go's `UnquoteChar` wants them.
fn octal(digits: &str) -> Option<char> {
    if digits.len() != 3 || !digits.bytes().all(|d| (b'0'..=b'7').contains(&d)) {
        return None;
    }
    let v = u32::from_str_radix(digits, 8).ok().filter(|&v| v <= 255)?;
    char::from_u32(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn none(_: &str) -> Option<String> {
        None
    }

    fn one(text: &str, key: &str) -> String {
        let map = parse(text, &none).unwrap();
        map.get(key)
            .cloned()
            .unwrap_or_else(|| panic!("{key} missing in {map:?}"))
    }

    #[test]
    fn escapes() {
        assert_eq!(
            expand_escapes(r"\0123\01\0\0999\0777"),
            "S\\01\\0\\0999\\0777"
        );
        assert_eq!(expand_escapes(r"a\qb\"), "a\\qb\\");
        assert_eq!(expand_escapes(r"\$x \\n"), "$$x \\n");
        assert_eq!(expand_escapes(r"\01234"), "S4");
    }

    #[test]
    fn crlf_and_comments() {
        let map = parse("A=1\r\n# c\r\nB = \"x\" # c\r\n\r\nC=2 #c\r\n", &none).unwrap();
        assert_eq!(map["A"], "1");
        assert_eq!(map["B"], "x");
        assert_eq!(map["C"], "2");
        assert_eq!(map.len(), 3);
    }

    #[test]
    fn yaml_style_and_keys() {
        assert_eq!(one("A: b", "A"), "b");
        assert_eq!(one("1A=x", "1A"), "x");
        // A name at the very end, without a line break, is read as a value of the empty key.
        assert_eq!(one("A=1\nLAST", ""), "LAST");
    }

    #[test]
    fn expansion_errors_name_the_line() {
        // Deliberate difference: compose-go counts the line break of an unquoted value before
        // it expands the value and says "line 3" here; berth names the statement's line.
        let err = parse("A=1\nB=${X:?need it}\n", &none).unwrap_err();
        assert_eq!(
            err.message,
            "line 2: required variable X is missing a value: need it"
        );
        let err = parse("A=1\n\nB=\"${\"\n", &none).unwrap_err();
        assert_eq!(err.message, "line 3: Invalid template: \"${\"");
    }

    #[test]
    fn unterminated_quote_names_its_line() {
        // Deliberate difference: compose-go scans to the end of the data for the closing quote
        // and reports the last line of the file ("line 4" here); berth names the line the
        // value starts on.
        let err = parse("A=1\nB='open\nC=3\nD=4", &none).unwrap_err();
        assert_eq!(err.message, "line 2: unterminated quoted value 'open");
    }

    #[test]
    fn bare_name_with_trailing_space_keeps_line_count() {
        // Deliberate difference: compose-go stops counting the line of a bare name written
        // with a trailing space, so later errors name the line before the right one.
        let err = parse("A \nB=1\nC D=2\n", &none).unwrap_err();
        assert_eq!(err.message, "line 3: key cannot contain a space");
    }

    #[test]
    fn single_quotes_are_literal() {
        assert_eq!(one("A='$HOME \\n'", "A"), "$HOME \\n");
    }

    #[test]
    fn export_needs_whitespace() {
        assert_eq!(one("export\tA=1", "A"), "1");
        assert!(parse("export ", &none).is_err());
    }

    #[test]
    fn raw_format() {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        let map = parse_raw(
            "\u{feff}A=\"quoted\" # not a comment \r\n  # comment\n\tB=${X}\nHOME\nMISSING\nC==x",
            &lookup,
        )
        .unwrap();
        assert_eq!(map["A"], "\"quoted\" # not a comment ");
        assert_eq!(map["B"], "${X}");
        assert_eq!(map["HOME"], "/root");
        assert_eq!(map["C"], "=x");
        assert!(!map.contains_key("MISSING"));
        let err = parse_raw("A=1\n=x\n", &none).unwrap_err();
        assert_eq!(err.message, "no variable name on line '=x'");
        assert_eq!(err.line, Some(2));
        let err = parse_raw("A B=1", &none).unwrap_err();
        assert_eq!(err.message, "variable 'A B' contains whitespaces");
    }
}
