//! Image references as Docker reads and writes them: `nginx` is
//! `docker.io/library/nginx:latest`, `localhost:5000/app:1.0@sha256:...` names a registry, a
//! repository, a tag and a digest.
//!
//! The grammar (from the distribution/reference project, which Docker uses):
//!
//! ```text
//! reference        := name [ ":" tag ] [ "@" digest ]
//! name             := [domain "/"] path-component ["/" path-component]*
//! domain           := host [":" port-number]
//! host             := domain-name | "[" ipv6-address "]"
//! domain-name      := domain-component ["." domain-component]*
//! domain-component := /([a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])/
//! port-number      := /[0-9]+/
//! path-component   := alpha-numeric [separator alpha-numeric]*
//! alpha-numeric    := /[a-z0-9]+/
//! separator        := /[_.]|__|[-]+/
//! tag              := /[\w][\w.-]{0,127}/
//! ```
//!
//! The first path element is a registry only if it contains `.` or `:`, is `localhost`, or has
//! uppercase letters; otherwise the image lives on Docker Hub, where one-element names belong to
//! the `library/` namespace.

use std::fmt;
use std::str::FromStr;

use super::digest::{Digest, DigestError};

/// The registry of images named without one.
pub const DEFAULT_DOMAIN: &str = "docker.io";
/// Docker Hub's old name, normalized to [`DEFAULT_DOMAIN`].
const LEGACY_DEFAULT_DOMAIN: &str = "index.docker.io";
/// Docker Hub's namespace for official images.
const OFFICIAL_REPO_PREFIX: &str = "library/";
/// The tag used when a reference has neither a tag nor a digest.
pub const DEFAULT_TAG: &str = "latest";
/// Longest allowed `domain/path`.
const NAME_TOTAL_LENGTH_MAX: usize = 255;
/// Longest allowed tag.
const TAG_LENGTH_MAX: usize = 128;

/// Why a reference was refused. Messages follow Docker's where Docker has one.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ReferenceError {
    /// The text does not follow the reference grammar.
    #[error("invalid reference format: {reason} in {reference:?}")]
    Format {
        /// The reference as written.
        reference: String,
        /// What is wrong, in a few words.
        reason: String,
    },
    /// The repository path has uppercase letters.
    #[error("invalid reference format: repository name ({0}) must be lowercase")]
    Uppercase(String),
    /// A bare 64-character hex string is an image ID, not a name.
    #[error("invalid repository name ({0}), cannot specify 64-byte hexadecimal strings")]
    HexIdentifier(String),
    /// `domain/path` is longer than 255 characters.
    #[error("repository name must not be more than 255 characters: {0:?}")]
    NameTooLong(String),
    /// The tag has characters outside `[A-Za-z0-9_.-]`, starts with `.` or `-`, or is too long.
    #[error(
        "invalid tag format: {tag:?} in {reference:?} (a tag is up to 128 characters of [A-Za-z0-9_.-], not starting with '.' or '-')"
    )]
    Tag {
        /// The reference as written.
        reference: String,
        /// The tag as written.
        tag: String,
    },
    /// The digest after `@` is not a valid digest.
    #[error("invalid digest format in {reference:?}: {source}")]
    Digest {
        /// The reference as written.
        reference: String,
        /// What is wrong with the digest.
        source: DigestError,
    },
}

/// A parsed, normalized image reference.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    domain: String,
    path: String,
    tag: Option<String>,
    digest: Option<Digest>,
}

impl Reference {
    /// Parses a reference the way `docker pull` does: fills in `docker.io`, `library/` and,
    /// when there is neither tag nor digest, the tag `latest`.
    pub fn parse(text: &str) -> Result<Reference, ReferenceError> {
        if is_hex_identifier(text) {
            return Err(ReferenceError::HexIdentifier(text.to_owned()));
        }
        let format = |reason: &str| ReferenceError::Format {
            reference: text.to_owned(),
            reason: reason.to_owned(),
        };
        if text.is_empty() {
            return Err(format("empty reference"));
        }

        // Neither names nor tags contain '@', so the first one starts the digest.
        let (name_and_tag, digest_text) = match text.split_once('@') {
            Some((before, after)) => (before, Some(after)),
            None => (text, None),
        };
        // A ':' starts a tag only if no '/' follows it (otherwise it is a registry port).
        let (name, tag) = match name_and_tag.rsplit_once(':') {
            Some((before, after)) if !after.contains('/') => (before, Some(after)),
            _ => (name_and_tag, None),
        };

        let digest = digest_text
            .map(|d| {
                Digest::parse(d).map_err(|source| ReferenceError::Digest {
                    reference: text.to_owned(),
                    source,
                })
            })
            .transpose()?;
        if let Some(tag) = tag
            && !is_valid_tag(tag)
        {
            return Err(ReferenceError::Tag {
                reference: text.to_owned(),
                tag: tag.to_owned(),
            });
        }

        let (domain, path) = split_domain(name);
        if path.to_lowercase() != path {
            return Err(ReferenceError::Uppercase(path));
        }
        if !is_valid_domain(&domain) {
            return Err(format(&format!("invalid registry host {domain:?}")));
        }
        if path.is_empty() {
            return Err(format("missing repository name"));
        }
        if let Some(bad) = path.split('/').find(|c| !is_valid_path_component(c)) {
            let reason = if bad.is_empty() {
                "empty path component in repository name".to_owned()
            } else {
                format!(
                    "invalid repository path component {bad:?} (lowercase letters and digits, separated by '.', '_', '__' or dashes)"
                )
            };
            return Err(format(&reason));
        }
        let full_name = format!("{domain}/{path}");
        if full_name.len() > NAME_TOTAL_LENGTH_MAX {
            return Err(ReferenceError::NameTooLong(full_name));
        }

        let tag = match (tag, &digest) {
            (Some(tag), _) => Some(tag.to_owned()),
            (None, Some(_)) => None,
            (None, None) => Some(DEFAULT_TAG.to_owned()),
        };
        Ok(Reference {
            domain,
            path,
            tag,
            digest,
        })
    }

    /// The registry host, with port if any (`docker.io`, `localhost:5000`, `[::1]:5000`).
    pub fn domain(&self) -> &str {
        &self.domain
    }

    /// The repository path within the registry (`library/nginx`).
    pub fn path(&self) -> &str {
        &self.path
    }

    /// The full repository name (`docker.io/library/nginx`).
    pub fn name(&self) -> String {
        format!("{}/{}", self.domain, self.path)
    }

    /// The tag, if any; absent only when the reference was given by digest alone.
    pub fn tag(&self) -> Option<&str> {
        self.tag.as_deref()
    }

    /// The digest, if the reference pins one.
    pub fn digest(&self) -> Option<&Digest> {
        self.digest.as_ref()
    }

    /// The short repository name Docker shows: no `docker.io/`, no `library/` (`nginx`,
    /// `user/app`, `localhost:5000/app`).
    pub fn familiar_name(&self) -> String {
        if self.domain != DEFAULT_DOMAIN {
            return self.name();
        }
        match self.path.strip_prefix(OFFICIAL_REPO_PREFIX) {
            // Only one-element official names are shortened, as Docker does.
            Some(rest) if !rest.contains('/') => rest.to_owned(),
            _ => self.path.clone(),
        }
    }

    /// The short form Docker shows, with tag and digest (`nginx:latest`).
    pub fn familiar(&self) -> String {
        with_suffixes(self.familiar_name(), self.tag(), self.digest())
    }
}

fn with_suffixes(mut text: String, tag: Option<&str>, digest: Option<&Digest>) -> String {
    if let Some(tag) = tag {
        text.push(':');
        text.push_str(tag);
    }
    if let Some(digest) = digest {
        text.push('@');
        text.push_str(&digest.to_string());
    }
    text
}

impl fmt::Display for Reference {
    /// The canonical form: `docker.io/library/nginx:latest`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&with_suffixes(self.name(), self.tag(), self.digest()))
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;

    fn from_str(text: &str) -> Result<Reference, ReferenceError> {
        Reference::parse(text)
    }
}

/// Splits `name` into registry and repository path, applying Docker Hub's defaults.
fn split_domain(name: &str) -> (String, String) {
    let (domain, path) = match name.split_once('/') {
        None => (DEFAULT_DOMAIN, name),
        Some((first, rest)) => {
            if first == LEGACY_DEFAULT_DOMAIN {
                (DEFAULT_DOMAIN, rest)
            } else if first == "localhost"
                || first.contains(['.', ':'])
                || first.to_lowercase() != first
            {
                (first, rest)
            } else {
                (DEFAULT_DOMAIN, name)
            }
        }
    };
    let path = if domain == DEFAULT_DOMAIN && !path.contains('/') {
        format!("{OFFICIAL_REPO_PREFIX}{path}")
    } else {
        path.to_owned()
    };
    (domain.to_owned(), path)
}

fn is_hex_identifier(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

fn is_valid_tag(tag: &str) -> bool {
    let bytes = tag.as_bytes();
    match bytes.split_first() {
        Some((first, rest)) => {
            bytes.len() <= TAG_LENGTH_MAX
                && is_word_byte(*first)
                && rest
                    .iter()
                    .all(|&b| is_word_byte(b) || b == b'.' || b == b'-')
        }
        None => false,
    }
}

/// `alpha-numeric [separator alpha-numeric]*` with separators `.`, `_`, `__` and runs of `-`.
fn is_valid_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let is_alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let mut i = 0;
    let mut expect_alnum = true;
    while let Some(&b) = bytes.get(i) {
        if is_alnum(b) {
            expect_alnum = false;
            i += 1;
            continue;
        }
        if expect_alnum {
            return false;
        }
        // A separator: one '.', one or two '_', or any number of '-'.
        let len = match b {
            b'.' => 1,
            b'_' if bytes.get(i + 1) == Some(&b'_') => 2,
            b'_' => 1,
            b'-' => bytes
                .get(i..)
                .map_or(0, |tail| tail.iter().take_while(|&&c| c == b'-').count()),
            _ => return false,
        };
        i += len;
        expect_alnum = true;
    }
    !expect_alnum
}

/// `host [":" port]` where host is a DNS-like name or a bracketed IPv6 address.
fn is_valid_domain(domain: &str) -> bool {
    let (host, port) = if let Some(rest) = domain.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return false;
        };
        if address.is_empty() || !address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':') {
            return false;
        }
        match after {
            "" => return true,
            _ => match after.strip_prefix(':') {
                Some(port) => (None, Some(port)),
                None => return false,
            },
        }
    } else {
        match domain.split_once(':') {
            Some((host, port)) => (Some(host), Some(port)),
            None => (Some(domain), None),
        }
    };
    if let Some(port) = port
        && (port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()))
    {
        return false;
    }
    match host {
        None => true,
        Some(host) => host.split('.').all(is_valid_domain_component),
    }
}

fn is_valid_domain_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|b| b.is_ascii_alphanumeric() || *b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "7cc4b5aefd1d0cadf8d97d4350462ba51c694ebca145b08d7d41b41acc8db5aa";

    fn canonical(text: &str) -> String {
        match Reference::parse(text) {
            Ok(reference) => reference.to_string(),
            Err(error) => panic!("{text}: {error}"),
        }
    }

    #[test]
    fn normalizes_like_docker() {
        let cases = [
            ("nginx", "docker.io/library/nginx:latest"),
            ("nginx:1.25", "docker.io/library/nginx:1.25"),
            ("user/app", "docker.io/user/app:latest"),
            ("user/app:v1", "docker.io/user/app:v1"),
            ("docker.io/nginx", "docker.io/library/nginx:latest"),
            ("docker.io/library/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/nginx", "docker.io/library/nginx:latest"),
            ("index.docker.io/user/app", "docker.io/user/app:latest"),
            ("a/b/c", "docker.io/a/b/c:latest"),
            ("localhost/app", "localhost/app:latest"),
            ("localhost:5000/app", "localhost:5000/app:latest"),
            ("localhost:5000/app:tag", "localhost:5000/app:tag"),
            ("localhost:5000", "docker.io/library/localhost:5000"),
            // Like Docker, a single element is always a Docker Hub name.
            ("localhost", "docker.io/library/localhost:latest"),
            ("example.com", "docker.io/library/example.com:latest"),
            ("example.com:5000", "docker.io/library/example.com:5000"),
            ("ghcr.io/org/tool:2.0", "ghcr.io/org/tool:2.0"),
            ("127.0.0.1:5000/x", "127.0.0.1:5000/x:latest"),
            ("registry:5000/x", "registry:5000/x:latest"),
            ("Registry/x", "Registry/x:latest"),
            ("[::1]/x", "[::1]/x:latest"),
            ("[::1]:5000/x:1", "[::1]:5000/x:1"),
            ("[2001:db8::1]:5000/a/b", "[2001:db8::1]:5000/a/b:latest"),
            (
                "my-reg.example.com/a_b/c__d/e-f/g---h/i.j",
                "my-reg.example.com/a_b/c__d/e-f/g---h/i.j:latest",
            ),
            ("app:_tag", "docker.io/library/app:_tag"),
            ("app:V1.0-rc_1", "docker.io/library/app:V1.0-rc_1"),
        ];
        for (input, expected) in cases {
            assert_eq!(canonical(input), expected, "{input}");
        }
    }

    #[test]
    fn digests_and_tags() {
        let by_digest = Reference::parse(&format!("nginx@sha256:{HEX}")).unwrap();
        assert_eq!(by_digest.tag(), None);
        assert_eq!(by_digest.digest().unwrap().hex(), HEX);
        assert_eq!(
            by_digest.to_string(),
            format!("docker.io/library/nginx@sha256:{HEX}")
        );
        let both = Reference::parse(&format!("localhost:5000/a:v2@sha256:{HEX}")).unwrap();
        assert_eq!(both.domain(), "localhost:5000");
        assert_eq!(both.path(), "a");
        assert_eq!(both.tag(), Some("v2"));
        assert!(both.digest().is_some());
        assert_eq!(both.familiar(), format!("localhost:5000/a:v2@sha256:{HEX}"));
        let long_tag = format!("app:{}", "a".repeat(128));
        assert!(Reference::parse(&long_tag).is_ok());
    }

    #[test]
    fn familiar_forms() {
        let cases = [
            ("nginx", "nginx:latest"),
            ("docker.io/library/nginx:1", "nginx:1"),
            ("user/app", "user/app:latest"),
            ("docker.io/library/a/b", "library/a/b:latest"),
            ("localhost/x", "localhost/x:latest"),
            ("quay.io/a/b:c", "quay.io/a/b:c"),
        ];
        for (input, expected) in cases {
            assert_eq!(
                Reference::parse(input).unwrap().familiar(),
                expected,
                "{input}"
            );
        }
        assert_eq!(Reference::parse("nginx").unwrap().familiar_name(), "nginx");
        assert_eq!(
            Reference::parse("nginx").unwrap().name(),
            "docker.io/library/nginx"
        );
    }

    #[test]
    fn refuses_invalid() {
        let long_tag = format!("app:{}", "a".repeat(129));
        let long_name = format!("a/{}", "b".repeat(250));
        let cases: Vec<(String, &str)> = vec![
            (String::new(), "invalid reference format"),
            (
                "Nginx".into(),
                "repository name (library/Nginx) must be lowercase",
            ),
            ("user/App".into(), "must be lowercase"),
            (
                "example.com/App:1".into(),
                "repository name (App) must be lowercase",
            ),
            (HEX.into(), "cannot specify 64-byte hexadecimal strings"),
            ("nginx:".into(), "invalid tag format"),
            ("nginx:-x".into(), "invalid tag format"),
            ("nginx:.x".into(), "invalid tag format"),
            ("nginx:a+b".into(), "invalid tag format"),
            (long_tag, "invalid tag format"),
            ("nginx@sha256:abc".into(), "invalid digest format"),
            (format!("nginx@md5:{HEX}"), "unsupported digest algorithm"),
            (format!("nginx@SHA256:{HEX}"), "invalid digest format"),
            (
                format!("nginx@sha256:{}", HEX.to_uppercase()),
                "invalid digest format",
            ),
            ("nginx@".into(), "invalid digest format"),
            ("a@b@c".into(), "invalid digest format"),
            ("/nginx".into(), "empty path component"),
            ("nginx/".into(), "empty path component"),
            ("a//b".into(), "empty path component"),
            ("-a/b".into(), "invalid repository path component"),
            ("a/b-".into(), "invalid repository path component"),
            ("a/b..c".into(), "invalid repository path component"),
            ("a/b___c".into(), "invalid repository path component"),
            ("a/.b".into(), "invalid repository path component"),
            ("a b".into(), "invalid repository path component"),
            ("localhost:/x".into(), "invalid registry host"),
            ("localhost:50a0/x".into(), "invalid registry host"),
            ("-bad.com/x".into(), "invalid registry host"),
            ("bad-.com/x".into(), "invalid registry host"),
            ("a..com/x".into(), "invalid registry host"),
            ("[::1/x".into(), "invalid registry host"),
            ("[]/x".into(), "invalid repository path component"),
            ("[fe80::1%eth0]/x".into(), "invalid registry host"),
            ("[::1]x/y".into(), "invalid registry host"),
            ("example.com/".into(), "missing repository name"),
            (long_name, "must not be more than 255 characters"),
        ];
        for (input, expected) in cases {
            match Reference::parse(&input) {
                Ok(reference) => panic!("{input:?} parsed as {reference}"),
                Err(error) => assert!(
                    error.to_string().contains(expected),
                    "{input:?}: {error} (expected {expected:?})"
                ),
            }
        }
    }
}
