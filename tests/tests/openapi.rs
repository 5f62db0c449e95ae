//! The OpenAPI document of the whole HTTP API: served by the lookup component exactly as kept in
//! the repository (`shared/assets/openapi.json`), public and cacheable, covering every route of
//! `spin.toml`; and schemathesis (PyPI, installed by `scripts/setup-schemathesis`) run against
//! the app in the host with an admin token finds no 5xx and no response outside the document.

use canbao_tests::{workspace_root, TestApp};
use serde_json::Value;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn repo_document() -> (String, Value) {
    let text = std::fs::read_to_string(workspace_root().join("shared/assets/openapi.json")).unwrap();
    let doc = serde_json::from_str(&text).expect("shared/assets/openapi.json is JSON");
    (text, doc)
}

#[test]
fn the_document_is_served_as_kept_in_the_repository_public_and_cacheable() {
    let app = TestApp::start();
    let (text, doc) = repo_document();
    let r = app.get("/api/v1/openapi.json");
    assert_eq!(r.status, 200);
    assert_eq!(r.text(), text);
    assert!(r.header("content-type").unwrap().starts_with("application/json"));
    assert_eq!(r.header("cache-control"), Some("public, max-age=300"));
    let etag = r.header("etag").expect("an ETag").to_string();
    let again = app.call("GET", "/api/v1/openapi.json", None, &[("if-none-match", &etag)], None);
    assert_eq!(again.status, 304);
    assert!(again.body.is_empty());
    // Public: a token is not needed, and whatever token is sent changes nothing.
    assert_eq!(app.get_as("staff-east", "/api/v1/openapi.json").text(), text);
    assert_eq!(app.call("POST", "/api/v1/openapi.json", None, &[], None).status, 405);

    assert_eq!(doc["openapi"].as_str().map(|v| &v[..2]), Some("3."));
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["required"], serde_json::json!(["error"]));
    let ops: Vec<&Value> = doc["paths"]
        .as_object()
        .unwrap()
        .values()
        .flat_map(|item| ["get", "put", "post", "patch", "delete", "options"].into_iter().filter_map(move |m| item.get(m)))
        .collect();
    assert!(ops.len() >= 30, "{} operations", ops.len());
    for op in ops {
        assert_eq!(op["responses"]["default"]["$ref"], "#/components/responses/Error", "{} has the error body", op["operationId"]);
    }
}

#[test]
fn every_route_of_the_manifest_is_in_the_document() {
    let (_, doc) = repo_document();
    let paths: Vec<&String> = doc["paths"].as_object().unwrap().keys().collect();
    let manifest = std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap();
    let routes: Vec<&str> =
        manifest.lines().filter_map(|l| l.trim().strip_prefix("route = \"").and_then(|r| r.strip_suffix('"'))).collect();
    assert!(routes.len() >= 14);
    for route in routes {
        // `/api/v1/registrations/...` is reserved in spin.toml without an endpoint yet.
        if route == "/api/v1/registrations/..." {
            continue;
        }
        let covered = match route.strip_suffix("/...") {
            Some(prefix) => paths.iter().any(|p| *p == prefix || p.starts_with(&format!("{prefix}/"))),
            None => paths.iter().any(|p| *p == route),
        };
        assert!(covered, "spin.toml route {route} is not in shared/assets/openapi.json");
    }
}

fn schemathesis() -> PathBuf {
    if let Some(path) = std::env::var_os("SCHEMATHESIS") {
        return PathBuf::from(path);
    }
    let path = workspace_root().join("target/schemathesis/bin/schemathesis");
    assert!(path.exists(), "schemathesis is not installed: run scripts/setup-schemathesis (or set SCHEMATHESIS)");
    path
}

/// Examples per operation: enough to reach every parameter's edges, small enough that the run
/// takes a couple of minutes on two shared cores. `SCHEMATHESIS_EXAMPLES` raises it.
const EXAMPLES: &str = "25";
/// The longest the run may take before the test gives up on it.
const TIME_LIMIT: Duration = Duration::from_secs(600);

#[test]
fn schemathesis_finds_no_server_error_and_no_response_outside_the_document() {
    let bin = schemathesis();
    // Limits raised so that generated requests reach the handlers rather than the limiter.
    let app = TestApp::start_with(&[("lookup_rate_limit_per_minute", "1000000"), ("registration_rate_limit_per_hour", "1000000")]);
    let url = app.url();
    let examples = std::env::var("SCHEMATHESIS_EXAMPLES").unwrap_or_else(|_| EXAMPLES.into());
    let report_dir = workspace_root().join("target/schemathesis-report");
    std::fs::create_dir_all(&report_dir).unwrap();
    let mut child = Command::new(&bin)
        // Its example database (`.schemathesis/`) goes with the report, not into the source tree.
        .current_dir(&report_dir)
        .arg("run")
        .arg(format!("{url}/api/v1/openapi.json"))
        .args(["--url", &url])
        .args(["--checks", "not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance"])
        .args(["--header", "Authorization: Bearer admin-token"])
        .args(["--max-examples", &examples])
        .args(["--seed", "20261129"])
        .args(["--phases", "examples,coverage,fuzzing"])
        .args(["--workers", "1"]) // hypothesis parses lambdas with `ast` (not thread-safe on CPython 3.11)
        .args(["--request-timeout", "30"])
        .args(["--report", "junit"])
        .arg("--report-dir")
        .arg(&report_dir)
        .arg("--no-color")
        .env("SCHEMATHESIS_TELEMETRY", "false")
        .env("PYTHONIOENCODING", "utf-8")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > TIME_LIMIT {
            let _ = child.kill();
            panic!("schemathesis ran longer than {TIME_LIMIT:?}");
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let output = child.wait_with_output().unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let summary: Vec<&str> = stdout.lines().filter(|l| l.contains("generated") || l.contains("Tested:")).map(str::trim).collect();
    eprintln!("schemathesis took {:.0?}: {}", started.elapsed(), summary.join("; "));
    assert!(status.success(), "schemathesis failed ({status}):\n{stdout}\n{stderr}");
    // It really tested the operations (not a run that skipped them all).
    assert!(stdout.contains("passed"), "{stdout}");
}
