//! Integration tests: the real `tally` binary, driven from one harness (`util`).

mod collect;
mod sources;
mod ops;
mod peer_smoke;
mod real_slurm;
mod push;
mod util;
