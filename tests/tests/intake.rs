//! Department file intake end to end: the intake component in the host, fed the synthetic city's
//! files; each batch's report must equal the generator's expected outcome exactly, in every
//! encoding, and bad uploads must get their documented errors and change nothing.

use canbao::storage::native::NativeSql;
use canbao::storage::Sql;
use canbao_gen::{City, CityConfig, DepartmentFile, FileExpected};
use canbao_tests::{TestApp, TEST_TOKENS};
use serde_json::Value;

/// The department token of a source.
fn token_of(source: &str) -> &'static str {
    TEST_TOKENS.iter().find(|(_, role, scope)| *role == "department" && *scope == source).map(|t| t.0).expect("token")
}

fn small_city(people: usize, seed: u64) -> City {
    canbao_gen::generate(&CityConfig { people, seed, error_rate: 0.01, ..CityConfig::default() }).expect("city")
}

/// Loads the city's region file. The generator lists counties outside the city without their
/// city, which the region loader refuses; their cities are added first.
fn load_regions(app: &TestApp, city: &City) {
    let mut csv = String::from("code,name,parent_code\n");
    let mut cities = std::collections::BTreeSet::new();
    for line in city.regions_csv.lines().skip(1) {
        let code = line.split(',').next().unwrap_or("");
        if line.ends_with(',') && code.len() == 6 && !code.ends_with("00") && !code.starts_with("5104") {
            cities.insert(format!("{}00", &code[..4]));
        }
    }
    for c in &cities {
        csv.push_str(&format!("{c},外市{c},\n"));
    }
    for line in city.regions_csv.lines().skip(1) {
        csv.push_str(line);
        csv.push('\n');
    }
    let db = NativeSql::open(app.state_dir().join("sqlite_db.db")).expect("db");
    let report = canbao::region_store::load_csv(&db, csv.as_bytes(), chrono::Utc::now()).expect("db").expect("regions");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
}

fn upload(app: &TestApp, source: &str, name: &str, bytes: &[u8]) -> (u16, Value) {
    let r = app.call(
        "POST",
        &format!("/api/v1/intake/{source}/files"),
        Some(token_of(source)),
        &[("x-file-name", name), ("content-type", "application/octet-stream")],
        Some(bytes),
    );
    let body = serde_json::from_slice(&r.body).unwrap_or(Value::Null);
    (r.status, body)
}

/// Calls `run` until no work is left; returns the number of calls.
fn run_until_idle(app: &TestApp) -> usize {
    for calls in 1..10_000 {
        let r = app.call("POST", "/api/v1/intake/run", Some("admin-token"), &[], None);
        assert_eq!(r.status, 200, "{}", r.text());
        if !r.json()["more"].as_bool().unwrap() {
            return calls;
        }
    }
    panic!("intake never finished");
}

fn report(app: &TestApp, batch: &str) -> Value {
    let r = app.get_as("admin-token", &format!("/api/v1/intake/batches/{batch}"));
    assert_eq!(r.status, 200, "{}", r.text());
    r.json()
}

/// The report fields the generator predicts, side by side.
fn assert_matches(report: &Value, fx: &FileExpected, form: &str) {
    let got = |k: &str| report[k].as_u64().unwrap_or(u64::MAX);
    let pairs = [
        ("rows_total", fx.rows_total),
        ("rows_processed", fx.rows_total),
        ("accepted", fx.accepted),
        ("rejected", fx.rejected),
        ("corrections", fx.corrections_total),
        ("conflicts", fx.conflicts),
        ("duplicates_in_file", fx.duplicates_in_file),
        ("new_persons", fx.new_persons),
        ("updated_persons", fx.updated_persons),
    ];
    for (k, want) in pairs {
        assert_eq!(got(k), want, "{} ({form}): {k}; report {report}", fx.name);
    }
    assert_eq!(report["status"], "done", "{} ({form})", fx.name);
    let by_reason: std::collections::BTreeMap<String, u64> = serde_json::from_value(report["rejected_by_reason"].clone()).unwrap();
    assert_eq!(by_reason, fx.rejected_by_reason, "{} ({form}) rejected by reason", fx.name);
    let by_kind: std::collections::BTreeMap<String, u64> = serde_json::from_value(report["corrections_by_kind"].clone()).unwrap();
    assert_eq!(by_kind, fx.corrections, "{} ({form}) corrections by kind", fx.name);
    assert_eq!(got("new_units") + got("updated_units"), fx.new_units + fx.updated_units, "{} ({form}) units", fx.name);
}

/// Loads every file of a city in load order in one encoding and checks each report.
fn load_city(app: &TestApp, city: &City, pick: fn(&DepartmentFile) -> &[u8], form: &str) {
    for (file, fx) in city.files.iter().zip(&city.expected.files) {
        let (status, body) = upload(app, &fx.source, &fx.name, pick(file));
        assert_eq!(status, 202, "{}: {body}", fx.name);
        run_until_idle(app);
        assert_matches(&report(app, body["batch_id"].as_str().unwrap()), fx, form);
    }
}

fn person_count(app: &TestApp) -> i64 {
    let db = NativeSql::open(app.state_dir().join("sqlite_db.db")).expect("db");
    db.execute("SELECT COUNT(*) FROM persons", &[]).unwrap().scalar::<i64>().unwrap().unwrap()
}

#[test]
fn generated_city_files_give_the_expected_batch_reports_in_every_encoding() {
    let city = small_city(1500, 11);
    let forms: [(&str, fn(&DepartmentFile) -> &[u8]); 3] =
        [("csv", |f| &f.csv_utf8), ("gb18030", |f| &f.csv_gb18030), ("xlsx", |f| &f.xlsx)];
    for (form, pick) in forms {
        let app = TestApp::start();
        load_regions(&app, &city);
        load_city(&app, &city, pick, form);
        assert_eq!(person_count(&app) as u64, city.expected.persons_in_database, "{form}: persons");
    }
}

#[test]
fn the_same_bytes_again_return_the_first_batch_and_errors_come_as_csv() {
    let city = small_city(400, 3);
    let app = TestApp::start();
    load_regions(&app, &city);
    let (file, fx) = (&city.files[0], &city.expected.files[0]);
    let (status, first) = upload(&app, &fx.source, &fx.name, &file.csv_utf8);
    assert_eq!(status, 202);
    let (status, again) = upload(&app, &fx.source, &fx.name, &file.csv_utf8);
    assert_eq!((status, &again["batch_id"]), (200, &first["batch_id"]));
    run_until_idle(&app);
    let id = first["batch_id"].as_str().unwrap();
    let errors = app.get_as(token_of(&fx.source), &format!("/api/v1/intake/batches/{id}/errors"));
    assert_eq!(errors.status, 200);
    assert!(errors.body.starts_with(b"\xEF\xBB\xBFline,column,reason,message"));
    assert_eq!(errors.text().lines().count() as u64, 1 + fx.rejected);
    // Another department may neither upload this source nor read its reports.
    let other = if fx.source == "hrss" { "dept-health" } else { "dept-hrss" };
    assert_eq!(app.get_as(other, &format!("/api/v1/intake/batches/{id}")).status, 403);
    let r = app.call("POST", &format!("/api/v1/intake/{}/files", fx.source), Some(other), &[], Some(b"a,b\n"));
    assert_eq!(r.status, 403);
    assert_eq!(app.call("POST", "/api/v1/intake/hrss/files", None, &[], Some(b"a,b\n")).status, 401);
}

#[test]
fn bad_uploads_get_their_documented_errors_and_change_nothing() {
    let city = small_city(300, 5);
    let app = TestApp::start_with(&[("intake_max_upload_bytes", "200000")]);
    load_regions(&app, &city);
    let (file, fx) = (&city.files[0], &city.expected.files[0]);
    // A header without the ID column: the batch fails at once, naming the column.
    let text = String::from_utf8(file.csv_utf8.clone()).unwrap();
    let id_header = fx.header.iter().find(|h| canbao::intake::layouts::column_named(h) == Some(canbao::intake::layouts::Column::IdNumber)).unwrap();
    let broken = text.replacen(id_header.as_str(), "备注", 1);
    let (status, body) = upload(&app, &fx.source, "missing.csv", broken.as_bytes());
    assert_eq!((status, body["status"].as_str()), (202, Some("failed")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("公民身份号码"), "{body}");
    let (status, body) = upload(&app, &fx.source, "empty.csv", b"");
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("empty_file")));
    let (status, _) = upload(&app, &fx.source, "scan.pdf", b"%PDF-1.7 binary");
    assert_eq!(status, 415);
    let (status, body) = upload(&app, &fx.source, "cut.xlsx", &file.xlsx[..file.xlsx.len() / 2]);
    assert_eq!((status, body["error"]["code"].as_str()), (400, Some("unreadable_xlsx")));
    let big = vec![b'a'; 200_001];
    let (status, body) = upload(&app, &fx.source, "big.csv", &big);
    assert_eq!((status, body["error"]["code"].as_str()), (413, Some("too_large")));
    run_until_idle(&app);
    assert_eq!(person_count(&app), 0);
}

#[test]
fn two_concurrent_runs_process_each_row_once() {
    let city = small_city(3000, 9);
    let app = TestApp::start_with(&[("intake_time_budget_ms", "300")]);
    load_regions(&app, &city);
    let (file, fx) = (&city.files[0], &city.expected.files[0]);
    let (_, body) = upload(&app, &fx.source, &fx.name, &file.csv_utf8);
    std::thread::scope(|s| {
        for _ in 0..2 {
            s.spawn(|| run_until_idle(&app));
        }
    });
    run_until_idle(&app);
    let r = report(&app, body["batch_id"].as_str().unwrap());
    assert_matches(&r, fx, "csv, two runners");
}

#[test]
fn a_file_over_the_limit_goes_in_parts_verified_by_its_sha256() {
    let city = small_city(1200, 13);
    let (file, fx) = (&city.files[0], &city.expected.files[0]);
    let limit = file.csv_utf8.len() / 2;
    let app = TestApp::start_with(&[("intake_max_upload_bytes", &limit.to_string())]);
    load_regions(&app, &city);
    let token = token_of(&fx.source);
    assert_eq!(upload(&app, &fx.source, &fx.name, &file.csv_utf8).0, 413);
    let begin = app.call("POST", &format!("/api/v1/intake/{}/files?parts=3", fx.source), Some(token), &[("x-file-name", &fx.name)], None);
    assert_eq!(begin.status, 201, "{}", begin.text());
    let id = begin.json()["batch_id"].as_str().unwrap().to_string();
    let chunks: Vec<&[u8]> = file.csv_utf8.chunks(file.csv_utf8.len().div_ceil(3)).collect();
    for (n, chunk) in chunks.iter().enumerate().rev() {
        let r = app.call("PUT", &format!("/api/v1/intake/batches/{id}/parts/{}", n + 1), Some(token), &[], Some(chunk));
        assert_eq!(r.status, 200, "{}", r.text());
        let complete = app.send_json("POST", &format!("/api/v1/intake/batches/{id}/complete"), Some(token), &serde_json::json!({"sha256": "0".repeat(64)}));
        assert_eq!(complete.status, 409, "{}", complete.text());
        let code = if n == 0 { "sha256_mismatch" } else { "parts_missing" };
        assert_eq!(complete.json()["error"]["code"], code);
    }
    let sha = canbao::intake::sha256_hex(&file.csv_utf8);
    let complete = app.send_json("POST", &format!("/api/v1/intake/batches/{id}/complete"), Some(token), &serde_json::json!({"sha256": sha}));
    assert_eq!(complete.status, 202, "{}", complete.text());
    assert_eq!(complete.json()["batch_id"], id.as_str());
    run_until_idle(&app);
    assert_matches(&report(&app, &id), fx, "csv in parts");
}
