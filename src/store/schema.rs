//! The database's schema and its forward migrations: `PRAGMA user_version` says which
//! schema a database has; opening one brings it up to `SCHEMA_VERSION` step by step, or
//! refuses it when a newer drover wrote it. Reading and writing records is `db`.

use rusqlite::Connection;

/// The schema this drover writes: `PRAGMA user_version` of a database it made.
pub const SCHEMA_VERSION: i32 = 2;

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
