//! The labels Docker Compose puts on what it creates. berth uses the same names so that
//! scripts and tools written for Compose keep working, and so that state can be read back
//! without the compose file.

/// The project a container, network or volume belongs to.
pub const PROJECT: &str = "com.docker.compose.project";
/// The service a container runs.
pub const SERVICE: &str = "com.docker.compose.service";
/// The replica number of a container (`1`, `2`, ...).
pub const CONTAINER_NUMBER: &str = "com.docker.compose.container-number";
/// `True` for containers of `run`, `False` otherwise.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The service's config hash when the container was created.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// The image digest the container was created from.
pub const IMAGE: &str = "com.docker.compose.image";
/// The project directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The compose files, comma separated.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// The services this container depends on (`db:service_healthy:false,...`).
pub const DEPENDS_ON: &str = "com.docker.compose.depends_on";
/// The key of a network in the compose file.
pub const NETWORK: &str = "com.docker.compose.network";
/// The key of a volume in the compose file.
pub const VOLUME: &str = "com.docker.compose.volume";
/// The version of the tool that created the object.
pub const VERSION: &str = "com.docker.compose.version";
