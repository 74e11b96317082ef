//! The pull request for a pushed task: find or open it on GitHub, with a description
//! made from the task, the agent's summary, the files, the tests and the cost.
//!
//! Pushing the branch is `push`; the HTTP calls are `forge::GitHub`.

use super::EngineCtx;
use crate::config::Config;
use crate::protocol::EventBody;
use crate::protocol::{AttemptRecord, TaskRecord};

/// `owner/name` on GitHub: configured, else parsed from the remote URL.
pub(super) fn github_repo(config: &Config, remote_url: &str) -> Option<(String, String)> {
    let configured = config
        .forge
        .repo
        .as_deref()
        .and_then(|r| r.split_once('/'))
        .map(|(o, n)| (o.to_string(), n.to_string()));
    configured.or_else(|| crate::forge::owner_repo(remote_url))
}

/// Finds or opens the pull request for a pushed task. `None` when there is no GitHub
/// repository or token to do it with (said as a notice).
pub(super) async fn open(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    remote_url: &str,
    token: Option<String>,
) -> Result<Option<crate::forge::PullRequest>, String> {
    let attempt = ctx
        .store
        .attempt(&task.id, task.attempt)
        .map_err(|e| e.to_string())?;
    if let (Some(number), Some(url)) = (attempt.pr_number, attempt.pr_url.clone()) {
        return Ok(Some(crate::forge::PullRequest { number, url }));
    }
    // Said now, and kept on the attempt (Info shows why there is no pull request).
    let note = |m: String| {
        let kept = m.clone();
        let _ = ctx.update_attempt(&task.id, task.attempt, |a| a.pr_note = Some(kept));
        ctx.bus.emit(
            Some(&task.id),
            task.attempt,
            EventBody::Notice { message: m },
        )
    };
    let Some((owner, repo)) = github_repo(config, remote_url) else {
        note(format!(
            "no pull request: {remote_url} is not a GitHub remote (set [forge] repo = \"owner/name\" if it is one)"
        ));
        return Ok(None);
    };
    let Some(token) = token else {
        note(
            "no pull request: no GitHub token (set GITHUB_TOKEN or GH_TOKEN, or log in with gh)"
                .into(),
        );
        return Ok(None);
    };
    let base = task.base_ref.clone().ok_or(
        "the task started from a detached HEAD: there is no base branch for a pull request",
    )?;
    let body = body(task, &attempt, &owner, &repo);
    let gh =
        crate::forge::GitHub::new(&config.forge.api_url, Some(token)).map_err(|e| e.to_string())?;
    let pr = crate::forge::NewPullRequest {
        owner: &owner,
        repo: &repo,
        head: &task.branch,
        base: &base,
        title: &task.title,
        body: &body,
        draft: config.forge.draft,
    };
    let pr = gh.find_or_create(&pr).await.map_err(|e| e.to_string())?;
    crate::crash::point("after_pr_post");
    Ok(Some(pr))
}

/// After a follow-up's push updated the pull request: a comment saying what changed
/// (what it addressed, what the agent did, the tests), and the reviewers who asked for
/// changes asked again. What to say of it (failures do not fail the push: the branch
/// is out).
pub(super) async fn updated(
    ctx: &EngineCtx,
    task: &TaskRecord,
    config: &Config,
    pr: &crate::forge::PullRequest,
    token: Option<String>,
) -> String {
    let n = pr.number;
    let Some(r) = crate::forge::follow::PrRef::from_url(&pr.url) else {
        return format!("pull request #{n} updated (its address is not one drover can comment on)");
    };
    let Ok(attempt) = ctx.store.attempt(&task.id, task.attempt) else {
        return format!("pull request #{n} updated");
    };
    let gh = match crate::forge::GitHub::new(&config.forge.api_url, token) {
        Ok(g) => g,
        Err(e) => return format!("pull request #{n} updated; no comment: {e}"),
    };
    let body = update_comment(task, &attempt);
    let commented = crate::forge::follow::comment(&gh, &r, &body).await;
    let asked = attempt
        .pr_status
        .as_ref()
        .map(|s| s.changes_requested_by.clone())
        .unwrap_or_default();
    let requested = crate::forge::follow::request_review(&gh, &r, &asked).await;
    let mut said = format!("pull request #{n} updated");
    match commented {
        Ok(()) => said.push_str(", with a comment saying what changed"),
        Err(e) => said.push_str(&format!("; the comment failed: {e}")),
    }
    match (requested, asked.is_empty()) {
        (_, true) => {}
        (Ok(()), false) => said.push_str(&format!("; review asked again of {}", asked.join(", "))),
        (Err(e), false) => said.push_str(&format!("; asking for review again failed: {e}")),
    }
    said
}

/// The comment on a pull request a follow-up updated: what it addressed (the review
/// comments and checks the pull request showed, by place and name: never the user's own
/// feedback, which was written for the agent, not for the pull request's readers), what
/// the agent says it did, the tests.
fn update_comment(task: &TaskRecord, a: &AttemptRecord) -> String {
    let mut b = format!(
        "Addressed review in attempt {} of task `{}`",
        task.attempt, task.id
    );
    if let Some(c) = &a.approved_commit {
        b.push_str(&format!(" ({})", &c[..c.len().min(12)]));
    }
    b.push_str(".\n");
    if let Some(s) = &a.pr_status {
        let comments: Vec<String> = s
            .waiting()
            .iter()
            .map(|c| match c.line {
                Some(l) => format!("- `{}:{l}` ({})", c.path, c.author),
                None => format!("- `{}` ({})", c.path, c.author),
            })
            .collect();
        let checks: Vec<String> = s
            .checks
            .failures
            .iter()
            .map(|f| format!("- {} ({})", f.name, f.conclusion))
            .collect();
        if !comments.is_empty() || !checks.is_empty() {
            b.push_str("\n### What it was asked to address\n\n");
            for l in comments.iter().chain(&checks) {
                b.push_str(l);
                b.push('\n');
            }
        }
    }
    if let Some(s) = &a.summary {
        let s = crate::text::ellipsize(s.trim(), 4000);
        b.push_str(&format!("\n### What the agent did\n\n{s}\n"));
    }
    if let Some(t) = &a.tests {
        b.push_str(&format!(
            "\n### Tests\n\n{} — `{}`\n",
            t.summary(),
            t.command.as_deref().unwrap_or("no test command")
        ));
    }
    crate::redact::redact(&b).into_owned()
}

/// The pull request's description: the task, what the agent says it did, the files, the
/// tests, the cost. Secrets are redacted.
fn body(task: &TaskRecord, a: &AttemptRecord, owner: &str, repo: &str) -> String {
    let mut b = format!("{}\n", task.prompt.trim());
    if let Some(s) = &a.summary {
        b.push_str(&format!("\n### What the agent did\n\n{}\n", s.trim()));
    }
    if let Some(d) = &a.diff {
        b.push_str("\n### Files changed\n\n| file | + | − |\n|---|---:|---:|\n");
        for f in &d.files {
            let (plus, minus) = if f.binary {
                ("bin".to_string(), "bin".to_string())
            } else {
                (f.insertions.to_string(), f.deletions.to_string())
            };
            b.push_str(&format!("| `{}` | {plus} | {minus} |\n", f.path));
        }
    }
    if let Some(t) = &a.tests {
        b.push_str(&format!(
            "\n### Tests\n\n{} — `{}`\n",
            t.summary(),
            t.command.as_deref().unwrap_or("no test command")
        ));
        if a.tests_overridden {
            b.push_str("\n**Approved although the tests did not pass.**\n");
        }
    }
    if a.blocked_count > 0 {
        b.push_str(&format!(
            "\n### Network\n\nThe egress policy blocked {} request(s) during the run:\n\n",
            a.blocked_count
        ));
        for l in &a.blocked {
            b.push_str(&format!("- `{}`\n", l.replace('`', "'")));
        }
        if a.blocked_count > a.blocked.len() as u64 {
            b.push_str("- …\n");
        }
    }
    b.push_str(&format!("\nAttempt {} of task `{}`", task.attempt, task.id));
    if let Some(u) = &a.usage {
        b.push_str(&format!(" · {} tokens", u.input_tokens + u.output_tokens));
        if let Some(c) = u.cost_usd {
            b.push_str(&format!(" · ${c:.2}"));
        }
    }
    b.push_str(". Opened by drover; review before merging.\n");
    if let Some(o) = &task.origin {
        let r = &o.reference;
        // Merging here should not close another repository's issue: that one is only named.
        if r.owner.eq_ignore_ascii_case(owner) && r.repo.eq_ignore_ascii_case(repo) {
            b.push_str(&format!("\nCloses #{}\n", r.number));
        } else {
            b.push_str(&format!("\nFrom {r}\n"));
        }
    }
    crate::redact::redact(&b).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::AgentSpec;
    use crate::protocol::TaskId;
    use crate::protocol::TaskState;
    use crate::protocol::{IssueOrigin, IssueRef};

    fn task(origin: Option<IssueOrigin>) -> TaskRecord {
        TaskRecord {
            id: TaskId::random(),
            repo: "/r".into(),
            repo_hash: "h".into(),
            title: "Fix total".into(),
            prompt: "GitHub issue ana/shop#12: Fix total".into(),
            agent: AgentSpec::Builtin { provider: None },
            base_commit: "c".into(),
            base_ref: Some("main".into()),
            branch: "drover/abcdefghij-fix-total".into(),
            state: TaskState::Approved,
            attempt: 1,
            created_at: String::new(),
            updated_at: String::new(),
            origin,
            group: None,
        }
    }

    fn from(owner: &str, repo: &str) -> Option<IssueOrigin> {
        Some(IssueOrigin {
            reference: IssueRef {
                owner: owner.into(),
                repo: repo.into(),
                number: 12,
            },
            url: String::new(),
            removed: Default::default(),
        })
    }

    #[test]
    fn the_pull_request_closes_its_issue_only_in_the_same_repository() {
        let a = AttemptRecord::default();
        assert!(body(&task(from("Ana", "shop")), &a, "ana", "shop").ends_with("\nCloses #12\n"));
        let other = body(&task(from("org", "tool")), &a, "ana", "shop");
        assert!(other.ends_with("\nFrom org/tool#12\n") && !other.contains("Closes"));
        assert!(!body(&task(None), &a, "ana", "shop").contains("#12\n"));
    }

    #[test]
    fn blocked_requests_are_named_in_the_pull_request() {
        let quiet = body(&task(None), &AttemptRecord::default(), "ana", "shop");
        assert!(!quiet.contains("### Network"), "{quiet}");
        let a = AttemptRecord {
            blocked_count: 5,
            blocked: vec!["CONNECT evil.example:443 (not on the allowlist)".into()],
            ..Default::default()
        };
        let b = body(&task(None), &a, "ana", "shop");
        assert!(
            b.contains("The egress policy blocked 5 request(s) during the run:\n\n- `CONNECT evil.example:443 (not on the allowlist)`\n- …\n"),
            "{b}"
        );
    }
}
