//! The engine: takes `Command`s, runs tasks, emits `Event`s. No terminal, no UI types.
//!
//! One loop owns scheduling: a FIFO of queued tasks (read from the store, so tasks added
//! by another process count too), at most `max_parallel` attempts at once, each attempt a
//! supervisor task. Other processes reach a running engine through the store's inbox.

pub mod approve;
pub mod bus;
mod differ;
pub mod docker_watch;
pub mod import;
pub(crate) mod journal;
pub mod ops;
mod pool;
mod provision;
mod pull_request;
mod radar;
mod recovery;
mod session;
mod supervisor;
mod watchdog;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::protocol::{Command, Event, EventBody, TaskId, TaskRecord, TaskState, Transition};
use bus::EventBus;

use crate::config::OnQuit;
use crate::paths::DataDir;

use crate::store::Store;

/// What the engine and its supervisors share.
pub struct EngineCtx {
    pub store: Arc<Store>,
    pub bus: Arc<EventBus>,
    /// Empty while Docker is unreachable: tasks wait in the queue until it is back.
    pub runtime: docker_watch::RuntimeSlot,
    pub data: DataDir,
    /// Containers made ahead of their tasks (`warm_pool`).
    pub(crate) pool: pool::WarmPool,
}

impl EngineCtx {
    pub fn new(
        store: Arc<Store>,
        bus: Arc<EventBus>,
        runtime: docker_watch::RuntimeSlot,
        data: DataDir,
    ) -> EngineCtx {
        EngineCtx {
            store,
            bus,
            runtime,
            data,
            pool: pool::WarmPool::default(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EngineOptions {
    pub max_parallel: usize,
    /// Only tasks of this repository (all when `None`).
    pub repo: Option<PathBuf>,
    /// Start queued tasks. Off for one-shot commands (cancel, discard) from the CLI.
    pub run_queue: bool,
    /// How often the inbox and the queue are read from the store.
    pub poll: Duration,
}

pub(crate) enum Msg {
    Command(Command, Option<oneshot::Sender<Result<String, String>>>),
    /// Stop the engine; running tasks stop or keep their containers.
    Quit(OnQuit),
    /// A task was recorded outside the loop (issue import): announce it, then say how.
    Added(TaskId, String),
    /// Docker is reachable again: start what waits.
    DockerBack,
    /// A front end opened in, or closed, a repository (its warm pool is kept meanwhile).
    Open(PathBuf),
    Closed(PathBuf),
}

/// Where a command's answer goes: a waiting caller, the store's inbox, or the bus.
type Reply = Box<dyn FnOnce(Result<String, String>) + Send>;

/// A running engine.
pub struct EngineHandle {
    tx: mpsc::UnboundedSender<Msg>,
    bus: Arc<EventBus>,
    join: JoinHandle<()>,
}

impl EngineHandle {
    pub fn subscribe(&self) -> mpsc::UnboundedReceiver<Event> {
        self.bus.subscribe()
    }

    pub fn send(&self, cmd: Command) {
        let _ = self.tx.send(Msg::Command(cmd, None));
    }

    /// Sends a command and waits for the engine's answer.
    pub async fn request(&self, cmd: Command) -> Result<String, String> {
        self.commander().request(cmd).await
    }

    pub fn commander(&self) -> Commander {
        Commander {
            tx: self.tx.clone(),
        }
    }

    /// Interrupts running attempts (containers stopped; the tasks can be resumed or
    /// retried) and waits for the loop to end.
    pub async fn shutdown(self) {
        self.quit(OnQuit::Stop).await;
    }

    /// Ends the engine, applying `policy` to running tasks: `Keep` leaves their containers
    /// running and the tasks active, for the next engine to reattach.
    pub async fn quit(self, policy: OnQuit) {
        let _ = self.tx.send(Msg::Quit(policy));
        let _ = self.join.await;
    }
}

/// Sends commands to a running engine; cloneable, for many front ends at once.
#[derive(Clone)]
pub struct Commander {
    tx: mpsc::UnboundedSender<Msg>,
}

impl Commander {
    /// Sends a command and waits for the engine's answer.
    pub async fn request(&self, cmd: Command) -> Result<String, String> {
        let (tx, rx) = oneshot::channel();
        self.tx
            .send(Msg::Command(cmd, Some(tx)))
            .map_err(|_| "the engine has stopped".to_string())?;
        rx.await.map_err(|_| "the engine has stopped".to_string())?
    }

    /// Says a front end is open in `repo` until the guard drops: the engine keeps that
    /// repository's warm pool (`warm_pool`) ready meanwhile, for its first task too.
    pub fn open_in(&self, repo: PathBuf) -> OpenIn {
        let _ = self.tx.send(Msg::Open(repo.clone()));
        OpenIn {
            tx: self.tx.clone(),
            repo,
        }
    }
}

/// A front end open in a repository; see `Commander::open_in`.
pub struct OpenIn {
    tx: mpsc::UnboundedSender<Msg>,
    repo: PathBuf,
}

impl Drop for OpenIn {
    fn drop(&mut self) {
        let _ = self.tx.send(Msg::Closed(std::mem::take(&mut self.repo)));
    }
}

/// How an engine's end reaches its running attempts.
#[derive(Clone)]
pub(crate) struct Quit {
    pub token: CancellationToken,
    keep: Arc<std::sync::atomic::AtomicBool>,
}

impl Quit {
    /// The engine quit keeping containers: the attempt leaves its task as it is.
    pub fn keeps_running(&self) -> bool {
        self.token.is_cancelled() && self.keep.load(std::sync::atomic::Ordering::SeqCst)
    }
}

struct Running {
    cancel: CancellationToken,
    discard_after: bool,
    repo: PathBuf,
}

struct Engine {
    ctx: Arc<EngineCtx>,
    opts: EngineOptions,
    running: HashMap<TaskId, Running>,
    known: HashSet<TaskId>,
    done_tx: mpsc::UnboundedSender<TaskId>,
    joins: Vec<JoinHandle<()>>,
    shutdown: CancellationToken,
    /// Set before `shutdown` when quitting keeps containers running.
    keep: Arc<std::sync::atomic::AtomicBool>,
    /// Active tasks left by an earlier engine were dealt with (it needs Docker).
    recovered: bool,
    /// The store's queue mark when last read: polling reads the task list only when it
    /// moved (idle costs one tiny query per tick).
    queue_mark: i64,
    /// Tasks with an approve or push under way (they run off the loop; one at a time).
    busy: Arc<std::sync::Mutex<HashSet<TaskId>>>,
    /// To itself, weakly (the loop still ends when every handle is gone).
    tx: mpsc::WeakUnboundedSender<Msg>,
    /// The last inbox command taken (its answer may still be on the way).
    inbox_taken: i64,
    /// Repositories front ends are open in, with how many.
    open_in: HashMap<PathBuf, usize>,
    /// Warm pools were cleared of what an earlier engine left (it needs Docker).
    swept: bool,
}

/// Starts the engine loop. Tasks left mid-attempt by a previous engine are marked
/// interrupted first (this engine holds the data dir, so nobody else runs them).
pub fn start(ctx: EngineCtx, opts: EngineOptions) -> EngineHandle {
    crate::workspace::owner::allow_sandbox_owned_repositories();
    let bus = ctx.bus.clone();
    let (tx, rx) = mpsc::unbounded_channel();
    let (done_tx, done_rx) = mpsc::unbounded_channel();
    let engine = Engine {
        ctx: Arc::new(ctx),
        opts,
        running: HashMap::new(),
        known: HashSet::new(),
        done_tx,
        joins: Vec::new(),
        shutdown: CancellationToken::new(),
        keep: Arc::default(),
        recovered: false,
        queue_mark: -1,
        busy: Arc::default(),
        tx: tx.downgrade(),
        inbox_taken: 0,
        open_in: HashMap::new(),
        swept: false,
    };
    if engine.opts.run_queue {
        tokio::spawn(radar::run(
            engine.ctx.clone(),
            engine.opts.repo.clone(),
            engine.shutdown.clone(),
        ));
    }
    if engine.opts.run_queue {
        tokio::spawn(docker_watch::run(
            engine.ctx.clone(),
            engine.tx.clone(),
            engine.shutdown.clone(),
        ));
    }
    let join = tokio::spawn(engine.run(rx, done_rx));
    EngineHandle { tx, bus, join }
}

impl Engine {
    async fn run(
        mut self,
        mut rx: mpsc::UnboundedReceiver<Msg>,
        mut done_rx: mpsc::UnboundedReceiver<TaskId>,
    ) {
        let docker = match &self.ctx.runtime.get() {
            Some(rt) => EventBody::Docker {
                version: Some(rt.version().to_string()),
                error: None,
            },
            None => EventBody::Docker {
                version: None,
                error: Some("docker unavailable".into()),
            },
        };
        self.ctx.bus.emit(None, 0, docker);
        self.recover().await;
        self.resume_after_outage();
        self.reap_orphans().await;
        self.announce_new();
        self.step().await;
        let mut tick = tokio::time::interval(self.opts.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None | Some(Msg::Command(Command::Shutdown, _)) => break,
                    Some(Msg::Quit(policy)) => {
                        self.keep.store(policy == OnQuit::Keep, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                    Some(Msg::Command(cmd, reply)) => {
                        let bus = self.ctx.bus.clone();
                        let reply: Reply = match reply {
                            Some(tx) => Box::new(move |r| { let _ = tx.send(r); }),
                            None => Box::new(move |r| if let Err(message) = r {
                                bus.emit(None, 0, EventBody::Error { message });
                            }),
                        };
                        self.dispatch(cmd, reply).await;
                    }
                    Some(Msg::DockerBack) => {
                        self.recover().await;
                        self.resume_after_outage();
                        self.reap_orphans().await;
                        self.announce_new();
                        // Docker may have restarted under the waiting containers.
                        if let Some(rt) = self.ctx.runtime.get() {
                            self.ctx.pool.reset(&rt);
                        }
                    }
                    Some(Msg::Open(repo)) => *self.open_in.entry(repo).or_default() += 1,
                    Some(Msg::Closed(repo)) => {
                        if let Some(n) = self.open_in.get_mut(&repo) {
                            *n -= 1;
                            if *n == 0 {
                                self.open_in.remove(&repo);
                            }
                        }
                    }
                    Some(Msg::Added(id, notice)) => {
                        self.announce_new();
                        self.ctx.bus.emit(Some(&id), 1, EventBody::Notice { message: notice });
                    }
                },
                Some(id) = done_rx.recv() => {
                    if let Some(r) = self.running.remove(&id)
                        && r.discard_after
                        && let Err(message) = ops::discard(&self.ctx, &id).await
                    {
                        self.ctx.bus.emit(Some(&id), 0, EventBody::Error { message });
                    }
                }
                _ = tick.tick() => {
                    let inbox = self.poll_inbox().await;
                    let mark = self.ctx.store.queue_mark().unwrap_or(-1);
                    if !inbox && mark == self.queue_mark {
                        continue;
                    }
                    self.queue_mark = mark;
                    self.announce_new();
                }
            }
            self.step().await;
        }
        // Children of this token are the running attempts: they end as interrupted.
        self.shutdown.cancel();
        for j in self.joins.drain(..) {
            let _ = j.await;
        }
        // Waiting containers hold no work: they go whether running tasks stay or not.
        self.ctx.pool.close(self.ctx.runtime.get().as_ref()).await;
    }

    /// What follows any event: queued tasks start, warm pools are sized. One read of the
    /// task list and of each repository's config serves both.
    async fn step(&mut self) {
        if !self.opts.run_queue {
            return;
        }
        let Some(rt) = self.ctx.runtime.get() else {
            return;
        };
        let Ok(tasks) = self.ctx.store.tasks(self.opts.repo.as_deref()) else {
            return;
        };
        let ctx = self.ctx.clone();
        let mut configs = Configs(HashMap::new(), ctx.data.root());
        self.schedule(&tasks, &mut configs);
        self.keep_warm(&rt, &tasks, &mut configs).await;
    }

    /// Sizes the warm pools: every repository in play (the one this engine serves, one a
    /// front end is open in, one with tasks queued, running or in review) gets its
    /// configured `warm_pool`; the rest get none.
    async fn keep_warm(
        &mut self,
        rt: &crate::runtime::Runtime,
        tasks: &[TaskRecord],
        configs: &mut Configs<'_>,
    ) {
        if !self.swept {
            pool::sweep(rt, &self.ctx.data).await;
            self.swept = true;
        }
        let mut repos: HashSet<PathBuf> = self.opts.repo.iter().cloned().collect();
        repos.extend(
            self.open_in
                .keys()
                .filter(|r| self.opts.repo.as_ref().is_none_or(|o| o == *r))
                .cloned(),
        );
        repos.extend(
            tasks
                .iter()
                .filter(|t| {
                    matches!(t.state, TaskState::Queued | TaskState::Review) || t.state.is_active()
                })
                .map(|t| t.repo.clone()),
        );
        let wanted: HashMap<PathBuf, usize> = repos
            .into_iter()
            .filter_map(|r| {
                // A repository's own image may run code in a waiting container before
                // its task claims it, while the host still prepares the slot: no pool.
                let n = configs
                    .get(&r)
                    .map_or(0, |c| if c.repo_image { 0 } else { c.warm_pool });
                (n > 0).then_some((r, n))
            })
            .collect();
        self.ctx.pool.want(rt, &self.ctx.data, &wanted);
    }

    fn in_scope(&self, t: &TaskRecord) -> bool {
        self.opts.repo.as_ref().is_none_or(|r| &t.repo == r)
    }

    /// Emits `TaskAdded` for tasks this engine has not announced yet.
    fn announce_new(&mut self) {
        let Ok(tasks) = self.ctx.store.tasks(self.opts.repo.as_deref()) else {
            return;
        };
        for t in tasks {
            if self.known.insert(t.id.clone()) {
                let (id, n) = (t.id.clone(), t.attempt);
                let attempt = self.ctx.store.attempt(&id, n).unwrap_or_default();
                let body = EventBody::TaskAdded {
                    task: Box::new(t),
                    attempt: Box::new(attempt),
                };
                self.ctx.bus.emit(Some(&id), n, body);
            }
        }
    }

    /// Starts queued tasks, oldest first, while slots are free.
    fn schedule(&mut self, tasks: &[TaskRecord], configs: &mut Configs<'_>) {
        for t in tasks {
            if self.running.len() >= self.opts.max_parallel {
                break;
            }
            if t.state != TaskState::Queued || self.running.contains_key(&t.id) || !self.in_scope(t)
            {
                continue;
            }
            // A repository's own `max_parallel` caps its tasks too (the daemon runs many).
            let cap = configs
                .get(&t.repo)
                .map_or(self.opts.max_parallel, |c| c.max_parallel);
            if self.running.values().filter(|r| r.repo == t.repo).count() >= cap {
                continue;
            }
            let cancel = self.shutdown.child_token();
            let id = t.id.clone();
            self.running.insert(
                id.clone(),
                Running {
                    cancel: cancel.clone(),
                    discard_after: false,
                    repo: t.repo.clone(),
                },
            );
            let (ctx, done) = (self.ctx.clone(), self.done_tx.clone());
            let quit = Quit {
                token: self.shutdown.clone(),
                keep: self.keep.clone(),
            };
            self.joins.retain(|j| !j.is_finished());
            let t = t.clone();
            self.joins.push(tokio::spawn(async move {
                supervisor::run_attempt(ctx, t, cancel, quit).await;
                let _ = done.send(id);
            }));
        }
    }

    /// Answers a command. Approve and push talk to git remotes and GitHub (seconds): they
    /// run beside the loop, so scheduling and other commands never wait on the network.
    async fn dispatch(&mut self, cmd: Command, reply: Reply) {
        let id = match cmd {
            Command::Approve { ref id, .. } | Command::Push { ref id } => id.clone(),
            Command::Import {
                repo,
                reference,
                notes,
                agent,
            } => {
                let (ctx, me) = (self.ctx.clone(), self.tx.clone());
                tokio::spawn(async move {
                    let r = import::import_issue(
                        &ctx.store,
                        ctx.data.root(),
                        &repo,
                        &reference,
                        notes.as_deref(),
                        agent,
                    )
                    .await;
                    let r = r.map(|(t, _)| {
                        let said = match &t.origin {
                            Some(o) if !o.removed.is_empty() => format!(
                                "imported {} (hidden content removed: {})",
                                o.reference, o.removed
                            ),
                            Some(o) => format!("imported {}", o.reference),
                            None => "queued".to_string(),
                        };
                        if let Some(me) = me.upgrade() {
                            let _ = me.send(Msg::Added(t.id.clone(), said.clone()));
                        }
                        format!("task {}: {said}", t.id)
                    });
                    reply(r);
                });
                return;
            }
            _ => return reply(self.handle(cmd).await),
        };
        let task = match self.ctx.store.find(id.as_str()) {
            Ok(t) => t,
            Err(e) => return reply(Err(e.to_string())),
        };
        let busy = self.busy.clone();
        if !lock(&busy).insert(task.id.clone()) {
            return reply(Err(format!(
                "task {} is already being approved or pushed",
                task.id
            )));
        }
        let ctx = self.ctx.clone();
        tokio::spawn(async move {
            let r = match cmd {
                Command::Approve { force, branch, .. } => {
                    approve::approve(&ctx, &task.id, force, branch).await
                }
                _ => ops::push(&ctx, &task.id).await,
            };
            lock(&busy).remove(&task.id);
            reply(r);
        });
    }

    async fn handle(&mut self, cmd: Command) -> Result<String, String> {
        match cmd {
            Command::Queue { task } => {
                let (record, _) = ops::add(&self.ctx.store, self.ctx.data.root(), task)
                    .map_err(|e| e.to_string())?;
                let msg = format!("queued task {}", record.id);
                self.announce_new();
                Ok(msg)
            }
            Command::Cancel { id } => self.cancel(&id, false).await,
            Command::Discard { id } => {
                let t = self
                    .ctx
                    .store
                    .find(id.as_str())
                    .map_err(|e| e.to_string())?;
                if self.running.contains_key(&t.id) {
                    return self.cancel(&t.id, true).await;
                }
                ops::discard(&self.ctx, &t.id).await
            }
            Command::Retry { id, feedback } => ops::retry(&self.ctx, &id, feedback),
            Command::Resume { id } => ops::resume(&self.ctx, &id),
            Command::Approve { .. } | Command::Push { .. } | Command::Import { .. } => {
                Err("approve, push and import are dispatched off the loop".into())
            }
            Command::Load { id } => {
                let t = self
                    .ctx
                    .store
                    .find(id.as_str())
                    .map_err(|e| e.to_string())?;
                let ctx = self.ctx.clone();
                // Reading transcripts and diffs is file and git work: off the loop.
                tokio::task::spawn_blocking(move || {
                    let body = ops::history(&ctx, &t);
                    ctx.bus.emit(Some(&t.id), t.attempt, body);
                });
                Ok(format!("loading task {id}"))
            }
            Command::Shutdown => Ok("shutting down".into()),
        }
    }

    async fn cancel(&mut self, id: &TaskId, then_discard: bool) -> Result<String, String> {
        let t = self
            .ctx
            .store
            .find(id.as_str())
            .map_err(|e| e.to_string())?;
        if let Some(r) = self.running.get_mut(&t.id) {
            r.cancel.cancel();
            r.discard_after |= then_discard;
            // Stopping the container ends whatever runs in it right now; it can take
            // seconds, so the loop does not wait for it.
            if let Some(rt) = self.ctx.runtime.get() {
                let name = crate::runtime::container_name(&t.id);
                tokio::spawn(async move {
                    if let Err(e) = rt.stop(&name).await {
                        tracing::warn!("stopping {name}: {e}");
                    }
                });
            }
            let what = if then_discard {
                "cancelling, then discarding"
            } else {
                "cancelling"
            };
            return Ok(format!("{what} task {}", t.id));
        }
        let mut m = supervisor::Mover::new(&self.ctx, t);
        m.go(Transition::Cancel)?;
        Ok(format!("task {} cancelled", m.task.id))
    }

    /// Commands left in the store by other drover processes; whether there were any.
    async fn poll_inbox(&mut self) -> bool {
        let Ok(items) = self.ctx.store.pending_commands(self.inbox_taken) else {
            return false;
        };
        let any = !items.is_empty();
        for item in items {
            self.inbox_taken = self.inbox_taken.max(item.id);
            let store = self.ctx.store.clone();
            let reply: Reply = Box::new(move |r| {
                let result = match r {
                    Ok(m) => format!("ok: {m}"),
                    Err(e) => format!("error: {e}"),
                };
                let _ = store.finish_command(item.id, &result);
            });
            self.dispatch(item.command, reply).await;
        }
        any
    }
}

/// Repositories' configs, each read once per engine step (`None`: it does not load),
/// trusting what the engine's data dir records.
struct Configs<'a>(
    HashMap<PathBuf, Option<crate::config::Config>>,
    &'a std::path::Path,
);

impl Configs<'_> {
    fn get(&mut self, repo: &std::path::Path) -> Option<&crate::config::Config> {
        let data = self.1;
        self.0
            .entry(repo.to_path_buf())
            .or_insert_with(|| crate::config::Config::load_in(Some(repo), data).ok())
            .as_ref()
    }
}

/// The busy set stays consistent even if a holder panicked: it is a plain set of ids.
fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
