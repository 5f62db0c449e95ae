//! Processing queued batches in time-bounded, resumable chunks, so that the work fits a
//! serverless request budget (the cron tick and `POST /api/v1/intake/run` both call [`run`]).
//!
//! Exactly-once: each chunk is one `BEGIN IMMEDIATE` transaction holding the rows' effects, their
//! error-report lines, the batch counts and the cursor (byte offset and line number in the stored
//! UTF-8 form), so a kill at any moment leaves either the whole chunk or none of it. A lease
//! (owner + expiry in the batch row, taken by one conditional UPDATE) keeps two invocations off
//! the same batch, and every chunk re-checks it before committing.

use super::clean::{Cleaner, Record, RowError, UnitRow};
use super::layouts::ColumnMap;
use super::{csv_reader, is_blank, ReportDetail, PART_BYTES};
use crate::codes::{Gender, Source};
use crate::duplicates::{DuplicateIndex, PersonKey};
use crate::ids::CitizenId;
use crate::person::normalise_text;
use std::collections::BTreeSet;
use crate::merge::merge_by_precedence;
use crate::person::{Origin, Provenance};
use crate::regions::RegionTree;
use crate::storage::{Sql, SqlExt, SqlValue, StorageError};
use chrono::{DateTime, Duration as ChronoDuration, NaiveDate, Utc};
use serde::Serialize;
use std::io::Read;
use std::time::{Duration, Instant};

/// Rows per transaction at most (a chunk also ends at the deadline).
const CHUNK_ROWS: u64 = 5_000;

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

/// Processes queued batches in arrival order until `budget` is spent or nothing is left.
/// `owner` names this invocation in the lease; `now` is the wall clock at the start.
pub fn run(db: &dyn Sql, now: DateTime<Utc>, budget: Duration, owner: &str) -> Result<RunReport, ProcessError> {
    let started = Instant::now();
    // Stop taking new chunks a little before the budget so the last commit fits inside it.
    let deadline = started + budget.mul_f64(0.9);
    let lease_for = ChronoDuration::from_std(budget * 2).unwrap_or_default() + ChronoDuration::seconds(5);
    let regions = crate::region_store::load_tree(db)?;
    let mut report = RunReport::default();
    while Instant::now() < deadline {
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
        let mut rows = 0;
        let status = loop {
            let clock = now + ChronoDuration::from_std(started.elapsed()).unwrap_or_default();
            let step = db.transaction(|tx| process_chunk(tx, &batch, &regions, deadline, clock, clock + lease_for));
            match step {
                Ok(Step { rows: n, finished }) => {
                    rows += n;
                    if let Some(status) = finished {
                        break status;
                    }
                    if Instant::now() >= deadline {
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
    report.more = db.execute(QUEUED_LEFT, &[])?.scalar::<i64>()?.unwrap_or(0) > 0;
    report.elapsed_ms = started.elapsed().as_millis() as u64;
    Ok(report)
}

/// A batch this invocation holds the lease on.
struct Leased<'a> {
    id: String,
    source: Source,
    arrived_at: DateTime<Utc>,
    owner: &'a str,
    today: NaiveDate,
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
const DROP_KEYS: &str = "DELETE FROM batch_keys WHERE batch_id = ?";
const INSERT_KEY: &str = "INSERT OR IGNORE INTO batch_keys (batch_id, key) VALUES (?, ?) RETURNING 1";
const INSERT_ERROR: &str =
    "INSERT INTO batch_row_errors (batch_id, line, column_name, reason, message) VALUES (?, ?, ?, ?, ?)";

fn process_chunk(
    tx: &dyn Sql,
    batch: &Leased,
    regions: &RegionTree,
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

    let header = read_header(tx, &batch.id)?;
    let Some((header, header_end)) = header else {
        return finish(tx, batch, "failed", Some("文件没有表头"), clock);
    };
    let map = ColumnMap::resolve(batch.source, &header).map_err(|m| StorageError::Sql(m.to_string()))?;
    let cleaner = Cleaner { source: batch.source, map: &map, regions, today: batch.today };
    let start = cursor.unwrap_or(header_end);
    let mut reader = csv_reader(PartsReader::new(tx, &batch.id, start.offset));
    let mut record = csv::StringRecord::new();
    let mut end = start;
    let mut eof = false;
    let origin = Origin::Batch(batch.id.clone());
    let mut touched = BTreeSet::new();
    while counts.rows < CHUNK_ROWS && Instant::now() < deadline {
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
        match cleaner.clean(&record, provenance) {
            Err(e) => reject(tx, &batch.id, line, &e, &mut counts)?,
            Ok(row) => {
                counts.accepted += 1;
                for c in &row.corrections {
                    count_correction(&mut counts, c.kind.as_str());
                }
                if !first_time(tx, &batch.id, &format!("r:{}", row.key))? {
                    counts.duplicates += 1;
                }
                match row.record {
                    Record::Person(observation) => {
                        let id = observation.id;
                        let current = crate::store::load_person(tx, &id)?;
                        let outcome = merge_by_precedence(current.as_ref(), &observation);
                        for c in &outcome.corrections {
                            count_correction(&mut counts, c.kind.as_str());
                        }
                        counts.conflicts += outcome.conflicts_opened.len() as i64;
                        let first = first_time(tx, &batch.id, &format!("p:{}", id.as_str()))?;
                        if outcome.is_new {
                            counts.new_persons += 1;
                        } else if first {
                            counts.updated_persons += 1;
                        }
                        if let Some(name) = &outcome.person.name {
                            touched.insert(normalise_text(name));
                        }
                        crate::store::save_outcome(tx, &outcome, clock)?;
                    }
                    Record::Unit(unit) => {
                        let (key, is_new) = merge_unit(tx, batch, &unit, at, clock)?;
                        let first = first_time(tx, &batch.id, &format!("u:{key}"))?;
                        if is_new {
                            counts.detail.new_units += 1;
                        } else if first {
                            counts.detail.updated_units += 1;
                        }
                    }
                }
            }
        }
    }
    refresh_duplicate_candidates(tx, &touched, clock)?;
    if eof {
        end = Cursor { offset: start.offset + reader.position().byte(), line: start.line + reader.position().line() - 1 };
    }
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

const SELECT_NAMESAKES: &str = "SELECT id_number, birth_date, gender, substr(region_hukou, 1, 6) FROM persons
    WHERE name_key = ?";

/// Refreshes the 一人多号 candidate pairs (DOMAIN §6) among everyone sharing a name with the
/// persons this chunk touched: both rules need the same normalised name, so that is all the
/// search has to look at.
fn refresh_duplicate_candidates(tx: &dyn Sql, name_keys: &BTreeSet<String>, clock: DateTime<Utc>) -> Result<(), StorageError> {
    let corrupt = |what: &str| StorageError::Sql(format!("persons: unreadable {what}"));
    for name_key in name_keys {
        let rows = tx.execute(SELECT_NAMESAKES, &[name_key.as_str().into()])?;
        if rows.len() < 2 {
            continue;
        }
        let mut keys = Vec::with_capacity(rows.len());
        for r in rows.iter() {
            let id = CitizenId::parse(&r.get::<String>(0)?).map_err(|_| corrupt("id_number"))?.value;
            let birth = r.get::<Option<String>>(1)?.map(|d| d.parse::<NaiveDate>()).transpose().map_err(|_| corrupt("birth_date"))?;
            let gender = r.get::<Option<String>>(2)?.map(|g| Gender::parse(&g)).transpose().map_err(|_| corrupt("gender"))?;
            keys.push(PersonKey::new(id, name_key, birth, gender, &r.get::<Option<String>>(3)?.unwrap_or_default()));
        }
        let pairs = DuplicateIndex::build(keys.iter().cloned()).candidates_for(&keys);
        crate::store::save_duplicate_candidates(tx, &pairs, clock)?;
    }
    Ok(())
}

fn finish(tx: &dyn Sql, batch: &Leased, status: &str, error: Option<&str>, clock: DateTime<Utc>) -> Result<Step, ProcessError> {
    tx.exec(FINISH, &[status.into(), error.into(), ts(clock).into(), batch.id.as_str().into()])?;
    tx.exec(DROP_KEYS, &[batch.id.as_str().into()])?;
    Ok(Step { rows: 0, finished: Some(status.to_string()) })
}

fn reject(tx: &dyn Sql, batch_id: &str, line: u64, e: &RowError, counts: &mut Counts) -> Result<(), StorageError> {
    counts.rejected += 1;
    *counts.detail.rejected_by_reason.entry(e.reason.as_str().to_string()).or_default() += 1;
    let column = e.column.map(|c| c.name_zh());
    tx.exec(INSERT_ERROR, &[batch_id.into(), (line as i64).into(), column.into(), e.reason.as_str().into(), e.message.as_str().into()])
}

fn count_correction(counts: &mut Counts, kind: &str) {
    counts.corrections += 1;
    *counts.detail.corrections_by_kind.entry(kind.to_string()).or_default() += 1;
}

/// Records `key` as seen in the batch; true the first time.
fn first_time(tx: &dyn Sql, batch_id: &str, key: &str) -> Result<bool, StorageError> {
    Ok(!tx.execute(INSERT_KEY, &[batch_id.into(), key.into()])?.is_empty())
}

/// The header row and the cursor just after it.
fn read_header(tx: &dyn Sql, batch_id: &str) -> Result<Option<(Vec<String>, Cursor)>, StorageError> {
    let mut reader = csv_reader(PartsReader::new(tx, batch_id, 0));
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

/// The stored UTF-8 form of a batch as one byte stream from an offset, fetching one part at a
/// time (memory stays at one part however large the file).
struct PartsReader<'a> {
    db: &'a dyn Sql,
    batch_id: &'a str,
    pos: u64,
    part: Vec<u8>,
    part_start: u64,
}

impl<'a> PartsReader<'a> {
    fn new(db: &'a dyn Sql, batch_id: &'a str, pos: u64) -> Self {
        PartsReader { db, batch_id, pos, part: Vec::new(), part_start: u64::MAX }
    }
}

impl Read for PartsReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let part_bytes = PART_BYTES as u64;
        let no = self.pos / part_bytes;
        if self.part_start != no * part_bytes {
            let data = self
                .db
                .query_one(SELECT_PART, &[self.batch_id.into(), (no as i64).into()])
                .map_err(std::io::Error::other)?
                .map(|r| r.get::<Vec<u8>>(0))
                .transpose()
                .map_err(std::io::Error::other)?;
            let Some(data) = data else { return Ok(0) };
            self.part = data;
            self.part_start = no * part_bytes;
        }
        let from = (self.pos - self.part_start) as usize;
        let n = buf.len().min(self.part.len().saturating_sub(from));
        buf[..n].copy_from_slice(&self.part[from..from + n]);
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
