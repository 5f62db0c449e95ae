//! The figure cache: a computed answer kept in the key-value store with the data version it was
//! computed at, served only while the base data has not changed since (intake and registration
//! bump the version in the same transaction as every change), so the cache never hides a change.
//!
//! A cached entry is the data version and the time it was computed (Unix milliseconds) in decimal,
//! a newline, and the response body exactly as it was sent: a hit is one KV read and no JSON work.
//!
//! **Single flight.** After a change, the first request for a key claims it in the database
//! (`stats_claims`, migration 0010: one atomic upsert) and computes; requests arriving meanwhile
//! do not compute the same figures again, they wait for that answer to appear in the cache (they
//! never get the previous answer: it would hide the change). A claim runs out after
//! [`CLAIM_SECONDS`], and a request that fails releases its claim, so a waiter takes over from a
//! request that died or failed.
//!
//! **Bounded staleness**, when a deployment allows it (`max_age` above zero, the variable
//! `stats_max_age_seconds`): an answer computed at most `max_age` ago is served although the data
//! changed since, and while one request computes newer figures the others are served the previous
//! answer instead of waiting (it is then at most `max_age` + [`CLAIM_SECONDS`] old). Under a
//! steady stream of registrations every request would otherwise miss, since each one changes the
//! version; with it, figures are computed at most about once per `max_age`. The body always says
//! its `data_version` and `computed_at`.

use crate::storage::{Kv, Sql, SqlValue, StorageError};
use crate::store::timestamp;
use chrono::{DateTime, Utc};
use std::time::{Duration, Instant};

/// How long a claim holds before another request may take over its computation.
pub const CLAIM_SECONDS: i64 = 10;
/// How often a waiting request looks for the answer.
const POLL: Duration = Duration::from_millis(20);
/// How often (in polls) a waiting request checks the claim is still held.
const CLAIM_CHECK_EVERY: u32 = 5;

/// Where an answer came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The cache, computed by an earlier request at the current data version (or a later one).
    Hit,
    /// The cache, computed meanwhile by the request that claimed it while this one waited.
    Waited,
    /// The cache, computed before the latest change but within the allowed age.
    Stale,
    /// Computed by this request.
    Computed,
}

impl Source {
    /// The `x-canbao-cache` header: `hit` for an answer this request did not compute.
    pub fn header(self) -> &'static str {
        match self {
            Source::Hit | Source::Waited => "hit",
            Source::Stale => "stale",
            Source::Computed => "miss",
        }
    }
}

/// A cached answer.
struct Entry {
    version: i64,
    /// When it was computed, Unix milliseconds (absent in entries written before it was kept).
    computed_ms: Option<i64>,
    body: Vec<u8>,
}

impl Entry {
    /// Whether it was computed at most `max_age` before `now`.
    fn within(&self, max_age: chrono::Duration, now: DateTime<Utc>) -> bool {
        max_age > chrono::Duration::zero()
            && self.computed_ms.is_some_and(|at| now.timestamp_millis() - at <= max_age.num_milliseconds())
    }
}

fn read(kv: &dyn Kv, key: &str) -> Result<Option<Entry>, StorageError> {
    let Some(mut bytes) = kv.get(key)? else { return Ok(None) };
    let Some(newline) = bytes.iter().position(|b| *b == b'\n') else { return Ok(None) };
    let mut words = std::str::from_utf8(&bytes[..newline]).unwrap_or_default().split(' ');
    let Some(version) = words.next().and_then(|v| v.parse().ok()) else { return Ok(None) };
    let computed_ms = words.next().and_then(|t| t.parse().ok());
    bytes.drain(..=newline);
    Ok(Some(Entry { version, computed_ms, body: bytes }))
}

/// The cached body of `key` if it was computed at `version` or later.
pub fn lookup(kv: &dyn Kv, key: &str, version: i64) -> Result<Option<Vec<u8>>, StorageError> {
    Ok(read(kv, key)?.filter(|e| e.version >= version).map(|e| e.body))
}

/// Stores a body computed at `version` at `now`.
pub fn store(kv: &dyn Kv, key: &str, version: i64, now: DateTime<Utc>, body: &[u8]) -> Result<(), StorageError> {
    let mut value = format!("{version} {}\n", now.timestamp_millis()).into_bytes();
    value.extend_from_slice(body);
    kv.set(key, &value)
}

const CLAIM: &str = "INSERT INTO stats_claims (key, data_version, until) VALUES (?1, ?2, ?3)
    ON CONFLICT (key) DO UPDATE SET data_version = excluded.data_version, until = excluded.until
    WHERE stats_claims.data_version < excluded.data_version OR stats_claims.until < ?4
    RETURNING data_version";
const HELD: &str = "SELECT 1 FROM stats_claims WHERE key = ?1 AND data_version >= ?2 AND until >= ?3";
const RELEASE: &str = "DELETE FROM stats_claims WHERE key = ?1 AND data_version = ?2";

/// Claims the computation of `key` at `version`; false when another request holds it.
fn claim(db: &dyn Sql, key: &str, version: i64, now: DateTime<Utc>) -> Result<bool, StorageError> {
    let until = timestamp(now + chrono::Duration::seconds(CLAIM_SECONDS));
    let params: [SqlValue; 4] = [key.into(), version.into(), until.into(), timestamp(now).into()];
    Ok(!db.execute(CLAIM, &params)?.is_empty())
}

fn held(db: &dyn Sql, key: &str, version: i64, now: DateTime<Utc>) -> Result<bool, StorageError> {
    Ok(!db.execute(HELD, &[key.into(), version.into(), timestamp(now).into()])?.is_empty())
}

/// The answer for `key` at data version `version`: from the cache, or computed by `compute` in
/// this request — unless another request is computing it already, in which case this one waits
/// for that answer (up to the claim's time, then takes over). With a `max_age` above zero, an
/// answer that old or younger is served whatever changed since, and one up to [`CLAIM_SECONDS`]
/// older instead of waiting. `now` is the request's time.
pub fn single_flight<E: From<StorageError>>(
    db: &dyn Sql,
    kv: &dyn Kv,
    key: &str,
    version: i64,
    now: DateTime<Utc>,
    max_age: chrono::Duration,
    compute: impl FnOnce() -> Result<Vec<u8>, E>,
) -> Result<(Vec<u8>, Source), E> {
    let cached = read(kv, key)?;
    match cached {
        Some(entry) if entry.version >= version => return Ok((entry.body, Source::Hit)),
        Some(entry) if entry.within(max_age, now) => return Ok((entry.body, Source::Stale)),
        _ => {}
    }
    // A claim that cannot be written (the database busy for longer than its timeout) must not
    // fail the request: compute without one.
    let mut mine = claim(db, key, version, now).unwrap_or(true);
    if !mine && max_age > chrono::Duration::zero() {
        if let Some(entry) = cached.filter(|e| e.within(max_age + chrono::Duration::seconds(CLAIM_SECONDS), now)) {
            return Ok((entry.body, Source::Stale));
        }
    }
    let started = Instant::now();
    let mut polls = 0u32;
    while !mine {
        std::thread::sleep(POLL);
        polls += 1;
        if let Some(body) = lookup(kv, key, version)? {
            return Ok((body, Source::Waited));
        }
        if polls % CLAIM_CHECK_EVERY == 0 {
            let at = now + chrono::Duration::from_std(started.elapsed()).unwrap_or_default();
            if !held(db, key, version, at).unwrap_or(false) {
                // Released: with an answer (stored before the release) or after a failure.
                if let Some(body) = lookup(kv, key, version)? {
                    return Ok((body, Source::Waited));
                }
                mine = claim(db, key, version, at).unwrap_or(true);
            }
        }
    }
    let result = compute();
    let stored = match &result {
        Ok(body) => store(kv, key, version, now, body),
        Err(_) => Ok(()),
    };
    // Released whatever happened (waiters look in the cache first, then compute themselves);
    // best effort: an unreleased claim runs out by itself.
    let _ = db.exec(RELEASE, &[key.into(), version.into()]);
    stored?;
    result.map(|body| (body, Source::Computed))
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::storage::native::NativeSql;
    use crate::storage::MemoryKv;

    const STRICT: chrono::Duration = chrono::Duration::zero();

    #[test]
    fn an_answer_is_served_only_at_its_data_version_or_later() {
        let db = NativeSql::open_in_memory().unwrap();
        let kv = MemoryKv::default();
        let now = Utc::now();
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 3, now, STRICT, || Ok(b"{\"v\":3}".to_vec())).unwrap();
        assert_eq!((body.as_slice(), source), (&b"{\"v\":3}"[..], Source::Computed));
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 3, now, STRICT, || panic!("cached")).unwrap();
        assert_eq!((body.as_slice(), source), (&b"{\"v\":3}"[..], Source::Hit));
        assert_eq!(lookup(&kv, "k", 2).unwrap().as_deref(), Some(&b"{\"v\":3}"[..]), "a later answer is fresh enough");
        assert_eq!(lookup(&kv, "k", 4).unwrap(), None, "after a change the old answer is never served");
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 4, now, STRICT, || Ok(b"{\"v\":4}".to_vec())).unwrap();
        assert_eq!((body.as_slice(), source), (&b"{\"v\":4}"[..], Source::Computed));
        // An entry in the format before this one (plain JSON) is a miss, not an error.
        kv.set("old", b"{\"data_version\":9}").unwrap();
        assert_eq!(lookup(&kv, "old", 1).unwrap(), None);
        assert!(db.execute("SELECT * FROM stats_claims", &[]).unwrap().is_empty(), "claims are released");
    }

    #[test]
    fn a_request_waits_for_the_claim_holders_answer_and_takes_over_when_it_fails() {
        let db = NativeSql::open_in_memory().unwrap();
        let now = Utc::now();
        assert!(claim(&db, "k", 5, now).unwrap());
        assert!(!claim(&db, "k", 5, now).unwrap(), "one holder at a time");
        assert!(claim(&db, "k", 6, now).unwrap(), "a newer data version is a new computation");
        assert!(!claim(&db, "k", 5, now).unwrap(), "an older one waits for the newer answer");
        assert!(claim(&db, "k", 6, now + chrono::Duration::seconds(CLAIM_SECONDS + 1)).unwrap(), "a claim runs out");

        // The holder's answer appears while another request waits: it is served, not recomputed.
        let db2 = NativeSql::open_in_memory().unwrap();
        db2.exec("INSERT INTO stats_claims (key, data_version, until) VALUES ('k', 7, ?)", &[timestamp(now + chrono::Duration::seconds(10)).into()]).unwrap();
        let kv = std::sync::Arc::new(MemoryKv::default());
        let writer = {
            let kv = kv.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                store(kv.as_ref(), "k", 7, Utc::now(), b"theirs").unwrap();
            })
        };
        let (body, source) = single_flight::<StorageError>(&db2, kv.as_ref(), "k", 7, now, STRICT, || Ok(b"mine".to_vec())).unwrap();
        writer.join().unwrap();
        assert_eq!((body.as_slice(), source), (&b"theirs"[..], Source::Waited));

        // The holder fails and releases its claim without an answer: the waiter takes over.
        let path = std::env::temp_dir().join(format!("canbao-claims-{}-{}.db", std::process::id(), now.timestamp_nanos_opt().unwrap_or(0)));
        let db3 = NativeSql::open(&path).unwrap();
        db3.exec("INSERT INTO stats_claims (key, data_version, until) VALUES ('k', 8, ?)", &[timestamp(now + chrono::Duration::seconds(10)).into()]).unwrap();
        let failing = {
            let path = path.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(150));
                NativeSql::open(&path).unwrap().exec("DELETE FROM stats_claims WHERE data_version = 8", &[]).unwrap();
            })
        };
        let started = Instant::now();
        let (body, source) = single_flight::<StorageError>(&db3, kv.as_ref(), "k", 8, now, STRICT, || Ok(b"mine".to_vec())).unwrap();
        failing.join().unwrap();
        assert_eq!((body.as_slice(), source), (&b"mine"[..], Source::Computed));
        let waited = started.elapsed();
        assert!(waited >= Duration::from_millis(150) && waited < Duration::from_secs(2), "{waited:?}");
        drop(db3);
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[test]
    fn with_a_max_age_a_recent_answer_is_served_after_a_change_and_instead_of_waiting() {
        let db = NativeSql::open_in_memory().unwrap();
        let kv = MemoryKv::default();
        let t0 = Utc::now();
        let max_age = chrono::Duration::seconds(10);
        let at = |s: i64| t0 + chrono::Duration::seconds(s);
        single_flight::<StorageError>(&db, &kv, "k", 3, t0, max_age, || Ok(b"v3".to_vec())).unwrap();

        // Changes within the age: the answer of version 3, said to be stale, nothing computed.
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 5, at(9), max_age, || panic!("within the age")).unwrap();
        assert_eq!((body.as_slice(), source), (&b"v3"[..], Source::Stale));
        assert_eq!(source.header(), "stale");

        // Older than the age: this request computes, and meanwhile another one is served the
        // previous answer instead of waiting for it.
        assert!(claim(&db, "k", 6, at(11)).unwrap());
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 6, at(12), max_age, || panic!("claimed")).unwrap();
        assert_eq!((body.as_slice(), source), (&b"v3"[..], Source::Stale));
        db.exec(RELEASE, &["k".into(), 6i64.into()]).unwrap();
        let (body, source) = single_flight::<StorageError>(&db, &kv, "k", 6, at(12), max_age, || Ok(b"v6".to_vec())).unwrap();
        assert_eq!((body.as_slice(), source), (&b"v6"[..], Source::Computed));

        // Never older than the age plus a claim's time: past it, a request waits as without an age.
        assert!(claim(&db, "k", 7, at(12 + 10 + CLAIM_SECONDS + 1)).unwrap());
        let kv2 = std::sync::Arc::new(MemoryKv::default());
        store(kv2.as_ref(), "k", 6, at(12), b"v6").unwrap();
        let late = at(12 + 10 + CLAIM_SECONDS + 1);
        let writer = {
            let kv2 = kv2.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(100));
                store(kv2.as_ref(), "k", 7, late, b"v7").unwrap();
            })
        };
        let (body, source) = single_flight::<StorageError>(&db, kv2.as_ref(), "k", 7, late, max_age, || Ok(b"mine".to_vec())).unwrap();
        writer.join().unwrap();
        assert_eq!((body.as_slice(), source), (&b"v7"[..], Source::Waited));

        // Without an age (the default) a change is never hidden.
        let (_, source) = single_flight::<StorageError>(&db, &kv, "k", 8, at(12), STRICT, || Ok(b"v8".to_vec())).unwrap();
        assert_eq!(source, Source::Computed);
    }
}
