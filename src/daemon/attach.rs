//! A front end's lasting connection to the daemon: it subscribes, passes on the snapshot
//! and the events, and sends commands; when the daemon goes away it reconnects and
//! catches up, so the front end misses nothing.
//!
//! A daemon that vanished (killed, crashed) is started again, as any front end would on
//! demand. One that said it was closing (`drover daemon stop`) is only waited for: it
//! was stopped on purpose. A daemon of another version is reported, never fought. It
//! holds no engine state: the front end folds what it passes on.

use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::client::{Client, ClientError};
use super::spawn::{StartError, connect_or_start};
use crate::paths::DataDir;
use crate::protocol::ServerMsg;
use crate::protocol::{Command, Event, TaskSnapshot};

/// What the connection passes on, in order.
#[derive(Debug)]
pub enum Update {
    /// Every task in scope, replacing what the front end knew (a first attach, or a
    /// daemon that restarted and counts events anew).
    Snapshot(Vec<TaskSnapshot>),
    Event(Event),
    /// A command the daemon refused or failed: its answer.
    Failed(String),
    /// The connection is gone, and why; reconnecting unless `Fatal` follows.
    Lost(String),
    /// Connected again, to the daemon with this pid.
    Back(u32),
    /// It cannot go on (a daemon of another version took over): why.
    Fatal(String),
}

/// The front end's side: commands in, updates out. Dropping it ends the connection.
pub struct Link {
    commands: mpsc::UnboundedSender<Command>,
    updates: mpsc::UnboundedReceiver<Update>,
    /// The daemon's pid when attached.
    pub pid: u32,
}

impl Link {
    /// Keeps `client` subscribed to `repo` (every repository when `None`).
    pub fn attach(data: DataDir, repo: Option<PathBuf>, client: Client) -> Link {
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (tx, updates) = mpsc::unbounded_channel();
        let pid = client.pid;
        tokio::spawn(keep(data, repo, client, cmd_rx, tx));
        Link {
            commands,
            updates,
            pid,
        }
    }

    /// Sends a command (held while reconnecting, sent once connected again).
    pub fn send(&self, cmd: Command) {
        let _ = self.commands.send(cmd);
    }

    /// The next update; `None` once the connection has given up.
    pub async fn recv(&mut self) -> Option<Update> {
        self.updates.recv().await
    }

    /// An update if one is waiting.
    pub fn try_recv(&mut self) -> Option<Update> {
        self.updates.try_recv().ok()
    }
}

/// Why a connection ended.
enum Ended {
    /// The front end let go.
    Dropped,
    /// The daemon said it was stopping.
    Closing(String),
    Broken(String),
}

async fn keep(
    data: DataDir,
    repo: Option<PathBuf>,
    mut client: Client,
    mut commands: mpsc::UnboundedReceiver<Command>,
    tx: mpsc::UnboundedSender<Update>,
) {
    let mut last: Option<u64> = None;
    loop {
        let ended = serve(&mut client, repo.as_ref(), &mut last, &mut commands, &tx).await;
        let (why, restart) = match ended {
            Ended::Dropped => return,
            Ended::Closing(why) => (why, false),
            Ended::Broken(why) => (format!("lost the daemon ({why})"), true),
        };
        if tx.send(Update::Lost(why)).is_err() {
            return;
        }
        let instance = client.instance.clone();
        client = match reconnect(&data, restart, &tx).await {
            Some(c) => c,
            None => return,
        };
        // Sequence numbers count anew in another run of the daemon.
        if client.instance != instance {
            last = None;
        }
        if tx.send(Update::Back(client.pid)).is_err() {
            return;
        }
    }
}

/// Subscribes and relays until the connection ends.
async fn serve(
    client: &mut Client,
    repo: Option<&PathBuf>,
    last: &mut Option<u64>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    tx: &mpsc::UnboundedSender<Update>,
) -> Ended {
    if let Err(e) = client.subscribe(repo.map(PathBuf::as_path), *last).await {
        return Ended::Broken(e.to_string());
    }
    loop {
        let update = tokio::select! {
            msg = client.next() => match msg {
                Ok(ServerMsg::Snapshot { seq, tasks }) => {
                    *last = Some(seq);
                    Update::Snapshot(tasks)
                }
                Ok(ServerMsg::Event { event }) => {
                    *last = Some(last.map_or(event.seq, |l| l.max(event.seq)));
                    Update::Event(event)
                }
                Ok(ServerMsg::Reply { result: Err(e), .. }) => Update::Failed(e),
                Ok(ServerMsg::Closing { reason }) => return Ended::Closing(reason),
                Ok(_) => continue,
                Err(e) => return Ended::Broken(e.to_string()),
            },
            cmd = commands.recv() => match cmd {
                None => return Ended::Dropped,
                Some(cmd) => match client.command(cmd).await {
                    Ok(_) => continue,
                    Err(e) => return Ended::Broken(e.to_string()),
                },
            },
            _ = tx.closed() => return Ended::Dropped,
        };
        if tx.send(update).is_err() {
            return Ended::Dropped;
        }
    }
}

/// Connects again: starting the daemon when `restart`, else waiting for someone to.
/// `None` when the front end let go or another version's daemon answers.
async fn reconnect(
    data: &DataDir,
    restart: bool,
    tx: &mpsc::UnboundedSender<Update>,
) -> Option<Client> {
    let socket = super::socket_path(data);
    let mut wait = Duration::from_millis(50);
    let mut said = String::new();
    loop {
        tokio::select! {
            _ = tokio::time::sleep(wait) => {}
            _ = tx.closed() => return None,
        }
        let attempt = if restart {
            connect_or_start(data).await
        } else {
            Client::connect(&socket).await.map_err(StartError::from)
        };
        match attempt {
            Ok(c) => return Some(c),
            Err(StartError::Client(e @ ClientError::Version { .. })) => {
                let _ = tx.send(Update::Fatal(e.to_string()));
                return None;
            }
            Err(StartError::Client(ClientError::NotRunning(_))) if !restart => {}
            Err(e) => {
                let e = e.to_string();
                if e != said {
                    said = e.clone();
                    if tx.send(Update::Lost(e)).is_err() {
                        return None;
                    }
                }
            }
        }
        wait = (wait * 2).min(Duration::from_secs(2));
    }
}
