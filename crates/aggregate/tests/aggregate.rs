//! The aggregation rules, stated on hand-built records.

mod common;

use chrono_tz::Tz;
use common::{cpu_gpu_ram_rules as rules, d, m, options, record, t};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_aggregate::*;
use tally_model::split_exactly;
use tally_sources::{JobRecord, RecordSink, SourceStats};

fn opts(from: &str, to: &str, as_of: &str) -> AggregateOptions {
    AggregateOptions {
        keep_invalid: 100,
        ..options(Tz::UTC, rules(), from, to, as_of)
    }
}

/// An owned job for tests: (key, account, start, end, cpu, gpu, mem MiB).
#[derive(Clone, Debug)]
struct Job {
    key: String,
    account: String,
    start: i64,
    end: Option<i64>,
    q: [Option<Decimal>; 3],
}

impl Job {
    /// The job as `user`'s record on `line`.
    fn record<'a>(&'a self, user: &'a str, line: u64) -> JobRecord<'a> {
        record(
            &self.key,
            &self.account,
            user,
            self.start,
            self.end,
            &self.q,
            line,
        )
    }
}

fn job(key: &str, account: &str, start: &str, end: Option<&str>, cpu: u32) -> Job {
    Job {
        key: key.into(),
        account: account.into(),
        start: t(start),
        end: end.map(t),
        q: [Some(Decimal::from(cpu)), None, None],
    }
}

fn feed(agg: &mut Aggregator, jobs: &[Job]) {
    for (i, j) in jobs.iter().enumerate() {
        agg.record(&j.record("u", i as u64 + 1));
    }
}

fn collect(o: AggregateOptions, jobs: &[Job]) -> Vec<(String, String, String, String)> {
    let mut agg = Aggregator::new(o);
    feed(&mut agg, jobs);
    agg.finish()
        .unwrap()
        .usages
        .into_iter()
        .map(|c| {
            (
                c.resource,
                c.period.to_string(),
                c.component,
                c.amount.to_string(),
            )
        })
        .collect()
}

/// One job of `user` on account `acct` (job id `x`, line 1): a share of a user in a cell.
fn user_share<'a>(
    key: &'a str,
    user: &'a str,
    start: i64,
    end: i64,
    quantities: &'a [Option<Decimal>],
) -> JobRecord<'a> {
    JobRecord {
        job_id: "x",
        ..record(key, "acct", user, start, Some(end), quantities, 1)
    }
}

fn cell(r: &str, p: &str, c: &str, a: &str) -> (String, String, String, String) {
    (r.into(), p.into(), c.into(), a.into())
}

#[test]
fn a_job_across_the_month_boundary_is_split_exactly() {
    let jobs = [job(
        "1",
        "acct",
        "2026-09-30T22:00:00Z",
        Some("2026-10-01T02:00:00Z"),
        1,
    )];
    let got = collect(opts("2026-09", "2026-10", "2026-11-01T00:00:00Z"), &jobs);
    assert_eq!(
        got,
        [
            cell("acct", "2026-09", "cpu", "2.00"),
            cell("acct", "2026-10", "cpu", "2.00")
        ]
    );
    // Only the months asked for are reported.
    let got = collect(opts("2026-10", "2026-10", "2026-11-01T00:00:00Z"), &jobs);
    assert_eq!(got, [cell("acct", "2026-10", "cpu", "2.00")]);
}

#[test]
fn months_are_cut_in_the_billing_zone() {
    let mut o = opts("2026-09", "2026-10", "2026-11-01T00:00:00Z");
    o.billing_timezone = "Europe/Amsterdam".parse().unwrap();
    // 21:00Z-23:00Z on 30 Sep is 23:00-01:00 in Amsterdam (CEST): one hour in each month.
    let jobs = [job(
        "1",
        "acct",
        "2026-09-30T21:00:00Z",
        Some("2026-09-30T23:00:00Z"),
        1,
    )];
    assert_eq!(
        collect(o, &jobs),
        [
            cell("acct", "2026-09", "cpu", "1.00"),
            cell("acct", "2026-10", "cpu", "1.00")
        ]
    );
}

#[test]
fn running_jobs_run_until_as_of_and_nothing_after_as_of_counts() {
    let jobs = [
        job("1", "acct", "2026-10-01T00:00:00Z", None, 2),
        job(
            "2",
            "acct",
            "2026-10-01T00:00:00Z",
            Some("2026-10-01T12:00:00Z"),
            1,
        ),
        job("3", "acct", "2026-10-05T00:00:00Z", None, 4),
    ];
    let got = collect(opts("2026-10", "2026-10", "2026-10-01T06:00:00Z"), &jobs);
    // job 1: 6 h x 2; job 2 capped at as_of: 6 h x 1; job 3 starts later: nothing.
    assert_eq!(got, [cell("acct", "2026-10", "cpu", "18.00")]);
}

#[test]
fn the_latest_record_of_a_job_counts_once() {
    let running = job("7", "acct", "2026-10-01T00:00:00Z", None, 1);
    let done = job(
        "7",
        "acct",
        "2026-10-01T00:00:00Z",
        Some("2026-10-01T03:00:00Z"),
        1,
    );
    let earlier_end = job(
        "7",
        "acct",
        "2026-10-01T00:00:00Z",
        Some("2026-10-01T02:00:00Z"),
        1,
    );
    let o = || opts("2026-10", "2026-10", "2026-10-02T00:00:00Z");
    for order in [
        vec![running.clone(), done.clone()],
        vec![done.clone(), running.clone()],
        vec![earlier_end.clone(), done.clone(), running.clone()],
        vec![done.clone(), earlier_end.clone()],
    ] {
        assert_eq!(
            collect(o(), &order),
            [cell("acct", "2026-10", "cpu", "3.00")],
            "{order:?}"
        );
    }
    let mut agg = Aggregator::new(o());
    feed(&mut agg, &[running, done, earlier_end]);
    let c = agg.finish().unwrap();
    assert_eq!((c.records.jobs, c.records.duplicates), (1, 2));
}

#[test]
fn components_without_the_tres_get_no_cell_and_memory_uses_the_factor() {
    let mut j = job(
        "1",
        "acct",
        "2026-10-01T00:00:00Z",
        Some("2026-10-01T01:30:00Z"),
        4,
    );
    j.q[2] = Some(d("4096")); // 4 GiB in MiB
    let got = collect(opts("2026-10", "2026-10", "2026-11-01T00:00:00Z"), &[j]);
    assert_eq!(
        got,
        [
            cell("acct", "2026-10", "cpu", "6.00"),
            cell("acct", "2026-10", "ram", "6.00")
        ]
    );
}

#[test]
fn rounding_happens_once_per_cell_not_per_job() {
    // Three jobs of 1 cpu x 1 s: 3/3600 h = 0.000833.. each, 0.00 if rounded per job.
    // 3600 such jobs make exactly 1.00 h.
    let jobs: Vec<Job> = (0..3600)
        .map(|i| {
            let s = t("2026-10-01T00:00:00Z") + i * 2;
            Job {
                key: i.to_string(),
                account: "acct".into(),
                start: s,
                end: Some(s + 1),
                q: [Some(Decimal::ONE), None, None],
            }
        })
        .collect();
    assert_eq!(
        collect(opts("2026-10", "2026-10", "2026-11-01T00:00:00Z"), &jobs),
        [cell("acct", "2026-10", "cpu", "1.00")]
    );
}

#[test]
fn mapping_table_and_unmapped_accounts_are_reported() {
    let mut o = opts("2026-10", "2026-10", "2026-11-01T00:00:00Z");
    o.mapping.table.insert("slurm_a".into(), "res-a".into());
    o.mapping.unlisted = UnlistedAccounts::Unmapped;
    let jobs = [
        job(
            "1",
            "slurm_a",
            "2026-10-01T00:00:00Z",
            Some("2026-10-01T01:00:00Z"),
            1,
        ),
        job(
            "2",
            "other",
            "2026-10-01T00:00:00Z",
            Some("2026-10-01T01:00:00Z"),
            1,
        ),
        job(
            "3",
            "other",
            "2026-10-01T00:00:00Z",
            Some("2026-10-01T01:00:00Z"),
            1,
        ),
        job(
            "4",
            "",
            "2026-10-01T00:00:00Z",
            Some("2026-10-01T01:00:00Z"),
            1,
        ),
    ];
    let mut agg = Aggregator::new(o);
    feed(&mut agg, &jobs);
    agg.add_source_stats(SourceStats::default());
    let c = agg.finish().unwrap();
    assert_eq!(c.usages.len(), 1);
    assert_eq!(c.usages[0].resource, "res-a");
    assert_eq!(c.records.unmapped, 3);
    let un: Vec<(&str, u64)> = c
        .unmapped
        .iter()
        .map(|u| (u.account.as_str(), u.jobs))
        .collect();
    assert_eq!(un, [("(empty)", 1), ("other", 2)]);
}

#[test]
fn per_user_amounts_add_up_to_the_cell_to_the_cent() {
    // Three users with a third of an hour each: 0.333.. h x 3 = 1.00 h; rounding each user
    // alone would give 0.33 x 3 = 0.99.
    let mut agg = Aggregator::new(opts("2026-10", "2026-10", "2026-11-01T00:00:00Z"));
    for (i, user) in ["ann", "bob", "cid"].iter().enumerate() {
        let s = t("2026-10-01T00:00:00Z");
        let key = i.to_string();
        agg.record(&user_share(
            &key,
            user,
            s,
            s + 1200,
            &[Some(Decimal::ONE), None, None],
        ));
    }
    let c = agg.finish().unwrap();
    assert_eq!(c.usages[0].amount.to_string(), "1.00");
    let users: Vec<(String, String)> = c
        .user_usages
        .iter()
        .map(|u| (u.user.to_string(), u.amount.to_string()))
        .collect();
    assert_eq!(
        users,
        [
            ("ann".into(), "0.34".into()),
            ("bob".into(), "0.33".into()),
            ("cid".into(), "0.33".into())
        ]
    );
}

// ---- invariants ----

fn arb_jobs() -> impl Strategy<Value = Vec<Job>> {
    let base = t("2026-08-15T00:00:00Z");
    prop::collection::vec(
        (
            0u32..40,                        // key
            0usize..3,                       // account
            0i64..(120 * 86_400),            // start offset
            0i64..(50 * 86_400),             // duration
            prop::option::of(1u32..64),      // cpu
            prop::option::of(1u32..4),       // gpu
            prop::option::of(0u32..300_000), // mem KiB
        ),
        0..60,
    )
    .prop_map(move |v| {
        let mut seen = std::collections::HashSet::new();
        v.into_iter()
            // One record per key: dedup is tested above; here the question is arithmetic.
            .filter(|(k, ..)| seen.insert(*k))
            .map(|(k, a, s, dur, cpu, gpu, mem)| Job {
                key: k.to_string(),
                account: ["alpha", "beta", "gamma"][a].into(),
                start: base + s,
                end: Some(base + s + dur),
                q: [
                    cpu.map(Decimal::from),
                    gpu.map(Decimal::from),
                    mem.map(|k| Decimal::from(k) / Decimal::from(1024)),
                ],
            })
            .collect()
    })
}

proptest! {
    /// Regression (found by the peer comparison, issue 9): 24,984,152,064 MiB-seconds is
    /// exactly 6777.385 GiB-hours, a true half-cent tie. Dividing each user's share by the unit
    /// before adding them cut every share at 28 digits and rounded the cell up to 6777.39.
    #[test]
    fn a_true_half_cent_tie_rounds_half_even_however_the_users_split_it(cuts in prop::collection::vec(1u64..24_984_152_064, 0..8)) {
        let total: u64 = 24_984_152_064;
        let mut points = cuts.clone();
        points.push(0);
        points.push(total);
        points.sort_unstable();
        points.dedup();
        let mut o = opts("2026-11", "2026-11", "2026-12-01T00:00:00Z");
        o.rules.retain(|r| r.component == "ram");
        let mut agg = Aggregator::new(o);
        let s = t("2026-11-02T00:00:00Z");
        for (i, w) in points.windows(2).enumerate() {
            let user = format!("u{i}");
            // One second of (w[1] - w[0]) MiB each: the cell sums to `total` MiB-seconds.
            let key = i.to_string();
            agg.record(&user_share(
                &key,
                &user,
                s,
                s + 1,
                &[Some(Decimal::from(w[1] - w[0]))],
            ));
        }
        let c = agg.finish().unwrap();
        prop_assert_eq!(c.usages[0].amount.to_string(), "6777.38");
        let shares: Decimal = c.user_usages.iter().map(|u| u.amount).sum();
        prop_assert_eq!(shares.to_string(), "6777.38");
    }

    #[test]
    fn per_user_shares_always_sum_to_the_rounded_total(parts in prop::collection::vec(0u64..10_000_000, 1..12), scale in 0u32..7) {
        let parts: Vec<Decimal> = parts.into_iter().map(|p| Decimal::new(p as i64, scale)).collect();
        let total = tally_model::round_amount(parts.iter().copied().sum());
        let shares = split_exactly(total, &parts);
        prop_assert_eq!(shares.iter().copied().sum::<Decimal>(), total);
        for (share, exact) in shares.iter().zip(&parts) {
            // Nobody is moved by a cent or more from their exact amount.
            prop_assert!((*share - *exact).abs() < Decimal::new(1, 2));
            prop_assert!(share.scale() == 2);
        }
    }

    #[test]
    fn order_and_chunking_of_input_never_change_totals(jobs in arb_jobs(), seed in any::<u64>(), cut in 0usize..60) {
        let o = || opts("2026-07", "2027-01", "2027-02-01T00:00:00Z");
        let reference = collect(o(), &jobs);
        let mut shuffled = jobs.clone();
        // A deterministic shuffle from the seed.
        let n = shuffled.len();
        for i in (1..n).rev() {
            let j = (seed.wrapping_mul(6364136223846793005).wrapping_add(i as u64) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        // Two "files" fed one after the other into one aggregator.
        let cut = cut.min(n);
        let mut agg = Aggregator::new(o());
        feed(&mut agg, &shuffled[..cut]);
        feed(&mut agg, &shuffled[cut..]);
        let got: Vec<_> = agg.finish().unwrap().usages.into_iter()
            .map(|c| (c.resource, c.period.to_string(), c.component, c.amount.to_string())).collect();
        prop_assert_eq!(got, reference);
    }

    #[test]
    fn splitting_the_month_range_into_several_runs_never_changes_a_total(jobs in arb_jobs(), split in 0u32..6) {
        let whole = collect(opts("2026-07", "2027-01", "2027-02-01T00:00:00Z"), &jobs);
        let mid = (1..=split).fold(m("2026-07"), |m, _| m.next());
        let first = collect(opts("2026-07", &mid.to_string(), "2027-02-01T00:00:00Z"), &jobs);
        let second = collect(opts(&mid.next().to_string(), "2027-01", "2027-02-01T00:00:00Z"), &jobs);
        let mut joined = first;
        joined.extend(second);
        joined.sort();
        prop_assert_eq!(joined, whole);
    }

    #[test]
    fn period_splitting_conserves_the_job_total(start in 0i64..(90 * 86_400), dur in 0i64..(70 * 86_400), cpu in 1u32..128) {
        // The sum over months of the exact (unrounded) usage equals cpu x duration: checked
        // through a unit of one second, where every cell is an integer and rounding is exact.
        let base = t("2026-08-01T00:00:00Z");
        let mut o = opts("2026-07", "2027-01", "2027-06-01T00:00:00Z");
        o.rules.truncate(1);
        o.rules[0].unit_seconds = 1;
        o.billing_timezone = "Europe/Amsterdam".parse().unwrap();
        let j = Job { key: "1".into(), account: "a".into(), start: base + start, end: Some(base + start + dur), q: [Some(Decimal::from(cpu)), None, None] };
        let cells = collect(o, &[j]);
        let total: Decimal = cells.iter().map(|c| d(&c.3)).sum();
        prop_assert_eq!(total, Decimal::from(cpu) * Decimal::from(dur));
    }
}

fn one_job(agg: &mut Aggregator, key: &str, user: &str, q: Decimal, start: i64, end: i64) {
    agg.record(&record(key, "acct", user, start, Some(end), &[Some(q)], 1));
}

/// Issue 15: a sum past what a `Decimal` holds panicked (`Multiplication overflowed`, exit
/// 101). Sources now refuse such quantities, and the aggregator checks every sum anyway: an
/// overflow is an error naming the cell.
#[test]
fn a_sum_past_decimal_max_is_an_error_naming_the_cell_not_a_panic() {
    let mut o = opts("2026-10", "2026-10", "2026-11-01T00:00:00Z");
    o.rules.retain(|r| r.component == "cpu");
    let mut agg = Aggregator::new(o);
    let s = t("2026-10-01T00:00:00Z");
    one_job(&mut agg, "1", "u", Decimal::MAX, s, s + 3600);
    one_job(&mut agg, "2", "u", Decimal::MAX, s, s + 3600);
    let err = agg.finish().unwrap_err();
    assert_eq!(
        err,
        AggregateError::Overflow {
            resource: "acct".into(),
            period: m("2026-10"),
            what: "cpu".into(),
        }
    );
    assert!(err.to_string().contains("acct in 2026-10 (cpu)"), "{err}");
}

/// A cell Waldur cannot store (`Decimal(20, 2)`: below 10^18) is an error naming it, not a
/// figure Waldur would reject or truncate: the largest count a job may hold, a month, in
/// seconds, times the largest factor.
#[test]
fn a_cell_beyond_what_waldur_stores_is_an_error_naming_it() {
    let mut o = opts("2026-10", "2026-10", "2026-11-01T00:00:00Z");
    o.rules = vec![ComponentRule {
        component: "cpu".into(),
        tres: "cpu".into(),
        unit_seconds: 1,
        factor: tally_model::bounds::MAX_FACTOR,
    }];
    let mut agg = Aggregator::new(o);
    let s = t("2026-10-01T00:00:00Z");
    one_job(
        &mut agg,
        "1",
        "u",
        tally_model::bounds::MAX_COUNT,
        s,
        t("2026-11-01T00:00:00Z"),
    );
    match agg.finish().unwrap_err() {
        AggregateError::TooLarge {
            resource,
            period,
            component,
            ..
        } => assert_eq!(
            (resource.as_str(), period, component.as_str()),
            ("acct", m("2026-10"), "cpu")
        ),
        other => panic!("{other}"),
    }
}

proptest! {
    /// Issue 15: the users' shares of an enormous cell must add up to it exactly, to the
    /// cent, up to the largest cell Waldur stores.
    #[test]
    fn users_shares_of_an_enormous_cell_add_up_to_it(
        quantities in prop::collection::vec(0u64..=1_000_000_000, 1..12),
        factor in prop::sample::select(vec!["1", "7", "0.0009765625", "0.3333333333333", "9.99"]),
        seconds in 1i64..2_678_400,
    ) {
        let mut o = opts("2026-10", "2026-10", "2026-11-01T00:00:00Z");
        o.rules = vec![ComponentRule {
            component: "cpu".into(),
            tres: "cpu".into(),
            unit_seconds: 1,
            factor: d(factor),
        }];
        let mut agg = Aggregator::new(o);
        let s = t("2026-10-01T00:00:00Z");
        for (i, q) in quantities.iter().enumerate() {
            one_job(&mut agg, &i.to_string(), &format!("u{i}"), Decimal::from(*q), s, s + seconds);
        }
        let c = agg.finish().unwrap();
        prop_assert!(c.records.accounted() == c.records.jobs);
        if let Some(cell) = c.usages.first() {
            let shares: Decimal = c.user_usages.iter().map(|u| u.amount).sum();
            prop_assert_eq!(shares, cell.amount);
            prop_assert!(c.user_usages.iter().all(|u| u.amount.scale() == 2));
        }
    }
}

proptest! {
    /// Issue 22: with the breakdown off, users are not told apart at all (one row per resource
    /// and month); the cells must be the same as with it on, and with it on every cell's
    /// users add up to the cell, to the cent, across accounts, months and TRES.
    #[test]
    fn the_breakdown_never_changes_a_cell_and_always_adds_up_to_it(jobs in arb_jobs(), users in 1u32..5) {
        let run = |user_usage: bool| {
            let mut o = opts("2026-07", "2027-01", "2027-02-01T00:00:00Z");
            o.user_usage = user_usage;
            let mut agg = Aggregator::new(o);
            for (i, j) in jobs.iter().enumerate() {
                let user = format!("u{}", i as u32 % users);
                agg.record(&j.record(&user, i as u64 + 2));
            }
            agg.finish().unwrap()
        };
        let on = run(true);
        let off = run(false);
        prop_assert_eq!(&on.usages, &off.usages);
        prop_assert!(off.user_usages.is_empty());
        for cell in &on.usages {
            let shares: Decimal = on
                .user_usages
                .iter()
                .filter(|u| (&*u.resource, u.period, &*u.component) == (cell.resource.as_str(), cell.period, cell.component.as_str()))
                .map(|u| u.amount)
                .sum();
            prop_assert_eq!(shares, cell.amount);
        }
    }
}

/// Issue 22: the final sums run on two threads (rows split by who is billed, merged into the
/// order of one pass). Whatever the number of threads, the collection is the same, to the
/// last field: cells, per-user cells, counts, unmapped accounts; and an overflow is the same
/// error.
fn finish_on(threads: usize, o: &AggregateOptions, jobs: &[(Job, &str)]) -> String {
    let mut agg = Aggregator::new(o.clone());
    agg.sum_on_threads(threads);
    for (i, (j, user)) in jobs.iter().enumerate() {
        agg.record(&j.record(user, i as u64 + 1));
    }
    format!("{:?}", agg.finish())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn summing_on_several_threads_gives_the_sequential_collection(
        jobs in arb_jobs(),
        users in prop::collection::vec(0usize..6, 60),
        huge in prop::option::of(0usize..60),
        user_usage in any::<bool>(),
    ) {
        let names = ["ann", "bob", "cy", "dee", "", "eve"];
        let mut jobs: Vec<(Job, &str)> = jobs
            .into_iter()
            .zip(&users)
            .map(|(j, &u)| (j, names[u]))
            .collect();
        // Sometimes sums past what a Decimal holds (cpu), or quantities that leave an i128
        // beside the fractions of other memory sizes (mem): the same error must come out.
        if let Some(h) = huge {
            for (n, (j, _)) in jobs.iter_mut().skip(h % 7).step_by(3).enumerate() {
                j.q[n % 3 / 2 * 2] = Some(Decimal::MAX);
            }
        }
        let mut o = opts("2026-08", "2026-10", "2026-10-20T00:00:00Z");
        o.user_usage = user_usage;
        o.mapping.table.insert("alpha".into(), "res-a".into());
        o.mapping.table.insert("beta".into(), "res-a".into());
        o.mapping.unlisted = UnlistedAccounts::Unmapped;
        let sequential = finish_on(1, &o, &jobs);
        prop_assert_eq!(&finish_on(2, &o, &jobs), &sequential);
        prop_assert_eq!(&finish_on(3, &o, &jobs), &sequential);
    }
}
