//! The vocabulary of the schema description: a small, static subset of JSON Schema that is
//! enough to express the Compose Specification (types, enums, patterns, bounds, objects with
//! named and pattern properties, arrays, `oneOf`/`anyOf`).

/// A set of JSON types a value may have. The empty set means "any type".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Types(u8);

impl Types {
    /// No constraint on the type.
    pub const ANY: Types = Types(0);
    /// `null`.
    pub const NULL: Types = Types(1);
    /// `true` / `false`.
    pub const BOOLEAN: Types = Types(1 << 1);
    /// Whole numbers (a float with no fraction counts too, as in JSON Schema).
    pub const INTEGER: Types = Types(1 << 2);
    /// Any number, integers included.
    pub const NUMBER: Types = Types(1 << 3);
    /// Strings.
    pub const STRING: Types = Types(1 << 4);
    /// Sequences.
    pub const ARRAY: Types = Types(1 << 5);
    /// Mappings.
    pub const OBJECT: Types = Types(1 << 6);

    /// The union of two sets.
    pub const fn or(self, other: Types) -> Types {
        Types(self.0 | other.0)
    }

    /// Whether `other` is part of this set.
    pub const fn contains(self, other: Types) -> bool {
        self.0 & other.0 == other.0
    }

    /// Whether this set constrains nothing.
    pub const fn is_any(self) -> bool {
        self.0 == 0
    }

    /// The JSON Schema names of the members, in declaration order.
    pub fn names(self) -> Vec<&'static str> {
        const ALL: [(Types, &str); 7] = [
            (Types::NULL, "null"),
            (Types::BOOLEAN, "boolean"),
            (Types::INTEGER, "integer"),
            (Types::NUMBER, "number"),
            (Types::STRING, "string"),
            (Types::ARRAY, "array"),
            (Types::OBJECT, "object"),
        ];
        ALL.iter()
            .filter(|(t, _)| self.contains(*t))
            .map(|(_, n)| *n)
            .collect()
    }
}

/// A pattern that mapping keys are matched against (`patternProperties`). The schema uses
/// only these few regular expressions, so they are spelled out rather than compiled.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPattern {
    /// `^x-`: extension keys.
    Extension,
    /// `^[a-zA-Z0-9._-]+$`: names of services, networks, volumes, ...
    Name,
    /// `^[a-z]+$`: ulimit names.
    Lowercase,
    /// `.+` / `^.+$`: any non-empty key.
    NonEmpty,
}

impl KeyPattern {
    /// Whether `key` matches the pattern.
    pub fn matches(self, key: &str) -> bool {
        match self {
            KeyPattern::Extension => key.starts_with("x-"),
            KeyPattern::Name => {
                !key.is_empty()
                    && key
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            }
            KeyPattern::Lowercase => !key.is_empty() && key.chars().all(|c| c.is_ascii_lowercase()),
            // Go's `.` does not match a newline, so a key made only of newlines fails.
            KeyPattern::NonEmpty => key.chars().any(|c| c != '\n'),
        }
    }
}

/// A pattern that string values are matched against (`pattern`). Like JSON Schema's, they
/// are not anchored: a match anywhere in the string is enough.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValuePattern {
    /// `[a-zA-Z0-9][a-zA-Z0-9_.-]+` (container names).
    ContainerName,
    /// `always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+`.
    PullPolicy,
}

impl ValuePattern {
    /// The regular expression as the specification writes it (for messages).
    pub fn source(self) -> &'static str {
        match self {
            ValuePattern::ContainerName => "[a-zA-Z0-9][a-zA-Z0-9_.-]+",
            ValuePattern::PullPolicy => {
                "always|never|build|if_not_present|missing|refresh|daily|weekly|every_([0-9]+[wdhms])+"
            }
        }
    }

    /// Whether `text` contains a match.
    pub fn matches(self, text: &str) -> bool {
        match self {
            ValuePattern::ContainerName => {
                text.as_bytes().windows(2).any(|pair| {
                    matches!(pair, [first, second]
                        if first.is_ascii_alphanumeric()
                            && (second.is_ascii_alphanumeric() || matches!(second, b'_' | b'.' | b'-')))
                })
            }
            ValuePattern::PullPolicy => {
                const WORDS: [&str; 8] = [
                    "always",
                    "never",
                    "build",
                    "if_not_present",
                    "missing",
                    "refresh",
                    "daily",
                    "weekly",
                ];
                WORDS.iter().any(|w| text.contains(w))
                    || text
                        .match_indices("every_")
                        .any(|(i, m)| starts_with_interval(text.get(i + m.len()..).unwrap_or("")))
            }
        }
    }
}

/// Whether `text` starts with `[0-9]+[wdhms]`.
fn starts_with_interval(text: &str) -> bool {
    let digits = text.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0
        && matches!(
            text.as_bytes().get(digits),
            Some(b'w' | b'd' | b'h' | b'm' | b's')
        )
}

/// One node of the schema: what a value at some place of a compose file may be.
///
/// Every constraint is optional; [`Node::ANY`] accepts everything. Constraints that apply
/// only to one type (properties to mappings, items to sequences, bounds to numbers, ...)
/// are ignored for values of other types, as in JSON Schema.
#[derive(Debug)]
pub struct Node {
    /// Allowed types (`type`).
    pub types: Types,
    /// Allowed string values (`enum`).
    pub enumeration: &'static [&'static str],
    /// A pattern string values must contain (`pattern`).
    pub pattern: Option<ValuePattern>,
    /// Inclusive lower bound for numbers (`minimum`).
    pub minimum: Option<i64>,
    /// Inclusive upper bound for numbers (`maximum`).
    pub maximum: Option<i64>,
    /// Named properties of a mapping (`properties`), in the specification's order.
    pub properties: &'static [(&'static str, &'static Node)],
    /// Properties whose names match a pattern (`patternProperties`).
    pub pattern_properties: &'static [(KeyPattern, &'static Node)],
    /// Whether keys matched by neither list are allowed (`additionalProperties`).
    pub additional_properties: bool,
    /// Keys a mapping must have (`required`).
    pub required: &'static [&'static str],
    /// The schema of every element of a sequence (`items`).
    pub items: Option<&'static Node>,
    /// Whether the elements of a sequence must be distinct (`uniqueItems`).
    pub unique_items: bool,
    /// Alternatives of which exactly one must match (`oneOf`).
    pub one_of: &'static [&'static Node],
    /// Alternatives of which at least one must match (`anyOf`).
    pub any_of: &'static [&'static Node],
}

/// The `^x-` pattern property, allowing extensions with any content.
pub const EXTENSIONS: &[(KeyPattern, &Node)] = &[(KeyPattern::Extension, &Node::ANY)];

impl Node {
    /// A node that accepts any value.
    pub const ANY: Node = Node {
        types: Types::ANY,
        enumeration: &[],
        pattern: None,
        minimum: None,
        maximum: None,
        properties: &[],
        pattern_properties: &[],
        additional_properties: true,
        required: &[],
        items: None,
        unique_items: false,
        one_of: &[],
        any_of: &[],
    };
}

/// A value of the given types, without further constraints.
pub const fn of(types: Types) -> Node {
    Node { types, ..Node::ANY }
}

/// A mapping with the given properties that also allows `x-` extensions and nothing else.
pub const fn closed(properties: &'static [(&'static str, &'static Node)]) -> Node {
    Node {
        types: Types::OBJECT,
        properties,
        pattern_properties: EXTENSIONS,
        additional_properties: false,
        ..Node::ANY
    }
}

/// A mapping with the given properties and nothing else, not even extensions.
pub const fn strict(properties: &'static [(&'static str, &'static Node)]) -> Node {
    Node {
        types: Types::OBJECT,
        properties,
        additional_properties: false,
        ..Node::ANY
    }
}

/// A mapping whose keys match one of `patterns`; other keys are refused when `closed`.
pub const fn map_of(patterns: &'static [(KeyPattern, &'static Node)], closed: bool) -> Node {
    Node {
        types: Types::OBJECT,
        pattern_properties: patterns,
        additional_properties: !closed,
        ..Node::ANY
    }
}

/// A sequence whose elements follow `item`.
pub const fn list(item: &'static Node) -> Node {
    Node {
        types: Types::ARRAY,
        items: Some(item),
        ..Node::ANY
    }
}

/// A sequence of distinct elements that follow `item`.
pub const fn set(item: &'static Node) -> Node {
    Node {
        types: Types::ARRAY,
        items: Some(item),
        unique_items: true,
        ..Node::ANY
    }
}

/// A value that must match exactly one of `alternatives`.
pub const fn one_of(alternatives: &'static [&'static Node]) -> Node {
    Node {
        one_of: alternatives,
        ..Node::ANY
    }
}

/// A string restricted to `values`.
pub const fn string_enum(values: &'static [&'static str]) -> Node {
    Node {
        types: Types::STRING,
        enumeration: values,
        ..Node::ANY
    }
}

/// An integer of at least `minimum`.
pub const fn integer_at_least(minimum: i64) -> Node {
    Node {
        types: Types::INTEGER,
        minimum: Some(minimum),
        ..Node::ANY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_patterns() {
        assert!(KeyPattern::Name.matches("web_1.a-b"));
        assert!(!KeyPattern::Name.matches("web 1"));
        assert!(!KeyPattern::Name.matches(""));
        assert!(KeyPattern::Extension.matches("x-foo"));
        assert!(KeyPattern::Lowercase.matches("nofile"));
        assert!(!KeyPattern::Lowercase.matches("NOFILE"));
        assert!(KeyPattern::NonEmpty.matches("a"));
        assert!(!KeyPattern::NonEmpty.matches(""));
    }

    #[test]
    fn value_patterns_match_anywhere() {
        assert!(ValuePattern::ContainerName.matches("my-app"));
        assert!(ValuePattern::ContainerName.matches("-ab"));
        assert!(!ValuePattern::ContainerName.matches("a"));
        assert!(!ValuePattern::ContainerName.matches("_-"));
        for policy in [
            "always",
            "if_not_present",
            "every_12h",
            "every_1w2d",
            "daily",
        ] {
            assert!(ValuePattern::PullPolicy.matches(policy), "{policy}");
        }
        assert!(!ValuePattern::PullPolicy.matches("every_h"));
        assert!(!ValuePattern::PullPolicy.matches("sometimes"));
    }

    #[test]
    fn integral_types_accept_whole_floats_only_where_numbers_are_integers() {
        assert!(Types::INTEGER.or(Types::STRING).contains(Types::STRING));
        assert!(!Types::INTEGER.contains(Types::NUMBER));
        assert!(Types::ANY.is_any());
        assert_eq!(
            Types::OBJECT.or(Types::NULL).names(),
            vec!["null", "object"]
        );
    }
}
