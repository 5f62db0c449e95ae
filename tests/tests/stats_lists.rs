//! The anomaly lists, the door-to-door list with its CSV and XLSX exports, and the trend, through
//! the host: after loading a generated city through the API every anomaly total and every
//! county's list length equals the generator's expected outcome; who may read which region's
//! lists; the lists and counts change as soon as a registration does (no stale cache); the cron
//! tick stores one snapshot a day that the trend returns.

use canbao_tests::{load_generated_city, TestApp};
use serde_json::{json, Value};
use std::io::Cursor;

/// Loads a generated city through the API (regions, every department file, the intake run, the
/// registrations) and returns the expected outcome as JSON.
fn load_city(app: &TestApp, people: usize, seed: u64) -> Value {
    let city = canbao_gen::generate(&canbao_gen::CityConfig { people, seed, ..Default::default() }).unwrap();
    load_generated_city(app, &city);
    serde_json::to_value(&city.expected).unwrap()
}

fn counts(app: &TestApp, token: &str, query: &str) -> (Value, Option<String>) {
    let r = app.get_as(token, &format!("/api/v1/stats/anomalies?{query}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let cache = r.header("x-canbao-cache").map(str::to_string);
    let body = r.json();
    let mut by_type = serde_json::Map::new();
    for c in body["counts"].as_array().unwrap() {
        by_type.insert(c["type"].as_str().unwrap().to_string(), c["total"].clone());
    }
    (Value::Object(by_type), cache)
}

/// Every page of a list, checking the paging adds up to the total.
fn all_pages(app: &TestApp, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    let mut page = 1;
    loop {
        let r = app.get_as("admin-token", &format!("/api/v1/stats/anomalies?{query}&page={page}&page_size=200"));
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        let got = body["items"].as_array().unwrap().clone();
        let done = got.is_empty() || page >= body["pages"].as_u64().unwrap();
        items.extend(got);
        if done {
            assert_eq!(items.len() as u64, body["total"].as_u64().unwrap(), "{query}: pages add up to the total");
            return items;
        }
        page += 1;
    }
}

/// Every page of a door-to-door list as JSON (200 rows a page), checking they add up to the total.
fn worklist_pages(app: &TestApp, token: &str, query: &str) -> Vec<Value> {
    let mut items = Vec::new();
    for page in 1.. {
        let r = app.get_as(token, &format!("/api/v1/stats/worklist?{query}&page={page}&page_size=200"));
        assert_eq!(r.status, 200, "{}", r.text());
        let body = r.json();
        let got = body["items"].as_array().unwrap().clone();
        assert!(got.len() <= 200);
        let done = got.is_empty() || page >= body["pages"].as_u64().unwrap();
        items.extend(got);
        if done {
            assert_eq!(items.len() as u64, body["total"].as_u64().unwrap(), "{query}: pages add up to the total");
            break;
        }
    }
    items
}

fn expected_county<'a>(expected: &'a Value, by: &str, code: &str) -> &'a Value {
    expected["figures"][by].as_array().unwrap().iter().find(|f| f["region"] == code).unwrap()
}

#[test]
fn lists_after_loading_a_generated_city_equal_the_generators_expected_outcome() {
    let app = TestApp::start_with(&[("registration_rate_limit_per_hour", "1000000")]);
    let expected = load_city(&app, 3000, 5);

    // Every anomaly total of the city.
    let (city, _) = counts(&app, "admin-token", "");
    let conflicts: u64 = expected["files"].as_array().unwrap().iter().map(|f| f["conflicts"].as_u64().unwrap()).sum::<u64>()
        + expected["registrations"]["conflicts"].as_u64().unwrap();
    let want = json!({
        "duplicate_enrollment": expected["figures"]["hukou"][0]["duplicate_enrollment"],
        "benefits_after_death": expected["figures"]["hukou"][0]["benefits_after_death"],
        "multiple_ids": expected["duplicate_candidates"].as_array().unwrap().len(),
        "conflicts": conflicts,
        "uninsured_units": expected["units"]["without_hrss_enrollment"],
    });
    assert_eq!(city, want, "city anomaly totals");
    assert!(want.as_object().unwrap().values().all(|v| v.as_u64().unwrap() > 0), "the city has every kind: {want}");

    // Each county's person lists, by both attributions, equal its expected figures.
    for by in ["hukou", "residence"] {
        for county in ["510402", "510403", "510411", "510421", "510422"] {
            let (got, _) = counts(&app, "admin-token", &format!("region={county}&by={by}"));
            let e = expected_county(&expected, by, county);
            assert_eq!(got["duplicate_enrollment"], e["duplicate_enrollment"], "{by} {county}");
            assert_eq!(got["benefits_after_death"], e["benefits_after_death"], "{by} {county}");
        }
    }

    // The lists themselves: every candidate pair once, with its rules; rows to act on.
    let pairs = all_pages(&app, "type=multiple_ids");
    let mut got: Vec<(String, String, Vec<String>)> = pairs
        .iter()
        .map(|p| {
            let rules = p["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
            (p["id_a"].as_str().unwrap().to_string(), p["id_b"].as_str().unwrap().to_string(), rules)
        })
        .collect();
    got.sort();
    let want: Vec<(String, String, Vec<String>)> = expected["duplicate_candidates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            let rules = p["rules"].as_array().unwrap().iter().map(|r| r.as_str().unwrap().to_string()).collect();
            (p["a"].as_str().unwrap().to_string(), p["b"].as_str().unwrap().to_string(), rules)
        })
        .collect();
    assert_eq!(got, want);
    for item in all_pages(&app, "type=duplicate_enrollment") {
        assert!(!item["rules"].as_array().unwrap().is_empty(), "{item}");
        assert_eq!(item["id_number"].as_str().unwrap().len(), 18, "staff get the full ID to act on");
    }
    for item in all_pages(&app, "type=benefits_after_death") {
        assert_eq!(item["person_status"], "deceased");
        assert!(item["enrollments"].as_array().unwrap().iter().any(|e| e["status"] == "active"));
    }
    let units = all_pages(&app, "type=uninsured_units");
    assert!(units.iter().all(|u| u["name"].is_string()));

    // Paging limits: a clear 400 above 200 rows a page or for an unknown type.
    let r = app.get_as("admin-token", "/api/v1/stats/anomalies?type=conflicts&page_size=201");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("invalid_parameter")));
    assert!(r.json()["error"]["message"].as_str().unwrap().contains("200"));
    assert_eq!(app.get_as("admin-token", "/api/v1/stats/anomalies?type=everything").status, 400);
    assert_eq!(app.get_as("admin-token", "/api/v1/stats/anomalies?type=conflicts&page=0").status, 400);

    // The door-to-door list of a county: its target persons less its complete ones, in walking order.
    let east = expected_county(&expected, "hukou", "510402");
    let want_rows = east["target_population"].as_u64().unwrap() - east["complete"].as_u64().unwrap();
    let list = app.get_as("staff-east", "/api/v1/stats/worklist?region=510402");
    assert_eq!(list.status, 200, "{}", list.text());
    let list = list.json();
    assert_eq!(list["total"].as_u64(), Some(want_rows));
    let unregistered = east["target_population"].as_u64().unwrap() - east["registered"].as_u64().unwrap();
    assert_eq!(list["unregistered"].as_u64(), Some(unregistered));
    assert_eq!(list["incomplete"].as_u64(), Some(want_rows - unregistered));
    // JSON comes a page at a time (50 rows unless asked), the pages adding up to the whole list.
    assert_eq!((list["page"].as_u64(), list["page_size"].as_u64()), (Some(1), Some(50)));
    assert!(want_rows > 50, "the county's list spans pages: {want_rows}");
    assert_eq!(list["items"].as_array().unwrap().len(), 50);
    let items = &worklist_pages(&app, "staff-east", "region=510402");
    assert_eq!(items[..50], list["items"].as_array().unwrap()[..]);
    let r = app.get_as("staff-east", "/api/v1/stats/worklist?region=510402&page_size=201");
    assert_eq!((r.status, r.json()["error"]["code"].as_str()), (400, Some("invalid_parameter")));
    assert_eq!(app.get_as("staff-east", "/api/v1/stats/worklist?region=510402&page=0").status, 400);
    let keys: Vec<(String, String)> =
        items.iter().map(|i| (i["community_code"].as_str().unwrap().into(), i["address"].as_str().unwrap().into())).collect();
    assert!(keys.windows(2).all(|w| w[0] <= w[1]), "sorted by community and address");
    assert!(items.iter().filter(|i| i["reason"] == "incomplete").all(|i| !i["missing_fields"].as_array().unwrap().is_empty()));

    // CSV: UTF-8 with a BOM, Chinese headers, the same rows.
    let csv = app.get_as("staff-east", "/api/v1/stats/worklist?region=510402&format=csv");
    assert_eq!(csv.status, 200);
    assert!(csv.header("content-type").unwrap().starts_with("text/csv"));
    let disposition = csv.header("content-disposition").unwrap().to_string();
    assert!(disposition.starts_with("attachment;") && disposition.contains("worklist-510402-"), "{disposition}");
    let bytes = csv.body.clone();
    assert_eq!(&bytes[..3], b"\xEF\xBB\xBF", "UTF-8 BOM");
    let text = std::str::from_utf8(&bytes[3..]).unwrap();
    let mut reader = csv_reader(text);
    let headers: Vec<String> = reader.remove(0);
    assert_eq!(headers, ["社区代码", "社区名称", "地址", "姓名", "公民身份号码", "联系电话", "情况", "缺少项目"]);
    assert_eq!(reader.len() as u64, want_rows);
    assert_eq!(reader[0][4], items[0]["id_number"].as_str().unwrap());
    assert!(reader.iter().all(|r| r[6] == "未登记" || r[6] == "信息不全"));
    assert!(reader.iter().any(|r| r[7].contains("联系电话") || r[7].contains("居住地址")), "missing fields in Chinese");

    // XLSX: the same headers and rows, IDs kept as text.
    let xlsx = app.get_as("staff-east", "/api/v1/stats/worklist?region=510402&format=xlsx");
    assert_eq!(xlsx.status, 200);
    assert_eq!(xlsx.header("content-type"), Some("application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"));
    assert!(xlsx.header("content-disposition").unwrap().contains(".xlsx"));
    use calamine::{Reader, Xlsx};
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(xlsx.body.clone())).unwrap();
    assert_eq!(book.sheet_names(), ["入户调查名单"]);
    let range = book.worksheet_range("入户调查名单").unwrap();
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0], headers);
    assert_eq!(rows.len() as u64, want_rows + 1);
    assert_eq!(rows[1..], reader[..], "the XLSX holds what the CSV holds");

    // Collectors: their own region, IDs and phones masked; another region is 403.
    let mine = app.get_as("collector-east", "/api/v1/stats/worklist");
    assert_eq!(mine.status, 200, "{}", mine.text());
    let mine = mine.json();
    assert_eq!(mine["region"]["code"], "510402", "a collector's default region is their own");
    assert_eq!(mine["total"].as_u64(), Some(want_rows));
    let masked = worklist_pages(&app, "collector-east", "");
    assert_eq!(masked.len() as u64, want_rows);
    assert!(masked.iter().all(|i| i["id_number"].as_str().unwrap().contains("********")));
    let other = app.get_as("collector-east", "/api/v1/stats/worklist?region=510403&format=csv");
    assert_eq!((other.status, other.json()["error"]["code"].as_str()), (403, Some("outside_region")));
    assert_eq!(app.get_as("staff-west", "/api/v1/stats/worklist?region=510402").status, 403);
    assert_eq!(app.get("/api/v1/stats/worklist?region=510402").status, 401);
    assert_eq!(app.get_as("collector-east", "/api/v1/stats/anomalies").status, 403, "anomaly lists are for staff");
    assert_eq!(app.get_as("staff-east", "/api/v1/stats/anomalies?region=510403").status, 403);
    assert_eq!(app.get_as("dept-hrss", "/api/v1/stats/worklist").status, 403);

    // A further registration: the same requests answer differently at once.
    let (before, _) = counts(&app, "staff-east", "");
    let (again, cache) = counts(&app, "staff-east", "");
    assert_eq!((again, cache.as_deref()), (before.clone(), Some("hit")));
    let overview_before = app.get("/api/v1/stats/overview?region=510402").json();
    let walkable = |i: &&Value| {
        i["reason"] == "unregistered"
            && i["name"].is_string()
            && i["missing_fields"].as_array().unwrap().iter().all(|f| {
                ["residence_address", "phone", "employment_status", "insurance"].contains(&f.as_str().unwrap())
            })
    };
    let mut visits = items.iter().filter(walkable);
    let (first, second) = (visits.next().expect("an unregistered person"), visits.next().expect("two"));
    let form = |item: &Value, name: &str| {
        json!({
            "id_number": item["id_number"], "name": name, "residence_address": "四川省攀枝花市东区测试路 8 号",
            "phone": "13900001111", "employment_status": "farmer", "uninsured_reason": "unwilling",
        })
    };
    let r = app.send_json("POST", "/api/v1/registrations", Some("collector-east"), &form(first, first["name"].as_str().unwrap()));
    assert_eq!(r.status, 201, "{}", r.text());
    // A grid worker writes another name than the household registry: one conflict more.
    let r = app.send_json("POST", "/api/v1/registrations", Some("collector-east"), &form(second, "测试不同名"));
    assert_eq!(r.status, 201, "{}", r.text());

    let overview_after = app.get("/api/v1/stats/overview?region=510402");
    assert_eq!(overview_after.header("x-canbao-cache"), Some("miss"));
    let overview_after = overview_after.json();
    let reg = |o: &Value| o["figures"]["registered"].as_u64().unwrap();
    assert_eq!(reg(&overview_after), reg(&overview_before) + 2);
    let (after, cache) = counts(&app, "staff-east", "");
    assert_eq!(cache.as_deref(), Some("miss"));
    assert_eq!(after["conflicts"].as_u64(), before["conflicts"].as_u64().map(|n| n + 1), "{before} → {after}");
    let list_after = worklist_pages(&app, "staff-east", "region=510402");
    assert_eq!(list_after.len() as u64, want_rows - 2, "both are registered and complete now");
    assert!(!list_after.iter().any(|i| i["id_number"] == first["id_number"]));
    let conflicts = all_pages(&app, "type=conflicts&region=510402");
    let opened = conflicts.iter().find(|c| c["id_number"] == second["id_number"]).expect("the new conflict is listed");
    assert_eq!(opened["field"], "name");
    assert!(opened["candidates"].to_string().contains("测试不同名"));
}

/// Rows of a CSV text (quoted fields with commas are what the exports write).
fn csv_reader(text: &str) -> Vec<Vec<String>> {
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, quoted) {
            ('"', true) if chars.peek() == Some(&'"') => {
                field.push('"');
                chars.next();
            }
            ('"', _) => quoted = !quoted,
            (',', false) => row.push(std::mem::take(&mut field)),
            ('\n', false) => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            ('\r', false) => {}
            (c, _) => field.push(c),
        }
    }
    if !field.is_empty() || !row.is_empty() {
        row.push(field);
        rows.push(row);
    }
    rows
}

/// The cron tick keeps one snapshot of the city and county figures a day, brought up to date when
/// the data has changed; the trend returns it, public for the city and counties like the overview.
#[test]
fn the_cron_tick_stores_a_daily_snapshot_that_the_trend_returns() {
    let app = TestApp::start_with(&[("registration_rate_limit_per_hour", "1000000")]);
    load_city(&app, 600, 11);
    let version = app.get("/api/v1/stats/overview").json()["data_version"].clone();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(150);
    let points = loop {
        let r = app.get("/api/v1/stats/trend");
        assert_eq!(r.status, 200, "{}", r.text());
        let points = r.json()["points"].as_array().unwrap().clone();
        if points.first().is_some_and(|p| p["data_version"] == version) {
            break points;
        }
        assert!(std::time::Instant::now() < deadline, "no snapshot of the loaded data after a cron tick: {points:?}");
        std::thread::sleep(std::time::Duration::from_secs(2));
    };
    assert_eq!(points.len(), 1, "one point a day");
    // The snapshot holds what the overview says of the same data.
    let overview = app.get("/api/v1/stats/overview").json();
    assert_eq!(points[0]["figures"], overview["figures"]);
    let county = app.get("/api/v1/stats/trend?region=510421&by=residence").json();
    let overview = app.get("/api/v1/stats/overview?region=510421&by=residence").json();
    assert_eq!(county["points"][0]["figures"], overview["figures"]);
    assert_eq!(county["targets"]["registration_rate"], 0.9);

    // A tick with nothing new leaves the day's snapshot as it was.
    let ticks = |app: &TestApp| {
        use canbao::storage::Sql;
        let db = canbao::storage::native::NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap();
        db.execute("SELECT COUNT(*) FROM cron_ticks", &[]).unwrap().scalar::<i64>().unwrap().unwrap()
    };
    let seen = ticks(&app);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(75);
    while ticks(&app) == seen {
        assert!(std::time::Instant::now() < deadline, "no further cron tick");
        std::thread::sleep(std::time::Duration::from_secs(2));
    }
    let after = app.get("/api/v1/stats/trend").json()["points"].clone();
    assert_eq!(after.as_array().unwrap().len(), 1);
    assert_eq!(after[0]["taken_at"], points[0]["taken_at"], "unchanged data: no new snapshot");

    assert_eq!(app.get("/api/v1/stats/trend?region=510402001").status, 401, "townships need a token");
    assert_eq!(app.get_as("staff-east", "/api/v1/stats/trend?region=510402001").status, 400, "no daily series below counties");
}
