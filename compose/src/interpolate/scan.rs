//! Recognizes `$` expressions exactly where compose-go's pattern does.
//!
//! The pattern is `\$(?i:(\$)|([_a-z][_a-z0-9]*)|{(?:(braced)}|(mapping)}|()))` where a braced
//! expression is a name optionally followed by an operator and `.*` (greedy, not across a line
//! break). Written out by hand, the same choices: the first alternative that can match wins,
//! and a greedy part takes the longest text that still lets the rest match.

use std::ops::Range;

/// The operator of a braced expression.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Operator {
    /// `:?` — fail when unset or empty.
    RequiredNonEmpty,
    /// `?` — fail when unset.
    Required,
    /// `:-` — default when unset or empty.
    DefaultIfEmpty,
    /// `-` — default when unset.
    DefaultIfUnset,
    /// `:+` — alternative when set and not empty.
    AlternateIfNonEmpty,
    /// `+` — alternative when set.
    AlternateIfSet,
}

/// What kind of expression a match is; ranges index the text given to [`match_at`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Expr {
    /// `$$`.
    Escaped,
    /// `$NAME`.
    Named { name: Range<usize> },
    /// `${NAME}` or `${NAME<op>text}`; `op` holds the operator and the text's range.
    Braced {
        name: Range<usize>,
        op: Option<(Operator, Range<usize>)>,
    },
    /// `${name[key]...}`, a named-mapping reference.
    Mapping,
    /// `${` followed by nothing valid.
    Invalid,
}

/// One match: its kind and where it ends (it starts at the `$`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Match {
    pub expr: Expr,
    pub end: usize,
}

fn is_name_start(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphabetic()
}

fn is_name_char(b: u8) -> bool {
    b == b'_' || b.is_ascii_alphanumeric()
}

/// The end of the name starting at `start` (which must be a name start).
fn name_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while bytes.get(i).copied().is_some_and(is_name_char) {
        i += 1;
    }
    i
}

/// The end of the line that contains `from` (`.` does not match a line break).
pub(crate) fn line_end(bytes: &[u8], from: usize) -> usize {
    bytes
        .get(from..)
        .and_then(|rest| rest.iter().position(|&b| b == b'\n'))
        .map_or(bytes.len(), |p| from + p)
}

/// The last `}` in `bytes[from..to]`.
fn last_close(bytes: &[u8], from: usize, to: usize) -> Option<usize> {
    bytes
        .get(from..to)
        .and_then(|part| part.iter().rposition(|&b| b == b'}'))
        .map(|p| from + p)
}

/// The expression that starts at `text[at]` (a `$`), if the pattern matches there.
#[cfg(test)]
pub(crate) fn match_at(text: &str, at: usize) -> Option<Match> {
    match_in_line(text, at, line_end(text.as_bytes(), at))
}

/// [`match_at`] for a caller that knows where the line of `at` ends (`eol`: the index of its
/// line break, or the length of `text`); no expression reaches past a line break.
pub(crate) fn match_in_line(text: &str, at: usize, eol: usize) -> Option<Match> {
    let bytes = text.as_bytes().get(..eol)?;
    if bytes.get(at) != Some(&b'$') {
        return None;
    }
    let next = *bytes.get(at + 1)?;
    if next == b'$' {
        return Some(Match {
            expr: Expr::Escaped,
            end: at + 2,
        });
    }
    if is_name_start(next) {
        let end = name_end(bytes, at + 1);
        return Some(Match {
            expr: Expr::Named { name: at + 1..end },
            end,
        });
    }
    if next != b'{' {
        return None;
    }
    let start = at + 2;
    let invalid = Match {
        expr: Expr::Invalid,
        end: start,
    };
    if !bytes.get(start).copied().is_some_and(is_name_start) {
        return Some(invalid);
    }
    let end = name_end(bytes, start);
    let name = start..end;
    if bytes.get(end) == Some(&b'}') {
        return Some(Match {
            expr: Expr::Braced { name, op: None },
            end: end + 1,
        });
    }
    let last = last_close(bytes, end, eol);
    if let Some((operator, text_start)) = operator_at(bytes, end) {
        if let Some(close) = last.filter(|&l| l >= text_start) {
            return Some(Match {
                expr: Expr::Braced {
                    name,
                    op: Some((operator, text_start..close)),
                },
                end: close + 1,
            });
        }
    }
    if bytes.get(end) == Some(&b'[') {
        if let Some(end) = mapping_end(bytes, end, last) {
            return Some(Match {
                expr: Expr::Mapping,
                end,
            });
        }
    }
    Some(invalid)
}

/// The operator right after a name (`:?[-+?]`), and where its text starts.
fn operator_at(bytes: &[u8], at: usize) -> Option<(Operator, usize)> {
    let colon = bytes.get(at) == Some(&b':');
    let op_at = if colon { at + 1 } else { at };
    let operator = match (colon, bytes.get(op_at)?) {
        (true, b'?') => Operator::RequiredNonEmpty,
        (false, b'?') => Operator::Required,
        (true, b'-') => Operator::DefaultIfEmpty,
        (false, b'-') => Operator::DefaultIfUnset,
        (true, b'+') => Operator::AlternateIfNonEmpty,
        (false, b'+') => Operator::AlternateIfSet,
        _ => return None,
    };
    Some((operator, op_at + 1))
}

/// The end of `[key]` plus an optional operator part and the closing `}` of a named-mapping
/// expression (`name\[(.*)\](?::?[-+?}](.*))?}`), `open` being the `[` and `last` the last
/// `}` of the line; `bytes` ends where the line ends.
fn mapping_end(bytes: &[u8], open: usize, last: Option<usize>) -> Option<usize> {
    // The greedy key takes the last `]` after which the rest can still match.
    let closes = (open + 1..bytes.len())
        .rev()
        .filter(|&j| bytes.get(j) == Some(&b']'));
    for close in closes {
        let k = close + 1;
        let is_op = |i: usize| matches!(bytes.get(i), Some(b'-' | b'+' | b'?' | b'}'));
        if bytes.get(k) == Some(&b':') && is_op(k + 1) && last.is_some_and(|l| l > k + 1) {
            return last.map(|l| l + 1);
        }
        if is_op(k) && last.is_some_and(|l| l > k) {
            return last.map(|l| l + 1);
        }
        if bytes.get(k) == Some(&b'}') {
            return Some(k + 1);
        }
    }
    None
}

/// Index of the first `}` that closes the braces opened from the start of `s`, counted the way
/// compose-go counts them (an opening brace also skips the character after it).
pub(crate) fn first_brace_close(s: &str) -> Option<usize> {
    let bytes = s.as_bytes();
    let mut open = 0i64;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        if b == b'}' {
            open -= 1;
            if open == 0 {
                return Some(i);
            }
        }
        if b == b'{' {
            open += 1;
            i += 1;
        }
        i += 1;
    }
    None
}

/// Walks the expressions of a text in order, the way substitution reads them: a `$` that
/// starts no expression is literal, and the rest of a braced match after its first balanced
/// `}` is read again on its own, within the segment it came from (innermost last).
pub(crate) struct Expressions<'t> {
    text: &'t str,
    segments: Vec<Range<usize>>,
    from: usize,
    /// The end of the current line, found once per line rather than once per expression.
    eol: Option<usize>,
}

impl<'t> Expressions<'t> {
    /// Starts at the beginning of `text`.
    pub(crate) fn new(text: &'t str) -> Self {
        Expressions {
            text,
            segments: Vec::new(),
            from: 0,
            eol: None,
        }
    }

    /// The next expression: where its `$` is, and the match. Afterwards the walk goes on
    /// after the match unless [`Expressions::resume`] says otherwise.
    pub(crate) fn next_match(&mut self) -> Option<(usize, Match)> {
        loop {
            let offset = self.text.get(self.from..)?.find('$')?;
            let at = self.from + offset;
            while self.segments.last().is_some_and(|s| s.end <= at) {
                self.segments.pop();
            }
            let line_stop = match self.eol {
                Some(e) if e > at => e,
                _ => *self.eol.insert(line_end(self.text.as_bytes(), at)),
            };
            // A match cannot reach past the end of the rest it was found in.
            let limit = self
                .segments
                .last()
                .map_or(line_stop, |s| s.end.min(line_stop));
            match match_in_line(self.text, at, limit) {
                Some(found) => {
                    self.from = found.end;
                    return Some((at, found));
                }
                None => self.from = at + 1,
            }
        }
    }

    /// The innermost segment being read on its own (the whole text at the top level).
    pub(crate) fn current_segment(&self) -> &'t str {
        self.segments
            .last()
            .and_then(|s| self.text.get(s.clone()))
            .unwrap_or(self.text)
    }

    /// Reads `rest` (the text after a match's first balanced `}`) next, on its own.
    pub(crate) fn resume(&mut self, rest: Range<usize>) {
        if rest.start < rest.end {
            self.from = rest.start;
            self.segments.push(rest);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn braced_default_runs_to_last_brace_of_line() {
        let m = match_at("${A:-x} ${B} }\nz}", 0).unwrap();
        assert_eq!(m.end, 14);
    }

    #[test]
    fn mapping_forms() {
        assert_eq!(match_at("${a[k]}", 0).unwrap().expr, Expr::Mapping);
        assert_eq!(match_at("${a[k]:-d}", 0).unwrap().end, 10);
        assert_eq!(match_at("${a[k}", 0).unwrap().expr, Expr::Invalid);
    }

    #[test]
    fn brace_counting() {
        assert_eq!(first_brace_close("${A}"), Some(3));
        assert_eq!(first_brace_close("${A:-{}}"), None);
        assert_eq!(first_brace_close("${A:-${B}}x}"), Some(9));
    }
}
