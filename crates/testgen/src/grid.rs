//! Generators of realistic Grid Engine `accounting` files (SGE seconds or Univa milliseconds)
//! and LSF `lsb.acct` files, deterministic for a seed, in the shapes of the real files in
//! fixtures/real (wyntonquery-sge, xdmod-uge, xdmod-lsf).
//!
//! Realistic means what the readers must survive at scale: the `#` banner, array tasks,
//! tightly integrated parallel jobs writing a record per task besides the master record,
//! rescheduled jobs (a record per run, same submission time), jobs that never started,
//! failed jobs, jobs across a month bound, project `NONE`, the same record written twice,
//! and for LSF both host list forms, array indices, doubled quotes, multibyte job names,
//! jobs killed while pending and other event types.

use std::fmt::Write as _;
use std::io::{self, Write};

use crate::{GenOptions, Rng};

/// Which Grid Engine writes the file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GridEngine {
    /// SGE 6.2/8.x, Son of Grid Engine: seconds, 45 fields.
    Sge,
    /// Univa/Altair Grid Engine 8.6+: milliseconds, 74 fields.
    Univa,
}

/// The 29 fields Univa 8.6 writes after the 45 (values as in xdmod-uge).
const UGE_TAIL: &str = ":NONE:NONE:668106752:638583808:dev1:REDACTED:qsub script.sh:12838.830000:954601:NONE:1,REDACTED:REDACTED:NONE:REDACTED:0:0:0.000000:0.000000:0.000000:NONE:0:0:NONE:gpu=1,m_mem_free=1G:NONE:gpu_queue:NONE:REDACTED:REDACTED";

fn pick<'a>(rng: &mut Rng, from: &[&'a str]) -> &'a str {
    from[rng.below(from.len() as u64) as usize]
}

/// How long a job runs: mostly short, some long enough to cross a month bound.
fn duration(rng: &mut Rng) -> i64 {
    match rng.below(100) {
        0..=59 => 30 + rng.below(3_600) as i64,
        60..=94 => 3_600 + rng.below(86_400) as i64,
        _ => 86_400 + rng.below(10 * 86_400) as i64,
    }
}

/// Writes a Grid Engine accounting file of about `opts.lines` lines; returns (lines, bytes).
pub fn generate_sge(
    opts: &GenOptions,
    engine: GridEngine,
    out: &mut impl Write,
) -> io::Result<(u64, u64)> {
    let mut rng = Rng::new(opts.seed);
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut line = String::with_capacity(1024);
    let mut emit = |line: &str, lines: &mut u64, bytes: &mut u64| -> io::Result<()> {
        out.write_all(line.as_bytes())?;
        out.write_all(b"\n")?;
        *lines += 1;
        *bytes += line.len() as u64 + 1;
        Ok(())
    };
    for banner in [
        "# Version: 8.1.9",
        "# ",
        "# DO NOT MODIFY THIS FILE MANUALLY!",
        "# ",
    ] {
        emit(banner, &mut lines, &mut bytes)?;
    }
    let millis = engine == GridEngine::Univa;
    let time = |t: i64, ms: u64| -> String {
        if t == 0 {
            "0".into()
        } else if millis {
            format!("{}", t * 1000 + ms as i64)
        } else {
            t.to_string()
        }
    };
    let mut job_number = 1000u64;
    // A record written earlier, written again later (a copy of the file, a retry).
    let mut again: Option<String> = None;
    while lines < opts.lines {
        job_number += 1;
        let tasks = if rng.chance(10) { 2 + rng.below(8) } else { 1 };
        let parallel = rng.chance(20);
        let slots = if parallel {
            pick(&mut rng, &["8", "16", "24", "32", "64"])
        } else {
            pick(&mut rng, &["1", "1", "2", "4"])
        };
        let account = opts_account(&mut rng, opts);
        let owner = format!("owner{:03}", rng.below(200));
        let submission = opts.start + rng.below(u64::from(opts.span_days) * 86_400) as i64;
        let sub_ms = rng.below(1000);
        for task in 0..tasks {
            let runs = if rng.chance(3) { 2 } else { 1 };
            let mut start = submission + rng.below(7_200) as i64;
            for _ in 0..runs {
                let never = rng.chance(1);
                let end = start + duration(&mut rng);
                let (start_ms, end_ms) = (rng.below(1000), rng.below(1000));
                // A job that never ran failed before it started (accounting(5): failed 1).
                let failed = if never {
                    "1"
                } else if rng.chance(5) {
                    "100"
                } else {
                    "0"
                };
                let exit = if failed == "100" { "137" } else { "0" };
                let task_number = if tasks > 1 { task + 1 } else { 0 };
                let project = if rng.chance(2) {
                    "NONE".to_string()
                } else {
                    account.clone()
                };
                let pe = if parallel { "mpi" } else { "NONE" };
                let (s, e) = if never { (0, 0) } else { (start, end) };
                // The master record, then (tight integration) one record per task.
                let pe_tasks = if parallel && !never && rng.chance(30) {
                    1 + rng.below(3)
                } else {
                    0
                };
                for pe_task in 0..=pe_tasks {
                    line.clear();
                    let pe_taskid = if pe_task == 0 {
                        "NONE".to_string()
                    } else {
                        format!("{pe_task}.node{:03}", rng.below(500))
                    };
                    let _ = write!(
                        line,
                        "{q}:node{h:03}:group{g}:{owner}:job{job_number}.sh:{job_number}:sge:0:{sub}:{st}:{en}:{failed}:{exit}:{wall}:{ut:.6}:0.100000:8144:0:0:0:0:28924:17:0:3696:56:0:0:0:548:72:{project}:defaultdepartment:{pe}:{slots}:{task_number}:{cpu:.6}:0.000015:0.002006:-l h_rt=36000 -pe {pe} {slots}:0.000000:{pe_taskid}:2310144.000000:0:0",
                        q = pick(&mut rng, &["long.q", "short.q", "member.q", "gpu.q"]),
                        h = rng.below(500),
                        g = rng.below(20),
                        sub = time(submission, sub_ms),
                        st = time(s, start_ms),
                        en = time(e, end_ms),
                        wall = e - s,
                        ut = (e - s) as f64 * 0.9,
                        cpu = (e - s) as f64 * 0.95,
                    );
                    if millis {
                        line.push_str(UGE_TAIL);
                    }
                    emit(&line, &mut lines, &mut bytes)?;
                    if pe_task == 0 && rng.chance(2) {
                        again = Some(line.clone());
                    }
                }
                start = end + 60;
            }
        }
        if let Some(copy) = again.take().filter(|_| rng.chance(50)) {
            emit(&copy, &mut lines, &mut bytes)?;
        }
    }
    Ok((lines, bytes))
}

fn opts_account(rng: &mut Rng, opts: &GenOptions) -> String {
    format!("project{:03}", rng.below(u64::from(opts.accounts.max(1))))
}

/// Writes an LSF `lsb.acct` file of about `opts.lines` lines; returns (lines, bytes).
pub fn generate_lsf(opts: &GenOptions, out: &mut impl Write) -> io::Result<(u64, u64)> {
    let mut rng = Rng::new(opts.seed);
    let mut lines = 0u64;
    let mut bytes = 0u64;
    let mut line = String::with_capacity(2048);
    let mut job_id = 400_000u64;
    let mut again: Option<String> = None;
    while lines < opts.lines {
        job_id += 1;
        let array = rng.chance(10);
        let elements = if array { 2 + rng.below(6) } else { 1 };
        let nodes = 1 + rng.below(8);
        let per_node = *[1u64, 4, 16, 32].get(rng.below(4) as usize).unwrap_or(&1);
        let processors = nodes * per_node;
        let project = if rng.chance(2) {
            "default".to_string()
        } else {
            opts_account(&mut rng, opts)
        };
        let user = format!("user{:03}", rng.below(200));
        let submit = opts.start + rng.below(u64::from(opts.span_days) * 86_400) as i64;
        for element in 0..elements {
            line.clear();
            let idx = if array { element + 1 } else { 0 };
            if rng.chance(1) {
                let _ = write!(
                    line,
                    "\"JOB_RESIZE\" \"10.1\" {submit} {job_id} 22025 0 {processors} {submit} 0 0 {submit}"
                );
            } else {
                let never = rng.chance(1);
                let start = if never {
                    0
                } else {
                    submit + rng.below(7_200) as i64
                };
                let event = if never {
                    submit + 600
                } else {
                    start + duration(&mut rng)
                };
                let hosts: Vec<String> = (0..nodes)
                    .map(|n| format!("host{:04}-ib", n * 7 + rng.below(7)))
                    .collect();
                // The short form (`16*host`) or one entry per slot.
                let list: Vec<String> = if per_node > 1 && rng.chance(70) {
                    hosts
                        .iter()
                        .map(|h| format!("\"{per_node}*{h}\""))
                        .collect()
                } else {
                    hosts
                        .iter()
                        .flat_map(|h| (0..per_node).map(move |_| format!("\"{h}\"")))
                        .collect()
                };
                let name = if rng.chance(5) {
                    format!("análise{job_id}")
                } else {
                    format!("job{job_id}")
                };
                let queue = pick(&mut rng, &["regular", "short", "long", "gpu"]);
                let _ = write!(
                    line,
                    "\"JOB_FINISH\" \"10.1\" {event} {job_id} 22025 33882739 {processors} {submit} 0 0 {start} \"{user}\" \"{queue}\" \"span[ptile={per_node}]\" \"\" \"\" \"login1\" \"/scratch/{user}\" \"\" \"%J.out\" \"%J.err\" \"{submit}.{job_id}\" 0 {n} {list} 64 60.0 \"{name}\" \"#!/bin/bash;#BSUB -R \"\"span[ptile={per_node}]\"\";mpirun ./app\" 5793844.230000 679.060000 966960 0 -1 0 0 3026323 0 0 0 0 -1 0 0 0 12529329 6498459 -1 \"\" \"{project}\" 0 {processors} \"\" \"\" {idx} 10725376 0 \"\" \"\" \"\" \"\" 0 \"\" 0 \"\" -1 \"/{project}/{user}\" \"\" \"\" \"\" -1 \"\" \"\" 6160 \"\" {start} \"\" \"\" 0",
                    n = list.len(),
                    list = list.join(" "),
                );
                if rng.chance(2) {
                    again = Some(line.clone());
                }
            }
            out.write_all(line.as_bytes())?;
            out.write_all(b"\n")?;
            lines += 1;
            bytes += line.len() as u64 + 1;
        }
        if let Some(copy) = again.take().filter(|_| rng.chance(50)) {
            out.write_all(copy.as_bytes())?;
            out.write_all(b"\n")?;
            lines += 1;
            bytes += copy.len() as u64 + 1;
        }
    }
    Ok((lines, bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(f: impl FnOnce(&mut Vec<u8>) -> io::Result<(u64, u64)>) -> (String, u64, u64) {
        let mut out = Vec::new();
        let (lines, bytes) = f(&mut out).unwrap();
        (String::from_utf8(out).unwrap(), lines, bytes)
    }

    #[test]
    fn grid_engine_files_have_the_documented_shapes() {
        let opts = GenOptions {
            lines: 3000,
            ..Default::default()
        };
        for (engine, fields) in [(GridEngine::Sge, 45), (GridEngine::Univa, 74)] {
            let (t, lines, bytes) = text(|o| generate_sge(&opts, engine, o));
            assert_eq!(t.lines().count() as u64, lines);
            assert_eq!(t.len() as u64, bytes);
            assert!((3000..3100).contains(&lines), "{lines}");
            let records: Vec<&str> = t.lines().filter(|l| !l.starts_with('#')).collect();
            assert!(records.iter().all(|l| l.split(':').count() == fields));
            assert!(records
                .iter()
                .any(|l| l.contains(":mpi:") && !l.contains(":NONE:2310144")));
            assert!(
                records.iter().any(|l| l.contains(":0:0:1:0:")),
                "never started"
            );
            // Deterministic for a seed.
            assert_eq!(text(|o| generate_sge(&opts, engine, o)).0, t);
        }
    }

    #[test]
    fn lsf_files_have_both_host_list_forms_and_other_events() {
        let opts = GenOptions {
            lines: 3000,
            ..Default::default()
        };
        let (t, lines, bytes) = text(|o| generate_lsf(&opts, o));
        assert_eq!(t.lines().count() as u64, lines);
        assert_eq!(t.len() as u64, bytes);
        assert!(t.contains("*host") && t.contains("\"JOB_RESIZE\"") && t.contains("análise"));
        assert!(t.contains("\"\"span[ptile="));
    }
}
