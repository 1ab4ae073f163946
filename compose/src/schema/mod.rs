//! Schema validation of one compose file, as compose-go does it before merging files.
//!
//! The Compose Specification's JSON schema is described in Rust in [`spec`] (with the small
//! vocabulary of [`node`]); [`walk`] checks a tree against it and words the first violation
//! as compose-go does (`services.foo.image must be a string`, `additional properties 'x' not
//! allowed`, ...), adding what an unknown key was probably meant to be. [`semantic`] holds the
//! checks compose-go makes right after the schema.

pub mod node;
pub mod semantic;
pub mod spec;
pub mod suggest;
pub mod walk;

use crate::error::{Error, Result, Warning};
use crate::value::{Path, Value};
use crate::yaml::Positions;

/// Validates one file's interpolated tree (before it is merged with other files).
///
/// Returns the warnings (the obsolete `version` attribute, the deprecated `external.name`),
/// or the first violation in document order as an [`ErrorKind::Schema`](crate::ErrorKind)
/// error placed at the offending node (for an unknown key, at that key).
pub fn validate(tree: &Value, positions: &Positions) -> Result<Vec<Warning>> {
    if !matches!(tree, Value::Map(_)) {
        return Err(
            Error::schema("top-level object must be a mapping").at(positions.find(&Path::root()))
        );
    }
    walk::check(&spec::COMPOSE_FILE, tree, &Path::root()).map_err(|failure| {
        let at = failure.location_path();
        let loc = if failure.is_about_key() {
            positions.find_key(&at)
        } else {
            positions.find(&at)
        };
        Error::schema(failure.message()).at(loc)
    })?;
    let mut warnings = Vec::new();
    if tree.get("version").is_some() {
        warnings.push(Warning {
            message: "the attribute `version` is obsolete, it will be ignored, please remove it \
                      to avoid potential confusion"
                .to_string(),
            location: positions.find(&Path::root().key("version")),
        });
    }
    warnings.extend(semantic::check_file(tree, positions)?);
    Ok(warnings)
}

/// The checks compose-go makes once all files are merged, before the project is read
/// (`external` volumes with other settings, configs and secrets with no or several sources,
/// invalid `host_ip`, blank watch paths). [`validate`] already makes those that cannot
/// depend on other files; the source of configs and secrets is only known here. Unlike the
/// consistency check they are not switched off by `--no-consistency`.
pub fn validate_merged(tree: &Value, positions: &Positions) -> Result<()> {
    semantic::check_merged(tree, positions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn error_of(text: &str) -> Error {
        let doc = yaml::parse(text, "compose.yaml")
            .expect("test YAML parses")
            .remove(0);
        validate(&doc.value, &doc.positions).expect_err("must be rejected")
    }

    #[test]
    fn type_messages_use_compose_wording() {
        let e = error_of("services:\n  foo:\n    image: [a]\n");
        assert_eq!(e.message, "services.foo.image must be a string");
        assert_eq!(
            e.to_string(),
            "compose.yaml:3:12: services.foo.image must be a string"
        );
        let e = error_of("services:\n  foo:\n    environment:\n      FOO: [a]\n");
        assert_eq!(
            e.message,
            "services.foo.environment.FOO must be a boolean, null, number or string"
        );
        let e = error_of("networks:\n  default: bridge\n");
        assert_eq!(e.message, "networks.default must be a mapping or null");
        let e = error_of("services: []\n");
        assert_eq!(e.message, "services must be a mapping");
        let e = error_of("- a\n");
        assert_eq!(e.message, "top-level object must be a mapping");
        let e = error_of("services:\n  foo:\n    cpu_percent: 101\n");
        assert_eq!(
            e.message,
            "services.foo.cpu_percent must be less than or equal to 100"
        );
    }

    #[test]
    fn unknown_keys_get_a_suggestion_and_the_key_position() {
        let e = error_of("services:\n  foo:\n    image: a\n    imgae: b\n");
        assert_eq!(
            e.message,
            "services.foo additional properties 'imgae' not allowed (did you mean 'image'?)"
        );
        assert_eq!(e.location.map(|l| l.line), Some(4));
        let e = error_of("servics:\n  foo: {}\n");
        assert_eq!(
            e.message,
            "additional properties 'servics' not allowed (did you mean 'services'?)"
        );
        let e = error_of("services:\n  foo:\n    bogus: 1\n");
        assert_eq!(
            e.message,
            "services.foo additional properties 'bogus' not allowed"
        );
    }

    #[test]
    fn enum_required_and_duplicates() {
        let e = error_of("services:\n  foo:\n    pull_policy: sometimes\n");
        assert!(
            e.message.contains("does not match pattern"),
            "{}",
            e.message
        );
        let e = error_of("services:\n  foo:\n    cgroup: shared\n");
        assert_eq!(
            e.message,
            "services.foo.cgroup value must be one of 'host', 'private'"
        );
        let e = error_of("services:\n  foo:\n    develop:\n      watch:\n        - path: a\n");
        assert_eq!(
            e.message,
            "services.foo.develop.watch.0 missing property 'action'"
        );
        let e = error_of("services:\n  foo:\n    cap_add: [A, A]\n");
        assert_eq!(e.message, "services.foo.cap_add items at 0 and 1 are equal");
    }

    #[test]
    fn extensions_are_allowed_where_the_schema_allows_them() {
        let doc = yaml::parse(
            "x-top: 1\nservices:\n  foo:\n    x-svc: {a: 1}\n    image: a\n    build:\n      x-b: 1\n",
            "c.yaml",
        )
        .expect("parses")
        .remove(0);
        assert_eq!(validate(&doc.value, &doc.positions), Ok(vec![]));
        let e = error_of("services:\n  foo:\n    blkio_config:\n      x-no: 1\n");
        assert_eq!(
            e.message,
            "services.foo.blkio_config additional properties 'x-no' not allowed"
        );
    }

    #[test]
    fn version_is_reported_as_obsolete() {
        let doc = yaml::parse("version: '3'\nservices: {}\n", "c.yaml")
            .expect("parses")
            .remove(0);
        let warnings = validate(&doc.value, &doc.positions).expect("valid");
        assert_eq!(warnings.len(), 1);
        assert!(
            warnings[0]
                .message
                .starts_with("the attribute `version` is obsolete")
        );
    }
}
