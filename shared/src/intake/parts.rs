//! Uploads in parts, for files over the single-upload limit: announce the number of parts, send
//! each (in any order, a part may be sent again), then complete with the SHA-256 of the whole,
//! which is verified before the assembled file is queued like any other upload.

use super::decode::TableLimits;
use super::stream::BodyChunks;
use super::{queue_stream_as, sha256_hex, FileInfo, QueueError, Queued, StreamQueueError};
use crate::codes::Source;
use crate::storage::{Sql, SqlExt, StorageError};
use chrono::{DateTime, Utc};

/// The most parts one upload may announce.
pub const MAX_PARTS: u32 = 10_000;

/// An upload in parts that has not been completed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartUpload {
    /// Its id (the batch id once completed).
    pub id: String,
    /// The delivering source.
    pub source: Source,
    /// `X-File-Name`.
    pub file_name: Option<String>,
    /// Parts announced.
    pub parts: u32,
}

/// Why a part upload cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum PartsError {
    /// A part number outside 1..=parts.
    #[error("分片序号应在 1 到 {0} 之间")]
    NoSuchPart(u32),
    /// Completed while parts are missing.
    #[error("还缺少分片：{0:?}")]
    Missing(Vec<u32>),
    /// The assembled bytes do not have the announced SHA-256.
    #[error("合并后的文件 SHA-256 为 {actual}，与提交的不一致")]
    Mismatch {
        /// What the parts hash to.
        actual: String,
    },
    /// Queueing the assembled file failed.
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// The database refused.
    #[error(transparent)]
    Storage(#[from] StorageError),
}

const INSERT_UPLOAD: &str =
    "INSERT INTO part_uploads (id, source, file_name, parts, uploaded_by, created_at) VALUES (?, ?, ?, ?, ?, ?)";
const SELECT_UPLOAD: &str = "SELECT id, source, file_name, parts FROM part_uploads WHERE id = ?";
const PUT_PART: &str = "INSERT INTO batch_uploads (batch_id, part_no, data) VALUES (?, ?, ?)
    ON CONFLICT (batch_id, part_no) DO UPDATE SET data = excluded.data";
const SELECT_PART_NOS: &str = "SELECT part_no FROM batch_uploads WHERE batch_id = ? ORDER BY part_no";
const SELECT_PART: &str = "SELECT data FROM batch_uploads WHERE batch_id = ? AND part_no = ?";
const DROP_PARTS: &str = "DELETE FROM batch_uploads WHERE batch_id = ?";
const DROP_UPLOAD: &str = "DELETE FROM part_uploads WHERE id = ?";

/// Announces an upload of `parts` parts; returns its id.
pub fn begin(db: &dyn Sql, source: Source, file_name: Option<&str>, parts: u32, uploaded_by: &str, now: DateTime<Utc>) -> Result<String, StorageError> {
    let nonce = format!("{}|{}|{:?}|{}", source.code(), uploaded_by, file_name, now.timestamp_nanos_opt().unwrap_or_default());
    let id = format!("u{}", &sha256_hex(nonce.as_bytes())[..20]);
    db.exec(
        INSERT_UPLOAD,
        &[id.as_str().into(), source.code().into(), file_name.into(), parts.into(), uploaded_by.into(), now.to_rfc3339().into()],
    )?;
    Ok(id)
}

/// The upload in parts with this id, if it is still open.
pub fn find(db: &dyn Sql, id: &str) -> Result<Option<PartUpload>, StorageError> {
    let Some(r) = db.query_one(SELECT_UPLOAD, &[id.into()])? else { return Ok(None) };
    let source = Source::parse(&r.get::<String>(1)?).map_err(|e| StorageError::Sql(e.message))?;
    Ok(Some(PartUpload { id: r.get(0)?, source, file_name: r.get(2)?, parts: r.get::<i64>(3)? as u32 }))
}

/// Stores part `n` (1-based); returns how many distinct parts have arrived.
pub fn put_part(db: &dyn Sql, upload: &PartUpload, n: u32, bytes: &[u8]) -> Result<u32, PartsError> {
    if n == 0 || n > upload.parts {
        return Err(PartsError::NoSuchPart(upload.parts));
    }
    db.exec(PUT_PART, &[upload.id.as_str().into(), n.into(), bytes.into()])?;
    Ok(db.execute(SELECT_PART_NOS, &[upload.id.as_str().into()])?.len() as u32)
}

/// Reads the parts one at a time through the same streaming path as a single upload (so memory
/// stays at about one part), verifies the SHA-256 and queues the file under the upload's id (or
/// returns the first batch of the same bytes) with `limits`; the parts are dropped either way
/// once queued.
pub fn complete(
    db: &dyn Sql,
    upload: &PartUpload,
    sha256: &str,
    uploaded_by: &str,
    limits: TableLimits,
    now: DateTime<Utc>,
) -> Result<Queued, PartsError> {
    let have: Vec<i64> = db.execute(SELECT_PART_NOS, &[upload.id.as_str().into()])?.column(0)?;
    let missing: Vec<u32> = (1..=upload.parts).filter(|n| !have.contains(&(*n as i64))).collect();
    if !missing.is_empty() {
        return Err(PartsError::Missing(missing));
    }
    let info = FileInfo { source: upload.source, file_name: upload.file_name.as_deref(), sheet: None, uploaded_by, limits };
    let mut body = StoredParts { db, id: &upload.id, next: 1, last: upload.parts };
    let queued = match queue_stream_as(db, &info, &mut body, Some((&upload.id, upload.parts)), Some(sha256), now) {
        Ok(queued) => queued,
        Err(StreamQueueError::Queue(e)) => return Err(e.into()),
        Err(StreamQueueError::Body(e)) => return Err(e.into()),
        Err(StreamQueueError::Mismatch { actual }) => return Err(PartsError::Mismatch { actual }),
    };
    db.transaction(|tx| {
        tx.exec(DROP_PARTS, &[upload.id.as_str().into()])?;
        tx.exec(DROP_UPLOAD, &[upload.id.as_str().into()])
    })?;
    Ok(queued)
}

/// The stored parts of an upload, in order, fetched one at a time.
struct StoredParts<'a> {
    db: &'a dyn Sql,
    id: &'a str,
    next: u32,
    last: u32,
}

impl BodyChunks for StoredParts<'_> {
    type Error = StorageError;
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, StorageError> {
        if self.next > self.last {
            return Ok(None);
        }
        let part = self.db.query_one(SELECT_PART, &[self.id.into(), self.next.into()])?;
        let part = part.ok_or_else(|| StorageError::Sql(format!("part {} of upload {} went missing", self.next, self.id)))?;
        self.next += 1;
        Ok(Some(part.get(0)?))
    }
}
