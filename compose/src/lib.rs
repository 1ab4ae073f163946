//! berth-compose: loads Compose projects the way Docker Compose does.
//!
//! Pure: it reads files and the environment it is given, and never touches the system
//! otherwise. Stages work on [`Value`] trees in compose-go's order (parse, interpolate,
//! validate, merge, canonical form, paths, normalize, profiles, consistency); the result is
//! read into the typed [`model`].

pub mod canonical;
pub mod consistency;
pub mod dotenv;
pub mod error;
pub mod graph;
pub mod hash;
pub mod interpolate;
pub mod loader;
pub mod merge;
pub mod model;
pub mod normalize;
pub mod paths;
pub mod profiles;
pub mod schema;
pub mod units;
pub mod value;
pub mod yaml;

pub use error::{Error, ErrorKind, Location, Result, Warning};
pub use loader::{LoadOptions, LoadedProject, RawModel, load, load_raw_model};
pub use value::{Map, Path, Seg, Value};
