//! Every type that crosses a process boundary or is stored: task ids, records and
//! states, transcript entries, test reports, diff summaries, commands, events and the
//! messages on an engine host's socket.
//!
//! It depends on nothing else of drover (a test checks it), so front ends, the store and
//! the engine share one vocabulary and a change of shape is seen in one place: the golden
//! JSON in `golden.rs` fails until `PROTOCOL` is bumped. Behaviour that needs the disk,
//! git or Docker is added where those live (`impl TaskRecord` in `workspace`, say).

pub mod clock;
mod command;
mod diff;
mod event;
#[cfg(test)]
mod golden;
mod ids;
mod origin;
mod pull;
pub mod rank;
mod reply;
mod report;
pub mod state;
mod task;
mod transcript;
mod wire;

pub use command::{Command, LongText};
pub use diff::{
    DiffSummary, FileStat, Ignored, LISTED_FILES, LISTED_OTHERS, Omitted, Overlap, Unrecorded,
};
pub use event::{Event, EventBody, HISTORY_ENTRIES_BYTES, History, PAGE, Page, TaskSnapshot, tail};
pub use ids::{ID_LEN, TaskId};
pub use origin::{IssueOrigin, IssueRef, Removed};
pub use pull::{
    Annotation, CheckFailure, Checks, CiVerdict, PrState, PrStatus, ReviewComment, ReviewDecision,
};
pub use reply::{CommandError, CommandResult, PullRequestRef, Reply};
pub use report::{BaseTests, Baseline, TestReport, Verdict};
pub use state::{Cause, IllegalTransition, TaskState, Transition};
pub use task::{
    AgentSpec, AttemptRecord, Group, MAX_BLOCKED_SHOWN, NewTask, TaskRecord, UsageRecord,
};
pub use transcript::{Entry, EntryKind, ToolCall};
pub use wire::{ClientMsg, HostKind, MAX_LINE, PROTOCOL, SNAPSHOT_PART, ServerMsg};
