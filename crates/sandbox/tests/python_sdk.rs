//! Acceptance: the official Python SDK (`waldur-api-client`) does what the seed guides do against
//! the sandbox. Creates `target/sdk-venv` once (python3 -m venv + pip install), then reuses it.

use std::path::{Path, PathBuf};
use std::process::Command;

use tally_sandbox::{start, SandboxOptions, World};

const SDK: &str = "waldur-api-client==8.1.3";

fn target_dir() -> PathBuf {
    match std::env::var_os("CARGO_TARGET_DIR") {
        Some(d) => PathBuf::from(d),
        None => Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target"),
    }
}

fn venv_python() -> PathBuf {
    let venv = target_dir().join("sdk-venv");
    let python = venv.join("bin").join("python");
    let marker = venv.join(".installed-8.1.3");
    if !marker.exists() {
        let status = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is required for the SDK acceptance test");
        assert!(status.success(), "python3 -m venv failed");
        let status = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet", SDK])
            .status()
            .expect("pip is required");
        assert!(status.success(), "pip install {SDK} failed");
        std::fs::write(&marker, SDK).expect("write marker");
    }
    python
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn official_sdk_runs_the_seed_guides() {
    let python = venv_python();
    let now = "2026-11-24T12:00:00Z".parse().unwrap();
    let sb = start(
        World::demo(),
        "127.0.0.1:0".parse().unwrap(),
        SandboxOptions {
            now: Some(now),
            ..Default::default()
        },
    )
    .await
    .expect("sandbox starts");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sdk/seed_guides.py");
    let origin = sb.origin();
    let out = tokio::task::spawn_blocking(move || {
        Command::new(python)
            .arg(script)
            .arg(origin)
            .output()
            .expect("run python")
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "SDK script failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("seed guides OK"), "{stdout}");
    // nothing was written twice: exactly one successful set_usage
    assert_eq!(
        sb.count("POST", "/api/marketplace-component-usages/set_usage/", 201),
        1
    );
    sb.shutdown().await;
}
