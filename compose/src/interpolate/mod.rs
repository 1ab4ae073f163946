//! Variable interpolation of compose files: `${VAR}` and friends in every string value.
//!
//! [`substitute`] handles one string; [`interpolate`] a whole tree (values only, never keys),
//! then casts strings at typed paths so that `replicas: ${N}` validates as an integer.
//! [`extract_variables`] lists what a tree refers to.

mod cast;
mod scan;
mod template;
mod variables;

pub(crate) use template::go_quote;
pub use template::{Substitution, TemplateError, substitute};
pub use variables::{Variable, extract_variables};

use crate::error::{Error, ErrorKind, Location, Warning};
use crate::value::{Path, Value};
use crate::yaml::Positions;
use cast::Casted;
use indexmap::IndexMap;

/// Substitutes every string value of `tree` in place, looking variables up with `lookup`.
///
/// Returns one warning per variable that was used without a default while unset (at its first
/// use), plus warnings for YAML 1.1 boolean words at boolean paths. Fails on the first
/// malformed expression or missing required variable, with compose-go's model-level message
/// and the place of the string.
pub fn interpolate(
    tree: &mut Value,
    lookup: &dyn Fn(&str) -> Option<String>,
    positions: &Positions,
) -> Result<Vec<Warning>, Error> {
    let mut walk = Walk {
        lookup,
        positions,
        unset: IndexMap::new(),
        warnings: Vec::new(),
    };
    walk.value(tree, &Path::root())?;
    let mut warnings: Vec<Warning> = walk
        .unset
        .into_iter()
        .map(|(name, location)| Warning {
            message: format!("The \"{name}\" variable is not set. Defaulting to a blank string."),
            location,
        })
        .collect();
    warnings.extend(walk.warnings);
    Ok(warnings)
}

struct Walk<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    positions: &'a Positions,
    /// Unset variables, each with the place of its first use.
    unset: IndexMap<String, Option<Location>>,
    warnings: Vec<Warning>,
}

impl Walk<'_> {
    fn value(&mut self, value: &mut Value, path: &Path) -> Result<(), Error> {
        match value {
            Value::String(text) => {
                if let Some(new) = self.string(text, path)? {
                    *value = new;
                }
            }
            Value::Seq(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    self.value(item, &path.index(i))?;
                }
            }
            Value::Map(map) => {
                for (key, item) in map.iter_mut() {
                    self.value(item, &path.key(key))?;
                }
            }
            Value::Null | Value::Bool(_) | Value::Int(_) | Value::Float(_) => {}
        }
        Ok(())
    }

    /// Substitutes one string; returns its replacement when it changes.
    fn string(&mut self, text: &str, path: &Path) -> Result<Option<Value>, Error> {
        let substituted = substitute(text, self.lookup).map_err(|e| {
            let message = match e {
                TemplateError::Invalid { template } => format!(
                    "invalid interpolation format for {path}.\nYou may need to escape any $ with another $.\n{template}"
                ),
                other => format!("error while interpolating {path}: {other}"),
            };
            Error::new(ErrorKind::Interpolation, message).at(self.positions.find(path))
        })?;
        for name in substituted.unset {
            if !self.unset.contains_key(&name) {
                let location = self.positions.find(path);
                self.unset.insert(name, location);
            }
        }
        let value = substituted.value;
        Ok(match cast::cast(path, &value) {
            Casted::Value(v) => Some(v),
            Casted::Deprecated(v, message) => {
                self.warnings.push(Warning {
                    message,
                    location: self.positions.find(path),
                });
                Some(v)
            }
            Casted::Unchanged if value != text => Some(Value::String(value)),
            Casted::Unchanged => None,
        })
    }
}
