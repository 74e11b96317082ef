//! OpenAI-compatible Chat Completions, streamed (OpenAI, Ollama /v1, vLLM, llama.cpp,
//! LM Studio, OpenRouter).
//!
//! Tolerates the known differences between servers: tool-call fragments keyed by `index`
//! (missing index = 0), `id`/`name` only in the first fragment, arguments split or whole,
//! `finish_reason: "stop"` with tool calls, usage in a last chunk or not at all.

use std::collections::BTreeMap;

use async_trait::async_trait;
use serde_json::{Value, json};

use super::error::classify;
use super::sse::{self, Flow};
use super::{
    Block, Endpoint, LlmError, Message, Provider, Request, Response, Role, StopReason, Usage,
};

pub struct OpenAi {
    endpoint: Endpoint,
    client: reqwest::Client,
}

impl OpenAi {
    pub fn new(endpoint: Endpoint) -> Result<Self, LlmError> {
        Ok(OpenAi {
            endpoint,
            client: super::http_client()?,
        })
    }
}

fn wire_messages(system: &str, messages: &[Message]) -> Vec<Value> {
    let mut out = vec![json!({"role": "system", "content": system})];
    for m in messages {
        match m.role {
            Role::User => {
                let mut text = String::new();
                for b in &m.content {
                    match b {
                        Block::ToolResult { id, content, .. } => out
                            .push(json!({"role": "tool", "tool_call_id": id, "content": content})),
                        Block::Text { text: t } => text.push_str(t),
                        Block::ToolUse { .. } => {}
                    }
                }
                if !text.is_empty() {
                    out.push(json!({"role": "user", "content": text}));
                }
            }
            Role::Assistant => {
                let text: String = m
                    .content
                    .iter()
                    .filter_map(|b| {
                        if let Block::Text { text } = b {
                            Some(text.as_str())
                        } else {
                            None
                        }
                    })
                    .collect();
                let calls: Vec<Value> = m
                    .content
                    .iter()
                    .filter_map(|b| match b {
                        Block::ToolUse { id, name, input } => {
                            let args = match input {
                                Value::String(raw) => raw.clone(),
                                v => v.to_string(),
                            };
                            Some(json!({"id": id, "type": "function", "function": {"name": name, "arguments": args}}))
                        }
                        _ => None,
                    })
                    .collect();
                let mut msg = json!({"role": "assistant", "content": if text.is_empty() { Value::Null } else { Value::String(text) }});
                if !calls.is_empty() {
                    msg["tool_calls"] = Value::Array(calls);
                }
                out.push(msg);
            }
        }
    }
    out
}

#[derive(Default)]
struct PartialCall {
    id: Option<String>,
    name: String,
    args: String,
}

#[async_trait]
impl Provider for OpenAi {
    fn name(&self) -> &str {
        "openai"
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
            .map(|t| json!({"type": "function", "function": {"name": t.name, "description": t.description, "parameters": t.schema}}))
            .collect();
        let mut body = json!({
            "model": req.model,
            "messages": wire_messages(req.system, req.messages),
            "tools": tools,
            "stream": true,
            "stream_options": {"include_usage": true},
            "max_tokens": req.max_tokens,
        });
        if let Some(t) = req.temperature {
            body["temperature"] = json!(t);
        }
        let url = format!(
            "{}/chat/completions",
            self.endpoint.base_url.trim_end_matches('/')
        );
        let mut http = self.client.post(&url).json(&body);
        if let Some(key) = &self.endpoint.api_key {
            http = http.bearer_auth(key);
        }
        let resp = super::send(provider, http, self.endpoint.api_key.as_deref()).await?;

        let mut text = String::new();
        let mut calls: BTreeMap<u64, PartialCall> = BTreeMap::new();
        let mut finish: Option<String> = None;
        let mut usage = Usage::default();
        let key = self.endpoint.api_key.clone();
        sse::for_each(resp, self.endpoint.idle_timeout, provider, |_, data| {
            let data = data.trim();
            if data == "[DONE]" {
                return Ok(Flow::Done);
            }
            let v: Value = serde_json::from_str(data).map_err(|e| LlmError::Protocol {
                provider: provider.into(),
                message: format!("a stream chunk is not JSON ({e})"),
            })?;
            if v.get("error").is_some() {
                return Err(classify(provider, 503, None, data, key.as_deref()));
            }
            if let Some(u) = v.get("usage").filter(|u| !u.is_null()) {
                usage.input_tokens = u["prompt_tokens"].as_u64().unwrap_or(usage.input_tokens);
                usage.output_tokens = u["completion_tokens"]
                    .as_u64()
                    .unwrap_or(usage.output_tokens);
            }
            let Some(choice) = v["choices"].as_array().and_then(|c| c.first()) else {
                return Ok(Flow::Continue);
            };
            let delta = &choice["delta"];
            if let Some(t) = delta["content"].as_str().filter(|t| !t.is_empty()) {
                text.push_str(t);
                on_text(t);
            }
            if let Some(tcs) = delta["tool_calls"].as_array() {
                for tc in tcs {
                    let idx = tc["index"].as_u64().unwrap_or(0);
                    let c = calls.entry(idx).or_default();
                    if let Some(id) = tc["id"].as_str().filter(|s| !s.is_empty()) {
                        c.id = Some(id.to_string());
                    }
                    if let Some(n) = tc["function"]["name"].as_str() {
                        c.name.push_str(n);
                    }
                    match &tc["function"]["arguments"] {
                        Value::String(a) => c.args.push_str(a),
                        Value::Object(_) => {
                            c.args.push_str(&tc["function"]["arguments"].to_string())
                        }
                        _ => {}
                    }
                }
            }
            if let Some(f) = choice["finish_reason"].as_str() {
                finish = Some(f.to_string());
            }
            Ok(Flow::Continue)
        })
        .await
        .or_else(|e| match (&e, &finish) {
            // Some servers close right after the finish reason without [DONE].
            (LlmError::Stream { .. }, Some(_)) => Ok(()),
            _ => Err(e),
        })?;

        let mut content = Vec::new();
        if !text.is_empty() {
            content.push(Block::Text { text });
        }
        for (idx, c) in calls {
            let input = if c.args.trim().is_empty() {
                json!({})
            } else {
                serde_json::from_str(&c.args).unwrap_or(Value::String(c.args))
            };
            content.push(Block::ToolUse {
                id: c.id.unwrap_or_else(|| format!("call_{idx}")),
                name: c.name,
                input,
            });
        }
        let has_calls = content.iter().any(|b| matches!(b, Block::ToolUse { .. }));
        let stop = match finish.as_deref() {
            _ if has_calls => StopReason::ToolUse,
            Some("length") => StopReason::MaxTokens,
            Some("stop") | None => StopReason::EndTurn,
            Some(other) => StopReason::Other(other.to_string()),
        };
        Ok(Response {
            content,
            stop,
            usage,
        })
    }
}
