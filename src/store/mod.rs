//! Durable state: SQLite (WAL) for tasks, attempts, transitions and settings;
//! append-only JSON Lines for transcripts; a lock file for "one engine per data dir".
//!
//! Every state change goes through `set_state`, a compare-and-set that also appends to
//! the transition log, so two writers can never both move a task. The store holds data;
//! it does not decide transitions (the engine's state machine does).

mod db;
mod lock;
mod schema;
mod settings;
mod transcript;

pub use db::{Store, StoreError, Transition as TransitionRow};
pub use lock::{EngineLock, LockHeld};
pub use schema::SCHEMA_VERSION;
pub use transcript::{TranscriptLog, read_transcript};
