//! An attempt's baseline: the project's tests on the base commit, run once per key
//! (base commit, test command, image, network) in the first fresh attempt's container
//! before its agent starts, while the workspace is still exactly the base, and stored
//! for every later task with that key.
//!
//! A baseline never blocks a task: one that cannot run is said in the transcript and
//! the attempt goes on without it. It runs as the real tests do (`exec_tests`: same
//! container, limits, timeout, network, redaction), but streams nothing to the Tests
//! pane. What a run is compared with is `verify::baseline`'s.

use std::time::Instant;

use super::EngineCtx;
use super::session::Session;
use super::supervisor::{Stop, exec_tests, sweep};
use crate::config::Config;
use crate::protocol::{Baseline, TaskRecord, TestReport};
use crate::verify::baseline as base;

/// The key of the attempt's baseline; `None` when its image is unknown.
fn key_of(task: &TaskRecord, config: &Config, session: &Session, command: &str) -> Option<String> {
    (!session.image_id.is_empty()).then(|| {
        base::key(
            &task.base_commit,
            command,
            &session.image_id,
            config.network.name(),
        )
    })
}

/// The stored baseline of the attempt's key, if some attempt ran it (a resumed or
/// continued attempt's workspace is no longer the base: it only looks).
pub(super) async fn stored(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    session: &Session,
    command: &str,
) -> Option<TestReport> {
    let key = key_of(task, config, session, command)?;
    let dir = ctx.data.baselines();
    tokio::task::spawn_blocking(move || base::load(&dir, &key))
        .await
        .ok()
        .flatten()
        .map(|b| b.report)
}

/// The baseline for a fresh attempt: stored, else run now in its container (another
/// attempt running the same key is waited for). `Err` only when the attempt is
/// cancelled meanwhile.
pub(super) async fn ensure(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    session: &Session,
    command: &str,
) -> Result<Option<TestReport>, Stop> {
    let Some(key) = key_of(task, config, session, command) else {
        session
            .info("baseline: skipped (the image's id is unknown); failures are not compared with the base")
            .await;
        return Ok(None);
    };
    let lock = {
        let mut all = ctx.baselines.lock().unwrap_or_else(|p| p.into_inner());
        all.entry(key.clone()).or_default().clone()
    };
    let _turn = match lock.clone().try_lock_owned() {
        Ok(turn) => turn,
        Err(_) => {
            session
                .info("baseline: another task is running the tests on this base: waiting for it")
                .await;
            tokio::select! {
                t = lock.lock_owned() => t,
                _ = session.cancel.cancelled() => return Err(Stop::Cancelled),
            }
        }
    };
    let dir = ctx.data.baselines();
    let (d, k) = (dir.clone(), key.clone());
    let found = tokio::task::spawn_blocking(move || base::load(&d, &k))
        .await
        .ok()
        .flatten();
    let short = &task.base_commit[..task.base_commit.len().min(12)];
    if let Some(b) = found {
        session
            .info(format!(
                "baseline: the tests on the base {short} {} (stored {}; not run again)",
                b.report.summary(),
                b.ran_at
            ))
            .await;
        return Ok(Some(b.report));
    }
    session
        .info(format!(
            "baseline: running `{command}` on the base {short} before the agent starts, once for every task on this base, command and environment"
        ))
        .await;
    let started = Instant::now();
    let quiet = |_: String| {};
    let run = exec_tests(session, command, config, &quiet).await;
    let (result, output) = match run {
        Ok(r) => r,
        Err(Stop::Cancelled) => return Err(Stop::Cancelled),
        Err(Stop::Fail(why)) => {
            // Not stored: the next task on this base tries again.
            session
                .info(format!(
                    "baseline: could not run ({why}); the attempt goes on without it"
                ))
                .await;
            return Ok(None);
        }
    };
    // What the tests left running is no business of the agent's.
    if let Err(Stop::Cancelled) = sweep(session, "after the baseline").await {
        return Err(Stop::Cancelled);
    }
    // Tests that write to the sources leave that in the workspace the agent gets: it is
    // not undone (nothing here can tell a test's write from a file it needs), but said.
    if let Some(d) = session.refresh_diff().await
        && !d.summary.files.is_empty()
    {
        let paths: Vec<&str> = d
            .summary
            .files
            .iter()
            .take(10)
            .map(|f| f.path.as_str())
            .collect();
        let more = match d.summary.files.len() - paths.len() {
            0 => String::new(),
            n => format!(" and {n} more"),
        };
        session
            .info(format!(
                "baseline: the tests changed the workspace ({}{more}): the changes stay and show in the diff",
                paths.join(", ")
            ))
            .await;
    }
    let log = ctx
        .data
        .attempt_dir(&task.id, task.attempt)
        .join("baseline.log");
    if let Err(e) = crate::paths::write_private(&log, output.as_bytes()) {
        tracing::warn!("saving {}: {e}", log.display());
    }
    let report = TestReport::judge(
        command,
        result.exit_code.unwrap_or(-1),
        result.timed_out,
        &output,
        result.duration.as_millis() as u64,
    );
    let stored = Baseline {
        key,
        base_commit: task.base_commit.clone(),
        command: command.to_string(),
        image: session.image_id.clone(),
        network: config.network.name().to_string(),
        ran_at: crate::protocol::clock::now_rfc3339(),
        report: report.clone(),
    };
    let saved = tokio::task::spawn_blocking(move || base::save(&dir, &stored))
        .await
        .map_err(std::io::Error::other)
        .and_then(|r| r);
    let kept = match saved {
        Ok(()) => "stored for later tasks",
        Err(e) => {
            tracing::warn!(task = %task.id, "storing the baseline: {e}");
            "not stored"
        }
    };
    session
        .info(format!(
            "baseline: the tests on the base {short} {} in {:.1}s; {kept}",
            report.summary(),
            started.elapsed().as_secs_f64()
        ))
        .await;
    Ok(Some(report))
}
