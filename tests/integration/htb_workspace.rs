//! Host trust boundary, the workspace side (HTB-01…04): a hostile scripted agent rewires
//! its workspace's git state, plants links of every kind and ignore or attribute rules;
//! drover's diff, stored patch and approved branch take none of it, and no host file is
//! read, created or changed. Each attack proves its step ran (a control line, the
//! setting read back) before the marker is looked for.

use crate::common::*;

/// Runs the queued tasks, then checks the control line ran in task `id`.
fn run_with_control(env: &Env, id: &str) -> String {
    env.drover(&["run"]);
    let logs = text(&env.drover(&["logs", id]).stdout);
    assert!(logs.contains("control-42"), "positive control: {logs}");
    logs
}

/// Everything drover stored and everything approval published, as text.
/// Where `marker` shows in what drover stored or approval published (none: empty).
fn found(env: &Env, id: &str, branch: &str, marker: &str) -> Vec<String> {
    let mut places = vec![
        ("diff", text(&env.drover(&["diff", id]).stdout)),
        ("show", text(&env.drover(&["show", id, "--json"]).stdout)),
        ("log", git_out(&env.repo, &["log", "-p", "--all"])),
        ("tree", git_out(&env.repo, &["ls-tree", "-r", branch])),
    ];
    // The workspaces are the agent's own (its links lead where it wants): not looked at.
    for (path, _) in tree_hash(&env.data()) {
        if !path.contains("/objects/") && !path.starts_with("workspaces/") {
            let bytes = std::fs::read(env.data().join(&path)).unwrap_or_default();
            places.push((
                "data",
                format!("{path}: {}", String::from_utf8_lossy(&bytes)),
            ));
        }
    }
    places
        .into_iter()
        .filter(|(_, t)| t.contains(marker))
        .map(|(w, t)| {
            format!(
                "{w}: {}",
                t.lines().find(|l| l.contains(marker)).unwrap_or("")
            )
        })
        .collect()
}

fn approve(env: &Env, id: &str) -> String {
    let out = env.drover(&["approve", "--force", id]);
    assert!(out.status.success(), "approve: {}", text(&out.stderr));
    env.show(id)["branch"]
        .as_str()
        .unwrap_or_default()
        .to_string()
}

fn changed_paths(env: &Env, id: &str) -> Vec<String> {
    let shown = env.show(id);
    let mut v: Vec<String> = shown["diff"]["changes"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["path"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default();
    v.sort();
    v
}

#[test]
fn htb_01_the_agents_git_settings_never_lead_drover_to_host_files() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let host = HostMarker::new();
    let before = host.state();
    let h = host.dir().display();
    let script = format!(
        r#"[[step]]
run = "echo control-$((6*7)); echo '# changed' >> calc.py"
[[step]]
run = "git config core.worktree {h} && git config include.path {h}/secret.txt && git config core.attributesFile {h}/secret.txt && git config core.excludesFile {h}/secret.txt && git config core.hooksPath {h} && git config core.symlinks false && echo set-$(git config --get core.worktree) && echo {h} >> .git/objects/info/alternates && echo {h} > .git/commondir"
"#
    );
    let id = env.add("Redirect git", &script);
    let logs = run_with_control(&env, &id);
    assert!(
        logs.contains(&format!("set-{h}")),
        "the settings took: {logs}"
    );
    assert_eq!(changed_paths(&env, &id), ["calc.py"]);
    let branch = approve(&env, &id);
    assert!(git_out(&env.repo, &["show", &format!("{branch}:calc.py")]).contains("# changed"));
    assert_eq!(
        found(&env, &id, &branch, &host.marker),
        Vec::<String>::new()
    );
    assert_eq!(host.state(), before, "no host file created or changed");
}

#[test]
fn htb_01_a_dot_git_file_or_link_pointing_out_changes_nothing() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let host = HostMarker::new();
    let before = host.state();
    let h = host.dir().display();
    for (title, swap) in [
        (
            "Git file",
            format!("rm -rf .git && echo 'gitdir: {h}' > .git"),
        ),
        ("Git link", format!("rm -rf .git && ln -s {h} .git")),
    ] {
        let script = format!(
            "[[step]]\nrun = \"echo control-$((6*7)); echo '# changed' >> calc.py; {swap}; ls -ld .git\"\n"
        );
        let id = env.add(title, &script);
        let logs = run_with_control(&env, &id);
        assert!(logs.contains(".git"), "{logs}");
        assert_eq!(changed_paths(&env, &id), ["calc.py"], "{title}");
        let branch = approve(&env, &id);
        assert_eq!(
            found(&env, &id, &branch, &host.marker),
            Vec::<String>::new(),
            "{title}"
        );
    }
    assert_eq!(host.state(), before);
}

#[test]
fn htb_02_links_of_every_kind_are_recorded_as_links_never_followed() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[
        ("calc.py", "def add(a, b):\n    return a + b\n"),
        ("pkg/mod.py", "x = 1\n"),
    ]);
    env.write_config("test = \"true\"\n");
    let host = HostMarker::new();
    let before = host.state();
    let secret = host.secret();
    let (h, s) = (host.dir().display(), secret.display());
    let script = format!(
        r#"[[step]]
run = "echo control-$((6*7)); echo '# real' >> calc.py; git config core.symlinks false; ln -s {s} to_file; ln -s {h} to_dir; ln -s ../../../../../../../..{s} up; ln -s to_file link_to_link; rm -rf pkg; ln -s {h} pkg; ls -l"
"#
    );
    let id = env.add("Plant links", &script);
    run_with_control(&env, &id);
    assert_eq!(
        changed_paths(&env, &id),
        [
            "calc.py",
            "link_to_link",
            "pkg",
            "pkg/mod.py",
            "to_dir",
            "to_file",
            "up"
        ]
    );
    let branch = approve(&env, &id);
    let tree = git_out(&env.repo, &["ls-tree", "-r", &branch]);
    for link in ["to_file", "to_dir", "up", "link_to_link", "pkg"] {
        assert!(
            tree.lines()
                .any(|l| l.starts_with("120000") && l.ends_with(&format!("\t{link}"))),
            "{link} is a link in the commit: {tree}"
        );
    }
    let target = git_out(&env.repo, &["cat-file", "-p", &format!("{branch}:to_file")]);
    assert_eq!(target, s.to_string(), "the link's target, not the file");
    assert_eq!(
        found(&env, &id, &branch, &host.marker),
        Vec::<String>::new()
    );
    assert_eq!(host.state(), before);
}

#[test]
fn htb_03_links_under_dot_git_make_the_host_write_nothing() {
    let Some(env) = docker_python("test = \"true\"\n") else {
        return;
    };
    let host = HostMarker::new();
    let before = host.state();
    let h = host.dir().display();
    let script = format!(
        r#"[[step]]
run = "echo control-$((6*7)); b=$(git symbolic-ref --short HEAD); mkdir -p .git/logs/refs/heads/$(dirname $b); ln -sf {h}/reflog .git/logs/refs/heads/$b; ln -sf {h}/headlog .git/logs/HEAD; rm -f .git/packed-refs; ln -s {h}/packed .git/packed-refs; rm -f .git/index; ln -s {h}/index .git/index; mv .git/config .git/config.old; ln -s {h}/config .git/config; ln -s {h}/ref .git/refs/heads/$b.lock; echo '# changed' >> calc.py; ls -l .git/packed-refs"
"#
    );
    let id = env.add("Links under git", &script);
    let logs = run_with_control(&env, &id);
    assert!(
        logs.contains(&format!("{h}/packed")),
        "the links were made: {logs}"
    );
    let branch = approve(&env, &id);
    assert!(git_out(&env.repo, &["show", &format!("{branch}:calc.py")]).contains("# changed"));
    assert_eq!(host.state(), before, "nothing written through the links");
}

#[test]
fn htb_04_planted_ignore_and_attribute_rules_hide_nothing() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::with_files(&[
        ("calc.py", "def add(a, b):\n    return a + b\n"),
        (".gitignore", "*.log\n"),
    ]);
    env.write_config("test = \"python3 -m unittest\"\n");
    let script = r#"[[step]]
run = "echo control-$((6*7)); mkdir -p .git/info unittest; printf 'unittest/\\n*.py\\n' > .git/info/exclude; printf 'calc.py -diff\\n' > .git/info/attributes; printf '* -diff\\n' > .gitattributes; git config core.excludesFile .git/info/exclude; printf 'print(\"OK\")\\n' > unittest/__main__.py; touch unittest/__init__.py; echo '# planted' >> calc.py; echo 0123456789 > debug.log; git status --short | wc -l"
"#;
    let id = env.add("Hide a package", script);
    run_with_control(&env, &id);
    // The planted package hijacks the test run, and the reviewer sees it in the diff.
    assert_eq!(
        changed_paths(&env, &id),
        [
            ".gitattributes",
            "calc.py",
            "unittest/__init__.py",
            "unittest/__main__.py"
        ]
    );
    let patch = text(&env.drover(&["diff", &id]).stdout);
    assert!(patch.contains("+# planted"), "a text diff: {patch}");
    assert!(!patch.contains("Binary files"), "{patch}");
    // What the base's own rules ignore is listed with its size.
    let shown = env.show(&id);
    let ignored = &shown["diff"]["ignored"];
    assert_eq!(ignored[0]["path"], "debug.log", "{shown}");
    assert_eq!(ignored[0]["bytes"], 11);
    let show = text(&env.drover(&["show", &id]).stdout);
    assert!(
        show.contains("ignored   debug.log (11 bytes; not in the diff)"),
        "{show}"
    );
}
