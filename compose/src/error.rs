//! Errors of the loader: one message that says what is wrong and where.

use std::fmt;
use std::sync::Arc;

/// A place in a source file (1-based line and column).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Location {
    /// The file, as the user named it (or `-` for stdin).
    pub file: Arc<str>,
    /// Line, from 1.
    pub line: usize,
    /// Column, from 1.
    pub column: usize,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}:{}", self.file, self.line, self.column)
    }
}

/// What kind of failure an [`Error`] is, for callers that react differently to them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The YAML text itself is malformed.
    Syntax,
    /// The document does not follow the compose schema.
    Schema,
    /// A `${...}` expression is malformed or a required variable is missing.
    Interpolation,
    /// The project refers to something it does not define, or contradicts itself.
    Consistency,
    /// A file could not be found or read.
    Io,
    /// Anything else that makes the project unusable (project name, extends, include, ...).
    Invalid,
}

/// A loader error. Its text starts with `file:line:col: ` when the place is known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Error {
    /// What kind of failure this is.
    pub kind: ErrorKind,
    /// What is wrong, in Compose's wording where Compose has one.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
}

impl Error {
    /// An error without a known place.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Error {
            kind,
            message: message.into(),
            location: None,
        }
    }

    /// The same error, placed at `location` unless it already has a place.
    pub fn at(mut self, location: Option<Location>) -> Self {
        if self.location.is_none() {
            self.location = location;
        }
        self
    }

    /// Shorthand for a schema error.
    pub fn schema(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Schema, message)
    }

    /// Shorthand for an error of the [`ErrorKind::Invalid`] kind.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error::new(ErrorKind::Invalid, message)
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

/// The loader's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Something worth telling the user that does not stop loading (an unset variable, an
/// obsolete or unsupported key, ...).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// The text shown to the user.
    pub message: String,
    /// Where, when known.
    pub location: Option<Location>,
}

impl fmt::Display for Warning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.location {
            Some(loc) => write!(f, "{loc}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}
