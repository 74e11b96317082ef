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
                    // Subscribed first, then the store read: a task added in between is
                    // in the store or its `TaskAdded` is in the stream, never in neither.
                    let sub = shared.bus.subscribe_since(since);
                    scope = match Scope::new(&shared, repo) {
                        Ok(s) => s,
                        Err(reason) => {
                            let _ = out.send(refused(reason, None));
                            break;
                        }
                    };
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
                            if let Err(reason) = snapshot(&shared, &scope, sub.now, &out) {
                                let _ = out.send(refused(reason, None));
                                break;
                            }
                            sub.now
                        }
                    };
                    live = Some(sub.events);
                }
                Some(ClientMsg::Command { id, command }) => {
                    // Handed over here, in the order sent; answered whenever done.
                    let answer = shared.engine.submit(command);
                    let out = out.clone();
                    tokio::spawn(async move {
                        let _ = out.send(ServerMsg::Reply { id, result: answer.await });
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
                // What the engine said on its way out (tasks interrupted by the quit)
                // goes before the goodbye: the bus holds it already.
                if let Some(rx) = &mut live {
                    while let Ok(ev) = rx.try_recv() {
                        let _ = forward(ev, &mut scope, &mut last, &out);
                    }
                }
                let reason = match shared.kind {
                    crate::protocol::HostKind::Daemon => "the daemon stopped; running tasks keep their containers",
                    crate::protocol::HostKind::InProcess => "the drover that ran the engine (--no-daemon) quit",
                };
                let _ = out.send(ServerMsg::Closing { reason: reason.into() });
                break;
            }
            Some(ev) = next(&mut live) => {
                if forward(ev, &mut scope, &mut last, &out).is_err() {
                    break;
                }
            }
        }
    }
}

/// Sends `ev` on unless it is out of scope or already sent; `Err` when the client is gone.
fn forward(
    ev: Event,
    scope: &mut Scope,
    last: &mut u64,
    out: &mpsc::UnboundedSender<ServerMsg>,
) -> Result<(), ()> {
    if ev.seq <= *last || !scope.admits(&ev) {
        return Ok(());
    }
    *last = ev.seq;
    out.send(ServerMsg::Event { event: ev }).map_err(|_| ())
}

async fn next(live: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match live {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Every task in scope, read after the subscription began (an event after `seq` may
/// repeat what the store already shows: front ends fold events idempotently), in parts
/// that each stay well under the line limit; then the last word on Docker, which may be
/// long past. `Err` says why the store could not be read.
fn snapshot(
    shared: &Shared,
    scope: &Scope,
    seq: u64,
    out: &mpsc::UnboundedSender<ServerMsg>,
) -> Result<(), String> {
    let unreadable = |e: crate::store::StoreError| format!("cannot read the tasks: {e}");
    let mut part: Vec<TaskSnapshot> = Vec::new();
    let mut bytes = 0;
    for task in shared
        .store
        .tasks(scope.repo.as_deref())
        .map_err(unreadable)?
    {
        let attempt = shared
            .store
            .attempt(&task.id, task.attempt)
            .map_err(unreadable)?
            .brief();
        let t = TaskSnapshot { task, attempt };
        let size = serde_json::to_vec(&t).map_or(0, |v| v.len());
        if !part.is_empty() && (part.len() == SNAPSHOT_PART || bytes + size > PART_BYTES) {
            let tasks = std::mem::take(&mut part);
            let _ = out.send(ServerMsg::Snapshot {
                seq,
                tasks,
                more: true,
            });
            bytes = 0;
        }
        bytes += size;
        part.push(t);
    }
    let _ = out.send(ServerMsg::Snapshot {
        seq,
        tasks: part,
        more: false,
    });
    if let Some(docker) = shared.bus.last_docker() {
        let _ = out.send(ServerMsg::Event { event: docker });
    }
    Ok(())
}

/// A snapshot part's size: a quarter of the line limit (a task carries at most a few
/// MiB: its prompt, script and feedback are capped when they arrive).
const PART_BYTES: usize = crate::protocol::MAX_LINE / 4;

/// Which events a subscriber gets: those of tasks in its repository (all when none),
/// and every event about no task (Docker, notices).
#[derive(Default)]
struct Scope {
    repo: Option<PathBuf>,
    /// Task → its repository, learned from the store and from `TaskAdded`.
    repos: HashMap<TaskId, PathBuf>,
}

impl Scope {
    fn new(shared: &Shared, repo: Option<PathBuf>) -> Result<Scope, String> {
        let repos = match &repo {
            None => HashMap::new(),
            Some(_) => shared
                .store
                .tasks(None)
                .map_err(|e| format!("cannot read the tasks: {e}"))?
                .into_iter()
                .map(|t| (t.id, t.repo))
                .collect(),
        };
        Ok(Scope { repo, repos })
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
