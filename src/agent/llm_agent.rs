//! The built-in agent: an LLM loop on the host whose tool calls run in the container.
//!
//! Each turn streams from the provider (retrying transient failures), the assistant's
//! text is recorded, every tool call is executed through `Tools` and its capped output
//! goes back to the model. Malformed calls go back as tool errors. Budgets (turns, tokens,
//! cost) are checked before each model call, so a stopped agent never makes the call
//! that would exceed them. The conversation stays in the agent, so feedback continues it.

use std::path::PathBuf;
use std::sync::Arc;

use async_trait::async_trait;

use super::schema;
use super::tools::{ToolCall, ToolError};
use super::{Agent, AgentError, AgentOutcome, Tools, UsageRecord};
use crate::llm::retry::{RetryPolicy, with_retry};
use crate::llm::{Block, Message, Provider, Request, Role, StopReason, ToolSpec, Usage};
use crate::text::Capture;

/// Bytes of one tool output the model sees (head + tail).
const TO_MODEL: usize = 10 << 10;

#[derive(Debug, Clone, PartialEq, Default)]
pub struct Budgets {
    pub max_turns: u32,
    pub max_tokens: Option<u64>,
    pub max_cost_usd: Option<f64>,
}

/// Dollars per million input and output tokens.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Prices {
    pub input: f64,
    pub output: f64,
}

pub struct LlmSettings {
    pub provider: Arc<dyn Provider>,
    pub model: String,
    pub max_tokens: u32,
    pub temperature: Option<f32>,
    pub budgets: Budgets,
    pub prices: Option<Prices>,
    pub retry: RetryPolicy,
}

pub struct LlmAgent {
    s: LlmSettings,
    system: String,
    tools: Vec<ToolSpec>,
    messages: Vec<Message>,
    usage: Usage,
    turns: u32,
    /// Where the conversation is written after every step (so it can be continued).
    saved_to: Option<PathBuf>,
}

impl LlmAgent {
    pub fn new(settings: LlmSettings, system: String, task: &str) -> Self {
        LlmAgent {
            s: settings,
            system,
            tools: schema::specs(),
            messages: vec![Message::user(task)],
            usage: Usage::default(),
            turns: 0,
            saved_to: None,
        }
    }

    /// Writes the conversation to `path` after every step.
    pub fn saving_to(mut self, path: PathBuf) -> Self {
        self.saved_to = Some(path);
        self
    }

    /// Continues an earlier conversation (a retry with feedback) instead of starting one.
    pub fn resuming(mut self, messages: Vec<Message>) -> Self {
        if !messages.is_empty() {
            self.messages = messages;
        }
        self
    }

    /// Reads a conversation saved by `saving_to`.
    pub fn load(path: &std::path::Path) -> Option<Vec<Message>> {
        serde_json::from_slice(&std::fs::read(path).ok()?).ok()
    }

    fn save(&self) {
        let Some(path) = &self.saved_to else { return };
        let write = serde_json::to_vec(&self.messages)
            .map_err(std::io::Error::other)
            .and_then(|json| crate::paths::write_private(path, &json));
        if let Err(e) = write {
            tracing::warn!("saving the conversation to {}: {e}", path.display());
        }
    }

    fn cost(&self) -> Option<f64> {
        self.s.prices.map(|p| {
            (self.usage.input_tokens as f64 * p.input + self.usage.output_tokens as f64 * p.output)
                / 1e6
        })
    }

    fn record(&self) -> UsageRecord {
        UsageRecord {
            input_tokens: self.usage.input_tokens,
            output_tokens: self.usage.output_tokens,
            cost_usd: self.cost(),
            turns: self.turns,
        }
    }

    /// The budget that is used up, in words, if any.
    fn exhausted(&self) -> Option<String> {
        let b = &self.s.budgets;
        if self.turns >= b.max_turns {
            return Some(format!(
                "max turns (used {} of {})",
                self.turns, b.max_turns
            ));
        }
        if let Some(max) = b.max_tokens.filter(|m| self.usage.total() >= *m) {
            return Some(format!(
                "token budget (used {} of {max})",
                self.usage.total()
            ));
        }
        if let (Some(max), Some(cost)) = (b.max_cost_usd, self.cost())
            && cost >= max
        {
            return Some(format!("cost cap (used ${cost:.2} of ${max:.2})"));
        }
        None
    }

    /// Runs one tool call from the model; the result block to send back, and the summary
    /// when it was `finish`.
    async fn execute(
        &self,
        tools: &dyn Tools,
        id: &str,
        name: &str,
        input: &serde_json::Value,
    ) -> Result<(Block, Option<String>), AgentError> {
        let call = match schema::parse(name, input) {
            Ok(c) => c,
            Err(msg) => {
                tools
                    .note(&format!("the model made an invalid tool call: {msg}"))
                    .await;
                return Ok((
                    Block::ToolResult {
                        id: id.into(),
                        content: msg,
                        is_error: true,
                    },
                    None,
                ));
            }
        };
        let finish = match &call {
            ToolCall::Finish { summary } => Some(summary.clone()),
            _ => None,
        };
        let block = match tools.call(call).await {
            Ok(out) => {
                let mut cap = Capture::new(TO_MODEL / 2, TO_MODEL / 2);
                cap.push(out.output.as_bytes());
                let mut content = cap.render();
                if let Some(code) = out.exit_code.filter(|c| *c != 0) {
                    content.push_str(&format!("\n[exit code {code}]"));
                }
                if out.timed_out {
                    content.push_str("\n[timed out]");
                }
                Block::ToolResult {
                    id: id.into(),
                    content,
                    is_error: !out.ok,
                }
            }
            Err(ToolError::Invalid(msg)) => Block::ToolResult {
                id: id.into(),
                content: msg,
                is_error: true,
            },
            Err(e) => return Err(AgentError::Tool(e)),
        };
        Ok((block, finish))
    }
}

#[async_trait]
impl Agent for LlmAgent {
    fn continues(&self) -> bool {
        true
    }

    async fn run(
        &mut self,
        tools: &dyn Tools,
        feedback: Option<&str>,
    ) -> Result<AgentOutcome, AgentError> {
        if let Some(f) = feedback {
            self.messages.push(Message::user(format!(
                "Feedback on your work so far:\n{f}\n\nContinue from here."
            )));
        }
        loop {
            if let Some(budget) = self.exhausted() {
                return Err(AgentError::Stopped(budget));
            }
            let req = Request {
                model: &self.s.model,
                system: &self.system,
                messages: &self.messages,
                tools: &self.tools,
                max_tokens: self.s.max_tokens,
                temperature: self.s.temperature,
            };
            let provider = self.s.provider.clone();
            let mut notes = Vec::new();
            let policy = self.s.retry;
            let result = with_retry(
                policy,
                |_| {
                    let provider = provider.clone();
                    let req = req.clone();
                    async move { provider.turn(&req, &mut |t| tools.stream_text(t)).await }
                },
                |e, wait, n| {
                    notes.push(format!(
                        "{e}; retrying in {:.1}s (attempt {n}/{})",
                        wait.as_secs_f64(),
                        policy.max_attempts
                    ))
                },
            )
            .await;
            for n in notes {
                tools.note(&n).await;
            }
            let resp = result.map_err(|e| {
                let what = if e.retryable() {
                    format!(
                        "provider unavailable after {} attempts: {e}",
                        policy.max_attempts
                    )
                } else {
                    e.to_string()
                };
                AgentError::Failed(what)
            })?;
            self.turns += 1;
            self.usage.add(resp.usage);
            tools.usage(self.record()).await;
            let text = resp.text();
            if !text.trim().is_empty() {
                tools.say(text.trim()).await;
            }
            self.messages.push(Message {
                role: Role::Assistant,
                content: resp.content.clone(),
            });
            self.save();
            let calls: Vec<(String, String, serde_json::Value)> = resp
                .content
                .iter()
                .filter_map(|b| match b {
                    Block::ToolUse { id, name, input } => {
                        Some((id.clone(), name.clone(), input.clone()))
                    }
                    _ => None,
                })
                .collect();
            if calls.is_empty() {
                if resp.stop == StopReason::MaxTokens {
                    self.messages.push(Message::user(
                        "Your answer was cut at the token limit. Continue.",
                    ));
                    continue;
                }
                if text.trim().is_empty() {
                    self.messages.push(Message::user(
                        "You sent an empty answer. Use the tools, or call `finish` when done.",
                    ));
                    continue;
                }
                // No tool call: the model considers itself done.
                return Ok(AgentOutcome {
                    summary: Some(text.trim().to_string()),
                });
            }
            let mut results = Vec::new();
            let mut finished = None;
            for (id, name, input) in &calls {
                let (block, finish) = self.execute(tools, id, name, input).await?;
                results.push(block);
                finished = finished.or(finish);
            }
            self.messages.push(Message {
                role: Role::User,
                content: results,
            });
            self.save();
            if let Some(summary) = finished {
                return Ok(AgentOutcome {
                    summary: Some(summary),
                });
            }
        }
    }
}
