//! Workspace, transcript and container for an attempt, and the session its agent uses.
//!
//! A fresh attempt claims a warm-pool container with its workspace, or creates the
//! workspace (or reopens it in place for a retry with feedback) and a new container. A resumed attempt (drover stopped mid-run) reopens its
//! workspace, takes its container back (running, stopped or gone), stops the commands a
//! lost drover left running in it, and replays the transcript it already has. Neither
//! runs the agent.

use tokio_util::sync::CancellationToken;

use super::EngineCtx;
use super::egress;
use super::environ;
use super::journal::Journal;
use super::pool::Fit;
use super::session::Session;
use super::supervisor::{Stop, check, record_attempt};
use crate::agent::tools::ContainerTools;
use crate::config::Config;
use crate::environment::layer;
use crate::protocol::EventBody;
use crate::protocol::TaskRecord;
use crate::runtime::container_name;
use crate::runtime::{Adopted, ContainerSpec, Runtime, image};
use crate::store::TranscriptLog;
use crate::workspace::{self, Workspace, owner};

/// A new workspace and container for the attempt: a warm-pool container when one waits
/// (a retry continuing in place needs its own workspace mounted, so never; nor an
/// attempt that runs setup first), else a new one. The environment is made ready here:
/// setup runs (and is kept as a snapshot) before the container exists, or the workspace
/// is filled from the snapshot after.
pub(super) async fn fresh(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    continue_in_place: bool,
    cancel: &CancellationToken,
    container_out: &mut Option<String>,
) -> Result<Session, Stop> {
    let (rt, base, base_id) = runtime_and_image(ctx, task, config).await?;
    // A retry with feedback continues where the last attempt left off.
    let git = task.git(&ctx.data);
    let in_place = continue_in_place && git.workspace.is_dir();
    let log = open_log(ctx, task)?;
    let mut session = new_session(
        ctx,
        task,
        config,
        rt.clone(),
        log,
        &git.workspace,
        "",
        cancel,
    );
    session.egress =
        egress::TaskProxy::start(config, &ctx.data.proxy_dir(&task.id)).map_err(Stop::Fail)?;
    let mut chosen = environ::choose(ctx, task, config, &rt, (&base, &base_id), &session).await?;
    if in_place && matches!(chosen.how, environ::How::Snapshot { .. }) {
        // Its workspace already holds what setup made.
        chosen.how = environ::How::Plain;
    }
    let claimed = match in_place || !chosen.poolable(config) {
        true => None,
        false => {
            let fit = Fit::of(config, &chosen.image, &chosen.image_id);
            let name = container_name(&task.id);
            ctx.pool
                .claim(&rt, &ctx.data, &fit, &git, (task.id.as_str(), &name))
                .await
        }
    };
    let warm = claimed.is_some();
    let (ws, container, spec) = match claimed {
        Some(c) => {
            let (mut spec, _) =
                container_spec(ctx, task, config, &chosen.image, &c.workspace).await?;
            // A warm container has no layer: an earlier attempt's goes with its workspace.
            spec.env_layer = None;
            drop_layer(&ctx.data.env_layer(&task.id))
                .await
                .map_err(|e| Stop::Fail(format!("removing the earlier attempt's layer: {e}")))?;
            (c.workspace, c.container, spec)
        }
        None => {
            let layer_dir = ctx.data.env_layer(&task.id);
            let ws = workspace_for(task, &git, in_place, &layer_dir).await?;
            let (mut spec, user) = container_spec(ctx, task, config, &chosen.image, &ws).await?;
            if let Some(user) = user {
                session.info(user).await;
            }
            environ::set_up(ctx, task, config, &rt, &mut chosen, &spec, &session).await?;
            spec.image = chosen.image.clone();
            spec.proxy = session.egress.as_ref().map(|p| p.dir.clone());
            // A new container runs its self-test as it starts (no exec to wait for).
            spec.probe = session.egress.as_ref().map(|p| p.new_probe());
            if let Some(lower) = chosen.layered(config).filter(|_| !in_place) {
                spec.env_layer = layer(&layer_dir, lower, (spec.uid, spec.gid), &session).await;
            }
            let container = match rt.create_task_container(&spec).await {
                Ok(c) => c,
                Err(e) if spec.env_layer.is_some() => {
                    // An engine that cannot mount it (rootless, another host): copy.
                    session
                        .info(format!(
                            "the snapshot's files cannot be layered here ({e}): copying them"
                        ))
                        .await;
                    spec.env_layer = None;
                    let _ = drop_layer(&layer_dir).await;
                    rt.create_task_container(&spec)
                        .await
                        .map_err(|e| Stop::Fail(e.to_string()))?
                }
                Err(e) => return Err(Stop::Fail(e.to_string())),
            };
            (ws, container, spec)
        }
    };
    crate::crash::point("after_container_start");
    *container_out = Some(container.clone());
    session.tools.container = container.clone();
    check(cancel)?;

    record_container(ctx, task, config, &chosen.image, &ws, &container, true);
    session
        .info(format!(
            "workspace {} on branch {} at {}; {}container {} ({}, network {})",
            ws.dir.display(),
            task.branch,
            &task.base_commit[..task.base_commit.len().min(12)],
            if warm { "warm " } else { "" },
            crate::runtime::short_id(&container),
            chosen.image,
            config.network.name()
        ))
        .await;
    egress_up(config, &rt, &container, &session, spec.probe.is_some()).await?;
    environ::restore(ctx, task, config, &chosen, &spec, &container, &session).await?;
    if !crate::environment::recipe::wanted(config) {
        environ::record_plain(ctx, task, config, &chosen.image);
    }
    session.image_id = chosen.image_id.clone();
    if config.network == crate::config::Network::Bridge {
        session
            .info(
                "network bridge: the container can reach the internet, and also your host's open ports and the Docker gateway; use it only for repositories you trust",
            )
            .await;
    }
    Ok(session)
}

/// A writable layer in `dir` over the snapshot layer `lower`, for a new workspace; `None`
/// (the restore copies) when it cannot be made, saying why.
async fn layer(
    dir: &std::path::Path,
    lower: &str,
    owner: (u32, u32),
    session: &Session,
) -> Option<crate::runtime::EnvLayer> {
    let (d, l) = (dir.to_path_buf(), lower.to_string());
    let made = tokio::task::spawn_blocking(move || layer::prepare(&d, &l, owner)).await;
    match made {
        Ok(Ok(made)) if made.options().is_some() => Some(made),
        Ok(Ok(_)) => {
            session
                .info(format!(
                    "the snapshot's files are copied: {} has a comma or colon in its path, which an overlay cannot take",
                    dir.display()
                ))
                .await;
            None
        }
        Ok(Err(e)) => {
            session
                .info(format!(
                    "the snapshot's files are copied: {}: {e}",
                    dir.display()
                ))
                .await;
            None
        }
        Err(e) => {
            session
                .info(format!("the snapshot's files are copied: {e}"))
                .await;
            None
        }
    }
}

async fn drop_layer(dir: &std::path::Path) -> std::io::Result<()> {
    let d = dir.to_path_buf();
    tokio::task::spawn_blocking(move || layer::remove(&d))
        .await
        .map_err(std::io::Error::other)?
}

/// Starts the container's way to its egress proxy and proves the policy holds (the
/// task's proxy refuses a host no policy admits, asked from inside), before any agent
/// command runs (NET-05). A container `booted` with its self-test did it as it started.
async fn egress_up(
    config: &Config,
    rt: &Runtime,
    container: &str,
    session: &Session,
    booted: bool,
) -> Result<(), Stop> {
    if !config.network.proxied() {
        return Ok(());
    }
    let Some(proxy) = &session.egress else {
        return Err(Stop::Fail(
            "network policy self-test: no proxy runs for this task".into(),
        ));
    };
    let heard = match booted {
        true => proxy.await_probe(std::time::Duration::from_secs(15)).await,
        false => {
            let probe = proxy.new_probe();
            rt.start_forwarder(container, &probe)
                .await
                .map_err(|e| Stop::Fail(format!("{e}: no agent command ran")))?;
            proxy.probed()
        }
    };
    if !heard {
        return Err(Stop::Fail(
            "network policy self-test: the refusal did not come from this task's proxy: no agent command ran".into(),
        ));
    }
    let reach = match config.network {
        crate::config::Network::Open => "any public address".to_string(),
        _ if config.allow.is_empty() => "nothing (allow is empty)".to_string(),
        _ => config.allow_hosts().join(", "),
    };
    let methods = config
        .methods
        .as_ref()
        .map(|m| format!("; methods {}", m.join(", ")))
        .unwrap_or_default();
    session
        .info(format!(
            "network {}: no route out; drover's proxy (127.0.0.1:{} inside) reaches {reach}{methods}",
            config.network.name(),
            crate::runtime::forwarder::PROXY_PORT
        ))
        .await;
    Ok(())
}

/// The attempt's workspace: made at the base (with no layer of an earlier attempt left
/// in `layer_dir`), or reopened in place for a retry.
async fn workspace_for(
    task: &TaskRecord,
    git: &workspace::TaskGit,
    in_place: bool,
    layer_dir: &std::path::Path,
) -> Result<Workspace, Stop> {
    let git = git.clone();
    let user_repo = task.repo.clone();
    let layer_dir = layer_dir.to_path_buf();
    tokio::task::spawn_blocking(move || {
        if in_place {
            Workspace::existing(&git.workspace, &user_repo)
        } else {
            layer::remove(&layer_dir).map_err(|e| workspace::WorkspaceError::Broken {
                path: layer_dir.clone(),
                message: format!("removing the earlier attempt's layer: {e}"),
            })?;
            workspace::create(&git)
        }
    })
    .await
    .map_err(|e| Stop::Fail(format!("workspace: {e}")))?
    .map_err(|e| Stop::Fail(format!("workspace: {e}")))
}

/// The attempt's own workspace and container again, and a session that replays what the
/// transcript holds.
pub(super) async fn resume(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    cancel: &CancellationToken,
    container_out: &mut Option<String>,
    journal: Journal,
) -> Result<Session, Stop> {
    let (rt, base, base_id) = runtime_and_image(ctx, task, config).await?;
    let dir = ctx.data.workspace(&task.id);
    let repo = task.repo.clone();
    let ws = tokio::task::spawn_blocking(move || Workspace::existing(&dir, &repo))
        .await
        .map_err(|e| Stop::Fail(format!("workspace: {e}")))?
        .map_err(|e| match e {
            workspace::WorkspaceError::Gone(dir) => Stop::Fail(format!(
                "cannot resume: the workspace {} was removed from outside drover; retry to start over",
                dir.display()
            )),
            e => Stop::Fail(format!("workspace: {e}")),
        })?;
    check(cancel)?;

    let log = open_log(ctx, task)?;
    let mut session = new_session(ctx, task, config, rt.clone(), log, &ws.dir, "", cancel);
    session.egress =
        egress::TaskProxy::start(config, &ctx.data.proxy_dir(&task.id)).map_err(Stop::Fail)?;
    // The image it ran: its snapshot, when that is still there.
    let record = ctx.store.attempt(&task.id, task.attempt).ok();
    let mut image = base.clone();
    if let Some(recorded) = record.as_ref().and_then(|a| a.image.clone())
        && rt.find_image(&recorded).await.ok().flatten().is_some()
    {
        image = recorded;
    }
    // Stopped before its environment was ready: it is made ready now.
    let unready = environment_unready(config, record.as_ref());
    let mut chosen = match unready {
        true => Some(environ::choose(ctx, task, config, &rt, (&base, &base_id), &session).await?),
        false => None,
    };
    let (mut spec, said) = container_spec(ctx, task, config, &image, &ws).await?;
    if let Some(said) = said {
        session.info(said).await;
    }
    if let Some(chosen) = &mut chosen {
        environ::set_up(ctx, task, config, &rt, chosen, &spec, &session).await?;
        spec.image = chosen.image.clone();
        image = chosen.image.clone();
    }
    spec.proxy = session.egress.as_ref().map(|p| p.dir.clone());
    let (container, how) = rt
        .adopt_task_container(&spec)
        .await
        .map_err(|e| Stop::Fail(e.to_string()))?;
    *container_out = Some(container.clone());
    session.tools.container = container.clone();
    // Commands the lost drover was running would go on changing the workspace unseen.
    let reaped = match how {
        Adopted::Running => rt.reap_tool_calls(&container).await.unwrap_or_else(|e| {
            tracing::warn!(task = %task.id, "stopping leftover commands: {e}");
            0
        }),
        _ => 0,
    };
    record_container(ctx, task, config, &image, &ws, &container, false);
    egress_up(config, &rt, &container, &session, false).await?;
    if let Some(chosen) = &chosen {
        environ::restore(ctx, task, config, chosen, &spec, &container, &session).await?;
    }
    // Which baseline its tests compare with (none when the image cannot be told).
    session.image_id = match &chosen {
        Some(c) => c.image_id.clone(),
        None => rt.image_id(&image).await.unwrap_or_default(),
    };
    let calls = journal.last_call();
    let session = session.replaying(journal);
    let short = crate::runtime::short_id(&container);
    let what = match how {
        Adopted::Running => format!("reattached to its running container {short}"),
        Adopted::Restarted => format!("started its stopped container {short} again"),
        Adopted::Created => format!("its container was gone: new container {short}"),
    };
    let stopped = match reaped {
        0 => String::new(),
        n => format!("; stopped {n} command(s) left running"),
    };
    session
        .announce(format!(
            "resumed after drover stopped: {what}{stopped}; {calls} earlier tool call(s) are not run again"
        ))
        .await;
    Ok(session)
}

/// Whether an attempt stopped before its environment was ready (setup is configured
/// and the attempt records no environment).
fn environment_unready(config: &Config, record: Option<&crate::protocol::AttemptRecord>) -> bool {
    crate::environment::recipe::wanted(config) && record.is_some_and(|a| a.environment.is_none())
}

/// The runtime, and the attempt's image tag and id.
async fn runtime_and_image(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
) -> Result<(Runtime, String, String), Stop> {
    let rt = ctx
        .runtime
        .get()
        .ok_or_else(|| Stop::Fail("docker unavailable".into()))?;
    if let Some(name) = &config.runtime {
        rt.require_runtime(name)
            .await
            .map_err(|e| Stop::Fail(e.to_string()))?;
    }
    let image =
        image::task_image(config, Some(&task.repo)).map_err(|e| Stop::Fail(e.to_string()))?;
    let id = rt
        .image_id(&image)
        .await
        .map_err(|e| Stop::Fail(e.to_string()))?;
    Ok((rt, image, id))
}

fn open_log(ctx: &EngineCtx, task: &TaskRecord) -> Result<TranscriptLog, Stop> {
    let path = ctx.data.transcript(&task.id, task.attempt);
    TranscriptLog::open(&path)
        .map_err(|e| Stop::Fail(format!("transcript {}: {e}", path.display())))
}

/// The container for the attempt, as the user it runs as (the workspace is handed to
/// that user first when it is not the owner: root hosts, an image's user), and what to
/// say of that user when the environment names one.
async fn container_spec(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    image: &str,
    ws: &Workspace,
) -> Result<(ContainerSpec, Option<String>), Stop> {
    let rt = ctx
        .runtime
        .get()
        .ok_or_else(|| Stop::Fail("docker unavailable".into()))?;
    let ((uid, gid), said) = environ::agent_user(ctx, &rt, config, image, (ws.uid, ws.gid)).await?;
    let (env_layer, gone) = layer_of(ctx, &rt, task, image).await;
    let said = match (said, gone) {
        (Some(a), Some(b)) => Some(format!("{a}; {b}")),
        (a, b) => a.or(b),
    };
    if (uid, gid) != (ws.uid, ws.gid) {
        let dir = ws.dir.clone();
        tokio::task::spawn_blocking(move || owner::hand_to(&dir, (uid, gid)))
            .await
            .map_err(|e| Stop::Fail(format!("workspace: {e}")))?
            .map_err(|e| {
                Stop::Fail(format!(
                    "handing the workspace {} to the sandbox user {uid}: {e}",
                    ws.dir.display()
                ))
            })?;
    }
    let spec = ContainerSpec {
        name: container_name(&task.id),
        image: image.to_string(),
        task: task.id.to_string(),
        pool: None,
        repo_hash: task.repo_hash.clone(),
        data_hash: ctx.data.hash(),
        workspace: ws.dir.clone(),
        objects: ws.objects.clone(),
        uid,
        gid,
        network: config.network,
        limits: config.limits.clone(),
        setup: None,
        env_layer,
        proxy: None,
        probe: None,
        runtime: config.runtime.clone(),
        env: {
            let mut env = super::pool::container_env(config);
            env.extend(egress::model_env(config));
            env
        },
    };
    Ok((spec, said))
}

/// The workspace's writable layer, when it has one over `image`'s own snapshot layer (a
/// resume, a retry in place); a layer over another image's would not mount, so then
/// what to tell the user instead.
async fn layer_of(
    ctx: &EngineCtx,
    rt: &Runtime,
    task: &TaskRecord,
    image: &str,
) -> (Option<crate::runtime::EnvLayer>, Option<String>) {
    let dir = ctx.data.env_layer(&task.id);
    let Some(found) = tokio::task::spawn_blocking(move || layer::existing(&dir))
        .await
        .ok()
        .flatten()
    else {
        return (None, None);
    };
    let snapshot = rt.find_snapshot(image).await.ok().flatten();
    if snapshot.and_then(|s| s.layer).as_deref() == Some(found.lower.as_str()) {
        return (Some(found), None);
    }
    let why = format!(
        "the environment snapshot this workspace was restored from is gone (now {image}): the directories linked to it point nowhere; retry from scratch to restore the environment again"
    );
    (None, Some(why))
}

/// Records where the attempt runs and tells front ends; `started` on a fresh attempt.
fn record_container(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    image: &str,
    ws: &Workspace,
    container: &str,
    started: bool,
) {
    let n = task.attempt;
    record_attempt(ctx, &task.id, n, |a| {
        a.workspace = Some(ws.dir.clone());
        a.container = Some(container.to_string());
        a.image = Some(image.to_string());
        a.network = Some(config.network.name().to_string());
        a.limits = Some(config.limits.describe());
        if started || a.started_at.is_none() {
            a.started_at = Some(crate::protocol::clock::now_rfc3339());
        }
    });
    let event = EventBody::ContainerStarted {
        container: container.to_string(),
        image: image.to_string(),
    };
    ctx.bus.emit(Some(&task.id), n, event);
}

#[allow(clippy::too_many_arguments)]
fn new_session(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    rt: Runtime,
    log: TranscriptLog,
    workspace: &std::path::Path,
    container: &str,
    cancel: &CancellationToken,
) -> Session {
    let tools = ContainerTools {
        runtime: rt,
        container: container.to_string(),
        timeout: config.limits.command_timeout,
        oom_kills: Default::default(),
        proxied: config.network.proxied(),
    };
    Session::new(
        task.id.clone(),
        task.attempt,
        ctx.bus.clone(),
        ctx.store.clone(),
        log,
        tools,
        cancel.clone(),
        workspace::TaskGit {
            workspace: workspace.to_path_buf(),
            ..task.git(&ctx.data)
        },
    )
}
