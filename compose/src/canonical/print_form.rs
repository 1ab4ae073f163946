//! What compose-go's printer leaves out: the zero values of its `omitempty` fields.
//!
//! compose-go prints typed structs whose fields are mostly tagged `omitempty`, so
//! `privileged: false`, `hostname: ""` or `cap_add: []` written in a file do not show in
//! `docker compose config`. Fields that are pointers in Go (`init`, `attach`, `scale`,
//! `replicas`, `healthcheck.retries`, durations, nested sections) print whenever they are set,
//! even to a zero value, and `command: []` / `entrypoint: []` print because an empty command
//! clears the image's. Only values whose omission is certain are removed here.

use crate::value::{Map, Value};

/// Service attributes of Go kind bool, string, number or collection, tagged `omitempty`.
const SERVICE_OMIT_ZERO: &[&str] = &[
    // bool
    "oom_kill_disable",
    "privileged",
    "read_only",
    "stdin_open",
    "tty",
    "use_api_socket",
    // string
    "cgroup",
    "cgroup_parent",
    "container_name",
    "cpuset",
    "dockerfile",
    "domainname",
    "hostname",
    "image",
    "ipc",
    "isolation",
    "log_driver",
    "mac_address",
    "net",
    "network_mode",
    "pid",
    "platform",
    "pull_policy",
    "restart",
    "runtime",
    "stop_signal",
    "user",
    "userns_mode",
    "uts",
    "volume_driver",
    "working_dir",
    // numbers and sizes
    "cpu_count",
    "cpu_percent",
    "cpu_period",
    "cpu_quota",
    "cpu_rt_period",
    "cpu_rt_runtime",
    "cpus",
    "cpu_shares",
    "oom_score_adj",
    "pids_limit",
    // collections
    "annotations",
    "cap_add",
    "cap_drop",
    "configs",
    "depends_on",
    "device_cgroup_rules",
    "devices",
    "dns",
    "dns_opt",
    "dns_search",
    "environment",
    "env_file",
    "expose",
    "external_links",
    "extra_hosts",
    "group_add",
    "gpus",
    "labels",
    "label_file",
    "links",
    "log_opt",
    "models",
    "networks",
    "ports",
    "post_start",
    "pre_stop",
    "pre_start",
    "profiles",
    "secrets",
    "security_opt",
    "storage_opt",
    "sysctls",
    "tmpfs",
    "ulimits",
    "volumes",
    "volumes_from",
];

/// Removes from a canonical tree the values compose-go's printer omits, so that printing the
/// tree gives what `docker compose config` shows. Meant for output only: the loader's later
/// stages should keep working on the tree from [`super::canonicalize`].
pub fn omit_printer_defaults(tree: &mut Value) {
    let Some(root) = tree.as_map_mut() else {
        return;
    };
    if let Some(Value::Map(services)) = root.get_mut("services") {
        for service in services.values_mut() {
            if let Value::Map(s) = service {
                service_defaults(s);
            }
        }
    }
    for kind in ["networks", "volumes", "secrets", "configs"] {
        if let Some(Value::Map(resources)) = root.get_mut(kind) {
            for (name, r) in resources.iter_mut() {
                if let (false, Value::Map(r)) = (name.starts_with("x-"), r) {
                    omit_zero(
                        r,
                        &[
                            "name",
                            "driver",
                            "driver_opts",
                            "external",
                            "internal",
                            "attachable",
                            "labels",
                            "file",
                            "environment",
                            "content",
                            "template_driver",
                        ],
                    );
                }
            }
        }
    }
}

/// Byte counts (Go `UnitBytes`), zero when `"0"`.
const SERVICE_SIZES: &[&str] = &[
    "mem_limit",
    "mem_reservation",
    "memswap_limit",
    "mem_swappiness",
    "shm_size",
];

fn service_defaults(s: &mut Map) {
    omit_zero(s, SERVICE_OMIT_ZERO);
    omit_zero_size(s, SERVICE_SIZES);
    // Pointer fields print unless unset.
    for key in [
        "attach",
        "init",
        "build",
        "develop",
        "blkio_config",
        "credential_spec",
        "deploy",
        "extends",
        "healthcheck",
        "logging",
        "scale",
        "stop_grace_period",
        "provider",
        "command",
        "entrypoint",
    ] {
        if s.get(key) == Some(&Value::Null) {
            s.shift_remove(key);
        }
    }
    for_each_map(s.get_mut("ports"), |p| {
        omit_zero(
            p,
            &[
                "name",
                "mode",
                "host_ip",
                "target",
                "published",
                "protocol",
                "app_protocol",
            ],
        );
    });
    for_each_map(s.get_mut("volumes"), |v| {
        omit_zero(v, &["type", "source", "target", "read_only", "consistency"]);
        if let Some(Value::Map(b)) = v.get_mut("bind") {
            omit_zero(b, &["selinux", "propagation", "recursive"]);
        }
        if let Some(Value::Map(vol)) = v.get_mut("volume") {
            omit_zero(vol, &["labels", "nocopy", "subpath"]);
        }
        if let Some(Value::Map(t)) = v.get_mut("tmpfs") {
            omit_zero(t, &["mode"]);
            omit_zero_size(t, &["size"]);
        }
    });
    if let Some(Value::Map(deps)) = s.get_mut("depends_on") {
        for dep in deps.values_mut() {
            if let Value::Map(d) = dep {
                omit_zero(d, &["condition", "restart"]);
            }
        }
    }
    if let Some(Value::Map(h)) = s.get_mut("healthcheck") {
        omit_zero(h, &["test", "disable"]);
    }
    if let Some(Value::Map(b)) = s.get_mut("build") {
        omit_zero(
            b,
            &[
                "context",
                "dockerfile",
                "dockerfile_inline",
                "entitlements",
                "args",
                "provenance",
                "sbom",
                "ssh",
                "labels",
                "cache_from",
                "cache_to",
                "no_cache",
                "no_cache_filter",
                "additional_contexts",
                "pull",
                "extra_hosts",
                "isolation",
                "network",
                "target",
                "secrets",
                "tags",
                "ulimits",
                "platforms",
                "privileged",
            ],
        );
        omit_zero_size(b, &["shm_size"]);
    }
}

/// Removes the listed keys whose value is a zero value of its Go kind: null, `false`, `0`,
/// `""` or an empty collection.
fn omit_zero(m: &mut Map, keys: &[&str]) {
    for key in keys {
        if m.get(*key).is_some_and(is_zero) {
            m.shift_remove(*key);
        }
    }
}

/// Removes the listed byte-count keys that are unset or `"0"`.
fn omit_zero_size(m: &mut Map, keys: &[&str]) {
    for key in keys {
        if m.get(*key)
            .is_some_and(|v| is_zero(v) || v.as_str() == Some("0"))
        {
            m.shift_remove(*key);
        }
    }
}

fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Int(i) => *i == 0,
        Value::Float(f) => *f == 0.0,
        Value::String(s) => s.is_empty(),
        Value::Seq(s) => s.is_empty(),
        Value::Map(m) => m.is_empty(),
    }
}

fn for_each_map(v: Option<&mut Value>, mut f: impl FnMut(&mut Map)) {
    if let Some(Value::Seq(items)) = v {
        for item in items.iter_mut() {
            if let Value::Map(m) = item {
                f(m);
            }
        }
    }
}
