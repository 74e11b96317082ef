//! The warm pool: task containers created ahead of their tasks (`warm_pool = N`), so a
//! queued task starts in a running container instead of waiting for Docker to make one.
//!
//! Each waiting container mounts a slot directory `pool/<slot>` of the data dir as its
//! /workspace, with the repository's HEAD already checked out there. A fresh attempt
//! claims one: the slot is put on the task's branch at its base (only files that differ
//! are written), the slot is renamed to the task's workspace path (the bind mount follows the
//! directory, not its name), and the container is renamed to the task's container name.
//! The pool then refills in the background, one container at a time per repository.
//! A container made for other settings (image rebuilt, limits or network changed) is
//! never claimed but replaced. Waiting containers are removed when the engine ends, and
//! those a crash left behind when the next one starts. Which repositories get a pool is
//! the engine's call (`want`); this module does not read the store.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Limits, Network};
use crate::paths::DataDir;
use crate::runtime::{ContainerSpec, Runtime, image, pool_name};
use crate::workspace::{self, TaskGit, Workspace, owner};

/// What a container was made for; one is claimed only by an attempt needing the same.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Fit {
    pub image: String,
    /// The image's id: a rebuilt tag is another image.
    pub image_id: String,
    pub network: Network,
    pub limits: Limits,
    pub env: Vec<String>,
    pub runtime: Option<String>,
}

impl Fit {
    pub(crate) fn of(config: &Config, image: &str, image_id: &str) -> Fit {
        Fit {
            image: image.to_string(),
            image_id: image_id.to_string(),
            network: config.network,
            limits: config.limits.clone(),
            env: container_env(config),
            runtime: config.runtime.clone(),
        }
    }
}

/// The variables a task's containers get beside drover's own.
pub(crate) fn container_env(config: &Config) -> Vec<String> {
    config
        .env
        .container_env
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect()
}

/// A waiting container and the slot it mounts.
#[derive(Debug)]
struct Warm {
    container: String,
    slot: PathBuf,
    objects: PathBuf,
    fit: Fit,
}

#[derive(Default)]
struct RepoPool {
    want: usize,
    ready: Vec<Warm>,
    filling: bool,
    /// When filling last failed: it is not tried again for `RETRY_AFTER`.
    failed: Option<Instant>,
}

const RETRY_AFTER: Duration = Duration::from_secs(30);
/// How long a claim waits before its replacement is made: creating a container costs
/// the CPU that tasks queued in the same burst need to start.
const REFILL_AFTER: Duration = Duration::from_secs(1);

#[derive(Default)]
struct State {
    repos: HashMap<PathBuf, RepoPool>,
    closed: bool,
    /// Fillers and removals under way (`close` waits for them).
    fillers: Vec<JoinHandle<()>>,
    /// Cancelled on close: fillers waiting to start give up at once.
    stop: CancellationToken,
}

/// The engine's warm pool; clones share it.
#[derive(Clone, Default)]
pub(crate) struct WarmPool {
    state: Arc<Mutex<State>>,
}

/// A claimed container: the task's workspace (at its own path) and the container id.
pub(crate) struct Claimed {
    pub workspace: Workspace,
    pub container: String,
}

impl WarmPool {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// How many containers each repository should have waiting; repositories not named
    /// lose theirs. Starts fillers where containers are missing.
    pub(crate) fn want(&self, rt: &Runtime, data: &DataDir, wanted: &HashMap<PathBuf, usize>) {
        let mut gone = Vec::new();
        let mut st = self.lock();
        if st.closed {
            return;
        }
        for (repo, pool) in st.repos.iter_mut() {
            if !wanted.contains_key(repo) {
                pool.want = 0;
                gone.append(&mut pool.ready);
            }
        }
        for (repo, n) in wanted {
            let pool = st.repos.entry(repo.clone()).or_default();
            pool.want = *n;
            while pool.ready.len() > *n {
                gone.extend(pool.ready.pop());
            }
        }
        let short: Vec<PathBuf> = st
            .repos
            .iter()
            .filter(|(_, p)| !p.filling && p.ready.len() < p.want)
            .filter(|(_, p)| p.failed.is_none_or(|t| t.elapsed() > RETRY_AFTER))
            .map(|(r, _)| r.clone())
            .collect();
        for repo in short {
            self.start_filler(&mut st, rt, data, repo, Duration::ZERO);
        }
        st.repos.retain(|_, p| p.want > 0 || p.filling);
        discard(&mut st, rt, gone);
    }

    fn start_filler(
        &self,
        st: &mut State,
        rt: &Runtime,
        data: &DataDir,
        repo: PathBuf,
        after: Duration,
    ) {
        if let Some(p) = st.repos.get_mut(&repo) {
            p.filling = true;
        }
        let (me, rt, data, stop) = (self.clone(), rt.clone(), data.clone(), st.stop.clone());
        st.fillers.retain(|j| !j.is_finished());
        st.fillers.push(tokio::spawn(async move {
            tokio::select! {
                _ = tokio::time::sleep(after) => {}
                _ = stop.cancelled() => {}
            }
            me.fill(rt, data, repo).await
        }));
    }

    /// Makes containers for `repo` one at a time until it has what it wants, replacing
    /// those made for other settings. Stops at the first failure (a missing image, say):
    /// the next `want` tries again.
    async fn fill(self, rt: Runtime, data: DataDir, repo: PathBuf) {
        let mut failed = false;
        loop {
            let fit = match fit_for(&rt, &data, &repo).await {
                Ok(Some(fit)) => fit,
                // Its containers run as an image's user, resolved per task.
                Ok(None) => break,
                Err(e) => {
                    tracing::warn!("warm pool for {}: {e}", repo.display());
                    failed = true;
                    break;
                }
            };
            let (stale, enough) = {
                let mut st = self.lock();
                let closed = st.closed;
                let Some(p) = st.repos.get_mut(&repo) else {
                    break;
                };
                let (keep, stale) = std::mem::take(&mut p.ready)
                    .into_iter()
                    .partition(|w| w.fit == fit);
                p.ready = keep;
                (stale, closed || p.ready.len() >= p.want)
            };
            remove_all(&rt, stale).await;
            if enough {
                break;
            }
            match make(&rt, &data, &repo, fit).await {
                Ok(warm) => {
                    let unwanted = {
                        let mut st = self.lock();
                        let closed = st.closed;
                        match st.repos.get_mut(&repo) {
                            Some(p) if !closed && p.ready.len() < p.want => {
                                p.ready.push(warm);
                                None
                            }
                            _ => Some(warm),
                        }
                    };
                    // Awaited: closing waits for fillers, and must leave nothing behind.
                    if let Some(warm) = unwanted {
                        remove(&rt, warm).await;
                        break;
                    }
                }
                Err(e) => {
                    tracing::warn!("warm pool for {}: {e}", repo.display());
                    failed = true;
                    break;
                }
            }
        }
        if let Some(p) = self.lock().repos.get_mut(&repo) {
            p.filling = false;
            p.failed = failed.then(Instant::now);
        }
    }

    /// A waiting container of `repo` made for `fit`, turned into `task`'s: its workspace
    /// checked out and moved to `workspace`, the container renamed to `name`. `None` when
    /// none waits or claiming failed (said in the log; the caller starts cold).
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn claim(
        &self,
        rt: &Runtime,
        data: &DataDir,
        fit: &Fit,
        git: &TaskGit,
        (task, name): (&str, &str),
    ) -> Option<Claimed> {
        let repo = git.user_repo.as_path();
        let warm = {
            let mut st = self.lock();
            let p = st.repos.get_mut(repo)?;
            let at = p.ready.iter().position(|w| &w.fit == fit)?;
            let warm = p.ready.swap_remove(at);
            if !p.filling && !st.closed {
                self.start_filler(&mut st, rt, data, repo.to_path_buf(), REFILL_AFTER);
            }
            warm
        };
        let container = warm.container.clone();
        match take(rt, warm, git, (task, name)).await {
            Ok(ws) => Some(Claimed {
                workspace: ws,
                container,
            }),
            Err(e) => {
                tracing::warn!("claiming warm container {container} for task {task}: {e}");
                None
            }
        }
    }

    /// Removes every waiting container and slot and waits for fillers; the pool takes
    /// no more work.
    pub(crate) async fn close(&self, rt: Option<&Runtime>) {
        let (gone, fillers) = {
            let mut st = self.lock();
            st.closed = true;
            st.stop.cancel();
            let gone: Vec<Warm> = st
                .repos
                .values_mut()
                .flat_map(|p| std::mem::take(&mut p.ready))
                .collect();
            (gone, std::mem::take(&mut st.fillers))
        };
        for f in fillers {
            let _ = f.await;
        }
        if let Some(rt) = rt {
            remove_all(rt, gone).await;
        }
    }

    /// Forgets and removes the waiting containers (Docker restarted under them); `want`
    /// makes new ones.
    pub(crate) fn reset(&self, rt: &Runtime) {
        let mut st = self.lock();
        let gone = st
            .repos
            .values_mut()
            .flat_map(|p| std::mem::take(&mut p.ready))
            .collect();
        discard(&mut st, rt, gone);
    }
}

/// Removes waiting containers that a crashed engine of this data dir left, and their
/// slots. Call before the pool makes any.
pub(crate) async fn sweep(rt: &Runtime, data: &DataDir) {
    let ours = data.hash();
    if let Ok(list) = rt.list_managed(None).await {
        let left = list
            .into_iter()
            .filter(|c| c.data.as_deref() == Some(&ours) && c.pool.is_some() && c.task.is_none());
        for c in left {
            if let Err(e) = rt.remove(&c.id).await {
                tracing::warn!("removing left-over warm container {}: {e}", c.name);
            }
        }
    }
    let dir = data.pool();
    if dir.exists()
        && let Err(e) = tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir)).await
    {
        tracing::warn!("removing left-over warm slots: {e}");
    }
}

/// What a container for `repo` needs now, from its configuration and image; `None` when
/// the pool does not serve it (its environment names the image's user, its network goes
/// through a proxy of each task's own, or its snapshot is restored through a layer of
/// each task's own).
async fn fit_for(rt: &Runtime, data: &DataDir, repo: &Path) -> Result<Option<Fit>, String> {
    let config = Config::load_in(Some(repo), data.root()).map_err(|e| e.to_string())?;
    // Its containers run as an image's user, or reach out through a proxy of the task's.
    if config.env.user.is_some() || config.network.proxied() {
        return Ok(None);
    }
    let image = image::task_image(&config, Some(repo)).map_err(|e| e.to_string())?;
    let id = rt.image_id(&image).await.map_err(|e| e.to_string())?;
    // With setup, waiting containers run the snapshot of HEAD's recipe once there is one
    // (the task that makes it runs setup in a container of its own, never a pooled one).
    if crate::environment::recipe::wanted(&config) {
        let (store, user_repo) = (
            data.git_store(&crate::paths::repo_hash(repo)),
            repo.to_path_buf(),
        );
        let (c, base_id) = (config.clone(), id.clone());
        let recipe = tokio::task::spawn_blocking(move || {
            let head = workspace::head_commit(&user_repo).map_err(|e| e.to_string())?;
            crate::environment::Recipe::of(&c, &base_id, &store, &user_repo, &head)
        })
        .await
        .map_err(|e| e.to_string())??;
        let snapshot = crate::environment::snapshot_image(&data.hash(), &recipe.key());
        if let Some(found) = rt
            .find_snapshot(&snapshot)
            .await
            .map_err(|e| e.to_string())?
        {
            // Its tasks start faster on a layer of their own than from a warm container
            // that would copy the snapshot's files.
            if found.entries.is_some()
                && found.layer.is_some()
                && super::environ::layerable(&config)
            {
                return Ok(None);
            }
            return Ok(Some(Fit::of(&config, &snapshot, &found.id)));
        }
    }
    Ok(Some(Fit::of(&config, &image, &id)))
}

/// A new waiting container for `repo` over a new empty slot.
async fn make(rt: &Runtime, data: &DataDir, repo: &Path, fit: Fit) -> Result<Warm, String> {
    let slot_name = format!("{:010x}", rand::rng().random::<u64>() >> 24);
    let slot = data.pool().join(&slot_name);
    let (dir, user_repo) = (slot.clone(), repo.to_path_buf());
    let prepared = tokio::task::spawn_blocking(move || prepare_slot(&dir, &user_repo))
        .await
        .map_err(|e| e.to_string())?;
    let (objects, (uid, gid)) = match prepared {
        Ok(p) => p,
        Err(e) => {
            let _ = std::fs::remove_dir_all(&slot);
            return Err(e);
        }
    };
    let spec = ContainerSpec {
        name: pool_name(&data.hash(), &slot_name),
        image: fit.image.clone(),
        task: String::new(),
        pool: Some(slot_name),
        repo_hash: crate::paths::repo_hash(repo),
        data_hash: data.hash(),
        workspace: slot.clone(),
        objects: objects.clone(),
        uid,
        gid,
        network: fit.network,
        limits: fit.limits.clone(),
        setup: None,
        env_layer: None,
        proxy: None,
        probe: None,
        runtime: fit.runtime.clone(),
        env: fit.env.clone(),
    };
    match rt.create_task_container(&spec).await {
        Ok(container) => Ok(Warm {
            container,
            slot,
            objects,
            fit,
        }),
        Err(e) => {
            let _ = std::fs::remove_dir_all(&slot);
            Err(e.to_string())
        }
    }
}

/// Creates the slot with the repository's HEAD checked out (most tasks start there),
/// owned by the user the container will run as. Blocking.
fn prepare_slot(slot: &Path, repo: &Path) -> Result<(PathBuf, (u32, u32)), String> {
    use std::os::unix::fs::MetadataExt;
    let objects = workspace::user_objects_dir(repo).map_err(|e| e.to_string())?;
    let head = workspace::head_commit(repo).map_err(|e| e.to_string())?;
    crate::paths::create_private_dir(slot)
        .map_err(|e| format!("creating {}: {e}", slot.display()))?;
    workspace::prepare(repo, slot, &head).map_err(|e| e.to_string())?;
    let meta = std::fs::metadata(slot).map_err(|e| format!("{}: {e}", slot.display()))?;
    let user = owner::user_for((meta.uid(), meta.gid()));
    if user != (meta.uid(), meta.gid()) {
        owner::hand_to(slot, user).map_err(|e| format!("{}: {e}", slot.display()))?;
    }
    Ok((objects, user))
}

/// Puts the claimed slot on the task's branch and makes slot and container the task's.
async fn take(
    rt: &Runtime,
    warm: Warm,
    git: &TaskGit,
    (task, name): (&str, &str),
) -> Result<Workspace, String> {
    let (slot, objects) = (warm.slot.clone(), warm.objects.clone());
    let git = git.clone();
    let moved = tokio::task::spawn_blocking(move || -> Result<Workspace, String> {
        let to = git.workspace.clone();
        let checks_out = workspace::detached_at(&slot).as_deref() != Some(git.base.as_str());
        let mut ws = workspace::adopt(&git, &slot).map_err(|e| e.to_string())?;
        if ws.objects != objects {
            return Err(format!(
                "the repository's objects moved to {}",
                ws.objects.display()
            ));
        }
        // The slot was handed to the container's user already (its owner reads as that
        // user's), but what adopting it wrote is this process's.
        let made_by = (
            rustix::process::geteuid().as_raw(),
            rustix::process::getegid().as_raw(),
        );
        (ws.uid, ws.gid) = made_by;
        let user = owner::container_user(&ws);
        if user != made_by {
            // At the prepared commit only `.git` changed: no walk over the whole tree.
            let changed = if checks_out {
                slot.clone()
            } else {
                slot.join(".git")
            };
            owner::hand_to(&changed, user).map_err(|e| format!("{}: {e}", slot.display()))?;
        }
        if to.exists() {
            std::fs::remove_dir_all(&to)
                .map_err(|e| format!("removing old workspace {}: {e}", to.display()))?;
        }
        if let Some(parent) = to.parent() {
            crate::paths::create_private_dir(parent)
                .map_err(|e| format!("creating {}: {e}", parent.display()))?;
        }
        std::fs::rename(&slot, &to)
            .map_err(|e| format!("moving {} to {}: {e}", slot.display(), to.display()))?;
        ws.dir = to;
        Ok(ws)
    })
    .await
    .map_err(|e| e.to_string());
    let ws = match moved.and_then(|r| r) {
        Ok(ws) => ws,
        Err(e) => {
            remove(rt, warm).await;
            return Err(e);
        }
    };
    if let Err(e) = rt.rename(&warm.container, name, task).await {
        let _ = rt.remove(&warm.container).await;
        return Err(e.to_string());
    }
    Ok(ws)
}

/// Removes waiting containers and their slots in the background (`close` waits for it).
fn discard(st: &mut State, rt: &Runtime, gone: Vec<Warm>) {
    if gone.is_empty() {
        return;
    }
    let rt = rt.clone();
    st.fillers.retain(|j| !j.is_finished());
    st.fillers
        .push(tokio::spawn(async move { remove_all(&rt, gone).await }));
}

async fn remove_all(rt: &Runtime, gone: Vec<Warm>) {
    futures_util::future::join_all(gone.into_iter().map(|w| remove(rt, w))).await;
}

async fn remove(rt: &Runtime, warm: Warm) {
    if let Err(e) = rt.remove(&warm.container).await {
        tracing::warn!("removing warm container {}: {e}", warm.container);
    }
    let slot = warm.slot;
    let _ = tokio::task::spawn_blocking(move || {
        if slot.exists() {
            let _ = std::fs::remove_dir_all(&slot);
        }
    })
    .await;
}
