//! Queueing a CSV file as its bytes arrive (issue #4): the body is read chunk by chunk, hashed
//! as it goes, decoded to UTF-8 with the same decision [`super::decode::normalise`] makes for the
//! whole file, scanned like [`super::decode::scan`] with `csv_core` fed incrementally, and
//! written to `batch_parts` one [`PART_BYTES`] part at a time under the caller's staging id
//! (each part in a statement of its own: no transaction is held while the client sends). Memory
//! stays at about one part plus one record, however large the file.
//!
//! The encoding rule is the whole-file one: a BOM promises UTF-8 (any invalid byte refuses the
//! file); without a BOM a file is UTF-8 when all of it is valid UTF-8, and GB18030 otherwise. The
//! stream is decoded as UTF-8 (which it is copied as) until the first invalid sequence; only then
//! is it GB18030. When everything before that was ASCII (as in practically every GB18030 file,
//! whose first Chinese character is already invalid UTF-8) the text so far reads the same in
//! GB18030 and decoding just switches; otherwise the bytes already stored (which are the raw file)
//! are read back part by part and decoded again from the start.

use super::decode::{DecodeError, LimitExceeded, TableLimits};
use super::PART_BYTES;
use crate::storage::{Sql, StorageError};
use encoding_rs::{DecoderResult, GB18030};
use sha2::{Digest, Sha256};

/// A request body read one chunk at a time (the runtime's stream, a stored upload's parts, or a
/// byte slice in tests).
pub trait BodyChunks {
    /// Why the body could not be read (too large, broken off, the database).
    type Error;
    /// The next chunk, `None` at the end of the body.
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error>;
}

/// A body already in memory, handed out in chunks of a given size (`usize::MAX`: in one).
pub struct SliceChunks<'a> {
    rest: &'a [u8],
    chunk: usize,
}

impl<'a> SliceChunks<'a> {
    /// `bytes` in chunks of `chunk` bytes (at least one).
    pub fn new(bytes: &'a [u8], chunk: usize) -> Self {
        Self { rest: bytes, chunk: chunk.max(1) }
    }
}

impl BodyChunks for SliceChunks<'_> {
    type Error = std::convert::Infallible;
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (head, rest) = self.rest.split_at(self.chunk.min(self.rest.len()));
        self.rest = rest;
        Ok(Some(head.to_vec()))
    }
}

/// Why streaming stopped before the end of the body.
#[derive(Debug)]
pub(crate) enum Stop<E> {
    /// The body could not be read.
    Body(E),
    /// The bytes are not a table (decided as soon as it shows).
    Decode(DecodeError),
    /// The database refused.
    Storage(StorageError),
}

impl<E> From<StorageError> for Stop<E> {
    fn from(e: StorageError) -> Self {
        Stop::Storage(e)
    }
}

/// What the scan of the text found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Scanned {
    /// A header and this many data rows.
    Table { header: Vec<String>, rows: u64 },
    /// Over a limit (scanning stopped there).
    Limit(LimitExceeded),
    /// No header: nothing but blank lines.
    Empty,
}

/// What a streamed text file turned out to be.
#[derive(Debug)]
pub(crate) struct TextFile {
    /// The hex SHA-256 of the raw bytes.
    pub sha: String,
    /// Raw bytes read.
    pub size: u64,
    /// `csv_utf8` or `csv_gb18030`.
    pub format: super::decode::Format,
    /// The scan, or `Err(Empty)` for a file of nothing but ASCII whitespace.
    pub scanned: Result<Scanned, DecodeError>,
    /// Parts stored under the batch id (a failed scan may have stored some: the caller drops them).
    pub parts: u32,
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const INSERT_PART: &str = "INSERT INTO batch_parts (batch_id, part_no, data) VALUES (?, ?, ?)";
const MOVE_PARTS: &str = "UPDATE batch_parts SET batch_id = ? WHERE batch_id = ?";
const SELECT_PART: &str = "SELECT data FROM batch_parts WHERE batch_id = ? AND part_no = ?";
const DROP_PART: &str = "DELETE FROM batch_parts WHERE batch_id = ? AND part_no = ?";

/// How the text is being decoded.
enum Mode {
    /// After a BOM: UTF-8 or refused.
    Bom,
    /// No BOM, valid UTF-8 so far (`non_ascii`: some of it was not ASCII).
    Undecided { non_ascii: bool },
    /// GB18030 from the start.
    Gb18030(Box<encoding_rs::Decoder>),
}

/// Streams one text file (not a workbook: the caller sniffed that) from `first` (the bytes
/// already read to sniff it; `ended`: they are all of it) and then `body`, storing its UTF-8 form under `batch_id`.
pub(crate) fn stream_text<E>(
    tx: &dyn Sql,
    batch_id: &str,
    source: crate::codes::Source,
    limits: &TableLimits,
    first: &[u8],
    ended: bool,
    body: &mut dyn BodyChunks<Error = E>,
) -> Result<TextFile, Stop<E>> {
    let mut text = Text::new(tx, batch_id, source, *limits);
    let first = match first.strip_prefix(UTF8_BOM) {
        Some(rest) => {
            text.hasher.update(UTF8_BOM);
            text.size += UTF8_BOM.len() as u64;
            text.mode = Mode::Bom;
            rest
        }
        None => first,
    };
    text.feed(first, false)?;
    if !ended {
        while let Some(chunk) = body.next_chunk().map_err(Stop::Body)? {
            text.feed(&chunk, false)?;
        }
    }
    text.feed(&[], true)?;
    text.finish()
}

struct Text<'a> {
    tx: &'a dyn Sql,
    batch_id: &'a str,
    source: crate::codes::Source,
    limits: TableLimits,
    hasher: Sha256,
    size: u64,
    mode: Mode,
    /// The start of a UTF-8 sequence cut by the end of a chunk.
    carry: Vec<u8>,
    /// GB18030 output.
    out: Vec<u8>,
    sink: Sink,
}

impl<'a> Text<'a> {
    fn new(tx: &'a dyn Sql, batch_id: &'a str, source: crate::codes::Source, limits: TableLimits) -> Self {
        Text {
            tx,
            batch_id,
            source,
            limits,
            hasher: Sha256::new(),
            size: 0,
            mode: Mode::Undecided { non_ascii: false },
            carry: Vec::new(),
            out: Vec::new(),
            sink: Sink::new(limits),
        }
    }

    /// Hashes and decodes raw bytes; `last` after the final chunk (with no bytes).
    fn feed<E>(&mut self, raw: &[u8], last: bool) -> Result<(), Stop<E>> {
        self.hasher.update(raw);
        self.size += raw.len() as u64;
        if raw.contains(&0) {
            return Err(Stop::Decode(DecodeError::NotTabular));
        }
        self.decode(raw, last)
    }

    fn decode<E>(&mut self, raw: &[u8], last: bool) -> Result<(), Stop<E>> {
        if matches!(self.mode, Mode::Gb18030(_)) {
            return self.decode_gb(raw, last);
        }
        let joined;
        let data = if self.carry.is_empty() {
            raw
        } else {
            joined = [std::mem::take(&mut self.carry).as_slice(), raw].concat();
            &joined
        };
        let (valid, invalid) = match std::str::from_utf8(data) {
            Ok(_) => (data.len(), false),
            Err(e) => (e.valid_up_to(), e.error_len().is_some() || last),
        };
        self.emit_utf8(&data[..valid])?;
        if !invalid {
            self.carry = data[valid..].to_vec();
            if last {
                let writing = self.writing();
                self.sink.finish(self.tx, self.batch_id, writing)?;
            }
            return Ok(());
        }
        match self.mode {
            // A BOM promises UTF-8; bytes that break the promise would stop processing half-way.
            Mode::Bom => Err(Stop::Decode(DecodeError::NotTabular)),
            Mode::Undecided { non_ascii } => {
                self.mode = Mode::Gb18030(Box::new(GB18030.new_decoder_without_bom_handling()));
                if non_ascii {
                    self.redecode_stored()?;
                }
                self.decode_gb(&data[valid..], last)
            }
            Mode::Gb18030(_) => unreachable!("handled above"),
        }
    }

    /// Valid UTF-8 text, stored as it is.
    fn emit_utf8(&mut self, bytes: &[u8]) -> Result<(), StorageError> {
        if let Mode::Undecided { non_ascii } = &mut self.mode {
            *non_ascii = *non_ascii || !bytes.is_ascii();
        }
        let writing = self.writing();
        self.sink.push(self.tx, self.batch_id, bytes, writing)
    }

    /// Whether the text must still be stored: always while undecided (the stored bytes may have
    /// to be decoded again), otherwise only while the batch can still be queued.
    fn writing(&mut self) -> bool {
        matches!(self.mode, Mode::Undecided { .. }) || !self.sink.failed(self.source)
    }

    fn decode_gb<E>(&mut self, mut raw: &[u8], last: bool) -> Result<(), Stop<E>> {
        let Mode::Gb18030(decoder) = &mut self.mode else { unreachable!("decode_gb in GB18030 mode only") };
        if self.out.is_empty() {
            self.out = vec![0; 64 << 10];
        }
        loop {
            let (result, read, written) = decoder.decode_to_utf8_without_replacement(raw, &mut self.out, last);
            raw = &raw[read..];
            let writing = !self.sink.failed(self.source);
            self.sink.push(self.tx, self.batch_id, &self.out[..written], writing)?;
            match result {
                DecoderResult::InputEmpty => break,
                DecoderResult::OutputFull => continue,
                DecoderResult::Malformed(..) => return Err(Stop::Decode(DecodeError::NotTabular)),
            }
        }
        if last {
            let writing = !self.sink.failed(self.source);
            self.sink.finish(self.tx, self.batch_id, writing)?;
        }
        Ok(())
    }

    /// The file turned out to be GB18030 after valid non-ASCII UTF-8: everything stored so far
    /// is the raw file (UTF-8 is stored as it is), so it is read back and decoded again.
    fn redecode_stored<E>(&mut self) -> Result<(), Stop<E>> {
        let old = std::mem::replace(&mut self.sink, Sink::new(self.limits));
        let aside = format!("{}~raw", self.batch_id);
        if old.parts > 0 {
            self.tx.exec(MOVE_PARTS, &[aside.as_str().into(), self.batch_id.into()])?;
        }
        for no in 0..old.parts {
            let part: Vec<u8> = self
                .tx
                .query_one(SELECT_PART, &[aside.as_str().into(), no.into()])?
                .ok_or_else(|| StorageError::Sql(format!("stored part {no} of an upload went missing")))?
                .get(0)?;
            self.tx.exec(DROP_PART, &[aside.as_str().into(), no.into()])?;
            self.decode_gb(&part, false)?;
        }
        self.decode_gb(&old.part, false)
    }

    fn finish<E>(self) -> Result<TextFile, Stop<E>> {
        let format = match self.mode {
            Mode::Gb18030(_) => super::decode::Format::CsvGb18030,
            _ => super::decode::Format::CsvUtf8,
        };
        let scanned = if self.sink.all_whitespace { Err(DecodeError::Empty) } else { Ok(self.sink.scan.result()) };
        Ok(TextFile { sha: hex::encode(self.hasher.finalize()), size: self.size, format, scanned, parts: self.sink.parts })
    }
}

/// Where decoded UTF-8 goes: the scan, the whitespace check and the stored parts.
struct Sink {
    part: Vec<u8>,
    parts: u32,
    all_whitespace: bool,
    scan: Scan,
    /// Whether the header (once read) lacks a required column.
    header_missing: Option<bool>,
}

impl Sink {
    fn new(limits: TableLimits) -> Self {
        Sink { part: Vec::new(), parts: 0, all_whitespace: true, scan: Scan::new(limits), header_missing: None }
    }

    /// Whether the batch has failed already (over a limit, or its header lacks a column).
    fn failed(&mut self, source: crate::codes::Source) -> bool {
        if self.header_missing.is_none() {
            self.header_missing = self.scan.header.as_ref().map(|h| super::layouts::ColumnMap::resolve(source, h).is_err());
        }
        self.scan.limit.is_some() || self.header_missing == Some(true)
    }

    fn push(&mut self, tx: &dyn Sql, batch_id: &str, mut bytes: &[u8], writing: bool) -> Result<(), StorageError> {
        if bytes.is_empty() {
            return Ok(());
        }
        self.all_whitespace = self.all_whitespace && bytes.iter().all(u8::is_ascii_whitespace);
        self.scan.feed(bytes, false);
        if !writing {
            self.part = Vec::new();
            return Ok(());
        }
        while !bytes.is_empty() {
            if self.part.capacity() < PART_BYTES {
                self.part.reserve_exact(PART_BYTES - self.part.len());
            }
            let take = (PART_BYTES - self.part.len()).min(bytes.len());
            self.part.extend_from_slice(&bytes[..take]);
            bytes = &bytes[take..];
            if self.part.len() == PART_BYTES {
                self.flush(tx, batch_id)?;
            }
        }
        Ok(())
    }

    fn flush(&mut self, tx: &dyn Sql, batch_id: &str) -> Result<(), StorageError> {
        // Handed over, not copied: the next part gets a buffer of its own.
        let part = crate::storage::SqlValue::Blob(std::mem::take(&mut self.part));
        tx.exec(INSERT_PART, &[batch_id.into(), self.parts.into(), part])?;
        self.parts += 1;
        Ok(())
    }

    fn finish(&mut self, tx: &dyn Sql, batch_id: &str, writing: bool) -> Result<(), StorageError> {
        self.scan.feed(&[], true);
        if writing && !self.part.is_empty() {
            self.flush(tx, batch_id)?;
        }
        self.part = Vec::new();
        Ok(())
    }
}

/// [`super::decode::scan`] fed chunk by chunk: `csv_core` with the settings of the `csv` crate's
/// reader, the same record positions, blank lines, header and limits. A record is held only up
/// to the size no valid record can pass (`max_columns × max_field_bytes`); past it only the field
/// ends are kept, which is all the limit checks need.
struct Scan {
    limits: TableLimits,
    core: csv_core::Reader,
    fields: Vec<u8>,
    outlen: usize,
    ends: Vec<usize>,
    endlen: usize,
    /// Field ends of the current record already let go (it has too many columns).
    ends_dropped: usize,
    /// The current record's bytes are no longer kept (it is over a limit).
    overflow: bool,
    /// The line the current record starts on.
    line: u64,
    header: Option<Vec<String>>,
    rows: u64,
    limit: Option<LimitExceeded>,
    done: bool,
}

impl Scan {
    fn new(limits: TableLimits) -> Self {
        Scan {
            limits,
            core: csv_core::Reader::new(),
            fields: vec![0; 1024],
            outlen: 0,
            ends: vec![0; 64],
            endlen: 0,
            ends_dropped: 0,
            overflow: false,
            line: 1,
            header: None,
            rows: 0,
            limit: None,
            done: false,
        }
    }

    /// The largest record (in bytes) within the limits.
    fn record_cap(&self) -> usize {
        self.limits.max_columns.saturating_mul(self.limits.max_field_bytes).max(1024)
    }

    fn feed(&mut self, mut input: &[u8], eof: bool) {
        use csv_core::ReadRecordResult::*;
        if self.done {
            return;
        }
        loop {
            // An empty input tells csv_core the text has ended.
            if input.is_empty() && !eof {
                return;
            }
            let (res, nin, nout, nend) =
                self.core.read_record(input, &mut self.fields[self.outlen..], &mut self.ends[self.endlen..]);
            input = &input[nin..];
            self.outlen += nout;
            self.endlen += nend;
            match res {
                InputEmpty if !eof => return,
                InputEmpty => continue,
                OutputFull => {
                    if self.overflow || self.outlen > self.record_cap() {
                        self.overflow = true;
                        self.outlen = 0;
                    } else {
                        let len = self.fields.len();
                        self.fields.resize(len * 2, 0);
                    }
                }
                OutputEndsFull => {
                    if self.ends_dropped + self.endlen > self.limits.max_columns {
                        self.ends_dropped += self.endlen;
                        self.endlen = 0;
                    } else {
                        let len = self.ends.len();
                        self.ends.resize(len * 2, 0);
                    }
                }
                Record => {
                    self.record();
                    self.line = self.core.line();
                    (self.outlen, self.endlen, self.ends_dropped, self.overflow) = (0, 0, 0, false);
                    if self.done {
                        return;
                    }
                }
                End => {
                    self.done = true;
                    return;
                }
            }
        }
    }

    /// One whole record: the checks of `decode::scan`, in its order.
    fn record(&mut self) {
        let (line, limits) = (self.line, self.limits);
        let columns = self.ends_dropped + self.endlen;
        if columns > limits.max_columns {
            self.stop(LimitExceeded::TooManyColumns { line, columns, limit: limits.max_columns });
            return;
        }
        let ends = &self.ends[..self.endlen];
        let mut start = 0;
        for (i, &end) in ends.iter().enumerate() {
            if end - start > limits.max_field_bytes {
                let limit = limits.max_field_bytes;
                self.stop(LimitExceeded::FieldTooLong { line, column: i + 1, bytes: end - start, limit });
                return;
            }
            start = end;
        }
        // Within the limits the record is never over `record_cap`, so its bytes are all here.
        debug_assert!(!self.overflow);
        let fields = &self.fields[..self.outlen];
        let field = |i: usize| &fields[if i == 0 { 0 } else { ends[i - 1] }..ends[i]];
        if (0..ends.len()).all(|i| std::str::from_utf8(field(i)).is_ok_and(|t| t.trim().is_empty())) {
            return;
        }
        if self.header.is_none() {
            self.header = Some((0..ends.len()).map(|i| String::from_utf8_lossy(field(i)).trim().to_string()).collect());
        } else {
            self.rows += 1;
            if self.rows > limits.max_rows {
                self.stop(LimitExceeded::TooManyRows { limit: limits.max_rows });
            }
        }
    }

    fn stop(&mut self, limit: LimitExceeded) {
        self.limit = Some(limit);
        self.done = true;
    }

    fn result(&self) -> Scanned {
        match (&self.limit, &self.header) {
            (Some(limit), _) => Scanned::Limit(limit.clone()),
            (None, Some(header)) => Scanned::Table { header: header.clone(), rows: self.rows },
            (None, None) => Scanned::Empty,
        }
    }
}

/// Reads the rest of a body into memory (a workbook, which cannot be read as a stream).
pub(crate) fn read_rest<E>(mut bytes: Vec<u8>, body: &mut dyn BodyChunks<Error = E>) -> Result<Vec<u8>, E> {
    while let Some(chunk) = body.next_chunk()? {
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads at least `n` bytes (or the whole body, if shorter) to sniff what it is; returns them and
/// whether the body has ended.
pub(crate) fn sniff<E>(body: &mut dyn BodyChunks<Error = E>, n: usize) -> Result<(Vec<u8>, bool), E> {
    let mut first = Vec::new();
    while first.len() < n {
        match body.next_chunk()? {
            Some(chunk) => first.extend_from_slice(&chunk),
            None => return Ok((first, true)),
        }
    }
    Ok((first, false))
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::codes::Source;
    use crate::intake::decode::{normalise, scan, Format, ScanError};
    use crate::intake::{queue_file, queue_stream, sha256_hex, FileInfo, Queued, StreamQueueError, Upload};
    use crate::storage::native::NativeSql;
    use crate::storage::SqlExt;

    /// What a file comes to: refused, or a format, a scan and (for a batch that is queued) the
    /// UTF-8 text stored.
    #[derive(Debug, PartialEq)]
    enum Outcome {
        Refused(DecodeError),
        File { format: Format, scanned: Scanned, csv: Option<Vec<u8>> },
    }

    fn queueable(source: Source, scanned: &Scanned) -> bool {
        matches!(scanned, Scanned::Table { header, .. } if crate::intake::layouts::ColumnMap::resolve(source, header).is_ok())
    }

    /// The whole-file rule: `normalise` then `scan`.
    fn whole(bytes: &[u8], source: Source, limits: &TableLimits) -> Outcome {
        let normalised = match normalise(bytes, None, &|_| false) {
            Ok(n) => n,
            Err(e) => return Outcome::Refused(e),
        };
        let scanned = match scan(&normalised.csv, limits) {
            Ok(t) => Scanned::Table { header: t.header, rows: t.rows },
            Err(ScanError::Limit(l)) => Scanned::Limit(l),
            Err(ScanError::Decode(DecodeError::Empty)) => Scanned::Empty,
            Err(ScanError::Decode(e)) => return Outcome::Refused(e),
        };
        let csv = queueable(source, &scanned).then_some(normalised.csv);
        Outcome::File { format: normalised.format, scanned, csv }
    }

    /// A body cut at the given offsets.
    struct Cuts<'a> {
        bytes: &'a [u8],
        cuts: Vec<usize>,
        at: usize,
    }

    impl BodyChunks for Cuts<'_> {
        type Error = std::convert::Infallible;
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, Self::Error> {
            if self.at >= self.bytes.len() {
                return Ok(None);
            }
            let end = self.cuts.iter().copied().find(|c| *c > self.at).unwrap_or(self.bytes.len()).min(self.bytes.len());
            let chunk = self.bytes[self.at..end].to_vec();
            self.at = end;
            Ok(Some(chunk))
        }
    }

    /// The streaming rule over `body`, in a transaction rolled back afterwards.
    fn streamed(db: &NativeSql, bytes: &[u8], body: &mut dyn BodyChunks<Error = std::convert::Infallible>, source: Source, limits: &TableLimits) -> Outcome {
        let outcome = db.transaction(|tx| {
            let (first, ended) = sniff(body, crate::intake::decode::SNIFF_BYTES).unwrap();
            assert!(!crate::intake::decode::is_workbook(&first));
            if crate::intake::decode::is_binary(&first) {
                return Err(StorageError::Sql("rolled back".into())).or(Ok(Outcome::Refused(DecodeError::NotTabular)));
            }
            let file = match stream_text(tx, "t", source, limits, &first, ended, body) {
                Ok(file) => file,
                Err(Stop::Decode(e)) => return Ok(Outcome::Refused(e)),
                Err(Stop::Storage(e)) => return Err(e),
                Err(Stop::Body(never)) => match never {},
            };
            assert_eq!((file.sha.as_str(), file.size), (sha256_hex(bytes).as_str(), bytes.len() as u64));
            let scanned = match file.scanned {
                Err(e) => return Ok(Outcome::Refused(e)),
                Ok(s) => s,
            };
            let csv = queueable(source, &scanned).then(|| {
                let parts: Vec<Vec<u8>> =
                    tx.execute("SELECT data FROM batch_parts WHERE batch_id = 't' ORDER BY part_no", &[]).unwrap().column(0).unwrap();
                assert_eq!(parts.len() as u32, file.parts);
                assert!(parts.iter().rev().skip(1).all(|p| p.len() == PART_BYTES), "every part but the last is full");
                parts.concat()
            });
            Ok(Outcome::File { format: file.format, scanned, csv })
        });
        let outcome = outcome.unwrap();
        db.exec("DELETE FROM batch_parts", &[]).unwrap();
        outcome
    }

    /// Streams `bytes` cut in two at every offset, cut in three around every offset, and one
    /// byte at a time; each must come to what the whole-file rule says.
    fn same_at_every_cut(db: &NativeSql, bytes: &[u8], source: Source, limits: &TableLimits) -> Outcome {
        let expected = whole(bytes, source, limits);
        for k in 0..=bytes.len() {
            for cuts in [vec![k], vec![k, k + 1], vec![k, k + 2, k + 3]] {
                let got = streamed(db, bytes, &mut Cuts { bytes, cuts: cuts.clone(), at: 0 }, source, limits);
                assert_eq!(got, expected, "cut at {cuts:?} of {:?}", String::from_utf8_lossy(bytes));
            }
        }
        let got = streamed(db, bytes, &mut SliceChunks::new(bytes, 1), source, limits);
        assert_eq!(got, expected, "one byte at a time");
        expected
    }

    const LIMITS: TableLimits = TableLimits::DEFAULT;

    fn utf8_file() -> String {
        // A quoted field with a comma, a quote and a line break; CRLF and LF; blank lines; a
        // full-width space line (blank as processing sees it); three- and four-byte characters.
        "\r\n公民身份号码,姓名,户籍地址\r\n110105194912310029,张三,\"北京市,朝阳区\"\r\n\n\u{3000}\n\
         110105194912310037,\"李\"\"四\",\"第一行\n第二行\"\r\n110105194912310045,𠀋王五,\r\n"
            .to_string()
    }

    #[test]
    fn utf8_with_and_without_bom_is_the_same_at_every_chunk_boundary() {
        let db = NativeSql::open_in_memory().unwrap();
        let text = utf8_file();
        let plain = same_at_every_cut(&db, text.as_bytes(), Source::PublicSecurity, &LIMITS);
        let Outcome::File { format, scanned, csv } = &plain else { panic!("{plain:?}") };
        assert_eq!(*format, Format::CsvUtf8);
        assert!(matches!(scanned, Scanned::Table { rows: 3, header } if header[0] == "公民身份号码"));
        assert_eq!(csv.as_deref(), Some(text.as_bytes()));
        let bom = [UTF8_BOM, text.as_bytes()].concat();
        assert_eq!(same_at_every_cut(&db, &bom, Source::PublicSecurity, &LIMITS), plain);
    }

    #[test]
    fn gb18030_is_detected_and_decoded_at_every_chunk_boundary() {
        let db = NativeSql::open_in_memory().unwrap();
        let text = utf8_file();
        let (gb, _, unmappable) = GB18030.encode(&text);
        assert!(!unmappable);
        let got = same_at_every_cut(&db, &gb, Source::PublicSecurity, &LIMITS);
        let Outcome::File { format, csv, .. } = &got else { panic!("{got:?}") };
        assert_eq!(*format, Format::CsvGb18030);
        assert_eq!(csv.as_deref(), Some(text.as_bytes()), "stored as the same UTF-8 text");
    }

    #[test]
    fn gb18030_whose_first_characters_are_also_valid_utf8_is_decoded_again_from_the_start() {
        let db = NativeSql::open_in_memory().unwrap();
        // 茅 is C3 A9 in GBK, which is é in UTF-8: the file reads as UTF-8 up to 张.
        let text = "id_number,name\n110105194912310029,茅盾\n110105194912310037,张三\n";
        let (gb, _, _) = GB18030.encode(text);
        assert!(std::str::from_utf8(&gb[..gb.len() - 12]).is_err() && std::str::from_utf8(&gb[..28]).is_ok());
        let got = same_at_every_cut(&db, &gb, Source::PublicSecurity, &LIMITS);
        let Outcome::File { format, csv, .. } = &got else { panic!("{got:?}") };
        assert_eq!((*format, csv.as_deref()), (Format::CsvGb18030, Some(text.as_bytes())));
    }

    #[test]
    fn refusals_and_failures_match_the_whole_file_rule_at_every_chunk_boundary() {
        let db = NativeSql::open_in_memory().unwrap();
        let small = TableLimits { max_rows: 2, max_columns: 3, max_field_bytes: 12 };
        let cases: Vec<(Vec<u8>, TableLimits, &str)> = vec![
            // A BOM and then GB18030: the promise is broken.
            ([UTF8_BOM, &GB18030.encode("姓名,公民身份号码\n").0].concat(), LIMITS, "not_tabular"),
            (b"name,id\n\x00\n".to_vec(), LIMITS, "not_tabular"),
            (b"%PDF-1.4 ...".to_vec(), LIMITS, "not_tabular"),
            (b"  \r\n\t\n".to_vec(), LIMITS, "empty"),
            (Vec::new(), LIMITS, "empty"),
            (b",,\n , \n".to_vec(), LIMITS, "scan_empty"),
            // UTF-8 cut off in the middle of a character at the very end: GB18030, which refuses it.
            (b"id_number,name\n1,\xE5\xBC\xA0\xE5\xBC".to_vec(), LIMITS, "not_tabular"),
            // Cut off after a whole GB18030 pair: read as GB18030.
            (b"id_number,name\n1,\xE5\xBC\xA0\xE4".to_vec(), LIMITS, "queued"),
            ("id_number,name\n1,a\n2,b\n\n3,c\n".into(), small, "too_many_rows"),
            ("id_number,name\n1,a,b,c\n".into(), small, "too_many_columns"),
            ("id_number,name\n1,\"张三李四五\"\n".into(), small, "field_too_long"),
            ("a,b\n1,2\n".into(), LIMITS, "missing_column"),
        ];
        for (bytes, limits, want) in cases {
            let got = same_at_every_cut(&db, &bytes, Source::PublicSecurity, &limits);
            let code = match &got {
                Outcome::Refused(DecodeError::NotTabular) => "not_tabular",
                Outcome::Refused(DecodeError::Empty) => "empty",
                Outcome::File { scanned: Scanned::Empty, .. } => "scan_empty",
                Outcome::File { scanned: Scanned::Limit(l), .. } => l.code(),
                Outcome::File { csv: None, .. } => "missing_column",
                Outcome::File { format: Format::CsvGb18030, csv: Some(_), .. } => "queued",
                other => panic!("{other:?}"),
            };
            assert_eq!(code, want, "{:?}", String::from_utf8_lossy(&bytes));
        }
    }

    #[test]
    fn a_record_far_over_the_limits_is_not_held_whole() {
        let db = NativeSql::open_in_memory().unwrap();
        let limits = TableLimits { max_rows: 10, max_columns: 4, max_field_bytes: 100 };
        // An unclosed quote makes the rest of the file one field; a line of commas, many fields.
        let quote = format!("id_number,name\n1,\"{}\n", "x".repeat(300_000));
        let commas = format!("id_number,name\n{}\n", ",".repeat(300_000));
        for (text, want) in [(quote, "field_too_long"), (commas, "too_many_columns")] {
            let expected = whole(text.as_bytes(), Source::PublicSecurity, &limits);
            let got = streamed(&db, text.as_bytes(), &mut SliceChunks::new(text.as_bytes(), 4096), Source::PublicSecurity, &limits);
            assert_eq!(got, expected);
            assert!(matches!(&got, Outcome::File { scanned: Scanned::Limit(l), .. } if l.code() == want), "{got:?}");
        }
        let mut scan = Scan::new(limits);
        scan.feed(",".repeat(1 << 20).as_bytes(), false);
        assert!(scan.ends.len() <= 2 * limits.max_columns.max(64) && scan.fields.len() <= 2 * scan.record_cap());
        scan.feed(format!("\"{}", "y".repeat(1 << 20)).as_bytes(), false);
        assert!(scan.fields.len() <= 2 * scan.record_cap(), "{} bytes held", scan.fields.len());
    }

    /// `n` rows of UTF-8 whose non-ASCII characters come in pairs (so that the bytes also read as
    /// GB18030), then one row written in GB18030.
    fn big_mixed_file(n: usize) -> (Vec<u8>, String) {
        let mut bytes = b"id_number,name\n".to_vec();
        for i in 0..n {
            bytes.extend_from_slice(format!("{i:08},张三\n").as_bytes());
        }
        bytes.extend_from_slice(&GB18030.encode("99999999,李四\n").0);
        let (text, errors) = GB18030.decode_without_bom_handling(&bytes);
        assert!(!errors);
        let text = text.into_owned();
        (bytes, text)
    }

    #[test]
    fn a_large_file_turning_out_gb18030_after_stored_parts_is_stored_decoded_again() {
        let db = NativeSql::open_in_memory().unwrap();
        let (bytes, text) = big_mixed_file(300_000);
        assert!(bytes.len() > PART_BYTES + 100_000);
        let got = streamed(&db, &bytes, &mut SliceChunks::new(&bytes, 64 << 10), Source::PublicSecurity, &LIMITS);
        let Outcome::File { format, scanned, csv } = got else { panic!() };
        assert_eq!((format, scanned), (Format::CsvGb18030, Scanned::Table { header: vec!["id_number".into(), "name".into()], rows: 300_001 }));
        assert!(csv.as_deref() == Some(text.as_bytes()), "the stored text is the GB18030 reading of the whole file");
        assert_eq!(db.query_one("SELECT count(*) FROM batch_parts", &[]).unwrap().unwrap().get::<i64>(0).unwrap(), 0);
    }

    fn info(limits: TableLimits) -> FileInfo<'static> {
        FileInfo { source: Source::PublicSecurity, file_name: Some("f.csv"), sheet: None, uploaded_by: "test", limits }
    }

    fn count(db: &NativeSql, sql: &str) -> i64 {
        db.query_one(sql, &[]).unwrap().unwrap().get(0).unwrap()
    }

    /// A body that breaks off after `after` chunks.
    struct BreaksOff<'a>(SliceChunks<'a>, usize);

    impl BodyChunks for BreaksOff<'_> {
        type Error = &'static str;
        fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, &'static str> {
            if self.1 == 0 {
                return Err("connection reset");
            }
            self.1 -= 1;
            Ok(self.0.next_chunk().unwrap_or_else(|never| match never {}))
        }
    }

    #[test]
    fn a_duplicate_a_failed_batch_or_a_broken_body_leaves_nothing_behind() {
        let db = NativeSql::open_in_memory().unwrap();
        let (bytes, _) = big_mixed_file(300_000);
        let now = chrono::Utc::now();
        let first = queue_stream(&db, &info(LIMITS), &mut SliceChunks::new(&bytes, 1 << 20), now).unwrap();
        let Queued::New(first) = first else { panic!("{first:?}") };
        assert_eq!((first.status.as_str(), first.batch_id.clone()), ("queued", format!("b{}", &sha256_hex(&bytes)[..20])));
        let parts = count(&db, "SELECT count(*) FROM batch_parts");
        assert_eq!(parts, 2);
        let report = crate::intake::batch_report(&db, &first.batch_id).unwrap().unwrap();
        assert_eq!((report.format.as_str(), report.rows_total), ("csv_gb18030", 300_001));
        let size: i64 = db.query_one("SELECT size_bytes FROM batches", &[]).unwrap().unwrap().get(0).unwrap();
        assert_eq!(size as usize, bytes.len());

        // The same bytes again, in other chunks, and through the in-memory entry point.
        let again = queue_stream(&db, &info(LIMITS), &mut SliceChunks::new(&bytes, 7777), now).unwrap();
        assert_eq!(again, Queued::Existing(first.clone()));
        let upload = Upload { source: Source::PublicSecurity, file_name: None, sheet: None, uploaded_by: "t", bytes: &bytes, limits: LIMITS };
        assert_eq!(queue_file(&db, &upload, now).unwrap(), Queued::Existing(first.clone()));
        assert_eq!((count(&db, "SELECT count(*) FROM batch_parts"), count(&db, "SELECT count(*) FROM batches")), (parts, 1));

        // Over the row limit: a failed batch without parts.
        let mut other = bytes.clone();
        other.extend_from_slice(b"1,x\n");
        let small = TableLimits { max_rows: 1000, ..LIMITS };
        let Queued::New(failed) = queue_stream(&db, &info(small), &mut SliceChunks::new(&other, 1 << 16), now).unwrap() else { panic!() };
        assert_eq!((failed.status.as_str(), failed.error_code.as_deref()), ("failed", Some("too_many_rows")));
        assert_eq!(count(&db, "SELECT count(*) FROM batch_parts"), parts);

        // Queued on a second try under a raised limit: the failed batch is replaced under its id.
        let Queued::New(retried) = queue_stream(&db, &info(LIMITS), &mut SliceChunks::new(&other, 1 << 16), now).unwrap() else { panic!() };
        assert_eq!((retried.batch_id.as_str(), retried.status.as_str()), (failed.batch_id.as_str(), "queued"));
        assert_eq!(count(&db, &format!("SELECT count(*) FROM batch_parts WHERE batch_id = '{}'", retried.batch_id)), 2);

        // A body broken off after 5 MB: no batch and no parts.
        let third = [bytes.as_slice(), b"2,y\n"].concat();
        let broken = queue_stream(&db, &info(LIMITS), &mut BreaksOff(SliceChunks::new(&third, 1 << 20), 5), now);
        assert!(matches!(broken, Err(StreamQueueError::Body("connection reset"))), "{broken:?}");
        assert_eq!((count(&db, "SELECT count(*) FROM batch_parts"), count(&db, "SELECT count(*) FROM batches")), (4, 2));
        assert_eq!(count(&db, "SELECT count(*) FROM batch_parts WHERE batch_id NOT IN (SELECT id FROM batches)"), 0);
    }

    #[test]
    fn parts_staged_by_an_upload_that_never_ended_are_swept_by_a_later_one() {
        let db = NativeSql::open_in_memory().unwrap();
        let now = chrono::Utc::now();
        let stage = |at: chrono::DateTime<chrono::Utc>| {
            let id = format!("~{:012}-0011223344556677", at.timestamp());
            db.exec("INSERT INTO batch_parts (batch_id, part_no, data) VALUES (?, 0, x'00')", &[id.as_str().into()]).unwrap();
            id
        };
        let dead = stage(now - chrono::Duration::hours(25));
        let dead_aside = format!("{dead}~raw");
        db.exec("INSERT INTO batch_parts (batch_id, part_no, data) VALUES (?, 0, x'00')", &[dead_aside.as_str().into()]).unwrap();
        let running = stage(now - chrono::Duration::hours(2));
        let file = "id_number,name\n110105194912310029,张三\n";
        let queued = queue_stream(&db, &info(LIMITS), &mut SliceChunks::new(file.as_bytes(), 5), now).unwrap();
        assert!(matches!(queued, Queued::New(ref b) if b.status == "queued"), "{queued:?}");
        let left: Vec<String> = db.execute("SELECT batch_id FROM batch_parts ORDER BY batch_id", &[]).unwrap().column(0).unwrap();
        assert_eq!(left, vec![format!("b{}", &sha256_hex(file.as_bytes())[..20]), running]);
    }
}
