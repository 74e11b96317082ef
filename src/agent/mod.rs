//! Agents: what decides the next tool call. The tools themselves run in the container.
//!
//! An agent sees only `Tools` (say something, call a tool), so the engine can record and
//! stream every step and stop it on cancel. Three agents sit behind the one trait: a
//! scripted one (`scripted`), drover's own LLM loop (`llm_agent`), and a CLI agent run in
//! the container (`external`); `resolve` picks one from the config. Agents never touch
//! the store, the bus or Docker directly.

pub mod context;
pub mod conversation;
pub mod external;
pub mod llm_agent;
pub mod resolve;
pub mod schema;
pub mod scripted;
pub mod stream_formats;
pub mod tools;

use async_trait::async_trait;

use crate::protocol::{ToolCall, UsageRecord};
use tools::{ToolError, ToolOutput};

/// What an agent can do; implemented by the engine's session (records, streams, diffs).
#[async_trait]
pub trait Tools: Send + Sync {
    async fn say(&self, text: &str);
    async fn call(&self, call: ToolCall) -> Result<ToolOutput, ToolError>;
    /// Assistant text as it streams in (the whole text follows in `say`).
    fn stream_text(&self, _delta: &str) {}
    /// A note for the transcript ("rate limited, retrying in 2s").
    async fn note(&self, _text: &str) {}
    /// A note that is new even when the attempt is being resumed ("following again…").
    async fn announce(&self, text: &str) {
        self.note(text).await
    }
    /// Output an external agent printed (shown like tool output).
    async fn output(&self, _text: &str) {}
    /// Tokens and cost so far in this attempt.
    async fn usage(&self, _usage: UsageRecord) {}
    /// How many calls were made in this attempt (saved with an agent's own state).
    fn calls_made(&self) -> u32 {
        0
    }
    /// An agent restored its own state up to call `calls`: the calls before are done.
    fn fast_forward(&self, _calls: u32) {}
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
    /// A budget ran out ("max turns (used 3 of 3)").
    #[error("stopped: {0}")]
    Stopped(String),
    #[error(transparent)]
    Tool(#[from] ToolError),
}

#[async_trait]
pub trait Agent: Send {
    /// Works on the task until done. `feedback` is set on a retry with feedback, and when
    /// the verifier's failure is handed back.
    async fn run(
        &mut self,
        tools: &dyn Tools,
        feedback: Option<&str>,
    ) -> Result<AgentOutcome, AgentError>;

    /// Whether `run` can be called again to continue the same conversation (test failures
    /// are then fed back automatically).
    fn continues(&self) -> bool {
        false
    }
}
