//! Task containers: one per task, hardened, labelled, found again by label.
//!
//! The container idles (`sleep infinity` under Docker's init) and every tool runs in it
//! through exec. It sees the task workspace at /workspace and the user's objects
//! read-only at their own path; nothing else of the host, never the Docker socket.

use std::collections::HashMap;
use std::path::PathBuf;

use bollard::models::{ContainerCreateBody, HostConfig, Mount, MountType};
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, RemoveContainerOptionsBuilder,
    StopContainerOptionsBuilder,
};

use super::{Runtime, RuntimeError, status_of};
use crate::config::{Limits, Network};

pub const LABEL_MANAGED: &str = "drover.managed";
pub const LABEL_TASK: &str = "drover.task";
pub const LABEL_REPO: &str = "drover.repo";
/// Which data dir (store) the container belongs to: only that store's engine may judge
/// it an orphan.
pub const LABEL_DATA: &str = "drover.data";

/// Environment every tool sees: no pagers, editors or prompts that would hang an exec.
pub const CONTAINER_ENV: &[&str] = &[
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
    pub task: String,
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
}

impl ContainerSpec {
    fn body(&self) -> ContainerCreateBody {
        let labels = HashMap::from([
            (LABEL_MANAGED.to_string(), "true".to_string()),
            (LABEL_TASK.to_string(), self.task.clone()),
            (LABEL_REPO.to_string(), self.repo_hash.clone()),
            (LABEL_DATA.to_string(), self.data_hash.clone()),
        ]);
        let mounts = vec![
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
        let tmpfs_opts = format!("rw,exec,nosuid,nodev,size={}", self.limits.tmp_bytes);
        let memory = i64::try_from(self.limits.memory_bytes).unwrap_or(i64::MAX);
        ContainerCreateBody {
            image: Some(self.image.clone()),
            cmd: Some(vec!["sleep".into(), "infinity".into()]),
            user: Some(format!("{}:{}", self.uid, self.gid)),
            working_dir: Some("/workspace".into()),
            env: Some(CONTAINER_ENV.iter().map(|s| s.to_string()).collect()),
            labels: Some(labels),
            host_config: Some(HostConfig {
                mounts: Some(mounts),
                init: Some(true),
                network_mode: Some(self.network.docker_mode().into()),
                cap_drop: Some(vec!["ALL".into()]),
                security_opt: Some(vec!["no-new-privileges:true".into()]),
                readonly_rootfs: Some(true),
                tmpfs: Some(HashMap::from([
                    ("/tmp".to_string(), tmpfs_opts.clone()),
                    ("/var/tmp".to_string(), tmpfs_opts),
                ])),
                memory: Some(memory),
                memory_swap: Some(memory),
                nano_cpus: Some((self.limits.cpus * 1e9) as i64),
                pids_limit: Some(self.limits.pids),
                privileged: Some(false),
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
    pub task: Option<String>,
}

/// A labelled container as listed by Docker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManagedContainer {
    pub id: String,
    pub name: String,
    pub task: Option<String>,
    /// The store it belongs to (`None` for containers of older drover versions).
    pub data: Option<String>,
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
            Ok(info) => Ok(Some(Found {
                id: info.id.unwrap_or_default(),
                running: info.state.and_then(|s| s.running).unwrap_or(false),
                task: info
                    .config
                    .and_then(|c| c.labels)
                    .and_then(|l| l.get(LABEL_TASK).cloned()),
            })),
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
        if labels.get(LABEL_TASK).map(String::as_str) != Some(task) {
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
        let mut label = vec![format!("{LABEL_MANAGED}=true")];
        if let Some(t) = task {
            label.push(format!("{LABEL_TASK}={t}"));
        }
        let filters = HashMap::from([("label".to_string(), label)]);
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
            .map(|c| ManagedContainer {
                id: c.id.unwrap_or_default(),
                name: c
                    .names
                    .and_then(|n| n.into_iter().next())
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_string(),
                task: c.labels.as_ref().and_then(|l| l.get(LABEL_TASK).cloned()),
                data: c.labels.as_ref().and_then(|l| l.get(LABEL_DATA).cloned()),
                state: c.state.map(|s| s.to_string()).unwrap_or_default(),
            })
            .collect())
    }

    /// Removes every container labelled with `task`.
    pub async fn remove_task_containers(&self, task: &str) -> Result<usize, RuntimeError> {
        let list = self.list_managed(Some(task)).await?;
        for c in &list {
            self.remove(&c.id).await?;
        }
        Ok(list.len())
    }
}

pub fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// An interactive shell in a task's container through the docker CLI (it owns the
/// terminal while it runs). The container is started first if stopped, and stopped
/// again afterwards when `stop_after` (a resting task should not hold resources).
pub fn shell_command(container: &str, stop_after: bool) -> std::process::Command {
    let script = r#"docker start "$1" >/dev/null || exit $?
docker exec -it -w /workspace "$1" bash -l 2>/dev/null || docker exec -it -w /workspace "$1" sh
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
    ]);
    c
}
