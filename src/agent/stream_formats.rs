//! Reading external agents' output: Claude Code `stream-json`, Codex `exec --json`, goose
//! `stream-json`, or plain text. Tolerant by design: anything unknown is kept as raw text,
//! never dropped, never an error.

use serde_json::Value;

#[derive(Debug, Clone, PartialEq)]
pub enum AgentEvent {
    Text(String),
    Tool {
        name: String,
        detail: String,
    },
    Output {
        text: String,
        is_error: bool,
    },
    Usage {
        input_tokens: u64,
        output_tokens: u64,
        cost_usd: Option<f64>,
    },
    /// The agent's final answer (Claude's `result`).
    Final(String),
    Raw(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Claude,
    Codex,
    Goose,
    Text,
}

impl Format {
    pub fn parse(name: &str) -> Format {
        match name {
            "claude" => Format::Claude,
            "codex" => Format::Codex,
            "goose" => Format::Goose,
            _ => Format::Text,
        }
    }
}

fn compact(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        Value::Object(m) => m
            .iter()
            .map(|(k, v)| {
                format!(
                    "{k}={}",
                    v.as_str()
                        .map(String::from)
                        .unwrap_or_else(|| v.to_string())
                )
            })
            .collect::<Vec<_>>()
            .join(" "),
        other => other.to_string(),
    };
    crate::text::ellipsize(s.lines().next().unwrap_or(""), 160)
}

/// Text of a tool result's `content` (a string or a list of text blocks).
fn content_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .filter_map(|i| i["text"].as_str())
            .collect::<Vec<_>>()
            .join("\n"),
        other => other.to_string(),
    }
}

/// One line of output as events.
pub fn parse_line(format: Format, line: &str) -> Vec<AgentEvent> {
    let line = line.trim_end_matches('\r');
    if line.trim().is_empty() {
        return Vec::new();
    }
    if format == Format::Text {
        return vec![AgentEvent::Raw(line.to_string())];
    }
    let Ok(v) = serde_json::from_str::<Value>(line) else {
        return vec![AgentEvent::Raw(line.to_string())];
    };
    let events = match format {
        Format::Claude => claude(&v),
        Format::Codex => codex(&v),
        Format::Goose => goose(&v),
        Format::Text => None,
    };
    match events {
        Some(e) => e,
        None => vec![AgentEvent::Raw(line.to_string())],
    }
}

/// `None`: not understood (kept raw). `Some(vec![])`: understood, nothing to show.
fn claude(v: &Value) -> Option<Vec<AgentEvent>> {
    match v["type"].as_str()? {
        "system" => Some(Vec::new()),
        "assistant" | "user" => {
            let mut out = Vec::new();
            for b in v["message"]["content"].as_array()? {
                match b["type"].as_str() {
                    Some("text") => out.push(AgentEvent::Text(
                        b["text"].as_str().unwrap_or_default().to_string(),
                    )),
                    Some("tool_use") => out.push(AgentEvent::Tool {
                        name: b["name"].as_str().unwrap_or("tool").to_string(),
                        detail: compact(&b["input"]),
                    }),
                    Some("tool_result") => out.push(AgentEvent::Output {
                        text: content_text(&b["content"]),
                        is_error: b["is_error"].as_bool().unwrap_or(false),
                    }),
                    Some("thinking") => {}
                    _ => out.push(AgentEvent::Raw(b.to_string())),
                }
            }
            Some(out)
        }
        "result" => {
            let mut out = vec![AgentEvent::Usage {
                input_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
                output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
                cost_usd: v["total_cost_usd"].as_f64(),
            }];
            if let Some(r) = v["result"].as_str() {
                out.push(AgentEvent::Final(r.to_string()));
            }
            Some(out)
        }
        _ => None,
    }
}

fn codex(v: &Value) -> Option<Vec<AgentEvent>> {
    match v["type"].as_str()? {
        "thread.started" | "turn.started" | "item.started" | "item.updated" => Some(Vec::new()),
        "item.completed" => {
            let item = &v["item"];
            Some(match item["type"].as_str()? {
                "agent_message" => vec![AgentEvent::Text(
                    item["text"].as_str().unwrap_or_default().to_string(),
                )],
                "reasoning" => Vec::new(),
                "command_execution" => vec![
                    AgentEvent::Tool {
                        name: "bash".into(),
                        detail: compact(&item["command"]),
                    },
                    AgentEvent::Output {
                        text: item["aggregated_output"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        is_error: item["exit_code"].as_i64().is_some_and(|c| c != 0),
                    },
                ],
                "file_change" => {
                    let paths: Vec<&str> = item["changes"]
                        .as_array()
                        .map(|c| c.iter().filter_map(|x| x["path"].as_str()).collect())
                        .unwrap_or_default();
                    vec![AgentEvent::Tool {
                        name: "edit".into(),
                        detail: paths.join(", "),
                    }]
                }
                _ => return None,
            })
        }
        "turn.completed" => Some(vec![AgentEvent::Usage {
            input_tokens: v["usage"]["input_tokens"].as_u64().unwrap_or(0),
            output_tokens: v["usage"]["output_tokens"].as_u64().unwrap_or(0),
            cost_usd: None,
        }]),
        _ => None,
    }
}

fn goose(v: &Value) -> Option<Vec<AgentEvent>> {
    match v["type"].as_str()? {
        "message" => {
            let mut out = Vec::new();
            for b in v["message"]["content"].as_array()? {
                match b["type"].as_str() {
                    Some("text") => out.push(AgentEvent::Text(
                        b["text"].as_str().unwrap_or_default().to_string(),
                    )),
                    Some("toolRequest") => {
                        let call = &b["toolCall"]["value"];
                        out.push(AgentEvent::Tool {
                            name: call["name"].as_str().unwrap_or("tool").to_string(),
                            detail: compact(&call["arguments"]),
                        });
                    }
                    Some("toolResponse") => out.push(AgentEvent::Output {
                        text: content_text(&b["toolResult"]["value"]),
                        is_error: false,
                    }),
                    _ => out.push(AgentEvent::Raw(b.to_string())),
                }
            }
            Some(out)
        }
        "complete" | "finish" => Some(Vec::new()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claude_stream_json() {
        let p = |l| parse_line(Format::Claude, l);
        assert_eq!(
            p(r#"{"type":"system","subtype":"init","session_id":"x"}"#),
            vec![]
        );
        assert_eq!(
            p(
                r#"{"type":"assistant","message":{"content":[{"type":"text","text":"Looking."},{"type":"tool_use","name":"Read","input":{"file_path":"calc.py"}}]}}"#
            ),
            vec![
                AgentEvent::Text("Looking.".into()),
                AgentEvent::Tool {
                    name: "Read".into(),
                    detail: "file_path=calc.py".into()
                }
            ]
        );
        assert_eq!(
            p(
                r#"{"type":"user","message":{"content":[{"type":"tool_result","content":[{"type":"text","text":"def add"}],"is_error":false}]}}"#
            ),
            vec![AgentEvent::Output {
                text: "def add".into(),
                is_error: false
            }]
        );
        assert_eq!(
            p(
                r#"{"type":"result","subtype":"success","total_cost_usd":0.0123,"usage":{"input_tokens":900,"output_tokens":80},"result":"Fixed."}"#
            ),
            vec![
                AgentEvent::Usage {
                    input_tokens: 900,
                    output_tokens: 80,
                    cost_usd: Some(0.0123)
                },
                AgentEvent::Final("Fixed.".into())
            ]
        );
        assert_eq!(
            p(r#"{"type":"new_kind","x":1}"#),
            vec![AgentEvent::Raw(r#"{"type":"new_kind","x":1}"#.into())]
        );
        assert_eq!(p("not json"), vec![AgentEvent::Raw("not json".into())]);
    }

    #[test]
    fn codex_jsonl() {
        let p = |l| parse_line(Format::Codex, l);
        assert_eq!(p(r#"{"type":"thread.started","thread_id":"t"}"#), vec![]);
        assert_eq!(
            p(
                r#"{"type":"item.completed","item":{"id":"i","type":"agent_message","text":"Done."}}"#
            ),
            vec![AgentEvent::Text("Done.".into())]
        );
        assert_eq!(
            p(
                r#"{"type":"item.completed","item":{"type":"command_execution","command":"pytest -q","aggregated_output":"1 failed","exit_code":1}}"#
            ),
            vec![
                AgentEvent::Tool {
                    name: "bash".into(),
                    detail: "pytest -q".into()
                },
                AgentEvent::Output {
                    text: "1 failed".into(),
                    is_error: true
                }
            ]
        );
        assert_eq!(
            p(
                r#"{"type":"turn.completed","usage":{"input_tokens":1500,"cached_input_tokens":0,"output_tokens":300}}"#
            ),
            vec![AgentEvent::Usage {
                input_tokens: 1500,
                output_tokens: 300,
                cost_usd: None
            }]
        );
    }

    #[test]
    fn goose_and_text() {
        let l = r#"{"type":"message","message":{"role":"assistant","content":[{"type":"text","text":"Hi"},{"type":"toolRequest","toolCall":{"value":{"name":"shell","arguments":{"command":"ls"}}}}]}}"#;
        assert_eq!(
            parse_line(Format::Goose, l),
            vec![
                AgentEvent::Text("Hi".into()),
                AgentEvent::Tool {
                    name: "shell".into(),
                    detail: "command=ls".into()
                }
            ]
        );
        assert_eq!(
            parse_line(Format::Text, "\x1b[32maider\x1b[0m> ok"),
            vec![AgentEvent::Raw("\x1b[32maider\x1b[0m> ok".into())]
        );
    }
}
