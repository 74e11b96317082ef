//! Task containers: one per task, hardened, labelled, found again by label and name.
//!
//! The container idles (`sleep infinity` under Docker's init) and every tool runs in it
//! through exec. It sees the task workspace at /workspace and the user's objects
//! read-only at their own path; nothing else of the host, never the Docker socket.
//! A warm-pool container is created before its task exists: it carries a pool label
//! instead of a task label, and is renamed to its task's container name when claimed
//! (labels cannot change), so a task's container is the one labelled or named for it.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{
    ContainerCreateBody, HostConfig, Mount, MountType, MountVolumeOptions,
    MountVolumeOptionsDriverConfig,
};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    RenameContainerOptionsBuilder, StopContainerOptionsBuilder,
};

use super::{Runtime, RuntimeError, status_of};
use crate::config::{Limits, Network};

pub const LABEL_MANAGED: &str = "drover.managed";
pub const LABEL_TASK: &str = "drover.task";
pub const LABEL_REPO: &str = "drover.repo";
/// Which data dir (store) the container belongs to: only that store's engine may judge
/// it an orphan.
pub(super) const LABEL_DATA: &str = "drover.data";
/// A warm-pool container's slot (the data dir's `pool/<slot>` it mounts).
pub const LABEL_POOL: &str = "drover.pool";
/// A setup container (the environment phase of a task, or `drover env rebuild`): what it
/// is setting up. Images committed from one inherit the label, so a container is a setup
/// container only when it has neither a task nor a pool label.
pub const LABEL_SETUP: &str = "drover.setup";
/// Every drover container's name starts so: `drover-<task>` or `drover-pool-…`.
pub const NAME_PREFIX: &str = "drover-";
const POOL_PREFIX: &str = "drover-pool-";

/// The task a container belongs to: its label, or for a claimed warm-pool container, the
/// task whose name it was given. `None` for a pool container still waiting.
fn task_of(labels: &HashMap<String, String>, name: &str) -> Option<String> {
    if let Some(t) = labels.get(LABEL_TASK) {
        return Some(t.clone());
    }
    labels.get(LABEL_POOL)?;
    let name = name.trim_start_matches('/');
    if name.starts_with(POOL_PREFIX) {
        return None;
    }
    name.strip_prefix(NAME_PREFIX).map(String::from)
}

/// The name of a warm-pool container of data dir `data_hash` waiting in `slot`.
/// The name of a task's container (one per task; a new attempt replaces it).
pub fn container_name(id: &crate::protocol::TaskId) -> String {
    format!("{NAME_PREFIX}{id}")
}

pub fn pool_name(data_hash: &str, slot: &str) -> String {
    format!("{POOL_PREFIX}{data_hash}-{slot}")
}

/// Environment every tool sees: no pagers, editors or prompts that would hang an exec.
pub(super) const CONTAINER_ENV: &[&str] = &[
    "HOME=/tmp",
    "GIT_PAGER=cat",
    "PAGER=cat",
    "GIT_EDITOR=true",
    "EDITOR=true",
    "VISUAL=true",
    "GIT_TERMINAL_PROMPT=0",
    "DEBIAN_FRONTEND=noninteractive",
    "PYTHONDONTWRITEBYTECODE=1",
    "LANG=C.UTF-8",
    "GIT_CONFIG_COUNT=1",
    "GIT_CONFIG_KEY_0=safe.directory",
    "GIT_CONFIG_VALUE_0=*",
];

#[derive(Debug, Clone)]
pub struct ContainerSpec {
    pub name: String,
    pub image: String,
    /// The task's id; empty for a warm-pool container (see `pool`).
    pub task: String,
    /// The slot of a warm-pool container, which has no task yet.
    pub pool: Option<String>,
    pub repo_hash: String,
    /// `paths::DataDir::hash` of the store the task lives in.
    pub data_hash: String,
    pub workspace: PathBuf,
    /// The user's objects dir, mounted read-only at the same path.
    pub objects: PathBuf,
    pub uid: u32,
    pub gid: u32,
    pub network: Network,
    pub limits: Limits,
    /// Makes it a setup container (`LABEL_SETUP`, this value): its root filesystem is
    /// writable, as what setup leaves there is committed as a snapshot.
    pub setup: Option<String>,
    /// `NAME=value` pairs beside drover's own (a devcontainer's `containerEnv`).
    pub env: Vec<String>,
    /// A writable layer over an environment snapshot's files at `ENV_MOUNT`.
    pub env_layer: Option<super::EnvLayer>,
    /// The host directory of the task's egress proxy socket (`network` allowlist or
    /// open): mounted read-only at `forwarder::PROXY_DIR`, proxy variables set.
    pub proxy: Option<PathBuf>,
    /// With `proxy`: the self-test host a new container asks for as it starts (see
    /// `forwarder::boot_command`); `None`: the forwarder is started by an exec later.
    pub probe: Option<String>,
    /// The OCI runtime (`runsc` for gVisor); `None`: Docker's default.
    pub runtime: Option<String>,
}

impl ContainerSpec {
    pub(super) fn body(&self) -> ContainerCreateBody {
        let mut labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_REPO.to_string(), self.repo_hash.clone()),
            (LABEL_DATA.to_string(), self.data_hash.clone()),
        ]);
        match (&self.pool, &self.setup) {
            (Some(slot), _) => labels.insert(LABEL_POOL.to_string(), slot.clone()),
            (None, Some(what)) => labels.insert(LABEL_SETUP.to_string(), what.clone()),
            (None, None) => labels.insert(LABEL_TASK.to_string(), self.task.clone()),
        };
        let mut mounts = vec![
            Mount {
                target: Some("/workspace".into()),
                source: Some(self.workspace.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(false),
                ..Default::default()
            },
            Mount {
                target: Some(self.objects.to_string_lossy().into_owned()),
                source: Some(self.objects.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            },
        ];
        if let Some(options) = self.env_layer.as_ref().and_then(super::EnvLayer::options) {
            // An anonymous volume: it goes with the container (`remove` drops volumes).
            mounts.push(Mount {
                target: Some(super::ENV_MOUNT.into()),
                typ: Some(MountType::VOLUME),
                read_only: Some(false),
                volume_options: Some(MountVolumeOptions {
                    no_copy: Some(true),
                    driver_config: Some(MountVolumeOptionsDriverConfig {
                        name: Some("local".into()),
                        options: Some(HashMap::from([
                            ("type".to_string(), "overlay".to_string()),
                            ("device".to_string(), "overlay".to_string()),
                            ("o".to_string(), options),
                        ])),
                    }),
                    ..Default::default()
                }),
                ..Default::default()
            });
        }
        if let Some(dir) = &self.proxy {
            mounts.push(Mount {
                target: Some(super::forwarder::PROXY_DIR.into()),
                source: Some(dir.to_string_lossy().into_owned()),
                typ: Some(MountType::BIND),
                read_only: Some(true),
                ..Default::default()
            });
        }
        // A setup container gets them per command instead: what is in its own
        // environment would be committed into the snapshot.
        let proxy_env = match (&self.proxy, &self.setup) {
            (Some(_), None) => super::forwarder::proxy_env(),
            _ => Vec::new(),
        };
        let tmpfs_opts = format!("rw,exec,nosuid,nodev,size={}", self.limits.tmp_bytes);
        let memory = i64::try_from(self.limits.memory_bytes).unwrap_or(i64::MAX);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            // Only drover's idle command runs: not the image's entrypoint, not its
            // health check (an image from a repository is untrusted).
            entrypoint: Some(vec![String::new()]),
            healthcheck: Some(bollard::models::HealthConfig {
                test: Some(vec!["NONE".into()]),
                ..Default::default()
            }),
            cmd: Some(match (&self.proxy, &self.probe) {
                (Some(_), Some(probe)) => super::forwarder::boot_command(probe),
                _ => vec!["sleep".into(), "infinity".into()],
            }),
            user: Some(format!("{}:{}", self.uid, self.gid)),
            working_dir: Some("/workspace".into()),
            env: Some(
                self.env
                    .iter()
                    .cloned()
                    .chain(CONTAINER_ENV.iter().map(|s| s.to_string()))
                    .chain(proxy_env)
                    .collect(),
            ),
            labels: Some(labels),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                init: Some(true),
                network_mode: Some(self.network.docker_mode().into()),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                readonly_rootfs: Some(self.setup.is_none()),
                tmpfs: Some(HashMap::from([
                    ("/tmp".to_string(), tmpfs_opts.clone()),
                    ("/var/tmp".to_string(), tmpfs_opts),
                ])),
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some((self.limits.cpus * 1e9) as i64),
                pids_limit: Some(self.limits.pids),
                privileged: Some(false),
                runtime: self.runtime.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

/// How a resumed task got its container back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Adopted {
    /// It was still running (drover was killed, or quit keeping it).
    Running,
    /// It had stopped (Docker restarted, the machine rebooted): started again.
    Restarted,
    /// It was gone: a new one over the kept workspace.
    Created,
}

/// The task container of a given name, as Docker sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Found {
    pub id: String,
    pub running: bool,
    /// The task it belongs to (by label, or by name for a claimed pool container).
    pub task: Option<String>,
}

/// A labelled container as listed by Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedContainer {
    pub id: String,
    pub name: String,
    /// The task it belongs to (by label, or by name for a claimed pool container).
    pub task: Option<String>,
    /// The store it belongs to (`None` for containers of older drover versions).
    pub data: Option<String>,
    /// The slot of a warm-pool container (claimed or not).
    pub pool: Option<String>,
    /// What a setup container was setting up (see `LABEL_SETUP`).
    pub setup: Option<String>,
    pub state: String,
}

impl Runtime {
    /// Creates and starts the task's container. A stale container of the same task (same
    /// name, our labels) is replaced; anyone else's is left alone and reported.
    pub async fn create_task_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<String, RuntimeError> {
        self.require_image(&spec.image).await?;
        let opts = CreateContainerOptionsBuilder::new()
            .name(&spec.name)
            .build();
        let created = match self
            .docker
            .create_container(Some(opts.clone()), spec.body())
            .await
        {
            Err(e) if status_of(&e) == Some(409) => {
                self.replace_stale(&spec.name, &spec.task).await?;
                self.docker
                    .create_container(Some(opts), spec.body())
                    .await
                    .map_err(RuntimeError::api(format!(
                        "creating container {}",
                        spec.name
                    )))?
            }
            other => other.map_err(RuntimeError::api(format!(
                "creating container {}",
                spec.name
            )))?,
        };
        self.start(&created.id).await?;
        Ok(created.id)
    }

    /// The container for a resumed attempt: the task's own (started again if it stopped),
    /// else a new one over the kept workspace. Anyone else's container of that name is
    /// left alone and reported.
    pub async fn adopt_task_container(
        &self,
        spec: &ContainerSpec,
    ) -> Result<(String, Adopted), RuntimeError> {
        let Some(found) = self.find(&spec.name).await? else {
            return Ok((self.create_task_container(spec).await?, Adopted::Created));
        };
        if found.task.as_deref() != Some(&spec.task) {
            return Err(RuntimeError::ForeignContainer {
                name: spec.name.clone(),
                id: found.id,
            });
        }
        if found.running {
            return Ok((found.id, Adopted::Running));
        }
        match self.start(&found.id).await {
            Ok(()) => Ok((found.id, Adopted::Restarted)),
            // A dead container cannot start again: a new one takes its place.
            Err(e) => {
                tracing::warn!("restarting {}: {e}; creating a new one", spec.name);
                Ok((self.create_task_container(spec).await?, Adopted::Created))
            }
        }
    }

    /// The container called `name`, if there is one.
    pub async fn find(&self, name: &str) -> Result<Option<Found>, RuntimeError> {
        match self.docker.inspect_container(name, None).await {
            Ok(info) => {
                let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
                Ok(Some(Found {
                    id: info.id.unwrap_or_default(),
                    running: info.state.and_then(|s| s.running).unwrap_or(false),
                    task: task_of(&labels, info.name.as_deref().unwrap_or(name)),
                }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(RuntimeError::api(format!("inspecting container {name}"))(e)),
        }
    }

    async fn replace_stale(&self, name: &str, task: &str) -> Result<(), RuntimeError> {
        let info = self
            .docker
            .inspect_container(name, None)
            .await
            .map_err(RuntimeError::api(format!("inspecting container {name}")))?;
        let labels = info.config.and_then(|c| c.labels).unwrap_or_default();
        let id = info.id.unwrap_or_default();
        if task_of(&labels, info.name.as_deref().unwrap_or(name)).as_deref() != Some(task) {
            return Err(RuntimeError::ForeignContainer {
                name: name.into(),
                id,
            });
        }
        self.remove(&id).await
    }

    pub async fn start(&self, id: &str) -> Result<(), RuntimeError> {
        match self.docker.start_container(id, None).await {
            // 304: already running.
            Err(e) if status_of(&e) == Some(304) => Ok(()),
            other => other.map_err(RuntimeError::api(format!(
                "starting container {}",
                short(id)
            ))),
        }
    }

    /// Stops a container (init forwards SIGTERM; SIGKILL after 5 s). Gone is fine.
    pub async fn stop(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = StopContainerOptionsBuilder::new().t(5).build();
        match self.docker.stop_container(id, Some(opts)).await {
            Err(e) if matches!(status_of(&e), Some(304) | Some(404)) => Ok(()),
            other => other.map_err(RuntimeError::api(format!(
                "stopping container {}",
                short(id)
            ))),
        }
    }

    /// Removes a container, stopping it if needed. Gone is fine.
    pub async fn remove(&self, id: &str) -> Result<(), RuntimeError> {
        let opts = RemoveContainerOptionsBuilder::new()
            .force(true)
            .v(true)
            .build();
        match self.docker.remove_container(id, Some(opts)).await {
            Err(e) if status_of(&e) == Some(404) => Ok(()),
            other => other.map_err(RuntimeError::api(format!(
                "removing container {}",
                short(id)
            ))),
        }
    }

    /// drover's containers (running or not), optionally only one task's.
    pub async fn list_managed(
        &self,
        task: Option<&str>,
    ) -> Result<Vec<ManagedContainer>, RuntimeError> {
        // Filtered here, not by Docker: a claimed pool container has no task label.
        let filters = HashMap::from([("label".to_string(), vec![format!("{LABEL_MANAGED}=true")])]);
        let opts = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        let list = self
            .docker
            .list_containers(Some(opts))
            .await
            .map_err(RuntimeError::api("listing drover's containers"))?;
        Ok(list
            .into_iter()
            .map(|c| {
                let labels = c.labels.unwrap_or_default();
                let name = c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string();
                ManagedContainer {
                    id: c.id.unwrap_or_default(),
                    task: task_of(&labels, &name),
                    name,
                    data: labels.get(LABEL_DATA).cloned(),
                    pool: labels.get(LABEL_POOL).cloned(),
                    setup: labels.get(LABEL_SETUP).cloned(),
                    state: c.state.map(|s| s.to_string()).unwrap_or_default(),
                }
            })
            .filter(|c| task.is_none() || c.task.as_deref() == task)
            .collect())
    }

    /// Removes every container of `task`.
    pub async fn remove_task_containers(&self, task: &str) -> Result<usize, RuntimeError> {
        let list = self.list_managed(Some(task)).await?;
        for c in &list {
            self.remove(&c.id).await?;
        }
        Ok(list.len())
    }

    /// Gives container `id` the name `name`; a stale container of `task` holding that
    /// name is removed first, anyone else's is left alone and reported.
    pub async fn rename(&self, id: &str, name: &str, task: &str) -> Result<(), RuntimeError> {
        let opts = RenameContainerOptionsBuilder::new().name(name).build();
        match self.docker.rename_container(id, opts.clone()).await {
            Err(e) if status_of(&e) == Some(409) => {
                self.replace_stale(name, task).await?;
                self.docker.rename_container(id, opts).await
            }
            other => other,
        }
        .map_err(RuntimeError::api(format!(
            "renaming container {} to {name}",
            short(id)
        )))
    }
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// An interactive shell in a task's container through the docker CLI (it owns the
/// terminal while it runs). The container is started first if stopped, and stopped
/// again afterwards when `stop_after` (a resting task should not hold resources). With
/// `as_root`, the shell runs as root inside: on a root host a resting task's workspace
/// is handed back to root (0700), which the sandbox user could not enter; the container
/// keeps its dropped capabilities.
pub fn shell_command(container: &str, stop_after: bool, as_root: bool) -> std::process::Command {
    // bash when the image has it, else sh: decided first, so leaving bash after a failed
    // command does not drop the user into a second shell.
    let script = r#"docker start "$1" >/dev/null || exit $?
if docker exec "$1" sh -c 'command -v bash' >/dev/null 2>&1; then sh=bash; else sh=sh; fi
if [ "$3" = root ]; then user="-u 0:0"; else user=; fi
docker exec -it $user -w /workspace "$1" $sh
status=$?
if [ "$2" = stop ]; then docker stop -t 1 "$1" >/dev/null; fi
exit $status"#;
    let mut c = std::process::Command::new("sh");
    c.args([
        "-c",
        script,
        "drover-shell",
        container,
        if stop_after { "stop" } else { "keep" },
        if as_root { "root" } else { "user" },
    ]);
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_container_belongs_to_its_label_or_once_claimed_to_its_name() {
        let labels = |pairs: &[(&str, &str)]| -> HashMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        let task = labels(&[(LABEL_TASK, "abc")]);
        assert_eq!(task_of(&task, "/anything").as_deref(), Some("abc"));
        let pool = labels(&[(LABEL_POOL, "s1")]);
        assert_eq!(task_of(&pool, &pool_name("d", "s1")), None, "waiting");
        assert_eq!(task_of(&pool, "/drover-k7q2").as_deref(), Some("k7q2"));
        assert_eq!(task_of(&pool, "someone-else"), None);
        assert_eq!(task_of(&labels(&[]), "drover-k7q2"), None, "not ours");
    }
}
