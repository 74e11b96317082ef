//! Agents: what decides the next tool call. The tools themselves run in the container.
//!
//! An agent sees only `Tools` (say something, call a tool), so the engine can record and
//! stream every step and stop it on cancel. This issue ships the scripted agent; the LLM
//! loop and external CLIs plug in behind the same trait.

pub mod scripted;
pub mod tools;

use async_trait::async_trait;

use tools::{ToolCall, ToolError, ToolOutput};

/// What an agent can do; implemented by the engine's session (records, streams, diffs).
#[async_trait]
pub trait Tools: Send + Sync {
    async fn say(&self, text: &str);
    async fn call(&self, call: ToolCall) -> Result<ToolOutput, ToolError>;
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AgentOutcome {
    /// The agent's own summary (from `finish`), if it gave one.
    pub summary: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The agent cannot go on; the attempt fails with this reason.
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Tool(#[from] ToolError),
}

#[async_trait]
pub trait Agent: Send {
    /// Works on the task until done. `feedback` is set on a retry with feedback.
    async fn run(
        &mut self,
        tools: &dyn Tools,
        feedback: Option<&str>,
    ) -> Result<AgentOutcome, AgentError>;
}
