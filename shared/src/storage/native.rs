//! The rusqlite backend (`native` feature): the same SQL and KV interfaces for native tests,
//! benchmarks and tools, on the same SQLite engine (bundled) that Spin's runtime uses.

use super::migrate::{migrate, CONNECTION_PRAGMAS};
use super::{Kv, Rows, Sql, SqlValue, StorageError};
use rusqlite::types::{Value, ValueRef};
use std::path::Path;

fn sql_error(e: rusqlite::Error) -> StorageError {
    StorageError::from_message(e.to_string())
}

/// A SQLite database through rusqlite, migrated on open.
pub struct NativeSql {
    conn: rusqlite::Connection,
}

impl NativeSql {
    /// Opens (creating if needed) the database file at `path` and applies pending migrations.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, StorageError> {
        let conn = rusqlite::Connection::open(path).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Self::migrated(conn)
    }

    /// A fresh private in-memory database with the whole schema (for tests).
    pub fn open_in_memory() -> Result<Self, StorageError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Self::migrated(conn)
    }

    /// An in-memory database without the schema (for testing migrations themselves).
    pub fn open_in_memory_unmigrated() -> Result<Self, StorageError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let db = NativeSql { conn };
        db.apply_connection_pragmas()?;
        Ok(db)
    }

    fn migrated(conn: rusqlite::Connection) -> Result<Self, StorageError> {
        // Intake's inner loop runs a dozen distinct statements per row; keep them all prepared.
        conn.set_prepared_statement_cache_capacity(128);
        let db = NativeSql { conn };
        db.apply_connection_pragmas()?;
        migrate(&db)?;
        Ok(db)
    }

    fn apply_connection_pragmas(&self) -> Result<(), StorageError> {
        // Best-effort: a refused performance setting must not make the database unusable.
        CONNECTION_PRAGMAS.iter().for_each(|p| {
            let _ = self.exec(p, &[]);
        });
        Ok(())
    }
}

fn to_rusqlite(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(*i),
        SqlValue::Real(f) => Value::Real(*f),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_rusqlite(v: ValueRef<'_>) -> SqlValue {
    match v {
        ValueRef::Null => SqlValue::Null,
        ValueRef::Integer(i) => SqlValue::Integer(i),
        ValueRef::Real(f) => SqlValue::Real(f),
        ValueRef::Text(t) => SqlValue::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => SqlValue::Blob(b.to_vec()),
    }
}

impl Sql for NativeSql {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        let mut stmt = self.conn.prepare_cached(sql).map_err(sql_error)?;
        let columns: Vec<String> = stmt.column_names().into_iter().map(str::to_owned).collect();
        let n = columns.len();
        let bound: Vec<Value> = params.iter().map(to_rusqlite).collect();
        let mut rows = stmt.query(rusqlite::params_from_iter(bound)).map_err(sql_error)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(sql_error)? {
            let mut values = Vec::with_capacity(n);
            for i in 0..n {
                values.push(from_rusqlite(row.get_ref(i).map_err(sql_error)?));
            }
            out.push(values);
        }
        Ok(Rows { columns, rows: out })
    }
}

/// A persistent KV store on a SQLite table (the layout Spin uses for `sqlite_key_value.db`).
pub struct NativeKv {
    db: NativeSql,
    store: String,
}

const KV_CREATE: &str = "CREATE TABLE IF NOT EXISTS spin_key_value (
    store TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (store, key))";
const KV_GET: &str = "SELECT value FROM spin_key_value WHERE store = ? AND key = ?";
const KV_SET: &str = "INSERT INTO spin_key_value (store, key, value) VALUES (?, ?, ?)
    ON CONFLICT (store, key) DO UPDATE SET value = excluded.value";
const KV_DELETE: &str = "DELETE FROM spin_key_value WHERE store = ? AND key = ?";
const KV_EXISTS: &str = "SELECT 1 FROM spin_key_value WHERE store = ? AND key = ?";
const KV_KEYS: &str = "SELECT key FROM spin_key_value WHERE store = ? ORDER BY key";

impl NativeKv {
    /// Opens store `store` in the KV database file at `path`.
    pub fn open(path: impl AsRef<Path>, store: &str) -> Result<Self, StorageError> {
        let conn = rusqlite::Connection::open(path).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Self::with_connection(conn, store)
    }

    /// A private in-memory store.
    pub fn open_in_memory() -> Result<Self, StorageError> {
        let conn = rusqlite::Connection::open_in_memory().map_err(|e| StorageError::Unavailable(e.to_string()))?;
        Self::with_connection(conn, "default")
    }

    fn with_connection(conn: rusqlite::Connection, store: &str) -> Result<Self, StorageError> {
        let db = NativeSql { conn };
        db.apply_connection_pragmas()?;
        db.exec(KV_CREATE, &[])?;
        Ok(NativeKv { db, store: store.to_owned() })
    }

    fn kv_error(e: StorageError) -> StorageError {
        StorageError::Kv(e.to_string())
    }
}

impl Kv for NativeKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        let rows = self.db.execute(KV_GET, &[self.store.as_str().into(), key.into()]).map_err(Self::kv_error)?;
        rows.scalar::<Vec<u8>>()
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.db.exec(KV_SET, &[self.store.as_str().into(), key.into(), value.into()]).map_err(Self::kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.db.exec(KV_DELETE, &[self.store.as_str().into(), key.into()]).map_err(Self::kv_error)
    }
    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        let rows = self.db.execute(KV_EXISTS, &[self.store.as_str().into(), key.into()]).map_err(Self::kv_error)?;
        Ok(!rows.is_empty())
    }
    fn get_keys(&self) -> Result<Vec<String>, StorageError> {
        self.db.execute(KV_KEYS, &[self.store.as_str().into()]).map_err(Self::kv_error)?.column(0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::{migrate, KvExt, SqlExt, MIGRATIONS};

    fn schema(db: &NativeSql) -> Rows {
        db.execute("SELECT type, name, sql FROM sqlite_master ORDER BY type, name", &[]).unwrap()
    }

    #[test]
    fn migrations_run_from_empty_and_again_without_change() {
        let db = NativeSql::open_in_memory_unmigrated().unwrap();
        assert_eq!(migrate(&db).unwrap(), MIGRATIONS.len());
        let before = schema(&db);
        let versions = db.execute("SELECT version, name FROM schema_migrations", &[]).unwrap();
        assert_eq!(versions.len(), MIGRATIONS.len());
        assert_eq!(migrate(&db).unwrap(), 0);
        assert_eq!(schema(&db), before);
        assert_eq!(db.execute("SELECT version, name FROM schema_migrations", &[]).unwrap(), versions);
        for table in ["persons", "person_history", "enrollments", "units", "conflicts", "duplicate_candidates",
            "batches", "batch_parts", "batch_row_errors", "registrations", "audit_log", "meta", "cron_ticks"]
        {
            assert!(before.iter().any(|r| r.get::<String>("name").unwrap() == table), "{table} missing");
        }
    }

    #[test]
    fn file_database_is_in_wal_mode_and_reopens_migrated() {
        let dir = std::env::temp_dir().join(format!("canbao-storage-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("wal.db");
        let _ = std::fs::remove_file(&path);
        {
            let db = NativeSql::open(&path).unwrap();
            let mode = db.execute("PRAGMA journal_mode", &[]).unwrap().scalar::<String>().unwrap();
            assert_eq!(mode.as_deref(), Some("wal"));
            db.exec("INSERT INTO meta (key, value) VALUES ('x', '1')", &[]).unwrap();
        }
        let db = NativeSql::open(&path).unwrap();
        assert_eq!(migrate(&db).unwrap(), 0);
        let v = db.query_one("SELECT value FROM meta WHERE key = ?", &["x".into()]).unwrap().unwrap();
        assert_eq!(v.get::<String>(0).unwrap(), "1");
        drop(db);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn transactions_commit_and_roll_back_on_error() {
        let db = NativeSql::open_in_memory().unwrap();
        let put = |tx: &dyn Sql, k: &str| tx.exec("INSERT INTO meta (key, value) VALUES (?, 'v')", &[k.into()]);
        db.transaction(|tx| put(tx, "kept")).unwrap();
        let failed: Result<(), StorageError> = db.transaction(|tx| {
            put(tx, "gone")?;
            Err(StorageError::Sql("caller gave up".into()))
        });
        assert!(failed.is_err());
        // A constraint failure inside also rolls back the earlier statement.
        let dup: Result<(), StorageError> = db.transaction(|tx| {
            put(tx, "also_gone")?;
            put(tx, "kept")
        });
        assert!(dup.unwrap_err().is_constraint());
        let keys: Vec<String> = db.execute("SELECT key FROM meta ORDER BY key", &[]).unwrap().column(0).unwrap();
        assert_eq!(keys, vec!["data_version".to_string(), "kept".to_string()]);
        // The connection is usable again afterwards, also through a trait object.
        let object: &dyn Sql = &db;
        object.transaction(|tx| put(tx, "later")).unwrap();
        let failed: Result<(), StorageError> = object.transaction(|tx| {
            put(tx, "never")?;
            Err(StorageError::Sql("no".into()))
        });
        assert!(failed.is_err());
        assert!(db.query_one("SELECT 1 FROM meta WHERE key = 'never'", &[]).unwrap().is_none());
    }

    #[test]
    fn one_statement_per_call() {
        let db = NativeSql::open_in_memory().unwrap();
        assert!(db.exec("SELECT 1; SELECT 2", &[]).is_err());
    }

    #[test]
    fn audit_log_is_append_only() {
        let db = NativeSql::open_in_memory().unwrap();
        db.exec("INSERT INTO audit_log (at, actor, role, action) VALUES ('2026-01-01T00:00:00.000Z', 'a', 'admin', 'read')", &[]).unwrap();
        assert!(db.exec("UPDATE audit_log SET actor = 'b'", &[]).unwrap_err().to_string().contains("append-only"));
        assert!(db.exec("DELETE FROM audit_log", &[]).is_err());
        let n = db.execute("SELECT COUNT(*) FROM audit_log", &[]).unwrap().scalar::<i64>().unwrap();
        assert_eq!(n, Some(1));
    }

    #[test]
    fn at_most_one_open_conflict_per_person_and_field() {
        let db = NativeSql::open_in_memory().unwrap();
        let open = "INSERT INTO conflicts (id_number, field, candidates, opened_at, updated_at)
            VALUES ('X', 'name', '[]', 't', 't')";
        db.exec(open, &[]).unwrap();
        assert!(db.exec(open, &[]).unwrap_err().is_constraint());
        db.exec("UPDATE conflicts SET status = 'resolved'", &[]).unwrap();
        db.exec(open, &[]).unwrap();
    }

    #[test]
    fn region_range_queries_use_the_index() {
        let db = NativeSql::open_in_memory().unwrap();
        let plan = db
            .execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM persons
                 WHERE region_hukou >= ? AND region_hukou < ? AND person_status = 'normal'",
                &["510402".into(), "510403".into()],
            )
            .unwrap();
        let detail: Vec<String> = plan.column("detail").unwrap();
        assert!(detail.iter().any(|d| d.contains("persons_by_region_hukou")), "{detail:?}");
        // GLOB is case-sensitive, so a prefix GLOB also uses the plain (BINARY) index; LIKE would not.
        let plan = db
            .execute(
                "EXPLAIN QUERY PLAN SELECT COUNT(*) FROM persons WHERE region_residence GLOB ? AND registered = 1",
                &["510402*".into()],
            )
            .unwrap();
        let detail: Vec<String> = plan.column("detail").unwrap();
        assert!(detail.iter().any(|d| d.contains("persons_by_region_residence")), "{detail:?}");
    }

    #[test]
    fn native_kv_round_trip() {
        let kv = NativeKv::open_in_memory().unwrap();
        assert_eq!(kv.get("a").unwrap(), None);
        kv.set("a", b"1").unwrap();
        kv.set("a", b"2").unwrap();
        kv.set_json("b", &serde_json::json!({"n": 1})).unwrap();
        assert_eq!(kv.get("a").unwrap(), Some(b"2".to_vec()));
        assert!(kv.exists("b").unwrap());
        assert_eq!(kv.get_json::<serde_json::Value>("b").unwrap().unwrap()["n"], 1);
        assert_eq!(kv.get_keys().unwrap(), vec!["a".to_string(), "b".to_string()]);
        kv.delete("a").unwrap();
        assert!(!kv.exists("a").unwrap());
    }
}
