//! Processing queued batches in time-bounded, resumable chunks, so that the work fits a
//! serverless request budget (the cron tick and `POST /api/v1/intake/run` both call [`run`]).
//!
//! Exactly-once: each chunk is one `BEGIN IMMEDIATE` transaction holding the rows' effects, their
//! error-report lines, the batch counts and the cursor (byte offset and line number in the stored
//! UTF-8 form), so a kill at any moment leaves either the whole chunk or none of it. A lease
//! (owner + expiry in the batch row, taken by one conditional UPDATE) keeps two invocations off
//! the same batch, and every chunk re-checks it before committing. Before any of that, an
//! invocation takes the intake lock (a `meta` row with owner and expiry): while one holds it,
//! another (the cron tick during a `run` call, or two `run` calls) returns at once with `busy`
//! instead of waiting seconds on the other's write lock and overrunning its own time budget.
//!
//! Throughput: every statement is a host call (in Spin a serialised one), so a chunk works
//! set-wise. It reads and cleans its rows first, then records their in-file keys with one
//! statement, loads the persons it names with one query per table, merges in memory in file
//! order, and writes persons, history and enrollments in multi-row statements of bound values,
//! conflicts, error lines and duplicate candidates with one statement each taking the chunk as a
//! JSON parameter. The result does not depend on where chunks end: a kill and resume gives the
//! database of an uninterrupted run. Chunks are sized from the pace of the last one, so that each
//! ends before the deadline, and kept short while other writers (registrations) wait for the
//! lock ([`CONTENDED_CHUNK`]).

use super::clean::{CleanRow, Cleaner, Record, RowError, UnitRow};
use super::layouts::ColumnMap;
use super::{csv_reader, is_blank, ReportDetail, PART_BYTES};
use crate::codes::Source;
use crate::ids::CitizenId;
use crate::merge::merge_by_precedence;
use crate::person::{Origin, Provenance};
use crate::regions::RegionTree;
use crate::storage::{Sql, SqlExt, SqlValue, StorageError};
use crate::store::{JsonRows, PendingWrites};
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::io::Read;
use std::time::{Duration, Instant};

/// Rows per transaction at most (a chunk also ends at the deadline, and is sized to a share of the
/// budget, [`CHUNK_MAX_SHARE`]): the more rows a commit covers, the more of them share each index
/// page it writes (20,000 measured about a quarter more rows/s than 5,000); the chunk's rows and
/// persons are held in memory, tens of MiB at this size.
const CHUNK_ROWS: u64 = 20_000;

/// The first chunk of an invocation, which measures the pace.
const FIRST_CHUNK_ROWS: u64 = 250;

/// How long a chunk holds the write lock after other writers were found waiting for it: a
/// registration submitted during intake waits for the chunk in progress, so while submits arrive
/// chunks are this short (measured natively at 200,000 rows: 1.25 s chunks 12,800 rows/s,
/// 250 ms 10,400, 50 ms 7,700). Each chunk that finds nobody waiting doubles the next one, up to
/// [`CHUNK_MAX_SHARE`] of the budget (alone intake is at full size after seven), but to no more
/// than twice this while the last waiting writer is under [`CALM_AFTER`] ago. An invocation
/// starts where the last one ended. In the 2-minute mixed load at 300,000 people (BENCHMARKS.md
/// "Mixed load, session 6") submits had p99 45 ms with this against 128 ms with chunks of 25 ms
/// doubling whenever one found no one waiting, and intake went as fast.
const CONTENDED_CHUNK: Duration = Duration::from_millis(10);

/// How long after other writers were last found waiting chunks stay short: at tens of submits a
/// second, a chunk that found no one waiting says little about the next, and doubling after each
/// such chunk let them grow to 100–200 ms between two submits.
const CALM_AFTER: Duration = Duration::from_secs(2);

/// A chunk whose `BEGIN IMMEDIATE` waited this long found other writers queued for the lock
/// (alone it takes tens of microseconds; a registration's whole transaction, a few hundred).
const CONTENDED_WAIT: Duration = Duration::from_micros(200);

/// Fewer rows than this are not worth a chunk (its fixed statements) before the deadline.
const MIN_CHUNK_ROWS: u64 = 25;

/// The share of the time left a chunk is sized to take at the measured pace.
const CHUNK_SAFETY: f64 = 0.7;

/// The share of the whole budget one chunk is sized to take at most: a chunk that goes twice as
/// slow as the last (a WAL checkpoint in its commit, a busy disk) then still ends in budget.
const CHUNK_MAX_SHARE: f64 = 0.25;

/// How often (in rows) reading checks the clock (a host call in a component).
const CLOCK_EVERY: u64 = 64;

/// Connection settings for bulk writing, best-effort (a backend may refuse PRAGMAs): a larger
/// page cache (64 MiB instead of 2) keeps the index pages a chunk touches in memory instead of
/// re-reading them from the file, and a larger WAL before checkpoints (64 MiB instead of 4) lets a
/// page written by several chunks reach the database file once. Both are per connection. The
/// project's host keeps checkpoints to itself (it runs them beside the writers, not inside a
/// chunk's commit) and ignores the second.
const BULK_PRAGMAS: &[&str] = &["PRAGMA cache_size = -65536", "PRAGMA wal_autocheckpoint = 16384"];

/// Keys of finished batches dropped per statement when no batch is waiting.
const DROP_KEYS_STEP: i64 = 20_000;

/// What one invocation did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RunReport {
    /// Rows processed, over all batches.
    pub rows: u64,
    /// Batches worked on, with their status afterwards.
    pub batches: Vec<BatchRun>,
    /// Wall time spent, in milliseconds.
    pub elapsed_ms: u64,
    /// Whether queued work is left for the next invocation.
    pub more: bool,
    /// Whether another invocation was doing the intake work, so this one did none.
    pub busy: bool,
}

/// One batch worked on in an invocation.
#[derive(Debug, Clone, Serialize)]
pub struct BatchRun {
    /// The batch id.
    pub batch_id: String,
    /// Rows processed in this invocation.
    pub rows: u64,
    /// Its status afterwards.
    pub status: String,
}

/// Why processing stopped short.
#[derive(Debug, thiserror::Error)]
pub enum ProcessError {
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
    /// Another invocation took the batch over (our lease expired); our chunk was rolled back.
    #[error("lease on batch {0} lost")]
    LeaseLost(String),
}

use crate::store::timestamp as ts;

const TAKE_LEASE: &str = "UPDATE batches SET lease_owner = ?1, lease_expires_at = ?2, status = 'processing',
        started_at = COALESCE(started_at, ?3), updated_at = ?3
    WHERE id = (SELECT id FROM batches WHERE status IN ('queued', 'processing')
                AND (lease_owner IS NULL OR lease_expires_at < ?3) ORDER BY arrived_at, id LIMIT 1)
    RETURNING id, source, arrived_at";
const RELEASE_LEASE: &str =
    "UPDATE batches SET lease_owner = NULL, lease_expires_at = NULL WHERE id = ? AND lease_owner = ?";
const QUEUED_LEFT: &str = "SELECT COUNT(*) FROM batches WHERE status IN ('queued', 'processing')";
/// The intake lock: one invocation at a time does intake work (the cron tick and a `run` call
/// would otherwise queue on each other's write lock for seconds). Taken when free or expired
/// (`?3` is now); it expires by itself when its holder died.
const TAKE_INTAKE_LOCK: &str = "INSERT INTO meta (key, value) VALUES ('intake_lock', json_object('owner', ?1, 'until', ?2))
    ON CONFLICT (key) DO UPDATE SET value = excluded.value WHERE meta.value ->> 'until' < ?3 RETURNING 1";
const RELEASE_INTAKE_LOCK: &str = "DELETE FROM meta WHERE key = 'intake_lock' AND value ->> 'owner' = ?1";
/// The chunk length the last invocation ended at (milliseconds), where the next one starts.
const SELECT_HOLD: &str = "SELECT value ->> 'hold_ms' FROM meta WHERE key = 'intake_pace'";
const SAVE_HOLD: &str = "INSERT INTO meta (key, value) VALUES ('intake_pace', json_object('hold_ms', ?1))
    ON CONFLICT (key) DO UPDATE SET value = excluded.value";
/// A slice of the in-file keys of finished batches (they are only needed while a batch runs).
const DROP_FINISHED_KEYS: &str = "DELETE FROM batch_keys WHERE (batch_id, key) IN (
    SELECT k.batch_id, k.key FROM batches b JOIN batch_keys k ON k.batch_id = b.id
    WHERE b.status IN ('done', 'failed') LIMIT ?1)";
const FINISHED_KEYS_LEFT: &str = "SELECT EXISTS (SELECT 1 FROM batches b JOIN batch_keys k ON k.batch_id = b.id
    WHERE b.status IN ('done', 'failed'))";

/// Processes queued batches in arrival order until `budget` is spent or nothing is left.
/// `owner` names this invocation in the lease; `now` is the wall clock at the start.
pub fn run(db: &dyn Sql, now: DateTime<Utc>, budget: Duration, owner: &str) -> Result<RunReport, ProcessError> {
    let started = Instant::now();
    let lease_for = ChronoDuration::from_std(budget * 2).unwrap_or_default() + ChronoDuration::seconds(5);
    let mut report = RunReport::default();
    let lock = [owner.into(), ts(now + lease_for).into(), ts(now).into()];
    if db.execute(TAKE_INTAKE_LOCK, &lock)?.is_empty() {
        report.busy = true;
        report.more = db.execute(QUEUED_LEFT, &[])?.scalar::<i64>()?.unwrap_or(0) > 0;
        report.elapsed_ms = started.elapsed().as_millis() as u64;
        return Ok(report);
    }
    let worked = work(db, now, started, budget, lease_for, owner, &mut report);
    let released = db.exec(RELEASE_INTAKE_LOCK, &[owner.into()]);
    worked?;
    released?;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// The work of an invocation holding the intake lock.
fn work(
    db: &dyn Sql,
    now: DateTime<Utc>,
    started: Instant,
    budget: Duration,
    lease_for: ChronoDuration,
    owner: &str,
    report: &mut RunReport,
) -> Result<(), ProcessError> {
    // Stop taking new chunks a little before the budget so the last commit fits inside it.
    let deadline = started + budget.mul_f64(0.9);
    let regions = crate::region_store::load_tree(db)?;
    for pragma in BULK_PRAGMAS {
        let _ = db.execute(pragma, &[]);
    }
    // Where the last invocation's chunks had got to: invocations follow each other (a `run`
    // loop, the cron tick), and each starting short would cost a sixth of the throughput alone.
    let saved = db.execute(SELECT_HOLD, &[])?.scalar::<i64>()?.map(|ms| Duration::from_millis(ms.max(0) as u64));
    // An invocation after one that ended among other writers starts as if it had just met them.
    let contended_at = saved.is_some_and(|h| h <= CONTENDED_CHUNK * 2).then(Instant::now);
    let mut pace = Pace { budget, deadline, per_row: None, hold: CONTENDED_CHUNK, contended_at };
    pace.hold = saved.unwrap_or(CONTENDED_CHUNK).clamp(CONTENDED_CHUNK, pace.longest().max(CONTENDED_CHUNK));
    let mut longest = Duration::ZERO;
    let fits = |longest: Duration| Instant::now() + longest < deadline;
    while fits(longest) && pace.next_rows(Instant::now()) >= MIN_CHUNK_ROWS {
        let clock = now + ChronoDuration::from_std(started.elapsed()).unwrap_or_default();
        let Some(taken) = db.query_one(TAKE_LEASE, &[owner.into(), ts(clock + lease_for).into(), ts(clock).into()])? else {
            break;
        };
        let batch = Leased {
            id: taken.get(0)?,
            source: Source::parse(&taken.get::<String>(1)?).map_err(|e| StorageError::Sql(e.message))?,
            arrived_at: DateTime::parse_from_rfc3339(&taken.get::<String>(2)?)
                .map_err(|e| StorageError::Sql(e.to_string()))?
                .with_timezone(&Utc),
            owner,
            today: crate::ids::china_today(),
        };
        let mut input = Input::new(&batch.id);
        let mut rows = 0;
        let status = loop {
            let clock = now + ChronoDuration::from_std(started.elapsed()).unwrap_or_default();
            let chunk_started = Instant::now();
            let limit = pace.next_rows(chunk_started);
            let mut waited = Duration::ZERO;
            let step = db.transaction(|tx| {
                waited = chunk_started.elapsed();
                process_chunk(tx, &batch, &mut input, &regions, limit, deadline, clock, clock + lease_for)
            });
            let took = chunk_started.elapsed().saturating_sub(waited);
            match step {
                Ok(Step { rows: n, finished }) => {
                    rows += n;
                    if let Some(status) = finished {
                        break status;
                    }
                    pace.observe(chunk_started, waited, took, n);
                    if n < MIN_CHUNK_ROWS {
                        longest = longest.max(took);
                    }
                    if !fits(longest) || pace.next_rows(Instant::now()) < MIN_CHUNK_ROWS {
                        db.exec(RELEASE_LEASE, &[batch.id.as_str().into(), owner.into()])?;
                        break "processing".to_string();
                    }
                }
                Err(ProcessError::LeaseLost(_)) => break "processing".to_string(),
                Err(e) => {
                    let _ = db.exec(RELEASE_LEASE, &[batch.id.as_str().into(), owner.into()]);
                    return Err(e);
                }
            }
        };
        report.rows += rows;
        report.batches.push(BatchRun { batch_id: batch.id.clone(), rows, status });
    }
    if !report.batches.is_empty() {
        db.exec(SAVE_HOLD, &[(pace.hold.as_millis() as i64).into()])?;
    }
    report.more = db.execute(QUEUED_LEFT, &[])?.scalar::<i64>()?.unwrap_or(0) > 0;
    if !report.more {
        drop_finished_keys(db, &fits)?;
    }
    Ok(())
}

/// How many rows the next chunk of an invocation takes: as many as end before the deadline at
/// the pace the last chunk went (a first, small chunk measures it), and no more than fill its
/// `hold` on the lock ([`CONTENDED_CHUNK`], doubled by each chunk that found no one waiting, see
/// there).
struct Pace {
    budget: Duration,
    deadline: Instant,
    per_row: Option<Duration>,
    hold: Duration,
    /// When a chunk last found other writers waiting.
    contended_at: Option<Instant>,
}

impl Pace {
    /// The longest a chunk is sized to take: [`CHUNK_MAX_SHARE`] of the budget.
    fn longest(&self) -> Duration {
        self.budget.mul_f64(CHUNK_MAX_SHARE)
    }

    fn next_rows(&self, now: Instant) -> u64 {
        let Some(per_row) = self.per_row else { return FIRST_CHUNK_ROWS };
        let per_row = per_row.as_secs_f64().max(1e-7);
        let left = self.deadline.saturating_duration_since(now).as_secs_f64() * CHUNK_SAFETY;
        let fitting = (left.min(self.longest().as_secs_f64()) / per_row) as u64;
        let held = ((self.hold.as_secs_f64() / per_row) as u64).max(MIN_CHUNK_ROWS);
        fitting.min(held).min(CHUNK_ROWS)
    }

    /// A chunk of `rows` rows that began at `began` waited `waited` for the lock and then worked
    /// for `worked`.
    fn observe(&mut self, began: Instant, waited: Duration, worked: Duration, rows: u64) {
        if rows >= MIN_CHUNK_ROWS {
            self.per_row = Some(worked / rows as u32);
        }
        if waited >= CONTENDED_WAIT {
            self.contended_at = Some(began);
            self.hold = CONTENDED_CHUNK;
            return;
        }
        let calm = self.contended_at.is_none_or(|t| began.saturating_duration_since(t) >= CALM_AFTER);
        let most = if calm { self.longest() } else { CONTENDED_CHUNK * 2 };
        self.hold = (self.hold * 2).min(most);
    }
}

/// Drops the in-file keys of finished batches in bounded slices while time is left (a batch of a
/// million rows leaves two million keys: deleting them in its last chunk would not fit a budget).
fn drop_finished_keys(db: &dyn Sql, fits: &dyn Fn(Duration) -> bool) -> Result<(), StorageError> {
    let mut longest = Duration::ZERO;
    while fits(longest) {
        let t = Instant::now();
        db.exec(DROP_FINISHED_KEYS, &[DROP_KEYS_STEP.into()])?;
        longest = longest.max(t.elapsed());
        if db.execute(FINISHED_KEYS_LEFT, &[])?.scalar::<i64>()? != Some(1) {
            break;
        }
    }
    Ok(())
}

/// A batch this invocation holds the lease on.
struct Leased<'a> {
    id: String,
    source: Source,
    arrived_at: DateTime<Utc>,
    owner: &'a str,
    today: NaiveDate,
}

/// What an invocation keeps between the chunks of one batch: the header's column map and the
/// stored part being read (parts never change once stored).
struct Input {
    batch_id: String,
    header: Option<Option<(ColumnMap, Cursor)>>,
    part: Part,
}

impl Input {
    fn new(batch_id: &str) -> Input {
        Input { batch_id: batch_id.to_string(), header: None, part: Part { start: u64::MAX, data: Vec::new() } }
    }
}

struct Step {
    rows: u64,
    /// The final status when the batch ended in this chunk.
    finished: Option<String>,
}

/// Where processing got: the byte offset in the stored UTF-8 form and the line there.
#[derive(Debug, Clone, Copy, Default, Serialize, serde::Deserialize)]
struct Cursor {
    offset: u64,
    line: u64,
}

/// Counts one chunk adds to the batch.
#[derive(Debug, Default)]
struct Counts {
    rows: u64,
    accepted: i64,
    rejected: i64,
    new_persons: i64,
    updated_persons: i64,
    corrections: i64,
    conflicts: i64,
    duplicates: i64,
    detail: ReportDetail,
}

const SELECT_PROGRESS: &str = "SELECT cursor, detail, lease_owner FROM batches WHERE id = ?";
const COMMIT_PROGRESS: &str = "UPDATE batches SET rows_processed = rows_processed + ?, accepted = accepted + ?,
    rejected = rejected + ?, new_persons = new_persons + ?, updated_persons = updated_persons + ?,
    corrections = corrections + ?, conflicts = conflicts + ?, duplicates_in_file = duplicates_in_file + ?,
    detail = ?, cursor = ?, updated_at = ?, lease_expires_at = ?
    WHERE id = ? AND lease_owner = ? RETURNING id";
const FINISH: &str = "UPDATE batches SET status = ?, error = ?, finished_at = ?, lease_owner = NULL,
    lease_expires_at = NULL WHERE id = ?";
const INSERT_KEY: &str = "INSERT OR IGNORE INTO batch_keys (batch_id, key) VALUES (?, ?) RETURNING 1";
/// Records a JSON array of keys as seen in the batch; returns the ones not seen before.
const INSERT_KEYS: &str =
    "INSERT OR IGNORE INTO batch_keys (batch_id, key) SELECT ?1, value FROM json_each(?2) RETURNING key";
/// Error-report lines `[line, column, reason, message]` of one batch.
const INSERT_ERRORS: &str = "INSERT INTO batch_row_errors (batch_id, line, column_name, reason, message)
    SELECT ?1, value ->> 0, value ->> 1, value ->> 2, value ->> 3 FROM json_each(?2)";

/// One non-blank row read in a chunk.
enum Item {
    Rejected { line: u64, error: RowError },
    /// An accepted row and its time (arrival plus line).
    Accepted(CleanRow, DateTime<Utc>),
}

/// The in-file key of a person (`p:`), only needed where a row's record key is not the ID alone
/// (hrss/health add the scheme, civil_affairs the category): elsewhere the record key says it.
fn person_key(row: &CleanRow, id: &CitizenId) -> Option<String> {
    (row.key != id.as_str()).then(|| format!("p:{}", id.as_str()))
}

#[allow(clippy::too_many_arguments)]
fn process_chunk(
    tx: &dyn Sql,
    batch: &Leased,
    input: &mut Input,
    regions: &RegionTree,
    max_rows: u64,
    deadline: Instant,
    clock: DateTime<Utc>,
    lease_until: DateTime<Utc>,
) -> Result<Step, ProcessError> {
    let progress = tx.query_one(SELECT_PROGRESS, &[batch.id.as_str().into()])?.ok_or_else(|| ProcessError::LeaseLost(batch.id.clone()))?;
    if progress.get::<Option<String>>(2)?.as_deref() != Some(batch.owner) {
        return Err(ProcessError::LeaseLost(batch.id.clone()));
    }
    let json = |e: serde_json::Error| StorageError::Json(e.to_string());
    let cursor: Option<Cursor> = progress.get::<Option<String>>(0)?.map(|c| serde_json::from_str(&c)).transpose().map_err(json)?;
    let mut counts = Counts { detail: serde_json::from_str(&progress.get::<String>(1)?).map_err(json)?, ..Counts::default() };

    if input.header.is_none() {
        input.header = Some(match read_header(tx, &input.batch_id, &mut input.part)? {
            None => None,
            Some((header, end)) => {
                Some((ColumnMap::resolve(batch.source, &header).map_err(|m| StorageError::Sql(m.to_string()))?, end))
            }
        });
    }
    let Some(Some((map, header_end))) = &input.header else {
        return finish(tx, batch, "failed", Some("文件没有表头"), clock);
    };
    let cleaner = Cleaner { source: batch.source, map, regions, today: batch.today };
    let start = cursor.unwrap_or(*header_end);
    let mut reader = csv_reader(PartsReader { db: tx, batch_id: &input.batch_id, pos: start.offset, part: &mut input.part });
    let mut record = csv::StringRecord::new();
    let mut end = start;
    let mut eof = false;
    let origin = Origin::Batch(batch.id.clone());

    // Read and clean the chunk's rows.
    let mut items = Vec::with_capacity(max_rows as usize);
    while counts.rows < max_rows && (counts.rows % CLOCK_EVERY != 0 || Instant::now() < deadline) {
        let more = reader.read_record(&mut record).map_err(|e| StorageError::Sql(format!("stored CSV unreadable: {e}")))?;
        if !more {
            eof = true;
            break;
        }
        let line = start.line + record.position().map_or(1, |p| p.line()) - 1;
        end = Cursor { offset: start.offset + reader.position().byte(), line: start.line + reader.position().line() - 1 };
        if is_blank(&record) {
            continue;
        }
        counts.rows += 1;
        // Later rows of a file are later sayings: a row's time is the arrival plus its line in
        // nanoseconds, so that of two rows with one key the later wins (DOMAIN §6).
        let at = batch.arrived_at + ChronoDuration::nanoseconds(line as i64);
        let provenance = Provenance { source: batch.source, origin: origin.clone(), at };
        items.push(match cleaner.clean(&record, provenance) {
            Err(error) => Item::Rejected { line, error },
            Ok(row) => Item::Accepted(row, at),
        });
    }
    if eof {
        end = Cursor { offset: start.offset + reader.position().byte(), line: start.line + reader.position().line() - 1 };
    }
    drop(reader);

    // Record the chunk's in-file keys at once; `unseen` holds the ones new to the batch until
    // their first row here takes them.
    let mut keys = JsonRows::list();
    let mut listed = HashSet::new();
    let mut ids = Vec::new();
    for item in &items {
        let Item::Accepted(row, _) = item else { continue };
        let key = format!("r:{}", row.key);
        if listed.insert(key.clone()) {
            keys.text(Some(&key));
        }
        if let Record::Person(o) = &row.record {
            if let Some(key) = person_key(row, &o.id) {
                if listed.insert(key.clone()) {
                    keys.text(Some(&key));
                }
            }
            ids.push(o.id);
        }
    }
    let mut unseen: HashSet<String> = if keys.is_empty() {
        HashSet::new()
    } else {
        tx.execute(INSERT_KEYS, &[batch.id.as_str().into(), keys.finish().into()])?.column::<String>(0)?.into_iter().collect()
    };
    ids.sort_unstable();
    ids.dedup();

    // Merge in file order against the stored persons, loaded at once.
    let mut persons = crate::store::load_persons(tx, &ids)?;
    let mut writes = PendingWrites::default();
    let mut errors = JsonRows::rows();
    let mut touched = Vec::new();
    let mut touched_seen = HashSet::new();
    for item in items {
        let (row, at) = match item {
            Item::Rejected { line, error } => {
                reject(&mut errors, line, &error, &mut counts);
                continue;
            }
            Item::Accepted(row, at) => (row, at),
        };
        counts.accepted += 1;
        for c in &row.corrections {
            count_correction(&mut counts, c.kind.as_str());
        }
        let first_row = unseen.remove(&format!("r:{}", row.key));
        if !first_row {
            counts.duplicates += 1;
        }
        match row.record {
            Record::Person(ref observation) => {
                let id = observation.id;
                let outcome = merge_by_precedence(persons.get(&id), observation);
                for c in &outcome.corrections {
                    count_correction(&mut counts, c.kind.as_str());
                }
                counts.conflicts += outcome.conflicts_opened.len() as i64;
                let first = match person_key(&row, &id) {
                    Some(key) => unseen.remove(&key),
                    None => first_row,
                };
                if outcome.is_new {
                    counts.new_persons += 1;
                } else if first {
                    counts.updated_persons += 1;
                }
                if outcome.person.name.is_some() && touched_seen.insert(id) {
                    touched.push(id);
                }
                writes.record(&outcome);
                persons.insert(id, outcome.person);
            }
            Record::Unit(ref unit) => {
                let (key, is_new) = merge_unit(tx, batch, unit, at, clock)?;
                let first = !tx.execute(INSERT_KEY, &[batch.id.as_str().into(), format!("u:{key}").into()])?.is_empty();
                if is_new {
                    counts.detail.new_units += 1;
                } else if first {
                    counts.detail.updated_units += 1;
                }
            }
        }
    }
    writes.write(tx, clock, |id| persons.get(id))?;
    if !errors.is_empty() {
        tx.exec(INSERT_ERRORS, &[batch.id.as_str().into(), errors.finish().into()])?;
    }
    // 一人多号 candidates (DOMAIN §6) of everyone this chunk named, once their rows are written.
    let pairs = crate::store::duplicate_candidates_for(tx, &touched)?;
    crate::store::save_duplicate_candidates(tx, &pairs, clock)?;

    let detail = serde_json::to_string(&counts.detail).map_err(json)?;
    let cursor = serde_json::to_string(&end).map_err(json)?;
    let params: Vec<SqlValue> = vec![
        (counts.rows as i64).into(),
        counts.accepted.into(),
        counts.rejected.into(),
        counts.new_persons.into(),
        counts.updated_persons.into(),
        counts.corrections.into(),
        counts.conflicts.into(),
        counts.duplicates.into(),
        detail.into(),
        cursor.into(),
        ts(clock).into(),
        ts(lease_until).into(),
        batch.id.as_str().into(),
        batch.owner.into(),
    ];
    if tx.execute(COMMIT_PROGRESS, &params)?.is_empty() {
        return Err(ProcessError::LeaseLost(batch.id.clone()));
    }
    if counts.accepted > 0 {
        crate::store::bump_data_version(tx)?;
    }
    if eof {
        return finish(tx, batch, "done", None, clock).map(|s| Step { rows: counts.rows, ..s });
    }
    Ok(Step { rows: counts.rows, finished: None })
}

fn finish(tx: &dyn Sql, batch: &Leased, status: &str, error: Option<&str>, clock: DateTime<Utc>) -> Result<Step, ProcessError> {
    tx.exec(FINISH, &[status.into(), error.into(), ts(clock).into(), batch.id.as_str().into()])?;
    Ok(Step { rows: 0, finished: Some(status.to_string()) })
}

fn reject(errors: &mut JsonRows, line: u64, e: &RowError, counts: &mut Counts) {
    counts.rejected += 1;
    *counts.detail.rejected_by_reason.entry(e.reason.as_str().to_string()).or_default() += 1;
    errors.row();
    errors.int(line as i64);
    errors.text(e.column.map(|c| c.name_zh()));
    errors.text(Some(e.reason.as_str()));
    errors.text(Some(&e.message));
}

fn count_correction(counts: &mut Counts, kind: &str) {
    counts.corrections += 1;
    *counts.detail.corrections_by_kind.entry(kind.to_string()).or_default() += 1;
}

/// The header row and the cursor just after it.
fn read_header(tx: &dyn Sql, batch_id: &str, part: &mut Part) -> Result<Option<(Vec<String>, Cursor)>, StorageError> {
    let mut reader = csv_reader(PartsReader { db: tx, batch_id, pos: 0, part });
    let mut record = csv::StringRecord::new();
    while reader.read_record(&mut record).map_err(|e| StorageError::Sql(e.to_string()))? {
        if !is_blank(&record) {
            let header = record.iter().map(|h| h.trim().to_string()).collect();
            let p = reader.position();
            return Ok(Some((header, Cursor { offset: p.byte(), line: p.line() })));
        }
    }
    Ok(None)
}

const SELECT_PART: &str = "SELECT data FROM batch_parts WHERE batch_id = ? AND part_no = ?";

/// The stored part last read: its first byte's offset in the batch and its bytes.
struct Part {
    start: u64,
    data: Vec<u8>,
}

/// The stored UTF-8 form of a batch as one byte stream from an offset, fetching one part at a
/// time into the invocation's [`Part`] (memory stays at one part however large the file, and a
/// part is fetched once per invocation, not once per chunk).
struct PartsReader<'a> {
    db: &'a dyn Sql,
    batch_id: &'a str,
    pos: u64,
    part: &'a mut Part,
}

impl Read for PartsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let part_bytes = PART_BYTES as u64;
        let no = self.pos / part_bytes;
        if self.part.start != no * part_bytes {
            let data = self
                .db
                .query_one(SELECT_PART, &[self.batch_id.into(), (no as i64).into()])
                .map_err(std::io::Error::other)?
                .map(|r| r.get::<Vec<u8>>(0))
                .transpose()
                .map_err(std::io::Error::other)?;
            let Some(data) = data else { return Ok(0) };
            self.part.data = data;
            self.part.start = no * part_bytes;
        }
        let from = (self.pos - self.part.start) as usize;
        let n = buf.len().min(self.part.data.len().saturating_sub(from));
        buf[..n].copy_from_slice(&self.part.data[from..from + n]);
        self.pos += n as u64;
        Ok(n)
    }
}

const FIND_UNIT: &str = "SELECT unit_key, sources FROM units
    WHERE (?1 IS NOT NULL AND credit_code = ?1) OR (?2 IS NOT NULL AND org_code = ?2 AND (credit_code IS NULL OR ?1 IS NULL))
    ORDER BY credit_code IS NULL LIMIT 1";
const INSERT_UNIT: &str = "INSERT INTO units (unit_key, credit_code, org_code, name, status, address, headcount, sources,
    created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const UPDATE_UNIT: &str = "UPDATE units SET credit_code = COALESCE(credit_code, ?), org_code = COALESCE(?, org_code),
    name = ?, status = COALESCE(?, status), address = COALESCE(?, address), headcount = COALESCE(?, headcount),
    sources = ?, updated_at = ? WHERE unit_key = ?";

/// Merges a unit by credit code, else organisation code (a credit code's embedded organisation
/// code links it to a unit known only by that code); the newest saying wins. Returns the unit's
/// key and whether it is new.
fn merge_unit(tx: &dyn Sql, batch: &Leased, u: &UnitRow, at: DateTime<Utc>, clock: DateTime<Utc>) -> Result<(String, bool), StorageError> {
    let credit = u.credit_code.as_ref().map(|c| c.as_str().to_string());
    let org = u.org_code.as_ref().map(|o| o.as_str().to_string());
    let saying = serde_json::json!({"source": batch.source.code(), "origin": format!("batch:{}", batch.id), "observed_at": ts(at)});
    let existing = tx.query_one(FIND_UNIT, &[credit.clone().into(), org.clone().into()])?;
    let headcount: SqlValue = u.headcount.into();
    match existing {
        None => {
            let key = credit.clone().or(org.clone()).unwrap_or_default();
            let sources = serde_json::json!([saying]).to_string();
            tx.exec(
                INSERT_UNIT,
                &[
                    key.as_str().into(),
                    credit.into(),
                    org.into(),
                    u.name.as_str().into(),
                    u.status.clone().into(),
                    u.address.clone().into(),
                    headcount,
                    sources.into(),
                    ts(clock).into(),
                    ts(clock).into(),
                ],
            )?;
            Ok((key, true))
        }
        Some(row) => {
            let key: String = row.get(0)?;
            let mut sources: Vec<serde_json::Value> = serde_json::from_str(&row.get::<String>(1)?).unwrap_or_default();
            sources.retain(|s| s["source"] != saying["source"]);
            sources.push(saying);
            let sources = serde_json::Value::from(sources).to_string();
            tx.exec(
                UPDATE_UNIT,
                &[
                    credit.into(),
                    org.into(),
                    u.name.as_str().into(),
                    u.status.clone().into(),
                    u.address.clone().into(),
                    headcount,
                    sources.into(),
                    ts(clock).into(),
                    key.as_str().into(),
                ],
            )?;
            Ok((key, false))
        }
    }
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::intake::{queue_file, Queued, Upload};
    use crate::storage::native::NativeSql;

    /// A public_security file of `n` persons, queued.
    fn queued_file(db: &NativeSql, n: u16) -> String {
        let mut csv = String::from("公民身份号码,姓名\n");
        for seq in 1..=n {
            let id = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1980, 1, 2).unwrap(), seq);
            csv.push_str(&format!("{},张{seq}\n", id.as_str()));
        }
        let upload = Upload {
            source: Source::PublicSecurity,
            file_name: None,
            sheet: None,
            uploaded_by: "test",
            bytes: csv.as_bytes(),
            limits: Default::default(),
        };
        match queue_file(db, &upload, Utc::now()).unwrap() {
            Queued::New(b) => b.batch_id,
            Queued::Existing(b) => b.batch_id,
        }
    }

    fn lock_holder(db: &NativeSql) -> Option<String> {
        db.query_one("SELECT value ->> 'owner' FROM meta WHERE key = 'intake_lock'", &[]).unwrap().map(|r| r.get(0).unwrap())
    }

    #[test]
    fn an_invocation_finding_the_intake_lock_held_does_nothing_and_says_so() {
        let db = NativeSql::open_in_memory().unwrap();
        let batch = queued_file(&db, 40);
        let now = Utc::now();
        let held = [SqlValue::from("cron-1"), ts(now + ChronoDuration::seconds(15)).into(), ts(now).into()];
        assert!(!db.execute(TAKE_INTAKE_LOCK, &held).unwrap().is_empty());

        let report = run(&db, now, Duration::from_secs(5), "run-1").unwrap();
        assert!(report.busy && report.more);
        assert_eq!((report.rows, report.batches.len()), (0, 0));
        let status = db.query_one("SELECT status FROM batches WHERE id = ?", &[batch.as_str().into()]).unwrap().unwrap();
        assert_eq!(status.get::<String>(0).unwrap(), "queued");
        assert_eq!(lock_holder(&db).as_deref(), Some("cron-1"));

        // A holder that died leaves the lock to expire; the next invocation then does the work
        // and hands the lock back.
        let later = now + ChronoDuration::seconds(16);
        let report = run(&db, later, Duration::from_secs(5), "run-2").unwrap();
        assert!(!report.busy && !report.more);
        assert_eq!(report.rows, 40);
        assert_eq!(lock_holder(&db), None);
    }

    #[test]
    fn chunks_start_short_grow_while_no_one_waits_for_the_lock_and_stay_short_while_others_write() {
        let t0 = Instant::now();
        let budget = Duration::from_secs(5);
        let mut pace = Pace { budget, deadline: t0 + budget.mul_f64(0.9), per_row: None, hold: CONTENDED_CHUNK, contended_at: None };
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        let alone = Duration::from_micros(40);
        let queued = Duration::from_millis(3);
        assert_eq!(pace.next_rows(t0), FIRST_CHUNK_ROWS);

        // 100 µs a row with the lock to itself: 20 ms, 40, 80, … up to a quarter of the budget.
        let mut sizes = Vec::new();
        for _ in 0..8 {
            pace.observe(at(0), alone, Duration::from_millis(25), 250);
            sizes.push(pace.next_rows(at(0)));
        }
        let close = |got: u64, want: u64| got.abs_diff(want) <= want / 100;
        let want = [200, 400, 800, 1_600, 3_200, 6_400, 12_500, 12_500];
        assert!(sizes.iter().zip(want).all(|(g, w)| close(*g, w)), "{sizes:?}");

        // Someone was waiting when a chunk began: back to 10 ms at once, and no more than 20 ms
        // while the last writer found waiting is under two seconds ago.
        pace.observe(at(1_000), queued, Duration::from_millis(25), 250);
        assert_eq!(pace.next_rows(at(1_030)), 100);
        for ms in [1_040, 1_500, 2_990] {
            pace.observe(at(ms), alone, Duration::from_millis(25), 250);
            assert_eq!(pace.next_rows(at(ms)), 200, "{ms} ms");
        }
        // Two seconds without anyone waiting: it grows again.
        pace.observe(at(3_000), alone, Duration::from_millis(25), 250);
        assert_eq!(pace.next_rows(at(3_000)), 400);

        // Near the deadline the time left decides; slow rows still make chunks worth their fixed
        // statements.
        let last = pace.next_rows(at(4_480));
        assert!((139..=140).contains(&last), "{last}");
        pace.observe(at(4_480), queued, Duration::from_millis(100), 50);
        assert_eq!(pace.next_rows(at(100)), MIN_CHUNK_ROWS);
    }

    #[test]
    fn the_intake_lock_is_handed_back_after_each_invocation() {
        let db = NativeSql::open_in_memory().unwrap();
        queued_file(&db, 3);
        for owner in ["a", "b"] {
            let report = run(&db, Utc::now(), Duration::from_secs(5), owner).unwrap();
            assert!(!report.busy);
            assert_eq!(lock_holder(&db), None);
        }
    }
}
