//! `drover daemon run|start|stop|status`: the background engine from the command line.
//!
//! `run` serves in the foreground (what `start` launches, detached, logging to
//! `logs/daemon.log`). `stop` asks it to stop; running tasks keep their containers and the
//! next daemon reattaches them.

use std::time::Duration;

use super::{CliResult, Failure, open_data};
use crate::client::connection::{ClientError, Connection};
use crate::client::spawn::{self, StartError};
use crate::client::upgrade;
use crate::config::{Config, OnQuit};
use crate::host::{Host, HostOptions, socket_path};
use crate::paths::DataDir;
use crate::protocol::{HostKind, PROTOCOL};

/// Serves until `drover daemon stop` or a signal; running tasks then keep their
/// containers for the next daemon.
pub(super) async fn run() -> CliResult {
    let config = Config::load(None).map_err(Failure::usage)?;
    let data = DataDir::from_env().map_err(|e| Failure::usage(format!("data dir: {e}")))?;
    let host = Host::start(HostOptions {
        data: data.clone(),
        kind: HostKind::Daemon,
        scope: None,
        run_queue: true,
        max_parallel: config.max_parallel,
        runtime: None,
    })
    .await
    .map_err(Failure::usage)?;
    if let Some(e) = host.runtime_error() {
        tracing::warn!("{e}; tasks wait until Docker is back");
    }
    let mut signals = crate::signals::Terminate::new().map_err(Failure::failed)?;
    eprintln!(
        "drover daemon {} (pid {}) starting on {}",
        env!("CARGO_PKG_VERSION"),
        std::process::id(),
        socket_path(&data).display()
    );
    tokio::select! {
        sig = signals.recv() => tracing::info!(
            "{}: the daemon stops; running tasks keep their containers",
            sig.name()
        ),
        _ = host.stop_asked() => tracing::info!("asked to stop; running tasks keep their containers"),
    }
    host.quit(OnQuit::Keep).await;
    Ok(0)
}

/// Starts the daemon in the background unless one answers already.
pub(super) async fn start() -> CliResult {
    let (data, _) = open_data()?;
    match Connection::connect(&socket_path(&data)).await {
        Ok(c) => {
            outln!("drover daemon already running (pid {})", c.pid());
            return Ok(0);
        }
        Err(ClientError::Version { pid, theirs, .. }) => {
            outln!("{}", other_version(pid, theirs));
            return Ok(0);
        }
        Err(_) => {}
    }
    match spawn::connect_or_start(&data).await {
        Ok(c) => outln!("drover daemon started (pid {})", c.pid()),
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

/// What holds the data dir instead of a daemon.
fn in_process(c: &Connection) -> String {
    format!(
        "{} holds the data dir and ends when it quits",
        c.welcome.who()
    )
}

pub(super) async fn stop() -> CliResult {
    let (data, _) = open_data()?;
    let socket = socket_path(&data);
    let c = match Connection::connect(&socket).await {
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
    if c.welcome.host == HostKind::InProcess {
        outln!("no drover daemon is running; {}", in_process(&c));
        return Ok(0);
    }
    let pid = c.pid();
    c.stop().map_err(Failure::failed)?;
    // Gone when the socket no longer answers.
    for _ in 0..200 {
        if Connection::connect(&socket).await.is_err() {
            outln!("drover daemon (pid {pid}) stopped; running tasks keep their containers");
            return Ok(0);
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(Failure::failed(format!(
        "the daemon (pid {pid}) did not stop within 10 s"
    )))
}

pub(super) async fn status() -> CliResult {
    let (data, _) = open_data()?;
    let socket = socket_path(&data);
    match Connection::connect(&socket).await {
        Ok(c) if c.welcome.host == HostKind::InProcess => {
            outln!("no drover daemon is running; {}", in_process(&c));
            Ok(3)
        }
        Ok(c) => {
            outln!(
                "drover daemon {} running (pid {}) on {}",
                c.welcome.version,
                c.pid(),
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
