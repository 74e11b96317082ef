//! A GitHub issue becomes a task: find the issue a reference names, fetch it, strip what
//! a reader cannot see, record the task with where it came from.
//!
//! The engine's `Import` command. Parsing and stripping are `forge::issue`; recording
//! is `add`.

use std::path::Path;

use crate::config::Config;
use crate::forge::GitHub;
use crate::protocol::IssueRef;
use crate::protocol::{AgentSpec, NewTask, TaskRecord};
use crate::store::Store;
use crate::workspace::{self, RepoHead};

/// Fetches the issue `reference` names and records it as a task of `repo`. `notes` are
/// the user's own words, added after the issue.
pub(super) async fn import_issue(
    store: &Store,
    data: &Path,
    repo: &Path,
    reference: &str,
    notes: Option<&str>,
    agent: AgentSpec,
) -> Result<(TaskRecord, RepoHead), String> {
    let head = workspace::resolve_head(repo).map_err(|e| e.to_string())?;
    let config = Config::load_in(Some(&head.root), data).map_err(|e| e.to_string())?;
    let remote_url = git2::Repository::open(&head.root)
        .ok()
        .and_then(|r| Some(r.find_remote(&config.remote).ok()?.url().ok()?.to_string()))
        .unwrap_or_default();
    let own = super::pull_request::github_repo(&config, &remote_url);
    let r = IssueRef::parse(
        reference,
        own.as_ref().map(|(o, n)| (o.as_str(), n.as_str())),
    )?;
    let token_env = config.forge.token_env.clone();
    // `gh auth token` may run: off the async threads.
    let token = tokio::task::spawn_blocking(move || crate::forge::token(token_env.as_deref()))
        .await
        .map_err(|e| e.to_string())?;
    let gh = GitHub::new(&config.forge.api_url, token).map_err(|e| e.to_string())?;
    let issue = gh.issue(&r).await.map_err(|e| e.to_string())?;
    let (title, prompt, origin) = crate::forge::issue::task_text(&issue, notes);
    let title = if title.is_empty() {
        format!("Issue {r}")
    } else {
        crate::text::ellipsize(&title, 72)
    };
    let new = NewTask {
        repo: head.root.clone(),
        title,
        prompt,
        agent,
        origin: Some(origin),
        others: Vec::new(),
    };
    let (task, _) = super::add(store, data, new).map_err(|e| e.to_string())?;
    Ok((task, head))
}
