//! Compact storage of one record per distinct job.
//!
//! This is the only part of tally whose memory grows with the input (with distinct jobs,
//! never with lines), so it is laid out for size: a hash index of 20-byte entries pointing
//! into columns (account, start, end, quantities), and quantities packed into 8 bytes when
//! they fit (they virtually always do; those that do not go to a side table, exactly).

use rust_decimal::Decimal;
use rustc_hash::FxHashMap;

/// Job identity. Stored as u32 halves so that an index entry is 20 bytes, not 24.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) struct JobKey {
    /// Cluster and numeric job id packed, or an interned string id (see [`JobKey::new`]).
    id: [u32; 2],
    /// Submit time; `i64::MIN` when unknown.
    submit: [u32; 2],
}

/// Ids at or above this, or clusters beyond [`MAX_PACKED_CLUSTER`], use the string form.
const PACKED_ID_LIMIT: u64 = 1 << 47;
const MAX_PACKED_CLUSTER: u32 = (1 << 16) - 1;
const STRING_KEY: u64 = 1 << 63;

fn halves(v: u64) -> [u32; 2] {
    [(v >> 32) as u32, v as u32]
}

impl JobKey {
    /// `numeric` is the job id when it is a plain integer; otherwise `string_id` is called
    /// to intern the (cluster, id) pair.
    pub(crate) fn new(
        cluster: u32,
        numeric: Option<u64>,
        submit: Option<i64>,
        string_id: impl FnOnce() -> u32,
    ) -> Self {
        let id = match numeric {
            Some(n) if n < PACKED_ID_LIMIT && cluster <= MAX_PACKED_CLUSTER => {
                (u64::from(cluster) << 47) | n
            }
            _ => STRING_KEY | u64::from(string_id()),
        };
        JobKey {
            id: halves(id),
            submit: halves(submit.unwrap_or(i64::MIN) as u64),
        }
    }
}

/// A quantity in 8 bytes: the top bit marks an index into the overflow table; otherwise
/// bits 56..61 hold the decimal scale and the low 56 bits the (non-negative) mantissa.
#[derive(Clone, Copy)]
struct PackedQty(u64);

const OVERFLOW: u64 = 1 << 63;
const MANTISSA_BITS: u32 = 56;

pub(crate) const RUNNING: i64 = i64::MAX;

/// What [`JobTable::upsert`] did.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Upsert {
    Inserted,
    /// The job was known; this record replaced the kept one.
    Replaced,
    /// The job was known; the kept record is the better one.
    Kept,
}

pub(crate) struct JobTable {
    /// Quantities per job.
    width: usize,
    index: FxHashMap<JobKey, u32>,
    accounts: Vec<u32>,
    users: Vec<u32>,
    starts: Vec<i64>,
    /// `RUNNING` while the job has no End.
    ends: Vec<i64>,
    quantities: Vec<PackedQty>,
    overflow: Vec<Decimal>,
}

impl JobTable {
    pub(crate) fn new(width: usize) -> Self {
        Self {
            width,
            index: FxHashMap::default(),
            accounts: Vec::new(),
            users: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            quantities: Vec::new(),
            overflow: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.accounts.len()
    }

    /// Keeps the best record per job: a known End beats a running record, a later End an
    /// earlier one, and between two running records the one read last (the newer dump).
    /// Between two records with the same End the first is kept, unless `equal_end_replaces`
    /// (CSV rows with a `dedup_key`: a re-export corrects the row, "the last one read counts").
    pub(crate) fn upsert(
        &mut self,
        key: JobKey,
        account: u32,
        user: u32,
        (start, end): (i64, Option<i64>),
        quantities: &[Option<Decimal>],
        equal_end_replaces: bool,
    ) -> Upsert {
        let end = end.unwrap_or(RUNNING);
        let slot = match self.index.get(&key) {
            None => {
                let slot = self.len();
                self.index.insert(key, slot as u32);
                self.accounts.push(account);
                self.users.push(user);
                self.starts.push(start);
                self.ends.push(end);
                for q in quantities {
                    let p = self.pack(q.unwrap_or(Decimal::ZERO));
                    self.quantities.push(p);
                }
                return Upsert::Inserted;
            }
            Some(&slot) => slot as usize,
        };
        let old = self.ends[slot];
        let newer = match (old == RUNNING, end == RUNNING) {
            (true, _) => true,
            (false, true) => false,
            (false, false) => end > old || (equal_end_replaces && end == old),
        };
        if !newer {
            return Upsert::Kept;
        }
        self.accounts[slot] = account;
        self.users[slot] = user;
        self.starts[slot] = start;
        self.ends[slot] = end;
        for (k, q) in quantities.iter().enumerate() {
            let p = self.pack(q.unwrap_or(Decimal::ZERO));
            self.quantities[slot * self.width + k] = p;
        }
        Upsert::Replaced
    }

    /// The slot of a job, if it is known.
    pub(crate) fn slot(&self, key: &JobKey) -> Option<usize> {
        self.index.get(key).map(|&s| s as usize)
    }

    pub(crate) fn account(&self, slot: usize) -> u32 {
        self.accounts[slot]
    }

    pub(crate) fn user(&self, slot: usize) -> u32 {
        self.users[slot]
    }

    pub(crate) fn span(&self, slot: usize) -> (i64, i64) {
        (self.starts[slot], self.ends[slot])
    }

    pub(crate) fn quantity(&self, slot: usize, k: usize) -> Decimal {
        let PackedQty(v) = self.quantities[slot * self.width + k];
        if v & OVERFLOW != 0 {
            self.overflow[(v & !OVERFLOW) as usize]
        } else {
            let scale = (v >> MANTISSA_BITS) as u32;
            let mantissa = v & ((1 << MANTISSA_BITS) - 1);
            Decimal::from_i128_with_scale(i128::from(mantissa), scale)
        }
    }

    fn pack(&mut self, d: Decimal) -> PackedQty {
        let m = d.mantissa();
        if (0..(1i128 << MANTISSA_BITS)).contains(&m) {
            PackedQty((u64::from(d.scale()) << MANTISSA_BITS) | m as u64)
        } else {
            self.overflow.push(d);
            PackedQty(OVERFLOW | (self.overflow.len() - 1) as u64)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn quantities_round_trip_exactly_packed_or_not() {
        let mut t = JobTable::new(4);
        let values = [
            "0",
            "4096",
            "1264.1015625",
            "0.00146484375",
            "79228162514264337593543950335",
            "123456789012345678901.5",
        ];
        let qs: Vec<Option<Decimal>> = values
            .iter()
            .map(|v| Some(Decimal::from_str(v).unwrap()))
            .collect();
        for (i, chunk) in qs.chunks(4).enumerate() {
            let mut q = chunk.to_vec();
            q.resize(4, None);
            t.upsert(
                JobKey::new(0, Some(i as u64), None, || 0),
                0,
                0,
                (0, Some(1)),
                &q,
                false,
            );
        }
        let got: Vec<String> = (0..values.len())
            .map(|i| t.quantity(i / 4, i % 4).to_string())
            .collect();
        assert_eq!(got, values);
        assert_eq!(
            t.overflow.len(),
            2,
            "only the huge values leave the packed form"
        );
    }

    #[test]
    fn index_entries_stay_small() {
        assert_eq!(std::mem::size_of::<(JobKey, u32)>(), 20);
        assert_eq!(std::mem::size_of::<PackedQty>(), 8);
    }

    #[test]
    fn keys_separate_clusters_and_submit_times() {
        let a = JobKey::new(1, Some(7), None, || 0);
        assert_ne!(a, JobKey::new(2, Some(7), None, || 0));
        assert_ne!(a, JobKey::new(1, Some(7), Some(5), || 0));
        assert_eq!(a, JobKey::new(1, Some(7), None, || 0));
        // Huge ids fall back to the interned form.
        assert_ne!(
            JobKey::new(1, Some(u64::MAX), None, || 9),
            JobKey::new(1, Some(9), None, || 9)
        );
    }
}
