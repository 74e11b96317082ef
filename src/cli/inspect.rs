//! Read-only views of the store: `list`, `show`, `logs`, `diff`.
//!
//! Facts come from the store and drover's own git state, never from what an agent
//! claimed: `branch_exists` is read from drover's repository and the user's; a diff is a
//! fresh snapshot of the workspace's files (read as data, never as a repository).

use std::path::PathBuf;

use serde_json::json;

use super::print::{entry_text, json_line};
use super::{CliResult, Failure, open_data};
use crate::protocol::TaskState;
use crate::protocol::{AttemptRecord, TaskRecord};
use crate::store::read_transcript;
use crate::text::{ellipsize, inert};
use crate::workspace;

pub(super) fn list(json: bool, all: bool, repo: PathBuf) -> CliResult {
    let (_, store) = open_data()?;
    // Inside a repository: its tasks; elsewhere (or --all): everyone's.
    let scope = if all {
        None
    } else {
        workspace::resolve_head(&repo).ok().map(|h| h.root)
    };
    let tasks: Vec<TaskRecord> = store
        .tasks(scope.as_deref())
        .map_err(Failure::failed)?
        .into_iter()
        .filter(|t| all || t.state != TaskState::Discarded)
        .collect();
    if json {
        for t in &tasks {
            let a = store.attempt(&t.id, t.attempt).map_err(Failure::failed)?;
            outln!("{}", json_line(&summary_json(t, &a)));
        }
        return Ok(0);
    }
    if tasks.is_empty() {
        eprintln!(
            "no tasks{}",
            scope
                .map(|r| format!(" in {}", r.display()))
                .unwrap_or_default()
        );
        return Ok(0);
    }
    // Every repository's tasks: which one each is of, by its directory's name.
    let repo_name = |t: &TaskRecord| {
        let name = t.repo.file_name().map_or_else(
            || t.repo.display().to_string(),
            |n| n.to_string_lossy().into_owned(),
        );
        inert(&ellipsize(&name, 20))
    };
    let repo_w = match scope {
        Some(_) => 0,
        None => tasks
            .iter()
            .map(|t| repo_name(t).chars().count())
            .max()
            .unwrap_or(0)
            .max(4),
    };
    let repo_col = |name: &str| match repo_w {
        0 => String::new(),
        w => format!("{name:<w$}  "),
    };
    outln!(
        "{:<10}  {}{:<12}  {:>3}  {:>11}  {:<9}  TITLE",
        "ID",
        repo_col("REPO"),
        "STATE",
        "#",
        "DIFF",
        "TESTS"
    );
    for t in &tasks {
        let a = store.attempt(&t.id, t.attempt).map_err(Failure::failed)?;
        let diff = a
            .diff
            .as_ref()
            .map(|d| format!("+{} -{}", d.insertions, d.deletions))
            .unwrap_or_default();
        let tests = a.tests.as_ref().map(|r| r.verdict.label()).unwrap_or("");
        outln!(
            "{:<10}  {}{:<12}  {:>3}  {:>11}  {:<9}  {}",
            t.id,
            repo_col(&repo_name(t)),
            t.state.name(),
            t.attempt,
            diff,
            tests,
            inert(&ellipsize(&t.title, 60))
        );
    }
    Ok(0)
}

fn summary_json(t: &TaskRecord, a: &AttemptRecord) -> serde_json::Value {
    json!({
        "id": t.id,
        "title": t.title,
        "state": t.state.name(),
        "reason": t.state.reason(),
        "attempt": t.attempt,
        "repo": t.repo,
        "branch": t.branch,
        "diff": a.diff.as_ref().map(|d| json!({"files": d.files.len(), "insertions": d.insertions, "deletions": d.deletions})),
        "tests": a.tests.as_ref().map(|r| r.verdict),
    })
}

pub(super) fn show(prefix: &str, as_json: bool) -> CliResult {
    let (data, store) = open_data()?;
    let t = store.find(prefix).map_err(Failure::usage)?;
    let a = store.attempt(&t.id, t.attempt).map_err(Failure::failed)?;
    let git = t.git(&data);
    let ws = git.workspace.clone();
    let ws_exists = ws.is_dir();
    let in_repo = workspace::branch_exists(&t.repo, &t.branch);
    let branch_exists = in_repo || workspace::branch_exists(&git.store, &t.branch);
    let v = json!({
        "id": t.id,
        "title": t.title,
        "prompt": t.prompt,
        "state": t.state.name(),
        "reason": t.state.reason(),
        "attempt": t.attempt,
        "agent": t.agent.label(),
        "repo": t.repo,
        "branch": t.branch,
        "branch_exists": branch_exists,
        "branch_in_repo": in_repo,
        "base_commit": t.base_commit,
        "base_ref": t.base_ref,
        "workspace": ws_exists.then_some(&ws),
        "container": a.container,
        "image": a.image,
        "environment": a.environment,
        "blocked_count": a.blocked_count,
        "blocked": a.blocked,
        "diff": a.diff.as_ref().map(|d| json!({
            "files": d.files.len(),
            "insertions": d.insertions,
            "deletions": d.deletions,
            "changes": d.files,
            "ignored": d.ignored,
            "unrecorded": d.unrecorded,
        })),
        "tests": a.tests.as_ref().map(|r| json!({
            "command": r.command,
            "exit_code": r.exit_code,
            "passed": r.passed,
            "failed": r.failed,
            "verdict": r.verdict,
            "duration_ms": r.duration_ms,
            "note": r.note,
            "tree": r.tree,
            "changed": r.changed,
            "skipped": r.skipped,
            "failures": r.failures,
            "new_failures": r.new_failures,
            "base": r.base,
        })),
        "summary": a.summary,
        "feedback": a.feedback,
        "approved_commit": a.approved_commit,
        "pr": a.pr_number.map(|n| json!({"number": n, "url": a.pr_url, "status": a.pr_status})),
        "issue": t.origin.as_ref().map(|o| json!({
            "reference": o.reference.to_string(),
            "url": o.url,
            "removed": (!o.removed.is_empty()).then(|| o.removed.to_string()),
        })),
        "started_at": a.started_at,
        "finished_at": a.finished_at,
        "group": super::group::json(&store, &t),
        "created_at": t.created_at,
        "updated_at": t.updated_at,
    });
    if as_json {
        outln!(
            "{}",
            serde_json::to_string_pretty(&v).map_err(Failure::failed)?
        );
        return Ok(0);
    }
    outln!("task      {}  {}", t.id, inert(&t.title));
    outln!("state     {}", inert(&t.state.to_string()));
    for l in super::group::lines(&store, &t) {
        outln!("{l}");
    }
    outln!("attempt   {}", t.attempt);
    outln!("agent     {}", t.agent.label());
    outln!("repo      {}", t.repo.display());
    if let Some(o) = &t.origin {
        outln!("issue     {} {}", o.reference, inert(&o.url));
        if !o.removed.is_empty() {
            outln!("hidden    {} removed before the agent saw it", o.removed);
        }
    }
    outln!(
        "branch    {}{}",
        t.branch,
        match (in_repo, branch_exists) {
            (true, _) => "",
            (false, true) => "  (in drover's record; in your repository once approved)",
            (false, false) => "  (does not exist)",
        }
    );
    outln!(
        "base      {} ({})",
        &t.base_commit[..t.base_commit.len().min(12)],
        t.base_ref.as_deref().unwrap_or("detached")
    );
    if ws_exists {
        outln!("workspace {}", ws.display());
    }
    if let Some(c) = &a.container {
        outln!(
            "container {} ({})",
            crate::runtime::short_id(c),
            a.image.as_deref().unwrap_or("?")
        );
    }
    if let Some(d) = &a.diff {
        outln!("diff      {}", d.stat_line());
        for i in &d.ignored {
            let what = if i.dir {
                format!("{} files, ", i.files)
            } else {
                String::new()
            };
            outln!(
                "ignored   {} ({what}{} bytes; not in the diff)",
                inert(&i.path),
                i.bytes
            );
        }
        for u in &d.unrecorded {
            outln!("unrecorded {}: {}", inert(&u.path), inert(&u.why));
        }
    }
    if let Some(r) = &a.tests {
        outln!(
            "tests     {} — {}",
            r.summary(),
            r.command.as_deref().unwrap_or("no command")
        );
        if let Some(b) = &r.base {
            outln!("base      {}", b.counted());
        }
        if let Some(new) = r.new_failures.as_ref().filter(|n| !n.is_empty()) {
            let more = match new.len().saturating_sub(10) {
                0 => String::new(),
                n => format!(" and {n} more"),
            };
            outln!(
                "new       {}{more}",
                inert(&new[..new.len().min(10)].join(", "))
            );
        }
    }
    outln!(
        "pushed    {}",
        match (&t.state, &a.pr_url) {
            (TaskState::Pushed, Some(url)) => format!("yes: {} ({})", t.branch, inert(url)),
            (TaskState::Pushed, None) => format!("yes: {}", t.branch),
            _ => "no".to_string(),
        }
    );
    if let Some(s) = &a.summary {
        outln!("agent says {}", inert(s));
    }
    outln!("\n{}", inert(&t.prompt));
    Ok(0)
}

pub(super) fn logs(prefix: &str, attempt: Option<u32>, as_json: bool) -> CliResult {
    let (data, store) = open_data()?;
    let t = store.find(prefix).map_err(Failure::usage)?;
    let n = attempt.unwrap_or(t.attempt);
    if n == 0 || n > t.attempt {
        return Err(Failure::usage(format!(
            "task {} has attempts 1..={}",
            t.id, t.attempt
        )));
    }
    let path = data.transcript(&t.id, n);
    let (entries, warnings) =
        read_transcript(&path).map_err(|e| Failure::failed(format!("{}: {e}", path.display())))?;
    for w in warnings {
        eprintln!("warning: {w}");
    }
    for e in &entries {
        if as_json {
            outln!("{}", json_line(e));
        } else {
            outln!("{}", entry_text(e, None));
        }
    }
    if !as_json && entries.is_empty() {
        eprintln!("no transcript yet for task {} attempt {n}", t.id);
    }
    Ok(0)
}

pub(super) fn diff(prefix: &str, stat: bool) -> CliResult {
    let (data, store) = open_data()?;
    let t = store.find(prefix).map_err(Failure::usage)?;
    let git = t.git(&data);
    let (summary, patch) = if git.workspace.is_dir() {
        // Read only: the engine owns the task's stat cache.
        let d = workspace::diff(&git, workspace::SnapshotOptions::default())
            .map_err(Failure::failed)?;
        (Some(d.summary), d.patch)
    } else {
        // Discarded: the diff saved at the end of the attempt.
        let p = data.attempt_dir(&t.id, t.attempt).join("diff.patch");
        let a = store.attempt(&t.id, t.attempt).map_err(Failure::failed)?;
        (a.diff, std::fs::read_to_string(&p).unwrap_or_default())
    };
    if stat {
        if let Some(s) = summary {
            for f in &s.files {
                let change = if f.binary {
                    format!("binary ({} → {} bytes)", f.old_size, f.new_size)
                } else {
                    format!("+{} -{}", f.insertions, f.deletions)
                };
                let name = match &f.old_path {
                    Some(old) => format!("{old} → {}", f.path),
                    None => f.path.clone(),
                };
                outln!("{:<10} {:<24} {}", f.status, change, inert(&name));
            }
            outln!("{}", s.stat_line());
        }
    } else {
        out!("{}", inert(&patch));
    }
    Ok(0)
}
