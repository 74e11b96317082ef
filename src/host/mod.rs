//! An engine host: the one place that assembles store, Docker, event bus and engine for
//! a data dir, and the one way in. Whether it is the daemon (`drover daemon run`) or a
//! front end's own engine (`--no-daemon`), it holds the data dir's lock and serves the
//! protocol on the data dir's socket, so every other drover process reaches whichever
//! engine runs the same way; its own front end talks to it over channels, in the same
//! protocol (`connect`).
//!
//! It does not decide whether to start the daemon or an engine here (`crate::client`
//! does), and it knows nothing of terminals.

mod conversation;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::PathBuf;
use std::sync::Arc;

use tokio::net::UnixListener;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::OnQuit;
use crate::engine::bus::EventBus;
use crate::engine::docker_watch::RuntimeSlot;
use crate::engine::{self, EngineCtx, EngineHandle, EngineOptions};
use crate::paths::DataDir;
use crate::protocol::{HostKind, PROTOCOL};
use crate::runtime::Runtime;
use crate::store::{EngineLock, LockHeld, Store};

/// The longest socket path that fits every platform's `sun_path` (Linux: 108 bytes).
const SOCKET_PATH_MAX: usize = 100;

/// Where the engine host of `data` listens: in the data dir, unless its path is too long
/// for a Unix socket; then in a private directory of this user (the runtime dir, else
/// `drover-<uid>` in the temp dir), named by the data dir's hash.
pub fn socket_path(data: &DataDir) -> PathBuf {
    let p = data.root().join("daemon.sock");
    if p.as_os_str().len() <= SOCKET_PATH_MAX {
        return p;
    }
    let uid = rustix::process::getuid().as_raw();
    let dir = std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_absolute())
        .unwrap_or_else(|| std::env::temp_dir().join(format!("drover-{uid}")));
    dir.join(format!("drover-{}.sock", data.hash()))
}

/// How to start a host.
pub struct HostOptions {
    pub data: DataDir,
    pub kind: HostKind,
    /// Only tasks of this repository run (all when `None`).
    pub scope: Option<PathBuf>,
    /// Start queued tasks. Off for a host that answers one command and ends.
    pub run_queue: bool,
    pub max_parallel: usize,
    /// The Docker connection to use (tests give one that points nowhere); by default
    /// the one `DOCKER_HOST` names, connected now if it answers.
    pub runtime: Option<RuntimeSlot>,
}

#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error(transparent)]
    Held(#[from] LockHeld),
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    #[error("socket {path}: {source}")]
    Socket {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

/// What every conversation of a host shares.
pub(crate) struct Shared {
    pub instance: String,
    /// The protocol spoken (`DROVER_DAEMON_PROTOCOL` plays another version in tests).
    pub protocol: u32,
    pub kind: HostKind,
    pub scope: Option<PathBuf>,
    pub runs_queue: bool,
    pub store: Arc<Store>,
    pub bus: Arc<EventBus>,
    pub engine: engine::Commander,
    /// Cancelled when the host stops: conversations say so and end.
    pub closing: CancellationToken,
    /// Cancelled by a client's `Stop`.
    pub stop_asked: CancellationToken,
    pub uid: u32,
}

/// A running engine host.
pub struct Host {
    engine: EngineHandle,
    shared: Arc<Shared>,
    conversations: JoinSet<()>,
    accepting: tokio::task::JoinHandle<JoinSet<()>>,
    /// Cancelled to stop taking connections.
    no_more: CancellationToken,
    socket: PathBuf,
    runtime_error: Option<String>,
    _lock: EngineLock,
}

impl Host {
    /// Takes the data dir (refused while another engine holds it), opens the store,
    /// connects to Docker (tasks wait while it is away), starts the engine and serves
    /// the socket.
    pub async fn start(opts: HostOptions) -> Result<Host, HostError> {
        let lock = EngineLock::acquire(&opts.data.lock())?;
        let store = Arc::new(Store::open(&opts.data.db())?);
        let (runtime, runtime_error) = match opts.runtime {
            Some(slot) => (slot, None),
            None => match Runtime::connect().await {
                Ok(rt) => (Some(rt).into(), None),
                Err(e) => (RuntimeSlot::from(None), Some(e.to_string())),
            },
        };
        let bus = Arc::new(EventBus::default());
        let ctx = EngineCtx::new(store.clone(), bus.clone(), runtime, opts.data.clone());
        let handle = engine::start(
            ctx,
            EngineOptions {
                max_parallel: opts.max_parallel,
                repo: opts.scope.clone(),
                run_queue: opts.run_queue,
            },
        );
        let socket = socket_path(&opts.data);
        let listener = listen(&socket).map_err(|source| HostError::Socket {
            path: socket.display().to_string(),
            source,
        })?;
        let uid = std::fs::metadata("/proc/self")
            .map(|m| m.uid())
            .unwrap_or_else(|_| rustix::process::getuid().as_raw());
        let shared = Arc::new(Shared {
            instance: format!("{:016x}", rand::random::<u64>()),
            protocol: spoken(),
            kind: opts.kind,
            scope: opts.scope,
            runs_queue: opts.run_queue,
            store,
            bus,
            engine: handle.commander(),
            closing: CancellationToken::new(),
            stop_asked: CancellationToken::new(),
            uid,
        });
        let no_more = CancellationToken::new();
        let accepting = tokio::spawn(accept(listener, shared.clone(), no_more.clone()));
        Ok(Host {
            engine: handle,
            shared,
            conversations: JoinSet::new(),
            accepting,
            no_more,
            socket,
            runtime_error,
            _lock: lock,
        })
    }

    /// Why Docker did not answer when the host started, if it did not.
    pub fn runtime_error(&self) -> Option<&str> {
        self.runtime_error.as_deref()
    }

    /// A conversation with this host from within the process, in the same protocol as
    /// over the socket.
    pub fn pipe(
        &mut self,
    ) -> crate::transport::Pipe<crate::protocol::ServerMsg, crate::protocol::ClientMsg> {
        let (ours, theirs) = crate::transport::pair();
        let shared = self.shared.clone();
        self.conversations.spawn(conversation::run(theirs, shared));
        ours
    }

    /// Resolves when a client asked the host to stop (`drover daemon stop`).
    pub async fn stop_asked(&self) {
        self.shared.stop_asked.cancelled().await
    }

    /// Ends the host: no new connections; the engine quits applying `policy` to running
    /// tasks (what that does to them still reaches every client); then every client is
    /// told the host is closing, so none starts it again, and the data dir is let go.
    pub async fn quit(mut self, policy: OnQuit) {
        self.no_more.cancel();
        let mut accepted = self.accepting.await.unwrap_or_default();
        let _ = std::fs::remove_file(&self.socket);
        self.engine.quit(policy).await;
        self.shared.closing.cancel();
        let _ = tokio::time::timeout(std::time::Duration::from_secs(1), async {
            while accepted.join_next().await.is_some() {}
            while self.conversations.join_next().await.is_some() {}
        })
        .await;
    }
}

/// The protocol a host speaks: `PROTOCOL`, unless `DROVER_DAEMON_PROTOCOL` says
/// otherwise (how the tests play a daemon of another drover version).
fn spoken() -> u32 {
    std::env::var("DROVER_DAEMON_PROTOCOL")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(PROTOCOL)
}

/// Binds the socket, readable and writable by this user only. This process holds the
/// engine lock, so a socket file left here is a dead host's.
fn listen(socket: &std::path::Path) -> std::io::Result<UnixListener> {
    let _ = std::fs::remove_file(socket);
    if let Some(dir) = socket.parent()
        && !dir.exists()
    {
        crate::paths::create_private_dir(dir)?;
    }
    let listener = UnixListener::bind(socket)?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

/// Accepts connections until the host closes; each becomes a conversation. Only the
/// user who owns the data dir may talk (the socket is 0600 and the peer's uid checked).
async fn accept(
    listener: UnixListener,
    shared: Arc<Shared>,
    no_more: CancellationToken,
) -> JoinSet<()> {
    let mut conversations = JoinSet::new();
    loop {
        tokio::select! {
            conn = listener.accept() => match conn {
                Ok((sock, _)) => {
                    let shared = shared.clone();
                    conversations.spawn(async move {
                        let peer = sock.peer_cred().map(|c| c.uid());
                        let pipe = crate::transport::over_socket(sock);
                        match peer {
                            Ok(uid) if uid == shared.uid => conversation::run(pipe, shared).await,
                            Ok(uid) => conversation::refuse(pipe, format!("uid {uid} may not use the drover of uid {}", shared.uid)),
                            Err(e) => tracing::debug!("peer of a connection: {e}"),
                        }
                    });
                }
                Err(e) => tracing::warn!("engine socket: {e}"),
            },
            Some(_) = conversations.join_next(), if !conversations.is_empty() => {}
            _ = no_more.cancelled() => break,
        }
    }
    conversations
}
