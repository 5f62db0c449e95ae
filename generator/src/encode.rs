//! Writing one department file three ways at once — CSV in UTF-8 (with or without BOM), CSV in
//! GB18030, and XLSX — row by row, to memory or to disk, so a 1.2-million-person city streams.

use chrono::{Datelike, NaiveDate};
use encoding_rs::GB18030;
use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook};
use std::io::Write;

/// One cell of a department file.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// Nothing in this column.
    Empty,
    /// Text, written as-is (in XLSX as a string cell).
    Text(String),
    /// A date: ISO `YYYY-MM-DD` in CSV; in XLSX as the file's [`XlsxDates`] style says.
    Date(NaiveDate),
    /// A whole number.
    Int(i64),
}

impl Cell {
    /// The cell as CSV text.
    pub fn text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Date(d) => d.format("%Y-%m-%d").to_string(),
            Cell::Int(n) => n.to_string(),
        }
    }

    /// Whether the cell is empty.
    pub fn is_empty(&self) -> bool {
        matches!(self, Cell::Empty) || matches!(self, Cell::Text(s) if s.is_empty())
    }
}

/// How an XLSX file writes its (well-formed) dates; text dates in other layouts stay text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum XlsxDates {
    /// As text `YYYY-MM-DD`.
    Text,
    /// As date cells: the serial number with a `yyyy-mm-dd` number format.
    DateCells,
    /// As bare Excel serial numbers (days since 1899-12-30), the way some systems export them.
    Serial,
}

/// Which encodings to produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// CSV in UTF-8.
    pub csv: bool,
    /// CSV in GB18030.
    pub gb18030: bool,
    /// XLSX.
    pub xlsx: bool,
}

impl Default for Formats {
    fn default() -> Self {
        Formats { csv: true, gb18030: true, xlsx: true }
    }
}

impl Formats {
    /// Parses `csv,gb18030,xlsx` (any subset).
    pub fn parse(text: &str) -> anyhow::Result<Formats> {
        let mut f = Formats { csv: false, gb18030: false, xlsx: false };
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "csv" | "utf8" => f.csv = true,
                "gb18030" | "gbk" => f.gb18030 = true,
                "xlsx" => f.xlsx = true,
                other => anyhow::bail!("unknown format `{other}`: use csv, gb18030 or xlsx"),
            }
        }
        Ok(f)
    }
}

/// Days since 1899-12-30, Excel's serial date.
pub fn excel_serial(d: NaiveDate) -> i64 {
    (d - NaiveDate::from_ymd_opt(1899, 12, 30).expect("date")).num_days()
}

/// Appends one CSV record (RFC 4180 quoting, CRLF) to `out`.
pub fn csv_line(cells: &[String], out: &mut String) {
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        if c.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&c.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(c);
        }
    }
    out.push_str("\r\n");
}

/// Where a file's bytes go.
pub enum Sink {
    /// Into memory.
    Memory(Vec<u8>),
    /// Into a buffered file on disk.
    File(std::io::BufWriter<std::fs::File>),
}

impl Sink {
    fn write_all(&mut self, b: &[u8]) -> std::io::Result<()> {
        match self {
            Sink::Memory(v) => {
                v.extend_from_slice(b);
                Ok(())
            }
            Sink::File(f) => f.write_all(b),
        }
    }

    fn finish(self) -> std::io::Result<Vec<u8>> {
        match self {
            Sink::Memory(v) => Ok(v),
            Sink::File(mut f) => {
                f.flush()?;
                Ok(Vec::new())
            }
        }
    }
}

/// GB18030 bytes of every BMP character, looked up through encoding_rs once per character and
/// kept: department files repeat a few thousand characters millions of times.
struct Gb18030Table {
    /// (length, bytes) per code point below U+10000; length 0 = not looked up yet.
    bmp: Vec<(u8, [u8; 4])>,
}

impl Gb18030Table {
    fn new() -> Self {
        Gb18030Table { bmp: vec![(0, [0; 4]); 0x10000] }
    }

    fn encode_char(c: char) -> (u8, [u8; 4]) {
        let mut tmp = [0u8; 4];
        let (bytes, _, _) = GB18030.encode(c.encode_utf8(&mut tmp));
        let mut out = [0u8; 4];
        let n = bytes.len().min(4);
        out[..n].copy_from_slice(&bytes[..n]);
        (n as u8, out)
    }

    fn encode(&mut self, text: &str, out: &mut Vec<u8>) {
        for c in text.chars() {
            if c.is_ascii() {
                out.push(c as u8);
                continue;
            }
            let (n, b) = if (c as u32) < 0x10000 {
                let slot = &mut self.bmp[c as usize];
                if slot.0 == 0 {
                    *slot = Self::encode_char(c);
                }
                *slot
            } else {
                Self::encode_char(c)
            };
            out.extend_from_slice(&b[..n as usize]);
        }
    }
}

/// Rows handed to the XLSX thread at a time.
const XLSX_BATCH: usize = 2048;

/// The XLSX encoding, written on its own thread (deflate is the most expensive part of a run).
struct XlsxWorker {
    tx: std::sync::mpsc::SyncSender<Vec<Vec<Cell>>>,
    batch: Vec<Vec<Cell>>,
    handle: std::thread::JoinHandle<anyhow::Result<Vec<u8>>>,
}

impl XlsxWorker {
    fn start(path: Option<std::path::PathBuf>, dates: XlsxDates) -> XlsxWorker {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Vec<Vec<Cell>>>(8);
        let handle = std::thread::spawn(move || -> anyhow::Result<Vec<u8>> {
            let x = |e: rust_xlsxwriter::XlsxError| anyhow::anyhow!("xlsx: {e}");
            let mut wb = Workbook::new();
            // A fixed creation time keeps the bytes identical for the same seed.
            wb.set_properties(&DocProperties::new().set_creation_datetime(&ExcelDateTime::from_ymd(2025, 1, 1).map_err(x)?));
            wb.set_zip_compression_level(1);
            let date_format = Format::new().set_num_format("yyyy-mm-dd");
            let ws = if path.is_some() { wb.add_worksheet_with_constant_memory().map_err(x)? } else { wb.add_worksheet() };
            let mut row = 0u32;
            for batch in rx {
                for cells in batch {
                    for (col, cell) in cells.iter().enumerate() {
                        let col = col as u16;
                        match cell {
                            Cell::Empty => {}
                            Cell::Text(s) if s.is_empty() => {}
                            Cell::Text(s) => {
                                ws.write_string(row, col, s).map_err(x)?;
                            }
                            Cell::Int(n) => {
                                ws.write_number(row, col, *n as f64).map_err(x)?;
                            }
                            Cell::Date(d) => match dates {
                                XlsxDates::Text => {
                                    ws.write_string(row, col, d.format("%Y-%m-%d").to_string()).map_err(x)?;
                                }
                                XlsxDates::DateCells => {
                                    ws.write_number_with_format(row, col, excel_serial(*d) as f64, &date_format).map_err(x)?;
                                }
                                XlsxDates::Serial => {
                                    ws.write_number(row, col, excel_serial(*d) as f64).map_err(x)?;
                                }
                            },
                        }
                    }
                    row += 1;
                }
            }
            match path {
                Some(p) => {
                    wb.save(p).map_err(x)?;
                    Ok(Vec::new())
                }
                None => wb.save_to_buffer().map_err(x),
            }
        });
        XlsxWorker { tx, batch: Vec::with_capacity(XLSX_BATCH), handle }
    }

    fn row(&mut self, cells: Vec<Cell>) -> anyhow::Result<()> {
        self.batch.push(cells);
        if self.batch.len() >= XLSX_BATCH {
            self.flush()?;
        }
        Ok(())
    }

    fn flush(&mut self) -> anyhow::Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let b = std::mem::replace(&mut self.batch, Vec::with_capacity(XLSX_BATCH));
        if self.tx.send(b).is_err() {
            anyhow::bail!("the XLSX writer stopped early");
        }
        Ok(())
    }

    fn finish(mut self) -> anyhow::Result<PendingXlsx> {
        self.flush()?;
        drop(self.tx);
        Ok(PendingXlsx(self.handle))
    }
}

/// An XLSX still being compressed and written on its own thread; `wait` for its bytes (empty
/// when written to disk). Letting it finish while the next file is generated keeps both cores
/// busy.
pub struct PendingXlsx(std::thread::JoinHandle<anyhow::Result<Vec<u8>>>);

impl PendingXlsx {
    /// Waits for the XLSX and returns its bytes.
    pub fn wait(self) -> anyhow::Result<Vec<u8>> {
        self.0.join().map_err(|_| anyhow::anyhow!("the XLSX writer panicked"))?
    }
}

/// Writes one department file in every requested encoding, a row at a time.
pub struct FileWriter {
    utf8: Option<Sink>,
    gb: Option<Sink>,
    gb_table: Box<Gb18030Table>,
    gb_buf: Vec<u8>,
    xlsx: Option<XlsxWorker>,
    line: String,
}

/// The bytes of a file written to memory (empty vectors for encodings not produced or written
/// to disk).
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// CSV, UTF-8.
    pub csv_utf8: Vec<u8>,
    /// CSV, GB18030.
    pub csv_gb18030: Vec<u8>,
    /// XLSX (filled in by [`PendingXlsx::wait`]).
    pub xlsx: Vec<u8>,
}

impl FileWriter {
    /// A writer into memory (`dir` = None) or into `dir/<stem>.csv`, `dir/<stem>.gb18030.csv`
    /// and `dir/<stem>.xlsx`.
    pub fn new(
        formats: Formats,
        dir: Option<&std::path::Path>,
        stem: &str,
        bom: bool,
        xlsx_dates: XlsxDates,
    ) -> anyhow::Result<FileWriter> {
        let open = |name: String| -> anyhow::Result<Sink> {
            Ok(match dir {
                None => Sink::Memory(Vec::new()),
                Some(d) => Sink::File(std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(d.join(name))?)),
            })
        };
        let mut utf8 = if formats.csv { Some(open(format!("{stem}.csv"))?) } else { None };
        if bom {
            if let Some(s) = utf8.as_mut() {
                s.write_all(b"\xEF\xBB\xBF")?;
            }
        }
        let gb = if formats.gb18030 { Some(open(format!("{stem}.gb18030.csv"))?) } else { None };
        let xlsx = formats.xlsx.then(|| XlsxWorker::start(dir.map(|d| d.join(format!("{stem}.xlsx"))), xlsx_dates));
        Ok(FileWriter {
            utf8,
            gb,
            gb_table: Box::new(Gb18030Table::new()),
            gb_buf: Vec::new(),
            xlsx,
            line: String::new(),
        })
    }

    /// Writes one row (the header is the first row, as text cells).
    pub fn row(&mut self, cells: Vec<Cell>) -> anyhow::Result<()> {
        self.line.clear();
        csv_line_cells(&cells, &mut self.line);
        if let Some(s) = self.utf8.as_mut() {
            s.write_all(self.line.as_bytes())?;
        }
        if let Some(s) = self.gb.as_mut() {
            self.gb_buf.clear();
            self.gb_table.encode(&self.line, &mut self.gb_buf);
            s.write_all(&self.gb_buf)?;
        }
        if let Some(x) = self.xlsx.as_mut() {
            x.row(cells)?;
        }
        Ok(())
    }

    /// Flushes and closes the CSV encodings and returns their in-memory bytes, with the XLSX
    /// still finishing on its thread.
    pub fn finish(self) -> anyhow::Result<(Written, Option<PendingXlsx>)> {
        let mut w = Written::default();
        if let Some(s) = self.utf8 {
            w.csv_utf8 = s.finish()?;
        }
        if let Some(s) = self.gb {
            w.csv_gb18030 = s.finish()?;
        }
        let pending = match self.xlsx {
            Some(x) => Some(x.finish()?),
            None => None,
        };
        Ok((w, pending))
    }
}

/// Appends one CSV record of cells (dates ISO) to `out`, without allocating per cell.
fn csv_line_cells(cells: &[Cell], out: &mut String) {
    use std::fmt::Write as _;
    for (i, c) in cells.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        match c {
            Cell::Empty => {}
            Cell::Text(s) if s.contains([',', '"', '\r', '\n']) => {
                out.push('"');
                out.push_str(&s.replace('"', "\"\""));
                out.push('"');
            }
            Cell::Text(s) => out.push_str(s),
            Cell::Date(d) => {
                let _ = write!(out, "{:04}-{:02}-{:02}", d.year(), d.month(), d.day());
            }
            Cell::Int(n) => {
                let _ = write!(out, "{n}");
            }
        }
    }
    out.push_str("\r\n");
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quotes_only_what_needs_it() {
        let mut out = String::new();
        csv_line_cells(
            &[Cell::Text("a,b".into()), Cell::Text("say \"hi\"".into()), Cell::Empty, Cell::Int(3), Cell::Date(NaiveDate::from_ymd_opt(2020, 1, 5).unwrap())],
            &mut out,
        );
        assert_eq!(out, "\"a,b\",\"say \"\"hi\"\"\",,3,2020-01-05\r\n");
    }

    #[test]
    fn memoised_gb18030_matches_encoding_rs() {
        let text = "攀枝花市东区·彝族 欧阳娜 ０８１２ 𠀀 a,b\r\n";
        let mut table = Gb18030Table::new();
        let mut out = Vec::new();
        table.encode(text, &mut out);
        assert_eq!(out, GB18030.encode(text).0.into_owned());
    }

    #[test]
    fn excel_serials() {
        assert_eq!(excel_serial(NaiveDate::from_ymd_opt(1900, 3, 1).unwrap()), 61);
        assert_eq!(excel_serial(NaiveDate::from_ymd_opt(2020, 1, 5).unwrap()), 43835);
    }
}
