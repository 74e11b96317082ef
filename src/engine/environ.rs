//! A task's environment as an attempt starts: the image its container runs (the
//! snapshot of its recipe when one exists), the setup phase that makes that snapshot
//! when none does (before the task container exists, in a container of its own with
//! setup's network and `setup_env`), and the restore (or maintenance) that fills a new
//! workspace from a snapshot.
//!
//! Tasks needing the same snapshot take turns: the first runs setup, the others wait
//! for it and start from its snapshot. What setup ran and where the image came from is
//! the attempt's `environment`; setup's output is the transcript's "setup" section.

use std::collections::HashMap;
use std::sync::Arc;

use async_trait::async_trait;

use super::EngineCtx;
use super::session::Session;
use super::supervisor::{Stop, record_attempt};
use crate::config::Config;
use crate::environment::{self, Phase, PhaseError, PhaseLog, Recipe};
use crate::protocol::{EntryKind, TaskRecord};
use crate::runtime::{ContainerSpec, ExecSpec, FoundImage, Runtime, snapshot};
use crate::workspace;

/// A lock per snapshot key (see `EngineCtx::setups`).
pub(crate) type SetupLocks = std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>;

/// How the attempt's environment gets ready.
pub(super) enum How {
    /// No setup configured: the image as it is.
    Plain,
    /// A snapshot exists: a new workspace is filled from it (maintenance runs, if any).
    Snapshot {
        key: String,
        recipe: Recipe,
        /// What setup left in the workspace, when the snapshot lists it.
        entries: Option<Vec<String>>,
        /// The snapshot layer's workspace files on the Docker host (`FoundImage::layer`).
        layer: Option<String>,
    },
    /// None yet: setup runs in the workspace and its result becomes the snapshot.
    Setup { key: String, recipe: Recipe },
}

/// The image for the attempt's container, and what is left to do.
pub(super) struct Chosen {
    pub image: String,
    pub image_id: String,
    pub how: How,
    /// This attempt's turn to make the snapshot (others with its key wait).
    turn: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Chosen {
    /// Whether a waiting warm-pool container may serve (it runs `image` already, as the
    /// workspace owner: never an image's user; and it has no layer of the task's own).
    pub(super) fn poolable(&self, config: &Config) -> bool {
        !matches!(self.how, How::Setup { .. })
            && config.env.user.is_none()
            && !config.network.proxied()
            && self.layered(config).is_none()
    }

    /// The snapshot layer a new workspace's container stacks a writable layer on, when
    /// the restore links instead of copying (see `layered`).
    pub(super) fn layered(&self, config: &Config) -> Option<&str> {
        match &self.how {
            How::Snapshot {
                entries: Some(_),
                layer: Some(layer),
                ..
            } if layerable(config) => Some(layer),
            _ => None,
        }
    }
}

/// Chooses the image for a task based on `commit`: the snapshot of its recipe, or the
/// base image when there is no setup or no snapshot yet (then this attempt makes it,
/// after any other attempt making the same one has finished).
pub(super) async fn choose(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    rt: &Runtime,
    base: (&str, &str),
    session: &Session,
) -> Result<Chosen, Stop> {
    let plain = |how| Chosen {
        image: base.0.to_string(),
        image_id: base.1.to_string(),
        how,
        turn: None,
    };
    if !environment::recipe::wanted(config) {
        return Ok(plain(How::Plain));
    }
    let recipe = recipe_of(
        ctx,
        config,
        &task.repo,
        &task.repo_hash,
        base.1,
        &task.base_commit,
    )
    .await?;
    let key = recipe.key();
    let image = environment::snapshot_image(&ctx.data.hash(), &key);
    if let Some(found) = find(rt, &image).await? {
        return Ok(from_snapshot(image, found, key, recipe));
    }
    let lock = {
        let mut all = ctx.setups.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(key.clone()).or_default().clone()
    };
    let turn = match lock.clone().try_lock_owned() {
        Ok(turn) => turn,
        Err(_) => {
            session
                .announce("another task is setting up this environment: waiting for its snapshot")
                .await;
            tokio::select! {
                t = lock.lock_owned() => t,
                _ = session.cancel.cancelled() => return Err(Stop::Cancelled),
            }
        }
    };
    // Made while this attempt waited?
    if let Some(found) = find(rt, &image).await? {
        return Ok(from_snapshot(image, found, key, recipe));
    }
    let mut chosen = plain(How::Setup { key, recipe });
    chosen.turn = Some(turn);
    Ok(chosen)
}

/// The attempt starts from snapshot `image`, found as `found`.
fn from_snapshot(image: String, found: FoundImage, key: String, recipe: Recipe) -> Chosen {
    Chosen {
        image,
        image_id: found.id,
        how: How::Snapshot {
            key,
            recipe,
            entries: found.entries,
            layer: found.layer,
        },
        turn: None,
    }
}

/// The recipe of a repository at `commit` (reads git objects off the runtime).
pub(crate) async fn recipe_of(
    ctx: &EngineCtx,
    config: &Config,
    repo: &std::path::Path,
    repo_hash: &str,
    image_id: &str,
    commit: &str,
) -> Result<Recipe, Stop> {
    let store = ctx.data.git_store(repo_hash);
    let (config, repo, image_id, commit) = (
        config.clone(),
        repo.to_path_buf(),
        image_id.to_string(),
        commit.to_string(),
    );
    tokio::task::spawn_blocking(move || Recipe::of(&config, &image_id, &store, &repo, &commit))
        .await
        .map_err(|e| Stop::Fail(format!("environment: {e}")))?
        .map_err(|e| Stop::Fail(format!("environment: {e}")))
}

/// Whether a snapshot restore may go through a writable layer (`runtime::EnvLayer`) for
/// `config`: not when maintenance runs (it changes the files in a container of its own,
/// so the workspace gets real copies).
pub(super) fn layerable(config: &Config) -> bool {
    config.env.maintenance.is_empty()
}

async fn find(rt: &Runtime, image: &str) -> Result<Option<FoundImage>, Stop> {
    rt.find_snapshot(image)
        .await
        .map_err(|e| Stop::Fail(e.to_string()))
}

/// Runs setup in the workspace `spec` mounts and keeps the result as the snapshot; the
/// attempt's container then runs `chosen.image`, the snapshot. Before the task container
/// exists (it would see setup's half-made files otherwise).
pub(super) async fn set_up(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    rt: &Runtime,
    chosen: &mut Chosen,
    spec: &ContainerSpec,
    session: &Session,
) -> Result<(), Stop> {
    let How::Setup { key, recipe } = &chosen.how else {
        return Ok(());
    };
    let (key, recipe) = (key.clone(), recipe.clone());
    session
        .record(EntryKind::Section {
            title: "setup".into(),
        })
        .await;
    let env = environment::setup_env_values(&config.env.setup_env).map_err(Stop::Fail)?;
    let image = environment::snapshot_image(&ctx.data.hash(), &key);
    session
        .announce(format!(
            "setup: {} command(s) in a container of their own (network {}{}); no snapshot yet for key {key} ({})",
            config.setup.len(),
            config.env.setup_network.name(),
            match env.len() {
                0 => String::new(),
                _ => format!(", setup_env {}", config.env.setup_env.join(", ")),
            },
            recipe.describe_files(),
        ))
        .await;
    let labels = HashMap::from([
        (snapshot::LABEL_ENV.to_string(), key.clone()),
        (snapshot::LABEL_ENV_REPO.to_string(), task.repo_hash.clone()),
        (
            snapshot::LABEL_ENV_PATH.to_string(),
            task.repo.display().to_string(),
        ),
    ]);
    let (setup, egress) = phase_spec(ctx, spec, task, config, &chosen.image)?;
    let phase = Phase {
        spec: setup,
        restore: false,
        commands: config.setup.clone(),
        env,
        timeout: config.limits.command_timeout,
        commit: Some((image.clone(), labels)),
        egress,
    };
    let started = std::time::Instant::now();
    let made = environment::phase::run(rt, &phase, session, &session.cancel)
        .await
        .map_err(phase_stop)?;
    let secs = started.elapsed().as_secs_f64();
    let id = made.ok_or_else(|| Stop::Fail("setup made no snapshot".into()))?;
    let base = std::mem::replace(&mut chosen.image, image.clone());
    chosen.image_id = id;
    chosen.turn = None;
    used(ctx, &key, task);
    let what = format!(
        "setup ran on {base} ({} command(s), {secs:.1}s); snapshot {image} kept, keyed by {}{}",
        config.setup.len(),
        recipe.describe_files(),
        source(config),
    );
    session.announce(what.clone()).await;
    record_attempt(ctx, &task.id, task.attempt, |a| a.environment = Some(what));
    chosen.how = How::Plain;
    Ok(())
}

/// Fills a new workspace from the snapshot: in a phase of its own when there is
/// maintenance to run (it needs setup's network and variables), else in the task
/// container itself.
pub(super) async fn restore(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    chosen: &Chosen,
    spec: &ContainerSpec,
    container: &str,
    session: &Session,
) -> Result<(), Stop> {
    let How::Snapshot {
        key,
        recipe,
        entries,
        ..
    } = &chosen.how
    else {
        return Ok(());
    };
    let rt = &session.tools.runtime;
    session
        .record(EntryKind::Section {
            title: "setup".into(),
        })
        .await;
    let maintenance = &config.env.maintenance;
    let mut linked = 0;
    if maintenance.is_empty() {
        let entries = entries.as_deref().filter(|_| spec.env_layer.is_some());
        linked = fill(
            task,
            ctx,
            config,
            &chosen.image,
            entries,
            container,
            session,
        )
        .await?;
    } else {
        // Maintenance changes what setup made, in a container of its own: the workspace
        // gets real copies.
        let (setup, egress) = phase_spec(ctx, spec, task, config, &chosen.image)?;
        let phase = Phase {
            spec: setup,
            restore: true,
            commands: maintenance.clone(),
            env: environment::setup_env_values(&config.env.setup_env).map_err(Stop::Fail)?,
            timeout: config.limits.command_timeout,
            commit: None,
            egress,
        };
        environment::phase::run(rt, &phase, session, &session.cancel)
            .await
            .map_err(phase_stop)?;
    }
    used(ctx, key, task);
    let what = format!(
        "from snapshot {} (setup skipped{}{}), keyed by {}{}",
        chosen.image,
        match maintenance.len() {
            0 => String::new(),
            n => format!("; {n} maintenance command(s) ran"),
        },
        match linked {
            0 => String::new(),
            n => format!(
                "; {n} ignored director{} linked to a layer of the task's own over it",
                if n == 1 { "y" } else { "ies" }
            ),
        },
        recipe.describe_files(),
        source(config),
    );
    session.announce(what.clone()).await;
    record_attempt(ctx, &task.id, task.attempt, |a| a.environment = Some(what));
    Ok(())
}

/// Fills the workspace from the snapshot the container runs: with `entries` (the
/// container has a writable layer over the snapshot's files), links for the ignored
/// directories setup made and copies for the rest; else everything copied. How many
/// directories were linked.
async fn fill(
    task: &TaskRecord,
    ctx: &EngineCtx,
    config: &Config,
    image: &str,
    entries: Option<&[String]>,
    container: &str,
    session: &Session,
) -> Result<usize, Stop> {
    let linked = match entries {
        Some(entries) => {
            let (git, entries) = (task.git(&ctx.data), entries.to_vec());
            let made =
                tokio::task::spawn_blocking(move || workspace::envlinks::link(&git, &entries))
                    .await
                    .map_err(|e| Stop::Fail(format!("restoring the snapshot: {e}")))?
                    .map_err(|e| Stop::Fail(format!("restoring the snapshot: {e}")))?;
            Some(made)
        }
        None => None,
    };
    let mut spec = match &linked {
        Some(l) if l.copies.is_empty() => return Ok(l.links.len()),
        Some(_) => ExecSpec::shell(
            &environment::phase::copy_script(),
            config.limits.command_timeout,
        ),
        None => ExecSpec::shell(
            &environment::phase::restore_script(),
            config.limits.command_timeout,
        ),
    };
    if let Some(l) = &linked {
        spec.stdin = Some(l.copies.join("\0").into_bytes());
    }
    let r = session
        .tools
        .runtime
        .exec(container, &spec, &mut |_| {})
        .await
        .map_err(|e| Stop::Fail(format!("restoring the snapshot: {e}")))?;
    if !r.success() {
        return Err(Stop::Fail(format!(
            "restoring the snapshot {image}: {}",
            crate::text::ellipsize(r.stdout.render().trim(), 400)
        )));
    }
    Ok(linked.map_or(0, |l| l.links.len()))
}

/// Who the attempt's containers run as: the workspace owner (the sandbox user on a
/// root host), or the environment's `user` (a devcontainer's `remoteUser`) when the
/// image has it and drover may run as it; with a line saying which when one was named.
pub(super) async fn agent_user(
    ctx: &EngineCtx,
    rt: &Runtime,
    config: &Config,
    image: &str,
    owner: (u32, u32),
) -> Result<((u32, u32), Option<String>), Stop> {
    let default = workspace::owner::user_for(owner);
    let Some(name) = &config.env.user else {
        return Ok((default, None));
    };
    let fail = |e: crate::runtime::RuntimeError| Stop::Fail(e.to_string());
    let id = rt.image_id(image).await.map_err(fail)?;
    let found = rt
        .image_user(&id, name, &ctx.data.hash())
        .await
        .map_err(fail)?;
    let from = config.env.source.as_deref().unwrap_or("the environment");
    Ok(match found {
        None => (
            default,
            Some(format!(
                "{from} names user {name}, which {image} does not have: running as uid {}",
                default.0
            )),
        ),
        Some(u) => match workspace::owner::wanted_user(owner, (u.uid, u.gid)) {
            Ok(user) => (
                user,
                Some(format!("running as {name} (uid {}) as {from} says", user.0)),
            ),
            Err(why) => (
                default,
                Some(format!("{from} names user {name}, not honoured: {why}")),
            ),
        },
    })
}

/// Where the environment is described, when a repository file does it.
pub(super) fn source(config: &Config) -> String {
    config
        .env
        .source
        .as_ref()
        .map(|s| format!("; environment from {s}"))
        .unwrap_or_default()
}

/// The attempt's environment when there is no setup: its image, and where from.
pub(super) fn record_plain(ctx: &EngineCtx, task: &TaskRecord, config: &Config, image: &str) {
    let what = format!("image {image}{}", source(config));
    record_attempt(ctx, &task.id, task.attempt, |a| a.environment = Some(what));
}

/// The setup container's spec, and its proxy when `setup_network` goes through one (it
/// lives as long as the phase holds it).
fn phase_spec(
    ctx: &EngineCtx,
    spec: &ContainerSpec,
    task: &TaskRecord,
    config: &Config,
    image: &str,
) -> Result<(ContainerSpec, Option<Arc<dyn environment::Egress>>), Stop> {
    let mut setup = setup_spec(spec, task, config, image);
    let dir = ctx.data.setup_proxy_dir(&task.id);
    let Some(proxy) = super::egress::TaskProxy::for_setup(config, &dir).map_err(Stop::Fail)? else {
        return Ok((setup, None));
    };
    setup.proxy = Some(dir);
    setup.probe = Some(proxy.new_probe());
    Ok((setup, Some(Arc::new(proxy))))
}

/// The setup container for a task: its own container's spec with setup's network,
/// a writable root and a name of its own.
fn setup_spec(
    spec: &ContainerSpec,
    task: &TaskRecord,
    config: &Config,
    image: &str,
) -> ContainerSpec {
    ContainerSpec {
        name: format!("drover-setup-{}", task.id),
        image: image.to_string(),
        network: config.env.setup_network,
        setup: Some(task.id.to_string()),
        // Setup and maintenance work on real copies, in a container of their own: never
        // on the task's layer.
        env_layer: None,
        // Only the repository's own variables: the container's environment is committed
        // into the snapshot (the agent's model endpoint is the task's, not setup's).
        env: super::pool::container_env(config),
        // Setup's network is its own (`setup_network`), never the task's proxy.
        proxy: None,
        probe: None,
        // Under gVisor (registered with no network of its own) setup could not download:
        // it keeps Docker's runtime, with the same hardening.
        runtime: None,
        ..spec.clone()
    }
}

fn phase_stop(e: PhaseError) -> Stop {
    match e {
        PhaseError::Cancelled => Stop::Cancelled,
        e => Stop::Fail(crate::redact::redact(&e.to_string()).into_owned()),
    }
}

/// Marks the snapshot used now (what `gc` and `drover env list` go by).
fn used(ctx: &EngineCtx, key: &str, task: &TaskRecord) {
    let dir = ctx.data.env_uses();
    let mark = dir.join(key);
    let written = crate::paths::create_private_dir(&dir).and_then(|()| {
        crate::paths::write_private(&mark, task.repo.display().to_string().as_bytes())
    });
    if let Err(e) = written {
        tracing::warn!("recording the use of snapshot {key}: {e}");
    }
}

#[async_trait]
impl PhaseLog for Session {
    async fn note(&self, text: String) {
        self.announce(text).await;
    }

    async fn output(&self, text: String) {
        self.announce_output(text).await;
    }
}
