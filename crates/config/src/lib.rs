//! The configuration file, in two stages (as ripgrep does with its flags): the raw TOML
//! shape, deserialised strictly (an unknown key is an error naming it), then a validated
//! [`Config`] with zones parsed, decimals exact and paths resolved against the config
//! file's directory. Everything downstream takes the validated form only.

pub mod fuzzing;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use chrono_tz::Tz;
use rust_decimal::Decimal;
use serde::Deserialize;
use tally_aggregate::{AccountMapping, ComponentRule, UnlistedAccounts};
use tally_model::bounds::{MAX_FACTOR, MAX_UNIT_SECONDS};
use tally_sources::csv::{CsvKind, CsvOptions, TimeFormat};
use tally_sources::lsf::{self, LsfOptions};
use tally_sources::pbs::PbsOptions;
use tally_sources::sacct::SacctOptions;
use tally_sources::sacct_command::{self, SacctCommandOptions};
use tally_sources::sge::{self, SgeOptions};

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("config {path}: `{key}`: {reason}")]
    Invalid {
        path: PathBuf,
        key: String,
        reason: String,
    },
}

/// The validated configuration.
#[derive(Clone, Debug)]
pub struct Config {
    /// The file it was read from.
    pub path: PathBuf,
    /// The directory relative paths are resolved against.
    pub base_dir: PathBuf,
    pub billing_timezone: Tz,
    pub sources: Vec<Source>,
    pub rules: Vec<ComponentRule>,
    pub mapping: AccountMapping,
    pub waldur: Option<Waldur>,
    /// Break usage down by local user (Waldur's per-user usage). Default true.
    pub user_usage: bool,
    /// `tally run` also reports the previous month during this many first days of a month.
    pub previous_month_days: u32,
    /// `[push]`: which cells tally owns and how far a push may lower them.
    pub push: PushSettings,
    /// `[limits]`: the shares of an allocation at which `tally run` warns.
    pub limits: LimitSettings,
    /// `[metrics]`: where `run`, `push` and `check` write their Prometheus text file.
    pub metrics: MetricsSettings,
}

/// The `[limits]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LimitSettings {
    /// `warn_at = ["80%", "100%"]`: `tally run` logs a warning per resource whose used share of
    /// a limit is at or above one of these percentages (ascending, each once). Empty: no warning
    /// and no extra reads.
    pub warn_at: Vec<Decimal>,
}

/// The `[metrics]` table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MetricsSettings {
    /// `textfile = "/var/lib/prometheus/node-exporter/tally.prom"`: the node_exporter
    /// textfile-collector file, replaced atomically at the end of every run, push and check.
    pub textfile: Option<PathBuf>,
}

/// Reads a percentage as written in the config or on the command line: `"80%"`, `"80"`,
/// `"99.5 %"`. Not negative; above 100 is allowed (an allocation can be overrun).
pub fn parse_percent(text: &str) -> Result<Decimal, String> {
    let t = text.trim();
    let number = t.strip_suffix('%').unwrap_or(t).trim();
    let pct = Decimal::from_str_exact(number)
        .map_err(|_| format!("{text:?} is not a percentage such as \"80%\""))?;
    if pct.is_sign_negative() {
        return Err(format!("{text:?} is negative"));
    }
    Ok(pct)
}

/// The `[push]` table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PushSettings {
    /// Another reporter writes the same offering: tally zeroes only resources it computes a
    /// cell for in the window or wrote to per the ledger (default false: every resource its
    /// mapping can name is tally's).
    pub shared_offering: bool,
    /// The share (a fraction, 0.05 = 5 %) a push may lower what Waldur holds for a cell without
    /// `--allow-decrease`.
    pub max_decrease: Decimal,
    /// Apply larger decreases too (as `--allow-decrease` does).
    pub allow_decrease: bool,
}

/// The drop guard's default: 5 % (a job still running at the last run can end a little earlier
/// than it was counted to).
pub const DEFAULT_MAX_DECREASE_PERCENT: u32 = 5;

impl Default for PushSettings {
    fn default() -> Self {
        PushSettings {
            shared_offering: false,
            max_decrease: Decimal::new(i64::from(DEFAULT_MAX_DECREASE_PERCENT), 2),
            allow_decrease: false,
        }
    }
}

/// The default window of `tally run` for the previous month: long enough to pick up jobs
/// whose records reach the accounting database late, short enough to stop re-sending a month
/// Waldur has closed.
pub const DEFAULT_PREVIOUS_MONTH_DAYS: u32 = 3;

#[derive(Clone, Debug)]
pub struct Source {
    /// Patterns as configured, relative to [`Config::base_dir`] unless absolute.
    pub paths: Vec<String>,
    pub kind: SourceKind,
}

#[derive(Clone, Debug)]
pub enum SourceKind {
    Sacct(SacctOptions),
    /// Live `sacct`: no paths; tally runs it for the collection window.
    SacctCommand(SacctCommandOptions),
    Pbs(PbsOptions),
    Csv(CsvOptions),
    /// Grid Engine `accounting` files.
    Sge(SgeOptions),
    /// LSF `lsb.acct` files.
    Lsf(LsfOptions),
}

impl SourceKind {
    /// Whether the source produces job intervals that need `[components]` TRES rules.
    pub fn has_intervals(&self) -> bool {
        !matches!(
            self,
            SourceKind::Csv(CsvOptions {
                kind: CsvKind::Amount { .. },
                ..
            })
        )
    }
}

/// Where and how to reach Waldur. The token itself is never part of the config: it is read
/// from `token_file` or the environment when a command needs it.
#[derive(Clone, Debug)]
pub struct Waldur {
    pub url: String,
    pub token_file: Option<PathBuf>,
    pub offering_uuid: Option<String>,
    pub customer_uuid: Option<String>,
    pub rate_per_second: u32,
    pub burst: u32,
    pub concurrency: usize,
    pub timeout_seconds: u64,
    pub max_retries: u32,
    pub allow_insecure_http: bool,
    /// The SQLite ledger of every attempt.
    pub ledger: PathBuf,
}

// ---- raw shape ----

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default = "utc")]
    billing_timezone: String,
    #[serde(default)]
    sources: Vec<RawSource>,
    #[serde(default)]
    components: BTreeMap<String, RawComponent>,
    #[serde(default)]
    mapping: RawMapping,
    waldur: Option<RawWaldur>,
    user_usage: Option<bool>,
    #[serde(default)]
    run: RawRun,
    #[serde(default)]
    push: RawPush,
    #[serde(default)]
    limits: RawLimits,
    #[serde(default)]
    metrics: RawMetrics,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawLimits {
    #[serde(default)]
    warn_at: Vec<RawPercent>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMetrics {
    textfile: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawPush {
    shared_offering: Option<bool>,
    max_decrease_percent: Option<RawPercent>,
    allow_decrease: Option<bool>,
}

/// A percentage as TOML gives it: `5`, `2.5` or `"2.5"`.
#[derive(Deserialize)]
#[serde(untagged)]
enum RawPercent {
    Integer(i64),
    Float(f64),
    Text(String),
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawRun {
    previous_month_days: Option<u32>,
}

fn utc() -> String {
    "UTC".into()
}

#[derive(Deserialize)]
#[serde(tag = "format", rename_all = "kebab-case")]
enum RawSource {
    Sacct(RawSacct),
    SacctCommand(RawSacctCommand),
    Pbs(RawPbs),
    Csv(Box<RawCsv>),
    Sge(RawEpochSource),
    Lsf(RawEpochSource),
}

/// Grid Engine and LSF: epoch times, so no zone; a resource field and a cluster name.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEpochSource {
    paths: Vec<String>,
    resource_field: Option<String>,
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSacctCommand {
    #[serde(default = "utc")]
    timezone: String,
    sacct_path: Option<String>,
    sacctmgr_path: Option<String>,
    #[serde(default)]
    clusters: Vec<String>,
    #[serde(default)]
    extra_args: Vec<String>,
    resource_field: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPbs {
    paths: Vec<String>,
    #[serde(default = "utc")]
    timezone: String,
    resource_field: Option<String>,
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCsv {
    paths: Vec<String>,
    records: RawCsvRecords,
    delimiter: Option<String>,
    #[serde(default = "utc")]
    timezone: String,
    time_format: Option<String>,
    resource: String,
    user: Option<String>,
    #[serde(default)]
    dedup_key: Vec<String>,
    start: Option<String>,
    end: Option<String>,
    #[serde(default)]
    quantities: BTreeMap<String, String>,
    timestamp: Option<String>,
    period: Option<String>,
    component: Option<String>,
    amount: Option<String>,
}

#[derive(Deserialize, Clone, Copy, PartialEq, Eq)]
#[serde(rename_all = "kebab-case")]
enum RawCsvRecords {
    Interval,
    Amount,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSacct {
    paths: Vec<String>,
    #[serde(default = "utc")]
    timezone: String,
    delimiter: Option<String>,
    fields: Option<Vec<String>>,
    resource_field: Option<String>,
    /// The cluster of dumps without a Cluster column (part of a job's identity).
    cluster: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawComponent {
    tres: String,
    unit_seconds: Option<u64>,
    factor: Option<String>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawMapping {
    #[serde(default)]
    accounts: BTreeMap<String, String>,
    #[serde(default)]
    unlisted: RawUnlisted,
}

#[derive(Deserialize, Default, Clone, Copy)]
#[serde(rename_all = "kebab-case")]
enum RawUnlisted {
    #[default]
    Identity,
    Unmapped,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawWaldur {
    url: String,
    token_file: Option<String>,
    offering_uuid: Option<String>,
    customer_uuid: Option<String>,
    rate_per_second: Option<u32>,
    burst: Option<u32>,
    concurrency: Option<usize>,
    timeout_seconds: Option<u64>,
    max_retries: Option<u32>,
    #[serde(default)]
    allow_insecure_http: bool,
    ledger: Option<String>,
}

impl Config {
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text, path)
    }

    /// Parses `text` as if read from `path` (which names the file in errors and anchors
    /// relative paths).
    pub fn from_toml(text: &str, path: &Path) -> Result<Self, ConfigError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string().trim_end().to_string(),
        })?;
        let base_dir = path
            .parent()
            .map(|p| {
                if p.as_os_str().is_empty() {
                    Path::new(".")
                } else {
                    p
                }
            })
            .unwrap_or(Path::new("."))
            .to_path_buf();
        let invalid = |key: &str, reason: String| ConfigError::Invalid {
            path: path.to_path_buf(),
            key: key.to_string(),
            reason,
        };
        let zone = |key: &str, name: &str| {
            Tz::from_str(name).map_err(|_| {
                invalid(
                    key,
                    format!("{name:?} is not an IANA time zone name (e.g. Europe/Amsterdam, UTC)"),
                )
            })
        };
        let billing_timezone = zone("billing_timezone", &raw.billing_timezone)?;

        if raw.sources.is_empty() {
            return Err(invalid(
                "sources",
                "at least one [[sources]] entry is needed".into(),
            ));
        }
        let resolve = |p: &str| {
            let p = Path::new(p);
            if p.is_absolute() {
                p.to_path_buf()
            } else {
                base_dir.join(p)
            }
        };
        let mut sources = Vec::new();
        for (i, s) in raw.sources.into_iter().enumerate() {
            let key = |k: &str| format!("sources[{i}].{k}");
            let check_paths = |paths: &Vec<String>| {
                if paths.is_empty() {
                    Err(invalid(&key("paths"), "lists no file".into()))
                } else {
                    Ok(())
                }
            };
            let source = match s {
                RawSource::Sacct(s) => {
                    check_paths(&s.paths)?;
                    let delimiter = s.delimiter.unwrap_or_else(|| "|".into());
                    if delimiter.is_empty() || delimiter.contains('\n') {
                        return Err(invalid(
                            &key("delimiter"),
                            format!("{delimiter:?} cannot separate fields"),
                        ));
                    }
                    if let Some(f) = &s.fields {
                        if f.is_empty() {
                            return Err(invalid(&key("fields"), "is empty".into()));
                        }
                    }
                    Source {
                        paths: s.paths,
                        kind: SourceKind::Sacct(SacctOptions {
                            delimiter,
                            fields: s.fields,
                            timezone: zone(&key("timezone"), &s.timezone)?,
                            resource_field: s.resource_field.unwrap_or_else(|| "Account".into()),
                            cluster: s.cluster.unwrap_or_default(),
                        }),
                    }
                }
                RawSource::SacctCommand(s) => {
                    // A bare name is looked up on PATH; a path is relative to the config.
                    let program = |p: String| {
                        if p.contains('/') {
                            resolve(&p)
                        } else {
                            PathBuf::from(p)
                        }
                    };
                    sacct_command::check_extra_args(&s.extra_args)
                        .map_err(|e| invalid(&key("extra_args"), e.to_string()))?;
                    if let Some(c) = s
                        .clusters
                        .iter()
                        .find(|c| c.trim().is_empty() || c.contains(',') || c.trim() != c.as_str())
                    {
                        return Err(invalid(
                            &key("clusters"),
                            format!("{c:?} is not a cluster name (one name per entry)"),
                        ));
                    }
                    Source {
                        paths: Vec::new(),
                        kind: SourceKind::SacctCommand(SacctCommandOptions {
                            sacct_path: program(s.sacct_path.unwrap_or_else(|| "sacct".into())),
                            sacctmgr_path: s.sacctmgr_path.map(program),
                            clusters: s.clusters,
                            extra_args: s.extra_args,
                            timezone: zone(&key("timezone"), &s.timezone)?,
                            resource_field: s.resource_field.unwrap_or_else(|| "Account".into()),
                        }),
                    }
                }
                RawSource::Pbs(s) => {
                    check_paths(&s.paths)?;
                    Source {
                        paths: s.paths,
                        kind: SourceKind::Pbs(PbsOptions {
                            timezone: zone(&key("timezone"), &s.timezone)?,
                            resource_field: s.resource_field.unwrap_or_else(|| "account".into()),
                            cluster: s.cluster.unwrap_or_default(),
                        }),
                    }
                }
                RawSource::Sge(s) => {
                    check_paths(&s.paths)?;
                    let resource_field = s.resource_field.unwrap_or_else(|| "project".into());
                    if !sge::RESOURCE_FIELDS.contains(&resource_field.as_str()) {
                        return Err(invalid(
                            &key("resource_field"),
                            format!(
                                "{resource_field:?} is not one of {}",
                                sge::RESOURCE_FIELDS.join(", ")
                            ),
                        ));
                    }
                    Source {
                        paths: s.paths,
                        kind: SourceKind::Sge(SgeOptions {
                            resource_field,
                            cluster: s.cluster.unwrap_or_default(),
                        }),
                    }
                }
                RawSource::Lsf(s) => {
                    check_paths(&s.paths)?;
                    let resource_field = s.resource_field.unwrap_or_else(|| "projectName".into());
                    if !lsf::RESOURCE_FIELDS.contains(&resource_field.as_str()) {
                        return Err(invalid(
                            &key("resource_field"),
                            format!(
                                "{resource_field:?} is not one of {}",
                                lsf::RESOURCE_FIELDS.join(", ")
                            ),
                        ));
                    }
                    Source {
                        paths: s.paths,
                        kind: SourceKind::Lsf(LsfOptions {
                            resource_field,
                            cluster: s.cluster.unwrap_or_default(),
                        }),
                    }
                }
                RawSource::Csv(s) => {
                    check_paths(&s.paths)?;
                    let delimiter = match s.delimiter.as_deref() {
                        None => b',',
                        Some("\\t") | Some("tab") => b'\t',
                        Some(d) if d.len() == 1 => d.as_bytes()[0],
                        Some(d) => {
                            return Err(invalid(
                                &key("delimiter"),
                                format!("{d:?}: CSV delimiters are one ASCII character"),
                            ))
                        }
                    };
                    let time_format = match s.time_format.as_deref() {
                        None | Some("rfc3339") => TimeFormat::Rfc3339,
                        Some("unix") => TimeFormat::Unix,
                        Some(p) if p.contains('%') => TimeFormat::Pattern(p.to_string()),
                        Some(p) => {
                            return Err(invalid(
                                &key("time_format"),
                                format!("{p:?}: use \"rfc3339\", \"unix\" or a strftime pattern such as \"%Y-%m-%d %H:%M:%S\""),
                            ))
                        }
                    };
                    let need = |name: &str, v: Option<String>| {
                        v.ok_or_else(|| {
                            invalid(&key(name), "is required for this kind of records".into())
                        })
                    };
                    let unused = |name: &str, present: bool| {
                        if present {
                            Err(invalid(
                                &key(name),
                                "does not apply to this kind of records".into(),
                            ))
                        } else {
                            Ok(())
                        }
                    };
                    let kind = match s.records {
                        RawCsvRecords::Interval => {
                            unused("timestamp", s.timestamp.is_some())?;
                            unused("period", s.period.is_some())?;
                            unused("component", s.component.is_some())?;
                            unused("amount", s.amount.is_some())?;
                            if s.quantities.is_empty() {
                                return Err(invalid(
                                    &key("quantities"),
                                    "names no quantity column".into(),
                                ));
                            }
                            CsvKind::Interval {
                                start: need("start", s.start)?,
                                end: need("end", s.end)?,
                                quantities: s.quantities.into_iter().collect(),
                            }
                        }
                        RawCsvRecords::Amount => {
                            unused("start", s.start.is_some())?;
                            unused("end", s.end.is_some())?;
                            unused("quantities", !s.quantities.is_empty())?;
                            if s.timestamp.is_some() == s.period.is_some() {
                                return Err(invalid(
                                    &key("timestamp"),
                                    "give exactly one of `timestamp` and `period`".into(),
                                ));
                            }
                            CsvKind::Amount {
                                timestamp: s.timestamp,
                                period: s.period,
                                component: need("component", s.component)?,
                                amount: need("amount", s.amount)?,
                            }
                        }
                    };
                    Source {
                        paths: s.paths,
                        kind: SourceKind::Csv(CsvOptions {
                            delimiter,
                            timezone: zone(&key("timezone"), &s.timezone)?,
                            time_format,
                            resource: s.resource,
                            user: s.user,
                            dedup_key: s.dedup_key,
                            kind,
                        }),
                    }
                }
            };
            sources.push(source);
        }

        if raw.components.is_empty() && sources.iter().any(|s| s.kind.has_intervals()) {
            return Err(invalid(
                "components",
                "at least one [components.<type>] table is needed".into(),
            ));
        }
        let mut rules = Vec::new();
        for (component, c) in raw.components {
            let key = |k: &str| format!("components.{component}.{k}");
            if c.tres.trim().is_empty() {
                return Err(invalid(&key("tres"), "is empty".into()));
            }
            let unit_seconds = c.unit_seconds.unwrap_or(3600);
            if unit_seconds == 0 {
                return Err(invalid(&key("unit_seconds"), "must be at least 1".into()));
            }
            if unit_seconds > MAX_UNIT_SECONDS {
                return Err(invalid(
                    &key("unit_seconds"),
                    format!("{unit_seconds} is more than a year ({MAX_UNIT_SECONDS} s)"),
                ));
            }
            let factor = match c.factor {
                None => Decimal::ONE,
                Some(f) => Decimal::from_str_exact(f.trim()).map_err(|_| {
                    invalid(&key("factor"), format!("{f:?} is not a decimal number"))
                })?,
            };
            if factor.is_sign_negative() || factor.is_zero() {
                return Err(invalid(
                    &key("factor"),
                    format!("{factor} must be positive"),
                ));
            }
            // A factor near Decimal::MAX made every sum overflow (a panic before issue 15);
            // no unit conversion or price needs more than a million.
            if factor > MAX_FACTOR {
                return Err(invalid(
                    &key("factor"),
                    format!("{factor} is more than {MAX_FACTOR}"),
                ));
            }
            rules.push(ComponentRule {
                component,
                tres: c.tres,
                unit_seconds,
                factor,
            });
        }

        for (acct, id) in &raw.mapping.accounts {
            if id.trim().is_empty() {
                return Err(invalid(
                    &format!("mapping.accounts.{acct}"),
                    "maps to an empty backend_id".into(),
                ));
            }
        }
        let mapping = AccountMapping {
            table: raw.mapping.accounts,
            unlisted: match raw.mapping.unlisted {
                RawUnlisted::Identity => UnlistedAccounts::Identity,
                RawUnlisted::Unmapped => UnlistedAccounts::Unmapped,
            },
        };

        let waldur = match raw.waldur {
            None => None,
            Some(w) => {
                // Each value between 1 and a bound no deployment needs: a typo such as
                // `timeout_seconds = 30000000000` is refused here, not met as an overflow.
                let bounded = |key: &str, v: u64, max: u64| {
                    if v == 0 {
                        Err(invalid(
                            &format!("waldur.{key}"),
                            "must be at least 1".into(),
                        ))
                    } else if v > max {
                        Err(invalid(
                            &format!("waldur.{key}"),
                            format!("{v} is more than {max}"),
                        ))
                    } else {
                        Ok(v)
                    }
                };
                let positive = |key: &str, v: u64| {
                    let max = match key {
                        "concurrency" => 1024,
                        "timeout_seconds" => 86_400,
                        _ => 100_000,
                    };
                    bounded(key, v, max)
                };
                if let Some(r) = w.max_retries {
                    if r > 100 {
                        return Err(invalid(
                            "waldur.max_retries",
                            format!("{r} is more than 100"),
                        ));
                    }
                }
                let rate =
                    positive("rate_per_second", u64::from(w.rate_per_second.unwrap_or(5)))? as u32;
                Some(Waldur {
                    url: w.url,
                    token_file: w.token_file.as_deref().map(resolve),
                    offering_uuid: w.offering_uuid,
                    customer_uuid: w.customer_uuid,
                    rate_per_second: rate,
                    burst: positive("burst", u64::from(w.burst.unwrap_or(10)))? as u32,
                    concurrency: positive("concurrency", w.concurrency.unwrap_or(4) as u64)?
                        as usize,
                    timeout_seconds: positive("timeout_seconds", w.timeout_seconds.unwrap_or(30))?,
                    max_retries: w.max_retries.unwrap_or(8),
                    allow_insecure_http: w.allow_insecure_http,
                    ledger: resolve(w.ledger.as_deref().unwrap_or("tally-ledger.db")),
                })
            }
        };

        let push = {
            let key = "push.max_decrease_percent";
            let max_decrease = match raw.push.max_decrease_percent {
                None => PushSettings::default().max_decrease,
                Some(p) => {
                    let text = match p {
                        RawPercent::Integer(i) => i.to_string(),
                        RawPercent::Float(f) => f.to_string(),
                        RawPercent::Text(t) => t.trim().to_owned(),
                    };
                    let pct = Decimal::from_str_exact(&text)
                        .map_err(|_| invalid(key, format!("{text:?} is not a number")))?;
                    if pct.is_sign_negative() || pct > Decimal::ONE_HUNDRED {
                        return Err(invalid(
                            key,
                            format!("{pct} is not a percentage from 0 to 100"),
                        ));
                    }
                    pct / Decimal::ONE_HUNDRED
                }
            };
            PushSettings {
                shared_offering: raw.push.shared_offering.unwrap_or(false),
                max_decrease,
                allow_decrease: raw.push.allow_decrease.unwrap_or(false),
            }
        };

        let limits = {
            let mut warn_at = Vec::new();
            for (i, p) in raw.limits.warn_at.iter().enumerate() {
                let text = match p {
                    RawPercent::Integer(i) => i.to_string(),
                    RawPercent::Float(f) => f.to_string(),
                    RawPercent::Text(t) => t.clone(),
                };
                warn_at.push(
                    parse_percent(&text)
                        .map_err(|why| invalid(&format!("limits.warn_at[{i}]"), why))?,
                );
            }
            warn_at.sort();
            warn_at.dedup();
            LimitSettings { warn_at }
        };
        let metrics = MetricsSettings {
            textfile: match raw.metrics.textfile.as_deref() {
                None => None,
                Some("") => return Err(invalid("metrics.textfile", "is empty".to_owned())),
                Some(f) => Some(resolve(f)),
            },
        };

        Ok(Config {
            path: path.to_path_buf(),
            push,
            limits,
            metrics,
            base_dir,
            billing_timezone,
            sources,
            rules,
            mapping,
            waldur,
            user_usage: raw.user_usage.unwrap_or(true),
            previous_month_days: match raw.run.previous_month_days {
                None => DEFAULT_PREVIOUS_MONTH_DAYS,
                Some(d) if d <= 28 => d,
                Some(d) => {
                    return Err(invalid(
                        "run.previous_month_days",
                        format!("{d} is more than 28: every month has at least 28 days"),
                    ))
                }
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The exact file from the foundation issue.
    const ISSUE_EXAMPLE: &str = r#"
billing_timezone = "UTC"          # IANA name; months are cut in this zone (DST-correct)

[[sources]]
format = "sacct"
paths = ["records/*.txt"]         # globs; files read in sorted order
timezone = "UTC"                  # zone of sacct's naive timestamps (sacct prints local time)
# delimiter = "|"                 # default "|"; multi-byte delimiters such as "☃" occur at real sites
# fields = ["JobID", ...]         # column names when the dump has no header line (header is auto-detected)

[components.cpu]                  # key = the Waldur offering component `type`
tres = "cpu"                      # TRES name as sacct writes it in AllocTRES
unit_seconds = 3600               # default 3600: TRES count x seconds / unit_seconds
[components.gpu]
tres = "gres/gpu"                 # exact name: `gres/gpu:a100=2` next to `gres/gpu=2` is the same GPUs, count once
[components.ram]
tres = "mem"
factor = "0.0009765625"           # decimal string, default "1"; multiplies after the time division
"#;

    #[test]
    fn limits_and_metrics_tables() {
        let c = Config::from_toml(
            &format!("{ISSUE_EXAMPLE}\n[limits]\nwarn_at = [\"100%\", 80, \"80 %\", 92.5]\n[metrics]\ntextfile = \"m/tally.prom\"\n"),
            Path::new("/etc/tally/tally.toml"),
        )
        .unwrap();
        let pct: Vec<String> = c.limits.warn_at.iter().map(|d| d.to_string()).collect();
        assert_eq!(pct, ["80", "92.5", "100"]);
        assert_eq!(
            c.metrics.textfile.as_deref(),
            Some(Path::new("/etc/tally/m/tally.prom"))
        );
        let default = Config::from_toml(ISSUE_EXAMPLE, Path::new("/etc/tally/tally.toml")).unwrap();
        assert!(default.limits.warn_at.is_empty() && default.metrics.textfile.is_none());
        let bad = Config::from_toml(
            &format!("{ISSUE_EXAMPLE}\n[limits]\nwarn_at = [\"80%\", \"lots\"]\n"),
            Path::new("/etc/tally/tally.toml"),
        )
        .unwrap_err()
        .to_string();
        assert!(
            bad.contains("limits.warn_at[1]") && bad.contains("lots"),
            "{bad}"
        );
        assert_eq!(parse_percent(" 100% ").unwrap().to_string(), "100");
        assert!(parse_percent("-5%").is_err());
    }

    #[test]
    fn the_issue_example_parses() {
        let c = Config::from_toml(ISSUE_EXAMPLE, Path::new("/etc/tally/tally.toml")).unwrap();
        assert_eq!(c.base_dir, Path::new("/etc/tally"));
        assert_eq!(c.rules.len(), 3);
        let ram = c.rules.iter().find(|r| r.component == "ram").unwrap();
        assert_eq!(ram.factor.to_string(), "0.0009765625");
        assert_eq!(ram.unit_seconds, 3600);
        let SourceKind::Sacct(s) = &c.sources[0].kind else {
            panic!("a sacct source")
        };
        assert_eq!(s.delimiter, "|");
    }

    #[test]
    fn waldur_numbers_are_bounded() {
        let with =
            |kv: &str| format!("{ISSUE_EXAMPLE}\n[waldur]\nurl = \"https://w.example\"\n{kv}\n");
        for (kv, key) in [
            (
                "timeout_seconds = 18446744073709551615",
                "waldur.timeout_seconds",
            ),
            ("concurrency = 100000", "waldur.concurrency"),
            ("rate_per_second = 4294967295", "waldur.rate_per_second"),
            ("burst = 0", "waldur.burst"),
            ("max_retries = 4294967295", "waldur.max_retries"),
        ] {
            let e = err(&with(kv));
            assert!(e.contains(key), "{kv}: {e}");
        }
        let ok = Config::from_toml(
            &with("rate_per_second = 1000\nburst = 1000\nconcurrency = 64\nmax_retries = 8"),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(ok.waldur.unwrap().rate_per_second, 1000);
    }

    fn err(text: &str) -> String {
        Config::from_toml(text, Path::new("t.toml"))
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn unknown_keys_are_errors_naming_the_key() {
        let e = err(&format!(
            "{ISSUE_EXAMPLE}\n[components.disk]\ntres = \"fs/disk\"\nfactr = \"2\"\n"
        ));
        assert!(e.contains("factr") && e.contains("t.toml"), "{e}");
        let e = err(&ISSUE_EXAMPLE.replace("timezone = \"UTC\"   ", "timezon = \"UTC\"   "));
        assert!(e.contains("timezon"), "{e}");
        let e = err(&format!("bogus = 1\n{ISSUE_EXAMPLE}"));
        assert!(e.contains("bogus"), "{e}");
    }

    #[test]
    fn a_component_named_twice_is_an_error() {
        let e = err(&format!(
            "{ISSUE_EXAMPLE}\n[components.cpu]\ntres = \"cpu\"\n"
        ));
        assert!(e.contains("cpu") && e.contains("t.toml"), "{e}");
    }

    #[test]
    fn the_nightly_window_is_configurable() {
        let c = Config::from_toml(ISSUE_EXAMPLE, Path::new("t.toml")).unwrap();
        assert_eq!(c.previous_month_days, DEFAULT_PREVIOUS_MONTH_DAYS);
        let c = Config::from_toml(
            &format!("{ISSUE_EXAMPLE}\n[run]\nprevious_month_days = 5\n"),
            Path::new("t.toml"),
        )
        .unwrap();
        assert_eq!(c.previous_month_days, 5);
        let e = err(&format!(
            "{ISSUE_EXAMPLE}\n[run]\nprevious_month_days = 40\n"
        ));
        assert!(e.contains("run.previous_month_days"), "{e}");
        let e = err(&format!("{ISSUE_EXAMPLE}\n[run]\nprevious_days = 5\n"));
        assert!(e.contains("previous_days"), "{e}");
    }

    #[test]
    fn live_sacct_keys_are_checked_when_the_config_is_read() {
        let live = |extra: &str| {
            format!(
                "[[sources]]\nformat = \"sacct-command\"\nsacct_path = \"/opt/slurm/bin/sacct\"\n{extra}\n[components.cpu]\ntres = \"cpu\"\n"
            )
        };
        let e = err(&live("extra_args = [\"--partition=gpu\", \"--units=G\"]"));
        assert!(
            e.contains("sources[0].extra_args")
                && e.contains("\"--units=G\"")
                && e.contains("memory"),
            "{e}"
        );
        let e = err(&live("clusters = [\"a,b\"]"));
        assert!(
            e.contains("sources[0].clusters") && e.contains("a,b"),
            "{e}"
        );
        let c = Config::from_toml(
            &live("sacctmgr_path = \"bin/sacctmgr\""),
            Path::new("/etc/tally/t.toml"),
        )
        .unwrap();
        let SourceKind::SacctCommand(s) = &c.sources[0].kind else {
            panic!("a live source")
        };
        assert_eq!(s.sacctmgr(), Path::new("/etc/tally/bin/sacctmgr"));
        let c = Config::from_toml(
            &ISSUE_EXAMPLE.replace(
                "paths = [\"records/*.txt\"] ",
                "cluster = \"hpc1\"\npaths = [\"records/*.txt\"] ",
            ),
            Path::new("t.toml"),
        )
        .unwrap();
        let SourceKind::Sacct(s) = &c.sources[0].kind else {
            panic!("a sacct source")
        };
        assert_eq!(s.cluster, "hpc1");
    }

    #[test]
    fn bad_values_name_their_key() {
        let e = err(&ISSUE_EXAMPLE.replace("factor = \"0.0009765625\"", "factor = \"1/1024\""));
        assert!(e.contains("components.ram.factor"), "{e}");
        let e = err(&ISSUE_EXAMPLE.replace(
            "billing_timezone = \"UTC\"",
            "billing_timezone = \"Mars/Olympus\"",
        ));
        assert!(
            e.contains("billing_timezone") && e.contains("Mars/Olympus"),
            "{e}"
        );
        let e = err(&ISSUE_EXAMPLE.replace("unit_seconds = 3600", "unit_seconds = 0"));
        assert!(e.contains("components.cpu.unit_seconds"), "{e}");
        // Issue 15: a factor near Decimal::MAX overflowed every sum (a panic, exit 101).
        let e = err(&ISSUE_EXAMPLE.replace(
            "factor = \"0.0009765625\"",
            "factor = \"79228162514264337593543950335\"",
        ));
        assert!(
            e.contains("components.ram.factor") && e.contains("more than"),
            "{e}"
        );
        let e = err(&ISSUE_EXAMPLE.replace("factor = \"0.0009765625\"", "factor = \"1000001\""));
        assert!(e.contains("components.ram.factor"), "{e}");
        assert!(Config::from_toml(
            &ISSUE_EXAMPLE.replace("factor = \"0.0009765625\"", "factor = \"1000000\""),
            Path::new("t.toml")
        )
        .is_ok());
        let e =
            err(&ISSUE_EXAMPLE
                .replace("unit_seconds = 3600", "unit_seconds = 18446744073709551615"));
        assert!(e.contains("components.cpu.unit_seconds"), "{e}");
        let e = err(&ISSUE_EXAMPLE.replace("format = \"sacct\"", "format = \"loadleveler\""));
        assert!(e.contains("loadleveler"), "{e}");
        // Grid Engine and LSF times are epoch seconds: a `timezone` key is refused, by name.
        let e = err(&ISSUE_EXAMPLE.replace("format = \"sacct\"", "format = \"lsf\""));
        assert!(e.contains("timezone"), "{e}");
    }

    #[test]
    fn the_push_table_sets_ownership_and_the_drop_guard() {
        let c = Config::from_toml(ISSUE_EXAMPLE, Path::new("t.toml")).unwrap();
        assert_eq!(c.push, PushSettings::default());
        assert_eq!(c.push.max_decrease.to_string(), "0.05");
        for (value, share) in [
            ("2.5", "0.025"),
            ("\"2.5\"", "0.025"),
            ("10", "0.1"),
            ("0", "0"),
        ] {
            let c = Config::from_toml(
                &format!("{ISSUE_EXAMPLE}\n[push]\nmax_decrease_percent = {value}\nshared_offering = true\nallow_decrease = true\n"),
                Path::new("t.toml"),
            )
            .unwrap();
            assert_eq!(
                c.push.max_decrease.normalize().to_string(),
                share,
                "{value}"
            );
            assert!(c.push.shared_offering && c.push.allow_decrease);
        }
        for bad in ["-1", "101", "\"five\""] {
            let e = err(&format!(
                "{ISSUE_EXAMPLE}\n[push]\nmax_decrease_percent = {bad}\n"
            ));
            assert!(e.contains("push.max_decrease_percent"), "{bad}: {e}");
        }
        let e = err(&format!(
            "{ISSUE_EXAMPLE}\n[push]\nallow_decreases = true\n"
        ));
        assert!(e.contains("allow_decreases"), "{e}");
    }
}
