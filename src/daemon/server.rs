//! The daemon side of the socket: one engine for every repository, many clients.
//!
//! Each client says hello (a different protocol version is refused, naming both), then
//! subscribes: a snapshot of the tasks in its scope and live events after it, or, when
//! reconnecting with the last sequence number it saw, the events it missed from a
//! backlog. Commands from any client go to the one engine; replies go back by id. Only
//! the user who owns the data dir may connect (the socket is 0600 and the peer's uid is
//! checked). It does not start or find the daemon (the client module does).

use std::collections::{HashMap, VecDeque};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use tokio::io::BufReader;
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::wire;
use crate::config::OnQuit;
use crate::engine::bus::EventBus;
use crate::engine::{Commander, EngineHandle};
use crate::protocol::TaskId;
use crate::protocol::{ClientMsg, ServerMsg, TaskSnapshot};
use crate::protocol::{Event, EventBody};
use crate::store::Store;

/// Events kept for clients that reconnect.
const BACKLOG: usize = 20_000;

/// Recent events, oldest first.
#[derive(Default)]
struct Backlog {
    events: VecDeque<Event>,
}

struct Shared {
    /// This run of the daemon (sequence numbers start again in the next).
    instance: String,
    /// The protocol this daemon speaks.
    protocol: u32,
    /// The last word on Docker: a snapshot carries it, as it may be long past.
    docker: Mutex<Option<Event>>,
    store: Arc<Store>,
    bus: Arc<EventBus>,
    engine: Commander,
    backlog: Mutex<Backlog>,
    stop: CancellationToken,
    uid: u32,
}

/// The protocol a daemon speaks: `PROTOCOL`, unless `DROVER_DAEMON_PROTOCOL` says
/// otherwise (how the tests play a daemon of another drover version).
fn spoken() -> u32 {
    std::env::var("DROVER_DAEMON_PROTOCOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(crate::protocol::PROTOCOL)
}

/// Serves `socket` until a client asks the daemon to stop (or `stop` is cancelled); the
/// engine then quits keeping running tasks' containers for the next daemon.
pub async fn serve(
    socket: PathBuf,
    store: Arc<Store>,
    bus: Arc<EventBus>,
    engine: EngineHandle,
    stop: CancellationToken,
) -> std::io::Result<()> {
    // This process holds the engine lock, so a socket file left here is a dead daemon's.
    let _ = std::fs::remove_file(&socket);
    if let Some(dir) = socket.parent()
        && !dir.exists()
    {
        crate::paths::create_private_dir(dir)?;
    }
    let listener = UnixListener::bind(&socket)?;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o600))?;
    let uid = std::fs::metadata("/proc/self")?.uid();
    let mut events = bus.subscribe();
    let shared = Arc::new(Shared {
        instance: TaskId::random().to_string(),
        protocol: spoken(),
        docker: Mutex::default(),
        store,
        bus,
        engine: engine.commander(),
        backlog: Mutex::default(),
        stop: stop.clone(),
        uid,
    });
    let keeper = shared.clone();
    tokio::spawn(async move {
        while let Some(ev) = events.recv().await {
            if matches!(ev.body, EventBody::Docker { .. }) {
                *lock(&keeper.docker) = Some(ev.clone());
            }
            let mut b = lock(&keeper.backlog);
            b.events.push_back(ev);
            if b.events.len() > BACKLOG {
                b.events.pop_front();
            }
        }
    });
    let mut clients = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            conn = listener.accept() => match conn {
                Ok((sock, _)) => {
                    let shared = shared.clone();
                    clients.spawn(async move {
                        if let Err(e) = client(sock, shared).await {
                            tracing::debug!("daemon client: {e}");
                        }
                    });
                }
                Err(e) => tracing::warn!("daemon socket: {e}"),
            },
            Some(_) = clients.join_next(), if !clients.is_empty() => {}
            _ = stop.cancelled() => break,
        }
    }
    let _ = std::fs::remove_file(&socket);
    // Each client is told the daemon is closing (so none starts it again) before it goes.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
        while clients.join_next().await.is_some() {}
    })
    .await;
    engine.quit(OnQuit::Keep).await;
    Ok(())
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

async fn client(sock: UnixStream, shared: Arc<Shared>) -> Result<(), wire::WireError> {
    let peer = sock.peer_cred()?.uid();
    let (r, mut w) = sock.into_split();
    if peer != shared.uid {
        let reason = format!("uid {peer} may not use the daemon of uid {}", shared.uid);
        return wire::send(&mut w, &refused(reason, None)).await;
    }
    let mut r = BufReader::new(r);
    let mut buf = Vec::new();
    match wire::recv::<ClientMsg>(&mut r, &mut buf).await? {
        ClientMsg::Hello { protocol, .. } if protocol == shared.protocol => {
            let welcome = ServerMsg::Welcome {
                protocol,
                pid: std::process::id(),
                version: env!("CARGO_PKG_VERSION").to_string(),
                instance: shared.instance.clone(),
            };
            wire::send(&mut w, &welcome).await?;
        }
        ClientMsg::Hello { protocol, client } => {
            let reason = format!(
                "this daemon (drover {}) speaks protocol {}; {client} speaks protocol {protocol}: stop the daemon (`drover daemon stop`) so the new drover can start its own",
                env!("CARGO_PKG_VERSION"),
                shared.protocol,
            );
            return wire::send(&mut w, &refused(reason, Some(shared.protocol))).await;
        }
        _ => {
            let reason = "say hello first".to_string();
            return wire::send(&mut w, &refused(reason, None)).await;
        }
    }

    // One writer: events and replies interleave on the socket in the order sent here.
    let (out, mut out_rx) = mpsc::unbounded_channel::<ServerMsg>();
    let writer = tokio::spawn(async move {
        while let Some(msg) = out_rx.recv().await {
            if wire::send(&mut w, &msg).await.is_err() {
                break;
            }
        }
    });
    let mut live: Option<mpsc::UnboundedReceiver<Event>> = None;
    let mut scope = Scope::default();
    let mut last = 0u64;
    // Held while the client follows one repository: its warm pool is kept ready.
    let mut _open_in = None;
    let result = loop {
        tokio::select! {
            msg = wire::recv::<ClientMsg>(&mut r, &mut buf) => match msg {
                Ok(ClientMsg::Subscribe { repo, since }) => {
                    _open_in = repo.clone().map(|r| shared.engine.open_in(r));
                    let rx = shared.bus.subscribe();
                    scope = Scope::new(&shared.store, repo);
                    last = catch_up(&shared, &mut scope, since, &out).await;
                    live = Some(rx);
                }
                Ok(ClientMsg::Command { id, command }) => {
                    let (engine, out) = (shared.engine.clone(), out.clone());
                    tokio::spawn(async move {
                        let result = engine.request(command).await;
                        let _ = out.send(ServerMsg::Reply { id, result });
                    });
                }
                Ok(ClientMsg::Stop) => {
                    shared.stop.cancel();
                    break Ok(());
                }
                Ok(ClientMsg::Hello { .. }) => {}
                Err(wire::WireError::Closed) => break Ok(()),
                Err(e) => break Err(e),
            },
            _ = shared.stop.cancelled() => {
                let reason = "the daemon stopped; running tasks keep their containers".to_string();
                let _ = out.send(ServerMsg::Closing { reason });
                break Ok(());
            }
            Some(ev) = next(&mut live) => {
                if ev.seq > last && scope.admits(&ev) {
                    last = ev.seq;
                    if out.send(ServerMsg::Event { event: ev }).is_err() {
                        break Ok(());
                    }
                }
            }
        }
    };
    drop(out);
    let _ = writer.await;
    result
}

fn refused(reason: String, protocol: Option<u32>) -> ServerMsg {
    ServerMsg::Refused {
        reason,
        protocol,
        pid: Some(std::process::id()),
    }
}

async fn next(live: &mut Option<mpsc::UnboundedReceiver<Event>>) -> Option<Event> {
    match live {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Sends what a subscriber needs before live events: the events it missed (when the
/// backlog still holds them all) or a snapshot. The last sequence number it covers.
async fn catch_up(
    shared: &Shared,
    scope: &mut Scope,
    since: Option<u64>,
    out: &mpsc::UnboundedSender<ServerMsg>,
) -> u64 {
    // Events emitted before the subscription may still be on their way to the backlog:
    // wait until it holds everything up to now, so nothing falls between the two.
    let now = shared.bus.seq();
    for _ in 0..200 {
        let newest = lock(&shared.backlog).events.back().map_or(0, |e| e.seq);
        if newest >= now {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A number past the newest was counted by another run of the daemon.
    if let Some(since) = since.filter(|s| *s <= now) {
        let b = lock(&shared.backlog);
        let oldest = b.events.front().map_or(now + 1, |e| e.seq);
        if oldest <= since + 1 {
            let mut last = since;
            for ev in b.events.iter().filter(|e| e.seq > since && e.seq <= now) {
                if scope.admits(ev) {
                    let _ = out.send(ServerMsg::Event { event: ev.clone() });
                }
                last = ev.seq;
            }
            return last.max(since);
        }
    }
    let tasks = shared
        .store
        .tasks(scope.repo.as_deref())
        .unwrap_or_default()
        .into_iter()
        .map(|task| {
            let attempt = shared
                .store
                .attempt(&task.id, task.attempt)
                .unwrap_or_default();
            TaskSnapshot { task, attempt }
        })
        .collect();
    let _ = out.send(ServerMsg::Snapshot { seq: now, tasks });
    if let Some(docker) = lock(&shared.docker).clone() {
        let _ = out.send(ServerMsg::Event { event: docker });
    }
    now
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
    fn new(store: &Store, repo: Option<PathBuf>) -> Scope {
        let repos = store
            .tasks(None)
            .unwrap_or_default()
            .into_iter()
            .map(|t| (t.id, t.repo))
            .collect();
        Scope { repo, repos }
    }

    fn admits(&mut self, ev: &Event) -> bool {
        if let EventBody::TaskAdded { task, .. } = &ev.body {
            self.repos.insert(task.id.clone(), task.repo.clone());
        }
        let Some(want) = &self.repo else { return true };
        let Some(id) = &ev.task else { return true };
        self.repos.get(id).is_some_and(|r| r == want)
    }
}
