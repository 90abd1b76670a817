//! Grid Engine and LSF files generated at scale (crates/testgen): splitting a file in two
//! at any line, as log rotation does, changes nothing: the same cells, per-user shares and
//! record counts. The generated files also read without a single invalid line.

use std::path::Path;

mod common;

use common::{cpu_rule, options as options_over};
use proptest::prelude::*;
use tally_aggregate::*;
use tally_sources::{lsf, sge, RecordSink, SourceStats};
use tally_testgen::grid::{generate_lsf, generate_sge, GridEngine};
use tally_testgen::GenOptions;

fn options() -> AggregateOptions {
    options_over(
        "Europe/Helsinki".parse().unwrap(),
        vec![cpu_rule()],
        "2026-09",
        "2026-12",
        "2026-11-25T00:00:00Z",
    )
}

#[derive(Clone, Copy, Debug)]
enum Format {
    Sge,
    Univa,
    Lsf,
}

fn generate(format: Format, seed: u64) -> Vec<u8> {
    let opts = GenOptions {
        lines: 1500,
        accounts: 7,
        seed,
        ..Default::default()
    };
    let mut out = Vec::new();
    match format {
        Format::Sge => generate_sge(&opts, GridEngine::Sge, &mut out),
        Format::Univa => generate_sge(&opts, GridEngine::Univa, &mut out),
        Format::Lsf => generate_lsf(&opts, &mut out),
    }
    .unwrap();
    out
}

/// Collects the files as one source, in order.
fn collect(format: Format, files: &[&[u8]]) -> Collection {
    let mut agg = Aggregator::new(options());
    let mut stats = SourceStats::default();
    for (i, file) in files.iter().enumerate() {
        let sink = &mut agg as &mut dyn RecordSink;
        let path = Path::new("accounting");
        stats += match format {
            Format::Sge | Format::Univa => {
                sge::read(*file, path, i as u32, &sge::SgeOptions::default(), sink)
            }
            Format::Lsf => lsf::read(*file, path, i as u32, &lsf::LsfOptions::default(), sink),
        }
        .unwrap();
    }
    agg.add_source_stats(stats);
    agg.finish().unwrap()
}

fn format() -> impl Strategy<Value = Format> {
    prop_oneof![Just(Format::Sge), Just(Format::Univa), Just(Format::Lsf)]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn splitting_a_file_in_two_changes_nothing(format in format(), seed in any::<u64>(), at in 0.0f64..1.0) {
        let text = generate(format, seed);
        let whole = collect(format, &[&text]);
        prop_assert_eq!(whole.records.invalid, 0, "{:?}", whole.invalid);
        prop_assert!(whole.records.jobs > 500);
        prop_assert!(whole.records.duplicates > 0, "the generator writes some records twice");
        prop_assert!(whole.records.not_started > 0);
        prop_assert_eq!(whole.records.accounted(), whole.records.lines);
        // Cut at the start of a line.
        let cut = (text.len() as f64 * at) as usize;
        let cut = text[..cut].iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
        let split = collect(format, &[&text[..cut], &text[cut..]]);
        prop_assert_eq!(&split.usages, &whole.usages);
        prop_assert_eq!(&split.user_usages, &whole.user_usages);
        prop_assert_eq!(split.records, whole.records);
    }
}
