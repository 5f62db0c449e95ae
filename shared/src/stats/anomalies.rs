//! The anomaly lists (异常名单) staff act on, each one documented query with a count and a page:
//! duplicate enrollment (重复参保) and benefits after death (死亡后仍在领取/缴费) exactly as the
//! figures of DOMAIN §7 count them, one person with several numbers (一人多号: open candidate
//! pairs, §6), open conflicts between sources (§5), and registered units that no hrss enrollment
//! names as employer (参保单位未参保).
//!
//! Region filters: persons by their attributed region (hukou first, as the overview), so a
//! county's duplicate-enrollment total is the overview's figure. At the city level the person
//! lists that are about the database's own consistency (conflicts, candidate pairs) and the units
//! list cover everything the city's base database holds; below it a pair belongs to a region
//! when either of its persons does, and a unit by the registration-authority region embedded in
//! its credit code (positions 3–8; units with only an organisation code belong to the city).

use crate::codes::Scheme;
use crate::figures::{duplicate_condition, Attribute};
use crate::regions::{Level, RegionCode};
use crate::storage::{Row, Sql, SqlValue, StorageError};
use serde::Serialize;
use serde_json::{json, Value};

/// One kind of anomaly list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AnomalyType {
    /// 重复参保: active in 310+390, 170+(110|120) or 110+120.
    DuplicateEnrollment,
    /// 死亡后仍有有效参保: person_status `deceased` with an enrollment still active.
    BenefitsAfterDeath,
    /// 一人多号: open candidate pairs of IDs that may be one person.
    MultipleIds,
    /// 数据冲突: open conflicts between sources, awaiting review.
    Conflicts,
    /// 参保单位未参保: registered units no hrss enrollment names as employer.
    UninsuredUnits,
}

impl AnomalyType {
    /// Every type, in the order the dashboard shows them.
    pub const ALL: [AnomalyType; 5] = [
        AnomalyType::DuplicateEnrollment,
        AnomalyType::BenefitsAfterDeath,
        AnomalyType::MultipleIds,
        AnomalyType::Conflicts,
        AnomalyType::UninsuredUnits,
    ];

    /// The code used in `?type=`.
    pub fn code(self) -> &'static str {
        match self {
            AnomalyType::DuplicateEnrollment => "duplicate_enrollment",
            AnomalyType::BenefitsAfterDeath => "benefits_after_death",
            AnomalyType::MultipleIds => "multiple_ids",
            AnomalyType::Conflicts => "conflicts",
            AnomalyType::UninsuredUnits => "uninsured_units",
        }
    }

    /// The Chinese name shown to staff.
    pub fn name_zh(self) -> &'static str {
        match self {
            AnomalyType::DuplicateEnrollment => "重复参保",
            AnomalyType::BenefitsAfterDeath => "死亡人员仍在参保",
            AnomalyType::MultipleIds => "一人多号",
            AnomalyType::Conflicts => "数据冲突",
            AnomalyType::UninsuredUnits => "参保单位未参保",
        }
    }

    /// Parses a `?type=` code.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.code() == text)
    }
}

/// Which part of the base database a list covers.
#[derive(Debug, Clone, Copy)]
pub struct Scope {
    /// The region asked for.
    pub region: RegionCode,
    /// How persons are attributed to it.
    pub by: Attribute,
}

impl Scope {
    fn column(self) -> &'static str {
        match self.by {
            Attribute::Hukou => "region_hukou",
            Attribute::Residence => "region_residence",
        }
    }

    fn is_city(self) -> bool {
        matches!(self.region.level(), Level::Province | Level::City)
    }

    /// ?1 and ?2: the index range of codes starting with the region's area prefix.
    fn range(self) -> [SqlValue; 2] {
        let prefix = self.region.area_prefix();
        [prefix.into(), format!("{prefix}:").into()]
    }
}

/// One page of a list, with the total.
#[derive(Debug, Clone, Serialize)]
pub struct Page {
    /// Rows over all pages.
    pub total: u64,
    /// This page's rows.
    pub items: Vec<Value>,
}

/// The persons of a list, one row each, in a stable order (region, then ID). ?1/?2 the range.
/// Both read the person's active-scheme mask (`persons.active_mask`, kept by the triggers of
/// migration 0010) with the condition the figures use, so a list's total is the figure; the
/// range is one scan of the covering region index.
fn person_list_sql(kind: AnomalyType, col: &str) -> String {
    match kind {
        AnomalyType::DuplicateEnrollment => format!(
            "SELECT p.id_number FROM persons p
             WHERE p.{col} >= ?1 AND p.{col} < ?2 AND ({})",
            duplicate_condition("p.active_mask")
        ),
        AnomalyType::BenefitsAfterDeath => format!(
            "SELECT p.id_number FROM persons p
             WHERE p.{col} >= ?1 AND p.{col} < ?2 AND p.person_status = 'deceased' AND p.active_mask <> 0"
        ),
        _ => unreachable!("person lists only"),
    }
}

/// Open candidate pairs (one row per pair, its rules joined); `?3` = 1 covers the whole database.
const PAIRS_SQL: &str = "SELECT d.id_a, d.id_b, group_concat(d.rule, ',') AS rules, MIN(d.detected_at) AS detected_at
    FROM duplicate_candidates d
    WHERE d.status = 'open' AND (?3 = 1
        OR EXISTS (SELECT 1 FROM persons p WHERE p.id_number IN (d.id_a, d.id_b) AND p.__COL__ >= ?1 AND p.__COL__ < ?2))
    GROUP BY d.id_a, d.id_b";

/// Open conflicts; `?3` = 1 covers the whole database.
const CONFLICTS_SQL: &str = "SELECT c.id, c.id_number, c.field, c.candidates, c.opened_at, c.updated_at
    FROM conflicts c
    WHERE c.status = 'open' AND (?3 = 1
        OR EXISTS (SELECT 1 FROM persons p WHERE p.id_number = c.id_number AND p.__COL__ >= ?1 AND p.__COL__ < ?2))";

/// Units no hrss enrollment names as employer; `?3` = 1 for the whole city, else the credit
/// code's embedded region must start with the region's area prefix (?1).
const UNITS_SQL: &str = "SELECT u.unit_key, u.credit_code, u.org_code, u.name, u.status, u.address, u.headcount, u.sources
    FROM units u
    WHERE (?3 = 1 OR (u.credit_code IS NOT NULL AND substr(u.credit_code, 3, 6) >= ?1 AND substr(u.credit_code, 3, 6) < ?2))
      AND (u.credit_code IS NULL OR NOT EXISTS (
          SELECT 1 FROM enrollments e WHERE e.source = 'hrss' AND e.employer_credit_code = u.credit_code))";

/// The SQL of a list's rows (without order and paging) for a scope.
fn list_sql(kind: AnomalyType, scope: Scope) -> String {
    let col = scope.column();
    match kind {
        AnomalyType::DuplicateEnrollment | AnomalyType::BenefitsAfterDeath => person_list_sql(kind, col),
        AnomalyType::MultipleIds => PAIRS_SQL.replace("__COL__", col),
        AnomalyType::Conflicts => CONFLICTS_SQL.replace("__COL__", col),
        AnomalyType::UninsuredUnits => UNITS_SQL.to_string(),
    }
}

fn order_by(kind: AnomalyType) -> &'static str {
    match kind {
        AnomalyType::DuplicateEnrollment | AnomalyType::BenefitsAfterDeath => "ORDER BY id_number",
        AnomalyType::MultipleIds => "ORDER BY id_a, id_b",
        AnomalyType::Conflicts => "ORDER BY id",
        AnomalyType::UninsuredUnits => "ORDER BY unit_key",
    }
}

/// ?1/?2 the region's index range; ?3 whether the list covers the whole database (the lists
/// that have a city-wide meaning of their own, see the module comment).
fn params(kind: AnomalyType, scope: Scope) -> Vec<SqlValue> {
    let [a, b] = scope.range();
    match kind {
        AnomalyType::DuplicateEnrollment | AnomalyType::BenefitsAfterDeath => vec![a, b],
        _ => vec![a, b, i64::from(scope.is_city()).into()],
    }
}

/// How many rows a list has (the number the dashboard shows).
pub fn count(db: &dyn Sql, kind: AnomalyType, scope: Scope) -> Result<u64, StorageError> {
    let sql = format!("SELECT COUNT(*) FROM ({})", list_sql(kind, scope));
    Ok(db.execute(&sql, &params(kind, scope))?.scalar::<i64>()?.unwrap_or(0) as u64)
}

/// One page (1-based) of a list with its total, each row with what staff need to act on it.
pub fn page(db: &dyn Sql, kind: AnomalyType, scope: Scope, page: u64, page_size: u64) -> Result<Page, StorageError> {
    let total = count(db, kind, scope)?;
    let mut p = params(kind, scope);
    let sql = format!("SELECT * FROM ({}) {} LIMIT ?{} OFFSET ?{}", list_sql(kind, scope), order_by(kind), p.len() + 1, p.len() + 2);
    p.push((page_size as i64).into());
    p.push((page.saturating_sub(1).saturating_mul(page_size) as i64).into());
    let rows = db.execute(&sql, &p)?;
    let mut items = Vec::with_capacity(rows.len());
    for row in rows.iter() {
        items.push(match kind {
            AnomalyType::DuplicateEnrollment | AnomalyType::BenefitsAfterDeath => {
                let id: String = row.get(0)?;
                let mut person = person_summary(db, &id)?;
                person["enrollments"] = enrollments_of(db, &id)?;
                if kind == AnomalyType::DuplicateEnrollment {
                    person["rules"] = duplicate_rules(&person["enrollments"]).into();
                }
                person
            }
            AnomalyType::MultipleIds => pair_row(db, &row)?,
            AnomalyType::Conflicts => conflict_row(db, &row)?,
            AnomalyType::UninsuredUnits => unit_row(&row)?,
        });
    }
    Ok(Page { total, items })
}

const PERSON_SUMMARY: &str = "SELECT id_number, name, gender, birth_date, person_status, person_status_date,
    region_hukou, region_residence, hukou_address, residence_address FROM persons WHERE id_number = ?";

/// Who a row is about: enough to find and open the record (`GET /api/v1/persons/{id}`).
fn person_summary(db: &dyn Sql, id: &str) -> Result<Value, StorageError> {
    let Some(r) = db.query_one(PERSON_SUMMARY, &[id.into()])? else {
        return Ok(json!({"id_number": id, "known": false}));
    };
    Ok(json!({
        "id_number": r.get::<String>(0)?,
        "name": r.get::<Option<String>>(1)?,
        "gender": r.get::<Option<String>>(2)?,
        "birth_date": r.get::<Option<String>>(3)?,
        "person_status": r.get::<String>(4)?,
        "person_status_date": r.get::<Option<String>>(5)?,
        "region_hukou": r.get::<String>(6)?,
        "region_residence": r.get::<String>(7)?,
        "hukou_address": r.get::<Option<String>>(8)?,
        "residence_address": r.get::<Option<String>>(9)?,
    }))
}

const ENROLLMENTS_OF: &str = "SELECT scheme, status, since, region, employer_credit_code, source, updated_at
    FROM enrollments WHERE id_number = ? ORDER BY scheme";

fn enrollments_of(db: &dyn Sql, id: &str) -> Result<Value, StorageError> {
    let rows = db.execute(ENROLLMENTS_OF, &[id.into()])?;
    let mut out = Vec::new();
    for r in rows.iter() {
        let scheme: String = r.get(0)?;
        out.push(json!({
            "scheme": scheme,
            "scheme_name": Scheme::parse(&scheme).map(Scheme::name_zh).ok(),
            "status": r.get::<String>(1)?,
            "since": r.get::<Option<String>>(2)?,
            "region": r.get::<Option<String>>(3)?,
            "employer_credit_code": r.get::<Option<String>>(4)?,
            "source": r.get::<String>(5)?,
            "updated_at": r.get::<String>(6)?,
        }));
    }
    Ok(Value::from(out))
}

/// Which duplicate-enrollment rules a person's active schemes break (`310+390`, …).
fn duplicate_rules(enrollments: &Value) -> Vec<&'static str> {
    let active: Vec<&str> = enrollments
        .as_array()
        .into_iter()
        .flatten()
        .filter(|e| e["status"] == "active")
        .filter_map(|e| e["scheme"].as_str())
        .collect();
    let has = |s: &str| active.contains(&s);
    let mut rules = Vec::new();
    if has("310") && has("390") {
        rules.push("310+390");
    }
    if has("170") && (has("110") || has("120")) {
        rules.push("170+110/120");
    }
    if has("110") && has("120") {
        rules.push("110+120");
    }
    rules
}

fn pair_row(db: &dyn Sql, row: &Row) -> Result<Value, StorageError> {
    let a: String = row.get(0)?;
    let b: String = row.get(1)?;
    let rules: String = row.get(2)?;
    let mut rules: Vec<&str> = rules.split(',').collect();
    rules.sort_unstable();
    rules.dedup();
    Ok(json!({
        "id_a": a,
        "id_b": b,
        "rules": rules,
        "detected_at": row.get::<String>(3)?,
        "persons": [person_summary(db, &a)?, person_summary(db, &b)?],
    }))
}

fn conflict_row(db: &dyn Sql, row: &Row) -> Result<Value, StorageError> {
    let id_number: String = row.get(1)?;
    let candidates: String = row.get(3)?;
    Ok(json!({
        "conflict_id": row.get::<i64>(0)?,
        "id_number": id_number,
        "field": row.get::<String>(2)?,
        "candidates": serde_json::from_str::<Value>(&candidates).unwrap_or(Value::Null),
        "opened_at": row.get::<String>(4)?,
        "updated_at": row.get::<String>(5)?,
        "person": person_summary(db, &id_number)?,
    }))
}

fn unit_row(row: &Row) -> Result<Value, StorageError> {
    let sources: String = row.get(7)?;
    Ok(json!({
        "unit_key": row.get::<String>(0)?,
        "credit_code": row.get::<Option<String>>(1)?,
        "org_code": row.get::<Option<String>>(2)?,
        "name": row.get::<Option<String>>(3)?,
        "status": row.get::<Option<String>>(4)?,
        "address": row.get::<Option<String>>(5)?,
        "headcount": row.get::<Option<i64>>(6)?,
        "sources": serde_json::from_str::<Value>(&sources).unwrap_or(Value::Null),
    }))
}
