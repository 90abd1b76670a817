use std::collections::BTreeMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;
use tally_model::bounds::MAX_CELL_AMOUNT;
use tally_model::{
    round_amount, split_exactly, BillingMonth, InvalidRecord, MonthRange, PlanPartCell,
    PlanTimeline, UsageCell, UserUsageCell,
};
use tally_sources::{AmountRecord, AmountWhen, JobRecord, Millis, RecordSink, SourceStats};
use uuid::Uuid;

use crate::explain::{CellCapture, ExplainTarget, Explanation, FinishContext, Observer};
use crate::identity::{IdentityCheck, IdentityConflict, IdentityFile};
use crate::intern::Interner;
use crate::jobs::{JobColumns, JobKey, JobTable, Upsert};
use crate::millis::SubSeconds;
use crate::plan_cut::{CutInput, PieceSums, Timelines};

/// How one Waldur offering component is measured from a TRES.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ComponentRule {
    /// The Waldur offering component `type`.
    pub component: String,
    /// The TRES name exactly as sacct writes it (`cpu`, `gres/gpu`, `mem`).
    pub tres: String,
    /// TRES x seconds are divided by this (3600: hours).
    pub unit_seconds: u64,
    /// Multiplies after the division (e.g. MiB -> GiB: 1/1024).
    pub factor: Decimal,
}

/// What happens to accounts the mapping table does not list.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum UnlistedAccounts {
    /// The account is the resource's `backend_id` (the SLURM plugin's convention).
    #[default]
    Identity,
    /// Only listed accounts are billed; the others are reported as unmapped.
    Unmapped,
}

#[derive(Clone, Debug, Default)]
pub struct AccountMapping {
    /// Local account -> Waldur resource `backend_id`.
    pub table: BTreeMap<String, String>,
    pub unlisted: UnlistedAccounts,
}

impl AccountMapping {
    fn resolve<'a>(&'a self, account: &'a str) -> Option<&'a str> {
        if account.is_empty() {
            return None;
        }
        match self.table.get(account) {
            Some(id) => Some(id.as_str()),
            None => match self.unlisted {
                UnlistedAccounts::Identity => Some(account),
                UnlistedAccounts::Unmapped => None,
            },
        }
    }
}

#[derive(Clone, Debug)]
pub struct AggregateOptions {
    /// Months are cut in this zone (Waldur's server zone, UTC by default).
    pub billing_timezone: Tz,
    pub rules: Vec<ComponentRule>,
    pub mapping: AccountMapping,
    /// The months to report; usage in other months is computed and dropped.
    pub range: MonthRange,
    /// Usage counts up to this instant: running jobs run until then, nothing after it counts.
    pub as_of: DateTime<Utc>,
    /// How many invalid records to keep for the report (all are counted).
    pub keep_invalid: usize,
    /// Also break every cell down by local user.
    pub user_usage: bool,
}

/// The name reported for usage whose records carry no user (Waldur needs a username).
pub const UNKNOWN_USER: &str = "(unknown)";

/// Why a collection could not produce its cells. Input within the bounds of
/// [`tally_model::bounds`] cannot get here in practice; the sums are checked all the same, so
/// that a run fails naming the cell instead of panicking or reporting a wrapped figure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AggregateError {
    /// An exact sum left what a `Decimal` holds.
    #[error("the usage of {resource} in {period} ({what}) is too large to sum exactly")]
    Overflow {
        resource: String,
        period: BillingMonth,
        /// The component, or the TRES while it is still being summed.
        what: String,
    },
    /// A cell's amount is beyond what Waldur stores (`Decimal(20, 2)`).
    #[error(
        "the usage of {resource} in {period} for {component} is {amount}, more than Waldur can \
         store (less than {max})"
    )]
    TooLarge {
        resource: String,
        period: BillingMonth,
        component: String,
        amount: Decimal,
        max: Decimal,
    },
    /// `tally explain`'s rows do not add up to the cell the aggregator computed: a bug, reported
    /// instead of an explanation that does not explain.
    #[error("explaining {resource} in {period}: {what}")]
    Explain {
        resource: String,
        period: BillingMonth,
        what: String,
    },
}

/// Counts of what was read, for the summary. Every line read is in exactly one of `headers`,
/// `steps`, `not_started`, `invalid`, `other`, `jobs`, `amounts` and `duplicates` (see
/// [`RecordCounts::accounted`]); `unmapped` and `after_as_of` are parts of `jobs`/`amounts`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct RecordCounts {
    /// Non-blank lines read (headers included).
    pub lines: u64,
    /// Distinct jobs (allocations) counted.
    pub jobs: u64,
    /// Step lines, never added (they repeat their allocation).
    pub steps: u64,
    /// Records of a job (or keyed amount rows) already seen (another dump), superseded or
    /// ignored.
    pub duplicates: u64,
    /// Allocations that never started.
    pub not_started: u64,
    /// Jobs whose account maps to no resource.
    pub unmapped: u64,
    /// Lines that could not be used (listed under `invalid`).
    pub invalid: u64,
    /// Jobs that started after `as_of`: nothing of them counts yet.
    pub after_as_of: u64,
    /// Distinct amount records (CSV usage already in a component's unit), including those
    /// dated after `as_of` (also counted there).
    pub amounts: u64,
    /// Records that carry no usage (PBS queue/delete records, array parents).
    pub other: u64,
    pub headers: u64,
}

impl RecordCounts {
    /// The lines put in a bucket. Equal to `lines` after every collection: no line is lost
    /// and none counted twice.
    pub fn accounted(&self) -> u64 {
        self.headers
            + self.steps
            + self.not_started
            + self.invalid
            + self.other
            + self.jobs
            + self.amounts
            + self.duplicates
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct UnmappedAccount {
    pub account: String,
    pub jobs: u64,
}

/// The result of a collection: what to report, and everything that was not used.
#[derive(Clone, Debug, Serialize)]
pub struct Collection {
    /// Sorted by resource, period, component. No cell for a component no job had.
    pub usages: Vec<UsageCell>,
    /// The same cells broken down by local user; the users' amounts of a cell add up to
    /// the cell's amount exactly, to the cent. Empty when `user_usage` is off.
    pub user_usages: Vec<UserUsageCell>,
    /// The first `keep_invalid` invalid records, in reading order.
    pub invalid: Vec<InvalidRecord>,
    pub records: RecordCounts,
    pub unmapped: Vec<UnmappedAccount>,
    /// The cells of months in which a resource changed plan, split per plan period (see
    /// [`Aggregator::cut_at_plan_switches`]); empty without timelines or switches.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub plan_parts: Vec<PlanPartCell>,
}

pub struct Aggregator {
    opts: AggregateOptions,
    /// Distinct TRES names the rules need, in the order sources deliver them.
    wanted: Vec<String>,
    jobs: JobTable,
    /// Amount records without identity, summed as they come:
    /// (account, month, component) -> amount.
    loose_amounts: FxHashMap<(u32, BillingMonth, u32, u32), Decimal>,
    /// Amount records with identity (`dedup_key`): the last one read per key counts.
    keyed_amounts: FxHashMap<Box<str>, (u32, BillingMonth, u32, u32, Decimal)>,
    components: Interner,
    users: Interner,
    clusters: Interner,
    keys: Interner,
    accounts: Interner,
    /// (account, user) -> the id jobs store: one 4-byte id per job for both.
    owners: FxHashMap<(u32, u32), u32>,
    owner_list: Vec<(u32, u32)>,
    invalid: Vec<InvalidRecord>,
    counts: RecordCounts,
    /// Built only when the collection's dumps carry different identity columns.
    identity: Option<IdentityCheck>,
    /// The first sum of amounts that overflowed, reported by [`Aggregator::finish`].
    overflow: Option<AggregateError>,
    /// Milliseconds beyond the job table's whole seconds (Univa Grid Engine).
    sub_seconds: SubSeconds,
    /// `tally explain`: follows every record of one resource; `None` for every other command.
    explain: Option<Box<Observer>>,
    /// Plan periods by resource `backend_id`, for the cut at plan switches.
    plan_timelines: Timelines,
    /// Threads that sum jobs into rows in [`Aggregator::finish`]; `None`: two on a machine
    /// with two cores when there are many jobs (see [`Aggregator::sum_on_threads`]).
    finish_threads: Option<usize>,
}

impl Aggregator {
    pub fn new(opts: AggregateOptions) -> Self {
        let mut wanted: Vec<String> = Vec::new();
        for r in &opts.rules {
            if !wanted.contains(&r.tres) {
                wanted.push(r.tres.clone());
            }
        }
        Self {
            opts,
            jobs: JobTable::new(wanted.len()),
            loose_amounts: FxHashMap::default(),
            keyed_amounts: FxHashMap::default(),
            components: Interner::default(),
            users: Interner::default(),
            wanted,
            clusters: Interner::default(),
            keys: Interner::default(),
            accounts: Interner::default(),
            owners: FxHashMap::default(),
            owner_list: Vec::new(),
            invalid: Vec::new(),
            counts: RecordCounts::default(),
            identity: None,
            overflow: None,
            sub_seconds: SubSeconds::default(),
            explain: None,
            plan_timelines: Timelines::default(),
            finish_threads: None,
        }
    }

    /// How many threads sum the jobs into rows when the run finishes. The result is the same
    /// whatever the number (the rows are merged into the order of one pass, every sum is an
    /// exact integer); `1` is the sequential pass, which the tests compare the others with.
    /// By default: two on a machine with two or more cores, from
    /// [`PARALLEL_SUM_MIN_JOBS`] jobs on, when the rows are few beside the jobs.
    pub fn sum_on_threads(&mut self, threads: usize) {
        self.finish_threads = Some(threads);
    }

    /// Explains one resource's cells in one month (`tally explain`): the collection runs as
    /// always, and [`Aggregator::finish_explained`] also returns every job and amount row behind
    /// those cells. Turns the per-user breakdown on (cells do not depend on it).
    pub fn explain(&mut self, target: ExplainTarget) {
        self.opts.user_usage = true;
        self.explain = Some(Box::new(Observer::new(target)));
    }

    /// Also splits the cells of every month in which a resource's plan changed into one part
    /// per plan period ([`Collection::plan_parts`]), cut at the switch instants as months are
    /// cut at their ends. Resources are keyed by `backend_id`; the cells do not change.
    pub fn cut_at_plan_switches(&mut self, timelines: BTreeMap<String, PlanTimeline<Uuid>>) {
        self.plan_timelines = timelines;
    }

    /// Declares the job dumps about to be read (by file index; `None` for other inputs) so
    /// that a job met in two dumps with different identity columns is not counted twice
    /// unnoticed (see [`IdentityConflict`]). Costs nothing when all dumps carry the same.
    pub fn check_identities(&mut self, files: Vec<Option<IdentityFile>>) {
        self.identity = IdentityCheck::new(files);
    }

    /// The first job found in two dumps that identify it differently, if any.
    pub fn identity_conflict(&self) -> Option<&IdentityConflict> {
        self.identity.as_ref().and_then(IdentityCheck::conflict)
    }

    /// Adds what a source read to the summary.
    pub fn add_source_stats(&mut self, s: SourceStats) {
        self.counts.lines += s.lines;
        self.counts.headers += s.headers;
        self.counts.steps += s.steps;
        self.counts.not_started += s.not_started;
        self.counts.other += s.other;
    }

    fn key(&mut self, r: &JobRecord<'_>) -> JobKey {
        let b = r.key.as_bytes();
        let numeric = (!b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit))
            .then(|| b.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0')));
        let cluster = self.clusters.id(r.cluster);
        let keys = &mut self.keys;
        JobKey::new(cluster, numeric, r.submit, || {
            keys.id(&format!("{}\u{0}{}", r.cluster, r.key))
        })
    }

    fn upsert(&mut self, r: &JobRecord<'_>, equal_end_replaces: bool, millis: Millis) {
        let key = self.key(r);
        if let Some(check) = &mut self.identity {
            check.see(r, self.clusters.id(r.cluster), key);
        }
        let account = self.accounts.id(r.account);
        let user = self.users.id(r.user);
        let owner = match self.owners.get(&(account, user)) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.owner_list.len()).expect("fewer than 2^32 pairs");
                self.owners.insert((account, user), id);
                self.owner_list.push((account, user));
                id
            }
        };
        let outcome = self.jobs.upsert(
            key,
            owner,
            (r.start, r.end),
            r.quantities,
            equal_end_replaces,
        );
        self.sub_seconds.note(key, &outcome, millis);
        if let Some(observer) = &mut self.explain {
            observer.job(
                key,
                r,
                &outcome,
                self.opts.mapping.resolve(r.account),
                millis,
            );
        }
        if outcome != Upsert::Inserted {
            self.counts.duplicates += 1;
        }
    }

    /// Folds the kept records into cells. Consumes the aggregator: this is the end of a run.
    ///
    /// Every sum is checked: a total that leaves what a `Decimal` holds, or a cell beyond
    /// what Waldur stores, is an error naming the cell, never a panic.
    ///
    /// Why it is built this way (issue 22): jobs are summed as exact integers (a quantity's
    /// mantissa at one scale per TRES, times seconds, in an `i128`) into one row per
    /// (resource, user, month), found with one hash lookup per job and month; nothing is
    /// allocated per job. Each row becomes a `Decimal` once, the job table is freed, and the
    /// rows are grouped by cell with one sort. Memory grows with distinct jobs and with the
    /// (resource, month, component, user) cells, nothing else.
    pub fn finish(self) -> Result<Collection, AggregateError> {
        self.finish_explained().map(|(collection, _)| collection)
    }

    /// [`Aggregator::finish`], and the explanation asked for with [`Aggregator::explain`].
    pub fn finish_explained(self) -> Result<(Collection, Option<Explanation>), AggregateError> {
        let Aggregator {
            opts,
            wanted,
            jobs,
            loose_amounts,
            keyed_amounts,
            mut components,
            users,
            accounts,
            owner_list,
            invalid,
            mut counts,
            overflow,
            sub_seconds,
            owners,
            clusters,
            keys,
            identity,
            explain,
            plan_timelines,
            finish_threads,
        } = self;
        // What only reading needed goes now, not at the end of the run.
        drop((owners, clusters, keys, identity));
        // The target's cells as computed below, for the explanation.
        let explain_target = explain
            .as_ref()
            .map(|o| (o.target().resource.clone(), o.target().month));
        let mut captured: Vec<CellCapture> = Vec::new();
        if let Some(e) = overflow {
            return Err(e);
        }
        let as_of = opts.as_of.timestamp();
        let tz = opts.billing_timezone;
        counts.jobs = jobs.len() as u64;
        // Only the months asked for are walked: a job's time outside them counts nowhere.
        let range_start = opts.range.from.start(tz).timestamp();
        let range_end = opts.range.to.end(tz).timestamp();
        // The last lookups by job key; then the index goes (issue 22: with the per-user rows
        // beside it, it was the peak of a run's memory).
        let corrections = sub_seconds.corrections(&jobs, range_start, as_of.min(range_end));
        drop(sub_seconds);
        let jobs = jobs.into_columns();
        let width = wanted.len();

        let mut resources = Interner::default();
        // Resolve each account once.
        let resolved: Vec<Option<u32>> = (0..)
            .map_while(|i| accounts.get(i))
            .map(|acct| opts.mapping.resolve(acct).map(|r| resources.id(r)))
            .collect();
        // Users by name: the split gives tied cents to the earlier name.
        let (user_rank, user_names) = rank_by_name(&users);
        // Without the per-user breakdown every user is one: a row per (resource, month).
        let user_key = |user: u32| {
            if opts.user_usage {
                user_rank[user as usize]
            } else {
                0
            }
        };
        // Who is billed: (resource, user rank). Accounts mapped to one resource share it.
        let mut billed: FxHashMap<(u32, u32), u32> = FxHashMap::default();
        let mut billed_list: Vec<(u32, u32)> = Vec::new();
        let billed_of: Vec<Option<u32>> = owner_list
            .iter()
            .map(|&(account, user)| {
                resolved[account as usize].map(|resource| {
                    let key = (resource, user_key(user));
                    *billed.entry(key).or_insert_with(|| {
                        billed_list.push(key);
                        (billed_list.len() - 1) as u32
                    })
                })
            })
            .collect();
        drop(billed);

        // One scale per TRES, the largest any quantity has: every quantity is then a whole
        // number of that scale's units, and a job's usage an exact integer product.
        let sets = jobs.set_count();
        let mut scales = vec![0u32; width];
        for set in 0..sets as u32 {
            for (k, scale) in scales.iter_mut().enumerate() {
                *scale = (*scale).max(jobs.set_quantity(set, k).scale());
            }
        }
        // `None`: the quantity does not fit an i128 at that scale (an immense quantity
        // beside a tiny fraction of the same TRES; nothing real gets there).
        let set_values: Vec<Option<i128>> = (0..sets as u32)
            .flat_map(|set| {
                let jobs = &jobs;
                let scales = &scales;
                (0..width).map(move |k| at_scale(jobs.set_quantity(set, k), scales[k]))
            })
            .collect();
        let set_is_zero: Vec<bool> = set_values
            .chunks(width.max(1))
            .map(|q| q.iter().all(|v| *v == Some(0)))
            .collect();

        // (billed, month) -> row; a row holds one exact sum per TRES, in units of its scale
        // times seconds. Summed on up to two threads, each taking the rows of its own billed
        // ids, and merged into the order of a sequential pass (see `RowSums`).
        let row_input = RowInput {
            jobs: &jobs,
            billed_of: &billed_of,
            billed_count: billed_list.len(),
            owner_list: &owner_list,
            accounts: &accounts,
            set_values: &set_values,
            set_is_zero: &set_is_zero,
            width,
            as_of,
            range: opts.range,
            range_start,
            range_end,
            tz,
        };
        let threads = match finish_threads {
            Some(n) => n.max(1),
            None if jobs.len() >= PARALLEL_SUM_MIN_JOBS
                && row_bound(billed_list.len(), opts.range, 1) <= jobs.len() / FEW_ROWS_PER_JOB =>
            {
                std::thread::available_parallelism().map_or(1, |n| n.get().min(2))
            }
            None => 1,
        };
        let RowSums {
            mut rows,
            mut row_keys,
            mut order,
            mut sums,
            unmapped_jobs,
            after_as_of,
            mut unmapped,
            ..
        } = RowSums::of_threads(&row_input, threads).map_err(|(who, month, k)| {
            AggregateError::Overflow {
                resource: resources.name(billed_list[who as usize].0).to_string(),
                period: month,
                what: wanted[k].to_string(),
            }
        })?;
        counts.unmapped += unmapped_jobs;
        counts.after_as_of += after_as_of;
        let mut months = MonthCache::new(tz);
        let overflow = |billed: u32, month: BillingMonth, what: &str| AggregateError::Overflow {
            resource: resources.name(billed_list[billed as usize].0).to_string(),
            period: month,
            what: what.to_string(),
        };
        if !corrections.is_empty() && rows.is_empty() && !row_keys.is_empty() {
            // The merged rows of several threads come without their index: only the
            // milliseconds below look rows up again.
            rows = row_keys
                .iter()
                .enumerate()
                .map(|(row, &key)| (key, row as u32))
                .collect();
        }
        // Milliseconds beyond the whole seconds summed above (Univa Grid Engine; see
        // `millis`), kept apart in thousandths of the same units: only rows that have any
        // are converted at the finer scale.
        let mut milli_sums: FxHashMap<usize, i128> = FxHashMap::default();
        for &(slot, t, millis) in &corrections {
            let Some(who) = billed_of[jobs.owner(slot) as usize] else {
                continue;
            };
            let (month, _) = months.month_at(t);
            if !opts.range.contains(month) {
                continue;
            }
            let set = jobs.set_of(slot) as usize;
            let row = *rows.entry((who, month)).or_insert_with(|| {
                row_keys.push((who, month));
                sums.resize(sums.len() + width, 0);
                let row = (row_keys.len() - 1) as u32;
                if !order.is_empty() {
                    order.push(row);
                }
                row
            }) as usize;
            for (k, q) in set_values[set * width..(set + 1) * width]
                .iter()
                .enumerate()
            {
                let sum = milli_sums.entry(row * width + k).or_default();
                *sum = match q {
                    Some(0) => continue,
                    Some(q) => q
                        .checked_mul(i128::from(millis))
                        .and_then(|p| sum.checked_add(p)),
                    None => None,
                }
                .ok_or_else(|| overflow(who, month, &wanted[k]))?;
            }
        }
        // The cut at plan switches (issue 23): its own walk, only through switch months.
        let plan_pieces = PieceSums::sum(CutInput {
            jobs: &jobs,
            timeline_of: (0..)
                .map_while(|i| resources.get(i))
                .map(|name| plan_timelines.get(name))
                .collect(),
            resource_of_owner: billed_of
                .iter()
                .map(|who| who.map(|who| billed_list[who as usize].0))
                .collect(),
            resources: &resources,
            wanted: &wanted,
            set_values: &set_values,
            months: MonthCache::new(tz),
            range: opts.range,
            range_start,
            end_limit: as_of.min(range_end),
            as_of,
            corrections: &corrections,
        })?;
        drop(jobs);
        drop(rows);

        // Every cell's parts: per user, the exact TRES-seconds of each rule and the amount
        // records. TRES-seconds stay undivided until the whole cell is summed: dividing each
        // user's share by the unit first would cut every share at 28 digits, and the cut
        // pieces can tip a true half-cent tie.
        let rule_components: Vec<u32> = opts
            .rules
            .iter()
            .map(|r| components.id(&r.component))
            .collect();
        let rules_of_tres: Vec<Vec<usize>> = wanted
            .iter()
            .map(|w| {
                (0..opts.rules.len())
                    .filter(|&r| &opts.rules[r].tres == w)
                    .collect()
            })
            .collect();
        let mut cells: FxHashMap<(u32, BillingMonth, u32), u32> = FxHashMap::default();
        let mut cell_keys: Vec<(u32, BillingMonth, u32)> = Vec::new();
        let mut cell_id = |key: (u32, BillingMonth, u32)| {
            *cells.entry(key).or_insert_with(|| {
                cell_keys.push(key);
                (cell_keys.len() - 1) as u32
            })
        };
        let mut parts: Vec<Part> = Vec::new();
        // The rows in the order of one pass (whatever the threads), so that cells are made,
        // and an error met, as one pass would.
        let in_pass_order = (0..row_keys.len()).map(|row| match order.get(row) {
            Some(&r) => r as usize,
            None => row,
        });
        for row in in_pass_order {
            let (who, month) = row_keys[row];
            let (resource, user) = billed_list[who as usize];
            for (k, &sum) in sums[row * width..(row + 1) * width].iter().enumerate() {
                let value = match milli_sums.get(&(row * width + k)) {
                    None if sum == 0 => continue,
                    None => to_decimal(sum, scales[k]),
                    Some(&millis) => {
                        match sum.checked_mul(1000).and_then(|s| s.checked_add(millis)) {
                            Some(0) => continue,
                            Some(total) => to_decimal(total, scales[k] + 3),
                            None => None,
                        }
                    }
                }
                .ok_or_else(|| overflow(who, month, &wanted[k]))?;
                for &r in &rules_of_tres[k] {
                    parts.push(Part {
                        cell: cell_id((resource, month, rule_components[r])),
                        user,
                        rule: r as u32,
                        value,
                    });
                }
            }
        }
        drop(sums);
        drop(row_keys);
        drop(order);
        let amounts = loose_amounts.iter().map(|(k, v)| (*k, *v)).chain(
            keyed_amounts
                .values()
                .map(|&(a, m, c, u, v)| ((a, m, c, u), v)),
        );
        for ((account, month, component, user), amount) in amounts {
            if !opts.range.contains(month) {
                continue;
            }
            let Some(resource) = resolved[account as usize] else {
                counts.unmapped += 1;
                *unmapped.entry(accounts.name(account)).or_default() += 1;
                continue;
            };
            parts.push(Part {
                cell: cell_id((resource, month, component)),
                user: user_key(user),
                rule: AMOUNT_PART,
                value: amount,
            });
        }
        // Cells in the order they are reported (resource, period, component by name), so
        // that the output is built sorted.
        let mut order: Vec<u32> = (0..cell_keys.len() as u32).collect();
        order.sort_unstable_by_key(|&c| {
            let (resource, period, component) = cell_keys[c as usize];
            (resources.name(resource), period, components.name(component))
        });
        let mut cell_rank = vec![0u32; order.len()];
        for (rank, &c) in order.iter().enumerate() {
            cell_rank[c as usize] = rank as u32;
        }
        for p in &mut parts {
            p.cell = cell_rank[p.cell as usize];
        }
        parts.sort_unstable_by_key(|p| (p.cell, p.user, p.rule));

        // The names the output shares (see `UserUsageCell`): one allocation per distinct
        // resource, component and user, not three per per-user cell.
        let shared = |names: &Interner| -> Vec<Arc<str>> {
            (0..).map_while(|i| names.get(i)).map(Arc::from).collect()
        };
        let (resource_names, component_names) = (shared(&resources), shared(&components));
        let user_names: Vec<Arc<str>> = user_names
            .iter()
            .map(|&name| Arc::from(if name.is_empty() { UNKNOWN_USER } else { name }))
            .collect();
        let mut usages = Vec::with_capacity(order.len());
        let mut user_usages = Vec::with_capacity(if opts.user_usage {
            // One per (cell, user): parts are sorted by both.
            parts
                .chunk_by(|a, b| a.cell == b.cell && a.user == b.user)
                .count()
        } else {
            0
        });
        let mut rule_totals: Vec<Option<Decimal>> = vec![None; opts.rules.len()];
        let mut shares: Vec<Decimal> = Vec::new();
        let mut share_users: Vec<u32> = Vec::new();
        for cell in parts.chunk_by(|a, b| a.cell == b.cell) {
            let (resource_id, period, component_id) =
                cell_keys[order[cell[0].cell as usize] as usize];
            let (resource, component) =
                (resources.name(resource_id), components.name(component_id));
            let overflow = || AggregateError::Overflow {
                resource: resource.to_string(),
                period,
                what: component.to_string(),
            };
            rule_totals.fill(None);
            let mut total_amount = Decimal::ZERO;
            shares.clear();
            share_users.clear();
            for user in cell.chunk_by(|a, b| a.user == b.user) {
                // Amount records sort after the rules; a user's exact share is their amounts
                // plus each rule's TRES-seconds in its unit, in rule order.
                let mut amount = Decimal::ZERO;
                for p in user.iter().filter(|p| p.rule == AMOUNT_PART) {
                    amount = amount.checked_add(p.value).ok_or_else(overflow)?;
                    total_amount = total_amount.checked_add(p.value).ok_or_else(overflow)?;
                }
                let mut share = amount;
                for p in user.iter().filter(|p| p.rule != AMOUNT_PART) {
                    let r = p.rule as usize;
                    let total = rule_totals[r].get_or_insert(Decimal::ZERO);
                    *total = total.checked_add(p.value).ok_or_else(overflow)?;
                    if opts.user_usage {
                        share = to_unit(p.value, &opts.rules[r])
                            .and_then(|v| share.checked_add(v))
                            .ok_or_else(overflow)?;
                    }
                }
                shares.push(share);
                share_users.push(user[0].user);
            }
            let mut exact = total_amount;
            for (r, total) in rule_totals.iter().enumerate() {
                if let Some(total) = total {
                    exact = to_unit(*total, &opts.rules[r])
                        .and_then(|v| exact.checked_add(v))
                        .ok_or_else(overflow)?;
                }
            }
            if exact >= MAX_CELL_AMOUNT {
                return Err(AggregateError::TooLarge {
                    resource: resource.to_string(),
                    period,
                    component: component.to_string(),
                    amount: exact,
                    max: MAX_CELL_AMOUNT,
                });
            }
            let amount = round_amount(exact);
            if explain_target
                .as_ref()
                .is_some_and(|(r, m)| r.as_str() == resource && *m == period)
            {
                let users = cell
                    .chunk_by(|a, b| a.user == b.user)
                    .map(|user| {
                        let name = &user_names[user[0].user as usize];
                        let rules = user
                            .iter()
                            .filter(|p| p.rule != AMOUNT_PART)
                            .map(|p| (p.rule as usize, p.value))
                            .collect();
                        let amounts = user
                            .iter()
                            .filter(|p| p.rule == AMOUNT_PART)
                            .map(|p| p.value)
                            .sum();
                        (name.to_string(), rules, amounts)
                    })
                    .collect();
                captured.push(CellCapture::new(
                    component,
                    &rule_totals,
                    total_amount,
                    exact,
                    amount,
                    users,
                    &shares,
                ));
            }
            if opts.user_usage {
                // Each share is at most the cell (all parts are non-negative), so below
                // 10^18: the split's cent arithmetic stays exact.
                for (user, share) in share_users.iter().zip(split_exactly(amount, &shares)) {
                    user_usages.push(UserUsageCell {
                        resource: Arc::clone(&resource_names[resource_id as usize]),
                        period,
                        component: Arc::clone(&component_names[component_id as usize]),
                        user: Arc::clone(&user_names[*user as usize]),
                        amount: share,
                    });
                }
            }
            usages.push(UsageCell {
                resource: resource.to_string(),
                period,
                component: component.to_string(),
                amount,
            });
        }
        drop(parts);
        // Built in order already, but for UNKNOWN_USER's place among names (a name sorting
        // before "(unknown)"): checked first, since a stable sort takes a scratch buffer of
        // half the cells even on sorted input.
        if !usages.is_sorted() {
            usages.sort();
        }
        if !user_usages.is_sorted() {
            user_usages.sort();
        }
        let explanation = match explain {
            Some(observer) => Some(observer.finish(
                &FinishContext {
                    rules: &opts.rules,
                    wanted: &wanted,
                    tz,
                    as_of,
                    counts,
                    invalid: &invalid,
                },
                captured,
            )?),
            None => None,
        };
        let plan_parts = if plan_pieces.is_empty() {
            Vec::new()
        } else {
            let mut cell_amounts: FxHashMap<(u32, BillingMonth, &str), Decimal> =
                FxHashMap::default();
            let amounts = loose_amounts.iter().map(|(k, v)| (*k, *v)).chain(
                keyed_amounts
                    .values()
                    .map(|&(a, m, c, u, v)| ((a, m, c, u), v)),
            );
            for ((account, month, component, _), amount) in amounts {
                if let Some(resource) = resolved[account as usize] {
                    let sum = cell_amounts
                        .entry((resource, month, components.name(component)))
                        .or_default();
                    *sum = sum
                        .checked_add(amount)
                        .ok_or_else(|| AggregateError::Overflow {
                            resource: resources.name(resource).to_string(),
                            period: month,
                            what: components.name(component).to_string(),
                        })?;
                }
            }
            plan_pieces.parts(
                &usages,
                &resources,
                &opts.rules,
                &wanted,
                &scales,
                &cell_amounts,
            )?
        };
        let collection = Collection {
            plan_parts,
            usages,
            user_usages,
            invalid,
            records: counts,
            unmapped: unmapped
                .into_iter()
                .map(|(account, jobs)| UnmappedAccount {
                    account: if account.is_empty() {
                        "(empty)".to_string()
                    } else {
                        account.to_string()
                    },
                    jobs,
                })
                .collect(),
        };
        Ok((collection, explanation))
    }
}

/// From this many distinct jobs on, [`Aggregator::finish`] sums them on two threads (fewer
/// are summed faster than a thread starts).
pub const PARALLEL_SUM_MIN_JOBS: usize = 1 << 16;

/// Summing on two threads only pays while the rows are few beside the jobs (at most one
/// per this many jobs): then the time is the walk over the jobs, which halves, and the rows'
/// memory is small. With many rows (every user in every account, as in the bench dump) the
/// second thread's rows cost more memory (measured: 263-293 MiB peak instead of 228 at 10M
/// lines, over the 256 MiB target) than its time is worth.
const FEW_ROWS_PER_JOB: usize = 8;

/// The most rows a part of `parts` can have: its billed ids times the months.
fn row_bound(billed: usize, range: MonthRange, parts: usize) -> usize {
    billed.div_ceil(parts).saturating_mul(range.iter().count())
}

/// What summing jobs into rows reads.
struct RowInput<'a, 'n> {
    jobs: &'a JobColumns,
    /// The billed id (resource, user) of each owner; `None`: an unmapped account.
    billed_of: &'a [Option<u32>],
    /// How many billed ids there are.
    billed_count: usize,
    owner_list: &'a [(u32, u32)],
    /// Account names, which the unmapped counts borrow.
    accounts: &'n Interner,
    set_values: &'a [Option<i128>],
    set_is_zero: &'a [bool],
    width: usize,
    as_of: i64,
    range: MonthRange,
    range_start: i64,
    range_end: i64,
    tz: Tz,
}

/// Why a sum failed: the billed id, month and TRES index whose sum left an `i128`.
type RowOverflow = (u32, BillingMonth, usize);

/// Jobs summed into one row per (billed, month): exact integer sums, `width` per row.
struct RowSums<'n> {
    /// (billed, month) -> row. Left empty by [`RowSums::of_threads`] when it merged several
    /// threads' rows (rebuild it from `row_keys` if rows must be found again).
    rows: FxHashMap<(u32, BillingMonth), u32>,
    row_keys: Vec<(u32, BillingMonth)>,
    /// The slot of the job that made each row: rows are made in slot order. Only while
    /// several threads sum.
    first_slot: Vec<u32>,
    /// The rows in the order one pass makes them, when that is not their order in
    /// `row_keys` (several threads summed); empty otherwise.
    order: Vec<u32>,
    sums: Vec<i128>,
    /// Jobs of unmapped accounts.
    unmapped_jobs: u64,
    after_as_of: u64,
    unmapped: BTreeMap<&'n str, u64>,
}

impl<'n> RowSums<'n> {
    /// Empty sums with room for `capacity` rows.
    fn with_capacity(capacity: usize, width: usize) -> Self {
        RowSums {
            rows: FxHashMap::with_capacity_and_hasher(capacity, Default::default()),
            row_keys: Vec::with_capacity(capacity),
            first_slot: Vec::with_capacity(capacity),
            order: Vec::new(),
            sums: Vec::with_capacity(capacity * width),
            unmapped_jobs: 0,
            after_as_of: 0,
            unmapped: BTreeMap::new(),
        }
    }

    /// The rows of every job whose billed id is `part` modulo `parts` (unmapped jobs are
    /// part 0's), in the order one pass over the jobs makes them. On overflow: the slot of
    /// the job at which the pass stopped, and what overflowed.
    fn sum(
        input: &RowInput<'_, 'n>,
        part: u32,
        parts: u32,
        mut out: Self,
    ) -> Result<Self, (usize, RowOverflow)> {
        let width = input.width;
        let mut months = MonthCache::new(input.tz);
        let jobs = input.jobs;
        for slot in 0..jobs.len() {
            let owner = jobs.owner(slot) as usize;
            let Some(who) = input.billed_of[owner] else {
                if part == 0 {
                    out.unmapped_jobs += 1;
                    *out.unmapped
                        .entry(input.accounts.name(input.owner_list[owner].0))
                        .or_default() += 1;
                }
                continue;
            };
            if who % parts != part {
                continue;
            }
            let (start, end) = jobs.span(slot);
            let end = end.min(input.as_of).min(input.range_end);
            if start >= input.as_of {
                out.after_as_of += 1;
                continue;
            }
            let set = jobs.set_of(slot) as usize;
            if input.set_is_zero[set] {
                continue;
            }
            let quantities = &input.set_values[set * width..(set + 1) * width];
            let mut t = start.max(input.range_start);
            while t < end {
                let (month, month_end) = months.month_at(t);
                let seg_end = end.min(month_end);
                if input.range.contains(month) {
                    let secs = i128::from(seg_end - t);
                    let row = *out.rows.entry((who, month)).or_insert_with(|| {
                        out.row_keys.push((who, month));
                        if parts > 1 {
                            out.first_slot.push(slot as u32);
                        }
                        out.sums.resize(out.sums.len() + width, 0);
                        (out.row_keys.len() - 1) as u32
                    }) as usize;
                    for (k, q) in quantities.iter().enumerate() {
                        let sum = &mut out.sums[row * width + k];
                        *sum = match q {
                            Some(0) => continue,
                            Some(q) => q.checked_mul(secs).and_then(|p| sum.checked_add(p)),
                            None => None,
                        }
                        .ok_or((slot, (who, month, k)))?;
                    }
                }
                t = seg_end;
            }
        }
        if parts > 1 {
            // Rows are not looked up again: the index goes before the parts are joined.
            out.rows = FxHashMap::default();
        }
        Ok(out)
    }

    /// All rows, summed on `threads` threads (at most two are used) and merged. Each row
    /// belongs to one thread (rows are split by billed id), so no sum is split; merged by
    /// the slot of the job that made them, the rows come in the order one pass makes them,
    /// and an overflow is the one a single pass meets first (the lowest slot).
    fn of_threads(input: &RowInput<'_, 'n>, threads: usize) -> Result<Self, RowOverflow> {
        if threads <= 1 || input.jobs.len() > u32::MAX as usize {
            return Self::sum(input, 0, 1, Self::with_capacity(0, input.width))
                .map_err(|(_, what)| what);
        }
        // Both parts' room is made here, for the most rows a part can have (its billed ids
        // times the months, at most one a job; unused capacity is never touched). Grown on
        // the second thread, the rows landed in that thread's allocator arena, whose freed
        // memory the rest of the run could not reuse (measured: 65 MiB more peak RSS on the
        // bench dump).
        let capacity = row_bound(input.billed_count, input.range, 2).min(input.jobs.len());
        let room = Self::with_capacity(capacity, input.width);
        let (a, b) = std::thread::scope(|scope| {
            let second = scope.spawn(|| Self::sum(input, 1, 2, room));
            let first = Self::sum(input, 0, 2, Self::with_capacity(capacity, input.width));
            match second.join() {
                Ok(second) => (first, second),
                Err(panic) => std::panic::resume_unwind(panic),
            }
        });
        let (a, b) = match (a, b) {
            (Ok(a), Ok(b)) => (a, b),
            (Err((slot_a, what_a)), Err((slot_b, what_b))) => {
                return Err(if slot_a <= slot_b { what_a } else { what_b })
            }
            (Err((_, what)), Ok(_)) | (Ok(_), Err((_, what))) => return Err(what),
        };
        // Part 0 counted every unmapped job; after_as_of is counted by the owner's part.
        // Part 1's rows go after part 0's (the sums' buffer grows in place), and `order`
        // lists them all in the order of one pass: by the slot of the job that made them.
        let (mut a, b) = (a, b);
        let width = input.width;
        let offset = a.row_keys.len() as u32;
        let mut order = Vec::with_capacity(a.row_keys.len() + b.row_keys.len());
        let (mut i, mut j) = (0, 0);
        while i < a.row_keys.len() || j < b.row_keys.len() {
            if j == b.row_keys.len() || (i < a.row_keys.len() && a.first_slot[i] < b.first_slot[j])
            {
                order.push(i as u32);
                i += 1;
            } else {
                order.push(offset + j as u32);
                j += 1;
            }
        }
        debug_assert_eq!(b.sums.len(), b.row_keys.len() * width);
        a.sums.reserve_exact(b.sums.len());
        a.sums.extend_from_slice(&b.sums);
        a.row_keys.extend_from_slice(&b.row_keys);
        Ok(RowSums {
            rows: FxHashMap::default(),
            row_keys: a.row_keys,
            first_slot: Vec::new(),
            order,
            sums: a.sums,
            unmapped_jobs: a.unmapped_jobs + b.unmapped_jobs,
            after_as_of: a.after_as_of + b.after_as_of,
            unmapped: a.unmapped,
        })
    }
}

/// The `rule` of a [`Part`] that is an amount record's amount, not TRES-seconds. Sorts after
/// every rule index.
const AMOUNT_PART: u32 = u32::MAX;

/// One user's exact contribution to one cell: the TRES-seconds of one rule (undivided), or
/// an amount already in the component's unit.
struct Part {
    cell: u32,
    /// The user's rank by name.
    user: u32,
    rule: u32,
    value: Decimal,
}

/// Each interned name's rank in name order, and the names in that order.
fn rank_by_name(names: &Interner) -> (Vec<u32>, Vec<&str>) {
    let mut sorted: Vec<(&str, u32)> = (0..).map_while(|i| names.get(i).map(|n| (n, i))).collect();
    sorted.sort_unstable();
    let mut rank = vec![0u32; sorted.len()];
    for (r, &(_, id)) in sorted.iter().enumerate() {
        rank[id as usize] = r as u32;
    }
    (rank, sorted.into_iter().map(|(n, _)| n).collect())
}

/// A quantity as a whole number of units of `10^-scale` (`scale` at least its own).
fn at_scale(q: Decimal, scale: u32) -> Option<i128> {
    let factor = 10i128.checked_pow(scale - q.scale())?;
    q.mantissa().checked_mul(factor)
}

/// An exact integer sum in units of `10^-scale` as a `Decimal`, exactly or not at all.
pub(crate) fn to_decimal(mut sum: i128, mut scale: u32) -> Option<Decimal> {
    loop {
        if let Ok(d) = Decimal::try_from_i128_with_scale(sum, scale) {
            return Some(d);
        }
        // Too many digits: drop trailing zeros while that stays exact.
        if scale == 0 || sum % 10 != 0 {
            return None;
        }
        sum /= 10;
        scale -= 1;
    }
}

impl RecordSink for Aggregator {
    fn wanted_tres(&self) -> &[String] {
        &self.wanted
    }

    fn record(&mut self, r: &JobRecord<'_>) {
        self.upsert(r, false, Millis::default());
    }

    fn record_last_wins(&mut self, r: &JobRecord<'_>) {
        self.upsert(r, true, Millis::default());
    }

    fn record_millis(&mut self, r: &JobRecord<'_>, millis: Millis) {
        self.upsert(r, false, millis);
    }

    fn amount(&mut self, r: &AmountRecord<'_>) {
        let month = match r.when {
            AmountWhen::Month(m) => m,
            AmountWhen::At(t) => {
                let instant = DateTime::from_timestamp(t, 0).unwrap_or_default();
                if t >= self.opts.as_of.timestamp() {
                    self.counts.amounts += 1;
                    self.counts.after_as_of += 1;
                    if let Some(observer) = &mut self.explain {
                        let month = BillingMonth::containing(instant, self.opts.billing_timezone);
                        observer.late_amount(r, self.opts.mapping.resolve(r.account), month);
                    }
                    return;
                }
                BillingMonth::containing(instant, self.opts.billing_timezone)
            }
        };
        if let Some(observer) = &mut self.explain {
            observer.amount(r, self.opts.mapping.resolve(r.account), month);
        }
        let account = self.accounts.id(r.account);
        let component = self.components.id(r.component);
        let user = self.users.id(r.user);
        match r.key {
            None => {
                self.counts.amounts += 1;
                let sum = self
                    .loose_amounts
                    .entry((account, month, component, user))
                    .or_default();
                match sum.checked_add(r.amount) {
                    Some(v) => *sum = v,
                    None => {
                        self.overflow.get_or_insert(AggregateError::Overflow {
                            resource: r.account.to_string(),
                            period: month,
                            what: r.component.to_string(),
                        });
                    }
                }
            }
            Some(key) => {
                let entry = (account, month, component, user, r.amount);
                // The last row read with a key counts (a re-export corrects the earlier one).
                if self.keyed_amounts.insert(key.into(), entry).is_some() {
                    self.counts.duplicates += 1;
                } else {
                    self.counts.amounts += 1;
                }
            }
        }
    }

    fn step(&mut self, job_id: &[u8], file_index: u32, line: u64) {
        if let Some(observer) = &mut self.explain {
            observer.step(job_id, file_index, line);
        }
    }

    fn invalid(&mut self, invalid: InvalidRecord) {
        self.counts.invalid += 1;
        if self.invalid.len() < self.opts.keep_invalid {
            self.invalid.push(invalid);
        }
    }
}

/// TRES x seconds in the component's unit: the multiplication by the factor is exact, so it
/// comes first and the division by the unit is the one inexact step (28 significant digits:
/// a true half-cent tie is a terminating decimal and survives it exactly).
pub(crate) fn to_unit(sum: Decimal, rule: &ComponentRule) -> Option<Decimal> {
    let unit = Decimal::from(rule.unit_seconds.max(1));
    match sum.checked_mul(rule.factor) {
        Some(product) => product.checked_div(unit),
        None => sum.checked_div(unit)?.checked_mul(rule.factor),
    }
}

/// Month bounds in the billing zone, computed once per month.
pub(crate) struct MonthCache {
    tz: Tz,
    /// The last month used: (month, start, end) in Unix seconds. Jobs cluster in time.
    last: Option<(BillingMonth, i64, i64)>,
}

impl MonthCache {
    pub(crate) fn new(tz: Tz) -> Self {
        Self { tz, last: None }
    }

    pub(crate) fn tz(&self) -> Tz {
        self.tz
    }

    /// The month containing instant `t` and the instant it ends.
    pub(crate) fn month_at(&mut self, t: i64) -> (BillingMonth, i64) {
        if let Some((m, s, e)) = self.last {
            if s <= t && t < e {
                return (m, e);
            }
        }
        let instant = DateTime::from_timestamp(t, 0).unwrap_or_default();
        let m = BillingMonth::containing(instant, self.tz);
        let (s, e) = (m.start(self.tz).timestamp(), m.end(self.tz).timestamp());
        self.last = Some((m, s, e));
        (m, e)
    }
}
