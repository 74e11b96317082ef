//! What the model is told before it starts: the task, the repository's own instructions
//! (AGENTS.md / CLAUDE.md, a README excerpt), a bounded file tree, the test command and
//! the rules of the tools. Documents are read from the workspace through `beneath` (no
//! link followed, nothing outside it); the file list is drover's own record of the
//! workspace (its latest snapshot's index, else the base commit), never the
//! workspace's `.git`.

use std::path::Path;

use crate::beneath::Beneath;
use crate::workspace::TaskGit;

const TREE_MAX: usize = 200;
const DOC_MAX: usize = 6000;

fn read_doc(root: &Beneath, name: &str, max: usize) -> Option<String> {
    // A few bytes more, so the cut below lands on a character boundary it could keep.
    let (bytes, more) = root.read_head(Path::new(name), (max + 4) as u64)?;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    Some(if text.len() > max || more {
        let mut cut = max;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        format!("{}\n…(truncated)", &text[..cut])
    } else {
        text
    })
}

/// The workspace's files as drover last recorded them, at most `TREE_MAX`.
fn file_tree(git: &TaskGit) -> Vec<String> {
    let recorded = crate::workspace::StatCache::load(&git.index).or_else(|| {
        let store = git.open_store().ok()?;
        let base = store.find_commit(git.base_oid().ok()?).ok()?;
        crate::workspace::StatCache::from_tree(&base.tree().ok()?).ok()
    });
    let Some(recorded) = recorded else {
        return Vec::new();
    };
    let mut files: Vec<String> = recorded
        .entries
        .keys()
        .map(|p| String::from_utf8_lossy(p).into_owned())
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
    git: &TaskGit,
    test_command: Option<&str>,
) -> String {
    let workspace = Beneath::open(&git.workspace).ok();
    let mut s = String::from(
        "You are a coding agent working in a git repository at /workspace inside a sandboxed \
container with no network access. Use the tools to inspect and change the code. Make the \
smallest change that fully solves the task, keep the project's style, and add or update \
tests when behaviour changes. Run the tests yourself before finishing. When you are done, \
call `finish` with a short summary; do not commit or push (the reviewer does that).\n\n",
    );
    s.push_str(&format!("# Task\n{title}\n\n{prompt}\n\n"));
    if let Some(ws) = &workspace {
        for name in ["AGENTS.md", "CLAUDE.md"] {
            if let Some(doc) = read_doc(ws, name, DOC_MAX) {
                s.push_str(&format!("# Instructions from {name}\n{doc}\n\n"));
            }
        }
        if let Some(readme) = ["README.md", "README", "README.rst"]
            .iter()
            .find_map(|n| read_doc(ws, n, 2000))
        {
            s.push_str(&format!("# README (excerpt)\n{readme}\n\n"));
        }
    }
    let tree = file_tree(git);
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
