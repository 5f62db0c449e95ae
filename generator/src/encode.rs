//! Writing one department file three ways at once — CSV in UTF-8 (with or without BOM), CSV in
//! GB18030, and XLSX — row by row, to memory or to disk, so a 1.2-million-person city streams.

use chrono::NaiveDate;
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

/// Writes one department file in every requested encoding, a row at a time.
pub struct FileWriter {
    utf8: Option<Sink>,
    gb: Option<Sink>,
    gb_encoder: encoding_rs::Encoder,
    gb_buf: Vec<u8>,
    xlsx: Option<(Workbook, Option<std::path::PathBuf>)>,
    xlsx_dates: XlsxDates,
    date_format: Format,
    row: u32,
    line: String,
    texts: Vec<String>,
}

/// The bytes of a file written to memory (empty vectors for encodings not produced or written
/// to disk).
#[derive(Debug, Default, Clone)]
pub struct Written {
    /// CSV, UTF-8.
    pub csv_utf8: Vec<u8>,
    /// CSV, GB18030.
    pub csv_gb18030: Vec<u8>,
    /// XLSX.
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
        let xlsx = if formats.xlsx {
            let mut wb = Workbook::new();
            // A fixed creation time keeps the bytes identical for the same seed.
            let created = ExcelDateTime::from_ymd(2025, 1, 1).map_err(|e| anyhow::anyhow!("{e}"))?;
            wb.set_properties(&DocProperties::new().set_creation_datetime(&created));
            if dir.is_some() {
                wb.add_worksheet_with_constant_memory().map_err(|e| anyhow::anyhow!("xlsx: {e}"))?;
            } else {
                wb.add_worksheet();
            }
            Some((wb, dir.map(|d| d.join(format!("{stem}.xlsx")))))
        } else {
            None
        };
        Ok(FileWriter {
            utf8,
            gb,
            gb_encoder: GB18030.new_encoder(),
            gb_buf: Vec::new(),
            xlsx,
            xlsx_dates,
            date_format: Format::new().set_num_format("yyyy-mm-dd"),
            row: 0,
            line: String::new(),
            texts: Vec::new(),
        })
    }

    /// Writes one row (the header is the first row, as text cells).
    pub fn row(&mut self, cells: &[Cell]) -> anyhow::Result<()> {
        self.texts.clear();
        self.texts.extend(cells.iter().map(Cell::text));
        self.line.clear();
        csv_line(&self.texts, &mut self.line);
        if let Some(s) = self.utf8.as_mut() {
            s.write_all(self.line.as_bytes())?;
        }
        if let Some(s) = self.gb.as_mut() {
            self.gb_buf.clear();
            self.gb_buf.reserve(self.line.len() * 2 + 16);
            let (res, _read) = self.gb_encoder.encode_from_utf8_to_vec_without_replacement(&self.line, &mut self.gb_buf, false);
            if let encoding_rs::EncoderResult::Unmappable(c) = res {
                anyhow::bail!("GB18030 cannot encode {c:?}");
            }
            s.write_all(&self.gb_buf)?;
        }
        if let Some((wb, _)) = self.xlsx.as_mut() {
            let ws = wb.worksheet_from_index(0).map_err(|e| anyhow::anyhow!("{e}"))?;
            for (col, cell) in cells.iter().enumerate() {
                let col = col as u16;
                let r = match cell {
                    Cell::Empty => continue,
                    Cell::Text(s) if s.is_empty() => continue,
                    Cell::Text(s) => ws.write_string(self.row, col, s).map(|_| ()),
                    Cell::Int(n) => ws.write_number(self.row, col, *n as f64).map(|_| ()),
                    Cell::Date(d) => match self.xlsx_dates {
                        XlsxDates::Text => ws.write_string(self.row, col, d.format("%Y-%m-%d").to_string()).map(|_| ()),
                        XlsxDates::DateCells => {
                            ws.write_number_with_format(self.row, col, excel_serial(*d) as f64, &self.date_format).map(|_| ())
                        }
                        XlsxDates::Serial => ws.write_number(self.row, col, excel_serial(*d) as f64).map(|_| ()),
                    },
                };
                r.map_err(|e| anyhow::anyhow!("xlsx: {e}"))?;
            }
        }
        self.row += 1;
        Ok(())
    }

    /// Flushes and closes every encoding; returns the in-memory bytes.
    pub fn finish(self) -> anyhow::Result<Written> {
        let mut w = Written::default();
        if let Some(s) = self.utf8 {
            w.csv_utf8 = s.finish()?;
        }
        if let Some(s) = self.gb {
            w.csv_gb18030 = s.finish()?;
        }
        if let Some((mut wb, path)) = self.xlsx {
            match path {
                Some(p) => wb.save(p).map_err(|e| anyhow::anyhow!("xlsx: {e}"))?,
                None => w.xlsx = wb.save_to_buffer().map_err(|e| anyhow::anyhow!("xlsx: {e}"))?,
            }
        }
        Ok(w)
    }
}
