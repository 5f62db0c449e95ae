//! HTTP trigger: routing precedence, Spin's request headers, 404, component logs, concurrency
//! and graceful shutdown.

mod common;
use common::*;
use serde_json::Value;

const ROUTES: &str = r#"spin_manifest_version = 2
[application]
name = "routes"

[[trigger.http]]
route = "/..."
component = "catchall"

[[trigger.http]]
route = "/api/..."
component = "api"

[[trigger.http]]
route = "/api/v1/..."
component = "v1"

[[trigger.http]]
route = "/api/v1/lookup"
component = "lookup"

[[trigger.http]]
route = "/api/v1/persons/:id"
component = "person"

[[trigger.http]]
route = { private = true }
component = "hidden"

[component.catchall]
source = "@WASM@"
[component.api]
source = "@WASM@"
[component.v1]
source = "@WASM@"
[component.lookup]
source = "@WASM@"
[component.person]
source = "@WASM@"
[component.hidden]
source = "@WASM@"
"#;

fn echo(app: &canbao_host::RunningApp, path: &str) -> Value {
    let (status, body) = get(&format!("{}{path}", app.base_url()));
    assert_eq!(status, 200, "{path}: {body}");
    serde_json::from_str(&body).unwrap()
}

#[test]
fn exact_beats_wildcard_and_longest_wildcard_wins() {
    let t = TestApp::new(ROUTES);
    let app = t.start();
    let matched = |path: &str| {
        echo(&app, path)["headers"]["spin-matched-route"]
            .as_str()
            .unwrap()
            .to_string()
    };
    assert_eq!(matched("/api/v1/lookup"), "/api/v1/lookup");
    assert_eq!(matched("/api/v1/lookup/more"), "/api/v1/...");
    assert_eq!(matched("/api/v1"), "/api/v1/...");
    assert_eq!(matched("/api/v2/x"), "/api/...");
    assert_eq!(matched("/"), "/...");
    assert_eq!(matched("/elsewhere"), "/...");
    assert_eq!(matched("/api/v1/persons/110101"), "/api/v1/persons/:id");
    app.stop();
}

#[test]
fn spin_headers_are_set_like_spin() {
    let t = TestApp::new(ROUTES);
    let app = t.start();
    let e = echo(&app, "/api/v1/lookup/a/b?x=1&y=2");
    let h = &e["headers"];
    assert_eq!(
        h["spin-full-url"],
        format!("{}/api/v1/lookup/a/b?x=1&y=2", app.base_url())
    );
    assert_eq!(h["spin-path-info"], "/lookup/a/b");
    assert_eq!(h["spin-matched-route"], "/api/v1/...");
    assert_eq!(h["spin-component-route"], "/api/v1");
    assert_eq!(h["spin-raw-component-route"], "/api/v1/...");
    assert_eq!(h["spin-base-path"], "/");
    let client = h["spin-client-addr"].as_str().unwrap();
    assert!(client.starts_with("127.0.0.1:"), "{client}");
    assert_eq!(e["path"], "/api/v1/lookup/a/b");

    let exact = echo(&app, "/api/v1/lookup");
    assert_eq!(exact["headers"]["spin-path-info"], "");
    assert_eq!(exact["headers"]["spin-component-route"], "/api/v1/lookup");

    let person = echo(&app, "/api/v1/persons/110101");
    assert_eq!(person["headers"]["spin-path-match-id"], "110101");

    // A client cannot forge the host's headers.
    let mut r = agent()
        .get(&format!("{}/api/v2", app.base_url()))
        .header("spin-path-info", "/forged")
        .call()
        .unwrap();
    let forged: Value = serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(forged["headers"]["spin-path-info"], "/v2");
    app.stop();
}

#[test]
fn unmatched_path_is_404_and_post_reaches_component() {
    let t = TestApp::new(&ROUTES.replace("route = \"/...\"", "route = \"/only\""));
    let app = t.start();
    assert_eq!(get(&format!("{}/nowhere", app.base_url())).0, 404);
    assert_eq!(get(&format!("{}/only/below", app.base_url())).0, 404);
    let (status, body) = post(&format!("{}/only", app.base_url()), "hello");
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_str::<Value>(&body).unwrap()["method"],
        "POST"
    );
    app.stop();
}

#[test]
fn a_trapping_component_gets_500_and_the_host_keeps_serving() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    assert_eq!(get(&format!("{}/panic", app.base_url())).0, 500);
    assert_eq!(get(&format!("{}/echo", app.base_url())).0, 200);
    app.stop();
    let err = std::fs::read_to_string(t.dir.path().join("state/logs/fx_stderr.txt")).unwrap();
    assert!(err.contains("asked to panic"), "{err}");
}

#[test]
fn large_request_bodies_reach_the_component() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    let body = "x".repeat(20 * 1024 * 1024);
    assert_eq!(
        post(&format!("{}/len", app.base_url()), &body),
        (200, body.len().to_string())
    );
    app.stop();
}

#[test]
fn banner_lists_routes_like_spin_up() {
    let t = TestApp::new(ROUTES);
    let app = t.start();
    let b = app.banner();
    let base = app.base_url();
    assert!(b.starts_with(&format!("Serving {base}\n")), "{b}");
    assert!(
        b.contains(&format!("  lookup: {base}/api/v1/lookup\n")),
        "{b}"
    );
    assert!(
        b.contains(&format!("  v1: {base}/api/v1 (wildcard)\n")),
        "{b}"
    );
    assert!(
        b.contains(&format!("  catchall: {base} (wildcard)\n")),
        "{b}"
    );
    assert!(!b.contains("hidden"), "{b}");
    app.stop();
}

#[test]
fn component_output_goes_to_log_files() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    assert_eq!(
        get(&format!("{}/print?msg=hello%20logs", app.base_url())).0,
        200
    );
    app.stop();
    let logs = t.dir.path().join("state/logs");
    let out = std::fs::read_to_string(logs.join("fx_stdout.txt")).unwrap();
    let err = std::fs::read_to_string(logs.join("fx_stderr.txt")).unwrap();
    assert!(out.contains("out: hello logs"), "{out}");
    assert!(err.contains("err: hello logs"), "{err}");
}

#[test]
fn two_hundred_concurrent_requests_all_succeed() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    let url = format!("{}/echo", app.base_url());
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(200));
    let threads: Vec<_> = (0..200)
        .map(|_| {
            let (url, barrier) = (url.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                get(&url).0
            })
        })
        .collect();
    let statuses: Vec<u16> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
    app.stop();
}

#[test]
fn stop_lets_in_flight_requests_finish() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    let url = format!("{}/sleep?ms=2500", app.base_url());
    let inflight = std::thread::spawn(move || get(&url));
    std::thread::sleep(std::time::Duration::from_millis(800));
    let addr = app.addr();
    let started = std::time::Instant::now();
    app.stop();
    assert!(
        started.elapsed() >= std::time::Duration::from_millis(1000),
        "stop did not wait"
    );
    assert_eq!(inflight.join().unwrap(), (200, "slept".to_string()));
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "still accepting after stop"
    );
}

#[tokio::test]
async fn start_and_stop_work_from_inside_an_async_runtime() {
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    assert_eq!(get(&format!("{}/echo", app.base_url())).0, 200);
    app.stop();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = t.options();
    opts.listen = taken.local_addr().unwrap();
    assert!(t.start_error(opts).contains("cannot listen"));
}
