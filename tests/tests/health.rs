//! Every component answers its health route through the host, with real store round trips, and
//! keeps its state across a restart.

use canbao_tests::{TestApp, COMPONENTS};

#[test]
fn every_component_reports_healthy_stores() {
    let app = TestApp::start();
    for component in COMPONENTS {
        let reply = app.get(&format!("/api/v1/{component}/health"));
        assert_eq!(reply.status, 200, "{component}: {}", reply.text());
        let body = reply.json();
        assert_eq!(body["component"], component);
        assert_eq!(body["version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(body["key_value"]["ok"], true, "{component}: {body}");
        assert_eq!(body["sqlite"]["ok"], true, "{component}: {body}");
        assert!(body["sqlite"]["schema_version"].as_i64().unwrap() >= 1, "{body}");
        assert_eq!(reply.header("cache-control"), Some("no-store"));
    }
}

#[test]
fn the_database_is_migrated_once_and_survives_a_restart() {
    let mut app = TestApp::start();
    let before = app.get("/api/v1/stats/health").json();
    app.restart();
    let after = app.get("/api/v1/lookup/health").json();
    assert_eq!(before["sqlite"]["schema_version"], after["sqlite"]["schema_version"]);
    assert!(app.state_dir().join("sqlite_db.db").is_file());
    if !canbao_tests::uses_runtime_config() {
        assert!(app.state_dir().join("sqlite_key_value.db").is_file());
    }
}

#[test]
fn unknown_paths_get_the_contract_error_body() {
    let app = TestApp::start();
    let reply = app.get("/api/v1/stats/no-such-thing");
    assert_eq!(reply.status, 404);
    assert_eq!(reply.json()["error"]["code"], "not_found");
    let reply = app.get("/nowhere");
    assert_eq!(reply.status, 404);
}

#[test]
fn concurrent_health_checks_all_pass() {
    let app = TestApp::start();
    let statuses: Vec<u16> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..48)
            .map(|i| {
                let app = &app;
                s.spawn(move || app.get(&format!("/api/v1/{}/health", COMPONENTS[i % 4])).status)
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(statuses.iter().all(|&s| s == 200), "{statuses:?}");
}
