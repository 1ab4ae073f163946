//! `${...}` substitution in one string, with compose-go's `template` semantics.
//!
//! compose-go finds expressions with a regular expression and then re-cuts each match at its
//! first balanced closing brace; the odd corners of that (a braced default that runs to the
//! last `}` of the line, unknown `${name[...]}` forms kept verbatim, which text an
//! "Invalid template" error quotes) are what users' files rely on, so [`scan`] reproduces
//! them. Unlike older compose-go releases, defaults, alternatives and error texts are only
//! evaluated when they are used, so an unused branch reports nothing.

use super::scan::{Expr, Expressions, Match, Operator, first_brace_close, match_in_line};

/// The result of substituting one template.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Substitution {
    /// The substituted text.
    pub value: String,
    /// Variables that were referenced without a default and are unset, each once, in order
    /// of first use (the caller warns about them).
    pub unset: Vec<String>,
}

/// Why a template could not be substituted; the text is compose-go's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    /// A malformed `${...}` expression. `template` is the text being substituted when it was
    /// found (a nested default or the text after an expression is substituted on its own).
    #[error("Invalid template: {}", go_quote(.template))]
    Invalid {
        /// The text that contains the malformed expression.
        template: String,
    },
    /// `${NAME?text}` / `${NAME:?text}` with the variable missing.
    #[error("required variable {name} is missing a value{}", reason_suffix(.reason))]
    MissingRequired {
        /// The variable.
        name: String,
        /// The (substituted) text after the operator; may be empty.
        reason: String,
    },
}

fn reason_suffix(reason: &str) -> String {
    if reason.is_empty() {
        String::new()
    } else {
        format!(": {reason}")
    }
}

/// Substitutes every `$VAR` / `${...}` expression of `template`, looking variables up with
/// `lookup` (`None` = unset, `Some("")` = set and empty). `$$` stands for a literal `$`.
pub fn substitute(
    template: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Substitution, TemplateError> {
    let mut engine = Engine {
        lookup,
        unset: Vec::new(),
        depth: 0,
    };
    let value = engine.run(template)?;
    Ok(Substitution {
        value,
        unset: engine.unset,
    })
}

/// How deeply defaults, alternatives and error texts may nest `${...}` inside each other.
/// Each level is a recursion, and a file must not be able to exhaust the stack.
const MAX_NESTING: usize = 100;

struct Engine<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    unset: Vec<String>,
    /// How many nested texts are being substituted.
    depth: usize,
}

impl Engine<'_> {
    /// Substitutes one text: every match of the expression pattern, left to right.
    ///
    /// compose-go cuts a braced match at its first balanced `}` (the pattern's greedy default
    /// may have swallowed later expressions) and substitutes the rest of the match as a text
    /// of its own. That rest is scanned here in place, within `segments` (innermost last):
    /// the same matches, without a recursion per expression of a long line.
    fn run(&mut self, text: &str) -> Result<String, TemplateError> {
        if self.depth >= MAX_NESTING {
            return Err(TemplateError::Invalid {
                template: text.to_string(),
            });
        }
        self.depth += 1;
        let result = self.scan(text);
        self.depth -= 1;
        result
    }

    fn scan(&mut self, text: &str) -> Result<String, TemplateError> {
        let mut out = String::with_capacity(text.len());
        let mut literal_start = 0;
        let mut walk = Expressions::new(text);
        while let Some((at, found)) = walk.next_match() {
            out.push_str(text.get(literal_start..at).unwrap_or_default());
            let matched = text.get(at..found.end).unwrap_or_default();
            let rest_len = self.replace(walk.current_segment(), matched, &mut out)?;
            literal_start = found.end - rest_len;
            walk.resume(literal_start..found.end);
        }
        out.push_str(text.get(literal_start..).unwrap_or_default());
        Ok(out)
    }

    /// Replaces one matched expression and returns the length of the rest after its first
    /// balanced `}`, which the caller substitutes next. `template` is the text an
    /// invalid-template error quotes.
    fn replace(
        &mut self,
        template: &str,
        matched: &str,
        out: &mut String,
    ) -> Result<usize, TemplateError> {
        // Ranges of the expression index `matched`.
        let Some(Match { expr, .. }) = match_in_line(matched, 0, matched.len()) else {
            out.push_str(matched);
            return Ok(0);
        };
        match expr {
            Expr::Escaped => {
                out.push('$');
                return Ok(0);
            }
            Expr::Named { name } => {
                let name = matched.get(name).unwrap_or_default();
                out.push_str(&self.plain(name));
                return Ok(0);
            }
            Expr::Braced { .. } | Expr::Mapping | Expr::Invalid => {}
        }
        let (expression, rest) = match first_brace_close(matched) {
            Some(close) => matched.split_at(close + 1),
            None => (matched, ""),
        };
        match match_in_line(expression, 0, expression.len()).map(|m| m.expr) {
            Some(Expr::Braced { name, op: None }) => {
                let name = expression.get(name).unwrap_or_default();
                out.push_str(&self.plain(name));
            }
            Some(Expr::Braced {
                name,
                op: Some((operator, inner)),
            }) => {
                let name = expression.get(name).unwrap_or_default();
                let inner = expression.get(inner).unwrap_or_default();
                let value = self.apply(name, operator, inner)?;
                out.push_str(&value);
            }
            // Named mappings (`${name[key]}`) are not enabled in compose's loader: compose-go
            // leaves such an expression as it is.
            Some(Expr::Mapping) => out.push_str(expression),
            _ => {
                return Err(TemplateError::Invalid {
                    template: template.to_string(),
                });
            }
        }
        Ok(rest.len())
    }

    /// A reference without operator: the value, or empty (and noted) when unset.
    fn plain(&mut self, name: &str) -> String {
        match (self.lookup)(name) {
            Some(v) => v,
            None => {
                if !self.unset.iter().any(|n| n == name) {
                    self.unset.push(name.to_string());
                }
                String::new()
            }
        }
    }

    /// Applies an operator; `inner` (default, alternative or error text) is substituted only
    /// when it is used.
    fn apply(
        &mut self,
        name: &str,
        operator: Operator,
        inner: &str,
    ) -> Result<String, TemplateError> {
        let value = (self.lookup)(name);
        let empty = value.as_deref().is_none_or(str::is_empty);
        match operator {
            Operator::RequiredNonEmpty | Operator::Required => {
                let missing = match operator {
                    Operator::RequiredNonEmpty => empty,
                    _ => value.is_none(),
                };
                match value {
                    Some(v) if !missing => Ok(v),
                    _ => Err(TemplateError::MissingRequired {
                        name: name.to_string(),
                        reason: self.run(inner)?,
                    }),
                }
            }
            Operator::DefaultIfEmpty | Operator::DefaultIfUnset => {
                let use_default = match operator {
                    Operator::DefaultIfEmpty => empty,
                    _ => value.is_none(),
                };
                match value {
                    Some(v) if !use_default => Ok(v),
                    _ => self.run(inner),
                }
            }
            Operator::AlternateIfNonEmpty | Operator::AlternateIfSet => {
                let use_alternate = match operator {
                    Operator::AlternateIfNonEmpty => !empty,
                    _ => value.is_some(),
                };
                if use_alternate {
                    self.run(inner)
                } else {
                    Ok(value.unwrap_or_default())
                }
            }
        }
    }
}

/// Quotes a string the way Go's `%q` / `%#v` do: double quotes, backslash escapes for quotes,
/// backslashes and control characters, printable characters as they are.
pub(crate) fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\u{b}' => out.push_str("\\v"),
            c if c.is_control() => {
                let n = u32::from(c);
                if n < 0x80 {
                    out.push_str(&format!("\\x{n:02x}"));
                } else {
                    out.push_str(&format!("\\u{n:04x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(name: &str) -> Option<String> {
        match name {
            "FOO" => Some("first".into()),
            "BAR" => Some(String::new()),
            _ => None,
        }
    }

    fn sub(t: &str) -> Result<String, TemplateError> {
        substitute(t, &env).map(|s| s.value)
    }

    #[test]
    fn unset_lists_each_variable_once() {
        let s = substitute("${A} $A ${B:-x} ${C-$D}", &env).unwrap();
        assert_eq!(s.unset, vec!["A".to_string(), "D".to_string()]);
    }

    #[test]
    fn alternate_forms() {
        assert_eq!(sub("ok ${UNSET_VAR:+x}").unwrap(), "ok ");
        assert_eq!(sub("ok ${BAR:+x}").unwrap(), "ok ");
        assert_eq!(sub("ok ${BAR+x}").unwrap(), "ok x");
        assert_eq!(sub("ok ${BAR+$FOO}").unwrap(), "ok first");
    }

    #[test]
    fn greedy_default_is_cut_at_first_balanced_brace() {
        assert_eq!(sub("${X:-a} and ${FOO}").unwrap(), "a and first");
        assert_eq!(sub("+ok ${UNSET:-${BAR-defaultValue}}").unwrap(), "+ok ");
        assert_eq!(sub("${X:-{a}b}").unwrap(), "{a}b");
    }

    #[test]
    fn invalid_forms() {
        for t in [
            "${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}", "${X:-a",
        ] {
            let err = sub(t).unwrap_err();
            assert_eq!(
                err.to_string(),
                format!("Invalid template: {}", go_quote(t))
            );
        }
        // The error quotes the text that was being substituted: here the rest after `${X:-a}`.
        let err = sub("${X:-a} ${ }").unwrap_err();
        assert_eq!(err.to_string(), "Invalid template: \" ${ }\"");
    }

    #[test]
    fn literal_dollars() {
        for t in ["a $ string", "^REGEX$", "$}", "$", "$-", "100$"] {
            assert_eq!(sub(t).unwrap(), t);
        }
        assert_eq!(sub("$$FOO $${FOO}").unwrap(), "$FOO ${FOO}");
    }

    #[test]
    fn default_does_not_cross_lines() {
        assert!(sub("${X:-a\nb}").is_err());
        assert_eq!(sub("${X:-a}\n}").unwrap(), "a\n}");
    }

    #[test]
    fn named_mappings_are_kept() {
        assert_eq!(sub("${a[x]} $FOO").unwrap(), "${a[x]} first");
    }

    #[test]
    fn required_messages() {
        assert_eq!(
            sub("${X?}").unwrap_err().to_string(),
            "required variable X is missing a value"
        );
        assert_eq!(
            sub("${X:?need ${FOO}}").unwrap_err().to_string(),
            "required variable X is missing a value: need first"
        );
        // An unused error text is never evaluated, not even when it is malformed.
        assert_eq!(sub("${FOO?${}").unwrap(), "first");
    }

    #[test]
    fn long_and_deep_templates_do_not_exhaust_the_stack() {
        // Deliberate difference: compose-go has no nesting limit (Go stacks grow); berth
        // refuses more than MAX_NESTING nested defaults as an invalid template instead of
        // overflowing its stack.
        let long = "${X:-a}".repeat(100_000) + "}";
        assert_eq!(sub(&long).unwrap(), "a".repeat(100_000) + "}");
        let deep = "${X:-".repeat(100_000) + &"}".repeat(100_000);
        assert!(matches!(sub(&deep), Err(TemplateError::Invalid { .. })));
        let ok = "${X:-".repeat(50) + "v" + &"}".repeat(50);
        assert_eq!(sub(&ok).unwrap(), "v");
    }

    #[test]
    fn unicode_text_is_kept() {
        assert_eq!(sub("é${FOO}ü ${X:-ø}").unwrap(), "éfirstü ø");
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}"), "\"a\\\"b\\\\c\\n\\x01\"");
    }
}
