//! Which containers come back when a project is resumed (after a reboot, or after its
//! supervisor and containers were killed): Docker's rule for a daemon start, from the
//! records alone. `always` containers and `unless-stopped` ones that their user did not stop;
//! never one-offs. Their dependencies come with them (`start`'s rule), and all of it starts
//! in dependency order with the health gates of `depends_on` ([`super::startup`]).

use super::state::ContainerRecord;
use crate::supervisor::restart::Policy;

/// A restart policy that brings a container back when its project resumes.
fn comes_back(record: &ContainerRecord) -> bool {
    match Policy::parse(record.restart_policy.as_deref()) {
        Ok(Policy::Always) => true,
        Ok(Policy::UnlessStopped) => !record.status.stopped_by_user,
        _ => false,
    }
}

/// The services whose containers come back: those with a container that [`comes_back`]
/// (one-offs aside), sorted and without repeats.
pub fn resumed_services(records: &[ContainerRecord]) -> Vec<String> {
    let mut services: Vec<String> = records
        .iter()
        .filter(|r| {
            let o = r.observed();
            !o.is_oneoff() && comes_back(r)
        })
        .filter_map(|r| r.observed().service().map(str::to_string))
        .collect();
    services.sort();
    services.dedup();
    services
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::labels;
    use crate::engine::state::{ContainerStatus, ImageRecord, RecordedState};

    fn record(service: &str, policy: Option<&str>, by_user: bool, oneoff: bool) -> ContainerRecord {
        let mut r = ContainerRecord::new(
            format!("{service}-id"),
            format!("p-{service}-1"),
            ImageRecord {
                reference: "busybox".into(),
                id: "sha256:0".into(),
            },
        );
        r.labels = [
            (labels::PROJECT, "p"),
            (labels::SERVICE, service),
            (labels::ONEOFF, if oneoff { "True" } else { "False" }),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
        r.restart_policy = policy.map(str::to_string);
        r.status = ContainerStatus {
            state: RecordedState::Exited,
            stopped_by_user: by_user,
            ..Default::default()
        };
        r
    }

    #[test]
    fn always_and_unless_stopped_come_back_unless_their_user_stopped_them() {
        let records = [
            record("db", Some("always"), true, false),
            record("web", Some("unless-stopped"), false, false),
            record("admin", Some("unless-stopped"), true, false),
            record("job", Some("on-failure:3"), false, false),
            record("once", None, false, false),
            record("no", Some("no"), false, false),
            record("shell", Some("always"), false, true),
        ];
        assert_eq!(resumed_services(&records), ["db", "web"]);
    }
}
