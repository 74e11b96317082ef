//! The upgrade offer, on the terminal before the TUI opens: the daemon that answers is
//! another drover version's, so say so and offer to restart it, once no task is in the
//! middle of a tool call (waiting for that, visibly). Scripts get the reason as an error
//! instead; they never restart a daemon on their own.

use std::io::Write;
use std::time::Duration;

use super::Failure;
use crate::daemon::client::Client;
use crate::daemon::spawn::connect_or_start;
use crate::daemon::upgrade::{mid_tool_call, stop_old};
use crate::paths::DataDir;
use crate::store::Store;

/// Asks whether to restart the daemon `pid`; the new daemon's client when yes.
pub async fn offer(
    data: &DataDir,
    store: &Store,
    pid: u32,
    reason: &str,
) -> Result<Client, Failure> {
    let refused = || {
        Failure::usage(format!(
            "{reason}\nthe daemon was left running; `drover daemon stop` stops it"
        ))
    };
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
    .map_err(|e| Failure::failed(format!("reading the answer: {e}")))?
    .map_err(|e| Failure::failed(format!("reading the answer: {e}")))?;
    if !matches!(answer.trim(), "y" | "Y" | "yes") {
        return Err(refused());
    }
    stop_old(data, pid).await.map_err(Failure::failed)?;
    let c = connect_or_start(data).await.map_err(Failure::failed)?;
    let _ = writeln!(err, "drover: the daemon restarted (pid {})", c.pid);
    Ok(c)
}
