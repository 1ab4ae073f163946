//! The project as `docker compose config` prints it: struct fields in the model's declaration
//! order (compose-go's), and every map sorted by key, as Go's encoders print maps.

use super::Project;
use crate::value::{Map, Value};

/// Paths of the map-typed fields of the model (`*` is any key, `[]` any list element). Everything
/// else is a struct, printed in declaration order, or a list.
const MAPS: &[&str] = &[
    "services",
    "networks",
    "volumes",
    "secrets",
    "configs",
    "models",
    "services.*.annotations",
    "services.*.build.args",
    "services.*.build.labels",
    "services.*.build.additional_contexts",
    "services.*.build.ulimits",
    "services.*.depends_on",
    "services.*.deploy.labels",
    "services.*.deploy.resources.reservations.devices.[].options",
    "services.*.environment",
    "services.*.labels",
    "services.*.logging.options",
    "services.*.models",
    "services.*.networks",
    "services.*.post_start.[].environment",
    "services.*.pre_stop.[].environment",
    "services.*.pre_start.[].environment",
    "services.*.provider.options",
    "services.*.storage_opt",
    "services.*.sysctls",
    "services.*.ulimits",
    "services.*.volumes.[].volume.labels",
    "services.*.gpus.[].options",
    "networks.*.driver_opts",
    "networks.*.labels",
    "networks.*.ipam.options",
    "networks.*.ipam.config.[].aux_addresses",
    "volumes.*.driver_opts",
    "volumes.*.labels",
    "secrets.*.labels",
    "secrets.*.driver_opts",
    "configs.*.labels",
    "configs.*.driver_opts",
];

impl Project {
    /// The tree `config` prints: fields in compose-go's order, maps and `x-` extension
    /// contents sorted by key.
    pub fn to_printed_tree(&self) -> Value {
        let mut tree = self.to_tree();
        sort_maps(&mut tree, &mut Vec::new());
        tree
    }
}

fn matches(pattern: &str, path: &[String]) -> bool {
    let parts: Vec<&str> = pattern.split('.').collect();
    parts.len() == path.len()
        && parts
            .iter()
            .zip(path)
            .all(|(p, k)| *p == "*" || *p == k || (*p == "[]" && k == "[]"))
}

fn sort_maps(v: &mut Value, path: &mut Vec<String>) {
    match v {
        Value::Map(m) => {
            let in_extension = path.iter().any(|k| k.starts_with("x-"));
            if in_extension || MAPS.iter().any(|p| matches(p, path)) {
                m.sort_keys();
            } else {
                // Extensions of a struct come after its fields, sorted, as Go prints the
                // extension map it keeps beside the fields.
                let (ext, fields): (Map, Map) = std::mem::take(m)
                    .into_iter()
                    .partition(|(k, _)| k.starts_with("x-"));
                let mut ext = ext;
                ext.sort_keys();
                *m = fields.into_iter().chain(ext).collect();
            }
            for (k, child) in m.iter_mut() {
                path.push(k.clone());
                sort_maps(child, path);
                path.pop();
            }
        }
        Value::Seq(items) => {
            for item in items {
                path.push("[]".into());
                sort_maps(item, path);
                path.pop();
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structs_keep_field_order_and_maps_are_sorted() {
        let docs = crate::yaml::parse(
            "name: p\nservices:\n  web:\n    image: x\n    environment: {B: '2', A: '1'}\n    ports:\n      - {target: 80, published: '8080', protocol: tcp, mode: ingress}\n  api:\n    image: y\n",
            "t",
        )
        .unwrap();
        let project = Project::from_tree(&docs[0].value).unwrap();
        let printed = crate::yaml::to_string(&project.to_printed_tree());
        assert!(
            printed.contains("ports:\n      - mode: ingress\n        target: 80\n        published: \"8080\"\n        protocol: tcp\n"),
            "{printed}"
        );
        let api = printed.find("  api:").unwrap();
        let web = printed.find("  web:").unwrap();
        assert!(api < web, "{printed}");
        assert!(printed.find("A: \"1\"").unwrap() < printed.find("B: \"2\"").unwrap());
    }
}
