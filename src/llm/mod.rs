//! Language-model providers: one streaming turn at a time, with tool calls.
//!
//! `Provider` hides the wire protocol (OpenAI-compatible Chat Completions, Anthropic
//! Messages); the agent loop sees messages, tool specs and a `Response`. Errors are
//! classified once (`LlmError`), so retry decisions and user-facing messages agree. This
//! module never runs tools and never touches the container.

mod anthropic;
mod error;
mod openai;
pub mod retry;
mod sse;

use std::time::Duration;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub use anthropic::Anthropic;
pub use error::LlmError;
pub use openai::OpenAi;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    User,
    Assistant,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Block {
    Text {
        text: String,
    },
    /// `input` is the parsed arguments, or a JSON string holding the raw text when the
    /// model sent something that is not JSON.
    ToolUse {
        id: String,
        name: String,
        input: serde_json::Value,
    },
    ToolResult {
        id: String,
        content: String,
        is_error: bool,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: Vec<Block>,
}

impl Message {
    pub fn user(text: impl Into<String>) -> Self {
        Message {
            role: Role::User,
            content: vec![Block::Text { text: text.into() }],
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ToolSpec {
    pub name: &'static str,
    pub description: &'static str,
    pub schema: serde_json::Value,
}

#[derive(Debug, Clone)]
pub struct Request<'a> {
    pub model: &'a str,
    pub system: &'a str,
    pub messages: &'a [Message],
    pub tools: &'a [ToolSpec],
    pub max_tokens: u32,
    pub temperature: Option<f32>,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Usage {
    pub input_tokens: u64,
    pub output_tokens: u64,
}

impl Usage {
    pub fn add(&mut self, other: Usage) {
        self.input_tokens += other.input_tokens;
        self.output_tokens += other.output_tokens;
    }

    pub fn total(&self) -> u64 {
        self.input_tokens + self.output_tokens
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StopReason {
    EndTurn,
    ToolUse,
    MaxTokens,
    Other(String),
}

/// One assistant turn: its text and tool calls (in order), why it stopped, what it cost.
#[derive(Debug, Clone, PartialEq)]
pub struct Response {
    pub content: Vec<Block>,
    pub stop: StopReason,
    pub usage: Usage,
}

impl Response {
    pub fn text(&self) -> String {
        self.content
            .iter()
            .filter_map(|b| match b {
                Block::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect::<Vec<_>>()
            .join("")
    }
}

/// Where and how to reach a model.
#[derive(Debug, Clone)]
pub struct Endpoint {
    pub base_url: String,
    pub api_key: Option<String>,
    /// A stream silent for this long is treated as cut.
    pub idle_timeout: Duration,
}

#[async_trait]
pub trait Provider: Send + Sync {
    fn name(&self) -> &str;
    /// Streams one turn; `on_text` sees assistant text as it arrives.
    async fn turn(
        &self,
        req: &Request<'_>,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<Response, LlmError>;
}

fn http_client() -> Result<reqwest::Client, LlmError> {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(15))
        .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LlmError::Protocol {
            provider: "http".into(),
            message: e.to_string(),
        })
}

/// Sends a request; a failed status becomes the right `LlmError` (with `retry-after` and
/// the key kept out of the message).
async fn send(
    provider: &str,
    http: reqwest::RequestBuilder,
    key: Option<&str>,
) -> Result<reqwest::Response, LlmError> {
    let resp = http.send().await.map_err(|e| LlmError::Unavailable {
        provider: provider.into(),
        status: None,
        message: connect_message(&e),
    })?;
    if resp.status().is_success() {
        return Ok(resp);
    }
    let status = resp.status().as_u16();
    let retry_after = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let text = resp.text().await.unwrap_or_default();
    Err(error::classify(
        provider,
        status,
        retry_after.as_deref(),
        &text,
        key,
    ))
}

/// Connection failures in words (refused, DNS, TLS), without the request's details.
fn connect_message(e: &reqwest::Error) -> String {
    let mut msg = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(s) = src {
        msg = s.to_string();
        src = s.source();
    }
    msg
}
