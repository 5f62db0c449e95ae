//! The full person view for staff, collectors and admins (`GET /api/v1/persons/{id_number}`):
//! every indicator field with where its value came from, the schemes with their history, flags,
//! open conflicts, duplicate candidates and the change history. Staff and collectors see only
//! persons attributed to their region (DOMAIN §7, by hukou); every read is audited (DOMAIN §8).

use super::{ApiError, ApiResult, Env, Request, Response};
use crate::audit;
use crate::auth::Role;
use crate::completeness::missing_fields;
use crate::ids::CitizenId;
use crate::person::{Attribution, Field, Provenance};
use crate::storage::StorageError;
use crate::store::{load_person, provenance_history};
use serde_json::{json, Value};

/// The person's duplicate candidate pairs (一人多号), whichever side of the pair they are on.
const DUPLICATE_CANDIDATES: &str = "SELECT id, id_a, id_b, rule, status, detected_at, reviewed_at, reviewed_by, note
    FROM duplicate_candidates WHERE id_a = ?1 OR id_b = ?1 ORDER BY id";

/// `GET /api/v1/persons/{id_number}`: every field with provenance, schemes with history, flags,
/// open conflicts, duplicate candidates and change history; audited.
pub fn view(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Staff, Role::Collector])?;
    let id = match req.segments().as_slice() {
        ["api", "v1", "persons", id] => CitizenId::parse(id).map_err(|e| ApiError::Validation(vec![e]))?.value,
        _ => return Err(ApiError::not_found()),
    };
    let Some(person) = load_person(env.sql, &id)? else { return Err(ApiError::not_found()) };
    let region = |by| person.attributed_region(by).map_or_else(|| id.county_code().to_owned(), |r| r.as_str().to_owned());
    let (hukou_region, residence_region) = (region(Attribution::Hukou), region(Attribution::Residence));
    principal.require_region(&hukou_region)?;

    let history = provenance_history(env.sql, &id)?;
    let history_json = |field: Field| -> Vec<Value> {
        history.get(&field).into_iter().flatten().rev().map(|(value, p)| json!({"value": value, "provenance": p})).collect()
    };
    let fields: Vec<Value> = Field::ALL
        .iter()
        .map(|&f| {
            json!({
                "field": f,
                "label": f.name_zh(),
                "value": person.field_text(f),
                "provenance": person.provenance.get(&f),
                "conflict": person.open_conflicts.contains_key(&f),
            })
        })
        .collect();
    let schemes: Vec<Value> = person
        .enrollments
        .iter()
        .map(|e| {
            json!({
                "scheme": e.scheme,
                "name": e.scheme.name_zh(),
                "status": e.status,
                "since": e.since,
                "region": e.region.map(|r| r.as_str().to_owned()),
                "employer_credit_code": e.employer_credit_code.as_ref().map(|c| c.as_str()),
                "provenance": person.enrollment_provenance.get(&e.scheme),
            })
        })
        .collect();
    let duplicates = duplicate_candidates(env, &id)?;
    // Every field's values over time, newest first.
    let mut changes: Vec<(&Field, &Option<String>, &Provenance)> =
        history.iter().flat_map(|(field, entries)| entries.iter().map(move |(value, p)| (field, value, p))).collect();
    changes.sort_by_key(|c| std::cmp::Reverse(c.2.at));
    let change_history: Vec<Value> =
        changes.into_iter().map(|(field, value, p)| json!({"field": field, "value": value, "provenance": p})).collect();

    let body = json!({
        "id_number": id.as_str(),
        "attributed_region": {"hukou": hukou_region, "residence": residence_region},
        "person_status": person.person_status,
        "person_status_date": person.person_status_date,
        "registered": person.is_registered(),
        "missing_fields": missing_fields(&person),
        "fields": fields,
        "schemes": schemes,
        "declared_insurance": person.declared_insurance,
        "scheme_history": history_json(Field::Insurance),
        "flags": person.flags,
        "conflicts": person.open_conflicts.values().collect::<Vec<_>>(),
        "duplicate_candidates": duplicates,
        "history": change_history,
    });

    // The read is recorded before anything is sent: no unaudited full record leaves the server.
    audit::record(env.sql, env.now, &principal, audit::PERSON_VIEW, Some(&id), &Value::Null)?;
    Ok(Response::json(200, &body).header("cache-control", "no-store"))
}

/// The open and reviewed candidate pairs this person is in, each with the other ID.
fn duplicate_candidates(env: &Env, id: &CitizenId) -> Result<Vec<Value>, StorageError> {
    let rows = env.sql.execute(DUPLICATE_CANDIDATES, &[id.as_str().into()])?;
    rows.iter()
        .map(|r| {
            let (a, b): (String, String) = (r.get("id_a")?, r.get("id_b")?);
            Ok(json!({
                "id": r.get::<i64>("id")?,
                "other_id_number": if a == id.as_str() { b } else { a },
                "rule": r.get::<String>("rule")?,
                "status": r.get::<String>("status")?,
                "detected_at": r.get::<String>("detected_at")?,
                "reviewed_at": r.get::<Option<String>>("reviewed_at")?,
                "reviewed_by": r.get::<Option<String>>("reviewed_by")?,
                "note": r.get::<Option<String>>("note")?,
            }))
        })
        .collect()
}
