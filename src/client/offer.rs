//! The upgrade offer, on the terminal before the TUI opens: the daemon that answers is
//! another drover version's, so say so and offer to restart it, once no task is in the
//! middle of a tool call (waiting for that, visibly). Scripts get the reason as an error
//! instead; they never restart a daemon on their own.

use std::io::Write;
use std::time::Duration;

use super::connection::Connection;
use super::spawn::connect_or_start;
use super::upgrade::{mid_tool_call, stop_old};
use crate::paths::DataDir;
use crate::store::Store;

/// Asks whether to restart the daemon `pid`; a connection to the new daemon when yes,
/// else why not.
pub async fn offer(
    data: &DataDir,
    store: &Store,
    pid: u32,
    reason: &str,
) -> Result<Connection, String> {
    let refused =
        || format!("{reason}\nthe daemon was left running; `drover daemon stop` stops it");
    let mut err = std::io::stderr();
    let _ = writeln!(err, "drover: {reason}");
    let running = store
        .tasks(None)
        .map(|t| t.iter().filter(|t| t.state.is_active()).count())
        .unwrap_or(0);
    if running > 0 {
        let _ = writeln!(
            err,
            "its {running} running task(s) keep their containers; the new daemon reattaches them"
        );
    }
    // Not mid-call: restarting then repeats nothing and cuts nothing off.
    let mut said = None;
    loop {
        let busy = mid_tool_call(store, data);
        if busy.is_empty() {
            break;
        }
        let titles: Vec<String> = busy
            .iter()
            .map(|t| format!("{} ({})", t.task.title, t.task.id))
            .collect();
        let line = format!(
            "waiting for {} task(s) to finish their tool call: {} (ctrl-c gives up)",
            busy.len(),
            titles.join(", ")
        );
        if said.as_ref() != Some(&line) {
            let _ = writeln!(err, "{line}");
            said = Some(line);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let _ = write!(err, "restart the daemon with this drover now? [y/N] ");
    let _ = err.flush();
    let answer = tokio::task::spawn_blocking(|| {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).map(|_| line)
    })
    .await
    .map_err(|e| format!("reading the answer: {e}"))?
    .map_err(|e| format!("reading the answer: {e}"))?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(refused());
    }
    stop_old(data, pid).await?;
    let c = connect_or_start(data).await.map_err(|e| e.to_string())?;
    let _ = writeln!(err, "drover: the daemon restarted (pid {})", c.pid());
    Ok(c)
}
