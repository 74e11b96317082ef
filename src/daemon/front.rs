//! Where a front end's engine is: the daemon (the default), or this process
//! (`--no-daemon`). Front ends read `Update`s and send `Command`s the same way for both,
//! so the TUI and `drover run` have one loop.
//!
//! It does not choose between the two (the CLI does) or start an in-process engine (its
//! options differ per front end); it only carries what they made.

use tokio::sync::mpsc;

use super::attach::{Link, Update};
use crate::config::OnQuit;
use crate::engine::EngineHandle;
use crate::protocol::{Command, Event};
use crate::store::EngineLock;

pub enum Front {
    /// An engine in this process, holding the data dir's lock for as long as it runs.
    Local {
        handle: EngineHandle,
        events: mpsc::UnboundedReceiver<Event>,
        lock: EngineLock,
    },
    Daemon(Link),
}

impl Front {
    pub fn local(handle: EngineHandle, lock: EngineLock) -> Front {
        let events = handle.subscribe();
        Front::Local {
            handle,
            events,
            lock,
        }
    }

    /// The daemon's pid, when it is the daemon.
    pub fn daemon_pid(&self) -> Option<u32> {
        match self {
            Front::Local { .. } => None,
            Front::Daemon(link) => Some(link.pid),
        }
    }

    pub fn send(&self, cmd: Command) {
        match self {
            Front::Local { handle, .. } => handle.send(cmd),
            Front::Daemon(link) => link.send(cmd),
        }
    }

    /// The next update; `None` when the engine is gone for good.
    pub async fn recv(&mut self) -> Option<Update> {
        match self {
            Front::Local { events, .. } => events.recv().await.map(Update::Event),
            Front::Daemon(link) => link.recv().await,
        }
    }

    /// An update if one is waiting (to draw once per batch).
    pub fn try_recv(&mut self) -> Option<Update> {
        match self {
            Front::Local { events, .. } => events.try_recv().ok().map(Update::Event),
            Front::Daemon(link) => link.try_recv(),
        }
    }

    /// Lets go. An in-process engine ends, applying `policy` to running tasks; the
    /// daemon goes on with them whatever `policy` says.
    pub async fn close(self, policy: OnQuit) {
        match self {
            Front::Local { handle, lock, .. } => {
                handle.quit(policy).await;
                drop(lock);
            }
            Front::Daemon(link) => drop(link),
        }
    }
}
