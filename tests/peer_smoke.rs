//! The side-by-side comparison with waldur-site-agent (issue 9) at 10 accounts, end to end, so
//! the harness of `benches/peer/` cannot rot: the same dump, the peer's report cycle
//! (`benches/peer/run-peer.sh`, installed once into `target/peer-venv`) and `tally push`
//! against fresh sandboxes, twice. Fails when python3/venv is missing or the peer cannot run;
//! prints SKIPPED only when PyPI cannot be reached to install the peer.

#[path = "../benches/peer/harness.rs"]
mod harness;

use std::path::PathBuf;

#[test]
fn peer_side_by_side_10_accounts() {
    let venv = harness::target_dir().join("peer-venv");
    match harness::ensure_venv(&venv).expect("installing the peer (python3 with venv is required)")
    {
        harness::Venv::Ready(_) => {}
        harness::Venv::NoNetwork(e) => {
            println!("SKIPPED peer_side_by_side_10_accounts: cannot download waldur-site-agent from PyPI ({e})");
            return;
        }
    }
    let dir = tempfile::tempdir().expect("temp dir");
    let opts = harness::Options {
        accounts: 10,
        jobs_per_account: 6,
        seed: 42,
        work: dir.path().to_path_buf(),
        tally_bin: PathBuf::from(env!("CARGO_BIN_EXE_tally")),
        peer_script: harness::peer_script().expect("run-peer.sh"),
        peer_venv: venv,
        peer_timeout: 300,
        second_cycle: true,
        skip_peer: false,
        rate_per_second: 200,
        burst: 50,
        concurrency: 8,
    };
    let r = harness::run(&opts).expect("the comparison runs");
    let report = harness::markdown(&r, &opts);
    println!("{report}");
    assert_eq!(r.peer.len(), 2, "{report}");
    assert_eq!(r.tally.len(), 2, "{report}");
    for c in r.peer.iter().chain(r.tally.iter()) {
        assert!(c.ok, "a cycle failed: {}\n{report}", c.note);
    }
    let a = harness::agreement(&r);
    // tally leaves exactly the oracle's amounts, and the oracle agrees with explain.py
    assert!(a.cells_exact > 10, "{report}");
    assert_eq!(
        a.tally_equal_exact, a.cells_exact,
        "{:?}\n{report}",
        a.tally_diff
    );
    assert!(a.tally_diff.is_empty(), "{:?}", a.tally_diff);
    assert_eq!(a.oracle_vs_model, 0, "{report}");
    // tally's per-user usages (when it sends them) add up to its totals exactly
    for (k, v) in &r.tally_user_sums {
        assert_eq!(r.tally_amounts.get(k), Some(v), "per-user sum of {k:?}");
    }
    // every amount the peer left is the one its rules predict
    assert_eq!(
        a.peer_equal_model, a.peer_cells,
        "{:?}\n{report}",
        a.peer_model_diff
    );
    assert!(a.peer_cells >= a.cells_exact, "{report}");
    // the peer really ran its cycle: sacct per account and month, set_usage, per-user usages
    assert_eq!(r.peer[0].sacct_calls, 20, "{report}");
    assert!(r.peer[0].count("POST /api/marketplace-component-usages/set_usage/") > 0);
    assert_eq!(
        r.peer[1].count("PUT /api/marketplace-site-agent-identities/{uuid}/"),
        1
    );
    // fewer requests in both cycles; nothing re-sent by tally in the second
    for i in 0..2 {
        assert!(
            r.tally[i].total_requests() < r.peer[i].total_requests(),
            "cycle {}: tally {} vs peer {}",
            i + 1,
            r.tally[i].total_requests(),
            r.peer[i].total_requests()
        );
    }
    assert_eq!(
        r.tally[1].count("POST /api/marketplace-component-usages/set_usage/"),
        0
    );
}
