//! Integration tests: the real `tally` binary, driven from one harness (`util`).

mod collect;
mod ops;
mod util;
