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

/// A client error as an operator should read it: a refused token with the next step
/// ([`TokenRefused`]), unless the client has explained it already (an expired token); any other
/// error back as it is. The provider operations word a refusal as `push` does.
pub fn token_refused(e: tally_waldur::Error) -> Result<TokenRefused, tally_waldur::Error> {
    if needs_token_hint(&e) {
        Ok(TokenRefused(e))
    } else {
        Err(e)
    }
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

/// What an operator does about an error that stopped a command; the binary turns it into an
/// exit code (README "Exit codes"). An error of no kind is an unexpected failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorKind {
    /// The configuration or the command line is wrong, or an input file is missing, malformed
    /// or ambiguous: fix it and run again. Nothing was sent.
    Usage,
    /// Another run holds the run lock: nothing was done.
    Locked,
    /// Waldur refused the API token: nothing will work until it is fixed.
    TokenRefused,
}

/// The kind of the first error along `err` and its causes that has one, looking through the
/// errors that show another library's error as it is (`#[error(transparent)]`, whose own
/// `source()` skips the error they wrap).
pub fn error_kind(err: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    let mut cause = Some(err);
    while let Some(c) = cause {
        let mut level = Some(c);
        while let Some(e) = level {
            if let Some(kind) = kind_of(e) {
                return Some(kind);
            }
            level = wrapped(e);
        }
        cause = c.source();
    }
    None
}

/// The kind of one error, by the library's own type.
fn kind_of(e: &(dyn std::error::Error + 'static)) -> Option<ErrorKind> {
    use tally_sources::SourceError;
    if let Some(tally_waldur::Error::Unauthorized(_)) = e.downcast_ref() {
        return Some(ErrorKind::TokenRefused);
    }
    if let Some(
        SourceError::Format { .. } | SourceError::Files(_) | SourceError::UnknownClusters { .. },
    ) = e.downcast_ref()
    {
        return Some(ErrorKind::Usage);
    }
    if e.is::<tally_config::ConfigError>()
        || e.is::<tally_sources::FileListError>()
        || e.is::<tally_aggregate::IdentityConflict>()
        || e.is::<UsageError>()
    {
        return Some(ErrorKind::Usage);
    }
    e.is::<tally_push::LockError>().then_some(ErrorKind::Locked)
}

/// The error a pipeline error that shows another library's error as it is stands for.
fn wrapped<'a>(
    e: &'a (dyn std::error::Error + 'static),
) -> Option<&'a (dyn std::error::Error + 'static)> {
    if let Some(e) = e.downcast_ref::<crate::CollectError>() {
        return e.wrapped();
    }
    if let Some(e) = e.downcast_ref::<PipelineError>() {
        return e.wrapped();
    }
    if let Some(e) = e.downcast_ref::<crate::run::RunError>() {
        return Some(e.wrapped());
    }
    e.downcast_ref::<crate::replay::ReplayError>()
        .and_then(|e| e.wrapped())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::replay::ReplayError;
    use crate::run::RunError;

    /// A transparent wrapper's `source()` skips the error it wraps: the kind is still found.
    #[test]
    fn the_kind_is_found_through_transparent_wrappers() {
        let held = tally_push::LockError::Held {
            path: "/var/lib/tally/ledger.sqlite.lock".into(),
            holder: None,
        };
        assert_eq!(error_kind(&RunError::Lock(held)), Some(ErrorKind::Locked));
        let usage = UsageError("--from 2026-11 is after --to 2026-10".into());
        assert_eq!(
            error_kind(&ReplayError::Usage(usage)),
            Some(ErrorKind::Usage)
        );
        let io = std::io::Error::other("disk full");
        assert_eq!(error_kind(&RunError::Output(io)), None);
    }
}
