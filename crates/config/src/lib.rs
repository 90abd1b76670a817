//! tally-config
