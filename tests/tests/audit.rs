//! The audit trail through the host: each write path (region file, department upload and its
//! parts, the intake run, a registration, a correction, a conflict resolution) and each read of a
//! full record or of the trail leaves exactly one row with actor, role, time, action and target;
//! refused requests and replays leave none; `GET /api/v1/audit` filters and pages for admins only;
//! and the table refuses every way of changing or removing a row.

use canbao::ids::CitizenId;
use canbao::storage::native::NativeSql;
use canbao::storage::Sql;
use canbao_tests::{workspace_root, TestApp};
use chrono::{DateTime, NaiveDate, Utc};
use serde_json::json;

/// One audit row as stored.
#[derive(Debug)]
struct Row {
    id: i64,
    at: String,
    actor: String,
    role: String,
    action: String,
    target: Option<String>,
}

fn db(app: &TestApp) -> NativeSql {
    NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap()
}

fn rows_after(app: &TestApp, after: i64) -> Vec<Row> {
    let rows = db(app)
        .execute("SELECT id, at, actor, role, action, target_person FROM audit_log WHERE id > ? ORDER BY id", &[after.into()])
        .unwrap();
    rows.iter()
        .map(|r| Row {
            id: r.get("id").unwrap(),
            at: r.get("at").unwrap(),
            actor: r.get("actor").unwrap(),
            role: r.get("role").unwrap(),
            action: r.get("action").unwrap(),
            target: r.get("target_person").unwrap(),
        })
        .collect()
}

/// The trail as the test has seen it so far.
struct Trail {
    last: i64,
    started: DateTime<Utc>,
}

impl Trail {
    /// Exactly one new row since the last check, with this action, actor and target.
    fn one(&mut self, app: &TestApp, what: &str, action: &str, actor: &str, target: Option<&CitizenId>) -> Row {
        let mut new = rows_after(app, self.last);
        assert_eq!(new.len(), 1, "{what}: expected exactly one audit row, got {new:#?}");
        let row = new.remove(0);
        assert_eq!(row.action, action, "{what}");
        assert_eq!(row.actor, actor, "{what}");
        assert_eq!(row.role, actor.split(':').next().unwrap(), "{what}");
        assert_eq!(row.target.as_deref(), target.map(|t| t.as_str()), "{what}");
        let at = DateTime::parse_from_rfc3339(&row.at).unwrap_or_else(|e| panic!("{what}: time {:?}: {e}", row.at));
        assert!(at >= self.started - chrono::Duration::seconds(1) && at <= Utc::now(), "{what}: time {at}");
        self.last = row.id;
        row
    }

    /// No new row since the last check.
    fn none(&self, app: &TestApp, what: &str) {
        let new = rows_after(app, self.last);
        assert!(new.is_empty(), "{what}: expected no audit row, got {new:#?}");
    }
}

fn person(county: &str, seq: u16) -> CitizenId {
    CitizenId::from_parts(county, NaiveDate::from_ymd_opt(1984, 7, 9).unwrap(), seq)
}

fn registry_csv(people: &[(&CitizenId, &str)]) -> Vec<u8> {
    let mut csv = String::from("公民身份号码,姓名,性别,民族,出生日期,户籍地址,户籍地区划代码,人员状态\n");
    for (id, name) in people {
        csv.push_str(&format!("{id},{name},{},01,1984-07-09,东区示例街道一新华街12号,510402001001,正常\n", id.gender().code()));
    }
    csv.into_bytes()
}

const PS: &str = "dept-public-security";
const PS_ACTOR: &str = "department:dept-public-security";
const ADMIN: &str = "admin-token";
const ADMIN_ACTOR: &str = "admin:admin-token";

#[test]
fn each_write_and_each_full_read_leaves_exactly_one_audit_row() {
    let app = TestApp::start();
    let mut trail = Trail { last: 0, started: Utc::now() };
    trail.none(&app, "a fresh app");
    let east = person("510402", 101);

    // Regions file.
    let regions = "code,name,parent_code\n510402001,炳草岗街道,510402\n510402001001,新华社区,510402001\n";
    let r = app.call("PUT", "/api/v1/regions", Some(ADMIN), &[("content-type", "text/csv")], Some(regions.as_bytes()));
    assert_eq!(r.status, 200, "{}", r.text());
    trail.one(&app, "PUT /api/v1/regions", "regions.load", ADMIN_ACTOR, None);
    let r = app.call("PUT", "/api/v1/regions", Some("staff-east"), &[("content-type", "text/csv")], Some(regions.as_bytes()));
    assert_eq!(r.status, 403);
    trail.none(&app, "a refused region file");

    // A department file, then the same bytes again (no new batch, no row).
    let csv = registry_csv(&[(&east, "李秀英")]);
    let upload = |token| app.call("POST", "/api/v1/intake/public_security/files", Some(token), &[("content-type", "text/csv")], Some(&csv));
    let r = upload(PS);
    assert_eq!(r.status, 202, "{}", r.text());
    trail.one(&app, "POST …/files", "intake.upload", PS_ACTOR, None);
    assert_eq!(upload(PS).status, 200);
    trail.none(&app, "the same file again");
    assert_eq!(upload("dept-hrss").status, 403);
    trail.none(&app, "another department's upload");

    // The intake run.
    let r = app.call("POST", "/api/v1/intake/run", Some(ADMIN), &[], None);
    assert_eq!(r.status, 200, "{}", r.text());
    trail.one(&app, "POST /api/v1/intake/run", "intake.run", ADMIN_ACTOR, None);

    // An upload in parts: begin, two parts, complete.
    let second = person("510402", 103);
    let file = registry_csv(&[(&second, "张伟")]);
    let (a, b) = file.split_at(file.len() / 2);
    let r = app.call("POST", "/api/v1/intake/public_security/files?parts=2", Some(PS), &[], None);
    assert_eq!(r.status, 201, "{}", r.text());
    let id = r.json()["batch_id"].as_str().unwrap().to_string();
    trail.one(&app, "begin parts", "intake.parts_begin", PS_ACTOR, None);
    for (n, part) in [(1, a), (2, b)] {
        let r = app.call("PUT", &format!("/api/v1/intake/batches/{id}/parts/{n}"), Some(PS), &[], Some(part));
        assert_eq!(r.status, 200, "{}", r.text());
        trail.one(&app, "PUT part", "intake.part", PS_ACTOR, None);
    }
    let sha = canbao::intake::sha256_hex(&file);
    let r = app.send_json("POST", &format!("/api/v1/intake/batches/{id}/complete"), Some(PS), &json!({"sha256": sha}));
    assert_eq!(r.status, 202, "{}", r.text());
    trail.one(&app, "complete parts", "intake.upload", PS_ACTOR, None);

    // A resident's form that disagrees with the registry's name: one row, and a conflict.
    let form = json!({"id_number": east.as_str(), "name": "李秀瑛", "hukou_region": "510402001001"});
    let r = app.send_json("POST", "/api/v1/registrations", None, &form);
    assert_eq!(r.status, 201, "{}", r.text());
    trail.one(&app, "POST /api/v1/registrations", "registration.submit", "public", Some(&east));
    let r = app.send_json("POST", "/api/v1/registrations", None, &json!({"id_number": "123", "name": "x"}));
    assert_eq!(r.status, 422);
    trail.none(&app, "a refused form");

    // The full record, read by staff of the region; refused for another region.
    let path = format!("/api/v1/persons/{east}");
    assert_eq!(app.get_as("staff-east", &path).status, 200);
    trail.one(&app, "GET /api/v1/persons", "person.view", "staff:staff-east", Some(&east));
    assert_eq!(app.get_as("staff-west", &path).status, 403);
    trail.none(&app, "a refused read");

    // A correction.
    let correction = json!({"phone": "13911112222", "reason": "本人电话变更，已电话核实"});
    assert_eq!(app.send_json("PATCH", &path, Some("staff-west"), &correction).status, 403);
    trail.none(&app, "a refused correction");
    let r = app.send_json("PATCH", &path, Some("staff-east"), &correction);
    assert_eq!(r.status, 200, "{}", r.text());
    trail.one(&app, "PATCH /api/v1/persons", "person.correct", "staff:staff-east", Some(&east));

    // The conflict resolved.
    let conflict: i64 = db(&app)
        .query_one("SELECT id FROM conflicts WHERE status = 'open' AND id_number = ?", &[east.as_str().into()])
        .unwrap()
        .expect("the form opened a conflict")
        .get(0)
        .unwrap();
    let resolve = format!("{path}/conflicts/{conflict}/resolve");
    let r = app.send_json("POST", &resolve, Some("staff-east"), &json!({"value": "李秀瑛", "reason": "户口本已更正"}));
    assert_eq!(r.status, 200, "{}", r.text());
    trail.one(&app, "resolve", "conflict.resolve", "staff:staff-east", Some(&east));

    // Reading the trail is itself on the trail; the page holds what came before.
    let r = app.get_as(ADMIN, &format!("/api/v1/audit?person={east}"));
    assert_eq!(r.status, 200, "{}", r.text());
    let read = trail.one(&app, "GET /api/v1/audit", "audit.read", ADMIN_ACTOR, Some(&east));
    let page = r.json();
    let actions: Vec<&str> = page["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
    assert_eq!(actions, ["conflict.resolve", "person.correct", "person.view", "registration.submit"], "{page}");
    assert_eq!(page["total"], 4);
    assert!(page["items"].as_array().unwrap().iter().all(|i| i["target_person"] == east.as_str()));
    for refused in ["staff-east", "collector-east", PS] {
        assert_eq!(app.get_as(refused, "/api/v1/audit").status, 403, "{refused}");
    }
    assert_eq!(app.get("/api/v1/audit").status, 401);
    trail.none(&app, "refused trail reads");

    // Filters and pages.
    let all = app.get_as(ADMIN, "/api/v1/audit?page_size=3").json();
    assert_eq!(all["items"].as_array().unwrap().len(), 3);
    assert_eq!(all["items"][0]["action"], "audit.read", "newest first: the earlier read of the trail");
    let total = all["total"].as_u64().unwrap();
    let second_page = app.get_as(ADMIN, "/api/v1/audit?page_size=3&page=2").json();
    assert_eq!(second_page["total"].as_u64().unwrap(), total + 1, "the first page's read is counted too");
    let by_actor = app.get_as(ADMIN, "/api/v1/audit?actor=department%3Adept-public-security").json();
    let ps_actions: Vec<&str> = by_actor["items"].as_array().unwrap().iter().map(|i| i["action"].as_str().unwrap()).collect();
    assert_eq!(ps_actions, ["intake.upload", "intake.part", "intake.part", "intake.parts_begin", "intake.upload"]);
    let future = app.get_as(ADMIN, "/api/v1/audit?since=2999-01-01").json();
    assert_eq!(future["total"], 0);
    let reads = rows_after(&app, read.id);
    assert_eq!(reads.len(), 4, "each of the four reads above is on the trail");
    assert!(reads.iter().all(|r| r.action == "audit.read" && r.actor == ADMIN_ACTOR));
    trail.last = reads.last().unwrap().id;
    for bad in ["page=0", "page_size=201", "page=100001", "since=yesterday", "person=123"] {
        let r = app.get_as(ADMIN, &format!("/api/v1/audit?{bad}"));
        assert_eq!(r.status, 422, "{bad}: {}", r.text());
        assert_eq!(r.json()["error"]["code"], "validation");
    }
    trail.none(&app, "refused trail queries");
}

#[test]
fn the_trail_cannot_be_changed_replaced_or_removed() {
    let app = TestApp::start();
    let r = app.get_as(ADMIN, "/api/v1/audit");
    assert_eq!(r.status, 200);
    let db = db(&app);
    let count = || db.execute("SELECT COUNT(*) FROM audit_log", &[]).unwrap().scalar::<i64>().unwrap().unwrap();
    assert_eq!(count(), 1);
    for sql in [
        "UPDATE audit_log SET actor = 'someone else'",
        "DELETE FROM audit_log",
        "REPLACE INTO audit_log (id, at, actor, role, action) VALUES (1, '2026-01-01T00:00:00.000Z', 'x', 'admin', 'y')",
        "INSERT OR REPLACE INTO audit_log (id, at, actor, role, action) VALUES (1, '2026-01-01T00:00:00.000Z', 'x', 'admin', 'y')",
        "INSERT INTO audit_log (at, actor, role, action) VALUES ('2026-01-01T00:00:00.000Z', '', 'admin', 'y')",
    ] {
        assert!(db.exec(sql, &[]).is_err(), "{sql} was allowed");
    }
    assert_eq!(count(), 1);
    let row = db.query_one("SELECT actor, action FROM audit_log", &[]).unwrap().unwrap();
    assert_eq!((row.get::<String>(0).unwrap(), row.get::<String>(1).unwrap()), (ADMIN_ACTOR.to_string(), "audit.read".to_string()));
}

/// No code outside the migrations writes anything to `audit_log` but an INSERT: the append-only
/// rule holds in the code as well as in the triggers.
#[test]
fn no_code_path_updates_or_deletes_audit_rows() {
    let mut files = Vec::new();
    for dir in ["shared/src", "components", "host/src"] {
        collect_rs(&workspace_root().join(dir), &mut files);
    }
    assert!(files.len() > 20, "sources not found");
    let forbidden = ["update audit_log", "delete from audit_log", "replace into audit_log", "drop trigger", "drop table audit_log"];
    let mut found = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).unwrap();
        // Unit tests prove the refusals by trying them; production code is what precedes them.
        let code = text.split("#[cfg(test)]").next().unwrap().split("#[cfg(all(test").next().unwrap();
        let normalised = code.to_lowercase().split_whitespace().collect::<Vec<_>>().join(" ");
        for f in forbidden {
            if normalised.contains(f) {
                found.push(format!("{}: {f}", file.display()));
            }
        }
    }
    assert!(found.is_empty(), "{found:#?}");
}

fn collect_rs(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            if path.file_name().is_some_and(|n| n != "target" && n != "node_modules") {
                collect_rs(&path, out);
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The cron trigger's run is on the trail as the system when it did work, and not when it had
/// nothing to do (every tick is in `cron_ticks` anyway).
#[test]
fn a_scheduled_run_that_did_work_is_on_the_trail_as_the_system() {
    use std::time::{Duration, Instant};
    let app = TestApp::start();
    let csv = registry_csv(&[(&person("510402", 105), "赵敏")]);
    let r = app.call("POST", "/api/v1/intake/public_security/files", Some(PS), &[("content-type", "text/csv")], Some(&csv));
    assert_eq!(r.status, 202, "{}", r.text());
    let system_rows = || rows_after(&app, 0).into_iter().filter(|r| r.actor == "system:cron").collect::<Vec<_>>();
    let ticks = || db(&app).execute("SELECT COUNT(*) FROM cron_ticks", &[]).unwrap().scalar::<i64>().unwrap().unwrap();
    let deadline = Instant::now() + Duration::from_secs(150);
    let seen_at_ticks = loop {
        let rows = system_rows();
        if let Some(run) = rows.first() {
            assert_eq!((run.role.as_str(), run.action.as_str(), run.target.as_deref()), ("system", "intake.run", None));
            break ticks();
        }
        assert!(Instant::now() < deadline, "no audited scheduled run");
        std::thread::sleep(Duration::from_millis(500));
    };
    // The next tick finds nothing queued: a tick, but no audit row.
    while ticks() <= seen_at_ticks {
        assert!(Instant::now() < deadline, "no further cron tick");
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(system_rows().len(), 1);
}
