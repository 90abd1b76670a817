//! tally-sources
