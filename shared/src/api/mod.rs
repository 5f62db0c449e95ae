//! The HTTP API of every component, runtime-free: each component's `route` takes an [`Env`] (the
//! stores and variables the runtime gives it) and a [`Request`], and returns a [`Response`].
//! Components only translate their runtime's types; tests call the same functions natively.

pub mod cors;
pub mod http;
pub mod intake;
pub mod lookup;
pub mod persons;
pub mod registration;
pub mod stats;

use crate::auth::{AccessTokens, Principal};
use crate::storage::{self, Kv, Sql, StorageError};
use chrono::{DateTime, Utc};
pub use http::{ApiError, ApiResult, Request, Response};
pub use crate::intake::stream::BodyChunks;

/// A route that reads its request body as a stream instead of receiving it whole (department
/// file uploads, issue #4). The runtime asks `applies` with the request's head before reading any
/// of the body; if it says yes, `handle` pulls the body chunk by chunk. The runtime's chunks
/// fail with 413 as soon as the body passes [`max_body_bytes`], and with 400
/// `incomplete_body` when the client breaks off.
#[derive(Clone, Copy)]
pub struct StreamedRoute {
    /// Whether this request is served by `handle`.
    pub applies: fn(&Request) -> bool,
    /// Serves it, reading the body from the chunks.
    pub handle: fn(&Env, &Request, &mut dyn BodyChunks<Error = ApiError>) -> ApiResult,
}
use serde_json::json;

/// Application variables (Spin's `[variables]`), as the runtime resolves them.
pub trait Variables {
    /// The value of a variable, or `None` when it is not set for this component.
    fn get(&self, name: &str) -> Option<String>;
}

/// What a handler runs against: the database, the key-value store, variables and the clock.
pub struct Env<'a> {
    /// The base database.
    pub sql: &'a dyn Sql,
    /// The key-value store (caches, rate limits, idempotency records).
    pub kv: &'a dyn Kv,
    /// Application variables.
    pub vars: &'a dyn Variables,
    /// The time this request is handled at.
    pub now: DateTime<Utc>,
}

impl Env<'_> {
    /// A variable, or its documented default when unset.
    pub fn var_or(&self, name: &str, default: &str) -> String {
        self.vars.get(name).filter(|v| !v.trim().is_empty()).unwrap_or_else(|| default.to_string())
    }

    /// Who sent the request (see [`AccessTokens::authenticate`]).
    pub fn principal(&self, request: &Request) -> Result<Principal, ApiError> {
        if request.header("authorization").is_none() {
            return Ok(Principal::Public);
        }
        let tokens = AccessTokens::from_json(&self.var_or("access_tokens", "[]"))?;
        tokens.authenticate(request)
    }
}

/// `GET /api/v1/<component>/health`: name, version, and a real round trip to the key-value store
/// and to SQLite (with the schema migrated), each timed. 503 when either fails.
pub fn health(env: &Env, component: &str) -> ApiResult {
    let kv = kv_round_trip(env.kv, component, env.now);
    let sql = storage::migrate(env.sql).and_then(|_| {
        let row = env.sql.query_one(SCHEMA_AND_ENGINE, &[])?.ok_or_else(|| StorageError::from_message("no row"))?;
        Ok((row.get::<i64>(0)?, row.get::<String>(1)?))
    });
    let ok = kv.is_ok() && sql.is_ok();
    let body = json!({
        "component": component,
        "version": env!("CARGO_PKG_VERSION"),
        "status": if ok { "ok" } else { "degraded" },
        "key_value": match &kv { Ok(()) => json!({"ok": true}), Err(e) => json!({"ok": false, "error": e.to_string()}) },
        "sqlite": match &sql {
            Ok((schema, version)) => json!({"ok": true, "schema_version": schema, "sqlite_version": version}),
            Err(e) => json!({"ok": false, "error": e.to_string()}),
        },
        "checked_at": env.now.to_rfc3339(),
    });
    Ok(Response::json(if ok { 200 } else { 503 }, &body).header("cache-control", "no-store"))
}

const SCHEMA_AND_ENGINE: &str = "SELECT MAX(version), sqlite_version() FROM schema_migrations";

/// Writes, reads back and deletes a key of its own, so concurrent checks never see each other.
fn kv_round_trip(kv: &dyn Kv, component: &str, now: DateTime<Utc>) -> anyhow::Result<()> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
    let value = format!("{}:{}", now.timestamp_micros(), hex::encode(nonce));
    let key = format!("health:{component}:{value}");
    kv.set(&key, value.as_bytes())?;
    let back = kv.get(&key);
    kv.delete(&key)?;
    anyhow::ensure!(back?.as_deref() == Some(value.as_bytes()), "key-value store returned another value");
    Ok(())
}

/// The largest request body any endpoint takes, in bytes, unless the endpoint says more: JSON
/// writes (registrations, corrections, conflict resolution), and whatever a GET or OPTIONS might
/// carry.
pub const DEFAULT_MAX_BODY_BYTES: u64 = registration::MAX_JSON_BODY_BYTES as u64;

/// The body limit of the endpoint a request is for: department files and their parts up to
/// `intake_max_upload_bytes`, region files up to [`registration::MAX_REGION_FILE_BYTES`], every
/// other endpoint [`DEFAULT_MAX_BODY_BYTES`].
pub fn max_body_bytes(env: &Env, req: &Request) -> u64 {
    match (req.method.as_str(), req.segments().as_slice()) {
        ("POST", ["api", "v1", "intake", _, "files"]) | ("PUT", ["api", "v1", "intake", "batches", _, "parts", _]) => {
            env.var_or("intake_max_upload_bytes", "104857600").trim().parse().unwrap_or(104_857_600)
        }
        ("PUT", ["api", "v1", "regions"]) => registration::MAX_REGION_FILE_BYTES as u64,
        _ => DEFAULT_MAX_BODY_BYTES,
    }
}

/// 413 for a body (received, or announced in `Content-Length`) over its endpoint's limit; every
/// component checks this before routing.
pub fn check_body_size(env: &Env, req: &Request) -> Result<(), ApiError> {
    let limit = max_body_bytes(env, req);
    let announced = req.header("content-length").and_then(|v| v.trim().parse::<u64>().ok()).unwrap_or(0);
    if req.body.len() as u64 > limit || announced > limit {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(())
}

/// The longest path an access-log line shows.
const LOG_PATH_CHARS: usize = 120;

/// One line per request for the operator: method, path, the query's parameter names, status and
/// time taken. Nothing a resident typed reaches it: query values are left out, ID-like runs in
/// the path are masked, and anything else in the path that is not plain ASCII (a name, a
/// percent-encoded value) is starred.
pub fn access_log_line(req: &Request, status: u16, elapsed: std::time::Duration) -> String {
    let path: String = req
        .path
        .chars()
        .take(LOG_PATH_CHARS)
        .map(|c| if c.is_ascii_graphic() && c != '%' { c } else { '*' })
        .collect();
    let names: Vec<&str> = req
        .query
        .split('&')
        .filter_map(|pair| pair.split('=').next())
        .filter(|name| {
            name.len() <= 32
                && name.starts_with(|c: char| c.is_ascii_alphabetic())
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
        })
        .collect();
    let query = if names.is_empty() { String::new() } else { format!("?{}", names.join("&")) };
    let line = format!("{} {}{} {} {}ms", req.method, path, query, status, elapsed.as_millis());
    crate::redact::redact_log(&line)
}

/// Runs a handler and turns its error into the contract's error body. Internal errors are logged
/// by kind only: their text may carry personal data.
pub fn respond(result: ApiResult) -> Response {
    result.unwrap_or_else(|e| {
        if let ApiError::Internal(cause) = &e {
            eprintln!("internal error: {}", crate::redact::redact_log(&format!("{cause:#}")));
        }
        e.into_response()
    })
}


#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn access_log_lines_carry_no_personal_data() {
        let lookup = Request::new("GET", "/api/v1/lookup?id_number=11010519491231002X&name=%E5%BC%A0%E4%B8%89");
        let line = access_log_line(&lookup, 404, Duration::from_millis(3));
        assert_eq!(line, "GET /api/v1/lookup?id_number&name 404 3ms");

        let person = Request::new("GET", "/api/v1/persons/11010519491231002X");
        let line = access_log_line(&person, 200, Duration::from_millis(12));
        assert!(line.starts_with("GET /api/v1/persons/110*************2X 200"), "{line}");

        // A name typed into a path (raw or percent-encoded) is starred, not logged.
        let typed = Request::new("GET", "/api/v1/persons/%E5%BC%A0%E4%B8%89");
        assert!(!access_log_line(&typed, 404, Duration::ZERO).contains("E5%BC"));
        let mut raw = Request::new("GET", "/api/v1/persons/x");
        raw.path = "/api/v1/persons/张三".into();
        assert!(!access_log_line(&raw, 404, Duration::ZERO).contains('张'));
        // Odd parameter names are dropped rather than echoed.
        let odd = Request::new("GET", "/api/v1/lookup?13800138000=1&name=x");
        assert_eq!(access_log_line(&odd, 400, Duration::ZERO), "GET /api/v1/lookup?name 400 0ms");
    }
}
