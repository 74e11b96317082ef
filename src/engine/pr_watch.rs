//! Following pushed tasks' pull requests (`forge::follow`): one loop for every task of
//! the engine's scope. A task someone looked at in the last ten minutes is asked about
//! every `forge.poll` seconds (and at once when they look), the others every
//! `forge.poll_idle`; a rate limit pauses every task until it resets, an error backs one
//! task off (doubling, at most 15 minutes).
//!
//! What changed is kept on the attempt (front ends see it as `AttemptUpdated`) and said
//! as a notice: checks failing or passing again, changes requested, approval, new
//! comments, merged, closed. A merged pull request makes the task `merged`, a closed one
//! `closed` (and `pushed` again when reopened). A pushed task with no pull request to
//! follow (no token, not a GitHub remote) is `merged` once the remote's base holds its
//! branch. Following never pushes, comments or changes anything on GitHub.
//!
//! With `auto_followup = "ci"` (the user's setting), checks that fail on a pushed
//! task's head start a follow-up by themselves, asked to make the failing checks pass;
//! at most `agent.max_iterations` such follow-ups in a row. Approving and pushing them
//! stays the user's.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio_util::sync::CancellationToken;

use super::EngineCtx;
use crate::config::Config;
use crate::forge::ForgeError;
use crate::forge::follow::{Follower, PrRef};
use crate::protocol::{
    CiVerdict, PrState, PrStatus, ReviewDecision, TaskId, TaskRecord, TaskState, Transition,
};

/// Tasks a command (approve, push, discard) is working on: not to be moved meanwhile.
type Busy = Arc<std::sync::Mutex<std::collections::HashSet<TaskId>>>;

/// How long a look at a task keeps its pull request followed closely.
const LOOKED_RECENTLY: Duration = Duration::from_secs(600);
const BACKOFF_MAX: Duration = Duration::from_secs(900);
/// How long a repository's config and token are reused.
const FORGE_FRESH: Duration = Duration::from_secs(300);

/// Whose pull request is followed.
fn followed(s: &TaskState) -> bool {
    matches!(s, TaskState::Pushed | TaskState::Closed)
}

struct Watch {
    follower: Follower,
    due: Instant,
    asked: Option<Instant>,
    errors: u32,
}

/// A repository's forge settings and token, as last read.
struct Forge {
    config: Config,
    token: Option<String>,
    /// One client per repository: its connections are reused from poll to poll.
    gh: crate::forge::GitHub,
    read: Instant,
}

/// Runs until `stop`; `engine` is woken when a follow-up was queued.
pub(super) async fn run(
    ctx: Arc<EngineCtx>,
    repo: Option<PathBuf>,
    busy: Busy,
    engine: tokio::sync::mpsc::WeakUnboundedSender<super::Mail>,
    stop: CancellationToken,
) {
    let mut watches: HashMap<TaskId, Watch> = HashMap::new();
    let mut forges: HashMap<PathBuf, Forge> = HashMap::new();
    let mut paused: Option<Instant> = None;
    loop {
        let now = Instant::now();
        let tasks: Vec<TaskRecord> = ctx
            .store
            .tasks(repo.as_deref())
            .unwrap_or_default()
            .into_iter()
            .filter(|t| followed(&t.state))
            .collect();
        watches.retain(|id, _| tasks.iter().any(|t| &t.id == id));
        let looked = ctx.looked_at.lock().map(|l| l.clone()).unwrap_or_default();
        for t in &tasks {
            let w = watches.entry(t.id.clone()).or_insert_with(|| Watch {
                follower: Follower::default(),
                due: now,
                asked: None,
                errors: 0,
            });
            let look = looked.get(&t.id).copied();
            // Looked at since it was last asked about: asked now.
            if look.is_some_and(|l| w.asked.is_none_or(|a| l > a)) {
                w.due = w.due.min(now);
            }
            if w.due > now || paused.is_some_and(|p| p > now) {
                continue;
            }
            let Some(forge) = forge_for(&mut forges, &ctx, &t.repo).await else {
                w.due = now + BACKOFF_MAX;
                continue;
            };
            let close = look.is_some_and(|l| l.elapsed() < LOOKED_RECENTLY);
            let every = Duration::from_secs(match close {
                true => forge.config.forge.poll_secs,
                false => forge.config.forge.poll_idle_secs,
            });
            let outcome = poll(&ctx, t, &mut w.follower, forge, &busy).await;
            if matches!(outcome, Ok(Some(_)))
                && let Some(e) = engine.upgrade()
            {
                let _ = e.send(super::Mail::Wake);
            }
            w.asked = Some(Instant::now());
            match outcome {
                Ok(_) => {
                    w.errors = 0;
                    w.due = Instant::now() + every;
                }
                Err(ForgeError::Limited { wait }) => {
                    tracing::info!(
                        "GitHub's rate limit: following pull requests again in {wait:?}"
                    );
                    paused = Some(Instant::now() + wait);
                    w.due = Instant::now() + wait;
                }
                Err(e) => {
                    w.errors += 1;
                    let back = every.saturating_mul(1 << w.errors.min(6)).min(BACKOFF_MAX);
                    tracing::info!(
                        "following the pull request of {}: {e}; again in {back:?}",
                        t.id
                    );
                    w.due = Instant::now() + back;
                }
            }
        }
        let next = watches
            .values()
            .map(|w| w.due)
            .min()
            .unwrap_or(now + Duration::from_secs(60))
            .max(paused.unwrap_or(now))
            .max(Instant::now() + Duration::from_millis(100));
        tokio::select! {
            _ = tokio::time::sleep_until(next.into()) => {}
            _ = ctx.bus.pulls.notified() => {}
            _ = stop.cancelled() => return,
        }
    }
}

/// `repo`'s forge settings and token, read again when stale; `None` when its config
/// does not load (the task's own commands say why).
async fn forge_for<'a>(
    forges: &'a mut HashMap<PathBuf, Forge>,
    ctx: &EngineCtx,
    repo: &Path,
) -> Option<&'a Forge> {
    let stale = forges
        .get(repo)
        .is_none_or(|f| f.read.elapsed() > FORGE_FRESH);
    if stale {
        let config = Config::load_in(Some(repo), ctx.data.root()).ok()?;
        let env = config.forge.token_env.clone();
        // It may ask the gh CLI.
        let token = tokio::task::spawn_blocking(move || crate::forge::token(env.as_deref()))
            .await
            .ok()
            .flatten();
        let gh = crate::forge::GitHub::new(&config.forge.api_url, token.clone()).ok()?;
        forges.insert(
            repo.to_path_buf(),
            Forge {
                config,
                token,
                gh,
                read: Instant::now(),
            },
        );
    }
    forges.get(repo)
}

/// Asks about one task's pull request and acts on what changed; the attempt a
/// follow-up started, if the babysitter started one.
async fn poll(
    ctx: &EngineCtx,
    task: &TaskRecord,
    follower: &mut Follower,
    forge: &Forge,
    busy: &Busy,
) -> Result<Option<u32>, ForgeError> {
    let store_err = |e: crate::store::StoreError| ForgeError::Unavailable(e.to_string());
    let attempt = ctx
        .store
        .attempt(&task.id, task.attempt)
        .map_err(store_err)?;
    let Some(pr) = attempt.pr_url.as_deref().and_then(PrRef::from_url) else {
        return merged_by_git(ctx, task, forge).await.map(|()| None);
    };
    let mut now = follower.poll(&forge.gh, &pr).await?;
    let old = attempt.pr_status.clone();
    let unchanged = old.as_ref().is_some_and(|o| {
        let mut o = o.clone();
        o.updated_at.clear();
        o == now
    });
    if !unchanged {
        now.updated_at = crate::protocol::clock::now_rfc3339();
        let kept = now.clone();
        ctx.update_attempt(&task.id, task.attempt, |a| a.pr_status = Some(kept))
            .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
        for line in news(old.as_ref(), &now, pr.number) {
            ctx.notice(Some(&task.id), task.attempt, line);
        }
    }
    // What happens next happens to the task as it is now, not as the poll began (a
    // follow-up may have started meanwhile), and not while a command works on it.
    let Some(_held) = super::commands::Held::take(busy, &task.id) else {
        return Ok(None);
    };
    let task = &match ctx.store.task(&task.id) {
        Ok(Some(t)) if t.attempt == task.attempt && followed(&t.state) => t,
        _ => return Ok(None),
    };
    let t = match (now.state, &task.state) {
        (PrState::Merged, _) => Some(Transition::Merge),
        (PrState::Closed, TaskState::Pushed) => Some(Transition::Close),
        (PrState::Open | PrState::Draft, TaskState::Closed) => Some(Transition::Reopen),
        _ => None,
    };
    if let Some(t) = t {
        let mut task = task.clone();
        // Refused only when the task moved meanwhile (a follow-up began): nothing to do.
        let _ = ctx.transition(&mut task, t);
        return Ok(None);
    }
    // Checks that fail anew (first time, or on a new head) call the babysitter: only
    // failures code can fix, on the very commit drover pushed (a reviewer's own commit
    // on the branch is theirs to fix).
    let failing = |s: &PrStatus| {
        s.checks
            .failures
            .iter()
            .any(|f| matches!(f.conclusion.as_str(), "failure" | "timed_out" | "error"))
    };
    let anew = failing(&now)
        && old
            .as_ref()
            .is_none_or(|o| !failing(o) || o.head != now.head);
    let ours = attempt.approved_commit.as_deref() == Some(now.head.as_str());
    if anew && ours && forge.config.auto_followup_ci && task.state == TaskState::Pushed {
        return Ok(babysit(
            ctx,
            task,
            &now,
            pr.number,
            forge.config.agent.max_iterations,
        ));
    }
    Ok(None)
}

/// Starts a follow-up asked to make the failing checks pass, unless `max` follow-ups
/// in a row were the babysitter's already; the new attempt's number.
fn babysit(
    ctx: &EngineCtx,
    task: &TaskRecord,
    now: &PrStatus,
    number: u64,
    max: u32,
) -> Option<u32> {
    let streak = (1..=task.attempt)
        .rev()
        .take_while(|n| {
            ctx.store
                .attempt(&task.id, *n)
                .is_ok_and(|a| a.auto_followup)
        })
        .count() as u32;
    if streak >= max {
        ctx.notice(
            Some(&task.id),
            task.attempt,
            format!(
                "checks fail again on pull request #{number}: no follow-up started, {streak} in a row were automatic already (agent.max_iterations = {max})"
            ),
        );
        return None;
    }
    let mut checks = now.clone();
    checks.comments.clear();
    let feedback = format!(
        "The pull request's checks failed (a follow-up the CI babysitter started: auto_followup = \"ci\"). Make them pass; change nothing else.\n\n{}",
        checks.as_feedback()
    );
    let feedback = crate::text::ellipsize(&feedback, 64 << 10);
    match super::commands::retry(ctx, &task.id, Some(feedback)) {
        Ok(crate::protocol::Reply::Retrying { attempt: n, .. }) => {
            let _ = ctx.update_attempt(&task.id, n, |a| a.auto_followup = true);
            ctx.notice(
                Some(&task.id),
                n,
                format!(
                    "checks fail on pull request #{number}: follow-up {} of at most {max} started by itself (auto_followup = \"ci\")",
                    streak + 1
                ),
            );
            Some(n)
        }
        Ok(_) => None,
        Err(e) => {
            ctx.notice(
                Some(&task.id),
                task.attempt,
                format!("the CI babysitter could not start a follow-up: {e}"),
            );
            None
        }
    }
}

/// A pushed task without a pull request to follow: merged once the remote's base
/// branch holds its commits.
async fn merged_by_git(
    ctx: &EngineCtx,
    task: &TaskRecord,
    forge: &Forge,
) -> Result<(), ForgeError> {
    let Some(base) = task.base_ref.clone() else {
        return Ok(());
    };
    // As it is now (a follow-up may have begun since the poll read it).
    let task = &match ctx.store.task(&task.id) {
        Ok(Some(t)) if t.attempt == task.attempt && t.state == TaskState::Pushed => t,
        _ => return Ok(()),
    };
    let (repo, remote, branch) = (
        task.repo.clone(),
        forge.config.remote.clone(),
        task.branch.clone(),
    );
    // The GitHub token goes only to the forge's own host, over https: a remote
    // elsewhere is asked with git's own credentials (ssh agent, credential helper).
    let url = crate::workspace::push_url(&repo, &remote).unwrap_or_default();
    let token = forge
        .token
        .clone()
        .filter(|_| same_host(&url, &forge.config.forge.api_url));
    let holds = tokio::task::spawn_blocking(move || {
        crate::workspace::base_holds(&repo, &remote, &base, &branch, token.as_deref())
    })
    .await
    .map_err(|e| ForgeError::Unavailable(e.to_string()))?
    .map_err(ForgeError::Unavailable)?;
    if holds {
        let mut t = task.clone();
        if ctx.transition(&mut t, Transition::Merge).is_ok() {
            let base = t.base_ref.as_deref().unwrap_or("the base");
            ctx.notice(
                Some(&t.id),
                t.attempt,
                format!("merged: {}/{base} holds {}", forge.config.remote, t.branch),
            );
        }
    }
    Ok(())
}

/// Whether `remote` is an https URL of the forge whose API is `api` (github.com for
/// api.github.com, the server itself for an Enterprise Server's `/api/v3`).
fn same_host(remote: &str, api: &str) -> bool {
    let host = |u: &str| {
        url::Url::parse(u)
            .ok()
            .and_then(|u| u.host_str().map(str::to_string))
    };
    let Some(forge) = host(api) else {
        return false;
    };
    let forge = forge.strip_prefix("api.").unwrap_or(&forge).to_string();
    remote.starts_with("https://") && host(remote).is_some_and(|h| h == forge)
}

/// What changed from `old` to `new` that is worth saying.
pub(super) fn news(old: Option<&PrStatus>, new: &PrStatus, number: u64) -> Vec<String> {
    let pr = format!("pull request #{number}");
    let mut out = Vec::new();
    let was = old.and_then(|o| o.checks.verdict());
    match (was, new.checks.verdict()) {
        (w, Some(CiVerdict::Failing)) if w != Some(CiVerdict::Failing) => {
            let names: Vec<&str> = new
                .checks
                .failures
                .iter()
                .map(|f| f.name.as_str())
                .collect();
            out.push(format!("checks fail on {pr}: {}", names.join(", ")));
        }
        (Some(w), Some(CiVerdict::Passing)) if w != CiVerdict::Passing => {
            out.push(format!("checks pass on {pr}"));
        }
        _ => {}
    }
    let asked_before = old.map_or(&[][..], |o| &o.changes_requested_by[..]);
    let newly: Vec<&String> = new
        .changes_requested_by
        .iter()
        .filter(|w| !asked_before.contains(w))
        .collect();
    if !newly.is_empty() {
        let who: Vec<&str> = newly.iter().map(|s| s.as_str()).collect();
        out.push(format!("changes requested on {pr} by {}", who.join(", ")));
    }
    if new.review == Some(ReviewDecision::Approved)
        && old.is_none_or(|o| o.review != Some(ReviewDecision::Approved))
    {
        out.push(format!("{pr} approved"));
    }
    let seen: Vec<u64> = old
        .map(|o| o.comments.iter().map(|c| c.id).collect())
        .unwrap_or_default();
    let fresh = new
        .comments
        .iter()
        .filter(|c| !seen.contains(&c.id))
        .count();
    if fresh > 0 {
        let s = if fresh == 1 { "" } else { "s" };
        out.push(format!("{fresh} new review comment{s} on {pr}"));
    }
    let state_was = old.map(|o| o.state);
    if state_was != Some(new.state) {
        match new.state {
            PrState::Merged => out.push(format!("{pr} merged")),
            PrState::Closed => out.push(format!("{pr} closed without merging")),
            PrState::Open | PrState::Draft if state_was == Some(PrState::Closed) => {
                out.push(format!("{pr} reopened"))
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{CheckFailure, Checks, ReviewComment};

    #[test]
    fn the_token_goes_to_the_forges_own_host_only() {
        let gh = "https://api.github.com";
        assert!(same_host("https://github.com/ana/shop.git", gh));
        assert!(
            !same_host("http://github.com/ana/shop.git", gh),
            "not in the clear"
        );
        assert!(!same_host("https://gitlab.example/ana/shop.git", gh));
        assert!(!same_host("https://github.com.evil.example/x.git", gh));
        assert!(same_host(
            "https://ghe.corp/org/x.git",
            "https://ghe.corp/api/v3"
        ));
    }

    #[test]
    fn news_says_what_needs_the_user_once() {
        let failing = PrStatus {
            checks: Checks {
                failed: 1,
                failures: vec![CheckFailure {
                    name: "lint".into(),
                    ..Default::default()
                }],
                ..Default::default()
            },
            changes_requested_by: vec!["bob".into()],
            review: Some(ReviewDecision::ChangesRequested),
            comments: vec![ReviewComment {
                id: 3,
                ..Default::default()
            }],
            ..Default::default()
        };
        assert_eq!(
            news(None, &failing, 7),
            [
                "checks fail on pull request #7: lint",
                "changes requested on pull request #7 by bob",
                "1 new review comment on pull request #7",
            ]
        );
        assert!(news(Some(&failing), &failing, 7).is_empty(), "said once");
        let merged = PrStatus {
            state: PrState::Merged,
            checks: Checks {
                passed: 2,
                ..Default::default()
            },
            ..Default::default()
        };
        assert_eq!(
            news(Some(&failing), &merged, 7),
            ["checks pass on pull request #7", "pull request #7 merged"]
        );
    }
}
