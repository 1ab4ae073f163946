//! The times of log lines: the RFC 3339 text of the files, and `--since` / `--until` values
//! read by Docker's rules (a Go duration back from now, an RFC 3339 time or date, or Unix
//! seconds).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A `--since` / `--until` value Docker would not accept.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to parse value as time or duration: {0:?}")]
pub struct BadTime(pub String);

/// Reads a time as `docker logs --since/--until` does, relative to `now`:
/// - a Go duration (`10m`, `1h30m`, `1.5s`): that long before `now`, to the second;
/// - an RFC 3339 time or a prefix of one (`2024-01-02`, `2024-01-02T15:04`,
///   `2024-01-02T15:04:05.5+02:00`); without a zone it is read as UTC (Docker reads the
///   client's local zone, which is UTC on berth's machines);
/// - Unix seconds, with optional fraction (`1700000000`, `1700000000.5`).
pub fn parse_time_arg(value: &str, now: SystemTime) -> Result<SystemTime, BadTime> {
    let bad = || BadTime(value.to_owned());
    if value != "0"
        && let Some(d) = parse_go_duration(value)
    {
        let secs = now
            .checked_sub(d)
            .ok_or_else(bad)?
            .duration_since(UNIX_EPOCH)
            .map_err(|_| bad())?
            .as_secs();
        return Ok(UNIX_EPOCH + Duration::from_secs(secs));
    }
    if value.contains('-') && !value.starts_with('-') {
        return parse_date_time(value).ok_or_else(bad);
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: u64 = secs.parse().map_err(|_| bad())?;
    let nanos = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Ok(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// A Go duration (`300ms`, `-1.5h`, `2h45m`); negative ones are taken as Go takes them
/// (a time in the future). `None` when it is not one.
fn parse_go_duration(text: &str) -> Option<Duration> {
    let (negative, mut rest) = match text.as_bytes().first()? {
        b'-' => (true, &text[1..]),
        b'+' => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Some(Duration::ZERO);
    }
    if rest.is_empty() {
        return None;
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .bytes()
            .take_while(|b| b.is_ascii_digit() || *b == b'.')
            .count();
        if num_len == 0 {
            return None;
        }
        let number: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .char_indices()
            .find(|(_, c)| c.is_ascii_digit() || *c == '.')
            .map_or(rest.len(), |(i, _)| i);
        let nanos_per = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += number * nanos_per;
    }
    if negative {
        // A negative duration moves the reference forward; SystemTime cannot hold a
        // negative Duration, so it is not supported as such.
        return None;
    }
    Some(Duration::from_nanos(total as u64))
}

/// `YYYY-MM-DD[Thh[:mm[:ss[.frac]]]][Z|±hh:mm]`.
fn parse_date_time(text: &str) -> Option<SystemTime> {
    let b = text.as_bytes();
    let digits = |s: &str| -> Option<i64> {
        (!s.is_empty() && s.bytes().all(|c| c.is_ascii_digit()))
            .then(|| s.parse().ok())
            .flatten()
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (
        digits(&text[0..4])?,
        digits(&text[5..7])?,
        digits(&text[8..10])?,
    );
    let mut rest = &text[10..];
    // The zone, from the end: `Z`, or `+hh:mm` / `-hh:mm` after the time.
    let mut offset = 0i64;
    if let Some(r) = rest.strip_suffix(['Z', 'z']) {
        rest = r;
    } else if rest.len() >= 6 {
        let zone = &rest[rest.len() - 6..];
        let zb = zone.as_bytes();
        if matches!(zb[0], b'+' | b'-') && zb[3] == b':' {
            let sign = if zb[0] == b'-' { -1 } else { 1 };
            offset = sign * (digits(&zone[1..3])? * 3600 + digits(&zone[4..6])? * 60);
            rest = &rest[..rest.len() - 6];
        }
    }
    let (mut hour, mut minute, mut second, mut nanos) = (0, 0, 0, 0u32);
    if !rest.is_empty() {
        let time = rest.strip_prefix(['T', 't'])?;
        let (hms, frac) = time.split_once('.').unwrap_or((time, ""));
        let mut parts = hms.split(':');
        hour = digits(parts.next()?)?;
        minute = parts.next().map_or(Some(0), digits)?;
        second = parts.next().map_or(Some(0), digits)?;
        if parts.next().is_some() || !frac.bytes().all(|c| c.is_ascii_digit()) {
            return None;
        }
        if !frac.is_empty() {
            nanos = format!("{:0<9}", &frac[..frac.len().min(9)]).parse().ok()?;
        }
    }
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || minute > 59 {
        return None;
    }
    if second > 60 {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second - offset;
    let secs = u64::try_from(secs).ok()?;
    Some(UNIX_EPOCH + Duration::new(secs, nanos))
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
pub fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5 + day - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The time of a log entry (RFC 3339, any precision, any zone).
pub fn parse_time(text: &str) -> Option<SystemTime> {
    // Entries always carry a full time; a bare date is not one.
    if text.len() < 20 {
        return None;
    }
    parse_date_time(text)
}

/// A time as Docker prints log timestamps: RFC 3339 in UTC with nine fraction digits
/// (`2026-11-22T10:00:00.123456789Z`).
pub fn format_time(time: SystemTime) -> String {
    let since = time.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since.as_secs() as i64;
    let rem = secs.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(secs.div_euclid(86_400));
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:09}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        since.subsec_nanos()
    )
}

/// The civil date (year, month, day) of days since 1970-01-01, the inverse of
/// [`days_from_civil`].
pub fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(month <= 2), month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: u64, nanos: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, nanos)
    }

    #[test]
    fn entry_times_round_trip() {
        let t = parse_time("2026-11-22T10:00:00.123456789Z").unwrap();
        assert_eq!(format_time(t), "2026-11-22T10:00:00.123456789Z");
        assert_eq!(
            parse_time("2024-01-01T02:00:00.5+02:00"),
            Some(at(1_704_067_200, 500_000_000))
        );
        assert_eq!(format_time(at(0, 0)), "1970-01-01T00:00:00.000000000Z");
        assert_eq!(parse_time("2024-01-01"), None);
        assert_eq!(parse_time("garbage-but-long-enough"), None);
    }

    #[test]
    fn since_values_follow_dockers_rules() {
        let now = at(1_704_067_200, 700_000_000);
        assert_eq!(parse_time_arg("10m", now), Ok(at(1_704_067_200 - 600, 0)));
        assert_eq!(
            parse_time_arg("1h30m", now),
            Ok(at(1_704_067_200 - 5400, 0))
        );
        assert_eq!(parse_time_arg("1.5s", now), Ok(at(1_704_067_199, 0)));
        assert_eq!(parse_time_arg("0", now), Ok(at(0, 0)));
        assert_eq!(parse_time_arg("1700000000", now), Ok(at(1_700_000_000, 0)));
        assert_eq!(
            parse_time_arg("1700000000.25", now),
            Ok(at(1_700_000_000, 250_000_000))
        );
        assert_eq!(parse_time_arg("2024-01-01", now), Ok(at(1_704_067_200, 0)));
        assert_eq!(
            parse_time_arg("2024-01-01T01", now),
            Ok(at(1_704_067_200 + 3600, 0))
        );
        assert_eq!(
            parse_time_arg("2024-01-01T01:02", now),
            Ok(at(1_704_067_200 + 3720, 0))
        );
        assert_eq!(
            parse_time_arg("2024-01-01T02:00:00+02:00", now),
            Ok(at(1_704_067_200, 0))
        );
        for bad in ["", "yesterday", "10x", "2024-13-01", "12.3.4", "-5m"] {
            assert!(parse_time_arg(bad, now).is_err(), "{bad}");
        }
        assert_eq!(
            parse_time_arg("nope", now).unwrap_err().to_string(),
            "failed to parse value as time or duration: \"nope\""
        );
    }
}
