//! `tally init`: a commented starter `tally.toml` from what the offering and Slurm say.
//!
//! The offering's components become `[components.<type>]` tables with a guess at the TRES each
//! measures and its unit (from the component's type, name and measured unit), every guess marked
//! `GUESS` in the file; with `--sacct`, the clusters and TRES `sacctmgr` lists. The file is
//! written only where none exists.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use tally_sources::sacct_command::{self, SacctCommandOptions};
use tally_waldur::{ClientSettings, OfferingComponent, OfferingView, Token, WaldurClient};
use uuid::Uuid;

/// What `tally init` is given.
#[derive(Debug, Clone)]
pub struct InitOptions {
    /// The Waldur API base (`https://waldur.example.org/api/`).
    pub url: String,
    pub token_file: PathBuf,
    pub offering: Uuid,
    /// Ask `sacctmgr` for the clusters and TRES and read live `sacct` (else: dump files).
    pub sacct: Option<SacctCommandOptions>,
    /// The dump files' glob when not `sacct`.
    pub records: String,
    /// `waldur.ledger`.
    pub ledger: String,
}

#[derive(Debug, thiserror::Error)]
pub enum InitError {
    #[error("{0} exists already: tally init never overwrites a config (move it away, or pass another --output)")]
    Exists(PathBuf),
    #[error("cannot write {path}: {source}")]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Token(#[from] tally_waldur::TokenError),
    #[error("--url {url:?} is not a URL: {reason}")]
    Url { url: String, reason: String },
    #[error("cannot read offering {offering} from Waldur: {source}")]
    Waldur {
        offering: String,
        source: tally_waldur::Error,
    },
    #[error("--sacct: {0}")]
    Sacct(#[from] tally_sources::SourceError),
    #[error(
        "--sacct: {0} cannot be started (install the Slurm client tools, or leave out --sacct)"
    )]
    NoSacctmgr(PathBuf),
}

impl InitError {
    /// A mistake in what was asked (the command line or the token), not an outage.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            InitError::Exists(_) | InitError::Token(_) | InitError::Url { .. }
        )
    }
}

/// Refuses an existing `path` before anything is asked of Waldur.
pub fn refuse_existing(path: &Path) -> Result<(), InitError> {
    if path.exists() {
        Err(InitError::Exists(path.to_path_buf()))
    } else {
        Ok(())
    }
}

/// Writes `text` to `path`, which must not exist (checked again at creation: no race
/// overwrites a file that appeared meanwhile).
pub fn write_new(path: &Path, text: &str) -> Result<(), InitError> {
    use std::io::Write;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|source| match source.kind() {
            std::io::ErrorKind::AlreadyExists => InitError::Exists(path.to_path_buf()),
            _ => InitError::Write {
                path: path.to_path_buf(),
                source,
            },
        })?;
    f.write_all(text.as_bytes())
        .map_err(|source| InitError::Write {
            path: path.to_path_buf(),
            source,
        })
}

/// The starter config's text. Reads the offering (provider view); runs sacctmgr with `--sacct`.
pub async fn starter(opts: &InitOptions) -> Result<String, InitError> {
    let token = Token::from_file(&opts.token_file)?;
    let url = url::Url::parse(opts.url.trim()).map_err(|e| InitError::Url {
        url: opts.url.clone(),
        reason: e.to_string(),
    })?;
    let client =
        WaldurClient::new(ClientSettings::new(url, token)).map_err(|e| InitError::Url {
            url: opts.url.clone(),
            reason: e.to_string(),
        })?;
    let fields = [
        "uuid",
        "name",
        "customer_uuid",
        "customer_name",
        "components",
    ]
    .map(String::from);
    let offering = client
        .offering(OfferingView::Provider, opts.offering, &fields)
        .await
        .map_err(|source| InitError::Waldur {
            offering: opts.offering.simple().to_string(),
            source,
        })?;
    let slurm = match &opts.sacct {
        None => None,
        Some(sacct) => {
            let clusters = sacct_command::known_clusters(sacct)?
                .ok_or_else(|| InitError::NoSacctmgr(sacct.sacctmgr()))?;
            let tres = sacct_command::known_tres(sacct)?
                .ok_or_else(|| InitError::NoSacctmgr(sacct.sacctmgr()))?;
            Some((clusters, tres))
        }
    };

    let mut t = String::new();
    let name = offering.name.as_deref().unwrap_or("?");
    let customer = offering.customer_name.as_deref().unwrap_or("?");
    // Writing to a String cannot fail.
    let _ = writeln!(
        t,
        "# tally configuration: a starter written by `tally init` for offering {} ({}) of {}\n\
         # at {}.\n\
         # Lines marked GUESS are tally's guess from each component's type, name and measured unit:\n\
         # check them against what the offering bills, then run `tally doctor --config <this file>`.\n\
         # Every key is described in the README (\"Configuration\").\n",
        quote(name),
        opts.offering.simple(),
        quote(customer),
        opts.url.trim()
    );
    let _ = writeln!(
        t,
        "# The zone billing months are cut in: Waldur's is UTC unless its operators changed it.\n\
         billing_timezone = \"UTC\"\n"
    );

    match (&opts.sacct, &slurm) {
        (Some(sacct), Some((clusters, tres))) => {
            let _ = writeln!(
                t,
                "# Live sacct: tally runs it for each collection window.\n\
                 [[sources]]\n\
                 format = \"sacct-command\"\n\
                 sacct_path = {}\n\
                 # The clusters slurmdbd knows (sacctmgr list clusters): keep those tally reports.\n\
                 clusters = [{}]\n\
                 timezone = \"UTC\"          # the zone sacct prints its times in (TZ of its process)\n\
                 # TRES Slurm knows (sacctmgr list tres): {}\n",
                quote(&sacct.sacct_path.display().to_string()),
                clusters.iter().map(|c| quote(c)).collect::<Vec<_>>().join(", "),
                tres.join(", ")
            );
        }
        _ => {
            let _ = writeln!(
                t,
                "# sacct dumps (`sacct --parsable2 ...`, see the README); or `format = \"sacct-command\"`\n\
                 # for live sacct, `pbs`, `sge`, `lsf`, `csv`.\n\
                 [[sources]]\n\
                 format = \"sacct\"\n\
                 paths = [{}]\n\
                 timezone = \"UTC\"          # the zone of sacct's naive timestamps\n",
                quote(&opts.records)
            );
        }
    }

    let known_tres = slurm.as_ref().map(|(_, tres)| tres.as_slice());
    let _ = writeln!(
        t,
        "# One table per offering component tally reports: the key is the component's `type`.\n\
         # amount = TRES count x seconds / unit_seconds x factor."
    );
    let mut reported = 0;
    for c in &offering.components {
        reported += usize::from(component(&mut t, c, known_tres));
    }
    if reported == 0 {
        let _ = writeln!(
            t,
            "# No component of this offering takes usage, or none could be guessed: add at least\n\
             # one [components.<type>] with its `tres` before tally can run.\n"
        );
    }

    let _ = writeln!(
        t,
        "# Which Waldur resource (backend_id) each account's usage goes to: by default the\n\
         # account is the backend_id itself.\n\
         # [mapping]\n\
         # unlisted = \"unmapped\"     # only the accounts listed below are billed\n\
         # [mapping.accounts]\n\
         # \"slurm_account\" = \"waldur-backend-id\"\n"
    );
    let _ = writeln!(
        t,
        "[waldur]\n\
         url = {}\n\
         token_file = {}      # mode 0600, readable by the user tally runs as\n\
         offering_uuid = \"{}\"\n\
         {}\
         ledger = {}\n\
         # rate_per_second = 5, burst = 10, concurrency = 4, timeout_seconds = 30, max_retries = 8\n",
        quote(opts.url.trim()),
        quote(&opts.token_file.display().to_string()),
        opts.offering.simple(),
        offering
            .customer_uuid
            .map(|u| format!("customer_uuid = \"{}\"   # the provider organisation\n", u.simple()))
            .unwrap_or_default(),
        quote(&opts.ledger)
    );
    let _ = writeln!(
        t,
        "# [push]\n\
         # max_decrease_percent = 5      # the drop guard: a cell may fall by this share, no more\n\
         # shared_offering = false       # true: another reporter writes this offering too"
    );
    Ok(t)
}

/// Writes one component's table (commented out when Waldur takes no usage for it or no TRES could
/// be guessed); whether it is active.
fn component(t: &mut String, c: &OfferingComponent, known_tres: Option<&[String]>) -> bool {
    let name = c.name.as_deref().unwrap_or("");
    let unit = c.measured_unit.as_deref().unwrap_or("");
    let billing = c
        .billing_type
        .as_ref()
        .map(|b| b.to_string())
        .unwrap_or_else(|| "?".into());
    let key = table_key(&c.component);
    let _ = writeln!(
        t,
        "# {}: {}, billed {billing}, measured in {}",
        c.component,
        quote(name),
        quote(unit)
    );
    if !c.billing_type.as_ref().is_some_and(|b| b.accepts_usage()) {
        let _ = writeln!(
            t,
            "# [components.{key}]  -- billed {billing}: Waldur takes no usage for it\n"
        );
        return false;
    }
    let g = guess(c);
    let Some(tres) = g.tres else {
        let _ = writeln!(
            t,
            "# [components.{key}]  -- no TRES guessed from its type, name or unit: set one\n\
             # tres = \"...\"\n"
        );
        return false;
    };
    let unknown = match known_tres {
        Some(known) if !known.iter().any(|k| k == tres) => {
            format!("; NOTE: Slurm lists no TRES {tres:?}")
        }
        _ => String::new(),
    };
    let _ = writeln!(t, "[components.{key}]");
    let _ = writeln!(
        t,
        "tres = \"{tres}\"              # GUESS: {}{unknown}",
        g.tres_why
    );
    let _ = writeln!(
        t,
        "unit_seconds = {}       # GUESS: {}",
        g.unit_seconds, g.unit_why
    );
    if let Some((factor, why)) = g.factor {
        let _ = writeln!(t, "factor = \"{factor}\"   # GUESS: {why}");
    }
    let _ = writeln!(t);
    true
}

/// What a component measures, as far as its words tell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Guess {
    pub tres: Option<&'static str>,
    pub tres_why: String,
    pub unit_seconds: u64,
    pub unit_why: String,
    pub factor: Option<(&'static str, String)>,
}

/// The TRES and unit a component most likely measures: GPUs before memory before nodes before
/// CPUs (a "GPU node hour" is a GPU), hours unless its unit says minutes, days or seconds, and
/// memory converted from Slurm's MiB to the unit's GB or TB.
pub fn guess(c: &OfferingComponent) -> Guess {
    let words = format!(
        "{} {} {}",
        c.component,
        c.name.as_deref().unwrap_or(""),
        c.measured_unit.as_deref().unwrap_or("")
    )
    .to_lowercase();
    let unit = c.measured_unit.as_deref().unwrap_or("").to_lowercase();
    let has = |w: &[&'static str]| -> Option<&'static str> {
        w.iter().find(|x| words.contains(**x)).copied()
    };
    let (tres, tres_why) = if let Some(w) = has(&["gpu"]) {
        (Some("gres/gpu"), format!("{w:?} in its type/name/unit"))
    } else if let Some(w) = has(&["ram", "mem"]) {
        (Some("mem"), format!("{w:?} in its type/name/unit"))
    } else if let Some(w) = has(&["node"]) {
        (Some("node"), format!("{w:?} in its type/name/unit"))
    } else if let Some(w) = has(&["cpu", "core"]) {
        (Some("cpu"), format!("{w:?} in its type/name/unit"))
    } else if let Some(w) = has(&["billing", "sbu"]) {
        (Some("billing"), format!("{w:?} in its type/name/unit"))
    } else {
        (None, String::new())
    };
    let (unit_seconds, unit_why) = if unit.contains("minute") || unit.contains("min") {
        (60, format!("measured in {unit:?}"))
    } else if unit.contains("day") {
        (86_400, format!("measured in {unit:?}"))
    } else if unit.contains("second") || unit == "s" {
        (1, format!("measured in {unit:?}"))
    } else if unit.contains("hour") || unit == "h" {
        (3600, format!("measured in {unit:?}"))
    } else {
        (3600, format!("hours assumed (measured in {unit:?})"))
    };
    let factor = (tres == Some("mem")).then(|| {
        if unit.contains("tb") || unit.contains("tib") {
            ("0.00000095367431640625", format!("MiB -> TiB ({unit:?})"))
        } else if unit.contains("mb") || unit.contains("mib") {
            ("1", format!("MiB ({unit:?})"))
        } else if unit.contains("gb") || unit.contains("gib") {
            ("0.0009765625", format!("MiB -> GiB ({unit:?})"))
        } else {
            ("0.0009765625", format!("MiB -> GiB assumed ({unit:?})"))
        }
    });
    Guess {
        tres,
        tres_why,
        unit_seconds,
        unit_why,
        factor,
    }
}

/// A TOML basic string (JSON's escapes are TOML's).
fn quote(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| "\"\"".into())
}

/// A table key: bare when TOML allows it, quoted otherwise.
fn table_key(s: &str) -> String {
    if !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        s.to_owned()
    } else {
        quote(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comp(ty: &str, name: &str, unit: &str) -> OfferingComponent {
        serde_json::from_value(serde_json::json!({
            "type": ty, "name": name, "measured_unit": unit, "billing_type": "usage"
        }))
        .expect("component")
    }

    #[test]
    fn guesses_from_type_name_and_unit() {
        let g = guess(&comp("gpu_hours", "GPU", "GPU-hours"));
        assert_eq!(
            (g.tres, g.unit_seconds, g.factor.is_none()),
            (Some("gres/gpu"), 3600, true)
        );
        let g = guess(&comp("ram", "RAM", "GB-hours"));
        assert_eq!(g.tres, Some("mem"));
        assert_eq!(g.factor.map(|f| f.0), Some("0.0009765625"));
        let g = guess(&comp("storage_tb", "Memory TB", "TB-days"));
        assert_eq!((g.tres, g.unit_seconds), (Some("mem"), 86_400));
        assert_eq!(g.factor.map(|f| f.0), Some("0.00000095367431640625"));
        let g = guess(&comp("cores", "Cores", "core-minutes"));
        assert_eq!((g.tres, g.unit_seconds), (Some("cpu"), 60));
        let g = guess(&comp("licence", "Licence seats", "seats"));
        assert_eq!(g.tres, None);
    }

    #[test]
    fn keys_that_are_not_bare_are_quoted() {
        assert_eq!(table_key("cpu_k-1"), "cpu_k-1");
        assert_eq!(table_key("gpu.a100"), "\"gpu.a100\"");
    }

    #[test]
    fn an_existing_file_is_never_overwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let p = dir.path().join("tally.toml");
        write_new(&p, "first\n").expect("new");
        assert!(matches!(refuse_existing(&p), Err(InitError::Exists(_))));
        assert!(matches!(
            write_new(&p, "second\n"),
            Err(InitError::Exists(_))
        ));
        assert_eq!(std::fs::read_to_string(&p).expect("read"), "first\n");
    }
}
