//! Reading on one thread, summing on another, in the order the lines were read.
//!
//! A [`BatchingSink`] stands in for the real sink on the reading thread: every call a source
//! makes (records, amounts, steps, invalid lines) is copied, in order, into a [`RecordBatch`]
//! (owned strings in one reused text buffer, quantities in one reused vector) and full batches
//! go over a bounded channel to the thread that owns the real sink, which [replays]
//! (RecordBatch::replay) them. The sink sees exactly the calls, in exactly the order, that it
//! would have seen had it been handed to the source directly, so dedup ("which duplicate
//! wins"), line numbers, explanations and every sum are those of a sequential read by
//! construction; a sink never answers a source, so nothing read depends on the sink's state.
//!
//! Batches are sent back once replayed and refilled: after the first few, reading allocates
//! nothing per record. The channel is bounded, so memory stays a few batches however far the
//! reader gets ahead.

use std::sync::mpsc::{Receiver, SyncSender, TryRecvError};

use rust_decimal::Decimal;

use crate::{AmountRecord, AmountWhen, InvalidRecord, JobRecord, Millis, RecordSink};

/// Sink calls per batch: large enough that the channel is touched rarely, small enough that
/// a few batches in flight stay well under a megabyte each.
pub const BATCH_EVENTS: usize = 4096;

/// Batches in flight between the reader and the summing thread (beside the two being filled
/// and replayed).
pub const BATCHES_IN_FLIGHT: usize = 4;

/// A string's place in a batch's text.
#[derive(Clone, Copy, Debug)]
struct Span {
    start: u32,
    len: u32,
}

/// How a job record was handed to the sink.
#[derive(Clone, Copy, Debug)]
enum RecordKind {
    FirstWins,
    LastWins,
    Millis(Millis),
}

/// One sink call, with its strings in the batch's text.
#[derive(Debug)]
enum Event {
    Record {
        kind: RecordKind,
        cluster: Span,
        key: Span,
        job_id: Span,
        account: Span,
        user: Span,
        submit: Option<i64>,
        start: i64,
        end: Option<i64>,
        /// Where the record's quantities start in the batch's quantities (as many as the
        /// sink wants).
        quantities: u32,
        file_index: u32,
        line: u64,
    },
    Amount {
        key: Option<Span>,
        account: Span,
        user: Span,
        component: Span,
        amount: Decimal,
        when: AmountWhen,
        file_index: u32,
        line: u64,
    },
    Step {
        job_id: Span,
        file_index: u32,
        line: u64,
    },
    Invalid(InvalidRecord),
}

/// A run of sink calls in the order a source made them.
#[derive(Debug, Default)]
pub struct RecordBatch {
    events: Vec<Event>,
    text: String,
    /// Step JobIDs, as the bytes the line had.
    raw: Vec<u8>,
    quantities: Vec<Option<Decimal>>,
}

impl RecordBatch {
    fn clear(&mut self) {
        self.events.clear();
        self.text.clear();
        self.raw.clear();
        self.quantities.clear();
    }

    fn span(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        Span {
            start: u32::try_from(start).expect("a batch holds less than 4 GiB of text"),
            len: u32::try_from(s.len()).expect("a field is shorter than 4 GiB"),
        }
    }

    fn text(&self, s: Span) -> &str {
        &self.text[s.start as usize..(s.start + s.len) as usize]
    }

    fn push_record(&mut self, r: &JobRecord<'_>, kind: RecordKind) {
        let quantities =
            u32::try_from(self.quantities.len()).expect("fewer than 2^32 quantities in a batch");
        self.quantities.extend_from_slice(r.quantities);
        let event = Event::Record {
            kind,
            cluster: self.span(r.cluster),
            key: self.span(r.key),
            job_id: self.span(r.job_id),
            account: self.span(r.account),
            user: self.span(r.user),
            submit: r.submit,
            start: r.start,
            end: r.end,
            quantities,
            file_index: r.file_index,
            line: r.line,
        };
        self.events.push(event);
    }

    /// Hands every call of the batch to `sink`, in order. `wanted` is the number of
    /// quantities each record carries (the sink's `wanted_tres().len()`).
    pub fn replay(&self, sink: &mut dyn RecordSink, wanted: usize) {
        for event in &self.events {
            match *event {
                Event::Record {
                    kind,
                    cluster,
                    key,
                    job_id,
                    account,
                    user,
                    submit,
                    start,
                    end,
                    quantities,
                    file_index,
                    line,
                } => {
                    let q = quantities as usize;
                    let record = JobRecord {
                        cluster: self.text(cluster),
                        key: self.text(key),
                        job_id: self.text(job_id),
                        submit,
                        account: self.text(account),
                        user: self.text(user),
                        start,
                        end,
                        quantities: &self.quantities[q..q + wanted],
                        file_index,
                        line,
                    };
                    match kind {
                        RecordKind::FirstWins => sink.record(&record),
                        RecordKind::LastWins => sink.record_last_wins(&record),
                        RecordKind::Millis(millis) => sink.record_millis(&record, millis),
                    }
                }
                Event::Amount {
                    key,
                    account,
                    user,
                    component,
                    amount,
                    when,
                    file_index,
                    line,
                } => sink.amount(&AmountRecord {
                    key: key.map(|k| self.text(k)),
                    account: self.text(account),
                    user: self.text(user),
                    component: self.text(component),
                    amount,
                    when,
                    file_index,
                    line,
                }),
                Event::Step {
                    job_id,
                    file_index,
                    line,
                } => sink.step(
                    &self.raw[job_id.start as usize..(job_id.start + job_id.len) as usize],
                    file_index,
                    line,
                ),
                Event::Invalid(ref invalid) => sink.invalid(invalid.clone()),
            }
        }
    }
}

/// The reading thread's sink: collects calls into batches and sends full ones on.
///
/// Call [`BatchingSink::flush`] when reading ends (also after an error: what was read before
/// it is then still delivered, as a sequential read would have delivered it).
pub struct BatchingSink {
    wanted: Vec<String>,
    forward_steps: bool,
    batch: RecordBatch,
    full: SyncSender<RecordBatch>,
    empty: Receiver<RecordBatch>,
    /// The summing side has hung up: nothing more is sent (the reader finishes its file and
    /// the caller reports whatever stopped the summing side).
    closed: bool,
}

impl BatchingSink {
    /// `wanted`: the real sink's `wanted_tres()`. `forward_steps`: whether step lines are
    /// passed on (a sink that ignores [`RecordSink::step`] need not receive them; counting
    /// steps is the source's own). `full` carries filled batches to the summing thread,
    /// `empty` brings them back for reuse.
    pub fn new(
        wanted: Vec<String>,
        forward_steps: bool,
        full: SyncSender<RecordBatch>,
        empty: Receiver<RecordBatch>,
    ) -> Self {
        Self {
            wanted,
            forward_steps,
            batch: RecordBatch::default(),
            full,
            empty,
            closed: false,
        }
    }

    fn pushed(&mut self) {
        if self.batch.events.len() >= BATCH_EVENTS {
            self.send();
        }
    }

    fn send(&mut self) {
        if self.closed || self.batch.events.is_empty() {
            self.batch.clear();
            return;
        }
        let mut next = match self.empty.try_recv() {
            Ok(b) => b,
            Err(TryRecvError::Empty | TryRecvError::Disconnected) => RecordBatch {
                events: Vec::with_capacity(BATCH_EVENTS),
                text: String::with_capacity(BATCH_EVENTS * 32),
                raw: Vec::new(),
                quantities: Vec::with_capacity(BATCH_EVENTS * self.wanted.len()),
            },
        };
        next.clear();
        let full = std::mem::replace(&mut self.batch, next);
        if self.full.send(full).is_err() {
            self.closed = true;
        }
    }

    /// Sends what is left. Dropping the sink afterwards ends the summing side's loop.
    pub fn flush(&mut self) {
        self.send();
    }
}

impl RecordSink for BatchingSink {
    fn wanted_tres(&self) -> &[String] {
        &self.wanted
    }

    fn record(&mut self, record: &JobRecord<'_>) {
        self.batch.push_record(record, RecordKind::FirstWins);
        self.pushed();
    }

    fn record_last_wins(&mut self, record: &JobRecord<'_>) {
        self.batch.push_record(record, RecordKind::LastWins);
        self.pushed();
    }

    fn record_millis(&mut self, record: &JobRecord<'_>, millis: Millis) {
        self.batch.push_record(record, RecordKind::Millis(millis));
        self.pushed();
    }

    fn amount(&mut self, r: &AmountRecord<'_>) {
        let b = &mut self.batch;
        let event = Event::Amount {
            key: r.key.map(|k| b.span(k)),
            account: b.span(r.account),
            user: b.span(r.user),
            component: b.span(r.component),
            amount: r.amount,
            when: r.when,
            file_index: r.file_index,
            line: r.line,
        };
        b.events.push(event);
        self.pushed();
    }

    fn invalid(&mut self, invalid: InvalidRecord) {
        self.batch.events.push(Event::Invalid(invalid));
        self.pushed();
    }

    fn step(&mut self, job_id: &[u8], file_index: u32, line: u64) {
        if !self.forward_steps {
            return;
        }
        let raw = &mut self.batch.raw;
        let job_id_span = Span {
            start: u32::try_from(raw.len()).expect("a batch holds less than 4 GiB of text"),
            len: u32::try_from(job_id.len()).expect("a field is shorter than 4 GiB"),
        };
        raw.extend_from_slice(job_id);
        let job_id = job_id_span;
        self.batch.events.push(Event::Step {
            job_id,
            file_index,
            line,
        });
        self.pushed();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sacct::{self, SacctOptions};
    use std::path::Path;

    /// Writes down every call it gets, in order.
    struct Log {
        wanted: Vec<String>,
        calls: Vec<String>,
    }

    impl RecordSink for Log {
        fn wanted_tres(&self) -> &[String] {
            &self.wanted
        }
        fn record(&mut self, r: &JobRecord<'_>) {
            self.calls.push(format!("record {r:?}"));
        }
        fn record_last_wins(&mut self, r: &JobRecord<'_>) {
            self.calls.push(format!("last {r:?}"));
        }
        fn record_millis(&mut self, r: &JobRecord<'_>, m: Millis) {
            self.calls.push(format!("millis {r:?} {m:?}"));
        }
        fn amount(&mut self, r: &AmountRecord<'_>) {
            self.calls.push(format!("amount {r:?}"));
        }
        fn invalid(&mut self, i: InvalidRecord) {
            self.calls.push(format!("invalid {i:?}"));
        }
        fn step(&mut self, job_id: &[u8], file_index: u32, line: u64) {
            self.calls
                .push(format!("step {job_id:?} {file_index} {line}"));
        }
    }

    fn log() -> Log {
        Log {
            wanted: vec!["cpu".into(), "mem".into(), "gres/gpu".into()],
            calls: Vec::new(),
        }
    }

    /// A dump of several batches: jobs, steps (one with a non-UTF-8 JobID), invalid lines.
    fn dump() -> Vec<u8> {
        let mut d = b"JobID|Account|User|Start|End|AllocTRES\n".to_vec();
        for i in 0..3 * BATCH_EVENTS {
            let line = match i % 7 {
                0 => format!("{i}.batch|a|u|2026-10-01T00:00:00|2026-10-01T01:00:00|cpu=1\n"),
                1 => "garbage\n".to_string(),
                2 => format!(
                    "{i}|acct{}|user{}|2026-10-01T00:00:00|Unknown|cpu={},mem=2G\n",
                    i % 5,
                    i % 3,
                    i % 9
                ),
                _ => format!(
                    "{i}|acct{}|u|2026-10-0{}T00:00:00|2026-10-09T00:00:00|cpu=2,gres/gpu=1\n",
                    i % 11,
                    1 + i % 8
                ),
            };
            d.extend_from_slice(line.as_bytes());
        }
        d.extend_from_slice(b"7\xff.0|a|u|x|y|cpu=1\n");
        d
    }

    #[test]
    fn batched_calls_replay_exactly_as_the_source_made_them() {
        let path = Path::new("dump.txt");
        let opts = SacctOptions::default();
        let mut direct = log();
        let direct_stats = sacct::read(&dump()[..], path, 3, &opts, &mut direct).unwrap();

        let mut replayed = log();
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT);
        let (empty_tx, empty_rx) = std::sync::mpsc::sync_channel(BATCHES_IN_FLIGHT + 2);
        let wanted = replayed.wanted.clone();
        let stats = std::thread::scope(|s| {
            let reader = s.spawn(move || {
                let mut sink = BatchingSink::new(wanted, true, full_tx, empty_rx);
                let stats = sacct::read(&dump()[..], path, 3, &opts, &mut sink);
                sink.flush();
                stats
            });
            let mut batches = 0;
            for batch in full_rx {
                batch.replay(&mut replayed, 3);
                batches += 1;
                let _ = empty_tx.try_send(batch);
            }
            assert!(batches > 3, "the dump spans several batches");
            reader.join().unwrap().unwrap()
        });
        assert_eq!(stats, direct_stats);
        assert!(direct.calls.iter().any(|c| c.starts_with("invalid")));
        assert!(direct.calls.iter().any(|c| c.starts_with("step [55, 255")));
        assert_eq!(replayed.calls, direct.calls);
    }

    #[test]
    fn steps_are_dropped_when_not_wanted_and_nothing_else_is() {
        let path = Path::new("dump.txt");
        let opts = SacctOptions::default();
        let mut direct = log();
        sacct::read(&dump()[..], path, 0, &opts, &mut direct).unwrap();
        let (full_tx, full_rx) = std::sync::mpsc::sync_channel(1);
        let (_empty_tx, empty_rx) = std::sync::mpsc::sync_channel(1);
        let mut replayed = log();
        std::thread::scope(|s| {
            s.spawn(move || {
                let mut sink = BatchingSink::new(log().wanted, false, full_tx, empty_rx);
                sacct::read(&dump()[..], path, 0, &opts, &mut sink).unwrap();
                sink.flush();
            });
            for batch in full_rx {
                batch.replay(&mut replayed, 3);
            }
        });
        let without_steps: Vec<String> = direct
            .calls
            .into_iter()
            .filter(|c| !c.starts_with("step"))
            .collect();
        assert_eq!(replayed.calls, without_steps);
    }
}
