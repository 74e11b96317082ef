//! The warm pool (`warm_pool = N`): containers made before their tasks, claimed by the
//! next fresh attempt, refilled, removed when drover ends, and cleaned up or taken back
//! after a crash.

use std::process::{Command, Stdio};

use drover::engine::docker_watch::RuntimeSlot;
use drover::protocol::EventBody;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, NewTask};

use super::common::*;

/// Full ids of the containers waiting in this environment's pool, running or not.
fn waiting(env: &Env) -> Vec<String> {
    pool_ps(env, "-a")
}

/// Those ready to be claimed: running (drover takes them a moment after Docker says so).
fn ready(env: &Env) -> Vec<String> {
    let up = pool_ps(env, "--filter=status=running");
    std::thread::sleep(std::time::Duration::from_millis(300));
    up
}

fn pool_ps(env: &Env, which: &str) -> Vec<String> {
    let out = Command::new("docker")
        .args([
            "ps",
            which,
            "-q",
            "--no-trunc",
            "--filter",
            "label=drover.managed=true",
            "--filter",
            &format!("label={}", env.repo_label()),
            "--filter",
            "label=drover.pool",
            "--filter",
            "name=drover-pool-",
        ])
        .output()
        .expect("docker ps");
    text(&out.stdout).lines().map(String::from).collect()
}

/// The full id of the container named for task `id` ("" when there is none).
fn task_container(id: &str) -> String {
    let out = Command::new("docker")
        .args(["inspect", "-f", "{{.Id}}", &format!("drover-{id}")])
        .output()
        .expect("docker inspect");
    text(&out.stdout).trim().to_string()
}

fn slots(env: &Env) -> usize {
    std::fs::read_dir(env.data().join("pool")).map_or(0, |d| d.count())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_starts_in_a_waiting_container_which_is_refilled_and_removed_at_the_end() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("warm_pool = 1\ntest = \"true\"\n");
    let rt = drover::runtime::Runtime::connect().await.expect("docker");
    let (mut handle, mut rx) = env.start_engine(RuntimeSlot::from(Some(rt)), 2).await;
    // A front end open in the repository: its pool fills before any task exists.
    let open = handle.open_in(&env.repo).await;
    let first = wait_for(60, "a waiting container", || {
        let w = ready(&env);
        (w.len() == 1).then(|| w[0].clone())
    });
    assert_eq!(slots(&env), 1, "one slot per waiting container");

    let script = "[[step]]\nrun = \"echo made in the pool > made.txt && echo '# touched' >> calc.py && id -u && pwd\"\n[[step]]\nfinish = \"done\"\n";
    let id = handle
        .queue(NewTask {
            repo: env.repo.clone(),
            title: "warm".into(),
            prompt: "warm".into(),
            agent: AgentSpec::Scripted {
                script: script.into(),
                source: "warm.toml".into(),
            },
            origin: None,
            others: Vec::new(),
        })
        .await
        .to_string();
    loop {
        let ev = tokio::time::timeout(std::time::Duration::from_secs(60), rx.recv())
            .await
            .expect("the task to reach review")
            .expect("events");
        if let EventBody::StateChanged { to, .. } = &ev.body {
            assert!(!matches!(to, TaskState::Failed { .. }), "{to:?}");
            if *to == TaskState::Review {
                break;
            }
        }
    }
    assert_eq!(
        task_container(&id),
        first,
        "the waiting container was claimed"
    );
    // What the agent wrote through the mount is in the task's own workspace, which is
    // a proper repository on the task's branch.
    assert_eq!(env.workspace_file(&id, "made.txt"), "made in the pool\n");
    let shown = env.show(&id);
    assert_eq!(shown["container"], first.as_str());
    assert_eq!(shown["branch_exists"], true);
    let transcript = env.transcript(&id, 1);
    assert!(transcript.contains("warm container"), "{transcript}");
    assert!(transcript.contains("/workspace"), "{transcript}");
    let out = env.drover(&["diff", &id]);
    assert!(
        text(&out.stdout).contains("made in the pool"),
        "diff: {out:?}"
    );

    let second = wait_for(60, "the pool refilled", || {
        let w = waiting(&env);
        (w.len() == 1 && w[0] != first).then(|| w[0].clone())
    });
    assert_eq!(slots(&env), 1);

    drop(open);
    handle.shutdown().await;
    assert!(
        waiting(&env).is_empty(),
        "waiting containers removed at the end"
    );
    let gone = Command::new("docker")
        .args(["inspect", &second])
        .output()
        .expect("docker inspect");
    assert!(!gone.status.success(), "{second} removed");
    assert_eq!(slots(&env), 0, "and their slots");
    assert_eq!(task_container(&id), first, "the task keeps its container");
}

/// Two steps around a long command that drover is killed in.
const SLOW: &str = "[[step]]\nrun = \"echo one >> marks.txt\"\n[[step]]\nrun = \"sleep 20; echo slept >> marks.txt\"\n[[step]]\nrun = \"echo two >> marks.txt\"\n[[step]]\nfinish = \"marked\"\n";

#[test]
fn after_kill_9_a_claimed_container_is_reattached_and_a_waiting_one_replaced() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("warm_pool = 1\nmax_parallel = 2\ntest = \"true\"\n");
    let cold = env.add("Cold", SLOW);
    let mut first = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("drover run");
    let pooled = wait_for(60, "a waiting container", || {
        let w = ready(&env);
        (w.len() == 1).then(|| w[0].clone())
    });
    let warm = env.add("Warm", SLOW);
    wait_for(60, "both in their long command", || {
        (running_in(&cold, "sleep 20") && running_in(&warm, "sleep 20")).then_some(())
    });
    assert_eq!(task_container(&warm), pooled, "the second task was warm");
    let left = wait_for(60, "the pool refilled", || {
        let w = waiting(&env);
        (w.len() == 1 && w[0] != pooled).then(|| w[0].clone())
    });
    first.kill().expect("kill -9");
    first.wait().expect("wait");

    let second = env
        .command(&["run"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("drover run");
    for id in [&cold, &warm] {
        wait_for(60, "both reattached", || {
            env.transcript(id, 1)
                .contains("reattached to its running container")
                .then_some(())
        });
    }
    assert_eq!(
        task_container(&warm),
        pooled,
        "the claimed container is the task's"
    );
    wait_for(60, "the dead engine's waiting container removed", || {
        let w = waiting(&env);
        (!w.contains(&left)).then_some(())
    });
    let out = second.wait_with_output().expect("drover run");
    assert!(out.status.success(), "{}", text(&out.stderr));
    for id in [&cold, &warm] {
        assert_eq!(env.show(id)["state"], "review");
        assert_eq!(env.workspace_file(id, "marks.txt"), "one\ntwo\n");
    }
    assert!(waiting(&env).is_empty(), "nothing waits after drover ends");
    assert_eq!(slots(&env), 0);
    env.assert_store_sound();
}
