//! Following one pull request: its state, reviews, review comments (and which threads
//! are resolved), and the check runs and commit statuses of its head commit, asked as
//! cheaply as GitHub allows. Every REST read is conditional (`If-None-Match` with the
//! ETag of the last answer: a `304` is free), reviews and comments are read again only
//! when the pull request itself changed (a new comment or review changes it), and the
//! thread resolution (GraphQL only) is read only while there are comments.
//!
//! What GitHub says is someone else's text: bodies and summaries are redacted and cut
//! before they are kept. When to poll, and what a change means for the task, is
//! `engine::pr_watch`'s.

use std::collections::HashMap;

use serde_json::{Value, json};

use super::{Fetched, ForgeError, GitHub};
use crate::protocol::{
    Annotation, CheckFailure, Checks, PrState, PrStatus, ReviewComment, ReviewDecision,
};

/// Longest comment body, hunk or check summary kept.
const TEXT_MAX: usize = 2000;
/// Longest name (a check's, an author's, a path) kept.
const NAME_MAX: usize = 200;
/// Failing checks, and annotations per check, kept.
const LISTED_MAX: usize = 20;
/// Review threads kept (the newest).
const THREADS_MAX: usize = 50;
/// Polls between two looks at thread resolution while nothing else changed (GraphQL
/// has no conditional requests).
const THREADS_EVERY: u64 = 10;

/// Which pull request.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PrRef {
    pub owner: String,
    pub repo: String,
    pub number: u64,
}

impl PrRef {
    /// From the pull request's web address (`https://HOST/OWNER/REPO/pull/N`).
    pub fn from_url(url: &str) -> Option<PrRef> {
        let path = url.split_once("://")?.1.split_once('/')?.1;
        let parts: Vec<&str> = path.trim_end_matches('/').split('/').collect();
        let at = parts.iter().rposition(|p| *p == "pull")?;
        let (owner, repo) = (parts.get(at.checked_sub(2)?)?, parts.get(at - 1)?);
        Some(PrRef {
            owner: owner.to_string(),
            repo: repo.to_string(),
            number: parts.get(at + 1)?.parse().ok()?,
        })
    }
}

/// One endpoint's last answer and its ETag.
#[derive(Debug, Default, Clone)]
struct Cached {
    path: String,
    etag: Option<String>,
    body: Value,
}

impl Cached {
    /// Asks `path` again (conditionally when it is the same path); whether the answer
    /// changed.
    async fn refresh(
        &mut self,
        gh: &GitHub,
        path: String,
        count: &mut Counts,
    ) -> Result<bool, ForgeError> {
        if self.path != path {
            *self = Cached {
                path,
                ..Default::default()
            };
        }
        count.requests += 1;
        match gh.get_if(&self.path, self.etag.as_deref()).await? {
            Fetched::NotModified => {
                count.not_modified += 1;
                Ok(false)
            }
            Fetched::Fresh { etag, body } => {
                let changed = body != self.body;
                self.etag = etag;
                self.body = body;
                Ok(changed)
            }
            Fetched::Gone => Err(ForgeError::Rejected {
                status: 404,
                message: format!("{} is gone (deleted, or the token lost access)", self.path),
            }),
        }
    }
}

/// Requests made, and how many of them GitHub answered `304 Not Modified`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    pub not_modified: u64,
}

/// What following one pull request remembers between polls.
#[derive(Debug, Default)]
pub struct Follower {
    pull: Cached,
    reviews: Cached,
    comments: Cached,
    checks: Cached,
    status: Cached,
    /// Annotations of failing check runs, by check run id (a finished run's do not
    /// change).
    annotations: HashMap<u64, Vec<Annotation>>,
    /// Whether each thread is resolved, by its first comment's id.
    resolved: HashMap<u64, bool>,
    pub counts: Counts,
    polls: u64,
}

impl Follower {
    /// Asks GitHub what changed and returns the pull request as it is now (`updated_at`
    /// left for the caller).
    pub async fn poll(&mut self, gh: &GitHub, pr: &PrRef) -> Result<PrStatus, ForgeError> {
        let base = format!("/repos/{}/{}", pr.owner, pr.repo);
        let n = pr.number;
        let c = &mut self.counts;
        let pull_changed = self
            .pull
            .refresh(gh, format!("{base}/pulls/{n}"), c)
            .await?;
        let first = self.reviews.path.is_empty();
        let mut talk_changed = false;
        if pull_changed || first {
            let r = format!("{base}/pulls/{n}/reviews?per_page=100");
            talk_changed |= self.reviews.refresh(gh, r, c).await?;
            let m = format!("{base}/pulls/{n}/comments?per_page=100");
            talk_changed |= self.comments.refresh(gh, m, c).await?;
        }
        let head = self.pull.body["head"]["sha"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        if !head.is_empty() {
            let p = format!("{base}/commits/{head}/check-runs?per_page=100");
            self.checks.refresh(gh, p, c).await?;
            let p = format!("{base}/commits/{head}/status");
            self.status.refresh(gh, p, c).await?;
        }
        self.read_annotations(gh, &base).await?;
        // Resolving a thread changes no REST answer: asked whenever the talk changed,
        // and every few polls while a thread is open.
        self.polls += 1;
        let open_threads = self.resolved.values().any(|r| !r);
        let due = self.polls.is_multiple_of(THREADS_EVERY);
        let threads = top_level(&self.comments.body);
        if !threads.is_empty() && (talk_changed || first || (open_threads && due)) {
            // GraphQL has no conditional requests; an error leaves what was known.
            if let Ok(r) = resolved_threads(gh, pr).await {
                self.resolved = r;
            }
            self.counts.requests += 1;
        }
        Ok(self.status_now(head))
    }

    /// Reads the annotations of failing check runs not read yet.
    async fn read_annotations(&mut self, gh: &GitHub, base: &str) -> Result<(), ForgeError> {
        let runs = self.checks.body["check_runs"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        for run in runs.iter().filter(|r| run_failed(r)).take(LISTED_MAX) {
            let Some(id) = run["id"].as_u64() else {
                continue;
            };
            if self.annotations.contains_key(&id)
                || run["output"]["annotations_count"].as_u64() == Some(0)
            {
                continue;
            }
            self.counts.requests += 1;
            let path = format!("{base}/check-runs/{id}/annotations?per_page={LISTED_MAX}");
            let list = match gh.get_if(&path, None).await? {
                Fetched::Fresh { body, .. } => annotations(&body),
                _ => Vec::new(),
            };
            self.annotations.insert(id, list);
        }
        Ok(())
    }

    fn status_now(&self, head: String) -> PrStatus {
        let (review, changes_requested_by) = decision(&self.reviews.body);
        let mut comments = threads(&self.comments.body);
        for c in &mut comments {
            c.resolved = self.resolved.get(&c.id).copied().unwrap_or(false);
        }
        PrStatus {
            state: pr_state(&self.pull.body),
            head,
            review,
            changes_requested_by,
            checks: checks(&self.checks.body, &self.status.body, &self.annotations),
            requests: requests(&self.reviews.body),
            comments,
            updated_at: String::new(),
        }
    }
}

/// The pull request's state from its JSON.
pub fn pr_state(pull: &Value) -> PrState {
    if pull["merged"].as_bool() == Some(true) || !pull["merged_at"].is_null() {
        PrState::Merged
    } else if pull["state"] == "closed" {
        PrState::Closed
    } else if pull["draft"].as_bool() == Some(true) {
        PrState::Draft
    } else {
        PrState::Open
    }
}

/// The review decision from the reviews (oldest first), as GitHub decides it: each
/// reviewer's latest approving, requesting or dismissed review counts; comments alone
/// only say someone commented.
pub fn decision(reviews: &Value) -> (Option<ReviewDecision>, Vec<String>) {
    let mut latest: Vec<(String, String)> = Vec::new();
    let mut commented = false;
    for r in reviews.as_array().into_iter().flatten() {
        let who = r["user"]["login"].as_str().unwrap_or("someone").to_string();
        let state = r["state"].as_str().unwrap_or_default().to_string();
        match state.as_str() {
            "APPROVED" | "CHANGES_REQUESTED" | "DISMISSED" => {
                latest.retain(|(w, _)| *w != who);
                latest.push((who, state));
            }
            "COMMENTED" => commented = true,
            _ => {}
        }
    }
    let asking: Vec<String> = latest
        .iter()
        .filter(|(_, s)| s == "CHANGES_REQUESTED")
        .map(|(w, _)| w.clone())
        .collect();
    let d = if !asking.is_empty() {
        Some(ReviewDecision::ChangesRequested)
    } else if latest.iter().any(|(_, s)| s == "APPROVED") {
        Some(ReviewDecision::Approved)
    } else if commented {
        Some(ReviewDecision::Commented)
    } else {
        None
    };
    (d, asking)
}

/// What each reviewer whose latest decisive review asks for changes said in it (the
/// review's own text, beside its line comments).
pub fn requests(reviews: &Value) -> Vec<ReviewComment> {
    let mut latest: Vec<&Value> = Vec::new();
    for r in reviews.as_array().into_iter().flatten() {
        if matches!(
            r["state"].as_str(),
            Some("APPROVED" | "CHANGES_REQUESTED" | "DISMISSED")
        ) {
            latest.retain(|l| l["user"]["login"] != r["user"]["login"]);
            latest.push(r);
        }
    }
    latest
        .into_iter()
        .filter(|r| r["state"] == "CHANGES_REQUESTED")
        .filter(|r| r["body"].as_str().is_some_and(|b| !b.trim().is_empty()))
        .map(|r| ReviewComment {
            id: r["id"].as_u64().unwrap_or_default(),
            author: name(r["user"]["login"].as_str().unwrap_or("someone")),
            path: String::new(),
            line: None,
            body: kept(r["body"].as_str().unwrap_or_default()),
            hunk: String::new(),
            at: name(r["submitted_at"].as_str().unwrap_or_default()),
            resolved: false,
            member: member(r),
        })
        .collect()
}

fn kept(text: &str) -> String {
    crate::text::ellipsize(&crate::redact::redact(text), TEXT_MAX)
}

fn name(text: &str) -> String {
    crate::text::ellipsize(&crate::redact::redact(text), NAME_MAX)
}

/// Whether GitHub says the author belongs to the repository (their words may go to an
/// agent; a passer-by's on a public repository go only where the user reads them).
fn member(c: &Value) -> bool {
    matches!(
        c["author_association"].as_str(),
        Some("OWNER" | "MEMBER" | "COLLABORATOR")
    )
}

/// The review comments that start a thread.
fn top_level(comments: &Value) -> Vec<&Value> {
    comments
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["in_reply_to_id"].is_null())
        .collect()
}

/// One comment per thread (its first), the answers appended to its body.
pub fn threads(comments: &Value) -> Vec<ReviewComment> {
    let mut out: Vec<ReviewComment> = top_level(comments)
        .into_iter()
        .map(|c| ReviewComment {
            id: c["id"].as_u64().unwrap_or_default(),
            author: name(c["user"]["login"].as_str().unwrap_or("someone")),
            member: member(c),
            path: name(c["path"].as_str().unwrap_or_default()),
            line: c["line"].as_u64().and_then(|l| u32::try_from(l).ok()),
            body: kept(c["body"].as_str().unwrap_or_default()),
            hunk: kept(c["diff_hunk"].as_str().unwrap_or_default()),
            at: c["created_at"].as_str().unwrap_or_default().to_string(),
            resolved: false,
        })
        .collect();
    for reply in comments.as_array().into_iter().flatten() {
        let Some(to) = reply["in_reply_to_id"].as_u64() else {
            continue;
        };
        if let Some(t) = out.iter_mut().find(|t| t.id == to) {
            let who = reply["user"]["login"].as_str().unwrap_or("someone");
            let body = reply["body"].as_str().unwrap_or_default();
            t.body = kept(&format!("{}\n— {who}: {body}", t.body));
        }
    }
    // The newest threads, when there are too many to keep.
    let drop = out.len().saturating_sub(THREADS_MAX);
    out.drain(..drop);
    out
}

fn run_failed(run: &Value) -> bool {
    run["status"] == "completed"
        && !matches!(
            run["conclusion"].as_str(),
            Some("success" | "neutral" | "skipped")
        )
}

/// Check runs and commit statuses counted, the failures with what they said.
pub fn checks(runs: &Value, status: &Value, notes: &HashMap<u64, Vec<Annotation>>) -> Checks {
    let mut c = Checks::default();
    for run in runs["check_runs"].as_array().into_iter().flatten() {
        if run["status"] != "completed" {
            c.pending += 1;
        } else if run_failed(run) {
            c.failed += 1;
            let title = run["output"]["title"].as_str().unwrap_or_default();
            let summary = run["output"]["summary"].as_str().unwrap_or_default();
            let said = match (title.trim(), summary.trim()) {
                ("", s) | (s, "") => s.to_string(),
                (t, s) => format!("{t}: {s}"),
            };
            let id = run["id"].as_u64().unwrap_or_default();
            c.failures.push(CheckFailure {
                name: name(run["name"].as_str().unwrap_or("check")),
                conclusion: name(run["conclusion"].as_str().unwrap_or("failure")),
                summary: kept(&said),
                annotations: notes.get(&id).cloned().unwrap_or_default(),
                url: run["html_url"].as_str().map(name),
            });
        } else {
            c.passed += 1;
        }
    }
    // Runs past the first page are not known: they count as pending, never as passed.
    let listed = runs["check_runs"].as_array().map_or(0, Vec::len) as u64;
    let total = runs["total_count"].as_u64().unwrap_or(listed);
    c.pending += u32::try_from(total.saturating_sub(listed)).unwrap_or(u32::MAX);
    for s in status["statuses"].as_array().into_iter().flatten() {
        match s["state"].as_str() {
            Some("success") => c.passed += 1,
            Some("pending") => c.pending += 1,
            _ => {
                c.failed += 1;
                c.failures.push(CheckFailure {
                    name: name(s["context"].as_str().unwrap_or("status")),
                    conclusion: name(s["state"].as_str().unwrap_or("error")),
                    summary: kept(s["description"].as_str().unwrap_or_default()),
                    annotations: Vec::new(),
                    url: s["target_url"].as_str().map(name),
                });
            }
        }
    }
    c.failures.truncate(LISTED_MAX);
    c
}

/// A check run's annotations.
fn annotations(list: &Value) -> Vec<Annotation> {
    list.as_array()
        .into_iter()
        .flatten()
        .take(LISTED_MAX)
        .map(|a| Annotation {
            path: name(a["path"].as_str().unwrap_or_default()),
            line: a["start_line"]
                .as_u64()
                .and_then(|l| u32::try_from(l).ok())
                .unwrap_or(0),
            level: name(a["annotation_level"].as_str().unwrap_or("failure")),
            message: kept(a["message"].as_str().unwrap_or_default()),
        })
        .collect()
}

const THREADS: &str = "query($owner: String!, $repo: String!, $number: Int!) {
  repository(owner: $owner, name: $repo) {
    pullRequest(number: $number) {
      reviewThreads(first: 100) {
        nodes { isResolved comments(first: 1) { nodes { databaseId } } }
      }
    }
  }
}";

/// Which threads are resolved, by their first comment's id (GraphQL: REST does not say).
async fn resolved_threads(gh: &GitHub, pr: &PrRef) -> Result<HashMap<u64, bool>, ForgeError> {
    let vars = json!({"owner": pr.owner, "repo": pr.repo, "number": pr.number});
    let data = gh.graphql(THREADS, vars).await?;
    let nodes = &data["repository"]["pullRequest"]["reviewThreads"]["nodes"];
    Ok(nodes
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            let id = t["comments"]["nodes"][0]["databaseId"].as_u64()?;
            Some((id, t["isResolved"].as_bool().unwrap_or(false)))
        })
        .collect())
}

/// Comments on the pull request (its conversation, not a line).
pub async fn comment(gh: &GitHub, pr: &PrRef, body: &str) -> Result<(), ForgeError> {
    let path = format!(
        "/repos/{}/{}/issues/{}/comments",
        pr.owner, pr.repo, pr.number
    );
    gh.post(&path, &json!({"body": crate::redact::redact(body)}))
        .await
        .map(|_| ())
}

/// Asks `reviewers` to review again.
pub async fn request_review(
    gh: &GitHub,
    pr: &PrRef,
    reviewers: &[String],
) -> Result<(), ForgeError> {
    if reviewers.is_empty() {
        return Ok(());
    }
    let path = format!(
        "/repos/{}/{}/pulls/{}/requested_reviewers",
        pr.owner, pr.repo, pr.number
    );
    gh.post(&path, &json!({"reviewers": reviewers}))
        .await
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_request_addresses() {
        let r = PrRef::from_url("https://github.com/ana/shop/pull/7").unwrap();
        assert_eq!(
            (r.owner.as_str(), r.repo.as_str(), r.number),
            ("ana", "shop", 7)
        );
        assert!(PrRef::from_url("https://ghe.example/org/tool/pull/12/").is_some());
        assert_eq!(
            PrRef::from_url("https://github.com/ana/shop/issues/7"),
            None
        );
        assert_eq!(PrRef::from_url("https://github.com/pull/7"), None);
    }

    #[test]
    fn states_decisions_threads_and_checks_read_as_github_sends_them() {
        assert_eq!(
            pr_state(&json!({"state": "open", "draft": true})),
            PrState::Draft
        );
        assert_eq!(
            pr_state(&json!({"state": "closed", "merged": false, "merged_at": null})),
            PrState::Closed
        );
        assert_eq!(
            pr_state(&json!({"state": "closed", "merged": true})),
            PrState::Merged
        );
        let reviews = json!([
            {"user": {"login": "bob"}, "state": "CHANGES_REQUESTED"},
            {"user": {"login": "eve"}, "state": "APPROVED"},
            {"user": {"login": "bob"}, "state": "COMMENTED"},
        ]);
        assert_eq!(
            decision(&reviews),
            (
                Some(ReviewDecision::ChangesRequested),
                vec!["bob".to_string()]
            )
        );
        let later = json!([
            {"user": {"login": "bob"}, "state": "CHANGES_REQUESTED"},
            {"user": {"login": "bob"}, "state": "APPROVED"},
        ]);
        assert_eq!(decision(&later), (Some(ReviewDecision::Approved), vec![]));
        assert!(requests(&later).is_empty(), "approved since: nothing asked");
        let asked = json!([
            {"id": 5, "user": {"login": "bob"}, "state": "CHANGES_REQUESTED", "body": "use Decimal for money", "author_association": "MEMBER"},
            {"id": 6, "user": {"login": "zed"}, "state": "CHANGES_REQUESTED", "body": "", "author_association": "NONE"},
        ]);
        let r = requests(&asked);
        assert_eq!(r.len(), 1, "an empty body asks nothing beyond its comments");
        assert_eq!(
            (r[0].author.as_str(), r[0].body.as_str(), r[0].member),
            ("bob", "use Decimal for money", true)
        );
        let comments = json!([
            {"id": 10, "user": {"login": "bob"}, "path": "calc.py", "line": 2,
             "body": "floats? token ghp_abcdefghijklmnopqrstuvwxyz0123456789",
             "diff_hunk": "@@ -1 +1 @@", "created_at": "2026-12-01T10:00:00Z"},
            {"id": 11, "in_reply_to_id": 10, "user": {"login": "ana"}, "body": "on it"},
        ]);
        let t = threads(&comments);
        assert_eq!(t.len(), 1);
        assert_eq!((t[0].path.as_str(), t[0].line), ("calc.py", Some(2)));
        assert!(t[0].body.ends_with("\n— ana: on it"), "{}", t[0].body);
        assert!(
            !t[0].body.contains("ghp_abcdefghij"),
            "redacted: {}",
            t[0].body
        );
        let runs = json!({"check_runs": [
            {"id": 1, "name": "test", "status": "completed", "conclusion": "success"},
            {"id": 2, "name": "lint", "status": "completed", "conclusion": "failure",
             "output": {"title": "1 error", "summary": "E501"}, "html_url": "https://ci/2"},
            {"id": 3, "name": "build", "status": "in_progress", "conclusion": null},
        ]});
        let status = json!({"statuses": [{"context": "ci/legacy", "state": "error", "description": "boom"}]});
        let notes = HashMap::from([(
            2,
            vec![Annotation {
                path: "calc.py".into(),
                line: 2,
                level: "failure".into(),
                message: "E501".into(),
            }],
        )]);
        let c = checks(&runs, &status, &notes);
        assert_eq!((c.passed, c.failed, c.pending), (1, 2, 1));
        assert_eq!(c.failures[0].summary, "1 error: E501");
        assert_eq!(c.failures[0].annotations.len(), 1);
        assert_eq!(c.failures[1].name, "ci/legacy");
    }
}
