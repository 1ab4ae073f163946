//! Content digests (`sha256:<hex>`, `sha512:<hex>`) as OCI and the registry API use them, and
//! readers/writers that hash while streaming so that content is verified without a second pass.

use std::fmt;
use std::io::{self, Read, Write};
use std::str::FromStr;

use sha2::Digest as _;

/// A hash algorithm that image content may be addressed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Algorithm {
    /// SHA-256, the algorithm of practically every image.
    Sha256,
    /// SHA-512, allowed by the OCI image spec.
    Sha512,
}

impl Algorithm {
    /// The name used in the textual form of a digest (`sha256`).
    pub fn name(self) -> &'static str {
        match self {
            Algorithm::Sha256 => "sha256",
            Algorithm::Sha512 => "sha512",
        }
    }

    /// How many hexadecimal characters an encoded digest of this algorithm has.
    pub fn hex_len(self) -> usize {
        match self {
            Algorithm::Sha256 => 64,
            Algorithm::Sha512 => 128,
        }
    }

    /// Looks an algorithm up by its name (`sha256`, `sha512`).
    pub fn from_name(name: &str) -> Option<Algorithm> {
        match name {
            "sha256" => Some(Algorithm::Sha256),
            "sha512" => Some(Algorithm::Sha512),
            _ => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a digest was refused or did not match.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The text is not `<algorithm>:<encoded>`.
    #[error("invalid checksum digest format: {0:?} (expected <algorithm>:<hex>)")]
    Format(String),
    /// The algorithm is well formed but not one we can compute.
    #[error("unsupported digest algorithm {algorithm:?} in {digest:?}")]
    UnsupportedAlgorithm {
        /// The algorithm as written.
        algorithm: String,
        /// The whole digest as written.
        digest: String,
    },
    /// The encoded part has the wrong length or characters.
    #[error(
        "invalid checksum digest {digest:?}: a {algorithm} digest has {expected} lowercase hexadecimal characters"
    )]
    Encoding {
        /// The algorithm of the digest.
        algorithm: Algorithm,
        /// The whole digest as written.
        digest: String,
        /// The required number of hex characters.
        expected: usize,
    },
    /// The content hashed to another digest than the one expected.
    #[error("digest mismatch: expected {expected}, content has {actual}")]
    Mismatch {
        /// The digest the content should have had.
        expected: Digest,
        /// The digest of the content actually seen.
        actual: Digest,
    },
    /// The content had another length than the one expected.
    #[error("size mismatch for {digest}: expected {expected} bytes, got {actual}{more}", more = if *.truncated { " or more" } else { "" })]
    SizeMismatch {
        /// The digest the content should have had.
        digest: Digest,
        /// The expected size in bytes.
        expected: u64,
        /// The size seen (a lower bound when `truncated`).
        actual: u64,
        /// Reading stopped as soon as the content was too long.
        truncated: bool,
    },
}

/// A validated content digest: an algorithm and its lowercase hexadecimal encoding.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Digest {
    algorithm: Algorithm,
    hex: String,
}

impl Digest {
    /// Builds a digest from an algorithm and its hex encoding, validating the encoding.
    pub fn new(algorithm: Algorithm, hex: &str) -> Result<Digest, DigestError> {
        let valid = hex.len() == algorithm.hex_len()
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !valid {
            return Err(DigestError::Encoding {
                algorithm,
                digest: format!("{algorithm}:{hex}"),
                expected: algorithm.hex_len(),
            });
        }
        Ok(Digest {
            algorithm,
            hex: hex.to_owned(),
        })
    }

    /// Parses `sha256:<64 hex>` or `sha512:<128 hex>`.
    pub fn parse(text: &str) -> Result<Digest, DigestError> {
        let Some((algorithm, hex)) = text.split_once(':') else {
            return Err(DigestError::Format(text.to_owned()));
        };
        if !is_algorithm_name(algorithm) || hex.is_empty() {
            return Err(DigestError::Format(text.to_owned()));
        }
        let Some(known) = Algorithm::from_name(algorithm) else {
            return Err(DigestError::UnsupportedAlgorithm {
                algorithm: algorithm.to_owned(),
                digest: text.to_owned(),
            });
        };
        Digest::new(known, hex)
    }

    /// The digest of `data`.
    pub fn of_bytes(algorithm: Algorithm, data: &[u8]) -> Digest {
        let mut digester = Digester::new(algorithm);
        digester.update(data);
        digester.finish()
    }

    /// The algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The lowercase hexadecimal encoding, without the algorithm.
    pub fn hex(&self) -> &str {
        &self.hex
    }
}

/// The grammar of OCI algorithm names: `[a-z0-9]+([+._-][a-z0-9]+)*`.
fn is_algorithm_name(name: &str) -> bool {
    !name.is_empty()
        && name.split(['+', '.', '_', '-']).all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl fmt::Display for Digest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.algorithm, self.hex)
    }
}

impl FromStr for Digest {
    type Err = DigestError;

    fn from_str(text: &str) -> Result<Digest, DigestError> {
        Digest::parse(text)
    }
}

/// An incremental hash that ends in a [`Digest`].
#[derive(Clone)]
pub struct Digester {
    state: HashState,
}

#[derive(Clone)]
enum HashState {
    Sha256(sha2::Sha256),
    Sha512(sha2::Sha512),
}

impl Digester {
    /// Starts hashing with `algorithm`.
    pub fn new(algorithm: Algorithm) -> Digester {
        let state = match algorithm {
            Algorithm::Sha256 => HashState::Sha256(sha2::Sha256::new()),
            Algorithm::Sha512 => HashState::Sha512(sha2::Sha512::new()),
        };
        Digester { state }
    }

    /// Feeds more content.
    pub fn update(&mut self, data: &[u8]) {
        match &mut self.state {
            HashState::Sha256(hasher) => hasher.update(data),
            HashState::Sha512(hasher) => hasher.update(data),
        }
    }

    /// The digest of everything fed so far.
    pub fn finish(self) -> Digest {
        let (algorithm, bytes) = match self.state {
            HashState::Sha256(hasher) => (Algorithm::Sha256, hasher.finalize().to_vec()),
            HashState::Sha512(hasher) => (Algorithm::Sha512, hasher.finalize().to_vec()),
        };
        Digest {
            algorithm,
            hex: to_hex(&bytes),
        }
    }
}

fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        // Writing to a String cannot fail.
        let _ = write!(text, "{byte:02x}");
    }
    text
}

/// What a verifying stream expects: a digest and, optionally, an exact size.
#[derive(Clone, Debug)]
struct Expectation {
    digest: Digest,
    size: Option<u64>,
}

impl Expectation {
    /// Fails as soon as more bytes than announced were seen.
    fn check_not_too_long(&self, seen: u64) -> Result<(), DigestError> {
        match self.size {
            Some(expected) if seen > expected => Err(DigestError::SizeMismatch {
                digest: self.digest.clone(),
                expected,
                actual: seen,
                truncated: true,
            }),
            _ => Ok(()),
        }
    }

    /// The final check once the content is complete.
    fn check_complete(&self, seen: u64, actual: Digest) -> Result<(), DigestError> {
        if let Some(expected) = self.size
            && seen != expected
        {
            return Err(DigestError::SizeMismatch {
                digest: self.digest.clone(),
                expected,
                actual: seen,
                truncated: false,
            });
        }
        if actual != self.digest {
            return Err(DigestError::Mismatch {
                expected: self.digest.clone(),
                actual,
            });
        }
        Ok(())
    }
}

fn invalid_data(error: DigestError) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, error)
}

/// A reader that hashes what passes through it and, at end of stream, fails with
/// [`io::ErrorKind::InvalidData`] (wrapping a [`DigestError`]) unless the content matched.
///
/// Consumers therefore only see a clean end of stream for verified content.
pub struct VerifyingReader<R> {
    inner: R,
    digester: Option<Digester>,
    expected: Expectation,
    seen: u64,
    failure: Option<DigestError>,
}

impl<R: Read> VerifyingReader<R> {
    /// Wraps `inner`, expecting its content to hash to `expected`.
    pub fn new(inner: R, expected: Digest) -> VerifyingReader<R> {
        VerifyingReader {
            inner,
            digester: Some(Digester::new(expected.algorithm())),
            expected: Expectation {
                digest: expected,
                size: None,
            },
            seen: 0,
            failure: None,
        }
    }

    /// Also requires the content to be exactly `size` bytes long.
    pub fn with_size(mut self, size: u64) -> VerifyingReader<R> {
        self.expected.size = Some(size);
        self
    }

    /// How many bytes have passed so far.
    pub fn bytes_read(&self) -> u64 {
        self.seen
    }

    /// Whether the end of the stream was reached and the content matched.
    pub fn is_verified(&self) -> bool {
        self.digester.is_none() && self.failure.is_none()
    }

    /// Returns the wrapped reader.
    pub fn into_inner(self) -> R {
        self.inner
    }

    fn fail(&mut self, error: DigestError) -> io::Error {
        self.failure = Some(error.clone());
        invalid_data(error)
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(error) = &self.failure {
            return Err(invalid_data(error.clone()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = self.inner.read(buf)?;
        let Some(digester) = self.digester.as_mut() else {
            // Already verified: anything after the end is still "the end".
            return Ok(n);
        };
        if n == 0 {
            let Some(digester) = self.digester.take() else {
                return Ok(0);
            };
            let actual = digester.finish();
            return match self.expected.check_complete(self.seen, actual) {
                Ok(()) => Ok(0),
                Err(error) => Err(self.fail(error)),
            };
        }
        let chunk = buf.get(..n).unwrap_or(buf);
        digester.update(chunk);
        self.seen = self.seen.saturating_add(n as u64);
        if let Err(error) = self.expected.check_not_too_long(self.seen) {
            return Err(self.fail(error));
        }
        Ok(n)
    }
}

/// A writer that hashes what it writes; [`VerifyingWriter::finish`] says whether the
/// content matched the expected digest (and size).
pub struct VerifyingWriter<W> {
    inner: W,
    digester: Digester,
    expected: Expectation,
    written: u64,
}

impl<W: Write> VerifyingWriter<W> {
    /// Wraps `inner`, expecting the content written to hash to `expected`.
    pub fn new(inner: W, expected: Digest) -> VerifyingWriter<W> {
        VerifyingWriter {
            inner,
            digester: Digester::new(expected.algorithm()),
            expected: Expectation {
                digest: expected,
                size: None,
            },
            written: 0,
        }
    }

    /// Also requires the content to be exactly `size` bytes long.
    pub fn with_size(mut self, size: u64) -> VerifyingWriter<W> {
        self.expected.size = Some(size);
        self
    }

    /// How many bytes have been written so far.
    pub fn bytes_written(&self) -> u64 {
        self.written
    }

    /// Ends the content: returns the wrapped writer if the content matched.
    pub fn finish(self) -> Result<W, DigestError> {
        let actual = self.digester.finish();
        self.expected.check_complete(self.written, actual)?;
        Ok(self.inner)
    }
}

impl<W: Write> Write for VerifyingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        let chunk = buf.get(..n).unwrap_or(buf);
        self.digester.update(chunk);
        self.written = self.written.saturating_add(n as u64);
        // Refuse early rather than let an oversized blob fill the disk.
        self.expected
            .check_not_too_long(self.written)
            .map_err(invalid_data)?;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EMPTY_SHA256: &str =
        "sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
    const HELLO_SHA256: &str =
        "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824";

    #[test]
    fn parses_and_prints() {
        let digest = Digest::parse(HELLO_SHA256).unwrap();
        assert_eq!(digest.algorithm(), Algorithm::Sha256);
        assert_eq!(digest.to_string(), HELLO_SHA256);
        let long = format!("sha512:{}", "a".repeat(128));
        assert_eq!(Digest::parse(&long).unwrap().algorithm(), Algorithm::Sha512);
    }

    #[test]
    fn refuses_malformed() {
        for bad in [
            "",
            "sha256",
            "sha256:",
            ":abc",
            "SHA256:abc",
            "sha256!:abc",
            "sha256+:abc",
        ] {
            assert!(
                matches!(Digest::parse(bad), Err(DigestError::Format(_))),
                "{bad}"
            );
        }
        let upper = HELLO_SHA256.to_uppercase().replace("SHA256", "sha256");
        assert!(matches!(
            Digest::parse(&upper),
            Err(DigestError::Encoding { .. })
        ));
        assert!(matches!(
            Digest::parse("sha256:abcd"),
            Err(DigestError::Encoding { expected: 64, .. })
        ));
        assert!(matches!(
            Digest::parse(&format!("sha512:{}", "a".repeat(64))),
            Err(DigestError::Encoding { expected: 128, .. })
        ));
        assert!(matches!(
            Digest::parse(&format!("md5:{}", "a".repeat(32))),
            Err(DigestError::UnsupportedAlgorithm { .. })
        ));
        assert!(matches!(
            Digest::parse(&format!("sha256:{}g", "a".repeat(63))),
            Err(DigestError::Encoding { .. })
        ));
    }

    #[test]
    fn hashes_bytes() {
        assert_eq!(
            Digest::of_bytes(Algorithm::Sha256, b"").to_string(),
            EMPTY_SHA256
        );
        assert_eq!(
            Digest::of_bytes(Algorithm::Sha256, b"hello").to_string(),
            HELLO_SHA256
        );
        assert_eq!(Digest::of_bytes(Algorithm::Sha512, b"").hex().len(), 128);
    }

    #[test]
    fn reader_accepts_matching_content() {
        let mut reader =
            VerifyingReader::new(&b"hello"[..], Digest::parse(HELLO_SHA256).unwrap()).with_size(5);
        let mut out = Vec::new();
        reader.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"hello");
        assert!(reader.is_verified());
        assert_eq!(reader.bytes_read(), 5);
    }

    #[test]
    fn reader_refuses_other_content_at_the_end() {
        let mut reader = VerifyingReader::new(&b"hellO"[..], Digest::parse(HELLO_SHA256).unwrap());
        let error = reader.read_to_end(&mut Vec::new()).unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::InvalidData);
        assert!(error.to_string().contains("digest mismatch"), "{error}");
        // The failure sticks.
        assert!(reader.read(&mut [0; 4]).is_err());
        assert!(!reader.is_verified());
    }

    #[test]
    fn reader_refuses_wrong_sizes() {
        let digest = Digest::parse(HELLO_SHA256).unwrap();
        let mut short = VerifyingReader::new(&b"hello"[..], digest.clone()).with_size(6);
        let error = short.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(
            error.to_string().contains("expected 6 bytes, got 5"),
            "{error}"
        );
        let mut long = VerifyingReader::new(&b"hello"[..], digest).with_size(3);
        let error = long.read_to_end(&mut Vec::new()).unwrap_err();
        assert!(error.to_string().contains("or more"), "{error}");
    }

    #[test]
    fn writer_verifies() {
        let digest = Digest::parse(HELLO_SHA256).unwrap();
        let mut writer = VerifyingWriter::new(Vec::new(), digest.clone()).with_size(5);
        writer.write_all(b"hel").unwrap();
        writer.write_all(b"lo").unwrap();
        assert_eq!(writer.finish().unwrap(), b"hello");

        let mut writer = VerifyingWriter::new(Vec::new(), digest.clone());
        writer.write_all(b"help").unwrap();
        assert!(matches!(writer.finish(), Err(DigestError::Mismatch { .. })));

        let mut writer = VerifyingWriter::new(Vec::new(), digest).with_size(2);
        assert!(writer.write_all(b"hello").is_err());
    }
}
