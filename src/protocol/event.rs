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
    /// The stored history of a task's current attempt, answering `Command::Load`.
    History {
        #[serde(rename = "attempt_record")]
        attempt: Box<AttemptRecord>,
        entries: Vec<Entry>,
        test_output: String,
        patch: String,
        warnings: Vec<String>,
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
    DiffUpdated {
        diff: DiffSummary,
        patch: String,
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Events cross the daemon's socket as JSON: each must read back as it was sent.
    #[test]
    fn events_round_trip_through_json() {
        let task = TaskRecord::sample(TaskState::Queued);
        let bodies = vec![
            EventBody::TaskAdded {
                task: Box::new(task.clone()),
                attempt: Box::default(),
            },
            EventBody::AttemptUpdated {
                attempt: Box::default(),
            },
            EventBody::History {
                attempt: Box::default(),
                entries: Vec::new(),
                test_output: String::new(),
                patch: String::new(),
                warnings: Vec::new(),
            },
            EventBody::StateChanged {
                from: TaskState::Queued,
                to: TaskState::Provisioning,
            },
            EventBody::Notice {
                message: "m".into(),
            },
        ];
        for body in bodies {
            let ev = Event {
                seq: 7,
                task: Some(task.id.clone()),
                attempt: 1,
                at: "2026-11-22T10:00:00Z".into(),
                body,
            };
            let json = serde_json::to_string(&ev).unwrap();
            let back: Event = serde_json::from_str(&json).unwrap_or_else(|e| panic!("{e}: {json}"));
            assert_eq!(back, ev);
        }
    }
}
