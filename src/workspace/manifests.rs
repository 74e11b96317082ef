//! The dependency manifests and lock files of a commit: what an environment snapshot
//! depends on beside its image and setup commands.
//!
//! Read from git objects (drover's own repository, which borrows the user's objects),
//! never from a workspace: what a snapshot is keyed by is what the commit holds.

use git2::{ObjectType, Oid, Repository, TreeWalkMode, TreeWalkResult};

/// File names whose content decides what setup installs, wherever they are in the tree.
pub const MANIFESTS: &[&str] = &[
    "package.json",
    "package-lock.json",
    "npm-shrinkwrap.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "bun.lockb",
    "pyproject.toml",
    "poetry.lock",
    "uv.lock",
    "Pipfile",
    "Pipfile.lock",
    "setup.py",
    "setup.cfg",
    "Cargo.toml",
    "Cargo.lock",
    "go.mod",
    "go.sum",
    "Gemfile",
    "Gemfile.lock",
    "composer.json",
    "composer.lock",
    "mix.lock",
    "pubspec.lock",
    "Package.resolved",
];

/// Directories never searched: what setup makes there is the result, not the recipe.
const SKIPPED_DIRS: &[&str] = &["node_modules", ".venv", "venv", "target", "vendor", ".git"];

/// Entries looked at before the search stops (a huge monorepo keys on what was seen).
const MAX_ENTRIES: usize = 200_000;

/// Whether a file name is a manifest or lock file (`requirements*.txt` included).
pub fn is_manifest(name: &str) -> bool {
    MANIFESTS.contains(&name) || (name.starts_with("requirements") && name.ends_with(".txt"))
}

/// `(path, object id)` of every manifest in `commit`'s tree and of each `extra` path
/// (a file or a directory; a missing one counts as missing), sorted by path.
pub fn dependency_files(
    store: &Repository,
    commit: Oid,
    extra: &[String],
) -> Result<Vec<(String, String)>, git2::Error> {
    let tree = store.find_commit(commit)?.tree()?;
    let mut found = Vec::new();
    let mut seen = 0usize;
    tree.walk(TreeWalkMode::PreOrder, |dir, entry| {
        seen += 1;
        if seen > MAX_ENTRIES {
            return TreeWalkResult::Abort;
        }
        let name = entry.name().unwrap_or("");
        match entry.kind() {
            Some(ObjectType::Tree) if SKIPPED_DIRS.contains(&name) => TreeWalkResult::Skip,
            Some(ObjectType::Blob) if is_manifest(name) => {
                found.push((format!("{dir}{name}"), entry.id().to_string()));
                TreeWalkResult::Ok
            }
            _ => TreeWalkResult::Ok,
        }
    })
    .or_else(|e| match e.code() {
        // Aborted on purpose at MAX_ENTRIES.
        git2::ErrorCode::User => Ok(()),
        _ => Err(e),
    })?;
    for path in extra {
        let id = tree
            .get_path(std::path::Path::new(path.trim_end_matches('/')))
            .map(|e| e.id().to_string())
            .unwrap_or_else(|_| "missing".into());
        found.push((path.clone(), id));
    }
    found.sort();
    found.dedup();
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::workspace::testrepo::{commit, init};

    #[test]
    fn manifests_are_found_at_any_depth_outside_result_dirs() {
        let tmp = tempfile::tempdir().expect("tmp");
        init(
            tmp.path(),
            &[
                ("requirements-dev.txt", "pytest\n"),
                ("web/package-lock.json", "{}\n"),
                ("node_modules/x/package.json", "{}\n"),
                ("src/app.py", "print(1)\n"),
                ("data/schema.sql", "create table t();\n"),
            ],
        );
        let repo = Repository::open(tmp.path()).expect("repo");
        let head = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
        let found =
            dependency_files(&repo, head.id(), &["data/".into(), "nope".into()]).expect("walk");
        let paths: Vec<&str> = found.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "data/",
                "nope",
                "requirements-dev.txt",
                "web/package-lock.json"
            ]
        );
        assert_eq!(found[1].1, "missing");

        std::fs::write(tmp.path().join("web/package-lock.json"), "{\"v\":2}\n").expect("w");
        commit(tmp.path(), "bump");
        let head2 = repo.head().and_then(|h| h.peel_to_commit()).expect("head");
        let again = dependency_files(&repo, head2.id(), &[]).expect("walk");
        assert_ne!(
            found.iter().find(|(p, _)| p == "web/package-lock.json"),
            again.iter().find(|(p, _)| p == "web/package-lock.json"),
            "a changed lock file changes the key material"
        );
    }
}
