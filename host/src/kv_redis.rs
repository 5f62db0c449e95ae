//! The Redis key-value backend: runtime config `[key_value_store.<label>] type = "redis"`,
//! `url = "redis://host:port[/db]"`, as Spin accepts it. Works against Redis and Valkey.
//!
//! Keys are stored as they are (no prefix), like Spin's own Redis backend, so an application
//! moved between `spin up` and this host sees the same data; give each store its own database
//! number (`/1`, `/2`, …) or server. Connections come from an r2d2 pool (the host's calls run on
//! tokio's blocking threads, several at once); `get_keys` walks the keyspace with `SCAN`, so it
//! never blocks the server the way `KEYS *` does. Every failure (server down, timeout, wrong
//! type) reaches the component as `error::other` with the message.

use crate::kv::KeyValueBackend;
use anyhow::{bail, Context, Result};
use redis::{Commands, ConnectionLike};
use std::time::Duration;

/// How long one command may wait for the server, and a request for a pooled connection.
const TIMEOUT: Duration = Duration::from_secs(5);
/// Most connections the host keeps to one store (its blocking pool runs many calls at once).
const POOL_SIZE: u32 = 32;
/// Keys asked for per `SCAN` step.
const SCAN_COUNT: usize = 1000;

/// Checks that `url` is a Redis URL this backend can connect to (without connecting).
pub fn check_url(url: &str) -> Result<()> {
    if redis::parse_redis_url(url).is_none() {
        bail!(
            "`{}` is not a Redis URL (expected redis://host:port or unix:///path)",
            mask(url)
        );
    }
    redis::Client::open(url).map_err(|e| anyhow::anyhow!("{} ({})", mask(url), e))?;
    Ok(())
}

/// The URL with any password replaced by `***`, for messages (and, when it does not even parse,
/// everything before an `@`).
pub fn mask(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        Ok(_) => url.to_string(),
        Err(_) => match url.rfind('@') {
            Some(at) => format!("***{}", &url[at..]),
            None => url.to_string(),
        },
    }
}

/// Sets the read/write timeouts of every new pooled connection.
#[derive(Debug)]
struct Timeouts;

impl r2d2::CustomizeConnection<redis::Connection, redis::RedisError> for Timeouts {
    fn on_acquire(&self, conn: &mut redis::Connection) -> Result<(), redis::RedisError> {
        conn.set_read_timeout(Some(TIMEOUT))?;
        conn.set_write_timeout(Some(TIMEOUT))
    }
}

/// A key-value store on a Redis (or Valkey) server.
pub struct RedisKeyValue {
    pool: r2d2::Pool<redis::Client>,
    url: String,
}

impl RedisKeyValue {
    /// Connects to `url` and checks the server answers `PING`; a clear error otherwise.
    pub fn open(label: &str, url: &str) -> Result<RedisKeyValue> {
        check_url(url).with_context(|| format!("key-value store `{label}`"))?;
        let client = redis::Client::open(url)?;
        // `build_unchecked` connects lazily; the PING below is the one start-up check, with
        // the real error rather than r2d2's timeout.
        let pool = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(TIMEOUT)
            .connection_customizer(Box::new(Timeouts))
            .build_unchecked(client.clone());
        let mut conn = client
            .get_connection_with_timeout(TIMEOUT)
            .with_context(|| {
                format!(
                    "key-value store `{label}`: cannot connect to Redis at {}",
                    mask(url)
                )
            })?;
        if !conn.check_connection() {
            bail!(
                "key-value store `{label}`: Redis at {} does not answer PING",
                mask(url)
            );
        }
        Ok(RedisKeyValue {
            pool,
            url: mask(url),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&mut redis::Connection) -> redis::RedisResult<T>,
    ) -> Result<T, String> {
        let mut conn = self
            .pool
            .get()
            .map_err(|e| format!("Redis at {}: {e}", self.url))?;
        f(&mut conn).map_err(|e| format!("Redis at {}: {e}", self.url))
    }
}

impl KeyValueBackend for RedisKeyValue {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c| c.get(key))
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c| c.set(key, value))
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|c| c.del::<_, ()>(key))
    }

    fn exists(&self, key: &str) -> Result<bool, String> {
        self.with(|c| c.exists(key))
    }

    fn get_keys(&self) -> Result<Vec<String>, String> {
        self.with(|c| {
            let mut keys = Vec::new();
            let mut cursor: u64 = 0;
            loop {
                let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
                    .arg(cursor)
                    .arg("COUNT")
                    .arg(SCAN_COUNT)
                    .query(c)?;
                keys.extend(batch);
                if next == 0 {
                    break;
                }
                cursor = next;
            }
            // SCAN may return a key more than once while the keyspace is being resized.
            keys.sort_unstable();
            keys.dedup();
            Ok(keys)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_passwords_masked() {
        assert!(check_url("redis://127.0.0.1:6379").is_ok());
        assert!(check_url("redis://127.0.0.1:6379/3").is_ok());
        assert!(check_url("valkey://cache.internal:6379").is_ok());
        assert!(check_url("http://127.0.0.1:6379").is_err());
        assert!(check_url("127.0.0.1:6379").is_err());
        let e = check_url("https://u:hunter2@x").unwrap_err().to_string();
        assert!(!e.contains("hunter2"), "{e}");
        assert_eq!(
            mask("redis://default:hunter2@cache:6379/0"),
            "redis://default:***@cache:6379/0"
        );
        assert_eq!(mask("redis://cache:6379"), "redis://cache:6379");
        assert_eq!(mask("redis//u:pw@cache"), "***@cache");
    }
}
