//! The API token, kept in a type that cannot leak it by accident.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretString};

/// Name of the environment variable that may carry the token, for operators who keep secrets in the
/// service manager's environment rather than in a file.
pub const TOKEN_ENV_VAR: &str = "TALLY_WALDUR_TOKEN";

/// A Waldur API token.
///
/// `Debug` and `Display` print `Token(***)`: the token ends up in log lines, error chains and
/// `--dry-run` output only if someone calls [`Token::expose`], which the client does in exactly one
/// place (building the `Authorization` header, marked sensitive).
#[derive(Clone)]
pub struct Token(SecretString);

/// Why a token could not be loaded. Never carries the token's content, only where it came from.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    #[error("cannot read the Waldur token file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the Waldur token from {origin} is empty")]
    Empty { origin: String },
    #[error("the Waldur token from {origin} contains whitespace or control characters inside it")]
    Malformed { origin: String },
    #[error("the environment variable {var} is not set")]
    MissingEnv { var: &'static str },
    #[error("the environment variable {var} is not valid UTF-8")]
    NotUnicodeEnv { var: &'static str },
}

impl Token {
    /// Wraps a token already in memory (tests, or a config layer that read it itself). Surrounding
    /// whitespace is dropped because files and variables usually end in a newline.
    pub fn new(token: impl Into<String>) -> Result<Self, TokenError> {
        Self::checked(token.into(), "the configuration")
    }

    /// Reads the token from a file; the error names the file, never its content.
    pub fn from_file(path: &Path) -> Result<Self, TokenError> {
        let text = std::fs::read_to_string(path).map_err(|source| TokenError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::checked(text, &format!("file {}", path.display()))
    }

    /// Reads the token from [`TOKEN_ENV_VAR`].
    pub fn from_env() -> Result<Self, TokenError> {
        match std::env::var(TOKEN_ENV_VAR) {
            Ok(v) => Self::checked(v, &format!("environment variable {TOKEN_ENV_VAR}")),
            Err(std::env::VarError::NotPresent) => {
                Err(TokenError::MissingEnv { var: TOKEN_ENV_VAR })
            }
            Err(std::env::VarError::NotUnicode(_)) => {
                Err(TokenError::NotUnicodeEnv { var: TOKEN_ENV_VAR })
            }
        }
    }

    fn checked(text: String, origin: &str) -> Result<Self, TokenError> {
        let secret = SecretString::from(text);
        let trimmed = secret.expose_secret().trim();
        if trimmed.is_empty() {
            return Err(TokenError::Empty {
                origin: origin.to_owned(),
            });
        }
        // Waldur answers "Token string should not contain spaces." for these; failing here names the
        // file instead of producing a 401 on every call.
        if trimmed.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return Err(TokenError::Malformed {
                origin: origin.to_owned(),
            });
        }
        Ok(Token(SecretString::from(trimmed.to_owned())))
    }

    /// The token's text. Only the header builder and the redaction of server bodies need it.
    pub fn expose(&self) -> &str {
        self.0.expose_secret()
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(***)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn from_env_trims_and_never_echoes() {
        // The only test touching this variable, so the process-wide change does not race.
        std::env::set_var(TOKEN_ENV_VAR, " abc123secret\n");
        assert_eq!(Token::from_env().expect("token").expose(), "abc123secret");
        std::env::set_var(TOKEN_ENV_VAR, "abc 123secret");
        let err = Token::from_env().expect_err("inner space");
        let shown = format!("{err} {err:?}");
        assert!(shown.contains(TOKEN_ENV_VAR), "{shown}");
        assert!(!shown.contains("123secret"), "{shown}");
        std::env::remove_var(TOKEN_ENV_VAR);
        assert!(matches!(
            Token::from_env(),
            Err(TokenError::MissingEnv { .. })
        ));
    }

    #[test]
    fn inline_tokens_are_checked_too() {
        assert!(matches!(Token::new("  "), Err(TokenError::Empty { .. })));
        assert!(matches!(
            Token::new("a\u{7}b"),
            Err(TokenError::Malformed { .. })
        ));
        let t = Token::new("k").expect("token");
        assert_eq!(format!("{t:?} {t}"), "Token(***) Token(***)");
    }
}
