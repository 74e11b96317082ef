//! Where a front end finds its engine: the one place that decides between the daemon
//! and an engine in this process, and assembles the latter.
//!
//! Through the daemon (the default), the engine host answering on the data dir's socket
//! is used, the daemon started when none answers. Without it (`--no-daemon`), a host
//! that already answers is used too (one engine per data dir: the daemon, or another
//! front end's), else an engine host starts in this process and ends with the front end.
//! Either way the front end gets a `Connection` speaking the one protocol.

use std::path::PathBuf;

use super::connection::{ClientError, Connection};
use super::spawn::{StartError, connect_or_start};
use crate::host::{Host, HostError, HostOptions};
use crate::paths::DataDir;
use crate::protocol::{HostKind, PROTOCOL};

pub struct OpenOptions {
    pub data: DataDir,
    /// Through the daemon (started when none runs), else an engine in this process.
    pub daemon: bool,
    /// An engine started here runs the tasks of this repository only (all: `None`).
    pub scope: Option<PathBuf>,
    /// An engine started here starts queued tasks (off for one command).
    pub run_queue: bool,
    pub max_parallel: usize,
}

/// A front end's engine: the conversation with it, and the host when it runs in this
/// process (the front end ends it, with its quit policy).
pub struct Opened {
    pub connection: Connection,
    pub host: Option<Host>,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Start(#[from] StartError),
    #[error(transparent)]
    Host(#[from] HostError),
    #[error(transparent)]
    Client(#[from] ClientError),
}

impl OpenError {
    /// The daemon that answers is another drover version's: its pid and why.
    pub fn other_version(&self) -> Option<(u32, &str)> {
        match self {
            OpenError::Start(StartError::Client(ClientError::Version { pid, reason, .. }))
            | OpenError::Client(ClientError::Version { pid, reason, .. }) => {
                Some((*pid, reason.as_str()))
            }
            _ => None,
        }
    }
}

pub async fn open(opts: OpenOptions) -> Result<Opened, OpenError> {
    if opts.daemon {
        let connection = connect_or_start(&opts.data).await?;
        return Ok(Opened {
            connection,
            host: None,
        });
    }
    match Connection::connect(&crate::host::socket_path(&opts.data)).await {
        Ok(connection) => {
            return Ok(Opened {
                connection,
                host: None,
            });
        }
        Err(ClientError::NotRunning(_)) => {}
        Err(e) => return Err(e.into()),
    }
    let mut host = Host::start(HostOptions {
        data: opts.data,
        kind: HostKind::InProcess,
        scope: opts.scope,
        run_queue: opts.run_queue,
        max_parallel: opts.max_parallel,
        runtime: None,
    })
    .await?;
    let connection = Connection::over(host.pipe(), PROTOCOL).await?;
    Ok(Opened {
        connection,
        host: Some(host),
    })
}
