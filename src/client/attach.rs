//! A front end's lasting connection to its engine host: it subscribes, passes on the
//! snapshot, the events and the replies to its commands, and sends commands; when the
//! daemon goes away it reconnects and catches up, so the front end misses nothing.
//!
//! A daemon that vanished (killed, crashed) is started again, as any front end would on
//! demand. One that said it was closing (`drover daemon stop`) is only waited for: it
//! was stopped on purpose. A daemon of another version is reported, never fought. An
//! engine in this process is never reconnected to: when it goes, the front end is told
//! for good. It holds no engine state: the front end folds what it passes on.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use tokio::sync::mpsc;

use super::connection::{ClientError, Connection};
use super::spawn::{StartError, connect_or_start};
use crate::paths::DataDir;
use crate::protocol::{Command, CommandError, CommandResult, Event, ServerMsg, TaskSnapshot};

/// What the connection passes on, in order.
#[derive(Debug)]
pub enum Update {
    /// Every task in scope, replacing what the front end knew (a first attach, or a
    /// host that restarted and counts events anew).
    Snapshot(Vec<TaskSnapshot>),
    Event(Event),
    /// The engine's answer to a command this front end sent.
    Reply {
        command: Command,
        result: CommandResult,
    },
    /// The connection is gone, and why; reconnecting unless `Fatal` follows.
    Lost(String),
    /// Connected again, to the daemon with this pid.
    Back(u32),
    /// It cannot go on (the engine ended, or a daemon of another version took over): why.
    Fatal(String),
}

/// The front end's side: commands in, updates out. Dropping it ends the connection.
pub struct Attachment {
    commands: mpsc::UnboundedSender<Command>,
    updates: mpsc::UnboundedReceiver<Update>,
    /// The host's pid when attached.
    pub pid: u32,
}

impl Attachment {
    /// Keeps `conn` subscribed to `repo` (every repository when `None`). With a data dir,
    /// a lost daemon is reconnected to (started again when it vanished); without one
    /// (an engine in this process), a lost connection is the end.
    pub fn attach(conn: Connection, repo: Option<PathBuf>, reconnect: Option<DataDir>) -> Self {
        let (commands, cmd_rx) = mpsc::unbounded_channel();
        let (tx, updates) = mpsc::unbounded_channel();
        let pid = conn.pid();
        tokio::spawn(keep(conn, repo, reconnect, cmd_rx, tx));
        Attachment {
            commands,
            updates,
            pid,
        }
    }

    /// Sends a command (held while reconnecting, sent once connected again); its reply
    /// comes as `Update::Reply`.
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
    /// The host said it was stopping.
    Closing(String),
    /// The host cannot serve this front end (its store is unreadable): trying again
    /// would meet the same answer.
    Refused(String),
    Broken(String),
}

async fn keep(
    mut conn: Connection,
    repo: Option<PathBuf>,
    reconnect: Option<DataDir>,
    mut commands: mpsc::UnboundedReceiver<Command>,
    tx: mpsc::UnboundedSender<Update>,
) {
    let mut last: Option<u64> = None;
    loop {
        let ended = follow(&mut conn, repo.as_ref(), &mut last, &mut commands, &tx).await;
        let (why, restart) = match ended {
            Ended::Dropped => return,
            Ended::Refused(why) => {
                let _ = tx.send(Update::Fatal(why));
                return;
            }
            Ended::Closing(why) => (why, false),
            Ended::Broken(why) => (format!("lost the daemon ({why})"), true),
        };
        let Some(data) = &reconnect else {
            let _ = tx.send(Update::Fatal(why));
            return;
        };
        if tx.send(Update::Lost(why)).is_err() {
            return;
        }
        let instance = conn.welcome.instance.clone();
        conn = match again(data, restart, &tx).await {
            Some(c) => c,
            None => return,
        };
        // Sequence numbers count anew in another run of the host.
        if conn.welcome.instance != instance {
            last = None;
        }
        if tx.send(Update::Back(conn.pid())).is_err() {
            return;
        }
    }
}

/// Subscribes and relays until the connection ends.
async fn follow(
    conn: &mut Connection,
    repo: Option<&PathBuf>,
    last: &mut Option<u64>,
    commands: &mut mpsc::UnboundedReceiver<Command>,
    tx: &mpsc::UnboundedSender<Update>,
) -> Ended {
    if let Err(e) = conn.subscribe(repo.map(PathBuf::as_path), *last) {
        return Ended::Broken(e.to_string());
    }
    let mut parts: Vec<TaskSnapshot> = Vec::new();
    // Commands sent on this connection, by id, until answered.
    let mut pending: HashMap<u64, Command> = HashMap::new();
    let ended = loop {
        let update = tokio::select! {
            msg = conn.next() => match msg {
                Ok(ServerMsg::Snapshot { seq, tasks, more }) => {
                    parts.extend(tasks);
                    if more {
                        continue;
                    }
                    *last = Some(seq);
                    Update::Snapshot(std::mem::take(&mut parts))
                }
                Ok(ServerMsg::Event { event }) => {
                    *last = Some(last.map_or(event.seq, |l| l.max(event.seq)));
                    Update::Event(event)
                }
                Ok(ServerMsg::Reply { id, result }) => match pending.remove(&id) {
                    Some(command) => Update::Reply { command, result },
                    None => continue,
                },
                Ok(ServerMsg::Closing { reason }) => break Ended::Closing(reason),
                Ok(ServerMsg::Refused { reason, .. }) => break Ended::Refused(reason),
                Ok(_) => continue,
                Err(e) => break Ended::Broken(e.to_string()),
            },
            cmd = commands.recv() => match cmd {
                None => break Ended::Dropped,
                Some(cmd) => match conn.command(cmd.clone()) {
                    Ok(id) => {
                        pending.insert(id, cmd);
                        continue;
                    }
                    Err(e @ ClientError::TooLong(_)) => Update::Reply {
                        command: cmd,
                        result: Err(CommandError::failed(e)),
                    },
                    Err(e) => break Ended::Broken(e.to_string()),
                },
            },
            _ = tx.closed() => break Ended::Dropped,
        };
        if tx.send(update).is_err() {
            break Ended::Dropped;
        }
    };
    // What was asked and not answered: its outcome is unknown, and the front end must
    // not wait for it (a page or a history asked for is asked again when needed).
    if !matches!(ended, Ended::Dropped) {
        for (_, command) in pending {
            let result = Err(CommandError::failed(
                "the engine went away before it answered: look again before repeating it",
            ));
            if tx.send(Update::Reply { command, result }).is_err() {
                break;
            }
        }
    }
    ended
}

/// Connects again: starting the daemon when `restart`, else waiting for someone to.
/// `None` when the front end let go or another version's daemon answers.
async fn again(
    data: &DataDir,
    restart: bool,
    tx: &mpsc::UnboundedSender<Update>,
) -> Option<Connection> {
    let socket = crate::host::socket_path(data);
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
            Connection::connect(&socket).await.map_err(StartError::from)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{ClientMsg, HostKind, PROTOCOL};
    use crate::transport::pair;

    /// A command the host took but never answered (it went away) is answered for it:
    /// the front end is told the outcome is unknown instead of waiting forever.
    #[tokio::test]
    async fn a_command_cut_off_by_a_lost_host_is_answered_unknown() {
        let (client, mut host) = pair::<ServerMsg, ClientMsg>();
        let server = tokio::spawn(async move {
            assert!(matches!(
                host.rx.recv().await,
                Some(ClientMsg::Hello { .. })
            ));
            host.tx
                .send(ServerMsg::Welcome {
                    protocol: PROTOCOL,
                    pid: 1,
                    version: "test".into(),
                    instance: "a".into(),
                    host: HostKind::InProcess,
                    scope: None,
                    runs_queue: true,
                })
                .unwrap();
            assert!(matches!(
                host.rx.recv().await,
                Some(ClientMsg::Subscribe { .. })
            ));
            host.tx
                .send(ServerMsg::Snapshot {
                    seq: 0,
                    tasks: Vec::new(),
                    more: false,
                })
                .unwrap();
            // Takes the command, then goes away without a word.
            assert!(matches!(
                host.rx.recv().await,
                Some(ClientMsg::Command { .. })
            ));
        });
        let conn = Connection::over(client, PROTOCOL).await.unwrap();
        let mut front = Attachment::attach(conn, None, None);
        assert!(matches!(front.recv().await, Some(Update::Snapshot(_))));
        let load = Command::Load {
            id: crate::protocol::TaskId::random(),
            attempt: None,
        };
        front.send(load.clone());
        server.await.unwrap();
        match front.recv().await {
            Some(Update::Reply {
                command,
                result: Err(e),
            }) => {
                assert_eq!(command, load);
                assert!(e.to_string().contains("before it answered"), "{e}");
            }
            other => panic!("expected the unknown outcome, got {other:?}"),
        }
        assert!(matches!(front.recv().await, Some(Update::Fatal(_))));
    }
}
