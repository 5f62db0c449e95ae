//! Department file intake (DOMAIN §5–6, ARCHITECTURE "Department file layouts"): a file is
//! decoded once at upload into UTF-8 CSV and kept in `batch_parts`, queued as a batch, then
//! processed in time-bounded, resumable chunks (`process`) whose progress commits with the rows
//! it covers. This module holds the batch records themselves: queueing a file, the batch report
//! and the error report.

pub mod clean;
pub mod decode;
pub mod feeds;
pub mod layouts;
pub mod parts;
pub mod process;
pub mod stream;


use crate::codes::Source;
use crate::storage::{Sql, SqlExt, StorageError};
use chrono::{DateTime, Utc};
use decode::{DecodeError, LimitExceeded, ScanError, TableLimits};
use stream::{BodyChunks, Scanned, SliceChunks};
use layouts::{column_named, ColumnMap};
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;

/// Bytes per `batch_parts` row: well under SQLite's value limit, small enough to page through.
pub const PART_BYTES: usize = 4 << 20;

/// What queueing a file did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Queued {
    /// A new batch, queued (or failed at once for a missing column).
    New(BatchSummary),
    /// The same bytes were uploaded before: their first batch.
    Existing(BatchSummary),
}

/// A batch's id and status, as the upload answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BatchSummary {
    /// The batch id.
    pub batch_id: String,
    /// `queued`, `processing`, `done` or `failed`.
    pub status: String,
    /// Why it failed, when it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The machine-readable reason of a batch failed at upload: `missing_column`,
    /// `too_many_rows`, `too_many_columns` or `field_too_long`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// Why a file cannot be queued at all.
#[derive(Debug, thiserror::Error)]
pub enum QueueError {
    /// The bytes are not a readable table.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

/// A file to queue.
pub struct Upload<'a> {
    /// The delivering source.
    pub source: Source,
    /// `X-File-Name`, as the department named it.
    pub file_name: Option<&'a str>,
    /// `?sheet=` for workbooks.
    pub sheet: Option<&'a str>,
    /// Who uploaded it (the principal's actor name).
    pub uploaded_by: &'a str,
    /// The raw bytes.
    pub bytes: &'a [u8],
    /// The largest table accepted (`intake_max_rows`, `intake_max_columns`, `intake_max_field_bytes`).
    pub limits: TableLimits,
}

const SELECT_BY_SHA: &str = "SELECT id, status, error, json_extract(detail, '$.error_code') FROM batches WHERE sha256 = ?";
const INSERT_BATCH: &str = "INSERT INTO batches (id, source, file_name, sha256, format, size_bytes, uploaded_by, status,
    rows_total, error, arrived_at, updated_at, finished_at, parts_expected, detail) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
/// A batch failed at upload holds no parts, errors or progress: its row is all there is.
const DROP_FAILED_BATCH: &str = "DELETE FROM batches WHERE id = ? AND status = 'failed'";
const INSERT_PART: &str = "INSERT INTO batch_parts (batch_id, part_no, data) VALUES (?, ?, ?)";
const DROP_PARTS: &str = "DELETE FROM batch_parts WHERE batch_id = ?";
const DROP_STAGED: &str = "DELETE FROM batch_parts WHERE batch_id IN (?, ?)";
/// Staged parts of uploads started before a cutoff (`~` sorts after every batch id's first letter).
const SWEEP_STAGED: &str = "DELETE FROM batch_parts WHERE batch_id >= '~' AND batch_id < ?";
/// A part stored under a staging id, moved to its batch's id.
const MOVE_PART: &str = "UPDATE batch_parts SET batch_id = ? WHERE batch_id = ? AND part_no = ?";

/// The hex SHA-256 of a file (a batch's identity: the same bytes are the same batch).
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Queues a file: the same bytes again return their first batch; otherwise the file is decoded,
/// its header checked (a missing required column fails the batch at once, naming the column),
/// its rows counted and checked against the upload's [`TableLimits`] (a file over one fails the
/// batch at once, naming the limit), and its UTF-8 form stored in parts, the batch and its parts
/// committed in one transaction. A failed batch stores no parts: nothing of it is ever applied. The bytes go through the same
/// streaming path as an HTTP upload ([`queue_stream`]).
pub fn queue_file(db: &dyn Sql, upload: &Upload, now: DateTime<Utc>) -> Result<Queued, QueueError> {
    queue_file_as(db, upload, None, now)
}

/// [`queue_file`] for a file assembled from an upload in parts: the batch takes the upload's id
/// and records the number of parts.
///
/// The same bytes as a batch that failed only for a table limit are checked again (the limit
/// may have been raised since): that batch is replaced under its id, queued or failed anew.
pub fn queue_file_as(db: &dyn Sql, upload: &Upload, parts: Option<(&str, u32)>, now: DateTime<Utc>) -> Result<Queued, QueueError> {
    let info = FileInfo { source: upload.source, file_name: upload.file_name, sheet: upload.sheet, uploaded_by: upload.uploaded_by, limits: upload.limits };
    let mut body = SliceChunks::new(upload.bytes, STREAM_CHUNK_BYTES);
    queue_stream_as(db, &info, &mut body, parts, None, now).map_err(|e| match e {
        StreamQueueError::Queue(e) => e,
        StreamQueueError::Body(never) => match never {},
        StreamQueueError::Mismatch { .. } => unreachable!("no SHA-256 was announced"),
    })
}

/// The size of the chunks a file already in memory is fed to [`queue_stream`] in.
const STREAM_CHUNK_BYTES: usize = 64 << 10;

/// A file to queue, without its bytes (they arrive as a [`BodyChunks`] stream).
#[derive(Debug, Clone, Copy)]
pub struct FileInfo<'a> {
    /// The delivering source.
    pub source: Source,
    /// `X-File-Name`, as the department named it.
    pub file_name: Option<&'a str>,
    /// `?sheet=` for workbooks.
    pub sheet: Option<&'a str>,
    /// Who uploaded it (the principal's actor name).
    pub uploaded_by: &'a str,
    /// The largest table accepted.
    pub limits: TableLimits,
}

/// Why a streamed file was not queued.
#[derive(Debug)]
pub enum StreamQueueError<E> {
    /// Not a table, or the database refused.
    Queue(QueueError),
    /// The body could not be read (its source's error: too large, broken off …).
    Body(E),
    /// The bytes do not have the SHA-256 the uploader announced.
    Mismatch {
        /// What they hash to.
        actual: String,
    },
}

impl<E> From<StorageError> for StreamQueueError<E> {
    fn from(e: StorageError) -> Self {
        StreamQueueError::Queue(QueueError::Storage(e))
    }
}

/// [`queue_file`] for a body read chunk by chunk (issue #4): CSV is hashed, decoded, scanned and
/// staged as it arrives ([`stream`]), so memory stays at about one stored part (4 MB) whatever
/// the size of the file; when the body has ended, one transaction writes the batch row and moves
/// its parts to it, or for a duplicate, a refusal or a failed batch the staged parts are dropped. A workbook (its first bytes are a zip's)
/// cannot be read as a stream and is read whole, as its upload limit allows.
pub fn queue_stream<E>(db: &dyn Sql, info: &FileInfo, body: &mut dyn BodyChunks<Error = E>, now: DateTime<Utc>) -> Result<Queued, StreamQueueError<E>> {
    queue_stream_as(db, info, body, None, None, now)
}

/// What ends the upload transaction early: everything but `Storage` rolls back on purpose.
enum Abort<E> {
    Storage(StorageError),
    Body(E),
    Decode(DecodeError),
    Existing(BatchSummary),
    Mismatch(String),
}

impl<E> From<StorageError> for Abort<E> {
    fn from(e: StorageError) -> Self {
        Abort::Storage(e)
    }
}

impl<E> From<stream::Stop<E>> for Abort<E> {
    fn from(stop: stream::Stop<E>) -> Self {
        match stop {
            stream::Stop::Body(e) => Abort::Body(e),
            stream::Stop::Decode(e) => Abort::Decode(e),
            stream::Stop::Storage(e) => Abort::Storage(e),
        }
    }
}

/// [`queue_stream`] with the id and number of parts of an upload in parts, and the SHA-256 its
/// uploader announced (checked before anything else about the bytes).
pub(crate) fn queue_stream_as<E>(
    db: &dyn Sql,
    info: &FileInfo,
    body: &mut dyn BodyChunks<Error = E>,
    parts: Option<(&str, u32)>,
    expect_sha: Option<&str>,
    now: DateTime<Utc>,
) -> Result<Queued, StreamQueueError<E>> {
    let (first, ended) = stream::sniff(body, decode::SNIFF_BYTES).map_err(StreamQueueError::Body)?;
    if decode::is_workbook(&first) {
        let bytes = if ended { first } else { stream::read_rest(first, body).map_err(StreamQueueError::Body)? };
        let sha = sha256_hex(&bytes);
        if expect_sha.is_some_and(|e| !e.trim().eq_ignore_ascii_case(&sha)) {
            return Err(StreamQueueError::Mismatch { actual: sha });
        }
        return queue_workbook(db, info, &bytes, &sha, parts, now).map_err(StreamQueueError::Queue);
    }
    if decode::is_binary(&first) {
        return Err(StreamQueueError::Queue(DecodeError::NotTabular.into()));
    }
    // The parts are staged under an id of their own as the body arrives, each in a short
    // transaction (the database's write lock is not held while the client sends: writers such as
    // registrations would wait for the whole upload, and give up after the busy timeout), and move
    // to the batch's id in the one transaction that queues it. Any other outcome drops them; the
    // parts of an upload whose instance died on the way are swept by a later upload.
    db.exec(SWEEP_STAGED, &[staging_cutoff(now).into()])?;
    let id = staging_id(now)?;
    let file = match stream::stream_text(db, &id, info.source, &info.limits, &first, ended, body) {
        Ok(file) => file,
        Err(stop) => {
            drop_staged(db, &id);
            return Err(match stop {
                stream::Stop::Body(e) => StreamQueueError::Body(e),
                stream::Stop::Decode(e) => StreamQueueError::Queue(e.into()),
                stream::Stop::Storage(e) => e.into(),
            });
        }
    };
    let at = now.to_rfc3339();
    let seen_sha = Some(file.sha.clone());
    let queued = db.transaction(|tx| {
        if expect_sha.is_some_and(|e| !e.trim().eq_ignore_ascii_case(&file.sha)) {
            return Err(Abort::Mismatch(file.sha));
        }
        let retry = match batch_by_sha(tx, &file.sha)? {
            Some(b) if b.status == "failed" && b.error_code.as_deref().is_some_and(LimitExceeded::is_code) => Some(b.batch_id),
            Some(existing) => return Err(Abort::Existing(existing)),
            None => None,
        };
        let (rows_total, failure) = match file.scanned.map_err(Abort::Decode)? {
            Scanned::Table { header, rows } => {
                (rows, ColumnMap::resolve(info.source, &header).err().map(|m| ("missing_column", m.to_string())))
            }
            Scanned::Limit(e) => (0, Some((e.code(), e.to_string()))),
            Scanned::Empty => return Err(Abort::Decode(DecodeError::Empty)),
        };
        let (error_code, missing) = failure.map_or((None, None), |(code, message)| (Some(code), Some(message)));
        let batch_id = match (&retry, parts) {
            (Some(old), _) => old.clone(),
            (None, Some((upload, _))) => upload.to_string(),
            (None, None) => format!("b{}", &file.sha[..20]),
        };
        if let Some(old) = &retry {
            tx.exec(DROP_FAILED_BATCH, &[old.as_str().into()])?;
        }
        if missing.is_some() {
            if file.parts > 0 {
                tx.exec(DROP_PARTS, &[id.as_str().into()])?;
            }
        } else {
            // One part a statement: an UPDATE of them all would make SQLite hold a statement
            // journal as large as the file.
            for no in 0..file.parts {
                tx.exec(MOVE_PART, &[batch_id.as_str().into(), id.as_str().into(), no.into()])?;
            }
        }
        let row = BatchRow {
            id: &batch_id,
            sha: &file.sha,
            format: file.format,
            size: file.size,
            rows_total,
            error_code,
            error: missing,
            parts_expected: parts.map(|(_, n)| n),
        };
        Ok(insert_batch(tx, info, &row, &at)?)
    });
    if queued.is_err() {
        drop_staged(db, &id);
    }
    match queued {
        Ok(summary) => Ok(Queued::New(summary)),
        Err(Abort::Existing(b)) => Ok(Queued::Existing(b)),
        Err(Abort::Body(e)) => Err(StreamQueueError::Body(e)),
        Err(Abort::Decode(e)) => Err(StreamQueueError::Queue(e.into())),
        Err(Abort::Mismatch(actual)) => Err(StreamQueueError::Mismatch { actual }),
        // Someone queued the same bytes between our check and our insert.
        Err(Abort::Storage(e)) if e.is_constraint() => match seen_sha.map(|sha| batch_by_sha(db, &sha)).transpose()?.flatten() {
            Some(b) => Ok(Queued::Existing(b)),
            None => Err(e.into()),
        },
        Err(Abort::Storage(e)) => Err(e.into()),
    }
}

/// How long the staged parts of an upload may sit before a later upload sweeps them (an upload
/// that takes longer is refused at its end: its parts are gone).
pub const STAGING_EXPIRY_HOURS: i64 = 24;

/// The id an upload's parts are staged under while it streams in: `~`, the start time in whole
/// seconds (fixed width, so that ids sort by it) and a random part. Never a batch's id (those
/// start with `b` or `u`).
fn staging_id(now: DateTime<Utc>) -> Result<String, StorageError> {
    let mut nonce = [0u8; 8];
    getrandom::fill(&mut nonce).map_err(|e| StorageError::Sql(format!("no randomness for a staging id: {e}")))?;
    Ok(format!("~{:012}-{}", now.timestamp().max(0), hex::encode(nonce)))
}

/// Staging ids below this one were started more than [`STAGING_EXPIRY_HOURS`] ago.
fn staging_cutoff(now: DateTime<Utc>) -> String {
    format!("~{:012}", (now - chrono::Duration::hours(STAGING_EXPIRY_HOURS)).timestamp().max(0))
}

/// Drops an upload's staged parts (also those set aside to be decoded again). A failure here
/// leaves them to the sweep.
fn drop_staged(db: &dyn Sql, id: &str) {
    if let Err(e) = db.exec(DROP_STAGED, &[id.into(), format!("{id}~raw").into()]) {
        eprintln!("staged parts of an upload not dropped (a later upload sweeps them): {e}");
    }
}

/// The batch row of an upload.
struct BatchRow<'a> {
    id: &'a str,
    sha: &'a str,
    format: decode::Format,
    size: u64,
    rows_total: u64,
    error_code: Option<&'static str>,
    error: Option<String>,
    parts_expected: Option<u32>,
}

fn insert_batch(tx: &dyn Sql, info: &FileInfo, row: &BatchRow, at: &str) -> Result<BatchSummary, StorageError> {
    let detail = row.error_code.map_or_else(|| "{}".to_string(), |code| serde_json::json!({ "error_code": code }).to_string());
    let status = if row.error.is_some() { "failed" } else { "queued" };
    tx.exec(
        INSERT_BATCH,
        &[
            row.id.into(),
            info.source.code().into(),
            info.file_name.into(),
            row.sha.into(),
            row.format.as_str().into(),
            (row.size as i64).into(),
            info.uploaded_by.into(),
            status.into(),
            (row.rows_total as i64).into(),
            row.error.clone().into(),
            at.into(),
            at.into(),
            row.error.as_ref().map(|_| at).into(),
            row.parts_expected.into(),
            detail.as_str().into(),
        ],
    )?;
    Ok(BatchSummary { batch_id: row.id.to_string(), status: status.into(), error: row.error.clone(), error_code: row.error_code.map(Into::into) })
}

/// Queues a workbook, read whole (a zip cannot be read as a stream): decoded to CSV, scanned and
/// stored like a streamed file.
fn queue_workbook(db: &dyn Sql, info: &FileInfo, bytes: &[u8], sha: &str, parts: Option<(&str, u32)>, now: DateTime<Utc>) -> Result<Queued, QueueError> {
    let retry = match batch_by_sha(db, sha)? {
        Some(b) if b.status == "failed" && b.error_code.as_deref().is_some_and(LimitExceeded::is_code) => Some(b.batch_id),
        Some(existing) => return Ok(Queued::Existing(existing)),
        None => None,
    };
    let normalised = decode::normalise(bytes, info.sheet, &|h| column_named(h).is_some_and(|c| c.is_date()))?;
    let (rows_total, failure) = match decode::scan(&normalised.csv, &info.limits) {
        Ok(table) => {
            let missing = ColumnMap::resolve(info.source, &table.header).err().map(|m| ("missing_column", m.to_string()));
            (table.rows, missing)
        }
        Err(ScanError::Decode(e)) => return Err(e.into()),
        Err(ScanError::Limit(e)) => (0, Some((e.code(), e.to_string()))),
    };
    let (error_code, missing) = failure.map_or((None, None), |(code, message)| (Some(code), Some(message)));
    let id = match (retry.clone(), parts) {
        (Some(id), _) => id,
        (None, Some((id, _))) => id.to_string(),
        (None, None) => format!("b{}", &sha[..20]),
    };
    let at = now.to_rfc3339();
    let inserted = db.transaction(|tx| {
        if retry.is_some() {
            tx.exec(DROP_FAILED_BATCH, &[id.as_str().into()])?;
        }
        let row = BatchRow {
            id: &id,
            sha,
            format: normalised.format,
            size: bytes.len() as u64,
            rows_total,
            error_code,
            error: missing.clone(),
            parts_expected: parts.map(|(_, n)| n),
        };
        let summary = insert_batch(tx, info, &row, &at)?;
        if missing.is_none() {
            for (no, part) in normalised.csv.chunks(PART_BYTES).enumerate() {
                tx.exec(INSERT_PART, &[id.as_str().into(), no.into(), part.into()])?;
            }
        }
        Ok::<_, StorageError>(summary)
    });
    match inserted {
        Ok(summary) => Ok(Queued::New(summary)),
        // Someone queued the same bytes between our check and our insert.
        Err(e) if e.is_constraint() => batch_by_sha(db, sha)?.map(Queued::Existing).ok_or(QueueError::Storage(e)),
        Err(e) => Err(e.into()),
    }
}

fn batch_by_sha(db: &dyn Sql, sha: &str) -> Result<Option<BatchSummary>, StorageError> {
    db.query_one(SELECT_BY_SHA, &[sha.into()])?
        .map(|r| Ok(BatchSummary { batch_id: r.get(0)?, status: r.get(1)?, error: r.get(2)?, error_code: r.get(3)? }))
        .transpose()
}

/// A CSV reader over normalised text as processing reads it: no header handling, ragged rows.
pub(crate) fn csv_reader<R: std::io::Read>(r: R) -> csv::Reader<R> {
    csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(r)
}

/// Whether a record is blank (every field empty): such rows are skipped and not counted.
pub(crate) fn is_blank(record: &csv::StringRecord) -> bool {
    record.iter().all(|f| f.trim().is_empty())
}

/// Details of the batch report kept as JSON in `batches.detail`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, serde::Deserialize)]
pub struct ReportDetail {
    /// Rejected rows by reason code.
    #[serde(default)]
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Corrections by kind.
    #[serde(default)]
    pub corrections_by_kind: BTreeMap<String, u64>,
    /// Units not known before this batch.
    #[serde(default)]
    pub new_units: u64,
    /// Units known before this batch with an accepted row in it.
    #[serde(default)]
    pub updated_units: u64,
    /// Why a batch failed at upload, for machines (see [`BatchSummary::error_code`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error_code: Option<String>,
}

/// The batch report of `GET /api/v1/intake/batches/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct BatchReport {
    /// The batch id.
    pub batch_id: String,
    /// The delivering source.
    pub source: String,
    /// The uploaded file name.
    pub file_name: Option<String>,
    /// How the file was written (`csv_utf8`, `csv_gb18030`, `xlsx`).
    pub format: String,
    /// `queued`, `processing`, `done` or `failed`.
    pub status: String,
    /// Data rows in the file.
    pub rows_total: u64,
    /// Rows processed so far.
    pub rows_processed: u64,
    /// Accepted rows (merged duplicates included).
    pub accepted: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// Persons that did not exist before this batch.
    pub new_persons: u64,
    /// Persons that existed before this batch and had an accepted row in it.
    pub updated_persons: u64,
    /// Corrections made to accept rows.
    pub corrections: u64,
    /// Conflicts newly opened.
    pub conflicts: u64,
    /// Rows whose record key appeared earlier in the file.
    pub duplicates_in_file: u64,
    /// Why the batch failed.
    pub error: Option<String>,
    /// Rejections by reason, corrections by kind, units.
    #[serde(flatten)]
    pub detail: ReportDetail,
    /// When the file arrived.
    pub arrived_at: String,
    /// When processing began.
    pub started_at: Option<String>,
    /// When the batch was done or failed.
    pub finished_at: Option<String>,
}

const SELECT_REPORT: &str = "SELECT id, source, file_name, format, status, rows_total, rows_processed, accepted, rejected,
    new_persons, updated_persons, corrections, conflicts, duplicates_in_file, error, detail, arrived_at, started_at,
    finished_at FROM batches WHERE id = ?";

/// The report of one batch, if it exists.
pub fn batch_report(db: &dyn Sql, batch_id: &str) -> Result<Option<BatchReport>, StorageError> {
    let Some(r) = db.query_one(SELECT_REPORT, &[batch_id.into()])? else { return Ok(None) };
    let detail: String = r.get("detail")?;
    Ok(Some(BatchReport {
        batch_id: r.get("id")?,
        source: r.get("source")?,
        file_name: r.get("file_name")?,
        format: r.get("format")?,
        status: r.get("status")?,
        rows_total: r.get("rows_total")?,
        rows_processed: r.get("rows_processed")?,
        accepted: r.get("accepted")?,
        rejected: r.get("rejected")?,
        new_persons: r.get("new_persons")?,
        updated_persons: r.get("updated_persons")?,
        corrections: r.get("corrections")?,
        conflicts: r.get("conflicts")?,
        duplicates_in_file: r.get("duplicates_in_file")?,
        error: r.get("error")?,
        detail: serde_json::from_str(&detail).map_err(|e| StorageError::Json(e.to_string()))?,
        arrived_at: r.get("arrived_at")?,
        started_at: r.get("started_at")?,
        finished_at: r.get("finished_at")?,
    }))
}

const SELECT_ERRORS: &str =
    "SELECT line, column_name, reason, message FROM batch_row_errors WHERE batch_id = ? ORDER BY line, id";

/// The error report as CSV (UTF-8 with a BOM so that Excel opens it): line (the header is line
/// 1; XLSX: the sheet row), column, reason code, message.
pub fn errors_csv(db: &dyn Sql, batch_id: &str) -> Result<Vec<u8>, StorageError> {
    let rows = db.execute(SELECT_ERRORS, &[batch_id.into()])?;
    let mut out = csv::Writer::from_writer(b"\xEF\xBB\xBF".to_vec());
    let fail = |e: csv::Error| StorageError::Sql(e.to_string());
    out.write_record(["line", "column", "reason", "message"]).map_err(fail)?;
    for r in rows.iter() {
        let line: i64 = r.get(0)?;
        let column: Option<String> = r.get(1)?;
        let (reason, message): (String, String) = (r.get(2)?, r.get(3)?);
        out.write_record([line.to_string(), column.unwrap_or_default(), reason, message]).map_err(fail)?;
    }
    out.into_inner().map_err(|e| StorageError::Sql(e.to_string()))
}
