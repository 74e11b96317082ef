//! An attempt's egress proxy, when its network is `allowlist` or `open`: listening on a
//! Unix socket in the data dir (`proxy/<task>/`, the directory its containers mount),
//! enforcing the task's policy, for as long as the attempt's session lives. What it
//! refuses is queued for the session to write into the transcript.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{Receiver, channel};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Network};
use crate::egress::{Blocked, Policy, Proxy};
use crate::runtime::forwarder::{PROXY_SOCKET, is_probe, probe_name};

/// Refusals kept until the session writes them; more are counted, not kept.
const QUEUE: usize = 256;
/// Connections one task's proxy serves at once (each holds two of the engine's files).
const MAX_CONNECTIONS: usize = 128;

/// A running proxy; it stops when dropped.
pub(super) struct TaskProxy {
    pub dir: PathBuf,
    stop: CancellationToken,
    blocked: Mutex<Receiver<Blocked>>,
    dropped: Arc<AtomicUsize>,
    /// The self-test's host this time, and whether this proxy was asked for it.
    probe: Arc<Mutex<String>>,
    probed: Arc<AtomicBool>,
    heard: Arc<tokio::sync::Notify>,
}

impl Drop for TaskProxy {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl TaskProxy {
    /// Starts the proxy for `config` with its socket in `dir`, when its network wants one.
    pub(super) fn start(config: &Config, dir: &Path) -> Result<Option<TaskProxy>, String> {
        if !config.network.proxied() {
            return Ok(None);
        }
        let policy = Policy::new(
            config.network == Network::Open,
            &config.allow,
            config.methods.as_deref(),
        )?;
        let fail = |e: std::io::Error| format!("egress proxy in {}: {e}", dir.display());
        // The directory stays (a container that outlived drover has it mounted); the
        // socket is made anew in it.
        std::fs::create_dir_all(dir).map_err(fail)?;
        // The container's user (any uid) reaches the socket through this directory.
        set_mode(dir, 0o755).map_err(fail)?;
        let socket = dir.join(PROXY_SOCKET);
        match std::fs::remove_file(&socket) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(fail(e)),
            _ => {}
        }
        let listener = std::os::unix::net::UnixListener::bind(&socket).map_err(fail)?;
        set_mode(&socket, 0o666).map_err(fail)?;
        listener.set_nonblocking(true).map_err(fail)?;
        let listener = tokio::net::UnixListener::from_std(listener).map_err(fail)?;
        let (tx, rx) = channel(QUEUE);
        let dropped = Arc::new(AtomicUsize::new(0));
        let probe = Arc::new(Mutex::new(String::new()));
        let probed = Arc::new(AtomicBool::new(false));
        let heard = Arc::new(tokio::sync::Notify::new());
        let (d, p, seen, tell) = (
            dropped.clone(),
            probe.clone(),
            probed.clone(),
            heard.clone(),
        );
        let proxy = Proxy::new(policy, move |b: Blocked| {
            // drover's own check that the policy holds is no one's blocked request.
            if is_probe(&b.target) {
                let current = p.lock().unwrap_or_else(|e| e.into_inner());
                if b.target == format!("{current}:443") {
                    seen.store(true, Ordering::SeqCst);
                    tell.notify_waiters();
                }
                return;
            }
            if tx.try_send(b).is_err() {
                d.fetch_add(1, Ordering::Relaxed);
            }
        });
        let slots = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => {
                            // Over the cap the connection is closed at once.
                            let Ok(slot) = slots.clone().try_acquire_owned() else {
                                continue;
                            };
                            let p = proxy.clone();
                            let stopped = stopped.clone();
                            tokio::spawn(async move {
                                tokio::select! {
                                    _ = p.serve(s) => {}
                                    _ = stopped.cancelled() => {}
                                }
                                drop(slot);
                            });
                        }
                        Err(e) => {
                            tracing::warn!("egress proxy: {e}");
                            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                        }
                    },
                    _ = stopped.cancelled() => break,
                }
            }
        });
        Ok(Some(TaskProxy {
            dir: dir.to_path_buf(),
            stop,
            blocked: Mutex::new(rx),
            dropped,
            probe,
            probed,
            heard,
        }))
    }

    /// What was refused since the last call ("METHOD target (why)"), and how many more
    /// were refused than the queue kept.
    pub(super) fn take_blocked(&self) -> (Vec<String>, u64) {
        let mut rx = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        let lines = std::iter::from_fn(|| rx.try_recv().ok())
            .map(|b| format!("{} {} ({})", b.method, b.target, b.why))
            .collect();
        (lines, self.dropped.swap(0, Ordering::Relaxed) as u64)
    }

    /// A new self-test host for this proxy to be asked for.
    pub(super) fn new_probe(&self) -> String {
        let name = probe_name();
        *self.probe.lock().unwrap_or_else(|p| p.into_inner()) = name.clone();
        self.probed.store(false, Ordering::SeqCst);
        name
    }

    /// Whether this proxy was asked for the current self-test host.
    pub(super) fn probed(&self) -> bool {
        self.probed.load(Ordering::SeqCst)
    }

    /// Waits up to `limit` for the current self-test host to be asked for.
    pub(super) async fn await_probe(&self, limit: std::time::Duration) -> bool {
        let heard = self.heard.notified();
        tokio::pin!(heard);
        heard.as_mut().enable();
        if self.probed() {
            return true;
        }
        tokio::time::timeout(limit, heard).await.is_ok() || self.probed()
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
