//! Fuzz target `sge`: a thin call into the shared entry point; a broken invariant is a crash.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Err(violation) = tally_sources::fuzzing::sge(data) {
        panic!("{violation}");
    }
});
