//! Definitions shared by several parts of the specification (`definitions` in
//! compose-spec.json): scalar shorthands, `list_or_dict`, `string_or_list`, `command`,
//! hooks, env/label files, ulimits, ...

use crate::schema::node::{KeyPattern, Node, Types, closed, list, map_of, of, one_of, set, strict};

/// `{"type": "string"}`.
pub static STRING: Node = of(Types::STRING);
/// `{"type": "boolean"}`.
pub static BOOLEAN: Node = of(Types::BOOLEAN);
/// `{"type": "integer"}`.
pub static INTEGER: Node = of(Types::INTEGER);
/// `{"type": "number"}`.
pub static NUMBER: Node = of(Types::NUMBER);
/// `{"type": ["boolean", "string"]}`: flags that may also come from a variable.
pub static BOOL_OR_STRING: Node = of(Types::BOOLEAN.or(Types::STRING));
/// `{"type": ["integer", "string"]}`.
pub static INT_OR_STRING: Node = of(Types::INTEGER.or(Types::STRING));
/// `{"type": ["number", "string"]}`.
pub static NUMBER_OR_STRING: Node = of(Types::NUMBER.or(Types::STRING));
/// `{"type": ["string", "null"]}`.
pub static STRING_OR_NULL: Node = of(Types::STRING.or(Types::NULL));
/// A list of strings without `uniqueItems`.
pub static STRINGS: Node = list(&STRING);

/// `list_of_strings`: distinct strings.
pub static LIST_OF_STRINGS: Node = set(&STRING);

/// `string_or_list`.
pub static STRING_OR_LIST: Node = one_of(&[&STRING, &LIST_OF_STRINGS]);

/// `list_or_dict`: a mapping of scalars, or a list of distinct `KEY=VALUE` strings.
pub static LIST_OR_DICT: Node = one_of(&[
    &map_of(
        &[(
            KeyPattern::NonEmpty,
            &of(Types::STRING
                .or(Types::NUMBER)
                .or(Types::BOOLEAN)
                .or(Types::NULL)),
        )],
        true,
    ),
    &LIST_OF_STRINGS,
]);

/// `extra_hosts`: a mapping of host names to one or several addresses, or `host:ip` strings.
pub static EXTRA_HOSTS: Node = one_of(&[
    &map_of(
        &[(KeyPattern::NonEmpty, &one_of(&[&STRING, &STRINGS]))],
        true,
    ),
    &LIST_OF_STRINGS,
]);

/// `command`: null, a shell string, or an exec list.
pub static COMMAND: Node = one_of(&[&of(Types::NULL), &STRING, &STRINGS]);

/// The properties of `service_hook`, shared with `pre_start` hooks.
const HOOK_PROPERTIES: &[(&str, &Node)] = &[
    ("command", &COMMAND),
    ("user", &STRING),
    ("privileged", &BOOL_OR_STRING),
    ("working_dir", &STRING),
    ("environment", &LIST_OR_DICT),
];

/// `service_hook`: `post_start` / `pre_stop` entries and the `exec` of a watch rule.
pub static SERVICE_HOOK: Node = Node {
    required: &["command"],
    ..closed(HOOK_PROPERTIES)
};

/// A `pre_start` hook: a service hook run in a container of its own, which may use another
/// image and entrypoint (compose-go 2.13 accepts `image`; the normalizer fills it from the
/// service) and may run once per replica (`per_replica`).
pub static PRE_START_HOOK: Node = Node {
    required: &["command"],
    ..closed(&[
        ("command", &COMMAND),
        ("entrypoint", &COMMAND),
        ("image", &STRING),
        ("per_replica", &BOOL_OR_STRING),
        ("user", &STRING),
        ("privileged", &BOOL_OR_STRING),
        ("working_dir", &STRING),
        ("environment", &LIST_OR_DICT),
    ])
};

/// `env_file`: one path, or a list of paths and `{path, format, required}` entries.
pub static ENV_FILE: Node = one_of(&[
    &STRING,
    &list(&one_of(&[
        &STRING,
        &Node {
            required: &["path"],
            ..strict(&[
                ("path", &STRING),
                ("format", &STRING),
                ("required", &BOOL_OR_STRING),
            ])
        },
    ])),
]);

/// `label_file`: one path or a list of paths.
pub static LABEL_FILE: Node = one_of(&[&STRING, &STRINGS]);

/// `driver_opts`: string or number options.
pub static DRIVER_OPTS: Node = map_of(
    &[(KeyPattern::NonEmpty, &of(Types::STRING.or(Types::NUMBER)))],
    false,
);

/// A mapping of non-empty keys to strings, nothing else.
pub static STRING_MAP: Node = map_of(&[(KeyPattern::NonEmpty, &STRING)], true);

/// `blkio_limit`.
pub static BLKIO_LIMIT: Node = strict(&[("path", &STRING), ("rate", &INT_OR_STRING)]);

/// `blkio_weight`.
pub static BLKIO_WEIGHT: Node = strict(&[("path", &STRING), ("weight", &INT_OR_STRING)]);

/// `service_config_or_secret`: names or `{source, target, uid, gid, mode}` entries.
pub static SERVICE_CONFIG_OR_SECRET: Node = list(&one_of(&[
    &STRING,
    &closed(&[
        ("source", &STRING),
        ("target", &STRING),
        ("uid", &STRING),
        ("gid", &STRING),
        ("mode", &NUMBER_OR_STRING),
    ]),
]));

/// `ulimits`: one value for both limits, or `{soft, hard}`.
pub static ULIMITS: Node = map_of(
    &[(
        KeyPattern::Lowercase,
        &one_of(&[
            &INT_OR_STRING,
            &Node {
                required: &["soft", "hard"],
                ..closed(&[("hard", &INT_OR_STRING), ("soft", &INT_OR_STRING)])
            },
        ]),
    )],
    false,
);
