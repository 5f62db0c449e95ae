//! Feeds end to end: a generated file served by a local HTTP server with an ETag is pulled by the
//! intake component, not queued again while unchanged (304), queued when it changes; a feed on a
//! host that is not allowed is refused and reported, and none of it fails the run.

use canbao_gen::CityConfig;
use canbao_tests::TestApp;
use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// A one-file HTTP server: answers 304 when `If-None-Match` matches the current ETag.
fn serve(body: Arc<Mutex<Vec<u8>>>) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut if_none_match = None;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':') {
                    if k.eq_ignore_ascii_case("if-none-match") {
                        if_none_match = Some(v.trim().to_string());
                    }
                }
            }
            let bytes = body.lock().unwrap().clone();
            let etag = format!("\"{}\"", &canbao::intake::sha256_hex(&bytes)[..16]);
            let head = if if_none_match.as_deref() == Some(etag.as_str()) {
                format!("HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
            } else {
                format!("HTTP/1.1 200 OK\r\nETag: {etag}\r\nContent-Type: text/csv\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", bytes.len())
            };
            let _ = stream.write_all(head.as_bytes());
            if !head.starts_with("HTTP/1.1 304") {
                let _ = stream.write_all(&bytes);
            }
        }
    });
    port
}

fn run(app: &TestApp) -> serde_json::Value {
    let r = app.call("POST", "/api/v1/intake/run", Some("admin-token"), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

fn outcome<'a>(run: &'a serde_json::Value, url: &str) -> &'a serde_json::Value {
    run["feeds"].as_array().unwrap().iter().find(|f| f["url"] == url).unwrap_or_else(|| panic!("{url} in {run}"))
}

#[test]
fn feeds_are_pulled_only_when_changed_and_other_hosts_are_refused() {
    let city = canbao_gen::generate(&CityConfig { people: 300, seed: 17, ..CityConfig::default() }).unwrap();
    let body = Arc::new(Mutex::new(city.files[0].csv_utf8.clone()));
    let port = serve(body.clone());
    let origin = format!("http://127.0.0.1:{port}");
    let url = format!("{origin}/public_security.csv");
    let elsewhere = "http://feeds.elsewhere.invalid/hrss.csv".to_string();
    let feeds = serde_json::json!([
        {"source": "public_security", "url": url, "format": "csv"},
        {"source": "hrss", "url": elsewhere, "format": "csv"},
    ]);
    let app = TestApp::start_with(&[("intake_feeds", &feeds.to_string()), ("intake_feed_origin", &origin)]);

    let first = run(&app);
    assert_eq!(outcome(&first, &url)["outcome"], "queued", "{first}");
    assert_eq!(outcome(&first, &elsewhere)["outcome"], "refused", "{first}");
    let batch = outcome(&first, &url)["batch_id"].as_str().unwrap().to_string();

    let second = run(&app);
    assert_eq!(outcome(&second, &url)["outcome"], "not_modified", "{second}");

    let mut changed = city.files[0].csv_utf8.clone();
    changed.extend_from_slice(b"\r\n");
    *body.lock().unwrap() = changed;
    let third = run(&app);
    assert_eq!(outcome(&third, &url)["outcome"], "queued", "{third}");
    assert_ne!(outcome(&third, &url)["batch_id"].as_str().unwrap(), batch);
    let report = app.get_as("admin-token", &format!("/api/v1/intake/batches/{batch}")).json();
    assert_eq!(report["rows_total"], city.expected.files[0].rows_total);
}
