//! The conversation on an engine host's socket.
//!
//! A client says hello with its protocol version first; the host welcomes it or refuses
//! with a reason naming both versions. Then the client subscribes (a snapshot of the
//! tasks, then live events; or, when reconnecting with the last sequence number it saw,
//! the events it missed) and sends commands, each answered by a reply with its id.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::command::Command;
use super::event::{Event, TaskSnapshot};

/// Bumped whenever a message changes shape.
pub const PROTOCOL: u32 = 7;

/// The longest line either side accepts. Every message is bounded well below it (texts
/// are paged, lists capped, snapshots sent in parts); this only stops a broken peer.
pub const MAX_LINE: usize = 16 << 20;
/// Tasks per part of a snapshot.
pub const SNAPSHOT_PART: usize = 200;

/// What kind of engine host answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HostKind {
    /// The per-user daemon: every repository, outlives terminals.
    Daemon,
    /// An engine inside a front end run with `--no-daemon`: it ends with it.
    InProcess,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ClientMsg {
    Hello {
        protocol: u32,
        client: String,
    },
    /// Tasks of `repo` (all repositories when `None`). `since`: the last sequence number
    /// this client saw, to get what it missed instead of a snapshot.
    Subscribe {
        repo: Option<PathBuf>,
        since: Option<u64>,
    },
    Command {
        id: u64,
        command: Command,
    },
    /// Stop the host; running tasks keep their containers for the next one.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        protocol: u32,
        pid: u32,
        version: String,
        /// Differs between two runs of a host: sequence numbers count from 1 in each,
        /// so a client reconnecting to another instance needs a snapshot.
        instance: String,
        host: HostKind,
        /// The repository whose tasks it runs (all when `None`).
        scope: Option<PathBuf>,
        /// Whether it starts queued tasks (a host for one command does not).
        runs_queue: bool,
    },
    /// `protocol` is the host's own when it refused a client speaking another (the
    /// handshake's shape never changes, so any two versions understand this much).
    Refused {
        reason: String,
        #[serde(default)]
        protocol: Option<u32>,
        #[serde(default)]
        pid: Option<u32>,
    },
    /// Every task in scope as of event `seq`, in parts of at most `SNAPSHOT_PART` tasks
    /// (`more` until the last); events after `seq` follow.
    Snapshot {
        seq: u64,
        tasks: Vec<TaskSnapshot>,
        more: bool,
    },
    Event {
        event: Event,
    },
    Reply {
        id: u64,
        result: super::reply::CommandResult,
    },
    /// The host is stopping on purpose (`drover daemon stop`, a signal, an upgrade, the
    /// end of a `--no-daemon` front end): a client should not start it again by itself.
    Closing {
        reason: String,
    },
}
