//! Best-of-N end to end with real containers: three attempts of one task run side by
//! side, each in its own workspace and container; when they rest they are ranked by
//! their tests (the one that passes first, whatever order they were queued in), and
//! approving the best discards the others.

use crate::common::*;

/// Stops the daemon when the test ends, however it ends.
struct Daemon<'a>(&'a Env);

impl Drop for Daemon<'_> {
    fn drop(&mut self) {
        let _ = self.0.drover(&["daemon", "stop"]);
    }
}

#[test]
fn three_attempts_run_side_by_side_and_the_passing_one_ranks_first() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let dir = env.home.path();
    // A wrong fix (the test still fails), the right one, and a wrong fix that also
    // changes more.
    let scripts = [
        (
            "wrong.toml",
            "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"b - a\" }\n",
        ),
        (
            "right.toml",
            "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a + b\" }\n",
        ),
        (
            "noisy.toml",
            "[[step]]\nedit = { path = \"calc.py\", old = \"a - b\", new = \"a * b\" }\n[[step]]\nwrite = { path = \"NOTES.md\", content = \"one\\ntwo\\nthree\\n\" }\n",
        ),
    ];
    let mut args = vec!["add".to_string()];
    for (name, body) in scripts {
        std::fs::write(dir.join(name), body).unwrap();
        args.push("--script".into());
        args.push(dir.join(name).display().to_string());
    }
    args.push("Fix add".into());
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = env.drover(&args);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let ids: Vec<String> = text(&out.stdout).lines().map(str::to_string).collect();
    assert_eq!(ids.len(), 3, "{ids:?}");
    let run = env.drover(&["run"]);
    let said = format!("{}{}", text(&run.stdout), text(&run.stderr));
    // One of three passed: `run` says so (and exits 1, as when any did not).
    assert!(
        said.contains("3 task(s) ran, 1 reached review with passing tests"),
        "{said}"
    );
    assert!(
        !said.contains("conflicts in"),
        "siblings are not each other's conflicts: {said}"
    );

    let shown = env.show(&ids[0]);
    let group = &shown["group"];
    assert_eq!(group["of"], 3, "{group}");
    let attempts = group["attempts"].as_array().unwrap();
    let by_id = |id: &str| attempts.iter().find(|a| a["id"] == id).unwrap().clone();
    let right = by_id(&ids[1]);
    assert_eq!(
        (right["verdict"].as_str(), right["rank"].as_u64()),
        (Some("passed"), Some(1)),
        "{group}"
    );
    // Both wrong ones fail one test; the smaller diff ranks before the noisier one.
    assert_eq!(by_id(&ids[0])["rank"], 2, "{group}");
    assert_eq!(by_id(&ids[2])["rank"], 3, "{group}");
    // Each in a workspace and container of its own, all from one base commit.
    let tasks: Vec<serde_json::Value> = ids.iter().map(|i| env.show(i)).collect();
    let mut containers: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["container"].as_str())
        .collect();
    let mut workspaces: Vec<&str> = tasks
        .iter()
        .filter_map(|t| t["workspace"].as_str())
        .collect();
    containers.dedup();
    workspaces.sort();
    workspaces.dedup();
    assert_eq!((containers.len(), workspaces.len()), (3, 3), "{tasks:?}");
    assert!(
        tasks
            .iter()
            .all(|t| t["base_commit"] == tasks[0]["base_commit"])
    );
    let human = text(&env.drover(&["show", &ids[1]]).stdout);
    assert!(
        human.contains("3 attempts side by side") && human.contains("← this one"),
        "{human}"
    );

    // Any two diff against each other (through the daemon, as the TUI asks).
    let out = env.drover(&["daemon", "start"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let daemon = Daemon(&env);
    let id = |s: &str| drover::protocol::TaskId::parse(s).unwrap();
    let socket = env.data().join("daemon.sock");
    let (between, refused) = tokio::runtime::Runtime::new().unwrap().block_on(async {
        let mut c = drover::client::Connection::connect(&socket).await.unwrap();
        let ask = |with: &str| drover::protocol::Command::Compare {
            id: id(&ids[0]),
            from: 1,
            to: 1,
            with: Some(id(with)),
        };
        let between = c.request(ask(&ids[1])).await.unwrap();
        let lone = env.add("Alone", "[[step]]\nsay = \"hi\"\n");
        let refused = c.request(ask(&lone)).await.unwrap();
        (between, refused)
    });
    let Ok(drover::protocol::Reply::Page { page, .. }) = between else {
        panic!("{between:?}")
    };
    assert!(
        page.text.contains("-    return b - a") && page.text.contains("+    return a + b"),
        "{}",
        page.text
    );
    assert!(refused.is_err_and(|e| e.to_string().contains("not attempts of one task")));

    // Approving the best discards the others.
    let out = env.daemon_command(&["approve", &ids[1]]).output().unwrap();
    drop(daemon);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(env.show(&ids[1])["state"], "approved");
    for other in [&ids[0], &ids[2]] {
        let t = env.show(other);
        assert_eq!(t["state"], "discarded", "{t}");
        assert!(t["workspace"].is_null(), "its workspace is gone: {t}");
    }
}
