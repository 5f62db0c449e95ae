//! Statistics beyond the figures themselves (`crate::figures`): the anomaly lists, the
//! door-to-door list with its exports, the daily snapshots behind the trend, and the cache of
//! computed answers. The HTTP side
//! is `api::stats`.

pub mod anomalies;
pub mod cache;
pub mod trend;
pub mod worklist;

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::anomalies::{self, AnomalyType, Scope};
    use super::trend;
    use super::worklist::{self, Detail, Reason};
    use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, PersonStatus, Scheme, Source, UninsuredReason};
    use crate::figures::{figures_for, Attribute};
    use crate::ids::{CitizenId, Phone};
    use crate::merge::{merge_by_precedence, Observation};
    use crate::person::{Enrollment, Origin, Provenance};
    use crate::regions::{RegionCode, RegionTree};
    use crate::storage::native::NativeSql;
    use crate::storage::Sql;
    use crate::store::{bump_data_version, load_person, save_outcome};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn code(text: &str) -> RegionCode {
        RegionCode::parse(text).unwrap().value
    }

    fn scope(region: &str) -> Scope {
        Scope { region: code(region), by: Attribute::Hukou }
    }

    fn observe(db: &NativeSql, obs: Observation) {
        let current = load_person(db, &obs.id).unwrap();
        save_outcome(db, &merge_by_precedence(current.as_ref(), &obs), obs.provenance.at).unwrap();
        bump_data_version(db).unwrap();
    }

    fn at(day: u32) -> chrono::DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, day, 0, 0, 0).unwrap()
    }

    /// A household-registry person living in `community`.
    fn registry(db: &NativeSql, seq: u16, community: &str, name: &str, status: PersonStatus) -> CitizenId {
        let id = CitizenId::from_parts(&community[..6], NaiveDate::from_ymd_opt(1980, 5, 6).unwrap(), seq);
        let mut obs = Observation::new(id, Provenance { source: Source::PublicSecurity, origin: Origin::Batch("1".into()), at: at(1) });
        obs.name = Some(name.into());
        obs.gender = Some(id.gender());
        obs.ethnicity = Some(Ethnicity::HAN);
        obs.birth_date = Some(id.birth_date());
        obs.hukou_region = Some(code(community));
        obs.hukou_address = Some(format!("{community} 户籍地址 {seq} 号"));
        obs.person_status = Some(status);
        observe(db, obs);
        id
    }

    fn enroll(db: &NativeSql, id: CitizenId, scheme: Scheme, status: EnrollmentStatus) {
        let mut obs = Observation::new(id, Provenance { source: Source::Hrss, origin: Origin::Batch("2".into()), at: at(2) });
        obs.enrollments.push(Enrollment { scheme, status, since: None, region: None, employer_credit_code: None });
        observe(db, obs);
    }

    /// A grid worker's form with every field a complete record needs (and `name` as written).
    fn survey(db: &NativeSql, id: CitizenId, name: &str, address: &str) {
        let mut obs = Observation::new(id, Provenance { source: Source::Survey, origin: Origin::Receipt("r".into()), at: at(3) });
        obs.name = Some(name.into());
        obs.residence_address = Some(address.into());
        obs.phone = Some(Phone::parse("13812345678").unwrap().value);
        obs.employment_status = Some(EmploymentStatus::Farmer);
        obs.uninsured_reason = Some(UninsuredReason::Unwilling);
        observe(db, obs);
    }

    #[test]
    fn duplicate_enrollment_and_benefits_after_death_list_exactly_the_persons_the_figures_count() {
        let db = NativeSql::open_in_memory().unwrap();
        let both_medical = registry(&db, 11, "510402001001", "张三", PersonStatus::Normal);
        enroll(&db, both_medical, Scheme::EmployeeMedical, EnrollmentStatus::Active);
        enroll(&db, both_medical, Scheme::ResidentMedical, EnrollmentStatus::Active);
        let pensions = registry(&db, 13, "510402002001", "李四", PersonStatus::Normal);
        enroll(&db, pensions, Scheme::ResidentPension, EnrollmentStatus::Active);
        enroll(&db, pensions, Scheme::PublicSectorPension, EnrollmentStatus::Active);
        // Suspended 390 with active 310: not a duplicate.
        let suspended = registry(&db, 15, "510402001001", "王五", PersonStatus::Normal);
        enroll(&db, suspended, Scheme::EmployeeMedical, EnrollmentStatus::Active);
        enroll(&db, suspended, Scheme::ResidentMedical, EnrollmentStatus::Suspended);
        // Deceased with an active pension; deceased with only a terminated one.
        let dead = registry(&db, 17, "510403001001", "赵六", PersonStatus::Deceased);
        enroll(&db, dead, Scheme::EnterprisePension, EnrollmentStatus::Active);
        let dead_done = registry(&db, 19, "510403001001", "钱七", PersonStatus::Deceased);
        enroll(&db, dead_done, Scheme::EnterprisePension, EnrollmentStatus::Terminated);

        let dup = anomalies::page(&db, AnomalyType::DuplicateEnrollment, scope("510400"), 1, 50).unwrap();
        let ids: Vec<&str> = dup.items.iter().map(|i| i["id_number"].as_str().unwrap()).collect();
        let mut want = vec![both_medical.as_str(), pensions.as_str()];
        want.sort();
        assert_eq!((dup.total, ids), (2, want));
        let rules: Vec<&str> = dup.items.iter().flat_map(|i| i["rules"].as_array().unwrap()).map(|r| r.as_str().unwrap()).collect();
        assert!(rules.contains(&"310+390") && rules.contains(&"170+110/120"), "{rules:?}");

        let after_death = anomalies::page(&db, AnomalyType::BenefitsAfterDeath, scope("510400"), 1, 50).unwrap();
        assert_eq!(after_death.total, 1);
        assert_eq!(after_death.items[0]["id_number"], dead.as_str());
        assert_eq!(after_death.items[0]["enrollments"][0]["scheme_name"], "企业职工基本养老保险");

        // The same numbers as the figures, for every region.
        for region in ["510400", "510402", "510403", "510402001"] {
            let f = figures_for(&db, Attribute::Hukou, code(region)).unwrap();
            assert_eq!(anomalies::count(&db, AnomalyType::DuplicateEnrollment, scope(region)).unwrap(), f.duplicate_enrollment);
            assert_eq!(anomalies::count(&db, AnomalyType::BenefitsAfterDeath, scope(region)).unwrap(), f.benefits_after_death);
        }
        // Pages: one row a page, in ID order.
        let second = anomalies::page(&db, AnomalyType::DuplicateEnrollment, scope("510400"), 2, 1).unwrap();
        assert_eq!((second.total, second.items.len()), (2, 1));
        assert_eq!(second.items[0]["id_number"], want_last(&[both_medical, pensions]));
        assert!(anomalies::page(&db, AnomalyType::DuplicateEnrollment, scope("510400"), 3, 1).unwrap().items.is_empty());
    }

    fn want_last(ids: &[CitizenId]) -> String {
        ids.iter().map(|i| i.as_str().to_string()).max().unwrap()
    }

    #[test]
    fn conflicts_pairs_and_units_are_listed_by_region() {
        let db = NativeSql::open_in_memory().unwrap();
        let east = registry(&db, 21, "510402001001", "孙八", PersonStatus::Normal);
        let west = registry(&db, 23, "510403001001", "周九", PersonStatus::Normal);
        // A grid worker writes another name than the registry: one open conflict.
        survey(&db, east, "孙捌", "东区某路 1 号");
        let conflicts = anomalies::page(&db, AnomalyType::Conflicts, scope("510402"), 1, 50).unwrap();
        assert_eq!(conflicts.total, 1);
        assert_eq!((conflicts.items[0]["field"].as_str(), conflicts.items[0]["person"]["name"].as_str()), (Some("name"), Some("孙八")));
        assert!(conflicts.items[0]["candidates"].to_string().contains("孙捌"));
        assert_eq!(anomalies::count(&db, AnomalyType::Conflicts, scope("510403")).unwrap(), 0);
        db.exec("UPDATE conflicts SET status = 'resolved'", &[]).unwrap();
        assert_eq!(anomalies::count(&db, AnomalyType::Conflicts, scope("510400")).unwrap(), 0, "resolved ones leave the list");

        // One pair with two rules is one row; a dismissed pair is gone; a pair is in both counties.
        let (a, b) = if east.as_str() < west.as_str() { (east, west) } else { (west, east) };
        for rule in ["same_details", "similar_id"] {
            db.exec("INSERT INTO duplicate_candidates (id_a, id_b, rule, detected_at) VALUES (?, ?, ?, 'x')", &[a.as_str().into(), b.as_str().into(), rule.into()]).unwrap();
        }
        let pairs = anomalies::page(&db, AnomalyType::MultipleIds, scope("510400"), 1, 50).unwrap();
        assert_eq!(pairs.total, 1);
        assert_eq!(pairs.items[0]["rules"], serde_json::json!(["same_details", "similar_id"]));
        assert_eq!(pairs.items[0]["persons"].as_array().unwrap().len(), 2);
        assert_eq!(anomalies::count(&db, AnomalyType::MultipleIds, scope("510403")).unwrap(), 1);
        assert_eq!(anomalies::count(&db, AnomalyType::MultipleIds, scope("510421")).unwrap(), 0);
        db.exec("UPDATE duplicate_candidates SET status = 'dismissed'", &[]).unwrap();
        assert_eq!(anomalies::count(&db, AnomalyType::MultipleIds, scope("510400")).unwrap(), 0);

        // Units: one employs someone per hrss, one does not, one has only an organisation code.
        let unit = |key: &str, credit: Option<&str>| {
            db.exec(
                "INSERT INTO units (unit_key, credit_code, org_code, name, created_at, updated_at) VALUES (?, ?, 'X', ?, 'x', 'x')",
                &[key.into(), credit.into(), format!("单位{key}").into()],
            )
            .unwrap();
        };
        unit("a", Some("91510402AAAAAAAAA1"));
        unit("b", Some("91510403BBBBBBBBB2"));
        unit("c", None);
        db.exec(
            "INSERT INTO enrollments (id_number, scheme, status, employer_credit_code, source, origin, observed_at, updated_at)
             VALUES (?, '110', 'active', '91510402AAAAAAAAA1', 'hrss', 'batch:1', 'x', 'x')",
            &[east.as_str().into()],
        )
        .unwrap();
        let units = anomalies::page(&db, AnomalyType::UninsuredUnits, scope("510400"), 1, 50).unwrap();
        let keys: Vec<&str> = units.items.iter().map(|u| u["unit_key"].as_str().unwrap()).collect();
        assert_eq!(keys, ["b", "c"]);
        assert_eq!(anomalies::count(&db, AnomalyType::UninsuredUnits, scope("510403")).unwrap(), 1);
        assert_eq!(anomalies::count(&db, AnomalyType::UninsuredUnits, scope("510402")).unwrap(), 0);
    }

    #[test]
    fn the_door_to_door_list_has_the_unregistered_and_the_incomplete_in_walking_order() {
        let db = NativeSql::open_in_memory().unwrap();
        let tree = RegionTree::panzhihua_demo();
        let unregistered = registry(&db, 31, "510402001002", "吴一", PersonStatus::Normal);
        let incomplete = registry(&db, 33, "510402001001", "郑二", PersonStatus::Normal);
        enroll(&db, incomplete, Scheme::ResidentMedical, EnrollmentStatus::Active);
        let complete = registry(&db, 35, "510402001001", "王三", PersonStatus::Normal);
        survey(&db, complete, "王三", "东区某路 2 号");
        registry(&db, 37, "510402001001", "冯四", PersonStatus::Deceased);
        registry(&db, 39, "510403001001", "陈五", PersonStatus::Normal);

        let list = worklist::door_to_door_list(&db, &tree, Attribute::Hukou, code("510402"), Detail::Full).unwrap();
        let rows: Vec<(&str, Reason)> = list.iter().map(|i| (i.id_number.as_str(), i.reason)).collect();
        assert_eq!(rows, [(incomplete.as_str(), Reason::Incomplete), (unregistered.as_str(), Reason::Unregistered)]);
        assert_eq!(list[0].missing_fields, ["residence_address", "phone", "employment_status"]);
        assert_eq!(list[0].missing_zh(), "居住地址、联系电话、就业状态");
        assert!(list[0].community_name.is_some(), "the community's name from the region tree");
        let f = figures_for(&db, Attribute::Hukou, code("510402")).unwrap();
        assert_eq!(list.len() as u64, f.target_population - f.complete);
        let totals = worklist::door_to_door_totals(&db, Attribute::Hukou, code("510402")).unwrap();
        assert_eq!(totals, worklist::ListTotals { total: 2, unregistered: 1, incomplete: 1 });
        for (page, want) in [(1, &list[..1]), (2, &list[1..]), (3, &list[2..])] {
            let got = worklist::door_to_door_page(&db, &tree, Attribute::Hukou, code("510402"), Detail::Full, page, 1).unwrap();
            let ids = |items: &[worklist::WorkItem]| items.iter().map(|i| i.id_number.clone()).collect::<Vec<_>>();
            assert_eq!(ids(&got), ids(want), "page {page} of one row");
        }

        let masked = worklist::door_to_door_list(&db, &tree, Attribute::Hukou, code("510402"), Detail::Masked).unwrap();
        assert_eq!(masked[0].id_number, crate::masking::mask_id(incomplete.as_str()));
        assert_eq!(masked[0].name.as_deref(), Some("郑二"), "the name finds the door");

        let csv = worklist::to_csv(&list).unwrap();
        assert!(csv.starts_with(b"\xEF\xBB\xBF\xE7\xA4\xBE\xE5\x8C\xBA\xE4\xBB\xA3\xE7\xA0\x81,"), "BOM, then 社区代码");
        let text = String::from_utf8(csv).unwrap();
        assert_eq!(text.lines().count(), 3);
        assert!(text.contains("信息不全") && text.contains("未登记"));
        let xlsx = worklist::to_xlsx(&list, "入户调查名单").unwrap();
        assert_eq!(&xlsx[..2], b"PK", "a zip container");
    }

    #[test]
    fn the_daily_snapshot_is_rewritten_only_when_the_data_changed() {
        let db = NativeSql::open_in_memory().unwrap();
        let id = registry(&db, 41, "510402001001", "褚六", PersonStatus::Normal);
        let morning = Utc.with_ymd_and_hms(2026, 3, 1, 1, 0, 0).unwrap();
        assert!(trend::take_daily_snapshot(&db, morning).unwrap());
        assert!(!trend::take_daily_snapshot(&db, morning + chrono::Duration::minutes(1)).unwrap(), "nothing new");
        enroll(&db, id, Scheme::ResidentMedical, EnrollmentStatus::Active);
        assert!(trend::take_daily_snapshot(&db, morning + chrono::Duration::minutes(2)).unwrap());
        let city = trend::series(&db, Attribute::Hukou, code("510400")).unwrap();
        assert_eq!(city.len(), 1, "one point a day");
        assert_eq!((city[0].day.as_str(), city[0].figures.registered), ("2026-03-01", 1));
        // 16:30 UTC is already the next day in China.
        let evening = Utc.with_ymd_and_hms(2026, 3, 1, 16, 30, 0).unwrap();
        assert!(trend::take_daily_snapshot(&db, evening).unwrap());
        let county = trend::series(&db, Attribute::Residence, code("510402")).unwrap();
        assert_eq!(county.iter().map(|p| p.day.as_str()).collect::<Vec<_>>(), ["2026-03-01", "2026-03-02"]);
        assert!(trend::series(&db, Attribute::Hukou, code("510421")).unwrap().is_empty(), "nobody there");
    }
}
