//! Splitting a command string into words, as compose-go does with mattn/go-shellwords
//! (no variable expansion, no command substitution).
//!
//! Its quirks are kept on purpose, since they decide what a container runs: an unquoted `;`,
//! `&`, `|`, `<` or `>` ends the command (the rest is dropped), a bare `(` is an error, and
//! quotes group but are removed. This follows go-shellwords v1.0.12, the version compose-go
//! v2 uses.

/// The words of `line`, or `None` when the quoting is unbalanced or a parenthesis misplaced
/// (compose-go: "invalid command line string").
pub fn split(line: &str) -> Option<Vec<String>> {
    #[derive(PartialEq)]
    enum Got {
        No,
        Single,
        Quoted,
    }
    let mut args = Vec::new();
    let mut buf = String::new();
    let (mut escaped, mut double, mut single, mut back, mut dollar) =
        (false, false, false, false, false);
    let mut got = Got::No;
    for r in line.chars() {
        if escaped {
            buf.push(r);
            escaped = false;
            got = Got::Single;
            continue;
        }
        if r == '\\' {
            if single {
                buf.push(r);
            } else {
                escaped = true;
            }
            continue;
        }
        if matches!(r, ' ' | '\t' | '\r' | '\n') {
            if single || double || back || dollar {
                buf.push(r);
            } else if got != Got::No {
                args.push(std::mem::take(&mut buf));
                got = Got::No;
            }
            continue;
        }
        match r {
            '`' if !single && !double && !dollar => back = !back,
            // go-shellwords v1.0.12 (compose-go's) toggles on `)` whether or not `$(` opened it.
            ')' if !single && !double && !back => dollar = !dollar,
            '(' if !single && !double && !back => {
                if !dollar && buf.ends_with('$') {
                    dollar = true;
                    buf.push('(');
                    continue;
                }
                return None;
            }
            '"' if !single && !dollar && !back => {
                if double {
                    got = Got::Quoted;
                }
                double = !double;
                continue;
            }
            '\'' if !double && !dollar && !back => {
                if single {
                    got = Got::Quoted;
                }
                single = !single;
                continue;
            }
            ';' | '&' | '|' | '<' | '>' if !(single || double || back || dollar) => {
                // `2>`: a word starting with a digit before `>` is a file descriptor.
                if r == '>' && buf.starts_with(|c: char| c.is_ascii_digit()) {
                    got = Got::No;
                }
                break;
            }
            _ => {}
        }
        got = Got::Single;
        buf.push(r);
    }
    if got != Got::No {
        args.push(buf);
    }
    if escaped || single || double || back || dollar {
        return None;
    }
    Some(args)
}

#[cfg(test)]
mod tests {
    use super::split;

    fn words(s: &str) -> Vec<String> {
        split(s).unwrap()
    }

    #[test]
    fn splits_on_blanks_and_honours_quotes() {
        assert_eq!(
            words("bundle exec thin -p 3000"),
            ["bundle", "exec", "thin", "-p", "3000"]
        );
        assert_eq!(words(r#"sh -c "echo 'a b'""#), ["sh", "-c", "echo 'a b'"]);
        assert_eq!(words(r#"a\ b 'c\d' "e\"f""#), ["a b", r"c\d", "e\"f"]);
        assert_eq!(words(r#"echo """#), ["echo", ""]);
        assert_eq!(words(""), Vec::<String>::new());
    }

    #[test]
    fn stops_at_shell_operators_like_go_shellwords() {
        assert_eq!(words("echo a && echo b"), ["echo", "a"]);
        assert_eq!(words("cmd 2>/dev/null"), ["cmd"]);
        assert_eq!(words("echo $(date) x"), ["echo", "$(date)", "x"]);
        // A stray `)` opens a group that the next one closes, blanks included.
        assert_eq!(words("echo a) b)"), ["echo", "a) b)"]);
    }

    #[test]
    fn unbalanced_input_is_refused() {
        assert!(split("echo 'a").is_none());
        assert!(split("echo \"a").is_none());
        assert!(split("echo (a)").is_none());
        assert!(split("echo a)").is_none());
        assert!(split("echo a\\").is_none());
    }
}
