//! What a front end asks of the engine.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::ids::TaskId;
use super::task::{AgentSpec, NewTask};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "command", rename_all = "snake_case")]
pub enum Command {
    Queue {
        // Boxed: a new task is much bigger than any other command.
        task: Box<NewTask>,
    },
    /// Changes a queued task before it starts (answered by `Reply::Edited`).
    Edit {
        id: TaskId,
        title: String,
        prompt: String,
        agent: AgentSpec,
    },
    Cancel {
        id: TaskId,
    },
    Discard {
        id: TaskId,
    },
    /// A new attempt: with feedback it continues in the same workspace; without, from
    /// scratch.
    Retry {
        id: TaskId,
        feedback: Option<String>,
    },
    /// An interrupted task goes on where it stopped (same attempt, workspace and
    /// transcript; tool calls that ran are not run again).
    Resume {
        id: TaskId,
    },
    /// Commit the workspace on the task branch and bring the branch into the user's
    /// repository. `force` approves even when the tests did not pass (recorded).
    Approve {
        id: TaskId,
        #[serde(default)]
        force: bool,
        /// Use this branch name instead of the task's (when the user has one by that name).
        #[serde(default)]
        branch: Option<String>,
        /// Best-of-N: keep the task's other attempts (by default approving one discards
        /// the others that rest).
        #[serde(default, skip_serializing_if = "std::ops::Not::not")]
        keep_others: bool,
    },
    Push {
        id: TaskId,
    },
    /// Fetch a GitHub issue (`owner/repo#12`, `#12`, URL) and queue it as a task of `repo`.
    Import {
        repo: PathBuf,
        reference: String,
        /// The user's own words, added after the issue.
        #[serde(default)]
        notes: Option<String>,
        agent: AgentSpec,
    },
    /// Asks for a task's stored history (answered by `Reply::History`).
    Load {
        id: TaskId,
        /// An earlier attempt's history instead of the current one's.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    },
    /// Asks for more of a long text of the task's current attempt (or of `attempt`),
    /// from byte `from` (answered by `Reply::Page`).
    Page {
        id: TaskId,
        text: LongText,
        from: u64,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        attempt: Option<u32>,
    },
    /// The patch from attempt `from`'s last recorded tree to attempt `to`'s (answered by
    /// `Reply::Page` of the patch, its first page).
    Compare {
        id: TaskId,
        from: u32,
        to: u32,
        /// Best-of-N: the later side is attempt `to` of this other task of the group.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        with: Option<TaskId>,
    },
    /// Which agent would work on a new task of `repo` (`provider` as `drover add
    /// --agent` names one), as the engine's own environment and config decide.
    WhichAgent {
        repo: PathBuf,
        #[serde(default)]
        provider: Option<String>,
    },
}

/// The texts of an attempt too long for one message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LongText {
    Patch,
    TestOutput,
}
