//! The configuration hash of a service: what decides whether its containers are recreated.
//!
//! Docker Compose stores `ServiceHash` in the `com.docker.compose.config-hash` label and
//! recreates a container when the hash of the new configuration differs. Its `ServiceHash`
//! (docker/compose `pkg/compose/hash.go`) leaves out what does not change a container:
//! `build`, `pull_policy`, `scale`, `deploy.replicas`, `depends_on` and `profiles`. berth
//! leaves out the same attributes, and hashes a canonical JSON text of the tree instead of
//! Go's struct encoding, so that the hash does not depend on key order.

use crate::value::{Map, Value};
use sha2::{Digest, Sha256};

/// Service attributes that do not take part in the hash.
const EXCLUDED: [&str; 5] = ["build", "pull_policy", "scale", "depends_on", "profiles"];

/// The sha256 (lower-case hex) of a service's configuration, without the attributes that
/// Docker Compose's `ServiceHash` excludes. Mapping key order does not matter.
pub fn service_hash(service: &Value) -> String {
    let mut hashed = service.clone();
    if let Some(map) = hashed.as_map_mut() {
        for key in EXCLUDED {
            map.shift_remove(key);
        }
        if let Some(Value::Map(deploy)) = map.get_mut("deploy") {
            deploy.shift_remove("replicas");
            // `deploy: {replicas: 2}` and no `deploy` run the same containers.
            if deploy.is_empty() {
                map.shift_remove("deploy");
            }
        }
    }
    let text = canonical_json(&hashed).to_string();
    let digest = Sha256::digest(text.as_bytes());
    digest.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// The tree as JSON with mapping keys sorted at every level.
fn canonical_json(value: &Value) -> serde_json::Value {
    match value {
        Value::Null => serde_json::Value::Null,
        Value::Bool(b) => serde_json::Value::Bool(*b),
        Value::Int(i) => serde_json::Value::from(*i),
        // Non-finite numbers have no JSON form; they hash like null.
        Value::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or(serde_json::Value::Null),
        Value::String(s) => serde_json::Value::String(s.clone()),
        Value::Seq(items) => serde_json::Value::Array(items.iter().map(canonical_json).collect()),
        Value::Map(map) => serde_json::Value::Object(sorted_object(map)),
    }
}

fn sorted_object(map: &Map) -> serde_json::Map<String, serde_json::Value> {
    let mut keys: Vec<&String> = map.keys().collect();
    keys.sort();
    // serde_json keeps insertion order (the `preserve_order` feature), so inserting in
    // sorted order gives sorted output.
    keys.into_iter()
        .filter_map(|key| Some((key.clone(), canonical_json(map.get(key)?))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn service(text: &str) -> Value {
        yaml::parse(text, "compose.yaml")
            .expect("test YAML parses")
            .remove(0)
            .value
    }

    #[test]
    fn the_hash_is_sha256_hex_of_canonical_json() {
        let svc = service("{image: nginx, command: [a, b]}");
        // sha256 of `{"command":["a","b"],"image":"nginx"}`
        let expected = Sha256::digest(br#"{"command":["a","b"],"image":"nginx"}"#)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        assert_eq!(service_hash(&svc), expected);
        assert_eq!(expected.len(), 64);
    }

    #[test]
    fn key_order_does_not_matter_at_any_depth() {
        let a = service(
            "
image: nginx
environment: {A: '1', B: '2'}
healthcheck: {test: [CMD, true], interval: 5s}
",
        );
        let b = service(
            "
healthcheck: {interval: 5s, test: [CMD, true]}
environment: {B: '2', A: '1'}
image: nginx
",
        );
        assert_eq!(service_hash(&a), service_hash(&b));
    }

    #[test]
    fn the_hash_is_the_same_on_every_run() {
        // A fixed value: a change of it means containers of existing projects get recreated.
        let svc = service("{image: nginx, ports: ['8080:80']}");
        assert_eq!(
            service_hash(&svc),
            "ca64b50237ce4fdb4d959bc7bc7325a0079c36363097644894061384db3c02d3"
        );
    }

    #[test]
    fn excluded_attributes_do_not_change_the_hash() {
        let plain = service("{image: app, deploy: {resources: {limits: {cpus: '1'}}}}");
        let extended = service(
            "
image: app
build: {context: ., dockerfile: Dockerfile}
pull_policy: always
scale: 3
depends_on: {db: {condition: service_started, required: true}}
profiles: [debug]
deploy: {replicas: 3, resources: {limits: {cpus: '1'}}}
",
        );
        assert_eq!(service_hash(&plain), service_hash(&extended));
    }

    #[test]
    fn replicas_alone_do_not_change_the_hash() {
        let without = service("{image: app}");
        let with = service("{image: app, deploy: {replicas: 5}}");
        assert_eq!(service_hash(&without), service_hash(&with));
    }

    #[test]
    fn other_attributes_change_the_hash() {
        let base = service("{image: app, environment: {A: '1'}}");
        for changed in [
            "{image: app, environment: {A: '2'}}",
            "{image: app:2, environment: {A: '1'}}",
            "{image: app, environment: {A: '1'}, deploy: {resources: {limits: {cpus: '2'}}}}",
            "{image: app, environment: {A: 1}}",
        ] {
            assert_ne!(
                service_hash(&base),
                service_hash(&service(changed)),
                "{changed}"
            );
        }
    }
}
