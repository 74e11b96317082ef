//! `drover add` and the commands that act on a task (cancel, discard, retry).
//!
//! Acting on a task goes through an engine: the daemon (started when none runs), or with
//! `--no-daemon` the engine that holds the data dir (via the store's inbox) or, when none
//! runs, a short-lived one in this process that starts no queued work. A new task is
//! written to the store here and the daemon, started when needed, picks it up.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{CliResult, Failure, open_data};
use crate::config::Config;
use crate::daemon::spawn::{self, StartError};
use crate::engine::{self, EngineCtx, EngineOptions, bus::EventBus, ops};
use crate::protocol::Command;
use crate::protocol::TaskId;
use crate::protocol::{AgentSpec, NewTask};
use crate::runtime::Runtime;
use crate::store::{EngineLock, LockHeld};
use crate::text::ellipsize;

/// What a new task asks for.
pub enum What {
    Prompt {
        title: Option<String>,
        prompt: String,
    },
    /// A GitHub issue, with the user's notes.
    Issue {
        reference: String,
        notes: Option<String>,
    },
}

pub async fn add(
    repo: PathBuf,
    what: What,
    script: Option<PathBuf>,
    agent: Option<String>,
    daemon: bool,
) -> CliResult {
    if let What::Prompt { prompt, .. } = &what
        && prompt.trim().is_empty()
    {
        return Err(Failure::usage(
            "the prompt is empty: say what the agent should do",
        ));
    }
    let spec = match (script, agent.as_deref()) {
        (Some(path), None | Some("script")) => {
            AgentSpec::scripted_from_file(&path).map_err(Failure::usage)?
        }
        (Some(_), Some(other)) => {
            return Err(Failure::usage(format!(
                "--script runs the scripted agent; it cannot be combined with --agent {other}"
            )));
        }
        (None, Some("script")) => return Err(Failure::usage("--agent script needs --script FILE")),
        (None, provider) => {
            // Say now, not when the task runs, if no model can be reached.
            let root = crate::workspace::resolve_head(&repo)
                .map_err(Failure::usage)?
                .root;
            let config = Config::load(Some(&root)).map_err(Failure::usage)?;
            crate::agent::resolve::describe(&config.agent, config.network, provider)
                .await
                .map_err(Failure::usage)?;
            AgentSpec::Builtin {
                provider: provider.map(String::from),
            }
        }
    };
    let (data, store) = open_data()?;
    let (task, head) = match what {
        What::Prompt { title, prompt } => {
            let title =
                title.unwrap_or_else(|| ellipsize(prompt.lines().next().unwrap_or("").trim(), 72));
            let new = NewTask {
                repo,
                title,
                prompt,
                agent: spec,
                origin: None,
            };
            ops::add(&store, data.root(), new).map_err(Failure::usage)?
        }
        What::Issue { reference, notes } => crate::engine::import::import_issue(
            &store,
            data.root(),
            &repo,
            &reference,
            notes.as_deref(),
            spec,
        )
        .await
        .map_err(Failure::failed)?,
    };
    if let Some(o) = &task.origin {
        eprintln!("imported {}: {}", o.reference, task.title);
        if !o.removed.is_empty() {
            eprintln!(
                "note: hidden content removed from the issue before the agent sees it: {}",
                o.removed
            );
        }
    }
    if head.dirty {
        eprintln!(
            "note: your uncommitted changes are not included (the task starts from {} at {})",
            head.branch.as_deref().unwrap_or("HEAD"),
            &head.commit[..12]
        );
    }
    if daemon {
        // The task is in the store: the daemon runs it now, and on after this terminal.
        match spawn::connect_or_start(&data).await {
            Ok(_) => {}
            // An in-process engine of this data dir takes it instead.
            Err(StartError::InProcess { .. }) => {}
            Err(e) => eprintln!(
                "warning: the task is queued, but the daemon that would run it is not up: {e}"
            ),
        }
    }
    outln!("{}", task.id);
    Ok(0)
}

/// Sends `make(id)` to the daemon, or (`--no-daemon`) to the engine that owns the data
/// dir, or runs it in-process.
pub async fn control(
    daemon: bool,
    prefix: &str,
    make: impl FnOnce(TaskId) -> Command,
) -> CliResult {
    let (data, store) = open_data()?;
    let task = store.find(prefix).map_err(Failure::usage)?;
    let cmd = make(task.id.clone());
    if daemon {
        match spawn::connect_or_start(&data).await {
            Ok(mut c) => {
                let pid = c.pid;
                let result = c.request(cmd).await.map_err(|e| {
                    Failure::failed(format!("the daemon (pid {pid}) did not answer: {e}"))
                })?;
                return report(result);
            }
            // A `--no-daemon` front end's engine holds the data dir: ask it instead.
            Err(StartError::InProcess { .. }) => {}
            Err(e) => return Err(Failure::failed(e)),
        }
    }
    match EngineLock::acquire(&data.lock()) {
        Err(LockHeld::Held { pid, .. }) => via_inbox(&store, &cmd, &pid).await,
        Err(e) => Err(Failure::usage(e)),
        Ok(_lock) => {
            let runtime = Runtime::connect().await.ok();
            let ctx = EngineCtx::new(
                Arc::new(store),
                Arc::new(EventBus::default()),
                runtime.into(),
                data,
            );
            let opts = EngineOptions {
                max_parallel: Config::default().max_parallel,
                repo: None,
                run_queue: false,
                poll: Duration::from_secs(3600),
            };
            let handle = engine::start(ctx, opts);
            let result = handle.request(cmd).await;
            handle.shutdown().await;
            report(result)
        }
    }
}

async fn via_inbox(store: &crate::store::Store, cmd: &Command, pid: &str) -> CliResult {
    let n = store.push_command(cmd).map_err(Failure::failed)?;
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if let Some(result) = store.command_result(n).map_err(Failure::failed)? {
            return report(match result.strip_prefix("ok: ") {
                Some(m) => Ok(m.to_string()),
                None => Err(result
                    .strip_prefix("error: ")
                    .unwrap_or(&result)
                    .to_string()),
            });
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(Failure::failed(format!(
        "the running drover engine (pid {pid}) did not answer within 30s"
    )))
}

fn report(result: Result<String, String>) -> CliResult {
    match result {
        Ok(m) => {
            outln!("{m}");
            Ok(0)
        }
        Err(e) => Err(Failure::failed(e)),
    }
}
