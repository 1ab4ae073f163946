//! The Compose Specification's schema (compose-spec.json as bundled with compose-go),
//! described with the vocabulary of [`crate::schema::node`]: the top level, `include`,
//! `services`, `networks`, `volumes`, `secrets`, `configs` and `models`.

pub mod common;
pub mod deploy;
pub mod service;

use crate::schema::node::{
    EXTENSIONS, KeyPattern, Node, Types, closed, list, map_of, one_of, strict,
};
use common::{
    BOOL_OR_STRING, DRIVER_OPTS, INTEGER, LIST_OR_DICT, STRING, STRING_MAP, STRING_OR_LIST, STRINGS,
};
use service::SERVICE;

/// An `include` entry: a path, or `{path, env_file, project_directory}`.
static INCLUDE: Node = one_of(&[
    &STRING,
    &strict(&[
        ("path", &STRING_OR_LIST),
        ("env_file", &STRING_OR_LIST),
        ("project_directory", &STRING),
    ]),
]);

/// `external` of networks and volumes: a flag, or the deprecated `{name}`.
static EXTERNAL_CLOSED: Node = Node {
    types: Types::BOOLEAN.or(Types::STRING).or(Types::OBJECT),
    ..closed(&[("name", &STRING)])
};

/// `external` of secrets and configs, whose object form the specification leaves open.
static EXTERNAL_OPEN: Node = Node {
    types: Types::BOOLEAN.or(Types::STRING).or(Types::OBJECT),
    properties: &[("name", &STRING)],
    ..Node::ANY
};

/// `networks.<name>.ipam`.
static IPAM: Node = closed(&[
    ("driver", &STRING),
    (
        "config",
        &list(&closed(&[
            ("subnet", &STRING),
            ("ip_range", &STRING),
            ("gateway", &STRING),
            ("aux_addresses", &STRING_MAP),
        ])),
    ),
    ("options", &STRING_MAP),
]);

/// `networks.<name>`.
pub static NETWORK: Node = Node {
    types: Types::OBJECT.or(Types::NULL),
    ..closed(&[
        ("name", &STRING),
        ("driver", &STRING),
        ("driver_opts", &DRIVER_OPTS),
        ("ipam", &IPAM),
        ("external", &EXTERNAL_CLOSED),
        ("internal", &BOOL_OR_STRING),
        ("enable_ipv4", &BOOL_OR_STRING),
        ("enable_ipv6", &BOOL_OR_STRING),
        ("attachable", &BOOL_OR_STRING),
        ("labels", &LIST_OR_DICT),
    ])
};

/// `volumes.<name>`.
pub static VOLUME: Node = Node {
    types: Types::OBJECT.or(Types::NULL),
    ..closed(&[
        ("name", &STRING),
        ("driver", &STRING),
        ("driver_opts", &DRIVER_OPTS),
        ("external", &EXTERNAL_CLOSED),
        ("labels", &LIST_OR_DICT),
    ])
};

/// `secrets.<name>`.
pub static SECRET: Node = closed(&[
    ("name", &STRING),
    ("environment", &STRING),
    ("file", &STRING),
    ("external", &EXTERNAL_OPEN),
    ("labels", &LIST_OR_DICT),
    ("driver", &STRING),
    ("driver_opts", &DRIVER_OPTS),
    ("template_driver", &STRING),
]);

/// `configs.<name>`.
pub static CONFIG: Node = closed(&[
    ("name", &STRING),
    ("content", &STRING),
    ("environment", &STRING),
    ("file", &STRING),
    ("external", &EXTERNAL_OPEN),
    ("labels", &LIST_OR_DICT),
    ("template_driver", &STRING),
]);

/// `models.<name>`.
pub static MODEL: Node = Node {
    required: &["model"],
    ..closed(&[
        ("name", &STRING),
        ("model", &STRING),
        ("context_size", &INTEGER),
        ("runtime_flags", &STRINGS),
    ])
};

/// The whole document.
pub static COMPOSE_FILE: Node = Node {
    types: Types::OBJECT,
    properties: &[
        ("version", &STRING),
        ("name", &STRING),
        ("include", &list(&INCLUDE)),
        ("services", &map_of(&[(KeyPattern::Name, &SERVICE)], true)),
        ("models", &map_of(&[(KeyPattern::Name, &MODEL)], false)),
        ("networks", &map_of(&[(KeyPattern::Name, &NETWORK)], false)),
        ("volumes", &map_of(&[(KeyPattern::Name, &VOLUME)], true)),
        ("secrets", &map_of(&[(KeyPattern::Name, &SECRET)], true)),
        ("configs", &map_of(&[(KeyPattern::Name, &CONFIG)], true)),
    ],
    pattern_properties: EXTENSIONS,
    additional_properties: false,
    ..Node::ANY
};
