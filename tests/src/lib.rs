//! Support for the end-to-end tests: build the four components once, start the real `spin.toml`
//! in the local host on an ephemeral port with its own state directory and known tokens, and
//! call it over HTTP.

use canbao::auth::token_hash;
use canbao_host::{RunningApp, UpOptions};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

/// The app's components, as named in `spin.toml`.
pub const COMPONENTS: [&str; 4] = ["registration", "lookup", "intake", "stats"];

/// Tokens the test app accepts: (token, role, region or source).
pub const TEST_TOKENS: &[(&str, &str, &str)] = &[
    ("admin-token", "admin", ""),
    ("staff-east", "staff", "510402"),
    ("staff-west", "staff", "510403"),
    ("collector-east", "collector", "510402"),
    ("dept-public-security", "department", "public_security"),
    ("dept-hrss", "department", "hrss"),
    ("dept-health", "department", "health"),
    ("dept-civil-affairs", "department", "civil_affairs"),
    ("dept-education", "department", "education"),
    ("dept-commerce", "department", "commerce"),
    ("dept-tax", "department", "tax"),
    ("dept-quality", "department", "quality"),
    ("dept-staffing", "department", "staffing"),
    ("dept-hitech-zone", "department", "hitech_zone"),
];

/// The workspace root.
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ is inside the workspace").to_path_buf()
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| workspace_root().join("target"))
}

/// Builds the release wasm components once per test binary (a no-op when they are fresh).
pub fn build_components() {
    static BUILT: OnceLock<()> = OnceLock::new();
    BUILT.get_or_init(|| {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        let mut args = vec!["build", "-j2", "--target", "wasm32-wasip2", "--release"];
        for c in COMPONENTS {
            args.extend(["-p", c]);
        }
        let status = Command::new(cargo)
            .current_dir(workspace_root())
            .args(&args)
            .status()
            .expect("cannot run cargo to build the components");
        assert!(status.success(), "building the wasm components failed");
    });
}

/// The `access_tokens` value matching [`TEST_TOKENS`].
pub fn access_tokens_json() -> String {
    let entries: Vec<Value> = TEST_TOKENS
        .iter()
        .map(|(token, role, scope)| {
            let mut e = serde_json::json!({"sha256": token_hash(token), "role": role, "name": token});
            match *role {
                "staff" | "collector" => e["region"] = Value::from(*scope),
                "department" => e["source"] = Value::from(*scope),
                _ => {}
            }
            e
        })
        .collect();
    Value::from(entries).to_string()
}

/// The environment variable naming a runtime config file every test app starts with, e.g. one
/// keeping the key-value store on a Redis server (`scripts/test-redis` writes one and runs the
/// suites that use the store with it). `{app}` in the file becomes a number
/// unique to each app this test process starts, e.g. its Redis database index.
pub const RUNTIME_CONFIG_ENV: &str = "CANBAO_TEST_RUNTIME_CONFIG";

/// Whether the apps run with a runtime config from [`RUNTIME_CONFIG_ENV`] (so the key-value store
/// may not be the state directory's `sqlite_key_value.db`).
pub fn uses_runtime_config() -> bool {
    std::env::var_os(RUNTIME_CONFIG_ENV).is_some_and(|v| !v.is_empty())
}

/// Writes the workspace's spin.toml into `dir` with component sources in this build's target
/// directory (`CARGO_TARGET_DIR`), and returns its path.
pub fn manifest_in(dir: &Path) -> PathBuf {
    let manifest = std::fs::read_to_string(workspace_root().join("spin.toml")).expect("spin.toml");
    let target = target_dir().display().to_string().replace('\\', "/");
    let manifest = manifest.replace("source = \"target/", &format!("source = \"{target}/"));
    let path = dir.join("spin.toml");
    std::fs::write(&path, manifest).expect("write manifest");
    path
}

/// [`manifest_in`] without the cron trigger, for a test that measures the host or asserts a state
/// that the scheduled intake run would change: it fires at second 0 of every minute, wherever the
/// test happens to be (a tick during the upload test processed the queued batches with intake's
/// 64 MiB page cache, and the upload seemed to need it).
pub fn manifest_without_schedule(dir: &Path) -> PathBuf {
    let path = manifest_in(dir);
    let mut manifest: toml::Table = std::fs::read_to_string(&path).expect("manifest").parse().expect("spin.toml is TOML");
    let triggers = manifest.get_mut("trigger").and_then(toml::Value::as_table_mut).expect("[trigger]");
    triggers.remove("cron").expect("[[trigger.cron]]");
    std::fs::write(&path, toml::to_string(&manifest).expect("manifest as TOML")).expect("write manifest");
    path
}

/// Writes the runtime config for one app into `dir`, if [`RUNTIME_CONFIG_ENV`] names one.
fn runtime_config_for(dir: &Path) -> Option<PathBuf> {
    static APPS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let path = std::env::var_os(RUNTIME_CONFIG_ENV).filter(|v| !v.is_empty())?;
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{RUNTIME_CONFIG_ENV}={}: {e}", Path::new(&path).display()));
    let n = APPS.fetch_add(1, std::sync::atomic::Ordering::Relaxed) + 1;
    let out = dir.join("runtime-config.toml");
    std::fs::write(&out, text.replace("{app}", &n.to_string())).expect("write runtime config");
    Some(out)
}

/// The app running in the host, with its own temporary state.
pub struct TestApp {
    app: Option<RunningApp>,
    dir: tempfile::TempDir,
    vars: Vec<(String, String)>,
    runtime_config: Option<PathBuf>,
}

impl TestApp {
    /// Starts the app with the test tokens and default variables.
    pub fn start() -> TestApp {
        TestApp::start_with(&[])
    }

    /// Starts the app with extra variables (`name`, `value`), e.g. a raised rate limit.
    pub fn start_with(vars: &[(&str, &str)]) -> TestApp {
        build_components();
        let dir = tempfile::tempdir().expect("temp dir");
        manifest_in(dir.path());
        let mut all = vec![("SPIN_VARIABLE_ACCESS_TOKENS".to_string(), access_tokens_json())];
        for (k, v) in vars {
            all.push((format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v.to_string()));
        }
        let runtime_config = runtime_config_for(dir.path());
        let mut app = TestApp { app: None, dir, vars: all, runtime_config };
        app.boot();
        app
    }

    fn boot(&mut self) {
        let mut opts = UpOptions::new(self.dir.path().join("spin.toml"), self.state_dir());
        opts.listen = "127.0.0.1:0".parse().expect("address");
        opts.env = self.vars.clone();
        opts.runtime_config = self.runtime_config.clone();
        opts.quiet = true;
        self.app = Some(canbao_host::start(opts).expect("the app starts"));
    }

    /// Stops and starts the host on the same state directory.
    pub fn restart(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop();
        }
        self.boot();
    }

    /// Sets a variable for the next [`TestApp::restart`], e.g. an `access_tokens` list without a
    /// revoked token (the last value set wins).
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.push((format!("SPIN_VARIABLE_{}", name.to_ascii_uppercase()), value.to_string()));
    }

    /// Where the host keeps this app's state (`sqlite_db.db`, `sqlite_key_value.db`, `logs/`).
    pub fn state_dir(&self) -> PathBuf {
        self.dir.path().join("state")
    }

    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub fn url(&self) -> String {
        self.app.as_ref().expect("running").base_url()
    }

    /// Sends a request; `token` adds a bearer token. Never fails on an HTTP error status.
    pub fn call(&self, method: &str, path: &str, token: Option<&str>, headers: &[(&str, &str)], body: Option<&[u8]>) -> Reply {
        let uri = format!("{}{}", self.url(), path);
        let mut builder = ureq::http::Request::builder().method(method).uri(&uri);
        if let Some(t) = token {
            builder = builder.header("authorization", format!("Bearer {t}"));
        }
        for (k, v) in headers {
            builder = builder.header(*k, *v);
        }
        let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).build().into();
        let response = match body {
            Some(b) => agent.run(builder.body(b.to_vec()).expect("request")),
            None => agent.run(builder.body(()).expect("request")),
        }
        .unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = response.status().as_u16();
        let headers = response
            .headers()
            .iter()
            .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
            .collect();
        let body = response.into_body().read_to_vec().expect("body");
        Reply { status, headers, body }
    }

    /// `GET` without a token.
    pub fn get(&self, path: &str) -> Reply {
        self.call("GET", path, None, &[], None)
    }

    /// `GET` with a token.
    pub fn get_as(&self, token: &str, path: &str) -> Reply {
        self.call("GET", path, Some(token), &[], None)
    }

    /// A JSON request (`POST`, `PATCH`, `PUT`) with an optional token.
    pub fn send_json(&self, method: &str, path: &str, token: Option<&str>, body: &Value) -> Reply {
        let bytes = serde_json::to_vec(body).expect("json");
        self.call(method, path, token, &[("content-type", "application/json")], Some(&bytes))
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(app) = self.app.take() {
            app.stop();
        }
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    /// Status code.
    pub status: u16,
    /// Headers (names lower case).
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Reply {
    /// The body as JSON (panics with the body text when it is not).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    /// The body as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Where browser tests save their screenshots (`target/screenshots/`).
pub fn screenshots_dir() -> PathBuf {
    workspace_root().join("target/screenshots")
}

/// Runs the browser script `tests/browser/<script>` with node (playwright-core driving Debian's
/// Chromium) and returns the JSON object it prints as its last line; fails the test with the
/// script's output when it fails.
pub fn run_browser_script(script: &str, args: &[&str]) -> Value {
    let root = workspace_root();
    let browser_dir = root.join("tests/browser");
    assert!(
        browser_dir.join("node_modules/playwright-core").is_dir() && Path::new("/usr/bin/chromium").exists(),
        "the browser test needs Chromium and playwright-core: run scripts/setup-browser"
    );
    let output = Command::new("node")
        .current_dir(&root)
        .arg(browser_dir.join(script))
        .args(args)
        .output()
        .expect("run node (is Node.js installed?)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "browser run of {script} failed\nstdout: {stdout}\nstderr: {stderr}");
    serde_json::from_str(stdout.lines().last().unwrap_or("")).expect("the script's JSON line")
}

/// Loads a generated city into the app through its API, as the bureau would: the region tree,
/// every department's file (UTF-8 CSV) with that department's token, the intake run until done,
/// then the survey and self registrations, each answered as the generator expects.
pub fn load_generated_city(app: &TestApp, city: &canbao_gen::City) {
    let put = app.call("PUT", "/api/v1/regions", Some("admin-token"), &[("content-type", "text/csv")], Some(city.regions_csv.as_bytes()));
    assert_eq!(put.status, 200, "{}", put.text());
    for file in &city.files {
        let source = file.source.code();
        let token = TEST_TOKENS.iter().find(|(_, role, scope)| *role == "department" && *scope == source).map(|t| t.0).unwrap();
        let r = app.call(
            "POST",
            &format!("/api/v1/intake/{source}/files"),
            Some(token),
            &[("x-file-name", &file.name), ("content-type", "text/csv")],
            Some(&file.csv_utf8),
        );
        assert_eq!(r.status, 202, "{}: {}", file.name, r.text());
    }
    while app.call("POST", "/api/v1/intake/run", Some("admin-token"), &[], None).json()["more"] == true {}
    for registration in &city.registrations {
        let token = (registration["source"] == "survey").then_some("admin-token");
        let r = app.send_json("POST", "/api/v1/registrations", token, &registration["body"]);
        // The expected outcome counts each form as the generator expects it answered.
        assert_eq!(Some(u64::from(r.status)), registration["expect"]["status"].as_u64(), "{}", r.text());
    }
}

/// The debug host binary, built here (`cargo build -p canbao-host`) so that a test can run the
/// host as a process of its own and kill it.
pub fn host_binary() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let status = Command::new(cargo)
                .current_dir(workspace_root())
                .args(["build", "-j2", "-p", "canbao-host"])
                .status()
                .expect("cargo");
            assert!(status.success(), "building the host failed");
            target_dir().join("debug/canbao-host")
        })
        .clone()
}

/// The app served by a host process of its own (see [`host_binary`]), which a test may kill
/// with SIGKILL and start again on the same state directory and port.
pub struct HostProcess {
    child: std::process::Child,
    /// The base URL, e.g. `http://127.0.0.1:40123`.
    pub base: String,
}

impl HostProcess {
    /// Starts the host with the test tokens and `vars` (`name`, `value`) on `port`, keeping its
    /// state in `state` (stderr in `state/host.log`), and waits until it answers.
    pub fn start(manifest: &Path, state: &Path, port: u16, vars: &[(&str, &str)]) -> HostProcess {
        std::fs::create_dir_all(state).expect("state dir");
        let listen = format!("127.0.0.1:{port}");
        let mut command = Command::new(host_binary());
        command
            .args(["up", "--from", manifest.to_str().unwrap(), "--listen", &listen, "--state-dir", state.to_str().unwrap()])
            .env("SPIN_VARIABLE_ACCESS_TOKENS", access_tokens_json())
            .stdout(std::process::Stdio::null())
            .stderr(std::fs::File::options().create(true).append(true).open(state.join("host.log")).map(std::process::Stdio::from).unwrap_or_else(|_| std::process::Stdio::null()));
        for (k, v) in vars {
            command.env(format!("SPIN_VARIABLE_{}", k.to_ascii_uppercase()), v);
        }
        let mut host = HostProcess { child: command.spawn().expect("host"), base: format!("http://{listen}") };
        for _ in 0..3600 {
            if ureq::get(format!("{}/api/v1/registration/health", host.base)).call().is_ok() {
                return host;
            }
            if let Ok(Some(status)) = host.child.try_wait() {
                panic!("host exited ({status}): {}", std::fs::read_to_string(state.join("host.log")).unwrap_or_default());
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        panic!("host did not start: {}", std::fs::read_to_string(state.join("host.log")).unwrap_or_default());
    }

    /// The host's process id (e.g. to read its memory in `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Kills the host with SIGKILL (no shutdown of any kind) and waits for it to be gone.
    pub fn kill(mut self) {
        self.child.kill().expect("kill");
        self.child.wait().expect("wait");
    }
}

impl Drop for HostProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 (free when asked; a host started soon after gets it).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").and_then(|l| l.local_addr()).expect("a free port").port()
}
