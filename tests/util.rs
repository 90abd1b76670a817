//! The harness: a fresh temp dir per test, a command builder for the real binary, and
//! assertions that print expected vs got readably.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The repository root (where `fixtures/` lives).
pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn fixture(rel: &str) -> PathBuf {
    root().join(rel)
}

/// A scratch directory removed at the end of the test.
pub struct TestDir {
    pub dir: tempfile::TempDir,
}

impl TestDir {
    pub fn new() -> Self {
        Self {
            dir: tempfile::tempdir().expect("temp dir"),
        }
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    pub fn write(&self, rel: &str, content: &str) -> PathBuf {
        let p = self.dir.path().join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&p, content).unwrap();
        p
    }
}

/// The finished run of the binary.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }

    #[track_caller]
    pub fn expect_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code, code,
            "exit code {} (expected {code})\n--- stdout\n{}\n--- stderr\n{}",
            self.code, self.stdout, self.stderr
        );
        self
    }
}

pub fn tally() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_tally"));
    c.env_remove("TALLY_LOG")
        .env_remove("TALLY_CONFIG")
        .env_remove("TALLY_WALDUR_TOKEN");
    c
}

pub fn run(cmd: &mut Command) -> Run {
    let Output {
        status,
        stdout,
        stderr,
    } = cmd.output().expect("run tally");
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// Tokens of the bundled demo world (fixtures/sandbox/demo.toml, fixtures/replay/world.toml). No
/// output of any test may contain one: [`assert_no_secrets`].
pub const DEMO_TOKENS: &[&str] = &[
    "demo-staff-token",
    "demo-provider-token",
    "demo-manager-token",
    "demo-alice-token",
    "demo-bob-token",
    "demo-carol-token",
    "demo-outsider-token",
];

/// Fails if a token appears in anything the run printed.
#[track_caller]
pub fn assert_no_secrets(run: &Run, extra: &[&str]) {
    for secret in DEMO_TOKENS.iter().chain(extra) {
        assert!(
            !run.stdout.contains(secret) && !run.stderr.contains(secret),
            "a token appears in the output\n--- stdout\n{}\n--- stderr\n{}",
            run.stdout,
            run.stderr
        );
    }
}

/// The embedded sandbox started in-process on 127.0.0.1:0, on a multi-thread tokio runtime that
/// keeps serving while the test thread waits for the real `tally` binary. Dereferences to
/// [`tally_sandbox::RunningSandbox`] (counters, clock, faults, planted usage).
pub struct Sandbox {
    pub rt: tokio::runtime::Runtime,
    server: Option<tally_sandbox::RunningSandbox>,
}

impl Sandbox {
    pub fn start(world: tally_sandbox::World, opts: tally_sandbox::SandboxOptions) -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let server = rt
            .block_on(tally_sandbox::start(
                world,
                "127.0.0.1:0".parse().expect("addr"),
                opts,
            ))
            .expect("sandbox");
        Sandbox {
            rt,
            server: Some(server),
        }
    }

    /// The demo world with the server clock at `now` (RFC 3339).
    pub fn demo_at(now: &str, legacy_7x: bool) -> Self {
        Self::start(
            tally_sandbox::World::demo(),
            tally_sandbox::SandboxOptions {
                now: Some(now.parse().expect("now")),
                legacy_7x,
                ..Default::default()
            },
        )
    }
}

impl std::ops::Deref for Sandbox {
    type Target = tally_sandbox::RunningSandbox;
    fn deref(&self) -> &Self::Target {
        self.server.as_ref().expect("sandbox running")
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Some(s) = self.server.take() {
            self.rt.block_on(s.shutdown());
        }
    }
}
