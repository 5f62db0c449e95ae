//! The `lookup` component: the public masked status check for residents and city portals
//! (`GET /api/v1/lookup`, rate-limited, CORS for `cors_origins`), the embeddable widget
//! (`/embed/lookup` for an iframe, `/embed/lookup.js` for a portal's own page) and the audit
//! trail for admins (`GET /api/v1/audit`) and the OpenAPI document of the whole HTTP API
//! (`GET /api/v1/openapi.json`, kept in `shared/assets/openapi.json`).
//!
//! A lookup reveals nothing that the caller did not already type except the registration status:
//! the answer for a right ID with a wrong name is byte for byte the answer for an unknown ID.

use super::cors::Cors;
use super::{health, respond, ApiError, ApiResult, Env, Request, Response};
use crate::audit;
use crate::auth::Role;
use crate::codes::{EnrollmentStatus, Scheme};
use crate::error::{FieldError, Reason};
use crate::ids::CitizenId;
use crate::masking::{mask_id, mask_name};
use crate::person::normalise_text;
use crate::ratelimit::{self, Limit};
use crate::storage::StorageError;
use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Utc};
use serde::Serialize;
use sha2::{Digest, Sha256};

/// Routes one request of the `lookup` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/lookup/health") => health(env, "lookup"),
        (method, "/api/v1/lookup") => {
            let cors = Cors::from_env(env);
            let response = match method {
                "OPTIONS" => return Ok(cors.preflight(req)),
                "GET" => respond(lookup(env, req)),
                _ => respond(Err(ApiError::MethodNotAllowed { allow: "GET, OPTIONS" })),
            };
            Ok(cors.apply(req, response.header("cache-control", "no-store")))
        }
        ("GET", "/api/v1/audit") => audit_trail(env, req),
        (_, "/api/v1/audit") => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        ("GET", "/api/v1/openapi.json") => Ok(OPENAPI.serve(req)),
        (_, "/api/v1/openapi.json") => Err(ApiError::MethodNotAllowed { allow: "GET" }),
        ("GET", "/embed/lookup") => Ok(EMBED_PAGE.serve(req)),
        ("GET", "/embed/lookup.js") => Ok(EMBED_SCRIPT.serve(req)),
        _ => Err(ApiError::not_found()),
    }
}

/// The longest name a lookup accepts (in characters); longer input cannot be anyone's name.
const MAX_NAME_CHARS: usize = 64;

/// Public lookups per client address per minute when `lookup_rate_limit_per_minute` is unset.
const DEFAULT_LOOKUPS_PER_MINUTE: u64 = 30;

/// One scheme in a lookup answer.
#[derive(Debug, Serialize)]
struct SchemeStatus {
    scheme: &'static str,
    name: &'static str,
    status: &'static str,
}

/// The lookup answer of the contract.
#[derive(Debug, Serialize)]
struct Lookup {
    name_masked: String,
    id_masked: String,
    registered: bool,
    status: &'static str,
    schemes: Vec<SchemeStatus>,
    updated_at: String,
}

/// The person, their stored name and registration, and each enrollment (one row per scheme;
/// one row of NULLs when there is none).
const FIND_PERSON: &str = "SELECT p.name, p.registered, p.updated_at, e.scheme, e.status
    FROM persons p LEFT JOIN enrollments e ON e.id_number = p.id_number
    WHERE p.id_number = ? ORDER BY e.scheme";

/// Public status reads (a lookup, a receipt) share one budget per client address
/// (`lookup_rate_limit_per_minute`), so trying many IDs or receipts from one place is throttled.
pub(crate) fn throttle_public_read(env: &Env, req: &Request) -> Result<(), ApiError> {
    let max = env.var_or("lookup_rate_limit_per_minute", "").trim().parse().unwrap_or(DEFAULT_LOOKUPS_PER_MINUTE);
    ratelimit::check(env.kv, "lookup", ratelimit::client_key(req.client_ip.as_deref()), Limit::per_minute(max), env.now)
}

/// `GET /api/v1/lookup?id_number=&name=`: the masked status of the person with this ID, if the
/// name matches after normalisation (spacing, full-width forms, the middle dots of minority
/// names).
fn lookup(env: &Env, req: &Request) -> ApiResult {
    throttle_public_read(env, req)?;

    let id = CitizenId::parse(&req.query_param("id_number").unwrap_or_default());
    let name = req.query_param("name").unwrap_or_default();
    let name_error = if name.trim().is_empty() {
        Some(FieldError::new("name", Reason::Required, "请填写姓名"))
    } else if name.chars().count() > MAX_NAME_CHARS {
        Some(FieldError::new("name", Reason::TooLong, format!("姓名不能超过{MAX_NAME_CHARS}个字")))
    } else {
        None
    };
    let id = match (id, name_error) {
        (Ok(id), None) => id.value,
        (id, name_error) => return Err(ApiError::Validation(id.err().into_iter().chain(name_error).collect())),
    };

    let rows = env.sql.execute(FIND_PERSON, &[id.as_str().into()])?;
    let Some(first) = rows.first() else { return Err(no_match()) };
    let stored_name: Option<String> = first.get("name")?;
    let Some(stored_name) = stored_name.filter(|n| normalise_text(n) == normalise_text(&name)) else {
        return Err(no_match());
    };
    let mut schemes = Vec::new();
    for row in rows.iter() {
        let (Some(scheme), Some(status)) = (row.get::<Option<String>>("scheme")?, row.get::<Option<String>>("status")?) else {
            continue;
        };
        let scheme = Scheme::parse(&scheme).map_err(stored_code)?;
        let status = EnrollmentStatus::parse(&status).map_err(stored_code)?;
        schemes.push(SchemeStatus { scheme: scheme.code(), name: scheme.name_zh(), status: status.code() });
    }
    let insured = schemes.iter().any(|s| s.status == EnrollmentStatus::Active.code());
    let body = Lookup {
        name_masked: mask_name(&stored_name),
        id_masked: mask_id(id.as_str()),
        registered: first.get("registered")?,
        status: if insured { "insured" } else { "uninsured" },
        schemes,
        updated_at: first.get("updated_at")?,
    };
    Ok(Response::json(200, &body))
}

/// The one answer for "no such person" and "not this name", so the two cannot be told apart.
fn no_match() -> ApiError {
    ApiError::NotFound { code: "not_found", message: "未查询到与该公民身份号码和姓名相符的参保登记信息".into() }
}

/// A code in the database that is not in its reference list is a fault of ours.
fn stored_code(e: FieldError) -> ApiError {
    ApiError::Internal(StorageError::Sql(format!("stored {}: {}", e.field, e.code)).into())
}

/// Rows per audit page when `page_size` is not given, and the most a caller may ask for.
const AUDIT_PAGE_SIZE: (u64, u64) = (50, 200);
/// The last page number a caller may ask for (deep pages: narrow the filter instead).
const AUDIT_MAX_PAGE: u64 = 100_000;
/// The longest `actor` filter (`role:name`).
const MAX_ACTOR_CHARS: usize = 200;

/// `GET /api/v1/audit?person=&actor=&since=&page=&page_size=` (admins): the audit trail, newest
/// first. `since` is an RFC 3339 time or a date (midnight in China). Reading the trail is itself
/// recorded (`audit.read`, with the filter), after the page is read and before it is sent.
fn audit_trail(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin])?;
    let mut errors = Vec::new();
    let actor = req.query_param("actor").filter(|a| !a.is_empty());
    if actor.as_ref().is_some_and(|a| a.chars().count() > MAX_ACTOR_CHARS) {
        errors.push(FieldError::new("actor", Reason::TooLong, format!("actor 不能超过{MAX_ACTOR_CHARS}个字符")));
    }
    let mut filter = audit::Filter { actor, ..Default::default() };
    match req.query_param("person").filter(|p| !p.trim().is_empty()).map(|p| CitizenId::parse(&p)) {
        Some(Ok(id)) => filter.person = Some(id.value),
        Some(Err(e)) => errors.push(e.for_field("person")),
        None => {}
    }
    match req.query_param("since").filter(|s| !s.trim().is_empty()).map(|s| parse_since(&s)) {
        Some(Some(t)) => filter.since = Some(t),
        Some(None) => errors.push(FieldError::new("since", Reason::Date, "since 应为日期（2026-01-31）或 RFC 3339 时间")),
        None => {}
    }
    let page = positive_param(req, "page", 1, AUDIT_MAX_PAGE, &mut errors);
    let page_size = positive_param(req, "page_size", AUDIT_PAGE_SIZE.0, AUDIT_PAGE_SIZE.1, &mut errors);
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let listed = audit::list(env.sql, &filter, page, page_size)?;
    let detail = serde_json::json!({
        "actor": filter.actor,
        "since": filter.since.map(|t| t.to_rfc3339()),
        "page": page,
        "page_size": page_size,
        "rows": listed.items.len(),
    });
    audit::record(env.sql, env.now, &principal, audit::AUDIT_READ, filter.person.as_ref(), &detail)?;
    Ok(Response::json(200, &listed).header("cache-control", "no-store"))
}

/// A query parameter that must be a whole number in `1..=max` (`default` when absent).
fn positive_param(req: &Request, name: &str, default: u64, max: u64, errors: &mut Vec<FieldError>) -> u64 {
    match req.query_param(name).filter(|v| !v.is_empty()) {
        None => default,
        Some(v) => match v.trim().parse::<u64>() {
            Ok(n) if (1..=max).contains(&n) => n,
            _ => {
                errors.push(FieldError::new(name, Reason::Format, format!("{name} 应为 1 到 {max} 之间的整数")));
                default
            }
        },
    }
}

/// An RFC 3339 time, or a date taken as midnight China time (UTC+8).
fn parse_since(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    let date = NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()?;
    let china = chrono::FixedOffset::east_opt(8 * 3600)?;
    china.from_local_datetime(&date.and_time(NaiveTime::MIN)).single().map(|t| t.with_timezone(&Utc))
}

/// The OpenAPI 3 document of the whole HTTP API: public, and cacheable like the widget's files.
const OPENAPI: Asset = Asset {
    content_type: "application/json; charset=utf-8",
    body: include_str!("../../assets/openapi.json"),
    cache_control: "public, max-age=300",
};

/// A static file (the widget, the OpenAPI document), compiled in.
struct Asset {
    content_type: &'static str,
    body: &'static str,
    /// `Cache-Control`: portals load these on every page view, so browsers may keep them a
    /// while; the ETag lets them revalidate cheaply afterwards.
    cache_control: &'static str,
}

/// The iframe page: the widget alone, sized to its content.
const EMBED_PAGE: Asset = Asset {
    content_type: "text/html; charset=utf-8",
    body: include_str!("../../assets/embed/lookup.html"),
    cache_control: "public, max-age=300",
};

/// The script portals include; it also drives the iframe page.
const EMBED_SCRIPT: Asset = Asset {
    content_type: "text/javascript; charset=utf-8",
    body: include_str!("../../assets/embed/lookup.js"),
    cache_control: "public, max-age=300",
};

impl Asset {
    /// The file, or 304 when the browser's copy (`If-None-Match`) is current.
    fn serve(&self, req: &Request) -> Response {
        let etag = format!("\"{}\"", &hex::encode(Sha256::digest(self.body.as_bytes()))[..16]);
        let fresh = req.header("if-none-match").is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
        let response = if fresh {
            Response { status: 304, headers: Vec::new(), body: Vec::new() }
        } else {
            Response::with_body(200, self.content_type, self.body)
        };
        response
            .header("cache-control", self.cache_control)
            .header("etag", etag)
            .header("x-content-type-options", "nosniff")
            // The page runs only its own script and talks only to its own origin; it is meant
            // to be framed by any portal.
            .header(
                "content-security-policy",
                "default-src 'none'; script-src 'self'; style-src 'unsafe-inline'; connect-src 'self'; base-uri 'none'; form-action 'none'",
            )
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::api::Variables;
    use crate::storage::native::NativeSql;
    use crate::storage::{MemoryKv, Sql};
    use std::collections::HashMap;

    struct Vars(HashMap<&'static str, &'static str>);
    impl Variables for Vars {
        fn get(&self, name: &str) -> Option<String> {
            self.0.get(name).map(|v| v.to_string())
        }
    }

    fn id() -> CitizenId {
        CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1985, 3, 4).unwrap(), 123)
    }

    fn seeded() -> NativeSql {
        let db = NativeSql::open_in_memory().unwrap();
        db.exec(
            "INSERT INTO persons (id_number, name, region_hukou, region_residence, registered, created_at, updated_at)
             VALUES (?, '欧阳娜娜', '510402', '510402', 1, 't0', '2026-01-02T03:04:05Z')",
            &[id().as_str().into()],
        )
        .unwrap();
        for (scheme, status) in [("390", "active"), ("170", "terminated")] {
            db.exec(
                "INSERT INTO enrollments (id_number, scheme, status, source, origin, observed_at, updated_at)
                 VALUES (?, ?, ?, 'health', 'batch:b1', 't', 't')",
                &[id().as_str().into(), scheme.into(), status.into()],
            )
            .unwrap();
        }
        db
    }

    fn get(db: &dyn Sql, kv: &MemoryKv, query: &str) -> Response {
        let vars = Vars(HashMap::from([("lookup_rate_limit_per_minute", "100"), ("cors_origins", "https://portal.example")]));
        let env = Env { sql: db, kv, vars: &vars, now: Utc::now() };
        let mut req = Request::new("GET", &format!("/api/v1/lookup?{query}"));
        req.client_ip = Some("10.1.2.3".into());
        route(&env, &req).unwrap()
    }

    #[test]
    fn a_matching_name_gets_the_masked_status() {
        let (db, kv) = (seeded(), MemoryKv::new());
        let r = get(&db, &kv, &format!("id_number={}&name=%E6%AC%A7%E9%98%B3%20%E5%A8%9C%E5%A8%9C", id()));
        assert_eq!(r.status, 200, "{}", String::from_utf8_lossy(&r.body));
        let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        assert_eq!(v["name_masked"], "欧阳**");
        assert_eq!(v["id_masked"], format!("510402********{}", &id().as_str()[14..]));
        assert_eq!(v["registered"], true);
        assert_eq!(v["status"], "insured");
        assert_eq!(v["schemes"][0], serde_json::json!({"scheme": "170", "name": "城乡居民基本养老保险", "status": "terminated"}));
        assert_eq!(v["updated_at"], "2026-01-02T03:04:05Z");
        assert_eq!(r.get_header("cache-control"), Some("no-store"));
    }

    #[test]
    fn a_wrong_name_looks_exactly_like_an_unknown_id() {
        let (db, kv) = (seeded(), MemoryKv::new());
        let wrong = get(&db, &kv, &format!("id_number={}&name=%E5%BC%A0%E4%B8%89", id()));
        let other = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1985, 3, 4).unwrap(), 125);
        let unknown = get(&db, &kv, &format!("id_number={other}&name=%E5%BC%A0%E4%B8%89"));
        assert_eq!((wrong.status, &wrong.body), (404, &unknown.body));
        assert_eq!(wrong.headers, unknown.headers);
        let invalid = get(&db, &kv, "id_number=123&name=");
        assert_eq!(invalid.status, 422);
    }

    #[test]
    fn the_openapi_document_is_served_whole_and_cacheable() {
        let (db, kv) = (seeded(), MemoryKv::new());
        let vars = Vars(HashMap::new());
        let env = Env { sql: &db, kv: &kv, vars: &vars, now: Utc::now() };
        let r = route(&env, &Request::new("GET", "/api/v1/openapi.json")).unwrap();
        assert_eq!(r.status, 200);
        assert_eq!(r.get_header("cache-control"), Some("public, max-age=300"));
        let doc: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
        for path in ["/api/v1/lookup", "/api/v1/audit", "/api/v1/openapi.json", "/embed/lookup", "/embed/lookup.js"] {
            assert!(doc["paths"][path]["get"].is_object(), "{path}");
        }
        let post = route(&env, &Request::new("POST", "/api/v1/openapi.json")).unwrap_err();
        assert_eq!(post.status(), 405);
    }

    #[test]
    fn since_takes_dates_and_times() {
        assert_eq!(parse_since("2026-01-31").unwrap().to_rfc3339(), "2026-01-30T16:00:00+00:00");
        assert_eq!(parse_since("2026-01-31T10:00:00+08:00").unwrap().to_rfc3339(), "2026-01-31T02:00:00+00:00");
        assert!(parse_since("yesterday").is_none());
    }
}
