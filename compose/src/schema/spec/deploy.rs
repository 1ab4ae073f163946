//! `deploy`, `develop`, `healthcheck` and device requests (`devices` of reservations, `gpus`).

use super::common::{
    BOOL_OR_STRING, INT_OR_STRING, LIST_OF_STRINGS, LIST_OR_DICT, NUMBER_OR_STRING, SERVICE_HOOK,
    STRING, STRING_OR_LIST, STRINGS,
};
use crate::schema::node::{Node, Types, closed, list, one_of, string_enum};

/// `healthcheck`.
pub static HEALTHCHECK: Node = closed(&[
    ("disable", &BOOL_OR_STRING),
    ("interval", &STRING),
    ("retries", &NUMBER_OR_STRING),
    ("test", &one_of(&[&STRING, &STRINGS])),
    ("timeout", &STRING),
    ("start_period", &STRING),
    ("start_interval", &STRING),
]);

/// One `develop.watch` rule.
static WATCH_RULE: Node = Node {
    required: &["path", "action"],
    ..closed(&[
        ("ignore", &STRING_OR_LIST),
        ("include", &STRING_OR_LIST),
        ("path", &STRING),
        (
            "action",
            &string_enum(&["rebuild", "sync", "restart", "sync+restart", "sync+exec"]),
        ),
        ("target", &STRING),
        ("exec", &SERVICE_HOOK),
    ])
};

/// `develop` (`development`).
pub static DEVELOPMENT: Node = Node {
    types: Types::OBJECT.or(Types::NULL),
    ..closed(&[("watch", &list(&WATCH_RULE))])
};

/// `update_config` and `rollback_config` share their shape.
static UPDATE_CONFIG: Node = closed(&[
    ("parallelism", &INT_OR_STRING),
    ("delay", &STRING),
    ("failure_action", &STRING),
    ("monitor", &STRING),
    ("max_failure_ratio", &NUMBER_OR_STRING),
    ("order", &string_enum(&["start-first", "stop-first"])),
]);

/// `generic_resources`.
static GENERIC_RESOURCES: Node = list(&closed(&[(
    "discrete_resource_spec",
    &closed(&[("kind", &STRING), ("value", &NUMBER_OR_STRING)]),
)]));

/// The properties of a device request, shared by reservations' `devices` and `gpus`.
const DEVICE_REQUEST: &[(&str, &Node)] = &[
    ("capabilities", &LIST_OF_STRINGS),
    ("count", &INT_OR_STRING),
    ("device_ids", &LIST_OF_STRINGS),
    ("driver", &STRING),
    ("options", &LIST_OR_DICT),
];

/// `devices` under `deploy.resources.reservations`: each request names capabilities or a
/// driver. compose-spec writes this as a `oneOf` of two `required` lists, but compose-go
/// accepts requests with both (its own tests set `driver` and `capabilities` together), so
/// it is an `anyOf` here.
pub static DEVICES: Node = list(&Node {
    any_of: &[
        &Node {
            required: &["capabilities"],
            ..Node::ANY
        },
        &Node {
            required: &["driver"],
            ..Node::ANY
        },
    ],
    ..closed(DEVICE_REQUEST)
});

/// `gpus`: `all`, or a list of device requests. The specification leaves these requests
/// open (its `additionalProperties` sits on the list, where it has no effect).
pub static GPUS: Node = one_of(&[
    &string_enum(&["all"]),
    &list(&Node {
        types: Types::OBJECT,
        properties: DEVICE_REQUEST,
        ..Node::ANY
    }),
]);

/// `deploy.resources`.
static RESOURCES: Node = closed(&[
    (
        "limits",
        &closed(&[
            ("cpus", &NUMBER_OR_STRING),
            ("memory", &STRING),
            ("pids", &INT_OR_STRING),
        ]),
    ),
    (
        "reservations",
        &closed(&[
            ("cpus", &NUMBER_OR_STRING),
            ("memory", &STRING),
            ("generic_resources", &GENERIC_RESOURCES),
            ("devices", &DEVICES),
        ]),
    ),
]);

/// `deploy` (`deployment`).
pub static DEPLOYMENT: Node = Node {
    types: Types::OBJECT.or(Types::NULL),
    ..closed(&[
        ("mode", &STRING),
        ("endpoint_mode", &STRING),
        ("replicas", &INT_OR_STRING),
        ("labels", &LIST_OR_DICT),
        ("rollback_config", &UPDATE_CONFIG),
        ("update_config", &UPDATE_CONFIG),
        ("resources", &RESOURCES),
        (
            "restart_policy",
            &closed(&[
                ("condition", &STRING),
                ("delay", &STRING),
                ("max_attempts", &INT_OR_STRING),
                ("window", &STRING),
            ]),
        ),
        (
            "placement",
            &closed(&[
                ("constraints", &STRINGS),
                ("preferences", &list(&closed(&[("spread", &STRING)]))),
                ("max_replicas_per_node", &INT_OR_STRING),
            ]),
        ),
    ])
};
