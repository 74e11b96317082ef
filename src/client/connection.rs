//! A front end's side of one conversation with an engine host: say hello, subscribe,
//! send commands, read what comes back. Over the socket to another process's host, or
//! over channels to one in this process; the same either way.
//!
//! It holds no engine state (front ends fold what comes), and it does not start a host
//! (`spawn` and `open` do).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::net::UnixStream;

use crate::protocol::{ClientMsg, Command, CommandResult, HostKind, PROTOCOL, ServerMsg};
use crate::transport::Pipe;

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no drover engine is running ({0})")]
    NotRunning(String),
    #[error("the engine refused: {0}")]
    Refused(String),
    /// The host belongs to another drover version: it has to be restarted.
    #[error("{reason}")]
    Version {
        theirs: u32,
        pid: u32,
        reason: String,
    },
    #[error("the engine said something unexpected: {0}")]
    Unexpected(String),
    #[error("the connection to the engine closed")]
    Closed,
    #[error("the command is {0} bytes, more than the {max} a message may carry", max = crate::protocol::MAX_LINE)]
    TooLong(usize),
}

/// Who answered.
#[derive(Debug, Clone)]
pub struct Welcome {
    pub pid: u32,
    pub version: String,
    /// This run of the host (see `ServerMsg::Welcome`).
    pub instance: String,
    pub host: HostKind,
    pub scope: Option<PathBuf>,
    pub runs_queue: bool,
}

impl Welcome {
    /// "the daemon (pid 12)", "the drover of pid 12 (--no-daemon)".
    pub fn who(&self) -> String {
        match self.host {
            HostKind::Daemon => format!("the daemon (pid {})", self.pid),
            HostKind::InProcess => format!("the drover of pid {} (--no-daemon)", self.pid),
        }
    }

    /// Whether this host starts the queued tasks of `repo`.
    pub fn runs(&self, repo: &Path) -> bool {
        self.runs_queue && self.scope.as_deref().is_none_or(|s| s == repo)
    }
}

/// A conversation that has been welcomed.
pub struct Connection {
    pipe: Pipe<ServerMsg, ClientMsg>,
    pub welcome: Welcome,
    next_id: u64,
}

impl Connection {
    /// Connects to the host at `socket` speaking this drover's protocol.
    pub async fn connect(socket: &Path) -> Result<Connection, ClientError> {
        Connection::connect_as(socket, PROTOCOL).await
    }

    /// Connects claiming protocol `protocol` (tests speak other versions on purpose).
    pub async fn connect_as(socket: &Path, protocol: u32) -> Result<Connection, ClientError> {
        let sock = UnixStream::connect(socket)
            .await
            .map_err(|e| ClientError::NotRunning(format!("{}: {e}", socket.display())))?;
        // Only this user's engine hears this user's commands (a socket in a shared
        // directory could be someone else's).
        let me = rustix::process::getuid().as_raw();
        let theirs = sock
            .peer_cred()
            .map_err(|e| ClientError::NotRunning(e.to_string()))?
            .uid();
        if theirs != me {
            return Err(ClientError::Refused(format!(
                "{} is served by uid {theirs}, not by you (uid {me})",
                socket.display()
            )));
        }
        Connection::over(crate::transport::over_socket(sock), protocol).await
    }

    /// Says hello over `pipe` and waits for the host's answer.
    pub async fn over(
        mut pipe: Pipe<ServerMsg, ClientMsg>,
        protocol: u32,
    ) -> Result<Connection, ClientError> {
        let hello = ClientMsg::Hello {
            protocol,
            client: format!("drover {}", env!("CARGO_PKG_VERSION")),
        };
        pipe.tx.send(hello).map_err(|_| ClientError::Closed)?;
        match pipe.rx.recv().await.ok_or(ClientError::Closed)? {
            ServerMsg::Welcome {
                pid,
                version,
                instance,
                host,
                scope,
                runs_queue,
                ..
            } => Ok(Connection {
                pipe,
                welcome: Welcome {
                    pid,
                    version,
                    instance,
                    host,
                    scope,
                    runs_queue,
                },
                next_id: 0,
            }),
            ServerMsg::Refused {
                protocol: Some(theirs),
                pid: Some(pid),
                reason,
            } if theirs != protocol => Err(ClientError::Version {
                theirs,
                pid,
                reason,
            }),
            ServerMsg::Refused { reason, .. } => Err(ClientError::Refused(reason)),
            other => Err(ClientError::Unexpected(format!("{other:?}"))),
        }
    }

    pub fn pid(&self) -> u32 {
        self.welcome.pid
    }

    pub fn subscribe(&self, repo: Option<&Path>, since: Option<u64>) -> Result<(), ClientError> {
        let msg = ClientMsg::Subscribe {
            repo: repo.map(Path::to_path_buf),
            since,
        };
        self.pipe.tx.send(msg).map_err(|_| ClientError::Closed)
    }

    /// Sends a command; its reply arrives as `ServerMsg::Reply` with the returned id.
    pub fn command(&mut self, command: Command) -> Result<u64, ClientError> {
        self.next_id += 1;
        let id = self.next_id;
        let msg = ClientMsg::Command { id, command };
        // Refused here: the connection would drop it, and its answer would never come.
        let size = serde_json::to_vec(&msg).map_or(0, |v| v.len());
        if size > crate::protocol::MAX_LINE {
            return Err(ClientError::TooLong(size));
        }
        self.pipe.tx.send(msg).map_err(|_| ClientError::Closed)?;
        Ok(id)
    }

    /// Sends a command and waits for its reply (events in between are dropped: for
    /// one-shot callers that did not subscribe).
    pub async fn request(&mut self, command: Command) -> Result<CommandResult, ClientError> {
        let id = self.command(command)?;
        loop {
            match self.next().await? {
                ServerMsg::Reply { id: got, result } if got == id => return Ok(result),
                ServerMsg::Closing { reason } => return Err(ClientError::Refused(reason)),
                _ => {}
            }
        }
    }

    /// Asks the host to stop (running tasks keep their containers).
    pub fn stop(&self) -> Result<(), ClientError> {
        self.pipe
            .tx
            .send(ClientMsg::Stop)
            .map_err(|_| ClientError::Closed)
    }

    pub async fn next(&mut self) -> Result<ServerMsg, ClientError> {
        self.pipe.rx.recv().await.ok_or(ClientError::Closed)
    }
}

/// Waits up to `patience` for a host to answer at `socket`.
pub async fn wait_until_up(socket: &Path, patience: Duration) -> Result<Connection, ClientError> {
    wait_while(socket, patience, || true).await
}

/// Waits up to `patience` for a host to answer at `socket`, while `alive` says it may
/// still come up (the process starting it has not exited).
pub async fn wait_while(
    socket: &Path,
    patience: Duration,
    mut alive: impl FnMut() -> bool,
) -> Result<Connection, ClientError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match Connection::connect(socket).await {
            Ok(c) => return Ok(c),
            Err(ClientError::NotRunning(e))
                if tokio::time::Instant::now() < deadline && alive() =>
            {
                tracing::debug!("waiting for the engine: {e}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
