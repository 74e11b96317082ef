//! A local server that speaks GitHub's REST API (and the one GraphQL query drover makes)
//! for the calls a pull request's life takes, with GitHub's behaviour where drover
//! depends on it: pull requests whose head follows the branch in a real bare repository,
//! `422` for a second pull request of one head, reviews, review comments and threads,
//! check runs with annotations, commit statuses, issue comments, review requests; weak
//! ETags with `304 Not Modified` (which, as on GitHub, do not count against the rate
//! limit), `x-ratelimit-*` headers, and a rate limit that can be used up (`403` with
//! `retry-after`). The test plays the other people: reviewers, CI, the one who merges.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use serde_json::{Value, json};

/// One request as the server saw it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub status: u16,
    pub body: Value,
    pub at: std::time::Instant,
}

#[derive(Default)]
struct State {
    pulls: Vec<Value>,
    reviews: HashMap<u64, Vec<Value>>,
    review_comments: HashMap<u64, Vec<Value>>,
    issue_comments: HashMap<u64, Vec<Value>>,
    check_runs: HashMap<String, Vec<Value>>,
    statuses: HashMap<String, Vec<Value>>,
    annotations: HashMap<u64, Vec<Value>>,
    resolved: HashMap<u64, bool>,
    seen: Vec<Seen>,
    next_id: u64,
    remaining: u64,
    /// Answers `403` with `retry-after` to this many requests.
    limited: u32,
}

#[derive(Clone)]
pub struct FakeGitHub {
    state: Arc<Mutex<State>>,
    /// The bare repository the pull requests' branches live in.
    bare: PathBuf,
    pub url: String,
    pub owner: String,
    pub repo: String,
}

const LIMIT: u64 = 5000;

impl FakeGitHub {
    /// Serves `owner/repo` on 127.0.0.1, its branches those of `bare`.
    pub fn start(bare: PathBuf, owner: &str, repo: &str) -> FakeGitHub {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let gh = FakeGitHub {
            state: Arc::new(Mutex::new(State {
                next_id: 1000,
                remaining: LIMIT,
                ..Default::default()
            })),
            bare,
            url,
            owner: owner.into(),
            repo: repo.into(),
        };
        let server = gh.clone();
        std::thread::spawn(move || {
            for sock in listener.incoming().flatten() {
                let s = server.clone();
                std::thread::spawn(move || s.serve(sock));
            }
        });
        gh
    }

    pub fn requests(&self) -> Vec<Seen> {
        self.state.lock().unwrap().seen.clone()
    }

    pub fn pulls(&self) -> Vec<Value> {
        let s = self.state.lock().unwrap();
        s.pulls.iter().map(|p| self.pull_json(p)).collect()
    }

    pub fn issue_comments(&self, n: u64) -> Vec<Value> {
        self.state
            .lock()
            .unwrap()
            .issue_comments
            .get(&n)
            .cloned()
            .unwrap_or_default()
    }

    /// The reviewers asked to review `n` now.
    pub fn requested_reviewers(&self, n: u64) -> Vec<String> {
        let s = self.state.lock().unwrap();
        let p = s.pulls.iter().find(|p| p["number"] == n).unwrap();
        p["requested_reviewers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["login"].as_str().unwrap().to_string())
            .collect()
    }

    /// The branch's commit in the bare repository (a pull request's head follows it).
    pub fn rev(&self, branch: &str) -> String {
        let out = Command::new("git")
            .args(["rev-parse", &format!("refs/heads/{branch}")])
            .current_dir(&self.bare)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    fn id(s: &mut State) -> u64 {
        s.next_id += 1;
        s.next_id
    }

    /// A check run on `sha`: `conclusion` `None` is one still running.
    pub fn check_run(
        &self,
        sha: &str,
        name: &str,
        conclusion: Option<&str>,
        title: &str,
        annotations: &[(&str, u32, &str)],
    ) -> u64 {
        let mut s = self.state.lock().unwrap();
        let id = Self::id(&mut s);
        let notes: Vec<Value> = annotations
            .iter()
            .map(|(path, line, msg)| json!({"path": path, "start_line": line, "end_line": line, "start_column": null, "end_column": null, "annotation_level": "failure", "title": "", "message": msg, "raw_details": null, "blob_href": ""}))
            .collect();
        let run = json!({
            "id": id, "head_sha": sha, "node_id": format!("CR_{id}"), "external_id": "",
            "url": format!("{}/repos/{}/{}/check-runs/{id}", self.url, self.owner, self.repo),
            "html_url": format!("https://github.test/{}/{}/runs/{id}", self.owner, self.repo),
            "details_url": null,
            "status": if conclusion.is_some() { "completed" } else { "in_progress" },
            "conclusion": conclusion,
            "started_at": "2026-12-01T10:00:00Z", "completed_at": conclusion.map(|_| "2026-12-01T10:01:00Z"),
            "output": {"title": title, "summary": format!("{name}: {title}"), "text": null, "annotations_count": notes.len(), "annotations_url": ""},
            "name": name, "check_suite": {"id": 1}, "app": {"slug": "ci"}, "pull_requests": [],
        });
        s.annotations.insert(id, notes);
        let runs = s.check_runs.entry(sha.to_string()).or_default();
        runs.retain(|r| r["name"] != name);
        runs.push(run);
        id
    }

    /// A commit status on `sha` (`state`: success, pending, failure, error).
    pub fn status(&self, sha: &str, context: &str, state: &str, description: &str) {
        let mut s = self.state.lock().unwrap();
        let id = Self::id(&mut s);
        let list = s.statuses.entry(sha.to_string()).or_default();
        list.retain(|x| x["context"] != context);
        list.push(json!({"id": id, "state": state, "context": context, "description": description, "target_url": "https://ci.test/1", "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z"}));
    }

    /// A review by `user` (`APPROVED`, `CHANGES_REQUESTED`, `COMMENTED`).
    pub fn review(&self, n: u64, user: &str, state: &str, body: &str) {
        let mut s = self.state.lock().unwrap();
        let id = Self::id(&mut s);
        let commit = self.head_of(&s, n);
        s.reviews.entry(n).or_default().push(json!({"id": id, "user": {"login": user, "type": "User"}, "body": body, "state": state, "commit_id": commit, "submitted_at": "2026-12-01T10:02:00Z", "author_association": "MEMBER"}));
        // A review answers a review request.
        if let Some(p) = s.pulls.iter_mut().find(|p| p["number"] == n) {
            p["requested_reviewers"]
                .as_array_mut()
                .unwrap()
                .retain(|r| r["login"] != user);
        }
        self.touch(&mut s, n);
    }

    /// A review comment on `path:line` of `n`'s diff; its id.
    pub fn review_comment(
        &self,
        n: u64,
        user: &str,
        path: &str,
        line: u32,
        body: &str,
        hunk: &str,
    ) -> u64 {
        let mut s = self.state.lock().unwrap();
        let id = Self::id(&mut s);
        let commit = self.head_of(&s, n);
        s.review_comments.entry(n).or_default().push(json!({
            "id": id, "pull_request_review_id": null, "diff_hunk": hunk, "path": path,
            "commit_id": commit, "original_commit_id": commit, "user": {"login": user, "type": "User"},
            "body": body, "created_at": "2026-12-01T10:03:00Z", "updated_at": "2026-12-01T10:03:00Z",
            "line": line, "original_line": line, "side": "RIGHT", "start_line": null,
            "author_association": "MEMBER",
        }));
        s.resolved.insert(id, false);
        self.touch(&mut s, n);
        id
    }

    pub fn resolve(&self, comment: u64) {
        self.state.lock().unwrap().resolved.insert(comment, true);
    }

    /// Merges `n` as GitHub's merge button does (a merge commit on the base in the bare
    /// repository).
    pub fn merge(&self, n: u64) {
        let (head, base) = {
            let s = self.state.lock().unwrap();
            let p = s.pulls.iter().find(|p| p["number"] == n).unwrap();
            (
                p["head"]["ref"].as_str().unwrap().to_string(),
                p["base"]["ref"].as_str().unwrap().to_string(),
            )
        };
        let tree = Command::new("git")
            .args(["rev-parse", &format!("refs/heads/{head}^{{tree}}")])
            .current_dir(&self.bare)
            .output()
            .unwrap();
        let tree = String::from_utf8_lossy(&tree.stdout).trim().to_string();
        let (b, h) = (self.rev(&base), self.rev(&head));
        let c = Command::new("git")
            .args([
                "-c",
                "user.name=GitHub",
                "-c",
                "user.email=noreply@github.test",
                "commit-tree",
                &tree,
                "-p",
                &b,
                "-p",
                &h,
                "-m",
                &format!("Merge pull request #{n}"),
            ])
            .current_dir(&self.bare)
            .output()
            .unwrap();
        let c = String::from_utf8_lossy(&c.stdout).trim().to_string();
        assert!(
            Command::new("git")
                .args(["update-ref", &format!("refs/heads/{base}"), &c])
                .current_dir(&self.bare)
                .status()
                .unwrap()
                .success()
        );
        let mut s = self.state.lock().unwrap();
        if let Some(p) = s.pulls.iter_mut().find(|p| p["number"] == n) {
            p["state"] = json!("closed");
            p["merged"] = json!(true);
            p["merged_at"] = json!("2026-12-01T11:00:00Z");
            p["merge_commit_sha"] = json!(c);
        }
        self.touch(&mut s, n);
    }

    /// The next `n` requests are refused for the rate limit.
    pub fn limit_next(&self, n: u32) {
        self.state.lock().unwrap().limited = n;
    }

    fn head_of(&self, s: &State, n: u64) -> String {
        let p = s.pulls.iter().find(|p| p["number"] == n).unwrap();
        self.rev(p["head"]["ref"].as_str().unwrap())
    }

    /// Something happened on `n`: its `updated_at` moves (as on GitHub).
    fn touch(&self, s: &mut State, n: u64) {
        let tick = Self::id(s);
        if let Some(p) = s.pulls.iter_mut().find(|p| p["number"] == n) {
            p["updated_at"] = json!(format!("2026-12-01T12:00:00.{tick}Z"));
        }
    }

    /// The pull request as the API shows it: its head where the branch is now.
    fn pull_json(&self, p: &Value) -> Value {
        let mut p = p.clone();
        let sha = self.rev(p["head"]["ref"].as_str().unwrap());
        p["head"]["sha"] = json!(sha);
        p
    }

    fn serve(&self, sock: TcpStream) {
        let mut r = BufReader::new(sock.try_clone().unwrap());
        let mut line = String::new();
        if r.read_line(&mut line).is_err() || line.is_empty() {
            return;
        }
        let mut parts = line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_string();
        let path = parts.next().unwrap_or_default().to_string();
        let mut headers: HashMap<String, String> = HashMap::new();
        loop {
            let mut h = String::new();
            if r.read_line(&mut h).is_err() || h.trim().is_empty() {
                break;
            }
            if let Some((k, v)) = h.split_once(':') {
                headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
            }
        }
        let len: usize = headers
            .get("content-length")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut body = vec![0u8; len];
        let _ = r.read_exact(&mut body);
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let authed = headers
            .get("authorization")
            .is_some_and(|a| a.starts_with("Bearer "));
        let (status, answer, extra) =
            self.answer(&method, &path, &body, headers.get("if-none-match"), authed);
        let mut sock = sock;
        let text = if status == 304 {
            String::new()
        } else {
            answer.to_string()
        };
        let reason = match status {
            200 => "OK",
            201 => "Created",
            304 => "Not Modified",
            403 => "Forbidden",
            404 => "Not Found",
            422 => "Unprocessable Entity",
            _ => "Other",
        };
        let mut head = format!(
            "HTTP/1.1 {status} {reason}\r\ncontent-type: application/json; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\nx-github-api-version-selected: 2022-11-28\r\n",
            text.len()
        );
        for (k, v) in extra {
            head.push_str(&format!("{k}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let _ = sock.write_all(head.as_bytes());
        let _ = sock.write_all(text.as_bytes());
        let _ = sock.flush();
    }

    fn answer(
        &self,
        method: &str,
        path: &str,
        body: &Value,
        if_none: Option<&String>,
        authed: bool,
    ) -> (u16, Value, Vec<(String, String)>) {
        let mut s = self.state.lock().unwrap();
        let reset = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        let mut extra = vec![
            ("x-ratelimit-limit".to_string(), LIMIT.to_string()),
            ("x-ratelimit-reset".to_string(), reset.to_string()),
            ("x-ratelimit-resource".to_string(), "core".to_string()),
        ];
        let record = |s: &mut State, status: u16| {
            s.seen.push(Seen {
                method: method.into(),
                path: path.into(),
                status,
                body: body.clone(),
                at: std::time::Instant::now(),
            });
        };
        if s.limited > 0 {
            s.limited -= 1;
            extra.push(("retry-after".into(), "2".into()));
            extra.push(("x-ratelimit-remaining".into(), "0".into()));
            record(&mut s, 403);
            return (
                403,
                json!({"message": "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.", "documentation_url": "https://docs.github.com/rest"}),
                extra,
            );
        }
        let (status, answer) = if !authed {
            (401, json!({"message": "Requires authentication"}))
        } else {
            self.route(&mut s, method, path, body)
        };
        // Weak ETags of the content, as GitHub sends for GETs; a match is a free 304.
        if method == "GET" && status == 200 {
            let tag = format!("W/\"{:016x}\"", fxhash(&answer.to_string()));
            if if_none == Some(&tag) {
                extra.push(("x-ratelimit-remaining".into(), s.remaining.to_string()));
                extra.push(("etag".into(), tag));
                record(&mut s, 304);
                return (304, Value::Null, extra);
            }
            extra.push(("etag".into(), tag));
        }
        s.remaining = s.remaining.saturating_sub(1);
        extra.push(("x-ratelimit-remaining".into(), s.remaining.to_string()));
        extra.push(("x-ratelimit-used".into(), (LIMIT - s.remaining).to_string()));
        record(&mut s, status);
        (status, answer, extra)
    }

    fn route(&self, s: &mut State, method: &str, path: &str, body: &Value) -> (u16, Value) {
        let (route, query) = path.split_once('?').unwrap_or((path, ""));
        if route == "/graphql" && method == "POST" {
            let n = body["variables"]["number"].as_u64().unwrap_or(0);
            let nodes: Vec<Value> = s
                .review_comments
                .get(&n)
                .into_iter()
                .flatten()
                .filter(|c| c["in_reply_to_id"].is_null())
                .map(|c| {
                    let id = c["id"].as_u64().unwrap();
                    json!({"isResolved": s.resolved.get(&id).copied().unwrap_or(false), "comments": {"nodes": [{"databaseId": id}]}})
                })
                .collect();
            return (
                200,
                json!({"data": {"repository": {"pullRequest": {"reviewThreads": {"nodes": nodes}}}}}),
            );
        }
        let prefix = format!("/repos/{}/{}/", self.owner, self.repo);
        let Some(rest) = route.strip_prefix(&prefix) else {
            return (404, json!({"message": "Not Found"}));
        };
        let seg: Vec<&str> = rest.split('/').collect();
        let number = |i: usize| seg.get(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
        let missing = (
            404,
            json!({"message": "Not Found", "documentation_url": "https://docs.github.com/rest"}),
        );
        match (method, seg.as_slice()) {
            ("POST", ["pulls"]) => {
                let head = body["head"].as_str().unwrap_or_default();
                if s.pulls
                    .iter()
                    .any(|p| p["head"]["ref"] == head && p["state"] == "open")
                {
                    return (
                        422,
                        json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "code": "custom", "message": format!("A pull request already exists for {}:{head}.", self.owner)}], "documentation_url": "https://docs.github.com/rest/pulls/pulls#create-a-pull-request", "status": "422"}),
                    );
                }
                if self.rev(head).is_empty() {
                    return (
                        422,
                        json!({"message": "Validation Failed", "errors": [{"resource": "PullRequest", "field": "head", "code": "invalid"}]}),
                    );
                }
                let n = s.pulls.len() as u64 + 1;
                let p = json!({
                    "id": 9000 + n, "number": n, "state": "open", "locked": false,
                    "title": body["title"], "body": body["body"], "draft": body["draft"].as_bool().unwrap_or(false),
                    "user": {"login": "drover-user"},
                    "html_url": format!("https://github.test/{}/{}/pull/{n}", self.owner, self.repo),
                    "url": format!("{}/repos/{}/{}/pulls/{n}", self.url, self.owner, self.repo),
                    "head": {"ref": head, "label": format!("{}:{head}", self.owner)},
                    "base": {"ref": body["base"]},
                    "merged": false, "merged_at": null, "mergeable": null,
                    "requested_reviewers": [], "created_at": "2026-12-01T10:00:00Z", "updated_at": "2026-12-01T10:00:00Z",
                });
                s.pulls.push(p.clone());
                (201, self.pull_json(&p))
            }
            ("GET", ["pulls"]) => {
                let head = query
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("head="))
                    .and_then(|h| h.split_once(':'))
                    .map(|(_, b)| b.to_string());
                let list: Vec<Value> = s
                    .pulls
                    .iter()
                    .filter(|p| {
                        head.as_deref().is_none_or(|h| p["head"]["ref"] == h)
                            && p["state"] == "open"
                    })
                    .map(|p| self.pull_json(p))
                    .collect();
                (200, json!(list))
            }
            ("GET", ["pulls", _]) => match s.pulls.iter().find(|p| p["number"] == number(1)) {
                Some(p) => (200, self.pull_json(p)),
                None => missing,
            },
            ("GET", ["pulls", _, "reviews"]) => (
                200,
                json!(s.reviews.get(&number(1)).cloned().unwrap_or_default()),
            ),
            ("GET", ["pulls", _, "comments"]) => (
                200,
                json!(
                    s.review_comments
                        .get(&number(1))
                        .cloned()
                        .unwrap_or_default()
                ),
            ),
            ("POST", ["pulls", _, "requested_reviewers"]) => {
                let n = number(1);
                let Some(p) = s.pulls.iter_mut().find(|p| p["number"] == n) else {
                    return missing;
                };
                for r in body["reviewers"].as_array().into_iter().flatten() {
                    p["requested_reviewers"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"login": r}));
                }
                let p = p.clone();
                self.touch(s, n);
                (201, self.pull_json(&p))
            }
            ("POST", ["issues", _, "comments"]) => {
                let n = number(1);
                if !s.pulls.iter().any(|p| p["number"] == n) {
                    return missing;
                }
                let id = Self::id(s);
                let c = json!({"id": id, "body": body["body"], "user": {"login": "drover-user"}, "created_at": "2026-12-01T12:00:00Z"});
                s.issue_comments.entry(n).or_default().push(c.clone());
                self.touch(s, n);
                (201, c)
            }
            ("GET", ["commits", sha, "check-runs"]) => {
                let runs = s.check_runs.get(*sha).cloned().unwrap_or_default();
                (200, json!({"total_count": runs.len(), "check_runs": runs}))
            }
            ("GET", ["commits", sha, "status"]) => {
                let list = s.statuses.get(*sha).cloned().unwrap_or_default();
                let state = if list
                    .iter()
                    .any(|x| x["state"] == "failure" || x["state"] == "error")
                {
                    "failure"
                } else if list.iter().all(|x| x["state"] == "success") && !list.is_empty() {
                    "success"
                } else {
                    "pending"
                };
                (
                    200,
                    json!({"state": state, "sha": sha, "total_count": list.len(), "statuses": list}),
                )
            }
            ("GET", ["check-runs", _, "annotations"]) => (
                200,
                json!(s.annotations.get(&number(1)).cloned().unwrap_or_default()),
            ),
            _ => missing,
        }
    }
}

/// FNV-1a: a stable hash for ETags.
fn fxhash(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100_0000_01b3);
    }
    h
}
