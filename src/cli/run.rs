//! `drover run`: an in-process engine for one repository, until its tasks rest.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use super::print::{event_line, json_line};
use super::{CliResult, Failure, open_data};
use crate::config::{Config, OnQuit};
use crate::engine::bus::EventBus;
use crate::engine::ids::TaskId;
use crate::engine::protocol::EventBody;
use crate::engine::state::TaskState;
use crate::engine::{self, EngineCtx, EngineOptions};
use crate::runtime::{Runtime, image};
use crate::store::EngineLock;
use crate::verify::Verdict;
use crate::workspace;

pub async fn run(repo: PathBuf, json: bool) -> CliResult {
    let head = workspace::resolve_head(&repo).map_err(Failure::usage)?;
    let config = Config::load(Some(&head.root)).map_err(Failure::usage)?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    let (data, store) = open_data()?;
    let _lock = EngineLock::acquire(&data.lock()).map_err(Failure::usage)?;
    // Seeded from the store, so "every task rests" is never judged on a partial view.
    let mut states: HashMap<TaskId, TaskState> = store
        .tasks(Some(&head.root))
        .map_err(Failure::usage)?
        .into_iter()
        .map(|t| (t.id, t.state))
        .collect();
    if !states
        .values()
        .any(|s| *s == TaskState::Queued || s.is_active())
    {
        eprintln!(
            "nothing queued in {} (add tasks with `drover add`)",
            head.root.display()
        );
        return Ok(0);
    }
    let rt = Runtime::connect().await.map_err(Failure::usage)?;
    let img = image::task_image(&config, Some(&head.root)).map_err(Failure::usage)?;
    rt.require_image(&img).await.map_err(Failure::usage)?;

    // Only a signal ends a run early; what it does to running tasks is the quit policy.
    let on_signal = store.quit_policy(&config).unwrap_or(OnQuit::Stop);
    let bus = Arc::new(EventBus::default());
    let mut rx = bus.subscribe();
    let ctx = EngineCtx {
        store: Arc::new(store),
        bus,
        runtime: Some(rt).into(),
        data,
    };
    let opts = EngineOptions {
        max_parallel: config.max_parallel,
        repo: Some(head.root.clone()),
        run_queue: true,
        poll: Duration::from_millis(500),
    };
    let handle = engine::start(ctx, opts);
    let mut stop = crate::signals::Terminate::new().map_err(Failure::failed)?;

    let mut ran: HashSet<TaskId> = HashSet::new();
    let mut verdicts: HashMap<TaskId, Verdict> = HashMap::new();
    let mut interrupted = None;
    loop {
        tokio::select! {
            ev = rx.recv() => {
                let Some(ev) = ev else { break };
                if json {
                    outln!("{}", json_line(&ev));
                } else if let Some(line) = event_line(&ev) {
                    outln!("{line}");
                }
                if let Some(id) = ev.task.clone() {
                    match &ev.body {
                        EventBody::TaskAdded { task, .. } => { states.insert(id, task.state.clone()); }
                        EventBody::StateChanged { to, .. } => {
                            if *to == TaskState::Provisioning {
                                ran.insert(id.clone());
                                verdicts.remove(&id);
                            }
                            states.insert(id, to.clone());
                        }
                        EventBody::TestFinished { report } => { verdicts.insert(id, report.verdict); }
                        _ => {}
                    }
                }
                let busy = states.values().any(|s| *s == TaskState::Queued || s.is_active());
                if !busy {
                    break;
                }
            }
            sig = stop.recv() => {
                match on_signal {
                    OnQuit::Stop => eprintln!("{}: interrupting running tasks (`drover resume ID` goes on with one)…", sig.name()),
                    OnQuit::Keep => eprintln!("{}: leaving running tasks in their containers (on_quit = \"keep\"); the next `drover run` resumes them", sig.name()),
                }
                interrupted = Some(sig);
                break;
            }
        }
    }
    handle
        .quit(if interrupted.is_some() {
            on_signal
        } else {
            OnQuit::Stop
        })
        .await;
    if let Some(sig) = interrupted {
        return Ok(sig.exit_code());
    }
    let all_passed = ran.iter().all(|id| {
        states.get(id) == Some(&TaskState::Review) && verdicts.get(id) == Some(&Verdict::Passed)
    });
    if !json {
        let ok = ran
            .iter()
            .filter(|id| verdicts.get(*id) == Some(&Verdict::Passed))
            .count();
        eprintln!(
            "{} task(s) ran, {ok} reached review with passing tests",
            ran.len()
        );
    }
    Ok(if all_passed { 0 } else { 1 })
}
