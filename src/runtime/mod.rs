//! The container runtime: Docker through bollard, and nothing else talks to Docker.
//!
//! Connects with Docker's usual defaults (`DOCKER_HOST` honoured) and negotiates the API
//! version, because engines here can be older than bollard's default. Errors are turned
//! into sentences a user can act on (daemon down, socket permission, image missing).
//! Knows containers, execs and images; knows nothing of tasks' states or git.

pub mod base;
mod container;
mod exec;
pub mod forwarder;
pub mod image;
pub mod oci;
pub mod snapshot;
mod strays;
pub mod users;

use std::time::Duration;

use bollard::Docker;

pub use container::{
    Adopted, ContainerSpec, Found, LABEL_MANAGED, LABEL_POOL, LABEL_REPO, LABEL_SETUP, LABEL_TASK,
    ManagedContainer, NAME_PREFIX, container_name, pool_name, shell_command, short as short_id,
};
pub use exec::{ExecResult, ExecSpec};
pub use snapshot::{ENV_MOUNT, EnvImage, EnvLayer, FoundImage, SNAPSHOT_DIR};
pub use strays::Swept;

#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("cannot connect to Docker at {host}: is the daemon running? ({detail})")]
    Unavailable { host: String, detail: String },
    #[error(
        "permission denied on the Docker socket {host}: add your user to the `docker` group \
         (membership is root-equivalent) or use rootless Docker"
    )]
    PermissionDenied { host: String },
    #[error("image {image} not found: build it with `drover image build`")]
    ImageMissing { image: String },
    #[error("container {name} exists but is not drover's ({id}): remove or rename it")]
    ForeignContainer { name: String, id: String },
    #[error("{context}: {detail}")]
    Api { context: String, detail: String },
}

impl RuntimeError {
    pub(crate) fn api(
        context: impl Into<String>,
    ) -> impl FnOnce(bollard::errors::Error) -> RuntimeError {
        let context = context.into();
        move |e| RuntimeError::Api {
            context,
            detail: describe(&e),
        }
    }
}

/// bollard's error text, minus the noise (the server message when there is one).
fn describe(e: &bollard::errors::Error) -> String {
    match e {
        bollard::errors::Error::DockerResponseServerError {
            message,
            status_code,
        } => {
            format!("{message} (HTTP {status_code})")
        }
        other => other.to_string(),
    }
}

/// Status code of a Docker API error, if it was one.
pub(crate) fn status_of(e: &bollard::errors::Error) -> Option<u16> {
    match e {
        bollard::errors::Error::DockerResponseServerError { status_code, .. } => Some(*status_code),
        _ => None,
    }
}

/// Why connecting failed, from the OS error at the bottom of the chain (hyper's own
/// message is just "client error (Connect)").
fn connect_error(host: &str, e: &(dyn std::error::Error + 'static)) -> RuntimeError {
    if let Some(bollard::errors::Error::SocketNotFoundError(path)) = e.downcast_ref() {
        return RuntimeError::Unavailable {
            host: host.to_string(),
            detail: format!("no socket at {path}; is Docker installed?"),
        };
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    let mut deepest = e.to_string();
    while let Some(err) = source {
        if let Some(io) = err.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::PermissionDenied {
                return RuntimeError::PermissionDenied {
                    host: host.to_string(),
                };
            }
            deepest = io.to_string();
        }
        source = err.source();
    }
    RuntimeError::Unavailable {
        host: host.to_string(),
        detail: deepest,
    }
}

/// A connected Docker engine.
#[derive(Debug, Clone)]
pub struct Runtime {
    docker: Docker,
    host: String,
    version: String,
}

pub fn docker_host() -> String {
    std::env::var("DOCKER_HOST")
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "unix:///var/run/docker.sock".into())
}

impl Runtime {
    /// Connects to `DOCKER_HOST` (default: the local socket), negotiates the API
    /// version and checks the daemon answers.
    pub async fn connect() -> Result<Runtime, RuntimeError> {
        Runtime::connect_to(&docker_host()).await
    }

    /// The same for a given host (`unix:///path`, `tcp://…`).
    pub async fn connect_to(host: &str) -> Result<Runtime, RuntimeError> {
        let host = host.to_string();
        let fail = |e: &(dyn std::error::Error + 'static)| connect_error(&host, e);
        let docker = Docker::connect_with_host(&host).map_err(|e| fail(&e))?;
        // Exec and build streams can run for a long time; our own timeouts apply instead.
        let docker = docker.with_timeout(Duration::from_secs(24 * 3600));
        let no_answer = || RuntimeError::Unavailable {
            host: host.clone(),
            detail: "no answer within 10s".into(),
        };
        let docker = tokio::time::timeout(Duration::from_secs(10), docker.negotiate_version())
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| fail(&e))?;
        let version = tokio::time::timeout(Duration::from_secs(10), docker.version())
            .await
            .map_err(|_| no_answer())?
            .map_err(|e| fail(&e))?;
        Ok(Runtime {
            docker,
            host,
            version: format!(
                "{} (API {})",
                version.version.unwrap_or_else(|| "?".into()),
                version.api_version.unwrap_or_else(|| "?".into())
            ),
        })
    }

    pub fn host(&self) -> &str {
        &self.host
    }

    /// Engine version and API version, for `doctor` and the UI header.
    pub fn version(&self) -> &str {
        &self.version
    }

    pub fn docker(&self) -> &Docker {
        &self.docker
    }

    pub async fn image_exists(&self, image: &str) -> Result<bool, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(_) => Ok(true),
            Err(e) if status_of(&e) == Some(404) => Ok(false),
            Err(e) => Err(RuntimeError::api(format!("inspecting image {image}"))(e)),
        }
    }

    /// The id of `image` (it changes when the tag is rebuilt); errors with the command
    /// that builds it when absent.
    pub async fn image_id(&self, image: &str) -> Result<String, RuntimeError> {
        match self.docker.inspect_image(image).await {
            Ok(info) => Ok(info.id.unwrap_or_default()),
            Err(e) if status_of(&e) == Some(404) => Err(RuntimeError::ImageMissing {
                image: image.to_string(),
            }),
            Err(e) => Err(RuntimeError::api(format!("inspecting image {image}"))(e)),
        }
    }

    /// Errors with the command that builds it when `image` is absent.
    pub async fn require_image(&self, image: &str) -> Result<(), RuntimeError> {
        if self.image_exists(image).await? {
            Ok(())
        } else {
            Err(RuntimeError::ImageMissing {
                image: image.to_string(),
            })
        }
    }
}
