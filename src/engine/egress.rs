//! An attempt's egress proxy, when its network is `allowlist` or `open`: listening on a
//! Unix socket in the data dir (`proxy/<task>/`, the directory its containers mount),
//! enforcing the task's policy, for as long as the attempt's session lives. What it
//! refuses is queued for the session to write into the transcript.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc::{Receiver, channel};
use tokio_util::sync::CancellationToken;

use crate::agent::resolve::{ANTHROPIC_URL, OPENAI_URL};
use crate::config::{Config, Network};
use crate::egress::model::{MODEL_PATH, PLACEHOLDER_KEY};
use crate::egress::{Auth, Blocked, ModelRoutes, Policy, Proxy, Upstream};
use crate::runtime::forwarder::PROXY_PORT;
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
            &config.allow_hosts(),
            config.methods.as_deref(),
        )?;
        let upstreams = model_upstreams(config);
        let model = match upstreams.is_empty() {
            true => None,
            false => Some(ModelRoutes::new(upstreams)?),
        };
        Self::serve(policy, model, dir).map(Some)
    }

    /// Starts the proxy of a setup container (`setup_network` allowlist or open, with
    /// `setup_allow`), when setup's network wants one. No model endpoint.
    pub(super) fn for_setup(config: &Config, dir: &Path) -> Result<Option<TaskProxy>, String> {
        let network = config.env.setup_network;
        if !network.proxied() {
            return Ok(None);
        }
        let policy = Policy::new(network == Network::Open, &config.setup_allow_hosts(), None)?;
        Self::serve(policy, None, dir).map(Some)
    }

    fn serve(policy: Policy, model: Option<ModelRoutes>, dir: &Path) -> Result<TaskProxy, String> {
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
        let proxy = Proxy::with_model(policy, model, move |b: Blocked| {
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
        Ok(TaskProxy {
            dir: dir.to_path_buf(),
            stop,
            blocked: Mutex::new(rx),
            dropped,
            probe,
            probed,
            heard,
        })
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

/// The providers an external CLI agent behind the proxy reaches through drover's model
/// endpoint, each with the key from drover's own environment (which the container never
/// sees). Its own family (a Claude or Codex preset or stream format) takes `[agent]
/// base_url` and `api_key_env`; the other the provider's defaults, when that key is set.
fn model_upstreams(config: &Config) -> Vec<Upstream> {
    let a = &config.agent;
    if !config.network.proxied() || a.provider.as_deref() != Some("command") {
        return Vec::new();
    }
    let family = match (a.preset.as_deref(), a.format.as_deref()) {
        (Some("claude"), _) | (None, Some("claude")) => Some("anthropic"),
        (Some("codex"), _) | (None, Some("codex")) => Some("openai"),
        _ => None,
    };
    let providers = [
        (
            "anthropic",
            "ANTHROPIC_API_KEY",
            ANTHROPIC_URL,
            Auth::ApiKeyHeader,
        ),
        ("openai", "OPENAI_API_KEY", OPENAI_URL, Auth::Bearer),
    ];
    let mut out = Vec::new();
    for (name, var, url, auth) in providers {
        let ours = family == Some(name);
        // An agent of one family gets that provider alone (goose, aider or a custom
        // command may use either).
        if family.is_some() && !ours {
            continue;
        }
        let var = match (ours, &a.api_key_env) {
            (true, Some(v)) => v.as_str(),
            _ => var,
        };
        let base = match (ours, &a.base_url) {
            (true, Some(b)) => b.clone(),
            _ => url.to_string(),
        };
        if let Ok(key) = std::env::var(var)
            && !key.is_empty()
        {
            crate::redact::Redactor::global().learn(var, &key);
            out.push(Upstream {
                name: name.into(),
                base: base.trim_end_matches('/').to_string(),
                auth,
                key,
            });
        }
    }
    out
}

/// What a container behind the proxy gets for the model endpoint: each provider's base
/// URL pointing at drover, and a placeholder key.
pub(super) fn model_env(config: &Config) -> Vec<String> {
    model_upstreams(config)
        .iter()
        .flat_map(|u| {
            let url = format!("http://127.0.0.1:{PROXY_PORT}{MODEL_PATH}/{}", u.name);
            let prefix = u.name.to_ascii_uppercase();
            [
                format!("{prefix}_BASE_URL={url}"),
                format!("{prefix}_API_KEY={PLACEHOLDER_KEY}"),
            ]
        })
        .collect()
}

#[async_trait::async_trait]
impl crate::environment::Egress for TaskProxy {
    async fn ready(&self) -> Result<(), String> {
        match self.await_probe(std::time::Duration::from_secs(15)).await {
            true => Ok(()),
            false => Err(
                "the setup container's proxy did not hear its self-test: no setup command ran"
                    .into(),
            ),
        }
    }

    fn refused(&self) -> Vec<String> {
        let (mut lines, more) = self.take_blocked();
        if more > 0 {
            lines.push(format!("{more} more requests (not listed)"));
        }
        lines
    }
}

fn set_mode(path: &Path, mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
}
