//! tally-sandbox: an embedded server that behaves like the Waldur API (8.0.x by default, 7.x on
//! request) for everything tally and the seed guides use. Start it with [`start`] or mount
//! [`router`] in tests; the world comes from a TOML seed ([`World`]).
//!
//! Besides the Waldur endpoints under `/api/`, it serves control endpoints under `/__sandbox/`
//! (a path the real API does not use): `counters`, `clock`, `faults`, `usages`, `state`,
//! `resources/{uuid}/state`. See `docs/sandbox.md`.

use std::net::SocketAddr;
use std::path::PathBuf;

use chrono::{DateTime, Utc};
use tokio::sync::oneshot;

mod api;
mod app;
mod faults;
mod invoicing;
mod json;
mod planted;
mod seed;
mod server;
mod state;
mod store;

pub use app::{router, AppState};
pub use faults::{Counter, Faults};
pub use planted::{PlantUsage, StoredUsage};
pub use seed::{seed_uuid, SeedError, World, DEMO_TOML, SEED_NAMESPACE};

/// How to run the sandbox.
#[derive(Debug, Clone, Default)]
pub struct SandboxOptions {
    /// Initial server clock (it advances with real time from there); `None` = real time.
    pub now: Option<DateTime<Utc>>,
    /// Behave like the older generation, the genuine waldur-mastermind of 2024 (develop
    /// 2024-10, ~7.x) that tally was tried against: `/api/version/` answers 403 to non-staff and
    /// `"unknown"` to staff; `date` of set_usage is ignored (the current month is written); no
    /// `set_user_usages`, `set_as_ok`, `set_state_ok` (HTML 404); `set_as_erred` is staff-only and
    /// stores no message; offering users only by hyperlink (the offering's provider-offerings
    /// URL); permissions carry `role` as the name and no `role_name`; `approve_by_provider` and
    /// `reject_by_provider` answer an empty 200 and no rejection comment is kept;
    /// component-usage `usage` is a decimal string; nullable fields are `null`.
    pub legacy_7x: bool,
    /// Override what `/api/version/` reports, to every caller (default: `8.0.5`; in the older
    /// mode, 403 to non-staff and `unknown` to staff).
    pub version: Option<String>,
    /// Faults; when inactive (the default), the seed's `[faults]` table applies.
    pub faults: Faults,
    /// Keep the state in this SQLite file (loaded at start when it holds a state; the seed is then
    /// ignored).
    pub state_file: Option<PathBuf>,
    /// Allow listening on a non-loopback address.
    pub allow_remote: bool,
}

/// Why the sandbox could not start.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("refusing to listen on non-loopback address {0} (allow_remote is off)")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        #[source]
        source: std::io::Error,
    },
    #[error("state file {path}: {message}")]
    StateFile { path: PathBuf, message: String },
    #[error(transparent)]
    Seed(#[from] SeedError),
}

/// A running sandbox. Dropping it (or [`RunningSandbox::shutdown`]) stops the server.
pub struct RunningSandbox {
    /// Base URL of the API, e.g. `http://127.0.0.1:8000/api/`.
    pub url: String,
    /// The address it listens on.
    pub addr: SocketAddr,
    app: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<()>>,
}

/// Build the application state for a world and options, loading/initialising the state file.
pub fn app_state(world: World, opts: &SandboxOptions) -> Result<AppState, SandboxError> {
    let faults = if opts.faults.is_active() || world.faults.is_none() {
        opts.faults.clone()
    } else {
        world.faults.clone().unwrap_or_default()
    };
    let (state, store) = match &opts.state_file {
        None => (world.state, None),
        Some(path) => {
            let err = |m: String| SandboxError::StateFile {
                path: path.clone(),
                message: m,
            };
            let store = store::Store::open(path).map_err(|e| err(e.to_string()))?;
            match store.load().map_err(|e| err(e.to_string()))? {
                Some(saved) => (saved, Some(store)),
                None => {
                    let text =
                        serde_json::to_string(&world.state).map_err(|e| err(e.to_string()))?;
                    store.save(&text).map_err(|e| err(e.to_string()))?;
                    (world.state, Some(store))
                }
            }
        }
    };
    Ok(AppState::new(
        state,
        opts.now,
        opts.legacy_7x,
        opts.version.clone(),
        faults,
        store,
    ))
}

/// Start the sandbox on `listen` (port 0 picks a free port; see [`RunningSandbox::url`]).
pub async fn start(
    world: World,
    listen: SocketAddr,
    opts: SandboxOptions,
) -> Result<RunningSandbox, SandboxError> {
    if !listen.ip().is_loopback() && !opts.allow_remote {
        return Err(SandboxError::NotLoopback(listen));
    }
    let app = app_state(world, &opts)?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|source| SandboxError::Bind {
            addr: listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(|source| SandboxError::Bind {
        addr: listen,
        source,
    })?;
    let (stop, rx) = oneshot::channel();
    let task = tokio::spawn(server::serve(listener, router(app.clone()), rx));
    tracing::info!(%addr, "sandbox listening");
    Ok(RunningSandbox {
        url: format!("http://{addr}/api/"),
        addr,
        app,
        stop: Some(stop),
        task: Some(task),
    })
}

impl RunningSandbox {
    /// The application state (same handle the router uses).
    pub fn app(&self) -> &AppState {
        &self.app
    }
    /// Origin without `/api/`, e.g. `http://127.0.0.1:8000`.
    pub fn origin(&self) -> String {
        format!("http://{}", self.addr)
    }
    /// Counters of what was served (per method, endpoint template and status).
    pub fn counters(&self) -> Vec<Counter> {
        self.app.counters()
    }
    /// How many `method` requests to `endpoint` (route template, e.g.
    /// `/api/marketplace-component-usages/set_usage/`) were answered with `status`.
    pub fn count(&self, method: &str, endpoint: &str, status: u16) -> u64 {
        self.app
            .counters()
            .iter()
            .filter(|c| c.method == method && c.endpoint == endpoint && c.status == status)
            .map(|c| c.count)
            .sum()
    }
    pub fn reset_counters(&self) {
        self.app.reset_counters()
    }
    /// Current server time.
    pub fn now(&self) -> DateTime<Utc> {
        self.app.now()
    }
    /// Set the server clock (`None` = real time).
    pub fn set_now(&self, now: Option<DateTime<Utc>>) {
        self.app.set_now(now)
    }
    pub fn set_faults(&self, faults: Faults) {
        self.app.set_faults(faults)
    }
    /// Store a component usage directly, bypassing the API rules.
    pub fn plant_usage(&self, usage: &PlantUsage) -> Result<(), String> {
        planted::plant(&self.app, usage).map_err(|e| e.to_string())
    }
    /// Every stored component usage.
    pub fn usages(&self) -> Vec<StoredUsage> {
        planted::all_usages(&self.app)
    }
    /// Force a resource's state (by uuid, backend_id or name).
    pub fn set_resource_state(&self, resource: &str, state: &str) -> Result<(), String> {
        planted::set_resource_state(&self.app, resource, state).map_err(|e| e.to_string())
    }
    /// Stop the server and wait for it.
    pub async fn shutdown(mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.task.take() {
            let _ = t.await;
        }
    }
}

impl Drop for RunningSandbox {
    fn drop(&mut self) {
        if let Some(s) = self.stop.take() {
            let _ = s.send(());
        }
    }
}

/// Waits for Ctrl-C (or SIGTERM on Unix): what stops a sandbox run as a process.
pub async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
