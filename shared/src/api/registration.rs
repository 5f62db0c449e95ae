//! Registration submit, person corrections, conflict resolution, regions and the H5 form (the
//! `registration` component). Each handler reads like the HTTP contract: check the request,
//! check the caller, parse the body with the domain rules (`crate::registration`), then one
//! SQLite transaction that merges, saves, bumps the data version and appends the audit row.

use super::{health, ApiError, ApiResult, Env, Request, Response};
use crate::audit;
use crate::auth::{Principal, Role};
use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Scheme, Source, UninsuredReason};
use crate::completeness::missing_fields;
use crate::error::{FieldError, Reason};
use crate::idempotency::{self, IdempotencyKey, Prior};
use crate::ids::CitizenId;
use crate::masking::{mask_address, mask_id, mask_name};
use crate::merge::merge_by_precedence;
use crate::merge::MergeOutcome;
use crate::person::{normalise_text, Attribution, Field, Origin, Person, Provenance, Willingness};
use crate::ratelimit::{self, Limit};
use crate::region_store;
use crate::regions::RegionCode;
use crate::registration::{self, Registration, StaffCorrection};
use crate::storage::{SqlExt, StorageError};
use crate::store;
use chrono::{DateTime, FixedOffset, NaiveDate, Utc};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Largest registration or correction body: 64 KB.
pub const MAX_JSON_BODY_BYTES: usize = 64 * 1024;
/// Largest region file: 10 MB (a whole province's townships and communities fit many times).
pub const MAX_REGION_FILE_BYTES: usize = 10 * 1024 * 1024;
/// Public registrations per client address per hour unless `registration_rate_limit_per_hour` says otherwise.
pub const DEFAULT_REGISTRATIONS_PER_HOUR: u64 = 10;

/// Audit action of a registration form.
pub const AUDIT_SUBMIT: &str = "registration.submit";
/// Audit action of a staff correction.
pub const AUDIT_CORRECT: &str = "person.correct";
/// Audit action of a conflict resolution.
pub const AUDIT_RESOLVE: &str = "conflict.resolve";
/// Audit action of a region file load.
pub const AUDIT_REGIONS: &str = "regions.load";

const INSERT_REGISTRATION: &str = "INSERT INTO registrations
    (receipt_id, id_number, source, actor, idempotency_key, fingerprint, response, body, created_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)";
const SELECT_RECEIPT: &str = "SELECT id_number, response FROM registrations WHERE receipt_id = ?";
const RESOLVE_CONFLICT: &str = "UPDATE conflicts SET status = 'resolved', resolved_at = ?, resolved_by = ?,
    resolved_value = ?, reason = ?, updated_at = ? WHERE id = ? AND id_number = ? AND status = 'open'";

const FORM_HTML: &str = include_str!("../../assets/register/index.html");
const FORM_JS: &str = include_str!("../../assets/register/app.js");
const FORM_CSS: &str = include_str!("../../assets/register/app.css");

/// Routes one request of the `registration` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    let segments = req.segments();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "registration", "health"]) => health(env, "registration"),
        ("POST", ["api", "v1", "registrations"]) => submit(env, req),
        (_, ["api", "v1", "registrations"]) => Err(ApiError::MethodNotAllowed { allow: "POST" }),
        ("GET", ["api", "v1", "registrations", receipt_id]) => {
            super::lookup::throttle_public_read(env, req)?;
            receipt(env, receipt_id)
        }
        (_, ["api", "v1", "registrations", _]) => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        // The full person view is the lookup issue's; it is served here because Spin routes by
        // path, and `/api/v1/persons/...` also carries the corrections (PATCH) of this component.
        ("GET", ["api", "v1", "persons", ..]) => super::persons::view(env, req),
        ("PATCH", ["api", "v1", "persons", id]) => correct(env, req, id),
        ("POST", ["api", "v1", "persons", id, "conflicts", conflict, "resolve"]) => resolve(env, req, id, conflict),
        ("GET", ["api", "v1", "regions"]) => regions(env, req),
        ("PUT", ["api", "v1", "regions"]) => load_regions(env, req),
        (_, ["api", "v1", "regions"]) => Err(ApiError::MethodNotAllowed { allow: "GET, PUT" }),
        ("GET", ["register"]) => Ok(asset("text/html; charset=utf-8", FORM_HTML, "no-cache")),
        ("GET", ["register", "app.js"]) => {
            Ok(asset("text/javascript; charset=utf-8", &FORM_JS.replace("__CODES__", &form_codes().to_string()), "no-cache"))
        }
        ("GET", ["register", "app.css"]) => Ok(asset("text/css; charset=utf-8", FORM_CSS, "no-cache")),
        _ => Err(ApiError::not_found()),
    }
}

fn asset(content_type: &str, body: &str, cache: &str) -> Response {
    Response::with_body(200, content_type, body.as_bytes()).header("cache-control", cache)
}

/// The reference codes and limits the form's selects and checks use, from the one place each is
/// defined (substituted into `app.js` as it is served).
fn form_codes() -> Value {
    fn pairs<T: Copy>(all: &[T], code: fn(T) -> &'static str, name: fn(T) -> &'static str) -> Vec<[&'static str; 2]> {
        all.iter().map(|v| [code(*v), name(*v)]).collect()
    }
    let ethnicities: Vec<Ethnicity> = Ethnicity::all().collect();
    json!({
        "ethnicity": pairs(&ethnicities, Ethnicity::code, Ethnicity::name_zh),
        "schemes": pairs(Scheme::ALL, Scheme::code, Scheme::name_zh),
        "statuses": pairs(EnrollmentStatus::ALL, EnrollmentStatus::code, EnrollmentStatus::name_zh),
        "employment": pairs(EmploymentStatus::ALL, EmploymentStatus::code, EmploymentStatus::name_zh),
        "uninsured": pairs(UninsuredReason::ALL, UninsuredReason::code, UninsuredReason::name_zh),
        "willingness": pairs(Willingness::ALL, Willingness::code, Willingness::name_zh),
        "fields": Field::ALL.iter().map(|f| (f.as_str().to_owned(), Value::from(f.name_zh()))).collect::<serde_json::Map<_, _>>(),
        "max": {
            "name": registration::MAX_NAME_CHARS,
            "address": registration::MAX_ADDRESS_CHARS,
            "employer_name": registration::MAX_EMPLOYER_NAME_CHARS,
        },
    })
}

/// Today in China (UTC+8): the day a birth date or a since date may not be after.
fn china_today(now: DateTime<Utc>) -> NaiveDate {
    now.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset")).date_naive()
}

/// The JSON body of a write: 415 unless JSON, 413 over the limit, 400 unless it parses.
fn json_body(req: &Request) -> Result<Value, ApiError> {
    if req.media_type().as_deref() != Some("application/json") {
        return Err(ApiError::UnsupportedMediaType { expected: "application/json" });
    }
    if req.body.len() > MAX_JSON_BODY_BYTES {
        return Err(ApiError::TooLarge { limit: MAX_JSON_BODY_BYTES as u64 });
    }
    serde_json::from_slice(&req.body).map_err(ApiError::bad_json)
}

/// The regions a body names (top level and per scheme), for loading just that part of the tree.
fn region_codes(body: &Value) -> Vec<&str> {
    let mut codes: Vec<&str> = ["hukou_region", "residence_region"].iter().filter_map(|k| body[*k].as_str()).collect();
    if let Some(items) = body["insurance"].as_array() {
        codes.extend(items.iter().filter_map(|i| i["region"].as_str()));
    }
    codes
}

/// `POST /api/v1/registrations`: one form, merged like any source's row (DOMAIN §5).
fn submit(env: &Env, req: &Request) -> ApiResult {
    let body = json_body(req)?;
    let principal = env.principal(req)?;
    let source = match principal {
        Principal::Public => Source::SelfReport,
        Principal::Token(_) => {
            principal.require(&[Role::Admin, Role::Staff, Role::Collector])?;
            Source::Survey
        }
    };
    let fingerprint = idempotency::fingerprint(&body);
    let key = match req.header("idempotency-key") {
        None => None,
        Some(h) => Some(IdempotencyKey::parse(h, &principal.actor()).ok_or_else(|| ApiError::BadRequest {
            code: "malformed_idempotency_key",
            message: format!("Idempotency-Key 应为1至{}个可见 ASCII 字符", idempotency::MAX_KEY_LEN),
        })?),
    };
    if let Some(key) = &key {
        if let Some(prior) = idempotency::check(env.sql, key, &fingerprint, env.now)? {
            return answer_again(env, prior);
        }
    }
    if source == Source::SelfReport {
        let max = env.var_or("registration_rate_limit_per_hour", "").trim().parse().unwrap_or(DEFAULT_REGISTRATIONS_PER_HOUR);
        let client = ratelimit::client_key(req.client_ip.as_deref());
        ratelimit::check(env.kv, "registration", client, Limit::per_hour(max), env.now)?;
    }

    let tree = region_store::tree_for_codes(env.sql, region_codes(&body))?;
    let registration = Registration::parse(&body, &tree, china_today(env.now)).map_err(ApiError::Validation)?;
    if source == Source::Survey && !registration.scope_regions().iter().any(|r| principal.covers_region(r)) {
        return Err(ApiError::Forbidden { code: "outside_region", message: "该人员不在您负责的区域内，不能代为登记".into() });
    }

    let id = registration.id;
    let receipt_id = receipt_id(env.now, &id, &fingerprint, key.as_ref());
    let provenance = Provenance { source, origin: Origin::Receipt(receipt_id.clone()), at: env.now };
    let observation = registration.into_observation(provenance);
    let stored_body = body.to_string();
    let written = env.sql.transaction(|tx| {
        // Checked again where no concurrent request can slip in: an identical request that
        // committed since the check above is answered as a replay, not registered twice.
        if let Some(key) = &key {
            if let Some(prior) = idempotency::claim(tx, key, &fingerprint, env.now)? {
                return Ok(Err(prior));
            }
        }
        let current = store::load_person(tx, &id)?;
        let outcome = merge_by_precedence(current.as_ref(), &observation);
        save(tx, &outcome, env.now)?;
        let detail = json!({
            "receipt_id": receipt_id,
            "source": source.code(),
            "changed_fields": outcome.changed_fields,
            "conflicts_opened": outcome.conflicts_opened,
        });
        audit::record(tx, env.now, &principal, AUDIT_SUBMIT, Some(&id), &detail)?;
        let conflicts: Vec<Field> = outcome.conflicts_opened.iter().chain(&outcome.conflicts_updated).copied().collect();
        let response = receipt_body(&receipt_id, &outcome.person, &conflicts);
        tx.exec(
            INSERT_REGISTRATION,
            &[
                receipt_id.as_str().into(),
                id.as_str().into(),
                source.code().into(),
                principal.actor().into(),
                key.as_ref().map(|k| k.as_str()).into(),
                key.as_ref().map(|_| fingerprint.as_str()).into(),
                response.to_string().into(),
                stored_body.into(),
                store::timestamp(env.now).into(),
            ],
        )?;
        Ok::<_, StorageError>(Ok(response))
    })?;
    match written {
        Ok(response) => {
            Ok(Response::json(201, &response).header("location", format!("/api/v1/registrations/{receipt_id}")))
        }
        Err(prior) => answer_again(env, prior),
    }
}

/// The answer to a request whose key was used before: the first answer again (200), or 409 when
/// the key came with another body.
fn answer_again(env: &Env, prior: Prior) -> ApiResult {
    match prior {
        Prior::Replay { receipt_id, response: Some(stored) } => Ok(Response::with_body(200, "application/json; charset=utf-8", stored)
            .header("location", format!("/api/v1/registrations/{receipt_id}"))),
        Prior::Replay { receipt_id, response: None } => {
            let mut reply = receipt(env, &receipt_id)?;
            reply.status = 200;
            Ok(reply)
        }
        Prior::Mismatch => Err(key_reused()),
    }
}

/// `GET /api/v1/registrations/{receipt_id}` (the submit response's `Location`): the receipt as it
/// was given. Anyone holding the receipt number may read it, as they could read the paper slip;
/// it shows only the masked summary, and reads share the public lookup budget per address.
fn receipt(env: &Env, receipt_id: &str) -> ApiResult {
    let row = env
        .sql
        .query_one(SELECT_RECEIPT, &[receipt_id.into()])?
        .ok_or_else(|| ApiError::NotFound { code: "receipt_not_found", message: "没有这个回执号".into() })?;
    if let Some(stored) = row.get::<Option<String>>(1)? {
        return Ok(Response::with_body(200, "application/json; charset=utf-8", stored.into_bytes()));
    }
    // Registered before responses were kept: the receipt as it would read now.
    let id = CitizenId::parse(&row.get::<String>(0)?).map_err(|_| StorageError::Corrupt("registrations.id_number".into()))?.value;
    let person = store::load_person(env.sql, &id)?.ok_or_else(ApiError::not_found)?;
    Ok(Response::json(200, &receipt_body(receipt_id, &person, &[])))
}

/// What a registration answers: the receipt, the masked person, whether the record is complete
/// and what is missing, and the conflicts the form opened or joined.
fn receipt_body(receipt_id: &str, person: &Person, conflicts: &[Field]) -> Value {
    json!({
        "receipt_id": receipt_id,
        "person": masked_summary(person),
        "complete": missing_fields(person).is_empty(),
        "missing_fields": missing_fields(person),
        "conflicts": conflicts,
    })
}

fn key_reused() -> ApiError {
    ApiError::Conflict {
        code: "idempotency_key_reused",
        message: "该 Idempotency-Key 已用于另一份内容（或同一请求仍在处理），请为新的登记生成新的键".into(),
    }
}

/// Saves a merge and counts the write in `data_version` even when the merge changed nothing
/// (`save_outcome` counts only changes; a registration row was still written).
fn save(tx: &dyn crate::storage::Sql, outcome: &MergeOutcome, now: DateTime<Utc>) -> Result<(), StorageError> {
    if outcome.is_changed() {
        store::save_outcome(tx, outcome, now)
    } else {
        store::bump_data_version(tx)
    }
}

/// A receipt number residents can read out: `R` + the date + `-` + 10 hex digits of a hash that
/// is unique per submission (time to the nanosecond, person, body, key). The hyphen keeps the date
/// and the hash from running together into a long run of digits, which the redaction of logs and
/// audit details (`redact::redact_log`) would take for an identifier and mask.
fn receipt_id(now: DateTime<Utc>, id: &CitizenId, fingerprint: &str, key: Option<&IdempotencyKey>) -> String {
    let mut h = Sha256::new();
    h.update(now.timestamp_nanos_opt().unwrap_or_default().to_be_bytes());
    h.update(id.as_str());
    h.update(fingerprint);
    h.update(key.map(|k| k.as_str()).unwrap_or(""));
    format!("R{}-{}", china_today(now).format("%Y%m%d"), &hex::encode(h.finalize())[..10]).to_uppercase()
}

/// What a receipt shows of the person: masked as public outputs are (DOMAIN §8).
fn masked_summary(p: &Person) -> Value {
    json!({
        "id_masked": mask_id(p.id.as_str()),
        "name_masked": p.name.as_deref().map(mask_name),
        "gender": p.gender.map(|g| g.name_zh()),
        "phone_masked": p.phone.as_ref().map(|ph| ph.masked()),
        "residence_address_masked": p.residence_address.as_deref().map(mask_address),
        "residence_region": p.residence_region.map(|r| r.to_string()),
        "registered": p.is_registered(),
        "schemes": p.enrollments.iter().chain(&p.declared_insurance).map(|e| json!({
            "scheme": e.scheme.code(), "name": e.scheme.name_zh(), "status": e.status.code(),
        })).collect::<Vec<_>>(),
        "uninsured_reason": p.uninsured_reason.map(|u| u.name_zh()),
    })
}

/// Staff and admins only, and only for persons attributed to their region (by hukou, as the
/// person view scopes them); 404 for an unknown person.
fn person_for_staff(env: &Env, req: &Request, id_text: &str) -> Result<(Principal, String, Person), ApiError> {
    let principal = env.principal(req)?;
    let staff = principal.require(&[Role::Admin, Role::Staff])?;
    let name = if staff.name.is_empty() { staff.role.as_str().to_owned() } else { staff.name.clone() };
    let id = CitizenId::parse(id_text).map_err(|e| ApiError::Validation(vec![e]))?.value;
    let person = store::load_person(env.sql, &id)?.ok_or_else(ApiError::not_found)?;
    let region = person.attributed_region(Attribution::Hukou).map_or_else(|| id.county_code().to_owned(), |r| r.to_string());
    principal.require_region(&region)?;
    Ok((principal, name, person))
}

/// The provenance of a staff member's word: staff act for the bureau (人社局), so their values
/// rank as its own; the origin names them (`staff:<name>`).
fn staff_provenance(name: &str, now: DateTime<Utc>) -> Provenance {
    Provenance { source: Source::Hrss, origin: Origin::Staff(name.to_owned()), at: now }
}

/// `PATCH /api/v1/persons/{id_number}`: staff correct fields with a mandatory reason.
fn correct(env: &Env, req: &Request, id_text: &str) -> ApiResult {
    let body = json_body(req)?;
    let (principal, name, mut person) = person_for_staff(env, req, id_text)?;
    let tree = region_store::tree_for_codes(env.sql, region_codes(&body))?;
    let correction = StaffCorrection::parse(&body, person.id, staff_provenance(&name, env.now), &tree, china_today(env.now))
        .map_err(ApiError::Validation)?;
    let fields = correction.apply(&mut person);
    let outcome = changed(person, fields.clone());
    env.sql.transaction(|tx| {
        store::save_outcome(tx, &outcome, env.now)?;
        let detail = json!({"fields": fields, "cleared": correction.cleared, "reason": correction.reason});
        audit::record(tx, env.now, &principal, AUDIT_CORRECT, Some(&outcome.person.id), &detail)
    })?;
    let p = &outcome.person;
    Ok(Response::json(200, &json!({
        "id_number": p.id.as_str(),
        "updated_fields": fields,
        "complete": missing_fields(p).is_empty(),
        "missing_fields": missing_fields(p),
    })))
}

/// A merge outcome for a direct change of `fields` (no conflicts opened).
fn changed(person: Person, fields: Vec<Field>) -> MergeOutcome {
    MergeOutcome {
        person,
        is_new: false,
        changed_fields: fields,
        changed_enrollments: Vec::new(),
        corrections: Vec::new(),
        conflicts_opened: Vec::new(),
        conflicts_updated: Vec::new(),
        registration_recorded: false,
    }
}

/// `POST /api/v1/persons/{id_number}/conflicts/{conflict_id}/resolve`: staff choose one of the
/// competing values, with a reason; the conflict closes and the value becomes current.
fn resolve(env: &Env, req: &Request, id_text: &str, conflict_text: &str) -> ApiResult {
    let body = json_body(req)?;
    let (principal, name, mut person) = person_for_staff(env, req, id_text)?;
    let conflict_id: i64 = conflict_text.parse().map_err(|_| ApiError::not_found())?;
    let (field, conflict) = person
        .open_conflicts
        .iter()
        .find(|(_, c)| c.id == Some(conflict_id))
        .map(|(f, c)| (*f, c.clone()))
        .ok_or_else(|| ApiError::NotFound { code: "conflict_not_found", message: "没有这个待处理的冲突".into() })?;

    let mut errors = Vec::new();
    let value = body["value"].as_str().map(str::trim).filter(|v| !v.is_empty());
    let chosen = value.and_then(|v| conflict.candidates.iter().find(|c| normalise_text(&c.value) == normalise_text(v)));
    match (value, chosen) {
        (None, _) => errors.push(FieldError::new("value", Reason::Required, "请选择采用哪个值")),
        (Some(_), None) => errors.push(FieldError::new("value", Reason::UnknownCode, "只能从冲突中列出的值里选择")),
        _ => {}
    }
    let reason = body["reason"].as_str().map(str::trim).filter(|r| !r.is_empty());
    if reason.is_none() {
        errors.push(FieldError::new("reason", Reason::Required, "请填写处理原因"));
    }
    let (Some(chosen), Some(reason), true) = (chosen, reason, errors.is_empty()) else {
        return Err(ApiError::Validation(errors));
    };
    // The chosen value goes through the form's rules as a one-field correction.
    let as_correction = json!({ field.as_str(): chosen.value, "reason": reason });
    let tree = region_store::tree_for_codes(env.sql, region_codes(&as_correction))?;
    let correction =
        StaffCorrection::parse(&as_correction, person.id, staff_provenance(&name, env.now), &tree, china_today(env.now))
            .map_err(|errors| ApiError::Validation(errors.into_iter().map(|e| e.for_field("value")).collect()))?;
    let fields = correction.apply(&mut person);
    person.open_conflicts.remove(&field);
    let outcome = changed(person, fields);
    let at = store::timestamp(env.now);
    env.sql.transaction(|tx| {
        tx.exec(
            RESOLVE_CONFLICT,
            &[
                at.as_str().into(),
                principal.actor().into(),
                chosen.value.as_str().into(),
                reason.into(),
                at.as_str().into(),
                conflict_id.into(),
                outcome.person.id.as_str().into(),
            ],
        )?;
        store::save_outcome(tx, &outcome, env.now)?;
        let detail = json!({"conflict_id": conflict_id, "field": field, "reason": reason});
        audit::record(tx, env.now, &principal, AUDIT_RESOLVE, Some(&outcome.person.id), &detail)
    })?;
    Ok(Response::json(200, &json!({
        "conflict_id": conflict_id,
        "field": field,
        "status": "resolved",
        "value": chosen.value,
    })))
}

/// `GET /api/v1/regions?parent=`: one level of the tree for the form's picker (public, cacheable).
fn regions(env: &Env, req: &Request) -> ApiResult {
    let parent = match req.query_param("parent").filter(|p| !p.trim().is_empty()) {
        None => None,
        Some(p) => Some(RegionCode::parse(&p).map_err(|e| ApiError::Validation(vec![e.for_field("parent")]))?.value),
    };
    let children = region_store::children(env.sql, parent)?;
    let regions: Vec<Value> = children
        .iter()
        .map(|(r, has_children)| json!({"code": r.code, "name": r.name, "level": r.level(), "has_children": has_children}))
        .collect();
    Ok(Response::json(200, &json!({"parent": parent, "regions": regions}))
        .header("cache-control", "public, max-age=300"))
}

/// `PUT /api/v1/regions`: admins load the tree from CSV `code,name,parent_code`.
fn load_regions(env: &Env, req: &Request) -> ApiResult {
    if req.media_type().as_deref() != Some("text/csv") {
        return Err(ApiError::UnsupportedMediaType { expected: "text/csv" });
    }
    if req.body.len() > MAX_REGION_FILE_BYTES {
        return Err(ApiError::TooLarge { limit: MAX_REGION_FILE_BYTES as u64 });
    }
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin])?;
    let report = env.sql.transaction(|tx| -> Result<_, ApiError> {
        let report = region_store::load_csv(tx, &req.body, env.now)?.map_err(|e| ApiError::Validation(vec![e]))?;
        if !report.errors.is_empty() {
            let fields = report
                .errors
                .iter()
                .map(|e| FieldError::new(format!("line {}: {}", e.line, e.error.field), e.error.code, e.error.message.clone()))
                .collect();
            return Err(ApiError::Validation(fields));
        }
        store::bump_data_version(tx)?;
        let counts = json!({"added": report.added, "updated": report.updated, "unchanged": report.unchanged});
        audit::record(tx, env.now, &principal, AUDIT_REGIONS, None, &counts)?;
        Ok(report)
    })?;
    Ok(Response::json(200, &json!({
        "added": report.added,
        "updated": report.updated,
        "unchanged": report.unchanged,
        "total": report.added + report.updated + report.unchanged,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn receipt_numbers_survive_the_redaction_of_audit_details() {
        let id = CitizenId::parse("11010519491231002X").unwrap().value;
        let start = Utc.with_ymd_and_hms(2026, 11, 29, 8, 0, 0).unwrap();
        for n in 0..2_000 {
            let receipt = receipt_id(start + chrono::Duration::nanoseconds(n), &id, "f", None);
            assert_eq!(receipt.len(), 20, "{receipt}");
            assert!(receipt.starts_with("R20261129-"), "{receipt}");
            assert_eq!(crate::redact::redact_log(&receipt), receipt);
        }
    }
}
