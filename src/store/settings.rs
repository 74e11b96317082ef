//! Answers the user gave once and drover remembers (the quit policy), kept in the store
//! beside the tasks they apply to. A value in a config file always wins over these.

use rusqlite::{OptionalExtension, params};

use super::db::{Store, StoreError};
use crate::config::{Config, OnQuit};

const ON_QUIT: &str = "on_quit";

impl Store {
    pub fn setting(&self, key: &str) -> Result<Option<String>, StoreError> {
        self.conn()
            .query_row(
                "SELECT value FROM settings WHERE key = ?1",
                params![key],
                |r| r.get(0),
            )
            .optional()
            .map_err(self.sql())
    }

    pub fn set_setting(&self, key: &str, value: &str) -> Result<(), StoreError> {
        self.conn()
            .execute(
                "INSERT INTO settings (key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(|_| ())
            .map_err(self.sql())
    }

    /// What quitting does to running tasks: the config's `on_quit`, else the answer the
    /// user gave when asked; `None` when neither says (the TUI then asks).
    pub fn quit_policy(&self, config: &Config) -> Option<OnQuit> {
        config.on_quit.or_else(|| {
            self.setting(ON_QUIT)
                .ok()
                .flatten()
                .and_then(|v| OnQuit::parse(&v))
        })
    }

    pub fn remember_quit_policy(&self, policy: OnQuit) -> Result<(), StoreError> {
        self.set_setting(ON_QUIT, policy.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_answer_is_remembered_and_the_config_wins() {
        let tmp = tempfile::tempdir().unwrap();
        let store = Store::open(&tmp.path().join("db.sqlite")).unwrap();
        let mut config = Config::default();
        assert_eq!(store.quit_policy(&config), None, "nobody said: ask");
        store.remember_quit_policy(OnQuit::Keep).unwrap();
        assert_eq!(store.quit_policy(&config), Some(OnQuit::Keep));
        store.remember_quit_policy(OnQuit::Stop).unwrap();
        assert_eq!(store.quit_policy(&config), Some(OnQuit::Stop));
        config.on_quit = Some(OnQuit::Keep);
        assert_eq!(store.quit_policy(&config), Some(OnQuit::Keep));
    }
}
