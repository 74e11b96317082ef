//! One client's conversation with the host, whatever carries it.
//!
//! The client says hello (another protocol version is refused, naming both); then it
//! subscribes: a snapshot of the tasks in its scope and live events after it, or, when
//! it comes back with the last sequence number it saw, the events it missed. The bus
//! hands over both under one lock, so nothing falls between them and nothing waits.
//! Commands go to the engine and their typed replies come back by id.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Shared;
use crate::protocol::{
    ClientMsg, Event, EventBody, SNAPSHOT_PART, ServerMsg, TaskId, TaskSnapshot,
};
use crate::transport::Pipe;

type HostPipe = Pipe<ClientMsg, ServerMsg>;

/// Tells a client it may not talk to this host, and ends.
pub(super) fn refuse(pipe: HostPipe, reason: String) {
    let _ = pipe.tx.send(refused(reason, None));
}

fn refused(reason: String, protocol: Option<u32>) -> ServerMsg {
    ServerMsg::Refused {
        reason,
        protocol,
        pid: Some(std::process::id()),
    }
}

pub(super) async fn run(mut pipe: HostPipe, shared: Arc<Shared>) {
    match pipe.rx.recv().await {
        Some(ClientMsg::Hello { protocol, .. }) if protocol == shared.protocol => {
            let _ = pipe.tx.send(ServerMsg::Welcome {
                protocol,
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                instance: shared.instance.clone(),
                host: shared.kind,
                scope: shared.scope.clone(),
                runs_queue: shared.runs_queue,
            });
        }
        Some(ClientMsg::Hello { protocol, client }) => {
            let reason = format!(
                "this drover (drover {}) speaks protocol {}; {client} speaks protocol {protocol}: stop the daemon (`drover daemon stop`) so the new drover can start its own",
                env!("CARGO_PKG_VERSION"),
                shared.protocol,
            );
            let _ = pipe.tx.send(refused(reason, Some(shared.protocol)));
            return;
        }
        Some(_) => {
            let _ = pipe.tx.send(refused("say hello first".into(), None));
            return;
        }
        None => return,
    }

    let out = pipe.tx.clone();
    let mut live: Option<mpsc::UnboundedReceiver<Event>> = None;
    let mut scope = Scope::default();
    let mut last = 0u64;
    // Held while the client follows one repository: its warm pool is kept ready.
    let mut _open_in = None;
    loop {
        tokio::select! {
            msg = pipe.rx.recv() => match msg {
                Some(ClientMsg::Subscribe { repo, since }) => {
                    _open_in = repo.clone().map(|r| shared.engine.open_in(r));
                    scope = Scope::new(&shared, repo);
                    let sub = shared.bus.subscribe_since(since);
                    last = match sub.missed {
                        Some(missed) => {
                            for ev in missed {
                                if scope.admits(&ev) {
                                    let _ = out.send(ServerMsg::Event { event: ev });
                                }
                            }
                            sub.now.max(since.unwrap_or(0))
                        }
                        None => {
                            snapshot(&shared, &scope, sub.now, &out);
                            sub.now
                        }
                    };
                    live = Some(sub.events);
                }
                Some(ClientMsg::Command { id, command }) => {
                    let (engine, out) = (shared.engine.clone(), out.clone());
                    tokio::spawn(async move {
                        let result = engine.request(command).await;
                        let _ = out.send(ServerMsg::Reply { id, result });
                    });
                }
                Some(ClientMsg::Stop) => {
                    shared.stop_asked.cancel();
                    break;
                }
                Some(ClientMsg::Hello { .. }) => {}
                None => break,
            },
            _ = shared.closing.cancelled() => {
                let reason = match shared.kind {
                    crate::protocol::HostKind::Daemon => "the daemon stopped; running tasks keep their containers",
                    crate::protocol::HostKind::InProcess => "the drover that ran the engine (--no-daemon) quit",
                };
                let _ = out.send(ServerMsg::Closing { reason: reason.into() });
                break;
            }
            Some(ev) = next(&mut live) => {
                if ev.seq > last && scope.admits(&ev) {
                    last = ev.seq;
                    if out.send(ServerMsg::Event { event: ev }).is_err() {
                        break;
                    }
                }
            }
        }
    }
}

async fn next(live: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match live {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Every task in scope, read after the subscription began (an event after `seq` may
/// repeat what the store already shows: front ends fold events idempotently), in parts;
/// then the last word on Docker, which may be long past.
fn snapshot(shared: &Shared, scope: &Scope, seq: u64, out: &mpsc::UnboundedSender<ServerMsg>) {
    let tasks: Vec<TaskSnapshot> = shared
        .store
        .tasks(scope.repo.as_deref())
        .unwrap_or_default()
        .into_iter()
        .map(|task| {
            let attempt = shared
                .store
                .attempt(&task.id, task.attempt)
                .unwrap_or_default()
                .brief();
            TaskSnapshot { task, attempt }
        })
        .collect();
    let mut parts = tasks.chunks(SNAPSHOT_PART).peekable();
    if parts.peek().is_none() {
        let _ = out.send(ServerMsg::Snapshot {
            seq,
            tasks: Vec::new(),
            more: false,
        });
    }
    while let Some(part) = parts.next() {
        let _ = out.send(ServerMsg::Snapshot {
            seq,
            tasks: part.to_vec(),
            more: parts.peek().is_some(),
        });
    }
    if let Some(docker) = shared.bus.last_docker() {
        let _ = out.send(ServerMsg::Event { event: docker });
    }
}

/// Which events a subscriber gets: those of tasks in its repository (all when none),
/// and every event about no task (Docker, notices).
#[derive(Default)]
struct Scope {
    repo: Option<PathBuf>,
    /// Task → its repository, learned from the store and from `TaskAdded`.
    repos: HashMap<TaskId, PathBuf>,
}

impl Scope {
    fn new(shared: &Shared, repo: Option<PathBuf>) -> Scope {
        let repos = match &repo {
            None => HashMap::new(),
            Some(_) => shared
                .store
                .tasks(None)
                .unwrap_or_default()
                .into_iter()
                .map(|t| (t.id, t.repo))
                .collect(),
        };
        Scope { repo, repos }
    }

    fn admits(&mut self, ev: &Event) -> bool {
        let Some(want) = &self.repo else { return true };
        if let EventBody::TaskAdded { task, .. } = &ev.body {
            self.repos.insert(task.id.clone(), task.repo.clone());
        }
        let Some(id) = &ev.task else { return true };
        self.repos.get(id).is_some_and(|r| r == want)
    }
}
