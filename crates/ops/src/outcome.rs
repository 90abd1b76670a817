//! Per-object results of the mutating operations, and the loop that runs one operation over
//! many objects.

use std::future::Future;

use serde::Serialize;
use uuid::Uuid;

/// What one operation on one object came to.
#[derive(Debug, Clone, Serialize)]
pub struct Outcome {
    /// The object (order, resource, user) the operation was about.
    pub uuid: String,
    pub ok: bool,
    /// The object's state after the operation (or at the time of a failure), when known.
    pub state: Option<String>,
    /// HTTP status of a failed answer, when there was one.
    pub status: Option<u16>,
    /// The server's message (success text, or the error with the server's words).
    pub message: String,
}

impl Outcome {
    pub fn done(uuid: Uuid, state: Option<String>, message: impl Into<String>) -> Self {
        Outcome {
            uuid: uuid.simple().to_string(),
            ok: true,
            state,
            status: None,
            message: message.into(),
        }
    }

    pub fn failed(uuid: Uuid, e: &tally_waldur::Error, state: Option<String>) -> Self {
        Self::failed_for(uuid.simple().to_string(), e, state)
    }

    /// A failure about an object that has no uuid yet (e.g. an offering user not created).
    pub fn failed_for(id: String, e: &tally_waldur::Error, state: Option<String>) -> Self {
        let message = match e.failure() {
            Some(f) => f.message.render(),
            None => e.to_string(),
        };
        Outcome {
            uuid: id,
            ok: false,
            state,
            status: e.status(),
            message,
        }
    }

    /// Appends tally's own explanation to a failure's message, marked as tally's.
    pub(crate) fn explained(mut self, why: impl std::fmt::Display) -> Self {
        self.message = format!("{} ({})", self.message, tally_says(why));
        self
    }
}

/// Words of tally's own in a result's MESSAGE, marked as such: that column otherwise holds the
/// server's words, and an operator must be able to tell which is which (e.g. when asking the
/// server's operators about a message).
pub fn tally_says(text: impl std::fmt::Display) -> String {
    format!("tally: {text}")
}

/// The results of one operation over its objects.
#[derive(Debug)]
pub struct Batch {
    /// One result per object attempted, in the order given.
    pub outcomes: Vec<Outcome>,
    /// How many objects were asked for (more than `outcomes` when a 401 stopped the run).
    pub total: usize,
    /// The 401 that stopped the run: every further call would fail the same way, and the caller
    /// must say "authentication", not "not done".
    pub fatal: Option<tally_waldur::Error>,
}

impl Batch {
    /// The result of an operation on one object; a 401 becomes the batch's fatal error.
    pub fn single(outcome: Outcome, error: Option<tally_waldur::Error>) -> Batch {
        Batch {
            outcomes: vec![outcome],
            total: 1,
            fatal: error.filter(|e| matches!(e, tally_waldur::Error::Unauthorized(_))),
        }
    }

    /// How many objects failed.
    pub fn failed(&self) -> usize {
        self.outcomes.iter().filter(|o| !o.ok).count()
    }

    /// `Err` when any object failed; `what` names the objects ("orders", "resources").
    pub fn all_done(&self, what: &str) -> Result<(), NotDone> {
        match self.failed() {
            0 => Ok(()),
            failed => Err(NotDone {
                failed,
                total: self.total,
                what: what.to_owned(),
            }),
        }
    }
}

/// Some of the requested operations were not done; each one's result is in the batch.
#[derive(Debug, thiserror::Error)]
#[error("{failed} of {total} {what} failed (results above)")]
pub struct NotDone {
    pub failed: usize,
    pub total: usize,
    pub what: String,
}

/// Runs `op` on each object in order. A 401 stops the run (every further call would fail the
/// same way) and becomes the batch's fatal error.
pub async fn each<F, Fut>(uuids: &[Uuid], mut op: F) -> Batch
where
    F: FnMut(Uuid) -> Fut,
    Fut: Future<Output = Result<Outcome, (Outcome, tally_waldur::Error)>>,
{
    let mut outcomes = Vec::with_capacity(uuids.len());
    for &u in uuids {
        match op(u).await {
            Ok(o) => outcomes.push(o),
            Err((o, e)) => {
                outcomes.push(o);
                if matches!(e, tally_waldur::Error::Unauthorized(_)) {
                    return Batch {
                        outcomes,
                        total: uuids.len(),
                        fatal: Some(e),
                    };
                }
            }
        }
    }
    Batch {
        outcomes,
        total: uuids.len(),
        fatal: None,
    }
}
