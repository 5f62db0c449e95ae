//! The registration form in a real browser: headless Chromium on a 360×740 phone viewport
//! (`tests/browser/register.mjs`, playwright-core) fills the H5 form at `/register`. A wrong check
//! character is refused in the page before any request; a valid form reaches the receipt; a form
//! submitted offline is queued and sent exactly once when the connection returns (counted here,
//! server-side); a reload keeps the draft. Screenshots of the form and the receipt go to
//! `target/screenshots/`. Needs `scripts/setup-browser` (Chromium, CJK fonts, `npm ci`).

use canbao::ids::CitizenId;
use canbao::storage::native::NativeSql;
use canbao::storage::Sql;
use canbao_tests::{run_browser_script, screenshots_dir, TestApp};
use chrono::NaiveDate;

fn registrations_of(db: &NativeSql, id: &CitizenId) -> i64 {
    db.execute("SELECT COUNT(*) FROM registrations WHERE id_number = ?", &[id.as_str().into()])
        .unwrap()
        .scalar::<i64>()
        .unwrap()
        .unwrap()
}

#[test]
fn the_form_registers_checks_ids_in_the_page_queues_offline_and_keeps_drafts() {
    let app = TestApp::start();
    let born = NaiveDate::from_ymd_opt(1990, 5, 17).unwrap();
    let (valid, offline, draft) =
        (CitizenId::from_parts("510402", born, 211), CitizenId::from_parts("510402", born, 212), CitizenId::from_parts("510402", born, 213));
    let shots = screenshots_dir();
    let seen = run_browser_script(
        "register.mjs",
        &[&app.url(), &shots.to_string_lossy(), valid.as_str(), offline.as_str(), draft.as_str()],
    );

    let db = NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap();
    assert_eq!(registrations_of(&db, &valid), 1, "{seen}");
    assert_eq!(registrations_of(&db, &offline), 1, "the offline submission arrives exactly once: {seen}");
    assert_eq!(registrations_of(&db, &draft), 0, "a draft is not sent");
    let row = db.query_one("SELECT name, gender, birth_date, phone, hukou_region FROM persons WHERE id_number = ?", &[valid.as_str().into()]).unwrap().unwrap();
    assert_eq!(row.get::<String>("name").unwrap(), "张伟");
    assert_eq!(row.get::<String>("birth_date").unwrap(), "1990-05-17");
    assert_eq!(row.get::<String>("gender").unwrap(), "1", "filled from the ID's odd sequence");
    assert_eq!(row.get::<String>("phone").unwrap(), "13812345678");
    assert_eq!(row.get::<String>("hukou_region").unwrap(), "510402001");
    assert!(seen["outbox_after"].is_null() || seen["outbox_after"] == "[]", "the outbox is empty: {seen}");
    for shot in ["register-form.png", "register-receipt.png"] {
        assert!(shots.join(shot).metadata().map(|m| m.len() > 1000).unwrap_or(false), "{shot} missing");
    }
}
