//! The order operations of the SDK guide (`marketplace_orders_approve_by_provider`,
//! `..._reject_by_provider`, `marketplace_orders_cancel`), one result per order.

use tally_waldur::WaldurClient;
use uuid::Uuid;

use crate::{each, tally_says, Batch, Outcome};

/// What to do with the orders.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action<'a> {
    /// Pending-provider orders move to executing.
    Approve,
    /// Pending-provider orders move to rejected, with the comment the consumer sees.
    Reject(Option<&'a str>),
    /// Consumer side; basic/support offerings; pending or executing orders.
    Cancel,
}

impl Action<'_> {
    /// The command's word for it.
    pub fn name(self) -> &'static str {
        match self {
            Action::Approve => "approve",
            Action::Reject(_) => "reject",
            Action::Cancel => "cancel",
        }
    }

    fn past_tense(self) -> &'static str {
        match self {
            Action::Approve => "approved",
            Action::Reject(_) => "rejected",
            Action::Cancel => "canceled",
        }
    }
}

/// Runs `action` on each order in turn, each result with the order's state after it.
pub async fn act(client: &WaldurClient, orders: &[Uuid], action: Action<'_>) -> Batch {
    each(orders, |uuid| async move {
        // The server's own words when it sends any (8.x approve: `{"detail": ...}`); the 2024
        // generation and every reject/cancel answer with an empty body, so the result says that
        // the words are tally's.
        let done = match action {
            Action::Approve => client
                .approve_order(uuid, None)
                .await
                .map(|r| r.detail.filter(|d| !d.trim().is_empty())),
            Action::Reject(comment) => client.reject_order(uuid, comment).await.map(|()| None),
            Action::Cancel => client.cancel_order(uuid).await.map(|()| None),
        };
        // The state after the action (or the one that made it fail): Waldur's 409 names only the
        // states the action needs, the operator also wants to know which one the order is in.
        let now = client.order(uuid).await.ok();
        let state = now
            .as_ref()
            .and_then(|o| o.state.as_ref())
            .map(|s| s.to_string());
        match done {
            Ok(Some(message)) => Ok(Outcome::done(uuid, state, message)),
            Ok(None) => {
                let mut message = format!(
                    "{} (Waldur answered without a message)",
                    action.past_tense()
                );
                if let (Action::Reject(Some(comment)), Some(order)) = (action, &now) {
                    match order.provider_rejection_comment.as_deref() {
                        Some(kept) if kept == comment => {}
                        Some(_) => message.push_str("; the comment was not stored"),
                        None => message.push_str(
                            "; the comment was not stored: this server keeps no provider_rejection_comment",
                        ),
                    }
                }
                Ok(Outcome::done(uuid, state, tally_says(message)))
            }
            Err(e) => {
                let mut o = Outcome::failed(uuid, &e, state.clone());
                if let (tally_waldur::Error::Conflict(_), Some(s)) = (&e, &state) {
                    o = o.explained(format!("the order is {s}"));
                }
                Err((o, e))
            }
        }
    })
    .await
}
