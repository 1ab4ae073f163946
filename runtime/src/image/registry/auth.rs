//! Registry credentials from Docker's client configuration (`~/.docker/config.json`, or
//! `$DOCKER_CONFIG/config.json`): `auths` entries, the `credsStore` and per-registry
//! `credHelpers`, read with the `docker_credential` crate so that berth finds whatever
//! `docker login` saved.

use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

use docker_credential::{CredentialRetrievalError, DockerCredential};

use crate::image::reference::DEFAULT_DOMAIN;

/// The key Docker files Docker Hub credentials under.
const DOCKER_HUB_AUTH_KEY: &str = "https://index.docker.io/v1/";

/// What to authenticate with.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// No credentials.
    Anonymous,
    /// A user name and password (or personal access token).
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
}

impl std::fmt::Debug for Credentials {
    // Never print secrets.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Credentials::Anonymous => f.write_str("Anonymous"),
            Credentials::Basic { username, .. } => write!(f, "Basic({username:?}, ***)"),
        }
    }
}

impl Credentials {
    /// The user name, if any.
    pub fn username(&self) -> Option<&str> {
        match self {
            Credentials::Anonymous => None,
            Credentials::Basic { username, .. } => Some(username),
        }
    }
}

/// Why credentials could not be read.
#[derive(Debug, thiserror::Error)]
#[error("reading credentials for {registry} from {}: {reason}", path.display())]
pub struct CredentialsError {
    /// The registry.
    pub registry: String,
    /// The Docker configuration file.
    pub path: PathBuf,
    /// What went wrong.
    pub reason: String,
}

/// The Docker client configuration file berth reads: `$DOCKER_CONFIG/config.json`, else
/// `$HOME/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials `config` (a Docker `config.json`) holds for `registry` (`host[:port]`, or
/// `docker.io`). A missing file or entry means anonymous access. Credential helpers named by
/// the file are run as `docker-credential-<name>`.
pub fn credentials_for(registry: &str, config: &Path) -> Result<Credentials, CredentialsError> {
    let error = |reason: String| CredentialsError {
        registry: registry.to_owned(),
        path: config.to_owned(),
        reason,
    };
    let file = match File::open(config) {
        Ok(file) => file,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Credentials::Anonymous),
        Err(e) => return Err(error(e.to_string())),
    };
    let server = if registry == DEFAULT_DOMAIN {
        DOCKER_HUB_AUTH_KEY
    } else {
        registry
    };
    match docker_credential::get_credential_from_reader(BufReader::new(file), server) {
        Ok(DockerCredential::UsernamePassword(username, password)) => {
            Ok(Credentials::Basic { username, password })
        }
        Ok(DockerCredential::IdentityToken(_)) => {
            // An identity token is an OAuth2 refresh token, which the registry client cannot
            // exchange; anonymous access still works for public images.
            tracing::warn!(
                registry,
                "the credentials in {} are an identity token, which berth cannot use; pulling anonymously",
                config.display()
            );
            Ok(Credentials::Anonymous)
        }
        Err(CredentialRetrievalError::NoCredentialConfigured) => Ok(Credentials::Anonymous),
        Err(CredentialRetrievalError::HelperFailure { helper, stderr, .. }) => {
            // Helpers answer "credentials not found" on stderr when they hold nothing.
            if stderr
                .to_ascii_lowercase()
                .contains("credentials not found")
            {
                Ok(Credentials::Anonymous)
            } else {
                Err(error(format!(
                    "credential helper {helper:?} failed: {}",
                    stderr.trim().replace('\n', " ")
                )))
            }
        }
        Err(other) => Err(error(other.to_string().trim().replace('\n', " "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn config(text: &str) -> tempfile::NamedTempFile {
        let mut file = tempfile::NamedTempFile::new().unwrap();
        file.write_all(text.as_bytes()).unwrap();
        file
    }

    #[test]
    fn reads_auths() {
        // "alice:secret" in base64.
        let file = config(
            r#"{"auths":{"127.0.0.1:5000":{"auth":"YWxpY2U6c2VjcmV0"},
                "https://index.docker.io/v1/":{"auth":"Ym9iOmh1bnRlcjI="}}}"#,
        );
        assert_eq!(
            credentials_for("127.0.0.1:5000", file.path()).unwrap(),
            Credentials::Basic {
                username: "alice".into(),
                password: "secret".into()
            }
        );
        assert_eq!(
            credentials_for("docker.io", file.path())
                .unwrap()
                .username(),
            Some("bob")
        );
        assert_eq!(
            credentials_for("other:5000", file.path()).unwrap(),
            Credentials::Anonymous
        );
    }

    #[test]
    fn missing_file_is_anonymous_and_bad_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(
            credentials_for("x", &dir.path().join("none.json")).unwrap(),
            Credentials::Anonymous
        );
        let file = config("{not json");
        let error = credentials_for("x", file.path()).unwrap_err();
        assert!(
            error.to_string().contains("reading credentials for x"),
            "{error}"
        );
    }

    #[test]
    fn missing_helper_is_an_error() {
        let file = config(r#"{"credHelpers":{"reg.example":"berth-test-no-such-helper"}}"#);
        let error = credentials_for("reg.example", file.path()).unwrap_err();
        assert!(!error.to_string().contains('\n'));
    }

    #[test]
    fn debug_hides_password() {
        let creds = Credentials::Basic {
            username: "u".into(),
            password: "p4ss".into(),
        };
        assert!(!format!("{creds:?}").contains("p4ss"));
    }
}
