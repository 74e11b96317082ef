//! Reaching the daemon on demand: connect when one answers, else start one detached
//! from this terminal (its output to `logs/daemon.log`) and connect to it.
//!
//! It does not decide whether a front end should use the daemon at all (the CLI's
//! `--no-daemon` does), and it never stops one.

use std::time::Duration;

use super::client::{Client, ClientError, wait_until_up};
use super::socket_path;
use crate::paths::DataDir;
use crate::store::{EngineLock, LockHeld};

/// How long a daemon that was just started may take to answer.
const STARTUP: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A daemon of another drover version answers (see `ClientError::Version`).
    #[error(transparent)]
    Client(#[from] ClientError),
    #[error(
        "another drover engine (pid {pid}) holds {data} without serving the daemon's socket: a `--no-daemon` TUI or `drover run --no-daemon`; quit it, or pass --no-daemon here too"
    )]
    InProcess { pid: String, data: String },
    #[error("{0}")]
    Spawn(String),
    #[error("the daemon (pid {pid}) did not answer within {secs} s ({why}); see {log}")]
    Silent {
        pid: u32,
        secs: u64,
        why: String,
        log: String,
    },
}

/// The daemon of `data`, started first when none answers.
pub async fn connect_or_start(data: &DataDir) -> Result<Client, StartError> {
    let socket = socket_path(data);
    match Client::connect(&socket).await {
        Ok(c) => return Ok(c),
        Err(ClientError::NotRunning(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match EngineLock::acquire(&data.lock()) {
        // Free: nobody serves this data dir. Released before the daemon takes it.
        Ok(lock) => drop(lock),
        // Held: a daemon starting this very moment (another client started it), or an
        // engine of a front end running without the daemon.
        Err(LockHeld::Held { pid, .. }) => {
            return match wait_until_up(&socket, Duration::from_secs(2)).await {
                Ok(c) => Ok(c),
                Err(ClientError::NotRunning(_)) => Err(StartError::InProcess {
                    pid,
                    data: data.root().display().to_string(),
                }),
                Err(e) => Err(e.into()),
            };
        }
        Err(e) => return Err(StartError::Spawn(e.to_string())),
    }
    let pid = start_detached(data).map_err(StartError::Spawn)?;
    wait_until_up(&socket, STARTUP).await.map_err(|e| match e {
        ClientError::NotRunning(why) => StartError::Silent {
            pid,
            secs: STARTUP.as_secs(),
            why,
            log: log_path(data).display().to_string(),
        },
        e => e.into(),
    })
}

pub fn log_path(data: &DataDir) -> std::path::PathBuf {
    data.logs().join("daemon.log")
}

/// Runs `drover daemon run` detached from this terminal, its output appended to
/// `logs/daemon.log`; returns its pid.
pub fn start_detached(data: &DataDir) -> Result<u32, String> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe().map_err(|e| format!("finding drover itself: {e}"))?;
    crate::paths::create_private_dir(&data.logs())
        .map_err(|e| format!("{}: {e}", data.logs().display()))?;
    let log_path = log_path(data);
    let log = crate::paths::open_private_append(&log_path)
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let err = log
        .try_clone()
        .map_err(|e| format!("{}: {e}", log_path.display()))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["daemon", "run"])
        .env("DROVER_HOME", data.root())
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(err);
    // SAFETY: setsid is async-signal-safe and touches no memory of this process. Its own
    // session: no terminal, so closing the one it was started from signals it not.
    unsafe {
        cmd.pre_exec(|| {
            rustix::process::setsid()
                .map(|_| ())
                .map_err(std::io::Error::from)
        });
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("starting the daemon: {e}"))?;
    // Reaped by a thread, so a daemon that exits early leaves no zombie behind.
    let pid = child.id();
    std::thread::spawn(move || child.wait());
    Ok(pid)
}
