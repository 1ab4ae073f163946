//! Compose keys berth reads and keeps but does not act on, named so nothing is ignored
//! silently. Most belong to Swarm or to Windows containers; a few to Docker Desktop.

use berth_compose::{Value, Warning};

/// Service keys berth keeps in its model but does not apply, with the reason.
const SERVICE_KEYS: &[(&str, &str)] = &[
    ("credential_spec", "it applies to Windows containers only"),
    ("isolation", "it applies to Windows containers only"),
    (
        "storage_opt",
        "per-container storage quotas need a storage driver berth does not have",
    ),
    ("volume_driver", "only the local volume driver exists"),
    (
        "external_links",
        "it links to containers of the legacy default bridge",
    ),
    ("develop", "`watch` is not implemented"),
    ("models", "AI model runners are a Docker Desktop feature"),
    ("provider", "provider plugins are a Docker Desktop feature"),
    ("gpus", "GPU device requests are not implemented"),
    ("use_api_socket", "there is no Docker API socket to share"),
];

/// `deploy` keys that only Swarm uses.
const DEPLOY_KEYS: &[&str] = &[
    "mode",
    "placement",
    "update_config",
    "rollback_config",
    "endpoint_mode",
];

/// One warning per unsupported key that the project uses.
pub fn warnings(tree: &Value) -> Vec<Warning> {
    let mut out = Vec::new();
    let mut warn = |message: String| {
        out.push(Warning {
            message,
            location: None,
        })
    };
    if let Some(services) = tree.get("services").and_then(Value::as_map) {
        for (name, svc) in services {
            for (key, why) in SERVICE_KEYS {
                if svc.get(key).is_some_and(|v| !v.is_null()) {
                    warn(format!(
                        "service {name:?}: `{key}` is not supported by berth and is ignored: {why}"
                    ));
                }
            }
            if let Some(deploy) = svc.get("deploy").and_then(Value::as_map) {
                for key in DEPLOY_KEYS {
                    if deploy.get(*key).is_some_and(|v| !v.is_null()) {
                        warn(format!(
                            "service {name:?}: `deploy.{key}` is a Swarm setting and is ignored"
                        ));
                    }
                }
            }
        }
    }
    for (section, default_driver) in [("networks", "bridge"), ("volumes", "local")] {
        if let Some(items) = tree.get(section).and_then(Value::as_map) {
            for (name, item) in items {
                if let Some(driver) = item.get("driver").and_then(Value::as_str)
                    && driver != default_driver
                {
                    warn(format!(
                        "{section}.{name}: driver {driver:?} is not supported by berth; only {default_driver:?} is"
                    ));
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_each_unsupported_key() {
        let doc = berth_compose::yaml::parse(
            "services:\n  web:\n    image: x\n    isolation: hyperv\n    deploy: {placement: {}, replicas: 2}\nnetworks:\n  o: {driver: overlay}\n",
            "t",
        )
        .unwrap();
        let ws: Vec<String> = warnings(&doc[0].value)
            .into_iter()
            .map(|w| w.message)
            .collect();
        assert_eq!(ws.len(), 3, "{ws:?}");
        assert!(ws[0].contains("`isolation`"));
        assert!(ws[1].contains("deploy.placement"));
        assert!(ws[2].contains("overlay"));
    }
}
