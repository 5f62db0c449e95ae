//! Fixtures for the lookup tests: persons written straight into the running app's database
//! (SQLite in WAL mode lets a native writer work beside the host), with IDs built by the
//! project's own `CitizenId::from_parts`.

use canbao::ids::CitizenId;
use canbao::storage::native::NativeSql;
use canbao::storage::{Sql, SqlValue};
use canbao_tests::TestApp;
use chrono::NaiveDate;

/// A resident to seed: ID parts, name, hukou region, enrollments (scheme, status).
pub struct Resident {
    /// The citizen ID.
    pub id: CitizenId,
    /// The name as stored.
    pub name: &'static str,
    /// The attributed (hukou) region.
    pub region: &'static str,
    /// Enrollments from hrss/health: (scheme, status).
    pub schemes: &'static [(&'static str, &'static str)],
    /// Whether a form registration was received.
    pub via_form: bool,
}

impl Resident {
    /// A resident born on `birth` (`YYYY-MM-DD`) with `sequence` in `county`.
    pub fn new(county: &str, birth: &str, sequence: u16, name: &'static str, region: &'static str) -> Resident {
        let birth = NaiveDate::parse_from_str(birth, "%Y-%m-%d").expect("date");
        Resident { id: CitizenId::from_parts(county, birth, sequence), name, region, schemes: &[], via_form: false }
    }
}

/// The running app's database, opened natively.
pub fn database(app: &TestApp) -> NativeSql {
    NativeSql::open(app.state_dir().join("sqlite_db.db")).expect("open the app's database")
}

/// When fixtures say their data was recorded.
pub const SEEDED_AT: &str = "2026-03-01T08:00:00.000Z";

/// Writes a resident with the provenance of their name and enrollments.
pub fn seed(db: &NativeSql, r: &Resident) {
    let id = r.id.as_str();
    let registered = r.via_form || !r.schemes.is_empty();
    db.exec(
        "INSERT INTO persons (id_number, name, name_key, gender, birth_date, hukou_region, via_form, region_hukou,
            region_residence, registered, missing_fields, created_at, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'ethnicity,residence_address,phone,employment_status', ?, ?)",
        &[
            id.into(),
            r.name.into(),
            canbao::person::normalise_text(r.name).into(),
            r.id.gender().code().into(),
            r.id.birth_date().to_string().into(),
            r.region.into(),
            r.via_form.into(),
            r.region.into(),
            r.region.into(),
            registered.into(),
            SEEDED_AT.into(),
            SEEDED_AT.into(),
        ],
    )
    .expect("insert person");
    provenance(db, id, "name", r.name, "public_security", true);
    for (scheme, status) in r.schemes {
        let source = if *scheme == "390" { "health" } else { "hrss" };
        db.exec(
            "INSERT INTO enrollments (id_number, scheme, status, since, region, source, origin, observed_at, updated_at)
             VALUES (?, ?, ?, '2020-01-01', ?, ?, 'batch:seed', ?, ?)",
            &[id.into(), (*scheme).into(), (*status).into(), r.region.into(), source.into(), SEEDED_AT.into(), SEEDED_AT.into()],
        )
        .expect("insert enrollment");
    }
}

/// Adds one provenance row for a field (current or history).
pub fn provenance(db: &NativeSql, id: &str, field: &str, value: &str, source: &str, current: bool) {
    db.exec(
        "INSERT INTO field_provenance (id_number, field, value, source, origin, observed_at, recorded_at, is_current)
         VALUES (?, ?, ?, ?, 'batch:seed', ?, ?, ?)",
        &[id.into(), field.into(), value.into(), source.into(), SEEDED_AT.into(), SEEDED_AT.into(), SqlValue::from(current)],
    )
    .expect("insert provenance");
}

/// Rows in the audit trail for a person.
pub fn audit_rows(db: &NativeSql, id: &str) -> i64 {
    db.execute("SELECT COUNT(*) FROM audit_log WHERE target_person = ?", &[id.into()])
        .expect("count audit rows")
        .scalar::<i64>()
        .expect("a count")
        .unwrap_or(0)
}
