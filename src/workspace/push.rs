//! Pushing a task branch from the user's repository to their remote, with git2.
//!
//! Only branches under the configured prefix; never forced: if the remote branch is at a
//! commit that ours does not build on, nothing is pushed and the caller is told both
//! commits. Credentials come from the host (ssh-agent, a token given in the callback,
//! the credential helper), never in a URL or argv; libgit2 would ask forever, so tries
//! are capped. Rejections arrive per ref (`push_update_reference`), not as errors.

use std::cell::Cell;
use std::path::Path;

use git2::{Cred, CredentialType, Direction, Oid, PushOptions, RemoteCallbacks, Repository};

#[derive(Debug, thiserror::Error, PartialEq)]
pub enum PushError {
    #[error("refusing to push {branch}: only branches under {prefix} are pushed")]
    OutsidePrefix { branch: String, prefix: String },
    #[error("no remote named {0} in your repository")]
    NoRemote(String),
    #[error(
        "remote moved: {branch} is at {found} on the remote, expected {expected}; nothing was pushed"
    )]
    RemoteMoved {
        branch: String,
        expected: String,
        found: String,
    },
    #[error("the remote rejected {branch}: {message}")]
    Rejected { branch: String, message: String },
    #[error("{0}")]
    Git(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pushed {
    pub commit: String,
    /// The remote already had exactly this commit (nothing was sent).
    pub already: bool,
    pub remote_url: String,
}

fn git(e: git2::Error) -> PushError {
    PushError::Git(e.message().to_string())
}

fn callbacks<'a>(token: Option<&'a str>, tries: &'a Cell<u32>) -> RemoteCallbacks<'a> {
    let mut cb = RemoteCallbacks::new();
    cb.credentials(move |url, username, allowed| {
        tries.set(tries.get() + 1);
        if tries.get() > 3 {
            return Err(git2::Error::from_str(
                "authentication failed (tried ssh-agent, token and credential helper)",
            ));
        }
        if allowed.contains(CredentialType::SSH_KEY) {
            return Cred::ssh_key_from_agent(username.unwrap_or("git"));
        }
        if allowed.contains(CredentialType::USER_PASS_PLAINTEXT) {
            if let Some(t) = token {
                return Cred::userpass_plaintext("x-access-token", t);
            }
            let config = git2::Config::open_default()?;
            return Cred::credential_helper(&config, url, username);
        }
        Cred::default()
    });
    cb
}

/// Where a push to `remote` goes: its `pushurl` when it has one (fetching may come from
/// elsewhere, a read-only mirror say), as `git push` does.
fn where_pushed(repo: &Repository, remote: &str) -> Result<String, PushError> {
    let named = repo
        .find_remote(remote)
        .map_err(|_| PushError::NoRemote(remote.into()))?;
    Ok(match named.pushurl() {
        Ok(Some(u)) => u.to_string(),
        _ => named.url().unwrap_or_default().to_string(),
    })
}

/// Where a push of `user_repo` to `remote` goes.
pub fn push_url(user_repo: &Path, remote: &str) -> Result<String, PushError> {
    let repo = Repository::open(user_repo).map_err(git)?;
    where_pushed(&repo, remote)
}

/// Pushes `refs/heads/<branch>` of `user_repo` to `remote`.
pub fn push(
    user_repo: &Path,
    remote: &str,
    branch: &str,
    prefix: &str,
    token: Option<&str>,
) -> Result<Pushed, PushError> {
    if !branch.starts_with(prefix) || branch.len() <= prefix.len() {
        return Err(PushError::OutsidePrefix {
            branch: branch.into(),
            prefix: prefix.into(),
        });
    }
    let repo = Repository::open(user_repo).map_err(git)?;
    let local = repo
        .refname_to_id(&format!("refs/heads/{branch}"))
        .map_err(git)?;
    // An anonymous remote of the URL pushes go to is asked and pushed to, so libgit2
    // never turns to the fetch URL.
    let remote_url = where_pushed(&repo, remote)?;
    let mut r = repo.remote_anonymous(&remote_url).map_err(git)?;
    let step = |what: &str| {
        let what = format!("{what} {remote_url}");
        move |e: git2::Error| PushError::Git(format!("{what}: {}", e.message()))
    };
    let tries = Cell::new(0);

    // What the remote has now, before sending anything: asked where the push goes.
    r.connect_auth(Direction::Push, Some(callbacks(token, &tries)), None)
        .map_err(step("reading the branches of"))?;
    let there: Option<Oid> = r
        .list()
        .map_err(step("reading the branches of"))?
        .iter()
        .find(|h| h.name() == format!("refs/heads/{branch}"))
        .map(|h| h.oid());
    r.disconnect().map_err(step("disconnecting from"))?;
    match there {
        Some(o) if o == local => {
            return Ok(Pushed {
                commit: local.to_string(),
                already: true,
                remote_url,
            });
        }
        // Ours builds on what is there (a retry with feedback): an ordinary push.
        Some(o) if repo.graph_descendant_of(local, o).unwrap_or(false) => {}
        Some(o) => {
            return Err(PushError::RemoteMoved {
                branch: branch.into(),
                expected: local.to_string(),
                found: o.to_string(),
            });
        }
        None => {}
    }

    let rejected: std::cell::RefCell<Option<String>> = std::cell::RefCell::new(None);
    // What the server says on the side ("remote: error: GH006: ...") explains a refusal.
    let said = std::cell::RefCell::new(Vec::<u8>::new());
    let tries = Cell::new(0);
    let mut cb = callbacks(token, &tries);
    cb.push_update_reference(|_, status| {
        if let Some(msg) = status {
            *rejected.borrow_mut() = Some(msg.to_string());
        }
        Ok(())
    });
    cb.sideband_progress(|data| {
        let mut s = said.borrow_mut();
        if s.len() < 64 << 10 {
            s.extend_from_slice(data);
        }
        true
    });
    let mut opts = PushOptions::new();
    opts.remote_callbacks(cb);
    // No '+': never a forced update.
    let refspec = format!("refs/heads/{branch}:refs/heads/{branch}");
    r.push(&[refspec.as_str()], Some(&mut opts))
        .map_err(step("pushing to"))?;
    drop(opts);
    if let Some(status) = rejected.into_inner() {
        return Err(PushError::Rejected {
            branch: branch.into(),
            message: explain_rejection(&status, &String::from_utf8_lossy(&said.borrow())),
        });
    }
    Ok(Pushed {
        commit: local.to_string(),
        already: false,
        remote_url,
    })
}

/// The server's refusal in words: its status, the error lines it sent, and what to do
/// for GitHub's branch protection (GH006) and repository rules (GH013).
fn explain_rejection(status: &str, remote_said: &str) -> String {
    let lines: Vec<String> = remote_said
        .split(['\n', '\r'])
        .map(|l| crate::text::inert(l.trim()))
        .filter(|l| l.starts_with("error:") || l.contains("GH0") || l.starts_with("- "))
        .take(6)
        .collect();
    let mut msg = status.to_string();
    if !lines.is_empty() {
        msg.push_str(&format!(" ({})", lines.join(" ")));
    }
    let all = format!("{status} {remote_said}");
    if all.contains("GH006") || all.contains("protected branch") {
        msg.push_str(
            "; a branch protection rule covers this branch: allow pushes to it on the forge, or set branch_prefix to a namespace you may push to",
        );
    } else if all.contains("GH013") {
        msg.push_str(
            "; a repository rule refused the push (a ruleset, or secret scanning push protection): see the lines above",
        );
    }
    msg
}

/// A secret a push would publish: where, and what kind (never the value).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretHit {
    /// `file:line` for text, `file (binary, byte N)`, `file name a/b`, `commit message:N`.
    pub place: String,
    pub kind: String,
}

/// Scans what pushing `branch` would publish beyond `base`: every commit's added or
/// changed blobs, raw bytes (binary ones too, whole, not a diff's lines; read in
/// overlapping pieces, so a huge blob costs bounded memory), every path, and every
/// commit message. The first secret found, if any.
pub fn scan_outgoing(
    user_repo: &Path,
    base: &str,
    branch: &str,
    redactor: &crate::redact::Redactor,
) -> Result<Option<SecretHit>, PushError> {
    let repo = Repository::open(user_repo).map_err(git)?;
    let tip = repo
        .refname_to_id(&format!("refs/heads/{branch}"))
        .map_err(git)?;
    let base = Oid::from_str(base).map_err(git)?;
    let mut walk = repo.revwalk().map_err(git)?;
    walk.push(tip).map_err(git)?;
    walk.hide(base).map_err(git)?;
    let mut scanned = std::collections::HashSet::new();
    for oid in walk {
        let commit = repo.find_commit(oid.map_err(git)?).map_err(git)?;
        let message = String::from_utf8_lossy(commit.message_bytes());
        if let Some((at, kind)) = redactor.find_at(&message) {
            let line = message[..at].matches('\n').count() + 1;
            return Ok(Some(SecretHit {
                place: format!("commit message:{line}"),
                kind,
            }));
        }
        // Against its first parent: an earlier attempt's blobs are scanned too.
        let old = commit.parent(0).and_then(|p| p.tree()).ok();
        let new = commit.tree().map_err(git)?;
        let diff = repo
            .diff_tree_to_tree(old.as_ref(), Some(&new), None)
            .map_err(git)?;
        for delta in diff.deltas() {
            if delta.status() == git2::Delta::Deleted {
                continue;
            }
            let file = delta.new_file();
            let path = file
                .path_bytes()
                .map(|p| String::from_utf8_lossy(p).into_owned())
                .unwrap_or_default();
            if let Some((_, kind)) = redactor.find_at(&path) {
                let place = format!("the file name {}", shown(&path));
                return Ok(Some(SecretHit { place, kind }));
            }
            if !scanned.insert(file.id()) {
                continue;
            }
            // A submodule's commit has no blob here.
            let Ok(blob) = repo.find_blob(file.id()) else {
                continue;
            };
            if let Some((at, line, kind)) = scan_bytes(blob.content(), redactor) {
                let path = shown(&path);
                let place = match blob.is_binary() {
                    true => format!("{path} (binary, near byte {at})"),
                    false => format!("{path}:{line}"),
                };
                return Ok(Some(SecretHit { place, kind }));
            }
        }
    }
    Ok(None)
}

/// The first secret in `bytes`: its byte offset, line and kind. Read in 1 MiB pieces
/// that overlap by more than any secret is long (a private key block included).
fn scan_bytes(bytes: &[u8], redactor: &crate::redact::Redactor) -> Option<(usize, usize, String)> {
    const PIECE: usize = 1 << 20;
    const OVERLAP: usize = 16 << 10;
    let mut start = 0;
    let mut lines_before = 0;
    loop {
        let end = (start + PIECE).min(bytes.len());
        let piece = &bytes[start..end];
        let text = String::from_utf8_lossy(piece);
        if let Some((at, kind)) = redactor.find_at(&text) {
            // Offsets of the lossy text track the bytes closely enough to point at it.
            let line = lines_before + text[..at].matches('\n').count() + 1;
            return Some((start + at.min(piece.len()), line, kind));
        }
        if end == bytes.len() {
            return None;
        }
        let next = end - OVERLAP;
        lines_before += bytes[start..next].iter().filter(|&&b| b == b'\n').count();
        start = next;
    }
}

/// A path as a message may show it: secrets in it redacted, control characters inert.
fn shown(path: &str) -> String {
    crate::text::inert(&crate::redact::redact(path))
}

/// Whether the task branch merges cleanly onto the remote's current `base`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MergeCheck {
    Clean,
    Conflicts(Vec<String>),
    /// The base could not be fetched (offline, no such branch…): said, not fatal.
    Unknown(String),
}

impl std::fmt::Display for MergeCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MergeCheck::Clean => f.write_str("merges cleanly"),
            MergeCheck::Conflicts(files) => write!(f, "conflicts in {}", files.join(", ")),
            MergeCheck::Unknown(why) => write!(f, "merge not checked ({why})"),
        }
    }
}

/// Fetches `base` from `remote` (into `refs/remotes/<remote>/<base>`, as `git fetch`
/// would) and merges the task branch onto it in memory. Nothing is written to the work
/// tree or the index.
pub fn merge_check(
    user_repo: &Path,
    remote: &str,
    base: &str,
    branch: &str,
    token: Option<&str>,
) -> MergeCheck {
    let run = || -> Result<MergeCheck, git2::Error> {
        let (repo, theirs) = fetch_base(user_repo, remote, base, token)?;
        let theirs = repo.find_commit(theirs)?;
        let ours = repo.find_commit(repo.refname_to_id(&format!("refs/heads/{branch}"))?)?;
        let index = repo.merge_commits(&theirs, &ours, None)?;
        if !index.has_conflicts() {
            return Ok(MergeCheck::Clean);
        }
        Ok(MergeCheck::Conflicts(super::overlap::conflict_paths(
            &index,
        )?))
    };
    run().unwrap_or_else(|e| MergeCheck::Unknown(e.message().to_string()))
}

/// Whether the remote's `base` holds `branch`'s commits (it was merged without a pull
/// request drover could follow, or with a merge commit). A squash merge is not seen.
pub fn base_holds(
    user_repo: &Path,
    remote: &str,
    base: &str,
    branch: &str,
    token: Option<&str>,
) -> Result<bool, String> {
    let (repo, theirs) =
        fetch_base(user_repo, remote, base, token).map_err(|e| e.message().to_string())?;
    let ours = repo
        .refname_to_id(&format!("refs/heads/{branch}"))
        .map_err(|e| e.message().to_string())?;
    Ok(theirs == ours || repo.graph_descendant_of(theirs, ours).unwrap_or(false))
}

/// Fetches the remote's `base` into its remote-tracking ref; the repository and where
/// the base is.
fn fetch_base(
    user_repo: &Path,
    remote: &str,
    base: &str,
    token: Option<&str>,
) -> Result<(Repository, Oid), git2::Error> {
    let repo = Repository::open(user_repo)?;
    let tracking = format!("refs/remotes/{remote}/{base}");
    {
        let mut r = repo.find_remote(remote)?;
        let tries = Cell::new(0);
        let mut opts = git2::FetchOptions::new();
        opts.remote_callbacks(callbacks(token, &tries));
        r.fetch(
            &[format!("+refs/heads/{base}:{tracking}").as_str()],
            Some(&mut opts),
            None,
        )?;
    }
    let theirs = repo.refname_to_id(&tracking)?;
    Ok((repo, theirs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(dir: &Path, args: &[&str]) {
        let ok = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            ok.status.success(),
            "git {args:?}: {}",
            String::from_utf8_lossy(&ok.stderr)
        );
    }

    /// Bug 17: the branch goes to the remote's `pushurl` (its `url` may be a read-only
    /// mirror, here one that does not exist); a failure says which step and where.
    #[test]
    fn bug17_push_goes_to_the_pushurl_and_errors_name_the_step() {
        let dir = tempfile::tempdir().unwrap();
        let (repo, bare) = (dir.path().join("repo"), dir.path().join("push.git"));
        std::fs::create_dir(&repo).unwrap();
        run(dir.path(), &["init", "-q", "--bare", "push.git"]);
        run(&repo, &["init", "-q", "-b", "main"]);
        run(
            &repo,
            &[
                "-c",
                "user.name=a",
                "-c",
                "user.email=a@b",
                "commit",
                "-q",
                "--allow-empty",
                "-m",
                "x",
            ],
        );
        run(&repo, &["branch", "drover/t1"]);
        run(
            &repo,
            &["remote", "add", "origin", "/nonexistent/mirror.git"],
        );
        run(
            &repo,
            &["config", "remote.origin.pushurl", bare.to_str().unwrap()],
        );
        let pushed = push(&repo, "origin", "drover/t1", "drover/", None).unwrap();
        assert_eq!(pushed.remote_url, bare.to_str().unwrap());
        let there = Repository::open_bare(&bare).unwrap();
        assert!(there.refname_to_id("refs/heads/drover/t1").is_ok());
        run(
            &repo,
            &["config", "remote.origin.pushurl", "/nonexistent/push.git"],
        );
        let e = push(&repo, "origin", "drover/t1", "drover/", None)
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("reading the branches of /nonexistent/push.git: "),
            "{e}"
        );
    }
}
