//! Why a push or a check stopped.

use tally_push::LedgerError;

/// A value that makes no sense for the command (a window that ends before it starts, a
/// configuration without the offering to report for); nothing was read or sent.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct UsageError(pub String);

/// A Waldur call or the ledger stopped the pipeline. Each Waldur error keeps the client's error
/// as its source, so its kind (a refused token: exit 6) can still be told apart.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// A Waldur call failed; `what` names the step.
    #[error("{what}")]
    Waldur {
        what: &'static str,
        #[source]
        source: tally_waldur::Error,
    },
    /// Waldur refused the token during the step `what`.
    #[error("{what}")]
    WaldurRefusedToken {
        what: &'static str,
        #[source]
        source: TokenRefused,
    },
    /// Waldur refused the token on the first call (the server version).
    #[error(transparent)]
    RefusedToken(TokenRefused),
    /// The first call failed in a way the client explains itself (an expired token).
    #[error(transparent)]
    Server(tally_waldur::Error),
    #[error(transparent)]
    Ledger(#[from] LedgerError),
    /// The check at the end of a nightly run failed.
    #[error("the check after the push")]
    CheckAfterPush(#[source] Box<PipelineError>),
}

impl PipelineError {
    /// The other library's error a transparent variant stands for (its kind decides the exit
    /// code).
    pub fn wrapped(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            PipelineError::Server(e) => Some(e),
            PipelineError::Ledger(e) => Some(e),
            // The chain sees the box, not the error in it.
            PipelineError::CheckAfterPush(e) => Some(&**e),
            _ => None,
        }
    }
}

/// A rejected token, with the operator's next step, including the token_lifetime hint: a
/// nightly job's token must not expire (the client already explains an expired one).
#[derive(Debug, thiserror::Error)]
#[error(
    "Waldur refused the API token: check waldur.token_file (or TALLY_WALDUR_TOKEN) and that it \
     belongs to an owner of the provider organisation. {hint}",
    hint = tally_waldur::TOKEN_EXPIRED_HINT
)]
pub struct TokenRefused(#[source] pub tally_waldur::Error);

/// Whether the client's error is a token refusal the client has not explained yet.
fn needs_token_hint(e: &tally_waldur::Error) -> bool {
    matches!(e, tally_waldur::Error::Unauthorized(_)) && !e.is_token_expired()
}

/// The step `what` failed with `e`.
pub(crate) fn waldur(what: &'static str) -> impl FnOnce(tally_waldur::Error) -> PipelineError {
    move |e| {
        if needs_token_hint(&e) {
            PipelineError::WaldurRefusedToken {
                what,
                source: TokenRefused(e),
            }
        } else {
            PipelineError::Waldur { what, source: e }
        }
    }
}

/// A refused token on the first call, which names no step: it gets its hint unless the client
/// explained it already.
pub(crate) fn first_call(e: tally_waldur::Error) -> PipelineError {
    if needs_token_hint(&e) {
        PipelineError::RefusedToken(TokenRefused(e))
    } else {
        PipelineError::Server(e)
    }
}

/// An error with every cause after it, `: `-separated: the one line a ledger row or a log line
/// keeps of it.
pub fn chain_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}
