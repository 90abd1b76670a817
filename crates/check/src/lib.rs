//! tally-check
