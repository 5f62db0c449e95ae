//! Idempotency keys (`Idempotency-Key` header): a client that retries a write — the H5 form's
//! offline queue, a grid worker on a flaky connection — gets the first answer again instead of a
//! second registration. The record is the registration row itself: `registrations` keeps the
//! caller-scoped key, the fingerprint of the body and the response given, written in the same
//! transaction as the registration. A key is honoured for [`RETENTION_SECS`]; after that it is
//! released (by the next request that uses it, and by the scheduled job) and may be used afresh.
//!
//! ARCHITECTURE.md lists idempotency records among what the key-value store holds. They live in
//! SQLite instead because a record written after the commit can be lost (a crash between the two
//! writes, a flushed Redis), and a retry would then be refused as a reused key although its first
//! attempt was registered; in the same transaction the answer and the data cannot disagree.

use crate::storage::{Sql, StorageError};
use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// How long a key is honoured: 24 hours.
pub const RETENTION_SECS: i64 = 24 * 3600;

/// Longest key accepted (UUIDs are 36 characters).
pub const MAX_KEY_LEN: usize = 255;

const SELECT_BY_KEY: &str = "SELECT receipt_id, fingerprint, response, body, created_at
    FROM registrations WHERE idempotency_key = ?";
const RELEASE_KEY: &str = "UPDATE registrations SET idempotency_key = NULL WHERE idempotency_key = ?";
const RELEASE_EXPIRED: &str = "UPDATE registrations SET idempotency_key = NULL
    WHERE idempotency_key IS NOT NULL AND created_at < ? RETURNING 1";

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

    /// The scoped key as stored in `registrations.idempotency_key`.
    pub fn as_str(&self) -> &str {
        &self.scoped
    }
}

/// What an earlier request with the same key means for this one (none: do the work).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Prior {
    /// The same body was registered before under this receipt: answer as then. `response` is the
    /// body given then (`None` for a registration stored before responses were kept).
    Replay {
        /// The first request's receipt.
        receipt_id: String,
        /// The first response body.
        response: Option<Vec<u8>>,
    },
    /// The key was used with another body.
    Mismatch,
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

/// Looks up the key: a registration under it within the retention is a replay when its body had
/// the same fingerprint and a mismatch otherwise; `None` when the key is free. Read-only: callers
/// that go on to write call [`claim`] inside their transaction.
pub fn check(db: &dyn Sql, key: &IdempotencyKey, fingerprint: &str, now: DateTime<Utc>) -> Result<Option<Prior>, StorageError> {
    Ok(lookup(db, key, fingerprint, now)?.0)
}

/// [`check`] inside the write transaction, where no concurrent request can slip in between: a key
/// past its retention is released so that the new registration can take it.
pub fn claim(tx: &dyn Sql, key: &IdempotencyKey, fingerprint: &str, now: DateTime<Utc>) -> Result<Option<Prior>, StorageError> {
    let (prior, expired) = lookup(tx, key, fingerprint, now)?;
    if expired {
        tx.exec(RELEASE_KEY, &[key.as_str().into()])?;
    }
    Ok(prior)
}

/// Releases every key older than the retention (the scheduled job); returns how many.
pub fn release_expired(db: &dyn Sql, now: DateTime<Utc>) -> Result<usize, StorageError> {
    let cutoff = crate::store::timestamp(now - Duration::seconds(RETENTION_SECS));
    Ok(db.execute(RELEASE_EXPIRED, &[cutoff.into()])?.len())
}

/// The prior answer for the key, and whether a row holds the key past its retention.
fn lookup(db: &dyn Sql, key: &IdempotencyKey, fingerprint: &str, now: DateTime<Utc>) -> Result<(Option<Prior>, bool), StorageError> {
    let Some(row) = db.query_one(SELECT_BY_KEY, &[key.as_str().into()])? else {
        return Ok((None, false));
    };
    let created_at: String = row.get(4)?;
    let created_at = DateTime::parse_from_rfc3339(&created_at)
        .map_err(|_| StorageError::Corrupt("registrations.created_at".into()))?
        .with_timezone(&Utc);
    if now - created_at >= Duration::seconds(RETENTION_SECS) {
        return Ok((None, true));
    }
    // Rows stored before fingerprints were kept: the stored body is the request's JSON.
    let stored = match row.get::<Option<String>>(1)? {
        Some(f) => f,
        None => serde_json::from_str::<Value>(&row.get::<String>(3)?).map(|b| self::fingerprint(&b)).unwrap_or_default(),
    };
    let prior = if stored == fingerprint {
        Prior::Replay { receipt_id: row.get(0)?, response: row.get::<Option<String>>(2)?.map(String::into_bytes) }
    } else {
        Prior::Mismatch
    };
    Ok((Some(prior), false))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[cfg(feature = "native")]
    mod stored {
        use super::*;
        use crate::storage::native::NativeSql;

        const INSERT: &str = "INSERT INTO registrations
            (receipt_id, id_number, source, actor, idempotency_key, fingerprint, response, body, created_at)
            VALUES (?, '510402198407090011', 'self', 'public', ?, ?, ?, ?, ?)";

        fn register(db: &NativeSql, receipt: &str, key: &IdempotencyKey, body: &Value, response: Option<&str>, at: DateTime<Utc>) {
            let fp = response.map(|_| fingerprint(body));
            db.exec(
                INSERT,
                &[
                    receipt.into(),
                    key.as_str().into(),
                    fp.into(),
                    response.into(),
                    body.to_string().into(),
                    crate::store::timestamp(at).into(),
                ],
            )
            .unwrap();
        }

        #[test]
        fn replays_mismatches_and_expiry() {
            let db = NativeSql::open_in_memory().unwrap();
            let key = IdempotencyKey::parse("k-1", "public").unwrap();
            let now = Utc::now();
            let body = json!({"name": "张三", "id_number": "x"});
            let a = fingerprint(&body);
            assert_eq!(check(&db, &key, &a, now).unwrap(), None);
            register(&db, "R1", &key, &body, Some("{\"receipt_id\":\"R1\"}"), now);
            let replay = Prior::Replay { receipt_id: "R1".into(), response: Some(b"{\"receipt_id\":\"R1\"}".to_vec()) };
            assert_eq!(check(&db, &key, &a, now).unwrap(), Some(replay));
            let b = fingerprint(&json!({"name": "李四"}));
            assert_eq!(check(&db, &key, &b, now).unwrap(), Some(Prior::Mismatch));
            let other_caller = IdempotencyKey::parse("k-1", "collector:王").unwrap();
            assert_eq!(check(&db, &other_caller, &a, now).unwrap(), None);

            // Past the retention the key is free again: claiming it releases the old row's hold,
            // so a new registration can take the key (it is unique among live keys).
            let later = now + Duration::seconds(RETENTION_SECS);
            assert_eq!(check(&db, &key, &b, later).unwrap(), None);
            assert_eq!(claim(&db, &key, &b, later).unwrap(), None);
            register(&db, "R2", &key, &json!({"name": "李四"}), Some("{}"), later);
            assert_eq!(check(&db, &key, &b, later).unwrap(), Some(Prior::Replay { receipt_id: "R2".into(), response: Some(b"{}".to_vec()) }));
        }

        #[test]
        fn rows_from_before_fingerprints_were_kept_still_replay() {
            let db = NativeSql::open_in_memory().unwrap();
            let key = IdempotencyKey::parse("k-old", "public").unwrap();
            let now = Utc::now();
            let body = json!({"b": [1, 2], "a": 1});
            register(&db, "R0", &key, &body, None, now);
            let reordered: Value = serde_json::from_str(r#"{"a":1,"b":[1,2]}"#).unwrap();
            assert_eq!(
                check(&db, &key, &fingerprint(&reordered), now).unwrap(),
                Some(Prior::Replay { receipt_id: "R0".into(), response: None })
            );
        }

        #[test]
        fn the_scheduled_sweep_releases_only_expired_keys() {
            let db = NativeSql::open_in_memory().unwrap();
            let now = Utc::now();
            let old = IdempotencyKey::parse("old", "public").unwrap();
            let live = IdempotencyKey::parse("live", "public").unwrap();
            register(&db, "R1", &old, &json!({}), Some("{}"), now - Duration::seconds(RETENTION_SECS + 1));
            register(&db, "R2", &live, &json!({}), Some("{}"), now - Duration::seconds(60));
            assert_eq!(release_expired(&db, now).unwrap(), 1);
            assert_eq!(release_expired(&db, now).unwrap(), 0);
            assert_eq!(check(&db, &old, &fingerprint(&json!({})), now).unwrap(), None);
            assert!(matches!(check(&db, &live, &fingerprint(&json!({})), now).unwrap(), Some(Prior::Replay { .. })));
        }
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
