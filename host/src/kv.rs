//! Key-value stores: the backend trait, the SQLite backend, and `fermyon:spin/key-value`.
//!
//! A backend is a small synchronous trait (like Spin's `factor-key-value`); calls that may wait on
//! a server run off the async workers through `spawn_blocking`, local ones in place. The SQLite backend uses Spin's on-disk layout, so a state
//! directory written by this host can be read by `spin up` and the other way round.

use crate::bindings::fermyon::spin::key_value::{self, Error};
use crate::state::HostState;
use anyhow::{Context, Result};
use rusqlite::{params, Connection, OptionalExtension};
use std::path::Path;
use std::sync::{Arc, Mutex};
use wasmtime::component::Resource;

/// What a key-value backend can do; each method is blocking.
pub trait KeyValueBackend: Send + Sync {
    /// The value stored under `key`, if any.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String>;
    /// Stores `value` under `key`, replacing any previous value.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), String>;
    /// Removes `key`; removing a missing key is not an error.
    fn delete(&self, key: &str) -> Result<(), String>;
    /// Whether `key` has a value.
    fn exists(&self, key: &str) -> Result<bool, String>;
    /// All keys of the store.
    fn get_keys(&self) -> Result<Vec<String>, String>;
    /// Whether a call may wait on something slow (a network server): such calls run on the
    /// blocking pool. A local file's calls take microseconds and run in place, which saves two
    /// thread switches per call.
    fn may_block(&self) -> bool {
        true
    }
}

/// A store kept in a SQLite file with Spin's `spin_key_value` table.
pub struct SqliteKeyValue {
    store: String,
    conn: Mutex<Connection>,
}

impl SqliteKeyValue {
    /// Opens (creating if needed) store `store` in the file at `path`, or in memory when `None`.
    pub fn open(store: &str, path: Option<&Path>) -> Result<SqliteKeyValue> {
        let conn = match path {
            Some(p) => {
                if let Some(dir) = p.parent() {
                    std::fs::create_dir_all(dir)
                        .with_context(|| format!("cannot create {}", dir.display()))?;
                }
                Connection::open(p)
                    .with_context(|| format!("cannot open key-value file {}", p.display()))?
            }
            None => Connection::open_in_memory()?,
        };
        conn.busy_timeout(std::time::Duration::from_secs(5))?;
        // WAL keeps a write per request cheap; the file layout stays Spin's.
        conn.pragma_update(None, "journal_mode", "WAL").ok();
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS spin_key_value (
                store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL,
                PRIMARY KEY (store, key))",
        )
        .context("cannot create the spin_key_value table")?;
        Ok(SqliteKeyValue {
            store: store.to_string(),
            conn: Mutex::new(conn),
        })
    }

    fn with<T>(
        &self,
        f: impl FnOnce(&Connection, &str) -> rusqlite::Result<T>,
    ) -> Result<T, String> {
        let conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&conn, &self.store).map_err(|e| e.to_string())
    }
}

impl KeyValueBackend for SqliteKeyValue {
    fn may_block(&self) -> bool {
        false
    }

    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        self.with(|c, s| {
            c.prepare_cached("SELECT value FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![s, key], |r| r.get(0))
                .optional()
        })
    }

    fn set(&self, key: &str, value: &[u8]) -> Result<(), String> {
        self.with(|c, s| {
            c.prepare_cached(
                "INSERT INTO spin_key_value (store, key, value) VALUES (?1, ?2, ?3)
                 ON CONFLICT(store, key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![s, key, value])
            .map(drop)
        })
    }

    fn delete(&self, key: &str) -> Result<(), String> {
        self.with(|c, s| {
            c.prepare_cached("DELETE FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .execute(params![s, key])
                .map(drop)
        })
    }

    fn exists(&self, key: &str) -> Result<bool, String> {
        self.with(|c, s| {
            c.prepare_cached("SELECT 1 FROM spin_key_value WHERE store = ?1 AND key = ?2")?
                .query_row(params![s, key], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
    }

    fn get_keys(&self) -> Result<Vec<String>, String> {
        self.with(|c, s| {
            c.prepare_cached("SELECT key FROM spin_key_value WHERE store = ?1")?
                .query_map(params![s], |r| r.get(0))?
                .collect()
        })
    }
}

/// An open `store` resource: the backend it talks to.
pub struct StoreHandle {
    backend: Arc<dyn KeyValueBackend>,
}

async fn blocking<T: Send + 'static>(
    backend: &Arc<dyn KeyValueBackend>,
    f: impl FnOnce(&dyn KeyValueBackend) -> Result<T, String> + Send + 'static,
) -> Result<T, Error> {
    if !backend.may_block() {
        return f(&**backend).map_err(Error::Other);
    }
    let b = backend.clone();
    tokio::task::spawn_blocking(move || f(&*b))
        .await
        .map_err(|e| Error::Other(e.to_string()))?
        .map_err(Error::Other)
}

impl HostState {
    fn kv_backend(
        &self,
        store: &Resource<StoreHandle>,
    ) -> wasmtime::Result<Arc<dyn KeyValueBackend>> {
        Ok(self.table.get(store)?.backend.clone())
    }
}

impl key_value::Host for HostState {}

impl key_value::HostStore for HostState {
    async fn open(
        &mut self,
        label: String,
    ) -> wasmtime::Result<Result<Resource<StoreHandle>, Error>> {
        if !self.component.key_value_stores.contains(&label) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(backend) = self.component.services.key_value.get(&label).cloned() else {
            return Ok(Err(Error::NoSuchStore));
        };
        Ok(Ok(self.table.push(StoreHandle { backend })?))
    }

    async fn get(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<Option<Vec<u8>>, Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(&b, move |b| b.get(&key)).await)
    }

    async fn set(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
        value: Vec<u8>,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(&b, move |b| b.set(&key, &value)).await)
    }

    async fn delete(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<(), Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(&b, move |b| b.delete(&key)).await)
    }

    async fn exists(
        &mut self,
        store: Resource<StoreHandle>,
        key: String,
    ) -> wasmtime::Result<Result<bool, Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(&b, move |b| b.exists(&key)).await)
    }

    async fn get_keys(
        &mut self,
        store: Resource<StoreHandle>,
    ) -> wasmtime::Result<Result<Vec<String>, Error>> {
        let b = self.kv_backend(&store)?;
        Ok(blocking(&b, |b| b.get_keys()).await)
    }

    async fn drop(&mut self, store: Resource<StoreHandle>) -> wasmtime::Result<()> {
        self.table.delete(store)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_backend_round_trip_and_stores_are_separate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let a = SqliteKeyValue::open("default", Some(&path)).unwrap();
        let b = SqliteKeyValue::open("other", Some(&path)).unwrap();
        a.set("k", b"v1").unwrap();
        a.set("k", b"v2").unwrap();
        assert_eq!(a.get("k").unwrap(), Some(b"v2".to_vec()));
        assert_eq!(b.get("k").unwrap(), None);
        assert!(a.exists("k").unwrap());
        assert_eq!(a.get_keys().unwrap(), vec!["k".to_string()]);
        a.delete("k").unwrap();
        assert!(!a.exists("k").unwrap());
    }
}
