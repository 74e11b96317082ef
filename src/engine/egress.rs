//! An attempt's egress proxy, when its network is `allowlist` or `open`: listening on a
//! Unix socket in the data dir (`proxy/<task>/`, the directory its containers mount),
//! enforcing the task's policy, for as long as the attempt's session lives. What it
//! refuses is queued for the session to write into the transcript.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use tokio::sync::mpsc::{UnboundedReceiver, unbounded_channel};
use tokio_util::sync::CancellationToken;

use crate::config::{Config, Network};
use crate::egress::{Blocked, Policy, Proxy};
use crate::runtime::forwarder::{PROXY_SOCKET, SELF_TEST_HOST};

/// A running proxy; it stops when dropped.
pub(super) struct TaskProxy {
    pub dir: PathBuf,
    stop: CancellationToken,
    blocked: Mutex<UnboundedReceiver<Blocked>>,
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
        let (tx, rx) = unbounded_channel();
        let proxy = Proxy::new(policy, move |b: Blocked| {
            // drover's own check that the policy holds is no one's blocked request.
            if !b.target.starts_with(SELF_TEST_HOST) {
                let _ = tx.send(b);
            }
        });
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    accepted = listener.accept() => match accepted {
                        Ok((s, _)) => {
                            let p = proxy.clone();
                            let stopped = stopped.clone();
                            tokio::spawn(async move {
                                tokio::select! {
                                    _ = p.serve(s) => {}
                                    _ = stopped.cancelled() => {}
                                }
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
        }))
    }

    /// What was refused since the last call.
    pub(super) fn take_blocked(&self) -> Vec<Blocked> {
        let mut rx = self.blocked.lock().unwrap_or_else(|p| p.into_inner());
        std::iter::from_fn(|| rx.try_recv().ok()).collect()
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
