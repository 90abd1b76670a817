//! `tally doctor` on every target of `real_waldur` (the genuine Waldur and the sandbox in both
//! modes): it passes on a good config, and each check it makes is shown failing, one mistake at a
//! time, with the other checks still passing (a child module of `real_waldur`: same worlds).

use std::path::{Path, PathBuf};

use chrono::TimeDelta;
use serde_json::{json, Value};

use super::{real_user, sandbox_token, Kind, World};
use crate::util::{run, tally, Run};

/// A token file mode the doctor accepts (owner only).
fn private(path: &Path) {
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o600))
        .expect("chmod 600");
}

/// The owner's config of the world, its token file made private, rewritten by `edit`.
fn config_with(w: &World, token: &str, edit: impl FnOnce(String) -> String) -> PathBuf {
    let cfg = w.config(token);
    private(&cfg.with_extension("token"));
    let text = std::fs::read_to_string(&cfg).expect("config");
    std::fs::write(&cfg, edit(text)).expect("write config");
    cfg
}

/// `tally doctor --format json --now <the server's clock + offset>`; no token in its output.
fn doctor(w: &World, cfg: &Path, offset: TimeDelta, secrets: &[&str]) -> (Run, Value) {
    let now = w.server_now() + offset;
    let out = run(tally()
        .args(["doctor", "--format", "json", "--now", &now.to_rfc3339()])
        .arg("--config")
        .arg(cfg));
    for secret in [w.staff.as_str(), w.owner.as_str()].iter().chain(secrets) {
        assert!(
            !out.stdout.contains(secret) && !out.stderr.contains(secret),
            "a token appears in doctor's output\n{}{}",
            out.stdout,
            out.stderr
        );
    }
    let json = out.json();
    (out, json)
}

/// check -> status of every finding.
fn statuses(j: &Value) -> Vec<(String, String)> {
    j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| (super::s(f, "check"), super::s(f, "status")))
        .collect()
}

fn finding<'a>(j: &'a Value, check: &str) -> &'a Value {
    j["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .find(|f| f["check"] == check)
        .unwrap_or_else(|| panic!("no finding {check:?} in {j:#}"))
}

/// The finding `check` failed, its text says `says`, it says what to do, doctor exits 8; every
/// check in `also_not_ok` may be skipped or failed too, every other one passed.
#[track_caller]
fn only_fails(r: &Run, j: &Value, check: &str, says: &str, also_not_ok: &[&str]) {
    r.expect_code(9);
    let f = finding(j, check);
    assert_eq!(f["status"], "fail", "{check}: {f:#}");
    assert!(
        f["summary"].as_str().is_some_and(|s| s.contains(says)),
        "{check} should say {says:?}: {f:#}"
    );
    assert!(
        f["advice"].as_str().is_some_and(|a| !a.is_empty()),
        "{check} says what to do: {f:#}"
    );
    for (other, status) in statuses(j) {
        if other != check && !also_not_ok.contains(&other.as_str()) {
            assert_eq!(status, "ok", "{other} while only {check} is wrong: {j:#}");
        }
    }
}

/// A user whose token expiry the test may change without touching anyone else's.
fn lifetime_user(w: &World) -> (String, String) {
    match w.kind {
        Kind::Real => real_user(&w.api, &w.staff, "tly-doctor"),
        Kind::Sandbox7x | Kind::Sandbox8x => {
            (w.user("tly-erin").to_owned(), sandbox_token("tly-erin"))
        }
    }
}

/// Every check passes on the world's own config; then one mistake at a time fails its check.
fn doctor_passes_then_fails_each_check(w: &World) {
    let now = TimeDelta::zero();
    let owner = w.owner.clone();

    // All good: exit 0, every line ok, and the text form says ready.
    let good = config_with(w, &owner, |t| t);
    let (r, j) = doctor(w, &good, now, &[]);
    r.expect_code(0);
    for (check, status) in statuses(&j) {
        assert_eq!(status, "ok", "{check} on a good config: {j:#}");
    }
    for check in [
        "config",
        "token file",
        "token",
        "token lifetime",
        "offering",
        "component cpu",
        "component gpu",
        "component ram",
        "sources",
        "accounts",
        "server clock",
        "month close",
        "ledger",
        "lock",
    ] {
        finding(&j, check);
    }
    let accounts = super::s(finding(&j, "accounts"), "summary");
    assert!(
        accounts.contains("map to resources that accept usage"),
        "{accounts}"
    );
    let text = run(tally()
        .args(["doctor", "--now", &w.server_now().to_rfc3339(), "--config"])
        .arg(&good));
    text.expect_code(0);
    let lines: Vec<&str> = text.stdout.lines().collect();
    assert_eq!(lines.len(), statuses(&j).len() + 1, "{}", text.stdout);
    assert!(
        lines
            .iter()
            .take(lines.len() - 1)
            .all(|l| l.starts_with("ok ")),
        "{}",
        text.stdout
    );
    assert!(
        lines.last().is_some_and(|l| l.starts_with("ready:")),
        "{}",
        text.stdout
    );

    tally_init_writes_a_config_that_passes(w);

    // The token file readable by others.
    let open = w.config(&owner);
    std::fs::set_permissions(
        open.with_extension("token"),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .expect("chmod 644");
    let (r, j) = doctor(w, &open, now, &[]);
    only_fails(&r, &j, "token file", "mode 0644", &[]);
    assert_eq!(
        finding(&j, "token file")["advice"]
            .as_str()
            .map(|a| a.starts_with("chmod 600")),
        Some(true)
    );

    // A token the server refuses: every check that asks the server is skipped.
    let bogus = "0123456789abcdef0123456789abcdef01234567";
    let (r, j) = doctor(w, &config_with(w, bogus, |t| t), now, &[bogus]);
    only_fails(
        &r,
        &j,
        "token",
        "",
        &[
            "token lifetime",
            "offering",
            "components",
            "accounts",
            "server clock",
        ],
    );
    for check in [
        "token lifetime",
        "offering",
        "components",
        "accounts",
        "server clock",
    ] {
        assert_eq!(finding(&j, check)["status"], "skipped", "{check}: {j:#}");
    }

    // A token that expires after an idle spell (set by its user herself, as the API allows;
    // a lifetime of 31 years, so no token here expires while the test runs).
    let (uuid, token) = lifetime_user(w);
    let patch = |lifetime: Value| {
        w.api.ok(
            "PATCH",
            &format!("users/{uuid}/"),
            &token,
            Some(json!({"token_lifetime": lifetime, "agree_with_policy": true})),
        );
    };
    patch(json!(1_000_000_000));
    let cfg = config_with(w, &token, |t| t);
    let (r, j) = doctor(w, &cfg, now, &[&token]);
    patch(Value::Null);
    r.expect_code(9);
    let f = finding(&j, "token lifetime");
    assert_eq!(f["status"], "fail", "{f:#}");
    assert!(
        super::s(f, "summary").contains("token_lifetime 1000000000"),
        "{f:#}"
    );
    assert!(
        super::s(f, "advice").contains("\"token_lifetime\": null"),
        "{f:#}"
    );
    let (_, j) = doctor(w, &cfg, now, &[&token]);
    assert_eq!(
        finding(&j, "token lifetime")["status"],
        "ok",
        "cleared again: {j:#}"
    );

    // A misspelled component type.
    let cfg = config_with(w, &owner, |t| {
        t.replace("[components.cpu]", "[components.cpus]")
    });
    let (r, j) = doctor(w, &cfg, now, &[]);
    only_fails(&r, &j, "component cpus", "not in the offering", &[]);

    // An offering that does not exist (or is not the token's to report for).
    let cfg = config_with(w, &owner, |t| {
        t.replace(&w.offering, "0e0e0e0e0e0e4e0e8e0e0e0e0e0e0e0e")
    });
    let (r, j) = doctor(w, &cfg, now, &[]);
    only_fails(&r, &j, "offering", "not found", &["components", "accounts"]);

    // Accounts that map to nothing, and one that maps to no resource of the offering.
    let cfg = config_with(w, &owner, |t| {
        format!("{t}\n[mapping]\nunlisted = \"unmapped\"\n[mapping.accounts]\nproj_alpha = \"no_such_alloc\"\n")
    });
    let (r, j) = doctor(w, &cfg, now, &[]);
    only_fails(&r, &j, "accounts", "proj_beta: maps to no resource", &[]);
    let said = super::s(finding(&j, "accounts"), "summary");
    assert!(
        said.contains("proj_alpha -> no_such_alloc: no resource of the offering has backend_id"),
        "{said}"
    );

    // This machine's clock an hour off the server's.
    let (r, j) = doctor(w, &good, TimeDelta::hours(1), &[]);
    only_fails(&r, &j, "server clock", "behind this machine", &[]);

    // A ledger nobody can create (its directory is a file; root too is refused).
    w.dir.write("plain", "not a directory\n");
    let cfg = config_with(w, &owner, |t| {
        t.replace("ledger = \"ledger.db\"", "ledger = \"plain/ledger.db\"")
    });
    let (r, j) = doctor(w, &cfg, now, &[]);
    only_fails(&r, &j, "ledger", "plain/ledger.db", &["lock"]);
    assert_eq!(finding(&j, "lock")["status"], "fail", "{j:#}");

    // Record files that are not there: the accounts of the month cannot be checked.
    let cfg = config_with(w, &owner, |t| t.replace("/*.txt\"]", "/missing-*.txt\"]"));
    let (r, j) = doctor(w, &cfg, now, &[]);
    only_fails(&r, &j, "sources", "missing-*.txt", &["accounts"]);
    assert_eq!(finding(&j, "accounts")["status"], "skipped", "{j:#}");

    // A config that does not load: one failure, everything else skipped.
    let cfg = config_with(w, &owner, |t| {
        t.replace("[components.gpu]", "[components.gpu]\nbogus_key = 1")
    });
    let (r, j) = doctor(w, &cfg, now, &[]);
    r.expect_code(9);
    assert_eq!(finding(&j, "config")["status"], "fail", "{j:#}");
    assert!(
        super::s(finding(&j, "config"), "summary").contains("bogus_key"),
        "{j:#}"
    );
    assert!(
        statuses(&j).iter().skip(1).all(|(_, s)| s == "skipped"),
        "{j:#}"
    );

    // Last (it changes the world): a resource in a state that takes no usage.
    let beta = w.resource("proj_beta").to_owned();
    w.staff(&[
        "resources",
        "set-state",
        &beta,
        "erred",
        "--error-message",
        "doctor test",
    ])
    .expect_code(0);
    let (r, j) = doctor(w, &good, now, &[]);
    only_fails(
        &r,
        &j,
        "accounts",
        "proj_beta: resource \"proj_beta\" is Erred",
        &[],
    );
}

/// `tally init` from the world's offering: the components guessed (cpu, GPU hours, RAM in
/// GB-hours), the file loads and passes `tally doctor`; a second init refuses to overwrite it.
fn tally_init_writes_a_config_that_passes(w: &World) {
    let token = w.dir.write("init.token", &format!("{}\n", w.owner));
    private(&token);
    let out = w.dir.path().join("init.toml");
    let records = crate::util::root().join("fixtures/demo/records/*.txt");
    let init = |output: &Path| {
        run(tally()
            .args(["init", "--url", &w.api.base, "--offering", &w.offering])
            .arg("--token-file")
            .arg(&token)
            .arg("--records")
            .arg(&records)
            .args(["--ledger", "init-ledger.db", "--output"])
            .arg(output))
    };
    let r = init(&out);
    r.expect_code(0);
    assert!(r.stderr.contains("tally doctor --config"), "{}", r.stderr);
    let text = std::fs::read_to_string(&out).expect("init wrote the file");
    assert!(
        !text.contains(&w.owner),
        "the token is in the config:\n{text}"
    );
    for want in [
        "[components.cpu]\ntres = \"cpu\"",
        "[components.gpu]\ntres = \"gres/gpu\"",
        "[components.ram]\ntres = \"mem\"",
        "factor = \"0.0009765625\"",
        "GUESS",
        &format!("offering_uuid = \"{}\"", w.offering),
        &format!("customer_uuid = \"{}\"", w.provider_customer),
        "billing_timezone = \"UTC\"",
    ] {
        assert!(text.contains(want), "no {want:?} in\n{text}");
    }
    let (r, j) = doctor(w, &out, TimeDelta::zero(), &[]);
    r.expect_code(0);
    for (check, status) in statuses(&j) {
        assert_eq!(
            status, "ok",
            "{check} on the config init wrote:\n{text}\n{j:#}"
        );
    }

    let again = init(&out);
    again.expect_code(2);
    assert!(
        again.stderr.contains("never overwrites"),
        "{}",
        again.stderr
    );
    assert_eq!(std::fs::read_to_string(&out).expect("still there"), text);
}

/// For `real_slurm`'s `init --sacct` test: a sandbox world, its API base, owner token file
/// content and offering.
pub(crate) fn sandbox_offering() -> (World, String, String, String) {
    let w = World::new(Kind::Sandbox8x, "init --sacct").expect("sandbox world");
    let (api, owner, offering) = (w.api.base.clone(), w.owner.clone(), w.offering.clone());
    (w, api, owner, offering)
}

mod real {
    #[test]
    fn doctor_passes_then_fails_each_check() {
        if let Some(w) = super::World::new(super::Kind::Real, "doctor") {
            super::doctor_passes_then_fails_each_check(&w);
        }
    }
}

mod sandbox_7x {
    #[test]
    fn doctor_passes_then_fails_each_check() {
        let w = super::World::new(super::Kind::Sandbox7x, "doctor").expect("sandbox world");
        super::doctor_passes_then_fails_each_check(&w);
    }
}

mod sandbox_8x {
    #[test]
    fn doctor_passes_then_fails_each_check() {
        let w = super::World::new(super::Kind::Sandbox8x, "doctor").expect("sandbox world");
        super::doctor_passes_then_fails_each_check(&w);
    }
}
