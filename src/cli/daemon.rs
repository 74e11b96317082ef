//! `drover daemon run|start|stop|status`: the background engine from the command line.
//!
//! `run` serves in the foreground (what `start` launches, detached, logging to
//! `logs/daemon.log`). `stop` asks it to stop; running tasks keep their containers and the
//! next daemon reattaches them.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::{CliResult, Failure, open_data};
use crate::config::Config;
use crate::daemon::client::{Client, ClientError};
use crate::daemon::spawn::StartError;
use crate::daemon::{server, socket_path, spawn, upgrade};
use crate::engine::bus::EventBus;
use crate::engine::{self, EngineCtx, EngineOptions};
use crate::protocol::PROTOCOL;
use crate::runtime::Runtime;
use crate::store::EngineLock;

/// Serves until `drover daemon stop` or a signal.
pub async fn run() -> CliResult {
    let config = Config::load(None).map_err(Failure::usage)?;
    let (data, store) = open_data()?;
    let _lock = EngineLock::acquire(&data.lock()).map_err(Failure::usage)?;
    let socket = socket_path(&data);
    let runtime = Runtime::connect().await;
    if let Err(e) = &runtime {
        tracing::warn!("{e}; tasks wait until Docker is back");
    }
    let bus = Arc::new(EventBus::default());
    let store = Arc::new(store);
    let ctx = EngineCtx::new(store.clone(), bus.clone(), runtime.ok().into(), data);
    let engine = engine::start(
        ctx,
        EngineOptions {
            max_parallel: config.max_parallel,
            repo: None,
            run_queue: true,
            poll: Duration::from_millis(500),
        },
    );
    let stop = CancellationToken::new();
    let mut signals = crate::signals::Terminate::new().map_err(Failure::failed)?;
    let on_signal = stop.clone();
    tokio::spawn(async move {
        let sig = signals.recv().await;
        tracing::info!(
            "{}: the daemon stops; running tasks keep their containers",
            sig.name()
        );
        on_signal.cancel();
    });
    eprintln!(
        "drover daemon {} (pid {}) starting on {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        socket.display()
    );
    server::serve(socket, store, bus, engine, stop)
        .await
        .map_err(|e| Failure::failed(format!("daemon socket: {e}")))?;
    Ok(0)
}

/// Starts the daemon in the background unless one answers already.
pub async fn start() -> CliResult {
    let (data, _) = open_data()?;
    match Client::connect(&socket_path(&data)).await {
        Ok(c) => {
            outln!("drover daemon already running (pid {})", c.pid);
            return Ok(0);
        }
        Err(ClientError::Version { pid, theirs, .. }) => {
            outln!("{}", other_version(pid, theirs));
            return Ok(0);
        }
        Err(_) => {}
    }
    match spawn::connect_or_start(&data).await {
        Ok(c) => outln!("drover daemon started (pid {})", c.pid),
        // Started, by a drover binary of another version (or told to speak another).
        Err(StartError::Client(ClientError::Version { pid, theirs, .. })) => {
            outln!("drover daemon started (pid {pid}) speaking protocol {theirs}")
        }
        Err(e) => return Err(Failure::failed(e)),
    }
    Ok(0)
}

fn other_version(pid: u32, theirs: u32) -> String {
    format!(
        "drover daemon running (pid {pid}) of another drover version (protocol {theirs}, this one speaks {PROTOCOL}): `drover daemon stop` stops it"
    )
}

pub async fn stop() -> CliResult {
    let (data, _) = open_data()?;
    let socket = socket_path(&data);
    let mut c = match Client::connect(&socket).await {
        Ok(c) => c,
        Err(ClientError::NotRunning(_)) => {
            outln!("no drover daemon is running");
            return Ok(0);
        }
        // It does not speak this protocol, but it understands a signal.
        Err(ClientError::Version { pid, .. }) => {
            upgrade::stop_old(&data, pid)
                .await
                .map_err(Failure::failed)?;
            outln!("drover daemon (pid {pid}) stopped; running tasks keep their containers");
            return Ok(0);
        }
        Err(e) => return Err(Failure::failed(e)),
    };
    let pid = c.pid;
    c.stop().await.map_err(Failure::failed)?;
    // Gone when the socket no longer answers.
    for _ in 0..200 {
        if Client::connect(&socket).await.is_err() {
            outln!("drover daemon (pid {pid}) stopped; running tasks keep their containers");
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Failure::failed(format!(
        "the daemon (pid {pid}) did not stop within 10 s"
    )))
}

pub async fn status() -> CliResult {
    let (data, _) = open_data()?;
    let socket = socket_path(&data);
    match Client::connect(&socket).await {
        Ok(c) => {
            outln!(
                "drover daemon {} running (pid {}) on {}",
                c.version,
                c.pid,
                socket.display()
            );
            Ok(0)
        }
        Err(ClientError::Version { pid, theirs, .. }) => {
            outln!("{}", other_version(pid, theirs));
            Ok(0)
        }
        Err(ClientError::NotRunning(_)) => {
            outln!("no drover daemon is running");
            Ok(3)
        }
        Err(e) => Err(Failure::failed(e)),
    }
}
