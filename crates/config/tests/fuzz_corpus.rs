//! Replays every fuzz corpus input and every crash the fuzzer found (`fuzz/corpus/<target>/`,
//! `fuzz/regressions/<target>/`) through the entry points the `cargo fuzz` targets call, on
//! the stable toolchain: what nightly fuzzing found stays fixed. Each input must not panic
//! and must keep its target's invariants (every line in exactly one bucket, bounded values,
//! users' shares adding up to their cell).

use std::path::{Path, PathBuf};

use tally_config::fuzzing::TARGETS;

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries
        .map(|e| e.expect("a readable directory entry").path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    files
}

#[test]
fn every_corpus_and_regression_input_keeps_the_invariants() {
    let mut failures = Vec::new();
    for (target, entry) in TARGETS {
        let corpus = inputs(&fuzz_dir().join("corpus").join(target));
        assert!(
            !corpus.is_empty(),
            "fuzz/corpus/{target} has no input: the target would replay nothing"
        );
        let regressions = inputs(&fuzz_dir().join("regressions").join(target));
        for path in corpus.iter().chain(&regressions) {
            let data = std::fs::read(path).expect("a readable input");
            let outcome = std::panic::catch_unwind(|| entry(&data));
            match outcome {
                Ok(Ok(())) => {}
                Ok(Err(violation)) => failures.push(format!("{}: {violation}", path.display())),
                Err(_) => failures.push(format!("{}: panicked", path.display())),
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_target_has_a_corpus_and_a_regression_directory() {
    let names: Vec<&str> = TARGETS.iter().map(|(n, _)| *n).collect();
    for dir in ["corpus", "regressions"] {
        for entry in std::fs::read_dir(fuzz_dir().join(dir)).expect("fuzz/ exists") {
            let entry = entry.unwrap();
            if !entry.path().is_dir() {
                continue;
            }
            let name = entry.file_name().to_string_lossy().into_owned();
            assert!(
                names.contains(&name.as_str()),
                "fuzz/{dir}/{name} belongs to no target"
            );
        }
    }
    let targets = std::fs::read_dir(fuzz_dir().join("fuzz_targets")).expect("targets");
    let mut files: Vec<String> = targets
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    files.sort();
    let mut want: Vec<String> = names.iter().map(|n| format!("{n}.rs")).collect();
    want.sort();
    assert_eq!(
        files, want,
        "fuzz/fuzz_targets and TARGETS name the same targets"
    );
}
