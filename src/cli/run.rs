//! `drover run`: follow one repository's tasks until each rests (review, failed,
//! cancelled), printing their events. The daemon runs them (started when needed), or with
//! `--no-daemon` an engine in this process, so scripts and CI need no background process.
//!
//! A signal ends the run early: the daemon goes on with the tasks; an in-process engine
//! applies the quit policy to them.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;

use super::print::{event_line, json_line};
use super::{CliResult, Failure, open_data};
use crate::client::{Attachment, OpenOptions, Update};
use crate::config::{Config, OnQuit};
use crate::protocol::{Event, EventBody, HostKind, TaskId, TaskState, Verdict};
use crate::runtime::{Runtime, image};
use crate::store::Store;
use crate::workspace;

pub(super) async fn run(repo: PathBuf, json: bool, daemon: bool) -> CliResult {
    let head = workspace::resolve_head(&repo).map_err(Failure::usage)?;
    let config = Config::load(Some(&head.root)).map_err(Failure::usage)?;
    for w in &config.warnings {
        eprintln!("warning: {w}");
    }
    let (data, store) = open_data()?;
    // Seeded from the store, so "every task rests" is never judged on a partial view.
    let mut follow = Follow::default();
    follow.seed(store.tasks(Some(&head.root)).map_err(Failure::usage)?);
    if !follow.busy() {
        eprintln!(
            "nothing queued in {} (add tasks with `drover add`)",
            head.root.display()
        );
        return Ok(0);
    }
    let rt = Runtime::connect().await.map_err(Failure::usage)?;
    let img = image::task_image(&config, Some(&head.root)).map_err(Failure::usage)?;
    rt.require_image(&img).await.map_err(Failure::usage)?;

    let on_signal = store.quit_policy(&config).unwrap_or(OnQuit::Stop);
    drop(rt);
    let opened = crate::client::open(OpenOptions {
        data: data.clone(),
        daemon,
        scope: Some(head.root.clone()),
        run_queue: true,
        max_parallel: config.max_parallel,
    })
    .await
    .map_err(Failure::usage)?;
    let welcome = opened.connection.welcome.clone();
    if !welcome.runs(&head.root) {
        if let Some(host) = opened.host {
            host.quit(OnQuit::Stop).await;
        }
        return Err(Failure::usage(format!(
            "{} holds the data dir and does not run the tasks of {}: quit it, or run there",
            welcome.who(),
            head.root.display()
        )));
    }
    if !json && opened.host.is_none() {
        eprintln!("following {}", welcome.who());
    }
    let host = opened.host;
    let reconnect = (welcome.host == HostKind::Daemon).then(|| data.clone());
    let mut front = Attachment::attach(opened.connection, Some(head.root.clone()), reconnect);
    let mut stop = crate::signals::Terminate::new().map_err(Failure::failed)?;

    let mut interrupted = None;
    let mut fatal = None;
    loop {
        tokio::select! {
            up = front.recv() => {
                match up {
                    None => break,
                    Some(Update::Event(ev)) => {
                        if json {
                            outln!("{}", json_line(&ev));
                        } else if let Some(line) = event_line(&ev) {
                            outln!("{line}");
                        }
                        follow.apply(&ev);
                    }
                    Some(Update::Snapshot(tasks)) => {
                        follow.seed(tasks.into_iter().map(|t| t.task).collect());
                    }
                    Some(Update::Reply { result: Err(e), .. }) => eprintln!("drover: {e}"),
                    Some(Update::Reply { result: Ok(_), .. }) => {}
                    Some(Update::Lost(why)) => eprintln!("drover: {why}; reconnecting…"),
                    Some(Update::Back(pid)) => eprintln!("drover: following the daemon again (pid {pid})"),
                    Some(Update::Fatal(why)) => {
                        fatal = Some(why);
                        break;
                    }
                }
                if !follow.busy() {
                    break;
                }
            }
            sig = stop.recv() => {
                match (&host, on_signal) {
                    (None, _) => eprintln!("{}: {} goes on with the tasks; `drover run` or `drover` follows them again", sig.name(), welcome.who()),
                    (_, OnQuit::Stop) => eprintln!("{}: interrupting running tasks (`drover resume ID` goes on with one)…", sig.name()),
                    (_, OnQuit::Keep) => eprintln!("{}: leaving running tasks in their containers (on_quit = \"keep\"); the next `drover run` resumes them", sig.name()),
                }
                interrupted = Some(sig);
                break;
            }
        }
    }
    drop(front);
    if let Some(host) = host {
        host.quit(if interrupted.is_some() {
            on_signal
        } else {
            OnQuit::Stop
        })
        .await;
    }
    if let Some(why) = fatal {
        return Err(Failure::failed(why));
    }
    if let Some(sig) = interrupted {
        return Ok(sig.exit_code());
    }
    let (ran, ok) = follow.outcome(&store);
    if !json {
        eprintln!("{ran} task(s) ran, {ok} reached review with passing tests");
    }
    Ok(if ran == ok { 0 } else { 1 })
}

/// The repository's tasks as the events tell, and which of them this run saw work.
#[derive(Default)]
struct Follow {
    states: HashMap<TaskId, TaskState>,
    ran: HashSet<TaskId>,
}

impl Follow {
    /// Takes the tasks as they stand; those not resting are this run's to wait for.
    fn seed(&mut self, tasks: Vec<crate::protocol::TaskRecord>) {
        for t in tasks {
            if t.state == TaskState::Queued || t.state.is_active() {
                self.ran.insert(t.id.clone());
            }
            self.states.insert(t.id, t.state);
        }
    }

    fn apply(&mut self, ev: &Event) {
        let Some(id) = ev.task.clone() else { return };
        match &ev.body {
            EventBody::TaskAdded { task, .. } => {
                self.states.insert(id, task.state.clone());
            }
            EventBody::StateChanged { to, .. } => {
                if *to == TaskState::Provisioning {
                    self.ran.insert(id.clone());
                }
                self.states.insert(id, to.clone());
            }
            _ => {}
        }
    }

    fn busy(&self) -> bool {
        self.states
            .values()
            .any(|s| *s == TaskState::Queued || s.is_active())
    }

    /// How many tasks ran, and how many of them rest in review with passing tests (read
    /// from the store: the facts, whoever ran them).
    fn outcome(&self, store: &Store) -> (usize, usize) {
        let passed = |id: &TaskId| {
            let Ok(t) = store.find(id.as_str()) else {
                return false;
            };
            let verdict = store
                .attempt(&t.id, t.attempt)
                .ok()
                .and_then(|a| a.tests)
                .map(|r| r.verdict);
            t.state == TaskState::Review && verdict == Some(Verdict::Passed)
        };
        let ok = self.ran.iter().filter(|id| passed(id)).count();
        (self.ran.len(), ok)
    }
}
