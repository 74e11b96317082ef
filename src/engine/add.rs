//! Recording a new task: its base is the repository's HEAD now, its branch name is
//! made from its id and title, and what a person typed is redacted before it is stored.
//!
//! The engine's `Queue` and the issue import use it; nothing here starts a task.

use crate::config::Config;
use crate::protocol::clock::now_rfc3339;
use crate::protocol::{AgentSpec, NewTask, TaskId, TaskRecord, TaskState};
use crate::store::{Store, StoreError};
use crate::workspace::{self, RepoHead};

#[derive(Debug, thiserror::Error)]
pub enum AddError {
    #[error(transparent)]
    Repo(#[from] workspace::WorkspaceError),
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(String),
}

/// What a person typed for a task, as it may be stored: redacted (a secret pasted into
/// a task never reaches the store, nor a branch name), a title, nothing too long.
pub(super) fn cleaned(
    title: &str,
    prompt: &str,
    agent: &AgentSpec,
) -> Result<(String, String, AgentSpec), AddError> {
    let redact = |s: &str| crate::redact::redact(s).into_owned();
    let title = redact(title.trim());
    let prompt = redact(prompt);
    let agent = match agent {
        AgentSpec::Scripted { script, source } => AgentSpec::Scripted {
            script: redact(script),
            source: redact(source),
        },
        other => other.clone(),
    };
    if title.is_empty() {
        return Err(AddError::Invalid("a task needs a title".into()));
    }
    too_long("title", &title, TITLE_MAX)?;
    too_long("prompt", &prompt, TEXT_MAX)?;
    if let AgentSpec::Scripted { script, .. } = &agent {
        too_long("script", script, TEXT_MAX)?;
    }
    Ok((title, prompt, agent))
}

/// Records a new task based on the current HEAD of its repository.
/// `data` is the data dir's root (whose trust records count for the branch prefix).
pub fn add(
    store: &Store,
    data: &std::path::Path,
    new: NewTask,
) -> Result<(TaskRecord, RepoHead), AddError> {
    let head = workspace::resolve_head(&new.repo)?;
    let record = add_at(store, data, new, &head, None)?;
    Ok((record, head))
}

/// Records a new task based on `head` (of its repository), as one of a best-of-N
/// `group` when it is.
pub(super) fn add_at(
    store: &Store,
    data: &std::path::Path,
    new: NewTask,
    head: &RepoHead,
    group: Option<crate::protocol::Group>,
) -> Result<TaskRecord, AddError> {
    let config = Config::load_in(Some(&head.root), data)?;
    let (title, prompt, agent) = cleaned(&new.title, &new.prompt, &new.agent)?;
    let title = title.as_str();
    let mut last_err = None;
    // Ids are random: on the (unlikely) collision, draw again.
    for _ in 0..3 {
        let id = TaskId::random();
        let branch = format!("{}{}-{}", config.branch_prefix, id, slug(title));
        if !git2::Reference::is_valid_name(&format!("refs/heads/{branch}")) {
            return Err(AddError::Invalid(format!("invalid branch name {branch}")));
        }
        let now = now_rfc3339();
        let record = TaskRecord {
            id,
            repo_hash: crate::paths::repo_hash(&head.root),
            repo: head.root.clone(),
            title: title.to_string(),
            prompt: prompt.clone(),
            agent: agent.clone(),
            base_commit: head.commit.clone(),
            base_ref: head.branch.clone(),
            branch,
            state: TaskState::Queued,
            attempt: 1,
            created_at: now.clone(),
            updated_at: now,
            origin: new.origin.clone(),
            group: group.clone(),
        };
        match store.insert_task(&record) {
            Ok(()) => {
                crate::crash::point("after_db_enqueue");
                return Ok(record);
            }
            Err(e) => last_err = Some(e),
        }
    }
    Err(last_err
        .map(AddError::Store)
        .unwrap_or_else(|| AddError::Invalid("cannot record the task".into())))
}

/// A branch-safe slug of a title: lowercase ascii words joined by '-', at most 40 chars.
pub fn slug(title: &str) -> String {
    let mut out = String::new();
    for word in title
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        let word = word.to_ascii_lowercase();
        if out.len() + word.len() + 1 > 40 {
            break;
        }
        if !out.is_empty() {
            out.push('-');
        }
        out.push_str(&word);
    }
    if out.is_empty() { "task".into() } else { out }
}

/// A task's title, in bytes: it names a branch and a list row.
const TITLE_MAX: usize = 1 << 10;
/// A prompt, a script or feedback, in bytes: each travels with the task in every
/// snapshot and message, which are bounded.
pub(super) const TEXT_MAX: usize = 1 << 20;

/// Refuses `text` longer than `max` bytes, naming it.
pub(super) fn too_long(what: &str, text: &str, max: usize) -> Result<(), AddError> {
    if text.len() > max {
        return Err(AddError::Invalid(format!(
            "the {what} is {} bytes, more than the {max} a task may carry: put long material in a file of the repository and point to it",
            text.len()
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_branch_safe() {
        assert_eq!(slug("Fix add() in calc.py!"), "fix-add-in-calc-py");
        assert_eq!(slug("   "), "task");
        assert_eq!(slug("Ünïcode only ✓"), "n-code-only");
        let long = slug(&"word ".repeat(30));
        assert!(long.len() <= 40, "{long}");
    }
}
