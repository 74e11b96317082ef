//! Anthropic Messages, streamed: content blocks (text, tool_use with partial JSON), usage
//! from message_start/message_delta, and an `error` event that can arrive mid-stream with
//! HTTP 200 (e.g. overloaded), classified like the HTTP status it stands for.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::error::classify;
use super::sse::{self, Flow};
use super::{
    Block, Endpoint, LlmError, Message, Provider, Request, Response, Role, StopReason, Usage,
};

pub struct Anthropic {
    endpoint: Endpoint,
    client: reqwest::Client,
}

impl Anthropic {
    pub fn new(endpoint: Endpoint) -> Result<Self, LlmError> {
        Ok(Anthropic {
            endpoint,
            client: super::http_client()?,
        })
    }
}

fn wire_messages(messages: &[Message]) -> Vec<Value> {
    messages
        .iter()
        .map(|m| {
            let content: Vec<Value> = m
                .content
                .iter()
                .map(|b| match b {
                    Block::Text { text } => json!({"type": "text", "text": text}),
                    Block::ToolUse { id, name, input } => {
                        // The API wants an object; a model's non-JSON arguments go back as one.
                        let input = if input.is_object() { input.clone() } else { json!({"raw": input}) };
                        json!({"type": "tool_use", "id": id, "name": name, "input": input})
                    }
                    Block::ToolResult { id, content, is_error } => {
                        json!({"type": "tool_result", "tool_use_id": id, "content": content, "is_error": is_error})
                    }
                })
                .collect();
            json!({"role": if m.role == Role::User { "user" } else { "assistant" }, "content": content})
        })
        .collect()
}

enum Partial {
    Text(String),
    Tool {
        id: String,
        name: String,
        json: String,
    },
}

/// The HTTP status an in-stream error type stands for.
fn status_of(kind: &str) -> u16 {
    match kind {
        "overloaded_error" => 529,
        "rate_limit_error" => 429,
        "authentication_error" => 401,
        "permission_error" => 403,
        "invalid_request_error" => 400,
        "request_too_large" => 413,
        _ => 500,
    }
}

#[async_trait]
impl Provider for Anthropic {
    fn name(&self) -> &str {
        "anthropic"
    }

    async fn turn(
        &self,
        req: &Request<'_>,
        on_text: &mut (dyn for<'s> FnMut(&'s str) + Send),
    ) -> Result<Response, LlmError> {
        let provider = self.name();
        let tools: Vec<Value> = req
            .tools
            .iter()
            .map(
                |t| json!({"name": t.name, "description": t.description, "input_schema": t.schema}),
            )
            .collect();
        let mut body = json!({
            "model": req.model,
            "max_tokens": req.max_tokens,
            "system": req.system,
            "messages": wire_messages(req.messages),
            "tools": tools,
            "stream": true,
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        let url = format!(
            "{}/v1/messages",
            self.endpoint.base_url.trim_end_matches('/')
        );
        let mut http = self
            .client
            .post(&url)
            .header("anthropic-version", "2023-06-01")
            .json(&body);
        if let Some(key) = &self.endpoint.api_key {
            http = http.header("x-api-key", key);
        }
        let resp = super::send(provider, http, self.endpoint.api_key.as_deref()).await?;

        let mut blocks: BTreeMap<u64, Partial> = BTreeMap::new();
        let mut usage = Usage::default();
        let mut stop = StopReason::EndTurn;
        let key = self.endpoint.api_key.clone();
        sse::for_each(resp, self.endpoint.idle_timeout, provider, |event, data| {
            let v: Value = serde_json::from_str(data).map_err(|e| LlmError::Protocol {
                provider: provider.into(),
                message: format!("an event is not JSON ({e})"),
            })?;
            let kind = if event.is_empty() || event == "message" {
                v["type"].as_str().unwrap_or("")
            } else {
                event
            };
            match kind {
                "message_start" => {
                    usage.input_tokens =
                        v["message"]["usage"]["input_tokens"].as_u64().unwrap_or(0);
                    usage.output_tokens =
                        v["message"]["usage"]["output_tokens"].as_u64().unwrap_or(0);
                }
                "content_block_start" => {
                    let idx = v["index"].as_u64().unwrap_or(0);
                    let b = &v["content_block"];
                    let partial = match b["type"].as_str() {
                        Some("tool_use") => Partial::Tool {
                            id: b["id"].as_str().unwrap_or_default().to_string(),
                            name: b["name"].as_str().unwrap_or_default().to_string(),
                            json: String::new(),
                        },
                        _ => Partial::Text(b["text"].as_str().unwrap_or_default().to_string()),
                    };
                    blocks.insert(idx, partial);
                }
                "content_block_delta" => {
                    let idx = v["index"].as_u64().unwrap_or(0);
                    let d = &v["delta"];
                    match (blocks.get_mut(&idx), d["type"].as_str()) {
                        (Some(Partial::Text(t)), Some("text_delta")) => {
                            let piece = d["text"].as_str().unwrap_or_default();
                            t.push_str(piece);
                            on_text(piece);
                        }
                        (Some(Partial::Tool { json, .. }), Some("input_json_delta")) => {
                            json.push_str(d["partial_json"].as_str().unwrap_or_default());
                        }
                        _ => {}
                    }
                }
                "message_delta" => {
                    if let Some(n) = v["usage"]["output_tokens"].as_u64() {
                        usage.output_tokens = n;
                    }
                    stop = match v["delta"]["stop_reason"].as_str() {
                        Some("tool_use") => StopReason::ToolUse,
                        Some("max_tokens") => StopReason::MaxTokens,
                        Some("end_turn") | Some("stop_sequence") | None => StopReason::EndTurn,
                        Some(other) => StopReason::Other(other.to_string()),
                    };
                }
                "message_stop" => return Ok(Flow::Done),
                "error" => {
                    let kind = v["error"]["type"].as_str().unwrap_or("api_error");
                    return Err(classify(
                        provider,
                        status_of(kind),
                        None,
                        data,
                        key.as_deref(),
                    ));
                }
                _ => {} // ping, content_block_stop, future event types
            }
            Ok(Flow::Continue)
        })
        .await?;

        let content = blocks
            .into_values()
            .filter_map(|b| match b {
                Partial::Text(t) if t.is_empty() => None,
                Partial::Text(text) => Some(Block::Text { text }),
                Partial::Tool { id, name, json } => {
                    let input = if json.trim().is_empty() {
                        json!({})
                    } else {
                        serde_json::from_str(&json).unwrap_or(Value::String(json))
                    };
                    Some(Block::ToolUse { id, name, input })
                }
            })
            .collect();
        Ok(Response {
            content,
            stop,
            usage,
        })
    }
}
