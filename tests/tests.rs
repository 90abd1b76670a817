//! Integration tests: the real `tally` binary, driven from one harness (`util`).

mod collect;
mod explain;
mod grid;
mod identity;
mod limits;
mod ops;
mod parallel;
mod peer_smoke;
mod plan_periods;
mod push;
mod real_slurm;
mod real_waldur;
mod sources;
mod util;
