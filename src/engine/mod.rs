//! The engine: takes `Command`s, runs tasks, emits `Event`s. No terminal, no socket.
//!
//! `start` spawns one loop (`core`) that owns scheduling: queued tasks of its scope start
//! oldest first while slots are free (`scheduler::pick`), each attempt a supervisor task.
//! Commands arrive through a `Commander` and are answered with a typed `CommandResult`
//! (`commands`); every change to a task goes through `EngineCtx::transition` or
//! `update_attempt`. Reaching the engine from another process is `crate::host`'s job.

mod add;
mod approve;
mod baseline;
pub mod bus;
mod commands;
mod core;
mod ctx;
mod differ;
pub mod docker_watch;
mod egress;
mod environ;
mod history;
mod import;
pub(crate) mod journal;
mod pool;
mod pr_watch;
mod provision;
mod pull_request;
mod push;
mod radar;
mod recovery;
mod scheduler;
mod session;
mod supervisor;
mod watchdog;

use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use add::{add, slug};
pub use ctx::EngineCtx;

use crate::config::OnQuit;
use crate::protocol::{Command, CommandError, CommandResult};

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub max_parallel: usize,
    /// Only tasks of this repository (all when `None`).
    pub repo: Option<PathBuf>,
    /// Start queued tasks and look after Docker and the warm pools. Off for an engine
    /// that only answers one command (`--no-daemon` with nothing else running).
    pub run_queue: bool,
}

/// What reaches the engine loop: commands from the host, and wake-ups from its own
/// watchers.
pub(crate) enum Mail {
    Command(Command, oneshot::Sender<CommandResult>),
    /// Stop the engine; running tasks stop or keep their containers.
    Stop(OnQuit),
    /// Docker is reachable again: start what waits.
    DockerBack,
    /// Something changed off the loop (a task was imported): look again.
    Wake,
    /// A front end opened in, or closed, a repository (its warm pool is kept meanwhile).
    Open(PathBuf),
    Closed(PathBuf),
}

/// A running engine.
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Mail>,
    join: JoinHandle<()>,
}

impl EngineHandle {
    pub fn commander(&self) -> Commander {
        Commander {
            tx: self.tx.clone(),
        }
    }

    /// Ends the engine, applying `policy` to running tasks: `Stop` interrupts them
    /// (containers stopped; they can be resumed), `Keep` leaves their containers running
    /// and the tasks active, for the next engine to reattach.
    pub async fn quit(self, policy: OnQuit) {
        let _ = self.tx.send(Mail::Stop(policy));
        let _ = self.join.await;
    }
}

/// Sends commands to a running engine; cloneable, for many front ends at once.
#[derive(Clone)]
pub struct Commander {
    tx: mpsc::UnboundedSender<Mail>,
}

impl Commander {
    /// Hands a command to the engine now (commands submitted one after another reach it
    /// in that order); the answer comes from the returned future.
    pub fn submit(&self, cmd: Command) -> impl Future<Output = CommandResult> + use<> {
        let (tx, rx) = oneshot::channel();
        let sent = self.tx.send(Mail::Command(cmd, tx)).is_ok();
        async move {
            if !sent {
                return Err(CommandError::EngineStopped);
            }
            rx.await.map_err(|_| CommandError::EngineStopped)?
        }
    }

    /// Says a front end is open in `repo` until the guard drops: the engine keeps that
    /// repository's warm pool (`warm_pool`) ready meanwhile, for its first task too.
    pub fn open_in(&self, repo: PathBuf) -> OpenIn {
        let _ = self.tx.send(Mail::Open(repo.clone()));
        OpenIn {
            tx: self.tx.clone(),
            repo,
        }
    }
}

/// A front end open in a repository; see `Commander::open_in`.
pub struct OpenIn {
    tx: mpsc::UnboundedSender<Mail>,
    repo: PathBuf,
}

impl Drop for OpenIn {
    fn drop(&mut self) {
        let _ = self.tx.send(Mail::Closed(std::mem::take(&mut self.repo)));
    }
}

/// How an engine's end reaches its running attempts.
#[derive(Clone)]
pub(crate) struct Ending {
    pub token: CancellationToken,
    keep: Arc<std::sync::atomic::AtomicBool>,
}

impl Ending {
    /// The engine quit keeping containers: the attempt leaves its task as it is.
    pub(crate) fn keeps_running(&self) -> bool {
        self.token.is_cancelled() && self.keep.load(std::sync::atomic::Ordering::SeqCst)
    }
}

/// Starts the engine loop. Tasks left mid-attempt by a previous engine are dealt with
/// first (this engine holds the data dir, so nobody else runs them).
pub fn start(ctx: EngineCtx, opts: EngineOptions) -> EngineHandle {
    crate::workspace::owner::allow_sandbox_owned_repositories();
    let (tx, rx) = mpsc::unbounded_channel();
    let engine = core::Engine::new(Arc::new(ctx), opts, tx.downgrade());
    let join = tokio::spawn(engine.run(rx));
    EngineHandle { tx, join }
}
