//! SQLite databases and `fermyon:spin/sqlite`.
//!
//! Every opened `connection` resource is one real rusqlite connection, so a transaction begun in
//! one `execute` and committed in a later one behaves as in Spin. Dropping the resource rolls back
//! an unfinished transaction, as closing does in Spin, and returns the connection to a small pool
//! of idle ones: a request then skips opening the file, reading the schema and preparing its
//! statements again (each connection keeps its prepared statements). Calls run in place on the
//! worker thread; the runtime has more workers than cores so that a long query (a city-wide
//! figure) does not hold up other requests.
//!
//! Write transactions of the instances in this host queue for a database's writer turn
//! asynchronously: `BEGIN IMMEDIATE` (or `EXCLUSIVE`) first awaits the database's writer lock, held
//! until the transaction ends. SQLite allows one writer at a time anyway; waiting here parks the
//! request's task and frees its worker thread, where SQLite's busy handler would sleep on the
//! thread in a retry loop — with a few workers and many concurrent submits, the sleeping waiters
//! kept the writer that held the lock from being scheduled. A write outside a transaction (an
//! `INSERT` in autocommit mode) queues for the same turn. Other processes on the same file
//! (tools, a second host) still meet the busy handler.
//!
//! The write-ahead log is copied back into the database file (checkpointed) off the writer's
//! turn: SQLite's automatic checkpoint runs inside the `COMMIT` that crosses its threshold, so
//! the writer turn — and every submit queued behind it — waited for the copy and its `fsync`.
//! Here each connection's WAL hook notes the log's size after a commit, and past the same
//! threshold (1,000 pages) a checkpoint runs on the blocking pool while writers go on
//! (`Database::checkpoint`). The log starts again from its beginning only once a checkpoint has
//! caught up with its last commit; under a steady stream of commits one running beside them never
//! does, so the last few pages are copied in the writer turn, by the commit that finds little
//! left to copy (`Database::catch_up`): a registration's commit after intake's chunk was copied,
//! not the chunk's own. Taking the turn for the catching up instead queued the checkpoint behind
//! an intake chunk, whose thousands of pages it then copied while every submit waited. A log past
//! 256 MiB (intake chunk after chunk) is caught up by the commit that finds it so, whatever is
//! left. (Its file keeps its size when it starts again: with `journal_size_limit` the commit
//! after each start cut it back, 60–120 ms in `ftruncate` with submits queued.) A guest's
//! `wal_autocheckpoint` does not apply here (`sets_autocheckpoint`).

use crate::bindings::fermyon::spin::sqlite::{self, Error, QueryResult, RowResult, Value};
use crate::state::HostState;
use anyhow::{Context, Result};
use rusqlite::types::ValueRef;
use rusqlite::{Connection, OpenFlags};
use std::cell::Cell;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, Ordering};
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

/// How many idle connections a database keeps for the next requests.
const IDLE_CONNECTIONS: usize = 32;
/// SQLite's default for the per-connection setting a guest may change (`wal_autocheckpoint` has
/// no effect here: the host's WAL hook is put back after it, see `sets_autocheckpoint`).
const RESET_SETTINGS: &str = "PRAGMA cache_size = -2000;";
/// Pages in the write-ahead log after which it is checkpointed (SQLite's automatic threshold).
const CHECKPOINT_PAGES: i32 = 1000;
/// Pages a commit copies in the writer turn at most to catch the log up (a registration's own
/// commit writes some tens).
const CATCH_UP_PAGES: i32 = 128;
/// Pages past which a commit catches the log up however much that copies (256 MiB): writers that
/// follow each other without a pause, intake chunk after chunk, each begin before the checkpoint
/// beside them has copied the last, so the log never starts again and grows by their whole
/// volume (1.1 GB for 200,000 rows once). Submits queue behind the commit that copies it: at
/// 64 MiB a 2-minute mixed load had submit p99 71 ms, 45 ms without a limit.
const LOG_LIMIT_PAGES: i32 = 1 << 16;
/// How much of a database file a connection maps into memory for reading: none. Every commit
/// makes each other connection drop its whole map at its next read (`unixUnfetch` → `munmap`,
/// a TLB shootdown on every core) and fault the pages in again; at 1.2 million people a map of
/// 1 GiB cost registration a fifth of its host CPU (1,340–1,441 µs per submit against
/// 1,090–1,129 µs without, 883–934 against 1,130–1,169 submits/s, alternating runs), while idle
/// lookups were ≈ 6 % faster with it, within each side's spread (BENCHMARKS.md "Registration and
/// lookup at 1.2 million people, session 5").
const MMAP_BYTES: i64 = 0;
/// How many prepared statements each connection keeps.
const STATEMENT_CACHE: usize = 128;

/// Where a database lives, its idle connections and its writer turn.
#[derive(Debug)]
pub struct Database {
    location: Location,
    /// Keeps a shared in-memory database alive between connections.
    _keeper: Option<Mutex<Connection>>,
    idle: Mutex<Vec<Connection>>,
    /// Held by the connection whose write transaction is open (first come, first served).
    writer: Arc<tokio::sync::Mutex<()>>,
    /// Whether a checkpoint is running (one at a time).
    checkpointing: AtomicBool,
    /// Pages of the log the last checkpoint had copied: what a commit compares the log's size
    /// with to see what is left to copy.
    copied: AtomicI32,
    /// The log's size after the last commit (smaller after it: the log started again).
    last_log: AtomicI32,
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
            idle: Mutex::default(),
            writer: Arc::default(),
            checkpointing: AtomicBool::new(false),
            copied: AtomicI32::new(0),
            last_log: AtomicI32::new(0),
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
            idle: Mutex::default(),
            writer: Arc::default(),
            checkpointing: AtomicBool::new(false),
            copied: AtomicI32::new(0),
            last_log: AtomicI32::new(0),
        })
    }

    /// An idle connection, or a new one.
    fn connect(&self) -> Result<Connection> {
        let idle = self.idle.lock().unwrap_or_else(|p| p.into_inner()).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => open_connection(&self.location),
        }
    }

    /// Takes back a connection a guest has finished with: an unfinished transaction is rolled
    /// back (as closing would), and the host's busy handler is restored (a guest's `PRAGMA
    /// busy_timeout` replaces it). A connection that cannot be reset is closed.
    fn release(&self, conn: Connection) {
        if !conn.is_autocommit() && conn.execute_batch("ROLLBACK").is_err() {
            return;
        }
        if !conn.is_autocommit() || conn.busy_handler(Some(busy_wait)).is_err() {
            return;
        }
        conn.wal_hook(Some(note_wal_pages));
        // Settings a guest may raise for bulk work (intake asks for a 64 MiB page cache) go back
        // to SQLite's defaults, so idle connections hold little memory.
        if conn.execute_batch(RESET_SETTINGS).is_err() {
            return;
        }
        let mut idle = self.idle.lock().unwrap_or_else(|p| p.into_inner());
        if idle.len() < IDLE_CONNECTIONS {
            idle.push(conn);
        }
    }

    /// Copies what is left of the log into the database file on `conn`, whose commit has just
    /// left the log at `pages` pages, in the writer turn it still holds, when the last checkpoint
    /// ended behind and little is left, or the log is past [`LOG_LIMIT_PAGES`]: no other writer
    /// can append meanwhile, so the log is then caught up and the next writer starts it again
    /// from its beginning. (A checkpoint of its own, the turn taken, made intake's next chunk wait
    /// for it: intake took that for registrations queueing and kept its chunks short.)
    fn catch_up(&self, conn: &Connection, pages: i32) {
        if pages <= 0 {
            return;
        }
        if pages < self.last_log.swap(pages, Ordering::AcqRel) {
            // The log started again: what the last checkpoint copied was of the old one.
            self.copied.store(0, Ordering::Release);
        }
        let left = pages - self.copied.load(Ordering::Acquire);
        if pages >= CHECKPOINT_PAGES && left > 0 && (left <= CATCH_UP_PAGES || pages > LOG_LIMIT_PAGES) {
            // A failure leaves it to the next checkpoint.
            let _ = self.passive_checkpoint(conn);
        }
    }

    /// Starts a passive checkpoint on the blocking pool when the commit that left the
    /// write-ahead log at `pages` pages took it past [`CHECKPOINT_PAGES`] and none is running.
    /// Called when a write transaction has ended.
    fn checkpoint_if_due(self: &Arc<Self>, pages: i32) {
        if pages < CHECKPOINT_PAGES || self.checkpointing.swap(true, Ordering::AcqRel) {
            return;
        }
        let db = self.clone();
        tokio::task::spawn_blocking(move || {
            if let Err(e) = db.checkpoint() {
                eprintln!("canbao-host: checkpoint failed (the log is copied back at the next one): {e:#}");
            }
            db.checkpointing.store(false, Ordering::Release);
        });
    }

    /// Copies the write-ahead log into the database file while writers go on; what they append
    /// meanwhile is left to [`Database::catch_up`].
    fn checkpoint(&self) -> Result<()> {
        let conn = self.connect()?;
        self.passive_checkpoint(&conn)?;
        self.release(conn);
        Ok(())
    }

    /// One passive checkpoint (it waits for no reader: what a reader still needs is copied by a
    /// later one); notes how far it got in [`Database::copied`].
    fn passive_checkpoint(&self, conn: &Connection) -> rusqlite::Result<()> {
        let copied = conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get::<_, i32>(2))?;
        // -1 when it could not start (another checkpoint holds the log).
        if copied >= 0 {
            self.copied.store(copied, Ordering::Release);
        }
        Ok(())
    }
}

thread_local! {
    /// Pages in the write-ahead log after the last commit made on this thread (0: none since
    /// last looked at).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

/// The WAL hook of every connection: SQLite calls it after each commit with the log's size.
fn note_wal_pages(_wal: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
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
    // Checkpoints run off the writer's turn (`Database::checkpoint_if_due`), not in its COMMIT.
    conn.wal_hook(Some(note_wal_pages));
    conn.set_prepared_statement_cache_capacity(STATEMENT_CACHE);
    let _ = conn.pragma_update(None, "mmap_size", MMAP_BYTES);
    Ok(conn)
}

/// An open `connection` resource.
pub struct ConnectionHandle {
    conn: Option<Arc<Mutex<Connection>>>,
    database: Arc<Database>,
    /// The database's writer turn, while this connection's write transaction is open.
    writing: Option<tokio::sync::OwnedMutexGuard<()>>,
}

/// Whether a statement opens a write transaction (`BEGIN IMMEDIATE` / `BEGIN EXCLUSIVE`).
fn begins_writing(statement: &str) -> bool {
    let mut words = statement.split_ascii_whitespace().map(|w| w.trim_end_matches(';'));
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("BEGIN"))
        && words.next().is_some_and(|w| w.eq_ignore_ascii_case("IMMEDIATE") || w.eq_ignore_ascii_case("EXCLUSIVE"))
}

/// Whether `statement` is a write outside a transaction (an `INSERT` in autocommit mode): it
/// queues for the writer turn like a transaction does, instead of meeting SQLite's busy handler,
/// which would sleep on the worker thread for as long as another write holds the database.
fn writes_alone(conn: &Mutex<Connection>, statement: &str) -> bool {
    let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
    // A statement that does not prepare fails in `execute` with SQLite's message.
    conn.is_autocommit() && conn.prepare_cached(statement).is_ok_and(|s| !s.readonly())
}

impl ConnectionHandle {
    /// Hands the connection back to its database (rolling back what the guest left open).
    fn release(conn: Arc<Mutex<Connection>>, database: &Database) {
        if let Ok(conn) = Arc::try_unwrap(conn) {
            database.release(conn.into_inner().unwrap_or_else(|p| p.into_inner()));
        }
    }
}

impl Drop for ConnectionHandle {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            Self::release(conn, &self.database);
        }
        // The turn is given up only after the connection has rolled back what was left open.
        self.writing = None;
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
    drop(rows);
    drop(stmt);
    if sets_autocheckpoint(statement) {
        conn.wal_hook(Some(note_wal_pages));
    }
    Ok(QueryResult { columns, rows: out })
}

/// Whether `statement` is `PRAGMA wal_autocheckpoint`: setting it replaces the connection's WAL
/// hook with SQLite's checkpoint inside `COMMIT` (intake asks for one every 64 MiB, which under
/// `spin up` spares its large commits a checkpoint each). Here the host's hook is put back at
/// once: its checkpoints run beside the writers, and one inside an intake chunk's commit held
/// the writer turn 60–120 ms while submits waited.
fn sets_autocheckpoint(statement: &str) -> bool {
    let mut words = statement.split(|c: char| c.is_ascii_whitespace() || "=(;".contains(c)).filter(|w| !w.is_empty());
    words.next().is_some_and(|w| w.eq_ignore_ascii_case("PRAGMA"))
        && words.next().is_some_and(|w| w.rsplit('.').next().is_some_and(|w| w.eq_ignore_ascii_case("wal_autocheckpoint")))
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
        let database = db.clone();
        // Taking an idle connection (or opening the file) and running a statement take
        // microseconds: they run in place, not on the blocking pool, which would cost two thread
        // switches per call (measured as most of a lookup's host CPU).
        let opened = db.connect();
        match opened {
            Ok(conn) => Ok(Ok(self.table.push(ConnectionHandle {
                conn: Some(Arc::new(Mutex::new(conn))),
                database,
                writing: None,
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
        let handle = self.table.get(&connection)?;
        let Some(conn) = handle.conn.clone() else {
            return Ok(Err(Error::InvalidConnection));
        };
        if handle.writing.is_none() && (begins_writing(&statement) || writes_alone(&conn, &statement)) {
            // Bounded like the busy timeout: a guest that opens a second write transaction while
            // holding the first gets SQLite's "database is locked", not a hang.
            let writer = handle.database.writer.clone();
            let turn = tokio::time::timeout(BUSY_TIMEOUT, writer.lock_owned()).await.ok();
            self.table.get_mut(&connection)?.writing = turn;
        }
        let (result, ended) = {
            let conn = conn.lock().unwrap_or_else(|p| p.into_inner());
            let result = execute(&conn, &statement, parameters);
            (result, conn.is_autocommit())
        };
        // COMMIT, ROLLBACK, or a failure that ended the transaction: the next writer's turn,
        // once the log is caught up if this commit finds little left of it.
        if ended {
            let pages = WAL_PAGES.with(|p| p.take());
            let handle = self.table.get_mut(&connection)?;
            if handle.writing.is_some() {
                handle.database.catch_up(&conn.lock().unwrap_or_else(|p| p.into_inner()), pages);
            }
            handle.writing = None;
            handle.database.checkpoint_if_due(pages);
        }
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
    fn write_transactions_are_recognised() {
        for s in ["BEGIN IMMEDIATE", "begin immediate;", "  BEGIN  EXCLUSIVE TRANSACTION", "BEGIN IMMEDIATE TRANSACTION;"] {
            assert!(begins_writing(s), "{s}");
        }
        for s in ["BEGIN", "BEGIN DEFERRED", "COMMIT", "SELECT 'BEGIN IMMEDIATE'", "BEGINIMMEDIATE", ""] {
            assert!(!begins_writing(s), "{s}");
        }
    }

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

        // A pooled connection given back mid-transaction comes out clean: rolled back, in
        // autocommit, and it is the same connection (reused, not reopened).
        execute(&c, "BEGIN", vec![]).unwrap();
        execute(&c, "INSERT INTO t (i) VALUES (3)", vec![]).unwrap();
        execute(&c, "CREATE TEMP TABLE marker (x)", vec![]).unwrap();
        db.release(c);
        let c = db.connect().unwrap();
        assert!(c.is_autocommit());
        let r = execute(&c, "SELECT count(*) FROM t", vec![]).unwrap();
        assert!(matches!(r.rows[0].values[0], Value::Integer(1)));
        // The temp table was created inside the rolled-back transaction, so it is gone too.
        assert!(execute(&c, "SELECT * FROM marker", vec![]).is_err());
        execute(&c, "CREATE TEMP TABLE marker (x)", vec![]).unwrap();
        execute(&c, "PRAGMA cache_size = -65536", vec![]).unwrap();
        db.release(c);
        let c = db.connect().unwrap();
        assert!(execute(&c, "SELECT * FROM marker", vec![]).is_ok(), "the idle connection is reused");
        let r = execute(&c, "PRAGMA cache_size", vec![]).unwrap();
        assert!(matches!(r.rows[0].values[0], Value::Integer(-2000)), "a guest's page cache size is reset");
    }

    /// A database file `db.sqlite` in `dir` in WAL mode with a table `t (b BLOB)`, and a
    /// connection to it.
    fn logged_table(dir: &std::path::Path) -> (Database, Connection) {
        let db = Database::file(dir.join("db.sqlite")).unwrap();
        let c = db.connect().unwrap();
        c.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (b BLOB)").unwrap();
        (db, c)
    }

    /// Past its limit, a commit catches the log up however much is left, and the writer after it
    /// starts the log again.
    #[test]
    fn a_log_past_its_limit_is_caught_up_by_the_commit_that_took_it_there() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = logged_table(dir.path());
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..LOG_LIMIT_PAGES + 100 {
            c.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        db.catch_up(&c, WAL_PAGES.with(|p| p.take()));
        c.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
        let next = WAL_PAGES.with(|p| p.take());
        assert!(next < 10, "the log went on to {next} pages");
    }

    #[test]
    fn a_guests_autocheckpoint_leaves_checkpoints_to_the_host() {
        for s in ["PRAGMA wal_autocheckpoint = 16384", "pragma main.wal_autocheckpoint(100);", "PRAGMA wal_autocheckpoint"] {
            assert!(sets_autocheckpoint(s), "{s}");
        }
        for s in ["PRAGMA wal_checkpoint(PASSIVE)", "PRAGMA cache_size = -65536", "SELECT 'PRAGMA wal_autocheckpoint'"] {
            assert!(!sets_autocheckpoint(s), "{s}");
        }
        let dir = tempfile::tempdir().unwrap();
        let (_db, c) = logged_table(dir.path());
        execute(&c, "PRAGMA wal_autocheckpoint = 16384", vec![]).unwrap();
        WAL_PAGES.with(|p| p.take());
        execute(&c, "INSERT INTO t VALUES (zeroblob(4000))", vec![]).unwrap();
        assert!(WAL_PAGES.with(|p| p.take()) > 0, "the host's hook did not see the commit");
    }

    #[tokio::test]
    async fn a_large_commit_is_checkpointed_after_the_commit_not_inside_it() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = logged_table(dir.path());
        let db = Arc::new(db);
        let path = dir.path().join("db.sqlite");
        c.execute_batch("BEGIN IMMEDIATE").unwrap();
        for _ in 0..1500 {
            execute(&c, "INSERT INTO t VALUES (zeroblob(4000))", vec![]).unwrap();
        }
        c.execute_batch("COMMIT").unwrap();
        db.release(c);
        let file_len = || std::fs::metadata(&path).unwrap().len();
        // The commit left its pages in the log: SQLite's own checkpoint did not run in it.
        assert!(file_len() < 1 << 20, "database file already {} bytes", file_len());

        db.checkpoint_if_due(WAL_PAGES.with(|p| p.take()));
        while db.checkpointing.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        assert!(file_len() > 1500 * 4000, "database file only {} bytes after the checkpoint", file_len());
        // Nothing more is due until the log grows again.
        db.checkpoint_if_due(WAL_PAGES.with(|p| p.take()));
        assert!(!db.checkpointing.load(Ordering::Acquire));
    }

    /// A checkpoint beside the writers ends behind the log when they commit meanwhile. The next
    /// commit that finds only a little left copies it in its writer turn, so the writer after it
    /// starts the log again; one that finds much left leaves it to the next checkpoint.
    #[test]
    fn a_small_commit_catches_the_log_up_and_a_large_one_leaves_it_to_the_checkpoint() {
        let dir = tempfile::tempdir().unwrap();
        let (db, c) = logged_table(dir.path());
        // A write transaction of `pages` pages, `meanwhile` run before its commit, then what a
        // commit does in the host; returns the log's size after the commit.
        let commit = |pages: usize, meanwhile: &dyn Fn()| {
            c.execute_batch("BEGIN IMMEDIATE").unwrap();
            for _ in 0..pages {
                c.execute("INSERT INTO t VALUES (zeroblob(4000))", []).unwrap();
            }
            meanwhile();
            c.execute_batch("COMMIT").unwrap();
            let log = WAL_PAGES.with(|p| p.take());
            db.catch_up(&c, log);
            log
        };
        let chunk = commit(1500, &|| {});
        // A checkpoint copies that while the next writer (a submit) is in its transaction.
        let submit = commit(1, &|| db.checkpoint().unwrap());
        assert!(submit > chunk && submit - chunk < CATCH_UP_PAGES, "{chunk} then {submit}");
        // The submit's commit caught the log up: the next writer started it again.
        let next = commit(1, &|| {});
        assert!(next < 10, "the log went on to {next} pages");

        // A large commit after the checkpoint is not copied in its turn.
        let chunk = commit(1500, &|| {});
        let next = commit(1, &|| {});
        assert!(next > chunk, "{chunk} then {next}");
    }

}
