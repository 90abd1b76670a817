//! The checks that ask Waldur (read-only): the token, its lifetime, the offering, its components,
//! the resources the month's accounts map to, and the server's clock; with the sources and the
//! month's records between them (the accounts check needs both).

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use chrono::{DateTime, Utc};
use tally_config::Config;
use tally_holdings::WaldurResource;
use tally_model::BillingMonth;
use tally_waldur::{Error, OfferingView, TokenLifetime, WaldurClient, WhoAmI};
use uuid::Uuid;

use crate::{human, local, Finding, Status};

/// How many problem accounts a finding names before it says "and N more".
const LIST_AT_MOST: usize = 10;

/// The findings from `token` to `accounts`, then `server clock` and `month close`.
pub(crate) async fn checks(
    config: &Config,
    now: DateTime<Utc>,
    max_skew: Duration,
) -> (Vec<Finding>, Vec<Finding>) {
    let mut out = Vec::new();
    let connection = tally_pipeline::connect(config, None, None);
    let who = match &connection {
        Ok(c) => Some(token(&c.client, &mut out).await),
        Err(e) => {
            out.push(Finding::fail(
                "token",
                e.to_string(),
                "fix waldur.url / waldur.token_file",
            ));
            out.push(Finding::skipped("token lifetime", "no client"));
            None
        }
    };
    let who = who.flatten();
    let client = match (&connection, &who) {
        (Ok(c), Some(_)) => Some((&c.client, c.offering)),
        _ => None,
    };

    // The offering and its components.
    let offering_read = match client {
        Some((client, offering)) => {
            offering_and_components(config, client, offering, &mut out).await
        }
        None => {
            out.push(Finding::skipped("offering", "the token was not accepted"));
            out.push(Finding::skipped("components", "the token was not accepted"));
            false
        }
    };

    // The sources, then the month's records (both read files or run sacct: the blocking pool).
    let month = BillingMonth::containing(now, config.billing_timezone);
    let cfg = config.clone();
    let read = tokio::task::spawn_blocking(move || {
        let sources = local::sources(&cfg);
        let collection = if sources.status == Status::Fail {
            None
        } else {
            Some(
                tally_pipeline::window(&cfg, None, None, Some(now))
                    .map_err(|e| e.to_string())
                    .and_then(|w| tally_pipeline::collect(&cfg, &w).map_err(|e| format!("{e:#}"))),
            )
        };
        (sources, collection)
    })
    .await;
    let (sources, collection) = match read {
        Ok(r) => r,
        Err(e) => (
            Finding::fail(
                "sources",
                format!("reading stopped: {e}"),
                "run `tally collect` to see why",
            ),
            None,
        ),
    };
    out.push(sources);
    match (collection, client) {
        (None, _) => out.push(Finding::skipped("accounts", "the sources are not readable")),
        (Some(Err(e)), _) => out.push(Finding::fail(
            "accounts",
            format!("the records of {month} cannot be read: {e}"),
            "run `tally collect` for the whole message",
        )),
        (Some(Ok(_)), None) => out.push(Finding::skipped("accounts", "the token was not accepted")),
        (Some(Ok(_)), Some(_)) if !offering_read => {
            out.push(Finding::skipped("accounts", "the offering is not readable"))
        }
        (Some(Ok(c)), Some((client, offering))) => {
            out.push(accounts(config, client, offering, month, &c).await)
        }
    }

    // The clock and the month.
    let mut month_findings = Vec::new();
    let server_now = who.as_ref().and_then(|w| w.server_date);
    month_findings.push(match (&who, server_now) {
        (None, _) => Finding::skipped("server clock", "the token was not accepted"),
        (Some(_), None) => Finding::warn(
            "server clock",
            "the server's answer has no Date header",
            "compare its clock by hand: usage near a month's end lands in the server's month",
        ),
        (Some(_), Some(server)) => clock(server, now, max_skew),
    });
    month_findings.push(month_close(config, server_now.unwrap_or(now)));
    (out, month_findings)
}

/// `users/me/`: the token accepted; then its lifetime.
async fn token(client: &WaldurClient, out: &mut Vec<Finding>) -> Option<WhoAmI> {
    match client.whoami().await {
        Ok(who) => {
            let role = match who.is_staff {
                Some(true) => " (staff)",
                _ => "",
            };
            out.push(Finding::ok(
                "token",
                format!(
                    "accepted by {}: user {}{role}",
                    client.base_url(),
                    who.username
                ),
            ));
            out.push(lifetime(&who));
            Some(who)
        }
        Err(e) => {
            let advice = match &e {
                Error::Unauthorized(_) => {
                    "put a valid token of the offering's provider user in the token file"
                }
                _ => "check waldur.url and that this machine reaches it (proxy, firewall, TLS)",
            };
            out.push(Finding::fail("token", e.to_string(), advice));
            out.push(Finding::skipped(
                "token lifetime",
                "the token was not accepted",
            ));
            None
        }
    }
}

fn lifetime(who: &WhoAmI) -> Finding {
    const CHECK: &str = "token lifetime";
    match who.token_lifetime {
        TokenLifetime::Never => Finding::ok(CHECK, "the token does not expire when idle (token_lifetime is null)"),
        TokenLifetime::IdleSeconds(s) => Finding::fail(
            CHECK,
            format!(
                "the token of {} expires after {} without use (token_lifetime {s}): the next night's run will find it expired",
                who.username,
                human(chrono::TimeDelta::seconds(s))
            ),
            format!(
                "as {}: PATCH /api/users/<your uuid>/ with {{\"token_lifetime\": null, \"agree_with_policy\": true}}, then fetch a new token",
                who.username
            ),
        ),
        TokenLifetime::NotShown => Finding::warn(
            CHECK,
            "the server does not show token_lifetime in users/me/",
            "ask the Waldur operators whether this user's token expires when idle",
        ),
    }
}

/// The offering visible in the provider view (the view usage is reported through), and each
/// configured component in it with a billing type that takes usage. Whether the offering was read.
async fn offering_and_components(
    config: &Config,
    client: &WaldurClient,
    offering: Uuid,
    out: &mut Vec<Finding>,
) -> bool {
    let fields = ["uuid", "name", "state", "customer_name", "components"].map(String::from);
    let o = match client
        .offering(OfferingView::Provider, offering, &fields)
        .await
    {
        Ok(o) => o,
        Err(e) => {
            let advice = match &e {
                Error::NotFound(_) | Error::Forbidden(_) => format!(
                    "check waldur.offering_uuid ({}); the token's user must be an owner or manager of the organisation that provides it (or staff)",
                    offering.simple()
                ),
                _ => "run again; if it persists, check the server".to_owned(),
            };
            out.push(Finding::fail("offering", e.to_string(), advice));
            out.push(Finding::skipped(
                "components",
                "the offering is not readable",
            ));
            return false;
        }
    };
    let state = o
        .state
        .as_ref()
        .map(|s| format!(", {s}"))
        .unwrap_or_default();
    out.push(Finding::ok(
        "offering",
        format!(
            "{} ({}) of {}{state}: visible to the token as its provider",
            o.name.as_deref().unwrap_or("?"),
            offering.simple(),
            o.customer_name.as_deref().unwrap_or("?")
        ),
    ));
    let offered: BTreeMap<&str, &tally_waldur::OfferingComponent> = o
        .components
        .iter()
        .map(|c| (c.component.as_str(), c))
        .collect();
    if config.rules.is_empty() {
        out.push(Finding::ok(
            "components",
            "none configured (amount sources name their own)",
        ));
    }
    for rule in &config.rules {
        let check = format!("component {}", rule.component);
        let ours = format!(
            "tres {} / {} s x {}",
            rule.tres, rule.unit_seconds, rule.factor
        );
        out.push(match offered.get(rule.component.as_str()) {
            None => Finding::fail(
                check,
                format!(
                    "not in the offering, which has {:?}",
                    offered.keys().collect::<Vec<_>>()
                ),
                "rename [components.<type>] to the offering component's `type` (case matters)",
            ),
            Some(c) => {
                let unit = c.measured_unit.as_deref().unwrap_or("");
                let theirs = format!(
                    "{:?} billed {}, measured in {unit:?}",
                    c.name.as_deref().unwrap_or(""),
                    c.billing_type.as_ref().map(|b| b.to_string()).unwrap_or_else(|| "?".into()),
                );
                match &c.billing_type {
                    Some(b) if b.accepts_usage() => {
                        Finding::ok(check, format!("{theirs}; tally counts {ours}"))
                    }
                    _ => Finding::fail(
                        check,
                        format!("{theirs}: Waldur refuses usage for it"),
                        "only `usage` and `limit` components take usage: drop it from the config or change its billing type in the offering",
                    ),
                }
            }
        });
    }
    true
}

/// Every backend_id the month's records produce maps to a resource of the offering in a state
/// that accepts usage; accounts that map to nothing are named too.
async fn accounts(
    config: &Config,
    client: &WaldurClient,
    offering: Uuid,
    month: BillingMonth,
    collection: &tally_aggregate::Collection,
) -> Finding {
    const CHECK: &str = "accounts";
    let resources = match tally_holdings::gather::resources(client, offering).await {
        Ok(r) => r,
        Err(e) => {
            return Finding::fail(
                CHECK,
                format!("cannot list the offering's resources: {e}"),
                "the token's user needs the provider view of the offering's resources",
            )
        }
    };
    let backend_ids: BTreeSet<&str> = collection
        .usages
        .iter()
        .filter(|c| c.period == month)
        .map(|c| c.resource.as_str())
        .collect();
    let mut problems: Vec<String> = Vec::new();
    for account in &collection.unmapped {
        let name = if account.account.is_empty() {
            "(empty account)"
        } else {
            account.account.as_str()
        };
        problems.push(format!(
            "{name}: maps to no resource ({} job(s))",
            account.jobs
        ));
    }
    for id in &backend_ids {
        let of_id: Vec<&WaldurResource> =
            resources.iter().filter(|r| r.backend_id == *id).collect();
        let shown = accounts_of(config, id);
        if of_id.is_empty() {
            problems.push(format!(
                "{shown}: no resource of the offering has backend_id {id:?}"
            ));
        } else if !of_id
            .iter()
            .any(|r| r.state.as_ref().is_some_and(|s| s.accepts_usage()))
        {
            let states: Vec<String> = of_id
                .iter()
                .map(|r| {
                    r.state
                        .as_ref()
                        .map(|s| s.to_string())
                        .unwrap_or_else(|| "no state".into())
                })
                .collect();
            problems.push(format!(
                "{shown}: resource {id:?} is {} (usage is taken in OK, Updating, Terminating)",
                states.join("/")
            ));
        }
    }
    if problems.is_empty() {
        return Finding::ok(
            CHECK,
            if backend_ids.is_empty() {
                format!("no usage in {month} yet: nothing to map")
            } else {
                format!(
                    "all {} account(s) with usage in {month} map to resources that accept usage",
                    backend_ids.len()
                )
            },
        );
    }
    let total = problems.len();
    let mut shown: Vec<String> = problems.into_iter().take(LIST_AT_MOST).collect();
    if total > LIST_AT_MOST {
        shown.push(format!("and {} more", total - LIST_AT_MOST));
    }
    Finding::fail(
        CHECK,
        format!("{total} of the accounts with usage in {month} cannot be reported: {}", shown.join("; ")),
        "set each resource's backend_id to its account (`tally resources set-backend-id`), list the account under [mapping.accounts], or have the resource set OK",
    )
}

/// `acct` or `acct -> backend_id` for the accounts the mapping table sends to `backend_id`.
fn accounts_of(config: &Config, backend_id: &str) -> String {
    let listed: Vec<&str> = config
        .mapping
        .table
        .iter()
        .filter(|(_, b)| b.as_str() == backend_id)
        .map(|(a, _)| a.as_str())
        .collect();
    if listed.is_empty() {
        backend_id.to_owned()
    } else {
        format!("{} -> {backend_id}", listed.join(", "))
    }
}

/// The server's clock (HTTP `Date`, whole seconds) next to this machine's.
fn clock(server: DateTime<Utc>, now: DateTime<Utc>, max_skew: Duration) -> Finding {
    const CHECK: &str = "server clock";
    // `now` was read before the requests; the Date header is rounded down to the second.
    let skew = server - now;
    let off = skew.num_seconds().abs();
    let ahead = if skew > chrono::TimeDelta::zero() {
        "ahead of"
    } else {
        "behind"
    };
    let max = i64::try_from(max_skew.as_secs()).unwrap_or(i64::MAX);
    let summary = format!(
        "server says {}, {} {ahead} this machine",
        server.to_rfc3339(),
        human(skew)
    );
    if off > max {
        Finding::fail(
            CHECK,
            summary,
            "synchronise the clocks (chrony/NTP): Waldur files current-month usage under its own month",
        )
    } else if off > max / 2 {
        Finding::warn(
            CHECK,
            summary,
            "check NTP on this machine and ask about the server's",
        )
    } else {
        Finding::ok(
            CHECK,
            format!(
                "server says {}, within {} of this machine",
                server.to_rfc3339(),
                human(skew)
            ),
        )
    }
}

/// How long until the current billing month closes (in the billing zone).
fn month_close(config: &Config, now: DateTime<Utc>) -> Finding {
    let tz = config.billing_timezone;
    let month = BillingMonth::containing(now, tz);
    let end = month.end(tz);
    Finding::ok(
        "month close",
        format!(
            "{month} closes in {} ({} in {tz}); `tally run` also reports the previous month during the first {} day(s)",
            human(end - now),
            end.with_timezone(&tz).format("%Y-%m-%d %H:%M"),
            config.previous_month_days
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("time")
    }

    #[test]
    fn a_clock_minutes_off_fails_seconds_off_passes() {
        let now = at("2026-11-15T12:00:00Z");
        let max = Duration::from_secs(300);
        assert_eq!(
            clock(at("2026-11-15T12:00:02Z"), now, max).status,
            Status::Ok
        );
        assert_eq!(
            clock(at("2026-11-15T11:56:00Z"), now, max).status,
            Status::Warn
        );
        let f = clock(at("2026-11-15T12:10:00Z"), now, max);
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("10 min 0 s ahead of"), "{f:?}");
    }

    #[test]
    fn lifetimes() {
        let who = |l| WhoAmI {
            username: "prov".into(),
            is_staff: Some(false),
            token_lifetime: l,
            server_date: None,
        };
        assert_eq!(lifetime(&who(TokenLifetime::Never)).status, Status::Ok);
        let f = lifetime(&who(TokenLifetime::IdleSeconds(3600)));
        assert_eq!(f.status, Status::Fail);
        assert!(f.summary.contains("1 h 0 min"), "{f:?}");
        assert!(f
            .advice
            .as_deref()
            .is_some_and(|a| a.contains("\"token_lifetime\": null")));
        assert_eq!(lifetime(&who(TokenLifetime::NotShown)).status, Status::Warn);
    }
}
