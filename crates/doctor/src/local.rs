//! The checks of this machine: the config, the token file, the sources, the ledger and the lock.

use std::path::Path;

use tally_config::{Config, SourceKind, Waldur};
use tally_push::{LockError, RunLock};
use tally_sources::sacct_command::{self, SacctCommandOptions};

use crate::{Finding, Status};

/// The config loaded by the real loader, with `[waldur]` and its offering present.
pub(crate) fn config(path: &Path) -> Result<(Config, Finding), Finding> {
    let config = Config::load(path).map_err(|e| {
        Finding::fail(
            "config",
            e.to_string(),
            "fix the file (README \"Configuration\"); `tally init` writes a starter",
        )
    })?;
    match tally_pipeline::waldur_table(&config) {
        Ok(_) => {}
        Err(e) => {
            return Err(Finding::fail(
                "config",
                e.to_string(),
                "add [waldur] with url, token_file and offering_uuid",
            ))
        }
    }
    let summary = format!(
        "{} loads: {} source(s), {} component(s), billing zone {}",
        path.display(),
        config.sources.len(),
        config.rules.len(),
        config.billing_timezone
    );
    Ok((config, Finding::ok("config", summary)))
}

/// The token file: readable, and readable by its owner alone (the token is the provider's
/// key to every invoice of the offering).
pub(crate) fn token_file(waldur: Option<&Waldur>) -> Finding {
    const CHECK: &str = "token file";
    let Some(path) = waldur.and_then(|w| w.token_file.as_deref()) else {
        return match std::env::var_os(tally_waldur::TOKEN_ENV_VAR) {
            Some(_) => Finding::ok(
                CHECK,
                format!(
                    "no token_file; the token comes from {}",
                    tally_waldur::TOKEN_ENV_VAR
                ),
            ),
            None => Finding::fail(
                CHECK,
                format!(
                    "no waldur.token_file and {} is not set",
                    tally_waldur::TOKEN_ENV_VAR
                ),
                "set waldur.token_file to a file holding the token (mode 0600)",
            ),
        };
    };
    let shown = path.display();
    if let Err(e) = std::fs::File::open(path) {
        return Finding::fail(
            CHECK,
            format!("cannot read {shown}: {e}"),
            format!("create it with the token of the offering's provider user, readable by the user tally runs as: install -m 600 /dev/stdin {shown}"),
        );
    }
    match std::fs::metadata(path) {
        Ok(m) if !m.is_file() => Finding::fail(
            CHECK,
            format!("{shown} is not a regular file"),
            "point waldur.token_file at the file holding the token",
        ),
        Ok(m) => {
            let mode = unix_mode(&m);
            match mode {
                Some(mode) if mode & 0o077 != 0 => Finding::fail(
                    CHECK,
                    format!("{shown} is readable or writable by others (mode {mode:04o})"),
                    format!("chmod 600 {shown}"),
                ),
                Some(mode) => Finding::ok(CHECK, format!("{shown} readable, mode {mode:04o}")),
                None => Finding::ok(CHECK, format!("{shown} readable")),
            }
        }
        Err(e) => Finding::fail(CHECK, format!("cannot stat {shown}: {e}"), "check the path"),
    }
}

#[cfg(unix)]
fn unix_mode(m: &std::fs::Metadata) -> Option<u32> {
    use std::os::unix::fs::PermissionsExt;
    Some(m.permissions().mode() & 0o7777)
}

#[cfg(not(unix))]
fn unix_mode(_: &std::fs::Metadata) -> Option<u32> {
    None
}

/// Every source: its files present, or its sacct reachable and every configured cluster known to
/// slurmdbd. One finding for all sources (the first problem of each named).
pub(crate) fn sources(config: &Config) -> Finding {
    const CHECK: &str = "sources";
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for (i, source) in config.sources.iter().enumerate() {
        match &source.kind {
            SourceKind::SacctCommand(opts) => match live_sacct(opts) {
                Ok(text) => good.push(format!("[{i}] {text}")),
                Err(e) => bad.push(format!("[{i}] {e}")),
            },
            _ => match tally_sources::expand_paths(&config.base_dir, &source.paths) {
                Ok(files) => good.push(format!("[{i}] {} file(s)", files.len())),
                Err(e) => bad.push(format!("[{i}] {e}")),
            },
        }
    }
    if bad.is_empty() {
        Finding::ok(CHECK, good.join("; "))
    } else {
        Finding::fail(
            CHECK,
            bad.join("; "),
            "fix the paths or the Slurm settings of the sources named",
        )
    }
}

/// sacct answers (`--version`), and `sacctmgr list clusters` knows every configured cluster.
fn live_sacct(opts: &SacctCommandOptions) -> Result<String, String> {
    let sacct = &opts.sacct_path;
    let out = std::process::Command::new(sacct)
        .arg("--version")
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", sacct.display()))?;
    if !out.status.success() {
        return Err(format!(
            "{} --version exited with {}: {}",
            sacct.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    let version = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    let known = sacct_command::known_clusters(opts).map_err(|e| e.to_string())?;
    let Some(known) = known else {
        return Err(format!(
            "{} cannot be started: set sacctmgr_path so the configured clusters can be checked",
            opts.sacctmgr().display()
        ));
    };
    let unknown: Vec<&String> = opts
        .clusters
        .iter()
        .filter(|c| !known.iter().any(|k| k.eq_ignore_ascii_case(c)))
        .collect();
    if !unknown.is_empty() {
        return Err(format!(
            "cluster(s) {unknown:?} unknown to slurmdbd (sacctmgr lists {known:?})"
        ));
    }
    let clusters = if opts.clusters.is_empty() {
        "its own cluster".to_owned()
    } else {
        format!("cluster(s) {:?} known to slurmdbd", opts.clusters)
    };
    Ok(format!("{version}, {clusters}"))
}

/// The ledger writable (opened read-write when it exists; its directory writable when not, where
/// the first push creates it), and the run lock free to take.
pub(crate) fn ledger_and_lock(config: &Config) -> Vec<Finding> {
    let Some(waldur) = &config.waldur else {
        return vec![
            Finding::skipped("ledger", "no [waldur] table"),
            Finding::skipped("lock", "no [waldur] table"),
        ];
    };
    let ledger = &waldur.ledger;
    let shown = ledger.display();
    let ledger_finding = if ledger.exists() {
        match tally_push::Ledger::open(ledger) {
            Ok(_) => Finding::ok("ledger", format!("{shown} opens for writing")),
            Err(e) => Finding::fail(
                "ledger",
                format!("{shown}: {e}"),
                "give the user tally runs as write access to the ledger and its directory",
            ),
        }
    } else {
        let dir = ledger
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        match probe_writable(dir) {
            Ok(()) => Finding::ok(
                "ledger",
                format!(
                    "{shown} does not exist yet; {} is writable (the first push creates it)",
                    dir.display()
                ),
            ),
            Err(e) => Finding::fail(
                "ledger",
                format!("cannot create {shown}: {e}"),
                format!(
                    "create {} writable by the user tally runs as, or set waldur.ledger",
                    dir.display()
                ),
            ),
        }
    };
    let lock_path = tally_pipeline::lock_path(waldur);
    // A lock file doctor created (run as root, say) would belong to the wrong user and stop the
    // service's runs: where none exists, only its directory is tried.
    if !lock_path.exists() {
        let dir = lock_path
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        let lock_finding = match probe_writable(dir) {
            Ok(()) => Finding::ok("lock", format!("{} can be created", lock_path.display())),
            Err(e) => Finding::fail(
                "lock",
                format!("cannot create {}: {e}", lock_path.display()),
                "the lock lives beside the ledger: make that directory writable",
            ),
        };
        return vec![ledger_finding, lock_finding];
    }
    let lock_finding = match RunLock::try_acquire(&lock_path) {
        Ok(lock) => {
            drop(lock);
            Finding::ok("lock", format!("{} free", lock_path.display()))
        }
        Err(e @ LockError::Held { .. }) => Finding::new("lock", Status::Warn, e.to_string())
            .advise("a push or run is going on now; if none is, find the process named in the message"),
        Err(e) => Finding::fail(
            "lock",
            e.to_string(),
            "the lock lives beside the ledger: make that directory writable (and on a file system with locks)",
        ),
    };
    vec![ledger_finding, lock_finding]
}

/// Creates and removes a file in `dir`: the only sure test that this process may write there
/// (permission bits do not tell root, ACLs or read-only mounts).
fn probe_writable(dir: &Path) -> std::io::Result<()> {
    let probe = dir.join(format!(".tally-doctor-{}", std::process::id()));
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn waldur_with_token_file(path: &Path) -> Waldur {
        let text = format!(
            "[[sources]]\nformat = \"sacct\"\npaths = [\"x\"]\n[components.cpu]\ntres = \"cpu\"\n[waldur]\nurl = \"http://127.0.0.1:1/api/\"\ntoken_file = \"{}\"\noffering_uuid = \"{}\"\n",
            path.display(),
            "0b2e3c9a-5f6d-4e7f-8a9b-0c1d2e3f4a5b"
        );
        let cfg = Config::from_toml(&text, Path::new("/tmp/x.toml")).expect("config");
        cfg.waldur.expect("waldur")
    }

    #[cfg(unix)]
    #[test]
    fn a_token_file_others_can_read_fails_and_says_chmod() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("token");
        std::fs::write(&path, "sekrit-token-value\n").expect("write");
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).expect("chmod");
        let f = token_file(Some(&waldur_with_token_file(&path)));
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.summary.contains("0644"), "{f:?}");
        assert!(f
            .advice
            .as_deref()
            .is_some_and(|a| a.starts_with("chmod 600")));
        assert!(
            !format!("{f:?}").contains("sekrit"),
            "the token leaked: {f:?}"
        );
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o400)).expect("chmod");
        let f = token_file(Some(&waldur_with_token_file(&path)));
        assert_eq!(f.status, Status::Ok, "{f:?}");
    }

    #[test]
    fn a_missing_token_file_fails() {
        let f = token_file(Some(&waldur_with_token_file(Path::new(
            "/nonexistent/tally/token",
        ))));
        assert_eq!(f.status, Status::Fail, "{f:?}");
        assert!(f.summary.contains("/nonexistent/tally/token"), "{f:?}");
    }

    #[test]
    fn a_directory_that_is_a_file_cannot_hold_the_ledger() {
        let dir = tempfile::tempdir().expect("tmp");
        std::fs::write(dir.path().join("plain"), "").expect("write");
        assert!(probe_writable(&dir.path().join("plain")).is_err());
        assert!(probe_writable(dir.path()).is_ok());
        assert_eq!(
            std::fs::read_dir(dir.path()).expect("ls").count(),
            1,
            "the probe stays behind"
        );
    }
}
