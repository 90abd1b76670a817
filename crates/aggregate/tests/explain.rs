//! `tally explain` (issue 18): the rows of an explanation add up to the cell `collect` prints,
//! exactly in TRES-seconds and to the cent in amount, for random jobs (duplicates, running jobs,
//! Univa milliseconds, amount rows), months and `--as-of` instants.

mod common;

use std::collections::BTreeMap;

use chrono::DateTime;
use chrono_tz::Tz;
use common::{cpu_gpu_ram_rules as rules, d, record, t};
use proptest::prelude::*;
use rust_decimal::Decimal;
use tally_aggregate::explain::RowKind;
use tally_aggregate::*;
use tally_model::{round_amount, BillingMonth, MonthRange};
use tally_sources::{AmountRecord, AmountWhen, JobRecord, Millis, RecordSink};

const ACCOUNTS: [&str; 4] = ["alpha", "beta", "gamma", "delta"];
const USERS: [&str; 4] = ["ann", "bob", "", "cy"];

/// One input record: a job (possibly a duplicate of another key) or an amount row.
#[derive(Clone, Debug)]
enum Input {
    Job {
        key: u32,
        account: usize,
        user: usize,
        start: i64,
        end: Option<i64>,
        millis: Option<(u16, u16)>,
        q: [Option<Decimal>; 3],
        file: u32,
    },
    Amount {
        key: Option<u32>,
        account: usize,
        user: usize,
        at: i64,
        amount: Decimal,
    },
}

fn arb_inputs() -> impl Strategy<Value = Vec<Input>> {
    let base = t("2026-08-15T00:00:00Z");
    let job = (
        0u32..30,
        0usize..4,
        0usize..4,
        0i64..(120 * 86_400),
        prop::option::of(0i64..(50 * 86_400)),
        prop::option::of((0u16..1000, 0u16..1000)),
        prop::option::of(1u32..64),
        prop::option::of(1u32..4),
        prop::option::of(0u32..300_000),
        0u32..2,
    )
        .prop_map(
            move |(key, account, user, s, dur, millis, cpu, gpu, mem, file)| Input::Job {
                key,
                account,
                user,
                start: base + s,
                end: dur.map(|d| base + s + d),
                millis,
                q: [
                    cpu.map(Decimal::from),
                    gpu.map(Decimal::from),
                    mem.map(|k| Decimal::from(k) / Decimal::from(1024)),
                ],
                file,
            },
        );
    let amount = (
        prop::option::of(0u32..5),
        0usize..4,
        0usize..4,
        0i64..(120 * 86_400),
        1i64..100_000,
    )
        .prop_map(move |(key, account, user, at, cents)| Input::Amount {
            key,
            account,
            user,
            at: base + at,
            amount: Decimal::new(cents, 3),
        });
    prop::collection::vec(prop_oneof![8 => job, 1 => amount], 0..50)
}

/// Reads the inputs into a fresh aggregator over `range`, explaining `target` if given.
fn aggregate(
    inputs: &[Input],
    range: MonthRange,
    as_of: i64,
    user_usage: bool,
    target: Option<ExplainTarget>,
) -> (Collection, Option<Explanation>) {
    let mut table = BTreeMap::new();
    // Two accounts billed to one resource, one unmapped, the rest themselves.
    table.insert("beta".to_owned(), "alpha".to_owned());
    let mut agg = Aggregator::new(AggregateOptions {
        billing_timezone: Tz::UTC,
        rules: rules(),
        mapping: AccountMapping {
            table,
            unlisted: UnlistedAccounts::Identity,
        },
        range,
        as_of: DateTime::from_timestamp(as_of, 0).unwrap(),
        keep_invalid: 10,
        user_usage,
    });
    if let Some(target) = target {
        agg.explain(target);
    }
    for (line, input) in inputs.iter().enumerate() {
        match input {
            Input::Job {
                key,
                account,
                user,
                start,
                end,
                millis,
                q,
                file,
            } => {
                let key = key.to_string();
                let r = JobRecord {
                    file_index: *file,
                    ..record(
                        &key,
                        ACCOUNTS[*account],
                        USERS[*user],
                        *start,
                        *end,
                        q,
                        line as u64 + 1,
                    )
                };
                match millis {
                    Some((a, b)) => agg.record_millis(&r, Millis { start: *a, end: *b }),
                    None => agg.record(&r),
                }
            }
            Input::Amount {
                key,
                account,
                user,
                at,
                amount,
            } => {
                let key = key.map(|k| format!("k{k}"));
                agg.amount(&AmountRecord {
                    key: key.as_deref(),
                    account: ACCOUNTS[*account],
                    user: USERS[*user],
                    component: "cpu",
                    amount: *amount,
                    when: AmountWhen::At(*at),
                    file_index: 2,
                    line: line as u64 + 1,
                });
            }
        }
    }
    agg.finish_explained().unwrap()
}

fn target(resource: &str, month: BillingMonth, user: Option<&str>) -> ExplainTarget {
    ExplainTarget {
        resource: resource.into(),
        month,
        component: None,
        user: user.map(Into::into),
        files: vec!["a.txt".into(), "b.txt".into(), "amounts.csv".into()],
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    #[test]
    fn explanations_add_up_to_the_cells_collect_prints(
        inputs in arb_inputs(),
        month_index in 0u32..6,
        as_of_offset in 0i64..(200 * 86_400),
    ) {
        let as_of = t("2026-08-01T00:00:00Z") + as_of_offset;
        let month = (0..month_index).fold("2026-08".parse::<BillingMonth>().unwrap(), |m, _| m.next());
        // What `collect` prints over a wide window, with and without the breakdown.
        let wide = MonthRange::new("2026-07".parse().unwrap(), "2027-02".parse().unwrap()).unwrap();
        let (plain, _) = aggregate(&inputs, wide, as_of, true, None);
        let (plain_without_users, _) = aggregate(&inputs, wide, as_of, false, None);
        prop_assert_eq!(&plain.usages, &plain_without_users.usages);
        for resource in ["alpha", "gamma", "delta"] {
            let (explained, e) =
                aggregate(&inputs, MonthRange::single(month), as_of, false, Some(target(resource, month, None)));
            let e = e.unwrap();
            // Explaining changes nothing in what the collection reports.
            let plain_month: Vec<_> = plain.usages.iter().filter(|c| c.period == month).cloned().collect();
            prop_assert_eq!(&explained.usages, &plain_month);
            let cells: BTreeMap<&str, Decimal> = plain_month
                .iter()
                .filter(|c| c.resource == resource)
                .map(|c| (c.component.as_str(), c.amount))
                .collect();
            let explained_cells: BTreeMap<&str, Decimal> =
                e.totals.iter().map(|(c, t)| (c.as_str(), t.amount)).collect();
            prop_assert_eq!(&explained_cells, &cells, "{} {}", resource, month);
            for (c, total) in &e.totals {
                let rows_tres: Decimal = e.rows.iter().filter_map(|r| r.tres_seconds.get(c)).sum();
                let rows_amounts: Decimal = e
                    .rows
                    .iter()
                    .filter(|r| r.kind == RowKind::Amount)
                    .filter_map(|r| r.contributions.get(c))
                    .sum();
                prop_assert_eq!(rows_tres, total.tres_seconds.unwrap_or_default());
                prop_assert_eq!(rows_amounts, total.amount_rows.unwrap_or_default());
                prop_assert_eq!(round_amount(total.exact), total.amount);
                // The one division, as tally makes it: factor first, then the unit.
                let rule = rules().into_iter().find(|r| &r.component == c).unwrap();
                let divided = rows_tres * rule.factor / Decimal::from(rule.unit_seconds);
                prop_assert_eq!(round_amount(divided + rows_amounts), total.amount);
                // Every job row's part lies inside the month and --as-of.
                for r in e.rows.iter().filter(|r| r.kind == RowKind::Job) {
                    let from = t(r.counted_from.as_deref().unwrap());
                    let to = t(r.counted_to.as_deref().unwrap());
                    prop_assert!(month.start(Tz::UTC).timestamp() <= from && to <= month.end(Tz::UTC).timestamp());
                    prop_assert!(to <= as_of);
                }
            }
            // Per user: the users' amounts are collect's split, and add up to the cell.
            for (c, amount) in &cells {
                let users: BTreeMap<&str, Decimal> = e
                    .users
                    .iter()
                    .filter_map(|u| u.components.get(*c).map(|t| (u.user.as_str(), t.amount)))
                    .collect();
                let collect_users: BTreeMap<&str, Decimal> = plain
                    .user_usages
                    .iter()
                    .filter(|u| &*u.resource == resource && u.period == month && &*u.component == *c)
                    .map(|u| (&*u.user, u.amount))
                    .collect();
                prop_assert_eq!(&users, &collect_users);
                prop_assert_eq!(users.values().copied().sum::<Decimal>(), *amount);
            }
            // `--user`: the user's rows add up to the user's share.
            for u in &e.users {
                let (_, mine) = aggregate(
                    &inputs,
                    MonthRange::single(month),
                    as_of,
                    false,
                    Some(target(resource, month, Some(&u.user))),
                );
                let mine = mine.unwrap();
                prop_assert!(mine.rows.iter().all(|r| r.user == u.user));
                for (c, total) in &mine.totals {
                    prop_assert_eq!(total, &u.components[c]);
                    let rows_tres: Decimal = mine.rows.iter().filter_map(|r| r.tres_seconds.get(c)).sum();
                    prop_assert_eq!(rows_tres, total.tres_seconds.unwrap_or_default());
                }
            }
        }
    }
}

/// A job spanning a month boundary: its parts in the two months add up to its whole run.
#[test]
fn a_job_across_a_month_boundary_is_explained_in_both_months_and_the_parts_add_up() {
    let inputs = vec![Input::Job {
        key: 7,
        account: 0,
        user: 0,
        start: t("2026-09-30T20:00:00Z"),
        end: Some(t("2026-10-01T02:30:00Z")),
        millis: None,
        q: [Some(Decimal::from(4)), None, None],
        file: 0,
    }];
    let as_of = t("2026-12-01T00:00:00Z");
    let part = |m: &str| {
        let month: BillingMonth = m.parse().unwrap();
        let (_, e) = aggregate(
            &inputs,
            MonthRange::single(month),
            as_of,
            false,
            Some(target("alpha", month, None)),
        );
        let e = e.unwrap();
        assert_eq!(e.rows.len(), 1, "{m}");
        e.rows[0].clone()
    };
    let (sep, oct) = (part("2026-09"), part("2026-10"));
    assert_eq!(sep.seconds, Decimal::from(4 * 3600));
    assert_eq!(oct.seconds, Decimal::from(2 * 3600 + 1800));
    assert_eq!(sep.seconds + oct.seconds, Decimal::from(6 * 3600 + 1800));
    assert_eq!(sep.cut_end, Some(explain::Cut::MonthEnd));
    assert_eq!(oct.cut_start, Some(explain::Cut::MonthStart));
    assert_eq!(
        sep.tres_seconds["cpu"] + oct.tres_seconds["cpu"],
        Decimal::from(4 * (6 * 3600 + 1800))
    );
}

/// A job in two dumps counts once; the other record is named under duplicates with the one kept.
#[test]
fn a_job_in_two_dumps_is_one_row_and_the_other_record_is_a_named_duplicate() {
    let job = |end: &str, file: u32| Input::Job {
        key: 3,
        account: 0,
        user: 1,
        start: t("2026-10-02T00:00:00Z"),
        end: Some(t(end)),
        millis: None,
        q: [Some(Decimal::from(2)), None, None],
        file,
    };
    // The later dump has the job finished later (a dump taken while it ran, then a later one).
    let inputs = vec![
        job("2026-10-02T01:00:00Z", 0),
        job("2026-10-02T03:00:00Z", 1),
    ];
    let month: BillingMonth = "2026-10".parse().unwrap();
    let (c, e) = aggregate(
        &inputs,
        MonthRange::single(month),
        t("2026-11-01T00:00:00Z"),
        false,
        Some(target("alpha", month, None)),
    );
    let e = e.unwrap();
    assert_eq!(e.rows.len(), 1);
    assert_eq!(e.rows[0].origin.to_string(), "b.txt:2");
    assert_eq!(e.not_counted.duplicates.count, 1);
    let dup = &e.not_counted.duplicates.examples[0];
    assert_eq!(dup.origin.to_string(), "a.txt:1");
    assert_eq!(dup.kept.as_ref().unwrap().to_string(), "b.txt:2");
    assert_eq!(c.records.duplicates, 1);
    assert_eq!(e.totals["cpu"].amount, d("6.00"));
}

/// A running job is cut at `--as-of`, and one that starts after it is listed, not counted.
#[test]
fn running_jobs_are_cut_at_as_of_and_later_ones_are_listed_as_after_as_of() {
    let inputs = vec![
        Input::Job {
            key: 1,
            account: 2,
            user: 0,
            start: t("2026-10-10T00:00:00Z"),
            end: None,
            millis: None,
            q: [Some(Decimal::from(1)), None, None],
            file: 0,
        },
        Input::Job {
            key: 2,
            account: 2,
            user: 0,
            start: t("2026-10-20T00:00:00Z"),
            end: Some(t("2026-10-21T00:00:00Z")),
            millis: None,
            q: [Some(Decimal::from(1)), None, None],
            file: 0,
        },
    ];
    let month: BillingMonth = "2026-10".parse().unwrap();
    let (_, e) = aggregate(
        &inputs,
        MonthRange::single(month),
        t("2026-10-15T00:00:00Z"),
        false,
        Some(target("gamma", month, None)),
    );
    let e = e.unwrap();
    assert_eq!(e.rows.len(), 1);
    assert_eq!(e.rows[0].cut_end, Some(explain::Cut::AsOf));
    assert_eq!(e.rows[0].seconds, Decimal::from(5 * 86_400));
    assert_eq!(e.not_counted.after_as_of.count, 1);
    assert_eq!(e.not_counted.after_as_of.examples[0].job, "2");
    assert_eq!(e.totals["cpu"].amount, d("120.00"));
}
