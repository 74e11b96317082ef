//! `drover gc`: give back the disk of tasks that are done with. Workspaces (and stopped
//! containers) of pushed and discarded tasks older than a number of days go, and so do
//! workspace directories no task in the store owns, and environment snapshots no task
//! used for as long. Transcripts and the task records
//! stay: `drover logs` and `show` keep working.
//!
//! Tasks still in review, approved, failed or running are never touched.

use std::path::Path;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{CliResult, Failure, open_data};
use crate::paths::{disk_usage, mib};
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::runtime::Runtime;

pub(super) async fn gc(older_than_days: u64, dry_run: bool) -> CliResult {
    let (data, store) = open_data()?;
    let tasks = store.tasks(None).map_err(Failure::failed)?;
    let cutoff = OffsetDateTime::now_utc() - time::Duration::days(older_than_days as i64);
    let runtime = Runtime::connect().await.ok();
    let verb = if dry_run { "would remove" } else { "removed" };
    let mut freed = 0;
    let mut remove = |path: &Path, why: &str| -> Result<(), Failure> {
        let size = disk_usage(path);
        if !dry_run {
            crate::environment::layer::remove(path)
                .map_err(|e| Failure::failed(format!("removing {}: {e}", path.display())))?;
        }
        freed += size;
        outln!("{verb} {} ({}, {why})", path.display(), mib(size));
        Ok(())
    };
    for t in &tasks {
        let done = matches!(t.state, TaskState::Pushed | TaskState::Discarded);
        let old = OffsetDateTime::parse(&t.updated_at, &Rfc3339).is_ok_and(|at| at < cutoff);
        if !done || !old {
            continue;
        }
        let ws = data.workspace(&t.id);
        if ws.exists() {
            remove(&ws, &format!("task {} {}", t.id, t.state.name()))?;
        }
        let layer = data.env_layer(&t.id);
        if layer.exists() {
            remove(&layer, &format!("task {} {}", t.id, t.state.name()))?;
        }
        // Its egress proxies' socket directories (empty once the attempt ended).
        if !dry_run {
            let _ = std::fs::remove_dir_all(data.proxy_dir(&t.id));
            let _ = std::fs::remove_dir_all(data.setup_proxy_dir(&t.id));
        }
        if let (Some(rt), false) = (&runtime, dry_run) {
            rt.remove_task_containers(t.id.as_str())
                .await
                .map_err(Failure::failed)?;
        }
    }
    // Directories no task owns: left by a crash between creating and recording.
    let known: std::collections::HashSet<&TaskId> = tasks.iter().map(|t| &t.id).collect();
    for dir in ["workspaces", "envrw"] {
        let Ok(entries) = std::fs::read_dir(data.root().join(dir)) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let owned = TaskId::parse(&name).is_some_and(|id| known.contains(&id));
            if !owned && e.path().is_dir() {
                remove(&e.path(), "no task owns it")?;
            }
        }
    }
    if let Some(rt) = &runtime {
        freed += super::env::gc(rt, &data, older_than_days, dry_run).await;
    }
    eprintln!(
        "{verb} {} in all (pushed and discarded tasks, and snapshots unused, for {older_than_days} days)",
        mib(freed)
    );
    Ok(0)
}
