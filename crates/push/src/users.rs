//! The per-user plan: a pure function from tally's per-user shares, the cell plan, and what
//! Waldur holds per user to the `set_user_usages` calls that make Waldur hold exactly tally's
//! breakdown. One call per component usage record (resource, month, component) carrying all the
//! users of that cell, and only when the breakdown Waldur holds differs: the peer re-posts every
//! breakdown every night, which is thousands of writes that change nothing.
//!
//! A cell's breakdown is only sent after its total: the cell's `set_usage` must be delivered (or
//! Waldur already held the total), so the users always add up to the total Waldur holds.

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Utc};
use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::{BillingMonth, UserUsageCell};
use tally_waldur::UserUsageRequest;
use uuid::Uuid;

pub use tally_holdings::{uuid_of_url, HeldUser, UsageIds, UserDirectory, UserHoldings};

use crate::plan::{
    send_date, HoldingKey, PastMonths, Plan, ResolvedResource, ServerInfo, SkipReason,
};

/// One user's line in a `set_user_usages` call.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UserShare {
    /// The local username (what the accounting says).
    pub username: String,
    pub amount: Decimal,
    /// The offering-user URL, when the offering has a user with this local username.
    pub user: Option<String>,
    /// What Waldur held for this user before (`None`: nothing).
    pub held: Option<Decimal>,
}

/// One `set_user_usages` call: the whole breakdown of one cell.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlannedUserUsages {
    pub target: ResolvedResource,
    pub month: BillingMonth,
    pub component: String,
    /// As for `set_usage`: `None` for the current month, an instant inside a past month.
    pub date: Option<DateTime<Utc>>,
    /// The component usage record; `None` when the cell's `set_usage` in this push creates it
    /// (the executor reads it back, one listing per month).
    pub component_usage: Option<Uuid>,
    /// The cell's total is sent in this push: the breakdown goes only if that was delivered.
    pub after_report: bool,
    /// Every user of the cell (users Waldur holds that tally no longer has are set to 0, so the
    /// breakdown still adds up to the total).
    pub users: Vec<UserShare>,
}

impl PlannedUserUsages {
    /// The request body's items: a pure function, so `--dry-run` prints what would be sent.
    pub fn to_requests(&self) -> Vec<UserUsageRequest> {
        self.users
            .iter()
            .map(|u| UserUsageRequest {
                username: u.username.clone(),
                usage: u.amount,
                user: u.user.clone(),
                date: self.date,
            })
            .collect()
    }

    pub fn key(&self) -> HoldingKey {
        (self.target.uuid, self.month, self.component.clone())
    }
}

/// A cell whose breakdown is not sent, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedBreakdown {
    pub resource: String,
    pub month: BillingMonth,
    pub component: String,
    #[serde(flatten)]
    pub reason: SkipReason,
}

/// The per-user plan of one push.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserPlan {
    pub requests: Vec<PlannedUserUsages>,
    /// Cells (backend_id, month, component) whose breakdown Waldur already holds.
    pub unchanged: Vec<(String, BillingMonth, String)>,
    pub skipped: Vec<SkippedBreakdown>,
    /// Local usernames with no offering user: sent by username alone, listed in the summary.
    pub unknown_users: BTreeSet<String>,
}

/// Everything the per-user plan is computed from.
#[derive(Debug, Clone)]
pub struct UserPlanInput<'a> {
    pub user_cells: &'a [UserUsageCell],
    /// The cell plan of the same push (which cells are sent, unchanged, resolved to what).
    pub plan: &'a Plan,
    pub held: &'a UserHoldings,
    pub ids: &'a UsageIds,
    pub directory: &'a UserDirectory,
    pub server: &'a ServerInfo,
    pub past_months: PastMonths,
    pub billing_timezone: Tz,
}

/// (backend_id, month, component), borrowed.
type CellKey<'a> = (&'a str, BillingMonth, &'a str);

/// Computes the per-user calls. Cells the cell plan skipped get no breakdown (their skip is
/// already reported); cells it sends or found unchanged get one when Waldur's differs.
pub fn plan_user_usages(input: &UserPlanInput<'_>) -> UserPlan {
    let mut out = UserPlan::default();
    let Some(current) = input.plan.current_month else {
        return out;
    };
    let mut sent: BTreeMap<CellKey<'_>, (&ResolvedResource, Option<DateTime<Utc>>)> =
        BTreeMap::new();
    for r in &input.plan.requests {
        for (component, _) in &r.items {
            sent.insert(
                (r.target.backend_id.as_str(), r.month, component.as_str()),
                (&r.target, r.date),
            );
        }
    }
    let unchanged: BTreeSet<(&str, BillingMonth, &str)> = input
        .plan
        .unchanged
        .iter()
        .map(|c| (c.resource.as_str(), c.period, c.component.as_str()))
        .collect();
    let mut groups: BTreeMap<(&str, BillingMonth, &str), Vec<&UserUsageCell>> = BTreeMap::new();
    for u in input.user_cells {
        groups
            .entry((&*u.resource, u.period, &*u.component))
            .or_default()
            .push(u);
    }
    let with_users: BTreeSet<CellKey<'_>> = groups.keys().copied().collect();
    for ((backend, month, component), users) in groups {
        let skip = |reason: SkipReason| SkippedBreakdown {
            resource: backend.to_owned(),
            month,
            component: component.to_owned(),
            reason,
        };
        // `date`: `Some(Some(d))`/`Some(None)` when known (the cell's request), `None` when it
        // is decided below, only if the breakdown differs: a breakdown Waldur already holds
        // needs no request, so no past-month guard either.
        let (target, known_date, after_report) =
            if let Some((t, d)) = sent.get(&(backend, month, component)) {
                ((*t).clone(), Some(*d), true)
            } else if unchanged.contains(&(backend, month, component)) {
                let Some(uuid) = input.plan.resolved.get(backend) else {
                    continue;
                };
                (
                    ResolvedResource {
                        uuid: *uuid,
                        backend_id: backend.to_owned(),
                    },
                    None,
                    false,
                )
            } else {
                continue;
            };
        let key: HoldingKey = (target.uuid, month, component.to_owned());
        let empty = BTreeMap::new();
        let held = input.held.get(&key).unwrap_or(&empty);
        let mut shares = Vec::with_capacity(users.len());
        let mut differs = false;
        let mut ours: BTreeSet<&str> = BTreeSet::new();
        for u in &users {
            let url = input.directory.get(&*u.user).cloned();
            if url.is_none() {
                out.unknown_users.insert(u.user.to_string());
            }
            let h = held.get(&*u.user);
            let linked_right = match (&url, h) {
                (Some(url), Some(h)) => h.user.is_some() && h.user == uuid_of_url(url),
                _ => true,
            };
            if h.map(|h| h.amount) != Some(u.amount) || !linked_right {
                differs = true;
            }
            ours.insert(&*u.user);
            shares.push(UserShare {
                username: u.user.to_string(),
                amount: u.amount,
                user: url,
                held: h.map(|h| h.amount),
            });
        }
        for (name, h) in held {
            if ours.contains(name.as_str()) || h.amount.is_zero() {
                continue;
            }
            differs = true;
            shares.push(UserShare {
                username: name.clone(),
                amount: Decimal::new(0, 2),
                user: None,
                held: Some(h.amount),
            });
        }
        if !differs {
            out.unchanged
                .push((backend.to_owned(), month, component.to_owned()));
            continue;
        }
        let date = match user_call_date(input, known_date, month, current) {
            Ok(d) => d,
            Err(reason) => {
                out.skipped.push(skip(reason));
                continue;
            }
        };
        out.requests.push(PlannedUserUsages {
            component_usage: input.ids.get(&key).copied(),
            target,
            month,
            component: component.to_owned(),
            date,
            after_report,
            users: shares,
        });
    }
    // Owned cells tally computes nothing for any more (set to 0.00): every user share Waldur
    // holds goes to 0.00 too, so the breakdown still adds up to the total.
    for (key, target) in &input.plan.zeroed {
        let (_, month, component) = key;
        if with_users.contains(&(target.backend_id.as_str(), *month, component.as_str())) {
            continue;
        }
        let Some(held) = input.held.get(key) else {
            continue;
        };
        let users: Vec<UserShare> = held
            .iter()
            .filter(|(_, h)| !h.amount.is_zero())
            .map(|(name, h)| UserShare {
                username: name.clone(),
                amount: Decimal::new(0, 2),
                user: None,
                held: Some(h.amount),
            })
            .collect();
        if users.is_empty() {
            continue;
        }
        let sent_with = sent.get(&(target.backend_id.as_str(), *month, component.as_str()));
        let date = match user_call_date(input, sent_with.map(|(_, d)| *d), *month, current) {
            Ok(d) => d,
            Err(reason) => {
                out.skipped.push(SkippedBreakdown {
                    resource: target.backend_id.clone(),
                    month: *month,
                    component: component.clone(),
                    reason,
                });
                continue;
            }
        };
        out.requests.push(PlannedUserUsages {
            component_usage: input.ids.get(key).copied(),
            target: target.clone(),
            month: *month,
            component: component.clone(),
            date,
            after_report: sent_with.is_some(),
            users,
        });
    }
    out
}

/// The `date` of a per-user call: the cell's request's when its total is sent in this push
/// (`known`), else decided as for `set_usage` (a server that ignores `date` gets no past month).
fn user_call_date(
    input: &UserPlanInput<'_>,
    known: Option<Option<DateTime<Utc>>>,
    month: BillingMonth,
    current: BillingMonth,
) -> Result<Option<DateTime<Utc>>, SkipReason> {
    match known {
        Some(d) => Ok(d),
        None => send_date(
            input.server,
            input.past_months,
            month,
            current,
            input.billing_timezone,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{
        plan, DropGuard, Holdings, Ownership, PlanInput, WaldurComponent, WaldurResource,
    };
    use crate::test_values::{cell, d, m, now, server, u};
    use tally_model::MonthRange;
    use tally_model::UsageCell;
    use tally_waldur::{BillingType, ResourceState};

    fn uc(r: &str, p: &str, c: &str, user: &str, a: &str) -> UserUsageCell {
        UserUsageCell {
            resource: r.into(),
            period: m(p),
            component: c.into(),
            user: user.into(),
            amount: d(a),
        }
    }
    fn ou_url(n: u128) -> String {
        format!(
            "https://w.example/api/marketplace-offering-users/{}/",
            u(n).simple()
        )
    }

    struct World {
        holdings: Holdings,
        held: UserHoldings,
        ids: UsageIds,
        directory: UserDirectory,
        server: ServerInfo,
        ownership: Ownership,
    }

    fn world() -> World {
        World {
            holdings: Holdings::new(),
            held: UserHoldings::new(),
            ids: UsageIds::new(),
            directory: [("alice".to_string(), ou_url(100))].into(),
            server: server("8.0.5", Some(true)),
            ownership: Ownership::default(),
        }
    }

    fn run(w: &World, cells: &[UsageCell], users: &[UserUsageCell]) -> (Plan, UserPlan) {
        let resources = vec![WaldurResource {
            uuid: u(1),
            backend_id: "proj_alpha".into(),
            state: Some(ResourceState::Ok),
            name: None,
        }];
        let components = vec![
            WaldurComponent {
                component: "cpu".into(),
                billing_type: Some(BillingType::Usage),
            },
            WaldurComponent {
                component: "gpu".into(),
                billing_type: Some(BillingType::Usage),
            },
        ];
        let p = plan(&PlanInput {
            cells,
            resources: &resources,
            components: &components,
            holdings: &w.holdings,
            server: &w.server,
            past_months: PastMonths::default(),
            now: now(),
            billing_timezone: Tz::UTC,
            window: MonthRange::single(m("2026-11")),
            ownership: &w.ownership,
            drop_guard: DropGuard {
                max_share: d("0.05"),
                allow: true,
            },
        });
        let up = plan_user_usages(&UserPlanInput {
            user_cells: users,
            plan: &p,
            held: &w.held,
            ids: &w.ids,
            directory: &w.directory,
            server: &w.server,
            past_months: PastMonths::default(),
            billing_timezone: Tz::UTC,
        });
        (p, up)
    }

    fn hold(w: &mut World, month: &str, comp: &str, user: &str, a: &str, link: Option<u128>) {
        w.held
            .entry((u(1), m(month), comp.into()))
            .or_default()
            .insert(
                user.into(),
                HeldUser {
                    amount: d(a),
                    user: link.map(u),
                },
            );
    }

    #[test]
    fn a_new_cell_gets_one_call_with_all_its_users_after_its_total() {
        let w = world();
        let cells = [cell("proj_alpha", "2026-11", "cpu", "10.00")];
        let users = [
            uc("proj_alpha", "2026-11", "cpu", "alice", "6.67"),
            uc("proj_alpha", "2026-11", "cpu", "zed", "3.33"),
        ];
        let (_, up) = run(&w, &cells, &users);
        assert_eq!(up.requests.len(), 1);
        let r = &up.requests[0];
        assert!(r.after_report && r.component_usage.is_none() && r.date.is_none());
        assert_eq!(
            serde_json::to_value(r.to_requests()).expect("json"),
            serde_json::json!([
                {"username": "alice", "usage": "6.67", "user": ou_url(100)},
                {"username": "zed", "usage": "3.33"}
            ])
        );
        assert_eq!(up.unknown_users, ["zed".to_string()].into());
    }

    #[test]
    fn an_unchanged_breakdown_is_not_sent_and_a_changed_one_is_with_its_record() {
        let mut w = world();
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("10"));
        w.ids.insert((u(1), m("2026-11"), "cpu".into()), u(500));
        hold(&mut w, "2026-11", "cpu", "alice", "6.67", Some(100));
        hold(&mut w, "2026-11", "cpu", "zed", "3.33", None);
        let cells = [cell("proj_alpha", "2026-11", "cpu", "10.00")];
        let users = [
            uc("proj_alpha", "2026-11", "cpu", "alice", "6.67"),
            uc("proj_alpha", "2026-11", "cpu", "zed", "3.33"),
        ];
        let (p, up) = run(&w, &cells, &users);
        assert!(p.requests.is_empty());
        assert!(up.requests.is_empty());
        assert_eq!(up.unchanged.len(), 1);

        // Same total, another split: one call on the known record, no set_usage.
        let users = [
            uc("proj_alpha", "2026-11", "cpu", "alice", "5.00"),
            uc("proj_alpha", "2026-11", "cpu", "zed", "5.00"),
        ];
        let (p, up) = run(&w, &cells, &users);
        assert!(p.requests.is_empty());
        assert_eq!(up.requests.len(), 1);
        let r = &up.requests[0];
        assert_eq!(r.component_usage, Some(u(500)));
        assert!(!r.after_report);
        assert_eq!(r.users[0].held, Some(d("6.67")));
    }

    #[test]
    fn users_waldur_holds_that_tally_does_not_are_zeroed_and_links_are_repaired() {
        let mut w = world();
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("10"));
        w.ids.insert((u(1), m("2026-11"), "cpu".into()), u(500));
        // Held unlinked: the offering user appeared since.
        hold(&mut w, "2026-11", "cpu", "alice", "10.00", None);
        hold(&mut w, "2026-11", "cpu", "old", "0", None);
        let cells = [cell("proj_alpha", "2026-11", "cpu", "10.00")];
        let users = [uc("proj_alpha", "2026-11", "cpu", "alice", "10.00")];
        let (_, up) = run(&w, &cells, &users);
        assert_eq!(up.requests.len(), 1, "the link differs");
        assert_eq!(up.requests[0].users.len(), 1, "a zero stale user is fine");

        hold(&mut w, "2026-11", "cpu", "alice", "10.00", Some(100));
        hold(&mut w, "2026-11", "cpu", "old", "2.00", None);
        let (_, up) = run(&w, &cells, &users);
        assert_eq!(up.requests.len(), 1);
        let names: Vec<(&str, Decimal)> = up.requests[0]
            .users
            .iter()
            .map(|s| (s.username.as_str(), s.amount))
            .collect();
        assert_eq!(names, vec![("alice", d("10.00")), ("old", d("0"))]);
    }

    #[test]
    fn past_months_are_dated_and_never_go_to_a_server_that_ignores_date() {
        let mut w = world();
        w.holdings
            .insert((u(1), m("2026-10"), "cpu".into()), d("4"));
        w.ids.insert((u(1), m("2026-10"), "cpu".into()), u(501));
        let cells = [cell("proj_alpha", "2026-10", "cpu", "4.00")];
        let users = [uc("proj_alpha", "2026-10", "cpu", "alice", "4.00")];
        let (_, up) = run(&w, &cells, &users);
        assert_eq!(
            up.requests[0].date.map(|x| x.to_rfc3339()),
            Some("2026-10-15T12:00:00+00:00".into())
        );
        w.server = server("7.0.8", Some(false));
        let (_, up) = run(&w, &cells, &users);
        assert!(up.requests.is_empty());
        assert!(matches!(
            up.skipped[0].reason,
            SkipReason::ServerIgnoresDate { .. }
        ));
        // A past breakdown Waldur already holds needs nothing, even from an old server.
        hold(&mut w, "2026-10", "cpu", "alice", "4", Some(100));
        let (_, up) = run(&w, &cells, &users);
        assert!(up.requests.is_empty() && up.skipped.is_empty());
        assert_eq!(up.unchanged.len(), 1);
    }

    #[test]
    fn skipped_cells_get_no_breakdown() {
        let w = world();
        let cells = [cell("proj_nowhere", "2026-11", "cpu", "1.00")];
        let users = [uc("proj_nowhere", "2026-11", "cpu", "alice", "1.00")];
        let (p, up) = run(&w, &cells, &users);
        assert_eq!(p.skipped.len(), 1);
        assert!(up.requests.is_empty() && up.skipped.is_empty());
    }

    #[test]
    fn offering_user_urls_give_their_uuid() {
        assert_eq!(uuid_of_url(&ou_url(7)), Some(u(7)));
        assert_eq!(uuid_of_url("https://w/api/x/not-a-uuid/"), None);
    }

    /// (component, after_report, record, users and amounts) of a planned call.
    type UserCall = (String, bool, Option<Uuid>, Vec<(String, String)>);

    #[test]
    fn a_zeroed_cell_sets_every_held_user_to_zero() {
        let mut w = world();
        w.ownership = Ownership {
            resources: [u(1)].into(),
            resource_months: BTreeSet::new(),
            components: ["cpu".to_string(), "gpu".to_string()].into(),
        };
        // cpu: tally computes nothing any more; Waldur holds the total and two users.
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("10.00"));
        hold(&mut w, "2026-11", "cpu", "alice", "6", Some(100));
        hold(&mut w, "2026-11", "cpu", "bob", "4", None);
        // gpu: the total was zeroed earlier but a user was left behind; a zero user is fine.
        w.holdings
            .insert((u(1), m("2026-11"), "gpu".into()), d("0"));
        w.ids.insert((u(1), m("2026-11"), "gpu".into()), u(77));
        hold(&mut w, "2026-11", "gpu", "alice", "2", Some(100));
        hold(&mut w, "2026-11", "gpu", "carol", "0", None);
        let (p, up) = run(&w, &[], &[]);
        assert_eq!(p.cells_to_send(), 1);
        let calls: Vec<UserCall> = up
            .requests
            .iter()
            .map(|r| {
                (
                    r.component.clone(),
                    r.after_report,
                    r.component_usage,
                    r.users
                        .iter()
                        .map(|x| (x.username.clone(), x.amount.to_string()))
                        .collect(),
                )
            })
            .collect();
        assert_eq!(
            calls,
            vec![
                (
                    "cpu".into(),
                    true,
                    None,
                    vec![
                        ("alice".into(), "0.00".into()),
                        ("bob".into(), "0.00".into())
                    ]
                ),
                (
                    "gpu".into(),
                    false,
                    Some(u(77)),
                    vec![("alice".into(), "0.00".into())]
                ),
            ]
        );
        // Once every share is 0.00, nothing more is sent.
        for per in w.held.values_mut() {
            per.values_mut().for_each(|h| h.amount = d("0.00"));
        }
        w.holdings
            .insert((u(1), m("2026-11"), "cpu".into()), d("0.00"));
        let (p, up) = run(&w, &[], &[]);
        assert!(p.requests.is_empty() && up.requests.is_empty());
    }
}
