//! The database's schema and its forward migrations: `PRAGMA user_version` says which
//! schema a database has; opening one brings it up to `SCHEMA_VERSION` step by step, or
//! refuses it when a newer drover wrote it. Reading and writing records is `db`.

use rusqlite::Connection;

/// The schema this drover writes: `PRAGMA user_version` of a database it made.
pub const SCHEMA_VERSION: i32 = 3;

/// Brings a database up to `SCHEMA_VERSION`, one step at a time, in one transaction: a
/// step that fails leaves the database as it was. A database of a newer drover is
/// refused, never changed.
pub(super) fn migrate(conn: &mut Connection) -> Result<(), MigrateError> {
    let mut version: i32 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if version > SCHEMA_VERSION {
        return Err(MigrateError::Newer(version));
    }
    let tx = conn.transaction()?;
    while version < SCHEMA_VERSION {
        match version {
            // Before versions (drover 0.1): the tables, made if missing, with the
            // `origin` column older databases lack.
            0 => {
                tx.execute_batch(SCHEMA_V1)?;
                let has_origin = tx
                    .prepare("SELECT 1 FROM pragma_table_info('tasks') WHERE name = 'origin'")?
                    .exists([])?;
                if !has_origin {
                    tx.execute_batch("ALTER TABLE tasks ADD COLUMN origin TEXT")?;
                }
            }
            // Commands no longer wait in the store (every engine serves its socket), and
            // an interruption says its cause: a Docker outage was only in its words.
            1 => {
                tx.execute_batch("DROP TABLE IF EXISTS inbox")?;
                tx.execute(
                    "UPDATE tasks SET state = json_set(state, '$.cause', 'docker_lost')
                     WHERE json_extract(state, '$.state') = 'interrupted'
                       AND json_extract(state, '$.reason') LIKE 'docker became unavailable%'",
                    [],
                )?;
            }
            // Best-of-N: a task may be one of several attempts run side by side.
            2 => {
                let has = tx
                    .prepare("SELECT 1 FROM pragma_table_info('tasks') WHERE name = 'grp'")?
                    .exists([])?;
                if !has {
                    tx.execute_batch("ALTER TABLE tasks ADD COLUMN grp TEXT")?;
                }
            }
            _ => unreachable!("versions below SCHEMA_VERSION each have a step"),
        }
        version += 1;
    }
    tx.pragma_update(None, "user_version", SCHEMA_VERSION)?;
    tx.commit()?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(super) enum MigrateError {
    #[error(
        "it was written by a newer drover (schema {0}, this one knows up to {SCHEMA_VERSION}): use that drover, or a copy of the data dir"
    )]
    Newer(i32),
    #[error(transparent)]
    Sql(#[from] rusqlite::Error),
}

/// The tables as drover 0.1 made them.
pub(super) const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS tasks (
    id TEXT PRIMARY KEY,
    queue_order INTEGER NOT NULL,
    repo TEXT NOT NULL,
    repo_hash TEXT NOT NULL,
    title TEXT NOT NULL,
    prompt TEXT NOT NULL,
    agent TEXT NOT NULL,
    base_commit TEXT NOT NULL,
    base_ref TEXT,
    branch TEXT NOT NULL,
    state TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    origin TEXT
);
CREATE INDEX IF NOT EXISTS tasks_by_repo ON tasks(repo, queue_order);
CREATE TABLE IF NOT EXISTS attempts (
    task_id TEXT NOT NULL REFERENCES tasks(id),
    n INTEGER NOT NULL,
    data TEXT NOT NULL,
    PRIMARY KEY (task_id, n)
);
CREATE TABLE IF NOT EXISTS transitions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    task_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    from_state TEXT NOT NULL,
    to_state TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
";

#[cfg(test)]
mod tests {
    use rusqlite::Connection;

    use super::*;
    use std::path::Path;

    use crate::protocol::{TaskId, TaskState};
    use crate::store::Store;
    use crate::store::db::tests::record;

    /// A store drover 0.1 wrote (before schema versions) opens, migrated, with every
    /// task, attempt and transition; opening it again changes nothing more.
    #[test]
    fn a_store_of_drover_0_1_opens_with_every_task() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drover.db");
        let fixture =
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/store-0.1/drover.db");
        std::fs::copy(&fixture, &path).unwrap();
        for _ in 0..2 {
            let s = Store::open(&path).unwrap();
            let tasks = s.tasks(None).unwrap();
            let seen: Vec<(&str, &str, TaskState, u32)> = tasks
                .iter()
                .map(|t| (t.id.as_str(), t.title.as_str(), t.state.clone(), t.attempt))
                .collect();
            assert_eq!(
                seen,
                [
                    ("q2wqba4gax", "Fix add()", TaskState::Queued, 1),
                    ("8w0eyyz9mp", "Document calc", TaskState::Cancelled, 1),
                    ("k273gkabph", "Add median()", TaskState::Queued, 2),
                ]
            );
            let retried = TaskId::parse("k273gkabph").unwrap();
            assert_eq!(
                s.attempt(&retried, 2).unwrap().feedback.as_deref(),
                Some("smaller please")
            );
            assert_eq!(s.transitions(&retried).unwrap().len(), 2);
            let c = s.conn();
            let version: i32 = c
                .pragma_query_value(None, "user_version", |r| r.get(0))
                .unwrap();
            assert_eq!(version, SCHEMA_VERSION);
            let inbox = c
                .prepare("SELECT 1 FROM sqlite_master WHERE name = 'inbox'")
                .unwrap()
                .exists([])
                .unwrap();
            assert!(!inbox, "the command inbox is gone");
        }
    }

    #[test]
    fn an_interruption_by_docker_becomes_one_that_resumes_by_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drover.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(SCHEMA_V1).unwrap();
        drop(old);
        let s = Store::open(&path).unwrap();
        for (id, reason) in [
            (
                "aaaaaaaaaa",
                "docker became unavailable (gone); it resumes when Docker is back",
            ),
            ("bbbbbbbbbb", "drover quit while the task was running"),
        ] {
            s.insert_task(&record(id)).unwrap();
            let to = TaskState::Interrupted {
                reason: reason.into(),
                cause: crate::protocol::Cause::Other,
            };
            let id = TaskId::parse(id).unwrap();
            s.set_state(&id, 1, &TaskState::Queued, &to).unwrap();
        }
        s.conn().pragma_update(None, "user_version", 1).unwrap();
        drop(s);
        let s = Store::open(&path).unwrap();
        let cause = |id: &str| match s.task(&TaskId::parse(id).unwrap()).unwrap().unwrap().state {
            TaskState::Interrupted { cause, .. } => cause,
            other => panic!("{other:?}"),
        };
        assert_eq!(cause("aaaaaaaaaa"), crate::protocol::Cause::DockerLost);
        assert_eq!(cause("bbbbbbbbbb"), crate::protocol::Cause::Other);
    }

    #[test]
    fn a_store_of_a_newer_drover_is_refused_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("drover.db");
        drop(Store::open(&path).unwrap());
        let c = Connection::open(&path).unwrap();
        c.pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        drop(c);
        let e = Store::open(&path).unwrap_err().to_string();
        assert!(e.contains("written by a newer drover"), "{e}");
        let c = Connection::open(&path).unwrap();
        let v: i32 = c
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v, SCHEMA_VERSION + 1);
    }

    #[test]
    fn a_database_from_before_issue_import_gains_the_origin_column() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("old.db");
        let old = Connection::open(&path).unwrap();
        old.execute_batch(&SCHEMA_V1.replace(",\n    origin TEXT", ""))
            .unwrap();
        drop(old);
        let s = Store::open(&path).unwrap();
        let mut t = record("aaaaaaaaaa");
        t.origin = Some(crate::protocol::IssueOrigin {
            reference: crate::protocol::IssueRef {
                owner: "ana".into(),
                repo: "shop".into(),
                number: 12,
            },
            url: "https://github.com/ana/shop/issues/12".into(),
            removed: crate::protocol::Removed {
                comments: 1,
                invisible: 0,
            },
        });
        s.insert_task(&t).unwrap();
        assert_eq!(s.task(&t.id).unwrap().unwrap().origin, t.origin);
        // Opening again (column present) changes nothing.
        drop(s);
        assert!(Store::open(&path).unwrap().task(&t.id).unwrap().is_some());
    }
}
