//! `tally push`'s dry-run listing and summary (also of `run` and `replay`).

use tally_push::{Plan, Summary, UserPlan};

use crate::TextTable;

/// `push --dry-run`: every request exactly as it would be sent, minus the
/// Authorization header.
pub fn dry_run(
    client: &tally_waldur::WaldurClient,
    plan: &Plan,
    users: Option<&UserPlan>,
) -> Result<String, tally_waldur::Error> {
    let mut text = String::new();
    for r in &plan.requests {
        let preview = client.preview_set_usage(&r.to_request())?;
        let held: Vec<String> = r
            .items
            .iter()
            .zip(&r.held)
            .map(|((c, _), h)| match h {
                Some(h) => format!("{c}={h}"),
                None => format!("{c}=(none)"),
            })
            .collect();
        text.push_str(&format!(
            "# {} {} (Waldur holds {})\n{} {}\n{}\n",
            r.target.backend_id,
            r.month,
            held.join(" "),
            preview.method,
            preview.url,
            preview.body.unwrap_or_default()
        ));
    }
    let user_requests = users.map(|u| u.requests.as_slice()).unwrap_or_default();
    let bulk = client.has_bulk_user_usages();
    for r in user_requests {
        // The record a new total creates has no uuid before it exists.
        let record = r
            .component_usage
            .map(|u| u.simple().to_string())
            .unwrap_or_else(|| "{created by the set_usage above}".to_owned());
        let held: Vec<String> = r
            .users
            .iter()
            .map(|u| match u.held {
                Some(h) => format!("{}={h}", u.username),
                None => format!("{}=(none)", u.username),
            })
            .collect();
        let head = format!(
            "# {} {} {} per user (Waldur holds {})\n",
            r.target.backend_id,
            r.month,
            r.component,
            held.join(" ")
        );
        text.push_str(&head);
        let requests = r.to_requests();
        // A server known to lack the bulk endpoint gets one request per user.
        let bodies = if bulk == Some(false) {
            requests.iter().map(pretty).collect::<Result<Vec<_>, _>>()?
        } else {
            vec![pretty(&serde_json::json!({ "usages": requests }))?]
        };
        let path = tally_waldur::user_usages_path(&record, bulk != Some(false));
        for body in bodies {
            text.push_str(&format!("POST {}{path}\n{body}\n", client.base_url()));
        }
    }
    if bulk.is_none() && !user_requests.is_empty() {
        text.push_str(
            "# per user: set_user_usages where the server has it (learnt on the first real send); \
             a server without it (the 2024 generation) gets the same usages as one set_user_usage \
             per user\n",
        );
    }
    if plan.requests.is_empty() && user_requests.is_empty() {
        text.push_str("# nothing to send\n");
    }
    Ok(text)
}

fn pretty<T: serde::Serialize>(body: &T) -> Result<String, tally_waldur::Error> {
    serde_json::to_string_pretty(body).map_err(|e| {
        tally_waldur::Error::InvalidRequest(format!("cannot encode a user usage: {e}"))
    })
}

/// The push summary: a row per resource, the totals, and what was held back.
pub fn summary_text(summary: &Summary, dry_run: bool) -> String {
    let pushed = if dry_run { "TO SEND" } else { "PUSHED" };
    let mut table = TextTable::new(&[
        "RESOURCE",
        pushed,
        "UNCHANGED",
        "FAILED",
        "CLOSED",
        "REFUSED",
        "UNMAPPED",
        "HELD",
    ])
    .right_aligned(1..8);
    let counts = |name: &str, c: &tally_push::Counts| {
        [
            name.to_owned(),
            c.pushed.to_string(),
            c.unchanged.to_string(),
            c.failed.to_string(),
            c.closed.to_string(),
            c.refused.to_string(),
            c.unmapped.to_string(),
            c.held_back.to_string(),
        ]
    };
    for (name, c) in &summary.resources {
        table.add_row(counts(name, c));
    }
    table.add_row(counts("total (cells)", &summary.total));
    if let Some(u) = &summary.user_usages {
        table.add_row([
            "per-user breakdowns".to_owned(),
            u.pushed.to_string(),
            u.unchanged.to_string(),
            u.failed.to_string(),
            u.closed.to_string(),
            u.refused.to_string(),
        ]);
    }
    let mut text = table.render();
    if let Some(u) = summary
        .user_usages
        .as_ref()
        .filter(|u| !u.unknown_users.is_empty())
    {
        text.push_str(&format!(
            "unknown usernames (no offering user; reported by username alone): {}\n",
            u.unknown_users.join(", ")
        ));
    }
    if !summary.held_back.is_empty() {
        text.push_str(
            "Held back by the drop guard (nothing sent; --allow-decrease applies them):\n",
        );
        let mut held = TextTable::new(&[
            "RESOURCE",
            "MONTH",
            "COMPONENT",
            "WALDUR HOLDS",
            "TALLY",
            "WHY",
        ])
        .right_aligned([3, 4]);
        for h in &summary.held_back {
            held.add_row([
                h.resource.clone(),
                h.month.to_string(),
                h.component.clone(),
                h.held.to_string(),
                h.computed.to_string(),
                h.why.clone(),
            ]);
        }
        text.push_str(&held.render());
    }
    if !summary.over_limit.is_empty() {
        text.push_str("Refused by Waldur as over the component's limit (the components before the refused one in the same report were written: the server is not atomic here; `tally limits` shows where each allocation stands):\n");
        let mut over = TextTable::new(&["RESOURCE", "MONTH", "SENT", "PERIOD WITH IT", "LIMIT"])
            .right_aligned([3, 4]);
        for o in &summary.over_limit {
            let sent: Vec<String> = o.sent.iter().map(|(c, a)| format!("{c}={a}")).collect();
            over.add_row([
                o.resource.clone(),
                o.month.to_string(),
                sent.join(" "),
                o.total.to_string(),
                o.limit.to_string(),
            ]);
        }
        text.push_str(&over.render());
    }
    if summary.not_delivered() > 0 {
        text.push_str(&format!(
            "{} cell(s) or per-user breakdown(s) not delivered (see the messages above and the ledger)\n",
            summary.not_delivered()
        ));
    }
    text
}

/// The current month of resources whose plan changed inside it: what was (or would be) sent
/// under each plan period, what Waldur already holds, and the parts not sent and why.
pub fn plan_periods_text(p: &tally_pipeline::plan_periods::PeriodPush, dry_run: bool) -> String {
    let mut text = String::new();
    for (resource, month) in &p.billed_on_one_plan {
        text.push_str(&format!(
            "plan switch: {resource} {month} reported once: this server keeps one row per month, billed on one plan\n"
        ));
    }
    let sent = if dry_run { "to send" } else { "sent" };
    for r in &p.plan.requests {
        let outcome = p
            .results
            .iter()
            .find(|(q, _)| q == r)
            .map_or(
                sent,
                |(_, o)| if o.is_delivered() { sent } else { o.name() },
            );
        for (component, amount) in &r.items {
            text.push_str(&format!(
                "plan period {} ({}): {} {} {component} = {amount}: {outcome}\n",
                r.plan_period,
                r.plan_name.as_deref().unwrap_or("?"),
                r.backend_id,
                r.month
            ));
        }
    }
    for u in &p.plan.unchanged {
        text.push_str(&format!(
            "plan period {}: {} {} {} = {}: unchanged\n",
            u.plan_period
                .map_or_else(|| "none".to_owned(), |x| x.to_string()),
            u.backend_id,
            u.month,
            u.component,
            u.amount
        ));
    }
    for r in &p.plan.refused {
        let part = r.part();
        let kind = serde_json::to_value(r)
            .ok()
            .and_then(|v| v.get("kind").and_then(|k| k.as_str()).map(str::to_owned))
            .unwrap_or_default();
        text.push_str(&format!(
            "NOT SENT ({kind}): {} {} {}: {}\n",
            part.backend_id,
            part.month,
            part.component,
            r.why()
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn the_push_summary_lines_up_resources_totals_and_held_back_cells() {
        let mut summary = Summary::default();
        summary.resources.insert(
            "proj_alpha".into(),
            tally_push::Counts {
                pushed: 12,
                ..Default::default()
            },
        );
        summary.total.pushed = 12;
        summary.held_back.push(tally_push::HeldBackCell {
            resource: "proj_gone".into(),
            resource_uuid: uuid::Uuid::from_u128(4),
            month: "2026-10".parse().expect("month"),
            component: "gpu".into(),
            held: Decimal::new(4000, 2),
            computed: Decimal::new(0, 2),
            why: "tally computes nothing".into(),
        });
        let text = summary_text(&summary, true);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(
            lines,
            [
                "RESOURCE       TO SEND  UNCHANGED  FAILED  CLOSED  REFUSED  UNMAPPED  HELD",
                "proj_alpha          12          0       0       0        0         0     0",
                "total (cells)       12          0       0       0        0         0     0",
                "Held back by the drop guard (nothing sent; --allow-decrease applies them):",
                "RESOURCE   MONTH    COMPONENT  WALDUR HOLDS  TALLY  WHY",
                "proj_gone  2026-10  gpu               40.00   0.00  tally computes nothing",
            ]
        );
    }
}
