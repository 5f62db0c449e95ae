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

/// The department token of a source.
fn department_token(source: &str) -> &'static str {
    canbao_tests::TEST_TOKENS.iter().find(|(_, role, scope)| *role == "department" && *scope == source).map(|t| t.0).unwrap()
}

fn upload_file(app: &TestApp, source: &str, name: &str, bytes: &[u8]) -> Reply {
    let token = department_token(source);
    app.call("POST", &format!("/api/v1/intake/{source}/files"), Some(token), &[("x-file-name", name)], Some(bytes))
}

fn db_count(app: &TestApp, sql: &str) -> i64 {
    use canbao::storage::Sql;
    let db = canbao::storage::native::NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap();
    db.execute(sql, &[]).unwrap().scalar::<i64>().unwrap().unwrap()
}

fn run_intake(app: &TestApp) {
    while app.call("POST", "/api/v1/intake/run", Some("admin-token"), &[], None).json()["more"] == true {}
}

fn assert_failed_for(r: &Reply, code: &str, variable: &str, limit: &str) -> String {
    assert_eq!(r.status, 202, "{}", r.text());
    let body = r.json();
    assert_eq!((body["status"].as_str(), body["error_code"].as_str()), (Some("failed"), Some(code)), "{body}");
    let message = body["error"].as_str().unwrap();
    assert!(message.contains(variable) && message.contains(limit), "{body}");
    body["batch_id"].as_str().unwrap().to_string()
}

#[test]
fn a_department_file_over_a_table_limit_fails_its_batch_and_applies_nothing() {
    let city = canbao_gen::generate(&canbao_gen::CityConfig { people: 150, seed: 7, error_rate: 0.0, ..Default::default() }).unwrap();
    let file = &city.files[0];
    let source = file.source.code();
    let csv = canbao::intake::decode::normalise(&file.csv_utf8, None, &|_| false).unwrap().csv;
    let unlimited = canbao::intake::decode::TableLimits { max_rows: u64::MAX, max_columns: usize::MAX, max_field_bytes: usize::MAX };
    let rows = canbao::intake::decode::scan(&csv, &unlimited).unwrap().rows;
    let below = (rows - 1).to_string();
    let mut app = TestApp::start_with(&[("intake_max_rows", &below), ("intake_max_columns", "30"), ("intake_max_field_bytes", "300")]);

    // One row over: the CSV and the same table as a workbook fail at upload, naming the limit.
    let id = assert_failed_for(&upload_file(&app, source, "ps.csv", &file.csv_utf8), "too_many_rows", "intake_max_rows", &below);
    let report = app.get_as(department_token(source), &format!("/api/v1/intake/batches/{id}"));
    assert_eq!(report.status, 200);
    let report = report.json();
    assert_eq!((report["status"].as_str(), report["error_code"].as_str()), (Some("failed"), Some("too_many_rows")), "{report}");
    assert_failed_for(&upload_file(&app, source, "ps.xlsx", &file.xlsx), "too_many_rows", "intake_max_rows", &below);

    // A line of 31 fields, and a field of 301 bytes (an address of 101 Chinese characters).
    let text = String::from_utf8(csv.clone()).unwrap();
    let mut lines: Vec<String> = text.lines().take(4).map(String::from).collect();
    let wide = format!("{}{}", lines[2], ",".repeat(31 - lines[2].split(',').count()));
    let long = format!("{},x{}", lines[3], "街".repeat(100));
    lines[2] = wide;
    let r = upload_file(&app, source, "wide.csv", lines[..3].join("\n").as_bytes());
    let id_wide = assert_failed_for(&r, "too_many_columns", "intake_max_columns", "30");
    assert!(r.json()["error"].as_str().unwrap().contains("第 3 行"), "{}", r.text());
    lines[3] = long;
    let r = upload_file(&app, source, "long.csv", [lines[0].as_str(), lines[1].as_str(), lines[3].as_str()].join("\n").as_bytes());
    assert_failed_for(&r, "field_too_long", "intake_max_field_bytes", "300");
    assert!(r.json()["error"].as_str().unwrap().contains("301"), "{}", r.text());

    // Nothing of them is stored or applied, however often intake runs.
    run_intake(&app);
    assert_eq!(db_count(&app, "SELECT COUNT(*) FROM persons"), 0);
    assert_eq!(db_count(&app, "SELECT COUNT(*) FROM batch_parts"), 0);
    assert_eq!(db_count(&app, "SELECT COUNT(*) FROM batches WHERE status = 'failed'"), 4);
    // Uploaded again unchanged, a refused file is checked again: the same batch, failed again.
    let again = upload_file(&app, source, "wide.csv", lines[..3].join("\n").as_bytes());
    assert_eq!(assert_failed_for(&again, "too_many_columns", "intake_max_columns", "30"), id_wide);
    assert_eq!(db_count(&app, "SELECT COUNT(*) FROM batches"), 4);

    // With the row limit raised to the file's rows, the same bytes are checked again and queued
    // under the same batch id, then processed.
    app.set_var("intake_max_rows", &rows.to_string());
    app.restart();
    let r = upload_file(&app, source, "ps.csv", &file.csv_utf8);
    assert_eq!(r.status, 202, "{}", r.text());
    assert_eq!((r.json()["batch_id"].as_str(), r.json()["status"].as_str()), (Some(id.as_str()), Some("queued")));
    run_intake(&app);
    let report = app.get_as(department_token(source), &format!("/api/v1/intake/batches/{id}")).json();
    assert_eq!((report["status"].as_str(), report["rows_total"].as_u64()), (Some("done"), Some(rows)), "{report}");
    assert!(report.get("error_code").is_none(), "{report}");
    assert!(db_count(&app, "SELECT COUNT(*) FROM persons") > 0);
}

/// Writes a request head to the app over a raw connection (so that the test decides when, and
/// whether, the body follows).
fn raw_request(app: &TestApp, head: &str) -> std::net::TcpStream {
    use std::io::Write;
    let addr = app.url().trim_start_matches("http://").to_string();
    let mut conn = std::net::TcpStream::connect(&addr).unwrap();
    conn.set_read_timeout(Some(std::time::Duration::from_secs(20))).unwrap();
    conn.write_all(head.as_bytes()).unwrap();
    conn
}

/// Reads the status line and the JSON body of a reply that closes or declares its length.
fn read_reply(conn: &mut std::net::TcpStream) -> (u16, serde_json::Value) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = match conn.read(&mut buf) {
            Ok(n) => n,
            Err(e) if !got.is_empty() => {
                eprintln!("connection ended with {e}");
                0
            }
            Err(e) => panic!("no reply: {e}"),
        };
        got.extend_from_slice(&buf[..n]);
        let text = String::from_utf8_lossy(&got).to_string();
        if let Some((head, body)) = text.split_once("\r\n\r\n") {
            let head = head.to_ascii_lowercase();
            let length = head.lines().find_map(|l| l.strip_prefix("content-length:").map(|v| v.trim().parse::<usize>().unwrap()));
            let chunked = head.contains("transfer-encoding: chunked");
            let whole = match length {
                Some(l) => (body.len() >= l).then(|| body[..l].to_string()),
                None if chunked => body.ends_with("0\r\n\r\n").then(|| dechunk(body)),
                None => (n == 0).then(|| body.to_string()),
            };
            if let Some(body) = whole {
                let status = head.split(' ').nth(1).unwrap().parse().unwrap();
                return (status, serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}")));
            }
        }
        assert!(n > 0, "the connection closed before a whole reply: {text}");
    }
}

/// The data of a chunked body.
fn dechunk(mut body: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = body.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        body = &rest[size + 2..];
    }
    out
}

#[test]
fn a_body_announced_over_the_limit_is_refused_before_it_is_sent() {
    let app = TestApp::start_with(&[("intake_max_upload_bytes", "4096")]);
    // 300 MB announced, not one byte of it sent: the 413 must come anyway, and at once.
    for (path, token, limit) in [("/api/v1/intake/hrss/files", "dept-hrss", 4096u64), ("/api/v1/registrations", "admin-token", 65_536)] {
        let started = std::time::Instant::now();
        let head = format!(
            "POST {path} HTTP/1.1\r\nhost: test\r\nauthorization: Bearer {token}\r\ncontent-type: text/csv\r\ncontent-length: 300000000\r\n\r\n"
        );
        let mut conn = raw_request(&app, &head);
        let (status, body) = read_reply(&mut conn);
        assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{path}: {body}");
        assert!(body["error"]["message"].as_str().unwrap().contains(&limit.to_string()), "{body}");
        assert!(started.elapsed() < std::time::Duration::from_secs(3), "{path}: {:?}", started.elapsed());
    }
}

#[test]
fn a_chunked_body_is_cut_off_at_the_limit_while_it_is_read() {
    use std::io::{Read, Write};
    let app = TestApp::start_with(&[("intake_max_upload_bytes", "65536")]);
    let head = "POST /api/v1/intake/hrss/files HTTP/1.1\r\nhost: test\r\nauthorization: Bearer dept-hrss\r\ncontent-type: text/csv\r\ntransfer-encoding: chunked\r\n\r\n";
    let mut conn = raw_request(&app, head);
    // Up to 300 MB in 64 KB chunks, watching for the reply between chunks.
    let chunk = format!("{:x}\r\n{}\r\n", 65_536, "a".repeat(65_536));
    let mut sent = 0u64;
    let mut peek = [0u8; 1];
    conn.set_nonblocking(true).unwrap();
    while sent < 300_000_000 {
        if matches!(conn.peek(&mut peek), Ok(n) if n > 0) {
            break;
        }
        match conn.write_all(chunk.as_bytes()) {
            Ok(()) => sent += 65_536,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => std::thread::sleep(std::time::Duration::from_millis(5)),
            Err(_) => break,
        }
    }
    conn.set_nonblocking(false).unwrap();
    let (status, body) = read_reply(&mut conn);
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
    // The server stopped reading soon after the limit: what was sent is the limit, what it
    // reads after its answer (16 MiB at most) and the sockets' buffers, not the 300 MB.
    assert!(sent < 40_000_000, "{sent} bytes went out before the 413");
    let _ = conn.read(&mut peek);
}
