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
    /// Where a phase of the attempt begins ("setup", "agent"): what follows belongs to it.
    Section {
        title: String,
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

    /// About how many bytes the entry holds.
    pub fn weight(&self) -> usize {
        64 + match &self.kind {
            EntryKind::Assistant { text }
            | EntryKind::Output { text }
            | EntryKind::Info { text }
            | EntryKind::Error { text } => text.len(),
            EntryKind::Section { title } => title.len(),
            EntryKind::ToolResult { output, .. } => output.len(),
            EntryKind::ToolCall { tool, .. } => tool.weight(),
        }
    }

    /// The entry with every text longer than `max` bytes cut, saying how much was cut
    /// (for messages; the stored transcript keeps it whole).
    pub fn capped(&self, max: usize) -> Entry {
        if self.weight() <= max {
            return self.clone();
        }
        let cut = |s: &str| -> String {
            if s.len() <= max {
                return s.to_string();
            }
            let mut end = max;
            while !s.is_char_boundary(end) {
                end -= 1;
            }
            format!(
                "{}\n… {} more bytes (drover logs has them all)",
                &s[..end],
                s.len() - end
            )
        };
        let kind = match &self.kind {
            EntryKind::Assistant { text } => EntryKind::Assistant { text: cut(text) },
            EntryKind::Output { text } => EntryKind::Output { text: cut(text) },
            EntryKind::Info { text } => EntryKind::Info { text: cut(text) },
            EntryKind::Section { title } => EntryKind::Section { title: cut(title) },
            EntryKind::Error { text } => EntryKind::Error { text: cut(text) },
            EntryKind::ToolResult {
                call,
                ok,
                exit_code,
                output,
                truncated,
                duration_ms,
                timed_out,
            } => EntryKind::ToolResult {
                call: *call,
                ok: *ok,
                exit_code: *exit_code,
                output: cut(output),
                truncated: *truncated + output.len().saturating_sub(max) as u64,
                duration_ms: *duration_ms,
                timed_out: *timed_out,
            },
            EntryKind::ToolCall { call, tool } => EntryKind::ToolCall {
                call: *call,
                tool: tool.capped(&cut),
            },
        };
        Entry {
            at: self.at.clone(),
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

impl ToolCall {
    fn weight(&self) -> usize {
        match self {
            ToolCall::Bash { command, .. } => command.len(),
            ToolCall::ReadFile { path } | ToolCall::ListFiles { path: Some(path) } => path.len(),
            ToolCall::ListFiles { path: None } => 0,
            ToolCall::WriteFile { path, content } => path.len() + content.len(),
            ToolCall::EditFile { path, old, new } => path.len() + old.len() + new.len(),
            ToolCall::Search { pattern, path } => {
                pattern.len() + path.as_ref().map_or(0, String::len)
            }
            ToolCall::Finish { summary } => summary.len(),
        }
    }

    fn capped(&self, cut: &dyn Fn(&str) -> String) -> ToolCall {
        match self {
            ToolCall::Bash {
                command,
                timeout_secs,
            } => ToolCall::Bash {
                command: cut(command),
                timeout_secs: *timeout_secs,
            },
            ToolCall::WriteFile { path, content } => ToolCall::WriteFile {
                path: path.clone(),
                content: cut(content),
            },
            ToolCall::EditFile { path, old, new } => ToolCall::EditFile {
                path: path.clone(),
                old: cut(old),
                new: cut(new),
            },
            ToolCall::Finish { summary } => ToolCall::Finish {
                summary: cut(summary),
            },
            other => other.clone(),
        }
    }
}
