//! Container images: how they are named ([`reference`](mod@reference)), how their content
//! is addressed ([`digest`]) and how their layers become directories ([`unpack`]).

pub mod digest;
pub mod reference;
pub mod unpack;

pub use digest::{Algorithm, Digest, DigestError, VerifyingReader, VerifyingWriter};
pub use reference::{Reference, ReferenceError};
pub use unpack::{Compression, UnpackError, UnpackStats, unpack_layer};
