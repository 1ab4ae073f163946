//! A recorded container as `ps` and `container ls` show it: Docker's status texts, port
//! lists and the fields of `--format json`, computed from the state records alone.

use super::output;
use crate::engine::labels;
use crate::engine::state::{ContainerRecord, MountKind, PortRecord, RecordedState};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::SystemTime;

/// One published port as Compose's `Publishers` lists it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
pub struct Publisher {
    /// The host address (`0.0.0.0`, `::`, or the one given).
    #[serde(rename = "URL")]
    pub url: String,
    /// The container port.
    #[serde(rename = "TargetPort")]
    pub target_port: u16,
    /// The host port.
    #[serde(rename = "PublishedPort")]
    pub published_port: u16,
    /// `tcp` or `udp`.
    #[serde(rename = "Protocol")]
    pub protocol: String,
}

/// The publishers of a container's ports: a port published on every address is listed
/// once for IPv4 and once for IPv6, as Docker lists it.
pub fn publishers(ports: &[PortRecord]) -> Vec<Publisher> {
    let mut out = Vec::new();
    for p in ports {
        let ips = match p.host_ip {
            Some(ip) => vec![ip],
            None => vec![
                IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            ],
        };
        for ip in ips {
            out.push(Publisher {
                url: ip.to_string(),
                target_port: p.container_port,
                published_port: p.host_port,
                protocol: p.protocol.clone(),
            });
        }
    }
    out.sort_by(|a, b| {
        (a.target_port, &a.url, a.published_port, &a.protocol).cmp(&(
            b.target_port,
            &b.url,
            b.published_port,
            &b.protocol,
        ))
    });
    out
}

/// The PORTS column, as Docker lays it out: ports published on the same port number are
/// grouped into ranges (`0.0.0.0:8000-8001->8000-8001/tcp`), the others listed one by one
/// after them (`0.0.0.0:8080->80/tcp`).
pub fn ports_text(publishers: &[Publisher]) -> String {
    // Groups keep the order in which their key first appears.
    let mut groups: Vec<(String, String, u16, u16)> = Vec::new();
    let mut done = Vec::new();
    let mut mappings = Vec::new();
    for p in publishers {
        if p.published_port != p.target_port {
            mappings.push(format!(
                "{}->{}/{}",
                host_port(&p.url, &p.published_port.to_string()),
                p.target_port,
                p.protocol
            ));
            continue;
        }
        let port = p.target_port;
        match groups
            .iter_mut()
            .find(|g| g.0 == p.url && g.1 == p.protocol)
        {
            Some(g) if port == g.3.wrapping_add(1) => g.3 = port,
            Some(g) => {
                done.push(group_text(&g.0, &g.1, g.2, g.3));
                g.2 = port;
                g.3 = port;
            }
            None => groups.push((p.url.clone(), p.protocol.clone(), port, port)),
        }
    }
    done.extend(groups.iter().map(|g| group_text(&g.0, &g.1, g.2, g.3)));
    done.extend(mappings);
    done.join(", ")
}

fn group_text(ip: &str, protocol: &str, first: u16, last: u16) -> String {
    let range = if first == last {
        first.to_string()
    } else {
        format!("{first}-{last}")
    };
    format!("{}->{range}/{protocol}", host_port(ip, &range))
}

/// `ip:port`, with brackets around an IPv6 address.
fn host_port(ip: &str, port: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]:{port}")
    } else {
        format!("{ip}:{port}")
    }
}

/// Docker's state word (`running`, `exited`, ...).
pub fn state_word(state: RecordedState) -> &'static str {
    match state {
        RecordedState::Created => "created",
        RecordedState::Running => "running",
        RecordedState::Paused => "paused",
        RecordedState::Restarting => "restarting",
        RecordedState::Exited => "exited",
        RecordedState::Dead => "dead",
    }
}

fn seconds_since(t: Option<SystemTime>, now: SystemTime) -> u64 {
    t.and_then(|t| now.duration_since(t).ok())
        .map_or(0, |d| d.as_secs())
}

/// Docker's status text: `Up 5 seconds`, `Up 2 minutes (Paused)`, `Exited (0) 3 seconds
/// ago`, `Restarting (1) 2 seconds ago`, `Created`, `Dead`.
pub fn status_text(record: &ContainerRecord, now: SystemTime) -> String {
    let s = &record.status;
    let up = || output::human_duration(seconds_since(s.started_at, now));
    let ago = || output::human_duration(seconds_since(s.finished_at, now));
    match s.state {
        RecordedState::Running => match health_word(record) {
            "" => format!("Up {}", up()),
            "starting" => format!("Up {} (health: starting)", up()),
            word => format!("Up {} ({word})", up()),
        },
        RecordedState::Paused => format!("Up {} (Paused)", up()),
        RecordedState::Restarting => {
            format!("Restarting ({}) {} ago", s.exit_code.unwrap_or(0), ago())
        }
        RecordedState::Dead => "Dead".to_owned(),
        RecordedState::Created => "Created".to_owned(),
        RecordedState::Exited if s.started_at.is_none() => "Created".to_owned(),
        RecordedState::Exited => {
            format!("Exited ({}) {} ago", s.exit_code.unwrap_or(255), ago())
        }
    }
}

/// Docker's health word of a running container with a health check (`starting`,
/// `healthy`, `unhealthy`); empty otherwise.
pub fn health_word(record: &ContainerRecord) -> &'static str {
    let s = &record.status;
    if record.healthcheck.is_none()
        || !matches!(s.state, RecordedState::Running | RecordedState::Paused)
    {
        return "";
    }
    s.health.as_ref().map_or("starting", |h| h.status.word())
}

/// Seconds since the epoch, for Docker's time texts.
pub fn epoch(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// `5 minutes ago`, from the creation time.
pub fn running_for(record: &ContainerRecord, now: SystemTime) -> String {
    format!(
        "{} ago",
        output::human_duration(seconds_since(Some(record.created), now))
    )
}

/// The process as Docker's listings show it: the arguments joined by spaces.
pub fn command_line(record: &ContainerRecord) -> String {
    record.command.join(" ")
}

/// Text cut to `width` characters, the last one an ellipsis, as Docker's tables cut it.
pub fn ellipsis(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A string quoted as Go's `strconv.Quote` quotes it (the COMMAND column).
pub fn go_quote(text: &str) -> String {
    let mut out = String::from("\"");
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The container's labels as Docker's `Labels` field: `k=v` joined by commas.
pub fn labels_text(record: &ContainerRecord) -> String {
    record
        .labels
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(",")
}

/// Volume names and bind sources, as Docker's `Mounts` field names them; and how many are
/// local volumes.
pub fn mounts(record: &ContainerRecord) -> (Vec<String>, usize) {
    let mut names = Vec::new();
    let mut local = 0;
    for m in &record.mounts {
        match m.kind {
            MountKind::Volume => {
                local += 1;
                names.push(m.source.clone());
            }
            MountKind::Bind => names.push(m.source.clone()),
            MountKind::Tmpfs => {}
        }
    }
    (names, local)
}

/// The service label, or empty.
pub fn service(record: &ContainerRecord) -> &str {
    record
        .labels
        .get(labels::SERVICE)
        .map(String::as_str)
        .unwrap_or("")
}

/// Whether the container belongs to `run` (oneoff label `True`).
pub fn is_oneoff(record: &ContainerRecord) -> bool {
    record
        .labels
        .get(labels::ONEOFF)
        .is_some_and(|v| v.eq_ignore_ascii_case("true"))
}

/// The short id Docker's tables show.
pub fn short_id(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

/// The object `--format json` prints for a container, with Docker Compose's field names;
/// `trunc` shortens the id, command and mounts as the table does (Compose does so in JSON
/// too, unless `--no-trunc`).
pub fn json(record: &ContainerRecord, now: SystemTime, trunc: bool) -> serde_json::Value {
    let publishers = publishers(&record.ports);
    let (mounts, local) = mounts(record);
    let mounts: Vec<String> = if trunc {
        mounts.iter().map(|m| ellipsis(m, 15)).collect()
    } else {
        mounts
    };
    let command = command_line(record);
    let command = if trunc {
        ellipsis(&command, 20)
    } else {
        command
    };
    let id = if trunc {
        short_id(&record.id)
    } else {
        &record.id
    };
    let networks: Vec<&str> = record
        .endpoints
        .iter()
        .map(|e| e.network.as_str())
        .collect();
    serde_json::json!({
        "Command": go_quote(&command),
        "CreatedAt": output::docker_time(epoch(record.created)),
        "ExitCode": record.status.exit_code.unwrap_or(0),
        "Health": health_word(record),
        "ID": id,
        "Image": record.image.reference,
        "Labels": labels_text(record),
        "LocalVolumes": local.to_string(),
        "Mounts": mounts.join(","),
        "Name": record.name,
        "Names": record.name,
        "Networks": networks.join(","),
        "Ports": ports_text(&publishers),
        "Project": record.project().unwrap_or(""),
        // Go marshals an empty list it never appended to as null, and Compose shows that.
        "Publishers": if publishers.is_empty() { serde_json::Value::Null } else { serde_json::json!(publishers) },
        "RunningFor": running_for(record, now),
        "Service": service(record),
        "Size": "0B",
        "State": state_word(record.status.state),
        "Status": status_text(record, now),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn port(ip: Option<&str>, host: u16, container: u16, proto: &str) -> PortRecord {
        PortRecord {
            host_ip: ip.map(|i| i.parse().unwrap()),
            host_port: host,
            container_port: container,
            protocol: proto.into(),
        }
    }

    #[test]
    fn ports_like_docker() {
        let p = publishers(&[port(None, 8080, 80, "tcp")]);
        assert_eq!(ports_text(&p), "0.0.0.0:8080->80/tcp, [::]:8080->80/tcp");
        let p = publishers(&[
            port(Some("127.0.0.1"), 8001, 8001, "tcp"),
            port(Some("127.0.0.1"), 8000, 8000, "tcp"),
            port(Some("127.0.0.1"), 9000, 9000, "tcp"),
            port(Some("127.0.0.1"), 53, 53, "udp"),
            port(Some("127.0.0.1"), 5000, 443, "tcp"),
        ]);
        assert_eq!(
            ports_text(&p),
            "127.0.0.1:8000-8001->8000-8001/tcp, 127.0.0.1:53->53/udp, \
             127.0.0.1:9000->9000/tcp, 127.0.0.1:5000->443/tcp"
        );
        assert_eq!(ports_text(&[]), "");
    }

    #[test]
    fn health_in_status_like_docker() {
        let now = SystemTime::now();
        let json = |health: &str, state: &str| {
            let started = serde_json::to_value(now - std::time::Duration::from_secs(5)).unwrap();
            let text = format!(
                r#"{{"id":"ab","name":"p-db-1","image":{{"reference":"x","id":"sha256:1"}},
                "created":{{"secs_since_epoch":1,"nanos_since_epoch":0}},
                "healthcheck":{{"test":["CMD","true"]}},
                "status":{{"state":"{state}","started_at":{started},"health":{health}}}}}"#
            );
            serde_json::from_str::<ContainerRecord>(&text).unwrap()
        };
        let r = json(r#"{"status":"healthy"}"#, "running");
        assert_eq!(status_text(&r, now), "Up 5 seconds (healthy)");
        assert_eq!(health_word(&r), "healthy");
        let r = json(r#"{"status":"unhealthy"}"#, "running");
        assert_eq!(status_text(&r, now), "Up 5 seconds (unhealthy)");
        let r = json("null", "running");
        assert_eq!(status_text(&r, now), "Up 5 seconds (health: starting)");
        assert_eq!(health_word(&json(r#"{"status":"healthy"}"#, "exited")), "");
        let mut r = json("null", "running");
        r.healthcheck = None;
        assert_eq!(status_text(&r, now), "Up 5 seconds");
        assert_eq!(health_word(&r), "");
    }

    #[test]
    fn texts_like_docker() {
        assert_eq!(ellipsis("nginx -g daemon off;", 20), "nginx -g daemon off;");
        assert_eq!(
            ellipsis("/docker-entrypoint.sh nginx", 20),
            "/docker-entrypoint.…"
        );
        assert_eq!(go_quote("sh -c \"a\"\n"), "\"sh -c \\\"a\\\"\\n\"");
        assert_eq!(short_id("0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("ab"), "ab");
    }
}
