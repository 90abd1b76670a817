//! Resource-allocation operations on the provider view of resources (a provider organisation's
//! owner sees its offering's resources only there).

use tally_waldur::{
    ErrorDetails, OrderFilter, OrderState, OrderType, ReportSection, ResourceView, WaldurClient,
};
use uuid::Uuid;

use crate::{tally_says, Batch, Outcome};

/// The resource's state now, for the per-object result.
pub async fn state_of(client: &WaldurClient, uuid: Uuid) -> Option<String> {
    client
        .resource(ResourceView::Provider, uuid, &["state".to_owned()])
        .await
        .ok()
        .and_then(|r| r.state)
        .map(|s| s.to_string())
}

/// One operation's result on one resource, with the resource's state read after it.
pub async fn result_of(
    client: &WaldurClient,
    uuid: Uuid,
    result: Result<String, tally_waldur::Error>,
) -> Batch {
    let state = state_of(client, uuid).await;
    match result {
        Ok(message) => Batch::single(Outcome::done(uuid, state, message), None),
        Err(e) => Batch::single(Outcome::failed(uuid, &e, state), Some(e)),
    }
}

/// Sets the resource's backend_id (the provider's local reference, e.g. the SLURM account).
///
/// `Err` only for a value the client refuses to send (`InvalidRequest`: nothing was sent, the
/// caller's input is wrong); every answer of the server is in the batch.
pub async fn set_backend_id(
    client: &WaldurClient,
    resource: Uuid,
    backend_id: &str,
) -> Result<Batch, tally_waldur::Error> {
    let r = client.set_backend_id(resource, backend_id).await.map(|s| {
        s.status.or(s.detail).unwrap_or_else(|| {
            tally_says(format!(
                "backend_id set to {backend_id:?} (Waldur answered without a message)"
            ))
        })
    });
    if let Err(e @ tally_waldur::Error::InvalidRequest(_)) = r {
        return Err(e);
    }
    Ok(result_of(client, resource, r).await)
}

/// Replaces the resource's report (access details shown to the consumer).
pub async fn submit_report(
    client: &WaldurClient,
    resource: Uuid,
    report: &[ReportSection],
) -> Batch {
    let r = client.submit_report(resource, report).await.map(|s| {
        s.status
            .or(s.detail)
            .unwrap_or_else(|| tally_says("report submitted (Waldur answered without a message)"))
    });
    result_of(client, resource, r).await
}

/// Why a report file could not be read as one.
#[derive(Debug, thiserror::Error)]
#[error("not a report ([{{\"header\": ..., \"body\": ...}}, ...]): {0}")]
pub struct NotAReport(#[from] serde_json::Error);

/// A report file: `[{"header": ..., "body": ...}, ...]` or `{"report": [...]}`.
pub fn parse_report(text: &str) -> Result<Vec<ReportSection>, NotAReport> {
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    enum File {
        List(Vec<ReportSection>),
        Wrapped { report: Vec<ReportSection> },
    }
    Ok(match serde_json::from_str::<File>(text)? {
        File::List(s) | File::Wrapped { report: s } => s,
    })
}

/// A section written as `Header=Body`; `None` when there is no `=` or the header is blank.
pub fn parse_section(s: &str) -> Option<ReportSection> {
    match s.split_once('=') {
        Some((h, b)) if !h.trim().is_empty() => Some(ReportSection {
            header: h.trim().to_owned(),
            body: b.to_owned(),
        }),
        _ => None,
    }
}

/// The state a provider sets on a resource it was asked to create.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SetState<'a> {
    /// Created successfully (`set_as_ok`).
    Ok,
    /// Not created because of an error (`set_as_erred`), with the message the consumer sees.
    Erred { error_message: Option<&'a str> },
}

impl SetState<'_> {
    fn endpoint(self) -> &'static str {
        match self {
            SetState::Ok => "set_as_ok",
            SetState::Erred { .. } => "set_as_erred",
        }
    }

    fn order_call(self) -> &'static str {
        match self {
            SetState::Ok => "set_state_done",
            SetState::Erred { .. } => "set_state_erred",
        }
    }
}

/// `set-state ok|erred` with what the server offers.
///
/// 8.x has `set_as_ok` and lets the provider call `set_as_erred`. The 2024 generation has no
/// `set_as_ok` (an HTML 404), keeps `set_as_erred` for staff (403 to the provider) and does not
/// store its `error_message`; there a provider finishes a resource through its order
/// (`set_state_done` / `set_state_erred`, which does store the message). So: the resource action
/// first; where the server has none for this token, the resource's executing order; where there
/// is none either, the result says plainly that a provider cannot do it on this server.
pub async fn set_state(client: &WaldurClient, resource: Uuid, state: SetState<'_>) -> Batch {
    let given = match state {
        SetState::Ok => None,
        SetState::Erred { error_message } => error_message,
    };
    let details = ErrorDetails {
        error_message: given.map(str::to_owned),
        error_traceback: None,
    };
    let direct = match state {
        SetState::Ok => client.set_as_ok(resource).await,
        SetState::Erred { .. } => client.set_as_erred(resource, &details).await,
    };
    let endpoint = state.endpoint();
    let refused = match direct {
        Ok(()) => {
            let mut message = format!("{endpoint} done (Waldur answered without a message)");
            if let Some(given) = given {
                let stored = client
                    .resource(
                        ResourceView::Provider,
                        resource,
                        &["error_message".to_owned()],
                    )
                    .await
                    .ok()
                    .and_then(|r| r.error_message);
                if stored.as_deref() != Some(given) {
                    message.push_str(
                        "; the server did not store the error message (it keeps the resource's error_message only from its own processing)",
                    );
                }
            }
            return result_of(client, resource, Ok(tally_says(message))).await;
        }
        // Only these mean "not this way on this server / for this token"; a 409 (wrong state),
        // a JSON 404 (no such resource) and the rest are the answer.
        Err(e) if e.is_missing_endpoint() || matches!(e, tally_waldur::Error::Forbidden(_)) => e,
        Err(e) => return result_of(client, resource, Err(e)).await,
    };
    let why = if refused.is_missing_endpoint() {
        format!("this server has no {endpoint}")
    } else {
        format!("{endpoint} is refused to this token (servers of 2024 keep it for staff)")
    };
    // Only a Create or Update order: completing a Terminate order would end the resource.
    let executing = client
        .orders(&OrderFilter {
            resource_uuid: Some(resource),
            states: vec![OrderState::Executing],
            types: vec![OrderType::Create, OrderType::Update],
            ..Default::default()
        })
        .await;
    let order = match executing {
        Ok(orders) => orders.into_iter().max_by_key(|o| o.created),
        Err(e) => return result_of(client, resource, Err(e)).await,
    };
    let Some(order) = order else {
        // The server's refusal, and in tally's words why and what to do.
        let o = Outcome::failed(resource, &refused, None).explained(format!(
            "{why}, and the resource has no executing Create or Update order to complete instead: a provider cannot set this state here; ask the server's staff"
        ));
        return failed_with_state(client, resource, o, refused).await;
    };
    let kind = order
        .order_type
        .map(|t| t.to_string())
        .unwrap_or_else(|| "its".to_owned());
    let via = match state {
        SetState::Ok => client.set_order_done(order.uuid).await,
        SetState::Erred { .. } => client.set_order_erred(order.uuid, &details).await,
    };
    match via {
        Ok(()) => {
            let mut message = format!(
                "{why}; completed the resource's executing {kind} order {} with {} instead",
                order.uuid.simple(),
                state.order_call()
            );
            if let Some(given) = given {
                let stored = client
                    .order(order.uuid)
                    .await
                    .ok()
                    .and_then(|o| o.error_message);
                if stored.as_deref() == Some(given) {
                    message.push_str("; the error message is stored on the order");
                } else {
                    message.push_str("; the server did not store the error message");
                }
            }
            result_of(client, resource, Ok(tally_says(message))).await
        }
        Err(e) => {
            let o = Outcome::failed(resource, &e, None).explained(format!(
                "{why}; the resource's executing order {} refused too",
                order.uuid.simple()
            ));
            failed_with_state(client, resource, o, e).await
        }
    }
}

/// A failed result with the resource's state now.
async fn failed_with_state(
    client: &WaldurClient,
    resource: Uuid,
    mut outcome: Outcome,
    e: tally_waldur::Error,
) -> Batch {
    outcome.state = state_of(client, resource).await;
    Batch::single(outcome, Some(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn report_file_as_a_list_or_wrapped() {
        let list = parse_report(r#"[{"header": "Login", "body": "ssh x"}]"#).expect("list");
        let wrapped =
            parse_report(r#"{"report": [{"header": "Login", "body": "ssh x"}]}"#).expect("wrapped");
        assert_eq!(list, wrapped);
        assert_eq!(list[0].header, "Login");
        let e = parse_report(r#"{"sections": []}"#).expect_err("not a report");
        assert!(e.to_string().starts_with("not a report ("), "{e}");
    }

    #[test]
    fn section_splits_at_the_first_equals_sign_and_needs_a_header() {
        let s = parse_section(" Access = a=b").expect("section");
        assert_eq!((s.header.as_str(), s.body.as_str()), ("Access", " a=b"));
        assert!(parse_section("=body").is_none());
        assert!(parse_section("no separator").is_none());
    }
}
