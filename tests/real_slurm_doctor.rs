//! `tally doctor`'s sources check against the real Slurm (a child module of `real_slurm`): the
//! configured cluster is known to slurmdbd, a misspelt one fails naming the cluster Slurm knows.

use super::{cluster, components_toml, live_source, real_sacct};
use crate::util::{run, tally, TestDir};

/// The finding of `check` in doctor's JSON for a config with `source`; nothing answers at the
/// Waldur URL (the sources check does not need Waldur).
fn sources_finding(slurm_conf: &std::path::Path, source: &str) -> serde_json::Value {
    let dir = TestDir::new();
    let token = dir.write("token", "unused-token\n");
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let cfg = dir.write(
        "tally.toml",
        &format!(
            "{source}\n{}\n[waldur]\nurl = \"http://127.0.0.1:9/api/\"\ntoken_file = \"token\"\noffering_uuid = \"0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e0e\"\nmax_retries = 0\n",
            components_toml()
        ),
    );
    let out = run(tally()
        .env("SLURM_CONF", slurm_conf)
        .args(["doctor", "--format", "json", "--config"])
        .arg(&cfg));
    out.expect_code(9); // nothing answers at the Waldur URL
    out.json()["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == "sources")
        .cloned()
        .expect("a sources finding")
}

#[test]
fn doctor_checks_the_configured_clusters_with_the_real_slurmdbd() {
    let Some(c) = cluster() else { return };
    let sacct = real_sacct();

    let f = sources_finding(&c.slurm_conf, &live_source(&sacct, &c.cluster));
    assert_eq!(f["status"], "ok", "{f:#}");
    let said = f["summary"].as_str().unwrap_or_default();
    assert!(said.contains("22.05"), "sacct --version is shown: {said}");
    assert!(said.contains(&c.cluster), "{said}");

    let f = sources_finding(&c.slurm_conf, &live_source(&sacct, "tallytset"));
    assert_eq!(f["status"], "fail", "{f:#}");
    let said = f["summary"].as_str().unwrap_or_default();
    assert!(
        said.contains("\"tallytset\"] unknown to slurmdbd"),
        "{said}"
    );
    assert!(
        said.contains(&format!("\"{}\"", c.cluster)),
        "the known cluster is named: {said}"
    );
    assert!(f["advice"].as_str().is_some_and(|a| !a.is_empty()), "{f:#}");
}

/// `tally init --sacct` asks the real sacctmgr: the clusters slurmdbd knows and its TRES are in
/// the file, which loads and whose sources pass `tally doctor`.
#[test]
fn init_with_sacct_lists_the_clusters_and_tres_of_the_real_slurm() {
    let Some(c) = cluster() else { return };
    let (_world, api, owner, offering) = crate::real_waldur::doctor::sandbox_offering();
    let dir = TestDir::new();
    let token = dir.write("token", &format!("{owner}\n"));
    std::fs::set_permissions(&token, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod");
    let out = dir.path().join("tally.toml");
    let bin = real_sacct();
    let r = run(tally()
        .env("SLURM_CONF", &c.slurm_conf)
        .env(
            "PATH",
            format!("{}:/usr/bin:/bin", bin.parent().expect("dir").display()),
        )
        .args([
            "init",
            "--sacct",
            "--url",
            &api,
            "--offering",
            &offering,
            "--ledger",
            "l.db",
        ])
        .arg("--token-file")
        .arg(&token)
        .arg("--output")
        .arg(&out));
    r.expect_code(0);
    let text = std::fs::read_to_string(&out).expect("written");
    assert!(text.contains("format = \"sacct-command\""), "{text}");
    assert!(
        text.contains(&format!("clusters = [\"{}\"]", c.cluster)),
        "{text}"
    );
    assert!(
        text.contains("gres/gpu") && text.contains("TRES Slurm knows"),
        "{text}"
    );
    assert!(
        !text.contains("NOTE: Slurm lists no TRES \"gres/gpu\""),
        "{text}"
    );

    let d = run(tally()
        .env("SLURM_CONF", &c.slurm_conf)
        .args(["doctor", "--format", "json", "--config"])
        .arg(&out));
    let j = d.json();
    let f = j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == "sources")
        .cloned()
        .expect("sources");
    assert_eq!(j["findings"][0]["status"], "ok", "the config loads: {j:#}");
    assert_eq!(f["status"], "ok", "{f:#}");
}
