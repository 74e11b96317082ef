//! The GitHub REST calls drover makes: create a pull request, or find the open one for a
//! branch. With the headers GitHub requires, `retry-after` honoured on 403/429, a short
//! backoff on 5xx.

use std::time::Duration;

use serde_json::{Value, json};

use super::issue::Issue;
use crate::protocol::IssueRef;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PullRequest {
    pub number: u64,
    pub url: String,
}

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ForgeError {
    #[error("GitHub refused the token (HTTP {status}): {message}")]
    Auth { status: u16, message: String },
    #[error("GitHub rejected the pull request (HTTP {status}): {message}")]
    Rejected { status: u16, message: String },
    #[error("GitHub is unavailable: {0}")]
    Unavailable(String),
    /// The rate limit is used up (or GitHub asked to slow down): nothing before `wait`.
    #[error("GitHub's rate limit: wait {} s", wait.as_secs())]
    Limited { wait: Duration },
}

/// What a conditional GET found.
#[derive(Debug, Clone, PartialEq)]
pub enum Fetched {
    /// `304`: the same as when `etag` was given (free: it does not count against the
    /// rate limit).
    NotModified,
    Fresh {
        etag: Option<String>,
        body: Value,
    },
    /// `404`/`410`: not there (a deleted repository or pull request).
    Gone,
}

/// What a pull request is made of.
#[derive(Debug, Clone, Copy)]
pub struct NewPullRequest<'a> {
    pub owner: &'a str,
    pub repo: &'a str,
    /// The branch with the changes.
    pub head: &'a str,
    /// The branch to merge into.
    pub base: &'a str,
    pub title: &'a str,
    pub body: &'a str,
    pub draft: bool,
}

pub struct GitHub {
    api: String,
    /// Public issues can be read without one.
    token: Option<String>,
    client: reqwest::Client,
}

fn message(body: &str) -> String {
    serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|v| {
            let mut m = v["message"].as_str()?.to_string();
            if let Some(errs) = v["errors"].as_array() {
                for e in errs {
                    if let Some(x) = e["message"].as_str() {
                        m.push_str(&format!("; {x}"));
                    }
                }
            }
            Some(m)
        })
        .unwrap_or_else(|| crate::text::ellipsize(body.trim(), 200))
}

/// Most of an answer a poll reads: a pull request's JSON is a few KiB, 100 comments a
/// few hundred; more is not an answer drover can use.
const ANSWER_MAX: usize = 8 << 20;

/// The body of `resp`, refused past `ANSWER_MAX` bytes.
async fn capped_text(mut resp: reqwest::Response) -> Result<String, ForgeError> {
    let mut body = Vec::new();
    while let Some(chunk) = resp
        .chunk()
        .await
        .map_err(|e| ForgeError::Unavailable(e.to_string()))?
    {
        body.extend_from_slice(&chunk);
        if body.len() > ANSWER_MAX {
            return Err(ForgeError::Unavailable(format!(
                "an answer over {} MiB",
                ANSWER_MAX >> 20
            )));
        }
    }
    Ok(String::from_utf8_lossy(&body).into_owned())
}

/// With the rate limit used up (`x-ratelimit-remaining: 0`), how long until
/// `x-ratelimit-reset` (epoch seconds).
fn rate_limit_reset(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |name: &str| h.get(name)?.to_str().ok()?.trim().parse::<u64>().ok();
    if get("x-ratelimit-remaining")? != 0 {
        return None;
    }
    let reset = get("x-ratelimit-reset")?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?
        .as_secs();
    // A second of slack: the reset is when the window ends, not when the next one starts.
    Some(Duration::from_secs(reset.saturating_sub(now) + 1))
}

/// For a refused classic token: the scopes the endpoint wanted that the token lacks.
fn missing_scopes(h: &reqwest::header::HeaderMap) -> Option<String> {
    let list = |name: &str| -> Option<Vec<String>> {
        let v = h.get(name)?.to_str().ok()?;
        Some(
            v.split(',')
                .map(|s| s.trim().to_string())
                .filter(|s| !s.is_empty())
                .collect(),
        )
    };
    let has = list("x-oauth-scopes")?;
    let wanted = list("x-accepted-oauth-scopes")?;
    if wanted.is_empty() || wanted.iter().any(|w| has.contains(w)) {
        return None;
    }
    Some(format!(
        "the token needs the {} scope (it has: {})",
        wanted.join(" or "),
        if has.is_empty() {
            "none".to_string()
        } else {
            has.join(", ")
        }
    ))
}

impl GitHub {
    pub fn new(api: &str, token: Option<String>) -> Result<Self, ForgeError> {
        let client = reqwest::Client::builder()
            .user_agent(concat!("drover/", env!("CARGO_PKG_VERSION")))
            .timeout(Duration::from_secs(30))
            .build()
            .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
        Ok(GitHub {
            api: api.trim_end_matches('/').to_string(),
            token,
            client,
        })
    }

    /// One request with GitHub's headers; retries rate limits and outages a few times.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<&Value>,
    ) -> Result<(u16, String), ForgeError> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut req = self
                .client
                .request(method.clone(), format!("{}{path}", self.api))
                .header("Accept", "application/vnd.github+json")
                .header("X-GitHub-Api-Version", "2022-11-28");
            if let Some(token) = &self.token {
                req = req.bearer_auth(token);
            }
            if let Some(b) = body {
                req = req.json(b);
            }
            let resp = req
                .send()
                .await
                .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
            let status = resp.status().as_u16();
            let retry_after = resp
                .headers()
                .get("retry-after")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.parse::<u64>().ok());
            let scopes = missing_scopes(resp.headers());
            let reset_in = rate_limit_reset(resp.headers());
            let text = resp.text().await.unwrap_or_default();
            let limited =
                status == 429 || (status == 403 && (retry_after.is_some() || reset_in.is_some()));
            if limited
                && let Some(wait) = retry_after.map(Duration::from_secs).or(reset_in)
                && wait > Duration::from_secs(60)
            {
                // Not worth holding the push for: say when to try again.
                return Err(ForgeError::Unavailable(format!(
                    "GitHub's rate limit for this token resets in {} min; push again then",
                    wait.as_secs().div_ceil(60)
                )));
            }
            if attempt < 4 && (limited || status >= 500) {
                let wait = retry_after
                    .map(Duration::from_secs)
                    .or(reset_in)
                    .unwrap_or(Duration::from_millis(500 << attempt));
                tokio::time::sleep(wait).await;
                continue;
            }
            return match status {
                200..=299 => Ok((status, text)),
                401 | 403 => Err(ForgeError::Auth {
                    status,
                    message: match scopes {
                        Some(hint) => format!("{}; {hint}", message(&text)),
                        None => message(&text),
                    },
                }),
                500..=599 => Err(ForgeError::Unavailable(format!(
                    "HTTP {status}: {}",
                    message(&text)
                ))),
                _ => Ok((status, text)),
            };
        }
    }

    /// One GET, asked with `If-None-Match: etag` when there is one; never waits or
    /// retries (a poller decides when to ask again): a rate limit is `Limited`.
    pub async fn get_if(&self, path: &str, etag: Option<&str>) -> Result<Fetched, ForgeError> {
        let mut req = self
            .client
            .get(format!("{}{path}", self.api))
            .header("Accept", "application/vnd.github+json")
            .header("X-GitHub-Api-Version", "2022-11-28");
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(e) = etag {
            req = req.header("If-None-Match", e);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
        self.fetched(resp).await
    }

    /// A POST to GitHub's GraphQL endpoint (beside the REST one: `/graphql` for
    /// api.github.com, `/api/graphql` for an Enterprise Server's `/api/v3`).
    pub async fn graphql(&self, query: &str, variables: Value) -> Result<Value, ForgeError> {
        let url = match self.api.strip_suffix("/v3") {
            Some(server) => format!("{server}/graphql"),
            None => format!("{}/graphql", self.api),
        };
        let mut req = self
            .client
            .post(url)
            .json(&json!({"query": query, "variables": variables}));
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| ForgeError::Unavailable(e.to_string()))?;
        match self.fetched(resp).await? {
            Fetched::Fresh { body, .. } => match body["errors"].as_array() {
                Some(errs) if !errs.is_empty() => Err(ForgeError::Rejected {
                    status: 200,
                    message: message(&json!({"message": errs[0]["message"]}).to_string()),
                }),
                _ => Ok(body["data"].clone()),
            },
            other => Err(ForgeError::Unavailable(format!(
                "GraphQL answered {other:?}"
            ))),
        }
    }

    /// A POST of `body` to `path`; the answer's JSON.
    pub async fn post(&self, path: &str, body: &Value) -> Result<Value, ForgeError> {
        let (status, text) = self.call(reqwest::Method::POST, path, Some(body)).await?;
        if !(200..300).contains(&status) {
            return Err(ForgeError::Rejected {
                status,
                message: message(&text),
            });
        }
        serde_json::from_str(&text)
            .map_err(|e| ForgeError::Unavailable(format!("unreadable answer: {e}")))
    }

    /// A response read as a poller wants it: rate limits and outages as errors.
    async fn fetched(&self, resp: reqwest::Response) -> Result<Fetched, ForgeError> {
        let status = resp.status().as_u16();
        let h = resp.headers();
        let retry_after = h
            .get("retry-after")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        let reset_in = rate_limit_reset(h);
        let etag = h
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(String::from);
        let scopes = missing_scopes(h);
        if status == 304 {
            return Ok(Fetched::NotModified);
        }
        let text = capped_text(resp).await?;
        let limited =
            status == 429 || (status == 403 && (retry_after.is_some() || reset_in.is_some()));
        if limited {
            // Whatever a header says, at most an hour (GitHub's window).
            let wait = retry_after
                .map(Duration::from_secs)
                .or(reset_in)
                .unwrap_or(Duration::from_secs(60))
                .min(Duration::from_secs(3600));
            return Err(ForgeError::Limited { wait });
        }
        match status {
            200..=299 => serde_json::from_str(&text)
                .map(|body| Fetched::Fresh { etag, body })
                .map_err(|e| ForgeError::Unavailable(format!("unreadable answer: {e}"))),
            404 | 410 => Ok(Fetched::Gone),
            401 | 403 => Err(ForgeError::Auth {
                status,
                message: match scopes {
                    Some(hint) => format!("{}; {hint}", message(&text)),
                    None => message(&text),
                },
            }),
            _ => Err(ForgeError::Unavailable(format!(
                "HTTP {status}: {}",
                message(&text)
            ))),
        }
    }

    /// The issue `r`; a pull request (GitHub lists them as issues too) is refused.
    pub async fn issue(&self, r: &IssueRef) -> Result<Issue, ForgeError> {
        let path = format!("/repos/{}/{}/issues/{}", r.owner, r.repo, r.number);
        let (status, text) = self.call(reqwest::Method::GET, &path, None).await?;
        if status == 404 || status == 410 {
            return Err(ForgeError::Rejected {
                status,
                message: format!(
                    "issue {r} does not exist{}",
                    if self.token.is_some() {
                        " or the token cannot see that repository"
                    } else {
                        " or is private (no GitHub token: set GITHUB_TOKEN or GH_TOKEN)"
                    }
                ),
            });
        }
        if status != 200 {
            return Err(ForgeError::Rejected {
                status,
                message: message(&text),
            });
        }
        let v: Value = serde_json::from_str(&text)
            .map_err(|e| ForgeError::Unavailable(format!("unreadable answer: {e}")))?;
        if !v["pull_request"].is_null() {
            return Err(ForgeError::Rejected {
                status,
                message: format!("{r} is a pull request, not an issue: drover imports issues"),
            });
        }
        let labels = v["labels"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|l| l["name"].as_str().or_else(|| l.as_str()))
                    .map(String::from)
                    .collect()
            })
            .unwrap_or_default();
        Ok(Issue {
            reference: r.clone(),
            title: v["title"].as_str().unwrap_or_default().to_string(),
            body: v["body"].as_str().unwrap_or_default().to_string(),
            labels,
            url: v["html_url"].as_str().unwrap_or_default().to_string(),
        })
    }

    /// Opens the pull request, or returns the open one for its head branch.
    pub async fn find_or_create(&self, pr: &NewPullRequest<'_>) -> Result<PullRequest, ForgeError> {
        let NewPullRequest {
            owner,
            repo,
            head,
            base,
            title,
            body,
            draft,
        } = *pr;
        let payload =
            json!({"title": title, "head": head, "base": base, "body": body, "draft": draft});
        let (status, text) = self
            .call(
                reqwest::Method::POST,
                &format!("/repos/{owner}/{repo}/pulls"),
                Some(&payload),
            )
            .await?;
        let parse = |v: &Value| {
            Some(PullRequest {
                number: v["number"].as_u64()?,
                url: v["html_url"].as_str()?.to_string(),
            })
        };
        if status == 201 {
            let v: Value = serde_json::from_str(&text)
                .map_err(|e| ForgeError::Unavailable(format!("unreadable answer: {e}")))?;
            return parse(&v).ok_or_else(|| {
                ForgeError::Unavailable("the answer has no pull request number".into())
            });
        }
        if status == 422 && text.contains("already exists") {
            let path = format!("/repos/{owner}/{repo}/pulls?head={owner}:{head}&state=open");
            let (_, list) = self.call(reqwest::Method::GET, &path, None).await?;
            let v: Value = serde_json::from_str(&list)
                .map_err(|e| ForgeError::Unavailable(format!("unreadable answer: {e}")))?;
            if let Some(pr) = v.as_array().and_then(|a| a.first()).and_then(parse) {
                return Ok(pr);
            }
        }
        Err(ForgeError::Rejected {
            status,
            message: message(&text),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::{HeaderMap, HeaderValue};

    #[test]
    fn a_token_without_the_needed_scope_is_named() {
        let mut h = HeaderMap::new();
        h.insert("x-oauth-scopes", HeaderValue::from_static("read:org, gist"));
        h.insert("x-accepted-oauth-scopes", HeaderValue::from_static("repo"));
        assert_eq!(
            missing_scopes(&h).as_deref(),
            Some("the token needs the repo scope (it has: read:org, gist)")
        );
        h.insert("x-oauth-scopes", HeaderValue::from_static("repo, gist"));
        assert_eq!(missing_scopes(&h), None);
        // Fine-grained tokens send no scope headers: nothing to say.
        assert_eq!(missing_scopes(&HeaderMap::new()), None);
    }

    #[test]
    fn a_used_up_rate_limit_waits_for_its_reset() {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let mut h = HeaderMap::new();
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("0"));
        h.insert(
            "x-ratelimit-reset",
            HeaderValue::from_str(&(now + 30).to_string()).unwrap(),
        );
        let wait = rate_limit_reset(&h).unwrap().as_secs();
        assert!((30..=31).contains(&wait), "{wait}");
        h.insert("x-ratelimit-remaining", HeaderValue::from_static("12"));
        assert_eq!(rate_limit_reset(&h), None, "not used up: no wait");
    }
}
