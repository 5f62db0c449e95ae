//! The statistics dashboard in a real browser: headless Chromium (`tests/browser/dashboard.mjs`,
//! playwright-core) opens `/dashboard` on a city seeded here, sees every county with its bars and
//! target lines, clicks into 东区 and sees its townships, signs in with a staff token and opens
//! the conflict list from its count, and renders on a 360 px phone and a 1920 px projector.
//! Screenshots go to `target/screenshots/`. Needs `scripts/setup-browser` (Chromium, CJK fonts,
//! `npm ci` in tests/browser), which `scripts/test` runs.

use canbao::codes::{EnrollmentStatus, Ethnicity, PersonStatus, Scheme, Source};
use canbao::ids::CitizenId;
use canbao::merge::{merge_by_precedence, Observation};
use canbao::person::{Enrollment, Origin, Provenance};
use canbao::regions::RegionCode;
use canbao::storage::native::NativeSql;
use canbao::storage::SqlExt;
use canbao::store::{bump_data_version, load_person, save_outcome};
use canbao_tests::{run_browser_script, screenshots_dir, TestApp};
use chrono::{NaiveDate, Utc};

/// Household-registry persons in `community`, every other one enrolled, and (for `renamed`) a
/// grid worker's form with another name, which opens a conflict.
fn seed(db: &NativeSql, community: &str, people: u16, renamed: bool) {
    let at = Utc::now();
    // Distinct IDs per township: its number picks the block of sequence numbers.
    let base: u16 = community[6..9].parse::<u16>().unwrap() * 50;
    db.transaction(|tx| {
        for seq in 0..people {
            let id = CitizenId::from_parts(&community[..6], NaiveDate::from_ymd_opt(1970 + seq as i32 % 40, 3, 4).unwrap(), base + seq);
            let mut obs = Observation::new(id, Provenance { source: Source::PublicSecurity, origin: Origin::Batch("t".into()), at });
            obs.name = Some("李四".into());
            obs.gender = Some(id.gender());
            obs.ethnicity = Some(Ethnicity::HAN);
            obs.birth_date = Some(id.birth_date());
            obs.hukou_region = Some(RegionCode::parse(community).unwrap().value);
            obs.person_status = Some(PersonStatus::Normal);
            let mut all = vec![obs];
            if seq % 2 == 0 {
                let mut e = Observation::new(id, Provenance { source: Source::Hrss, origin: Origin::Batch("t".into()), at });
                let scheme = if seq % 4 == 0 { Scheme::ResidentMedical } else { Scheme::EnterprisePension };
                e.enrollments.push(Enrollment { scheme, status: EnrollmentStatus::Active, since: None, region: None, employer_credit_code: None });
                all.push(e);
            }
            if renamed && seq == 1 {
                let mut s = Observation::new(id, Provenance { source: Source::Survey, origin: Origin::Receipt("r".into()), at });
                s.name = Some("李思".into());
                all.push(s);
            }
            for obs in &all {
                let current = load_person(tx, &id)?;
                save_outcome(tx, &merge_by_precedence(current.as_ref(), obs), at)?;
            }
        }
        bump_data_version(tx)
    })
    .unwrap();
}

#[test]
fn the_dashboard_renders_figures_drills_into_a_county_and_lists_anomalies() {
    let app = TestApp::start();
    {
        let db = NativeSql::open(app.state_dir().join("sqlite_db.db")).unwrap();
        seed(&db, "510402001001", 12, true);
        seed(&db, "510402002001", 8, false);
        seed(&db, "510403001001", 10, false);
        seed(&db, "510421001001", 6, false);
        canbao::stats::trend::take_daily_snapshot(&db, Utc::now()).unwrap();
    }
    let shots = screenshots_dir();
    let seen = run_browser_script("dashboard.mjs", &[&app.url(), &shots.to_string_lossy(), "staff-east"]);

    assert_eq!(seen["city_rows"], serde_json::json!(["510402", "510403", "510421"]), "{seen}");
    assert_eq!(seen["county_rows"], serde_json::json!(["510402001", "510402002"]), "{seen}");
    assert_eq!(seen["coverage_rows"], 8, "one bar per scheme");
    assert!(seen["trend_points"].as_u64().unwrap() >= 2, "the snapshot's two rates: {seen}");
    assert!(seen["anomalies_before"].as_str().unwrap().contains("登录"), "counts need a token: {seen}");
    let conflicts = seen["counts"].as_array().unwrap().iter().find(|c| c[0] == "conflicts").unwrap();
    assert_eq!(conflicts[1], "1", "{seen}");
    assert_eq!(seen["conflict_rows"], 1);
    assert!(seen["projector_font_px"].as_f64().unwrap() >= 20.0, "larger type on a projector: {seen}");
    for shot in ["dashboard-city.png", "dashboard-county.png", "dashboard-anomalies.png", "dashboard-phone.png", "dashboard-projector.png"] {
        assert!(shots.join(shot).metadata().map(|m| m.len() > 1000).unwrap_or(false), "{shot} missing");
    }
}
