//! The Spin SDK backend (`spin` feature): `fermyon:spin/sqlite@2.0.0` and
//! `fermyon:spin/key-value@2.0.0` through spin-sdk 5.2, for components built for wasm32-wasip2.
//! Which database or store sits behind a label is the runtime's business (runtime-config.toml).

use super::migrate::{migrate, CONNECTION_PRAGMAS};
use super::{Kv, Rows, Sql, SqlValue, StorageError};
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::sqlite::{Connection, Error as SqlError, Value};

fn sql_error(e: SqlError) -> StorageError {
    match e {
        SqlError::Io(message) => StorageError::from_message(message),
        SqlError::DatabaseFull => StorageError::Sql("database full".into()),
        other => StorageError::Unavailable(other.to_string()),
    }
}

fn kv_error(e: KvError) -> StorageError {
    match e {
        KvError::Other(message) => StorageError::Kv(message),
        other => StorageError::Unavailable(other.to_string()),
    }
}

/// A Spin SQLite database, migrated on open.
pub struct SpinSql {
    conn: Connection,
}

impl SpinSql {
    /// Opens the `default` database and applies pending migrations.
    pub fn open_default() -> Result<Self, StorageError> {
        Self::open("default")
    }

    /// Opens the database with this label (declared in the component's `sqlite_databases`).
    pub fn open(label: &str) -> Result<Self, StorageError> {
        let conn = Connection::open(label).map_err(|e| StorageError::Unavailable(e.to_string()))?;
        let db = SpinSql { conn };
        // Best-effort: a backend that refuses a performance setting (remote libSQL) still works.
        for pragma in CONNECTION_PRAGMAS {
            let _ = db.exec(pragma, &[]);
        }
        migrate(&db)?;
        Ok(db)
    }
}

fn to_spin(v: &SqlValue) -> Value {
    match v {
        SqlValue::Null => Value::Null,
        SqlValue::Integer(i) => Value::Integer(*i),
        SqlValue::Real(f) => Value::Real(*f),
        SqlValue::Text(s) => Value::Text(s.clone()),
        SqlValue::Blob(b) => Value::Blob(b.clone()),
    }
}

fn from_spin(v: Value) -> SqlValue {
    match v {
        Value::Null => SqlValue::Null,
        Value::Integer(i) => SqlValue::Integer(i),
        Value::Real(f) => SqlValue::Real(f),
        Value::Text(s) => SqlValue::Text(s),
        Value::Blob(b) => SqlValue::Blob(b),
    }
}

impl Sql for SpinSql {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        let bound: Vec<Value> = params.iter().map(to_spin).collect();
        let result = self.conn.execute(sql, &bound).map_err(sql_error)?;
        Ok(Rows {
            columns: result.columns,
            rows: result.rows.into_iter().map(|r| r.values.into_iter().map(from_spin).collect()).collect(),
        })
    }
}

/// A Spin key-value store.
pub struct SpinKv {
    store: Store,
}

impl SpinKv {
    /// Opens the `default` store.
    pub fn open_default() -> Result<Self, StorageError> {
        Self::open("default")
    }

    /// Opens the store with this label (declared in the component's `key_value_stores`).
    pub fn open(label: &str) -> Result<Self, StorageError> {
        Store::open(label).map(|store| SpinKv { store }).map_err(|e| StorageError::Unavailable(e.to_string()))
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.store.get(key).map_err(kv_error)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.store.set(key, value).map_err(kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.store.delete(key).map_err(kv_error)
    }
    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.store.exists(key).map_err(kv_error)
    }
    fn get_keys(&self) -> Result<Vec<String>, StorageError> {
        self.store.get_keys().map_err(kv_error)
    }
}
