//! The engine's loop: one owner of what runs. It wakes on a command, an attempt ending
//! or Docker coming back, and then, from one read of the task list, deals with what an
//! earlier engine left (`recovery`), starts what `scheduler::pick` picks and sizes the
//! warm pools. It never polls: nothing else writes tasks.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use super::scheduler::{self, Caps};
use super::{Ending, EngineCtx, EngineOptions, Mail, commands, pool, recovery, supervisor};
use crate::config::{Config, OnQuit};
use crate::protocol::{EventBody, TaskId, TaskRecord, TaskState};
use crate::runtime::Runtime;

/// An attempt under way.
pub(super) struct Running {
    pub cancel: CancellationToken,
    /// Discard the task once the attempt has stopped (discard of a running task).
    pub discard_after: bool,
    pub repo: PathBuf,
}

pub(super) struct Engine {
    pub ctx: Arc<EngineCtx>,
    pub opts: EngineOptions,
    pub running: HashMap<TaskId, Running>,
    /// Each attempt's supervisor, answering with its task when it ends.
    attempts: JoinSet<TaskId>,
    /// Cancelled when the engine ends; running attempts hold child tokens.
    ending: Ending,
    /// Tasks with an approve, push or discard under way (one at a time per task).
    pub busy: Arc<Mutex<HashSet<TaskId>>>,
    /// To itself, weakly (the loop still ends when every handle is gone).
    pub me: mpsc::WeakUnboundedSender<Mail>,
    /// Repositories front ends are open in, with how many.
    open_in: HashMap<PathBuf, usize>,
    /// What an earlier engine left was dealt with (it needs Docker).
    recovered: bool,
    /// Warm-pool containers an earlier engine left were removed.
    swept: bool,
}

impl Engine {
    pub(super) fn new(
        ctx: Arc<EngineCtx>,
        opts: EngineOptions,
        me: mpsc::WeakUnboundedSender<Mail>,
    ) -> Engine {
        Engine {
            ctx,
            opts,
            running: HashMap::new(),
            attempts: JoinSet::new(),
            ending: Ending {
                token: CancellationToken::new(),
                keep: Arc::default(),
            },
            busy: Arc::default(),
            me,
            open_in: HashMap::new(),
            recovered: false,
            swept: false,
        }
    }

    pub(super) async fn run(mut self, mut rx: mpsc::UnboundedReceiver<Mail>) {
        self.say_docker();
        if self.opts.run_queue {
            tokio::spawn(super::radar::run(
                self.ctx.clone(),
                self.opts.repo.clone(),
                self.ending.token.clone(),
            ));
            tokio::spawn(super::pr_watch::run(
                self.ctx.clone(),
                self.opts.repo.clone(),
                self.busy.clone(),
                self.me.clone(),
                self.ending.token.clone(),
            ));
            tokio::spawn(super::docker_watch::run(
                self.ctx.clone(),
                self.me.clone(),
                self.ending.token.clone(),
            ));
        }
        self.wake().await;
        loop {
            tokio::select! {
                msg = rx.recv() => match msg {
                    None => break,
                    Some(Mail::Stop(policy)) => {
                        self.ending.keep.store(policy == OnQuit::Keep, std::sync::atomic::Ordering::SeqCst);
                        break;
                    }
                    Some(Mail::Command(cmd, reply)) => commands::dispatch(&mut self, cmd, reply).await,
                    Some(Mail::DockerBack) => {
                        self.recovered = false;
                        // Docker may have restarted under the waiting containers.
                        if let Some(rt) = self.ctx.runtime.get() {
                            self.ctx.pool.reset(&rt);
                        }
                    }
                    Some(Mail::Wake) => {}
                    Some(Mail::Open(repo)) => *self.open_in.entry(repo).or_default() += 1,
                    Some(Mail::Closed(repo)) => {
                        if let Some(n) = self.open_in.get_mut(&repo) {
                            *n -= 1;
                            if *n == 0 {
                                self.open_in.remove(&repo);
                            }
                        }
                    }
                },
                Some(ended) = self.attempts.join_next(), if !self.attempts.is_empty() => {
                    if let Ok(id) = ended {
                        self.attempt_ended(&id).await;
                    }
                }
            }
            self.wake().await;
        }
        // Children of this token are the running attempts: they end as interrupted, or
        // leave their containers running when the engine quits keeping them.
        self.ending.token.cancel();
        while self.attempts.join_next().await.is_some() {}
        // Waiting containers hold no work: they go whether running tasks stay or not.
        self.ctx.pool.close(self.ctx.runtime.get().as_ref()).await;
    }

    fn say_docker(&self) {
        let body = match &self.ctx.runtime.get() {
            Some(rt) => EventBody::Docker {
                version: Some(rt.version().to_string()),
                error: None,
            },
            None => EventBody::Docker {
                version: None,
                error: Some("docker unavailable".into()),
            },
        };
        self.ctx.bus.emit(None, 0, body);
    }

    async fn attempt_ended(&mut self, id: &TaskId) {
        let Some(r) = self.running.remove(id) else {
            return;
        };
        if r.discard_after {
            let (ctx, id) = (self.ctx.clone(), id.clone());
            // Held like any discard: nothing retries or starts the task meanwhile.
            let held = commands::Held::take(&self.busy, &id);
            tokio::spawn(async move {
                if let Err(e) = commands::discard_now(&ctx, &id).await {
                    ctx.error(Some(&id), 0, e.to_string());
                }
                drop(held);
            });
        }
    }

    /// What follows anything that happened: from one read of the task list, what an
    /// earlier engine left is dealt with, queued tasks start and warm pools are sized.
    async fn wake(&mut self) {
        if !self.opts.run_queue {
            return;
        }
        let Some(rt) = self.ctx.runtime.get() else {
            return;
        };
        let Ok(mut tasks) = self.ctx.store.tasks(self.opts.repo.as_deref()) else {
            return;
        };
        if !self.recovered {
            let running: HashSet<&TaskId> = self.running.keys().collect();
            self.recovered = recovery::recover(&self.ctx, &rt, &mut tasks, &running).await;
            recovery::reap_orphans(&self.ctx, &rt).await;
        }
        if !self.swept {
            pool::sweep(&rt, &self.ctx.data).await;
            self.swept = true;
        }
        recovery::resume_after_outage(&self.ctx, &mut tasks);
        let ctx = self.ctx.clone();
        let mut configs = Configs::new(ctx.data.root());
        let caps = Caps {
            total: self.opts.max_parallel,
            per_repo: tasks
                .iter()
                .filter(|t| t.state == TaskState::Queued)
                .filter_map(|t| {
                    let cap = configs.get(&t.repo)?.max_parallel;
                    Some((t.repo.clone(), cap))
                })
                .collect(),
        };
        let running: HashMap<TaskId, PathBuf> = self
            .running
            .iter()
            .map(|(id, r)| (id.clone(), r.repo.clone()))
            .collect();
        let held = lock(&self.busy).clone();
        let picked: Vec<TaskRecord> = scheduler::pick(&tasks, &running, &held, &caps)
            .into_iter()
            .cloned()
            .collect();
        for t in picked {
            self.start_attempt(t);
        }
        self.keep_warm(&rt, &tasks, &mut configs);
    }

    fn start_attempt(&mut self, t: TaskRecord) {
        let cancel = self.ending.token.child_token();
        let id = t.id.clone();
        self.running.insert(
            id.clone(),
            Running {
                cancel: cancel.clone(),
                discard_after: false,
                repo: t.repo.clone(),
            },
        );
        let (ctx, ending) = (self.ctx.clone(), self.ending.clone());
        self.attempts.spawn(async move {
            supervisor::run_attempt(ctx, t, cancel, ending).await;
            id
        });
    }

    /// Sizes the warm pools: every repository in play (the one this engine serves, one a
    /// front end is open in, one with tasks queued, running or in review) gets its
    /// configured `warm_pool`; the rest get none.
    fn keep_warm(&self, rt: &Runtime, tasks: &[TaskRecord], configs: &mut Configs<'_>) {
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
}

/// Repositories' configs, each read once per wake-up (`None`: it does not load), trusting
/// what the engine's data dir records.
struct Configs<'a> {
    read: HashMap<PathBuf, Option<Config>>,
    data: &'a Path,
}

impl<'a> Configs<'a> {
    fn new(data: &'a Path) -> Self {
        Configs {
            read: HashMap::new(),
            data,
        }
    }

    fn get(&mut self, repo: &Path) -> Option<&Config> {
        let data = self.data;
        self.read
            .entry(repo.to_path_buf())
            .or_insert_with(|| Config::load_in(Some(repo), data).ok())
            .as_ref()
    }
}

/// The busy set stays consistent even if a holder panicked: it is a plain set of ids.
pub(super) fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
