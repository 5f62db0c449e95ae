//! Idempotency keys (`Idempotency-Key` header): a client that retries a write — the H5 form's
//! offline queue, a grid worker on a flaky connection — gets the first answer again instead of a
//! second registration. Records live in the key-value store (cheap to lose, fast), keyed by the
//! caller and the key, holding a fingerprint of the request body and the response body; they are
//! honoured for [`RETENTION_SECS`]. A record is written only after the write it answers has
//! committed; two requests racing with one key are kept apart by the database (the key is unique
//! in `registrations`).

use crate::storage::{Kv, KvExt, StorageError};
use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a key is honoured: 24 hours.
pub const RETENTION_SECS: i64 = 24 * 3600;

/// Longest key accepted (UUIDs are 36 characters).
pub const MAX_KEY_LEN: usize = 255;

/// A checked `Idempotency-Key` value, scoped to its caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    scoped: String,
}

impl IdempotencyKey {
    /// Checks a header value (1–255 visible ASCII characters) and scopes it to `caller` (the
    /// actor, e.g. `public` or `collector:王`), so one caller's key never answers another's.
    pub fn parse(header: &str, caller: &str) -> Option<IdempotencyKey> {
        let key = header.trim();
        let ok = !key.is_empty() && key.len() <= MAX_KEY_LEN && key.bytes().all(|b| b.is_ascii_graphic());
        ok.then(|| IdempotencyKey { scoped: format!("{caller}\u{1f}{key}") })
    }

    /// The scoped key as stored (also in `registrations.idempotency_key`).
    pub fn as_str(&self) -> &str {
        &self.scoped
    }

    fn kv_key(&self) -> String {
        format!("idem:{}", hex::encode(Sha256::digest(self.scoped.as_bytes())))
    }
}

/// What an earlier request with the same key means for this one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// No live record: do the work.
    Fresh,
    /// The same body was answered before: send this response body again.
    Replay(Vec<u8>),
    /// The key was used with another body.
    Mismatch,
}

#[derive(Serialize, Deserialize)]
struct Record {
    fingerprint: String,
    response: String,
    stored_at: DateTime<Utc>,
}

/// The fingerprint of a JSON request body: the SHA-256 of its canonical form (keys sorted, no
/// insignificant whitespace), so a retry that re-serialises the same data still matches.
pub fn fingerprint(body: &Value) -> String {
    let canonical = serde_json::to_vec(&canonical(body)).expect("a JSON value serialises");
    hex::encode(Sha256::digest(canonical))
}

/// The value with every object's keys in sorted order, whatever map serde_json was built with.
fn canonical(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_by(|a, b| a.0.cmp(b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k.clone(), canonical(v))).collect())
        }
        Value::Array(items) => Value::Array(items.iter().map(canonical).collect()),
        other => other.clone(),
    }
}

/// Looks up the key: a live record with the same fingerprint is a replay, with another a mismatch.
pub fn check(kv: &dyn Kv, key: &IdempotencyKey, fingerprint: &str, now: DateTime<Utc>) -> Result<Prior, StorageError> {
    let record: Option<Record> = match kv.get_json(&key.kv_key()) {
        Err(StorageError::Json(_)) => None,
        other => other?,
    };
    Ok(match record {
        Some(r) if now - r.stored_at < Duration::seconds(RETENTION_SECS) => {
            if r.fingerprint == fingerprint {
                Prior::Replay(r.response.into_bytes())
            } else {
                Prior::Mismatch
            }
        }
        _ => Prior::Fresh,
    })
}

/// Records the response given to the first request with this key and body.
pub fn remember(
    kv: &dyn Kv,
    key: &IdempotencyKey,
    fingerprint: &str,
    response: &[u8],
    now: DateTime<Utc>,
) -> Result<(), StorageError> {
    let response = String::from_utf8_lossy(response).into_owned();
    kv.set_json(&key.kv_key(), &Record { fingerprint: fingerprint.to_owned(), response, stored_at: now })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryKv;
    use serde_json::json;

    #[test]
    fn replays_mismatches_and_expiry() {
        let kv = MemoryKv::new();
        let key = IdempotencyKey::parse("k-1", "public").unwrap();
        let now = Utc::now();
        let a = fingerprint(&json!({"name": "张三", "id_number": "x"}));
        assert_eq!(check(&kv, &key, &a, now).unwrap(), Prior::Fresh);
        remember(&kv, &key, &a, b"{\"receipt_id\":\"r\"}", now).unwrap();
        assert_eq!(check(&kv, &key, &a, now).unwrap(), Prior::Replay(b"{\"receipt_id\":\"r\"}".to_vec()));
        let b = fingerprint(&json!({"name": "李四"}));
        assert_eq!(check(&kv, &key, &b, now).unwrap(), Prior::Mismatch);
        let later = now + Duration::seconds(RETENTION_SECS);
        assert_eq!(check(&kv, &key, &b, later).unwrap(), Prior::Fresh);
        let other_caller = IdempotencyKey::parse("k-1", "collector:王").unwrap();
        assert_eq!(check(&kv, &other_caller, &a, now).unwrap(), Prior::Fresh);
    }

    #[test]
    fn key_order_and_spacing_do_not_change_the_fingerprint() {
        let a: Value = serde_json::from_str(r#"{"a": 1, "b": [1, 2]}"#).unwrap();
        let b: Value = serde_json::from_str(r#"{"b":[1,2],"a":1}"#).unwrap();
        assert_eq!(fingerprint(&a), fingerprint(&b));
    }

    #[test]
    fn keys_are_checked() {
        assert!(IdempotencyKey::parse("", "public").is_none());
        assert!(IdempotencyKey::parse("has space", "public").is_none());
        assert!(IdempotencyKey::parse(&"k".repeat(MAX_KEY_LEN + 1), "public").is_none());
        assert!(IdempotencyKey::parse("550e8400-e29b-41d4-a716-446655440000", "public").is_some());
    }
}
