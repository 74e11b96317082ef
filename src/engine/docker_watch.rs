//! Whether Docker is there, kept current: the engine's handle on the daemon may come and
//! go (not started yet, restarted, socket gone). The watcher pings it every couple of
//! seconds, says so on the bus when it goes or comes back, and wakes the engine so
//! queued tasks start, in order, once it is back.
//!
//! What happens to a task whose container vanished with the daemon is the supervisor's
//! business; this only tracks the connection.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{EngineCtx, Mail};
use crate::protocol::EventBody;
use crate::runtime::Runtime;

/// How often the daemon is asked whether it is still there.
const EVERY: Duration = Duration::from_secs(2);
/// A ping or connect slower than this counts as "not there".
const PATIENCE: Duration = Duration::from_secs(3);

/// The current connection to Docker, if any, and where to reconnect.
#[derive(Debug)]
pub struct RuntimeSlot {
    host: String,
    current: RwLock<Option<Runtime>>,
}

impl RuntimeSlot {
    /// `runtime` if connected already; reconnects go to `host`.
    pub fn new(host: impl Into<String>, runtime: Option<Runtime>) -> Self {
        RuntimeSlot {
            host: host.into(),
            current: RwLock::new(runtime),
        }
    }

    pub fn get(&self) -> Option<Runtime> {
        self.current
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Someone found Docker gone (a command's connection broke and it does not answer):
    /// the watcher reconnects, and says when it is back.
    pub fn lost(&self, reason: &str, bus: &super::bus::EventBus) {
        if self.get().is_some() {
            tracing::warn!("docker went away: {reason}");
            self.set(None);
            let error = Some(format!("docker unavailable: {reason}"));
            bus.emit(
                None,
                0,
                EventBody::Docker {
                    version: None,
                    error,
                },
            );
        }
    }

    fn set(&self, rt: Option<Runtime>) {
        *self.current.write().unwrap_or_else(|p| p.into_inner()) = rt;
    }
}

impl From<Option<Runtime>> for RuntimeSlot {
    /// Reconnects go where `DOCKER_HOST` points (the local socket by default).
    fn from(rt: Option<Runtime>) -> Self {
        let host = rt
            .as_ref()
            .map_or_else(crate::runtime::docker_host, |r| r.host().to_string());
        RuntimeSlot::new(host, rt)
    }
}

/// Why Docker does not answer a ping (within `PATIENCE`), or `None` when it does.
pub(super) async fn ping_failure(rt: &Runtime) -> Option<String> {
    match tokio::time::timeout(PATIENCE, rt.docker().ping()).await {
        Ok(Ok(_)) => None,
        Ok(Err(e)) => Some(crate::text::ellipsize(&e.to_string(), 160)),
        Err(_) => Some("no answer".to_string()),
    }
}

/// Watches until `stop`, telling the bus and waking the engine on every change.
pub(super) async fn run(
    ctx: Arc<EngineCtx>,
    engine: mpsc::WeakUnboundedSender<Mail>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = tokio::time::sleep(EVERY) => {}
            _ = stop.cancelled() => return,
        }
        let slot = &ctx.runtime;
        match slot.get() {
            Some(rt) => {
                if let Some(reason) = ping_failure(&rt).await {
                    slot.lost(&reason, &ctx.bus);
                }
            }
            None => {
                let Ok(Ok(rt)) =
                    tokio::time::timeout(PATIENCE, Runtime::connect_to(&slot.host)).await
                else {
                    continue;
                };
                tracing::info!("docker is back: {}", rt.version());
                let version = Some(rt.version().to_string());
                slot.set(Some(rt));
                ctx.bus.emit(
                    None,
                    0,
                    EventBody::Docker {
                        version,
                        error: None,
                    },
                );
                if let Some(engine) = engine.upgrade() {
                    let _ = engine.send(Mail::DockerBack);
                }
            }
        }
    }
}
