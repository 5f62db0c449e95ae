//! Storage: a narrow SQL interface and a key-value interface, each with two interchangeable
//! backends — the Spin SDK one (`spin` feature, wasm components) and a rusqlite one (`native`
//! feature, tests, benchmarks, tools). Domain code takes `&dyn Sql` / `&dyn Kv` and never names a
//! backend, the way Spin's own `factor-key-value` keeps its stores behind one trait.
//!
//! The SQL interface executes exactly one statement per call because Spin's
//! `fermyon:spin/sqlite@2.0.0` does; the schema lives in numbered migrations (`migrations/`)
//! that every backend applies on open (see [`migrate`]).

use serde::de::DeserializeOwned;
use serde::Serialize;

mod migrate;
#[cfg(feature = "native")]
pub mod native;
#[cfg(feature = "spin")]
pub mod spin;

pub use migrate::{migrate, split_statements, Migration, MIGRATIONS};

/// Why a storage call failed.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum StorageError {
    /// The database or store could not be opened (unknown label, access denied, I/O at open).
    #[error("storage unavailable: {0}")]
    Unavailable(String),
    /// A UNIQUE, CHECK, NOT NULL or trigger constraint refused the statement.
    #[error("constraint violated: {0}")]
    Constraint(String),
    /// Any other error reported by the database for a statement.
    #[error("SQL error: {0}")]
    Sql(String),
    /// A result column that the query did not return.
    #[error("no column {0} in the result")]
    NoSuchColumn(String),
    /// A result value of another type than the caller asked for.
    #[error("column {column}: expected {expected}, found {found}")]
    Type {
        /// The column, by name or index.
        column: String,
        /// The Rust type asked for.
        expected: &'static str,
        /// The SQL type found.
        found: &'static str,
    },
    /// The key-value store refused or failed.
    #[error("key-value store: {0}")]
    Kv(String),
    /// A stored JSON document did not parse or a value did not serialise.
    #[error("stored JSON: {0}")]
    Json(String),
    /// A stored value that does not parse as its type (names the column, never the value).
    #[error("stored data does not parse: {0}")]
    Corrupt(String),
    /// A migration failed; the database is left at the previous version.
    #[error("migration {version} ({name}) failed: {message}")]
    Migration {
        /// The migration's number.
        version: i64,
        /// The migration's name.
        name: &'static str,
        /// The underlying error.
        message: String,
    },
}

impl StorageError {
    /// Classifies a backend's error text: constraint failures become [`StorageError::Constraint`]
    /// so callers can react to a UNIQUE index without parsing messages themselves.
    pub fn from_message(message: impl Into<String>) -> Self {
        let message = message.into();
        if message.contains("constraint failed") || message.contains("CONSTRAINT") {
            StorageError::Constraint(message)
        } else {
            StorageError::Sql(message)
        }
    }

    /// Whether this is a constraint violation (e.g. a second open conflict for one field).
    pub fn is_constraint(&self) -> bool {
        matches!(self, StorageError::Constraint(_))
    }
}

/// One SQLite value, as bound to a parameter or read from a result.
#[derive(Debug, Clone, PartialEq)]
pub enum SqlValue {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl SqlValue {
    /// The SQL type name, for error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            SqlValue::Null => "NULL",
            SqlValue::Integer(_) => "INTEGER",
            SqlValue::Real(_) => "REAL",
            SqlValue::Text(_) => "TEXT",
            SqlValue::Blob(_) => "BLOB",
        }
    }

    /// Whether the value is NULL.
    pub fn is_null(&self) -> bool {
        matches!(self, SqlValue::Null)
    }
}

macro_rules! from_int {
    ($($t:ty),*) => {$(
        impl From<$t> for SqlValue {
            fn from(v: $t) -> Self { SqlValue::Integer(v as i64) }
        }
    )*};
}
from_int!(i8, i16, i32, i64, u8, u16, u32, usize);

impl From<bool> for SqlValue {
    fn from(v: bool) -> Self {
        SqlValue::Integer(v as i64)
    }
}

impl From<f64> for SqlValue {
    fn from(v: f64) -> Self {
        SqlValue::Real(v)
    }
}

impl From<String> for SqlValue {
    fn from(v: String) -> Self {
        SqlValue::Text(v)
    }
}

impl From<&str> for SqlValue {
    fn from(v: &str) -> Self {
        SqlValue::Text(v.to_owned())
    }
}

impl From<&String> for SqlValue {
    fn from(v: &String) -> Self {
        SqlValue::Text(v.clone())
    }
}

impl From<Vec<u8>> for SqlValue {
    fn from(v: Vec<u8>) -> Self {
        SqlValue::Blob(v)
    }
}

impl From<&[u8]> for SqlValue {
    fn from(v: &[u8]) -> Self {
        SqlValue::Blob(v.to_vec())
    }
}

impl<T: Into<SqlValue>> From<Option<T>> for SqlValue {
    fn from(v: Option<T>) -> Self {
        v.map_or(SqlValue::Null, Into::into)
    }
}

/// A Rust type that a result value converts into (the typed getters of [`Row`]).
pub trait FromSql: Sized {
    /// Converts one value; `column` names it in the error.
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError>;
}

fn type_error<T>(value: &SqlValue, column: &str, expected: &'static str) -> Result<T, StorageError> {
    Err(StorageError::Type { column: column.to_owned(), expected, found: value.type_name() })
}

impl FromSql for i64 {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Integer(i) => Ok(*i),
            v => type_error(v, column, "i64"),
        }
    }
}

impl FromSql for u64 {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Integer(i) if *i >= 0 => Ok(*i as u64),
            v => type_error(v, column, "u64"),
        }
    }
}

impl FromSql for bool {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Integer(i) => Ok(*i != 0),
            v => type_error(v, column, "bool"),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Real(f) => Ok(*f),
            SqlValue::Integer(i) => Ok(*i as f64),
            v => type_error(v, column, "f64"),
        }
    }
}

impl FromSql for String {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Text(s) => Ok(s.clone()),
            SqlValue::Blob(b) => String::from_utf8(b.clone()).or_else(|_| type_error(value, column, "String")),
            v => type_error(v, column, "String"),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Blob(b) => Ok(b.clone()),
            SqlValue::Text(s) => Ok(s.as_bytes().to_vec()),
            v => type_error(v, column, "Vec<u8>"),
        }
    }
}

impl FromSql for SqlValue {
    fn from_sql(value: &SqlValue, _column: &str) -> Result<Self, StorageError> {
        Ok(value.clone())
    }
}

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(value: &SqlValue, column: &str) -> Result<Self, StorageError> {
        match value {
            SqlValue::Null => Ok(None),
            v => T::from_sql(v, column).map(Some),
        }
    }
}

/// How a column is addressed: by position (`usize`) or by name (`&str`).
pub trait ColumnIndex {
    /// The position of the column in `columns`.
    fn position(&self, columns: &[String]) -> Result<usize, StorageError>;
    /// The column as written in errors.
    fn describe(&self) -> String;
}

impl ColumnIndex for usize {
    fn position(&self, columns: &[String]) -> Result<usize, StorageError> {
        if *self < columns.len() {
            Ok(*self)
        } else {
            Err(StorageError::NoSuchColumn(format!("#{self}")))
        }
    }
    fn describe(&self) -> String {
        format!("#{self}")
    }
}

impl ColumnIndex for &str {
    fn position(&self, columns: &[String]) -> Result<usize, StorageError> {
        columns
            .iter()
            .position(|c| c == self)
            .ok_or_else(|| StorageError::NoSuchColumn((*self).to_owned()))
    }
    fn describe(&self) -> String {
        (*self).to_owned()
    }
}

/// The result of one statement: column names and rows of values (empty for writes).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Rows {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Each row's values, in column order.
    pub rows: Vec<Vec<SqlValue>>,
}

impl Rows {
    /// The number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The first row, if any.
    pub fn first(&self) -> Option<Row<'_>> {
        self.rows.first().map(|values| Row { columns: &self.columns, values })
    }

    /// Every row, as typed views.
    pub fn iter(&self) -> impl Iterator<Item = Row<'_>> {
        self.rows.iter().map(|values| Row { columns: &self.columns, values })
    }

    /// The row at `index`, if any.
    pub fn row(&self, index: usize) -> Option<Row<'_>> {
        self.rows.get(index).map(|values| Row { columns: &self.columns, values })
    }

    /// The first column of the first row (a scalar query such as `SELECT COUNT(*)`).
    pub fn scalar<T: FromSql>(&self) -> Result<Option<T>, StorageError> {
        self.first().map(|r| r.get::<T>(0)).transpose()
    }

    /// Every value of one column, typed.
    pub fn column<T: FromSql>(&self, col: impl ColumnIndex) -> Result<Vec<T>, StorageError> {
        let i = col.position(&self.columns)?;
        let name = col.describe();
        self.rows.iter().map(|r| T::from_sql(&r[i], &name)).collect()
    }
}

/// A typed view of one result row.
#[derive(Debug, Clone, Copy)]
pub struct Row<'a> {
    columns: &'a [String],
    values: &'a [SqlValue],
}

impl<'a> Row<'a> {
    /// The value of a column (by index or name), converted to `T`.
    pub fn get<T: FromSql>(&self, col: impl ColumnIndex) -> Result<T, StorageError> {
        let i = col.position(self.columns)?;
        T::from_sql(&self.values[i], &col.describe())
    }

    /// The raw value of a column.
    pub fn value(&self, col: impl ColumnIndex) -> Result<&'a SqlValue, StorageError> {
        Ok(&self.values[col.position(self.columns)?])
    }

    /// The column names.
    pub fn columns(&self) -> &'a [String] {
        self.columns
    }

    /// The values, in column order.
    pub fn values(&self) -> &'a [SqlValue] {
        self.values
    }
}

/// A SQLite database that executes one statement per call with bound parameters.
pub trait Sql {
    /// Executes one statement; rows for queries, empty [`Rows`] for writes.
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError>;

    /// Executes a statement for its effect only.
    fn exec(&self, sql: &str, params: &[SqlValue]) -> Result<(), StorageError> {
        self.execute(sql, params).map(|_| ())
    }

    /// Executes a query expected to return at most one row and returns that row.
    fn query_one(&self, sql: &str, params: &[SqlValue]) -> Result<Option<Record>, StorageError> {
        let mut rows = self.execute(sql, params)?;
        if rows.rows.is_empty() {
            return Ok(None);
        }
        let values = rows.rows.swap_remove(0);
        Ok(Some(Record { columns: rows.columns, values }))
    }
}

impl<S: Sql + ?Sized> Sql for &S {
    fn execute(&self, sql: &str, params: &[SqlValue]) -> Result<Rows, StorageError> {
        (**self).execute(sql, params)
    }
}

/// One owned result row (what [`Sql::query_one`] returns).
#[derive(Debug, Clone, PartialEq)]
pub struct Record {
    /// Column names, in order.
    pub columns: Vec<String>,
    /// The row's values, in column order.
    pub values: Vec<SqlValue>,
}

impl Record {
    /// A typed view of the row.
    pub fn row(&self) -> Row<'_> {
        Row { columns: &self.columns, values: &self.values }
    }

    /// The value of a column (by index or name), converted to `T`.
    pub fn get<T: FromSql>(&self, col: impl ColumnIndex) -> Result<T, StorageError> {
        self.row().get(col)
    }
}

/// Transactions over any [`Sql`] (including `dyn Sql`); a separate trait because generic methods
/// would make `Sql` unusable as a trait object. Import it next to `Sql`.
pub trait SqlExt: Sql {
    /// Runs `f` inside `BEGIN IMMEDIATE` … `COMMIT`, rolling back when `f` (or the commit)
    /// fails. Transactions do not nest: call store functions with the `tx` you were given.
    fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<StorageError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>;
}

impl<S: Sql + ?Sized> SqlExt for S {
    fn transaction<T, E, F>(&self, f: F) -> Result<T, E>
    where
        E: From<StorageError>,
        F: FnOnce(&dyn Sql) -> Result<T, E>,
    {
        let db: &dyn Sql = &self;
        db.exec("BEGIN IMMEDIATE", &[])?;
        match f(db) {
            Ok(value) => match db.exec("COMMIT", &[]) {
                Ok(()) => Ok(value),
                Err(e) => {
                    let _ = db.exec("ROLLBACK", &[]);
                    Err(e.into())
                }
            },
            Err(e) => {
                // The caller's error matters more than a failed rollback (which SQLite only
                // reports when the transaction is already gone).
                let _ = db.exec("ROLLBACK", &[]);
                Err(e)
            }
        }
    }
}

/// A key-value store with byte values (idempotency records, rate limits, cached figures, leases).
pub trait Kv {
    /// The value of `key`, if set.
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError>;
    /// Sets `key` to `value`, replacing any previous value.
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError>;
    /// Removes `key`; not an error when it was not set.
    fn delete(&self, key: &str) -> Result<(), StorageError>;
    /// Whether `key` is set.
    fn exists(&self, key: &str) -> Result<bool, StorageError>;
    /// Every key in the store (Spin's KV has no prefix scan: keep stores small).
    fn get_keys(&self) -> Result<Vec<String>, StorageError>;
}

impl<K: Kv + ?Sized> Kv for &K {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        (**self).get(key)
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        (**self).set(key, value)
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        (**self).delete(key)
    }
    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        (**self).exists(key)
    }
    fn get_keys(&self) -> Result<Vec<String>, StorageError> {
        (**self).get_keys()
    }
}

/// JSON documents over any [`Kv`] (including `dyn Kv`).
pub trait KvExt: Kv {
    /// The JSON document at `key`, if set.
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError>;
    /// Stores `value` as JSON at `key`.
    fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StorageError>;
}

impl<K: Kv + ?Sized> KvExt for K {
    fn get_json<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StorageError> {
        match self.get(key)? {
            None => Ok(None),
            Some(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| StorageError::Json(e.to_string())),
        }
    }

    fn set_json<T: Serialize + ?Sized>(&self, key: &str, value: &T) -> Result<(), StorageError> {
        let bytes = serde_json::to_vec(value).map_err(|e| StorageError::Json(e.to_string()))?;
        self.set(key, &bytes)
    }
}

/// A KV store in process memory: for tests of any crate, and for tools that need no persistence.
#[derive(Debug, Default)]
pub struct MemoryKv {
    map: std::sync::Mutex<std::collections::BTreeMap<String, Vec<u8>>>,
}

impl MemoryKv {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn map(&self) -> std::sync::MutexGuard<'_, std::collections::BTreeMap<String, Vec<u8>>> {
        // A panic while holding the lock cannot leave the map half-written: every operation is
        // a single map call.
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl Kv for MemoryKv {
    fn get(&self, key: &str) -> Result<Option<Vec<u8>>, StorageError> {
        Ok(self.map().get(key).cloned())
    }
    fn set(&self, key: &str, value: &[u8]) -> Result<(), StorageError> {
        self.map().insert(key.to_owned(), value.to_vec());
        Ok(())
    }
    fn delete(&self, key: &str) -> Result<(), StorageError> {
        self.map().remove(key);
        Ok(())
    }
    fn exists(&self, key: &str) -> Result<bool, StorageError> {
        Ok(self.map().contains_key(key))
    }
    fn get_keys(&self) -> Result<Vec<String>, StorageError> {
        Ok(self.map().keys().cloned().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_getters_by_index_and_name() {
        let rows = Rows {
            columns: vec!["id".into(), "name".into(), "n".into()],
            rows: vec![vec![SqlValue::from("a"), SqlValue::Null, SqlValue::from(3)]],
        };
        let r = rows.first().unwrap();
        assert_eq!(r.get::<String>(0).unwrap(), "a");
        assert_eq!(r.get::<Option<String>>("name").unwrap(), None);
        assert_eq!(r.get::<i64>("n").unwrap(), 3);
        assert!(matches!(r.get::<i64>("id"), Err(StorageError::Type { .. })));
        assert!(matches!(r.get::<i64>("missing"), Err(StorageError::NoSuchColumn(_))));
        assert_eq!(rows.scalar::<String>().unwrap().as_deref(), Some("a"));
    }

    #[test]
    fn memory_kv_round_trip() {
        let kv = MemoryKv::new();
        kv.set_json("k", &vec![1, 2, 3]).unwrap();
        assert!(kv.exists("k").unwrap());
        assert_eq!(kv.get_json::<Vec<i32>>("k").unwrap(), Some(vec![1, 2, 3]));
        assert_eq!(kv.get_keys().unwrap(), vec!["k".to_string()]);
        kv.delete("k").unwrap();
        assert_eq!(kv.get("k").unwrap(), None);
        kv.delete("k").unwrap();
    }
}
