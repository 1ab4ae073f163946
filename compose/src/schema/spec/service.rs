//! `services.<name>`: every attribute of a service.

use super::common::{
    BLKIO_LIMIT, BLKIO_WEIGHT, BOOL_OR_STRING, BOOLEAN, COMMAND, DRIVER_OPTS, ENV_FILE,
    EXTRA_HOSTS, INT_OR_STRING, LABEL_FILE, LIST_OF_STRINGS, LIST_OR_DICT, NUMBER,
    NUMBER_OR_STRING, PRE_START_HOOK, SERVICE_CONFIG_OR_SECRET, SERVICE_HOOK, STRING,
    STRING_OR_LIST, STRING_OR_NULL, STRINGS, ULIMITS,
};
use super::deploy::{DEPLOYMENT, DEVELOPMENT, GPUS, HEALTHCHECK};
use crate::schema::node::{
    KeyPattern, Node, Types, ValuePattern, closed, integer_at_least, list, map_of, of, one_of, set,
    strict, string_enum,
};

/// `build` in its long form.
static BUILD_OBJECT: Node = closed(&[
    ("context", &STRING),
    ("dockerfile", &STRING),
    ("dockerfile_inline", &STRING),
    ("entitlements", &STRINGS),
    ("args", &LIST_OR_DICT),
    ("ssh", &LIST_OR_DICT),
    ("labels", &LIST_OR_DICT),
    ("cache_from", &STRINGS),
    ("cache_to", &STRINGS),
    ("no_cache", &BOOL_OR_STRING),
    ("additional_contexts", &LIST_OR_DICT),
    ("network", &STRING),
    ("provenance", &BOOL_OR_STRING),
    ("sbom", &BOOL_OR_STRING),
    ("pull", &BOOL_OR_STRING),
    ("target", &STRING),
    ("shm_size", &INT_OR_STRING),
    ("extra_hosts", &EXTRA_HOSTS),
    ("isolation", &STRING),
    ("privileged", &BOOL_OR_STRING),
    ("secrets", &SERVICE_CONFIG_OR_SECRET),
    ("tags", &STRINGS),
    ("ulimits", &ULIMITS),
    ("platforms", &STRINGS),
]);

/// `blkio_config` (no extensions allowed here).
static BLKIO_CONFIG: Node = strict(&[
    ("device_read_bps", &list(&BLKIO_LIMIT)),
    ("device_read_iops", &list(&BLKIO_LIMIT)),
    ("device_write_bps", &list(&BLKIO_LIMIT)),
    ("device_write_iops", &list(&BLKIO_LIMIT)),
    ("weight", &INT_OR_STRING),
    ("weight_device", &list(&BLKIO_WEIGHT)),
]);

/// `depends_on`: a list of names, or a mapping of names to conditions.
static DEPENDS_ON: Node = one_of(&[
    &LIST_OF_STRINGS,
    &map_of(
        &[(
            KeyPattern::Name,
            &Node {
                required: &["condition"],
                ..closed(&[
                    ("restart", &BOOL_OR_STRING),
                    ("required", &BOOLEAN),
                    (
                        "condition",
                        &string_enum(&[
                            "service_started",
                            "service_healthy",
                            "service_completed_successfully",
                        ]),
                    ),
                ])
            },
        )],
        true,
    ),
]);

/// `devices`: `host:container[:perms]` strings or `{source, target, permissions}`.
static DEVICES: Node = list(&one_of(&[
    &STRING,
    &Node {
        required: &["source"],
        ..closed(&[
            ("source", &STRING),
            ("target", &STRING),
            ("permissions", &STRING),
        ])
    },
]));

/// `extends`: a service name, or `{service, file}`.
static EXTENDS: Node = one_of(&[
    &STRING,
    &Node {
        required: &["service"],
        ..strict(&[("service", &STRING), ("file", &STRING)])
    },
]);

/// `provider`: a service managed by an external component.
static PROVIDER: Node = Node {
    required: &["type"],
    ..closed(&[
        ("type", &STRING),
        (
            "options",
            &map_of(
                &[(
                    KeyPattern::NonEmpty,
                    &one_of(&[
                        &of(Types::STRING.or(Types::NUMBER).or(Types::BOOLEAN)),
                        &list(&of(Types::STRING.or(Types::NUMBER).or(Types::BOOLEAN))),
                    ]),
                )],
                false,
            ),
        ),
    ])
};

/// `logging`.
static LOGGING: Node = closed(&[
    ("driver", &STRING),
    (
        "options",
        &map_of(
            &[(
                KeyPattern::NonEmpty,
                &of(Types::STRING.or(Types::NUMBER).or(Types::NULL)),
            )],
            false,
        ),
    ),
]);

/// `models` of a service: names, or names with the variables to set.
static SERVICE_MODELS: Node = one_of(&[
    &LIST_OF_STRINGS,
    &map_of(
        &[(
            KeyPattern::Name,
            // compose-go's merge writes a list of names as a mapping to null.
            &Node {
                types: Types::OBJECT.or(Types::NULL),
                ..closed(&[("endpoint_var", &STRING), ("model_var", &STRING)])
            },
        )],
        false,
    ),
]);

/// `networks` of a service: names, or names with attachment options (or null).
static SERVICE_NETWORKS: Node = one_of(&[
    &LIST_OF_STRINGS,
    &map_of(
        &[(
            KeyPattern::Name,
            &one_of(&[
                &closed(&[
                    ("aliases", &LIST_OF_STRINGS),
                    ("interface_name", &STRING),
                    ("ipv4_address", &STRING),
                    ("ipv6_address", &STRING),
                    ("link_local_ips", &LIST_OF_STRINGS),
                    ("mac_address", &STRING),
                    ("driver_opts", &DRIVER_OPTS),
                    ("priority", &NUMBER),
                    ("gw_priority", &NUMBER),
                ]),
                &of(Types::NULL),
            ]),
        )],
        true,
    ),
]);

/// `ports`: numbers, `[ip:]published:target[/proto]` strings, or the long form.
static PORTS: Node = set(&one_of(&[
    &NUMBER,
    &STRING,
    &closed(&[
        ("name", &STRING),
        ("mode", &STRING),
        ("host_ip", &STRING),
        ("target", &INT_OR_STRING),
        ("published", &INT_OR_STRING),
        ("protocol", &STRING),
        ("app_protocol", &STRING),
    ]),
]));

/// The long form of a service volume.
static VOLUME_MOUNT: Node = Node {
    required: &["type"],
    ..closed(&[
        (
            "type",
            &string_enum(&["bind", "volume", "tmpfs", "cluster", "npipe", "image"]),
        ),
        ("source", &STRING),
        ("target", &STRING),
        ("read_only", &BOOL_OR_STRING),
        ("consistency", &STRING),
        (
            "bind",
            &closed(&[
                ("propagation", &STRING),
                ("create_host_path", &BOOL_OR_STRING),
                (
                    "recursive",
                    &string_enum(&["enabled", "disabled", "writable", "readonly"]),
                ),
                ("selinux", &string_enum(&["z", "Z"])),
            ]),
        ),
        (
            "volume",
            &closed(&[
                ("labels", &LIST_OR_DICT),
                ("nocopy", &BOOL_OR_STRING),
                ("subpath", &STRING),
            ]),
        ),
        (
            "tmpfs",
            &closed(&[
                ("size", &one_of(&[&integer_at_least(0), &STRING])),
                ("mode", &NUMBER_OR_STRING),
            ]),
        ),
        ("image", &closed(&[("subpath", &STRING)])),
    ])
};

/// `services.<name>`.
pub static SERVICE: Node = closed(&[
    ("develop", &DEVELOPMENT),
    ("deploy", &DEPLOYMENT),
    ("annotations", &LIST_OR_DICT),
    ("attach", &BOOL_OR_STRING),
    ("build", &one_of(&[&STRING, &BUILD_OBJECT])),
    ("blkio_config", &BLKIO_CONFIG),
    ("cap_add", &LIST_OF_STRINGS),
    ("cap_drop", &LIST_OF_STRINGS),
    ("cgroup", &string_enum(&["host", "private"])),
    ("cgroup_parent", &STRING),
    ("command", &COMMAND),
    ("configs", &SERVICE_CONFIG_OR_SECRET),
    (
        "container_name",
        &Node {
            pattern: Some(ValuePattern::ContainerName),
            ..STRING_NODE
        },
    ),
    ("cpu_count", &one_of(&[&STRING, &integer_at_least(0)])),
    (
        "cpu_percent",
        &one_of(&[
            &STRING,
            &Node {
                maximum: Some(100),
                ..integer_at_least(0)
            },
        ]),
    ),
    ("cpu_shares", &NUMBER_OR_STRING),
    ("cpu_quota", &NUMBER_OR_STRING),
    ("cpu_period", &NUMBER_OR_STRING),
    ("cpu_rt_period", &NUMBER_OR_STRING),
    ("cpu_rt_runtime", &NUMBER_OR_STRING),
    ("cpus", &NUMBER_OR_STRING),
    ("cpuset", &STRING),
    (
        "credential_spec",
        &closed(&[
            ("config", &STRING),
            ("file", &STRING),
            ("registry", &STRING),
        ]),
    ),
    ("depends_on", &DEPENDS_ON),
    ("device_cgroup_rules", &LIST_OF_STRINGS),
    ("devices", &DEVICES),
    ("dns", &STRING_OR_LIST),
    ("dns_opt", &LIST_OF_STRINGS),
    ("dns_search", &STRING_OR_LIST),
    ("domainname", &STRING),
    ("entrypoint", &COMMAND),
    ("env_file", &ENV_FILE),
    ("label_file", &LABEL_FILE),
    ("environment", &LIST_OR_DICT),
    ("expose", &set(&of(Types::STRING.or(Types::NUMBER)))),
    ("extends", &EXTENDS),
    ("provider", &PROVIDER),
    ("external_links", &LIST_OF_STRINGS),
    ("extra_hosts", &EXTRA_HOSTS),
    ("gpus", &GPUS),
    ("group_add", &set(&of(Types::STRING.or(Types::NUMBER)))),
    ("healthcheck", &HEALTHCHECK),
    ("hostname", &STRING),
    ("image", &STRING),
    ("init", &BOOL_OR_STRING),
    ("ipc", &STRING),
    ("isolation", &STRING),
    ("labels", &LIST_OR_DICT),
    ("links", &LIST_OF_STRINGS),
    ("logging", &LOGGING),
    ("mac_address", &STRING),
    ("mem_limit", &NUMBER_OR_STRING),
    ("mem_reservation", &INT_OR_STRING),
    ("mem_swappiness", &INT_OR_STRING),
    ("memswap_limit", &NUMBER_OR_STRING),
    ("network_mode", &STRING),
    ("models", &SERVICE_MODELS),
    ("networks", &SERVICE_NETWORKS),
    ("oom_kill_disable", &BOOL_OR_STRING),
    (
        "oom_score_adj",
        &one_of(&[
            &STRING,
            &Node {
                maximum: Some(1000),
                ..integer_at_least(-1000)
            },
        ]),
    ),
    ("pid", &STRING_OR_NULL),
    ("pids_limit", &NUMBER_OR_STRING),
    ("platform", &STRING),
    ("ports", &PORTS),
    ("post_start", &list(&SERVICE_HOOK)),
    ("pre_start", &list(&PRE_START_HOOK)),
    ("pre_stop", &list(&SERVICE_HOOK)),
    ("privileged", &BOOL_OR_STRING),
    ("profiles", &LIST_OF_STRINGS),
    (
        "pull_policy",
        &Node {
            pattern: Some(ValuePattern::PullPolicy),
            ..STRING_NODE
        },
    ),
    ("pull_refresh_after", &STRING),
    ("read_only", &BOOL_OR_STRING),
    ("restart", &STRING),
    ("runtime", &STRING),
    ("scale", &INT_OR_STRING),
    ("security_opt", &LIST_OF_STRINGS),
    ("shm_size", &NUMBER_OR_STRING),
    ("secrets", &SERVICE_CONFIG_OR_SECRET),
    ("sysctls", &LIST_OR_DICT),
    ("stdin_open", &BOOL_OR_STRING),
    ("stop_grace_period", &STRING),
    ("stop_signal", &STRING),
    ("storage_opt", &of(Types::OBJECT)),
    ("tmpfs", &STRING_OR_LIST),
    ("tty", &BOOL_OR_STRING),
    ("ulimits", &ULIMITS),
    ("use_api_socket", &BOOLEAN),
    ("user", &STRING),
    ("uts", &STRING),
    ("userns_mode", &STRING),
    ("volumes", &set(&one_of(&[&STRING, &VOLUME_MOUNT]))),
    ("volumes_from", &LIST_OF_STRINGS),
    ("working_dir", &STRING),
]);

/// A plain string node to refine with `..` (statics cannot be used that way).
const STRING_NODE: Node = of(Types::STRING);
