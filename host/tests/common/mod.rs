//! Shared test support: builds the fixture component once per test binary, writes manifests into
//! temp dirs, starts the host through the library and talks to it over HTTP.
#![allow(dead_code)]

use canbao_host::{RunningApp, UpOptions};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

/// The workspace root (the parent of `host/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// Path of the fixture component, built on first use.
pub fn fixture_wasm() -> &'static Path {
    static WASM: OnceLock<PathBuf> = OnceLock::new();
    WASM.get_or_init(|| {
        let root = workspace_root();
        let target = std::env::var_os("CARGO_TARGET_DIR")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target"));
        let wasm = target.join("wasm32-wasip2/release/canbao_host_fixture.wasm");
        // Cargo would find it fresh too, but only after waiting for the shared target dir's
        // lock, which other builds may hold for minutes.
        if is_newer_than_sources(&wasm) && std::env::var_os("CANBAO_HOST_FIXTURE_REBUILD").is_none()
        {
            return wasm;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let status = Command::new(cargo)
            .current_dir(&root)
            .args([
                "build",
                "-j2",
                "--target",
                "wasm32-wasip2",
                "--release",
                "-p",
                "canbao-host-fixture",
            ])
            .status()
            .expect("cannot run cargo to build the fixture component");
        assert!(status.success(), "building canbao-host-fixture failed");
        assert!(wasm.is_file(), "{} was not produced", wasm.display());
        wasm
    })
}

/// Whether `wasm` exists and is newer than the fixture's sources and the cron WIT (a dependency
/// update needs `CANBAO_HOST_FIXTURE_REBUILD=1`).
fn is_newer_than_sources(wasm: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    let Some(built) = modified(wasm) else {
        return false;
    };
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixture");
    let root = workspace_root();
    let inputs = [
        fixture.join("src/lib.rs"),
        fixture.join("Cargo.toml"),
        root.join("wit/spin-cron/cron.wit"),
    ];
    inputs
        .iter()
        .all(|p| modified(p).is_some_and(|m| m < built))
}

/// A temp directory holding a manifest (and the app's state dir, `state/`).
pub struct TestApp {
    /// Keeps the directory alive.
    pub dir: tempfile::TempDir,
}

impl TestApp {
    /// Writes `spin.toml`; `{{wasm}}` in the text is replaced by the fixture's path.
    pub fn new(manifest: &str) -> TestApp {
        let dir = tempfile::tempdir().unwrap();
        let text = manifest.replace(
            "@WASM@",
            &fixture_wasm().display().to_string().replace('\\', "/"),
        );
        std::fs::write(dir.path().join("spin.toml"), text).unwrap();
        TestApp { dir }
    }

    /// Path of the manifest.
    pub fn manifest(&self) -> PathBuf {
        self.dir.path().join("spin.toml")
    }

    /// Default options: ephemeral port, state in `state/`, quiet.
    pub fn options(&self) -> UpOptions {
        let mut o = UpOptions::new(self.manifest(), self.dir.path().join("state"));
        o.quiet = true;
        o
    }

    /// Starts the host with default options.
    pub fn start(&self) -> RunningApp {
        canbao_host::start(self.options()).expect("the host should start")
    }

    /// Starts the host and returns the start-up error text (panics if it starts).
    pub fn start_error(&self, opts: UpOptions) -> String {
        match canbao_host::start(opts) {
            Ok(app) => {
                app.stop();
                panic!("the host started but should have refused");
            }
            Err(e) => format!("{e:#}"),
        }
    }
}

/// A manifest with one fixture component `fx` on `/...`, plus `extra` appended.
pub fn one_component(component_extra: &str, extra: &str) -> String {
    format!(
        r#"spin_manifest_version = 2
[application]
name = "test"

[[trigger.http]]
route = "/..."
component = "fx"

[component.fx]
source = "@WASM@"
{component_extra}

{extra}
"#
    )
}

/// An HTTP agent that hands back 4xx/5xx responses instead of errors.
pub fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into()
}

/// GET `url`: status and body text.
pub fn get(url: &str) -> (u16, String) {
    let mut r = agent()
        .get(url)
        .call()
        .unwrap_or_else(|e| panic!("GET {url}: {e}"));
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// POST `body` to `url`: status and body text.
pub fn post(url: &str, body: &str) -> (u16, String) {
    let mut r = agent()
        .post(url)
        .send(body)
        .unwrap_or_else(|e| panic!("POST {url}: {e}"));
    (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
}

/// Runs SQL statements on one connection through the fixture's `/sql`; returns the JSON results.
pub fn sql(app: &RunningApp, db: &str, statements: serde_json::Value) -> Vec<serde_json::Value> {
    let (status, body) = post(
        &format!("{}/sql?db={db}", app.base_url()),
        &statements.to_string(),
    );
    assert_eq!(status, 200, "{body}");
    serde_json::from_str(&body).unwrap()
}
