//! tally-check: every difference between what tally computes and what Waldur holds.
//!
//! The comparison ([`compare`]) is a pure function over the same inputs `push` plans from, so
//! "push then check" can only disagree when the server does not hold what it accepted, someone
//! else wrote the same figures, or a report was refused. Reading ([`read_and_compare`]) is push's
//! (tally-holdings): one resource listing and one usage listing per month (plus one per-user
//! listing per month when the per-user breakdown is compared), and the same owned cells.

pub mod invoicing;

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use tally_holdings::{
    gather, Holdings, MappingReach, Ownership, OwnershipInput, OwnershipMode, UserHoldings,
    WaldurResource,
};
use tally_model::{BillingMonth, UsageCell, UserUsageCell};
use tally_waldur::{Error, ResourceState, WaldurClient};
use uuid::Uuid;

/// The cell a difference is about: as tally names it (backend_id) and as Waldur holds it
/// (`resource`; `Option<Uuid>` where the backend_id may resolve to none). In JSON its fields
/// come first, beside the difference's own.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DifferenceCell<R = Uuid> {
    pub backend_id: String,
    pub resource: R,
    pub month: BillingMonth,
    pub component: String,
}

impl<R> DifferenceCell<R> {
    /// `(backend_id, month, component)`, the order differences are listed in.
    pub fn key(&self) -> (&str, BillingMonth, &str) {
        (&self.backend_id, self.month, &self.component)
    }

    /// The cell of tally's figure `cell`, on `resource`.
    fn of(cell: &UsageCell, resource: R) -> Self {
        DifferenceCell {
            backend_id: cell.resource.clone(),
            resource,
            month: cell.period,
            component: cell.component.clone(),
        }
    }
}

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// Tally computed a figure that Waldur does not hold (also when the backend_id resolves to no
    /// resource: `resource` is then `None`).
    Missing {
        #[serde(flatten)]
        cell: DifferenceCell<Option<Uuid>>,
        expected: Decimal,
    },
    /// Waldur holds another amount.
    Different {
        #[serde(flatten)]
        cell: DifferenceCell,
        expected: Decimal,
        held: Decimal,
    },
    /// Waldur holds non-zero usage of a component tally reports, for a resource and month where
    /// tally computed none (a held 0.00 counts as nothing held).
    Unexpected {
        #[serde(flatten)]
        cell: DifferenceCell,
        held: Decimal,
    },
}

impl Difference {
    /// `(backend_id, month, component)`, the order differences are listed in.
    pub fn key(&self) -> (&str, BillingMonth, &str) {
        match self {
            Difference::Missing { cell, .. } => cell.key(),
            Difference::Different { cell, .. } | Difference::Unexpected { cell, .. } => cell.key(),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Difference::Missing { .. } => "missing",
            Difference::Different { .. } => "different",
            Difference::Unexpected { .. } => "unexpected",
        }
    }
}

/// One disagreement about one user's share of a cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum UserDifference {
    /// Tally has a share for this user that Waldur does not hold (reported only where Waldur
    /// holds the cell's total: a missing cell is already a [`Difference::Missing`]).
    Missing {
        #[serde(flatten)]
        cell: DifferenceCell,
        user: String,
        expected: Decimal,
    },
    /// Waldur holds another amount for the user.
    Different {
        #[serde(flatten)]
        cell: DifferenceCell,
        user: String,
        expected: Decimal,
        held: Decimal,
    },
    /// Waldur holds a non-zero share for a user tally has none for (of a component tally
    /// reports, in a month checked).
    Unexpected {
        #[serde(flatten)]
        cell: DifferenceCell,
        user: String,
        held: Decimal,
    },
}

impl UserDifference {
    /// `(backend_id, month, component, user)`, the order differences are listed in.
    pub fn key(&self) -> (&str, BillingMonth, &str, &str) {
        let (UserDifference::Missing { cell, user, .. }
        | UserDifference::Different { cell, user, .. }
        | UserDifference::Unexpected { cell, user, .. }) = self;
        let (backend_id, month, component) = cell.key();
        (backend_id, month, component, user)
    }

    pub fn kind(&self) -> &'static str {
        match self {
            UserDifference::Missing { .. } => "missing",
            UserDifference::Different { .. } => "different",
            UserDifference::Unexpected { .. } => "unexpected",
        }
    }
}

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub months: Vec<BillingMonth>,
    /// Cells whose amount Waldur holds exactly.
    pub agreeing: u64,
    pub differences: Vec<Difference>,
    /// Whether the per-user breakdown was compared (`user_usage = true` and users in the data).
    pub users_compared: bool,
    /// User shares Waldur holds exactly.
    pub agreeing_users: u64,
    pub user_differences: Vec<UserDifference>,
    /// "Will it be invoiced?" ([`invoicing::assess`]): errors are differences, warnings
    /// (a price of 0.00) are shown only. Empty when not assessed. In JSON each carries its
    /// `kind`, `severity`, `fix_at` and `advice`.
    #[serde(serialize_with = "invoicing::serialize_findings")]
    pub invoicing: Vec<invoicing::InvoicingFinding>,
    /// Whether invoice items were compared, and if not why (what the token may read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_items: Option<String>,
}

impl CheckReport {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
            && self.user_differences.is_empty()
            && self
                .invoicing
                .iter()
                .all(|f| f.severity() == invoicing::Severity::Warning)
    }

    pub fn count(&self, kind: &str) -> usize {
        self.differences.iter().filter(|d| d.kind() == kind).count()
    }

    pub fn count_users(&self, kind: &str) -> usize {
        self.user_differences
            .iter()
            .filter(|d| d.kind() == kind)
            .count()
    }
}

/// The per-user side of a comparison.
#[derive(Debug, Clone, Copy)]
pub struct UserCheckInput<'a> {
    pub cells: &'a [UserUsageCell],
    pub held: &'a UserHoldings,
}

/// What a comparison needs.
#[derive(Debug, Clone, Copy)]
pub struct CheckInput<'a> {
    pub cells: &'a [UsageCell],
    pub resources: &'a [WaldurResource],
    pub holdings: &'a Holdings,
    /// Months compared (holdings outside them are ignored).
    pub months: &'a BTreeSet<BillingMonth>,
    /// Components tally reports; usage of other components is someone else's business.
    pub components: &'a BTreeSet<String>,
    /// `None`: the per-user breakdown is not compared (`user_usage = false`).
    pub users: Option<UserCheckInput<'a>>,
    /// The cells tally owns (push's [`tally_holdings::ownership`]): usage Waldur holds elsewhere is
    /// another reporter's and not "unexpected". `None`: every resource of the offering.
    pub owned: Option<&'a Ownership>,
}

impl CheckInput<'_> {
    /// Whether held usage tally computes nothing for is tally's business.
    fn owns(&self, resource: Uuid, month: BillingMonth, component: &str) -> bool {
        self.months.contains(&month)
            && self.components.contains(component)
            && self
                .owned
                .is_none_or(|o| o.owns(resource, month, component))
    }
}

/// How [`read_and_compare`] decides which cells tally owns (as push does).
#[derive(Debug, Clone, Copy)]
pub struct OwnershipRule<'a> {
    pub mode: OwnershipMode,
    pub reach: &'a MappingReach,
    /// (resource, month) pairs the ledger shows a delivered report for.
    pub written: &'a BTreeSet<(Uuid, BillingMonth)>,
}

/// The resource a backend_id means: the one that accepts usage, else the only one.
fn resolve<'a>(all: &[&'a WaldurResource]) -> Option<&'a WaldurResource> {
    let accepting: Vec<&&WaldurResource> = all
        .iter()
        .filter(|r| r.state.as_ref().is_some_and(ResourceState::accepts_usage))
        .collect();
    match (accepting.as_slice(), all) {
        ([one], _) => Some(**one),
        ([], [only]) => Some(*only),
        _ => None,
    }
}

/// Compares. Deterministic; differences sorted by backend_id, month, component.
pub fn compare(input: &CheckInput<'_>) -> CheckReport {
    let mut by_backend: BTreeMap<&str, Vec<&WaldurResource>> = BTreeMap::new();
    for r in input.resources {
        if !r.backend_id.is_empty() {
            by_backend.entry(&r.backend_id).or_default().push(r);
        }
    }
    let backend_of: BTreeMap<Uuid, &str> = input
        .resources
        .iter()
        .map(|r| (r.uuid, r.backend_id.as_str()))
        .collect();
    let mut report = CheckReport {
        months: input.months.iter().copied().collect(),
        ..CheckReport::default()
    };
    let mut matched: BTreeSet<(Uuid, BillingMonth, &str)> = BTreeSet::new();
    for cell in input.cells {
        if !input.months.contains(&cell.period) {
            continue;
        }
        let resource = by_backend
            .get(cell.resource.as_str())
            .and_then(|all| resolve(all));
        let Some(resource) = resource else {
            report.differences.push(Difference::Missing {
                cell: DifferenceCell::of(cell, None),
                expected: cell.amount,
            });
            continue;
        };
        matched.insert((resource.uuid, cell.period, &cell.component));
        match input
            .holdings
            .get(&(resource.uuid, cell.period, cell.component.clone()))
        {
            // 0.00 held and nothing held are the same to an invoice.
            None if cell.amount.is_zero() => report.agreeing += 1,
            None => report.differences.push(Difference::Missing {
                cell: DifferenceCell::of(cell, Some(resource.uuid)),
                expected: cell.amount,
            }),
            Some(held) if *held == cell.amount => report.agreeing += 1,
            Some(held) => report.differences.push(Difference::Different {
                cell: DifferenceCell::of(cell, resource.uuid),
                expected: cell.amount,
                held: *held,
            }),
        }
    }
    for ((uuid, month, component), held) in input.holdings {
        // A held 0.00 is nothing held: it is what tally sets a cell to when it no longer
        // computes it.
        if held.is_zero()
            || !input.owns(*uuid, *month, component)
            || matched.contains(&(*uuid, *month, component.as_str()))
        {
            continue;
        }
        report.differences.push(Difference::Unexpected {
            cell: held_cell(&backend_of, *uuid, *month, component),
            held: *held,
        });
    }
    report
        .differences
        .sort_by(|a, b| a.key().cmp(&b.key()).then(a.kind().cmp(b.kind())));
    if let Some(users) = &input.users {
        compare_users(input, users, &by_backend, &backend_of, &mut report);
    }
    report
}

/// The cell of usage Waldur holds on `resource`, named by the resource's backend_id ("" when it
/// has none).
fn held_cell(
    backend_of: &BTreeMap<Uuid, &str>,
    resource: Uuid,
    month: BillingMonth,
    component: &str,
) -> DifferenceCell {
    DifferenceCell {
        backend_id: backend_of
            .get(&resource)
            .map(|b| (*b).to_owned())
            .unwrap_or_default(),
        resource,
        month,
        component: component.to_owned(),
    }
}

/// The per-user comparison, for the cells Waldur holds a total for.
fn compare_users(
    input: &CheckInput<'_>,
    users: &UserCheckInput<'_>,
    by_backend: &BTreeMap<&str, Vec<&WaldurResource>>,
    backend_of: &BTreeMap<Uuid, &str>,
    report: &mut CheckReport,
) {
    report.users_compared = true;
    let empty = BTreeMap::new();
    let mut ours: BTreeSet<(Uuid, BillingMonth, &str, &str)> = BTreeSet::new();
    for u in users.cells {
        if !input.months.contains(&u.period) {
            continue;
        }
        let Some(resource) = by_backend.get(&*u.resource).and_then(|all| resolve(all)) else {
            continue;
        };
        let key = (resource.uuid, u.period, u.component.to_string());
        ours.insert((resource.uuid, u.period, &*u.component, &*u.user));
        if !input.holdings.contains_key(&key) {
            continue;
        }
        let held = users.held.get(&key).unwrap_or(&empty).get(&*u.user);
        let cell = DifferenceCell {
            backend_id: u.resource.to_string(),
            resource: resource.uuid,
            month: u.period,
            component: u.component.to_string(),
        };
        match held {
            None if u.amount.is_zero() => report.agreeing_users += 1,
            None => report.user_differences.push(UserDifference::Missing {
                cell,
                user: u.user.to_string(),
                expected: u.amount,
            }),
            Some(h) if h.amount == u.amount => report.agreeing_users += 1,
            Some(h) => report.user_differences.push(UserDifference::Different {
                cell,
                user: u.user.to_string(),
                expected: u.amount,
                held: h.amount,
            }),
        }
    }
    for ((uuid, month, component), per_user) in users.held {
        if !input.owns(*uuid, *month, component) {
            continue;
        }
        for (user, h) in per_user {
            if h.amount.is_zero() || ours.contains(&(*uuid, *month, component, user)) {
                continue;
            }
            report.user_differences.push(UserDifference::Unexpected {
                cell: held_cell(backend_of, *uuid, *month, component),
                user: user.clone(),
                held: h.amount,
            });
        }
    }
    report
        .user_differences
        .sort_by(|a, b| a.key().cmp(&b.key()).then(a.kind().cmp(b.kind())));
}

/// Reads the offering's resources and usage for `months` and compares; with `user_cells`, the
/// per-user breakdown too (one more listing per month). With `ownership`, held usage is
/// "unexpected" only on cells tally owns.
pub async fn read_and_compare(
    client: &WaldurClient,
    offering: Uuid,
    cells: &[UsageCell],
    user_cells: Option<&[UserUsageCell]>,
    months: &BTreeSet<BillingMonth>,
    components: &BTreeSet<String>,
    ownership: Option<OwnershipRule<'_>>,
) -> Result<CheckReport, Error> {
    let resources = gather::resources(client, offering).await?;
    let owned = ownership.map(|rule| {
        let window: Vec<UsageCell> = cells
            .iter()
            .filter(|c| months.contains(&c.period))
            .cloned()
            .collect();
        tally_holdings::ownership(&OwnershipInput {
            mode: rule.mode,
            reach: rule.reach,
            resources: &resources,
            cells: &window,
            written: rule.written,
            components,
        })
    });
    let held = gather::held_months(client, offering, months).await?;
    // A month held in several rows (one per plan period) is never compared with one figure:
    // the invoicing assessment judges it row by row (`split_mismatch`).
    let several = tally_holdings::keys_by_backend_id(
        &held.several_rows,
        resources.iter().map(|r| (r.uuid, r.backend_id.as_str())),
    );
    let cells: Vec<UsageCell> = cells
        .iter()
        .filter(|c| !several.contains(&(c.resource.as_str(), c.period, c.component.as_str())))
        .cloned()
        .collect();
    let holdings = held.holdings;
    let cells = &cells[..];
    let user_holdings = match user_cells {
        Some(_) => Some(gather::user_holdings(client, offering, months).await?),
        None => None,
    };
    Ok(compare(&CheckInput {
        cells,
        resources: &resources,
        holdings: &holdings,
        months,
        components,
        users: user_cells
            .zip(user_holdings.as_ref())
            .map(|(cells, held)| UserCheckInput { cells, held }),
        owned: owned.as_ref(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> Decimal {
        Decimal::from_str(s).expect("d")
    }
    fn m(s: &str) -> BillingMonth {
        s.parse().expect("m")
    }
    fn cell(r: &str, p: &str, c: &str, a: &str) -> UsageCell {
        UsageCell {
            resource: r.into(),
            period: m(p),
            component: c.into(),
            amount: d(a),
        }
    }
    /// A resource that accepts usage: `Uuid::from_u128(n)`, named by `backend_id`.
    fn resource(n: u128, backend_id: &str) -> WaldurResource {
        WaldurResource {
            uuid: Uuid::from_u128(n),
            backend_id: backend_id.into(),
            state: Some(ResourceState::Ok),
            name: None,
        }
    }
    fn user_cell(r: &str, p: &str, c: &str, user: &str, a: &str) -> UserUsageCell {
        UserUsageCell {
            resource: r.into(),
            period: m(p),
            component: c.into(),
            user: user.into(),
            amount: d(a),
        }
    }
    /// A user's share Waldur holds, linked to no offering user.
    fn held_user(a: &str) -> tally_holdings::HeldUser {
        tally_holdings::HeldUser {
            amount: d(a),
            user: None,
        }
    }
    /// What Waldur holds: (resource `Uuid::from_u128(n)`, month, component, amount).
    fn holdings(rows: &[(u128, &str, &str, &str)]) -> Holdings {
        rows.iter()
            .map(|(n, month, component, amount)| {
                (
                    (Uuid::from_u128(*n), m(month), component.to_string()),
                    d(amount),
                )
            })
            .collect()
    }
    fn names(all: &[&str]) -> BTreeSet<String> {
        all.iter().map(|c| c.to_string()).collect()
    }
    fn november() -> BTreeSet<BillingMonth> {
        [m("2026-11")].into()
    }

    #[test]
    fn finds_missing_different_and_unexpected() {
        let resources = vec![resource(1, "a"), resource(2, "b")];
        let holdings = holdings(&[
            (1, "2026-11", "cpu", "10"),
            (1, "2026-11", "gpu", "2"),
            (2, "2026-11", "gpu", "7"),
            // Not tally's component, not tally's month: ignored.
            (2, "2026-11", "storage", "7"),
            (2, "2026-09", "gpu", "7"),
        ]);
        let cells = [
            cell("a", "2026-11", "cpu", "10.00"),
            cell("a", "2026-11", "gpu", "3.00"),
            cell("a", "2026-11", "ram", "1.00"),
            cell("zz", "2026-11", "cpu", "1.00"),
        ];
        let months = november();
        let components = names(&["cpu", "gpu", "ram"]);
        let r = compare(&CheckInput {
            cells: &cells,
            resources: &resources,
            holdings: &holdings,
            months: &months,
            components: &components,
            users: None,
            owned: None,
        });
        assert_eq!(r.agreeing, 1);
        let kinds: Vec<(&str, &str, &str)> = r
            .differences
            .iter()
            .map(|x| (x.kind(), x.key().0, x.key().2))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("different", "a", "gpu"),
                ("missing", "a", "ram"),
                ("unexpected", "b", "gpu"),
                ("missing", "zz", "cpu"),
            ]
        );
        assert!(!r.agrees());
        assert_eq!(r.count("missing"), 2);
    }

    #[test]
    fn finds_per_user_differences_where_waldur_holds_the_total() {
        let u1 = Uuid::from_u128(1);
        let resources = vec![resource(1, "a")];
        let holdings = holdings(&[(1, "2026-11", "cpu", "10")]);
        let uc = |c: &str, user: &str, a: &str| user_cell("a", "2026-11", c, user, a);
        let user_cells = [
            uc("cpu", "alice", "6.00"),
            uc("cpu", "bob", "3.00"),
            uc("cpu", "carol", "1.00"),
            // The cell is not held at all: the cell-level difference says it.
            uc("gpu", "alice", "1.00"),
        ];
        let mut held = UserHoldings::new();
        let h = held_user;
        let per = held.entry((u1, m("2026-11"), "cpu".into())).or_default();
        per.insert("alice".into(), h("6"));
        per.insert("bob".into(), h("2"));
        per.insert("dave".into(), h("2"));
        per.insert("erin".into(), h("0"));
        let months = november();
        let components = names(&["cpu", "gpu"]);
        let cells = [cell("a", "2026-11", "cpu", "10.00")];
        let r = compare(&CheckInput {
            cells: &cells,
            resources: &resources,
            holdings: &holdings,
            months: &months,
            components: &components,
            users: Some(UserCheckInput {
                cells: &user_cells,
                held: &held,
            }),
            owned: None,
        });
        assert_eq!((r.agreeing, r.agreeing_users), (1, 1));
        let kinds: Vec<(&str, &str)> = r
            .user_differences
            .iter()
            .map(|x| (x.kind(), x.key().3))
            .collect();
        assert_eq!(
            kinds,
            vec![
                ("different", "bob"),
                ("missing", "carol"),
                ("unexpected", "dave")
            ]
        );
        assert!(!r.agrees());
        assert_eq!(r.count_users("missing"), 1);
    }

    /// Issue 15: tally sets a cell it no longer computes to 0.00; a held 0.00 is nothing held,
    /// for totals and user shares alike, and a computed 0.00 needs nothing held.
    #[test]
    fn a_held_zero_is_nothing_held() {
        let u1 = Uuid::from_u128(1);
        let resources = vec![resource(1, "a")];
        let mut holdings = holdings(&[
            (1, "2026-11", "cpu", "10"),
            // Zeroed by tally: the total and its users.
            (1, "2026-11", "gpu", "0.00"),
        ]);
        let mut held = UserHoldings::new();
        let per = held.entry((u1, m("2026-11"), "gpu".into())).or_default();
        per.insert("alice".into(), held_user("0.00"));
        let cells = [
            cell("a", "2026-11", "cpu", "10.00"),
            // Computed 0.00, nothing held.
            cell("a", "2026-11", "ram", "0.00"),
        ];
        let user_cells = [user_cell("a", "2026-11", "cpu", "bob", "0.00")];
        let months = november();
        let components = names(&["cpu", "gpu", "ram"]);
        let compare_with = |holdings: &Holdings| {
            compare(&CheckInput {
                cells: &cells,
                resources: &resources,
                holdings,
                months: &months,
                components: &components,
                users: Some(UserCheckInput {
                    cells: &user_cells,
                    held: &held,
                }),
                owned: None,
            })
        };
        let r = compare_with(&holdings);
        assert!(r.agrees(), "{:?} {:?}", r.differences, r.user_differences);
        assert_eq!((r.agreeing, r.agreeing_users), (2, 1));
        // One cent is not nothing.
        holdings.insert((u1, m("2026-11"), "gpu".into()), d("0.01"));
        let r = compare_with(&holdings);
        assert_eq!(r.count("unexpected"), 1);
    }

    /// A shared offering: usage on a resource tally does not own is another reporter's.
    #[test]
    fn held_usage_tally_does_not_own_is_not_unexpected() {
        let u1 = Uuid::from_u128(1);
        let resources = vec![resource(1, "a"), resource(2, "b")];
        let holdings = holdings(&[(1, "2026-11", "gpu", "3"), (2, "2026-11", "cpu", "4")]);
        let months = november();
        let components = names(&["cpu", "gpu"]);
        let owned = Ownership {
            resources: [u1].into(),
            resource_months: BTreeSet::new(),
            components: components.clone(),
        };
        let run = |owned: Option<&Ownership>| {
            compare(&CheckInput {
                cells: &[],
                resources: &resources,
                holdings: &holdings,
                months: &months,
                components: &components,
                users: None,
                owned,
            })
        };
        let keys = |r: &CheckReport| -> Vec<String> {
            r.differences.iter().map(|x| x.key().0.to_owned()).collect()
        };
        assert_eq!(keys(&run(None)), vec!["a", "b"]);
        assert_eq!(keys(&run(Some(&owned))), vec!["a"]);
    }

    /// `tally check --format json` lists differences as documented (README): every kind, to
    /// the byte.
    #[test]
    fn the_json_of_every_difference_is_pinned() {
        let r = CheckReport {
            months: vec![m("2026-11")],
            agreeing: 1,
            differences: vec![
                Difference::Missing {
                    cell: DifferenceCell {
                        backend_id: "zz".into(),
                        resource: None,
                        month: m("2026-11"),
                        component: "cpu".into(),
                    },
                    expected: d("1.00"),
                },
                Difference::Missing {
                    cell: DifferenceCell {
                        backend_id: "a".into(),
                        resource: Some(Uuid::from_u128(1)),
                        month: m("2026-11"),
                        component: "ram".into(),
                    },
                    expected: d("1.00"),
                },
                Difference::Different {
                    cell: DifferenceCell {
                        backend_id: "a".into(),
                        resource: Uuid::from_u128(1),
                        month: m("2026-11"),
                        component: "gpu".into(),
                    },
                    expected: d("3.00"),
                    held: d("2"),
                },
                Difference::Unexpected {
                    cell: DifferenceCell {
                        backend_id: "b".into(),
                        resource: Uuid::from_u128(2),
                        month: m("2026-11"),
                        component: "gpu".into(),
                    },
                    held: d("7"),
                },
            ],
            users_compared: true,
            agreeing_users: 1,
            user_differences: vec![
                UserDifference::Missing {
                    cell: DifferenceCell {
                        backend_id: "a".into(),
                        resource: Uuid::from_u128(1),
                        month: m("2026-11"),
                        component: "cpu".into(),
                    },
                    user: "carol".into(),
                    expected: d("1.00"),
                },
                UserDifference::Different {
                    cell: DifferenceCell {
                        backend_id: "a".into(),
                        resource: Uuid::from_u128(1),
                        month: m("2026-11"),
                        component: "cpu".into(),
                    },
                    user: "bob".into(),
                    expected: d("3.00"),
                    held: d("2"),
                },
                UserDifference::Unexpected {
                    cell: DifferenceCell {
                        backend_id: "a".into(),
                        resource: Uuid::from_u128(1),
                        month: m("2026-11"),
                        component: "cpu".into(),
                    },
                    user: "dave".into(),
                    held: d("2"),
                },
            ],
            invoicing: vec![],
            invoice_items: None,
        };
        let json = serde_json::to_string_pretty(&r).expect("json");
        let pinned = r#"{
  "months": [
    "2026-11"
  ],
  "agreeing": 1,
  "differences": [
    {
      "kind": "missing",
      "backend_id": "zz",
      "resource": null,
      "month": "2026-11",
      "component": "cpu",
      "expected": "1.00"
    },
    {
      "kind": "missing",
      "backend_id": "a",
      "resource": "00000000-0000-0000-0000-000000000001",
      "month": "2026-11",
      "component": "ram",
      "expected": "1.00"
    },
    {
      "kind": "different",
      "backend_id": "a",
      "resource": "00000000-0000-0000-0000-000000000001",
      "month": "2026-11",
      "component": "gpu",
      "expected": "3.00",
      "held": "2"
    },
    {
      "kind": "unexpected",
      "backend_id": "b",
      "resource": "00000000-0000-0000-0000-000000000002",
      "month": "2026-11",
      "component": "gpu",
      "held": "7"
    }
  ],
  "users_compared": true,
  "agreeing_users": 1,
  "user_differences": [
    {
      "kind": "missing",
      "backend_id": "a",
      "resource": "00000000-0000-0000-0000-000000000001",
      "month": "2026-11",
      "component": "cpu",
      "user": "carol",
      "expected": "1.00"
    },
    {
      "kind": "different",
      "backend_id": "a",
      "resource": "00000000-0000-0000-0000-000000000001",
      "month": "2026-11",
      "component": "cpu",
      "user": "bob",
      "expected": "3.00",
      "held": "2"
    },
    {
      "kind": "unexpected",
      "backend_id": "a",
      "resource": "00000000-0000-0000-0000-000000000001",
      "month": "2026-11",
      "component": "cpu",
      "user": "dave",
      "held": "2"
    }
  ],
  "invoicing": []
}"#;
        assert_eq!(json, pinned, "{json}");
    }
}
