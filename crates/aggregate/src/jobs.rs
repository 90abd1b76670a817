//! Compact storage of one record per distinct job.
//!
//! This is the part of tally whose memory grows with the input (with distinct jobs, never
//! with lines), so it is laid out for size: a hash index of 20-byte entries pointing into
//! columns of 24 bytes per job (who, start, end, quantities). "Who" is the interned
//! (account, user) pair and the quantities are an interned set: a site runs millions of
//! jobs but only a few thousand distinct (cpu, gpu, mem) shapes, so a job holds a 4-byte id
//! where it held 8 bytes per TRES. Quantities are packed into 8 bytes when they fit (they
//! virtually always do; those that do not go to a side table, exactly).

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
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
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

/// A [`JobTable`] without its index (see [`JobTable::into_columns`]): jobs by slot only.
pub(crate) struct JobColumns(JobTable);

impl JobColumns {
    pub(crate) fn len(&self) -> usize {
        self.0.len()
    }
    pub(crate) fn owner(&self, slot: usize) -> u32 {
        self.0.owner(slot)
    }
    pub(crate) fn span(&self, slot: usize) -> (i64, i64) {
        self.0.span(slot)
    }
    pub(crate) fn set_of(&self, slot: usize) -> u32 {
        self.0.set_of(slot)
    }
    pub(crate) fn set_count(&self) -> usize {
        self.0.set_count()
    }
    pub(crate) fn set_quantity(&self, set: u32, k: usize) -> Decimal {
        self.0.set_quantity(set, k)
    }
}

pub(crate) struct JobTable {
    /// Quantities per job.
    width: usize,
    index: FxHashMap<JobKey, u32>,
    /// The interned (account, user) pair of each job (see the aggregator).
    owners: Vec<u32>,
    starts: Vec<i64>,
    /// `RUNNING` while the job has no End.
    ends: Vec<i64>,
    /// The interned quantity set of each job: an index into `sets`.
    set_ids: Vec<u32>,
    /// The distinct quantity sets, `width` packed quantities each.
    sets: Vec<PackedQty>,
    set_index: FxHashMap<Box<[PackedQty]>, u32>,
    /// Where a set is packed before it is looked up (no allocation per job).
    scratch: Vec<PackedQty>,
    overflow: Vec<Decimal>,
}

impl JobTable {
    pub(crate) fn new(width: usize) -> Self {
        Self {
            width,
            index: FxHashMap::default(),
            owners: Vec::new(),
            starts: Vec::new(),
            ends: Vec::new(),
            set_ids: Vec::new(),
            sets: Vec::new(),
            set_index: FxHashMap::default(),
            scratch: Vec::with_capacity(width),
            overflow: Vec::new(),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.owners.len()
    }

    /// Keeps the best record per job: a known End beats a running record, a later End an
    /// earlier one, and between two running records the one read last (the newer dump).
    /// Between two records with the same End the first is kept, unless `equal_end_replaces`
    /// (CSV rows with a `dedup_key`: a re-export corrects the row, "the last one read counts").
    pub(crate) fn upsert(
        &mut self,
        key: JobKey,
        owner: u32,
        (start, end): (i64, Option<i64>),
        quantities: &[Option<Decimal>],
        equal_end_replaces: bool,
    ) -> Upsert {
        let end = end.unwrap_or(RUNNING);
        let slot = match self.index.get(&key) {
            None => {
                let slot = self.len();
                let set = self.intern_set(quantities);
                self.index.insert(key, slot as u32);
                self.owners.push(owner);
                self.starts.push(start);
                self.ends.push(end);
                self.set_ids.push(set);
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
        let set = self.intern_set(quantities);
        self.owners[slot] = owner;
        self.starts[slot] = start;
        self.ends[slot] = end;
        self.set_ids[slot] = set;
        Upsert::Replaced
    }

    /// The id of a quantity set, added if new.
    fn intern_set(&mut self, quantities: &[Option<Decimal>]) -> u32 {
        let mut scratch = std::mem::take(&mut self.scratch);
        scratch.clear();
        for q in quantities {
            scratch.push(self.pack(q.unwrap_or(Decimal::ZERO)));
        }
        let id = match self.set_index.get(scratch.as_slice()) {
            Some(&id) => id,
            None => {
                let id = u32::try_from(self.set_index.len()).expect("fewer than 2^32 sets");
                self.sets.extend_from_slice(&scratch);
                self.set_index.insert(scratch.as_slice().into(), id);
                id
            }
        };
        self.scratch = scratch;
        id
    }

    /// Frees the index by job key (the largest part of the table: a hash table of 20-byte
    /// entries at most 7/8 full) once every record is read: summing walks the jobs by slot
    /// and needs only the columns. Consumes the table and gives back the columns, so that no
    /// lookup or upsert can follow.
    pub(crate) fn into_columns(self) -> JobColumns {
        JobColumns(JobTable {
            index: FxHashMap::default(),
            ..self
        })
    }

    /// The slot of a job, if it is known.
    pub(crate) fn slot(&self, key: &JobKey) -> Option<usize> {
        self.index.get(key).map(|&s| s as usize)
    }

    pub(crate) fn owner(&self, slot: usize) -> u32 {
        self.owners[slot]
    }

    pub(crate) fn span(&self, slot: usize) -> (i64, i64) {
        (self.starts[slot], self.ends[slot])
    }

    /// The quantity set of a job (see [`JobTable::set_quantity`]).
    pub(crate) fn set_of(&self, slot: usize) -> u32 {
        self.set_ids[slot]
    }

    /// How many distinct quantity sets the jobs hold.
    pub(crate) fn set_count(&self) -> usize {
        self.set_index.len()
    }

    /// Quantity `k` (in the order of the wanted TRES) of a set.
    pub(crate) fn set_quantity(&self, set: u32, k: usize) -> Decimal {
        let PackedQty(v) = self.sets[set as usize * self.width + k];
        if v & OVERFLOW != 0 {
            self.overflow[(v & !OVERFLOW) as usize]
        } else {
            let scale = (v >> MANTISSA_BITS) as u32;
            let mantissa = v & ((1 << MANTISSA_BITS) - 1);
            Decimal::from_i128_with_scale(i128::from(mantissa), scale)
        }
    }

    #[cfg(test)]
    fn quantity(&self, slot: usize, k: usize) -> Decimal {
        self.set_quantity(self.set_of(slot), k)
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
    fn jobs_of_one_shape_share_one_quantity_set() {
        let mut t = JobTable::new(2);
        let shapes = [["4", "8192"], ["4", "8192"], ["1", "8192"], ["4", "8192.5"]];
        for (i, shape) in shapes.iter().enumerate() {
            let q: Vec<Option<Decimal>> = shape
                .iter()
                .map(|v| Some(Decimal::from_str(v).unwrap()))
                .collect();
            t.upsert(
                JobKey::new(0, Some(i as u64), None, || 0),
                0,
                (0, Some(1)),
                &q,
                false,
            );
        }
        assert_eq!(t.len(), 4);
        assert_eq!(t.set_count(), 3, "the two identical shapes are one set");
        assert_eq!(t.set_of(0), t.set_of(1));
        assert_eq!(t.quantity(3, 1).to_string(), "8192.5");
        assert_eq!(t.quantity(2, 0).to_string(), "1");
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
