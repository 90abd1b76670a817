//! `tally explain`: every job (or amount row) behind one resource's cells in one billing month.
//!
//! Why it is built this way: the figure an operator defends is the one `collect` prints, so the
//! explanation is taken from the same collection, never recomputed beside it. The
//! [`Aggregator`](crate::Aggregator) runs as usual; with a target set it also hands every record
//! it keeps or drops to an [`Observer`] (one `Option` check per record, nothing when explain is
//! not asked for), which follows the job table's own dedup decisions (`Upsert`) and keeps the
//! records of the target resource. When the aggregator folds its cells it hands over the
//! target's cells as it computed them (exact TRES-seconds per rule and per user, the exact
//! amount, the rounded amount, the per-user split). The rows' TRES-seconds are each job's part
//! of the month times its quantities; their exact sum must equal the cell's, and a collection
//! whose rows do not add up fails ([`AggregateError::Explain`]) rather than print an
//! explanation that does not explain.

use std::collections::BTreeMap;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;
use tally_model::{split_exactly, BillingMonth, InvalidRecord};
use tally_sources::{AmountRecord, JobRecord, Millis};

use crate::aggregator::{to_unit, AggregateError, ComponentRule, RecordCounts, UNKNOWN_USER};
use crate::jobs::{JobKey, Upsert};

/// How many examples each "not counted" list keeps (all are counted).
pub const EXAMPLES: usize = 10;

/// What to explain: one resource (a Waldur `backend_id`, as accounts map to it) in one month.
#[derive(Clone, Debug)]
pub struct ExplainTarget {
    pub resource: String,
    pub month: BillingMonth,
    /// Only this component's figures (`--component`).
    pub component: Option<String>,
    /// Only this user's rows, and their share as `totals` (`--user`).
    pub user: Option<String>,
    /// The input names by file index, for `file:line`.
    pub files: Vec<PathBuf>,
}

/// One record as the observer keeps it (owned: records are borrowed from a line buffer).
#[derive(Clone, Debug)]
struct SeenJob {
    cluster: Box<str>,
    job_id: Box<str>,
    user: Box<str>,
    account: Box<str>,
    /// The resource the account maps to, if any.
    resource: Option<Box<str>>,
    start: i64,
    end: Option<i64>,
    millis: Millis,
    quantities: Box<[Option<Decimal>]>,
    file_index: u32,
    line: u64,
}

/// A job (by identity) that concerns the target: its kept record and the ones it superseded.
struct TrackedJob {
    /// `None`: the kept record is one read before tracking began (another resource's).
    kept: Option<SeenJob>,
    superseded: Vec<SeenJob>,
}

#[derive(Clone, Debug)]
struct SeenAmount {
    key: Option<Box<str>>,
    user: Box<str>,
    account: Box<str>,
    resource: Option<Box<str>>,
    component: Box<str>,
    amount: Decimal,
    /// The billing month, or `None` when dated after `--as-of`.
    month: Option<BillingMonth>,
    at: Option<i64>,
    file_index: u32,
    line: u64,
}

struct TrackedAmount {
    kept: Option<SeenAmount>,
    superseded: Vec<SeenAmount>,
}

/// Follows the aggregator's decisions for the target resource's records.
pub(crate) struct Observer {
    target: ExplainTarget,
    jobs: FxHashMap<JobKey, TrackedJob>,
    keyed_amounts: FxHashMap<Box<str>, TrackedAmount>,
    loose_amounts: Vec<SeenAmount>,
    late_amounts: Vec<SeenAmount>,
    late_amount_count: u64,
    /// The job ids of the target's records so far: a step line names its job by id only.
    target_ids: rustc_hash::FxHashSet<Box<str>>,
    /// Step lines of the target's jobs: (job id, step id, file index, line).
    steps: Vec<(Box<str>, Box<str>, u32, u64)>,
}

fn seen_job(r: &JobRecord<'_>, resource: Option<&str>, millis: Millis) -> SeenJob {
    SeenJob {
        cluster: r.cluster.into(),
        job_id: if r.job_id.is_empty() { r.key } else { r.job_id }.into(),
        user: r.user.into(),
        account: r.account.into(),
        resource: resource.map(Into::into),
        start: r.start,
        end: r.end,
        millis,
        quantities: r.quantities.into(),
        file_index: r.file_index,
        line: r.line,
    }
}

impl Observer {
    pub(crate) fn new(target: ExplainTarget) -> Self {
        Observer {
            target,
            jobs: FxHashMap::default(),
            keyed_amounts: FxHashMap::default(),
            loose_amounts: Vec::new(),
            late_amounts: Vec::new(),
            late_amount_count: 0,
            target_ids: rustc_hash::FxHashSet::default(),
            steps: Vec::new(),
        }
    }

    /// A step line: kept when its job (the id before the first `.`) is one of the target's.
    pub(crate) fn step(&mut self, job_id: &[u8], file_index: u32, line: u64) {
        let Ok(step) = std::str::from_utf8(job_id) else {
            return;
        };
        let job = step.split('.').next().unwrap_or(step);
        if self.target_ids.contains(job) {
            self.steps.push((job.into(), step.into(), file_index, line));
        }
    }

    pub(crate) fn target(&self) -> &ExplainTarget {
        &self.target
    }

    fn ours(&self, resource: Option<&str>) -> bool {
        resource == Some(self.target.resource.as_str())
    }

    /// A job record and what the job table did with it.
    pub(crate) fn job(
        &mut self,
        key: JobKey,
        r: &JobRecord<'_>,
        outcome: &Upsert,
        resource: Option<&str>,
        millis: Millis,
    ) {
        let ours = self.ours(resource);
        if ours && !self.target_ids.contains(r.job_id) {
            self.target_ids.insert(r.job_id.into());
        }
        match self.jobs.get_mut(&key) {
            Some(t) => {
                let seen = seen_job(r, resource, millis);
                match outcome {
                    Upsert::Kept => t.superseded.push(seen),
                    Upsert::Inserted | Upsert::Replaced => {
                        if let Some(old) = t.kept.replace(seen) {
                            t.superseded.push(old);
                        }
                    }
                }
            }
            None if ours => {
                let seen = seen_job(r, resource, millis);
                let t = match outcome {
                    Upsert::Kept => TrackedJob {
                        kept: None,
                        superseded: vec![seen],
                    },
                    Upsert::Inserted | Upsert::Replaced => TrackedJob {
                        kept: Some(seen),
                        superseded: Vec::new(),
                    },
                };
                self.jobs.insert(key, t);
            }
            None => {}
        }
    }

    /// An amount record dated after `--as-of` (not counted).
    pub(crate) fn late_amount(
        &mut self,
        r: &AmountRecord<'_>,
        resource: Option<&str>,
        month: BillingMonth,
    ) {
        if self.ours(resource) && month == self.target.month {
            self.late_amount_count += 1;
            if self.late_amounts.len() < EXAMPLES {
                self.late_amounts.push(seen_amount(r, resource, None));
            }
        }
    }

    /// An amount record in `month`; `replaced`: a keyed row that supersedes an earlier one.
    pub(crate) fn amount(
        &mut self,
        r: &AmountRecord<'_>,
        resource: Option<&str>,
        month: BillingMonth,
    ) {
        let ours = self.ours(resource);
        match r.key {
            None => {
                if ours && month == self.target.month {
                    self.loose_amounts
                        .push(seen_amount(r, resource, Some(month)));
                }
            }
            Some(key) => match self.keyed_amounts.get_mut(key) {
                Some(t) => {
                    let seen = seen_amount(r, resource, Some(month));
                    if let Some(old) = t.kept.replace(seen) {
                        t.superseded.push(old);
                    }
                }
                None if ours => {
                    self.keyed_amounts.insert(
                        key.into(),
                        TrackedAmount {
                            kept: Some(seen_amount(r, resource, Some(month))),
                            superseded: Vec::new(),
                        },
                    );
                }
                None => {}
            },
        }
    }
}

fn seen_amount(
    r: &AmountRecord<'_>,
    resource: Option<&str>,
    month: Option<BillingMonth>,
) -> SeenAmount {
    SeenAmount {
        key: r.key.map(Into::into),
        user: r.user.into(),
        account: r.account.into(),
        resource: resource.map(Into::into),
        component: r.component.into(),
        amount: r.amount,
        month,
        at: match r.when {
            tally_sources::AmountWhen::At(t) => Some(t),
            tally_sources::AmountWhen::Month(_) => None,
        },
        file_index: r.file_index,
        line: r.line,
    }
}

/// One user's parts of a cell: name, exact TRES-seconds per rule index, amount records' sum.
pub(crate) type UserParts = (String, Vec<(usize, Decimal)>, Decimal);

/// One cell of the target as the aggregator computed it (see `Aggregator::finish`).
#[derive(Clone, Debug)]
pub(crate) struct CellCapture {
    pub(crate) component: String,
    /// Exact TRES-seconds per rule index, before the unit division.
    pub(crate) rule_totals: Vec<(usize, Decimal)>,
    /// The sum of amount records (already in the component's unit).
    pub(crate) amount_records: Decimal,
    pub(crate) exact: Decimal,
    pub(crate) amount: Decimal,
    pub(crate) users: Vec<UserCapture>,
}

#[derive(Clone, Debug)]
pub(crate) struct UserCapture {
    pub(crate) user: String,
    pub(crate) rule_totals: Vec<(usize, Decimal)>,
    pub(crate) amount_records: Decimal,
    pub(crate) exact: Decimal,
    pub(crate) amount: Decimal,
}

impl CellCapture {
    /// The capture of one cell from its parts (sorted by user, then rule) and the users' exact
    /// shares as the aggregator computed them; the split is the one `collect` makes.
    pub(crate) fn new(
        component: &str,
        rule_totals: &[Option<Decimal>],
        amount_records: Decimal,
        exact: Decimal,
        amount: Decimal,
        users: Vec<UserParts>,
        shares: &[Decimal],
    ) -> Self {
        let split = split_exactly(amount, shares);
        CellCapture {
            component: component.to_owned(),
            rule_totals: rule_totals
                .iter()
                .enumerate()
                .filter_map(|(r, t)| t.map(|t| (r, t)))
                .collect(),
            amount_records,
            exact,
            amount,
            users: users
                .into_iter()
                .zip(shares.iter().zip(split))
                .map(
                    |((user, rule_totals, amount_records), (&exact, amount))| UserCapture {
                        user,
                        rule_totals,
                        amount_records,
                        exact,
                        amount,
                    },
                )
                .collect(),
        }
    }
}

/// Where a record was read: `file:line`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct RecordOrigin {
    pub file: PathBuf,
    pub line: u64,
}

impl std::fmt::Display for RecordOrigin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file.display(), self.line)
    }
}

/// Why a row's part of the month starts or ends where it does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Cut {
    /// The job started before the month: counted from the month's start.
    MonthStart,
    /// The job ended after the month (or still runs past it): counted to the month's end.
    MonthEnd,
    /// The job still ran at `--as-of` (or ended after it): counted to `--as-of`.
    AsOf,
}

/// What a row is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RowKind {
    /// A job (allocation, array task, het component; a PBS record; a CSV interval row).
    Job,
    /// A CSV amount row (usage already in a component's unit).
    Amount,
}

/// One contributing job or amount row. The JSON shape is documented in docs/explain.md.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainRow {
    pub kind: RowKind,
    /// "" when the input names no cluster.
    pub cluster: String,
    /// The job id as the scheduler names it (`123_4`, `123+1`), or an amount row's key.
    pub job: String,
    /// The local user (`(unknown)` when the record has none).
    pub user: String,
    /// The account as recorded.
    pub account: String,
    /// The resource the account maps to.
    pub resource: String,
    /// RFC 3339, UTC; `null` for amount rows dated by month.
    pub start: Option<String>,
    /// `null` while the job runs (and for amount rows).
    pub end: Option<String>,
    /// The part of the run inside the month (`counted_from` to `counted_to`), jobs only.
    pub counted_from: Option<String>,
    pub counted_to: Option<String>,
    /// Why the part starts late / ends early, when it does.
    pub cut_start: Option<Cut>,
    pub cut_end: Option<Cut>,
    /// Seconds of the run inside the month (thousandths for Univa Grid Engine); 0 for amounts.
    pub seconds: Decimal,
    /// Each configured TRES quantity of the job: TRES name -> quantity.
    pub quantities: BTreeMap<String, Decimal>,
    /// Component -> TRES quantity x seconds, exact, before the unit division.
    pub tres_seconds: BTreeMap<String, Decimal>,
    /// Component -> the row's share in the component's unit (TRES-seconds / unit x factor, or
    /// the amount row's amount); before rounding.
    pub contributions: BTreeMap<String, Decimal>,
    pub origin: RecordOrigin,
}

/// A component's figures: the rows' exact sums, the one division, and the rounded amount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentTotal {
    /// The TRES the component is measured from (`null` for amount-only components).
    pub tres: Option<String>,
    pub unit_seconds: Option<u64>,
    pub factor: Option<Decimal>,
    /// The exact sum of the rows' TRES-seconds: equal to the aggregator's cell, digit for
    /// digit (`null` when no TRES rule feeds the component).
    pub tres_seconds: Option<Decimal>,
    /// The sum of amount rows (usage already in the unit), when there are any.
    pub amount_rows: Option<Decimal>,
    /// TRES-seconds / unit x factor (+ amount rows), as tally computes it before rounding.
    pub exact: Decimal,
    /// Rounded to Waldur's 2 decimals: what `collect` prints for the cell (or, with `--user`,
    /// the user's share as `collect` splits the cell).
    pub amount: Decimal,
    /// How many rows contribute.
    pub rows: usize,
}

/// One user's share of the cells.
#[derive(Clone, Debug, Serialize)]
pub struct UserShare {
    pub user: String,
    /// Component -> the user's figures (as [`ComponentTotal`], amount = the split share).
    pub components: BTreeMap<String, ComponentTotal>,
}

/// A record that was not counted, as an example.
#[derive(Clone, Debug, Serialize)]
pub struct Example {
    pub job: String,
    pub user: String,
    pub account: String,
    pub start: Option<String>,
    pub origin: RecordOrigin,
    /// For a duplicate: the record that counts instead (`null` when it was read before the
    /// job concerned this resource).
    pub kept: Option<RecordOrigin>,
    /// For a duplicate whose kept record maps elsewhere: that resource.
    pub kept_resource: Option<String>,
}

/// A reason for not counting, with how many and a few examples.
#[derive(Clone, Debug, Serialize)]
pub struct NotCountedList<T> {
    pub count: u64,
    pub examples: Vec<T>,
}

impl<T> NotCountedList<T> {
    fn empty() -> Self {
        NotCountedList {
            count: 0,
            examples: Vec::new(),
        }
    }

    fn add(&mut self, example: impl FnOnce() -> T) {
        self.count += 1;
        if self.examples.len() < EXAMPLES {
            self.examples.push(example());
        }
    }
}

/// A step line of a listed job.
#[derive(Clone, Debug, Serialize)]
pub struct StepExample {
    /// The step as sacct names it (`123.batch`).
    pub step: String,
    /// The job it belongs to (a row of the explanation).
    pub job: String,
    pub origin: RecordOrigin,
}

/// What was read and not counted. `duplicates` and `after_as_of` concern the resource and month
/// explained; the others are counted over the whole read (sources do not attribute a step, a job
/// that never started or an invalid line to a resource).
#[derive(Clone, Debug, Serialize)]
pub struct NotCounted {
    /// Records of jobs (or keyed amount rows) of this resource and month superseded by another
    /// record of the same job: each with the record that counts.
    pub duplicates: NotCountedList<Example>,
    /// Jobs of this resource that start in the month after `--as-of` (and amount rows dated
    /// after it).
    pub after_as_of: NotCountedList<Example>,
    /// Invalid lines of the whole read (file:line, field, reason).
    pub invalid: NotCountedList<InvalidRecord>,
    /// Step lines of the whole read (they repeat their allocation).
    pub steps: u64,
    /// The step lines of the jobs listed in `rows` (sacct dumps; matched by job id): each
    /// repeats its job, counted once in its row.
    pub steps_of_rows: NotCountedList<StepExample>,
    /// Allocations of the whole read that never started.
    pub not_started: u64,
    /// Jobs and amount rows of the whole read whose account maps to no resource.
    pub unmapped: u64,
}

/// The explanation of one resource's cells in one month. JSON shape: docs/explain.md.
#[derive(Clone, Debug, Serialize)]
pub struct Explanation {
    pub resource: String,
    pub month: BillingMonth,
    pub as_of: String,
    pub billing_timezone: String,
    /// `--component`, `--user` as asked.
    pub component: Option<String>,
    pub user: Option<String>,
    /// Every contributing job or amount row, by start (amount rows last); with `--top N` the
    /// N largest (see [`Explanation::keep_top`]).
    pub rows: Vec<ExplainRow>,
    /// Rows left out by `--top` (the totals still cover them).
    pub rows_omitted: usize,
    /// Component -> the rows' sums and the amount; with `--user`, that user's share.
    pub totals: BTreeMap<String, ComponentTotal>,
    /// Component -> the whole cell (equal to `totals` without `--user`).
    pub cells: BTreeMap<String, ComponentTotal>,
    /// Every user's share of the cells, by name: their amounts add up to each cell's.
    pub users: Vec<UserShare>,
    pub not_counted: NotCounted,
    /// Counts of the whole read, as `collect` reports them.
    pub records: RecordCounts,
}

impl Explanation {
    /// Keeps the `n` rows that contribute most to the component explained (`--component`, or
    /// the first by name), largest first; the others are counted in `rows_omitted`. The totals
    /// stay those of every row.
    pub fn keep_top(&mut self, n: usize) {
        let Some(component) = self
            .component
            .clone()
            .or_else(|| self.totals.keys().next().cloned())
        else {
            return;
        };
        let share = |r: &ExplainRow| r.contributions.get(&component).copied().unwrap_or_default();
        // Stable: equal shares keep their order by start.
        self.rows.sort_by_key(|r| std::cmp::Reverse(share(r)));
        if self.rows.len() > n {
            self.rows_omitted += self.rows.len() - n;
            self.rows.truncate(n);
        }
    }
}

/// What `Aggregator::finish` knows that the explanation needs.
pub(crate) struct FinishContext<'a> {
    pub(crate) rules: &'a [ComponentRule],
    pub(crate) wanted: &'a [String],
    pub(crate) tz: Tz,
    pub(crate) as_of: i64,
    pub(crate) counts: RecordCounts,
    pub(crate) invalid: &'a [InvalidRecord],
}

fn rfc3339(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Secs, true)
}

impl Observer {
    fn origin(&self, file_index: u32, line: u64) -> RecordOrigin {
        RecordOrigin {
            file: self
                .target
                .files
                .get(file_index as usize)
                .cloned()
                .unwrap_or_else(|| PathBuf::from(format!("(input {})", file_index + 1))),
            line,
        }
    }

    fn example(&self, j: &SeenJob, kept: Option<&SeenJob>) -> Example {
        Example {
            job: job_name(j),
            user: user_name(&j.user),
            account: j.account.to_string(),
            start: Some(rfc3339(j.start)),
            origin: self.origin(j.file_index, j.line),
            kept: kept.map(|k| self.origin(k.file_index, k.line)),
            kept_resource: kept
                .filter(|k| k.resource.as_deref() != Some(self.target.resource.as_str()))
                .map(|k| k.resource.as_deref().unwrap_or("(unmapped)").to_owned()),
        }
    }

    fn amount_example(&self, a: &SeenAmount, kept: Option<&SeenAmount>) -> Example {
        Example {
            job: a.key.as_deref().unwrap_or("").to_owned(),
            user: user_name(&a.user),
            account: a.account.to_string(),
            start: a.at.map(rfc3339),
            origin: self.origin(a.file_index, a.line),
            kept: kept.map(|k| self.origin(k.file_index, k.line)),
            kept_resource: kept
                .filter(|k| k.resource.as_deref() != Some(self.target.resource.as_str()))
                .map(|k| k.resource.as_deref().unwrap_or("(unmapped)").to_owned()),
        }
    }

    /// The explanation: rows from the kept records, sums checked against the cells the
    /// aggregator computed (`cells`, one per component of the target).
    pub(crate) fn finish(
        self,
        ctx: &FinishContext<'_>,
        cells: Vec<CellCapture>,
    ) -> Result<Explanation, AggregateError> {
        let month = self.target.month;
        let ms = month.start(ctx.tz).timestamp();
        let me = month.end(ctx.tz).timestamp();
        let hi = ctx.as_of.min(me);
        let mismatch = |what: String| AggregateError::Explain {
            resource: self.target.resource.clone(),
            period: month,
            what,
        };
        let overflow = || mismatch("a row's TRES-seconds do not fit a decimal".into());
        let tres_index: Vec<usize> = ctx
            .rules
            .iter()
            .map(|r| ctx.wanted.iter().position(|w| *w == r.tres).unwrap_or(0))
            .collect();

        let mut rows: Vec<ExplainRow> = Vec::new();
        let mut not_counted = NotCounted {
            duplicates: NotCountedList::empty(),
            after_as_of: NotCountedList::empty(),
            invalid: NotCountedList {
                count: ctx.counts.invalid,
                examples: ctx.invalid.iter().take(EXAMPLES).cloned().collect(),
            },
            steps: ctx.counts.steps,
            steps_of_rows: NotCountedList::empty(),
            not_started: ctx.counts.not_started,
            unmapped: ctx.counts.unmapped,
        };
        // Jobs in a fixed order (the hash map's is not).
        let mut tracked: Vec<&TrackedJob> = self.jobs.values().collect();
        tracked.sort_by_key(|t| {
            let r = t.kept.as_ref().or(t.superseded.first());
            r.map(|r| (r.start, r.file_index, r.line))
        });
        for t in tracked {
            let kept_ours = t
                .kept
                .as_ref()
                .filter(|k| k.resource.as_deref() == Some(self.target.resource.as_str()));
            let in_month = |j: &SeenJob| j.start < me && j.end.is_none_or(|e| e >= ms);
            if let Some(k) = kept_ours {
                if k.start >= ctx.as_of {
                    if k.start < me && k.start >= ms {
                        not_counted.after_as_of.add(|| self.example(k, None));
                    }
                } else if let Some(row) = self.job_row(k, ctx, &tres_index, ms, me, hi)? {
                    rows.push(row);
                }
            }
            for lost in &t.superseded {
                let concerns = lost.resource.as_deref() == Some(self.target.resource.as_str())
                    || kept_ours.is_some();
                if concerns && (in_month(lost) || t.kept.as_ref().is_some_and(in_month)) {
                    not_counted
                        .duplicates
                        .add(|| self.example(lost, t.kept.as_ref()));
                }
            }
        }
        // Amount rows: unkeyed ones as read, keyed ones as kept.
        let mut amounts: Vec<&SeenAmount> = self.loose_amounts.iter().collect();
        let mut keyed: Vec<&TrackedAmount> = self.keyed_amounts.values().collect();
        keyed.sort_by_key(|t| t.kept.as_ref().map(|k| (k.file_index, k.line)));
        for t in keyed {
            let kept_ours = t.kept.as_ref().filter(|k| {
                k.resource.as_deref() == Some(self.target.resource.as_str())
                    && k.month == Some(month)
            });
            if let Some(k) = kept_ours {
                amounts.push(k);
            }
            for lost in &t.superseded {
                if lost.month == Some(month) || kept_ours.is_some() {
                    not_counted
                        .duplicates
                        .add(|| self.amount_example(lost, t.kept.as_ref()));
                }
            }
        }
        not_counted.after_as_of.count += self.late_amount_count;
        for a in &self.late_amounts {
            if not_counted.after_as_of.examples.len() < EXAMPLES {
                not_counted
                    .after_as_of
                    .examples
                    .push(self.amount_example(a, None));
            }
        }
        amounts.sort_by_key(|a| (a.file_index, a.line));
        for a in amounts {
            rows.push(ExplainRow {
                kind: RowKind::Amount,
                cluster: String::new(),
                job: a.key.as_deref().unwrap_or("").to_owned(),
                user: user_name(&a.user),
                account: a.account.to_string(),
                resource: self.target.resource.clone(),
                start: a.at.map(rfc3339),
                end: None,
                counted_from: None,
                counted_to: None,
                cut_start: None,
                cut_end: None,
                seconds: Decimal::ZERO,
                quantities: BTreeMap::new(),
                tres_seconds: BTreeMap::new(),
                contributions: [(a.component.to_string(), a.amount)].into(),
                origin: self.origin(a.file_index, a.line),
            });
        }

        let row_jobs: rustc_hash::FxHashSet<&str> = rows
            .iter()
            .filter(|r| r.kind == RowKind::Job)
            .map(|r| r.job.as_str())
            .collect();
        for (job, step, file_index, line) in &self.steps {
            if row_jobs.contains(&**job) {
                not_counted.steps_of_rows.add(|| StepExample {
                    step: step.to_string(),
                    job: job.to_string(),
                    origin: self.origin(*file_index, *line),
                });
            }
        }

        // The cells as the aggregator computed them, checked against the rows.
        let rule_of = |component: &str| ctx.rules.iter().position(|r| r.component == component);
        let sum_rows = |rows: &[&ExplainRow], component: &str| -> Option<(Decimal, Decimal)> {
            let mut tres = Decimal::ZERO;
            let mut amounts = Decimal::ZERO;
            for r in rows {
                if let Some(v) = r.tres_seconds.get(component) {
                    tres = tres.checked_add(*v)?;
                }
                if r.kind == RowKind::Amount {
                    if let Some(v) = r.contributions.get(component) {
                        amounts = amounts.checked_add(*v)?;
                    }
                }
            }
            Some((tres, amounts))
        };
        let total_of = |component: &str,
                        rows: &[&ExplainRow],
                        rule_totals: &[(usize, Decimal)],
                        amount_records: Decimal,
                        exact: Decimal,
                        amount: Decimal,
                        who: &str|
         -> Result<ComponentTotal, AggregateError> {
            let (tres, amount_rows) = sum_rows(rows, component).ok_or_else(overflow)?;
            let rule = rule_of(component);
            let cell_tres = rule_totals
                .iter()
                .find(|(r, _)| Some(*r) == rule)
                .map(|(_, t)| *t);
            if tres != cell_tres.unwrap_or_default() || amount_rows != amount_records {
                return Err(mismatch(format!(
                    "{component}{who}: the rows add up to {tres} TRES-seconds and {amount_rows} in \
                     amount rows, the cell holds {} and {amount_records}",
                    cell_tres.unwrap_or_default()
                )));
            }
            let rule = rule.map(|r| &ctx.rules[r]);
            Ok(ComponentTotal {
                tres: rule.map(|r| r.tres.clone()),
                unit_seconds: rule.map(|r| r.unit_seconds),
                factor: rule.map(|r| r.factor),
                tres_seconds: rule.map(|_| tres),
                amount_rows: (rows.iter().any(|r| r.kind == RowKind::Amount))
                    .then_some(amount_rows),
                exact,
                amount,
                rows: rows
                    .iter()
                    .filter(|r| r.contributions.contains_key(component))
                    .count(),
            })
        };
        let all_rows: Vec<&ExplainRow> = rows.iter().collect();
        let mut cell_totals = BTreeMap::new();
        let mut users: BTreeMap<String, BTreeMap<String, ComponentTotal>> = BTreeMap::new();
        for cell in &cells {
            let c = &cell.component;
            cell_totals.insert(
                c.clone(),
                total_of(
                    c,
                    &all_rows,
                    &cell.rule_totals,
                    cell.amount_records,
                    cell.exact,
                    cell.amount,
                    "",
                )?,
            );
            for u in &cell.users {
                let theirs: Vec<&ExplainRow> = rows.iter().filter(|r| r.user == u.user).collect();
                users.entry(u.user.clone()).or_default().insert(
                    c.clone(),
                    total_of(
                        c,
                        &theirs,
                        &u.rule_totals,
                        u.amount_records,
                        u.exact,
                        u.amount,
                        &format!(" of user {}", u.user),
                    )?,
                );
            }
        }
        // Every row belongs to a cell: a row the cells do not hold would be a row too many.
        for r in &rows {
            if let Some(c) = r
                .contributions
                .keys()
                .find(|c| !cell_totals.contains_key(*c))
            {
                return Err(mismatch(format!(
                    "row {} ({}) contributes to {c}, which has no cell",
                    r.job, r.origin
                )));
            }
        }

        // The view asked for: one component, one user.
        let target = &self.target;
        if let Some(c) = &target.component {
            cell_totals.retain(|k, _| k == c);
            for u in users.values_mut() {
                u.retain(|k, _| k == c);
            }
            for r in &mut rows {
                r.tres_seconds.retain(|k, _| k == c);
                r.contributions.retain(|k, _| k == c);
            }
            rows.retain(|r| !r.contributions.is_empty());
            users.retain(|_, u| !u.is_empty());
        }
        let totals = match &target.user {
            Some(user) => {
                rows.retain(|r| &r.user == user);
                users.get(user).cloned().unwrap_or_default()
            }
            None => cell_totals.clone(),
        };
        Ok(Explanation {
            resource: target.resource.clone(),
            month,
            as_of: rfc3339(ctx.as_of),
            billing_timezone: ctx.tz.to_string(),
            component: target.component.clone(),
            user: target.user.clone(),
            rows,
            rows_omitted: 0,
            totals,
            cells: cell_totals,
            users: users
                .into_iter()
                .map(|(user, components)| UserShare { user, components })
                .collect(),
            not_counted,
            records: ctx.counts,
        })
    }

    /// A kept job's part of the month, or `None` when it has none (or only zero quantities).
    /// The same cut as the aggregator's: from the later of start and month start to the
    /// earliest of end, `--as-of` and month end; Univa milliseconds where the aggregator adds
    /// them (the start's second in the window, the end's second in the window).
    fn job_row(
        &self,
        k: &SeenJob,
        ctx: &FinishContext<'_>,
        tres_index: &[usize],
        ms: i64,
        me: i64,
        hi: i64,
    ) -> Result<Option<ExplainRow>, AggregateError> {
        let end = k.end.unwrap_or(i64::MAX);
        let from = k.start.max(ms);
        let to = end.min(hi);
        let mut thousandths = i128::from((to - from).max(0)) * 1000;
        if let Some(e) = k.end {
            if (ms..hi).contains(&k.start) {
                thousandths -= i128::from(k.millis.start);
            }
            if (ms..hi).contains(&e) {
                thousandths += i128::from(k.millis.end);
            }
        }
        if thousandths <= 0 {
            return Ok(None);
        }
        let seconds = Decimal::from_i128_with_scale(thousandths, 3).normalize();
        let overflow = || AggregateError::Explain {
            resource: self.target.resource.clone(),
            period: self.target.month,
            what: format!("job {}: TRES-seconds beyond a decimal", job_name(k)),
        };
        let mut quantities = BTreeMap::new();
        for (name, q) in ctx.wanted.iter().zip(k.quantities.iter()) {
            if let Some(q) = q {
                quantities.insert(name.clone(), *q);
            }
        }
        let mut tres_seconds = BTreeMap::new();
        let mut contributions = BTreeMap::new();
        for (rule, &t) in ctx.rules.iter().zip(tres_index) {
            let q = k.quantities.get(t).copied().flatten().unwrap_or_default();
            if q.is_zero() {
                continue;
            }
            let product = q.checked_mul(seconds).ok_or_else(overflow)?.normalize();
            contributions.insert(
                rule.component.clone(),
                to_unit(product, rule).ok_or_else(overflow)?.normalize(),
            );
            tres_seconds.insert(rule.component.clone(), product);
        }
        if tres_seconds.is_empty() {
            return Ok(None);
        }
        Ok(Some(ExplainRow {
            kind: RowKind::Job,
            cluster: k.cluster.to_string(),
            job: job_name(k),
            user: user_name(&k.user),
            account: k.account.to_string(),
            resource: self.target.resource.clone(),
            start: Some(rfc3339(k.start)),
            end: k.end.map(rfc3339),
            counted_from: Some(rfc3339(from)),
            counted_to: Some(rfc3339(to)),
            cut_start: (k.start < ms).then_some(Cut::MonthStart),
            cut_end: if end > me && me <= ctx.as_of {
                Some(Cut::MonthEnd)
            } else if end > ctx.as_of {
                Some(Cut::AsOf)
            } else {
                None
            },
            seconds,
            quantities,
            tres_seconds,
            contributions,
            origin: self.origin(k.file_index, k.line),
        }))
    }
}

fn job_name(j: &SeenJob) -> String {
    j.job_id.to_string()
}

fn user_name(user: &str) -> String {
    if user.is_empty() {
        UNKNOWN_USER.to_owned()
    } else {
        user.to_owned()
    }
}
