//! The command inbox: how another drover process (e.g. `drover cancel`) reaches the
//! engine that holds the data dir. Commands are rows; the engine answers in the row.

use rusqlite::{OptionalExtension, params};

use super::db::{Store, StoreError};
use crate::protocol::Command;
use crate::protocol::clock::now_rfc3339;

#[derive(Debug, Clone)]
pub struct InboxItem {
    pub id: i64,
    pub command: Command,
}

impl Store {
    /// Leaves a command for the engine that holds the data dir.
    pub fn push_command(&self, cmd: &Command) -> Result<i64, StoreError> {
        let json = serde_json::to_string(cmd).map_err(|e| StoreError::Corrupt {
            id: "inbox".into(),
            detail: e.to_string(),
        })?;
        let conn = self.conn();
        conn.execute(
            "INSERT INTO inbox (command, created_at) VALUES (?1, ?2)",
            params![json, now_rfc3339()],
        )
        .map_err(self.sql())?;
        Ok(conn.last_insert_rowid())
    }

    /// Commands not yet handled with an id above `after` (the ones this engine already
    /// took are still being answered), oldest first.
    pub fn pending_commands(&self, after: i64) -> Result<Vec<InboxItem>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, command FROM inbox WHERE done_at IS NULL AND id > ?1 ORDER BY id",
            )
            .map_err(self.sql())?;
        let rows: Vec<(i64, String)> = stmt
            .query_map([after], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(self.sql())?
            .collect::<Result<_, _>>()
            .map_err(self.sql())?;
        drop(stmt);
        let mut items = Vec::new();
        for (id, json) in rows {
            match serde_json::from_str(&json) {
                Ok(command) => items.push(InboxItem { id, command }),
                // From another drover version: answer it rather than retry it forever.
                Err(e) => {
                    conn.execute(
                        "UPDATE inbox SET done_at = ?1, result = ?2 WHERE id = ?3",
                        params![
                            now_rfc3339(),
                            format!("error: unreadable command ({e})"),
                            id
                        ],
                    )
                    .map_err(self.sql())?;
                }
            }
        }
        Ok(items)
    }

    pub fn finish_command(&self, id: i64, result: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "UPDATE inbox SET done_at = ?1, result = ?2 WHERE id = ?3",
                params![now_rfc3339(), result, id],
            )
            .map_err(self.sql())?;
        Ok(())
    }

    /// The result of an inbox command once handled.
    pub fn command_result(&self, id: i64) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT result FROM inbox WHERE id = ?1 AND done_at IS NOT NULL",
                [id],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }
}
