//! How the CLI talks to people: errors and warnings on stderr, in Docker Compose's style.

use berth_compose::Warning;
use std::io::Write;

/// Prints an error and its causes on one line.
pub fn error(e: &anyhow::Error) {
    let mut err = std::io::stderr().lock();
    let _ = writeln!(err, "{e:#}");
}

/// Prints warnings the way Docker Compose does (`WARN[0000] ...`).
pub fn warnings(ws: &[Warning]) {
    let mut err = std::io::stderr().lock();
    for w in ws {
        let _ = writeln!(err, "WARN[0000] {w}");
    }
}

/// Writes `text` to `-o FILE` when given, else to stdout.
pub fn emit(text: &str, file: Option<&std::path::Path>) -> anyhow::Result<()> {
    use anyhow::Context;
    match file {
        Some(path) => {
            std::fs::write(path, text).with_context(|| format!("cannot write {}", path.display()))
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())
                .and_then(|_| out.flush())
                .or_else(|e| {
                    // A closed pipe (`berth config | head`) is not an error worth reporting.
                    if e.kind() == std::io::ErrorKind::BrokenPipe {
                        Ok(())
                    } else {
                        Err(e)
                    }
                })
                .context("cannot write to standard output")
        }
    }
}

/// Lays out rows as a plain table with columns padded to their widest cell.
pub fn table(rows: &[[String; 4]]) -> String {
    let mut widths = [0usize; 4];
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    for row in rows {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate() {
            line.push_str(cell);
            if i + 1 < row.len() {
                let pad = widths[i] - cell.chars().count() + 3;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}
