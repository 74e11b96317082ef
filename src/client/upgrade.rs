//! Replacing a daemon of another drover version: which tasks are in the middle of a tool
//! call (read from the store and transcripts, which every version shares), and stopping
//! the old daemon so the new drover can start its own. Its running tasks keep their
//! containers and the new daemon reattaches them.
//!
//! Asking the user is the front end's part; this module never prompts.

use std::time::Duration;

use crate::engine::journal::Journal;
use crate::host::socket_path;
use crate::paths::DataDir;
use crate::protocol::TaskSnapshot;
use crate::store::{EngineLock, Store};

/// Tasks whose agent is waiting on a command or edit right now: stopping the daemon
/// would cut that call off (it is reported as interrupted to the agent on resume).
pub fn mid_tool_call(store: &Store, data: &DataDir) -> Vec<TaskSnapshot> {
    let Ok(tasks) = store.tasks(None) else {
        return Vec::new();
    };
    tasks
        .into_iter()
        .filter(|t| t.state.is_active())
        .filter(|t| {
            let path = data.transcript(&t.id, t.attempt);
            crate::store::read_transcript(&path)
                .is_ok_and(|(entries, _)| Journal::from_entries(&entries).in_flight())
        })
        .map(|task| {
            let attempt = store.attempt(&task.id, task.attempt).unwrap_or_default();
            TaskSnapshot { task, attempt }
        })
        .collect()
}

/// Stops the daemon with `pid` (a signal: it may not speak this drover's protocol) and
/// waits until it let go of the data dir.
pub async fn stop_old(data: &DataDir, pid: u32) -> Result<(), String> {
    let pid_i32 = i32::try_from(pid).map_err(|_| format!("pid {pid} is not a process id"))?;
    let target = rustix::process::Pid::from_raw(pid_i32)
        .ok_or_else(|| format!("pid {pid} is not a process id"))?;
    rustix::process::kill_process(target, rustix::process::Signal::TERM)
        .map_err(|e| format!("stopping the old daemon (pid {pid}): {e}"))?;
    let socket = socket_path(data);
    for _ in 0..400 {
        if !socket.exists() && EngineLock::acquire(&data.lock()).is_ok() {
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Err(format!(
        "the old daemon (pid {pid}) did not stop within 20 s"
    ))
}
