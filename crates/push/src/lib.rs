//! tally-push
