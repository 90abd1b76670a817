//! tally-check: every difference between what tally computes and what Waldur holds.
//!
//! The comparison ([`compare`]) is a pure function over the same inputs `push` plans from, so
//! "push then check" can only disagree when the server does not hold what it accepted, someone
//! else wrote the same figures, or a report was refused. Reading ([`read_and_compare`]) reuses
//! push's gathering: one resource listing and one usage listing per month.

use std::collections::{BTreeMap, BTreeSet};

use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::{BillingMonth, UsageCell};
use tally_push::{gather, Holdings, WaldurResource};
use tally_waldur::{Error, ResourceState, WaldurClient};
use uuid::Uuid;

/// One disagreement.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Difference {
    /// Tally computed a figure that Waldur does not hold (also when the backend_id resolves to no
    /// resource: `resource` is then `None`).
    Missing {
        backend_id: String,
        resource: Option<Uuid>,
        month: BillingMonth,
        component: String,
        expected: Decimal,
    },
    /// Waldur holds another amount.
    Different {
        backend_id: String,
        resource: Uuid,
        month: BillingMonth,
        component: String,
        expected: Decimal,
        held: Decimal,
    },
    /// Waldur holds usage of a component tally reports, for a resource and month where tally
    /// computed none.
    Unexpected {
        backend_id: String,
        resource: Uuid,
        month: BillingMonth,
        component: String,
        held: Decimal,
    },
}

impl Difference {
    /// `(backend_id, month, component)`, the order differences are listed in.
    pub fn key(&self) -> (&str, BillingMonth, &str) {
        match self {
            Difference::Missing {
                backend_id,
                month,
                component,
                ..
            }
            | Difference::Different {
                backend_id,
                month,
                component,
                ..
            }
            | Difference::Unexpected {
                backend_id,
                month,
                component,
                ..
            } => (backend_id, *month, component),
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

/// The result of a check.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CheckReport {
    pub months: Vec<BillingMonth>,
    /// Cells whose amount Waldur holds exactly.
    pub agreeing: u64,
    pub differences: Vec<Difference>,
}

impl CheckReport {
    pub fn agrees(&self) -> bool {
        self.differences.is_empty()
    }

    pub fn count(&self, kind: &str) -> usize {
        self.differences.iter().filter(|d| d.kind() == kind).count()
    }
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
                backend_id: cell.resource.clone(),
                resource: None,
                month: cell.period,
                component: cell.component.clone(),
                expected: cell.amount,
            });
            continue;
        };
        matched.insert((resource.uuid, cell.period, &cell.component));
        match input
            .holdings
            .get(&(resource.uuid, cell.period, cell.component.clone()))
        {
            None => report.differences.push(Difference::Missing {
                backend_id: cell.resource.clone(),
                resource: Some(resource.uuid),
                month: cell.period,
                component: cell.component.clone(),
                expected: cell.amount,
            }),
            Some(held) if *held == cell.amount => report.agreeing += 1,
            Some(held) => report.differences.push(Difference::Different {
                backend_id: cell.resource.clone(),
                resource: resource.uuid,
                month: cell.period,
                component: cell.component.clone(),
                expected: cell.amount,
                held: *held,
            }),
        }
    }
    for ((uuid, month, component), held) in input.holdings {
        if !input.months.contains(month)
            || !input.components.contains(component)
            || matched.contains(&(*uuid, *month, component.as_str()))
        {
            continue;
        }
        report.differences.push(Difference::Unexpected {
            backend_id: backend_of
                .get(uuid)
                .map(|b| (*b).to_owned())
                .unwrap_or_default(),
            resource: *uuid,
            month: *month,
            component: component.clone(),
            held: *held,
        });
    }
    report
        .differences
        .sort_by(|a, b| a.key().cmp(&b.key()).then(a.kind().cmp(b.kind())));
    report
}

/// Reads the offering's resources and usage for `months` and compares.
pub async fn read_and_compare(
    client: &WaldurClient,
    offering: Uuid,
    cells: &[UsageCell],
    months: &BTreeSet<BillingMonth>,
    components: &BTreeSet<String>,
) -> Result<CheckReport, Error> {
    let resources = gather::resources(client, offering).await?;
    let holdings = gather::holdings(client, offering, months).await?;
    Ok(compare(&CheckInput {
        cells,
        resources: &resources,
        holdings: &holdings,
        months,
        components,
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

    #[test]
    fn finds_missing_different_and_unexpected() {
        let resources = vec![
            WaldurResource {
                uuid: Uuid::from_u128(1),
                backend_id: "a".into(),
                state: Some(ResourceState::Ok),
                name: None,
            },
            WaldurResource {
                uuid: Uuid::from_u128(2),
                backend_id: "b".into(),
                state: Some(ResourceState::Ok),
                name: None,
            },
        ];
        let mut holdings = Holdings::new();
        let u1 = Uuid::from_u128(1);
        let u2 = Uuid::from_u128(2);
        holdings.insert((u1, m("2026-11"), "cpu".into()), d("10"));
        holdings.insert((u1, m("2026-11"), "gpu".into()), d("2"));
        holdings.insert((u2, m("2026-11"), "gpu".into()), d("7"));
        // Not tally's component, not tally's month: ignored.
        holdings.insert((u2, m("2026-11"), "storage".into()), d("7"));
        holdings.insert((u2, m("2026-09"), "gpu".into()), d("7"));
        let cells = [
            cell("a", "2026-11", "cpu", "10.00"),
            cell("a", "2026-11", "gpu", "3.00"),
            cell("a", "2026-11", "ram", "1.00"),
            cell("zz", "2026-11", "cpu", "1.00"),
        ];
        let months: BTreeSet<_> = [m("2026-11")].into();
        let components: BTreeSet<String> = ["cpu", "gpu", "ram"]
            .map(String::from)
            .into_iter()
            .collect();
        let r = compare(&CheckInput {
            cells: &cells,
            resources: &resources,
            holdings: &holdings,
            months: &months,
            components: &components,
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
}
