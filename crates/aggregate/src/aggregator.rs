use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use rustc_hash::FxHashMap;
use serde::Serialize;
use tally_model::bounds::MAX_CELL_AMOUNT;
use tally_model::{
    round_amount, BillingMonth, InvalidRecord, MonthRange, UsageCell, UserUsageCell,
};
use tally_sources::{AmountRecord, AmountWhen, JobRecord, Millis, RecordSink, SourceStats};

use crate::identity::{IdentityCheck, IdentityConflict, IdentityFile};
use crate::intern::Interner;
use crate::jobs::{JobKey, JobTable, Upsert};
use crate::millis::SubSeconds;

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

/// Splits a rounded total over exact parts so that the 2-decimal parts add up to the total
/// exactly: each part is floored to the cent and the cents still missing go to the parts
/// with the largest remainders (ties to the earlier part). Rounding every part on its own,
/// as the existing peer does, makes the per-user figures disagree with the total.
pub fn split_exactly(total: Decimal, parts: &[Decimal]) -> Vec<Decimal> {
    let cent = Decimal::new(1, 2);
    let scaled: Vec<Decimal> = parts.iter().map(|p| *p * Decimal::ONE_HUNDRED).collect();
    let mut floors: Vec<Decimal> = scaled.iter().map(|s| s.floor()).collect();
    let assigned: Decimal = floors.iter().sum();
    let mut missing = (total * Decimal::ONE_HUNDRED - assigned).round();
    let mut order: Vec<usize> = (0..parts.len()).collect();
    order.sort_by(|&a, &b| {
        (scaled[b] - floors[b])
            .cmp(&(scaled[a] - floors[a]))
            .then(a.cmp(&b))
    });
    let step = if missing.is_sign_negative() {
        -Decimal::ONE
    } else {
        Decimal::ONE
    };
    let mut i = 0;
    while !missing.is_zero() && !order.is_empty() {
        floors[order[i % order.len()]] += step;
        missing -= step;
        i += 1;
    }
    floors
        .into_iter()
        .map(|f| {
            let mut v = f * cent;
            v.rescale(2);
            v
        })
        .collect()
}

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
    invalid: Vec<InvalidRecord>,
    counts: RecordCounts,
    /// Built only when the collection's dumps carry different identity columns.
    identity: Option<IdentityCheck>,
    /// The first sum of amounts that overflowed, reported by [`Aggregator::finish`].
    overflow: Option<AggregateError>,
    /// Milliseconds beyond the job table's whole seconds (Univa Grid Engine).
    sub_seconds: SubSeconds,
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
            invalid: Vec::new(),
            counts: RecordCounts::default(),
            identity: None,
            overflow: None,
            sub_seconds: SubSeconds::default(),
        }
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
        let outcome = self.jobs.upsert(
            key,
            account,
            user,
            (r.start, r.end),
            r.quantities,
            equal_end_replaces,
        );
        self.sub_seconds.note(key, &outcome, millis);
        if outcome != Upsert::Inserted {
            self.counts.duplicates += 1;
        }
    }

    /// Folds the kept records into cells. Consumes the aggregator: this is the end of a run.
    ///
    /// Every sum is checked: a total that leaves what a `Decimal` holds, or a cell beyond
    /// what Waldur stores, is an error naming the cell, never a panic.
    pub fn finish(self) -> Result<Collection, AggregateError> {
        let Aggregator {
            opts,
            wanted,
            jobs,
            loose_amounts,
            keyed_amounts,
            components,
            users,
            accounts,
            invalid,
            mut counts,
            overflow,
            sub_seconds,
            ..
        } = self;
        if let Some(e) = overflow {
            return Err(e);
        }
        let as_of = opts.as_of.timestamp();
        let tz = opts.billing_timezone;
        counts.jobs = jobs.len() as u64;

        let mut resources = Interner::default();
        // Resolve each account once.
        let resolved: Vec<Option<u32>> = (0..)
            .map_while(|i| accounts.get(i))
            .map(|acct| opts.mapping.resolve(acct).map(|r| resources.id(r)))
            .collect();
        let mut unmapped: BTreeMap<&str, u64> = BTreeMap::new();
        // (resource, month, tres index, user) -> exact sum of quantity x seconds.
        let mut sums: FxHashMap<(u32, BillingMonth, usize, u32), Decimal> = FxHashMap::default();
        let mut months = MonthCache::new(tz);
        // Only the months asked for are walked: a job's time outside them counts nowhere.
        let range_start = opts.range.from.start(tz).timestamp();
        let range_end = opts.range.to.end(tz).timestamp();
        let overflow = |resource: u32, month: BillingMonth, idx: usize| AggregateError::Overflow {
            resource: resources.name(resource).to_string(),
            period: month,
            what: wanted[idx].clone(),
        };

        let mut q = vec![Decimal::ZERO; wanted.len()];
        for slot in 0..jobs.len() {
            let account = jobs.account(slot);
            let Some(resource) = resolved[account as usize] else {
                counts.unmapped += 1;
                *unmapped.entry(accounts.name(account)).or_default() += 1;
                continue;
            };
            let user = jobs.user(slot);
            let (start, end) = jobs.span(slot);
            let end = end.min(as_of).min(range_end);
            if start >= as_of {
                counts.after_as_of += 1;
                continue;
            }
            for (k, v) in q.iter_mut().enumerate() {
                *v = jobs.quantity(slot, k);
            }
            if q.iter().all(Decimal::is_zero) {
                continue;
            }
            let mut t = start.max(range_start);
            while t < end {
                let (month, month_end) = months.month_at(t);
                let seg_end = end.min(month_end);
                let secs = Decimal::from(seg_end - t);
                if opts.range.contains(month) {
                    for (idx, qty) in q.iter().enumerate() {
                        if !qty.is_zero() {
                            let sum = sums.entry((resource, month, idx, user)).or_default();
                            *sum = qty
                                .checked_mul(secs)
                                .and_then(|p| sum.checked_add(p))
                                .ok_or_else(|| overflow(resource, month, idx))?;
                        }
                    }
                }
                t = seg_end;
            }
        }

        // Milliseconds beyond the whole seconds summed above (see `millis`).
        for (slot, t, secs) in sub_seconds.corrections(&jobs, range_start, as_of.min(range_end)) {
            let Some(resource) = resolved[jobs.account(slot) as usize] else {
                continue;
            };
            let (month, _) = months.month_at(t);
            if !opts.range.contains(month) {
                continue;
            }
            for idx in 0..wanted.len() {
                let qty = jobs.quantity(slot, idx);
                if !qty.is_zero() {
                    let sum = sums
                        .entry((resource, month, idx, jobs.user(slot)))
                        .or_default();
                    *sum = qty
                        .checked_mul(secs)
                        .and_then(|p| sum.checked_add(p))
                        .ok_or_else(|| overflow(resource, month, idx))?;
                }
            }
        }

        // (resource, month, component) -> the cell's exact sums. TRES-seconds stay undivided
        // until the whole cell is summed: dividing each user's share by the unit first would
        // cut every share at 28 digits, and the cut pieces can tip a true half-cent tie.
        type Cell<'a> = (&'a str, BillingMonth, &'a str);
        let mut cells: BTreeMap<Cell<'_>, CellSums<'_>> = BTreeMap::new();
        for ((resource, month, idx, user), sum) in &sums {
            for (r, rule) in opts
                .rules
                .iter()
                .enumerate()
                .filter(|(_, r)| r.tres == wanted[*idx])
            {
                let cell = cells
                    .entry((resources.name(*resource), *month, rule.component.as_str()))
                    .or_default();
                let add = |to: &mut Decimal| {
                    *to = to
                        .checked_add(*sum)
                        .ok_or_else(|| overflow(*resource, *month, *idx))?;
                    Ok::<(), AggregateError>(())
                };
                add(cell.total.tres.entry(r).or_default())?;
                add(cell
                    .users
                    .entry(users.name(*user))
                    .or_default()
                    .tres
                    .entry(r)
                    .or_default())?;
            }
        }
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
            let key = (resources.name(resource), month, components.name(component));
            let cell = cells.entry(key).or_default();
            let add = |to: &mut Decimal| {
                *to = to
                    .checked_add(amount)
                    .ok_or_else(|| AggregateError::Overflow {
                        resource: key.0.to_string(),
                        period: month,
                        what: key.2.to_string(),
                    })?;
                Ok::<(), AggregateError>(())
            };
            add(&mut cell.total.amount)?;
            add(&mut cell.users.entry(users.name(user)).or_default().amount)?;
        }
        let mut usages = Vec::with_capacity(cells.len());
        let mut user_usages = Vec::new();
        for ((resource, period, component), cell) in cells {
            let overflow = || AggregateError::Overflow {
                resource: resource.to_string(),
                period,
                what: component.to_string(),
            };
            let exact = cell.total.exact(&opts.rules).ok_or_else(overflow)?;
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
            if opts.user_usage {
                // Each share is at most the cell (all parts are non-negative), so below
                // 10^18: the split's cent arithmetic stays exact.
                let parts = cell
                    .users
                    .values()
                    .map(|u| u.exact(&opts.rules))
                    .collect::<Option<Vec<Decimal>>>()
                    .ok_or_else(overflow)?;
                for (user, share) in cell.users.keys().zip(split_exactly(amount, &parts)) {
                    user_usages.push(UserUsageCell {
                        resource: resource.to_string(),
                        period,
                        component: component.to_string(),
                        user: if user.is_empty() {
                            UNKNOWN_USER.to_string()
                        } else {
                            user.to_string()
                        },
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
        usages.sort();
        user_usages.sort();
        Ok(Collection {
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
        })
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
                if t >= self.opts.as_of.timestamp() {
                    self.counts.amounts += 1;
                    self.counts.after_as_of += 1;
                    return;
                }
                let instant = DateTime::from_timestamp(t, 0).unwrap_or_default();
                BillingMonth::containing(instant, self.opts.billing_timezone)
            }
        };
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

    fn invalid(&mut self, invalid: InvalidRecord) {
        self.counts.invalid += 1;
        if self.invalid.len() < self.opts.keep_invalid {
            self.invalid.push(invalid);
        }
    }
}

/// Exact figures of one cell (or of one user's share of it): TRES x seconds per rule, still
/// undivided, and amounts already in the component's unit.
#[derive(Default)]
struct Sums {
    tres: BTreeMap<usize, Decimal>,
    amount: Decimal,
}

impl Sums {
    /// `None` when the sum leaves what a `Decimal` holds.
    fn exact(&self, rules: &[ComponentRule]) -> Option<Decimal> {
        self.tres.iter().try_fold(self.amount, |acc, (r, sum)| {
            acc.checked_add(to_unit(*sum, &rules[*r])?)
        })
    }
}

/// A cell's sums as a whole (what is reported) and per user (what is split).
#[derive(Default)]
struct CellSums<'a> {
    total: Sums,
    users: BTreeMap<&'a str, Sums>,
}

/// TRES x seconds in the component's unit: the multiplication by the factor is exact, so it
/// comes first and the division by the unit is the one inexact step (28 significant digits:
/// a true half-cent tie is a terminating decimal and survives it exactly).
fn to_unit(sum: Decimal, rule: &ComponentRule) -> Option<Decimal> {
    let unit = Decimal::from(rule.unit_seconds.max(1));
    match sum.checked_mul(rule.factor) {
        Some(product) => product.checked_div(unit),
        None => sum.checked_div(unit)?.checked_mul(rule.factor),
    }
}

/// Month bounds in the billing zone, computed once per month.
struct MonthCache {
    tz: Tz,
    /// The last month used: (month, start, end) in Unix seconds. Jobs cluster in time.
    last: Option<(BillingMonth, i64, i64)>,
}

impl MonthCache {
    fn new(tz: Tz) -> Self {
        Self { tz, last: None }
    }

    /// The month containing instant `t` and the instant it ends.
    fn month_at(&mut self, t: i64) -> (BillingMonth, i64) {
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
