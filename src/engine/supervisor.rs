//! One attempt of one task, start to rest: provision (workspace, environment,
//! container), agent, verification, review.
//!
//! Every state change goes through the state machine and the store's compare-and-set
//! before it is announced. On any ending (review, failure, cancel) the container is
//! stopped, not removed: a retry or a shell can start it again, and it no longer counts
//! against `max_parallel`.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::EngineCtx;
use super::journal::Journal;
use super::provision;
use super::session::Session;
use super::watchdog::{Trip, Tripped, Watch};
use crate::agent::external::ExternalAgent;
use crate::agent::llm_agent::LlmAgent;
use crate::agent::scripted::{Script, ScriptedAgent};
use crate::agent::tools::{ContainerTools, ToolError};
use crate::agent::{Agent, AgentError};
use crate::config::Config;
use crate::protocol::EntryKind;
use crate::protocol::EventBody;
use crate::protocol::TaskId;
use crate::protocol::{AgentSpec, AttemptRecord, TaskRecord};
use crate::protocol::{Cause, Transition};
use crate::protocol::{TestReport, Verdict};
use crate::runtime::ExecSpec;
use crate::text::Utf8Stream;
use crate::verify;

/// Why an attempt stopped early.
pub(super) enum Stop {
    Fail(String),
    Cancelled,
}

impl From<AgentError> for Stop {
    fn from(e: AgentError) -> Self {
        match e {
            AgentError::Tool(ToolError::Cancelled) => Stop::Cancelled,
            AgentError::Failed(m) => Stop::Fail(m),
            AgentError::Stopped(budget) => Stop::Fail(format!("stopped: {budget}")),
            AgentError::Tool(e) => Stop::Fail(e.to_string()),
        }
    }
}

fn stop(e: crate::protocol::CommandError) -> Stop {
    Stop::Fail(e.to_string())
}

/// Runs the task's current attempt to a resting state. Never panics on task errors: they
/// become the task's `Failed` reason.
pub(super) async fn run_attempt(
    ctx: Arc<EngineCtx>,
    task: TaskRecord,
    cancel: CancellationToken,
    ending: super::Ending,
) {
    let id = task.id.clone();
    // What this attempt already did: a resumed attempt replays it, a fresh one has none.
    let log_path = ctx.data.transcript(&task.id, task.attempt);
    let journal = match crate::store::read_transcript(&log_path) {
        Ok((entries, _)) => Journal::from_entries(&entries),
        Err(e) => {
            tracing::warn!(task = %id, "reading {}: {e}", log_path.display());
            Journal::default()
        }
    };
    let mut task = task;
    if let Err(e) = ctx.transition(&mut task, Transition::Start) {
        ctx.error(Some(&id), task.attempt, e.to_string());
        return;
    }
    let started = Instant::now();
    let data = ctx.data.root().to_path_buf();
    // Room kept to record why, should the disk fill up during the attempt.
    let _ = tokio::task::spawn_blocking(move || super::watchdog::ensure_ballast(&data)).await;
    let mut container = None;
    // The watchdog stops this attempt alone (a child of the task's token), saying why.
    let (watched, tripped) = (cancel.child_token(), Tripped::default());
    let outcome = attempt(&ctx, &mut task, &watched, &mut container, journal, &tripped).await;
    let trip = tripped.take();
    if trip.is_none() && matches!(outcome, Err(Stop::Cancelled)) && ending.keeps_running() {
        // The container goes on; the next engine finds the task active and resumes it.
        let message = format!(
            "drover quit; task {id} keeps its container and resumes when drover starts again"
        );
        ctx.notice(Some(&id), task.attempt, message);
        return;
    }
    // A failure while Docker is away is Docker's, not the task's: it goes on later.
    let docker_lost = matches!(outcome, Err(Stop::Fail(_))) && !docker_answers(&ctx).await;
    if docker_lost {
        ctx.runtime
            .lost("it stopped answering during a task", &ctx.bus);
    }
    // What failed because the workspace went away failed for that reason, whatever
    // broke first (a command, the container that mounts it).
    let ws_gone = matches!(outcome, Err(Stop::Fail(_)))
        && std::fs::symlink_metadata(ctx.data.workspace(&id)).is_err();
    let outside = match (&outcome, &container) {
        (Err(Stop::Fail(_)), Some(c)) if !docker_lost && !ws_gone => {
            stopped_from_outside(&ctx, c).await
        }
        _ => None,
    };
    let end = match outcome {
        _ if trip.is_some() => match trip {
            Some(Trip::Fail(reason)) => Transition::Fail(reason),
            Some(Trip::Interrupt(reason)) => Transition::Interrupt(reason, Cause::Other),
            None => Transition::Cancel,
        },
        Err(Stop::Fail(_)) if ws_gone => Transition::Fail(format!(
            "the workspace {} was removed from outside drover; retry from scratch (R) to start again from the base",
            ctx.data.workspace(&id).display()
        )),
        Err(Stop::Fail(reason)) if outside.is_some() => Transition::Interrupt(
            format!(
                "{} ({reason}); resume (c) continues in a new container",
                outside.unwrap_or_default()
            ),
            Cause::Other,
        ),
        Ok(()) => Transition::Verified,
        Err(Stop::Cancelled) if ending.token.is_cancelled() => Transition::Interrupt(
            "drover quit while the task was running".into(),
            Cause::Other,
        ),
        Err(Stop::Cancelled) => Transition::Cancel,
        Err(Stop::Fail(reason)) if docker_lost => Transition::Interrupt(
            format!("docker became unavailable ({reason}); it resumes when Docker is back"),
            Cause::DockerLost,
        ),
        Err(Stop::Fail(reason)) => Transition::Fail(reason),
    };
    if let (Some(rt), Some(c)) = (&ctx.runtime.get(), &container)
        && let Err(e) = rt.stop(c).await
    {
        tracing::warn!(task = %id, "stopping container: {e}");
    }
    if matches!(end, Transition::Interrupt(..)) {
        // Stopped for a full disk (or anything else that it may take part in): give
        // the ballast's room to what must be written now, the reason first.
        super::watchdog::release_ballast(ctx.data.root());
    }
    // The diff a review looks at reads every file (nothing runs any more); an attempt
    // that ends otherwise keeps its live one (reading a workspace past its disk limit
    // whole would only grow drover's own repository).
    if matches!(end, Transition::Verified) {
        final_diff(&ctx, &task).await;
    }
    let ws = ctx.data.workspace(&id);
    let disk = tokio::task::spawn_blocking(move || {
        // On a root host the sandbox user had it; the user gets it back.
        if let Err(e) = crate::workspace::owner::hand_back(&ws) {
            tracing::warn!("handing back {}: {e}", ws.display());
        }
        crate::paths::disk_usage(&ws)
    })
    .await
    .ok();
    record_attempt(&ctx, &id, task.attempt, |a| {
        a.finished_at = Some(crate::protocol::clock::now_rfc3339());
        a.workspace_bytes = disk;
    });
    if let Err(e) = ctx.transition(&mut task, end) {
        ctx.error(Some(&id), task.attempt, e.to_string());
    }
    tracing::info!(task = %id, state = %task.state, secs = started.elapsed().as_secs_f64(), "attempt ended");
}

/// Why the attempt's container is not there or not running any more, when drover did
/// not stop it: someone else did (`docker kill`, `docker rm`), or everything in it ended.
async fn stopped_from_outside(ctx: &EngineCtx, container: &str) -> Option<String> {
    let rt = ctx.runtime.get()?;
    match rt.find(container).await {
        Ok(None) => Some("container removed from outside drover".into()),
        Ok(Some(f)) if !f.running => Some("container stopped from outside drover".into()),
        _ => None,
    }
}

async fn docker_answers(ctx: &EngineCtx) -> bool {
    let Some(rt) = ctx.runtime.get() else {
        return false;
    };
    super::docker_watch::ping_failure(&rt).await.is_none()
}

async fn attempt(
    ctx: &EngineCtx,
    current: &mut TaskRecord,
    cancel: &CancellationToken,
    container_out: &mut Option<String>,
    journal: Journal,
    tripped: &Tripped,
) -> Result<(), Stop> {
    let task = current.clone();
    let n = task.attempt;
    let config = Config::load_in(Some(&task.repo), ctx.data.root())
        .map_err(|e| Stop::Fail(format!("config: {e}")))?;
    let record = ctx
        .store
        .attempt(&task.id, n)
        .map_err(|e| Stop::Fail(e.to_string()))?;
    let feedback = record.feedback;
    let resuming = !journal.is_empty();
    let session = if resuming {
        provision::resume(ctx, &task, &config, cancel, container_out, journal).await?
    } else {
        provision::fresh(
            ctx,
            &task,
            &config,
            feedback.is_some(),
            cancel,
            container_out,
        )
        .await?
    };
    // Until the attempt ends: its workspace's size, and the disk under drover's data.
    let watching = CancellationToken::new();
    let _stop_watching = watching.clone().drop_guard();
    let watch = Watch {
        workspace: session.workspace.clone(),
        data: ctx.data.root().to_path_buf(),
        disk_limit: config.limits.disk_bytes,
        stored: session.stored(),
    };
    tokio::spawn(super::watchdog::watch(
        watch,
        cancel.clone(),
        watching,
        tripped.clone(),
    ));
    check(cancel)?;
    ctx.transition(current, Transition::Provisioned)
        .map_err(stop)?;
    let test_command = test_command_for(&config, &session.workspace).await;
    // The base's own run, while a fresh workspace is still the base: what failed there
    // already is then told apart from what the attempt broke. A resumed or continued
    // attempt's workspace is not the base any more: it only looks for a stored one.
    let baseline = match test_command.as_deref() {
        Some(c) if !resuming && feedback.is_none() => {
            super::baseline::ensure(ctx, &task, &config, &session, c).await?
        }
        Some(c) => super::baseline::stored(ctx, &task, &config, &session, c).await,
        None => None,
    };
    if crate::environment::recipe::wanted(&config) {
        session
            .record(EntryKind::Section {
                title: "agent".into(),
            })
            .await;
    }

    if let Some(f) = &feedback {
        session
            .record(EntryKind::Info {
                text: format!("feedback from review: {f}"),
            })
            .await;
    }
    let conversations = AgentFiles {
        save: ctx.data.attempt_dir(&task.id, n).join("conversation.json"),
        follow: ctx
            .data
            .attempt_dir(&task.id, n)
            .join("external-agent.json"),
        // A retry with feedback continues the last attempt's conversation.
        resume: feedback.as_ref().filter(|_| n > 1).map(|_| {
            ctx.data
                .attempt_dir(&task.id, n - 1)
                .join("conversation.json")
        }),
    };
    let (mut agent, model) = build_agent(
        &task,
        &config,
        session.git(),
        test_command.as_deref(),
        conversations,
        &session.tools,
        resuming,
    )
    .await?;
    if let Some(m) = model {
        record_attempt(ctx, &task.id, n, |a| a.model = Some(m));
    }
    let dir = ctx.data.attempt_dir(&task.id, n);
    let wall = config.agent.wall_clock;
    let deadline = tokio::time::Instant::now() + wall;
    let mut next_feedback = feedback.clone();
    let mut iteration = record.iterations;
    loop {
        let outcome = tokio::time::timeout_at(
            deadline,
            with_refusals(&session, agent.run(&session, next_feedback.as_deref())),
        )
        .await
        .map_err(|_| {
            let w = format_duration(wall);
            Stop::Fail(format!("stopped: time budget (used {w} of {w})"))
        })?;
        check(cancel)?;
        let outcome = outcome.map_err(Stop::from)?;
        if let Some(summary) = outcome.summary {
            // A summary is shown and sent with the task: an agent cannot make it a book.
            let summary = crate::text::ellipsize(&crate::redact::redact(&summary), 16 << 10);
            record_attempt(ctx, &task.id, n, |a| a.summary = Some(summary));
        }
        ctx.transition(current, Transition::AgentDone)
            .map_err(stop)?;

        let (mut report, output) = with_refusals(
            &session,
            verify_in(
                &session,
                test_command.as_deref(),
                &config,
                &dir.join("test.log"),
            ),
        )
        .await?;
        if let Some(base) = &baseline {
            verify::baseline::compare(&mut report, base);
        }
        let (count, blocked) = session.blocked();
        record_attempt(ctx, &task.id, n, |a| {
            a.tests = Some(report.clone());
            a.blocked_count = count;
            a.blocked = blocked;
        });
        session.info(format!("tests: {}", report.summary())).await;
        session.emit(EventBody::TestFinished {
            report: report.clone(),
        });
        let max = config.agent.max_iterations;
        if report.verdict == Verdict::Failed && agent.continues() && iteration < max {
            iteration += 1;
            record_attempt(ctx, &task.id, n, |a| a.iterations = iteration);
            session
                .info(format!("tests failed: the failure goes back to the agent (iteration {iteration} of {max})"))
                .await;
            ctx.transition(current, Transition::Iterate).map_err(stop)?;
            next_feedback = Some(failure_feedback(&report, &output));
            continue;
        }
        break;
    }

    let ws = session.workspace.clone();
    let listed = tokio::task::spawn_blocking(move || {
        crate::beneath::Beneath::open(&ws).and_then(|b| b.list(std::path::Path::new("")))
    })
    .await
    .map_err(|e| Stop::Fail(e.to_string()))?;
    if listed
        .as_ref()
        .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
    {
        return Err(Stop::Fail(format!(
            "the workspace {} was removed from outside drover; retry from scratch (R) to start again from the base",
            session.workspace.display()
        )));
    }
    if listed.is_ok_and(|entries| entries.is_empty()) {
        return Err(Stop::Fail(
            "worktree empty: everything in the workspace was deleted (its .git too); retry from scratch (R) to start again from the base"
                .into(),
        ));
    }
    Ok(())
}

/// The diff the attempt rests with, taken once its container is stopped (nothing can
/// change the files any more, not even a write through a memory mapping that leaves
/// their times alone): every file read again, recorded and shown, and saved as the
/// attempt's `diff.patch`.
async fn final_diff(ctx: &EngineCtx, task: &TaskRecord) {
    let git = task.git(&ctx.data);
    if std::fs::symlink_metadata(&git.workspace).is_err() {
        return;
    }
    let opts = crate::workspace::SnapshotOptions {
        rehash: true,
        persist: true,
        list_ignored: true,
    };
    let n = task.attempt;
    let taken = tokio::task::spawn_blocking(move || crate::workspace::diff(&git, opts)).await;
    let d = match taken {
        Ok(Ok(d)) => d,
        Ok(Err(e)) => {
            let message = format!("diff: {e}");
            ctx.bus
                .emit(Some(&task.id), n, EventBody::Error { message });
            return;
        }
        Err(_) => return,
    };
    let path = ctx.data.attempt_dir(&task.id, n).join("diff.patch");
    if let Err(e) = crate::paths::write_private(&path, d.patch.as_bytes()) {
        tracing::warn!("saving {}: {e}", path.display());
    }
    let summary = d.summary.clone();
    record_attempt(ctx, &task.id, n, |a| a.diff = Some(summary));
    let event = EventBody::DiffUpdated {
        diff: d.summary,
        patch: crate::protocol::Page::of(&d.patch, 0),
    };
    ctx.bus.emit(Some(&task.id), n, event);
}

/// Updates the attempt's record (front ends are told the whole record); a failure to
/// record is logged, as the attempt goes on.
pub(super) fn record_attempt(
    ctx: &EngineCtx,
    id: &TaskId,
    n: u32,
    f: impl FnOnce(&mut AttemptRecord),
) {
    if let Err(e) = ctx.update_attempt(id, n, f) {
        tracing::error!(task = %id, "recording attempt {n}: {e}");
    }
}

pub(super) fn check(cancel: &CancellationToken) -> Result<(), Stop> {
    if cancel.is_cancelled() {
        Err(Stop::Cancelled)
    } else {
        Ok(())
    }
}

/// Where an LLM agent saves its conversation, and the one it continues (if any).
struct AgentFiles {
    save: std::path::PathBuf,
    /// How far an external agent's output was read.
    follow: std::path::PathBuf,
    resume: Option<std::path::PathBuf>,
}

/// The agent for a task, and the model's label when it is an LLM.
async fn build_agent(
    task: &TaskRecord,
    config: &Config,
    git: &crate::workspace::TaskGit,
    test_command: Option<&str>,
    files: AgentFiles,
    container: &ContainerTools,
    resuming: bool,
) -> Result<(Box<dyn Agent>, Option<String>), Stop> {
    match &task.agent {
        AgentSpec::Scripted { script, source } => {
            let s = Script::parse(std::path::Path::new(source), script)
                .map_err(|e| Stop::Fail(e.to_string()))?;
            Ok((Box::new(ScriptedAgent::new(s)), None))
        }
        AgentSpec::Builtin { provider }
            if provider.as_deref().or(config.agent.provider.as_deref()) == Some("command") =>
        {
            let spec = crate::agent::external::resolve(&config.agent, config.network)
                .map_err(Stop::Fail)?;
            let label = spec.label.clone();
            let prompt = format!("{}\n\n{}", task.title, task.prompt);
            let agent = ExternalAgent::new(spec, container.clone(), prompt).following(files.follow);
            Ok((Box::new(agent), Some(label)))
        }
        AgentSpec::Builtin { provider } => {
            let (settings, label) =
                crate::agent::resolve::resolve(&config.agent, provider.as_deref())
                    .await
                    .map_err(Stop::Fail)?;
            let (title, prompt, ws) = (task.title.clone(), task.prompt.clone(), git.clone());
            let test = test_command.map(String::from);
            let system = tokio::task::spawn_blocking(move || {
                crate::agent::context::system_prompt(&title, &prompt, &ws, test.as_deref())
            })
            .await
            .map_err(|e| Stop::Fail(format!("building the agent's context: {e}")))?;
            let first = format!(
                "Please work on this task: {}\n\n{}",
                task.title, task.prompt
            );
            let earlier = files.resume.as_deref().and_then(LlmAgent::load);
            // Resumed mid-attempt, the agent goes on with its own conversation.
            let own = resuming
                .then(|| LlmAgent::load(&files.save))
                .flatten()
                .unwrap_or_default();
            let agent = LlmAgent::new(settings, system, &first)
                .resuming(earlier)
                .restoring(own)
                .saving_to(files.save);
            Ok((Box::new(agent), Some(label)))
        }
    }
}

/// What the agent is told when the tests fail after it finished.
fn failure_feedback(report: &TestReport, output: &str) -> String {
    let mut tail = crate::text::Capture::new(0, 8 << 10);
    tail.push(output.as_bytes());
    format!(
        "The project's tests failed after your changes ({}). Command: `{}`.\nEnd of the output:\n{}\n\nFix the cause and finish again.",
        report.summary(),
        report.command.as_deref().unwrap_or("?"),
        tail.render()
    )
}

/// The test command: configured, else detected in the workspace.
async fn test_command_for(config: &Config, workspace: &std::path::Path) -> Option<String> {
    match &config.test {
        Some(c) => Some(c.clone()),
        None => {
            let dir = workspace.to_path_buf();
            tokio::task::spawn_blocking(move || verify::detect(&dir))
                .await
                .unwrap_or(None)
        }
    }
}

/// Runs the project's tests in the container, streaming output as events. First every
/// process the agent left is ended and the workspace read whole: that tree is what the
/// verdict is about. After the run (and its leftovers ended), a workspace that is not
/// that tree any more makes the verdict `stale`, naming the files.
async fn verify_in(
    session: &Session,
    command: Option<&str>,
    config: &Config,
    log_path: &std::path::Path,
) -> Result<(TestReport, String), Stop> {
    sweep(session, "before the tests").await?;
    let before = session
        .thorough_diff()
        .await
        .map_err(|e| Stop::Fail(format!("cannot read the workspace before the tests: {e}")))?;
    let Some(command) = command.map(String::from) else {
        let mut report = TestReport::no_tests();
        report.tree = before.summary.tree.clone();
        return Ok((report, String::new()));
    };
    session.emit(EventBody::TestStarted {
        command: command.clone(),
    });
    let stream = |chunk: String| session.emit(EventBody::TestOutput { chunk });
    let (result, output) = exec_tests(session, &command, config, &stream).await?;
    // SIGKILL without a timeout: most often the kernel's OOM killer, which Docker does
    // not report for a process other than the container's first.
    let oom =
        result.exit_code == Some(137) && !result.timed_out && session.tools.oom_killed().await;
    sweep(session, "after the tests").await?;
    let after = session
        .refresh_diff()
        .await
        .ok_or_else(|| Stop::Fail("cannot read the workspace after the tests".into()))?;
    if let Err(e) = crate::paths::write_private(log_path, output.as_bytes()) {
        tracing::warn!("saving {}: {e}", log_path.display());
    }
    let mut report = TestReport::judge(
        &command,
        result.exit_code.unwrap_or(-1),
        result.timed_out,
        &output,
        result.duration.as_millis() as u64,
    );
    if oom {
        report.note = Some(format!(
            "killed: out of memory (the container's limit is {}; raise `limits.memory` in the config)",
            crate::paths::mib(config.limits.memory_bytes)
        ));
    }
    report.tree = before.summary.tree.clone();
    if after.summary.tree != before.summary.tree {
        let changed = changed_between(session, &before, &after).await;
        report = report.stale(changed);
    }
    Ok((report, output))
}

/// Runs `command` as the tests run, the baseline's too: under the config's per-command
/// timeout and the container's limits, output capped and redacted, Python's bytecode
/// read from nowhere the agent could have planted it. Output goes to `on_chunk` as it
/// comes (redacted); the whole (redacted) output comes back with the result.
pub(super) async fn exec_tests(
    session: &Session,
    command: &str,
    config: &Config,
    on_chunk: &(dyn Fn(String) + Sync),
) -> Result<(crate::runtime::ExecResult, String), Stop> {
    let mut spec = ExecSpec::shell(command, config.limits.command_timeout);
    spec.head_cap = 64 << 10;
    spec.tail_cap = 64 << 10;
    // Python reads no bytecode the agent may have planted beside the sources (ignored,
    // so out of the diff): a cache directory nobody could guess, and nothing written.
    spec.env = vec![format!(
        "PYTHONPYCACHEPREFIX=/tmp/.drover-pycache-{:016x}",
        rand::random::<u64>()
    )];
    let mut decoder = Utf8Stream::default();
    let mut batch = crate::text::Batcher::default();
    let send = |chunk: String| on_chunk(crate::redact::redact(&chunk).into_owned());
    let mut on_output = |bytes: &[u8]| {
        if let Some(chunk) = batch.push(&decoder.push(bytes)) {
            send(chunk);
        }
    };
    let rt = &session.tools.runtime;
    let result = tokio::select! {
        r = rt.exec(&session.tools.container, &spec, &mut on_output) => r.map_err(|e| Stop::Fail(format!("running tests: {e}")))?,
        _ = session.cancel.cancelled() => return Err(Stop::Cancelled),
    };
    let tail = decoder.finish();
    for rest in [batch.push(&tail), batch.finish()].into_iter().flatten() {
        send(rest);
    }
    let output = crate::redact::redact(&result.stdout.render()).into_owned();
    Ok((result, output))
}

/// Ends every process left in the container, saying so when there were any.
/// Runs `fut` while writing what the egress proxy refuses as it happens (within a
/// second, in the middle of a long command too).
async fn with_refusals<T>(session: &Session, fut: impl Future<Output = T>) -> T {
    if session.egress.is_none() {
        return fut.await;
    }
    tokio::pin!(fut);
    let mut tick = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            r = &mut fut => return r,
            _ = tick.tick() => session.flush_blocked().await,
        }
    }
}

pub(super) async fn sweep(session: &Session, when: &str) -> Result<(), Stop> {
    let swept = session
        .tools
        .runtime
        .end_strays(&session.tools.container)
        .await
        .map_err(|e| Stop::Fail(format!("stopping leftover processes {when}: {e}")))?
        .beside_forwarder(session.tools.proxied);
    if let Some(note) = swept.note() {
        session.info(format!("{when}: {note}")).await;
    }
    // The proxy's forwarder was one of those processes: the tests get it back.
    if session.tools.proxied {
        session
            .tools
            .runtime
            .start_forwarder(
                &session.tools.container,
                &crate::runtime::forwarder::probe_name(),
            )
            .await
            .map_err(|e| Stop::Fail(format!("{when}: {e}")))?;
    }
    Ok(())
}

/// The files that differ between two snapshots of the attempt.
async fn changed_between(
    session: &Session,
    a: &crate::workspace::WorkspaceDiff,
    b: &crate::workspace::WorkspaceDiff,
) -> Vec<String> {
    let (Some(ta), Some(tb)) = (a.summary.tree.clone(), b.summary.tree.clone()) else {
        return Vec::new();
    };
    let git = session.git().clone();
    tokio::task::spawn_blocking(move || -> Option<Vec<String>> {
        let store = git.open_store().ok()?;
        let (ta, tb) = (
            git2::Oid::from_str(&ta).ok()?,
            git2::Oid::from_str(&tb).ok()?,
        );
        crate::workspace::changed_paths(&store, ta, tb).ok()
    })
    .await
    .ok()
    .flatten()
    .unwrap_or_default()
}

/// "60m", "90s", "1h30m".
fn format_duration(d: std::time::Duration) -> String {
    let s = d.as_secs();
    match (s / 3600, (s % 3600) / 60, s % 60) {
        (0, 0, s) => format!("{s}s"),
        (0, m, 0) => format!("{m}m"),
        (0, m, s) => format!("{m}m{s:02}s"),
        (h, 0, _) => format!("{h}h"),
        (h, m, _) => format!("{h}h{m:02}m"),
    }
}
