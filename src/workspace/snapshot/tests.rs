//! Snapshots of hostile workspaces: git state that tries to redirect the snapshot,
//! links, planted ignore and attribute rules, names that differ in case, special files
//! and nested repositories, and the stat cache's same-second changes.

use super::super::{create, diff, testrepo};
use super::*;
use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

/// A task over a small repository with a `.gitignore`, its workspace made, and a
/// directory outside it holding a marker that must never be read.
fn setup() -> (tempfile::TempDir, TaskGit, std::path::PathBuf, String) {
    let tmp = tempfile::tempdir().unwrap();
    let user = tmp.path().join("user");
    fs::create_dir(&user).unwrap();
    testrepo::init(
        &user,
        &[
            ("util.py", "def f():\n    return 1\n"),
            ("pkg/mod.py", "x = 1\n"),
            (".gitignore", "*.log\nbuild/\n"),
        ],
    );
    let task = testrepo::task(tmp.path(), &user, "t");
    create(&task).unwrap();
    let host = tmp.path().join("host");
    fs::create_dir(&host).unwrap();
    let marker = format!("HOST-MARKER-{}", std::process::id());
    fs::write(host.join("secret.txt"), &marker).unwrap();
    (tmp, task, host, marker)
}

fn patch(task: &TaskGit) -> diff::WorkspaceDiff {
    let opts = SnapshotOptions {
        persist: true,
        list_ignored: true,
        ..Default::default()
    };
    diff(task, opts).unwrap()
}

fn paths(d: &diff::WorkspaceDiff) -> Vec<String> {
    d.summary.files.iter().map(|f| f.path.clone()).collect()
}

/// The agent's move, played by the test: it writes its workspace's git config (drover
/// itself never opens a workspace as a repository).
fn git_config(ws: &Path, key: &str, value: &str) {
    let repo = Repository::open(ws).unwrap();
    repo.config().unwrap().set_str(key, value).unwrap();
}

#[test]
fn htb_01_the_workspaces_git_state_cannot_redirect_the_snapshot() {
    let (_t, task, host, marker) = setup();
    let ws = &task.workspace;
    // Positive control: a real edit is seen.
    fs::write(ws.join("util.py"), "def f():\n    return 2\n").unwrap();
    git_config(ws, "core.worktree", host.to_str().unwrap());
    git_config(
        ws,
        "include.path",
        host.join("secret.txt").to_str().unwrap(),
    );
    git_config(
        ws,
        "core.excludesFile",
        host.join("secret.txt").to_str().unwrap(),
    );
    git_config(
        ws,
        "core.attributesFile",
        host.join("secret.txt").to_str().unwrap(),
    );
    fs::write(
        ws.join(".git/objects/info/alternates"),
        host.to_str().unwrap(),
    )
    .unwrap();
    fs::write(ws.join(".git/commondir"), host.to_str().unwrap()).unwrap();
    let d = patch(&task);
    assert_eq!(paths(&d), ["util.py"]);
    assert!(d.patch.contains("+    return 2"), "{}", d.patch);
    assert!(!d.patch.contains(&marker));
    // `.git` as a file pointing elsewhere, or as a link: the same.
    fs::remove_dir_all(ws.join(".git")).unwrap();
    fs::write(ws.join(".git"), format!("gitdir: {}\n", host.display())).unwrap();
    assert_eq!(paths(&patch(&task)), ["util.py"]);
    fs::remove_file(ws.join(".git")).unwrap();
    symlink(&host, ws.join(".git")).unwrap();
    let d = patch(&task);
    assert_eq!(paths(&d), ["util.py"]);
    assert!(!d.patch.contains(&marker));
}

#[test]
fn htb_02_links_are_recorded_as_links_never_followed() {
    let (_t, task, host, marker) = setup();
    let ws = &task.workspace;
    git_config(ws, "core.symlinks", "false");
    symlink(host.join("secret.txt"), ws.join("to_file")).unwrap();
    symlink(&host, ws.join("to_dir")).unwrap();
    symlink("../../../../host/secret.txt", ws.join("pkg/up")).unwrap();
    symlink("to_file", ws.join("link_to_link")).unwrap();
    // A link replacing a directory of the base tree.
    fs::remove_dir_all(ws.join("pkg")).unwrap();
    symlink(&host, ws.join("pkg")).unwrap();
    // Positive control: a real file next to them is recorded.
    fs::write(ws.join("real.txt"), "real\n").unwrap();
    let d = patch(&task);
    assert!(!d.patch.contains(&marker), "{}", d.patch);
    let mut got = paths(&d);
    got.sort();
    assert_eq!(
        got,
        [
            "link_to_link",
            "pkg",
            "pkg/mod.py",
            "real.txt",
            "to_dir",
            "to_file"
        ]
    );
    let store = task.open_store().unwrap();
    let tree = store
        .find_tree(Oid::from_str(d.summary.tree.as_deref().unwrap()).unwrap())
        .unwrap();
    let e = tree.get_path(Path::new("to_file")).unwrap();
    assert_eq!(e.filemode(), MODE_LINK as i32);
    let target = store.find_blob(e.id()).unwrap();
    assert_eq!(
        target.content(),
        host.join("secret.txt").as_os_str().as_bytes()
    );
}

#[test]
fn htb_04_planted_ignore_and_attribute_rules_change_nothing() {
    let (_t, task, _host, _marker) = setup();
    let ws = &task.workspace;
    fs::create_dir_all(ws.join(".git/info")).unwrap();
    fs::write(ws.join(".git/info/exclude"), "unittest/\n*.py\n").unwrap();
    fs::write(ws.join(".git/info/attributes"), "util.py -diff\n").unwrap();
    git_config(ws, "core.excludesFile", "/dev/null");
    fs::create_dir(ws.join("unittest")).unwrap();
    fs::write(ws.join("unittest/__init__.py"), "print('OK')\n").unwrap();
    fs::write(ws.join("util.py"), "def f():\n    return 3\n").unwrap();
    // A .gitignore the agent adds does not hide anything either.
    fs::write(ws.join("pkg/.gitignore"), "*\n").unwrap();
    fs::write(ws.join("pkg/hidden.py"), "evil = 1\n").unwrap();
    // Nor does a root .gitattributes that would make every change "binary".
    fs::write(ws.join(".gitattributes"), "* -diff binary\n").unwrap();
    // Rules of the base commit do apply, and what they hide is listed with sizes.
    fs::write(ws.join("debug.log"), "0123456789").unwrap();
    fs::create_dir(ws.join("build")).unwrap();
    fs::write(ws.join("build/out.bin"), [0u8; 100]).unwrap();
    let d = patch(&task);
    let mut got = paths(&d);
    got.sort();
    assert_eq!(
        got,
        [
            ".gitattributes",
            "pkg/.gitignore",
            "pkg/hidden.py",
            "unittest/__init__.py",
            "util.py"
        ]
    );
    assert!(
        d.patch.contains("+    return 3"),
        "a text diff: {}",
        d.patch
    );
    let ignored: Vec<(String, u64, u64)> = d
        .summary
        .ignored
        .iter()
        .map(|i| (i.path.clone(), i.bytes, i.files))
        .collect();
    assert_eq!(
        ignored,
        [
            ("build".to_string(), 100, 1),
            ("debug.log".to_string(), 10, 1)
        ]
    );
}

#[test]
fn names_that_differ_only_in_case_are_two_files() {
    let (_t, task, _host, _marker) = setup();
    let ws = &task.workspace;
    fs::write(ws.join("Util.py"), "planted = 1\n").unwrap();
    fs::write(ws.join("PKG"), "a file beside pkg/\n").unwrap();
    let d = patch(&task);
    let mut got = paths(&d);
    got.sort();
    assert_eq!(got, ["PKG", "Util.py"]);
    assert!(d.patch.contains("+planted = 1"), "{}", d.patch);
    assert!(!d.patch.contains("util.py"), "the original is untouched");
}

#[test]
fn special_files_git_dirs_and_submodule_writes_are_listed_not_dropped() {
    let (_t, task, _host, _marker) = setup();
    let ws = &task.workspace;
    rustix::fs::mknodat(
        rustix::fs::CWD,
        ws.join("pipe"),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    fs::create_dir_all(ws.join("pkg/.git")).unwrap();
    fs::write(ws.join("pkg/.git/config"), "[core]\n").unwrap();
    fs::create_dir(ws.join(".GIT")).unwrap();
    fs::write(ws.join(".GIT/config"), "[core]\n").unwrap();
    symlink("/etc/passwd", ws.join(".gitmodules")).unwrap();
    let d = patch(&task);
    assert!(d.summary.files.is_empty(), "{:?}", d.summary.files);
    let listed: Vec<&str> = d
        .summary
        .unrecorded
        .iter()
        .map(|u| u.path.as_str())
        .collect();
    assert_eq!(listed, [".GIT", ".gitmodules", "pipe", "pkg/.git"]);
}

#[test]
fn a_change_in_the_same_second_is_seen_and_unchanged_files_are_not_read() {
    let (_t, task, _host, _marker) = setup();
    let ws = &task.workspace;
    assert!(patch(&task).summary.files.is_empty());
    fs::write(ws.join("util.py"), "AAAAAAAAAAAAAAAAAAAAAAAA").unwrap();
    let first = patch(&task);
    // Same size, same second: only a stat the cache does not vouch for catches it.
    fs::write(ws.join("util.py"), "BBBBBBBBBBBBBBBBBBBBBBBB").unwrap();
    let second = patch(&task);
    assert_ne!(first.summary.tree, second.summary.tree);
    assert!(second.patch.contains("+BBBB"), "{}", second.patch);
    // A file the cache knows is not opened again: make it unreadable to prove it
    // (root reads anyway, so only where the permission holds).
    if rustix::process::geteuid().as_raw() != 0 {
        fs::set_permissions(ws.join("pkg/mod.py"), fs::Permissions::from_mode(0o000)).unwrap();
        assert_eq!(patch(&task).summary.tree, second.summary.tree);
    }
}
