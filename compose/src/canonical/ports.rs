//! `ports`: the short syntax (`"127.0.0.1:8000-8001:80-81/udp"`, `3000`) becomes one long-form
//! entry per container port, as compose-go's `ParsePortConfig` (docker/go-connections `nat`)
//! produces it.

use super::convert::{Res, fail, to_int, to_string_scalar, with_key};
use crate::value::{Map, Path, Value};
use std::net::IpAddr;

/// Rewrites a service's `ports` list into long-form entries.
pub(crate) fn canonicalize_ports(v: &mut Value, p: &Path) -> Res {
    let items = match v {
        Value::Null => return Ok(()),
        Value::Seq(items) => std::mem::take(items),
        other => return fail(p, format!("invalid type {} for port", other.kind())),
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.into_iter().enumerate() {
        let ip = p.index(i);
        match item {
            Value::Int(target) => {
                let mut m = Map::new();
                m.insert("mode".into(), "ingress".into());
                m.insert("target".into(), Value::Int(target));
                m.insert("protocol".into(), "tcp".into());
                out.push(Value::Map(m));
            }
            Value::String(spec) => {
                let entries = parse_port_spec(&spec).map_err(|message| super::convert::Fail {
                    path: ip.clone(),
                    message,
                })?;
                out.extend(entries.into_iter().map(Value::Map));
            }
            Value::Map(mut m) => {
                long_port(&mut m, &ip)?;
                out.push(Value::Map(m));
            }
            other => return fail(&ip, format!("invalid type {} for port", other.kind())),
        }
    }
    *v = Value::Seq(out);
    Ok(())
}

/// Types and defaults of a long-form entry: `target` an integer, `published` a string,
/// `protocol` tcp and `mode` ingress unless given.
fn long_port(m: &mut Map, p: &Path) -> Res {
    with_key(m, p, "target", to_int)?;
    with_key(m, p, "published", to_string_scalar)?;
    with_key(m, p, "host_ip", to_string_scalar)?;
    if !m.contains_key("protocol") {
        m.insert("protocol".into(), "tcp".into());
    }
    if !m.contains_key("mode") {
        m.insert("mode".into(), "ingress".into());
    }
    Ok(())
}

/// Parses one short-syntax port spec into long-form entries, sorted the way compose-go sorts
/// them (by the text `port/proto`, so `1000/tcp` comes before `999/tcp`). Checks and messages
/// are those of docker/go-connections v0.4.0, which compose-go v2 uses.
pub(crate) fn parse_port_spec(raw: &str) -> Result<Vec<Map>, String> {
    let (raw_ip, host_port, container) = split_parts(raw);
    let (proto, container) = split_proto_port(container);
    let ip = strip_ip_brackets(raw_ip)
        .map_err(|why| format!("Invalid ip address {raw_ip}: address {raw_ip}:: {why}"))?;
    if !ip.is_empty() && ip.parse::<IpAddr>().is_err() {
        return Err(format!("Invalid ip address: {ip}"));
    }
    if container.is_empty() {
        return Err(format!("No port specified: {raw}<empty>"));
    }
    let (start, end) =
        parse_port_range(container).map_err(|_| format!("Invalid containerPort: {container}"))?;
    let mut host_range = None;
    if !host_port.is_empty() {
        let (hs, he) =
            parse_port_range(host_port).map_err(|_| format!("Invalid hostPort: {host_port}"))?;
        // A host range for a single container port lets the engine pick in that range.
        if end - start != he - hs && end != start {
            return Err(format!(
                "Invalid ranges specified for container and host Ports: {container} and {host_port}"
            ));
        }
        host_range = Some((hs, he));
    }
    let proto_lower = proto.to_ascii_lowercase();
    if !matches!(proto_lower.as_str(), "tcp" | "udp" | "sctp") {
        return Err(format!("Invalid proto: {proto}"));
    }
    let count = end - start + 1;
    let mut entries: Vec<(String, Map)> = Vec::with_capacity(count as usize);
    for i in 0..count {
        let target = start + i;
        let mut m = Map::new();
        m.insert("mode".into(), "ingress".into());
        if !ip.is_empty() {
            m.insert("host_ip".into(), Value::String(ip.to_string()));
        }
        m.insert("target".into(), Value::Int(i64::from(target)));
        if let Some((hs, he)) = host_range {
            let mut published = (hs + i).to_string();
            if start == end && hs != he {
                published.push_str(&format!("-{he}"));
            }
            m.insert("published".into(), Value::String(published));
        }
        m.insert("protocol".into(), Value::String(proto_lower.clone()));
        entries.push((format!("{target}/{proto_lower}"), m));
    }
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(entries.into_iter().map(|(_, m)| m).collect())
}

/// `80/udp` -> (`udp`, `80`); without a protocol (or with an empty one) it is tcp. Anything
/// after a second `/` is ignored, as go-connections does.
fn split_proto_port(raw: &str) -> (&str, &str) {
    let mut parts = raw.split('/');
    let port = parts.next().unwrap_or("");
    if port.is_empty() {
        return ("", "");
    }
    match parts.next() {
        None | Some("") => ("tcp", port),
        Some(proto) => (proto, port),
    }
}

/// The address part with IPv6 brackets removed, as Go's `net.SplitHostPort(ip + ":")` reads
/// it: `[::1]` is `::1`, while a bare IPv6 address has too many colons.
fn strip_ip_brackets(raw: &str) -> Result<&str, &'static str> {
    if let Some(rest) = raw.strip_prefix('[') {
        let Some(end) = rest.find(']') else {
            return Err("missing ']' in address");
        };
        let (host, after) = (&rest[..end], &rest[end + 1..]);
        if !after.is_empty() {
            return Err(if after.starts_with(':') {
                "too many colons in address"
            } else {
                "missing port in address"
            });
        }
        if host.contains('[') {
            return Err("unexpected '[' in address");
        }
        return Ok(host);
    }
    if raw.contains(':') {
        return Err("too many colons in address");
    }
    if raw.contains('[') {
        return Err("unexpected '[' in address");
    }
    if raw.contains(']') {
        return Err("unexpected ']' in address");
    }
    Ok(raw)
}

/// `ip:host:container`, where the IP may itself contain colons (IPv6 without brackets).
fn split_parts(raw: &str) -> (&str, &str, &str) {
    let parts: Vec<&str> = raw.split(':').collect();
    match parts.as_slice() {
        [c] => ("", "", c),
        [h, c] => ("", h, c),
        [ip, h, c] => (ip, h, c),
        _ => {
            // The last two fields are the ports; everything before them is the address.
            let mut rest = raw.rsplitn(3, ':');
            let c = rest.next().unwrap_or("");
            let h = rest.next().unwrap_or("");
            let ip = rest.next().unwrap_or("");
            (ip, h, c)
        }
    }
}

/// `80` or `8000-8010` (anything after a second `-` is ignored, as go-connections does);
/// ports are 16-bit.
fn parse_port_range(text: &str) -> Result<(u32, u32), ()> {
    let parse = |s: &str| -> Result<u32, ()> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(());
        }
        s.parse::<u16>().map(u32::from).map_err(|_| ())
    };
    if !text.contains('-') {
        return parse(text).map(|p| (p, p));
    }
    let mut parts = text.split('-');
    let start = parse(parts.next().unwrap_or(""))?;
    let end = parse(parts.next().unwrap_or(""))?;
    if end < start {
        return Err(());
    }
    Ok((start, end))
}
