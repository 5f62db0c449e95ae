//! Persisting merged persons: load a [`Person`] with its current provenance, enrollments and open
//! conflicts; save a [`MergeOutcome`] (person row with its precomputed figure columns, provenance
//! history, enrollments, conflicts) inside the caller's transaction. Intake and registration both
//! go through here, so the `persons` row always agrees with `merge` and `completeness`.

use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Flag, Gender, PersonStatus, Scheme, Source, UninsuredReason};
use crate::completeness::missing_fields;
use crate::duplicates::{CandidatePair, PersonKey};
use crate::error::FieldError;
use crate::ids::{CitizenId, CreditCode, Phone};
use crate::merge::MergeOutcome;
use crate::person::{
    normalise_text, Attribution, Candidate, Conflict, Enrollment, Field, Origin, Person, Provenance, Willingness,
};
use crate::regions::RegionCode;
use crate::storage::{Row, Sql, SqlValue, StorageError};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};
use std::collections::BTreeMap;

/// The columns of `persons` that [`load_person`] reads.
const SELECT_PERSON: &str = "SELECT id_number, name, gender, ethnicity, birth_date, hukou_address, hukou_region,
    residence_address, residence_region, phone, employment_status, employer_name, employer_credit_code,
    person_status, person_status_date, uninsured_reason, willingness, declared_insurance,
    flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, via_form
    FROM persons WHERE id_number = ?";

/// The current winner's provenance of each field.
const SELECT_CURRENT_PROVENANCE: &str =
    "SELECT field, source, origin, observed_at FROM field_provenance WHERE id_number = ? AND is_current = 1";

/// A person's enrollments, one per scheme.
const SELECT_ENROLLMENTS: &str = "SELECT scheme, status, since, region, employer_credit_code, source, origin, observed_at
    FROM enrollments WHERE id_number = ? ORDER BY scheme";

/// A person's open conflicts.
const SELECT_OPEN_CONFLICTS: &str =
    "SELECT id, field, candidates, opened_at FROM conflicts WHERE id_number = ? AND status = 'open' ORDER BY id";

/// Insert or replace the whole person row (created_at is kept on update).
const UPSERT_PERSON: &str = "INSERT INTO persons (id_number, name, name_key, gender, ethnicity, birth_date,
    hukou_address, hukou_region, residence_address, residence_region, phone, employment_status, employer_name,
    employer_credit_code, person_status, person_status_date, uninsured_reason, willingness, declared_insurance,
    flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, via_form, region_hukou,
    region_residence, registered, complete, missing_fields, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
    gender = excluded.gender, ethnicity = excluded.ethnicity, birth_date = excluded.birth_date,
    hukou_address = excluded.hukou_address, hukou_region = excluded.hukou_region,
    residence_address = excluded.residence_address, residence_region = excluded.residence_region,
    phone = excluded.phone, employment_status = excluded.employment_status,
    employer_name = excluded.employer_name, employer_credit_code = excluded.employer_credit_code,
    person_status = excluded.person_status, person_status_date = excluded.person_status_date,
    uninsured_reason = excluded.uninsured_reason, willingness = excluded.willingness,
    declared_insurance = excluded.declared_insurance, flag_minimum_living = excluded.flag_minimum_living,
    flag_extreme_poverty = excluded.flag_extreme_poverty, flag_student = excluded.flag_student,
    flag_deceased = excluded.flag_deceased, via_form = excluded.via_form,
    region_hukou = excluded.region_hukou, region_residence = excluded.region_residence,
    registered = excluded.registered, complete = excluded.complete,
    missing_fields = excluded.missing_fields, updated_at = excluded.updated_at";

/// Retire a field's current provenance row before inserting the new winner.
const RETIRE_PROVENANCE: &str =
    "UPDATE field_provenance SET is_current = 0 WHERE id_number = ? AND field = ? AND is_current = 1";

/// Record a field's new winner.
const INSERT_PROVENANCE: &str = "INSERT INTO field_provenance
    (id_number, field, value, source, origin, observed_at, recorded_at, is_current) VALUES (?, ?, ?, ?, ?, ?, ?, 1)";

/// Insert or replace one enrollment.
const UPSERT_ENROLLMENT: &str = "INSERT INTO enrollments
    (id_number, scheme, status, since, region, employer_credit_code, source, origin, observed_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
    ON CONFLICT (id_number, scheme) DO UPDATE SET status = excluded.status, since = excluded.since,
    region = excluded.region, employer_credit_code = excluded.employer_credit_code, source = excluded.source,
    origin = excluded.origin, observed_at = excluded.observed_at, updated_at = excluded.updated_at";

/// Open a conflict, or update the candidates of the open one (the partial unique index
/// `conflicts_one_open` is the conflict target).
const UPSERT_OPEN_CONFLICT: &str = "INSERT INTO conflicts (id_number, field, status, candidates, opened_at, updated_at)
    VALUES (?, ?, 'open', ?, ?, ?)
    ON CONFLICT (id_number, field) WHERE status = 'open'
    DO UPDATE SET candidates = excluded.candidates, updated_at = excluded.updated_at";

/// Count one committed change to the base data (cached figures compare it).
const BUMP_DATA_VERSION: &str =
    "UPDATE meta SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT) WHERE key = 'data_version'";

/// The current data version.
const SELECT_DATA_VERSION: &str = "SELECT CAST(value AS INTEGER) FROM meta WHERE key = 'data_version'";

/// What the duplicate search needs about everyone.
const SELECT_PERSON_KEYS: &str = "SELECT id_number, name_key, birth_date, gender, substr(region_hukou, 1, 6)
    FROM persons WHERE name_key IS NOT NULL AND name_key <> ''";

/// Record a candidate pair once (a reviewed pair keeps its status).
const INSERT_DUPLICATE_CANDIDATE: &str = "INSERT INTO duplicate_candidates (id_a, id_b, rule, detected_at)
    VALUES (?, ?, ?, ?) ON CONFLICT (id_a, id_b, rule) DO NOTHING RETURNING id";

/// A time as stored: RFC 3339 UTC with milliseconds (sorts as text).
pub fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Millis, true)
}

fn corrupt(column: &str) -> impl Fn(FieldError) -> StorageError + '_ {
    move |_| StorageError::Corrupt(format!("persons data: column {column}"))
}

fn parse_time(text: &str, column: &str) -> Result<DateTime<Utc>, StorageError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|_| StorageError::Corrupt(format!("column {column}: not an RFC 3339 time")))
}

fn parse_date(text: &str, column: &str) -> Result<NaiveDate, StorageError> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| StorageError::Corrupt(format!("column {column}: not a date")))
}

/// Reads an optional text column through a parser.
fn opt<T>(row: &Row<'_>, column: &str, parse: impl Fn(&str) -> Result<T, FieldError>) -> Result<Option<T>, StorageError> {
    row.get::<Option<String>>(column)?.filter(|s| !s.is_empty()).map(|s| parse(&s).map_err(corrupt(column))).transpose()
}

fn provenance_from(row: &Row<'_>) -> Result<Provenance, StorageError> {
    Ok(Provenance {
        source: Source::parse(&row.get::<String>("source")?).map_err(corrupt("source"))?,
        origin: Origin::parse(&row.get::<String>("origin")?).map_err(corrupt("origin"))?,
        at: parse_time(&row.get::<String>("observed_at")?, "observed_at")?,
    })
}

/// Loads a person with current provenance, enrollments and open conflicts; `None` if unknown.
pub fn load_person(db: &dyn Sql, id: &CitizenId) -> Result<Option<Person>, StorageError> {
    let key = [SqlValue::from(id.as_str())];
    let rows = db.execute(SELECT_PERSON, &key)?;
    let Some(r) = rows.first() else { return Ok(None) };
    let mut p = Person::new(*id);
    p.name = r.get("name")?;
    p.gender = opt(&r, "gender", Gender::parse)?;
    p.ethnicity = opt(&r, "ethnicity", Ethnicity::parse)?;
    p.birth_date = r.get::<Option<String>>("birth_date")?.map(|d| parse_date(&d, "birth_date")).transpose()?;
    p.hukou_address = r.get("hukou_address")?;
    p.hukou_region = opt(&r, "hukou_region", |s| RegionCode::parse(s).map(|p| p.value))?;
    p.residence_address = r.get("residence_address")?;
    p.residence_region = opt(&r, "residence_region", |s| RegionCode::parse(s).map(|p| p.value))?;
    p.phone = opt(&r, "phone", |s| Phone::parse(s).map(|p| p.value))?;
    p.employment_status = opt(&r, "employment_status", EmploymentStatus::parse)?;
    p.employer_name = r.get("employer_name")?;
    p.employer_credit_code = opt(&r, "employer_credit_code", |s| CreditCode::parse(s).map(|p| p.value))?;
    p.person_status = PersonStatus::parse(&r.get::<String>("person_status")?).map_err(corrupt("person_status"))?;
    p.person_status_date =
        r.get::<Option<String>>("person_status_date")?.map(|d| parse_date(&d, "person_status_date")).transpose()?;
    p.uninsured_reason = opt(&r, "uninsured_reason", UninsuredReason::parse)?;
    p.willingness = opt(&r, "willingness", Willingness::parse)?;
    p.declared_insurance = serde_json::from_str(&r.get::<String>("declared_insurance")?)
        .map_err(|_| StorageError::Corrupt("column declared_insurance".into()))?;
    for (column, flag) in FLAG_COLUMNS {
        if r.get::<bool>(*column)? {
            p.flags.insert(*flag);
        }
    }
    p.via_form = r.get("via_form")?;

    for row in db.execute(SELECT_CURRENT_PROVENANCE, &key)?.iter() {
        let field = Field::parse(&row.get::<String>("field")?).map_err(corrupt("field"))?;
        p.provenance.insert(field, provenance_from(&row)?);
    }
    for row in db.execute(SELECT_ENROLLMENTS, &key)?.iter() {
        let scheme = Scheme::parse(&row.get::<String>("scheme")?).map_err(corrupt("scheme"))?;
        p.enrollments.push(Enrollment {
            scheme,
            status: EnrollmentStatus::parse(&row.get::<String>("status")?).map_err(corrupt("status"))?,
            since: row.get::<Option<String>>("since")?.map(|d| parse_date(&d, "since")).transpose()?,
            region: opt(&row, "region", |s| RegionCode::parse(s).map(|p| p.value))?,
            employer_credit_code: opt(&row, "employer_credit_code", |s| CreditCode::parse(s).map(|p| p.value))?,
        });
        p.enrollment_provenance.insert(scheme, provenance_from(&row)?);
    }
    for row in db.execute(SELECT_OPEN_CONFLICTS, &key)?.iter() {
        let field = Field::parse(&row.get::<String>("field")?).map_err(corrupt("field"))?;
        let candidates: Vec<Candidate> = serde_json::from_str(&row.get::<String>("candidates")?)
            .map_err(|_| StorageError::Corrupt("column candidates".into()))?;
        p.open_conflicts.insert(
            field,
            Conflict {
                id: Some(row.get("id")?),
                field,
                candidates,
                opened_at: parse_time(&row.get::<String>("opened_at")?, "opened_at")?,
            },
        );
    }
    Ok(Some(p))
}

/// The flag columns of `persons`.
const FLAG_COLUMNS: &[(&str, Flag)] = &[
    ("flag_minimum_living", Flag::MinimumLiving),
    ("flag_extreme_poverty", Flag::ExtremePoverty),
    ("flag_student", Flag::Student),
    ("flag_deceased", Flag::Deceased),
];

/// The text of an attributed region: the region, else the ID's 6-digit address code.
fn region_column(p: &Person, by: Attribution) -> String {
    p.attributed_region(by).map_or_else(|| p.id.county_code().to_owned(), |r| r.as_str().to_owned())
}

/// Saves what a merge changed, in the caller's transaction: the person row (with the attributed
/// regions and the registered/complete/missing_fields columns recomputed), a provenance row per
/// changed field, changed enrollments, opened or updated conflicts, and the data version.
/// Does nothing when the merge changed nothing.
pub fn save_outcome(db: &dyn Sql, outcome: &MergeOutcome, now: DateTime<Utc>) -> Result<(), StorageError> {
    if !outcome.is_changed() {
        return Ok(());
    }
    let p = &outcome.person;
    let id = p.id.as_str();
    let now_text = timestamp(now);
    let text = |f: Field| SqlValue::from(p.field_text(f));
    let missing: Vec<&str> = missing_fields(p).iter().map(|f| f.as_str()).collect();
    let declared = serde_json::to_string(&p.declared_insurance).map_err(|e| StorageError::Json(e.to_string()))?;
    let mut params = vec![
        SqlValue::from(id),
        text(Field::Name),
        SqlValue::from(p.name.as_deref().map(normalise_text)),
        text(Field::Gender),
        text(Field::Ethnicity),
        text(Field::BirthDate),
        text(Field::HukouAddress),
        text(Field::HukouRegion),
        text(Field::ResidenceAddress),
        text(Field::ResidenceRegion),
        text(Field::Phone),
        text(Field::EmploymentStatus),
        text(Field::EmployerName),
        text(Field::EmployerCreditCode),
        SqlValue::from(p.person_status.code()),
        SqlValue::from(p.person_status_date.map(|d| d.to_string())),
        text(Field::UninsuredReason),
        text(Field::Willingness),
        SqlValue::from(declared),
    ];
    params.extend(FLAG_COLUMNS.iter().map(|(_, flag)| SqlValue::from(p.flags.contains(flag))));
    params.extend([
        SqlValue::from(p.via_form),
        SqlValue::from(region_column(p, Attribution::Hukou)),
        SqlValue::from(region_column(p, Attribution::Residence)),
        SqlValue::from(p.is_registered()),
        SqlValue::from(missing.is_empty()),
        SqlValue::from(missing.join(",")),
        SqlValue::from(now_text.as_str()),
        SqlValue::from(now_text.as_str()),
    ]);
    db.exec(UPSERT_PERSON, &params)?;

    for field in &outcome.changed_fields {
        let Some(prov) = p.provenance.get(field) else { continue };
        db.exec(RETIRE_PROVENANCE, &[id.into(), field.as_str().into()])?;
        db.exec(
            INSERT_PROVENANCE,
            &[
                id.into(),
                field.as_str().into(),
                p.field_text(*field).into(),
                prov.source.code().into(),
                prov.origin.to_string().into(),
                timestamp(prov.at).into(),
                now_text.as_str().into(),
            ],
        )?;
    }

    for scheme in &outcome.changed_enrollments {
        let (Some(e), Some(prov)) = (p.enrollment(*scheme), p.enrollment_provenance.get(scheme)) else { continue };
        db.exec(
            UPSERT_ENROLLMENT,
            &[
                id.into(),
                scheme.code().into(),
                e.status.code().into(),
                e.since.map(|d| d.to_string()).into(),
                e.region.as_ref().map(|r| r.as_str()).into(),
                e.employer_credit_code.as_ref().map(|c| c.as_str()).into(),
                prov.source.code().into(),
                prov.origin.to_string().into(),
                timestamp(prov.at).into(),
                now_text.as_str().into(),
            ],
        )?;
    }

    for field in outcome.conflicts_opened.iter().chain(&outcome.conflicts_updated) {
        let Some(conflict) = p.open_conflicts.get(field) else { continue };
        let candidates = serde_json::to_string(&conflict.candidates).map_err(|e| StorageError::Json(e.to_string()))?;
        db.exec(
            UPSERT_OPEN_CONFLICT,
            &[
                id.into(),
                field.as_str().into(),
                candidates.into(),
                timestamp(conflict.opened_at).into(),
                now_text.as_str().into(),
            ],
        )?;
    }
    bump_data_version(db)
}

/// Counts one committed change to the base data (save_outcome does it; other writers of base
/// data — conflict resolution, staff corrections — call it too).
pub fn bump_data_version(db: &dyn Sql) -> Result<(), StorageError> {
    db.exec(BUMP_DATA_VERSION, &[])
}

/// The number of changes to the base data so far (a cache key for figures).
pub fn data_version(db: &dyn Sql) -> Result<i64, StorageError> {
    Ok(db.execute(SELECT_DATA_VERSION, &[])?.scalar::<i64>()?.unwrap_or(0))
}

/// Everyone's duplicate-search key (name, birth date, gender, attributed county).
pub fn load_person_keys(db: &dyn Sql) -> Result<Vec<PersonKey>, StorageError> {
    let rows = db.execute(SELECT_PERSON_KEYS, &[])?;
    let mut keys = Vec::with_capacity(rows.len());
    for r in rows.iter() {
        let id = CitizenId::parse(&r.get::<String>(0)?).map_err(corrupt("id_number"))?.value;
        keys.push(PersonKey {
            id,
            name_key: r.get(1)?,
            birth_date: r.get::<Option<String>>(2)?.map(|d| parse_date(&d, "birth_date")).transpose()?,
            gender: opt(&r, "gender", Gender::parse)?,
            county: r.get::<Option<String>>(4)?.unwrap_or_default(),
        });
    }
    Ok(keys)
}

/// Records candidate pairs (new ones only; reviewed pairs keep their status); returns how many were new.
pub fn save_duplicate_candidates(db: &dyn Sql, pairs: &[CandidatePair], now: DateTime<Utc>) -> Result<usize, StorageError> {
    let now_text = timestamp(now);
    let mut added = 0;
    for pair in pairs {
        let rows = db.execute(
            INSERT_DUPLICATE_CANDIDATE,
            &[pair.a.as_str().into(), pair.b.as_str().into(), pair.rule.as_str().into(), now_text.as_str().into()],
        )?;
        added += rows.len();
    }
    Ok(added)
}

/// Each field's values over time with where they came from, oldest first.
pub type FieldHistory = BTreeMap<Field, Vec<(Option<String>, Provenance)>>;

/// Every field's provenance history for one person, oldest first (the staff person view).
pub fn provenance_history(db: &dyn Sql, id: &CitizenId) -> Result<FieldHistory, StorageError> {
    const SELECT_HISTORY: &str = "SELECT field, value, source, origin, observed_at FROM field_provenance
        WHERE id_number = ? ORDER BY id";
    let mut history = FieldHistory::new();
    for row in db.execute(SELECT_HISTORY, &[id.as_str().into()])?.iter() {
        let field = Field::parse(&row.get::<String>("field")?).map_err(corrupt("field"))?;
        history.entry(field).or_default().push((row.get("value")?, provenance_from(&row)?));
    }
    Ok(history)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::duplicates::{find_candidates, DuplicateRule};
    use crate::merge::{merge_by_precedence, Observation};
    use crate::storage::native::NativeSql;
    use crate::storage::SqlExt;

    fn id() -> CitizenId {
        CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1970, 2, 3).unwrap(), 17)
    }

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2024-03-{day:02}T09:00:00Z")).unwrap().with_timezone(&Utc)
    }

    fn obs(source: Source, day: u32) -> Observation {
        Observation::new(id(), Provenance { source, origin: Origin::Batch(format!("b{day}")), at: at(day) })
    }

    fn apply(db: &NativeSql, o: &Observation) -> MergeOutcome {
        db.transaction(|tx| {
            let current = load_person(tx, &o.id)?;
            let outcome = merge_by_precedence(current.as_ref(), o);
            save_outcome(tx, &outcome, o.provenance.at)?;
            Ok::<_, StorageError>(outcome)
        })
        .unwrap()
    }

    fn full_observation() -> Observation {
        let mut o = obs(Source::PublicSecurity, 1);
        o.name = Some("王 建国".into());
        o.gender = Some(Gender::Male);
        o.ethnicity = Some(Ethnicity::parse("07").unwrap());
        o.birth_date = NaiveDate::from_ymd_opt(1970, 2, 3);
        o.hukou_address = Some("东区炳草岗1号".into());
        o.hukou_region = Some(RegionCode::parse("510402001").unwrap().value);
        o.residence_address = Some("西区清香坪2号".into());
        o.phone = Some(Phone::parse("13912345678").unwrap().value);
        o
    }

    #[test]
    fn a_saved_person_loads_back_equal() {
        let db = NativeSql::open_in_memory().unwrap();
        let out = apply(&db, &full_observation());
        let mut h = obs(Source::Hrss, 2);
        h.employer_name = Some("攀钢".into());
        h.enrollments = vec![Enrollment {
            scheme: Scheme::EnterprisePension,
            status: EnrollmentStatus::Active,
            since: NaiveDate::from_ymd_opt(1995, 1, 1),
            region: Some(RegionCode::parse("510402").unwrap().value),
            employer_credit_code: None,
        }];
        let out2 = apply(&db, &h);
        let mut civil = obs(Source::CivilAffairs, 3);
        civil.flags.insert(Flag::MinimumLiving);
        civil.name = Some("王建军".into());
        let out3 = apply(&db, &civil);
        assert!(out.is_new && !out2.is_new);
        assert_eq!(out3.conflicts_opened, vec![Field::Name]);

        let loaded = load_person(&db, &id()).unwrap().unwrap();
        let mut expected = out3.person.clone();
        expected.open_conflicts.get_mut(&Field::Name).unwrap().id = loaded.open_conflicts[&Field::Name].id;
        assert_eq!(loaded, expected);
        assert_eq!(loaded.employment_status, Some(EmploymentStatus::Employed));

        let row = db
            .query_one(
                "SELECT region_hukou, region_residence, registered, complete, missing_fields, name_key FROM persons",
                &[],
            )
            .unwrap()
            .unwrap();
        assert_eq!(row.get::<String>("region_hukou").unwrap(), "510402001");
        assert_eq!(row.get::<String>("region_residence").unwrap(), "510402001");
        assert!(row.get::<bool>("registered").unwrap());
        assert!(row.get::<bool>("complete").unwrap());
        assert_eq!(row.get::<String>("name_key").unwrap(), "王建国");
        assert!(data_version(&db).unwrap() >= 3);
    }

    #[test]
    fn provenance_keeps_history_and_one_current_row() {
        let db = NativeSql::open_in_memory().unwrap();
        let phone = |s: &str| Some(Phone::parse(s).unwrap().value);
        let mut a = obs(Source::Survey, 1);
        a.phone = phone("13800000001");
        let mut b = obs(Source::SelfReport, 2);
        b.phone = phone("13800000002");
        apply(&db, &a);
        apply(&db, &b);
        let history = provenance_history(&db, &id()).unwrap();
        let phones: Vec<_> = history[&Field::Phone].iter().map(|(v, p)| (v.clone().unwrap(), p.source)).collect();
        assert_eq!(phones, vec![("13800000001".into(), Source::Survey), ("13800000002".into(), Source::SelfReport)]);
        let current = db
            .execute("SELECT COUNT(*) FROM field_provenance WHERE field = 'phone' AND is_current = 1", &[])
            .unwrap()
            .scalar::<i64>()
            .unwrap();
        assert_eq!(current, Some(1));
    }

    #[test]
    fn an_unchanged_merge_writes_nothing() {
        let db = NativeSql::open_in_memory().unwrap();
        let o = full_observation();
        apply(&db, &o);
        let version = data_version(&db).unwrap();
        let again = apply(&db, &o);
        assert!(!again.is_changed());
        assert_eq!(data_version(&db).unwrap(), version);
    }

    #[test]
    fn conflicts_stay_one_open_row_per_field() {
        let db = NativeSql::open_in_memory().unwrap();
        apply(&db, &full_observation());
        for (i, name) in ["王建军", "王健国", "王建军"].iter().enumerate() {
            let mut o = obs(Source::SelfReport, 5 + i as u32);
            o.name = Some((*name).into());
            apply(&db, &o);
        }
        let rows = db.execute("SELECT status, candidates FROM conflicts", &[]).unwrap();
        assert_eq!(rows.len(), 1);
        let candidates: Vec<Candidate> = serde_json::from_str(&rows.first().unwrap().get::<String>(1).unwrap()).unwrap();
        assert_eq!(candidates.len(), 3);
    }

    #[test]
    fn duplicate_candidates_are_stored_once() {
        let db = NativeSql::open_in_memory().unwrap();
        let birth = NaiveDate::from_ymd_opt(1970, 2, 3).unwrap();
        for seq in [17u16, 19] {
            let mut o = full_observation();
            o.id = CitizenId::from_parts("510402", birth, seq);
            apply(&db, &o);
        }
        let keys = load_person_keys(&db).unwrap();
        assert_eq!(keys.len(), 2);
        let pairs = find_candidates(&keys);
        assert!(pairs.iter().any(|p| p.rule == DuplicateRule::SimilarId));
        assert!(pairs.iter().any(|p| p.rule == DuplicateRule::SameDetails));
        assert_eq!(save_duplicate_candidates(&db, &pairs, at(9)).unwrap(), pairs.len());
        assert_eq!(save_duplicate_candidates(&db, &pairs, at(10)).unwrap(), 0);
    }
}
