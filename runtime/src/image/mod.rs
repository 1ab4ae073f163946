//! Container images: how they are named ([`reference`](mod@reference)), how their content
//! is addressed ([`digest`]), how their layers become directories ([`unpack`]), where they are
//! kept ([`store`]), how they are fetched ([`registry`], [`pull`]), mounted as a root
//! filesystem ([`rootfs`]) and moved as files ([`archive`]).

pub mod archive;
pub mod digest;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod rootfs;
pub mod store;
pub mod unpack;

pub use digest::{Algorithm, Digest, DigestError, VerifyingReader, VerifyingWriter};
pub use reference::{Reference, ReferenceError};
pub use store::{Store, StoreError};
pub use unpack::{Compression, UnpackError, UnpackStats, unpack_layer};
