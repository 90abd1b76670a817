//! Integration tests: the real `tally` binary, driven from one harness (`util`).

mod collect;
mod sources;
mod ops;
mod push;
mod util;
