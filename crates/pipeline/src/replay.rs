//! The fixture replay a provider runs in CI to prove that a configuration change bills the same:
//! the embedded sandbox in-process with a world and a clock, collect -> push -> check against it,
//! and the usage the server ends up holding, in the expected-file format.
//!
//! Every month is pushed as the nightly job would have pushed it on time: the sandbox clock is
//! set inside that month (noon on its last day; `now` for the current month) and the month is
//! sent as the current one. So past months land too, as they did when they were current, and
//! the expected file holds every month of the data.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, TimeZone, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use tally_aggregate::Collection;
use tally_check::CheckReport;
use tally_config::Config;
use tally_model::{BillingMonth, MonthRange};
use tally_sandbox::{SandboxOptions, StoredUsage, World};
use tally_waldur::Token;
use uuid::Uuid;

use crate::{check, connect, push, PipelineError, PushJob, PushReport, UsageError, Verdict};

/// The expected-file format: what the server holds for the offering, one row per figure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Expected {
    pub offering_uuid: String,
    pub usages: Vec<ExpectedUsage>,
    /// The per-user breakdowns. Absent in files written before per-user usage existed: those
    /// are still compared on the totals alone (`--update` adds the breakdowns).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_usages: Option<Vec<ExpectedUserUsage>>,
}

/// One user's share of one figure.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedUserUsage {
    pub backend_id: String,
    pub month: String,
    pub component: String,
    pub user: String,
    /// Decimal string, two places.
    pub amount: String,
}

/// One figure: a resource's total of one component in one month.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ExpectedUsage {
    pub backend_id: String,
    pub month: String,
    pub component: String,
    /// Decimal string, two places.
    pub amount: String,
}

/// How a figure differs between the expected file and the server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch<'a> {
    ExpectedNotHeld(&'a ExpectedUsage),
    HeldNotExpected(&'a ExpectedUsage),
    UserExpectedNotHeld(&'a ExpectedUserUsage),
    UserHeldNotExpected(&'a ExpectedUserUsage),
    Offering { expected: &'a str, held: &'a str },
}

/// One line for people: `expected, not held: proj_a 2026-10 cpu 12.00`.
impl std::fmt::Display for Mismatch<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Mismatch::ExpectedNotHeld(u) | Mismatch::HeldNotExpected(u) => write!(
                f,
                "{}: {} {} {} {}",
                self.side(),
                u.backend_id,
                u.month,
                u.component,
                u.amount
            ),
            Mismatch::UserExpectedNotHeld(u) | Mismatch::UserHeldNotExpected(u) => write!(
                f,
                "{}: {} {} {} user {} {}",
                self.side(),
                u.backend_id,
                u.month,
                u.component,
                u.user,
                u.amount
            ),
            Mismatch::Offering { expected, held } => {
                write!(f, "offering: expected {expected}, replayed {held}")
            }
        }
    }
}

impl Mismatch<'_> {
    /// Which side has the figure the other lacks.
    fn side(&self) -> &'static str {
        match self {
            Mismatch::ExpectedNotHeld(_) | Mismatch::UserExpectedNotHeld(_) => "expected, not held",
            _ => "held, not expected",
        }
    }
}

fn two_places(mut d: Decimal) -> String {
    d.rescale(2);
    d.to_string()
}

/// The expected file could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot write {}", path.display())]
pub struct WriteError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

impl Expected {
    /// Reads an expected file; a missing or malformed one is a usage error naming it (and
    /// `--update`, which writes it).
    pub fn read(path: &Path) -> Result<Expected, UsageError> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            UsageError(format!(
                "cannot read {} (write it with --update): {e}",
                path.display()
            ))
        })?;
        serde_json::from_str(&text).map_err(|e| UsageError(format!("{}: {e}", path.display())))
    }

    /// Writes the file as pretty JSON with a final newline, rows sorted: diffs in review show
    /// exactly the figures that changed.
    pub fn write(&self, path: &Path) -> Result<(), WriteError> {
        let err = |source| WriteError {
            path: path.to_path_buf(),
            source,
        };
        let text = serde_json::to_string_pretty(self).map_err(|e| err(e.into()))? + "\n";
        std::fs::write(path, text).map_err(err)
    }

    /// What `stored` (the sandbox's usage records) holds for `offering`, sorted.
    pub fn held(offering: Uuid, stored: Vec<StoredUsage>) -> Expected {
        let stored: Vec<StoredUsage> = stored
            .into_iter()
            .filter(|u| u.offering_uuid == offering)
            .collect();
        let mut user_usages: Vec<ExpectedUserUsage> = stored
            .iter()
            .flat_map(|u| {
                u.user_usages
                    .iter()
                    .map(|(user, amount)| ExpectedUserUsage {
                        backend_id: u.backend_id.clone(),
                        month: u.billing_period.format("%Y-%m").to_string(),
                        component: u.component_type.clone(),
                        user: user.clone(),
                        amount: two_places(*amount),
                    })
            })
            .collect();
        user_usages.sort();
        let mut usages: Vec<ExpectedUsage> = stored
            .into_iter()
            .map(|u| ExpectedUsage {
                backend_id: u.backend_id,
                month: u.billing_period.format("%Y-%m").to_string(),
                component: u.component_type,
                amount: two_places(u.usage),
            })
            .collect();
        usages.sort();
        Expected {
            offering_uuid: offering.simple().to_string(),
            usages,
            user_usages: Some(user_usages),
        }
    }

    /// Whether `held` is exactly this expected file; a file without `user_usages` (written
    /// before per-user usage existed) is compared on the totals alone.
    pub fn agrees_with(&self, held: &Expected) -> bool {
        self.offering_uuid == held.offering_uuid
            && self.usages == held.usages
            && (self.user_usages.is_none() || self.user_usages == held.user_usages)
    }

    /// Every difference between this expected file and what is `held`: totals first, then the
    /// per-user shares, then the offering. A file without `user_usages` (written before per-user
    /// usage existed) is compared on the totals alone.
    pub fn mismatches<'a>(&'a self, held: &'a Expected) -> Vec<Mismatch<'a>> {
        let mut out = Vec::new();
        let want: BTreeSet<&ExpectedUsage> = self.usages.iter().collect();
        let got: BTreeSet<&ExpectedUsage> = held.usages.iter().collect();
        out.extend(want.difference(&got).map(|u| Mismatch::ExpectedNotHeld(u)));
        out.extend(got.difference(&want).map(|u| Mismatch::HeldNotExpected(u)));
        if let (Some(want), Some(got)) = (&self.user_usages, &held.user_usages) {
            let want: BTreeSet<&ExpectedUserUsage> = want.iter().collect();
            let got: BTreeSet<&ExpectedUserUsage> = got.iter().collect();
            out.extend(
                want.difference(&got)
                    .map(|u| Mismatch::UserExpectedNotHeld(u)),
            );
            out.extend(
                got.difference(&want)
                    .map(|u| Mismatch::UserHeldNotExpected(u)),
            );
        }
        if self.offering_uuid != held.offering_uuid {
            out.push(Mismatch::Offering {
                expected: &self.offering_uuid,
                held: &held.offering_uuid,
            });
        }
        out
    }
}

/// The token of `user` in the world, by default of the first owner of the offering's
/// organisation (the provider).
pub fn token_of(world: &World, offering: Uuid, user: Option<&str>) -> Result<Token, UsageError> {
    let st = world.state();
    let username = match user {
        Some(u) => u.to_owned(),
        None => {
            let o = st
                .offerings
                .rows
                .iter()
                .find(|o| o.uuid == offering)
                .ok_or_else(|| {
                    UsageError(format!(
                        "the world {} has no offering {} (waldur.offering_uuid)",
                        world.origin,
                        offering.simple()
                    ))
                })?;
            let org = st.orgs.rows.iter().find(|g| g.uuid == o.org);
            let owner = org
                .and_then(|g| g.owners.first())
                .and_then(|u| st.users.rows.iter().find(|x| x.uuid == *u));
            owner.map(|u| u.username.clone()).ok_or_else(|| {
                UsageError(format!(
                    "the offering's organisation has no owner in {}; pass --token-user",
                    world.origin
                ))
            })?
        }
    };
    let token = st
        .users
        .rows
        .iter()
        .find(|u| u.username == username)
        .and_then(|u| u.token.clone())
        .ok_or_else(|| {
            UsageError(format!(
                "user {username:?} of {} has no token",
                world.origin
            ))
        })?;
    Token::new(token).map_err(|e| UsageError(e.to_string()))
}

/// When month `m` is replayed: noon on its last day (billing zone), or `now` for its own month.
pub fn clock_for(m: BillingMonth, now: DateTime<Utc>, tz: chrono_tz::Tz) -> DateTime<Utc> {
    if m >= BillingMonth::containing(now, tz) {
        return now;
    }
    let last_day = m.next().first_day() - Duration::days(1);
    tz.from_local_datetime(&last_day.and_hms_opt(12, 0, 0).unwrap_or_default())
        .earliest()
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|| m.end(tz) - Duration::hours(12))
}

/// The months replayed: `from` (default: 24 months before `now`) to `to` (default and at the
/// latest: the month of `now`).
pub fn replay_range(
    now: DateTime<Utc>,
    tz: chrono_tz::Tz,
    from: Option<BillingMonth>,
    to: Option<BillingMonth>,
) -> Result<MonthRange, UsageError> {
    let current = BillingMonth::containing(now, tz);
    let to = to.unwrap_or(current).min(current);
    let from = from.unwrap_or_else(|| (0..24).fold(current, |m, _| m.prev()));
    MonthRange::new(from, to).map_err(|e| UsageError(e.to_string()))
}

/// Why a replay stopped.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error(transparent)]
    Sandbox(#[from] tally_sandbox::SandboxError),
    #[error(transparent)]
    Usage(#[from] UsageError),
    #[error(transparent)]
    Pipeline(#[from] PipelineError),
    #[error(transparent)]
    Config(#[from] tally_config::ConfigError),
    #[error(transparent)]
    Collect(#[from] crate::CollectError),
    #[error(transparent)]
    Write(#[from] WriteError),
    #[error("world {}", path.display())]
    World {
        path: PathBuf,
        #[source]
        source: tally_sandbox::SeedError,
    },
}

impl ReplayError {
    /// The error a transparent variant stands for (its kind decides the exit code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReplayError::Sandbox(e) => Some(e),
            ReplayError::Usage(e) => Some(e),
            ReplayError::Pipeline(e) => Some(e),
            ReplayError::Config(e) => Some(e),
            ReplayError::Collect(e) => Some(e),
            ReplayError::Write(e) => Some(e),
            ReplayError::World { .. } => None,
        }
    }
}

/// `tally replay`'s flags.
#[derive(Debug, Clone)]
pub struct ReplayOptions {
    pub config: PathBuf,
    pub world: PathBuf,
    /// The server clock at the end of the replay; also the collection's as-of. Default: now.
    pub now: Option<DateTime<Utc>>,
    pub from: Option<BillingMonth>,
    pub to: Option<BillingMonth>,
    /// The world user whose token tally uses (default: the offering organisation's first owner).
    pub token_user: Option<String>,
}

/// `tally replay` up to the server's end state: the configuration and the world read, the
/// collection, then [`replay`] on `rt` (`pushed` sees each month's push report).
pub fn replay_command(
    opts: &ReplayOptions,
    rt: &tokio::runtime::Runtime,
    pushed: impl FnMut(BillingMonth, &PushReport),
) -> Result<Replayed, ReplayError> {
    let config = Config::load(&opts.config)?;
    let world = World::load(&opts.world).map_err(|source| ReplayError::World {
        path: opts.world.clone(),
        source,
    })?;
    let now = opts.now.unwrap_or_else(Utc::now);
    let range = replay_range(now, config.billing_timezone, opts.from, opts.to)?;
    let (_, offering) = crate::waldur_table(&config)?;
    let token = token_of(&world, offering, opts.token_user.as_deref())?;
    let collected = crate::collect(&config, &crate::Window { range, as_of: now })?;
    crate::run::log_collection(&collected);
    let replayed = rt.block_on(replay(
        ReplayJob {
            config: &config,
            world,
            token,
            now,
            range,
            explicit_from: opts.from.is_some(),
            collected: &collected,
        },
        pushed,
    ))?;
    crate::run::log_check(&replayed.check);
    Ok(replayed)
}

/// What the server's end state came to against the expected file.
pub enum Settled {
    /// `--update`: the file was written from it.
    Written,
    /// The server holds exactly the file's figures.
    Agrees,
    /// It does not; the file as read ([`Expected::mismatches`] says where).
    Differs(Expected),
}

/// Writes the expected file from `held` (`update`), or reads it and compares `held` with it.
pub fn settle(held: &Expected, path: &Path, update: bool) -> Result<Settled, ReplayError> {
    if update {
        held.write(path)?;
        tracing::info!(file = %path.display(), usages = held.usages.len(), "expected file written");
        return Ok(Settled::Written);
    }
    let expected = Expected::read(path)?;
    if expected.user_usages.is_none() {
        tracing::warn!(
            file = %path.display(),
            "the expected file has no user_usages: the per-user breakdowns are not compared (write it again with --update)"
        );
    }
    Ok(if expected.agrees_with(held) {
        Settled::Agrees
    } else {
        Settled::Differs(expected)
    })
}

/// One replay: the configuration, the world, and what was collected over `range`.
pub struct ReplayJob<'a> {
    pub config: &'a Config,
    pub world: World,
    pub token: Token,
    /// The server clock at the end of the replay.
    pub now: DateTime<Utc>,
    /// The months asked for; `explicit_from`: whether the first was given (otherwise the check
    /// starts at the first month with data: every month checked is one listing).
    pub range: MonthRange,
    pub explicit_from: bool,
    pub collected: &'a Collection,
}

/// What a replay came to: the first verdict that was not `Ok` (the months' pushes, then the
/// check), the check and what the server ends up holding.
pub struct Replayed {
    pub verdict: Verdict,
    pub check: CheckReport,
    pub held: Expected,
}

/// Starts the sandbox, pushes every month with data at its own clock (`pushed` sees each
/// month's report), checks, and reads what the server holds.
pub async fn replay(
    job: ReplayJob<'_>,
    mut pushed: impl FnMut(BillingMonth, &PushReport),
) -> Result<Replayed, ReplayError> {
    let tz = job.config.billing_timezone;
    let cells = &job.collected.usages;
    let user_cells = &job.collected.user_usages;
    let months: BTreeSet<BillingMonth> = cells.iter().map(|c| c.period).collect();
    let range = match (job.explicit_from, months.first()) {
        (false, Some(first)) => MonthRange::new(*first, job.range.to).unwrap_or(job.range),
        _ => job.range,
    };
    let listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let sandbox = tally_sandbox::start(
        job.world,
        listen,
        SandboxOptions {
            now: Some(job.now),
            ..Default::default()
        },
    )
    .await?;
    // The sandbox is in this process: the provider's agreed request rate does not apply to it.
    let mut unthrottled = job.config.clone();
    if let Some(w) = unthrottled.waldur.as_mut() {
        w.rate_per_second = w.rate_per_second.max(1000);
        w.burst = w.burst.max(100);
    }
    let connection = connect(&unthrottled, Some(&sandbox.url), Some(job.token))?;
    let mut verdict = Verdict::Ok;
    for m in &months {
        let clock = clock_for(*m, job.now, tz);
        sandbox.set_now(Some(clock));
        tracing::info!(month = %m, clock = %clock.to_rfc3339(), "replaying month");
        let job = PushJob::new(
            job.config,
            &connection,
            job.collected,
            MonthRange::single(*m),
            clock,
        );
        let report = push(&job).await?;
        pushed(*m, &report);
        verdict = verdict.or_then(report.verdict);
    }
    sandbox.set_now(Some(job.now));
    let report = check(job.config, &connection, cells, user_cells, range).await?;
    let verdict = verdict.or_then(Verdict::of_check(&report));
    let held = Expected::held(connection.offering, sandbox.usages());
    sandbox.shutdown().await;
    Ok(Replayed {
        verdict,
        check: report,
        held,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn usage(backend_id: &str, amount: &str) -> ExpectedUsage {
        ExpectedUsage {
            backend_id: backend_id.into(),
            month: "2026-10".into(),
            component: "cpu".into(),
            amount: amount.into(),
        }
    }

    fn alice() -> ExpectedUserUsage {
        ExpectedUserUsage {
            backend_id: "a".into(),
            month: "2026-10".into(),
            component: "cpu".into(),
            user: "alice".into(),
            amount: "1.00".into(),
        }
    }

    fn file(usages: Vec<ExpectedUsage>, users: Option<Vec<ExpectedUserUsage>>) -> Expected {
        Expected {
            offering_uuid: "o".into(),
            usages,
            user_usages: users,
        }
    }

    #[test]
    fn a_changed_amount_is_one_figure_missing_and_one_unexpected() {
        let want = file(vec![usage("a", "1.00"), usage("b", "2.00")], Some(vec![]));
        let got = file(vec![usage("a", "1.00"), usage("b", "2.50")], Some(vec![]));
        assert_eq!(
            want.mismatches(&got),
            vec![
                Mismatch::ExpectedNotHeld(&usage("b", "2.00")),
                Mismatch::HeldNotExpected(&usage("b", "2.50")),
            ]
        );
        assert!(want.mismatches(&want).is_empty());
    }

    #[test]
    fn a_file_without_user_usages_is_compared_on_the_totals_alone() {
        let share = alice();
        let old = file(vec![usage("a", "1.00")], None);
        let held = file(vec![usage("a", "1.00")], Some(vec![share.clone()]));
        assert!(old.mismatches(&held).is_empty());
        let new = file(vec![usage("a", "1.00")], Some(vec![]));
        assert_eq!(
            new.mismatches(&held),
            vec![Mismatch::UserHeldNotExpected(&share)]
        );
    }

    #[test]
    fn each_mismatch_reads_as_one_line_naming_the_figure() {
        let share = alice();
        let lines: Vec<String> = [
            Mismatch::ExpectedNotHeld(&usage("b", "2.00")),
            Mismatch::HeldNotExpected(&usage("b", "2.50")),
            Mismatch::UserExpectedNotHeld(&share),
            Mismatch::UserHeldNotExpected(&share),
            Mismatch::Offering {
                expected: "o1",
                held: "o2",
            },
        ]
        .iter()
        .map(ToString::to_string)
        .collect();
        assert_eq!(
            lines,
            [
                "expected, not held: b 2026-10 cpu 2.00",
                "held, not expected: b 2026-10 cpu 2.50",
                "expected, not held: a 2026-10 cpu user alice 1.00",
                "held, not expected: a 2026-10 cpu user alice 1.00",
                "offering: expected o1, replayed o2",
            ]
        );
    }

    #[test]
    fn past_months_replay_at_noon_on_their_last_day_and_the_current_one_at_now() {
        let tz = chrono_tz::Europe::Tallinn;
        let now: DateTime<Utc> = "2026-11-10T08:00:00Z".parse().expect("time");
        let oct: BillingMonth = "2026-10".parse().expect("month");
        assert_eq!(
            clock_for(oct, now, tz).to_rfc3339(),
            "2026-10-31T10:00:00+00:00"
        );
        assert_eq!(clock_for(oct.next(), now, tz), now);
        let r = replay_range(now, tz, None, None).expect("range");
        assert_eq!(
            (r.from.to_string(), r.to.to_string()),
            ("2024-11".into(), "2026-11".into())
        );
    }
}
