//! `--state FILE`: the whole state kept as one JSON document in an SQLite table.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use crate::state::State;

pub(crate) struct Store {
    conn: Connection,
}

impl Store {
    pub fn open(path: &Path) -> Result<Store, rusqlite::Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch(
            "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
             CREATE TABLE IF NOT EXISTS sandbox_state (id INTEGER PRIMARY KEY CHECK (id = 1), json TEXT NOT NULL, saved_at TEXT NOT NULL);",
        )?;
        Ok(Store { conn })
    }

    /// The saved state, if any.
    pub fn load(&self) -> Result<Option<State>, StoreError> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT json FROM sandbox_state WHERE id = 1", [], |r| {
                r.get(0)
            })
            .optional()?;
        match text {
            None => Ok(None),
            Some(t) => {
                let mut st: State = serde_json::from_str(&t)?;
                st.reindex();
                Ok(Some(st))
            }
        }
    }

    pub fn save(&self, json: &str) -> Result<(), rusqlite::Error> {
        self.conn.execute(
            "INSERT INTO sandbox_state (id, json, saved_at) VALUES (1, ?1, datetime('now'))
             ON CONFLICT(id) DO UPDATE SET json = excluded.json, saved_at = excluded.saved_at",
            params![json],
        )?;
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("sqlite: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("the saved state is not readable: {0}")]
    Json(#[from] serde_json::Error),
}
