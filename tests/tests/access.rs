//! The access matrix: every endpoint × every kind of caller, from one table, with the status each
//! must get. Callers: the public (no token), a malformed `Authorization`, an unknown token, a
//! revoked token (an admin's, removed from `access_tokens` and the app restarted), an admin,
//! staff of the person's region and of another, a collector, the department that delivered a
//! batch and another department. The table must name every caller in every row, and together
//! the rows must reach every route of `spin.toml` and every operation of the OpenAPI document,
//! so an endpoint added to either cannot be left out of the matrix.
//!
//! The rule the table encodes for bad tokens: endpoints that answer everyone the same (lookup,
//! regions, pages, health, the OpenAPI document) ignore the header; endpoints whose answer
//! depends on the caller refuse a malformed, unknown or revoked token with 401.

use canbao::auth::token_hash;
use canbao::ids::CitizenId;
use canbao_tests::{access_tokens_json, workspace_root, Reply, TestApp};
use chrono::NaiveDate;
use serde_json::{json, Value};

/// The callers, in the order of each row's expectations.
const CALLERS: [&str; 10] = [
    "public", "malformed", "unknown", "revoked", "admin", "staff_east", "staff_west", "collector_east", "dept_ps", "dept_hrss",
];

/// An admin token that works until it is removed from `access_tokens`.
const REVOKED: &str = "revoked-admin";

/// The `Authorization` header each caller sends.
fn authorization(caller: &str) -> Option<String> {
    let token = match caller {
        "public" => return None,
        "malformed" => return Some("Basic YWRtaW46YWRtaW4=".into()),
        "unknown" => "not-a-configured-token",
        "revoked" => REVOKED,
        "admin" => "admin-token",
        "staff_east" => "staff-east",
        "staff_west" => "staff-west",
        "collector_east" => "collector-east",
        "dept_ps" => "dept-public-security",
        "dept_hrss" => "dept-hrss",
        other => panic!("unknown caller {other}"),
    };
    Some(format!("Bearer {token}"))
}

/// Expected statuses: `caller=status` pairs; `bad=` stands for malformed, unknown and revoked,
/// `staff=` for both staff, `dept=` for both departments, `*=` for every caller not named.
fn expect(spec: &str) -> [u16; 10] {
    let mut out = [0u16; 10];
    let mut default = None;
    for pair in spec.split_whitespace() {
        let (who, status) = pair.split_once('=').unwrap_or_else(|| panic!("bad spec {pair}"));
        let status: u16 = status.parse().unwrap();
        let names: Vec<&str> = match who {
            "*" => {
                default = Some(status);
                continue;
            }
            "bad" => vec!["malformed", "unknown", "revoked"],
            "staff" => vec!["staff_east", "staff_west"],
            "dept" => vec!["dept_ps", "dept_hrss"],
            one => vec![one],
        };
        for name in names {
            let i = CALLERS.iter().position(|c| *c == name).unwrap_or_else(|| panic!("unknown caller {name} in {spec}"));
            out[i] = status;
        }
    }
    for (i, s) in out.iter_mut().enumerate() {
        if *s == 0 {
            *s = default.unwrap_or_else(|| panic!("`{spec}` says nothing about {}", CALLERS[i]));
        }
    }
    out
}

/// One endpoint as called in the matrix.
struct Row {
    method: &'static str,
    path: String,
    content_type: Option<&'static str>,
    body: Option<Vec<u8>>,
    expect: [u16; 10],
}

fn row(method: &'static str, path: impl Into<String>, spec: &str) -> Row {
    Row { method, path: path.into(), content_type: None, body: None, expect: expect(spec) }
}

fn with_json(mut r: Row, body: Value) -> Row {
    r.content_type = Some("application/json");
    r.body = Some(serde_json::to_vec(&body).unwrap());
    r
}

fn with_body(mut r: Row, content_type: &'static str, body: &[u8]) -> Row {
    r.content_type = Some(content_type);
    r.body = Some(body.to_vec());
    r
}

/// Who may do what, for persons in the east (`510402`) region.
const PERSON_READ: &str = "public=401 bad=401 admin=200 staff_east=200 collector_east=200 *=403";
/// Admin only.
const ADMIN_ONLY: &str = "public=401 bad=401 admin=200 *=403";
/// Everyone, whatever the header says.
const EVERYONE: &str = "*=200";

fn person(county: &str, seq: u16) -> CitizenId {
    CitizenId::from_parts(county, NaiveDate::from_ymd_opt(1984, 7, 9).unwrap(), seq)
}

/// The household registry's file: one person in the east, one in the west.
fn registry_csv(east: &CitizenId, west: &CitizenId) -> Vec<u8> {
    format!(
        "公民身份号码,姓名,性别,民族,出生日期,户籍地址,户籍地区划代码,人员状态\n\
         {east},李秀英,{},01,1984-07-09,东区示例街道一新华街12号,510402001001,正常\n\
         {west},王建国,{},01,1984-07-09,西区示例街道二人民路8号,510403001001,正常\n",
        east.gender().code(),
        west.gender().code(),
    )
    .into_bytes()
}

fn form(id: &CitizenId) -> Value {
    json!({"id_number": id.as_str(), "name": "李秀英", "hukou_region": "510402001001", "residence_region": "510402001001"})
}

fn table(east: &CitizenId, west: &CitizenId, batch: &str, parts_batch: &str, csv: &[u8]) -> Vec<Row> {
    let e = east.as_str();
    let w = west.as_str();
    let correction = json!({"phone": "13911112222", "reason": "本人电话变更，已电话核实"});
    let region_csv = "code,name,parent_code\n510402998,访问测试街道,510402\n".as_bytes();
    let lookup = format!("/api/v1/lookup?id_number={e}&name=%E6%9D%8E%E7%A7%80%E8%8B%B1");
    vec![
        // registration component
        row("GET", "/api/v1/registration/health", EVERYONE),
        with_json(row("POST", "/api/v1/registrations", "public=201 bad=401 admin=201 staff_east=201 staff_west=403 collector_east=201 dept=403"), form(east)),
        // Anyone may read a receipt they hold; an unknown number is 404 for everyone.
        row("GET", "/api/v1/registrations/R20260101ABCDEF0123", "*=404"),
        row("GET", format!("/api/v1/persons/{e}"), PERSON_READ),
        row("GET", format!("/api/v1/persons/{w}"), "public=401 bad=401 admin=200 staff_west=200 *=403"),
        with_json(row("PATCH", format!("/api/v1/persons/{e}"), "public=401 bad=401 admin=200 staff_east=200 *=403"), correction.clone()),
        with_json(row("PATCH", format!("/api/v1/persons/{w}"), "public=401 bad=401 admin=200 staff_west=200 *=403"), correction),
        // No such conflict: a caller who may act on the person gets as far as 404.
        with_json(
            row("POST", format!("/api/v1/persons/{e}/conflicts/999999/resolve"), "public=401 bad=401 admin=404 staff_east=404 *=403"),
            json!({"value": "李秀英", "reason": "核实"}),
        ),
        row("GET", "/api/v1/regions?parent=510402", EVERYONE),
        with_body(row("PUT", "/api/v1/regions", ADMIN_ONLY), "text/csv", region_csv),
        row("GET", "/register", EVERYONE),
        row("GET", "/register/app.js", EVERYONE),
        row("GET", "/register/app.css", EVERYONE),
        // lookup component
        row("GET", "/api/v1/lookup/health", EVERYONE),
        row("GET", lookup, EVERYONE),
        row("OPTIONS", "/api/v1/lookup", "*=204"),
        row("GET", format!("/api/v1/audit?person={e}"), ADMIN_ONLY),
        row("GET", "/api/v1/openapi.json", EVERYONE),
        row("GET", "/embed/lookup", EVERYONE),
        row("GET", "/embed/lookup.js", EVERYONE),
        // intake component: the batch was delivered by public_security
        row("GET", "/api/v1/intake/health", EVERYONE),
        with_body(row("POST", "/api/v1/intake/public_security/files", "public=401 bad=401 admin=200 dept_ps=200 *=403"), "text/csv", csv),
        row("POST", "/api/v1/intake/public_security/files?parts=2", "public=401 bad=401 admin=201 dept_ps=201 *=403"),
        with_body(
            row("PUT", format!("/api/v1/intake/batches/{parts_batch}/parts/1"), "public=401 bad=401 admin=200 dept_ps=200 *=403"),
            "application/octet-stream",
            b"part one",
        ),
        // Part 2 never arrives: a caller allowed to complete gets as far as 409 parts_missing.
        with_json(
            row("POST", format!("/api/v1/intake/batches/{parts_batch}/complete"), "public=401 bad=401 admin=409 dept_ps=409 *=403"),
            json!({"sha256": "0".repeat(64)}),
        ),
        row("POST", "/api/v1/intake/run", ADMIN_ONLY),
        row("GET", format!("/api/v1/intake/batches/{batch}"), "public=401 bad=401 admin=200 dept_ps=200 *=403"),
        row("GET", format!("/api/v1/intake/batches/{batch}/errors"), "public=401 bad=401 admin=200 dept_ps=200 *=403"),
        // stats component
        row("GET", "/api/v1/stats/health", EVERYONE),
        row("GET", "/api/v1/stats/overview", "bad=401 *=200"),
        row("GET", "/api/v1/stats/overview?region=510402001001", "public=401 bad=401 admin=200 staff_east=200 collector_east=200 *=403"),
        row("GET", "/api/v1/stats/anomalies?type=conflicts&region=510402", "public=401 bad=401 admin=200 staff_east=200 *=403"),
        row("GET", "/api/v1/stats/worklist?region=510402", "public=401 bad=401 admin=200 staff_east=200 collector_east=200 *=403"),
        row("GET", "/api/v1/stats/trend?region=510402", "bad=401 *=200"),
        row("GET", "/dashboard", EVERYONE),
        row("GET", "/dashboard/app.js", EVERYONE),
        row("GET", "/dashboard/app.css", EVERYONE),
    ]
}

fn call(app: &TestApp, r: &Row, caller: &str) -> Reply {
    let auth = authorization(caller);
    let mut headers: Vec<(&str, &str)> = Vec::new();
    if let Some(a) = auth.as_deref() {
        headers.push(("authorization", a));
    }
    if let Some(ct) = r.content_type {
        headers.push(("content-type", ct));
    }
    app.call(r.method, &r.path, None, &headers, r.body.as_deref())
}

/// Routes of `spin.toml`: (`/x`, wildcard?) for each `route = "/x/..."` or `route = "/x"` line.
fn manifest_routes() -> Vec<(String, bool)> {
    let manifest = std::fs::read_to_string(workspace_root().join("spin.toml")).unwrap();
    manifest
        .lines()
        .filter_map(|l| l.trim().strip_prefix("route = \"").and_then(|r| r.strip_suffix('"')))
        .map(|r| match r.strip_suffix("/...") {
            Some(prefix) => (prefix.to_string(), true),
            None => (r.to_string(), false),
        })
        .collect()
}

/// Whether a concrete path matches an OpenAPI path template (`{x}` is any one segment).
fn matches_template(template: &str, path: &str) -> bool {
    let t: Vec<&str> = template.split('/').collect();
    let p: Vec<&str> = path.split('/').collect();
    t.len() == p.len() && t.iter().zip(&p).all(|(t, p)| (t.starts_with('{') && t.ends_with('}') && !p.is_empty()) || t == p)
}

fn path_only(path: &str) -> &str {
    path.split('?').next().unwrap()
}

fn openapi_operations() -> Vec<(String, String)> {
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(workspace_root().join("shared/assets/openapi.json")).unwrap()).unwrap();
    let mut ops = Vec::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in ["get", "put", "post", "patch", "delete", "options", "head"] {
            if item.get(method).is_some() {
                ops.push((method.to_ascii_uppercase(), path.clone()));
            }
        }
    }
    ops
}

#[test]
fn the_table_reaches_every_route_of_the_manifest_and_every_operation_of_the_openapi_document() {
    let (e, w) = (person("510402", 101), person("510403", 103));
    let rows = table(&e, &w, "b1", "p1", b"");
    let routes = manifest_routes();
    assert!(routes.len() >= 14, "spin.toml routes not found: {routes:?}");
    for (route, wildcard) in &routes {
        let covered = rows.iter().any(|r| {
            let p = path_only(&r.path);
            if *wildcard {
                p == route || p.starts_with(&format!("{route}/"))
            } else {
                p == route
            }
        });
        assert!(covered, "spin.toml route {route}{} has no row in the access matrix", if *wildcard { "/..." } else { "" });
    }
    let ops = openapi_operations();
    for (method, template) in &ops {
        assert!(
            rows.iter().any(|r| r.method == method && matches_template(template, path_only(&r.path))),
            "OpenAPI operation {method} {template} has no row in the access matrix"
        );
    }
    // And the other way round: every row is a documented operation.
    for r in &rows {
        let documented = ops.iter().any(|(m, t)| m == r.method && matches_template(t, path_only(&r.path)));
        assert!(documented, "{} {} is in the matrix but not in the OpenAPI document", r.method, r.path);
    }
}

#[test]
fn every_endpoint_answers_every_caller_as_the_matrix_says() {
    let east = person("510402", 101);
    let west = person("510403", 103);
    // The app starts with one more admin token, which is revoked below.
    let mut tokens: Vec<Value> = serde_json::from_str(&access_tokens_json()).unwrap();
    tokens.push(json!({"sha256": token_hash(REVOKED), "role": "admin", "name": REVOKED}));
    let mut app = TestApp::start_with(&[("access_tokens", &Value::from(tokens).to_string())]);

    // The persons and a batch, delivered by the household registry.
    let csv = registry_csv(&east, &west);
    let up = app.call(
        "POST",
        "/api/v1/intake/public_security/files",
        Some("dept-public-security"),
        &[("content-type", "text/csv"), ("x-file-name", "registry.csv")],
        Some(&csv),
    );
    assert_eq!(up.status, 202, "{}", up.text());
    let batch = up.json()["batch_id"].as_str().unwrap().to_string();
    let run = app.call("POST", "/api/v1/intake/run", Some(REVOKED), &[], None);
    assert_eq!(run.status, 200, "the token works before it is revoked: {}", run.text());
    let parts = app.call("POST", "/api/v1/intake/public_security/files?parts=2", Some("dept-public-security"), &[], None);
    assert_eq!(parts.status, 201, "{}", parts.text());
    let parts_batch = parts.json()["batch_id"].as_str().unwrap().to_string();
    assert_eq!(app.get_as("staff-east", &format!("/api/v1/persons/{east}")).status, 200, "the east person is loaded");

    // Revoked: removed from the variable, the app restarted on the same state.
    app.set_var("access_tokens", &access_tokens_json());
    app.restart();

    let rows = table(&east, &west, &batch, &parts_batch, &csv);
    let mut wrong = Vec::new();
    for r in &rows {
        for (i, caller) in CALLERS.iter().enumerate() {
            let reply = call(&app, r, caller);
            if reply.status != r.expect[i] {
                wrong.push(format!("{} {} as {caller}: {} (expected {}) {}", r.method, r.path, reply.status, r.expect[i], reply.text()));
                continue;
            }
            // Refusals are the contract's error body, with the precise code.
            if matches!(reply.status, 401 | 403) {
                let code = reply.json()["error"]["code"].as_str().unwrap_or("").to_string();
                let allowed: &[&str] = match reply.status {
                    401 => &["token_required", "malformed_token", "unknown_token"],
                    _ => &["role_not_allowed", "outside_region", "other_source"],
                };
                if !allowed.contains(&code.as_str()) {
                    wrong.push(format!("{} {} as {caller}: {} with code {code:?}", r.method, r.path, reply.status));
                }
                if reply.status == 401 && reply.header("www-authenticate") != Some("Bearer") {
                    wrong.push(format!("{} {} as {caller}: 401 without WWW-Authenticate: Bearer", r.method, r.path));
                }
                let expected_code = match *caller {
                    "malformed" => Some("malformed_token"),
                    "unknown" | "revoked" => Some("unknown_token"),
                    "public" if reply.status == 401 => Some("token_required"),
                    _ => None,
                };
                if let Some(expected) = expected_code {
                    if code != expected {
                        wrong.push(format!("{} {} as {caller}: code {code} (expected {expected})", r.method, r.path));
                    }
                }
            }
        }
    }
    assert!(wrong.is_empty(), "{} of {} calls differ from the matrix:\n{}", wrong.len(), rows.len() * CALLERS.len(), wrong.join("\n"));

}
