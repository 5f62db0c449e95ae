//! Cron triggers fire on their seconds schedule and call `handle-cron-event`.

mod common;
use common::*;
use serde_json::json;
use std::time::{Duration, Instant};

#[test]
fn every_second_schedule_fires_repeatedly() {
    let t = TestApp::new(&one_component(
        r#"sqlite_databases = ["default"]"#,
        "[[trigger.cron]]\ncomponent = \"fx\"\ncron_expression = \"*/1 * * * * *\"\n",
    ));
    let app = t.start();
    assert!(app.banner().contains("*/1 * * * * *"), "{}", app.banner());
    let deadline = Instant::now() + Duration::from_secs(8);
    let mut ticks = Vec::new();
    while Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(500));
        let r = sql(
            &app,
            "default",
            json!([{"sql": "SELECT ts FROM ticks ORDER BY ts"}]),
        );
        if r[0].get("error").is_none() {
            ticks = r[0]["rows"]
                .as_array()
                .unwrap()
                .iter()
                .map(|row| row[0].as_i64().unwrap())
                .collect();
            if ticks.len() >= 2 {
                break;
            }
        }
    }
    app.stop();
    assert!(ticks.len() >= 2, "expected two ticks, got {ticks:?}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    assert!(
        ticks.iter().all(|ts| (now - 30..=now).contains(ts)),
        "timestamps are unix seconds: {ticks:?}"
    );
    assert!(
        ticks.windows(2).all(|w| w[1] > w[0]),
        "one tick per second: {ticks:?}"
    );
}

#[test]
fn invalid_component_file_is_refused() {
    let t = TestApp::new(&one_component("", ""));
    std::fs::write(t.dir.path().join("junk.wasm"), b"not wasm").unwrap();
    let text = std::fs::read_to_string(t.manifest()).unwrap()
        + "[[trigger.cron]]\ncomponent = \"junk\"\ncron_expression = \"0 * * * * *\"\n[component.junk]\nsource = \"junk.wasm\"\n";
    std::fs::write(t.manifest(), text).unwrap();
    let e = t.start_error(t.options());
    assert!(e.contains("junk.wasm"), "{e}");
}
