//! The example config the packages install as /etc/tally/tally.toml loads with the real loader and
//! points where the packages and their systemd unit expect: the token in /etc/tally, the ledger in
//! the state directory /var/lib/tally (the unit's StateDirectory, writable by the tally user).

use std::path::PathBuf;

fn repo(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(rel)
}

#[test]
fn the_packaged_example_config_loads_and_uses_the_state_directory() {
    let path = repo("contrib/package/tally.toml");
    let config = tally_config::Config::load(&path).expect("the packaged config loads");
    let waldur = config.waldur.expect("[waldur]");
    assert_eq!(waldur.ledger, PathBuf::from("/var/lib/tally/ledger.db"));
    assert_eq!(waldur.token_file, Some(PathBuf::from("/etc/tally/token")));
    let unit = std::fs::read_to_string(repo("contrib/systemd/tally.service")).expect("unit");
    assert!(unit.contains("StateDirectory=tally"), "{unit}");
    assert!(unit.contains("--config /etc/tally/tally.toml"), "{unit}");
}
