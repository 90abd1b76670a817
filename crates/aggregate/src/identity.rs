//! One identity per job across dumps that carry different identity columns.
//!
//! A job's key is (Cluster, JobIDRaw or JobID, Submit), each part as far as its dump has it.
//! Two dumps of the same job that carry different parts give it two keys, and the job would
//! be billed twice. Where the parts can be reconciled they are, before the key is made: a
//! dump without a Cluster column takes its source's `cluster`, and a JobID that is a plain
//! number is its JobIDRaw. What is left cannot be: without Submit a requeued job's runs
//! cannot be told apart, and an array task's `123_4` says nothing of its raw id. So when the
//! dumps of a collection carry different parts, every job is also indexed by its JobID as
//! printed (which every dump has) and a job met in two such dumps under two keys is refused,
//! naming both files and the missing columns. Collections whose dumps all carry the same
//! parts (nearly all) pay nothing: the check is not even built.

use std::path::PathBuf;

use rustc_hash::FxHashMap;
use tally_sources::{JobIdentity, JobRecord};

use crate::intern::Interner;
use crate::jobs::JobKey;

/// A job dump of the collection, by file index.
#[derive(Clone, Debug)]
pub struct IdentityFile {
    pub path: PathBuf,
    pub identity: JobIdentity,
}

/// The same job read from two dumps that identify jobs differently: tally can neither count
/// it once with certainty nor twice without billing it twice, so the collection is refused.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "job {job_id} is in {first}:{first_line} and in {second}:{second_line}, which identify jobs \
     differently ({lacking}): tally cannot tell one job from two and would count it twice. Give \
     the dumps the same identity columns (sacct --format=...,Cluster,JobIDRaw,Submit), set \
     `cluster` on a sacct source whose dump has no Cluster column, or do not read both"
)]
pub struct IdentityConflict {
    pub job_id: String,
    pub first: PathBuf,
    pub first_line: u64,
    pub second: PathBuf,
    pub second_line: u64,
    /// "b.txt has no Cluster, Submit column", for each side that lacks something.
    pub lacking: String,
}

/// What is remembered of a record of a JobID.
struct Seen {
    file: u32,
    line: u64,
    cluster: Option<u32>,
    submit: Option<i64>,
    key: JobKey,
}

pub(crate) struct IdentityCheck {
    files: Vec<Option<IdentityFile>>,
    /// JobID as printed (a plain number, or an interned string id with the top bit set)
    /// -> its records, one per identity kind and key.
    first: FxHashMap<u64, Vec<Seen>>,
    job_ids: Interner,
    conflict: Option<IdentityConflict>,
}

const INTERNED: u64 = 1 << 63;

impl IdentityCheck {
    /// The check for these files (indexed by file index; `None` for sources that are not job
    /// dumps), or `None` when they all carry the same identity columns.
    pub(crate) fn new(files: Vec<Option<IdentityFile>>) -> Option<Self> {
        let mut kinds = files.iter().flatten().map(|f| f.identity);
        let first = kinds.next()?;
        if kinds.all(|k| k == first) {
            return None;
        }
        Some(Self {
            files,
            first: FxHashMap::default(),
            job_ids: Interner::default(),
            conflict: None,
        })
    }

    pub(crate) fn see(&mut self, r: &JobRecord<'_>, cluster: u32, key: JobKey) {
        if self.conflict.is_some() {
            return;
        }
        let Some(Some(file)) = self.files.get(r.file_index as usize) else {
            return;
        };
        let b = r.job_id.as_bytes();
        let printed = if !b.is_empty() && b.len() <= 18 && b.iter().all(u8::is_ascii_digit) {
            b.iter().fold(0u64, |v, d| v * 10 + u64::from(d - b'0'))
        } else {
            INTERNED | u64::from(self.job_ids.id(r.job_id))
        };
        let this = Seen {
            file: r.file_index,
            line: r.line,
            cluster: (!r.cluster.is_empty()).then_some(cluster),
            submit: r.submit,
            key,
        };
        let records = self.first.entry(printed).or_default();
        let mut stored = false;
        for seen in records.iter() {
            let Some(Some(earlier)) = self.files.get(seen.file as usize) else {
                continue;
            };
            if earlier.identity == file.identity {
                stored |= seen.key == this.key;
                continue;
            }
            if seen.key == this.key
                // Known to be two jobs: two clusters, or two submissions (a requeue, a reused id).
                || differ(seen.cluster, this.cluster)
                || differ(seen.submit, this.submit)
            {
                continue;
            }
            let name = |f: &IdentityFile| {
                f.path
                    .file_name()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_else(|| f.path.display().to_string())
            };
            let mut lacking = Vec::new();
            for (has, lacks) in [(earlier, file), (file, earlier)] {
                let missing = has.identity.lacking_in(&lacks.identity);
                if !missing.is_empty() {
                    lacking.push(format!(
                        "{} has no {} column",
                        name(lacks),
                        missing.join(", ")
                    ));
                }
            }
            self.conflict = Some(IdentityConflict {
                job_id: r.job_id.to_string(),
                first: earlier.path.clone(),
                first_line: seen.line,
                second: file.path.clone(),
                second_line: r.line,
                lacking: lacking.join("; "),
            });
            return;
        }
        if !stored {
            records.push(this);
        }
    }

    pub(crate) fn conflict(&self) -> Option<&IdentityConflict> {
        self.conflict.as_ref()
    }
}

/// Both known and different.
fn differ<T: PartialEq>(a: Option<T>, b: Option<T>) -> bool {
    matches!((a, b), (Some(a), Some(b)) if a != b)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FULL: JobIdentity = JobIdentity::FULL;
    const NO_RAW: JobIdentity = JobIdentity {
        cluster: true,
        job_id_raw: false,
        submit: true,
    };

    fn files(kinds: &[JobIdentity]) -> Vec<Option<IdentityFile>> {
        kinds
            .iter()
            .enumerate()
            .map(|(i, k)| {
                Some(IdentityFile {
                    path: PathBuf::from(format!("d{i}.txt")),
                    identity: *k,
                })
            })
            .collect()
    }

    /// Feeds (file, cluster, key, JobID, submit) records; the key is made as the aggregator
    /// makes it (numeric keys only here).
    fn feed(check: &mut IdentityCheck, records: &[(u32, &str, &str, &str, Option<i64>)]) {
        for (line, &(file, cluster, key, job_id, submit)) in records.iter().enumerate() {
            let cluster_id = u32::from(cluster == "b");
            let numeric = key.parse::<u64>().ok();
            let r = JobRecord {
                cluster,
                key,
                job_id,
                submit,
                account: "a",
                user: "u",
                start: 0,
                end: Some(1),
                quantities: &[],
                file_index: file,
                line: line as u64 + 1,
            };
            let key = JobKey::new(cluster_id, numeric, submit, || 7);
            check.see(&r, cluster_id, key);
        }
    }

    #[test]
    fn dumps_with_the_same_columns_need_no_check() {
        assert!(IdentityCheck::new(files(&[FULL, FULL])).is_none());
        assert!(IdentityCheck::new(vec![None, None]).is_none());
        assert!(IdentityCheck::new(files(&[FULL, NO_RAW])).is_some());
    }

    /// The second run of a requeued array task, from a dump without JobIDRaw, is compared
    /// with every run the full dump had, not only the first.
    #[test]
    fn a_requeued_run_is_matched_against_every_earlier_run() {
        let mut check = IdentityCheck::new(files(&[FULL, NO_RAW])).unwrap();
        feed(
            &mut check,
            &[
                (0, "a", "130", "123_4", Some(10)),
                (0, "a", "130", "123_4", Some(20)),
                (1, "a", "123_4", "123_4", Some(20)),
            ],
        );
        let c = check.conflict().expect("a conflict");
        assert_eq!((c.first_line, c.second_line), (2, 3));
        assert_eq!(c.lacking, "d1.txt has no JobIDRaw column");
    }

    #[test]
    fn records_told_apart_by_cluster_or_submit_or_sharing_the_key_are_no_conflict() {
        let mut check = IdentityCheck::new(files(&[FULL, NO_RAW])).unwrap();
        feed(
            &mut check,
            &[
                (0, "a", "5", "5", Some(10)),
                // Same key: the job table already counts it once.
                (1, "a", "5", "5", Some(10)),
                // Another cluster's job 5, another submission of job 5.
                (1, "b", "5", "5", Some(10)),
                (1, "a", "5", "5", Some(30)),
            ],
        );
        assert!(check.conflict().is_none());
    }
}
