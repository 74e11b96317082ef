//! The OCI runtimes registered with Docker (`runc`, and gVisor's `runsc` when set up),
//! and what to tell a user whose configured runtime is not one of them.

use super::{Runtime, RuntimeError};

/// How to register gVisor with Docker: the proxy's socket needs `--host-uds=open`, and
/// tasks under gVisor have no network of their own (`--network=none`; the proxy is theirs).
pub const REGISTER_RUNSC: &str = r#"install gVisor (apt-get install runsc), add "runtimes": {"runsc": {"path": "/usr/bin/runsc", "runtimeArgs": ["--host-uds=open", "--network=none"]}} to /etc/docker/daemon.json (keeping what is there) and reload Docker (sudo pkill -HUP dockerd)"#;

impl Runtime {
    /// The names of the runtimes Docker knows, sorted.
    pub async fn runtimes(&self) -> Result<Vec<String>, RuntimeError> {
        let info = self
            .docker
            .info()
            .await
            .map_err(RuntimeError::api("asking Docker for its runtimes"))?;
        let mut names: Vec<String> = info.runtimes.unwrap_or_default().into_keys().collect();
        names.sort();
        Ok(names)
    }

    /// Fails, naming what to do, unless `name` is registered.
    pub async fn require_runtime(&self, name: &str) -> Result<(), RuntimeError> {
        let known = self.runtimes().await?;
        if known.iter().any(|k| k == name) {
            return Ok(());
        }
        let how = match name {
            "runsc" => REGISTER_RUNSC.to_string(),
            _ => {
                "register it in /etc/docker/daemon.json \"runtimes\" and reload Docker".to_string()
            }
        };
        Err(RuntimeError::Api {
            context: format!("runtime \"{name}\""),
            detail: format!(
                "Docker has no such runtime (it has {}): {how}",
                known.join(", ")
            ),
        })
    }
}
