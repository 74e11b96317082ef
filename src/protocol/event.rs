//! What the engine says: `Event`s, numbered in one sequence across tasks, and the
//! snapshot of a task a subscriber starts from.
//!
//! Every event carries its payload, so a front end never calls back into the engine to
//! fetch a result.

use serde::{Deserialize, Serialize};

use super::diff::{DiffSummary, Overlap};
use super::ids::TaskId;
use super::report::TestReport;
use super::state::TaskState;
use super::task::{AttemptRecord, TaskRecord};
use super::transcript::Entry;

/// The most one message carries of one text: a page of a patch, the end of a test log,
/// a transcript entry's longest field. Messages stay small however big a task's work is.
pub const PAGE: usize = 1 << 20;
/// The most one history carries of a transcript (its newest entries).
pub const HISTORY_ENTRIES_BYTES: usize = 4 << 20;

/// A piece of a long text: bytes `from .. from + text.len()` of `total`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Page {
    pub from: u64,
    pub total: u64,
    pub text: String,
}

impl Page {
    /// At most `PAGE` bytes of `s` from byte `from` (both ends moved back to a char
    /// boundary).
    pub fn of(s: &str, from: usize) -> Page {
        let start = floor_char(s, from.min(s.len()));
        let end = floor_char(s, start.saturating_add(PAGE).min(s.len()));
        Page {
            from: start as u64,
            total: s.len() as u64,
            text: s[start..end].to_string(),
        }
    }

    /// Bytes after this page.
    pub fn rest(&self) -> u64 {
        self.total
            .saturating_sub(self.from + self.text.len() as u64)
    }
}

/// The end of `s`, at most `max` bytes, starting on a char boundary.
pub fn tail(s: &str, max: usize) -> &str {
    let mut cut = s.len().saturating_sub(max);
    while !s.is_char_boundary(cut) {
        cut += 1;
    }
    &s[cut..]
}

fn floor_char(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// A task as it stands: what a front end that attaches is given before live events.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskSnapshot {
    pub task: TaskRecord,
    pub attempt: AttemptRecord,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub seq: u64,
    pub task: Option<TaskId>,
    pub attempt: u32,
    pub at: String,
    #[serde(flatten)]
    pub body: EventBody,
}

/// Field names that would collide with `Event`'s own (`task`, `attempt`) once the body
/// is flattened into it are renamed on the wire, so events read back as they were sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum EventBody {
    /// A task entered the engine's view (queued now, or found in the store).
    TaskAdded {
        #[serde(rename = "record")]
        task: Box<TaskRecord>,
        #[serde(rename = "attempt_record")]
        attempt: Box<AttemptRecord>,
    },
    /// The current attempt's record changed (workspace, container, limits, summary,
    /// timings): the whole record, so front ends never assemble it themselves.
    AttemptUpdated {
        #[serde(rename = "attempt_record")]
        attempt: Box<AttemptRecord>,
    },
    /// Whether Docker answers, and its version.
    Docker {
        version: Option<String>,
        error: Option<String>,
    },
    StateChanged {
        from: TaskState,
        to: TaskState,
    },
    Transcript {
        entry: Entry,
        /// Its index in the attempt's transcript (a history's `earlier` counts the same
        /// way), so a history read back joins what was seen live exactly.
        n: u64,
    },
    /// Assistant text as the model streams it (the whole text follows as an entry).
    AssistantDelta {
        text: String,
    },
    /// Live output of a running tool call (the head of it; the capped whole arrives in
    /// the `ToolResult` entry).
    ToolOutput {
        call: u32,
        chunk: String,
    },
    ContainerStarted {
        container: String,
        image: String,
    },
    /// The diff changed: its summary, and the first page of its patch (`Command::Page`
    /// asks for more).
    DiffUpdated {
        diff: DiffSummary,
        patch: Page,
    },
    TestStarted {
        command: String,
    },
    TestOutput {
        chunk: String,
    },
    TestFinished {
        report: TestReport,
    },
    /// Other tasks in review or approved that change the same files as this one, and
    /// whether they merge together (replaces the previous list; empty clears it).
    Overlaps {
        overlaps: Vec<Overlap>,
    },
    /// Something the user asked for that this build cannot do, or a hint.
    Notice {
        message: String,
    },
    /// A command failed; the task (if any) is unchanged.
    Error {
        message: String,
    },
}

/// The stored history of a task's current attempt, answering `Command::Load` (to the
/// front end that asked): its latest entries (each capped; `earlier` more are in
/// `drover logs`), the end of its test output and the first page of its patch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    #[serde(rename = "attempt_record")]
    pub attempt: AttemptRecord,
    pub entries: Vec<Entry>,
    #[serde(default)]
    pub earlier: u64,
    pub test_output: String,
    pub patch: Page,
    pub warnings: Vec<String>,
}

impl EventBody {
    /// About how many bytes the event holds (to bound what is kept of past events).
    pub fn weight(&self) -> usize {
        64 + match self {
            EventBody::TaskAdded { task, .. } => task.prompt.len() + task.title.len() + 512,
            EventBody::AttemptUpdated { attempt } => {
                512 + attempt.diff.as_ref().map_or(0, |d| d.files.len() * 96)
            }
            EventBody::Transcript { entry, .. } => entry.weight(),
            EventBody::AssistantDelta { text }
            | EventBody::TestOutput { chunk: text }
            | EventBody::ToolOutput { chunk: text, .. }
            | EventBody::Notice { message: text }
            | EventBody::Error { message: text }
            | EventBody::TestStarted { command: text } => text.len(),
            EventBody::DiffUpdated { diff, patch } => diff.files.len() * 96 + patch.text.len(),
            EventBody::Overlaps { overlaps } => overlaps
                .iter()
                .map(|o| 64 + o.files.len() * 48 + o.conflicts.len() * 48)
                .sum(),
            EventBody::Docker { .. }
            | EventBody::StateChanged { .. }
            | EventBody::ContainerStarted { .. }
            | EventBody::TestFinished { .. } => 256,
        }
    }
}
