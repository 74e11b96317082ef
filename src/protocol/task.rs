//! What a task is: its record, its attempts, and the agent that works on it.
//!
//! Plain data shared by the engine, the store and every front end. Behaviour lives in the
//! state machine (`state.rs`) and the engine, not here; where a record meets the disk
//! (`TaskGit`) or Docker (container names) is said by those modules.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::diff::DiffSummary;
use super::ids::TaskId;
use super::origin::IssueOrigin;
use super::report::TestReport;
use super::state::TaskState;

/// Which agent works on a task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum AgentSpec {
    /// Replays a TOML steps file (its content is stored, so the file may go away).
    Scripted { script: String, source: String },
    /// The built-in LLM agent; the provider from `drover add --agent`, else from config
    /// and environment when the attempt starts.
    Builtin { provider: Option<String> },
}

impl AgentSpec {
    pub fn label(&self) -> String {
        match self {
            AgentSpec::Scripted { source, .. } => format!("scripted ({source})"),
            AgentSpec::Builtin { provider: Some(p) } => format!("built-in ({p})"),
            AgentSpec::Builtin { provider: None } => "built-in".into(),
        }
    }
}

/// A task as the user asked for it, before drover records it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NewTask {
    pub repo: PathBuf,
    pub title: String,
    pub prompt: String,
    pub agent: AgentSpec,
    /// The GitHub issue it was imported from.
    #[serde(default)]
    pub origin: Option<IssueOrigin>,
    /// Best-of-N: the agents of the other attempts run beside this one, each in a
    /// workspace and container of its own (empty: just this one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub others: Vec<AgentSpec>,
}

/// One of several attempts at the same task run side by side (best-of-N), ranked by
/// their tests when they rest (`rank`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Shared by the attempts of one task.
    pub id: String,
    /// This one's place among them, from 1.
    pub index: u32,
    pub of: u32,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskRecord {
    pub id: TaskId,
    /// The user's repository (its work tree root), never written by drover.
    pub repo: PathBuf,
    /// Short hash of `repo`, the `drover.repo` container label.
    pub repo_hash: String,
    pub title: String,
    pub prompt: String,
    pub agent: AgentSpec,
    /// HEAD of the user's repository when the task was queued.
    pub base_commit: String,
    /// The branch HEAD pointed to then (`None` when detached).
    pub base_ref: Option<String>,
    pub branch: String,
    pub state: TaskState,
    /// Current attempt, from 1.
    pub attempt: u32,
    pub created_at: String,
    pub updated_at: String,
    /// The GitHub issue it was imported from.
    #[serde(default)]
    pub origin: Option<IssueOrigin>,
    /// Best-of-N: which of the task's side-by-side attempts this one is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub group: Option<Group>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AttemptRecord {
    pub n: u32,
    pub workspace: Option<PathBuf>,
    pub container: Option<String>,
    pub image: Option<String>,
    pub started_at: Option<String>,
    pub finished_at: Option<String>,
    pub diff: Option<DiffSummary>,
    pub tests: Option<TestReport>,
    pub summary: Option<String>,
    /// The reviewer's feedback this attempt started from (retry with feedback).
    pub feedback: Option<String>,
    /// The sandbox it ran in: "none" or "bridge".
    #[serde(default)]
    pub network: Option<String>,
    /// Resource limits, in words ("4 GiB memory · 2 CPUs · 1024 processes · 600s per command").
    #[serde(default)]
    pub limits: Option<String>,
    /// Tokens, cost and turns of the LLM agent.
    #[serde(default)]
    pub usage: Option<UsageRecord>,
    /// The model that worked on it ("anthropic claude-sonnet-4-5").
    #[serde(default)]
    pub model: Option<String>,
    /// Automatic rounds after failing tests.
    #[serde(default)]
    pub iterations: u32,
    /// The commit approval made on the task branch.
    #[serde(default)]
    pub approved_commit: Option<String>,
    /// Approved although the tests did not pass.
    #[serde(default)]
    pub tests_overridden: bool,
    /// The pull request opened for the pushed branch.
    #[serde(default)]
    pub pr_number: Option<u64>,
    #[serde(default)]
    pub pr_url: Option<String>,
    /// Why the push opened no pull request (no token, not a GitHub remote, the request
    /// failed), when it did not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_note: Option<String>,
    /// Started by the CI babysitter (`auto_followup = "ci"`), not by a person.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub auto_followup: bool,
    /// The pull request as drover last saw it on GitHub (`engine::pr_watch`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pr_status: Option<super::PrStatus>,
    /// Disk the workspace used when the attempt ended.
    #[serde(default)]
    pub workspace_bytes: Option<u64>,
    /// Where the environment came from and how it was made ready: "worker image; setup
    /// ran (2 commands, 41s), snapshot drover-env:… kept" or "snapshot … (setup skipped)".
    #[serde(default)]
    pub environment: Option<String>,
    /// Requests the egress proxy refused during the attempt.
    #[serde(default)]
    pub blocked_count: u64,
    /// The first of them, distinct ("CONNECT host:443 (not on the allowlist)"), at most
    /// `MAX_BLOCKED_SHOWN`.
    #[serde(default)]
    pub blocked: Vec<String>,
}

/// Blocked requests an attempt record lists (the rest are counted).
pub const MAX_BLOCKED_SHOWN: usize = 20;

/// Entries of each list an attempt carries in a snapshot (its history has them all).
pub(super) const BRIEF_LISTS: usize = 50;

impl AttemptRecord {
    /// The record with its diff's lists cut short: what a snapshot of many tasks sends.
    pub fn brief(mut self) -> AttemptRecord {
        if let Some(d) = &mut self.diff {
            d.cap_to(BRIEF_LISTS, BRIEF_LISTS);
        }
        self
    }
}

/// Token usage and cost of an attempt, as recorded and shown.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct UsageRecord {
    pub input_tokens: u64,
    pub output_tokens: u64,
    /// In US dollars, when prices are configured.
    pub cost_usd: Option<f64>,
    pub turns: u32,
}

#[cfg(test)]
impl TaskRecord {
    /// A task of repository `/r` in `state`, for unit tests.
    pub fn sample(state: TaskState) -> TaskRecord {
        TaskRecord {
            id: TaskId::random(),
            repo: "/r".into(),
            repo_hash: "h".into(),
            title: "t".into(),
            prompt: "p".into(),
            agent: AgentSpec::Builtin { provider: None },
            base_commit: "c".into(),
            base_ref: Some("main".into()),
            branch: "drover/x".into(),
            state,
            attempt: 1,
            created_at: String::new(),
            updated_at: String::new(),
            origin: None,
            group: None,
        }
    }
}
