//! Restart policies: whether a container that ended is started again, and after how long.
//! Pure decisions, Docker's rules: `no`, `always`, `unless-stopped`, `on-failure[:N]`; a
//! container its user stopped is never restarted; the back-off starts at 100 ms, doubles on
//! every restart, is capped at one minute and starts over once a run lasted 10 s.
//!
//! One difference from Docker, on purpose: the first restart of a series (a container that
//! had been running well, or had never been restarted) happens at once instead of after
//! 100 ms, so a service killed once is back as fast as the runtime can start it; the back-off
//! only begins when it dies again within 10 s.

use std::time::Duration;

/// The first back-off delay (the delay of a series' second restart; its first is immediate).
pub const INITIAL_DELAY: Duration = Duration::from_millis(100);
/// The longest back-off delay.
pub const MAX_DELAY: Duration = Duration::from_secs(60);
/// A run at least this long resets the back-off.
pub const RESET_AFTER: Duration = Duration::from_secs(10);

/// A container's restart policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    /// Never restart (`no`, the default).
    No,
    /// Always restart, unless stopped by the user.
    Always,
    /// As `always`; the difference (not restarted when the daemon starts after a user stop)
    /// is the same here, since a user stop is recorded.
    UnlessStopped,
    /// Restart after a non-zero exit, at most `max` times when given.
    OnFailure {
        /// The most restarts (`on-failure:N`); `None` or 0 is unlimited.
        max: Option<u32>,
    },
}

impl Policy {
    /// Parses Compose's spelling; `None` or empty is `no`.
    pub fn parse(text: Option<&str>) -> Result<Policy, String> {
        let text = text.unwrap_or("").trim();
        let (name, count) = match text.split_once(':') {
            Some((n, c)) => (n, Some(c)),
            None => (text, None),
        };
        let policy = match name {
            "" | "no" => Policy::No,
            "always" => Policy::Always,
            "unless-stopped" => Policy::UnlessStopped,
            "on-failure" => {
                let max = match count {
                    None => None,
                    Some(c) => Some(c.parse::<u32>().map_err(|_| {
                        format!("invalid restart policy {text:?}: {c:?} is not a count")
                    })?),
                };
                return Ok(Policy::OnFailure {
                    max: max.filter(|m| *m > 0),
                });
            }
            _ => {
                return Err(format!(
                    "invalid restart policy {text:?}: expected no, always, unless-stopped or on-failure[:N]"
                ));
            }
        };
        if count.is_some() {
            return Err(format!(
                "invalid restart policy {text:?}: only on-failure takes a count"
            ));
        }
        Ok(policy)
    }
}

impl Policy {
    /// Docker's name of the policy and its most retries (0: no limit), as `inspect` shows
    /// them.
    pub fn docker_name(self) -> (&'static str, u32) {
        match self {
            Policy::No => ("no", 0),
            Policy::Always => ("always", 0),
            Policy::UnlessStopped => ("unless-stopped", 0),
            Policy::OnFailure { max } => ("on-failure", max.unwrap_or(0)),
        }
    }
}

/// How a run of the container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ended {
    /// The exit code (Docker's: 128 + signal when killed; 255 when unknown).
    pub code: i32,
    /// Whether the user stopped or killed it.
    pub by_user: bool,
    /// How many times the policy restarted it so far.
    pub restart_count: u32,
    /// How long it ran (`None`: unknown, e.g. it ended while no supervisor watched).
    pub ran_for: Option<Duration>,
}

/// What to do after a container ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Leave it exited.
    Stay,
    /// Start it again after this delay.
    Restart(Duration),
}

/// Decides whether to restart, given the delay of the previous restart (`None` when there
/// was none in this series).
pub fn decide(policy: Policy, ended: &Ended, previous_delay: Option<Duration>) -> Decision {
    if ended.by_user {
        return Decision::Stay;
    }
    let restart = match policy {
        Policy::No => false,
        Policy::Always | Policy::UnlessStopped => true,
        Policy::OnFailure { max } => ended.code != 0 && max.is_none_or(|m| ended.restart_count < m),
    };
    if !restart {
        return Decision::Stay;
    }
    Decision::Restart(next_delay(previous_delay, ended.ran_for))
}

/// The back-off: none at first and after a run of 10 s or more, then 100 ms, then twice the
/// previous delay, at most one minute.
pub fn next_delay(previous: Option<Duration>, ran_for: Option<Duration>) -> Duration {
    match previous {
        Some(p) if ran_for.is_some_and(|r| r < RESET_AFTER) => {
            (p * 2).clamp(INITIAL_DELAY, MAX_DELAY)
        }
        _ => Duration::ZERO,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ended(code: i32, by_user: bool, restart_count: u32, ran_ms: u64) -> Ended {
        Ended {
            code,
            by_user,
            restart_count,
            ran_for: Some(Duration::from_millis(ran_ms)),
        }
    }

    #[test]
    fn policies_parse_like_compose() {
        assert_eq!(Policy::parse(None), Ok(Policy::No));
        assert_eq!(Policy::parse(Some("no")), Ok(Policy::No));
        assert_eq!(Policy::parse(Some("always")), Ok(Policy::Always));
        assert_eq!(
            Policy::parse(Some("unless-stopped")),
            Ok(Policy::UnlessStopped)
        );
        assert_eq!(
            Policy::parse(Some("on-failure")),
            Ok(Policy::OnFailure { max: None })
        );
        assert_eq!(
            Policy::parse(Some("on-failure:3")),
            Ok(Policy::OnFailure { max: Some(3) })
        );
        assert!(Policy::parse(Some("on-failure:x")).is_err());
        assert!(Policy::parse(Some("always:2")).is_err());
        assert!(
            Policy::parse(Some("sometimes"))
                .unwrap_err()
                .contains("sometimes")
        );
    }

    #[test]
    fn user_stops_are_never_restarted() {
        for p in [
            Policy::Always,
            Policy::UnlessStopped,
            Policy::OnFailure { max: None },
        ] {
            assert_eq!(decide(p, &ended(137, true, 0, 50), None), Decision::Stay);
        }
    }

    #[test]
    fn policies_decide_by_exit_code_and_count() {
        let ok = ended(0, false, 0, 50);
        let failed = ended(1, false, 0, 50);
        assert_eq!(decide(Policy::No, &failed, None), Decision::Stay);
        assert_eq!(
            decide(Policy::Always, &ok, None),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            decide(Policy::UnlessStopped, &failed, None),
            Decision::Restart(Duration::ZERO)
        );
        let on_failure = Policy::OnFailure { max: Some(2) };
        assert_eq!(decide(on_failure, &ok, None), Decision::Stay);
        assert_eq!(
            decide(on_failure, &ended(1, false, 1, 50), None),
            Decision::Restart(Duration::ZERO)
        );
        assert_eq!(
            decide(on_failure, &ended(1, false, 2, 50), None),
            Decision::Stay
        );
        assert!(matches!(
            decide(
                Policy::OnFailure { max: None },
                &ended(1, false, 99, 50),
                None
            ),
            Decision::Restart(_)
        ));
    }

    #[test]
    fn back_off_doubles_caps_and_resets() {
        let short = Some(Duration::from_millis(50));
        let mut d = next_delay(None, short);
        assert_eq!(d, Duration::ZERO);
        d = next_delay(Some(d), short);
        assert_eq!(d, INITIAL_DELAY);
        for _ in 0..20 {
            d = next_delay(Some(d), short);
        }
        assert_eq!(d, MAX_DELAY);
        assert_eq!(
            next_delay(Some(Duration::from_millis(400)), short),
            Duration::from_millis(800)
        );
        assert_eq!(
            next_delay(Some(MAX_DELAY), Some(RESET_AFTER)),
            Duration::ZERO
        );
        // Unknown run time (ended unwatched): start over.
        assert_eq!(next_delay(Some(MAX_DELAY), None), Duration::ZERO);
    }
}
