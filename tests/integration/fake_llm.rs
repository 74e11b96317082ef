//! A fake LLM server that speaks the real streaming protocols (OpenAI Chat Completions and
//! Anthropic Messages) over real HTTP on loopback, replying from a script and recording
//! every request. It can also fail like real servers do: statuses with `retry-after`,
//! HTML error pages, streams cut mid-answer.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Clone)]
pub enum Reply {
    /// `200 text/event-stream` with these raw chunks; `cut_after` closes early.
    Sse {
        chunks: Vec<String>,
        cut_after: Option<usize>,
    },
    Status {
        code: u16,
        headers: Vec<(String, String)>,
        body: String,
    },
    /// Sends these chunks, then holds the connection open in silence.
    Stall { chunks: Vec<String> },
}

#[derive(Debug, Clone)]
pub struct Received {
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Value,
    pub at: Instant,
}

impl Received {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

#[derive(Clone, Default)]
pub struct FakeLlm {
    replies: Arc<Mutex<VecDeque<Reply>>>,
    pub received: Arc<Mutex<Vec<Received>>>,
}

impl FakeLlm {
    /// Starts serving on 127.0.0.1; returns the server and its base URL.
    pub async fn start(replies: Vec<Reply>) -> (FakeLlm, String) {
        let fake = FakeLlm {
            replies: Arc::new(Mutex::new(replies.into())),
            received: Arc::default(),
        };
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let f = fake.clone();
        tokio::spawn(async move {
            while let Ok((mut sock, _)) = listener.accept().await {
                let f = f.clone();
                tokio::spawn(async move {
                    let Some(req) = read_request(&mut sock).await else {
                        return;
                    };
                    f.received.lock().unwrap().push(req);
                    let reply = f
                        .replies
                        .lock()
                        .unwrap()
                        .pop_front()
                        .unwrap_or(Reply::Status {
                            code: 500,
                            headers: vec![],
                            body: r#"{"error":{"message":"the fake server ran out of replies"}}"#
                                .into(),
                        });
                    write_reply(&mut sock, reply).await;
                });
            }
        });
        (fake, url)
    }

    pub fn requests(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

async fn read_request(sock: &mut tokio::net::TcpStream) -> Option<Received> {
    let mut buf = Vec::new();
    let mut tmp = [0u8; 8192];
    let header_end = loop {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&tmp[..n]);
        if let Some(p) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break p + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).to_string();
    let mut lines = head.lines();
    let path = lines.next()?.split_whitespace().nth(1)?.to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| {
            l.split_once(':')
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        })
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + len {
        let n = sock.read(&mut tmp).await.ok()?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&tmp[..n]);
    }
    let body = serde_json::from_slice(&buf[header_end..]).unwrap_or(Value::Null);
    Some(Received {
        path,
        headers,
        body,
        at: Instant::now(),
    })
}

async fn write_reply(sock: &mut tokio::net::TcpStream, reply: Reply) {
    match reply {
        Reply::Status {
            code,
            headers,
            body,
        } => {
            let mut head = format!(
                "HTTP/1.1 {code} Fake\r\ncontent-length: {}\r\nconnection: close\r\n",
                body.len()
            );
            let ctype = if body.trim_start().starts_with('<') {
                "text/html"
            } else {
                "application/json"
            };
            head.push_str(&format!("content-type: {ctype}\r\n"));
            for (k, v) in headers {
                head.push_str(&format!("{k}: {v}\r\n"));
            }
            head.push_str("\r\n");
            let _ = sock.write_all(head.as_bytes()).await;
            let _ = sock.write_all(body.as_bytes()).await;
        }
        Reply::Stall { chunks } => {
            let head =
                "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n";
            let _ = sock.write_all(head.as_bytes()).await;
            for c in &chunks {
                let _ = sock.write_all(c.as_bytes()).await;
            }
            let _ = sock.flush().await;
            tokio::time::sleep(std::time::Duration::from_secs(30)).await;
        }
        Reply::Sse { chunks, cut_after } => {
            let head = "HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ncache-control: no-cache\r\nconnection: close\r\n\r\n";
            let _ = sock.write_all(head.as_bytes()).await;
            for (i, c) in chunks.iter().enumerate() {
                if cut_after.is_some_and(|n| i >= n) {
                    break;
                }
                let _ = sock.write_all(c.as_bytes()).await;
                let _ = sock.flush().await;
            }
        }
    }
    let _ = sock.shutdown().await;
}

fn data(v: Value) -> String {
    format!("data: {v}\n\n")
}

/// An OpenAI stream: optional text (in pieces), then tool calls whose arguments arrive
/// split in `pieces` fragments, then usage and [DONE].
pub fn openai_turn(text: &str, calls: &[(&str, Value)], pieces: usize) -> Vec<String> {
    let mut out = Vec::new();
    for word in text.split_inclusive(' ') {
        out.push(data(
            json!({"choices": [{"index": 0, "delta": {"content": word}}]}),
        ));
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let args = args.to_string();
        let size = args.len().div_ceil(pieces.max(1)).max(1);
        let parts: Vec<String> = args
            .as_bytes()
            .chunks(size)
            .map(|c| String::from_utf8_lossy(c).into_owned())
            .collect();
        for (j, part) in parts.iter().enumerate() {
            let mut call = json!({"index": i, "function": {"arguments": part}});
            if j == 0 {
                call["id"] = json!(format!("call_{i}_{}", name));
                call["type"] = json!("function");
                call["function"]["name"] = json!(name);
            }
            out.push(data(
                json!({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]}),
            ));
        }
    }
    let finish = if calls.is_empty() {
        "stop"
    } else {
        "tool_calls"
    };
    out.push(data(
        json!({"choices": [{"index": 0, "delta": {}, "finish_reason": finish}]}),
    ));
    out.push(data(
        json!({"choices": [], "usage": {"prompt_tokens": 1000, "completion_tokens": 50}}),
    ));
    out.push("data: [DONE]\n\n".into());
    out
}

fn event(name: &str, v: Value) -> String {
    format!("event: {name}\ndata: {v}\n\n")
}

/// An Anthropic stream: text block, then tool_use blocks with partial JSON in `pieces`.
pub fn anthropic_turn(text: &str, calls: &[(&str, Value)], pieces: usize) -> Vec<String> {
    let mut out = vec![event(
        "message_start",
        json!({"type": "message_start", "message": {"usage": {"input_tokens": 1200, "output_tokens": 1}}}),
    )];
    let mut idx = 0;
    if !text.is_empty() {
        out.push(event("content_block_start", json!({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}})));
        for word in text.split_inclusive(' ') {
            out.push(event("content_block_delta", json!({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": word}})));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": 0}),
        ));
        idx = 1;
    }
    for (i, (name, args)) in calls.iter().enumerate() {
        let n = idx + i;
        out.push(event("content_block_start", json!({"type": "content_block_start", "index": n, "content_block": {"type": "tool_use", "id": format!("toolu_{n}"), "name": name, "input": {}}})));
        let args = args.to_string();
        let size = args.len().div_ceil(pieces.max(1)).max(1);
        for part in args.as_bytes().chunks(size) {
            let part = String::from_utf8_lossy(part);
            out.push(event("content_block_delta", json!({"type": "content_block_delta", "index": n, "delta": {"type": "input_json_delta", "partial_json": part}})));
        }
        out.push(event(
            "content_block_stop",
            json!({"type": "content_block_stop", "index": n}),
        ));
    }
    out.push("event: ping\ndata: {\"type\": \"ping\"}\n\n".into());
    let stop = if calls.is_empty() {
        "end_turn"
    } else {
        "tool_use"
    };
    out.push(event("message_delta", json!({"type": "message_delta", "delta": {"stop_reason": stop}, "usage": {"output_tokens": 60}})));
    out.push(event("message_stop", json!({"type": "message_stop"})));
    out
}

pub fn sse(chunks: Vec<String>) -> Reply {
    Reply::Sse {
        chunks,
        cut_after: None,
    }
}
