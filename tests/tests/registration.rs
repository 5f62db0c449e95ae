//! Registration over HTTP through the real component in the host: every status of the contract,
//! the validation codes, idempotency, rate limiting, region scoping, staff corrections, conflict
//! resolution, regions, and that a resident's form cannot overwrite the household registry.

use canbao::codes::Source;
use canbao::ids::CitizenId;
use canbao::merge::{merge_by_precedence, Observation};
use canbao::person::{Origin, Provenance};
use canbao::storage::native::NativeSql;
use canbao::storage::{Sql, SqlExt};
use canbao::store;
use canbao_tests::TestApp;
use chrono::NaiveDate;
use serde_json::{json, Value};

const REGISTRATIONS: &str = "/api/v1/registrations";

fn id(county: &str, seq: u16) -> CitizenId {
    CitizenId::from_parts(county, NaiveDate::from_ymd_opt(1984, 7, 9).unwrap(), seq)
}

/// A complete form for a person living in the demo township 510402001 (东区).
fn form(id: &CitizenId) -> Value {
    json!({
        "id_number": id.as_str(),
        "name": "李秀英",
        "gender": id.gender().code(),
        "ethnicity": "01",
        "birth_date": "1984-07-09",
        "hukou_address": "四川省攀枝花市东区示例街道一新华街12号",
        "hukou_region": "510402001",
        "residence_address": "东区示例街道一新华街12号3单元",
        "residence_region": "510402001001",
        "phone": "13812345678",
        "employment_status": "flexible",
        "insurance": [{"scheme": "390", "status": "active", "since": "2019-01-01", "region": "510402"}]
    })
}

fn post(app: &TestApp, token: Option<&str>, key: Option<&str>, body: &Value) -> canbao_tests::Reply {
    let bytes = serde_json::to_vec(body).unwrap();
    let mut headers = vec![("content-type", "application/json")];
    if let Some(k) = key {
        headers.push(("idempotency-key", k));
    }
    app.call("POST", REGISTRATIONS, token, &headers, Some(&bytes))
}

fn db(app: &TestApp) -> NativeSql {
    NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap()
}

fn count(app: &TestApp, sql: &str) -> i64 {
    db(app).execute(sql, &[]).unwrap().scalar::<i64>().unwrap().unwrap()
}

fn error_codes(reply: &canbao_tests::Reply) -> Vec<(String, String)> {
    let body = reply.json();
    body["error"]["fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["field"].as_str().unwrap().to_owned(), f["code"].as_str().unwrap().to_owned()))
        .collect()
}

#[test]
fn a_public_form_is_registered_with_a_masked_receipt_and_one_audit_row() {
    let app = TestApp::start();
    let person = id("510402", 101);
    let before = count(&app, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'");
    let reply = post(&app, None, None, &form(&person));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let body = reply.json();
    assert!(body["receipt_id"].as_str().unwrap().starts_with('R'));
    assert_eq!(body["person"]["name_masked"], "李**");
    assert_eq!(body["person"]["id_masked"], format!("510402********{}", &person.as_str()[14..]));
    assert_eq!(body["person"]["phone_masked"], "138****5678");
    assert_eq!(body["complete"], true, "{body}");
    assert_eq!(body["missing_fields"], json!([]));
    assert!(!reply.text().contains(person.as_str()), "the receipt never shows the whole ID");

    let db = db(&app);
    let row = db.query_one("SELECT source, registered, via_form FROM registrations JOIN persons USING (id_number)", &[]).unwrap().unwrap();
    assert_eq!(row.get::<String>("source").unwrap(), "self");
    assert!(row.get::<bool>("registered").unwrap());
    let audit = db.execute("SELECT actor, action, target_person FROM audit_log", &[]).unwrap();
    assert_eq!(audit.len(), 1);
    assert_eq!(audit.first().unwrap().get::<String>("action").unwrap(), "registration.submit");
    assert_eq!(audit.first().unwrap().get::<String>("actor").unwrap(), "public");
    let after = count(&app, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'");
    assert_eq!(after, before + 1);

    let partial = post(&app, None, None, &json!({"id_number": id("510402", 103).as_str(), "name": "王五"}));
    assert_eq!(partial.status, 201);
    let missing = partial.json()["missing_fields"].clone();
    assert_eq!(partial.json()["complete"], false);
    assert_eq!(missing, json!(["ethnicity", "hukou_region", "residence_address", "phone", "employment_status", "insurance"]));
}

#[test]
fn every_validation_code_is_reported_at_once() {
    let app = TestApp::start();
    let person = id("510402", 105);
    let wrong_check = {
        let s = person.as_str();
        format!("{}{}", &s[..17], if s.ends_with('0') { '1' } else { '0' })
    };
    let cases: Vec<(Value, Vec<(&str, &str)>)> = vec![
        (json!({"id_number": wrong_check, "name": "张三"}), vec![("id_number", "checksum")]),
        (json!({"id_number": "51040219840709", "name": "张三"}), vec![("id_number", "length")]),
        (json!({"id_number": "51040219840709A05X", "name": "张三"}), vec![("id_number", "charset")]),
        (json!({"id_number": id("510402", 1).as_str().replace("19840709", "19841339"), "name": "张三"}), vec![("id_number", "checksum")]),
        (json!({"name": ""}), vec![("id_number", "required"), ("name", "required")]),
    ];
    for (body, want) in cases {
        let reply = post(&app, None, None, &body);
        assert_eq!(reply.status, 422, "{body}: {}", reply.text());
        let got = error_codes(&reply);
        let want: Vec<(String, String)> = want.iter().map(|(f, c)| (f.to_string(), c.to_string())).collect();
        assert_eq!(got, want, "{body}");
    }

    let future = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(2099, 1, 1).unwrap(), 7);
    let reply = post(&app, None, None, &json!({"id_number": future.as_str(), "name": "张三"}));
    assert_eq!(error_codes(&reply), vec![("id_number".to_string(), "birth_date".to_string())]);

    let mut bad = form(&person);
    bad["name"] = json!("李2");
    bad["gender"] = json!(if person.gender().code() == "1" { "2" } else { "1" });
    bad["ethnicity"] = json!("火星族");
    bad["birth_date"] = json!("1984-02-30");
    bad["hukou_region"] = json!("510499");
    bad["residence_region"] = json!("5104");
    bad["residence_address"] = json!("路".repeat(201));
    bad["phone"] = json!("12345");
    bad["employment_status"] = json!("astronaut");
    bad["employer_credit_code"] = json!("91510400MA6IIIIII0");
    bad["uninsured_reason"] = json!("unwilling");
    bad["willingness"] = json!("maybe");
    bad["insurance"] = json!([{"scheme": "999", "status": "active"}, {"scheme": "390", "status": "active", "since": "2099-01-01"}]);
    bad["flags"] = json!(["minimum_living"]);
    let reply = post(&app, None, None, &bad);
    assert_eq!(reply.status, 422);
    let body = reply.json();
    assert_eq!(body["error"]["code"], "validation");
    let got = error_codes(&reply);
    for want in [
        ("flags", "unknown_code"),
        ("name", "charset"),
        ("gender", "inconsistent"),
        ("ethnicity", "unknown_code"),
        ("birth_date", "date"),
        ("hukou_region", "unknown_region"),
        ("residence_address", "too_long"),
        ("residence_region", "length"),
        ("phone", "format"),
        ("employment_status", "unknown_code"),
        ("employer_credit_code", "charset"),
        ("insurance[0].scheme", "unknown_code"),
        ("insurance[1].since", "date"),
        ("uninsured_reason", "inconsistent"),
        ("willingness", "unknown_code"),
    ] {
        assert!(got.contains(&(want.0.to_string(), want.1.to_string())), "missing {want:?} in {got:?}");
    }
    for f in body["error"]["fields"].as_array().unwrap() {
        let message = f["message"].as_str().unwrap();
        assert!(message.chars().any(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "Chinese message: {message}");
    }
    assert_eq!(count(&app, "SELECT COUNT(*) FROM registrations"), 0);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log"), 0);
}

#[test]
fn malformed_requests_get_400_413_415_and_unknown_tokens_401() {
    let app = TestApp::start();
    let reply = app.call("POST", REGISTRATIONS, None, &[("content-type", "application/json")], Some(b"{\"id_number\":"));
    assert_eq!((reply.status, reply.json()["error"]["code"].as_str().unwrap()), (400, "malformed_json"));
    let reply = app.call("POST", REGISTRATIONS, None, &[("content-type", "text/plain")], Some(b"{}"));
    assert_eq!(reply.status, 415);
    let reply = app.call("POST", REGISTRATIONS, None, &[], Some(b"{}"));
    assert_eq!(reply.status, 415);
    let big = format!("{{\"name\":\"{}\"}}", "x".repeat(65 * 1024));
    let reply = app.call("POST", REGISTRATIONS, None, &[("content-type", "application/json")], Some(big.as_bytes()));
    assert_eq!(reply.status, 413);
    let reply = post(&app, Some("no-such-token"), None, &form(&id("510402", 107)));
    assert_eq!(reply.status, 401);
    let reply = post(&app, Some("dept-hrss"), None, &form(&id("510402", 107)));
    assert_eq!(reply.status, 403);
    let reply = post(&app, None, Some("has space"), &form(&id("510402", 107)));
    assert_eq!(reply.status, 400);
    assert_eq!(app.call("GET", REGISTRATIONS, None, &[], None).status, 405);
}

#[test]
fn idempotency_keys_replay_the_first_answer_and_refuse_another_body() {
    let app = TestApp::start();
    let body = form(&id("510402", 109));
    let first = post(&app, Some("collector-east"), Some("key-1"), &body);
    assert_eq!(first.status, 201, "{}", first.text());
    let again = post(&app, Some("collector-east"), Some("key-1"), &body);
    assert_eq!(again.status, 200);
    assert_eq!(again.body, first.body, "the replay carries the same body");
    // The same data serialised another way is the same request.
    let mut reordered = serde_json::Map::new();
    for (k, v) in body.as_object().unwrap().iter().rev() {
        reordered.insert(k.clone(), v.clone());
    }
    assert_eq!(post(&app, Some("collector-east"), Some("key-1"), &Value::Object(reordered)).status, 200);

    let mut other = body.clone();
    other["phone"] = json!("13900000000");
    let conflict = post(&app, Some("collector-east"), Some("key-1"), &other);
    assert_eq!(conflict.status, 409);
    assert_eq!(conflict.json()["error"]["code"], "idempotency_key_reused");
    // Keys belong to their caller: the same key from the public is a new request.
    assert_eq!(post(&app, None, Some("key-1"), &other).status, 201);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM registrations"), 2);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'registration.submit'"), 2);
}

#[test]
fn a_key_is_honoured_for_24_hours_then_free_again() {
    let app = TestApp::start();
    let first = post(&app, Some("collector-east"), Some("key-day"), &form(&id("510402", 121)));
    assert_eq!(first.status, 201, "{}", first.text());
    // A day later (the registration's time moved back 25 hours) the key answers a new body.
    db(&app)
        .exec("UPDATE registrations SET created_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-25 hours')", &[])
        .unwrap();
    let next_day = post(&app, Some("collector-east"), Some("key-day"), &form(&id("510402", 123)));
    assert_eq!(next_day.status, 201, "{}", next_day.text());
    assert_ne!(next_day.json()["receipt_id"], first.json()["receipt_id"]);
    // The key now belongs to the new registration; the old one keeps its data but not the key.
    let again = post(&app, Some("collector-east"), Some("key-day"), &form(&id("510402", 123)));
    assert_eq!((again.status, again.body.clone()), (200, next_day.body.clone()));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM registrations"), 2);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM registrations WHERE idempotency_key IS NOT NULL"), 1);
}

#[test]
fn the_receipt_can_be_read_again_at_its_location() {
    let app = TestApp::start_with(&[("lookup_rate_limit_per_minute", "2")]);
    let reply = post(&app, Some("collector-east"), None, &form(&id("510402", 125)));
    assert_eq!(reply.status, 201, "{}", reply.text());
    let location = reply.header("location").unwrap().to_owned();
    assert_eq!(location, format!("{REGISTRATIONS}/{}", reply.json()["receipt_id"].as_str().unwrap()));
    let again = app.get(&location);
    assert_eq!(again.status, 200, "{}", again.text());
    assert_eq!(again.body, reply.body, "the receipt reads as it was given");
    assert_eq!(again.json()["person"]["name_masked"], "李**");

    let unknown = app.get(&format!("{REGISTRATIONS}/R20260101ABCDEF0123"));
    assert_eq!(unknown.status, 404);
    assert_eq!(unknown.json()["error"]["code"], "receipt_not_found");
    assert_eq!(app.call("PUT", &location, None, &[], None).status, 405);
    // Receipt reads share the public lookup budget: guessing receipts is throttled.
    assert_eq!(app.get(&location).status, 429);
}

#[test]
fn public_forms_are_rate_limited_per_address_and_replays_do_not_count() {
    let app = TestApp::start_with(&[("registration_rate_limit_per_hour", "3")]);
    let body = form(&id("510402", 111));
    for n in 0..3 {
        let reply = post(&app, None, Some("same"), &body);
        assert_eq!(reply.status, if n == 0 { 201 } else { 200 });
    }
    for seq in [113, 115] {
        assert_eq!(post(&app, None, None, &form(&id("510402", seq))).status, 201);
    }
    let limited = post(&app, None, None, &form(&id("510402", 117)));
    assert_eq!(limited.status, 429);
    let retry: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=3600).contains(&retry), "{retry}");
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    // Grid workers are not limited by the public's budget.
    assert_eq!(post(&app, Some("collector-east"), None, &form(&id("510402", 119))).status, 201);
}

#[test]
fn collectors_and_staff_register_only_in_their_region_as_survey() {
    let app = TestApp::start();
    let east = form(&id("510402", 121));
    let reply = post(&app, Some("collector-east"), None, &east);
    assert_eq!(reply.status, 201, "{}", reply.text());
    let source = db(&app).query_one("SELECT source, actor FROM registrations", &[]).unwrap().unwrap();
    assert_eq!(source.get::<String>("source").unwrap(), "survey");
    assert_eq!(source.get::<String>("actor").unwrap(), "collector:collector-east");

    let mut west = form(&id("510403", 123));
    west["hukou_region"] = json!("510403001");
    west["residence_region"] = json!("510403001001");
    west["insurance"] = json!([]);
    let reply = post(&app, Some("collector-east"), None, &west);
    assert_eq!((reply.status, reply.json()["error"]["code"].as_str().unwrap()), (403, "outside_region"));
    assert_eq!(post(&app, Some("staff-west"), None, &west).status, 201);
    assert_eq!(post(&app, Some("admin-token"), None, &west).status, 201);
    // Without regions on the form, the ID's address code decides.
    let bare = json!({"id_number": id("510403", 125).as_str(), "name": "赵六"});
    assert_eq!(post(&app, Some("staff-east"), None, &bare).status, 403);
    assert_eq!(post(&app, Some("staff-west"), None, &bare).status, 201);
}

/// A person as the household registry (public_security) delivered them, stored natively.
fn seed_household(app: &TestApp, person: &CitizenId) {
    let db = db(app);
    let at = chrono::Utc::now() - chrono::Duration::days(30);
    let mut o = Observation::new(*person, Provenance { source: Source::PublicSecurity, origin: Origin::Batch("ps-1".into()), at });
    o.name = Some("李秀英".into());
    o.gender = Some(person.gender());
    o.ethnicity = Some(canbao::codes::Ethnicity::HAN);
    o.birth_date = Some(person.birth_date());
    o.hukou_address = Some("四川省攀枝花市东区示例街道一新华街12号".into());
    o.hukou_region = Some(canbao::regions::RegionCode::parse("510402001").unwrap().value);
    db.transaction(|tx| {
        let outcome = merge_by_precedence(None, &o);
        store::save_outcome(tx, &outcome, at)
    })
    .unwrap();
}

/// Every person's current provenance per field (`persons.provenance`: sayings with the fields they won).
const CURRENT_PROVENANCE: &str = "SELECT f.value AS field, s.value ->> 0 AS source, s.value ->> 1 AS origin
    FROM persons p, json_each(p.provenance) s, json_each(s.value -> 3) f ORDER BY field";

const IDENTITY: &str = "SELECT name, gender, ethnicity, birth_date, hukou_address, hukou_region FROM persons WHERE id_number = ?";

#[test]
fn a_self_form_disagreeing_with_the_household_registry_opens_a_conflict_and_changes_nothing_else() {
    let app = TestApp::start();
    let person = id("510402", 127);
    seed_household(&app, &person);
    let db = db(&app);
    let identity = || db.query_one(IDENTITY, &[person.as_str().into()]).unwrap().unwrap().values;
    let provenance = || db.execute(CURRENT_PROVENANCE, &[]).unwrap().rows;
    let (identity_before, provenance_before) = (identity(), provenance());

    let body = json!({
        "id_number": person.as_str(),
        "name": "李秀瑛",
        "gender": person.gender().code(),
        "ethnicity": "01",
        "birth_date": "1984-07-09",
        "hukou_address": "四川省攀枝花市东区示例街道一新华街12号",
        "hukou_region": "510402001",
    });
    let reply = post(&app, None, None, &body);
    assert_eq!(reply.status, 201, "{}", reply.text());
    assert_eq!(reply.json()["conflicts"], json!(["name"]));
    assert_eq!(reply.json()["person"]["name_masked"], "李**");

    assert_eq!(identity(), identity_before, "the household registry's identity fields stand");
    assert_eq!(provenance(), provenance_before, "no field changed its value or source");
    let conflict = db.query_one("SELECT field, status, candidates FROM conflicts", &[]).unwrap().unwrap();
    assert_eq!(conflict.get::<String>("field").unwrap(), "name");
    assert_eq!(conflict.get::<String>("status").unwrap(), "open");
    let candidates: Value = serde_json::from_str(&conflict.get::<String>("candidates").unwrap()).unwrap();
    let values: Vec<&str> = candidates.as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
    assert_eq!(values.len(), 2);
    assert!(values.contains(&"李秀英") && values.contains(&"李秀瑛"));
    assert_eq!(count(&app, "SELECT COUNT(*) FROM conflicts"), 1);
    assert_eq!(count(&app, "SELECT via_form FROM persons"), 1, "the form still counts as a registration");
}

#[test]
fn staff_correct_fields_with_a_reason_and_resolve_conflicts_in_their_region() {
    let app = TestApp::start();
    let person = id("510402", 129);
    seed_household(&app, &person);
    let mut self_form = form(&person);
    self_form["name"] = json!("李秀瑛");
    assert_eq!(post(&app, None, None, &self_form).status, 201);
    let path = format!("/api/v1/persons/{}", person.as_str());

    let no_reason = app.send_json("PATCH", &path, Some("staff-east"), &json!({"phone": "13911112222"}));
    assert_eq!(no_reason.status, 422);
    assert_eq!(error_codes(&no_reason), vec![("reason".to_string(), "required".to_string())]);
    let body = json!({"phone": "13911112222", "reason": "本人电话变更，已电话核实"});
    assert_eq!(app.send_json("PATCH", &path, None, &body).status, 401);
    assert_eq!(app.send_json("PATCH", &path, Some("collector-east"), &body).status, 403);
    assert_eq!(app.send_json("PATCH", &path, Some("staff-west"), &body).status, 403);
    let unknown = format!("/api/v1/persons/{}", id("510402", 901).as_str());
    assert_eq!(app.send_json("PATCH", &unknown, Some("admin-token"), &body).status, 404);
    let reply = app.send_json("PATCH", &path, Some("staff-east"), &body);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["updated_fields"], json!(["phone"]));
    let db = db(&app);
    let phone = db.query_one("SELECT phone FROM persons", &[]).unwrap().unwrap().get::<String>("phone").unwrap();
    assert_eq!(phone, "13911112222");
    let prov = db
        .query_one("SELECT source, origin FROM (CURRENT_PROVENANCE) WHERE field = 'phone'".replace("CURRENT_PROVENANCE", CURRENT_PROVENANCE).as_str(), &[])
        .unwrap()
        .unwrap();
    assert_eq!(prov.get::<String>("origin").unwrap(), "staff:staff-east");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'person.correct'"), 1);

    // A wrong number is removed, not replaced: the field is empty, its provenance names the staff
    // member, the record is incomplete again, and identity fields cannot be emptied.
    let clear = json!({"clear": ["phone"], "reason": "号码为他人所有，本人无手机"});
    let reply = app.send_json("PATCH", &path, Some("staff-east"), &clear);
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["updated_fields"], json!(["phone"]));
    assert_eq!(reply.json()["missing_fields"], json!(["phone"]));
    let view = app.call("GET", &path, Some("staff-east"), &[], None).json();
    let phone = view["fields"].as_array().unwrap().iter().find(|f| f["field"] == "phone").unwrap().clone();
    assert_eq!(phone["value"], Value::Null, "{phone}");
    assert_eq!(phone["provenance"]["origin"], "staff:staff-east", "{phone}");
    let refused = app.send_json("PATCH", &path, Some("staff-east"), &json!({"clear": ["name"], "reason": "x"}));
    assert_eq!(refused.status, 422);
    assert!(error_codes(&refused).contains(&("clear".to_string(), "required".to_string())), "{}", refused.text());
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'person.correct'"), 2);

    let conflict_id = count(&app, "SELECT id FROM conflicts WHERE status = 'open'");
    let resolve = format!("{path}/conflicts/{conflict_id}/resolve");
    let reply = app.send_json("POST", &resolve, Some("staff-east"), &json!({"value": "李四"}));
    assert_eq!(error_codes(&reply), vec![("value".to_string(), "unknown_code".to_string()), ("reason".to_string(), "required".to_string())]);
    assert_eq!(app.send_json("POST", &resolve, Some("staff-west"), &json!({"value": "李秀瑛", "reason": "x"})).status, 403);
    let reply = app.send_json("POST", &resolve, Some("staff-east"), &json!({"value": "李秀瑛", "reason": "户口本已更正，公安尚未同步"}));
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["status"], "resolved");
    let row = db.query_one("SELECT name FROM persons", &[]).unwrap().unwrap();
    assert_eq!(row.get::<String>("name").unwrap(), "李秀瑛");
    let c = db.query_one("SELECT status, resolved_by, resolved_value FROM conflicts", &[]).unwrap().unwrap();
    assert_eq!(c.get::<String>("status").unwrap(), "resolved");
    assert_eq!(c.get::<String>("resolved_by").unwrap(), "staff:staff-east");
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'conflict.resolve'"), 1);
    assert_eq!(app.send_json("POST", &resolve, Some("staff-east"), &json!({"value": "李秀瑛", "reason": "again"})).status, 404);
}

#[test]
fn regions_are_served_from_the_shipped_tree_then_from_a_loaded_file() {
    let app = TestApp::start();
    let roots = app.get("/api/v1/regions");
    assert_eq!(roots.status, 200);
    assert_eq!(roots.header("cache-control"), Some("public, max-age=300"));
    assert_eq!(roots.json()["regions"][0]["code"], "510400");
    let counties = app.get("/api/v1/regions?parent=510400").json();
    assert_eq!(counties["regions"].as_array().unwrap().len(), 5);
    assert_eq!(counties["regions"][0]["name"], "东区");
    assert_eq!(counties["regions"][0]["has_children"], true);
    assert_eq!(app.get("/api/v1/regions?parent=51x").status, 422);

    let csv = "code,name,parent_code\n510402001,炳草岗街道,510402\n510402001001,新华社区,510402001\n";
    let put = |token: Option<&str>, ty: &str, body: &[u8]| app.call("PUT", "/api/v1/regions", token, &[("content-type", ty)], Some(body));
    assert_eq!(put(None, "text/csv", csv.as_bytes()).status, 401);
    assert_eq!(put(Some("staff-east"), "text/csv", csv.as_bytes()).status, 403);
    assert_eq!(put(Some("admin-token"), "application/json", b"{}").status, 415);
    let bad = "code,name,parent_code\n510402002,新街道,510402\n510402009001,孤儿社区,510402009\n";
    let reply = put(Some("admin-token"), "text/csv", bad.as_bytes());
    assert_eq!(reply.status, 422);
    assert_eq!(error_codes(&reply), vec![("line 3: parent_code".to_string(), "unknown_region".to_string())]);
    let reply = put(Some("admin-token"), "text/csv", csv.as_bytes());
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(reply.json()["added"], 2);
    let gbk = encoding_rs::GB18030.encode("code,name,parent_code\n510402001,炳草岗街道办事处,510402\n").0.into_owned();
    let reply = put(Some("admin-token"), "text/csv", &gbk);
    assert_eq!((reply.status, reply.json()["updated"].as_u64()), (200, Some(1)));
    let townships = app.get("/api/v1/regions?parent=510402").json();
    assert_eq!(townships["regions"], json!([{"code": "510402001", "name": "炳草岗街道办事处", "level": "township", "has_children": true}]));
    // Forms are now checked against the loaded tree: the demo township is gone.
    let mut body = form(&id("510402", 131));
    body["hukou_region"] = json!("510402002");
    assert_eq!(error_codes(&post(&app, None, None, &body)), vec![("hukou_region".to_string(), "unknown_region".to_string())]);
    assert_eq!(count(&app, "SELECT COUNT(*) FROM audit_log WHERE action = 'regions.load'"), 2);
}

#[test]
fn the_form_is_served_without_external_resources() {
    let app = TestApp::start();
    let page = app.get("/register");
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    let html = page.text();
    assert!(html.contains("全民参保登记") && html.contains("viewport"));
    let js = app.get("/register/app.js").text();
    assert!(!js.contains("__CODES__") && js.contains("彝族") && js.contains("城乡居民基本医疗保险"));
    for text in [html, js, app.get("/register/app.css").text()] {
        assert!(!text.contains("http://") && !text.contains("https://") && !text.contains("//cdn"), "no external resources");
    }
}
