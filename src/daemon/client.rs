//! The client side of the daemon's socket: connect, say hello, subscribe, send commands,
//! read what comes back. Starting the daemon when none answers is `start`'s job.
//! It holds no engine state; front ends do.

use std::path::Path;
use std::time::Duration;

use tokio::io::BufReader;
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

use super::wire::{self, WireError};
use crate::protocol::Command;
use crate::protocol::{ClientMsg, PROTOCOL, ServerMsg};

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("no drover daemon is running ({0})")]
    NotRunning(String),
    #[error("the daemon refused: {0}")]
    Refused(String),
    /// The daemon belongs to another drover version: it has to be restarted.
    #[error("{reason}")]
    Version {
        theirs: u32,
        pid: u32,
        reason: String,
    },
    #[error("the daemon said something unexpected: {0}")]
    Unexpected(String),
    #[error(transparent)]
    Wire(#[from] WireError),
}

/// A connection that has been welcomed.
pub struct Client {
    r: BufReader<OwnedReadHalf>,
    w: OwnedWriteHalf,
    buf: Vec<u8>,
    pub pid: u32,
    pub version: String,
    /// This run of the daemon (see `ServerMsg::Welcome`).
    pub instance: String,
    next_id: u64,
}

impl Client {
    /// Connects to the daemon at `socket` speaking this drover's protocol.
    pub async fn connect(socket: &Path) -> Result<Client, ClientError> {
        Client::connect_as(socket, PROTOCOL).await
    }

    /// Connects claiming protocol `protocol` (tests speak other versions on purpose).
    pub async fn connect_as(socket: &Path, protocol: u32) -> Result<Client, ClientError> {
        let sock = UnixStream::connect(socket)
            .await
            .map_err(|e| ClientError::NotRunning(format!("{}: {e}", socket.display())))?;
        // Only this user's daemon hears this user's commands (a socket in a shared
        // directory could be someone else's).
        let me = rustix::process::getuid().as_raw();
        let theirs = sock.peer_cred().map_err(WireError::Io)?.uid();
        if theirs != me {
            return Err(ClientError::Refused(format!(
                "{} is served by uid {theirs}, not by you (uid {me})",
                socket.display()
            )));
        }
        let (r, mut w) = sock.into_split();
        let hello = ClientMsg::Hello {
            protocol,
            client: format!("drover {}", env!("CARGO_PKG_VERSION")),
        };
        wire::send(&mut w, &hello).await?;
        let mut c = Client {
            r: BufReader::new(r),
            w,
            buf: Vec::new(),
            pid: 0,
            version: String::new(),
            instance: String::new(),
            next_id: 0,
        };
        match c.next().await? {
            ServerMsg::Welcome {
                pid,
                version,
                instance,
                ..
            } => {
                c.pid = pid;
                c.version = version;
                c.instance = instance;
                Ok(c)
            }
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

    pub async fn subscribe(
        &mut self,
        repo: Option<&Path>,
        since: Option<u64>,
    ) -> Result<(), ClientError> {
        let msg = ClientMsg::Subscribe {
            repo: repo.map(Path::to_path_buf),
            since,
        };
        Ok(wire::send(&mut self.w, &msg).await?)
    }

    /// Sends a command; its reply arrives as `ServerMsg::Reply` with the returned id.
    pub async fn command(&mut self, command: Command) -> Result<u64, ClientError> {
        self.next_id += 1;
        let id = self.next_id;
        wire::send(&mut self.w, &ClientMsg::Command { id, command }).await?;
        Ok(id)
    }

    /// Sends a command and waits for its reply (events in between are dropped: for
    /// one-shot callers that did not subscribe).
    pub async fn request(
        &mut self,
        command: Command,
    ) -> Result<Result<String, String>, ClientError> {
        let id = self.command(command).await?;
        loop {
            if let ServerMsg::Reply { id: got, result } = self.next().await?
                && got == id
            {
                return Ok(result);
            }
        }
    }

    /// Asks the daemon to stop (running tasks keep their containers).
    pub async fn stop(&mut self) -> Result<(), ClientError> {
        Ok(wire::send(&mut self.w, &ClientMsg::Stop).await?)
    }

    pub async fn next(&mut self) -> Result<ServerMsg, ClientError> {
        Ok(wire::recv(&mut self.r, &mut self.buf).await?)
    }
}

/// Waits up to `patience` for a daemon to answer at `socket`.
pub async fn wait_until_up(socket: &Path, patience: Duration) -> Result<Client, ClientError> {
    wait_while(socket, patience, || true).await
}

/// Waits up to `patience` for a daemon to answer at `socket`, while `alive` says it may
/// still come up (the process starting it has not exited).
pub async fn wait_while(
    socket: &Path,
    patience: Duration,
    mut alive: impl FnMut() -> bool,
) -> Result<Client, ClientError> {
    let deadline = tokio::time::Instant::now() + patience;
    loop {
        match Client::connect(socket).await {
            Ok(c) => return Ok(c),
            Err(ClientError::NotRunning(e))
                if tokio::time::Instant::now() < deadline && alive() =>
            {
                tracing::debug!("waiting for the daemon: {e}");
                tokio::time::sleep(Duration::from_millis(25)).await;
            }
            Err(e) => return Err(e),
        }
    }
}
