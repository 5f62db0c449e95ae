//! The full person view for staff, collectors and admins (`GET /api/v1/persons/{id_number}`):
//! every indicator field with where its value came from, the schemes with their history, flags,
//! open conflicts, duplicate candidates and the change history. Staff and collectors see only
//! persons attributed to their region (DOMAIN §7, by hukou); every read is audited (DOMAIN §8).

use super::{ApiError, ApiResult, Env, Request, Response};
use crate::audit;
use crate::auth::Role;
use crate::codes::{Flag, Scheme};
use crate::ids::CitizenId;
use crate::person::Field;
use crate::storage::{Row, SqlValue, StorageError};
use serde_json::{json, Map, Value};

const PERSON: &str = "SELECT * FROM persons WHERE id_number = ?";
const PROVENANCE: &str = "SELECT field, value, source, origin, observed_at, recorded_at, is_current
    FROM field_provenance WHERE id_number = ? ORDER BY id DESC";
const ENROLLMENTS: &str = "SELECT scheme, status, since, region, employer_credit_code, source, origin, observed_at, updated_at
    FROM enrollments WHERE id_number = ? ORDER BY scheme";
const OPEN_CONFLICTS: &str = "SELECT id, field, candidates, opened_at, updated_at
    FROM conflicts WHERE id_number = ? AND status = 'open' ORDER BY id";
const DUPLICATE_CANDIDATES: &str = "SELECT id, id_a, id_b, rule, status, detected_at, reviewed_at, reviewed_by, note
    FROM duplicate_candidates WHERE id_a = ?1 OR id_b = ?1 ORDER BY id";

/// The persons column that holds each flag.
const FLAG_COLUMNS: [(Flag, &str); 4] = [
    (Flag::MinimumLiving, "flag_minimum_living"),
    (Flag::ExtremePoverty, "flag_extreme_poverty"),
    (Flag::Student, "flag_student"),
    (Flag::Deceased, "flag_deceased"),
];

/// `GET /api/v1/persons/{id_number}`: every field with provenance, schemes with history, flags,
/// open conflicts, duplicate candidates and change history; audited.
pub fn view(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Staff, Role::Collector])?;
    let id = match req.segments().as_slice() {
        ["api", "v1", "persons", id] => CitizenId::parse(id).map_err(|e| ApiError::Validation(vec![e]))?.value,
        _ => return Err(ApiError::not_found()),
    };
    let key = [SqlValue::from(id.as_str())];
    let person = env.sql.execute(PERSON, &key)?;
    let Some(row) = person.first() else { return Err(ApiError::not_found()) };
    principal.require_region(&row.get::<String>("region_hukou")?)?;

    let provenance = env.sql.execute(PROVENANCE, &key)?;
    let provenance: Vec<Value> = provenance.iter().map(provenance_json).collect::<Result<_, _>>()?;
    let current = |field: &str| {
        provenance.iter().find(|p| p["field"] == field && p["current"] == true).map(|p| {
            json!({"source": p["source"], "origin": p["origin"], "observed_at": p["observed_at"], "recorded_at": p["recorded_at"]})
        })
    };

    let mut fields = Vec::with_capacity(Field::ALL.len());
    for field in Field::ALL {
        let name = field.as_str();
        let value = match row.value(name) {
            Ok(v) => sql_json(v),
            Err(StorageError::NoSuchColumn(_)) if *field == Field::Flags => json!(set_flags(&row)?),
            Err(StorageError::NoSuchColumn(_)) => {
                provenance.iter().find(|p| p["field"] == name && p["current"] == true).map_or(Value::Null, |p| p["value"].clone())
            }
            Err(e) => return Err(e.into()),
        };
        fields.push(json!({"field": name, "label": field.name_zh(), "value": value, "provenance": current(name)}));
    }

    let enrollments = env.sql.execute(ENROLLMENTS, &key)?;
    let schemes: Vec<Value> = enrollments
        .iter()
        .map(|r| {
            let mut e = row_json(&r);
            if let Some(code) = e["scheme"].as_str() {
                e["name"] = json!(Scheme::parse(code).map(|s| s.name_zh()).unwrap_or_default());
            }
            e
        })
        .collect();
    let conflicts: Vec<Value> = env
        .sql
        .execute(OPEN_CONFLICTS, &key)?
        .iter()
        .map(|r| {
            let mut c = row_json(&r);
            // Candidates are stored as JSON; show them as JSON, not as a string of it.
            if let Some(text) = c["candidates"].as_str() {
                c["candidates"] = serde_json::from_str(text).unwrap_or_else(|_| json!(text));
            }
            c
        })
        .collect();
    let duplicates: Vec<Value> = env
        .sql
        .execute(DUPLICATE_CANDIDATES, &key)?
        .iter()
        .map(|r| {
            let mut d = row_json(&r);
            let other = if d["id_a"] == id.as_str() { d["id_b"].clone() } else { d["id_a"].clone() };
            d["other_id_number"] = other;
            d
        })
        .collect();

    let body = json!({
        "id_number": id.as_str(),
        "attributed_region": {"hukou": row.get::<String>("region_hukou")?, "residence": row.get::<String>("region_residence")?},
        "fields": fields,
        "schemes": schemes,
        "scheme_history": provenance.iter().filter(|p| p["field"] == Field::Insurance.as_str()).collect::<Vec<_>>(),
        "flags": set_flags(&row)?,
        "registered": row.get::<bool>("registered")?,
        "complete": row.get::<bool>("complete")?,
        "missing_fields": row.get::<String>("missing_fields")?.split(',').filter(|f| !f.is_empty()).collect::<Vec<_>>(),
        "conflicts": conflicts,
        "duplicate_candidates": duplicates,
        "history": provenance,
        "created_at": row.get::<String>("created_at")?,
        "updated_at": row.get::<String>("updated_at")?,
    });

    // The read is recorded before anything is sent: no unaudited full record leaves the server.
    audit::record(env.sql, env.now, &principal, audit::PERSON_VIEW, Some(&id), &Value::Null)?;
    Ok(Response::json(200, &body).header("cache-control", "no-store"))
}

/// The flags set on the person, as codes.
fn set_flags(row: &Row) -> Result<Vec<&'static str>, StorageError> {
    let mut set = Vec::new();
    for (flag, column) in FLAG_COLUMNS {
        if row.get::<bool>(column)? {
            set.push(flag.code());
        }
    }
    Ok(set)
}

/// One provenance row: the field, its value then, source, origin, times, and whether it is the
/// current value.
fn provenance_json(row: Row) -> Result<Value, StorageError> {
    let mut p = row_json(&row);
    p["current"] = json!(row.get::<bool>("is_current")?);
    if let Value::Object(map) = &mut p {
        map.remove("is_current");
    }
    Ok(p)
}

/// A result row as a JSON object, column by column.
fn row_json(row: &Row) -> Value {
    let map: Map<String, Value> = row.columns().iter().cloned().zip(row.values().iter().map(sql_json)).collect();
    Value::Object(map)
}

/// A SQLite value as JSON.
fn sql_json(value: &SqlValue) -> Value {
    match value {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => json!(i),
        SqlValue::Real(f) => json!(f),
        SqlValue::Text(s) => json!(s),
        SqlValue::Blob(b) => json!(hex::encode(b)),
    }
}
