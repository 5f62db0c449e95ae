//! Abuse limits through the host: a body over its endpoint's limit is refused with 413 and the
//! contract's error body on every route; registration JSON too deep or with overlong strings is
//! refused; pages have a largest size; one client enumerating IDs through the public lookup is
//! throttled with 429 and `Retry-After`.

use canbao::ids::CitizenId;
use canbao_tests::{Reply, TestApp};
use chrono::NaiveDate;
use serde_json::json;

fn assert_too_large(r: &Reply, limit: u64, what: &str) {
    assert_eq!(r.status, 413, "{what}: {}", r.text());
    let body = r.json();
    assert_eq!(body["error"]["code"], "too_large", "{what}");
    assert!(body["error"]["message"].as_str().unwrap().contains(&limit.to_string()), "{what}: {body}");
}

#[test]
fn a_body_over_its_endpoints_limit_is_refused_on_every_route() {
    let app = TestApp::start_with(&[("intake_max_upload_bytes", "4096")]);
    let json_limit = 64 * 1024;
    let over_json = vec![b' '; json_limit + 1];
    // Every route of spin.toml, with a method it serves, takes at most 64 KB unless it takes files.
    let small: &[(&str, &str)] = &[
        ("POST", "/api/v1/registrations"),
        ("GET", "/api/v1/registration/health"),
        ("GET", "/api/v1/persons/510402198407090016"),
        ("PATCH", "/api/v1/persons/510402198407090016"),
        ("POST", "/api/v1/persons/510402198407090016/conflicts/1/resolve"),
        ("GET", "/api/v1/regions"),
        ("GET", "/register"),
        ("GET", "/api/v1/lookup?id_number=510402198407090016&name=x"),
        ("GET", "/api/v1/lookup/health"),
        ("GET", "/api/v1/audit"),
        ("GET", "/api/v1/openapi.json"),
        ("GET", "/embed/lookup.js"),
        ("GET", "/api/v1/intake/health"),
        ("POST", "/api/v1/intake/run"),
        ("POST", "/api/v1/intake/batches/b1/complete"),
        ("GET", "/api/v1/stats/overview"),
        ("GET", "/api/v1/stats/health"),
        ("GET", "/dashboard"),
    ];
    for (method, path) in small {
        let r = app.call(method, path, Some("admin-token"), &[("content-type", "application/json")], Some(&over_json));
        assert_too_large(&r, json_limit as u64, &format!("{method} {path}"));
        // At the limit the same request gets past the size check.
        let at = app.call(method, path, Some("admin-token"), &[("content-type", "application/json")], Some(&over_json[1..]));
        assert_ne!(at.status, 413, "{method} {path} at the limit");
    }
    // Department files and their parts: `intake_max_upload_bytes`.
    let file = vec![b'a'; 4097];
    let r = app.call("POST", "/api/v1/intake/hrss/files", Some("dept-hrss"), &[("content-type", "text/csv")], Some(&file));
    assert_too_large(&r, 4096, "upload");
    let begun = app.call("POST", "/api/v1/intake/hrss/files?parts=2", Some("dept-hrss"), &[], None).json();
    let id = begun["batch_id"].as_str().unwrap();
    let r = app.call("PUT", &format!("/api/v1/intake/batches/{id}/parts/1"), Some("dept-hrss"), &[], Some(&file));
    assert_too_large(&r, 4096, "part");
    let r = app.call("PUT", &format!("/api/v1/intake/batches/{id}/parts/1"), Some("dept-hrss"), &[], Some(&file[1..]));
    assert_eq!(r.status, 200, "{}", r.text());
    // Region files: 10 MB.
    let regions = vec![b'a'; 10 * 1024 * 1024 + 1];
    let r = app.call("PUT", "/api/v1/regions", Some("admin-token"), &[("content-type", "text/csv")], Some(&regions));
    assert_too_large(&r, 10 * 1024 * 1024, "regions");
}

fn id() -> CitizenId {
    CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1984, 7, 9).unwrap(), 101)
}

#[test]
fn registration_json_has_depth_and_string_limits() {
    let app = TestApp::start();
    // Nesting deeper than the parser's limit (128) is malformed, whatever field it is in.
    let deep = format!("{{\"id_number\":\"{}\",\"name\":\"李四\",\"x\":{}1{}}}", id(), "[".repeat(200), "]".repeat(200));
    let r = app.call("POST", "/api/v1/registrations", None, &[("content-type", "application/json")], Some(deep.as_bytes()));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.json()["error"]["code"], "malformed_json");
    // Shallower nesting in a field the form does not have is refused by name.
    let nested = format!("{{\"id_number\":\"{}\",\"name\":\"李四\",\"x\":{}1{}}}", id(), "[".repeat(50), "]".repeat(50));
    let r = app.call("POST", "/api/v1/registrations", None, &[("content-type", "application/json")], Some(nested.as_bytes()));
    assert_eq!(r.status, 422, "{}", r.text());
    // Strings over their field's length, each reported.
    let body = json!({
        "id_number": id().as_str(),
        "name": "李".repeat(51),
        "hukou_address": "街".repeat(201),
        "residence_address": "路".repeat(20_000),
        "employer_name": "司".repeat(101),
    });
    let r = app.send_json("POST", "/api/v1/registrations", None, &body);
    assert_eq!(r.status, 422, "{}", r.text());
    let fields: Vec<(String, String)> = r.json()["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_string(), f["code"].as_str().unwrap().to_string()))
        .collect();
    for field in ["name", "hukou_address", "residence_address", "employer_name"] {
        assert!(fields.contains(&(field.to_string(), "too_long".to_string())), "{field}: {fields:?}");
    }
    // The same in a lookup's name.
    let r = app.get(&format!("/api/v1/lookup?id_number={}&name={}", id(), "%E6%9D%8E".repeat(65)));
    assert_eq!(r.status, 422);
    assert_eq!(r.json()["error"]["fields"][0]["code"], "too_long");
}

#[test]
fn pages_have_a_largest_size() {
    let app = TestApp::start();
    let r = app.get_as("admin-token", "/api/v1/audit?page_size=200");
    assert_eq!(r.status, 200);
    for q in ["page_size=201", "page_size=1000000", "page=100001", "page=-1", "page_size=abc"] {
        let r = app.get_as("admin-token", &format!("/api/v1/audit?{q}"));
        assert_eq!(r.status, 422, "{q}: {}", r.text());
    }
}

#[test]
fn one_client_enumerating_ids_through_the_lookup_is_throttled() {
    let app = TestApp::start_with(&[("lookup_rate_limit_per_minute", "30")]);
    // The limit counts per clock minute: start early in one so all 41 requests fall in it.
    while chrono::Timelike::second(&chrono::Utc::now()) > 40 {
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    let mut statuses = Vec::new();
    for seq in 0..40u16 {
        let id = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1990, 1, 1).unwrap(), seq * 2 + 1);
        statuses.push(app.get(&format!("/api/v1/lookup?id_number={id}&name=%E5%BC%A0%E4%B8%89")));
    }
    let before: Vec<u16> = statuses[..30].iter().map(|r| r.status).collect();
    assert!(before.iter().all(|s| *s == 404), "{before:?}");
    for r in &statuses[30..] {
        assert_eq!(r.status, 429, "{}", r.text());
        assert_eq!(r.json()["error"]["code"], "rate_limited");
        let wait: u64 = r.header("retry-after").expect("Retry-After").parse().unwrap();
        assert!((1..=60).contains(&wait), "{wait}");
    }
    // Malformed lookups count too: enumeration cannot hide among invalid requests.
    let r = app.get("/api/v1/lookup?id_number=1&name=x");
    assert_eq!(r.status, 429);
}
