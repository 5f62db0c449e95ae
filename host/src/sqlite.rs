//! SQLite databases and `fermyon:spin/sqlite`.
//!
//! Every opened `connection` resource is one real rusqlite connection, so a transaction begun in
//! one `execute` and committed in a later one behaves as in Spin. Dropping the resource closes the
//! connection, which rolls back an unfinished transaction. Calls run on the blocking pool.

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::state::HostState;
use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use wasmtime::component::Resource;

/// How long a connection waits for another writer before failing with "database is locked".
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// The pause between two attempts to get a lock held by another connection.
const BUSY_STEP: Duration = Duration::from_millis(1);

/// Waits up to [`BUSY_TIMEOUT`] in short even steps. SQLite's own busy timeout backs off to
/// 100 ms sleeps, which turned brief lock contention between instances into second-long tails.
fn busy_wait(attempt: i32) -> bool {
    let max_attempts = (BUSY_TIMEOUT.as_micros() / BUSY_STEP.as_micros()) as i32;
    if attempt >= max_attempts {
        return false;
    }
    std::thread::sleep(BUSY_STEP);
    true
}

/// Where a database lives.
#[derive(Debug)]
pub struct Database {
    location: Location,
    /// Keeps a shared in-memory database alive between connections.
    _keeper: Option<Mutex<Connection>>,
}

#[derive(Debug, Clone)]
enum Location {
    File(PathBuf),
    Memory(String),
}

impl Database {
    /// A database in the file at `path` (created on first open).
    pub fn file(path: PathBuf) -> Result<Database> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)
                .with_context(|| format!("cannot create {}", dir.display()))?;
        }
        Ok(Database {
            location: Location::File(path),
            _keeper: None,
        })
    }

    /// A database in memory, shared by all connections while the host runs.
    pub fn memory(name: &str) -> Result<Database> {
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let uri = format!(
            "file:canbao-host-{}-{n}-{name}?mode=memory&cache=shared",
            std::process::id()
        );
        let location = Location::Memory(uri);
        let keeper = open_connection(&location)?;
        Ok(Database {
            location,
            _keeper: Some(Mutex::new(keeper)),
        })
    }

    fn connect(&self) -> Result<Connection> {
        open_connection(&self.location)
    }
}

fn open_connection(location: &Location) -> Result<Connection> {
    let conn = match location {
        Location::File(p) => {
            Connection::open(p).with_context(|| format!("cannot open {}", p.display()))?
        }
        Location::Memory(uri) => Connection::open_with_flags(
            uri,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_URI,
        )?,
    };
    conn.busy_handler(Some(busy_wait))?;
    Ok(conn)
}

/// An open `connection` resource.
pub struct ConnectionHandle {
    conn: Option<Arc<Mutex<Connection>>>,
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        // Closing may checkpoint the WAL; keep that off the async workers when we can.
        if let (Some(conn), Ok(handle)) = (self.conn.take(), tokio::runtime::Handle::try_current())
        {
            handle.spawn_blocking(move || drop(conn));
        }
    }
}

fn execute(
    conn: &Connection,
    statement: &str,
    parameters: Vec<Value>,
) -> rusqlite::Result<QueryResult> {
    let mut stmt = conn.prepare_cached(statement)?;
    let columns: Vec<String> = stmt.column_names().into_iter().map(String::from).collect();
    let params: Vec<rusqlite::types::Value> = parameters.into_iter().map(to_sql).collect();
    let mut rows = stmt.query(rusqlite::params_from_iter(params))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next()? {
        let values = (0..columns.len())
            .map(|i| row.get_ref(i).map(from_sql))
            .collect::<rusqlite::Result<Vec<_>>>()?;
        out.push(RowResult { values });
    }
    Ok(QueryResult { columns, rows: out })
}

fn to_sql(v: Value) -> rusqlite::types::Value {
    use rusqlite::types::Value as S;
    match v {
        Value::Integer(i) => S::Integer(i),
        Value::Real(f) => S::Real(f),
        Value::Text(t) => S::Text(t),
        Value::Blob(b) => S::Blob(b),
        Value::Null => S::Null,
    }
}

fn from_sql(v: ValueRef<'_>) -> Value {
    match v {
        ValueRef::Integer(i) => Value::Integer(i),
        ValueRef::Real(f) => Value::Real(f),
        ValueRef::Text(t) => Value::Text(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Blob(b.to_vec()),
        ValueRef::Null => Value::Null,
    }
}

impl sqlite::Host for HostState {}

impl sqlite::HostConnection for HostState {
    async fn open(
        &mut self,
        database: String,
    ) -> wasmtime::Result<Result<Resource<ConnectionHandle>, Error>> {
        if !self.component.sqlite_databases.contains(&database) {
            return Ok(Err(Error::AccessDenied));
        }
        let Some(db) = self.component.services.sqlite.get(&database).cloned() else {
            return Ok(Err(Error::NoSuchDatabase));
        };
        let opened = tokio::task::spawn_blocking(move || db.connect()).await?;
        match opened {
            Ok(conn) => Ok(Ok(self.table.push(ConnectionHandle {
                conn: Some(Arc::new(Mutex::new(conn))),
            })?)),
            Err(e) => Ok(Err(Error::Io(format!("{e:#}")))),
        }
    }

    async fn execute(
        &mut self,
        connection: Resource<ConnectionHandle>,
        statement: String,
        parameters: Vec<Value>,
    ) -> wasmtime::Result<Result<QueryResult, Error>> {
        let Some(conn) = self.table.get(&connection)?.conn.clone() else {
            return Ok(Err(Error::InvalidConnection));
        };
        let result = tokio::task::spawn_blocking(move || {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            execute(&conn, &statement, parameters)
        })
        .await?;
        Ok(result.map_err(|e| Error::Io(e.to_string())))
    }

    async fn drop(&mut self, connection: Resource<ConnectionHandle>) -> wasmtime::Result<()> {
        self.table.delete(connection)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_round_trip_and_open_transaction_rolls_back_on_close() {
        let dir = tempfile::tempdir().unwrap();
        let db = Database::file(dir.path().join("db.sqlite")).unwrap();
        let c = db.connect().unwrap();
        execute(
            &c,
            "CREATE TABLE t (i INTEGER, r REAL, s TEXT, b BLOB, n)",
            vec![],
        )
        .unwrap();
        execute(
            &c,
            "INSERT INTO t VALUES (?, ?, ?, ?, ?)",
            vec![
                Value::Integer(-7),
                Value::Real(1.5),
                Value::Text("中".into()),
                Value::Blob(vec![0, 1]),
                Value::Null,
            ],
        )
        .unwrap();
        let r = execute(&c, "SELECT * FROM t", vec![]).unwrap();
        assert_eq!(r.columns, ["i", "r", "s", "b", "n"]);
        assert!(matches!(
            r.rows[0].values[..],
            [
                Value::Integer(-7),
                Value::Real(_),
                Value::Text(_),
                Value::Blob(_),
                Value::Null
            ]
        ));

        execute(&c, "BEGIN", vec![]).unwrap();
        execute(&c, "INSERT INTO t (i) VALUES (2)", vec![]).unwrap();
        drop(c);
        let c = db.connect().unwrap();
        let r = execute(&c, "SELECT count(*) FROM t", vec![]).unwrap();
        assert!(matches!(r.rows[0].values[0], Value::Integer(1)));
        assert!(execute(&c, "SELEC nonsense", vec![]).is_err());
    }
}
