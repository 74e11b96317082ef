//! The cross-task conflict radar in a running engine: real tasks in real containers edit
//! the same file; the engine says which pairs conflict and which merge cleanly, and keeps
//! saying so as tasks are approved and discarded.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use drover::paths::DataDir;
use drover::protocol::Overlap;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, NewTask};
use drover::protocol::{Command, Event, EventBody};
use drover::runtime::Runtime;
use drover::store::Store;

use crate::common::*;

/// `(other task's title, conflicting files)` per overlap, sorted.
type Seen = Vec<(String, Vec<String>)>;

fn seen(list: &[Overlap]) -> Seen {
    let mut v: Seen = list
        .iter()
        .map(|o| (o.title.clone(), o.conflicts.clone()))
        .collect();
    v.sort();
    v
}

/// Latest overlaps per task title, read from events until `done` holds.
async fn until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    titles: &HashMap<String, String>,
    latest: &mut HashMap<String, Seen>,
    what: &str,
    done: impl Fn(&HashMap<String, Seen>) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while !done(latest) {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}; saw {latest:?}"))
            .expect("engine events");
        if let (Some(id), EventBody::Overlaps { overlaps }) = (&ev.task, &ev.body) {
            latest.insert(titles[&id.to_string()].clone(), seen(overlaps));
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn tasks_editing_the_same_lines_are_flagged_both_ways() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let lines: String = (1..=12).map(|i| format!("x{i} = {i}\n")).collect();
    let env = Env::with_files(&[("calc.py", &lines)]);
    let (mut handle, mut rx) = env
        .start_engine(Some(Runtime::connect().await.unwrap()).into(), 3)
        .await;
    let edit = |old: &str, new: &str| AgentSpec::Scripted {
        script: format!(
            "[[step]]\nedit = {{ path = \"calc.py\", old = \"{old}\", new = \"{new}\" }}\n[[step]]\nfinish = \"done\"\n"
        ),
        source: "edit.toml".into(),
    };
    let mut titles = HashMap::new();
    let mut ids = HashMap::new();
    for (title, agent) in [
        ("one", edit("x2 = 2", "x2 = 20")),
        ("two", edit("x2 = 2", "x2 = 200")),
        ("three", edit("x11 = 11", "x11 = 110")),
    ] {
        let id = handle
            .queue(NewTask {
                repo: env.repo.clone(),
                title: title.into(),
                prompt: title.into(),
                agent,
                origin: None,
                others: Vec::new(),
            })
            .await
            .to_string();
        titles.insert(id.clone(), title.to_string());
        ids.insert(title, id);
    }

    let calc = || vec!["calc.py".to_string()];
    let mut latest = HashMap::new();
    until(&mut rx, &titles, &mut latest, "all three flagged", |l| {
        l.get("one") == Some(&vec![("three".into(), vec![]), ("two".into(), calc())])
            && l.get("two") == Some(&vec![("one".into(), calc()), ("three".into(), vec![])])
            && l.get("three") == Some(&vec![("one".into(), vec![]), ("two".into(), vec![])])
    })
    .await;

    // Approving keeps the picture (the commit has the same tree)...
    let id = |t: &str| drover::protocol::TaskId::parse(&ids[t]).unwrap();
    handle
        .request(Command::Approve {
            id: id("one"),
            force: true,
            branch: None,
            keep_others: false,
        })
        .await
        .unwrap();
    // ...and discarding a task clears it from the others.
    handle
        .request(Command::Discard { id: id("two") })
        .await
        .unwrap();
    until(&mut rx, &titles, &mut latest, "two forgotten", |l| {
        l.get("one") == Some(&vec![("three".into(), vec![])])
            && l.get("two") == Some(&vec![])
            && l.get("three") == Some(&vec![("one".into(), vec![])])
    })
    .await;
    let store = Store::open(&DataDir::at(env.data()).unwrap().db()).unwrap();
    assert_eq!(
        store.task(&id("one")).unwrap().unwrap().state,
        TaskState::Approved
    );
    handle.shutdown().await;
    // The user's repository was never touched by the merges.
    let status = std::process::Command::new("git")
        .args(["status", "--porcelain"])
        .current_dir(&env.repo)
        .output()
        .unwrap();
    assert_eq!(text(&status.stdout), "");
}
