//! Fixtures for the lookup tests: residents written into the running app's database the way
//! intake writes them (merge by precedence, then `store::save_outcome`), natively beside the
//! host (SQLite in WAL mode), with IDs from the project's `CitizenId::from_parts`.
// Each test binary that includes this module uses a part of it.
#![allow(dead_code)]

use canbao::codes::{EnrollmentStatus, Scheme, Source};
use canbao::ids::{CitizenId, Phone};
use canbao::merge::{merge_by_precedence, Observation};
use canbao::person::{Enrollment, Origin, Provenance};
use canbao::regions::RegionCode;
use canbao::storage::native::NativeSql;
use canbao::storage::{Sql, SqlExt, StorageError};
use canbao::store::{load_person, save_outcome};
use canbao_tests::TestApp;
use chrono::{DateTime, NaiveDate, Utc};

/// A resident to seed.
pub struct Resident {
    /// The citizen ID.
    pub id: CitizenId,
    /// The name as the household registry writes it.
    pub name: &'static str,
    /// The hukou region (the attributed region).
    pub region: &'static str,
    /// Enrollments from hrss (health for 390): (scheme, status).
    pub schemes: &'static [(&'static str, &'static str)],
    /// A grid worker's registration with this phone, if any.
    pub survey_phone: Option<&'static str>,
}

impl Resident {
    /// A resident born on `birth` (`YYYY-MM-DD`) with `sequence` in `county`.
    pub fn new(county: &str, birth: &str, sequence: u16, name: &'static str, region: &'static str) -> Resident {
        let birth = NaiveDate::parse_from_str(birth, "%Y-%m-%d").expect("date");
        Resident { id: CitizenId::from_parts(county, birth, sequence), name, region, schemes: &[], survey_phone: None }
    }
}

/// The running app's database, opened natively.
pub fn database(app: &TestApp) -> NativeSql {
    NativeSql::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database")
}

/// When the fixtures' sources said what they say (day 1 registry, day 2 insurance, day 3 survey).
pub fn said_on(day: u32) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(&format!("2026-03-0{day}T08:00:00Z")).expect("time").with_timezone(&Utc)
}

/// An empty observation about `r` by `source` on day `day`.
pub fn observation(r: &Resident, source: Source, day: u32) -> Observation {
    Observation::new(r.id, Provenance { source, origin: Origin::Batch(format!("seed-{day}")), at: said_on(day) })
}

/// Records what one source says about a person, as intake does.
pub fn apply(db: &NativeSql, o: &Observation) {
    db.transaction(|tx| {
        let current = load_person(tx, &o.id)?;
        save_outcome(tx, &merge_by_precedence(current.as_ref(), o), o.provenance.at)?;
        Ok::<_, StorageError>(())
    })
    .expect("save a fixture person");
}

/// Writes a resident: the household registry's identity fields, then their enrollments, then a
/// survey registration if they have one.
pub fn seed(db: &NativeSql, r: &Resident) {
    let region = RegionCode::parse(r.region).expect("region").value;
    let mut registry = observation(r, Source::PublicSecurity, 1);
    registry.name = Some(r.name.into());
    registry.gender = Some(r.id.gender());
    registry.birth_date = Some(r.id.birth_date());
    registry.hukou_region = Some(region);
    apply(db, &registry);
    for source in [Source::Hrss, Source::Health] {
        let enrollments: Vec<Enrollment> = r
            .schemes
            .iter()
            .map(|(scheme, status)| (Scheme::parse(scheme).expect("scheme"), EnrollmentStatus::parse(status).expect("status")))
            .filter(|(scheme, _)| (*scheme == Scheme::ResidentMedical) == (source == Source::Health))
            .map(|(scheme, status)| Enrollment {
                scheme,
                status,
                since: NaiveDate::from_ymd_opt(2020, 1, 1),
                region: Some(region),
                employer_credit_code: None,
            })
            .collect();
        if !enrollments.is_empty() {
            let mut insurance = observation(r, source, 2);
            insurance.enrollments = enrollments;
            apply(db, &insurance);
        }
    }
    if let Some(phone) = r.survey_phone {
        let mut survey = observation(r, Source::Survey, 3);
        survey.phone = Some(Phone::parse(phone).expect("phone").value);
        apply(db, &survey);
    }
}

/// Rows in the audit trail for a person.
pub fn audit_rows(db: &NativeSql, id: &str) -> i64 {
    db.execute("SELECT COUNT(*) FROM audit_log WHERE target_person = ?", &[id.into()])
        .expect("count audit rows")
        .scalar::<i64>()
        .expect("a count")
        .unwrap_or(0)
}
