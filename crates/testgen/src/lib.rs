//! A generator of realistic `sacct --parsable2` dumps, deterministic for a seed.
//!
//! Realistic means what the parsers must survive at scale: a header, every allocation
//! followed by its `.batch`/`.extern` steps and some srun steps, array tasks (the last task
//! reusing the array's raw id), het jobs, jobs still running (End `Unknown`), pending and
//! cancelled-before-start jobs, jobs that span a month boundary, typed plus untyped GPU
//! TRES, memory in mixed units, and ReqTRES smaller than AllocTRES on whole-node jobs.
//!
//! Two mixes of users and accounts: by default every job draws its account and its user
//! independently (4 users per account, so every user ends up in nearly every account: the
//! worst case for the per-user breakdown), and [`GenOptions::site_like`] draws them as a large
//! site has them (each user in 1-3 accounts, jobs with only `.batch` and `.extern` steps).

pub mod grid;

use std::io::{self, Write};

/// What to generate.
#[derive(Clone, Debug)]
pub struct GenOptions {
    /// Stop after about this many lines (header included).
    pub lines: u64,
    pub accounts: u32,
    pub seed: u64,
    /// Jobs start uniformly in [start, start + span_days) (Unix seconds, UTC wall clock).
    pub start: i64,
    pub span_days: u32,
    /// Print times as of this instant: jobs ending later are RUNNING.
    pub now: i64,
    pub cluster: String,
    /// A large site's shape: each user works in 1-3 accounts of their own (fixed per user),
    /// and every started job has exactly a `.batch` and an `.extern` step (3 lines a job).
    /// Users are `4 x accounts` either way.
    pub site_like: bool,
}

impl Default for GenOptions {
    fn default() -> Self {
        Self {
            lines: 10_000,
            accounts: 50,
            seed: 42,
            // 2026-10-01T00:00:00Z
            start: 1_790_812_800,
            span_days: 55,
            // 2026-11-25T00:00:00Z
            now: 1_795_564_800,
            cluster: "gen".into(),
            site_like: false,
        }
    }
}

/// xorshift64*: fast, deterministic, good enough for test data.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }
    pub fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

pub const HEADER: &str = "JobID|JobIDRaw|Cluster|Account|User|Partition|State|Submit|Eligible|Start|End|Elapsed|ElapsedRaw|AllocCPUS|NNodes|AllocTRES|ReqTRES|ExitCode|JobName";

/// Formats Unix seconds as sacct does (naive, here UTC).
pub fn fmt_time(t: i64) -> String {
    let days = t.div_euclid(86_400);
    let secs = t.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

fn fmt_elapsed(s: i64) -> String {
    let (d, r) = (s / 86_400, s % 86_400);
    if d > 0 {
        format!("{d}-{:02}:{:02}:{:02}", r / 3600, r % 3600 / 60, r % 60)
    } else {
        format!("{:02}:{:02}:{:02}", r / 3600, r % 3600 / 60, r % 60)
    }
}

/// Howard Hinnant's days -> civil date.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// One allocation as generated, for writing and for computing expected totals.
pub struct GenJob {
    pub id: String,
    pub raw: u64,
    pub account: String,
    pub user: String,
    pub submit: i64,
    /// None: never started.
    pub start: Option<i64>,
    /// None: running at `now`.
    pub end: Option<i64>,
    pub cpus: u32,
    pub gpus: u32,
    pub mem: String,
    pub req_cpus: u32,
    pub state: &'static str,
    pub steps: u32,
}

/// Writes a dump; returns (lines written, bytes written).
pub fn generate(opts: &GenOptions, out: &mut impl Write) -> io::Result<(u64, u64)> {
    let mut rng = Rng::new(opts.seed);
    let mut lines = 1u64;
    let mut bytes = HEADER.len() as u64 + 1;
    writeln!(out, "{HEADER}")?;
    let mut raw = 1000u64;
    let mut line = String::with_capacity(512);
    while lines < opts.lines {
        raw += 1;
        let array = rng.chance(15);
        let het = !array && rng.chance(2);
        let tasks = if array {
            2 + rng.below(6) as u32
        } else if het {
            2
        } else {
            1
        };
        let base_raw = raw;
        for task in 0..tasks {
            // Array tasks get their own raw ids, the last one reusing the array's (as
            // Slurm does); het components after the first get the next ids.
            let reuse_base = if array { task + 1 == tasks } else { task == 0 };
            let this_raw = if reuse_base {
                base_raw
            } else {
                raw += 1;
                raw
            };
            let id = if array {
                format!("{base_raw}_{task}")
            } else if het {
                format!("{base_raw}+{task}")
            } else {
                base_raw.to_string()
            };
            let job = make_job(&mut rng, opts, id, this_raw);
            let (l, b) = write_job(&job, opts, &mut line, out)?;
            lines += l;
            bytes += b;
            if lines >= opts.lines {
                break;
            }
        }
    }
    Ok((lines, bytes))
}

/// splitmix64's finaliser: a fixed, well-mixed function of a number (a user's accounts).
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    x ^ (x >> 31)
}

/// A site-like (user, account): the user is drawn first, then one of the 1-3 accounts that
/// user always works in.
fn site_user_and_account(rng: &mut Rng, opts: &GenOptions) -> (u64, u64) {
    let accounts = u64::from(opts.accounts.max(1));
    let user = rng.below(accounts * 4);
    let memberships = 1 + mix(user) % 3;
    let which = rng.below(memberships);
    (user, mix(user * 4 + 1 + which) % accounts)
}

fn make_job(rng: &mut Rng, opts: &GenOptions, id: String, raw: u64) -> GenJob {
    let site = opts.site_like.then(|| site_user_and_account(rng, opts));
    let acct = match site {
        Some((_, acct)) => acct,
        None => rng.below(u64::from(opts.accounts)),
    };
    let submit = opts.start + rng.below(u64::from(opts.span_days) * 86_400) as i64;
    let pending = rng.chance(3);
    let cancelled_before_start = !pending && rng.chance(2);
    let start = if pending || cancelled_before_start {
        None
    } else {
        Some((submit + rng.below(7200) as i64).min(opts.now))
    };
    // Mostly short jobs, some long ones (up to 5 days) that cross a month boundary.
    let duration = match rng.below(10) {
        0..=5 => 60 + rng.below(3 * 3600),
        6..=8 => 3600 + rng.below(24 * 3600),
        _ => 86_400 + rng.below(4 * 86_400),
    } as i64;
    let end = start.map(|s| s + duration).filter(|e| *e <= opts.now);
    let cpus = [1, 1, 2, 4, 8, 16, 32, 64, 128][rng.below(9) as usize];
    let gpus = if rng.chance(12) {
        1 + rng.below(4) as u32
    } else {
        0
    };
    let mem = match rng.below(4) {
        0 => format!("{}G", cpus * 4),
        1 => format!("{}M", cpus * 1500),
        2 => format!("{}.50G", cpus * 2),
        _ => format!("{}K", u64::from(cpus) * 2_097_152),
    };
    let exclusive = rng.chance(10);
    let state = match (start, end) {
        (None, _) if pending => "PENDING",
        (None, _) => "CANCELLED by 0",
        (Some(_), None) => "RUNNING",
        _ => [
            "COMPLETED",
            "COMPLETED",
            "COMPLETED",
            "FAILED",
            "TIMEOUT",
            "CANCELLED by 1234",
        ][rng.below(6) as usize],
    };
    GenJob {
        id,
        raw,
        account: format!("acct{acct:05}"),
        user: format!(
            "user{:05}",
            match site {
                Some((user, _)) => user,
                None => rng.below(u64::from(opts.accounts) * 4),
            }
        ),
        submit,
        start,
        end,
        cpus,
        gpus,
        mem,
        req_cpus: if exclusive { (cpus / 2).max(1) } else { cpus },
        state,
        steps: if start.is_some() && opts.site_like {
            1
        } else if start.is_some() {
            1 + rng.below(4) as u32
        } else {
            0
        },
    }
}

fn write_job(
    job: &GenJob,
    opts: &GenOptions,
    line: &mut String,
    out: &mut impl Write,
) -> io::Result<(u64, u64)> {
    use std::fmt::Write as _;
    let t = |x: Option<i64>| x.map(fmt_time).unwrap_or_else(|| "Unknown".into());
    let start_s = match (job.start, job.state) {
        (None, "PENDING") => "Unknown".to_string(),
        (None, _) => "None".to_string(),
        (Some(s), _) => fmt_time(s),
    };
    let end_s = match (job.start, job.end) {
        (None, _) if job.state != "PENDING" => fmt_time(job.submit + 600),
        _ => t(job.end),
    };
    let elapsed = match job.start {
        Some(s) => job.end.unwrap_or(opts.now) - s,
        None => 0,
    };
    let gpu = if job.gpus > 0 {
        format!(",gres/gpu:a100={g},gres/gpu={g}", g = job.gpus)
    } else {
        String::new()
    };
    let alloc = if job.start.is_some() {
        format!(
            "billing={c},cpu={c}{gpu},mem={m},node=1",
            c = job.cpus,
            m = job.mem
        )
    } else {
        String::new()
    };
    let req = format!(
        "billing={c},cpu={c}{gpu},mem={m},node=1",
        c = job.req_cpus,
        m = job.mem
    );
    let mut lines = 0;
    let mut bytes = 0;
    line.clear();
    let _ = writeln!(
        line,
        "{}|{}|{}|{}|{}|cpu|{}|{}|{}|{}|{}|{}|{}|{}|1|{}|{}|0:0|job{}",
        job.id,
        job.raw,
        opts.cluster,
        job.account,
        job.user,
        job.state,
        fmt_time(job.submit),
        fmt_time(job.submit),
        start_s,
        end_s,
        fmt_elapsed(elapsed),
        elapsed,
        job.cpus,
        alloc,
        req,
        job.raw
    );
    out.write_all(line.as_bytes())?;
    lines += 1;
    bytes += line.len() as u64;
    let step_state = if job.end.is_some() {
        "COMPLETED"
    } else {
        "RUNNING"
    };
    let names: Vec<String> = ["batch".to_string(), "extern".to_string()]
        .into_iter()
        .chain((0..job.steps.saturating_sub(1)).map(|i| i.to_string()))
        .take(job.steps as usize + 1)
        .collect();
    if job.start.is_some() {
        for step in names {
            line.clear();
            let _ = writeln!(
                line,
                "{}.{step}|{}.{step}|{}|{}||cpu|{step_state}|{}|{}|{}|{}|{}|{}|{}|1|cpu={c}{gpu},mem={m},node=1||0:0|{step}",
                job.id,
                job.raw,
                opts.cluster,
                job.account,
                start_s,
                start_s,
                start_s,
                end_s,
                fmt_elapsed(elapsed),
                elapsed,
                job.cpus,
                c = job.cpus,
                m = job.mem
            );
            out.write_all(line.as_bytes())?;
            lines += 1;
            bytes += line.len() as u64;
        }
    }
    Ok((lines, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_format_like_sacct() {
        assert_eq!(fmt_time(1_790_812_800), "2026-10-01T00:00:00");
        assert_eq!(fmt_time(0), "1970-01-01T00:00:00");
        assert_eq!(fmt_elapsed(90_061), "1-01:01:01");
    }

    #[test]
    fn generates_about_the_requested_lines_deterministically() {
        let opts = GenOptions {
            lines: 2000,
            ..Default::default()
        };
        let mut a = Vec::new();
        let mut b = Vec::new();
        let (n, bytes) = generate(&opts, &mut a).unwrap();
        generate(&opts, &mut b).unwrap();
        assert_eq!(a, b);
        assert_eq!(bytes as usize, a.len());
        assert!((2000..2010).contains(&n), "{n}");
        let text = String::from_utf8(a).unwrap();
        assert!(
            text.lines().all(|l| l.split('|').count() == 19),
            "every line has 19 fields"
        );
        assert!(text.contains("RUNNING") && text.contains("PENDING") && text.contains(".extern"));
    }

    #[test]
    fn site_like_users_stay_in_at_most_three_accounts_and_jobs_have_two_steps() {
        let opts = GenOptions {
            lines: 30_000,
            accounts: 100,
            site_like: true,
            ..Default::default()
        };
        let mut out = Vec::new();
        generate(&opts, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let mut accounts_of: std::collections::HashMap<&str, std::collections::HashSet<&str>> =
            Default::default();
        let (mut allocations, mut steps) = (0, 0);
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split('|').collect();
            if f[0].contains('.') {
                steps += 1;
                assert!(
                    f[0].ends_with(".batch") || f[0].ends_with(".extern"),
                    "{line}"
                );
            } else {
                allocations += 1;
                accounts_of.entry(f[4]).or_default().insert(f[3]);
            }
        }
        assert!(accounts_of.values().all(|a| (1..=3).contains(&a.len())));
        assert!(
            accounts_of.values().any(|a| a.len() == 3),
            "some users work in three accounts"
        );
        assert!(accounts_of.len() > 300, "{} users", accounts_of.len());
        // Two steps per started job: about 3 lines a job.
        let per_job = (allocations + steps) as f64 / allocations as f64;
        assert!((2.7..3.0).contains(&per_job), "{per_job} lines a job");
    }
}
