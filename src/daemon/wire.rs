//! What crosses the daemon's socket: newline-delimited JSON, one message per line, the
//! engine's own `Command` and `Event` types inside.
//!
//! A client says hello with its protocol version first; the daemon welcomes it or refuses
//! with a reason naming both versions. Then the client subscribes (a snapshot of the
//! tasks, then live events; or, when reconnecting with the last sequence number it saw,
//! the events it missed) and sends commands, each answered by a reply with its id.
//! Lines are capped so a broken peer cannot make either side buffer without bound.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

pub use crate::engine::protocol::TaskSnapshot;
use crate::engine::protocol::{Command, Event};

/// Bumped whenever a message changes shape.
pub const PROTOCOL: u32 = 1;

/// The protocol a daemon speaks: `PROTOCOL`, unless `DROVER_DAEMON_PROTOCOL` says
/// otherwise (how the tests play a daemon of another drover version).
pub fn spoken() -> u32 {
    std::env::var("DROVER_DAEMON_PROTOCOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROTOCOL)
}

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

#[derive(Debug, thiserror::Error)]
pub enum WireError {
    #[error("the connection closed")]
    Closed,
    #[error("a message longer than {MAX_LINE} bytes")]
    TooLong,
    #[error("unreadable message: {0}")]
    Bad(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Writes one message as a line.
pub async fn send<T: Serialize>(
    w: &mut (impl AsyncWrite + Unpin),
    msg: &T,
) -> Result<(), WireError> {
    let mut line = serde_json::to_vec(msg).map_err(|e| WireError::Bad(e.to_string()))?;
    line.push(b'\n');
    w.write_all(&line).await?;
    w.flush().await?;
    Ok(())
}

/// Reads one message; `Closed` at the end of the stream.
pub async fn recv<T: for<'de> Deserialize<'de>>(
    r: &mut (impl AsyncBufRead + Unpin),
    buf: &mut Vec<u8>,
) -> Result<T, WireError> {
    buf.clear();
    loop {
        let chunk = r.fill_buf().await?;
        if chunk.is_empty() {
            return Err(WireError::Closed);
        }
        match chunk.iter().position(|b| *b == b'\n') {
            Some(i) => {
                buf.extend_from_slice(&chunk[..i]);
                r.consume(i + 1);
                break;
            }
            None => {
                let n = chunk.len();
                buf.extend_from_slice(chunk);
                r.consume(n);
            }
        }
        if buf.len() > MAX_LINE {
            return Err(WireError::TooLong);
        }
    }
    serde_json::from_slice(buf).map_err(|e| WireError::Bad(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn messages_round_trip_one_per_line() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = tokio::io::BufReader::new(r);
        let hello = ClientMsg::Hello {
            protocol: PROTOCOL,
            client: "test".into(),
        };
        send(&mut w, &hello).await.unwrap();
        send(&mut w, &ClientMsg::Stop).await.unwrap();
        let mut buf = Vec::new();
        assert_eq!(recv::<ClientMsg>(&mut r, &mut buf).await.unwrap(), hello);
        assert_eq!(
            recv::<ClientMsg>(&mut r, &mut buf).await.unwrap(),
            ClientMsg::Stop
        );
        drop(w);
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::Closed)
        ));
    }

    #[tokio::test]
    async fn garbage_is_an_error_not_a_panic() {
        let (a, b) = tokio::io::duplex(1 << 16);
        let (_, mut w) = tokio::io::split(a);
        let (r, _) = tokio::io::split(b);
        let mut r = tokio::io::BufReader::new(r);
        w.write_all(b"{not json\n").await.unwrap();
        let mut buf = Vec::new();
        assert!(matches!(
            recv::<ClientMsg>(&mut r, &mut buf).await,
            Err(WireError::Bad(_))
        ));
    }
}
