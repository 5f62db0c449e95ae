//! Turning an uploaded department file into one form: UTF-8 CSV text without a BOM. CSV arrives in
//! UTF-8 (with or without a BOM) or GB18030 and the uploader does not say which, so the encoding is
//! detected; XLSX (first sheet, or a named one) is converted cell by cell, with date columns taken
//! from date cells or bare Excel serials. Storing the normalised form lets processing resume at a
//! byte offset in any later invocation without re-reading a workbook or re-decoding from the start.

use calamine::{Cell, Data, DataRef, Range, Reader, Xlsx};
use chrono::NaiveDate;
use std::io::Cursor;

/// How the uploaded bytes were written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// CSV in UTF-8 (a BOM, if any, is dropped).
    CsvUtf8,
    /// CSV in GB18030 (which includes GBK and GB2312).
    CsvGb18030,
    /// An Excel workbook.
    Xlsx,
}

impl Format {
    /// The name stored in `batches.format`.
    pub fn as_str(self) -> &'static str {
        match self {
            Format::CsvUtf8 => "csv_utf8",
            Format::CsvGb18030 => "csv_gb18030",
            Format::Xlsx => "xlsx",
        }
    }
}

/// Why a file could not be read as a table at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Nothing, or nothing but blank lines.
    #[error("文件为空")]
    Empty,
    /// Binary content that is neither text nor a workbook (PDF, old .xls, images …).
    #[error("文件不是 CSV 或 XLSX")]
    NotTabular,
    /// A workbook that does not open (truncated, corrupt, encrypted).
    #[error("XLSX 文件无法读取：{0}")]
    UnreadableXlsx(String),
    /// The requested sheet is not in the workbook.
    #[error("工作簿中没有名为“{0}”的工作表")]
    NoSuchSheet(String),
}

/// A file in the one form processing reads.
#[derive(Debug, Clone)]
pub struct Normalised {
    /// How it was uploaded.
    pub format: Format,
    /// UTF-8 CSV, header first, no BOM.
    pub csv: Vec<u8>,
}

/// The largest table a department file may be (Spin variables `intake_max_rows`,
/// `intake_max_columns`, `intake_max_field_bytes`). A file over any of them fails its batch at
/// upload, before anything of it is stored or applied.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TableLimits {
    /// Data rows (the header and blank lines not counted).
    pub max_rows: u64,
    /// Fields in any one line, the header included.
    pub max_columns: usize,
    /// UTF-8 bytes in any one field (cell).
    pub max_field_bytes: usize,
}

impl TableLimits {
    /// The documented defaults (spin.toml): 5,000,000 rows, 200 columns, 4,096 bytes a field.
    pub const DEFAULT: TableLimits = TableLimits { max_rows: 5_000_000, max_columns: 200, max_field_bytes: 4096 };

    /// The limits from variable values, each falling back to its default when unset or not a
    /// positive whole number.
    pub fn from_vars(rows: Option<&str>, columns: Option<&str>, field_bytes: Option<&str>) -> TableLimits {
        fn positive<T: std::str::FromStr + PartialOrd + Default>(v: Option<&str>, default: T) -> T {
            v.and_then(|v| v.trim().parse::<T>().ok()).filter(|n| *n > T::default()).unwrap_or(default)
        }
        let d = TableLimits::DEFAULT;
        TableLimits {
            max_rows: positive(rows, d.max_rows),
            max_columns: positive(columns, d.max_columns),
            max_field_bytes: positive(field_bytes, d.max_field_bytes),
        }
    }
}

impl Default for TableLimits {
    fn default() -> Self {
        TableLimits::DEFAULT
    }
}

/// A file over one of its [`TableLimits`]: the batch fails with `code` and a message naming the
/// limit, its variable and the line where it was passed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitExceeded {
    /// More data rows than `intake_max_rows`.
    #[error("文件的数据行超过上限 {limit} 行（intake_max_rows），请拆分为多个文件上传")]
    TooManyRows {
        /// The limit.
        limit: u64,
    },
    /// A line with more fields than `intake_max_columns`.
    #[error("第 {line} 行有 {columns} 列，超过上限 {limit} 列（intake_max_columns）")]
    TooManyColumns {
        /// The line (the header is line 1; XLSX: the sheet row).
        line: u64,
        /// Its fields.
        columns: usize,
        /// The limit.
        limit: usize,
    },
    /// A field longer than `intake_max_field_bytes`.
    #[error("第 {line} 行第 {column} 列的内容有 {bytes} 字节，超过上限 {limit} 字节（intake_max_field_bytes）")]
    FieldTooLong {
        /// The line.
        line: u64,
        /// The column (1-based).
        column: usize,
        /// The field's length in UTF-8 bytes.
        bytes: usize,
        /// The limit.
        limit: usize,
    },
}

impl LimitExceeded {
    /// The machine-readable code a failed batch carries (`error_code`).
    pub fn code(&self) -> &'static str {
        match self {
            LimitExceeded::TooManyRows { .. } => "too_many_rows",
            LimitExceeded::TooManyColumns { .. } => "too_many_columns",
            LimitExceeded::FieldTooLong { .. } => "field_too_long",
        }
    }

    /// Whether `code` is one of [`LimitExceeded::code`]'s.
    pub fn is_code(code: &str) -> bool {
        matches!(code, "too_many_rows" | "too_many_columns" | "field_too_long")
    }
}

/// The shape of a normalised file: its header and its number of data rows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Table {
    /// The header's fields, trimmed.
    pub header: Vec<String>,
    /// Non-blank lines after the header.
    pub rows: u64,
}

/// Why a normalised file cannot be queued as it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScanError {
    /// Not a table after all (no header, or CSV the reader cannot split).
    Decode(DecodeError),
    /// Over a limit.
    Limit(LimitExceeded),
}

/// Reads the normalised CSV once: finds the header, counts the data rows (blank lines skipped)
/// and checks every line against `limits`, stopping at the first line over one.
pub fn scan(csv: &[u8], limits: &TableLimits) -> Result<Table, ScanError> {
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(csv);
    let mut record = csv::ByteRecord::new();
    let mut header: Option<Vec<String>> = None;
    let mut rows = 0u64;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(true) => {}
            Ok(false) => break,
            Err(_) => return Err(ScanError::Decode(DecodeError::NotTabular)),
        }
        let line = record.position().map_or(0, |p| p.line());
        if record.len() > limits.max_columns {
            return Err(ScanError::Limit(LimitExceeded::TooManyColumns { line, columns: record.len(), limit: limits.max_columns }));
        }
        if let Some((i, field)) = record.iter().enumerate().find(|(_, f)| f.len() > limits.max_field_bytes) {
            let limit = limits.max_field_bytes;
            return Err(ScanError::Limit(LimitExceeded::FieldTooLong { line, column: i + 1, bytes: field.len(), limit }));
        }
        // Blank as processing sees it (`super::is_blank`: Unicode whitespace, e.g. U+3000, too).
        if record.iter().all(|f| std::str::from_utf8(f).is_ok_and(|t| t.trim().is_empty())) {
            continue;
        }
        if header.is_none() {
            let text = |f: &[u8]| String::from_utf8_lossy(f).trim().to_string();
            header = Some(record.iter().map(text).collect());
        } else {
            rows += 1;
            if rows > limits.max_rows {
                return Err(ScanError::Limit(LimitExceeded::TooManyRows { limit: limits.max_rows }));
            }
        }
    }
    header.map(|header| Table { header, rows }).ok_or(ScanError::Decode(DecodeError::Empty))
}

const UTF8_BOM: &[u8] = b"\xEF\xBB\xBF";
const ZIP_MAGIC: &[u8] = b"PK\x03\x04";
/// Magic numbers of formats departments upload by mistake: PDF, OLE2 (.xls/.doc), PNG, JPEG, GIF.
const BINARY_MAGIC: &[&[u8]] = &[b"%PDF", b"\xD0\xCF\x11\xE0", b"\x89PNG", b"\xFF\xD8\xFF", b"GIF8"];

/// Bytes read before a file is told apart: a workbook, a known binary format, or text.
pub const SNIFF_BYTES: usize = 4;

/// Whether a file starting with `first` is a workbook (a zip).
pub fn is_workbook(first: &[u8]) -> bool {
    first.starts_with(ZIP_MAGIC)
}

/// Whether a file starting with `first` is a binary format departments upload by mistake.
pub fn is_binary(first: &[u8]) -> bool {
    BINARY_MAGIC.iter().any(|m| first.starts_with(m))
}

/// Detects the format and returns the file as UTF-8 CSV. `is_date_column` says, by header text,
/// which XLSX columns hold dates (so that a bare serial number there becomes a date).
pub fn normalise(bytes: &[u8], sheet: Option<&str>, is_date_column: &dyn Fn(&str) -> bool) -> Result<Normalised, DecodeError> {
    if bytes.starts_with(ZIP_MAGIC) {
        return xlsx_to_csv(bytes, sheet, is_date_column).map(|csv| Normalised { format: Format::Xlsx, csv });
    }
    if BINARY_MAGIC.iter().any(|m| bytes.starts_with(m)) || bytes.contains(&0) {
        return Err(DecodeError::NotTabular);
    }
    let (format, csv) = if let Some(rest) = bytes.strip_prefix(UTF8_BOM) {
        // A BOM promises UTF-8; bytes that break the promise would stop processing half-way.
        if std::str::from_utf8(rest).is_err() {
            return Err(DecodeError::NotTabular);
        }
        (Format::CsvUtf8, rest.to_vec())
    } else if std::str::from_utf8(bytes).is_ok() {
        (Format::CsvUtf8, bytes.to_vec())
    } else {
        let (text, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(bytes);
        if had_errors {
            return Err(DecodeError::NotTabular);
        }
        (Format::CsvGb18030, text.into_owned().into_bytes())
    };
    if csv.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(DecodeError::Empty);
    }
    Ok(Normalised { format, csv })
}

fn xlsx_to_csv(bytes: &[u8], sheet: Option<&str>, is_date_column: &dyn Fn(&str) -> bool) -> Result<Vec<u8>, DecodeError> {
    let mut book: Xlsx<_> = calamine::open_workbook_from_rs(Cursor::new(bytes))
        .map_err(|e: calamine::XlsxError| DecodeError::UnreadableXlsx(e.to_string()))?;
    let name = match sheet {
        Some(name) => {
            if !book.sheet_names().iter().any(|n| n == name) {
                return Err(DecodeError::NoSuchSheet(name.to_string()));
            }
            name.to_string()
        }
        None => book.sheet_names().first().cloned().ok_or(DecodeError::Empty)?,
    };
    let range = used_range(&mut book, &name)?;
    // Lines are sheet rows: rows above the used range are written as empty lines so that the
    // line numbers of the error report are the row numbers Excel shows.
    let (first_row, _) = range.start().ok_or(DecodeError::Empty)?;
    let mut out = csv::WriterBuilder::new().flexible(true).from_writer(Vec::new());
    for _ in 0..first_row {
        out.write_record([""]).map_err(|e| DecodeError::UnreadableXlsx(e.to_string()))?;
    }
    let mut date_columns: Vec<bool> = Vec::new();
    let mut fields: Vec<String> = Vec::new();
    for (i, row) in range.rows().enumerate() {
        fields.clear();
        fields.extend(row.iter().enumerate().map(|(c, cell)| cell_text(cell, date_columns.get(c).copied().unwrap_or(false))));
        if i == 0 {
            date_columns = fields.iter().map(|h| is_date_column(h.trim())).collect();
        }
        out.write_record(&fields).map_err(|e| DecodeError::UnreadableXlsx(e.to_string()))?;
    }
    let csv = out.into_inner().map_err(|e| DecodeError::UnreadableXlsx(e.to_string()))?;
    if csv.iter().all(|b| b.is_ascii_whitespace() || *b == b',') {
        return Err(DecodeError::Empty);
    }
    Ok(csv)
}

/// A used area may hold this many times its non-empty cells (plus [`SPARSE_AREA_SLACK`]): sheets
/// with empty optional columns are fine, two cells a million rows and columns apart are not.
const SPARSE_AREA_FACTOR: u64 = 4;
/// The cells any used area may have beyond [`SPARSE_AREA_FACTOR`] times its non-empty cells.
const SPARSE_AREA_SLACK: u64 = 1_000_000;

/// The non-empty cells of a sheet as a rectangle, as calamine's `worksheet_range` builds it, but
/// refusing a rectangle far larger than its content before allocating it: a 1 KB workbook with
/// cells at A1 and XFD1048576 would otherwise ask for 17 billion cells (found by tests/fuzz.rs).
fn used_range(book: &mut Xlsx<Cursor<&[u8]>>, name: &str) -> Result<Range<Data>, DecodeError> {
    let unreadable = |e: calamine::XlsxError| DecodeError::UnreadableXlsx(e.to_string());
    let mut reader = match book.worksheet_cells_reader(name) {
        Ok(reader) => reader,
        Err(calamine::XlsxError::NotAWorksheet(_)) => return Err(DecodeError::Empty),
        Err(e) => return Err(unreadable(e)),
    };
    let mut cells = Vec::new();
    let (mut top, mut bottom, mut left, mut right) = (u32::MAX, 0, u32::MAX, 0);
    while let Some(cell) = reader.next_cell().map_err(unreadable)? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (r, c) = cell.get_position();
        (top, bottom, left, right) = (top.min(r), bottom.max(r), left.min(c), right.max(c));
        cells.push(Cell::new((r, c), Data::from(cell.get_value().clone())));
    }
    if !cells.is_empty() {
        let area = u64::from(bottom - top + 1) * u64::from(right - left + 1);
        if area > SPARSE_AREA_FACTOR * cells.len() as u64 + SPARSE_AREA_SLACK {
            return Err(DecodeError::UnreadableXlsx(format!(
                "工作表的使用区域过大（{}行×{}列，只有{}个非空单元格），请删除远处多余的单元格后重新上传",
                bottom - top + 1,
                right - left + 1,
                cells.len()
            )));
        }
    }
    Ok(Range::from_sparse(cells))
}

/// One cell as CSV text: dates as ISO, whole numbers without a decimal point (phone numbers and
/// codes typed as numbers), serials in date columns as ISO dates.
fn cell_text(cell: &Data, date_column: bool) -> String {
    match cell {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::DateTimeIso(s) => s.get(..10).unwrap_or(s).to_string(),
        Data::DateTime(d) => excel_serial_date(d.as_f64()).map(|d| d.to_string()).unwrap_or_default(),
        Data::Float(f) if date_column => excel_serial_date(*f).map(|d| d.to_string()).unwrap_or_else(|| f.to_string()),
        Data::Int(i) if date_column => excel_serial_date(*i as f64).map(|d| d.to_string()).unwrap_or_else(|| i.to_string()),
        Data::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        Data::Float(f) => f.to_string(),
        Data::Int(i) => i.to_string(),
        Data::Bool(b) => b.to_string(),
        Data::DurationIso(s) => s.clone(),
        Data::Error(_) => String::new(),
    }
}

/// The date of an Excel serial number (days since 1899-12-30, the 1900 date system as every
/// current Excel writes it); `None` outside 1900–9999.
pub fn excel_serial_date(serial: f64) -> Option<NaiveDate> {
    if !(1.0..2_958_466.0).contains(&serial) {
        return None;
    }
    NaiveDate::from_ymd_opt(1899, 12, 30)?.checked_add_days(chrono::Days::new(serial.floor() as u64))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn no_dates(_: &str) -> bool {
        false
    }

    #[test]
    fn utf8_with_and_without_bom_and_gb18030_read_the_same() {
        let text = "姓名,公民身份号码\r\n张三,11010519491231002X\r\n";
        let plain = normalise(text.as_bytes(), None, &no_dates).unwrap();
        let mut bom = UTF8_BOM.to_vec();
        bom.extend_from_slice(text.as_bytes());
        let with_bom = normalise(&bom, None, &no_dates).unwrap();
        let (gb, _, _) = encoding_rs::GB18030.encode(text);
        let gb = normalise(&gb, None, &no_dates).unwrap();
        assert_eq!((plain.format, with_bom.format, gb.format), (Format::CsvUtf8, Format::CsvUtf8, Format::CsvGb18030));
        assert_eq!(plain.csv, text.as_bytes());
        assert_eq!(with_bom.csv, plain.csv);
        assert_eq!(gb.csv, plain.csv);
    }

    #[test]
    fn empty_binary_and_broken_workbooks_are_refused() {
        assert_eq!(normalise(b"", None, &no_dates).unwrap_err(), DecodeError::Empty);
        assert_eq!(normalise(b"\r\n\r\n", None, &no_dates).unwrap_err(), DecodeError::Empty);
        assert_eq!(normalise(b"%PDF-1.4 ...", None, &no_dates).unwrap_err(), DecodeError::NotTabular);
        assert_eq!(normalise(b"a,b\x00c", None, &no_dates).unwrap_err(), DecodeError::NotTabular);
        // A BOM followed by bytes that are not UTF-8 (found by tests/fuzz.rs).
        assert_eq!(normalise(b"\xEF\xBB\xBF\x01\x80", None, &no_dates).unwrap_err(), DecodeError::NotTabular);
        assert!(matches!(normalise(b"PK\x03\x04truncated", None, &no_dates), Err(DecodeError::UnreadableXlsx(_))));
    }

    const SMALL: TableLimits = TableLimits { max_rows: 3, max_columns: 4, max_field_bytes: 12 };

    #[test]
    fn a_table_within_its_limits_is_scanned_with_blank_lines_not_counted() {
        let csv = "\n 姓名 ,号码\n张三,1\n\u{3000},\n李四,2\n王五,3\n".as_bytes();
        let table = scan(csv, &SMALL).unwrap();
        assert_eq!(table, Table { header: vec!["姓名".into(), "号码".into()], rows: 3 });
        assert_eq!(scan(b"\n , \n", &SMALL), Err(ScanError::Decode(DecodeError::Empty)));
    }

    #[test]
    fn one_row_over_the_row_limit_fails_naming_the_limit() {
        let e = scan(b"a,b\n1,2\n3,4\n5,6\n7,8\n", &SMALL).unwrap_err();
        let ScanError::Limit(e) = e else { panic!("{e:?}") };
        assert_eq!((e.code(), e.clone()), ("too_many_rows", LimitExceeded::TooManyRows { limit: 3 }));
        assert!(e.to_string().contains("intake_max_rows") && e.to_string().contains('3'), "{e}");
    }

    #[test]
    fn a_line_with_too_many_fields_fails_with_its_line_number() {
        let e = scan(b"a,b\n1,2\n1,2,3,4,5\n", &SMALL).unwrap_err();
        let ScanError::Limit(e) = e else { panic!("{e:?}") };
        assert_eq!(e, LimitExceeded::TooManyColumns { line: 3, columns: 5, limit: 4 });
        assert_eq!(e.code(), "too_many_columns");
        assert!(e.to_string().contains("intake_max_columns"), "{e}");
        // A header of too many columns counts as well, even if no data row follows.
        assert!(matches!(scan(b"a,b,c,d,e\n", &SMALL), Err(ScanError::Limit(LimitExceeded::TooManyColumns { line: 1, .. }))));
    }

    #[test]
    fn an_overlong_field_fails_with_its_line_and_column_in_bytes() {
        // 4 Chinese characters are 12 bytes (at the limit); 5 are 15.
        assert!(scan("a,b\n1,四个汉字\n".as_bytes(), &SMALL).is_ok());
        let e = scan("a,b\n1,四个汉字\n2,\"五个汉字啊\"\n".as_bytes(), &SMALL).unwrap_err();
        let ScanError::Limit(e) = e else { panic!("{e:?}") };
        assert_eq!(e, LimitExceeded::FieldTooLong { line: 3, column: 2, bytes: 15, limit: 12 });
        assert_eq!(e.code(), "field_too_long");
        assert!(e.to_string().contains("intake_max_field_bytes"), "{e}");
    }

    #[test]
    fn limits_come_from_variables_with_their_defaults() {
        assert_eq!(TableLimits::from_vars(None, None, None), TableLimits::DEFAULT);
        let set = TableLimits::from_vars(Some(" 10 "), Some("7"), Some("99"));
        assert_eq!(set, TableLimits { max_rows: 10, max_columns: 7, max_field_bytes: 99 });
        // Nonsense or zero falls back rather than refusing every file.
        assert_eq!(TableLimits::from_vars(Some("0"), Some("-1"), Some("lots")), TableLimits::DEFAULT);
    }

    #[test]
    fn excel_serials_are_days_since_1899_12_30() {
        assert_eq!(excel_serial_date(45_658.0), NaiveDate::from_ymd_opt(2025, 1, 1));
        assert_eq!(excel_serial_date(1.0), NaiveDate::from_ymd_opt(1899, 12, 31));
        assert_eq!(excel_serial_date(-3.0), None);
    }

    #[test]
    fn cells_become_text_with_dates_and_whole_numbers_readable() {
        assert_eq!(cell_text(&Data::Float(13_812_345_678.0), false), "13812345678");
        assert_eq!(cell_text(&Data::Float(45_658.0), true), "2025-01-01");
        assert_eq!(cell_text(&Data::Int(45_658), true), "2025-01-01");
        assert_eq!(cell_text(&Data::String("2020/1/5".into()), true), "2020/1/5");
        assert_eq!(cell_text(&Data::DateTimeIso("2020-01-05T00:00:00".into()), true), "2020-01-05");
    }
}
