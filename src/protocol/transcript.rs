//! Transcript entries: what an agent said and did, one entry per step.
//!
//! Stored as JSON Lines per attempt and sent to front ends in `Event::Transcript`. Tool
//! output inside an entry is already capped (head + tail) by the runtime. `ToolCall` is
//! the request an agent makes (the tools carry it out, in `crate::agent::tools`).

use serde::{Deserialize, Serialize};

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

impl Entry {
    pub fn now(kind: EntryKind) -> Self {
        Entry {
            at: super::clock::now_rfc3339(),
            kind,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "tool", rename_all = "snake_case")]
pub enum ToolCall {
    Bash {
        command: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout_secs: Option<u64>,
    },
    ReadFile {
        path: String,
    },
    WriteFile {
        path: String,
        content: String,
    },
    EditFile {
        path: String,
        old: String,
        new: String,
    },
    ListFiles {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    Search {
        pattern: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        path: Option<String>,
    },
    Finish {
        summary: String,
    },
}

impl ToolCall {
    pub fn name(&self) -> &'static str {
        match self {
            ToolCall::Bash { .. } => "bash",
            ToolCall::ReadFile { .. } => "read_file",
            ToolCall::WriteFile { .. } => "write_file",
            ToolCall::EditFile { .. } => "edit_file",
            ToolCall::ListFiles { .. } => "list_files",
            ToolCall::Search { .. } => "search",
            ToolCall::Finish { .. } => "finish",
        }
    }

    /// One line saying what the call does (for logs and the CLI).
    pub fn headline(&self) -> String {
        match self {
            ToolCall::Bash { command, .. } => format!("$ {command}"),
            ToolCall::ReadFile { path } => format!("read {path}"),
            ToolCall::WriteFile { path, content } => {
                format!("write {path} ({} bytes)", content.len())
            }
            ToolCall::EditFile { path, .. } => format!("edit {path}"),
            ToolCall::ListFiles { path } => format!("list {}", path.as_deref().unwrap_or(".")),
            ToolCall::Search { pattern, path } => {
                format!("search {pattern:?} in {}", path.as_deref().unwrap_or("."))
            }
            ToolCall::Finish { summary } => format!("finish: {summary}"),
        }
    }

    /// What the call acts on, without the tool's name ("$ make", "calc.py").
    pub fn detail(&self) -> String {
        match self {
            ToolCall::Bash { command, .. } => format!("$ {command}"),
            ToolCall::ReadFile { path } | ToolCall::EditFile { path, .. } => path.clone(),
            ToolCall::WriteFile { path, content } => format!("{path} ({} bytes)", content.len()),
            ToolCall::ListFiles { path } => path.clone().unwrap_or_else(|| ".".into()),
            ToolCall::Search { pattern, path } => {
                format!("{pattern:?} in {}", path.as_deref().unwrap_or("."))
            }
            ToolCall::Finish { summary } => summary.clone(),
        }
    }

    /// Whether the call can change files (worth a fresh diff afterwards).
    pub fn may_write(&self) -> bool {
        matches!(
            self,
            ToolCall::Bash { .. } | ToolCall::WriteFile { .. } | ToolCall::EditFile { .. }
        )
    }
}
