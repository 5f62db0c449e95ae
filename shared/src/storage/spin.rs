//! The Spin SDK backend (`spin` feature): `fermyon:spin/sqlite@2.0.0` and
//! `fermyon:spin/key-value@2.0.0` through spin-sdk 5.2, for components built for wasm32-wasip2.
//! Which database or store sits behind a label is the runtime's business (runtime-config.toml).

use super::migrate::{migrate, CONNECTION_PRAGMAS};
use super::{Kv, Rows, Sql, SqlValue, StorageError};
use spin_sdk::key_value::{Error as KvError, Store};
use spin_sdk::sqlite::{Connection, Error as SqlError, Value};
use std::cell::OnceCell;

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

/// A Spin SQLite database, opened and migrated on first use: a request that needs no database
/// (a static page, a refused token, a malformed query) never opens one.
pub struct SpinSql {
    label: String,
    conn: OnceCell<Connection>,
}

/// Statements on an open connection (used while it is being migrated).
struct Direct<'a>(&'a Connection);

impl SpinSql {
    /// The `default` database, opened on first use.
    pub fn lazy_default() -> Self {
        SpinSql { label: "default".into(), conn: OnceCell::new() }
    }

    /// Opens the `default` database now and applies pending migrations.
    pub fn open_default() -> Result<Self, StorageError> {
        Self::open("default")
    }

    /// Opens the database with this label (declared in the component's `sqlite_databases`) now.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        let db = SpinSql { label: label.into(), conn: OnceCell::new() };
        db.connection()?;
        Ok(db)
    }

    fn connection(&self) -> Result<&Connection, StorageError> {
        if let Some(conn) = self.conn.get() {
            return Ok(conn);
        }
        let conn = Connection::open(&self.label).map_err(|e| StorageError::Unavailable(format!("sqlite: {e}")))?;
        let direct = Direct(&conn);
        // Best-effort: a backend that refuses a performance setting (remote libSQL) still works.
        for pragma in CONNECTION_PRAGMAS {
            let _ = direct.exec(pragma, &[]);
        }
        migrate(&direct)?;
        Ok(self.conn.get_or_init(|| conn))
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

fn run(conn: &Connection, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
    let bound: Vec<Value> = params.iter().map(to_spin).collect();
    let result = conn.execute(sql, &bound).map_err(sql_error)?;
    Ok(Rows {
        columns: result.columns,
        rows: result.rows.into_iter().map(|r| r.values.into_iter().map(from_spin).collect()).collect(),
    })
}

impl Sql for Direct<'_> {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        run(self.0, sql, params)
    }
}

impl Sql for SpinSql {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        run(self.connection()?, sql, params)
    }
}

/// A Spin key-value store, opened on first use.
pub struct SpinKv {
    label: String,
    store: OnceCell<Store>,
}

impl SpinKv {
    /// The `default` store, opened on first use.
    pub fn lazy_default() -> Self {
        SpinKv { label: "default".into(), store: OnceCell::new() }
    }

    /// Opens the `default` store now.
    pub fn open_default() -> Result<Self, StorageError> {
        Self::open("default")
    }

    /// Opens the store with this label (declared in the component's `key_value_stores`) now.
    pub fn open(label: &str) -> Result<Self, StorageError> {
        let kv = SpinKv { label: label.into(), store: OnceCell::new() };
        kv.store()?;
        Ok(kv)
    }

    fn store(&self) -> Result<&Store, StorageError> {
        if let Some(store) = self.store.get() {
            return Ok(store);
        }
        let store = Store::open(&self.label).map_err(|e| StorageError::Unavailable(format!("key-value: {e}")))?;
        Ok(self.store.get_or_init(|| store))
    }
}

impl Kv for SpinKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        self.store()?.get(key).map_err(kv_error)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.store()?.set(key, value).map_err(kv_error)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.store()?.delete(key).map_err(kv_error)
    }
    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        self.store()?.exists(key).map_err(kv_error)
    }
    fn get_keys(&self) -> Result<Vec<String>, StorageError> {
        self.store()?.get_keys().map_err(kv_error)
    }
}
