//! The lookup component over HTTP: the public masked lookup (masking, indistinguishable misses,
//! rate limit, CORS), the staff person view (region scoping, audit) and the admin audit trail,
//! and the widget's static files.

mod lookup_support;

use canbao_tests::{Reply, TestApp};
use canbao::codes::Source;
use canbao::storage::Sql;
use canbao::store::timestamp;
use lookup_support::{apply, audit_rows, database, observation, said_on, seed, Resident};
use serde_json::json;

const PORTAL: &str = "http://portal.example";

fn app() -> TestApp {
    TestApp::start_with(&[("lookup_rate_limit_per_minute", "1000"), ("cors_origins", PORTAL)])
}

fn lookup_path(id: &str, name: &str) -> String {
    let encode = |s: &str| -> String { s.bytes().map(|b| format!("%{b:02X}")).collect() };
    format!("/api/v1/lookup?id_number={}&name={}", encode(id), encode(name))
}

fn ouyang() -> Resident {
    Resident {
        schemes: &[("390", "active"), ("170", "terminated")],
        ..Resident::new("510402", "1985-03-04", 123, "欧阳娜娜", "510402001")
    }
}

#[test]
fn lookup_shows_the_status_with_name_and_id_masked() {
    let app = app();
    let db = database(&app);
    let person = ouyang();
    seed(&db, &person);
    let zhang = Resident { survey_phone: Some("13800001111"), ..Resident::new("510403", "1990-12-01", 456, "张三", "510403") };
    seed(&db, &zhang);

    let reply = app.get(&lookup_path(person.id.as_str(), "欧阳娜娜"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let id = person.id.as_str();
    assert_eq!(
        reply.json(),
        json!({
            "name_masked": "欧阳**",
            "id_masked": format!("{}********{}", &id[..6], &id[14..]),
            "registered": true,
            "status": "insured",
            "schemes": [
                {"scheme": "170", "name": "城乡居民基本养老保险", "status": "terminated"},
                {"scheme": "390", "name": "城乡居民基本医疗保险", "status": "active"}
            ],
            "updated_at": timestamp(said_on(2)),
        })
    );
    assert_eq!(reply.header("cache-control"), Some("no-store"));
    assert!(reply.header("content-type").unwrap().starts_with("application/json"));
    assert!(!reply.text().contains("娜娜") && !reply.text().contains(&id[6..14]), "{}", reply.text());

    // Spacing, full-width forms and a lower-case x are what people type; they still match.
    let typed = format!(" {} ", id.replace('X', "x"));
    assert_eq!(app.get(&lookup_path(&typed, "欧阳　娜娜")).status, 200);

    let reply = app.get(&lookup_path(zhang.id.as_str(), "张三"));
    assert_eq!(reply.status, 200, "{}", reply.text());
    let body = reply.json();
    assert_eq!(body["name_masked"], "张*");
    assert_eq!((body["registered"].clone(), body["status"].clone()), (json!(true), json!("uninsured")));
    assert_eq!(body["schemes"], json!([]));
}

fn same_reply(a: &Reply, b: &Reply) {
    assert_eq!(a.status, b.status);
    assert_eq!(a.body, b.body, "{} vs {}", a.text(), b.text());
    let without_date = |r: &Reply| -> Vec<(String, String)> {
        let mut h: Vec<_> = r.headers.iter().filter(|(k, _)| k != "date").cloned().collect();
        h.sort();
        h
    };
    assert_eq!(without_date(a), without_date(b));
}

#[test]
fn a_wrong_name_is_indistinguishable_from_an_unknown_id() {
    let app = app();
    let person = ouyang();
    seed(&database(&app), &person);
    let unknown = Resident::new("510402", "1985-03-04", 125, "欧阳娜娜", "510402");

    let wrong_name = app.get(&lookup_path(person.id.as_str(), "欧阳菲菲"));
    let unknown_id = app.get(&lookup_path(unknown.id.as_str(), "欧阳菲菲"));
    assert_eq!(wrong_name.status, 404);
    same_reply(&wrong_name, &unknown_id);
    same_reply(&wrong_name, &app.get(&lookup_path(unknown.id.as_str(), "欧阳娜娜")));
    assert_eq!(wrong_name.json()["error"]["code"], "not_found");

    // A malformed ID is refused with field errors (it reveals nothing about anyone).
    let reply = app.get("/api/v1/lookup?id_number=51040219850304123&name=");
    assert_eq!(reply.status, 422);
    let fields: Vec<String> =
        reply.json()["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap().to_string()).collect();
    assert_eq!(fields, ["id_number", "name"]);
}

#[test]
fn lookups_are_rate_limited_per_client() {
    let app = TestApp::start_with(&[("lookup_rate_limit_per_minute", "3"), ("cors_origins", PORTAL)]);
    let path = lookup_path(ouyang().id.as_str(), "欧阳娜娜");
    for _ in 0..3 {
        assert_eq!(app.get(&path).status, 404);
    }
    let limited = app.call("GET", &path, None, &[("origin", PORTAL)], None);
    assert_eq!(limited.status, 429, "{}", limited.text());
    assert_eq!(limited.json()["error"]["code"], "rate_limited");
    let wait: u64 = limited.header("retry-after").expect("Retry-After").parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // The portal's script may read the wait.
    assert_eq!(limited.header("access-control-allow-origin"), Some(PORTAL));
    assert!(limited.header("access-control-expose-headers").unwrap().contains("Retry-After"));
    // Health checks are not lookups.
    assert_eq!(app.get("/api/v1/lookup/health").status, 200);
}

#[test]
fn cors_answers_allowed_origins_and_nothing_else() {
    let app = app();
    let path = lookup_path(ouyang().id.as_str(), "欧阳娜娜");

    let allowed = app.call("GET", &path, None, &[("origin", PORTAL)], None);
    assert_eq!(allowed.header("access-control-allow-origin"), Some(PORTAL));
    assert_eq!(allowed.header("vary"), Some("Origin"));

    let refused = app.call("GET", &path, None, &[("origin", "http://elsewhere.example")], None);
    assert_eq!(refused.header("access-control-allow-origin"), None);
    assert_eq!(refused.header("vary"), Some("Origin"));
    assert_eq!(app.get(&path).header("vary"), Some("Origin"));

    let preflight = |origin: &str| {
        app.call(
            "OPTIONS",
            "/api/v1/lookup",
            None,
            &[("origin", origin), ("access-control-request-method", "GET"), ("access-control-request-headers", "content-type")],
            None,
        )
    };
    let ok = preflight(PORTAL);
    assert_eq!(ok.status, 204);
    assert_eq!(ok.header("access-control-allow-origin"), Some(PORTAL));
    assert!(ok.header("access-control-allow-methods").unwrap().contains("GET"));
    assert!(ok.header("access-control-allow-headers").unwrap().to_lowercase().contains("content-type"));
    assert!(ok.header("access-control-max-age").unwrap().parse::<u32>().unwrap() > 0);
    let no = preflight("http://elsewhere.example");
    for h in ["access-control-allow-origin", "access-control-allow-methods", "access-control-allow-headers"] {
        assert_eq!(no.header(h), None, "{h}");
    }
    assert_eq!(no.header("vary"), Some("Origin"));
}

#[test]
fn the_person_view_is_region_scoped_complete_and_audited() {
    let app = app();
    let db = database(&app);
    let person = Resident { survey_phone: Some("13800001111"), ..ouyang() };
    seed(&db, &person);
    let id = person.id.as_str();
    // A grid worker writes the name differently: a conflict for review (the registry wins).
    let mut other_name = observation(&person, Source::Survey, 4);
    other_name.name = Some("欧阳那那".into());
    apply(&db, &other_name);
    let twin = Resident::new("510402", "1985-03-04", 133, "欧阳娜娜", "510402001");
    seed(&db, &twin);
    let (a, b) = if id < twin.id.as_str() { (id, twin.id.as_str()) } else { (twin.id.as_str(), id) };
    db.exec(
        "INSERT INTO duplicate_candidates (id_a, id_b, rule, detected_at) VALUES (?, ?, 'same_details', ?)",
        &[a.into(), b.into(), timestamp(said_on(5)).into()],
    )
    .unwrap();
    let path = format!("/api/v1/persons/{id}");

    assert_eq!(app.get(&path).status, 401);
    assert_eq!(app.get_as("dept-hrss", &path).status, 403);
    let outside = app.get_as("staff-west", &path);
    assert_eq!(outside.status, 403, "{}", outside.text());
    assert_eq!(outside.json()["error"]["code"], "outside_region");
    assert_eq!(audit_rows(&db, id), 0, "refused reads are not views");

    for token in ["staff-east", "collector-east", "admin-token"] {
        let reply = app.get_as(token, &path);
        assert_eq!(reply.status, 200, "{token}: {}", reply.text());
        assert_eq!(reply.header("cache-control"), Some("no-store"));
        let v = reply.json();
        assert_eq!(v["id_number"], id);
        let field = |name: &str| v["fields"].as_array().unwrap().iter().find(|f| f["field"] == name).unwrap().clone();
        assert_eq!(field("name")["value"], "欧阳娜娜");
        assert_eq!(field("name")["provenance"]["source"], "public_security");
        assert_eq!(field("name")["provenance"]["origin"], "batch:seed-1");
        assert_eq!(field("name")["conflict"], true);
        assert_eq!(field("phone")["value"], "13800001111");
        assert_eq!(field("phone")["provenance"]["source"], "survey");
        assert_eq!(v["schemes"].as_array().unwrap().len(), 2);
        assert_eq!(v["schemes"][1]["scheme"], "390");
        assert_eq!(v["schemes"][1]["status"], "active");
        assert_eq!(v["schemes"][1]["provenance"]["source"], "health");
        assert!(v["scheme_history"].is_array());
        assert_eq!(v["conflicts"][0]["field"], "name");
        let candidates: Vec<&str> =
            v["conflicts"][0]["candidates"].as_array().unwrap().iter().map(|c| c["value"].as_str().unwrap()).collect();
        assert!(candidates.contains(&"欧阳那那") && candidates.contains(&"欧阳娜娜"), "{candidates:?}");
        assert_eq!(v["duplicate_candidates"][0]["other_id_number"], twin.id.as_str());
        assert_eq!(v["registered"], true);
        let changed: Vec<&str> = v["history"].as_array().unwrap().iter().map(|h| h["field"].as_str().unwrap()).collect();
        assert!(changed.contains(&"name") && changed.contains(&"phone"), "{changed:?}");
        assert_eq!(v["missing_fields"][0], "ethnicity");
    }
    assert_eq!(audit_rows(&db, id), 3, "one audit row per view");
    let nobody = Resident::new("510402", "1985-03-04", 777, "无名", "510402");
    assert_eq!(app.get_as("admin-token", &format!("/api/v1/persons/{}", nobody.id)).status, 404);
    assert_eq!(app.get_as("admin-token", "/api/v1/persons/123").status, 422);

    // The trail, for admins only.
    let trail = format!("/api/v1/audit?person={id}");
    assert_eq!(app.get(&trail).status, 401);
    assert_eq!(app.get_as("staff-east", &trail).status, 403);
    let reply = app.get_as("admin-token", &trail);
    assert_eq!(reply.status, 200, "{}", reply.text());
    let page = reply.json();
    assert_eq!(page["total"], 3);
    let actors: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["actor"].as_str().unwrap()).collect();
    assert_eq!(actors, ["admin:admin-token", "collector:collector-east", "staff:staff-east"]);
    assert_eq!(page["items"][0]["action"], "person.view");
    assert_eq!(page["items"][0]["target_person"], id);
    // Reading the trail is on the trail too: the three views and the read above.
    let paged = app.get_as("admin-token", &format!("{trail}&page=2&page_size=2")).json();
    assert_eq!((paged["items"].as_array().unwrap().len(), paged["page"].clone(), paged["total"].clone()), (2, json!(2), json!(4)));
    assert_eq!(paged["items"][1]["action"], "person.view");
    let by_actor = app.get_as("admin-token", "/api/v1/audit?actor=staff:staff-east&since=2020-01-01").json();
    assert_eq!(by_actor["total"], 1);
    assert_eq!(app.get_as("admin-token", "/api/v1/audit?page_size=201").status, 422);
    assert_eq!(app.get_as("admin-token", "/api/v1/audit?since=soon").status, 422);
}

#[test]
fn the_widget_files_are_served_with_types_and_caching() {
    let app = app();
    let page = app.get("/embed/lookup");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("content-type"), Some("text/html; charset=utf-8"));
    assert!(page.text().contains("lookup.js"));
    let script = app.get("/embed/lookup.js");
    assert_eq!(script.status, 200);
    assert_eq!(script.header("content-type"), Some("text/javascript; charset=utf-8"));
    assert!(script.text().contains("attachShadow"));
    for reply in [&page, &script] {
        assert!(reply.header("cache-control").unwrap().contains("max-age="));
        assert_eq!(reply.header("x-content-type-options"), Some("nosniff"));
        for external in ["src=\"http", "href=\"http", "@import", "url(http"] {
            assert!(!reply.text().contains(external), "no external resources: {external}");
        }
    }
    let etag = script.header("etag").expect("ETag").to_string();
    let again = app.call("GET", "/embed/lookup.js", None, &[("if-none-match", &etag)], None);
    assert_eq!((again.status, again.body.len()), (304, 0));
    assert_eq!(app.get("/embed/other").status, 404);
}
