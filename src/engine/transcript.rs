//! Transcript entries: what an agent said and did, one entry per step.
//!
//! Stored as JSON Lines per attempt and sent to front ends in `Event::Transcript`. Tool
//! output inside an entry is already capped (head + tail) by the runtime.

use serde::{Deserialize, Serialize};

use crate::agent::tools::{ToolCall, ToolOutput};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// RFC 3339 UTC.
    pub at: String,
    #[serde(flatten)]
    pub kind: EntryKind,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum EntryKind {
    /// Text from the agent.
    Assistant {
        text: String,
    },
    /// A tool call as it starts; `call` pairs it with its result.
    ToolCall {
        call: u32,
        tool: ToolCall,
    },
    ToolResult {
        call: u32,
        /// false when the tool could not do what was asked (bad path, no match…).
        ok: bool,
        exit_code: Option<i64>,
        output: String,
        /// Bytes of output dropped between head and tail.
        truncated: u64,
        duration_ms: u64,
        timed_out: bool,
    },
    /// Output of an external agent (its tools' results, or its plain text), ANSI kept.
    Output {
        text: String,
    },
    /// drover's own notes (provisioning, setup, verification).
    Info {
        text: String,
    },
    Error {
        text: String,
    },
}

impl EntryKind {
    /// The transcript entry for call `call`'s result.
    pub fn tool_result(call: u32, out: &ToolOutput) -> EntryKind {
        EntryKind::ToolResult {
            call,
            ok: out.ok,
            exit_code: out.exit_code,
            output: out.output.clone(),
            truncated: out.truncated,
            duration_ms: out.duration.as_millis() as u64,
            timed_out: out.timed_out,
        }
    }

    /// A stored result as the tool returned it: its call number and output.
    pub fn as_tool_result(&self) -> Option<(u32, ToolOutput)> {
        match self {
            EntryKind::ToolResult {
                call,
                ok,
                exit_code,
                output,
                truncated,
                duration_ms,
                timed_out,
            } => Some((
                *call,
                ToolOutput {
                    ok: *ok,
                    exit_code: *exit_code,
                    output: output.clone(),
                    truncated: *truncated,
                    timed_out: *timed_out,
                    duration: std::time::Duration::from_millis(*duration_ms),
                },
            )),
            _ => None,
        }
    }
}

impl Entry {
    pub fn now(kind: EntryKind) -> Self {
        Entry {
            at: crate::engine::clock::now_rfc3339(),
            kind,
        }
    }
}
