//! What the model is told before it starts: the task, the repository's own instructions
//! (AGENTS.md / CLAUDE.md, a README excerpt), a bounded file tree, the test command and
//! the rules of the tools. Read on the host from the workspace, symlinks not followed.

use std::path::Path;

const TREE_MAX: usize = 200;
const DOC_MAX: usize = 6000;

fn read_doc(root: &Path, name: &str, max: usize) -> Option<String> {
    let p = root.join(name);
    let meta = std::fs::symlink_metadata(&p).ok()?;
    if !meta.is_file() {
        return None;
    }
    let text = std::fs::read_to_string(p).ok()?;
    Some(if text.len() > max {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n…(truncated)", &text[..cut])
    } else {
        text
    })
}

/// Tracked files at the workspace's HEAD (git2), at most `TREE_MAX`.
fn file_tree(root: &Path) -> Vec<String> {
    let Ok(repo) = git2::Repository::open(root) else {
        return Vec::new();
    };
    let Ok(index) = repo.index() else {
        return Vec::new();
    };
    let mut files: Vec<String> = index
        .iter()
        .map(|e| String::from_utf8_lossy(&e.path).into_owned())
        .collect();
    files.sort();
    let total = files.len();
    files.truncate(TREE_MAX);
    if total > TREE_MAX {
        files.push(format!("… and {} more files", total - TREE_MAX));
    }
    files
}

pub fn system_prompt(
    title: &str,
    prompt: &str,
    workspace: &Path,
    test_command: Option<&str>,
) -> String {
    let mut s = String::from(
        "You are a coding agent working in a git repository at /workspace inside a sandboxed \
container with no network access. Use the tools to inspect and change the code. Make the \
smallest change that fully solves the task, keep the project's style, and add or update \
tests when behaviour changes. Run the tests yourself before finishing. When you are done, \
call `finish` with a short summary; do not commit or push (the reviewer does that).\n\n",
    );
    s.push_str(&format!("# Task\n{title}\n\n{prompt}\n\n"));
    for name in ["AGENTS.md", "CLAUDE.md"] {
        if let Some(doc) = read_doc(workspace, name, DOC_MAX) {
            s.push_str(&format!("# Instructions from {name}\n{doc}\n\n"));
        }
    }
    if let Some(readme) = ["README.md", "README", "README.rst"]
        .iter()
        .find_map(|n| read_doc(workspace, n, 2000))
    {
        s.push_str(&format!("# README (excerpt)\n{readme}\n\n"));
    }
    let tree = file_tree(workspace);
    if !tree.is_empty() {
        s.push_str(&format!("# Files\n{}\n\n", tree.join("\n")));
    }
    match test_command {
        Some(c) => s.push_str(&format!(
            "# Tests\nThe project's tests run with: `{c}`. They are run again after you finish.\n"
        )),
        None => s.push_str("# Tests\nNo test command was found for this project.\n"),
    }
    s
}
