//! The executor: sends a plan's requests with bounded concurrency, records every request in the
//! ledger before and after it is sent, and guards the current month against servers that write a
//! past-month report into it.
//!
//! Requests of one resource go in order (past months first, the current month last) by one task;
//! resources run in parallel up to `concurrency`. The client's rate limiter is shared by all tasks
//! and takes a permit for every attempt, retries included.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use rust_decimal::Decimal;
use serde::Serialize;
use tally_model::BillingMonth;
use tally_waldur::{Error, WaldurClient, TOKEN_EXPIRED_HINT};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::gather;
use crate::ledger::{AttemptAmounts, AttemptResult, AttemptStart, Ledger, Purpose, UserAmount};
use crate::plan::{Holdings, Plan, PlannedRequest, ResolvedResource};
use crate::users::{PlannedUserUsages, UserPlan};

/// What happened to one planned request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// 201: Waldur holds the totals.
    Delivered,
    /// The month is closed to this caller (SEMANTICS.md §3): not retried, reported.
    Closed { message: String },
    /// Waldur refused the content (resource state, component, permission, amount limit).
    Refused {
        status: Option<u16>,
        message: String,
    },
    /// 400 "Total amount exceeds limit": the report would take the period's usage of a
    /// component over its `limit_amount` (`OfferingComponent.validate_amount`). Not retried.
    OverLimit {
        /// What the period would hold with this report, as the server computed it.
        #[serde(with = "rust_decimal::serde::str")]
        total: rust_decimal::Decimal,
        /// The component's `limit_amount`.
        #[serde(with = "rust_decimal::serde::str")]
        limit: rust_decimal::Decimal,
        message: String,
    },
    /// 401: the token is wrong or expired; nothing else is sent in this run.
    Unauthorized { message: String },
    /// Still failing after the retries (5xx, 429, timeouts, connections); the next run retries.
    Failed { message: String },
    /// Accepted, but the server wrote it into the current month (it ignores `date`).
    DateIgnored { message: String },
    /// Not sent, because of something that happened earlier in this run.
    NotSent { reason: String },
}

impl Outcome {
    pub fn is_delivered(&self) -> bool {
        matches!(self, Outcome::Delivered)
    }

    /// The ledger's `outcome` column.
    pub fn name(&self) -> &'static str {
        match self {
            Outcome::Delivered => "delivered",
            Outcome::Closed { .. } => "closed",
            Outcome::Refused { .. } => "refused",
            Outcome::OverLimit { .. } => "over_limit",
            Outcome::Unauthorized { .. } => "unauthorized",
            Outcome::Failed { .. } => "failed",
            Outcome::DateIgnored { .. } => "date_ignored",
            Outcome::NotSent { .. } => "not_sent",
        }
    }

    pub fn message(&self) -> Option<&str> {
        match self {
            Outcome::Delivered => None,
            Outcome::Closed { message }
            | Outcome::Refused { message, .. }
            | Outcome::OverLimit { message, .. }
            | Outcome::Unauthorized { message }
            | Outcome::Failed { message }
            | Outcome::DateIgnored { message } => Some(message),
            Outcome::NotSent { reason } => Some(reason),
        }
    }
}

/// Classifies a `set_usage` error. Pure; table-tested.
pub fn outcome_of_error(e: &Error) -> Outcome {
    match e {
        Error::Unauthorized(_) => Outcome::Unauthorized {
            message: if e.is_token_expired() {
                e.to_string()
            } else {
                format!("{e}. {TOKEN_EXPIRED_HINT}")
            },
        },
        Error::Validation(f) => {
            let closed = !f.message.field("date").is_empty()
                || f.message
                    .field("plan_period")
                    .iter()
                    .any(|m| m.contains("closed"));
            if let Some(over) = f.message.component_limit_exceeded() {
                Outcome::OverLimit {
                    total: over.total,
                    limit: over.limit,
                    message: format!(
                        "over the component's limit: the period would hold {} with this report, the limit is {}",
                        over.total, over.limit
                    ),
                }
            } else if closed {
                Outcome::Closed {
                    message: format!("not accepted: {}", f.message),
                }
            } else {
                Outcome::Refused {
                    status: Some(f.status),
                    message: f.message.to_string(),
                }
            }
        }
        Error::Forbidden(f)
        | Error::NotFound(f)
        | Error::Conflict(f)
        | Error::UnexpectedStatus(f) => Outcome::Refused {
            status: Some(f.status),
            message: e.to_string(),
        },
        Error::InvalidRequest(m) => Outcome::Refused {
            status: None,
            message: m.clone(),
        },
        _ => Outcome::Failed {
            message: e.to_string(),
        },
    }
}

/// One planned request and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct RequestResult {
    pub request: PlannedRequest,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// A repair of the current month after a past-month request landed in it.
#[derive(Debug, Clone, Serialize)]
pub struct Restore {
    pub target: ResolvedResource,
    pub month: BillingMonth,
    /// What the current month held after the past-month request.
    pub found: BTreeMap<String, Decimal>,
    /// What it was set back to.
    pub restored_to: BTreeMap<String, Decimal>,
    /// Whether a read-back confirmed it.
    pub confirmed: bool,
    pub message: Option<String>,
}

/// Everything a push did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Execution {
    pub results: Vec<RequestResult>,
    pub restores: Vec<Restore>,
    /// Set when a 401 stopped the run (message includes the token_lifetime hint).
    pub auth_failure: Option<String>,
    /// Set when the ledger could not be written (the run stops sending: no unrecorded writes).
    pub ledger_failure: Option<String>,
    /// Set when a past-month request changed the current month (or could not be verified), after
    /// which no past month was sent.
    pub past_months_stopped: Option<String>,
}

/// How the executor runs.
#[derive(Debug, Clone)]
pub struct ExecuteOptions {
    /// Resources in flight at once (config `concurrency`).
    pub concurrency: usize,
    /// The ledger's run id.
    pub run_id: String,
}

/// Called after each request with the number of cells it carried (progress bars).
pub type Progress = Arc<dyn Fn(usize) + Send + Sync>;

/// What every send task of one execution shares: the client, the ledger, and the flags that
/// stop the others once the token is refused, the ledger fails or past months are untrusted.
struct SendContext {
    client: WaldurClient,
    ledger: Option<Arc<Ledger>>,
    run_id: String,
    current: Option<BillingMonth>,
    abort: AtomicBool,
    stop_past: AtomicBool,
    auth_failure: Mutex<Option<String>>,
    ledger_failure: Mutex<Option<String>>,
    past_stopped: Mutex<Option<String>>,
}

fn set_once(slot: &Mutex<Option<String>>, text: String) {
    if let Ok(mut s) = slot.lock() {
        if s.is_none() {
            *s = Some(text);
        }
    }
}

fn take(slot: &Mutex<Option<String>>) -> Option<String> {
    slot.lock().ok().and_then(|mut s| s.take())
}

impl SendContext {
    fn abort_reason(&self) -> String {
        if let Ok(Some(a)) = self.auth_failure.lock().as_deref() {
            return format!("not sent: the token was rejected earlier in this run ({a})");
        }
        "not sent: the ledger could not be written earlier in this run".to_owned()
    }

    /// Sends one `set_usage` with its ledger rows around it.
    async fn send(
        &self,
        target: &ResolvedResource,
        month: BillingMonth,
        req: &PlannedRequest,
        purpose: Purpose,
    ) -> Outcome {
        let body = req.to_request();
        let start = AttemptStart {
            run_id: &self.run_id,
            backend_id: &target.backend_id,
            resource: target.uuid,
            month: &month.to_string(),
            date: req.date,
            amounts: AttemptAmounts::Totals {
                purpose,
                items: &req.items,
                held: &req.held,
            },
        };
        self.send_recorded(&start, self.client.set_usage(&body))
            .await
    }

    /// The one send path of totals and breakdowns alike: the ledger's `pending` row before the
    /// call (so a crash leaves a trace), its outcome after. A refused token or a ledger that
    /// cannot be written stops every other task of the execution.
    async fn send_recorded(
        &self,
        start: &AttemptStart<'_>,
        call: impl std::future::Future<Output = Result<(), Error>>,
    ) -> Outcome {
        let attempt = match &self.ledger {
            None => None,
            Some(l) => match l.begin_attempt(start) {
                Ok(id) => Some(id),
                Err(e) => {
                    set_once(&self.ledger_failure, e.to_string());
                    self.abort.store(true, Ordering::SeqCst);
                    return Outcome::NotSent {
                        reason: format!("not sent: {e}"),
                    };
                }
            },
        };
        let answer = call.await;
        let (outcome, status, attempts) = match &answer {
            Ok(()) => (Outcome::Delivered, Some(201), None),
            Err(e) => (
                outcome_of_error(e),
                e.status(),
                e.failure().map(|f| f.attempts),
            ),
        };
        if let Outcome::Unauthorized { message } = &outcome {
            set_once(&self.auth_failure, message.clone());
            self.abort.store(true, Ordering::SeqCst);
        }
        if let (Some(l), Some(id)) = (&self.ledger, attempt) {
            if let Err(e) = l.finish_attempt(
                id,
                &AttemptResult {
                    outcome: outcome.name(),
                    http_status: status,
                    http_attempts: attempts,
                    message: outcome.message(),
                },
            ) {
                set_once(&self.ledger_failure, e.to_string());
                self.abort.store(true, Ordering::SeqCst);
            }
        }
        outcome
    }

    /// After a delivered past-month request: does the past month hold what was sent, and is
    /// the current month unchanged? If the current month changed, stop past months, restore it.
    async fn verify_past(
        &self,
        req: &PlannedRequest,
        expected_current: &mut BTreeMap<String, Decimal>,
        tally_current: Option<&BTreeMap<String, Decimal>>,
        restores: &mut Vec<Restore>,
    ) -> Outcome {
        let Some(current) = self.current else {
            return Outcome::Delivered;
        };
        let uuid = req.target.uuid;
        let read = async {
            let past = gather::resource_month(&self.client, uuid, req.month).await?;
            let now = gather::resource_month(&self.client, uuid, current).await?;
            Ok::<_, Error>((past, now))
        };
        let (past, now) = match read.await {
            Ok(x) => x,
            Err(e) => {
                let why = format!(
                    "could not read back {} after reporting {}: {e}; past months are not sent for the rest of this run",
                    req.target.backend_id, req.month
                );
                tracing::error!("{why}");
                self.stop_past.store(true, Ordering::SeqCst);
                set_once(&self.past_stopped, why);
                return Outcome::Delivered;
            }
        };
        let current_changed = !same_amounts(&now, expected_current);
        let past_holds = req
            .items
            .iter()
            .all(|(c, a)| past.get(c).is_some_and(|h| h == a));
        if !current_changed && past_holds {
            return Outcome::Delivered;
        }
        self.stop_past.store(true, Ordering::SeqCst);
        let message = if current_changed {
            format!(
                "the server accepted {} for {} but changed the current month {current} instead (it ignores `date`); past months are not sent for the rest of this run",
                req.target.backend_id, req.month
            )
        } else {
            format!(
                "the server accepted {} for {} but does not hold the values in that month; past months are not sent for the rest of this run",
                req.target.backend_id, req.month
            )
        };
        tracing::error!("{message}");
        set_once(&self.past_stopped, message.clone());
        if current_changed {
            // The truth for the current month: tally's totals where it has them, what Waldur held
            // before for the rest, and zero for anything the past-month request created.
            let mut desired = expected_current.clone();
            if let Some(t) = tally_current {
                desired.extend(t.iter().map(|(k, v)| (k.clone(), *v)));
            }
            for k in now.keys() {
                desired.entry(k.clone()).or_insert(Decimal::ZERO);
            }
            let items: Vec<(String, Decimal)> = desired
                .iter()
                .filter(|(k, v)| now.get(*k) != Some(*v))
                .map(|(k, v)| (k.clone(), *v))
                .collect();
            let restore_req = PlannedRequest {
                target: req.target.clone(),
                month: current,
                date: None,
                held: items.iter().map(|(k, _)| now.get(k).copied()).collect(),
                items,
            };
            let outcome = self
                .send(&req.target, current, &restore_req, Purpose::Restore)
                .await;
            let confirmed = outcome.is_delivered()
                && gather::resource_month(&self.client, uuid, current)
                    .await
                    .is_ok_and(|h| same_amounts(&h, &desired));
            let restore = Restore {
                target: req.target.clone(),
                month: current,
                found: now,
                restored_to: desired.clone(),
                confirmed,
                message: outcome.message().map(str::to_owned),
            };
            if confirmed {
                tracing::error!(resource = %req.target.backend_id, month = %current, "the current month was restored to tally's totals");
            } else {
                tracing::error!(resource = %req.target.backend_id, month = %current, "THE CURRENT MONTH COULD NOT BE RESTORED: check it by hand (tally check)");
            }
            restores.push(restore);
            *expected_current = desired;
        }
        Outcome::DateIgnored { message }
    }
}

/// Equal as amounts, a missing component counting as different from any value.
fn same_amounts(a: &BTreeMap<String, Decimal>, b: &BTreeMap<String, Decimal>) -> bool {
    a.len() == b.len() && a.iter().all(|(k, v)| b.get(k) == Some(v))
}

/// The outcome message of the requests of a task that panicked or was cancelled.
fn abnormal_end(e: &tokio::task::JoinError) -> String {
    let what = if e.is_panic() {
        "panicked"
    } else {
        "was cancelled"
    };
    format!("internal error: the task sending this {what}; whether Waldur holds it is not known (the next run compares and sends it again if needed)")
}

/// Sends the plan. Never fails as a whole: every request ends with an [`Outcome`].
pub async fn execute(
    client: &WaldurClient,
    plan: &Plan,
    holdings: &Holdings,
    ledger: Option<Arc<Ledger>>,
    opts: &ExecuteOptions,
    progress: Progress,
) -> Execution {
    let shared = Arc::new(SendContext {
        client: client.clone(),
        ledger,
        run_id: opts.run_id.clone(),
        current: plan.current_month,
        abort: AtomicBool::new(false),
        stop_past: AtomicBool::new(false),
        auth_failure: Mutex::new(None),
        ledger_failure: Mutex::new(None),
        past_stopped: Mutex::new(None),
    });
    let mut per_resource: BTreeMap<Uuid, Vec<PlannedRequest>> = BTreeMap::new();
    for r in &plan.requests {
        per_resource
            .entry(r.target.uuid)
            .or_default()
            .push(r.clone());
    }
    let gate = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    // Each task's requests, so a task that panics still has its requests reported.
    let mut carried: HashMap<tokio::task::Id, Vec<PlannedRequest>> = HashMap::new();
    for (uuid, mut requests) in per_resource {
        // Past months first: if one of them lands in the current month, the current month's
        // own request (or the restore) comes after it.
        requests.sort_by_key(|r| (r.date.is_none(), r.month));
        let mut expected_current: BTreeMap<String, Decimal> = match plan.current_month {
            Some(cur) => holdings
                .range((uuid, cur, String::new())..)
                .take_while(|((u, m, _), _)| *u == uuid && *m == cur)
                .map(|((_, _, c), v)| (c.clone(), *v))
                .collect(),
            None => BTreeMap::new(),
        };
        let tally_current = plan.current_totals.get(&uuid).cloned();
        let (shared, gate, progress) = (shared.clone(), gate.clone(), progress.clone());
        let mine = requests.clone();
        let handle = tasks.spawn(tracing::Instrument::in_current_span(async move {
            let _permit = gate.acquire_owned().await;
            let mut results = Vec::with_capacity(requests.len());
            let mut restores = Vec::new();
            for req in requests {
                let outcome = if shared.abort.load(Ordering::SeqCst) {
                    Outcome::NotSent {
                        reason: shared.abort_reason(),
                    }
                } else if req.is_past_month() && shared.stop_past.load(Ordering::SeqCst) {
                    Outcome::NotSent {
                        reason: "not sent: an earlier past-month report landed in the current month (or could not be verified)".to_owned(),
                    }
                } else {
                    let o = shared.send(&req.target, req.month, &req, Purpose::Report).await;
                    match (&o, req.is_past_month()) {
                        (Outcome::Delivered, true) => {
                            shared
                                .verify_past(
                                    &req,
                                    &mut expected_current,
                                    tally_current.as_ref(),
                                    &mut restores,
                                )
                                .await
                        }
                        (Outcome::Delivered, false) => {
                            expected_current
                                .extend(req.items.iter().map(|(c, a)| (c.clone(), *a)));
                            o
                        }
                        _ => o,
                    }
                };
                progress(req.items.len());
                results.push(RequestResult {
                    request: req,
                    outcome,
                });
            }
            (results, restores)
        }));
        carried.insert(handle.id(), mine);
    }
    let mut exec = Execution::default();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((results, restores)) => {
                exec.results.extend(results);
                exec.restores.extend(restores);
            }
            Err(e) => {
                // A panicking task is a bug; its requests are reported as failed, not lost:
                // the run exits 4 and the next run compares and sends what is still missing.
                tracing::error!("a push task ended abnormally: {e}");
                let message = abnormal_end(&e);
                exec.results.extend(
                    carried
                        .remove(&e.id())
                        .into_iter()
                        .flatten()
                        .map(|request| RequestResult {
                            request,
                            outcome: Outcome::Failed {
                                message: message.clone(),
                            },
                        }),
                );
            }
        }
    }
    exec.results.sort_by(|a, b| {
        (&a.request.target, a.request.month).cmp(&(&b.request.target, b.request.month))
    });
    exec.auth_failure = take(&shared.auth_failure);
    exec.ledger_failure = take(&shared.ledger_failure);
    exec.past_months_stopped = take(&shared.past_stopped);
    exec
}

/// One per-user call and what became of it.
#[derive(Debug, Clone, Serialize)]
pub struct UserRequestResult {
    pub request: PlannedUserUsages,
    #[serde(flatten)]
    pub outcome: Outcome,
}

/// Everything the per-user step did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct UserExecution {
    pub results: Vec<UserRequestResult>,
    /// Component-usage listings made to learn the records the totals created (one per month).
    pub id_reads: usize,
    pub auth_failure: Option<String>,
    pub ledger_failure: Option<String>,
}

/// Sends the per-user breakdowns after the totals ([`execute`]): a breakdown whose cell total
/// was part of the push goes only if that total was delivered (so the users add up to what
/// Waldur holds); past months go only while past months are still trusted; the records the
/// totals just created are learnt with one listing per month for all resources. Never fails as
/// a whole: every call ends with an [`Outcome`].
pub async fn execute_user_usages(
    client: &WaldurClient,
    offering: Uuid,
    plan: &UserPlan,
    cells: &Execution,
    ledger: Option<Arc<Ledger>>,
    opts: &ExecuteOptions,
) -> UserExecution {
    let mut out = UserExecution::default();
    let delivered: std::collections::BTreeSet<(Uuid, BillingMonth, &str)> = cells
        .results
        .iter()
        .filter(|r| r.outcome.is_delivered())
        .flat_map(|r| {
            r.request
                .items
                .iter()
                .map(move |(c, _)| (r.request.target.uuid, r.request.month, c.as_str()))
        })
        .collect();
    let stopped = cells
        .auth_failure
        .as_ref()
        .map(|a| format!("not sent: the token was rejected earlier in this run ({a})"))
        .or_else(|| {
            cells
                .ledger_failure
                .as_ref()
                .map(|_| "not sent: the ledger could not be written earlier in this run".to_owned())
        });
    let mut ready: Vec<PlannedUserUsages> = Vec::new();
    for req in &plan.requests {
        let why = if let Some(s) = &stopped {
            Some(s.clone())
        } else if req.after_report
            && !delivered.contains(&(req.target.uuid, req.month, req.component.as_str()))
        {
            Some(
                "not sent: the cell's total was not delivered, so its breakdown would not add up"
                    .to_owned(),
            )
        } else if req.date.is_some() && cells.past_months_stopped.is_some() {
            Some("not sent: an earlier past-month report landed in the current month (or could not be verified)".to_owned())
        } else {
            None
        };
        match why {
            Some(reason) => out.results.push(UserRequestResult {
                request: req.clone(),
                outcome: Outcome::NotSent { reason },
            }),
            None => ready.push(req.clone()),
        }
    }
    // The records the totals created: one listing per month, for all resources at once.
    let months: std::collections::BTreeSet<BillingMonth> = ready
        .iter()
        .filter(|r| r.component_usage.is_none())
        .map(|r| r.month)
        .collect();
    if !months.is_empty() {
        out.id_reads = months.len();
        match gather::holdings_and_ids(client, offering, &months).await {
            Ok((_, ids)) => {
                for r in &mut ready {
                    if r.component_usage.is_none() {
                        r.component_usage = ids.get(&r.key()).copied();
                    }
                }
            }
            Err(e) => {
                tracing::error!("cannot read the usage records the totals created: {e}");
                let message = format!("the usage record could not be read back: {e}");
                let (failed, rest): (Vec<_>, Vec<_>) =
                    ready.into_iter().partition(|r| r.component_usage.is_none());
                out.results
                    .extend(failed.into_iter().map(|request| UserRequestResult {
                        request,
                        outcome: Outcome::Failed {
                            message: message.clone(),
                        },
                    }));
                ready = rest;
            }
        }
    }
    let shared = Arc::new(SendContext {
        client: client.clone(),
        ledger,
        run_id: opts.run_id.clone(),
        current: None,
        abort: AtomicBool::new(false),
        stop_past: AtomicBool::new(false),
        auth_failure: Mutex::new(None),
        ledger_failure: Mutex::new(None),
        past_stopped: Mutex::new(None),
    });
    let gate = Arc::new(Semaphore::new(opts.concurrency.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let mut carried: HashMap<tokio::task::Id, PlannedUserUsages> = HashMap::new();
    for req in ready {
        let (shared, gate) = (shared.clone(), gate.clone());
        let mine = req.clone();
        let handle = tasks.spawn(tracing::Instrument::in_current_span(async move {
            let _permit = gate.acquire_owned().await;
            let outcome = shared.send_users(&req).await;
            UserRequestResult {
                request: req,
                outcome,
            }
        }));
        carried.insert(handle.id(), mine);
    }
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok(r) => out.results.push(r),
            Err(e) => {
                tracing::error!("a per-user push task ended abnormally: {e}");
                if let Some(request) = carried.remove(&e.id()) {
                    out.results.push(UserRequestResult {
                        request,
                        outcome: Outcome::Failed {
                            message: abnormal_end(&e),
                        },
                    });
                }
            }
        }
    }
    out.results.sort_by(|a, b| {
        (&a.request.target, a.request.month, &a.request.component).cmp(&(
            &b.request.target,
            b.request.month,
            &b.request.component,
        ))
    });
    out.auth_failure = take(&shared.auth_failure);
    out.ledger_failure = take(&shared.ledger_failure);
    out
}

impl SendContext {
    /// Sends one breakdown with its ledger rows around it.
    async fn send_users(&self, req: &PlannedUserUsages) -> Outcome {
        if self.abort.load(Ordering::SeqCst) {
            return Outcome::NotSent {
                reason: self.abort_reason(),
            };
        }
        let Some(record) = req.component_usage else {
            return Outcome::Failed {
                message: "Waldur lists no usage record for this cell after its total was delivered; the next run retries".to_owned(),
            };
        };
        let users: Vec<UserAmount<'_>> = req
            .users
            .iter()
            .map(|u| UserAmount {
                username: &u.username,
                offering_user: u.user.as_deref(),
                amount: u.amount,
            })
            .collect();
        let body = req.to_requests();
        let start = AttemptStart {
            run_id: &self.run_id,
            backend_id: &req.target.backend_id,
            resource: req.target.uuid,
            month: &req.month.to_string(),
            date: req.date,
            amounts: AttemptAmounts::Users {
                component: &req.component,
                component_usage: record,
                users: &users,
            },
        };
        self.send_recorded(&start, self.client.set_user_usages(record, &body))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use tally_waldur::{ApiFailure, ServerMessage};

    fn failure(status: u16, body: serde_json::Value) -> ApiFailure {
        ApiFailure {
            method: "POST".into(),
            path: "marketplace-component-usages/set_usage/".into(),
            status,
            message: ServerMessage::from_json(body),
            attempts: 1,
        }
    }

    #[test]
    fn answers_are_classified() {
        let closed = Error::Validation(failure(
            400,
            json!({"date": ["Service providers can only specify date for limit-based billing components when backfilling past billing periods."]}),
        ));
        assert!(matches!(outcome_of_error(&closed), Outcome::Closed { .. }));
        let pp = Error::Validation(failure(
            400,
            json!({"plan_period": ["Billing period is closed."]}),
        ));
        assert!(matches!(outcome_of_error(&pp), Outcome::Closed { .. }));
        let state = Error::Validation(failure(
            400,
            json!({"resource": ["Resource is not in valid state."]}),
        ));
        let o = outcome_of_error(&state);
        assert_eq!(o.name(), "refused");
        assert_eq!(
            o.message(),
            Some("resource: Resource is not in valid state.")
        );
        let auth = Error::Unauthorized(failure(401, json!({"detail": "Invalid token."})));
        let o = outcome_of_error(&auth);
        assert_eq!(o.name(), "unauthorized");
        assert!(o.message().is_some_and(|m| m.contains("token_lifetime")));
        let expired = Error::Unauthorized(failure(401, json!({"detail": "Token has expired."})));
        assert!(outcome_of_error(&expired)
            .message()
            .is_some_and(|m| m.matches("token_lifetime").count() >= 1));
        let forbidden = Error::Forbidden(failure(
            403,
            json!({"detail": "You do not have permission to perform this action."}),
        ));
        assert_eq!(outcome_of_error(&forbidden).name(), "refused");
        let over = Error::Validation(failure(
            400,
            json!(["Total amount exceeds limit. Total amount: 110.00, limit: 100."]),
        ));
        let o = outcome_of_error(&over);
        assert_eq!(o.name(), "over_limit");
        assert_eq!(
            o.message(),
            Some("over the component's limit: the period would hold 110.00 with this report, the limit is 100")
        );
        let server = Error::Server(failure(503, json!({})));
        assert_eq!(outcome_of_error(&server).name(), "failed");
        let timeout = Error::Timeout {
            method: "POST".into(),
            path: "x/".into(),
            attempts: 9,
        };
        assert_eq!(outcome_of_error(&timeout).name(), "failed");
    }

    #[test]
    fn amounts_compare_by_value_and_presence() {
        let m = |v: &[(&str, &str)]| -> BTreeMap<String, Decimal> {
            v.iter()
                .map(|(k, a)| ((*k).to_owned(), a.parse().expect("d")))
                .collect()
        };
        assert!(same_amounts(&m(&[("cpu", "1.5")]), &m(&[("cpu", "1.50")])));
        assert!(!same_amounts(
            &m(&[("cpu", "1.5")]),
            &m(&[("cpu", "1.5"), ("gpu", "0")])
        ));
        assert!(!same_amounts(&m(&[]), &m(&[("gpu", "0")])));
    }

    /// Issue 15: a push task that panicked vanished from the results, so the summary counted
    /// nothing for it and the run exited 0. Its requests are now failed (exit 4).
    #[tokio::test]
    async fn a_task_that_panics_leaves_its_requests_failed_not_lost() {
        // A closed port and no retries: the request fails at once, then the progress callback
        // (run inside the task) panics.
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let url = url::Url::parse(&format!("http://127.0.0.1:{port}/api/")).expect("url");
        let mut settings =
            tally_waldur::ClientSettings::new(url, tally_waldur::Token::new("t").expect("token"));
        settings.max_retries = 0;
        let client = WaldurClient::new(settings).expect("client");
        let month: BillingMonth = "2026-11".parse().expect("month");
        let request = |n: u128| PlannedRequest {
            target: ResolvedResource {
                uuid: Uuid::from_u128(n),
                backend_id: format!("proj_{n}"),
            },
            month,
            date: None,
            items: vec![("cpu".into(), Decimal::ONE)],
            held: vec![None],
        };
        let plan = Plan {
            current_month: Some(month),
            requests: vec![request(1), request(2)],
            ..Plan::default()
        };
        let opts = ExecuteOptions {
            concurrency: 2,
            run_id: "test".into(),
        };
        let progress: Progress = Arc::new(|_| panic!("a bug in a push task"));
        let exec = execute(&client, &plan, &Holdings::new(), None, &opts, progress).await;
        assert_eq!(exec.results.len(), 2);
        for r in &exec.results {
            assert_eq!(r.outcome.name(), "failed");
            assert!(
                r.outcome.message().is_some_and(|m| m.contains("panicked")),
                "{:?}",
                r.outcome
            );
        }
        let summary = crate::Summary::of(&plan, &exec);
        assert_eq!(summary.not_delivered(), 2);
    }
}
