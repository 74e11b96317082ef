//! Reaching the daemon on demand: connect to whichever engine host answers on the data
//! dir's socket (the daemon, or a `--no-daemon` front end's engine), else start the
//! daemon detached from this terminal (its output to `logs/daemon.log`) and connect.
//!
//! It does not decide whether a front end should use the daemon at all (`open` does),
//! and it never stops one.

use std::time::Duration;

use super::connection::{ClientError, Connection, wait_until_up, wait_while};
use crate::host::socket_path;
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
        "another drover engine (pid {pid}) holds {data} and does not answer on its socket: a drover of an older version? Quit it"
    )]
    Silent { pid: String, data: String },
    #[error("{0}")]
    Spawn(String),
    #[error("the daemon stopped at once ({status}):\n{said}\n(from {log})")]
    Exited {
        status: String,
        said: String,
        log: String,
    },
    #[error("the daemon (pid {pid}) did not answer within {secs} s ({why}); see {log}")]
    NoAnswer {
        pid: u32,
        secs: u64,
        why: String,
        log: String,
    },
}

/// The engine host of `data`, the daemon started first when none answers.
pub async fn connect_or_start(data: &DataDir) -> Result<Connection, StartError> {
    let socket = socket_path(data);
    match Connection::connect(&socket).await {
        Ok(c) => return Ok(c),
        Err(ClientError::NotRunning(_)) => {}
        Err(e) => return Err(e.into()),
    }
    match EngineLock::acquire(&data.lock()) {
        // Free: nobody serves this data dir. Released before the daemon takes it.
        Ok(lock) => drop(lock),
        // Held: a host starting this very moment (another client started it).
        Err(LockHeld::Held { pid, .. }) => {
            return match wait_until_up(&socket, Duration::from_secs(5)).await {
                Ok(c) => Ok(c),
                Err(ClientError::NotRunning(_)) => Err(StartError::Silent {
                    pid,
                    data: data.root().display().to_string(),
                }),
                Err(e) => Err(e.into()),
            };
        }
        Err(e) => return Err(StartError::Spawn(e.to_string())),
    }
    let mut child = start_detached(data).map_err(StartError::Spawn)?;
    let pid = child.id();
    let came_up = wait_while(&socket, STARTUP, || matches!(child.try_wait(), Ok(None))).await;
    let result = match came_up {
        Ok(c) => Ok(c),
        Err(ClientError::NotRunning(why)) => match child.try_wait() {
            Ok(Some(status)) => {
                // Another client's daemon may have won the data dir meanwhile.
                match wait_until_up(&socket, Duration::from_secs(2)).await {
                    Ok(c) => Ok(c),
                    Err(_) => {
                        let log = log_path(data);
                        Err(StartError::Exited {
                            status: status.to_string(),
                            said: log_tail(&log),
                            log: log.display().to_string(),
                        })
                    }
                }
            }
            _ => Err(StartError::NoAnswer {
                pid,
                secs: STARTUP.as_secs(),
                why,
                log: log_path(data).display().to_string(),
            }),
        },
        Err(e) => Err(e.into()),
    };
    // Reaped by a thread, so a daemon that exits later leaves no zombie behind.
    std::thread::spawn(move || child.wait());
    result
}

/// The last lines of the daemon's log: why it stopped, when it did at once.
fn log_tail(path: &std::path::Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(3)..].join("\n")
}

pub fn log_path(data: &DataDir) -> std::path::PathBuf {
    data.logs().join("daemon.log")
}

/// Runs `drover daemon run` detached from this terminal, its output appended to
/// `logs/daemon.log`.
pub fn start_detached(data: &DataDir) -> Result<std::process::Child, String> {
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
    cmd.spawn().map_err(|e| format!("starting the daemon: {e}"))
}
