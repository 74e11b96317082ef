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
pub const PROTOCOL: u32 = 1;

/// The longest line either side accepts (a whole task history fits easily).
pub const MAX_LINE: usize = 16 << 20;

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
    /// Stop the daemon; running tasks keep their containers for the next one.
    Stop,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMsg {
    Welcome {
        protocol: u32,
        pid: u32,
        version: String,
        /// Differs between two runs of the daemon: sequence numbers count from 1 in each,
        /// so a client reconnecting to another instance needs a snapshot.
        #[serde(default)]
        instance: String,
    },
    /// `protocol` is the daemon's own when it refused a client speaking another (the
    /// handshake's shape never changes, so any two versions understand this much).
    Refused {
        reason: String,
        #[serde(default)]
        protocol: Option<u32>,
        #[serde(default)]
        pid: Option<u32>,
    },
    /// Every task in scope as of event `seq`; events after it follow.
    Snapshot {
        seq: u64,
        tasks: Vec<TaskSnapshot>,
    },
    Event {
        event: Event,
    },
    Reply {
        id: u64,
        result: Result<String, String>,
    },
    /// The daemon is stopping on purpose (`drover daemon stop`, a signal, an upgrade):
    /// a client should not start it again by itself.
    Closing {
        reason: String,
    },
}
