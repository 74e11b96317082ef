//! The SQLite database: tasks, attempts and the transition log, read and written. Its
//! schema and migrations are `schema`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};

use super::schema::{MigrateError, migrate};
use crate::protocol::TaskId;
use crate::protocol::TaskState;
use crate::protocol::clock::now_rfc3339;
use crate::protocol::{AgentSpec, AttemptRecord, TaskRecord};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database {path}: {source}")]
    Sql {
        path: String,
        #[source]
        source: rusqlite::Error,
    },
    #[error("no task matches `{0}`")]
    NotFound(String),
    #[error("`{prefix}` matches several tasks: {ids}")]
    Ambiguous { prefix: String, ids: String },
    #[error("task {id} changed under us: expected {expected}, found {found}")]
    Conflict {
        id: String,
        expected: String,
        found: String,
    },
    #[error("corrupt record for task {id}: {detail}")]
    Corrupt { id: String, detail: String },
    #[error("the database {path} cannot be opened: {detail}")]
    Schema { path: String, detail: String },
    #[error(
        "the database {path} is {what}, but {tasks} task folder(s) in tasks/ and {workspaces} workspace(s) in workspaces/ are there: drover's record of them is lost, so it starts nothing (no container is removed, no workspace offered to gc). Restore the database (with its -wal file) from a backup, or move tasks/ and workspaces/ aside to start afresh"
    )]
    Lost {
        path: String,
        what: &'static str,
        tasks: usize,
        workspaces: usize,
    },
}

/// A database that is missing or empty beside the files of tasks it recorded is lost,
/// not new: opening it would make an empty store that forgets those tasks.
fn check_not_lost(path: &Path) -> Result<(), StoreError> {
    let what = match std::fs::metadata(path) {
        Ok(m) if m.len() == 0 => "empty",
        Ok(_) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "missing",
        Err(_) => return Ok(()), // unreadable: opening it says why
    };
    let count = |dir: &str| {
        path.parent()
            .and_then(|d| std::fs::read_dir(d.join(dir)).ok())
            .map_or(0, |rd| rd.count())
    };
    let (tasks, workspaces) = (count("tasks"), count("workspaces"));
    if tasks + workspaces == 0 {
        return Ok(());
    }
    Err(StoreError::Lost {
        path: path.display().to_string(),
        what,
        tasks,
        workspaces,
    })
}

#[derive(Debug)]
pub struct Store {
    conn: Mutex<Connection>,
    path: PathBuf,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Transition {
    pub attempt: u32,
    pub from: TaskState,
    pub to: TaskState,
    pub at: String,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let sql = |source| StoreError::Sql {
            path: path.display().to_string(),
            source,
        };
        check_not_lost(path)?;
        let existed = path.exists();
        let mut conn = Connection::open(path).map_err(sql)?;
        if !existed {
            use std::os::unix::fs::PermissionsExt;
            let _ = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600));
        }
        conn.busy_timeout(Duration::from_secs(10)).map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        migrate(&mut conn).map_err(|e| match e {
            MigrateError::Sql(e) => sql(e),
            newer => StoreError::Schema {
                path: path.display().to_string(),
                detail: newer.to_string(),
            },
        })?;
        Ok(Store {
            conn: Mutex::new(conn),
            path: path.to_path_buf(),
        })
    }

    pub(super) fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite half-written (transactions),
        // so a poisoned mutex is still safe to use.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(super) fn sql(&self) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
        |source| StoreError::Sql {
            path: self.path.display().to_string(),
            source,
        }
    }

    /// Records a new task (and its first attempt). Fails on an id collision.
    pub fn insert_task(&self, t: &TaskRecord) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.sql())?;
        let agent = serde_json::to_string(&t.agent).map_err(|e| corrupt(&t.id, e))?;
        let state = serde_json::to_string(&t.state).map_err(|e| corrupt(&t.id, e))?;
        let origin = match &t.origin {
            Some(o) => Some(serde_json::to_string(o).map_err(|e| corrupt(&t.id, e))?),
            None => None,
        };
        let group = match &t.group {
            Some(g) => Some(serde_json::to_string(g).map_err(|e| corrupt(&t.id, e))?),
            None => None,
        };
        tx.execute(
            "INSERT INTO tasks (id, queue_order, repo, repo_hash, title, prompt, agent, base_commit,
                base_ref, branch, state, attempt, created_at, updated_at, origin, grp)
             VALUES (?1, (SELECT COALESCE(MAX(queue_order), 0) + 1 FROM tasks), ?2, ?3, ?4, ?5, ?6,
                ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            params![
                t.id.as_str(),
                t.repo.to_string_lossy(),
                t.repo_hash,
                t.title,
                t.prompt,
                agent,
                t.base_commit,
                t.base_ref,
                t.branch,
                state,
                t.attempt,
                t.created_at,
                t.updated_at,
                origin,
                group
            ],
        )
        .map_err(self.sql())?;
        let attempt = AttemptRecord {
            n: t.attempt,
            ..Default::default()
        };
        let data = serde_json::to_string(&attempt).map_err(|e| corrupt(&t.id, e))?;
        tx.execute(
            "INSERT INTO attempts (task_id, n, data) VALUES (?1, ?2, ?3)",
            params![t.id.as_str(), t.attempt, data],
        )
        .map_err(self.sql())?;
        tx.commit().map_err(self.sql())
    }

    pub fn task(&self, id: &TaskId) -> Result<Option<TaskRecord>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!("{SELECT_TASK} WHERE id = ?1"))
            .map_err(self.sql())?;
        let row = stmt
            .query_row([id.as_str()], raw_task)
            .optional()
            .map_err(self.sql())?;
        row.map(RawTask::into_record).transpose()
    }

    /// The task whose id is `prefix` or uniquely starts with it.
    pub fn find(&self, prefix: &str) -> Result<TaskRecord, StoreError> {
        let Some(p) = TaskId::parse(prefix) else {
            return Err(StoreError::NotFound(prefix.to_string()));
        };
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(&format!(
                "{SELECT_TASK} WHERE id LIKE ?1 || '%' ORDER BY queue_order LIMIT 6"
            ))
            .map_err(self.sql())?;
        let mut rows: Vec<RawTask> = stmt
            .query_map([p.as_str()], raw_task)
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        // An exact id wins over longer ids it is a prefix of.
        let pick = rows
            .iter()
            .position(|r| r.id == p.as_str())
            .or((rows.len() == 1).then_some(0));
        match pick {
            Some(i) => rows.swap_remove(i).into_record(),
            None if rows.is_empty() => Err(StoreError::NotFound(prefix.to_string())),
            None => Err(StoreError::Ambiguous {
                prefix: prefix.to_string(),
                ids: rows
                    .iter()
                    .map(|r| r.id.clone())
                    .collect::<Vec<_>>()
                    .join(", "),
            }),
        }
    }

    /// Tasks in queue order, of one repository or all.
    pub fn tasks(&self, repo: Option<&Path>) -> Result<Vec<TaskRecord>, StoreError> {
        let conn = self.conn();
        let rows: Vec<RawTask> = match repo {
            Some(r) => {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "{SELECT_TASK} WHERE repo = ?1 ORDER BY queue_order"
                    ))
                    .map_err(self.sql())?;
                stmt.query_map([r.to_string_lossy()], raw_task)
                    .map_err(self.sql())?
                    .collect::<Result<_, _>>()
                    .map_err(self.sql())?
            }
            None => {
                let mut stmt = conn
                    .prepare_cached(&format!("{SELECT_TASK} ORDER BY queue_order"))
                    .map_err(self.sql())?;
                stmt.query_map([], raw_task)
                    .map_err(self.sql())?
                    .collect::<Result<_, _>>()
                    .map_err(self.sql())?
            }
        };
        rows.into_iter().map(RawTask::into_record).collect()
    }

    /// Moves task `id` from `from` to `to` if it is still in `from`, logging the transition.
    pub fn set_state(
        &self,
        id: &TaskId,
        attempt: u32,
        from: &TaskState,
        to: &TaskState,
    ) -> Result<(), StoreError> {
        let from_json = serde_json::to_string(from).map_err(|e| corrupt(id, e))?;
        let to_json = serde_json::to_string(to).map_err(|e| corrupt(id, e))?;
        let now = now_rfc3339();
        let mut conn = self.conn();
        let tx = conn.transaction().map_err(self.sql())?;
        let changed = tx
            .execute(
                "UPDATE tasks SET state = ?1, attempt = ?2, updated_at = ?3 WHERE id = ?4 AND state = ?5",
                params![to_json, attempt, now, id.as_str(), from_json],
            )
            .map_err(self.sql())?;
        if changed == 0 {
            let found: Option<String> = tx
                .query_row(
                    "SELECT state FROM tasks WHERE id = ?1",
                    [id.as_str()],
                    |r| r.get(0),
                )
                .optional()
                .map_err(self.sql())?;
            return Err(match found {
                None => StoreError::NotFound(id.to_string()),
                Some(found) => StoreError::Conflict {
                    id: id.to_string(),
                    expected: from_json,
                    found,
                },
            });
        }
        tx.execute(
            "INSERT INTO transitions (task_id, attempt, from_state, to_state, at) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![id.as_str(), attempt, from_json, to_json, now],
        )
        .map_err(self.sql())?;
        tx.commit().map_err(self.sql())
    }

    /// Changes a queued task's title, prompt and agent; only while it is queued and has
    /// not started (its state is checked in the same statement, so a task the engine
    /// has just started is never edited under it).
    pub fn edit_queued(
        &self,
        id: &TaskId,
        title: &str,
        prompt: &str,
        agent: &AgentSpec,
    ) -> Result<TaskRecord, StoreError> {
        let agent = serde_json::to_string(agent).map_err(|e| corrupt(id, e))?;
        let queued = serde_json::to_string(&TaskState::Queued).map_err(|e| corrupt(id, e))?;
        let changed = self
            .conn()
            .execute(
                "UPDATE tasks SET title = ?1, prompt = ?2, agent = ?3, updated_at = ?4
                 WHERE id = ?5 AND state = ?6",
                params![title, prompt, agent, now_rfc3339(), id.as_str(), queued],
            )
            .map_err(self.sql())?;
        let task = self
            .task(id)?
            .ok_or_else(|| StoreError::NotFound(id.to_string()))?;
        if changed == 0 {
            return Err(StoreError::Conflict {
                id: id.to_string(),
                expected: queued,
                found: serde_json::to_string(&task.state).unwrap_or_default(),
            });
        }
        Ok(task)
    }

    /// Gives task `id` another branch name (approval under `--branch NAME`).
    pub fn set_branch(&self, id: &TaskId, branch: &str) -> Result<(), StoreError> {
        let changed = self
            .conn()
            .execute(
                "UPDATE tasks SET branch = ?1, updated_at = ?2 WHERE id = ?3",
                params![branch, now_rfc3339(), id.as_str()],
            )
            .map_err(self.sql())?;
        if changed == 0 {
            return Err(StoreError::NotFound(id.to_string()));
        }
        Ok(())
    }

    /// Starts attempt `n` (a retry): records it and re-queues the task in one step.
    pub fn begin_attempt(
        &self,
        id: &TaskId,
        n: u32,
        from: &TaskState,
        feedback: Option<String>,
    ) -> Result<(), StoreError> {
        let attempt = AttemptRecord {
            n,
            feedback,
            ..Default::default()
        };
        let data = serde_json::to_string(&attempt).map_err(|e| corrupt(id, e))?;
        {
            let conn = self.conn();
            conn.execute(
                "INSERT OR REPLACE INTO attempts (task_id, n, data) VALUES (?1, ?2, ?3)",
                params![id.as_str(), n, data],
            )
            .map_err(self.sql())?;
            // A retry goes to the back of the queue.
            conn.execute(
                "UPDATE tasks SET queue_order = (SELECT MAX(queue_order) + 1 FROM tasks) WHERE id = ?1",
                [id.as_str()],
            )
            .map_err(self.sql())?;
        }
        self.set_state(id, n, from, &TaskState::Queued)
    }

    pub fn attempt(&self, id: &TaskId, n: u32) -> Result<AttemptRecord, StoreError> {
        read_attempt(&self.conn(), id, n).map_err(|e| self.fix_path(e))
    }

    /// Read-modify-write of one attempt's record, atomically: concurrent updates (the live
    /// diff, usage, the supervisor) never lose each other's fields.
    pub fn update_attempt(
        &self,
        id: &TaskId,
        n: u32,
        f: impl FnOnce(&mut AttemptRecord),
    ) -> Result<AttemptRecord, StoreError> {
        let mut conn = self.conn();
        // IMMEDIATE takes the write lock first, so another process cannot slip in between.
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(self.sql())?;
        let mut a = read_attempt(&tx, id, n).map_err(|e| self.fix_path(e))?;
        f(&mut a);
        let data = serde_json::to_string(&a).map_err(|e| corrupt(id, e))?;
        tx.execute(
            "INSERT OR REPLACE INTO attempts (task_id, n, data) VALUES (?1, ?2, ?3)",
            params![id.as_str(), n, data],
        )
        .map_err(self.sql())?;
        tx.commit().map_err(self.sql())?;
        Ok(a)
    }

    /// Errors from free functions do not know the database path; give it to them.
    fn fix_path(&self, e: StoreError) -> StoreError {
        match e {
            StoreError::Sql { source, .. } => StoreError::Sql {
                path: self.path.display().to_string(),
                source,
            },
            other => other,
        }
    }

    pub fn transitions(&self, id: &TaskId) -> Result<Vec<Transition>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT attempt, from_state, to_state, at FROM transitions WHERE task_id = ?1 ORDER BY id")
            .map_err(self.sql())?;
        let rows: Vec<(u32, String, String, String)> = stmt
            .query_map([id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        rows.into_iter()
            .map(|(attempt, f, t, at)| {
                Ok(Transition {
                    attempt,
                    from: serde_json::from_str(&f).map_err(|e| corrupt(id, e))?,
                    to: serde_json::from_str(&t).map_err(|e| corrupt(id, e))?,
                    at,
                })
            })
            .collect()
    }

    pub fn integrity_ok(&self) -> Result<bool, StoreError> {
        let r: String = self
            .conn()
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .map_err(self.sql())?;
        Ok(r == "ok")
    }
}

/// One attempt's record (a fresh one when none is stored yet).
fn read_attempt(conn: &Connection, id: &TaskId, n: u32) -> Result<AttemptRecord, StoreError> {
    let data: Option<String> = conn
        .query_row(
            "SELECT data FROM attempts WHERE task_id = ?1 AND n = ?2",
            params![id.as_str(), n],
            |r| r.get(0),
        )
        .optional()
        .map_err(|source| StoreError::Sql {
            path: String::new(),
            source,
        })?;
    match data {
        None => Ok(AttemptRecord {
            n,
            ..Default::default()
        }),
        Some(d) => serde_json::from_str(&d).map_err(|e| corrupt(id, e)),
    }
}

fn corrupt(id: &TaskId, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt {
        id: id.to_string(),
        detail: e.to_string(),
    }
}

const SELECT_TASK: &str =
    "SELECT id, repo, repo_hash, title, prompt, agent, base_commit, base_ref, branch, state,
    attempt, created_at, updated_at, origin, grp FROM tasks";

struct RawTask {
    id: String,
    repo: String,
    repo_hash: String,
    title: String,
    prompt: String,
    agent: String,
    base_commit: String,
    base_ref: Option<String>,
    branch: String,
    state: String,
    attempt: u32,
    created_at: String,
    updated_at: String,
    origin: Option<String>,
    group: Option<String>,
}

fn raw_task(r: &rusqlite::Row<'_>) -> rusqlite::Result<RawTask> {
    Ok(RawTask {
        id: r.get(0)?,
        repo: r.get(1)?,
        repo_hash: r.get(2)?,
        title: r.get(3)?,
        prompt: r.get(4)?,
        agent: r.get(5)?,
        base_commit: r.get(6)?,
        base_ref: r.get(7)?,
        branch: r.get(8)?,
        state: r.get(9)?,
        attempt: r.get(10)?,
        created_at: r.get(11)?,
        updated_at: r.get(12)?,
        origin: r.get(13)?,
        group: r.get(14)?,
    })
}

impl RawTask {
    fn into_record(self) -> Result<TaskRecord, StoreError> {
        let bad = |detail: String| StoreError::Corrupt {
            id: self.id.clone(),
            detail,
        };
        let id = TaskId::parse(&self.id).ok_or_else(|| bad("bad id".into()))?;
        let agent: AgentSpec =
            serde_json::from_str(&self.agent).map_err(|e| bad(format!("agent: {e}")))?;
        let state: TaskState =
            serde_json::from_str(&self.state).map_err(|e| bad(format!("state: {e}")))?;
        let origin = match &self.origin {
            Some(o) => Some(serde_json::from_str(o).map_err(|e| bad(format!("origin: {e}")))?),
            None => None,
        };
        let group = match &self.group {
            Some(g) => Some(serde_json::from_str(g).map_err(|e| bad(format!("group: {e}")))?),
            None => None,
        };
        Ok(TaskRecord {
            id,
            repo: PathBuf::from(self.repo),
            repo_hash: self.repo_hash,
            title: self.title,
            prompt: self.prompt,
            agent,
            base_commit: self.base_commit,
            base_ref: self.base_ref,
            branch: self.branch,
            state,
            attempt: self.attempt,
            created_at: self.created_at,
            updated_at: self.updated_at,
            origin,
            group,
        })
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn record(id: &str) -> TaskRecord {
        TaskRecord {
            id: TaskId::parse(id).unwrap(),
            repo: "/r".into(),
            repo_hash: "h".into(),
            title: "t".into(),
            prompt: "p".into(),
            agent: AgentSpec::Scripted {
                script: "".into(),
                source: "s.toml".into(),
            },
            base_commit: "c".into(),
            base_ref: Some("main".into()),
            branch: "drover/x".into(),
            state: TaskState::Queued,
            attempt: 1,
            created_at: now_rfc3339(),
            updated_at: now_rfc3339(),
            origin: None,
            group: None,
        }
    }

    fn store() -> (tempfile::TempDir, Store) {
        let tmp = tempfile::tempdir().unwrap();
        let s = Store::open(&tmp.path().join("db")).unwrap();
        (tmp, s)
    }

    #[test]
    fn tasks_round_trip_in_queue_order() {
        let (_t, s) = store();
        for id in ["bbb", "aaa", "ccc"] {
            s.insert_task(&record(id)).unwrap();
        }
        let ids: Vec<_> = s
            .tasks(None)
            .unwrap()
            .into_iter()
            .map(|t| t.id.to_string())
            .collect();
        assert_eq!(ids, ["bbb", "aaa", "ccc"]);
        assert_eq!(
            s.task(&TaskId::parse("aaa").unwrap()).unwrap().unwrap(),
            record_like(&s, "aaa")
        );
        assert!(
            s.insert_task(&record("aaa")).is_err(),
            "duplicate ids are refused"
        );
    }

    /// A queued task takes new words; once it has left the queue it does not, and the
    /// refusal says what it is now.
    #[test]
    fn only_a_queued_task_is_edited() {
        let (_t, s) = store();
        s.insert_task(&record("aaa")).unwrap();
        let id = TaskId::parse("aaa").unwrap();
        let agent = AgentSpec::Builtin { provider: None };
        let t = s
            .edit_queued(&id, "New title", "New prompt", &agent)
            .unwrap();
        assert_eq!(
            (t.title.as_str(), t.prompt.as_str()),
            ("New title", "New prompt")
        );
        assert_eq!(t.agent, agent);
        s.set_state(&id, 1, &TaskState::Queued, &TaskState::Provisioning)
            .unwrap();
        let e = s.edit_queued(&id, "Later", "x", &agent).unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
        assert_eq!(s.find("aaa").unwrap().title, "New title", "unchanged");
    }

    fn record_like(s: &Store, id: &str) -> TaskRecord {
        s.find(id).unwrap()
    }

    #[test]
    fn find_by_unique_prefix() {
        let (_t, s) = store();
        s.insert_task(&record("ab1")).unwrap();
        s.insert_task(&record("ab2")).unwrap();
        s.insert_task(&record("cd1")).unwrap();
        assert_eq!(s.find("cd").unwrap().id.as_str(), "cd1");
        assert_eq!(s.find("AB1").unwrap().id.as_str(), "ab1");
        assert!(matches!(s.find("ab"), Err(StoreError::Ambiguous { .. })));
        assert!(matches!(s.find("zz"), Err(StoreError::NotFound(_))));
        assert!(matches!(s.find("../x"), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn set_state_is_compare_and_set_and_logged() {
        let (_t, s) = store();
        let id = TaskId::parse("aaa").unwrap();
        s.insert_task(&record("aaa")).unwrap();
        s.set_state(&id, 1, &TaskState::Queued, &TaskState::Provisioning)
            .unwrap();
        let e = s
            .set_state(&id, 1, &TaskState::Queued, &TaskState::Provisioning)
            .unwrap_err();
        assert!(matches!(e, StoreError::Conflict { .. }), "{e}");
        let log = s.transitions(&id).unwrap();
        assert_eq!(log.len(), 1);
        assert_eq!(
            (log[0].from.clone(), log[0].to.clone()),
            (TaskState::Queued, TaskState::Provisioning)
        );
        assert!(s.integrity_ok().unwrap());
    }

    #[test]
    fn attempts_and_retries() {
        let (_t, s) = store();
        let id = TaskId::parse("aaa").unwrap();
        s.insert_task(&record("aaa")).unwrap();
        s.update_attempt(&id, 1, |a| a.summary = Some("done".into()))
            .unwrap();
        assert_eq!(s.attempt(&id, 1).unwrap().summary.as_deref(), Some("done"));
        s.set_state(&id, 1, &TaskState::Queued, &TaskState::Cancelled)
            .unwrap();
        s.begin_attempt(&id, 2, &TaskState::Cancelled, Some("try harder".into()))
            .unwrap();
        let t = s.task(&id).unwrap().unwrap();
        assert_eq!((t.attempt, t.state), (2, TaskState::Queued));
        assert_eq!(
            s.attempt(&id, 2).unwrap().feedback.as_deref(),
            Some("try harder")
        );
    }

    #[test]
    fn concurrent_attempt_updates_lose_nothing() {
        let (_t, s) = store();
        let id = TaskId::parse("aaa").unwrap();
        s.insert_task(&record("aaa")).unwrap();
        let s = std::sync::Arc::new(s);
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let (s, id) = (s.clone(), id.clone());
                std::thread::spawn(move || {
                    for _ in 0..50 {
                        s.update_attempt(&id, 1, |a| a.iterations += 1).unwrap();
                        if i == 0 {
                            s.update_attempt(&id, 1, |a| a.summary = Some("kept".into()))
                                .unwrap();
                        }
                    }
                })
            })
            .collect();
        threads.into_iter().for_each(|t| t.join().unwrap());
        let a = s.attempt(&id, 1).unwrap();
        assert_eq!(a.iterations, 400, "every increment survived");
        assert_eq!(a.summary.as_deref(), Some("kept"));
    }

    #[test]
    fn db_file_is_private_even_under_umask_000() {
        use std::os::unix::fs::PermissionsExt;
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("db");
        // umask is process-wide; the store sets the mode explicitly instead of trusting it.
        Store::open(&p).unwrap();
        assert_eq!(
            std::fs::metadata(&p).unwrap().permissions().mode() & 0o777,
            0o600
        );
    }

    #[test]
    fn htb_12_a_lost_database_beside_task_files_is_refused_unchanged() {
        let tmp = tempfile::tempdir().unwrap();
        let db = tmp.path().join("drover.db");
        // Positive control: a fresh data dir makes its database.
        Store::open(&db).unwrap();
        std::fs::remove_file(&db).unwrap();
        std::fs::create_dir_all(tmp.path().join("tasks/abc/1")).unwrap();
        std::fs::create_dir_all(tmp.path().join("workspaces/abc")).unwrap();
        let e = Store::open(&db).unwrap_err().to_string();
        assert!(
            e.contains("is missing") && e.contains("1 task folder"),
            "{e}"
        );
        assert!(!db.exists(), "nothing was created");
        std::fs::write(&db, b"").unwrap();
        let e = Store::open(&db).unwrap_err().to_string();
        assert!(
            e.contains("is empty") && e.contains("Restore the database"),
            "{e}"
        );
        assert_eq!(
            std::fs::metadata(&db).unwrap().len(),
            0,
            "nothing was written"
        );
    }
}
