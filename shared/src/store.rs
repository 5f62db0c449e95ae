//! Persisting merged persons: load a [`Person`] with its current provenance, enrollments and open
//! conflicts; save a [`MergeOutcome`] (person row with its precomputed figure columns and current
//! provenance, the change history, enrollments, conflicts) inside the caller's transaction. Intake and registration both
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
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;

/// The columns of `persons` that [`load_person`] reads.
const SELECT_PERSON: &str = "SELECT id_number, name, gender, ethnicity, birth_date, hukou_address, hukou_region,
    residence_address, residence_region, phone, employment_status, employer_name, employer_credit_code,
    person_status, person_status_date, uninsured_reason, willingness, declared_insurance,
    flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, via_form, provenance
    FROM persons WHERE id_number = ?";

/// A person's enrollments, one per scheme.
const SELECT_ENROLLMENTS: &str = "SELECT scheme, status, since, region, employer_credit_code, source, origin, observed_at
    FROM enrollments WHERE id_number = ? ORDER BY scheme";

/// A person's open conflicts.
const SELECT_OPEN_CONFLICTS: &str =
    "SELECT id, field, candidates, opened_at FROM conflicts WHERE id_number = ? AND status = 'open' ORDER BY id";

/// [`SELECT_PERSON`] for a JSON array of IDs.
const SELECT_PERSONS_IN: &str = "SELECT id_number, name, gender, ethnicity, birth_date, hukou_address, hukou_region,
    residence_address, residence_region, phone, employment_status, employer_name, employer_credit_code,
    person_status, person_status_date, uninsured_reason, willingness, declared_insurance,
    flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, via_form, provenance
    FROM persons WHERE id_number IN (SELECT value FROM json_each(?1))";

/// [`SELECT_ENROLLMENTS`] for a JSON array of IDs.
const SELECT_ENROLLMENTS_IN: &str = "SELECT id_number, scheme, status, since, region, employer_credit_code, source,
    origin, observed_at FROM enrollments WHERE id_number IN (SELECT value FROM json_each(?1)) ORDER BY id_number, scheme";

/// [`SELECT_OPEN_CONFLICTS`] for a JSON array of IDs.
const SELECT_OPEN_CONFLICTS_IN: &str = "SELECT id_number, id, field, candidates, opened_at FROM conflicts
    WHERE status = 'open' AND id_number IN (SELECT value FROM json_each(?1)) ORDER BY id";

/// The `persons` rows of merged persons ([`person_row`], then `created_at` and `updated_at`;
/// `created_at` is kept on update), in multi-row statements ([`insert_rows`]). `OR FAIL`: a
/// failing row ends the statement without undoing the rows before it, which spares SQLite a
/// statement journal; every writer runs in a transaction that a failure rolls back whole.
const UPSERT_PERSONS: (&str, &str) = (
    "INSERT OR FAIL INTO persons (id_number, name, name_key, gender, ethnicity, birth_date, hukou_address, hukou_region,
    residence_address, residence_region, phone, employment_status, employer_name, employer_credit_code,
    person_status, person_status_date, uninsured_reason, willingness, declared_insurance,
    flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, via_form, region_hukou,
    region_residence, registered, complete, missing_fields, provenance, created_at, updated_at) VALUES ",
    " ON CONFLICT (id_number) DO UPDATE SET name = excluded.name, name_key = excluded.name_key,
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
    missing_fields = excluded.missing_fields, provenance = excluded.provenance, updated_at = excluded.updated_at",
);

/// Change-history rows, in order: the fields one saying set on one person, with their values
/// (`changes`: `[[field, value], ...]`).
const INSERT_HISTORY: (&str, &str) =
    ("INSERT OR FAIL INTO person_history (id_number, source, origin, observed_at, recorded_at, changes) VALUES ", "");

/// Insert or replace enrollments.
const UPSERT_ENROLLMENTS: (&str, &str) = (
    "INSERT INTO enrollments
    (id_number, scheme, status, since, region, employer_credit_code, source, origin, observed_at, updated_at) VALUES ",
    " ON CONFLICT (id_number, scheme) DO UPDATE SET status = excluded.status, since = excluded.since,
    region = excluded.region, employer_credit_code = excluded.employer_credit_code, source = excluded.source,
    origin = excluded.origin, observed_at = excluded.observed_at, updated_at = excluded.updated_at",
);

/// Rows per multi-row statement at most (and never more parameters than SQLite's 32,766): a
/// few statements per intake chunk, each prepared once and kept.
const ROWS_PER_STATEMENT: usize = 200;

/// Writes bound rows with `head` + `(?, …), (?, …)` + `tail`: the values cross the storage
/// interface as parameters, which SQLite binds directly. Against one JSON array of rows
/// unpacked by `json_each`, a submit's single row went 6 % faster; an intake chunk measured the
/// same through the component (BENCHMARKS.md "Registration … session 5").
fn insert_rows(db: &dyn Sql, (head, tail): (&str, &str), rows: BoundRows) -> Result<(), StorageError> {
    if rows.rows == 0 {
        return Ok(());
    }
    let width = rows.values.len() / rows.rows;
    let per_statement = ROWS_PER_STATEMENT.min(32_766 / width.max(1));
    let tuple = format!("({})", vec!["?"; width].join(", "));
    let mut values = rows.values.into_iter();
    let mut left = rows.rows;
    while left > 0 {
        let n = left.min(per_statement);
        let sql = format!("{head}{}{tail}", vec![tuple.as_str(); n].join(", "));
        let params: Vec<SqlValue> = values.by_ref().take(n * width).collect();
        db.exec(&sql, &params)?;
        left -= n;
    }
    Ok(())
}

/// Rows of statement parameters for [`insert_rows`], each of the same width.
#[derive(Default)]
struct BoundRows {
    values: Vec<SqlValue>,
    rows: usize,
}

impl BoundRows {
    fn row(&mut self) {
        self.rows += 1;
    }

    fn text(&mut self, value: Option<&str>) {
        self.values.push(value.into());
    }

    fn display(&mut self, value: &impl std::fmt::Display) {
        self.values.push(value.to_string().into());
    }

    fn int(&mut self, value: i64) {
        self.values.push(value.into());
    }
}

/// Open conflicts, or update the candidates of the open ones (the partial unique index
/// `conflicts_one_open` is the conflict target; `?2` is the time).
const UPSERT_OPEN_CONFLICTS_MANY: &str = "INSERT INTO conflicts (id_number, field, status, candidates, opened_at, updated_at)
    SELECT value ->> 0, value ->> 1, 'open', value ->> 2, value ->> 3, ?2 FROM json_each(?1) WHERE true
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

/// Record candidate pairs `[id_a, id_b, rule]` once (a reviewed pair keeps its status; `?2` is
/// the time); returns the new ones.
const INSERT_DUPLICATE_CANDIDATES: &str = "INSERT INTO duplicate_candidates (id_a, id_b, rule, detected_at)
    SELECT value ->> 0, value ->> 1, value ->> 2, ?2 FROM json_each(?1) WHERE true
    ON CONFLICT (id_a, id_b, rule) DO NOTHING RETURNING id";

/// The namesakes of a JSON array of persons that can make a candidate pair with them
/// ([`crate::duplicates::pair_rules`] decides): the same birth date, gender and attributed county
/// (`same_details`), or an ID whose 17-digit body can differ in one digit or one adjacent swap
/// (`similar_id`). With the body read as address code A (digits 1–6), birth date B (7–14) and
/// sequence S (15–17), such a difference lies within A (digits 7–17 equal), within B (A and S
/// equal), or within S or across B|S (digits 1–13 equal). A swap across A|B would move a year's
/// first digit into the address code: never two valid IDs. One range of the covering index
/// `persons_by_name` (migration 0009) per person holds all its namesakes, so the search reads no
/// table row; only namesakes passing these tests leave the database (before, all those with the
/// same address code did: about one in five, each parsed and paired in vain). Each row: name key,
/// then ID, birth date, gender and attributed county of the person and of the namesake.
const SELECT_DUPLICATE_BLOCKS: &str = "WITH t AS MATERIALIZED (
        SELECT p.id_number AS id, p.name_key AS nk, p.birth_date AS bd, p.gender AS g,
            substr(p.region_hukou, 1, 6) AS c
        FROM json_each(?1) j JOIN persons p ON p.id_number = j.value WHERE p.name_key <> '')
    SELECT t.nk, t.id, t.bd, t.g, t.c, o.id_number, o.birth_date, o.gender, substr(o.region_hukou, 1, 6)
        FROM t JOIN persons o ON o.name_key = t.nk
        WHERE o.id_number <> t.id AND (
            (o.birth_date = t.bd AND o.gender = t.g AND substr(o.region_hukou, 1, 6) = t.c)
            OR substr(o.id_number, 7, 11) = substr(t.id, 7, 11)
            OR (substr(o.id_number, 1, 6) = substr(t.id, 1, 6) AND substr(o.id_number, 15, 3) = substr(t.id, 15, 3))
            OR substr(o.id_number, 1, 13) = substr(t.id, 1, 13))";

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
    let mut p = person_from_row(&r, *id)?;
    for row in db.execute(SELECT_ENROLLMENTS, &key)?.iter() {
        add_enrollment(&mut p, &row)?;
    }
    for row in db.execute(SELECT_OPEN_CONFLICTS, &key)?.iter() {
        add_conflict(&mut p, &row)?;
    }
    Ok(Some(p))
}

/// Loads the persons with these IDs, as [`load_person`] does one, with one query per table
/// (an intake chunk's persons at once); unknown IDs are absent from the map.
pub fn load_persons(db: &dyn Sql, ids: &[CitizenId]) -> Result<HashMap<CitizenId, Person>, StorageError> {
    let mut persons = HashMap::with_capacity(ids.len());
    if ids.is_empty() {
        return Ok(persons);
    }
    let list = [SqlValue::from(id_list(ids.iter()))];
    for r in db.execute(SELECT_PERSONS_IN, &list)?.iter() {
        let id = stored_id(&r.get::<String>("id_number")?)?;
        persons.insert(id, person_from_row(&r, id)?);
    }
    if persons.is_empty() {
        return Ok(persons);
    }
    let list = [SqlValue::from(id_list(persons.keys()))];
    let mut each = |sql: &str, add: fn(&mut Person, &Row<'_>) -> Result<(), StorageError>| -> Result<(), StorageError> {
        for row in db.execute(sql, &list)?.iter() {
            let id = stored_id(&row.get::<String>("id_number")?)?;
            if let Some(p) = persons.get_mut(&id) {
                add(p, &row)?;
            }
        }
        Ok(())
    };
    each(SELECT_ENROLLMENTS_IN, add_enrollment)?;
    each(SELECT_OPEN_CONFLICTS_IN, add_conflict)?;
    Ok(persons)
}

fn stored_id(text: &str) -> Result<CitizenId, StorageError> {
    CitizenId::parse(text).map(|p| p.value).map_err(corrupt("id_number"))
}

/// A JSON array of IDs: the one parameter of the `json_each` statements.
fn id_list<'a>(ids: impl Iterator<Item = &'a CitizenId>) -> String {
    let mut list = JsonRows::list();
    for id in ids {
        list.text(Some(id.as_str()));
    }
    list.finish()
}

/// The person columns of a `persons` row.
fn person_from_row(r: &Row<'_>, id: CitizenId) -> Result<Person, StorageError> {
    let mut p = Person::new(id);
    p.name = r.get("name")?;
    p.gender = opt(r, "gender", Gender::parse)?;
    p.ethnicity = opt(r, "ethnicity", Ethnicity::parse)?;
    p.birth_date = r.get::<Option<String>>("birth_date")?.map(|d| parse_date(&d, "birth_date")).transpose()?;
    p.hukou_address = r.get("hukou_address")?;
    p.hukou_region = opt(r, "hukou_region", |s| RegionCode::parse(s).map(|p| p.value))?;
    p.residence_address = r.get("residence_address")?;
    p.residence_region = opt(r, "residence_region", |s| RegionCode::parse(s).map(|p| p.value))?;
    p.phone = opt(r, "phone", |s| Phone::parse(s).map(|p| p.value))?;
    p.employment_status = opt(r, "employment_status", EmploymentStatus::parse)?;
    p.employer_name = r.get("employer_name")?;
    p.employer_credit_code = opt(r, "employer_credit_code", |s| CreditCode::parse(s).map(|p| p.value))?;
    p.person_status = PersonStatus::parse(&r.get::<String>("person_status")?).map_err(corrupt("person_status"))?;
    p.person_status_date =
        r.get::<Option<String>>("person_status_date")?.map(|d| parse_date(&d, "person_status_date")).transpose()?;
    p.uninsured_reason = opt(r, "uninsured_reason", UninsuredReason::parse)?;
    p.willingness = opt(r, "willingness", Willingness::parse)?;
    p.declared_insurance = serde_json::from_str(&r.get::<String>("declared_insurance")?)
        .map_err(|_| StorageError::Corrupt("column declared_insurance".into()))?;
    for (column, flag) in FLAG_COLUMNS {
        if r.get::<bool>(*column)? {
            p.flags.insert(*flag);
        }
    }
    p.via_form = r.get("via_form")?;
    p.provenance = parse_current_provenance(&r.get::<String>("provenance")?)?;
    Ok(p)
}

/// One saying in `persons.provenance`: source, origin, observed_at and the fields it won.
type StoredSaying = (String, String, String, Vec<String>);

/// The current winners of `persons.provenance` (see migration 0009).
fn parse_current_provenance(text: &str) -> Result<BTreeMap<Field, Provenance>, StorageError> {
    let sayings: Vec<StoredSaying> =
        serde_json::from_str(text).map_err(|_| StorageError::Corrupt("column provenance".into()))?;
    let mut current = BTreeMap::new();
    for (source, origin, observed_at, fields) in sayings {
        let provenance = Provenance {
            source: Source::parse(&source).map_err(corrupt("provenance"))?,
            origin: Origin::parse(&origin).map_err(corrupt("provenance"))?,
            at: parse_time(&observed_at, "provenance")?,
        };
        for field in fields {
            current.insert(Field::parse(&field).map_err(corrupt("provenance"))?, provenance.clone());
        }
    }
    Ok(current)
}

/// `persons.provenance` of a person: the fields grouped by the saying that won them, in field order
/// of each saying's first field (a person's ten fields usually come from two or three sayings).
fn current_provenance_json(p: &Person) -> String {
    let mut groups: Vec<(&Provenance, Vec<Field>)> = Vec::new();
    for (field, provenance) in &p.provenance {
        match groups.iter_mut().find(|(g, _)| *g == provenance) {
            Some((_, fields)) => fields.push(*field),
            None => groups.push((provenance, vec![*field])),
        }
    }
    let mut out = JsonRows::rows();
    for (provenance, fields) in groups {
        out.row();
        out.text(Some(provenance.source.code()));
        out.display(&provenance.origin);
        out.text(Some(&timestamp(provenance.at)));
        let mut list = JsonRows::list();
        for field in fields {
            list.text(Some(field.as_str()));
        }
        out.raw(&list.finish());
    }
    out.finish()
}

/// An `enrollments` row onto its person (rows come in scheme order).
fn add_enrollment(p: &mut Person, row: &Row<'_>) -> Result<(), StorageError> {
    let scheme = Scheme::parse(&row.get::<String>("scheme")?).map_err(corrupt("scheme"))?;
    p.enrollments.push(Enrollment {
        scheme,
        status: EnrollmentStatus::parse(&row.get::<String>("status")?).map_err(corrupt("status"))?,
        since: row.get::<Option<String>>("since")?.map(|d| parse_date(&d, "since")).transpose()?,
        region: opt(row, "region", |s| RegionCode::parse(s).map(|p| p.value))?,
        employer_credit_code: opt(row, "employer_credit_code", |s| CreditCode::parse(s).map(|p| p.value))?,
    });
    p.enrollment_provenance.insert(scheme, provenance_from(row)?);
    Ok(())
}

/// An open `conflicts` row onto its person.
fn add_conflict(p: &mut Person, row: &Row<'_>) -> Result<(), StorageError> {
    let field = Field::parse(&row.get::<String>("field")?).map_err(corrupt("field"))?;
    let candidates: Vec<Candidate> = serde_json::from_str(&row.get::<String>("candidates")?)
        .map_err(|_| StorageError::Corrupt("column candidates".into()))?;
    p.open_conflicts.insert(
        field,
        Conflict { id: Some(row.get("id")?), field, candidates, opened_at: parse_time(&row.get::<String>("opened_at")?, "opened_at")? },
    );
    Ok(())
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
/// regions, the registered/complete/missing_fields columns and the current provenance recomputed),
/// a change-history row with the changed fields, changed enrollments, opened or updated
/// conflicts, and the data version.
/// Does nothing when the merge changed nothing.
pub fn save_outcome(db: &dyn Sql, outcome: &MergeOutcome, now: DateTime<Utc>) -> Result<(), StorageError> {
    let mut writes = PendingWrites::default();
    if !writes.record(outcome) {
        return Ok(());
    }
    writes.write(db, now, |id| (*id == outcome.person.id).then_some(&outcome.person))?;
    bump_data_version(db)
}

/// One change-history row to write: the fields one saying set on one person, with their values.
#[derive(Debug)]
struct HistoryEntry {
    id: CitizenId,
    provenance: Provenance,
    changes: Vec<(Field, Option<String>)>,
}

/// What a run of merges changed (an intake chunk's rows, in file order), written at the end with
/// a few set-based statements instead of a dozen per row. The result is the same as
/// [`save_outcome`] after each merge: every merge's changed fields get their history row in
/// order, and persons (with their current provenance), enrollments and conflicts get their
/// final state.
#[derive(Debug, Default)]
pub struct PendingWrites {
    /// Persons to write in first-touch order, with whether each was stored before.
    persons: Vec<(CitizenId, bool)>,
    person_seen: HashSet<CitizenId>,
    history: Vec<HistoryEntry>,
    enrollments: Vec<(CitizenId, Scheme)>,
    enrollment_seen: HashSet<(CitizenId, Scheme)>,
    conflicts: Vec<(CitizenId, Field)>,
    conflict_seen: HashSet<(CitizenId, Field)>,
}

impl PendingWrites {
    /// Records what one merge changed (merges of one person must come in order, each on the
    /// previous one's result); false when it changed nothing.
    pub fn record(&mut self, outcome: &MergeOutcome) -> bool {
        if !outcome.is_changed() {
            return false;
        }
        let p = &outcome.person;
        if self.person_seen.insert(p.id) {
            self.persons.push((p.id, !outcome.is_new));
        }
        // One history row per saying that set fields in this merge (in practice the merge's).
        let first = self.history.len();
        for field in &outcome.changed_fields {
            let Some(prov) = p.provenance.get(field) else { continue };
            let change = (*field, p.field_text(*field));
            match self.history[first..].iter_mut().find(|h| h.provenance == *prov) {
                Some(h) => h.changes.push(change),
                None => self.history.push(HistoryEntry { id: p.id, provenance: prov.clone(), changes: vec![change] }),
            }
        }
        for scheme in &outcome.changed_enrollments {
            if self.enrollment_seen.insert((p.id, *scheme)) {
                self.enrollments.push((p.id, *scheme));
            }
        }
        for field in outcome.conflicts_opened.iter().chain(&outcome.conflicts_updated) {
            if self.conflict_seen.insert((p.id, *field)) {
                self.conflicts.push((p.id, *field));
            }
        }
        true
    }

    /// Whether nothing was recorded.
    pub fn is_empty(&self) -> bool {
        self.persons.is_empty()
    }

    /// How many persons will be written.
    pub fn persons(&self) -> usize {
        self.persons.len()
    }

    /// Writes everything recorded, in the caller's transaction; `person` gives each recorded
    /// person's final state (the data version is the caller's to bump).
    pub fn write<'p>(
        &self,
        db: &dyn Sql,
        now: DateTime<Utc>,
        person: impl Fn(&CitizenId) -> Option<&'p Person>,
    ) -> Result<(), StorageError> {
        if self.is_empty() {
            return Ok(());
        }
        let now_text = timestamp(now);
        let (mut new, mut stored) = (BoundRows::default(), BoundRows::default());
        for (id, was_stored) in &self.persons {
            let Some(p) = person(id) else { continue };
            let rows = if *was_stored { &mut stored } else { &mut new };
            person_row(rows, p);
            rows.text(Some(&now_text));
            rows.text(Some(&now_text));
        }
        // New persons without the upsert clause: SQLite codes a `DO UPDATE` to abort, so each
        // multi-row upsert copied every page it touched to a statement journal first (10 % of a
        // 1.2-million-row load natively); a plain `INSERT OR FAIL` needs none (the caller's
        // transaction is rolled back whole on any error).
        insert_rows(db, (UPSERT_PERSONS.0, ""), new)?;
        insert_rows(db, UPSERT_PERSONS, stored)?;

        // The change history, in merge order.
        let mut rows = BoundRows::default();
        for e in &self.history {
            rows.row();
            rows.text(Some(e.id.as_str()));
            rows.text(Some(e.provenance.source.code()));
            rows.display(&e.provenance.origin);
            rows.text(Some(&timestamp(e.provenance.at)));
            rows.text(Some(&now_text));
            let mut changes = JsonRows::rows();
            for (field, value) in &e.changes {
                changes.row();
                changes.text(Some(field.as_str()));
                changes.text(value.as_deref());
            }
            rows.text(Some(&changes.finish()));
        }
        insert_rows(db, INSERT_HISTORY, rows)?;

        let mut rows = BoundRows::default();
        for (id, scheme) in &self.enrollments {
            let Some(p) = person(id) else { continue };
            let (Some(e), Some(prov)) = (p.enrollment(*scheme), p.enrollment_provenance.get(scheme)) else { continue };
            rows.row();
            rows.text(Some(id.as_str()));
            rows.text(Some(scheme.code()));
            rows.text(Some(e.status.code()));
            rows.text(e.since.map(|d| d.to_string()).as_deref());
            rows.text(e.region.as_ref().map(|r| r.as_str()));
            rows.text(e.employer_credit_code.as_ref().map(|c| c.as_str()));
            rows.text(Some(prov.source.code()));
            rows.display(&prov.origin);
            rows.text(Some(&timestamp(prov.at)));
            rows.text(Some(&now_text));
        }
        insert_rows(db, UPSERT_ENROLLMENTS, rows)?;

        let mut rows = JsonRows::rows();
        for (id, field) in &self.conflicts {
            let Some(conflict) = person(id).and_then(|p| p.open_conflicts.get(field)) else { continue };
            let candidates = serde_json::to_string(&conflict.candidates).map_err(|e| StorageError::Json(e.to_string()))?;
            rows.row();
            rows.text(Some(id.as_str()));
            rows.text(Some(field.as_str()));
            rows.text(Some(&candidates));
            rows.text(Some(&timestamp(conflict.opened_at)));
        }
        if !rows.is_empty() {
            db.exec(UPSERT_OPEN_CONFLICTS_MANY, &[rows.finish().into(), now_text.as_str().into()])?;
        }
        Ok(())
    }
}

/// The `persons` row of a merged person (the columns of [`UPSERT_PERSONS`] but the two times).
fn person_row(rows: &mut BoundRows, p: &Person) {
    rows.row();
    rows.text(Some(p.id.as_str()));
    let field = |rows: &mut BoundRows, f: Field| rows.text(p.field_text(f).as_deref());
    field(rows, Field::Name);
    rows.text(p.name.as_deref().map(normalise_text).as_deref());
    for f in [
        Field::Gender,
        Field::Ethnicity,
        Field::BirthDate,
        Field::HukouAddress,
        Field::HukouRegion,
        Field::ResidenceAddress,
        Field::ResidenceRegion,
        Field::Phone,
        Field::EmploymentStatus,
        Field::EmployerName,
        Field::EmployerCreditCode,
    ] {
        field(rows, f);
    }
    rows.text(Some(p.person_status.code()));
    rows.text(p.person_status_date.map(|d| d.to_string()).as_deref());
    field(rows, Field::UninsuredReason);
    field(rows, Field::Willingness);
    // Serialising a Vec of plain structs cannot fail.
    rows.text(Some(&serde_json::to_string(&p.declared_insurance).unwrap_or_else(|_| "[]".into())));
    for (_, flag) in FLAG_COLUMNS {
        rows.int(i64::from(p.flags.contains(flag)));
    }
    rows.int(i64::from(p.via_form));
    rows.text(Some(&region_column(p, Attribution::Hukou)));
    rows.text(Some(&region_column(p, Attribution::Residence)));
    rows.int(i64::from(p.is_registered()));
    let missing: Vec<&str> = missing_fields(p).iter().map(|f| f.as_str()).collect();
    rows.int(i64::from(missing.is_empty()));
    rows.text(Some(&missing.join(",")));
    rows.text(Some(&current_provenance_json(p)));
}

/// Rows of values as one JSON array of arrays (or one flat array): the single parameter of the
/// set-based statements (`json_each(?)`), so that a chunk of rows crosses the storage interface —
/// a host call in Spin — as one value.
#[derive(Debug)]
pub struct JsonRows {
    buf: String,
    rows: usize,
    cells: usize,
    nested: bool,
}

impl JsonRows {
    /// An array of rows (arrays): call [`JsonRows::row`] before each row's values.
    pub fn rows() -> Self {
        JsonRows { buf: String::from("["), rows: 0, cells: 0, nested: true }
    }

    /// A flat array of values.
    pub fn list() -> Self {
        JsonRows { buf: String::from("["), rows: 0, cells: 0, nested: false }
    }

    /// Starts a row.
    pub fn row(&mut self) {
        debug_assert!(self.nested);
        self.buf.push_str(if self.rows == 0 { "[" } else { "],[" });
        self.rows += 1;
        self.cells = 0;
    }

    fn separate(&mut self) {
        if self.cells > 0 {
            self.buf.push(',');
        }
        self.cells += 1;
        if !self.nested {
            self.rows = self.cells;
        }
    }

    /// A text value, or null.
    pub fn text(&mut self, value: Option<&str>) {
        self.separate();
        match value {
            None => self.buf.push_str("null"),
            Some(s) => {
                self.buf.push('"');
                for c in s.chars() {
                    match c {
                        '"' => self.buf.push_str("\\\""),
                        '\\' => self.buf.push_str("\\\\"),
                        c if (c as u32) < 0x20 => {
                            let _ = write!(self.buf, "\\u{:04x}", c as u32);
                        }
                        c => self.buf.push(c),
                    }
                }
                self.buf.push('"');
            }
        }
    }

    /// A JSON value as it is (an array built with another [`JsonRows`]).
    pub fn raw(&mut self, json: &str) {
        self.separate();
        self.buf.push_str(json);
    }

    /// A value written through `Display`, as text.
    pub fn display(&mut self, value: &impl std::fmt::Display) {
        self.text(Some(&value.to_string()));
    }

    /// An integer.
    pub fn int(&mut self, value: i64) {
        self.separate();
        let _ = write!(self.buf, "{value}");
    }

    /// Whether no row (or value) was added.
    pub fn is_empty(&self) -> bool {
        self.rows == 0
    }

    /// How many rows (or values) were added.
    pub fn len(&self) -> usize {
        self.rows
    }

    /// The JSON text.
    pub fn finish(mut self) -> String {
        if self.nested && self.rows > 0 {
            self.buf.push(']');
        }
        self.buf.push(']');
        self.buf
    }
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
    if pairs.is_empty() {
        return Ok(0);
    }
    let mut rows = JsonRows::rows();
    for pair in pairs {
        rows.row();
        rows.text(Some(pair.a.as_str()));
        rows.text(Some(pair.b.as_str()));
        rows.text(Some(pair.rule.as_str()));
    }
    Ok(db.execute(INSERT_DUPLICATE_CANDIDATES, &[rows.finish().into(), timestamp(now).into()])?.len())
}

/// The candidate pairs (一人多号, DOMAIN §6) between these persons and everyone stored, as they are
/// stored now. Only namesakes can pair, and of those only the ones in three blocks: the same
/// birth date (rule `same_details`), the same ID address code, or the same ID sequence number —
/// one mistyped digit or one swap of neighbours leaves one of the two equal — read from one index
/// range of namesakes per person (migration 0009).
pub fn duplicate_candidates_for(db: &dyn Sql, ids: &[CitizenId]) -> Result<Vec<CandidatePair>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let rows = db.execute(SELECT_DUPLICATE_BLOCKS, &[id_list(ids.iter()).into()])?;
    let key = |r: &Row<'_>, at: usize, name_key: &str| -> Result<PersonKey, StorageError> {
        Ok(PersonKey {
            id: stored_id(&r.get::<String>(at)?)?,
            name_key: name_key.to_owned(),
            birth_date: r.get::<Option<String>>(at + 1)?.map(|d| parse_date(&d, "birth_date")).transpose()?,
            gender: r.get::<Option<String>>(at + 2)?.filter(|g| !g.is_empty()).map(|g| Gender::parse(&g)).transpose().map_err(corrupt("gender"))?,
            county: r.get::<Option<String>>(at + 3)?.unwrap_or_default(),
        })
    };
    let mut pairs = Vec::new();
    for r in rows.iter() {
        let name_key: String = r.get(0)?;
        let (a, b) = (key(&r, 1, &name_key)?, key(&r, 5, &name_key)?);
        pairs.extend(crate::duplicates::pair_rules(&a, &b));
    }
    pairs.sort_unstable();
    pairs.dedup();
    Ok(pairs)
}

/// Each field's values over time with where they came from, oldest first.
pub type FieldHistory = BTreeMap<Field, Vec<(Option<String>, Provenance)>>;

/// Every field's provenance history for one person, oldest first (the staff person view).
pub fn provenance_history(db: &dyn Sql, id: &CitizenId) -> Result<FieldHistory, StorageError> {
    const SELECT_HISTORY: &str = "SELECT source, origin, observed_at, changes FROM person_history
        WHERE id_number = ? ORDER BY id";
    let mut history = FieldHistory::new();
    for row in db.execute(SELECT_HISTORY, &[id.as_str().into()])?.iter() {
        let provenance = provenance_from(&row)?;
        let changes: Vec<(String, Option<String>)> = serde_json::from_str(&row.get::<String>("changes")?)
            .map_err(|_| StorageError::Corrupt("column changes".into()))?;
        for (field, value) in changes {
            let field = Field::parse(&field).map_err(corrupt("changes"))?;
            history.entry(field).or_default().push((value, provenance.clone()));
        }
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
    fn provenance_keeps_history_and_the_current_winner() {
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
        let current = load_person(&db, &id()).unwrap().unwrap();
        assert_eq!(current.provenance[&Field::Phone].source, Source::SelfReport);
        assert_eq!(current.provenance[&Field::Phone].origin, Origin::Batch("b2".into()));
        // One history row per save, not per field.
        let saves = db.execute("SELECT COUNT(*) FROM person_history", &[]).unwrap().scalar::<i64>().unwrap();
        assert_eq!(saves, Some(2));
    }

    /// A database of the schema before migration 0009 (per-field provenance rows) with what the
    /// old code wrote: the migration must give the same current provenance and history.
    #[test]
    fn migration_0009_carries_field_provenance_over() {
        let db = NativeSql::open_in_memory_unmigrated().unwrap();
        // The schema as it was before 0009, recorded as applied.
        db.exec("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TEXT NOT NULL)", &[]).unwrap();
        for m in crate::storage::MIGRATIONS.iter().filter(|m| m.version <= 8) {
            for statement in crate::storage::split_statements(m.sql) {
                db.exec(&statement, &[]).unwrap();
            }
            db.exec("INSERT INTO schema_migrations VALUES (?, ?, 'x')", &[m.version.into(), m.name.into()]).unwrap();
        }
        let person = id().as_str().to_owned();
        let other = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1970, 2, 3).unwrap(), 19);
        for p in [person.as_str(), other.as_str()] {
            db.exec(
                "INSERT INTO persons (id_number, name, phone, region_hukou, region_residence, created_at, updated_at)
                 VALUES (?, '王建国', '13800000002', '510402', '510402', 'x', 'x')",
                &[p.into()],
            )
            .unwrap();
        }
        // Save 1 (batch b1): name and phone; save 2 (receipt r1): phone; save 3 (b1 again, a
        // later row of the file): name; the other person's save interleaved.
        let rows: &[(&str, &str, &str, &str, &str, &str, &str, i64)] = &[
            (&person, "name", "王建国", "public_security", "batch:b1", "2024-03-01T09:00:00.000Z", "2024-03-01T10:00:00.000Z", 0),
            (&person, "phone", "13800000001", "public_security", "batch:b1", "2024-03-01T09:00:00.000Z", "2024-03-01T10:00:00.000Z", 0),
            (other.as_str(), "name", "王建国", "public_security", "batch:b1", "2024-03-01T09:00:00.000Z", "2024-03-01T10:00:00.000Z", 1),
            (&person, "phone", "13800000002", "self", "receipt:r1", "2024-03-02T09:00:00.000Z", "2024-03-02T09:00:00.000Z", 1),
            (&person, "name", "王建国", "public_security", "batch:b1", "2024-03-01T09:00:00.001Z", "2024-03-03T10:00:00.000Z", 1),
        ];
        for (p, field, value, source, origin, observed, recorded, current) in rows {
            db.exec(
                "INSERT INTO field_provenance (id_number, field, value, source, origin, observed_at, recorded_at, is_current)
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                &[(*p).into(), (*field).into(), (*value).into(), (*source).into(), (*origin).into(), (*observed).into(), (*recorded).into(), (*current).into()],
            )
            .unwrap();
        }
        assert!(crate::storage::migrate(&db).unwrap() > 0);

        let loaded = load_person(&db, &id()).unwrap().unwrap();
        assert_eq!(loaded.provenance.len(), 2);
        assert_eq!(loaded.provenance[&Field::Phone], Provenance { source: Source::SelfReport, origin: Origin::Receipt("r1".into()), at: parse_time("2024-03-02T09:00:00Z", "t").unwrap() });
        assert_eq!(loaded.provenance[&Field::Name].at, parse_time("2024-03-01T09:00:00.001Z", "t").unwrap());
        let history = provenance_history(&db, &id()).unwrap();
        let phones: Vec<_> = history[&Field::Phone].iter().map(|(v, p)| (v.clone().unwrap(), p.origin.to_string())).collect();
        assert_eq!(phones, vec![("13800000001".into(), "batch:b1".into()), ("13800000002".into(), "receipt:r1".into())]);
        assert_eq!(history[&Field::Name].len(), 2);
        let saves: Vec<String> = db.execute("SELECT changes FROM person_history WHERE id_number = ? ORDER BY id", &[person.as_str().into()]).unwrap().column(0).unwrap();
        assert_eq!(saves, vec![r#"[["name","王建国"],["phone","13800000001"]]"#, r#"[["phone","13800000002"]]"#, r#"[["name","王建国"]]"#]);
        assert_eq!(load_person(&db, &other).unwrap().unwrap().provenance.len(), 1);
        let tables: Vec<String> = db.execute("SELECT name FROM sqlite_master WHERE name LIKE 'field_provenance%'", &[]).unwrap().column(0).unwrap();
        assert!(tables.is_empty(), "{tables:?}");
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

    /// Every row of the tables a merge writes, without ids and wall-clock columns.
    fn dump(db: &NativeSql) -> Vec<Vec<SqlValue>> {
        let mut out = Vec::new();
        for q in [
            "SELECT id_number, name, name_key, gender, birth_date, hukou_address, phone, region_hukou, region_residence,
                registered, complete, missing_fields, provenance FROM persons ORDER BY id_number",
            "SELECT id_number, source, origin, observed_at, changes FROM person_history ORDER BY id",
            "SELECT id_number, scheme, status, source, origin FROM enrollments ORDER BY id_number, scheme",
            "SELECT id_number, field, status, candidates, opened_at FROM conflicts ORDER BY id",
        ] {
            out.extend(db.execute(q, &[]).unwrap().rows);
        }
        out
    }

    #[test]
    fn writes_gathered_over_many_merges_equal_saving_each() {
        let phone = |s: &str| Some(Phone::parse(s).unwrap().value);
        let mut observations = vec![full_observation()];
        let mut renamed = obs(Source::CivilAffairs, 3);
        renamed.name = Some("王建军".into());
        renamed.phone = phone("13800000009");
        observations.push(renamed);
        let mut later = obs(Source::SelfReport, 4);
        later.name = Some("王健国".into());
        later.phone = phone("13800000010");
        observations.push(later);
        let mut other = full_observation();
        other.id = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1970, 2, 3).unwrap(), 19);
        observations.push(other);

        let one_by_one = NativeSql::open_in_memory().unwrap();
        let at_once = NativeSql::open_in_memory().unwrap();
        // The first observation is stored before, so the gathered writes also retire stored rows.
        apply(&one_by_one, &observations[0]);
        apply(&at_once, &observations[0]);
        for o in &observations[1..] {
            apply(&one_by_one, o);
        }
        at_once
            .transaction(|tx| {
                let ids: Vec<CitizenId> = observations.iter().map(|o| o.id).collect();
                let mut persons = load_persons(tx, &ids)?;
                let mut writes = PendingWrites::default();
                for o in &observations[1..] {
                    let outcome = merge_by_precedence(persons.get(&o.id), o);
                    writes.record(&outcome);
                    persons.insert(o.id, outcome.person);
                }
                writes.write(tx, at(9), |id| persons.get(id))
            })
            .unwrap();
        assert_eq!(dump(&one_by_one), dump(&at_once));
        assert_eq!(load_persons(&at_once, &[observations[0].id]).unwrap()[&observations[0].id], load_person(&one_by_one, &observations[0].id).unwrap().unwrap());
    }

    #[test]
    fn the_blocked_search_finds_what_the_full_search_finds() {
        let db = NativeSql::open_in_memory().unwrap();
        let mut ids = Vec::new();
        for (county, day, seq) in [("510402", 3, 17u16), ("510402", 3, 19), ("510403", 3, 17), ("510402", 4, 17), ("510411", 9, 555)] {
            let mut o = full_observation();
            o.birth_date = None;
            o.gender = None;
            o.id = CitizenId::from_parts(county, NaiveDate::from_ymd_opt(1970, 2, day).unwrap(), seq);
            ids.push(o.id);
            apply(&db, &o);
        }
        let full = find_candidates(&load_person_keys(&db).unwrap());
        assert!(!full.is_empty());
        assert_eq!(duplicate_candidates_for(&db, &ids).unwrap(), full);
    }

    /// Every way two valid IDs can be similar (one digit changed at each of the 17 places, each
    /// adjacent swap), among namesakes of whom some also share birth date, gender and county:
    /// the search in the database finds exactly the pairs the full search finds.
    #[test]
    fn the_narrowed_search_misses_no_similar_id_or_same_details_pair() {
        let db = NativeSql::open_in_memory().unwrap();
        let mut bodies = Vec::new();
        for base in ["51040219801221317", "51041120050930482"] {
            bodies.push(base.to_owned());
            let digits = base.as_bytes();
            for at in 0..17 {
                for d in b'0'..=b'9' {
                    let mut v = digits.to_vec();
                    v[at] = d;
                    bodies.push(String::from_utf8(v).unwrap());
                }
                if at < 16 {
                    let mut v = digits.to_vec();
                    v.swap(at, at + 1);
                    bodies.push(String::from_utf8(v).unwrap());
                }
            }
        }
        let valid = |body: &str| {
            let check = crate::ids::citizen_id_check_char(body.as_bytes()) as char;
            CitizenId::parse(&format!("{body}{check}")).ok().map(|p| p.value)
        };
        let mut ids: Vec<CitizenId> = bodies.iter().filter_map(|b| valid(b)).collect();
        ids.sort();
        ids.dedup();
        // The places a difference can be: each of the three parts, and the swap across birth
        // date and sequence (the swap across address code and birth date never gives two valid IDs).
        let base = valid("51040219801221317").unwrap();
        let differs = |id: &CitizenId, range: std::ops::Range<usize>| id.as_str()[range.clone()] != base.as_str()[range];
        assert!(ids.iter().any(|id| differs(id, 0..6) && !differs(id, 6..17)));
        assert!(ids.iter().any(|id| differs(id, 6..14) && !differs(id, 0..6) && !differs(id, 14..17)));
        assert!(ids.iter().any(|id| differs(id, 14..17) && !differs(id, 0..14)));
        assert!(ids.iter().any(|id| differs(id, 13..15) && !differs(id, 0..13) && !differs(id, 15..17)));
        for (n, id) in ids.iter().enumerate() {
            let mut o = full_observation();
            o.id = *id;
            // Every third person shares the others' birth date, gender and county (a same-details
            // group across different IDs); the rest have no birth date or gender, so that only
            // the ID tests can find their pairs.
            if n % 3 != 0 {
                o.birth_date = None;
                o.gender = None;
            }
            apply(&db, &o);
        }
        let full = find_candidates(&load_person_keys(&db).unwrap());
        for rule in [DuplicateRule::SimilarId, DuplicateRule::SameDetails] {
            assert!(full.iter().filter(|p| p.rule == rule).count() > 20, "{rule:?}");
        }
        assert_eq!(duplicate_candidates_for(&db, &ids).unwrap(), full);
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
