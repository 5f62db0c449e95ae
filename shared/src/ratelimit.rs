//! Per-client request limits (public lookups per minute, public registrations per hour), kept in
//! the key-value store so every instance of a component sees the same counts.
//!
//! A fixed window per client: one key per scope and client holding the window's start and the
//! count so far, so the store grows with the number of clients, not with time (Spin's KV has no
//! expiry). Reads and writes are not atomic across instances: under a burst of simultaneous
//! requests from one client a few more than the limit may pass — a limiter against abuse, not a
//! quota.

use crate::api::ApiError;
use crate::storage::{Kv, KvExt, StorageError};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// How many requests one client may make per window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// Requests allowed per window (0 refuses everything).
    pub max: u64,
    /// The window's length in seconds.
    pub window_secs: u64,
}

impl Limit {
    /// `max` requests per minute.
    pub fn per_minute(max: u64) -> Limit {
        Limit { max, window_secs: 60 }
    }

    /// `max` requests per hour.
    pub fn per_hour(max: u64) -> Limit {
        Limit { max, window_secs: 3600 }
    }
}

/// The stored state of one client's current window.
#[derive(Debug, Clone, Copy, Serialize, Deserialize)]
struct Window {
    /// Unix seconds at which the window started (a multiple of the window length).
    start: i64,
    /// Requests counted in it.
    count: u64,
}

/// Counts one request of `client` against `limit` in `scope` (e.g. `lookup`): `Ok` while under
/// the limit, else 429 with the seconds until the window ends (`Retry-After`).
pub fn check(kv: &dyn Kv, scope: &str, client: &str, limit: Limit, now: DateTime<Utc>) -> Result<(), ApiError> {
    let window_secs = limit.window_secs.max(1) as i64;
    let start = now.timestamp().div_euclid(window_secs) * window_secs;
    let key = format!("ratelimit:{scope}:{client}");
    let stored: Option<Window> = kv.get_json(&key).or_else(ignore_unreadable)?;
    let count = match stored {
        Some(w) if w.start == start => w.count,
        _ => 0,
    };
    if count >= limit.max {
        let retry_after_secs = (start + window_secs - now.timestamp()).max(1) as u64;
        return Err(ApiError::RateLimited { retry_after_secs });
    }
    kv.set_json(&key, &Window { start, count: count + 1 })?;
    Ok(())
}

/// A value another version wrote in another shape starts a fresh window instead of failing.
fn ignore_unreadable(e: StorageError) -> Result<Option<Window>, StorageError> {
    match e {
        StorageError::Json(_) => Ok(None),
        other => Err(other),
    }
}

/// The client a limit is counted against: the address the runtime reports, or one shared bucket
/// when the runtime reports none.
pub fn client_key(client_ip: Option<&str>) -> &str {
    client_ip.filter(|ip| !ip.is_empty()).unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::MemoryKv;
    use chrono::TimeZone;

    fn at(secs: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + secs, 0).unwrap()
    }

    #[test]
    fn allows_up_to_the_limit_then_says_when_to_retry() {
        let kv = MemoryKv::new();
        let limit = Limit::per_minute(3);
        for s in 0..3 {
            check(&kv, "lookup", "1.2.3.4", limit, at(s)).unwrap();
        }
        match check(&kv, "lookup", "1.2.3.4", limit, at(15)) {
            Err(ApiError::RateLimited { retry_after_secs }) => assert_eq!(retry_after_secs, 45),
            other => panic!("expected 429, got {other:?}"),
        }
        // Another client and another scope have their own counts.
        check(&kv, "lookup", "5.6.7.8", limit, at(15)).unwrap();
        check(&kv, "registration", "1.2.3.4", limit, at(15)).unwrap();
        // The next window starts afresh.
        check(&kv, "lookup", "1.2.3.4", limit, at(60)).unwrap();
    }

    #[test]
    fn hourly_windows_and_a_zero_limit() {
        let kv = MemoryKv::new();
        let limit = Limit::per_hour(1);
        check(&kv, "registration", "a", limit, at(0)).unwrap();
        let Err(ApiError::RateLimited { retry_after_secs }) = check(&kv, "registration", "a", limit, at(600)) else {
            panic!("expected 429")
        };
        assert_eq!(retry_after_secs, 3000);
        assert!(check(&kv, "x", "a", Limit::per_minute(0), at(0)).is_err());
    }

    #[test]
    fn a_garbled_counter_starts_a_fresh_window() {
        let kv = MemoryKv::new();
        kv.set("ratelimit:lookup:a", b"not json").unwrap();
        check(&kv, "lookup", "a", Limit::per_minute(1), at(0)).unwrap();
        assert_eq!(client_key(None), "unknown");
        assert_eq!(client_key(Some("10.0.0.1")), "10.0.0.1");
    }
}
