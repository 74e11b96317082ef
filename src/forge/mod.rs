//! GitHub, over its REST API: open a pull request for a pushed branch (find-or-create,
//! draft by default), follow it (`follow`: its state, reviews, comments and checks, asked
//! conditionally), comment on it and ask its reviewers again, and read issues to import
//! as tasks. drover never merges, approves or reviews.
//!
//! Owner and repository come from the remote URL (https and ssh forms) unless configured;
//! the API base is configurable (GitHub Enterprise: `https://HOST/api/v3`).

pub mod follow;
mod github;
pub mod hidden;
pub mod issue;

pub use github::{Fetched, ForgeError, GitHub, NewPullRequest, PullRequest};
pub use issue::Issue;

/// `(owner, repo)` from a GitHub-style remote URL, if it is one.
pub fn owner_repo(url: &str) -> Option<(String, String)> {
    let url = url.trim().trim_end_matches('/');
    let path = if let Some(rest) = url.strip_prefix("git@") {
        rest.split_once(':')?.1
    } else if let Some((_, rest)) = url.split_once("://") {
        rest.split_once('/')?.1
    } else {
        return None;
    };
    let path = path.strip_suffix(".git").unwrap_or(path);
    let mut parts = path.rsplitn(2, '/');
    let repo = parts.next()?.to_string();
    let owner = parts.next()?.rsplit('/').next()?.to_string();
    (!owner.is_empty() && !repo.is_empty()).then_some((owner, repo))
}

/// The token for GitHub: the configured variable, `GITHUB_TOKEN`, `GH_TOKEN`, then
/// `gh auth token` if the GitHub CLI is logged in.
pub fn token(token_env: Option<&str>) -> Option<String> {
    let from_env = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    token_env
        .and_then(from_env)
        .or_else(|| from_env("GITHUB_TOKEN"))
        .or_else(|| from_env("GH_TOKEN"))
        .or_else(|| {
            let out = std::process::Command::new("gh")
                .args(["auth", "token"])
                .stderr(std::process::Stdio::null())
                .output()
                .ok()?;
            let t = String::from_utf8_lossy(&out.stdout).trim().to_string();
            (out.status.success() && !t.is_empty()).then_some(t)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remote_urls() {
        let or = |u| owner_repo(u).map(|(o, r)| format!("{o}/{r}"));
        assert_eq!(
            or("https://github.com/ana/shop.git").as_deref(),
            Some("ana/shop")
        );
        assert_eq!(
            or("https://github.com/ana/shop").as_deref(),
            Some("ana/shop")
        );
        assert_eq!(
            or("git@github.com:ana/shop.git").as_deref(),
            Some("ana/shop")
        );
        assert_eq!(
            or("ssh://git@github.example.com/org/tool.git").as_deref(),
            Some("org/tool")
        );
        assert_eq!(or("/srv/git/shop.git"), None);
        assert_eq!(or("https://github.com/justowner"), None);
    }
}
