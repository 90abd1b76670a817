//! Properties of the sacct reader on arbitrary input: it never panics, every non-blank line
//! is accounted for exactly once, and how records are spread over files or ordered within
//! them does not change what reaches the sink.

use std::path::Path;

use proptest::prelude::*;
use tally_sources::sacct::{read, SacctOptions};
use tally_sources::{InvalidRecord, JobRecord, RecordSink};

#[derive(Default)]
struct Count {
    wanted: Vec<String>,
    jobs: Vec<String>,
    invalid: Vec<InvalidRecord>,
}

impl RecordSink for Count {
    fn wanted_tres(&self) -> &[String] {
        &self.wanted
    }
    fn record(&mut self, r: &JobRecord<'_>) {
        let q: Vec<String> = r.quantities.iter().map(|q| format!("{q:?}")).collect();
        self.jobs.push(format!(
            "{}|{}|{}|{:?}|{}",
            r.key,
            r.account,
            r.start,
            r.end,
            q.join(",")
        ));
    }
    fn amount(&mut self, _: &tally_sources::AmountRecord<'_>) {}
    fn invalid(&mut self, i: InvalidRecord) {
        self.invalid.push(i);
    }
}

const HEADER: &str = "JobID|JobIDRaw|Cluster|Account|User|State|Submit|Start|End|AllocTRES";

fn sink() -> Count {
    Count {
        wanted: vec!["cpu".into(), "mem".into(), "gres/gpu".into()],
        ..Default::default()
    }
}

/// Lines that look like sacct output, mutated: the parser's worst day.
fn line() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just(String::new()),
        Just("Unknown".to_string()),
        Just("None".to_string()),
        Just("2026-10-01T00:00:00".to_string()),
        Just("2026-13-45T99:00:00".to_string()),
        Just("cpu=4,mem=4G,gres/gpu=1".to_string()),
        Just("cpu=four,mem=1X".to_string()),
        Just("12.batch".to_string()),
        Just("7_[1-3]".to_string()),
        "[0-9]{1,20}",
        "[ -~]{0,12}",
        "\\PC{0,6}",
    ];
    prop::collection::vec(field, 0..14).prop_map(|v| v.join("|"))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 400, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn never_panics_and_accounts_for_every_line(lines in prop::collection::vec(line(), 0..40), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let text = format!("{HEADER}\n{}\n", lines.join("\n"));
        let mut s = sink();
        let stats = read(text.as_bytes(), Path::new("f"), 0, &SacctOptions::default(), &mut s).unwrap();
        prop_assert_eq!(stats.lines, stats.headers + stats.jobs + stats.steps + stats.not_started + stats.invalid);
        prop_assert_eq!(s.jobs.len() as u64, stats.jobs);
        prop_assert_eq!(s.invalid.len() as u64, stats.invalid);
        for i in &s.invalid {
            prop_assert!(i.line >= 2 && !i.field.is_empty() && !i.reason.is_empty());
        }
        // Arbitrary bytes appended (invalid UTF-8, NULs, CRs): still no panic.
        let mut raw = text.into_bytes();
        raw.extend_from_slice(&bytes);
        let _ = read(raw.as_slice(), Path::new("f"), 0, &SacctOptions::default(), &mut sink());
    }

    #[test]
    fn splitting_files_and_reordering_lines_reach_the_sink_identically(
        lines in prop::collection::vec(line(), 0..40), cut in 0usize..40, seed in any::<u64>()
    ) {
        let mut whole = sink();
        read(format!("{HEADER}\n{}\n", lines.join("\n")).as_bytes(), Path::new("f"), 0, &SacctOptions::default(), &mut whole).unwrap();
        let mut shuffled = lines.clone();
        for i in (1..shuffled.len()).rev() {
            let j = (seed.wrapping_mul(0x9E37_79B9_7F4A_7C15).rotate_left(i as u32) % (i as u64 + 1)) as usize;
            shuffled.swap(i, j);
        }
        let cut = cut.min(shuffled.len());
        let mut parts = sink();
        for chunk in [&shuffled[..cut], &shuffled[cut..]] {
            read(format!("{HEADER}\n{}\n", chunk.join("\n")).as_bytes(), Path::new("f"), 0, &SacctOptions::default(), &mut parts).unwrap();
        }
        let mut a = whole.jobs.clone();
        let mut b = parts.jobs.clone();
        a.sort();
        b.sort();
        prop_assert_eq!(a, b);
        prop_assert_eq!(whole.invalid.len(), parts.invalid.len());
    }
}
