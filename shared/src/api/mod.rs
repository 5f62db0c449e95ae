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

