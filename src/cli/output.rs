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

/// Lays out rows of any width as a plain table, columns padded to their widest cell and three
/// spaces apart, as Docker prints them.
pub fn columns(rows: &[Vec<String>]) -> String {
    let width = rows.iter().map(Vec::len).max().unwrap_or(0);
    let mut widths = vec![0usize; width];
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

/// A size as Docker shows it: decimal units, three significant digits (`4.26MB`, `512B`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "kB", "MB", "GB", "TB", "PB", "EB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit + 1 < UNITS.len() {
        value /= 1000.0;
        unit += 1;
    }
    let decimals = if unit == 0 || value >= 100.0 {
        0
    } else if value >= 10.0 {
        1
    } else {
        2
    };
    let mut text = format!("{value:.decimals$}");
    if text.contains('.') {
        text = text.trim_end_matches('0').trim_end_matches('.').to_owned();
    }
    format!("{text}{}", UNITS[unit])
}

/// How long ago, as Docker says it (`About a minute`, `3 days`, `2 years`), without " ago".
pub fn human_duration(seconds: u64) -> String {
    let minutes = seconds / 60;
    // Docker rounds hours to the nearest one.
    let hours = (seconds + 1800) / 3600;
    match seconds {
        0 => "Less than a second".to_owned(),
        1 => "1 second".to_owned(),
        s if s < 60 => format!("{s} seconds"),
        _ if minutes == 1 => "About a minute".to_owned(),
        _ if minutes < 60 => format!("{minutes} minutes"),
        _ if hours == 1 => "About an hour".to_owned(),
        _ if hours < 48 => format!("{hours} hours"),
        _ if hours < 24 * 7 * 2 => format!("{} days", hours / 24),
        _ if hours < 24 * 30 * 2 => format!("{} weeks", hours / 24 / 7),
        _ if hours < 24 * 365 * 2 => format!("{} months", hours / 24 / 30),
        _ => format!("{} years", seconds / 3600 / 24 / 365),
    }
}

/// Seconds since the epoch of an RFC 3339 time (`2024-01-01T00:00:00.5+02:00`), if valid.
pub fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let part = text.get(range)?;
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    let mut rest = &text[19..];
    if let Some(frac) = rest.strip_prefix('.') {
        let digits = frac.bytes().take_while(u8::is_ascii_digit).count();
        rest = &frac[digits..];
    }
    let offset = match rest {
        "Z" | "z" => 0,
        _ if rest.len() == 6 && matches!(rest.as_bytes()[0], b'+' | b'-') => {
            let sign = if rest.starts_with('-') { -1 } else { 1 };
            let h: i64 = rest.get(1..3)?.parse().ok()?;
            let m: i64 = rest.get(4..6)?.parse().ok()?;
            sign * (h * 3600 + m * 60)
        }
        _ => return None,
    };
    let days = crate::engine::logs::time::days_from_civil(year, month, day);
    Some(days * 86_400 + hour * 3600 + minute * 60 + second - offset)
}

/// Docker's `CreatedAt` text for seconds since the epoch: `2024-01-01 00:00:00 +0000 UTC`.
pub fn docker_time(epoch: i64) -> String {
    let secs = epoch.rem_euclid(86_400);
    let (year, month, day) = crate::engine::logs::time::civil_from_days(epoch.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02}:{:02} +0000 UTC",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Prints one warning line in Docker Compose's style.
pub fn warn(text: &str) {
    let _ = writeln!(std::io::stderr().lock(), "WARN[0000] {text}");
}

/// Shows `warning` and asks whether to go on, as Docker's prune commands do; true only for
/// `y` or `yes`.
pub fn confirm(warning: &str) -> anyhow::Result<bool> {
    use anyhow::Context;
    use std::io::BufRead;
    let mut err = std::io::stderr().lock();
    writeln!(err, "{warning}")
        .and_then(|_| write!(err, "Are you sure you want to continue? [y/N] "))
        .and_then(|_| err.flush())?;
    let mut answer = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut answer)
        .context("cannot read the answer")?;
    Ok(matches!(
        answer.trim().to_ascii_lowercase().as_str(),
        "y" | "yes"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(4_261_504), "4.26MB");
        assert_eq!(human_size(1_500_000), "1.5MB");
        assert_eq!(human_size(12_000_000), "12MB");
        assert_eq!(human_size(128_400_000), "128MB");
        assert_eq!(human_size(2_000), "2kB");
    }

    #[test]
    fn durations_like_docker() {
        assert_eq!(human_duration(0), "Less than a second");
        assert_eq!(human_duration(30), "30 seconds");
        assert_eq!(human_duration(90), "About a minute");
        assert_eq!(human_duration(3600), "About an hour");
        assert_eq!(human_duration(5 * 86_400), "5 days");
        assert_eq!(human_duration(3 * 7 * 86_400), "3 weeks");
        assert_eq!(human_duration(100 * 86_400), "3 months");
        assert_eq!(human_duration(3 * 365 * 86_400), "3 years");
    }

    #[test]
    fn times_round_trip() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339("2024-01-01T00:00:00Z"), Some(1_704_067_200));
        assert_eq!(
            parse_rfc3339("2024-01-01T02:00:00.123456789+02:00"),
            Some(1_704_067_200)
        );
        assert_eq!(parse_rfc3339("2024-13-01T00:00:00Z"), None);
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(docker_time(1_704_067_200), "2024-01-01 00:00:00 +0000 UTC");
        assert_eq!(docker_time(951_782_400), "2000-02-29 00:00:00 +0000 UTC");
    }
}
