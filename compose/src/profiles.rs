//! Profiles: which services of a project are enabled.
//!
//! A service without `profiles` is always enabled; one with profiles only when one of them is
//! active (`*` activates all). A service named on the command line activates its own profiles,
//! as Docker Compose does, which also enables the other services of those profiles; its
//! dependencies in other profiles are not enabled for it, and a required dependency on a
//! disabled service is an error that says which profiles would enable it.

use crate::error::{Error, ErrorKind, Result};
use crate::value::{Map, Value};
use std::collections::BTreeSet;

/// Disables the services of `tree` that no active profile enables, and returns them.
///
/// `active` are the profiles given with `--profile` / `COMPOSE_PROFILES`; `explicit_services`
/// are the services named on the command line, whose profiles are activated as well.
/// Disabled services are removed from `services` and returned as a mapping (name -> service)
/// so that callers can still list them and their profiles. Dependencies of enabled services
/// on disabled ones are removed when `required: false`, and are an error otherwise.
///
/// Call it on the normalized tree, so that dependencies implied by `links`, `volumes_from` and
/// `service:` references are checked too.
pub fn apply_profiles(
    tree: &mut Value,
    active: &[String],
    explicit_services: &[String],
) -> Result<Value> {
    let Some(services) = tree
        .as_map_mut()
        .and_then(|project| project.get_mut("services"))
        .and_then(Value::as_map_mut)
    else {
        return Ok(Value::Map(Map::new()));
    };

    let mut active: BTreeSet<String> = active.iter().cloned().collect();
    for name in explicit_services {
        let Some(service) = services.get(name) else {
            return Err(Error::new(
                ErrorKind::Consistency,
                format!("no such service: {name}"),
            ));
        };
        active.extend(service_profiles(service));
    }

    let all = std::mem::take(services);
    let mut disabled = Map::new();
    for (name, service) in all {
        if is_enabled(&service, &active) {
            services.insert(name, service);
        } else {
            disabled.insert(name, service);
        }
    }

    for (name, service) in services.iter_mut() {
        drop_disabled_dependencies(name, service, &disabled)?;
    }
    Ok(Value::Map(disabled))
}

/// Every profile named by a service of the project, sorted, each once.
pub fn all_profiles(tree: &Value) -> Vec<String> {
    let profiles: BTreeSet<String> = tree
        .get("services")
        .and_then(Value::as_map)
        .into_iter()
        .flat_map(|services| services.values())
        .flat_map(service_profiles)
        .collect();
    profiles.into_iter().collect()
}

/// The profiles of one service (a single string counts as a one-element list).
fn service_profiles(service: &Value) -> Vec<String> {
    match service.get("profiles") {
        Some(Value::Seq(items)) => items.iter().filter_map(Value::scalar_to_string).collect(),
        Some(single) => single.scalar_to_string().into_iter().collect(),
        None => Vec::new(),
    }
}

/// Whether a service is enabled by the active profiles (compose-go's `HasProfile`).
fn is_enabled(service: &Value, active: &BTreeSet<String>) -> bool {
    let profiles = service_profiles(service);
    profiles.is_empty()
        || active.contains("*")
        || profiles.iter().any(|profile| active.contains(profile))
}

/// Removes the optional dependencies of an enabled service on disabled services, and fails on
/// a required one.
fn drop_disabled_dependencies(name: &str, service: &mut Value, disabled: &Map) -> Result<()> {
    let Some(service) = service.as_map_mut() else {
        return Ok(());
    };
    let Some(depends_on) = service.get_mut("depends_on") else {
        return Ok(());
    };
    match depends_on {
        Value::Map(dependencies) => {
            for (dependency, config) in dependencies.iter() {
                if let Some(target) = disabled.get(dependency)
                    && is_required(config)
                {
                    return Err(required_but_disabled(dependency, name, target));
                }
            }
            dependencies.retain(|dependency, _| !disabled.contains_key(dependency));
            if dependencies.is_empty() {
                service.shift_remove("depends_on");
            }
        }
        // The short form: every entry is required.
        Value::Seq(dependencies) => {
            for dependency in dependencies.iter().filter_map(Value::as_str) {
                if let Some(target) = disabled.get(dependency) {
                    return Err(required_but_disabled(dependency, name, target));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// Whether a long-form dependency is required (`required` defaults to true).
fn is_required(config: &Value) -> bool {
    match config.get("required") {
        Some(Value::Bool(required)) => *required,
        Some(Value::String(text)) => text != "false",
        _ => true,
    }
}

/// Docker Compose's message for a required dependency on a disabled service; the profiles are
/// printed the way Go prints a list of strings.
fn required_but_disabled(dependency: &str, dependent: &str, target: &Value) -> Error {
    Error::new(
        ErrorKind::Consistency,
        format!(
            "service {dependency:?} is required by {dependent:?} but is disabled. \
             Can be enabled by profiles [{}]",
            service_profiles(target).join(" ")
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::yaml;

    fn tree(text: &str) -> Value {
        yaml::parse(text, "compose.yaml")
            .expect("test YAML parses")
            .remove(0)
            .value
    }

    fn names(value: &Value) -> Vec<String> {
        value
            .as_map()
            .map(|m| m.keys().cloned().collect())
            .unwrap_or_default()
    }

    fn at<'a>(value: &'a Value, path: &[&str]) -> &'a Value {
        path.iter().fold(value, |v, key| {
            v.get(key).expect("path exists in test tree")
        })
    }

    fn strings(items: &[&str]) -> Vec<String> {
        items.iter().map(|s| s.to_string()).collect()
    }

    /// The example of the Compose specification's profiles page.
    const SPEC_EXAMPLE: &str = "
services:
  web:
    image: web_image
  test_lib:
    image: test_lib_image
    profiles: [test]
  coverage_lib:
    image: coverage_lib_image
    depends_on: [test_lib]
    profiles: [test]
  debug_lib:
    image: debug_lib_image
    depends_on: [test_lib]
    profiles: [debug]
";

    #[test]
    fn services_without_profiles_are_always_enabled() {
        let mut project = tree(SPEC_EXAMPLE);
        let disabled = apply_profiles(&mut project, &[], &[]).unwrap();
        assert_eq!(names(at(&project, &["services"])), ["web"]);
        assert_eq!(names(&disabled), ["test_lib", "coverage_lib", "debug_lib"]);
    }

    #[test]
    fn an_active_profile_enables_its_services() {
        let mut project = tree(SPEC_EXAMPLE);
        let disabled = apply_profiles(&mut project, &strings(&["test"]), &[]).unwrap();
        assert_eq!(
            names(at(&project, &["services"])),
            ["web", "test_lib", "coverage_lib"]
        );
        assert_eq!(names(&disabled), ["debug_lib"]);
    }

    #[test]
    fn star_enables_everything() {
        let mut project = tree(SPEC_EXAMPLE);
        let disabled = apply_profiles(&mut project, &strings(&["*"]), &[]).unwrap();
        assert_eq!(names(at(&project, &["services"])).len(), 4);
        assert!(names(&disabled).is_empty());
    }

    #[test]
    fn a_required_dependency_on_a_disabled_service_names_its_profiles() {
        let mut project = tree(SPEC_EXAMPLE);
        let err = apply_profiles(&mut project, &strings(&["debug"]), &[]).unwrap_err();
        assert_eq!(
            err.message,
            "service \"test_lib\" is required by \"debug_lib\" but is disabled. \
             Can be enabled by profiles [test]"
        );
    }

    #[test]
    fn a_targeted_service_activates_its_profiles() {
        let mut project = tree(SPEC_EXAMPLE);
        let disabled = apply_profiles(&mut project, &[], &strings(&["coverage_lib"])).unwrap();
        // coverage_lib activates `test`, which also enables its dependency test_lib.
        assert_eq!(
            names(at(&project, &["services"])),
            ["web", "test_lib", "coverage_lib"]
        );
        assert_eq!(names(&disabled), ["debug_lib"]);
    }

    #[test]
    fn a_targeted_service_does_not_enable_dependencies_of_other_profiles() {
        let mut project = tree(SPEC_EXAMPLE);
        let err = apply_profiles(&mut project, &[], &strings(&["debug_lib"])).unwrap_err();
        assert!(
            err.message
                .contains("\"test_lib\" is required by \"debug_lib\"")
        );
    }

    #[test]
    fn an_unknown_targeted_service_is_an_error() {
        let mut project = tree(SPEC_EXAMPLE);
        let err = apply_profiles(&mut project, &[], &strings(&["nope"])).unwrap_err();
        assert_eq!(err.message, "no such service: nope");
    }

    #[test]
    fn optional_dependencies_on_disabled_services_are_dropped() {
        let mut project = tree(
            "
services:
  app:
    image: app
    depends_on:
      db: {condition: service_started, required: true}
      debug: {condition: service_started, required: false}
  db:
    image: db
  debug:
    image: debug
    profiles: [debug, tools]
",
        );
        let disabled = apply_profiles(&mut project, &[], &[]).unwrap();
        assert_eq!(names(&disabled), ["debug"]);
        assert_eq!(
            names(at(&project, &["services", "app", "depends_on"])),
            ["db"]
        );
    }

    #[test]
    fn the_message_lists_every_profile_of_the_disabled_service() {
        let mut project = tree(
            "
services:
  app:
    image: app
    depends_on:
      debug: {condition: service_started}
  debug:
    image: debug
    profiles: [debug, tools]
",
        );
        let err = apply_profiles(&mut project, &[], &[]).unwrap_err();
        assert!(
            err.message
                .ends_with("Can be enabled by profiles [debug tools]"),
            "{}",
            err.message
        );
    }

    #[test]
    fn all_profiles_are_sorted_and_unique() {
        let project = tree(
            "
services:
  a: {image: a, profiles: [zeta, alpha]}
  b: {image: b, profiles: [alpha, mid]}
  c: {image: c}
",
        );
        assert_eq!(all_profiles(&project), ["alpha", "mid", "zeta"]);
    }
}
