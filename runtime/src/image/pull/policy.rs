//! Compose's `pull_policy`: whether to pull, build or use the local image, decided by a pure
//! function of the policy, what the store has, whether the service can be built, and the time.
//!
//! | policy | image present | image absent |
//! |---|---|---|
//! | `always` | pull | pull |
//! | `never` | use it | error |
//! | `missing` (default, alias `if_not_present`) | use it | build if the service has `build`, else pull |
//! | `build` | build | build |
//! | `daily`, `weekly`, `every_<duration>` | pull if last refreshed longer ago, else use it | pull |

use std::fmt;
use std::str::FromStr;
use std::time::{Duration, SystemTime};

/// A `pull_policy` value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PullPolicy {
    /// Always pull.
    Always,
    /// Never pull; the image must be present.
    Never,
    /// Pull (or build) only when absent.
    #[default]
    Missing,
    /// Always build.
    Build,
    /// Pull when the local image is older than the duration (`daily` is 24 hours, `weekly`
    /// 7 days, `every_12h` 12 hours).
    Every(Duration),
}

/// A `pull_policy` text that is not a policy.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid pull_policy {0:?}: expected always, never, missing, build, daily, weekly or every_<duration> (like every_12h)"
)]
pub struct PullPolicyError(pub String);

impl FromStr for PullPolicy {
    type Err = PullPolicyError;

    fn from_str(text: &str) -> Result<PullPolicy, PullPolicyError> {
        const DAY: u64 = 24 * 3600;
        match text {
            "always" => Ok(PullPolicy::Always),
            "never" => Ok(PullPolicy::Never),
            "missing" | "if_not_present" => Ok(PullPolicy::Missing),
            "build" => Ok(PullPolicy::Build),
            "daily" => Ok(PullPolicy::Every(Duration::from_secs(DAY))),
            "weekly" => Ok(PullPolicy::Every(Duration::from_secs(7 * DAY))),
            _ => text
                .strip_prefix("every_")
                .and_then(parse_duration)
                .filter(|d| !d.is_zero())
                .map(PullPolicy::Every)
                .ok_or_else(|| PullPolicyError(text.to_owned())),
        }
    }
}

impl fmt::Display for PullPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PullPolicy::Always => f.write_str("always"),
            PullPolicy::Never => f.write_str("never"),
            PullPolicy::Missing => f.write_str("missing"),
            PullPolicy::Build => f.write_str("build"),
            PullPolicy::Every(d) if d.as_secs() == 24 * 3600 => f.write_str("daily"),
            PullPolicy::Every(d) if d.as_secs() == 7 * 24 * 3600 => f.write_str("weekly"),
            PullPolicy::Every(d) => write!(f, "every_{}s", d.as_secs()),
        }
    }
}

/// A duration like Go's and Compose's: one or more `<number><unit>` with units `ms`, `s`,
/// `m`, `h`, `d`, `w` (`90s`, `1h30m`, `2d`).
fn parse_duration(text: &str) -> Option<Duration> {
    if text.is_empty() {
        return None;
    }
    let mut total = Duration::ZERO;
    let mut rest = text;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        let (number, after) = rest.split_at(digits);
        let number: u64 = number.parse().ok()?;
        let unit_len = after.bytes().take_while(u8::is_ascii_alphabetic).count();
        let (unit, after) = after.split_at(unit_len);
        let part = match unit {
            "ms" => Duration::from_millis(number),
            "s" => Duration::from_secs(number),
            "m" => Duration::from_secs(number.checked_mul(60)?),
            "h" => Duration::from_secs(number.checked_mul(3600)?),
            "d" => Duration::from_secs(number.checked_mul(86_400)?),
            "w" => Duration::from_secs(number.checked_mul(604_800)?),
            _ => return None,
        };
        total = total.checked_add(part)?;
        rest = after;
    }
    Some(total)
}

/// What the store knows about the local image, if it has one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalImage {
    /// When it was last pulled, or else when it entered the store (built, loaded, imported).
    pub refreshed: SystemTime,
}

/// What to do about a service's image.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PullAction {
    /// Pull it from its registry.
    Pull,
    /// Use the local image as it is.
    UseLocal,
    /// Build it from the service's `build` section.
    Build,
    /// Fail: the policy forbids pulling and the image is absent (or `build` without a build
    /// section). The text is the reason.
    Fail(String),
}

/// Decides what `policy` means now, for an image that is `local` (or absent), for a service
/// that can be built (`buildable`) or not.
pub fn decide(
    policy: PullPolicy,
    local: Option<LocalImage>,
    buildable: bool,
    now: SystemTime,
) -> PullAction {
    match (policy, local) {
        (PullPolicy::Always, _) => PullAction::Pull,
        (PullPolicy::Never, Some(_)) => PullAction::UseLocal,
        (PullPolicy::Never, None) => {
            PullAction::Fail("the image is not present locally and pull_policy is never".to_owned())
        }
        (PullPolicy::Missing, Some(_)) => PullAction::UseLocal,
        (PullPolicy::Missing, None) if buildable => PullAction::Build,
        (PullPolicy::Missing, None) => PullAction::Pull,
        (PullPolicy::Build, _) if buildable => PullAction::Build,
        (PullPolicy::Build, _) => {
            PullAction::Fail("pull_policy is build but the service has no build section".to_owned())
        }
        (PullPolicy::Every(_), None) => PullAction::Pull,
        (PullPolicy::Every(period), Some(image)) => {
            // A clock that went backwards counts as fresh rather than pulling in a loop.
            let age = now
                .duration_since(image.refreshed)
                .unwrap_or(Duration::ZERO);
            if age >= period {
                PullAction::Pull
            } else {
                PullAction::UseLocal
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOUR: Duration = Duration::from_secs(3600);

    #[test]
    fn parses_policies() {
        assert_eq!("always".parse(), Ok(PullPolicy::Always));
        assert_eq!("if_not_present".parse(), Ok(PullPolicy::Missing));
        assert_eq!("daily".parse(), Ok(PullPolicy::Every(24 * HOUR)));
        assert_eq!("weekly".parse(), Ok(PullPolicy::Every(7 * 24 * HOUR)));
        assert_eq!("every_12h".parse(), Ok(PullPolicy::Every(12 * HOUR)));
        assert_eq!(
            "every_1h30m".parse(),
            Ok(PullPolicy::Every(HOUR + Duration::from_secs(1800)))
        );
        assert_eq!("every_2d".parse(), Ok(PullPolicy::Every(48 * HOUR)));
        for bad in [
            "",
            "sometimes",
            "every_",
            "every_0s",
            "every_12",
            "every_h",
            "every_5y",
            "Always",
        ] {
            let error = bad.parse::<PullPolicy>().unwrap_err();
            assert!(error.to_string().contains("invalid pull_policy"), "{bad}");
        }
        assert_eq!(PullPolicy::Every(24 * HOUR).to_string(), "daily");
    }

    #[test]
    fn decisions() {
        let now = SystemTime::UNIX_EPOCH + 1000 * HOUR;
        let fresh = Some(LocalImage {
            refreshed: now - HOUR,
        });
        let stale = Some(LocalImage {
            refreshed: now - 30 * HOUR,
        });
        let daily = PullPolicy::Every(24 * HOUR);
        assert_eq!(
            decide(PullPolicy::Always, fresh, false, now),
            PullAction::Pull
        );
        assert_eq!(
            decide(PullPolicy::Never, fresh, false, now),
            PullAction::UseLocal
        );
        assert!(matches!(
            decide(PullPolicy::Never, None, false, now),
            PullAction::Fail(_)
        ));
        assert_eq!(
            decide(PullPolicy::Missing, fresh, true, now),
            PullAction::UseLocal
        );
        assert_eq!(
            decide(PullPolicy::Missing, None, true, now),
            PullAction::Build
        );
        assert_eq!(
            decide(PullPolicy::Missing, None, false, now),
            PullAction::Pull
        );
        assert_eq!(
            decide(PullPolicy::Build, fresh, true, now),
            PullAction::Build
        );
        assert!(matches!(
            decide(PullPolicy::Build, None, false, now),
            PullAction::Fail(_)
        ));
        assert_eq!(decide(daily, fresh, false, now), PullAction::UseLocal);
        assert_eq!(decide(daily, stale, false, now), PullAction::Pull);
        assert_eq!(decide(daily, None, false, now), PullAction::Pull);
        let future = Some(LocalImage {
            refreshed: now + HOUR,
        });
        assert_eq!(decide(daily, future, false, now), PullAction::UseLocal);
    }
}
