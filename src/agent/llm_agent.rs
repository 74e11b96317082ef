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

use super::conversation::Conversation;
use super::schema;
use super::tools::ToolError;
use super::{Agent, AgentError, AgentOutcome, Tools, UsageRecord};
use crate::llm::retry::{RetryPolicy, with_retry};
use crate::llm::{Block, Message, Provider, Request, Role, StopReason, ToolSpec};
use crate::protocol::ToolCall;
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
    conv: Conversation,
    /// Where the conversation is written after every step (so it can be continued).
    saved_to: Option<PathBuf>,
    /// The conversation was restored mid-attempt: the next `run` goes on from it.
    restored: bool,
}

impl LlmAgent {
    pub fn new(settings: LlmSettings, system: String, task: &str) -> Self {
        LlmAgent {
            s: settings,
            system,
            tools: schema::specs(),
            conv: Conversation {
                messages: vec![Message::user(task)],
                ..Default::default()
            },
            saved_to: None,
            restored: false,
        }
    }

    /// Writes the conversation to `path` after every step.
    pub fn saving_to(mut self, path: PathBuf) -> Self {
        self.saved_to = Some(path);
        self
    }

    /// Continues an earlier attempt's conversation (a retry with feedback): its messages,
    /// with fresh budgets.
    pub fn resuming(mut self, earlier: Option<Conversation>) -> Self {
        if let Some(mut c) = earlier.filter(|c| !c.messages.is_empty()) {
            c.close_open_calls();
            self.conv.messages = c.messages;
        }
        self
    }

    /// Goes on with this attempt's own conversation, stopped by a crash or a quit: turns
    /// and usage count on, answered calls are not made again.
    pub fn restoring(mut self, saved: Conversation) -> Self {
        if !saved.messages.is_empty() {
            self.conv = saved;
            self.restored = true;
        }
        self
    }

    /// Reads a conversation saved by `saving_to`.
    pub fn load(path: &std::path::Path) -> Option<Conversation> {
        Conversation::load(path)
    }

    fn save(&mut self, tools: &dyn Tools) {
        let Some(path) = &self.saved_to else { return };
        self.conv.calls = tools.calls_made();
        if let Err(e) = self.conv.save(path) {
            tracing::warn!("saving the conversation to {}: {e}", path.display());
        }
    }

    /// Runs tool calls of one turn, saving after each result; the summary if one was
    /// `finish`.
    async fn run_calls(
        &mut self,
        tools: &dyn Tools,
        calls: &[(String, String, serde_json::Value)],
    ) -> Result<Option<String>, AgentError> {
        let mut finished = None;
        for (id, name, input) in calls {
            let (block, finish) = self.execute(tools, id, name, input).await?;
            self.conv.pending.push(block);
            self.save(tools);
            finished = finished.or(finish);
        }
        self.conv.settle();
        self.save(tools);
        Ok(finished)
    }

    fn cost(&self) -> Option<f64> {
        self.s.prices.map(|p| {
            (self.conv.usage.input_tokens as f64 * p.input
                + self.conv.usage.output_tokens as f64 * p.output)
                / 1e6
        })
    }

    fn record(&self) -> UsageRecord {
        UsageRecord {
            input_tokens: self.conv.usage.input_tokens,
            output_tokens: self.conv.usage.output_tokens,
            cost_usd: self.cost(),
            turns: self.conv.turns,
        }
    }

    /// The budget that is used up, in words, if any.
    fn exhausted(&self) -> Option<String> {
        let b = &self.s.budgets;
        if self.conv.turns >= b.max_turns {
            return Some(format!(
                "max turns (used {} of {})",
                self.conv.turns, b.max_turns
            ));
        }
        if let Some(max) = b.max_tokens.filter(|m| self.conv.usage.total() >= *m) {
            return Some(format!(
                "token budget (used {} of {max})",
                self.conv.usage.total()
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
        if std::mem::take(&mut self.restored) {
            // Feedback given at the start is already in the restored conversation.
            tools.fast_forward(self.conv.calls);
            if let Some(summary) = self.conv.finished() {
                return Ok(AgentOutcome {
                    summary: Some(summary),
                });
            }
            let open = self.conv.open_calls();
            if !open.is_empty() {
                tools
                    .note(&format!(
                        "resuming: {} tool call(s) of the last turn had no result",
                        open.len()
                    ))
                    .await;
                if let Some(summary) = self.run_calls(tools, &open).await? {
                    return Ok(AgentOutcome {
                        summary: Some(summary),
                    });
                }
            }
        } else if let Some(f) = feedback {
            self.conv.messages.push(Message::user(format!(
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
                messages: &self.conv.messages,
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
            self.conv.turns += 1;
            self.conv.usage.add(resp.usage);
            tools.usage(self.record()).await;
            let text = resp.text();
            if !text.trim().is_empty() {
                tools.say(text.trim()).await;
            }
            self.conv.messages.push(Message {
                role: Role::Assistant,
                content: resp.content.clone(),
            });
            self.save(tools);
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
                    self.conv.messages.push(Message::user(
                        "Your answer was cut at the token limit. Continue.",
                    ));
                    continue;
                }
                if text.trim().is_empty() {
                    self.conv.messages.push(Message::user(
                        "You sent an empty answer. Use the tools, or call `finish` when done.",
                    ));
                    continue;
                }
                // No tool call: the model considers itself done.
                return Ok(AgentOutcome {
                    summary: Some(text.trim().to_string()),
                });
            }
            if let Some(summary) = self.run_calls(tools, &calls).await? {
                return Ok(AgentOutcome {
                    summary: Some(summary),
                });
            }
        }
    }
}
