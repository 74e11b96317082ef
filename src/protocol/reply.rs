//! What the engine answers to a command: a typed `Reply` when it did what was asked, a
//! typed `CommandError` when it did not. Front ends react to the variant (a refused
//! approval offers to force it, say); `Display` gives the sentence a person reads.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::command::LongText;
use super::event::{History, Page};
use super::ids::TaskId;
use super::report::Verdict;
use super::state::IllegalTransition;

/// What a command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "reply", rename_all = "snake_case")]
pub enum Reply {
    Queued {
        id: TaskId,
        /// Best-of-N: the attempts queued beside it.
        #[serde(default, skip_serializing_if = "Vec::is_empty")]
        others: Vec<TaskId>,
    },
    Edited {
        id: TaskId,
    },
    /// An issue became a task; `removed` says what hidden content was stripped from it
    /// (empty when nothing was).
    Imported {
        id: TaskId,
        reference: String,
        title: String,
        removed: String,
    },
    /// A running task is being stopped (its container takes a moment).
    Cancelling {
        id: TaskId,
        then_discard: bool,
    },
    Cancelled {
        id: TaskId,
    },
    Discarded {
        id: TaskId,
    },
    Retrying {
        id: TaskId,
        attempt: u32,
        with_feedback: bool,
    },
    Resuming {
        id: TaskId,
        attempt: u32,
    },
    Approved {
        id: TaskId,
        branch: String,
        commit: String,
    },
    Pushed {
        id: TaskId,
        branch: String,
        remote: String,
        commit: String,
        /// The remote had this very commit already.
        already: bool,
        /// Whether it merges onto the base as the remote has it, in words.
        merge: String,
        /// `remote/base`.
        base: String,
        pull_request: Option<PullRequestRef>,
    },
    /// The task's stored history, to the front end that asked.
    History {
        id: TaskId,
        history: Box<History>,
    },
    Page {
        id: TaskId,
        text: LongText,
        page: Page,
    },
    /// What would work on a new task ("anthropic claude-sonnet-4-5", "command claude").
    Agent {
        label: String,
    },
}

/// The pull request a push opened or found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PullRequestRef {
    pub number: u64,
    pub url: String,
    pub draft: bool,
}

impl Reply {
    /// The task the reply is about.
    pub fn task(&self) -> Option<&TaskId> {
        match self {
            Reply::Queued { id, .. }
            | Reply::Edited { id }
            | Reply::Imported { id, .. }
            | Reply::Cancelling { id, .. }
            | Reply::Cancelled { id }
            | Reply::Discarded { id }
            | Reply::Retrying { id, .. }
            | Reply::Resuming { id, .. }
            | Reply::Approved { id, .. }
            | Reply::Pushed { id, .. }
            | Reply::History { id, .. }
            | Reply::Page { id, .. } => Some(id),
            Reply::Agent { .. } => None,
        }
    }
}

fn short(commit: &str) -> &str {
    commit.get(..12).unwrap_or(commit)
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reply::Queued { id, others } if others.is_empty() => write!(f, "queued task {id}"),
            Reply::Queued { id, others } => {
                let rest: Vec<String> = others.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "queued task {id} with {} more attempts beside it: {}",
                    others.len(),
                    rest.join(", ")
                )
            }
            Reply::Edited { id } => write!(f, "task {id} changed (still queued)"),
            Reply::Imported {
                id,
                reference,
                removed,
                ..
            } if removed.is_empty() => write!(f, "task {id}: imported {reference}"),
            Reply::Imported {
                id,
                reference,
                removed,
                ..
            } => write!(
                f,
                "task {id}: imported {reference} (hidden content removed: {removed})"
            ),
            Reply::Cancelling {
                id,
                then_discard: false,
            } => write!(f, "cancelling task {id}"),
            Reply::Cancelling { id, .. } => write!(f, "cancelling, then discarding task {id}"),
            Reply::Cancelled { id } => write!(f, "task {id} cancelled"),
            Reply::Discarded { id } => {
                write!(f, "task {id} discarded (container and workspace removed)")
            }
            Reply::Retrying {
                id,
                attempt,
                with_feedback,
            } => write!(
                f,
                "task {id} queued again (attempt {attempt}, {})",
                if *with_feedback {
                    "with feedback"
                } else {
                    "from scratch"
                }
            ),
            Reply::Resuming { id, attempt } => {
                write!(f, "task {id} queued to resume attempt {attempt}")
            }
            Reply::Approved { branch, commit, .. } => write!(
                f,
                "approved: {branch} is at {} in your repository (git log {branch})",
                short(commit)
            ),
            Reply::Pushed {
                branch,
                remote,
                commit,
                already,
                merge,
                base,
                pull_request,
                ..
            } => {
                let pushed = if *already { "was already" } else { "pushed" };
                write!(
                    f,
                    "{branch} {pushed} on {remote} at {} ({merge} onto {base})",
                    short(commit)
                )?;
                if let Some(pr) = pull_request {
                    let kind = if pr.draft {
                        "draft pull request"
                    } else {
                        "pull request"
                    };
                    write!(f, "; {kind} #{} {}", pr.number, pr.url)?;
                }
                Ok(())
            }
            Reply::History { id, history } => write!(
                f,
                "task {id}: {} entries of its history",
                history.entries.len()
            ),
            Reply::Page { id, page, .. } => write!(
                f,
                "task {id}: bytes {}..{} of {}",
                page.from,
                page.from + page.text.len() as u64,
                page.total
            ),
            Reply::Agent { label } => f.write_str(label),
        }
    }
}

/// Why a command was not carried out. The task (if any) is as it was, unless the variant
/// says otherwise (a push blocked by what it found).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(tag = "error", rename_all = "snake_case")]
pub enum CommandError {
    #[error("no task matches `{prefix}`")]
    NoTask { prefix: String },
    #[error("`{prefix}` matches several tasks: {ids}")]
    Ambiguous { prefix: String, ids: String },
    /// The state machine does not allow it.
    #[error("{0}")]
    Illegal(IllegalTransition),
    /// The tests did not pass on the tree that would be committed: `force` approves
    /// anyway (recorded in the commit).
    #[error("{why}: to approve anyway, confirm in the TUI or run `drover approve --force {id}`")]
    TestsNotPassed {
        id: TaskId,
        verdict: Option<Verdict>,
        why: String,
    },
    /// The files changed since the diff the user saw: the new diff is shown instead.
    #[error(
        "the workspace changed since its diff was taken ({changed}): the diff now shows it; look again, then approve"
    )]
    ChangedSinceDiff { id: TaskId, changed: String },
    #[error("task {id} is already being approved or pushed")]
    Busy { id: TaskId },
    /// The push found something it must not override; the task is now blocked.
    #[error("{reason}")]
    Blocked { id: TaskId, reason: String },
    #[error("docker unavailable: {what}")]
    DockerUnavailable { what: String },
    #[error("the engine has stopped")]
    EngineStopped,
    #[error("{message}")]
    Failed { message: String },
}

impl CommandError {
    /// Anything else that went wrong, in words.
    pub fn failed(message: impl fmt::Display) -> Self {
        CommandError::Failed {
            message: message.to_string(),
        }
    }
}

impl From<IllegalTransition> for CommandError {
    fn from(e: IllegalTransition) -> Self {
        CommandError::Illegal(e)
    }
}

/// A command's outcome.
pub type CommandResult = Result<Reply, CommandError>;
