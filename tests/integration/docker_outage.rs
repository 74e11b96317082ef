//! DUR-07 / DUR-09: Docker going away and coming back, without touching the real daemon
//! (other tests use it): the engine talks to it through a unix-socket relay that the test
//! starts and stops.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use drover::engine::docker_watch::RuntimeSlot;
use drover::protocol::TaskState;
use drover::protocol::{AgentSpec, NewTask};
use drover::protocol::{Command, Event, EventBody};
use tokio::net::{UnixListener, UnixStream};
use tokio::task::JoinHandle;

use crate::common::*;

/// Relays a unix socket to the real Docker socket while it runs; dropping it cuts every
/// connection, as a stopped daemon would.
struct Relay {
    accept: JoinHandle<()>,
    conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>>,
    path: PathBuf,
}

fn real_socket() -> String {
    let host = drover::runtime::docker_host();
    host.strip_prefix("unix://").unwrap_or(&host).to_string()
}

impl Relay {
    fn start(path: &Path) -> Relay {
        let _ = std::fs::remove_file(path);
        let listener = UnixListener::bind(path).unwrap();
        let conns: Arc<std::sync::Mutex<Vec<JoinHandle<()>>>> = Arc::default();
        let c = conns.clone();
        let accept = tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                let Ok(mut daemon) = UnixStream::connect(real_socket()).await else {
                    continue;
                };
                c.lock().unwrap().push(tokio::spawn(async move {
                    let _ = tokio::io::copy_bidirectional(&mut client, &mut daemon).await;
                }));
            }
        });
        Relay {
            accept,
            conns,
            path: path.to_path_buf(),
        }
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.accept.abort();
        for c in self.conns.lock().unwrap().drain(..) {
            c.abort();
        }
        let _ = std::fs::remove_file(&self.path);
    }
}

async fn next_until(
    rx: &mut tokio::sync::mpsc::UnboundedReceiver<Event>,
    secs: u64,
    what: &str,
    mut f: impl FnMut(&Event) -> bool,
) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let ev = tokio::time::timeout(left, rx.recv())
            .await
            .unwrap_or_else(|_| panic!("waited {secs}s for {what}"))
            .expect("events");
        if f(&ev) {
            return;
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dur_09_tasks_queued_while_docker_is_down_start_in_order_when_it_returns() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    let socket = env.data().with_file_name("docker.sock");
    let (mut handle, mut rx) = env
        .start_engine(
            RuntimeSlot::new(format!("unix://{}", socket.display()), None),
            1,
        )
        .await;
    let mut titles = HashMap::new();
    for title in ["first", "second"] {
        let id = handle
            .queue(NewTask {
                repo: env.repo.clone(),
                title: title.into(),
                prompt: title.into(),
                agent: AgentSpec::Scripted {
                    script: "[[step]]\nrun = \"true\"\n".into(),
                    source: "t.toml".into(),
                },
                origin: None,
                others: Vec::new(),
            })
            .await;
        titles.insert(id.to_string(), title);
    }
    next_until(&mut rx, 10, "docker reported unavailable", |ev| {
        matches!(&ev.body, EventBody::Docker { error: Some(_), .. })
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    while let Ok(ev) = rx.try_recv() {
        assert!(
            !matches!(ev.body, EventBody::StateChanged { .. }),
            "nothing starts without docker: {ev:?}"
        );
    }

    // Docker "comes back": the engine notices by itself and starts the queue in order.
    let relay = Relay::start(&socket);
    let back = Instant::now();
    next_until(&mut rx, 10, "docker reported back", |ev| {
        matches!(
            &ev.body,
            EventBody::Docker {
                version: Some(_),
                ..
            }
        )
    })
    .await;
    let noticed = back.elapsed();
    let mut started = Vec::new();
    let mut reviewed = 0;
    next_until(&mut rx, 120, "both tasks in review", |ev| {
        if let (Some(id), EventBody::StateChanged { to, .. }) = (&ev.task, &ev.body) {
            if *to == TaskState::Provisioning {
                started.push(titles[&id.to_string()]);
            }
            if *to == TaskState::Review {
                reviewed += 1;
            }
        }
        reviewed == 2
    })
    .await;
    assert_eq!(started, ["first", "second"], "FIFO");
    assert!(
        noticed < Duration::from_secs(5),
        "noticed after {noticed:?}"
    );

    // DUR-07: it goes away again: said within seconds, and the engine keeps answering.
    drop(relay);
    let gone = Instant::now();
    next_until(&mut rx, 10, "docker reported gone", |ev| {
        matches!(&ev.body, EventBody::Docker { error: Some(_), .. })
    })
    .await;
    assert!(
        gone.elapsed() < Duration::from_secs(6),
        "{:?}",
        gone.elapsed()
    );
    let id = titles.iter().find(|(_, t)| **t == "first").unwrap().0;
    let answer = handle
        .request(Command::Load {
            id: drover::protocol::TaskId::parse(id).unwrap(),
            attempt: None,
        })
        .await;
    assert!(answer.is_ok(), "{answer:?}");
    handle.shutdown().await;
}

/// DUR-07: Docker goes away while a task runs. The task is interrupted with the reason
/// (not failed), the engine keeps answering, and when Docker is back the task resumes by
/// itself in its container: the call that was cut is not run again, the rest runs.
#[tokio::test(flavor = "multi_thread")]
async fn dur_07_a_task_cut_off_by_a_docker_outage_resumes_when_docker_is_back() {
    if !docker_available() {
        return;
    }
    ensure_image();
    let env = Env::python_bug();
    env.write_config("test = \"true\"\n");
    let socket = env.data().with_file_name("docker.sock");
    let relay = Relay::start(&socket);
    let (mut handle, mut rx) = env
        .start_engine(
            RuntimeSlot::new(format!("unix://{}", socket.display()), None),
            1,
        )
        .await;
    let id = handle
        .queue(NewTask {
            repo: env.repo.clone(),
            title: "cut".into(),
            prompt: "cut".into(),
            agent: AgentSpec::Scripted {
                script: "[[step]]\nrun = \"echo one >> marks.txt\"\n[[step]]\nrun = \"sleep 20\"\n[[step]]\nrun = \"echo two >> marks.txt\"\n".into(),
                source: "t.toml".into(),
            },
            origin: None,
            others: Vec::new(),
        })
        .await
        .to_string();
    next_until(&mut rx, 60, "the long command", |ev| {
        matches!(&ev.body, EventBody::Transcript { entry, .. } if serde_json::to_string(entry).unwrap().contains("sleep 20"))
    })
    .await;

    drop(relay);
    let mut reason = String::new();
    next_until(&mut rx, 15, "the task interrupted", |ev| {
        if let EventBody::StateChanged {
            to: TaskState::Interrupted { reason: r, cause },
            ..
        } = &ev.body
        {
            assert_eq!(*cause, drover::protocol::Cause::DockerLost);
            reason = r.clone();
            return true;
        }
        false
    })
    .await;
    assert!(reason.starts_with("docker became unavailable"), "{reason}");

    let _relay = Relay::start(&socket);
    next_until(&mut rx, 120, "the task in review", |ev| {
        matches!(
            &ev.body,
            EventBody::StateChanged {
                to: TaskState::Review,
                ..
            }
        )
    })
    .await;
    let marks = env.workspace_file(&id, "marks.txt");
    assert_eq!(marks, "one\ntwo\n");
    let t = env.transcript(&id, 1);
    assert!(t.contains("reattached to its running container"), "{t}");
    assert_eq!(t.matches("echo one >> marks.txt").count(), 1);
    handle.shutdown().await;
}
