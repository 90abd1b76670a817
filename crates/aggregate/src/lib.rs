//! tally-aggregate
