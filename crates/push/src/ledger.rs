//! The ledger: an SQLite file that keeps every `set_usage` tally sent (or was about to send),
//! so an operator can answer "what did we report for X in October, and when" with the sqlite3
//! shell. Tables are documented in docs/ledger.md.
//!
//! A request's row is written *before* it is sent (outcome `pending`) and completed when the
//! answer is in: a row still `pending` after a crash says "the server may or may not hold this".
//! Nothing here is a cursor: the next run recomputes and compares with what Waldur holds, so a
//! lost answer costs one redundant request, never a lost or doubled amount.

use std::collections::{BTreeSet, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use tally_model::BillingMonth;
use uuid::Uuid;

use crate::plan::Decrease;

/// Why the ledger could not be used.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    #[error("ledger {path}: {source}")]
    Sqlite {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },
    #[error("ledger {path}: a writer panicked while holding the connection")]
    Poisoned { path: PathBuf },
}

const SCHEMA: &str = r#"
CREATE TABLE IF NOT EXISTS runs (
    run_id          TEXT PRIMARY KEY,
    command         TEXT NOT NULL,
    started_at      TEXT NOT NULL,
    finished_at     TEXT,
    tally_version   TEXT NOT NULL,
    config          TEXT NOT NULL,
    waldur_url      TEXT NOT NULL,
    offering_uuid   TEXT NOT NULL,
    server_version  TEXT,
    months          TEXT NOT NULL,
    as_of           TEXT NOT NULL,
    exit_code       INTEGER,
    summary         TEXT
);
CREATE TABLE IF NOT EXISTS attempts (
    attempt_id          INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id              TEXT NOT NULL REFERENCES runs(run_id),
    started_at          TEXT NOT NULL,
    finished_at         TEXT,
    resource_backend_id TEXT NOT NULL,
    resource_uuid       TEXT NOT NULL,
    month               TEXT NOT NULL,
    date_sent           TEXT,
    purpose             TEXT NOT NULL,
    outcome             TEXT NOT NULL,
    http_status         INTEGER,
    http_attempts       INTEGER,
    message             TEXT
);
CREATE TABLE IF NOT EXISTS attempt_amounts (
    attempt_id  INTEGER NOT NULL REFERENCES attempts(attempt_id),
    component   TEXT NOT NULL,
    amount      TEXT NOT NULL,
    PRIMARY KEY (attempt_id, component)
);
CREATE TABLE IF NOT EXISTS attempt_user_amounts (
    attempt_id       INTEGER NOT NULL REFERENCES attempts(attempt_id),
    component        TEXT NOT NULL,
    component_usage  TEXT NOT NULL,
    username         TEXT NOT NULL,
    offering_user    TEXT,
    amount           TEXT NOT NULL,
    PRIMARY KEY (attempt_id, username)
);
CREATE INDEX IF NOT EXISTS attempts_by_resource_month
    ON attempts(resource_backend_id, month);
CREATE INDEX IF NOT EXISTS attempts_by_run ON attempts(run_id);
-- What tally wrote (`delivered_resource_months`, every push and check): only delivered reports,
-- found by run and covering the columns read, so the query never scans all attempts. Added after
-- ledgers existed (issue 17): `IF NOT EXISTS` here is the migration, run at every open.
CREATE INDEX IF NOT EXISTS attempts_delivered_reports
    ON attempts(run_id, resource_uuid, month)
    WHERE purpose = 'report' AND outcome = 'delivered';
-- What `tally check` (and the check of `tally run`) found, one row per cell compared (issue 18:
-- `tally history` shows the last check of a resource's months). Added after ledgers existed.
CREATE TABLE IF NOT EXISTS checks (
    check_id            INTEGER PRIMARY KEY AUTOINCREMENT,
    checked_at          TEXT NOT NULL,
    run_id              TEXT,
    resource_backend_id TEXT NOT NULL,
    month               TEXT NOT NULL,
    component           TEXT NOT NULL,
    result              TEXT NOT NULL,
    tally               TEXT,
    waldur              TEXT
);
CREATE INDEX IF NOT EXISTS checks_by_resource_month
    ON checks(resource_backend_id, month, checked_at);
"#;

/// Columns added to tables after ledgers existed: (table, column, type). Added at open when
/// missing (SQLite has no `ADD COLUMN IF NOT EXISTS`).
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    // What Waldur held before the request, per component (issue 18); NULL: nothing held, or a
    // row written before the column existed.
    ("attempt_amounts", "held", "TEXT"),
];

/// Whether `table` has `column` (older ledgers lack the columns of [`ADDED_COLUMNS`]).
fn has_column(c: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut stmt = c.prepare(&format!("PRAGMA table_info({table})"))?;
    let names = stmt.query_map([], |r| r.get::<_, String>(1))?;
    for name in names {
        if name? == column {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the schema has an object of `kind` (`table`, `index`) named `name` (a ledger older
/// than a table has none of it yet).
fn schema_has(c: &Connection, kind: &str, name: &str) -> rusqlite::Result<bool> {
    let count: i64 = c.query_row(
        "SELECT COUNT(*) FROM sqlite_master WHERE type = ?1 AND name = ?2",
        params![kind, name],
        |r| r.get(0),
    )?;
    Ok(count > 0)
}

/// The rows of `sql` about one resource (`?1`, backend_id) in one month or all (`?2`,
/// `YYYY-MM` or NULL), in the query's order, each read by `read`: the questions the ledger
/// answers ("what was sent for X in October").
fn resource_rows<T>(
    c: &Connection,
    sql: &str,
    backend_id: &str,
    month: Option<&str>,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<Vec<T>> {
    let mut stmt = c.prepare(sql)?;
    let rows = stmt.query_map(params![backend_id, month], read)?;
    rows.collect()
}

/// [`resource_rows`] by the attempt they belong to (column 0), each attempt's in the query's
/// order; `read` reads the rest of a row.
fn rows_by_attempt<T>(
    c: &Connection,
    sql: &str,
    backend_id: &str,
    month: Option<&str>,
    read: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<T>,
) -> rusqlite::Result<HashMap<i64, Vec<T>>> {
    let rows = resource_rows(c, sql, backend_id, month, |r| {
        Ok((r.get::<_, i64>(0)?, read(r)?))
    })?;
    let mut by_attempt: HashMap<i64, Vec<T>> = HashMap::new();
    for (id, value) in rows {
        by_attempt.entry(id).or_default().push(value);
    }
    Ok(by_attempt)
}

/// The cells tally wrote for an offering (`?1`, 32-hex uuid); served by the index
/// `attempts_delivered_reports`.
const DELIVERED_RESOURCE_MONTHS: &str = "SELECT DISTINCT a.resource_uuid, a.month
   FROM attempts a JOIN runs r USING (run_id)
  WHERE r.offering_uuid = ?1 AND a.purpose = 'report' AND a.outcome = 'delivered'";

/// What a run is, for its `runs` row.
#[derive(Debug, Clone)]
pub struct RunRecord<'a> {
    pub run_id: &'a str,
    pub command: &'a str,
    pub started_at: DateTime<Utc>,
    pub config: &'a Path,
    pub waldur_url: &'a str,
    pub offering_uuid: Uuid,
    pub months: &'a str,
    pub as_of: DateTime<Utc>,
}

/// Why a request was sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// A planned report.
    Report,
    /// Putting the current month back after a past-month report landed in it.
    Restore,
    /// A cell's per-user breakdown (`set_user_usages`); its figures are in
    /// `attempt_user_amounts`, not `attempt_amounts`.
    UserUsage,
    /// One plan period's part of the current month (`set_usage` with `plan_period`, issue 23):
    /// not the month's total, so never read back as a delivered report.
    PlanPeriod,
}

impl Purpose {
    fn as_str(self) -> &'static str {
        match self {
            Purpose::Report => "report",
            Purpose::Restore => "restore",
            Purpose::UserUsage => "user_usage",
            Purpose::PlanPeriod => "plan_period",
        }
    }
}

/// The answer to one request, as the ledger stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptResult<'a> {
    /// `delivered`, `closed`, `refused`, `failed`, `date_ignored`, `unauthorized`.
    pub outcome: &'a str,
    pub http_status: Option<u16>,
    pub http_attempts: Option<u32>,
    pub message: Option<&'a str>,
}

/// One component of one attempt, as [`Ledger::reported`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reported {
    pub started_at: String,
    pub run_id: String,
    pub date_sent: Option<String>,
    pub component: String,
    /// Decimal string as sent.
    pub amount: String,
    pub outcome: String,
    pub http_status: Option<u16>,
    pub message: Option<String>,
}

/// A request about to be sent, as its `attempts` row records it.
#[derive(Debug, Clone)]
pub struct AttemptStart<'a> {
    pub run_id: &'a str,
    pub backend_id: &'a str,
    pub resource: Uuid,
    /// `YYYY-MM`.
    pub month: &'a str,
    /// The `date` sent (`None`: undated, the current month).
    pub date: Option<DateTime<Utc>>,
    pub amounts: AttemptAmounts<'a>,
}

/// What a request carries: totals for `set_usage`, one component's users for
/// `set_user_usages`.
#[derive(Debug, Clone)]
pub enum AttemptAmounts<'a> {
    /// A `set_usage` (purpose report or restore): component and total.
    Totals {
        purpose: Purpose,
        items: &'a [(String, Decimal)],
        /// What Waldur held before, per item (`None`: nothing); empty when unknown.
        held: &'a [Option<Decimal>],
    },
    /// A `set_user_usages` call (purpose `user_usage`) on one component usage record.
    Users {
        component: &'a str,
        component_usage: Uuid,
        users: &'a [UserAmount<'a>],
    },
}

/// One user's figure in a `set_user_usages` call, as the ledger stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserAmount<'a> {
    pub username: &'a str,
    /// The offering-user URL sent, if any.
    pub offering_user: Option<&'a str>,
    pub amount: Decimal,
}

/// One user of one `set_user_usages` attempt, as [`Ledger::reported_users`] lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportedUser {
    pub run_id: String,
    pub component: String,
    pub username: String,
    pub offering_user: Option<String>,
    /// Decimal string as sent.
    pub amount: String,
    pub outcome: String,
}

/// An open ledger. `Sync`: concurrent requests write through one connection, one short
/// transaction each.
pub struct Ledger {
    path: PathBuf,
    conn: Mutex<Connection>,
}

fn ts(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

impl Ledger {
    /// Opens (creating if needed) the ledger file.
    pub fn open(path: &Path) -> Result<Self, LedgerError> {
        let err = |source| LedgerError::Sqlite {
            path: path.to_path_buf(),
            source,
        };
        let conn = Connection::open(path).map_err(err)?;
        // WAL + NORMAL: a committed row survives a process crash (kill -9), and appends stay
        // cheap enough for tens of thousands of requests a night.
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.busy_timeout(std::time::Duration::from_secs(10))
            .map_err(err)?;
        conn.execute_batch(SCHEMA).map_err(err)?;
        for (table, column, kind) in ADDED_COLUMNS {
            if !has_column(&conn, table, column).map_err(err)? {
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
                    .map_err(err)?;
            }
        }
        Ok(Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>,
    ) -> Result<T, LedgerError> {
        let mut conn = self.conn.lock().map_err(|_| LedgerError::Poisoned {
            path: self.path.clone(),
        })?;
        f(&mut conn).map_err(|source| LedgerError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    pub fn start_run(&self, r: &RunRecord<'_>) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs (run_id, command, started_at, tally_version, config, waldur_url,
                                   offering_uuid, months, as_of)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    r.run_id,
                    r.command,
                    ts(r.started_at),
                    env!("CARGO_PKG_VERSION"),
                    r.config.display().to_string(),
                    r.waldur_url,
                    r.offering_uuid.simple().to_string(),
                    r.months,
                    ts(r.as_of),
                ],
            )
            .map(drop)
        })
    }

    pub fn set_server_version(&self, run_id: &str, version: &str) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET server_version = ?2 WHERE run_id = ?1",
                params![run_id, version],
            )
            .map(drop)
        })
    }

    pub fn finish_run(
        &self,
        run_id: &str,
        exit_code: u8,
        summary: &serde_json::Value,
    ) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?2, exit_code = ?3, summary = ?4 WHERE run_id = ?1",
                params![run_id, ts(Utc::now()), exit_code, summary.to_string()],
            )
            .map(drop)
        })
    }

    /// Appends a `pending` row for a request about to be sent, with the amounts it carries
    /// (one `attempt_amounts` row per component, or one `attempt_user_amounts` row per user);
    /// returns its id. Written before the request goes out, so a crash leaves a trace.
    pub fn begin_attempt(&self, a: &AttemptStart<'_>) -> Result<i64, LedgerError> {
        let purpose = match a.amounts {
            AttemptAmounts::Totals { purpose, .. } => purpose,
            AttemptAmounts::Users { .. } => Purpose::UserUsage,
        };
        self.with(|c| {
            let tx = c.transaction()?;
            tx.execute(
                "INSERT INTO attempts (run_id, started_at, resource_backend_id, resource_uuid, month,
                                       date_sent, purpose, outcome)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, 'pending')",
                params![
                    a.run_id,
                    ts(Utc::now()),
                    a.backend_id,
                    a.resource.simple().to_string(),
                    a.month,
                    a.date.map(ts),
                    purpose.as_str(),
                ],
            )?;
            let id = tx.last_insert_rowid();
            match &a.amounts {
                AttemptAmounts::Totals { items, held, .. } => {
                    let mut stmt = tx.prepare_cached(
                        "INSERT OR REPLACE INTO attempt_amounts (attempt_id, component, amount, held)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?;
                    for (i, (component, amount)) in items.iter().enumerate() {
                        let held = held.get(i).copied().flatten().map(|h| h.to_string());
                        stmt.execute(params![id, component, amount.to_string(), held])?;
                    }
                }
                AttemptAmounts::Users {
                    component,
                    component_usage,
                    users,
                } => {
                    let mut stmt = tx.prepare_cached(
                        "INSERT OR REPLACE INTO attempt_user_amounts
                             (attempt_id, component, component_usage, username, offering_user, amount)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?;
                    for u in *users {
                        stmt.execute(params![
                            id,
                            component,
                            component_usage.simple().to_string(),
                            u.username,
                            u.offering_user,
                            u.amount.to_string()
                        ])?;
                    }
                }
            }
            tx.commit()?;
            Ok(id)
        })
    }

    /// What was sent per user for a resource (backend_id) in a month (`YYYY-MM`), oldest
    /// first (docs/ledger.md has the same query for sqlite3).
    pub fn reported_users(
        &self,
        backend_id: &str,
        month: &str,
    ) -> Result<Vec<ReportedUser>, LedgerError> {
        self.with(|c| {
            resource_rows(
                c,
                "SELECT a.run_id, u.component, u.username, u.offering_user, u.amount, a.outcome
                   FROM attempts a JOIN attempt_user_amounts u USING (attempt_id)
                  WHERE a.resource_backend_id = ?1 AND a.month = ?2
                  ORDER BY a.attempt_id, u.component, u.username",
                backend_id,
                Some(month),
                |r| {
                    Ok(ReportedUser {
                        run_id: r.get(0)?,
                        component: r.get(1)?,
                        username: r.get(2)?,
                        offering_user: r.get(3)?,
                        amount: r.get(4)?,
                        outcome: r.get(5)?,
                    })
                },
            )
        })
    }

    /// Completes a row with the server's answer.
    pub fn finish_attempt(&self, id: i64, r: &AttemptResult<'_>) -> Result<(), LedgerError> {
        self.with(|c| {
            c.execute(
                "UPDATE attempts SET finished_at = ?2, outcome = ?3, http_status = ?4,
                        http_attempts = ?5, message = ?6
                 WHERE attempt_id = ?1",
                params![
                    id,
                    ts(Utc::now()),
                    r.outcome,
                    r.http_status,
                    r.http_attempts,
                    r.message
                ],
            )
            .map(drop)
        })
    }

    /// The outcome of one attempt (tests, tools).
    pub fn outcome_of(&self, id: i64) -> Result<Option<String>, LedgerError> {
        self.with(|c| {
            c.query_row(
                "SELECT outcome FROM attempts WHERE attempt_id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// What was sent for a resource (backend_id) in a month (`YYYY-MM`), oldest first: the
    /// question the ledger exists to answer (docs/ledger.md has the same query for sqlite3).
    pub fn reported(&self, backend_id: &str, month: &str) -> Result<Vec<Reported>, LedgerError> {
        self.with(|c| {
            resource_rows(
                c,
                "SELECT a.started_at, a.run_id, a.date_sent, m.component, m.amount, a.outcome,
                        a.http_status, a.message
                   FROM attempts a JOIN attempt_amounts m USING (attempt_id)
                  WHERE a.resource_backend_id = ?1 AND a.month = ?2
                  ORDER BY a.attempt_id, m.component",
                backend_id,
                Some(month),
                |r| {
                    Ok(Reported {
                        started_at: r.get(0)?,
                        run_id: r.get(1)?,
                        date_sent: r.get(2)?,
                        component: r.get(3)?,
                        amount: r.get(4)?,
                        outcome: r.get(5)?,
                        http_status: r.get(6)?,
                        message: r.get(7)?,
                    })
                },
            )
        })
    }

    /// Opens an existing ledger read-only (`--dry-run` reads what tally wrote before, and
    /// writes nothing); `None` when there is no ledger file yet.
    pub fn open_read_only(path: &Path) -> Result<Option<Self>, LedgerError> {
        if !path.exists() {
            return Ok(None);
        }
        let conn = Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
            .map_err(|source| LedgerError::Sqlite {
                path: path.to_path_buf(),
                source,
            })?;
        Ok(Some(Ledger {
            path: path.to_path_buf(),
            conn: Mutex::new(conn),
        }))
    }

    /// Every (resource, month) this ledger shows a delivered report for, in runs for
    /// `offering`: the cells tally wrote, which it owns and sets to 0.00 when it no longer
    /// computes them. Months that do not parse (hand-edited rows) are skipped.
    pub fn delivered_resource_months(
        &self,
        offering: Uuid,
    ) -> Result<BTreeSet<(Uuid, BillingMonth)>, LedgerError> {
        // A ledger older than the tables' creation has none of them yet: nothing written.
        let rows: Vec<(String, String)> = self.with(|c| {
            if !schema_has(c, "table", "attempts")? {
                return Ok(Vec::new());
            }
            let mut stmt = c.prepare(DELIVERED_RESOURCE_MONTHS)?;
            let rows = stmt.query_map(params![offering.simple().to_string()], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?;
            rows.collect()
        })?;
        Ok(rows
            .into_iter()
            .filter_map(|(u, m)| Some((Uuid::parse_str(&u).ok()?, m.parse().ok()?)))
            .collect())
    }

    /// Records a cell the drop guard held back: an attempt of purpose `report` with outcome
    /// `held_back`, the amount it would have set, and why. Nothing was sent.
    pub fn record_held_back(&self, run_id: &str, d: &Decrease) -> Result<(), LedgerError> {
        let id = self.begin_attempt(&AttemptStart {
            run_id,
            backend_id: &d.target.backend_id,
            resource: d.target.uuid,
            month: &d.month.to_string(),
            date: d.date,
            amounts: AttemptAmounts::Totals {
                purpose: Purpose::Report,
                items: &[(d.component.clone(), d.computed)],
                held: &[Some(d.held)],
            },
        })?;
        let why = format!(
            "held back by the drop guard: Waldur holds {}; {}",
            d.held,
            d.why()
        );
        self.finish_attempt(
            id,
            &AttemptResult {
                outcome: "held_back",
                http_status: None,
                http_attempts: None,
                message: Some(&why),
            },
        )
    }

    /// The `summary` JSON of the latest run that finished (operators, tests).
    pub fn last_run_summary(&self) -> Result<Option<serde_json::Value>, LedgerError> {
        let text: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT summary FROM runs WHERE summary IS NOT NULL ORDER BY run_id DESC LIMIT 1",
                [],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    /// How many attempt rows have each outcome (summary, tests).
    pub fn outcome_counts(&self) -> Result<Vec<(String, i64)>, LedgerError> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT outcome, COUNT(*) FROM attempts GROUP BY outcome ORDER BY outcome",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            rows.collect()
        })
    }
}

/// One request sent (or about to be) for a resource, as [`Ledger::history`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HistoryEntry {
    pub attempt_id: i64,
    pub run_id: String,
    /// `push` or `run` (the `runs` row); `None` when the run row is missing.
    pub command: Option<String>,
    /// RFC 3339 UTC, when the request was about to be sent / when the answer was in.
    pub started_at: String,
    pub finished_at: Option<String>,
    pub month: String,
    /// The `date` sent (past months); `None`: the current month, undated.
    pub date_sent: Option<String>,
    /// `report`, `restore` or `user_usage`.
    pub purpose: String,
    /// `delivered`, `failed`, `refused`, `held_back`, ... (docs/ledger.md).
    pub outcome: String,
    pub http_status: Option<u16>,
    pub http_attempts: Option<u32>,
    /// Waldur's message, or tally's reason.
    pub message: Option<String>,
    /// The totals sent (report, restore), by component.
    pub amounts: Vec<SentAmount>,
    /// The per-user figures sent (user_usage).
    pub users: Vec<SentUserAmount>,
}

/// One component's total in a request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentAmount {
    pub component: String,
    /// Decimal string as sent.
    pub amount: String,
    /// What Waldur held before; `None`: nothing held, or not recorded (older ledgers).
    pub held: Option<String>,
}

/// One user's figure in a `set_user_usages` request.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SentUserAmount {
    pub component: String,
    pub username: String,
    pub amount: String,
}

/// What a check found for one cell, as [`Ledger::record_check`] writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckedCell {
    pub backend_id: String,
    /// `YYYY-MM`.
    pub month: String,
    pub component: String,
    /// `agrees`, `missing`, `different` or `unexpected`.
    pub result: String,
    /// What tally computed (`None`: nothing).
    pub tally: Option<String>,
    /// What Waldur held (`None`: nothing).
    pub waldur: Option<String>,
}

/// One cell of a recorded check, as [`Ledger::last_checks`] returns it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckRecord {
    pub checked_at: String,
    /// The `tally run` that checked; `None` for `tally check`.
    pub run_id: Option<String>,
    #[serde(flatten)]
    pub cell: CheckedCell,
}

impl Ledger {
    /// Every request recorded for a resource (`backend_id`), in one month (`YYYY-MM`) or all,
    /// oldest first, with the amounts each carried and what Waldur held before: `tally history`.
    pub fn history(
        &self,
        backend_id: &str,
        month: Option<&str>,
    ) -> Result<Vec<HistoryEntry>, LedgerError> {
        self.with(|c| {
            let held = if has_column(c, "attempt_amounts", "held")? {
                "m.held"
            } else {
                "NULL"
            };
            let mut entries: Vec<HistoryEntry> = {
                resource_rows(
                    c,
                    "SELECT a.attempt_id, a.run_id, r.command, a.started_at, a.finished_at, a.month,
                            a.date_sent, a.purpose, a.outcome, a.http_status, a.http_attempts,
                            a.message
                       FROM attempts a LEFT JOIN runs r USING (run_id)
                      WHERE a.resource_backend_id = ?1 AND (?2 IS NULL OR a.month = ?2)
                      ORDER BY a.attempt_id",
                    backend_id,
                    month,
                    |r| {
                    Ok(HistoryEntry {
                        attempt_id: r.get(0)?,
                        run_id: r.get(1)?,
                        command: r.get(2)?,
                        started_at: r.get(3)?,
                        finished_at: r.get(4)?,
                        month: r.get(5)?,
                        date_sent: r.get(6)?,
                        purpose: r.get(7)?,
                        outcome: r.get(8)?,
                        http_status: r.get(9)?,
                        http_attempts: r.get(10)?,
                        message: r.get(11)?,
                        amounts: Vec::new(),
                        users: Vec::new(),
                    })
                    },
                )?
            };
            let mut amounts = rows_by_attempt(
                c,
                &format!(
                    "SELECT m.attempt_id, m.component, m.amount, {held}
                       FROM attempts a JOIN attempt_amounts m USING (attempt_id)
                      WHERE a.resource_backend_id = ?1 AND (?2 IS NULL OR a.month = ?2)
                      ORDER BY m.attempt_id, m.component"
                ),
                backend_id,
                month,
                |r| {
                    Ok(SentAmount {
                        component: r.get(1)?,
                        amount: r.get(2)?,
                        held: r.get(3)?,
                    })
                },
            )?;
            let mut users = rows_by_attempt(
                c,
                "SELECT u.attempt_id, u.component, u.username, u.amount
                   FROM attempts a JOIN attempt_user_amounts u USING (attempt_id)
                  WHERE a.resource_backend_id = ?1 AND (?2 IS NULL OR a.month = ?2)
                  ORDER BY u.attempt_id, u.component, u.username",
                backend_id,
                month,
                |r| {
                    Ok(SentUserAmount {
                        component: r.get(1)?,
                        username: r.get(2)?,
                        amount: r.get(3)?,
                    })
                },
            )?;
            for e in &mut entries {
                e.amounts = amounts.remove(&e.attempt_id).unwrap_or_default();
                e.users = users.remove(&e.attempt_id).unwrap_or_default();
            }
            Ok(entries)
        })
    }

    /// Records what a check found, one row per cell compared, all with one `checked_at`.
    pub fn record_check(
        &self,
        checked_at: DateTime<Utc>,
        run_id: Option<&str>,
        cells: &[CheckedCell],
    ) -> Result<(), LedgerError> {
        let at = ts(checked_at);
        self.with(|c| {
            let tx = c.transaction()?;
            {
                let mut stmt = tx.prepare_cached(
                    "INSERT INTO checks (checked_at, run_id, resource_backend_id, month, component,
                                         result, tally, waldur)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                )?;
                for cell in cells {
                    stmt.execute(params![
                        at,
                        run_id,
                        cell.backend_id,
                        cell.month,
                        cell.component,
                        cell.result,
                        cell.tally,
                        cell.waldur
                    ])?;
                }
            }
            tx.commit()
        })
    }

    /// The last check of each month of a resource (one month, or all), by month and component:
    /// what the latest check that compared the month found for each of its cells.
    pub fn last_checks(
        &self,
        backend_id: &str,
        month: Option<&str>,
    ) -> Result<Vec<CheckRecord>, LedgerError> {
        self.with(|c| {
            if !schema_has(c, "table", "checks")? {
                return Ok(Vec::new());
            }
            resource_rows(
                c,
                "SELECT c.checked_at, c.run_id, c.resource_backend_id, c.month, c.component,
                        c.result, c.tally, c.waldur
                   FROM checks c
                  WHERE c.resource_backend_id = ?1 AND (?2 IS NULL OR c.month = ?2)
                    AND c.checked_at = (SELECT MAX(d.checked_at) FROM checks d
                                         WHERE d.resource_backend_id = c.resource_backend_id
                                           AND d.month = c.month)
                  ORDER BY c.month, c.component",
                backend_id,
                month,
                |r| {
                    Ok(CheckRecord {
                        checked_at: r.get(0)?,
                        run_id: r.get(1)?,
                        cell: CheckedCell {
                            backend_id: r.get(2)?,
                            month: r.get(3)?,
                            component: r.get(4)?,
                            result: r.get(5)?,
                            tally: r.get(6)?,
                            waldur: r.get(7)?,
                        },
                    })
                },
            )
        })
    }
}

/// A run id that sorts by time and is unique per process: `20261125T000000Z-<pid>-<nanos>`.
pub fn new_run_id(now: DateTime<Utc>) -> String {
    format!(
        "{}-{}-{:09}",
        now.format("%Y%m%dT%H%M%SZ"),
        std::process::id(),
        Utc::now().timestamp_subsec_nanos()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    /// A run row for `offering` covering `months`, started now.
    fn start(l: &Ledger, run_id: &str, offering: Uuid, months: &str) {
        let now = Utc::now();
        l.start_run(&RunRecord {
            run_id,
            command: "push",
            started_at: now,
            config: Path::new("/etc/tally/tally.toml"),
            waldur_url: "https://w/api/",
            offering_uuid: offering,
            months,
            as_of: now,
        })
        .expect("run");
    }

    /// A fresh ledger file's path, in a directory removed when the guard drops.
    fn ledger_path() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("ledger.db");
        (dir, path)
    }

    /// The answer to a request Waldur accepted.
    fn delivered() -> AttemptResult<'static> {
        AttemptResult {
            outcome: "delivered",
            http_status: Some(201),
            http_attempts: None,
            message: None,
        }
    }

    /// Records a request and its answer, as a push does: the row before, the outcome after.
    fn record(l: &Ledger, start: &AttemptStart<'_>, result: &AttemptResult<'_>) {
        let id = l.begin_attempt(start).expect("begin");
        l.finish_attempt(id, result).expect("finish");
    }

    #[test]
    fn rows_answer_what_was_reported_for_a_resource_in_a_month() {
        let (_dir, path) = ledger_path();
        let l = Ledger::open(&path).expect("open");
        start(&l, "r1", Uuid::nil(), "2026-10..2026-11");
        l.set_server_version("r1", "8.0.5").expect("version");
        let id = l
            .begin_attempt(&AttemptStart {
                run_id: "r1",
                backend_id: "proj_alpha",
                resource: Uuid::nil(),
                month: "2026-10",
                date: None,
                amounts: AttemptAmounts::Totals {
                    purpose: Purpose::Report,
                    items: &[("cpu".into(), Decimal::from_str("480.00").expect("d"))],
                    held: &[],
                },
            })
            .expect("begin");
        assert_eq!(l.outcome_of(id).expect("q").as_deref(), Some("pending"));
        l.finish_attempt(id, &delivered()).expect("finish");
        l.finish_run("r1", 0, &serde_json::json!({"pushed": 1}))
            .expect("finish run");
        drop(l);

        // The documented query (docs/ledger.md), against a fresh connection.
        let c = Connection::open(&path).expect("reopen");
        let (at, amount, outcome): (String, String, String) = c
            .query_row(
                "SELECT a.started_at, m.amount, a.outcome
                   FROM attempts a JOIN attempt_amounts m USING (attempt_id)
                  WHERE a.resource_backend_id = 'proj_alpha' AND a.month = '2026-10'
                    AND m.component = 'cpu' ORDER BY a.attempt_id",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .expect("query");
        assert_eq!(amount, "480.00");
        assert_eq!(outcome, "delivered");
        assert!(at.ends_with('Z'));
        let v: String = c
            .query_row("SELECT server_version FROM runs", [], |r| r.get(0))
            .expect("runs");
        assert_eq!(v, "8.0.5");
    }

    #[test]
    fn user_breakdowns_are_recorded_per_user_and_answer_the_documented_query() {
        let (_dir, path) = ledger_path();
        let l = Ledger::open(&path).expect("open");
        start(&l, "r1", Uuid::nil(), "2026-11..2026-11");
        let d = |s: &str| Decimal::from_str(s).expect("d");
        record(
            &l,
            &AttemptStart {
                run_id: "r1",
                backend_id: "proj_alpha",
                resource: Uuid::nil(),
                month: "2026-11",
                date: None,
                amounts: AttemptAmounts::Users {
                    component: "cpu",
                    component_usage: Uuid::from_u128(5),
                    users: &[
                        UserAmount {
                            username: "alice",
                            offering_user: Some("https://w/api/marketplace-offering-users/1/"),
                            amount: d("768.00"),
                        },
                        UserAmount {
                            username: "bob",
                            offering_user: None,
                            amount: d("288.00"),
                        },
                    ],
                },
            },
            &delivered(),
        );
        let rows = l.reported_users("proj_alpha", "2026-11").expect("q");
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[1].username, "bob");
        assert_eq!(rows[1].offering_user, None);
        // Totals are untouched by breakdowns.
        assert!(l.reported("proj_alpha", "2026-11").expect("q").is_empty());
        drop(l);
        let c = Connection::open(&path).expect("reopen");
        let (purpose, amount): (String, String) = c
            .query_row(
                "SELECT a.purpose, u.amount
                   FROM attempts a JOIN attempt_user_amounts u USING (attempt_id)
                  WHERE a.resource_backend_id = 'proj_alpha' AND a.month = '2026-11'
                    AND a.outcome = 'delivered' AND u.username = 'alice'",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .expect("query");
        assert_eq!(
            (purpose.as_str(), amount.as_str()),
            ("user_usage", "768.00")
        );
        let unlinked: String = c
            .query_row(
                "SELECT DISTINCT u.username FROM attempt_user_amounts u WHERE u.offering_user IS NULL",
                [],
                |r| r.get(0),
            )
            .expect("unlinked");
        assert_eq!(unlinked, "bob");
    }

    /// Issue 15: the ledger tells push which cells tally wrote (delivered reports, this offering
    /// only), and keeps the cells the drop guard held back without counting them as written.
    #[test]
    fn delivered_reports_are_what_tally_wrote_and_held_back_cells_are_recorded() {
        use crate::plan::{Decrease, ResolvedResource};
        let (_dir, path) = ledger_path();
        assert!(Ledger::open_read_only(&path).expect("none").is_none());
        let l = Ledger::open(&path).expect("open");
        let (ours, theirs) = (Uuid::from_u128(7), Uuid::from_u128(8));
        for (run, offering) in [("r1", ours), ("r2", theirs)] {
            start(&l, run, offering, "2026-11..2026-11");
        }
        let attempt = |run: &str, resource: u128, month: &str, outcome: &str| {
            record(
                &l,
                &AttemptStart {
                    run_id: run,
                    backend_id: "b",
                    resource: Uuid::from_u128(resource),
                    month,
                    date: None,
                    amounts: AttemptAmounts::Totals {
                        purpose: Purpose::Report,
                        items: &[("cpu".into(), Decimal::ONE)],
                        held: &[],
                    },
                },
                &AttemptResult {
                    outcome,
                    http_status: None,
                    http_attempts: None,
                    message: None,
                },
            )
        };
        attempt("r1", 1, "2026-10", "delivered");
        attempt("r1", 2, "2026-11", "failed");
        attempt("r2", 3, "2026-11", "delivered");
        let m = |s: &str| s.parse::<BillingMonth>().expect("month");
        let d = Decrease {
            target: ResolvedResource {
                uuid: Uuid::from_u128(4),
                backend_id: "proj_gone".into(),
            },
            month: m("2026-11"),
            date: None,
            component: "gpu".into(),
            held: Decimal::from_str("40.00").expect("d"),
            computed: Decimal::new(0, 2),
            computes_nothing: true,
            limit: Decimal::new(5, 2),
        };
        l.record_held_back("r1", &d).expect("held");
        let expected: BTreeSet<(Uuid, BillingMonth)> = [(Uuid::from_u128(1), m("2026-10"))].into();
        assert_eq!(l.delivered_resource_months(ours).expect("q"), expected);
        let read_only = Ledger::open_read_only(&path)
            .expect("open")
            .expect("exists");
        assert_eq!(
            read_only.delivered_resource_months(ours).expect("q"),
            expected
        );
        let rows = l.reported("proj_gone", "2026-11").expect("rows");
        assert_eq!(rows.len(), 1);
        assert_eq!(
            (
                rows[0].outcome.as_str(),
                rows[0].amount.as_str(),
                rows[0].component.as_str()
            ),
            ("held_back", "0.00", "gpu")
        );
        assert!(rows[0]
            .message
            .as_deref()
            .is_some_and(|m| m.contains("Waldur holds 40.00")));
    }

    /// Issue 18: `history` lists a resource's requests in order with what they carried and
    /// what Waldur held before; an older ledger without the `held` column gets it at open (its
    /// old rows read as not recorded); `last_checks` keeps each month's latest check only.
    #[test]
    fn history_lists_requests_in_order_with_held_amounts_and_the_last_check() {
        let (_dir, path) = ledger_path();
        {
            let old = Connection::open(&path).expect("old");
            old.execute_batch(
                "CREATE TABLE attempt_amounts (attempt_id INTEGER NOT NULL, component TEXT NOT NULL,
                                               amount TEXT NOT NULL, PRIMARY KEY (attempt_id, component));",
            )
            .expect("old table");
        }
        let l = Ledger::open(&path).expect("open migrates");
        start(&l, "r1", Uuid::nil(), "2026-11..2026-11");
        let d = |s: &str| Decimal::from_str(s).expect("d");
        let send = |month: &str, amount: &str, held: Option<&str>, outcome: &str| {
            record(
                &l,
                &AttemptStart {
                    run_id: "r1",
                    backend_id: "proj_alpha",
                    resource: Uuid::nil(),
                    month,
                    date: None,
                    amounts: AttemptAmounts::Totals {
                        purpose: Purpose::Report,
                        items: &[("cpu".into(), d(amount))],
                        held: &[held.map(d)],
                    },
                },
                &AttemptResult {
                    outcome,
                    http_status: Some(if outcome == "delivered" { 201 } else { 503 }),
                    http_attempts: None,
                    message: (outcome != "delivered").then_some("Service Unavailable"),
                },
            )
        };
        send("2026-11", "10.00", None, "delivered");
        send("2026-10", "3.00", None, "delivered");
        send("2026-11", "12.50", Some("10.00"), "failed");
        let h = l.history("proj_alpha", Some("2026-11")).expect("history");
        let got: Vec<(&str, &str, Option<&str>, &str)> = h
            .iter()
            .map(|e| {
                (
                    e.amounts[0].amount.as_str(),
                    e.outcome.as_str(),
                    e.amounts[0].held.as_deref(),
                    e.command.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            got,
            [
                ("10.00", "delivered", None, "push"),
                ("12.50", "failed", Some("10.00"), "push")
            ]
        );
        assert_eq!(h[1].message.as_deref(), Some("Service Unavailable"));
        assert_eq!(l.history("proj_alpha", None).expect("all").len(), 3);
        assert!(l.history("proj_other", None).expect("none").is_empty());

        let cell = |result: &str, tally: &str| CheckedCell {
            backend_id: "proj_alpha".into(),
            month: "2026-11".into(),
            component: "cpu".into(),
            result: result.into(),
            tally: Some(tally.into()),
            waldur: Some("10.00".into()),
        };
        let t0 = Utc::now();
        l.record_check(t0, None, &[cell("agrees", "10.00")])
            .expect("check 1");
        l.record_check(
            t0 + chrono::Duration::seconds(1),
            Some("r1"),
            &[cell("different", "12.50")],
        )
        .expect("check 2");
        let last = l.last_checks("proj_alpha", None).expect("checks");
        assert_eq!(last.len(), 1);
        assert_eq!(last[0].cell.result, "different");
        assert_eq!(last[0].run_id.as_deref(), Some("r1"));
    }

    /// A ledger written before the index existed gets it when opened, and the "what tally wrote"
    /// query then reads the index instead of scanning every attempt.
    #[test]
    fn an_old_ledger_gets_the_delivered_reports_index_and_the_query_uses_it() {
        let (_dir, path) = ledger_path();
        let index = "attempts_delivered_reports";
        {
            let old = Connection::open(&path).expect("old");
            let without_index: String = SCHEMA
                .split_once("-- What tally wrote")
                .expect("index section")
                .0
                .to_owned();
            old.execute_batch(&without_index).expect("old schema");
            old.execute(
                "INSERT INTO runs (run_id, command, started_at, tally_version, config, waldur_url,
                                   offering_uuid, months, as_of)
                 VALUES ('r0', 'push', 't', '0', 'c', 'u', ?1, 'm', 't')",
                params![Uuid::from_u128(7).simple().to_string()],
            )
            .expect("old run");
            assert!(
                !schema_has(&old, "index", index).expect("count"),
                "the old schema has no such index"
            );
        }
        let l = Ledger::open(&path).expect("open");
        let plan: Vec<String> = l
            .with(|c| {
                assert!(schema_has(c, "index", index)?, "opening adds the index");
                let mut stmt =
                    c.prepare(&format!("EXPLAIN QUERY PLAN {DELIVERED_RESOURCE_MONTHS}"))?;
                let rows = stmt.query_map(params!["x"], |r| r.get::<_, String>(3))?;
                rows.collect()
            })
            .expect("plan");
        let plan = plan.join("\n");
        // Read through the index (delivered reports only), never by scanning the table.
        assert!(plan.contains(&format!("COVERING INDEX {index}")), "{plan}");
        assert!(!plan.lines().any(|l| l.trim() == "SCAN a"), "{plan}");
        // The old run is still there and the query answers on it.
        assert!(l
            .delivered_resource_months(Uuid::from_u128(7))
            .expect("q")
            .is_empty());
    }
}
