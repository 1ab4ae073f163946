//! berth-compose: loads Compose projects the way Docker Compose does.
//!
//! Pure: it reads files and the environment it is given, and never touches the system
//! otherwise. Stages work on [`Value`] trees (parse, interpolate, merge, normalize,
//! validate); the result is read into the typed model.

pub mod dotenv;
pub mod error;
pub mod interpolate;
pub mod units;
pub mod value;
pub mod yaml;

pub use error::{Error, ErrorKind, Location, Result, Warning};
pub use value::{Map, Path, Seg, Value};
