//! Fuzzing that runs in CI (issue 9 part 5): proptest feeds arbitrary and structure-aware input to
//! the identifier and code parsers, the department-file readers (CSV in UTF-8, with a BOM or in
//! GB18030; XLSX, valid, mutated and hand-built with hostile sheet XML) and the registration form
//! parser. The properties: nothing panics; whatever is accepted re-parses to the same value;
//! whatever is refused is refused with the documented error values (a `FieldError`/`RowError`
//! reason, a `DecodeError`, field errors with codes).
//!
//! Every target runs a stated number of cases, chosen so the whole file stays well under a minute
//! on two cores; `CANBAO_FUZZ_CASES=<n>` runs every target `n` cases instead (a long run, see
//! README "Fuzzing"). The seeds in `tests/fuzz-corpus/` (real sample inputs) go through every
//! target on every run, and are the starting points of the mutation targets. A failing case
//! proptest finds is saved in `tests/fuzz.proptest-regressions` and replayed first on later runs.

use canbao::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Flag, Gender, PersonStatus, Scheme, Source, UninsuredReason};
use canbao::error::{FieldError, Reason};
use canbao::ids::{CitizenId, CreditCode, OrgCode, Phone};
use canbao::intake::clean::{parse_date, CleanRow, Cleaner, RowError};
use canbao::intake::decode::{normalise, DecodeError, Format, Normalised};
use canbao::intake::layouts::{column_named, layout, ColumnMap};
use canbao::person::{Origin, Provenance};
use canbao::regions::{RegionCode, RegionTree};
use canbao::registration::{Registration, MAX_NAME_CHARS};
use chrono::{Datelike, NaiveDate, TimeZone, Utc};
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};
use std::path::PathBuf;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// Configuration

/// The cases a target runs: its CI default, or `CANBAO_FUZZ_CASES` for a long run.
fn cases(default: u32) -> u32 {
    std::env::var("CANBAO_FUZZ_CASES").ok().and_then(|v| v.trim().parse().ok()).unwrap_or(default)
}

fn config(default: u32) -> ProptestConfig {
    ProptestConfig {
        cases: cases(default),
        // Failing inputs are kept next to this file and replayed first on every later run.
        failure_persistence: Some(Box::new(FileFailurePersistence::WithSource("proptest-regressions"))),
        // A shrink that runs away would eat the CI budget; the first failure is what matters.
        max_shrink_iters: 2048,
        ..ProptestConfig::default()
    }
}

fn today() -> NaiveDate {
    NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
}

fn regions() -> &'static RegionTree {
    static TREE: OnceLock<RegionTree> = OnceLock::new();
    TREE.get_or_init(RegionTree::panzhihua_demo)
}

fn corpus_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz-corpus")
}

/// The seed files, by name.
fn corpus() -> &'static [(String, Vec<u8>)] {
    static SEEDS: OnceLock<Vec<(String, Vec<u8>)>> = OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds: Vec<(String, Vec<u8>)> = std::fs::read_dir(corpus_dir())
            .expect("tests/fuzz-corpus exists")
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read(&p).unwrap()))
            .collect();
        seeds.sort();
        seeds
    })
}

fn seeds_with(ext: &str) -> Vec<Vec<u8>> {
    corpus().iter().filter(|(n, _)| n.ends_with(ext)).map(|(_, b)| b.clone()).collect()
}

// ---------------------------------------------------------------------------------------------
// Checks shared by the targets

/// A refusal is one of the documented reasons with a field name and a message for the person.
fn check_field_error(e: &FieldError) {
    assert!(!e.field.is_empty(), "field error without a field: {e:?}");
    assert!(!e.message.trim().is_empty(), "field error without a message: {e:?}");
    assert!(!e.code.as_str().is_empty());
}

/// Every identifier and code parser on one text: no panic; an accepted value re-parses from its
/// canonical text to itself, without corrections; a refusal is a proper field error.
fn check_all_parsers(text: &str) {
    macro_rules! idempotent {
        ($ty:ty, $parse:expr) => {{
            let parse = $parse;
            match parse(text) {
                Ok(p) => {
                    let value: $ty = p.value;
                    let again = parse(value.as_str()).unwrap_or_else(|e| {
                        panic!("{} accepted {text:?} as {:?} but refuses that: {e:?}", stringify!($ty), value.as_str())
                    });
                    assert_eq!(again.value, value, "{} re-parse of {text:?}", stringify!($ty));
                    assert!(again.corrections.is_empty(), "canonical {:?} needed corrections", value.as_str());
                }
                Err(e) => check_field_error(&e),
            }
        }};
    }
    idempotent!(CitizenId, |t: &str| CitizenId::parse_at(t, today()));
    idempotent!(CreditCode, CreditCode::parse);
    idempotent!(OrgCode, OrgCode::parse);
    idempotent!(Phone, Phone::parse);
    idempotent!(RegionCode, RegionCode::parse);
    if let Ok(p) = OrgCode::parse(text) {
        assert_eq!(OrgCode::parse(&p.value.hyphenated()).unwrap().value, p.value);
    }
    if let Ok(p) = regions().parse_known(text) {
        assert!(regions().get(p.value).is_some());
    }
    match parse_date(text) {
        Ok(p) => assert_eq!(parse_date(&p.value.to_string()).unwrap().value, p.value),
        Err(e) => check_field_error(&e),
    }
    macro_rules! code_list {
        ($($ty:ty),+) => {$(
            match <$ty>::parse(text) {
                Ok(v) => {
                    assert_eq!(<$ty>::parse(v.code()).unwrap(), v);
                    assert_eq!(<$ty>::parse(v.name_zh()).unwrap(), v);
                }
                Err(e) => check_field_error(&e),
            }
        )+};
    }
    code_list!(Gender, Scheme, EnrollmentStatus, PersonStatus, EmploymentStatus, UninsuredReason, Flag, Source);
    match Ethnicity::parse(text) {
        Ok(v) => {
            assert_eq!(Ethnicity::parse(v.code()).unwrap(), v);
            assert_eq!(Ethnicity::parse(v.name_zh()).unwrap(), v);
        }
        Err(e) => check_field_error(&e),
    }
}

const SOURCES: &[Source] = &[
    Source::PublicSecurity,
    Source::Hrss,
    Source::Health,
    Source::CivilAffairs,
    Source::Education,
    Source::Commerce,
    Source::Tax,
    Source::Quality,
    Source::Staffing,
    Source::HitechZone,
    Source::Survey,
];

fn is_date_column(header: &str) -> bool {
    column_named(header).is_some_and(|c| c.is_date())
}

/// What the intake reader makes of an upload, as processing reads it: decoded, split into
/// records, the header resolved for every source and every row cleaned. Returns the decode
/// result and the number of rows cleaned.
fn read_upload(bytes: &[u8], sheet: Option<&str>) -> (Result<Normalised, DecodeError>, usize) {
    let decoded = normalise(bytes, sheet, &is_date_column);
    let Ok(n) = &decoded else {
        let e = decoded.as_ref().unwrap_err();
        assert!(!e.to_string().is_empty());
        if let DecodeError::NoSuchSheet(name) = e {
            assert_eq!(Some(name.as_str()), sheet);
        }
        return (decoded, 0);
    };
    assert!(std::str::from_utf8(&n.csv).is_ok(), "normalised CSV is not UTF-8");
    assert!(!n.csv.starts_with(b"\xEF\xBB\xBF"), "normalised CSV keeps a BOM");
    assert!(!n.csv.iter().all(u8::is_ascii_whitespace), "empty file accepted");
    if bytes.starts_with(b"PK\x03\x04") {
        assert_eq!(n.format, Format::Xlsx);
    }
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(n.csv.as_slice());
    let mut records = Vec::new();
    for r in reader.records() {
        match r {
            Ok(r) => records.push(r),
            // UTF-8 was checked above; the reader only stops on what it cannot split.
            Err(_) => break,
        }
    }
    let Some((header, rows)) = records.split_first() else { return (decoded, 0) };
    let header: Vec<String> = header.iter().map(str::to_owned).collect();
    let provenance = Provenance {
        source: Source::Survey,
        origin: Origin::Batch("fuzz".into()),
        at: Utc.with_ymd_and_hms(2025, 6, 1, 0, 0, 0).unwrap(),
    };
    let mut cleaned = 0;
    for &source in SOURCES {
        let Ok(map) = ColumnMap::resolve(source, &header) else { continue };
        let cleaner = Cleaner { source, map: &map, regions: regions(), today: today() };
        for row in rows {
            match cleaner.clean(row, Provenance { source, ..provenance.clone() }) {
                Ok(CleanRow { key, .. }) => {
                    assert!(!key.is_empty());
                    cleaned += 1;
                }
                Err(RowError { reason, message, .. }) => {
                    assert!(!message.trim().is_empty(), "row refused without a message ({reason})");
                }
            }
        }
    }
    (decoded, cleaned)
}

/// Every target a byte string can reach: the file reader, the JSON body and, line by line, the
/// identifier parsers.
fn check_seed(bytes: &[u8]) {
    let _ = read_upload(bytes, None);
    let _ = read_upload(bytes, Some("Sheet1"));
    check_registration_bytes(bytes);
    for line in String::from_utf8_lossy(bytes).lines().take(200) {
        for cell in line.split(',') {
            check_all_parsers(cell);
        }
    }
}

/// A registration body as the API reads it: JSON or a 400, then the form checks.
fn check_registration_bytes(bytes: &[u8]) {
    if let Ok(body) = serde_json::from_slice::<Value>(bytes) {
        check_registration(&body);
    }
}

/// The form parser on one body: no panic; a refusal lists at least one field error, each with a
/// field and a code; an accepted form is what the body says.
fn check_registration(body: &Value) {
    match Registration::parse(body, regions(), today()) {
        Ok(r) => {
            assert_eq!(Some(r.id), body.get("id_number").and_then(Value::as_str).and_then(|t| CitizenId::parse_at(t, today()).ok()).map(|p| p.value));
            assert!(!r.name.is_empty() && r.name.chars().count() <= MAX_NAME_CHARS);
        }
        Err(errors) => {
            assert!(!errors.is_empty(), "refused without a field error: {body}");
            for e in &errors {
                // An unknown key is reported under its own name, which may be "".
                if e.field.is_empty() {
                    assert!(body.get("").is_some() && e.code == Reason::UnknownCode, "field error without a field: {e:?}");
                    assert!(!e.message.trim().is_empty());
                } else {
                    check_field_error(e);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Generators

/// Text that looks like what people type into ID and code fields: digits (ASCII and full-width),
/// letters, separators, spaces, and now and then anything at all.
fn code_like_text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => "[0-9xX０-９ \\-()（）+]{0,24}",
        2 => "[0-9A-Z]{6,20}",
        1 => "[0-9]{15}|[0-9]{17}[0-9Xx]|[0-9]{9}|[0-9]{12}|[0-9]{11}",
        2 => "\\PC{0,30}",
        1 => any::<String>(),
    ]
}

fn county() -> impl Strategy<Value = String> {
    "[1-6][0-9]{5}"
}

fn birth_date() -> impl Strategy<Value = NaiveDate> {
    (1900i32..=2025, 1u32..=12, 1u32..=31).prop_filter_map("a real date not after today", |(y, m, d)| {
        NaiveDate::from_ymd_opt(y, m, d).filter(|b| *b <= today())
    })
}

fn citizen_id() -> impl Strategy<Value = CitizenId> {
    (county(), birth_date(), 0u16..=999).prop_map(|(c, b, s)| CitizenId::from_parts(&c, b, s))
}

fn credit_code() -> impl Strategy<Value = CreditCode> {
    ("[1-9A-HJ-NP-RTUWXY][1-9]", "[0-9]{6}", "[0-9A-HJ-NP-RTUWXY]{8}")
        .prop_map(|(ac, region, body)| CreditCode::from_parts(&ac, &region, OrgCode::from_body(&body)))
}

/// Random Chinese text (CJK ideographs, the punctuation departments use, ASCII) with commas and
/// line breaks, so that it is also a table.
fn chinese_text() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            6 => proptest::char::range('\u{4E00}', '\u{9FA5}'),
            1 => prop::sample::select(vec!['，', '。', '（', '）', '·', '、', '—', '号', '街', '区']),
            1 => prop::sample::select(vec![',', '\n', '\r', '"', ' ', '0', '5', 'X', '-']),
        ],
        1..300,
    )
    .prop_map(|v| v.into_iter().collect())
}

/// A cell of a department file: a valid value of some column, a near miss, or garbage.
fn cell() -> impl Strategy<Value = String> {
    prop_oneof![
        2 => citizen_id().prop_map(|id| id.as_str().to_owned()),
        1 => citizen_id().prop_map(|id| id.as_str()[..6].to_owned() + &id.as_str()[8..17]),
        1 => credit_code().prop_map(|c| c.as_str().to_owned()),
        1 => "[张王李赵刘陈][一-龥]{1,3}",
        1 => prop::sample::select(vec!["1", "2", "男", "女", "01", "汉族", "110", "390", "active", "在职", "死亡", "正常", "注销"]).prop_map(str::to_owned),
        1 => "(19|20)[0-9]{2}[-/.年]?[01]?[0-9][-/.月]?[0-3]?[0-9]日?",
        1 => "5104(0[0-2]|11|21|22)[0-9]{0,6}",
        1 => "1[3-9][0-9]{9}|0812-?[2-9][0-9]{6}",
        2 => code_like_text(),
    ]
}

/// A department file in a real layout: the header of a source (in any of its accepted names, in
/// shuffled order) and rows of cells.
fn department_table() -> impl Strategy<Value = String> {
    (prop::sample::select(SOURCES.to_vec()), any::<u64>(), proptest::collection::vec(proptest::collection::vec(cell(), 0..14), 0..12))
        .prop_map(|(source, pick, rows)| {
            let (optional, required) = layout(source);
            let mut header: Vec<&str> = required
                .iter()
                .chain(optional)
                .enumerate()
                .map(|(i, c)| c.names()[(pick as usize + i) % c.names().len()])
                .collect();
            let turn = (pick % header.len().max(1) as u64) as usize;
            header.rotate_left(turn);
            let mut out = header.join(",");
            for row in rows {
                out.push('\n');
                let quoted: Vec<String> = row.iter().map(|c| format!("\"{}\"", c.replace('"', "\"\""))).collect();
                out.push_str(&quoted.join(","));
            }
            out.push('\n');
            out
        })
}

/// Changes to a byte string: truncation, flipped bits, overwritten ranges, inserted or removed
/// runs, as a damaged upload would show.
#[derive(Debug, Clone)]
enum Mutation {
    Truncate(prop::sample::Index),
    Flip(prop::sample::Index, u8),
    Overwrite(prop::sample::Index, Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
    Remove(prop::sample::Index, u16),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<prop::sample::Index>().prop_map(Mutation::Truncate),
        (any::<prop::sample::Index>(), 1u8..=255).prop_map(|(i, b)| Mutation::Flip(i, b)),
        (any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..16)).prop_map(|(i, b)| Mutation::Overwrite(i, b)),
        (any::<prop::sample::Index>(), proptest::collection::vec(any::<u8>(), 1..32)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<prop::sample::Index>(), 1u16..512).prop_map(|(i, n)| Mutation::Remove(i, n)),
    ]
}

fn mutate(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        if bytes.is_empty() {
            break;
        }
        match m {
            Mutation::Truncate(i) => bytes.truncate(i.index(bytes.len())),
            Mutation::Flip(i, b) => {
                let at = i.index(bytes.len());
                bytes[at] ^= b;
            }
            Mutation::Overwrite(i, b) => {
                let at = i.index(bytes.len());
                for (k, v) in b.iter().enumerate() {
                    if let Some(slot) = bytes.get_mut(at + k) {
                        *slot = *v;
                    }
                }
            }
            Mutation::Insert(i, b) => {
                let at = i.index(bytes.len());
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Remove(i, n) => {
                let at = i.index(bytes.len());
                let end = (at + usize::from(*n)).min(bytes.len());
                bytes.drain(at..end);
            }
        }
    }
    bytes
}

/// A small valid workbook as rust_xlsxwriter writes it: a header of the public-security layout
/// and a few rows, with a date cell, a number and a bare serial in the date column.
fn small_xlsx() -> &'static [u8] {
    static BOOK: OnceLock<Vec<u8>> = OnceLock::new();
    BOOK.get_or_init(|| {
        use rust_xlsxwriter::{ExcelDateTime, Format as XFormat, Workbook};
        let mut book = Workbook::new();
        let sheet = book.add_worksheet();
        sheet.set_name("Sheet1").unwrap();
        let id = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1985, 3, 14).unwrap(), 123);
        for (c, h) in ["公民身份号码", "姓名", "性别", "出生日期", "联系电话", "居住地区划代码"].iter().enumerate() {
            sheet.write_string(0, c as u16, *h).unwrap();
        }
        sheet.write_string(1, 0, id.as_str()).unwrap();
        sheet.write_string(1, 1, "张三").unwrap();
        sheet.write_number(1, 2, 1).unwrap();
        let date = ExcelDateTime::from_ymd(1985, 3, 14).unwrap();
        sheet.write_datetime_with_format(1, 3, &date, &XFormat::new().set_num_format("yyyy-mm-dd")).unwrap();
        sheet.write_number(1, 4, 13812345678.0).unwrap();
        sheet.write_string(1, 5, "510402001").unwrap();
        sheet.write_string(2, 0, "510402850314123").unwrap();
        sheet.write_string(2, 1, "李四").unwrap();
        sheet.write_number(2, 3, 31120.0).unwrap();
        book.save_to_buffer().unwrap()
    })
}

// --- A hand-built XLSX: stored (uncompressed) zip entries, so that the sheet XML is what the
// --- generator says, byte for byte.

fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &b in data {
        crc ^= u32::from(b);
        for _ in 0..8 {
            crc = if crc & 1 != 0 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

fn stored_zip(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    for (name, data) in entries {
        let offset = out.len() as u32;
        let crc = crc32(data);
        let fixed = |v: &mut Vec<u8>| {
            v.extend_from_slice(&20u16.to_le_bytes()); // version needed
            v.extend_from_slice(&0u16.to_le_bytes()); // flags
            v.extend_from_slice(&0u16.to_le_bytes()); // stored
            v.extend_from_slice(&0u16.to_le_bytes()); // time
            v.extend_from_slice(&0x21u16.to_le_bytes()); // date 1980-01-01
            v.extend_from_slice(&crc.to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(data.len() as u32).to_le_bytes());
            v.extend_from_slice(&(name.len() as u16).to_le_bytes());
            v.extend_from_slice(&0u16.to_le_bytes()); // extra
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        fixed(&mut out);
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(data);
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&20u16.to_le_bytes()); // version made by
        fixed(&mut central);
        central.extend_from_slice(&[0; 6]); // comment length, disk, internal attributes
        central.extend_from_slice(&0u32.to_le_bytes()); // external attributes
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(name.as_bytes());
    }
    let cd_offset = out.len() as u32;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&[0; 4]);
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    out.extend_from_slice(&(central.len() as u32).to_le_bytes());
    out.extend_from_slice(&cd_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// A workbook whose one sheet holds `cells` (reference, type attribute, value) and whose
/// shared-string table holds `shared`.
fn hand_built_xlsx(cells: &[(String, &'static str, String)], shared: &[String], dimension: &str) -> Vec<u8> {
    let mut sheet = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{}"/><sheetData>"#,
        xml_escape(dimension)
    );
    for (r, t, v) in cells {
        let t_attr = if t.is_empty() { String::new() } else { format!(r#" t="{t}""#) };
        if *t == "inlineStr" {
            sheet.push_str(&format!(r#"<c r="{r}"{t_attr}><is><t>{}</t></is></c>"#, xml_escape(v)));
        } else {
            sheet.push_str(&format!(r#"<c r="{r}"{t_attr}><v>{}</v></c>"#, xml_escape(v)));
        }
    }
    sheet.push_str("</sheetData></worksheet>");
    let mut sst = format!(
        r#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" count="{0}" uniqueCount="{0}">"#,
        shared.len()
    );
    for s in shared {
        sst.push_str(&format!("<si><t>{}</t></si>", xml_escape(s)));
    }
    sst.push_str("</sst>");
    stored_zip(&[
        (
            "[Content_Types].xml",
            br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/><Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sharedStrings+xml"/></Types>"#.to_vec(),
        ),
        (
            "_rels/.rels",
            br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#.to_vec(),
        ),
        (
            "xl/workbook.xml",
            br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Sheet1" sheetId="1" r:id="rId1"/></sheets></workbook>"#.to_vec(),
        ),
        (
            "xl/_rels/workbook.xml.rels",
            br#"<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>"#.to_vec(),
        ),
        ("xl/worksheets/sheet1.xml", sheet.into_bytes()),
        ("xl/sharedStrings.xml", sst.into_bytes()),
    ])
}

fn column_letters(mut col: u32) -> String {
    let mut s = Vec::new();
    loop {
        s.push(b'A' + (col % 26) as u8);
        if col < 26 {
            break;
        }
        col = col / 26 - 1;
    }
    s.reverse();
    String::from_utf8(s).unwrap()
}

/// A sheet cell as a hostile or sloppy writer may put it: references near A1 and anywhere up to
/// XFD1048576 (a far-away one made the reader allocate the whole rectangle, see `far_apart_cells`),
/// odd references, every type attribute with a value that may not fit it
/// (shared-string indexes past the table, non-numbers as numbers, huge serials).
fn sheet_cell() -> impl Strategy<Value = (String, &'static str, String)> {
    let reference = prop_oneof![
        8 => (0u32..30, 1u32..200).prop_map(|(c, r)| format!("{}{}", column_letters(c), r)),
        1 => (0u32..16384, 1u32..=1_048_576).prop_map(|(c, r)| format!("{}{}", column_letters(c), r)),
        1 => "[A-Z]{0,4}[0-9]{0,3}",
        1 => Just(String::new()),
    ];
    let kind = prop::sample::select(vec!["", "n", "s", "str", "inlineStr", "b", "e", "d"]);
    let value = prop_oneof![
        2 => cell(),
        1 => any::<f64>().prop_map(|f| f.to_string()),
        1 => (0u32..40).prop_map(|i| i.to_string()),
        1 => prop::sample::select(vec!["-1", "4294967296", "1e308", "NaN", "inf", "2958465", "2958466", "0.5", "#DIV/0!", "2025-13-45T99:99:99", "TRUE"]).prop_map(str::to_owned),
    ];
    (reference, kind, value)
}

/// Nested JSON of any shape.
fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>().prop_filter_map("finite", |f| serde_json::Number::from_f64(f).map(Value::Number)),
        "\\PC{0,40}".prop_map(Value::String),
        cell().prop_map(Value::String),
    ];
    leaf.prop_recursive(6, 64, 8, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..8).prop_map(Value::Array),
            proptest::collection::btree_map(form_key(), inner, 0..8).prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

const FORM_KEYS: &[&str] = &[
    "id_number", "name", "gender", "ethnicity", "birth_date", "hukou_address", "hukou_region", "residence_address",
    "residence_region", "phone", "employment_status", "employer_name", "employer_credit_code", "insurance",
    "uninsured_reason", "willingness", "scheme", "status", "since", "region",
];

fn form_key() -> impl Strategy<Value = String> {
    prop_oneof![4 => prop::sample::select(FORM_KEYS.to_vec()).prop_map(str::to_owned), 1 => "\\PC{0,12}"]
}

/// A complete valid form (the one the H5 page sends), from generated values.
fn valid_form() -> impl Strategy<Value = Value> {
    (citizen_id(), "[张王李赵刘陈][一-龥]{1,3}", "1[3-9][0-9]{9}", prop::sample::select(vec!["510402", "510402001", "510402001001", "510403", "510411"]))
        .prop_map(|(id, name, phone, region)| {
            json!({
                "id_number": id.as_str(),
                "name": name,
                "ethnicity": "01",
                "hukou_address": "四川省攀枝花市东区炳草岗街道新华街12号",
                "residence_region": region,
                "phone": phone,
                "employment_status": "flexible",
                "insurance": [{"scheme": "390", "status": "active", "since": "2020-01-01", "region": "510402"}],
            })
        })
}

// ---------------------------------------------------------------------------------------------
// The corpus: every seed through every target, every run

#[test]
fn corpus_seeds_pass_every_target() {
    let seeds = corpus();
    assert!(seeds.iter().any(|(n, _)| n.ends_with(".xlsx")), "the corpus holds an XLSX");
    assert!(seeds.iter().any(|(n, _)| n.ends_with(".json")), "the corpus holds a registration");
    assert!(seeds.iter().any(|(n, _)| n.contains("gb18030")), "the corpus holds a GB18030 CSV");
    for (name, bytes) in seeds {
        check_seed(bytes);
        // The real samples are real: they read and clean, or parse.
        if name.ends_with(".csv") || name.ends_with(".xlsx") {
            let (decoded, cleaned) = read_upload(bytes, None);
            let decoded = decoded.unwrap_or_else(|e| panic!("{name}: {e}"));
            if name.contains("gb18030") {
                assert_eq!(decoded.format, Format::CsvGb18030, "{name}");
            }
            assert!(cleaned > 0, "{name}: no row cleaned");
        }
        if name.starts_with("registration") && name.ends_with(".json") {
            let body: Value = serde_json::from_slice(bytes).unwrap();
            Registration::parse(&body, regions(), today()).unwrap_or_else(|e| panic!("{name}: {e:?}"));
        }
    }
    // The hand-built workbook of the hostile-sheet target reads back, shared strings included.
    let cells = vec![
        ("A1".to_owned(), "inlineStr", "公民身份号码".to_owned()),
        ("B1".to_owned(), "s", "0".to_owned()),
        ("A2".to_owned(), "inlineStr", "510402198503141237".to_owned()),
        ("B2".to_owned(), "str", "张三".to_owned()),
    ];
    let (decoded, cleaned) = read_upload(&hand_built_xlsx(&cells, &["姓名".to_owned()], "A1:B2"), None);
    assert_eq!(String::from_utf8(decoded.unwrap().csv).unwrap(), "公民身份号码,姓名\n510402198503141237,张三\n");
    assert!(cleaned >= 1);
    // The workbook the harness builds reads back as the rows written, dates as ISO dates.
    let (decoded, cleaned) = read_upload(small_xlsx(), None);
    let csv = String::from_utf8(decoded.unwrap().csv).unwrap();
    assert!(csv.contains("1985-03-14"), "{csv}");
    assert!(csv.contains("13812345678"), "{csv}");
    assert!(cleaned >= 2, "{csv}");
}

// ---------------------------------------------------------------------------------------------
// Target 1: identifier and code parsers

proptest! {
    #![proptest_config(config(3000))]

    /// Any text: no panic, accepted values re-parse to themselves, refusals are field errors.
    #[test]
    fn parsers_never_panic_and_normalise_idempotently(text in code_like_text()) {
        check_all_parsers(&text);
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// A generated ID parses to itself (in any accepted spelling); one digit changed is refused
    /// with reason `checksum`.
    #[test]
    fn citizen_id_one_digit_changed_fails_checksum(id in citizen_id(), pos in 0usize..18, delta in 1u8..=9, spaced in any::<bool>()) {
        let text = id.as_str();
        let spelled = if spaced { format!(" {} {} ", &text[..6], &text[6..].to_lowercase()) } else { text.to_owned() };
        prop_assert_eq!(CitizenId::parse_at(&spelled, today()).unwrap().value, id);
        let mut bytes = text.as_bytes().to_vec();
        bytes[pos] = if bytes[pos] == b'X' { b'0' + delta } else { b'0' + (bytes[pos] - b'0' + delta) % 10 };
        if pos == 17 && bytes[17] == text.as_bytes()[17] {
            bytes[17] = b'X';
        }
        let changed = String::from_utf8(bytes).unwrap();
        let e = CitizenId::parse_at(&changed, today()).unwrap_err();
        prop_assert_eq!(e.code, Reason::Checksum, "{} → {}", text, changed);
        prop_assert_eq!(e.field.as_str(), "id_number");
    }

    /// A legacy 15-digit ID of a person born 1900–1999 upgrades to the 18-digit ID with "19"
    /// inserted and a correct check character; the upgrade is recorded.
    #[test]
    fn citizen_id_15_upgrades_to_18(county in county(), born in birth_date().prop_filter("born in the 1900s", |b| b.year() < 2000), seq in 0u16..=999) {
        let id = CitizenId::from_parts(&county, born, seq);
        let legacy = format!("{}{}{:03}", county, born.format("%y%m%d"), seq);
        let p = CitizenId::parse_at(&legacy, today()).unwrap();
        prop_assert_eq!(p.value, id);
        prop_assert_eq!(p.value.birth_date(), born);
        prop_assert!(p.corrections.iter().any(|c| c.to == id.as_str()), "{:?}", p.corrections);
    }

    /// Credit and organisation codes: generated ones parse to themselves; one character changed is
    /// refused with `checksum` (or `charset` where the new character is not in the alphabet).
    #[test]
    fn credit_code_one_char_changed_is_refused(code in credit_code(), pos in 0usize..18, c in "[0-9A-Z]") {
        let text = code.as_str();
        prop_assert_eq!(CreditCode::parse(text).unwrap().value, code);
        prop_assert_eq!(CreditCode::parse(&text.to_lowercase()).unwrap().value, code);
        let org = code.org_code();
        prop_assert_eq!(OrgCode::parse(&org.hyphenated()).unwrap().value, org);
        let mut c = c.as_bytes()[0];
        if text.as_bytes()[pos] == c {
            c = if c == b'0' { b'1' } else { b'0' };
        }
        let mut bytes = text.as_bytes().to_vec();
        bytes[pos] = c;
        let changed = String::from_utf8(bytes).unwrap();
        let e = CreditCode::parse(&changed).unwrap_err();
        prop_assert!(matches!(e.code, Reason::Checksum | Reason::Charset), "{} → {}: {:?}", text, changed, e);
        if "IOZSV".contains(c as char) {
            prop_assert_eq!(e.code, Reason::Charset);
        }
    }

    /// Region codes of 6, 9 or 12 digits parse to themselves, and the loaded ones are known.
    #[test]
    fn region_codes_round_trip(digits in "[0-9]{6}|[0-9]{9}|[0-9]{12}") {
        match RegionCode::parse(&digits) {
            Ok(p) => {
                prop_assert_eq!(p.value.as_str(), digits.as_str());
                if let Some(parent) = p.value.parent_code() {
                    prop_assert!(p.value.is_within(parent));
                }
            }
            Err(e) => prop_assert_eq!(e.code, Reason::Format),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Target 2: department-file readers

proptest! {
    #![proptest_config(config(1500))]

    /// Arbitrary bytes (raw, after a BOM, after a zip signature, after a binary magic): no
    /// panic; a refusal is a `DecodeError`.
    #[test]
    fn reader_takes_arbitrary_bytes(prefix in prop::sample::select(vec![&b""[..], b"\xEF\xBB\xBF", b"PK\x03\x04", b"%PDF", b"\xD0\xCF\x11\xE0"]), body in proptest::collection::vec(any::<u8>(), 0..600)) {
        let mut bytes = prefix.to_vec();
        bytes.extend(body);
        let (decoded, _) = read_upload(&bytes, None);
        if bytes.starts_with(b"PK\x03\x04") {
            let as_csv = matches!(decoded, Ok(Normalised { format: Format::CsvUtf8 | Format::CsvGb18030, .. }));
            prop_assert!(!as_csv, "a zip read as CSV");
        }
    }

    /// Chinese text encoded in GB18030 reads back as the same text; with a UTF-8 BOM or in plain
    /// UTF-8 likewise.
    #[test]
    fn reader_detects_gb18030_and_utf8(text in chinese_text(), bom in any::<bool>()) {
        prop_assume!(!text.trim().is_empty());
        let (gb, _, unmappable) = encoding_rs::GB18030.encode(&text);
        prop_assert!(!unmappable);
        let (decoded, _) = read_upload(&gb, None);
        let n = decoded.unwrap();
        if std::str::from_utf8(&gb).is_err() {
            prop_assert_eq!(n.format, Format::CsvGb18030);
            prop_assert_eq!(String::from_utf8(n.csv).unwrap(), text.clone());
        }
        let mut utf8 = if bom { b"\xEF\xBB\xBF".to_vec() } else { Vec::new() };
        utf8.extend_from_slice(text.as_bytes());
        let n = read_upload(&utf8, None).0.unwrap();
        prop_assert_eq!(n.format, Format::CsvUtf8);
        prop_assert_eq!(String::from_utf8(n.csv).unwrap(), text);
    }

    /// Department files in real layouts with generated cells, in UTF-8 and GB18030: every row is
    /// cleaned or refused with a reason; both encodings clean the same rows.
    #[test]
    fn reader_cleans_department_tables(table in department_table(), gb in any::<bool>()) {
        let (utf8_result, utf8_cleaned) = read_upload(table.as_bytes(), None);
        prop_assert!(utf8_result.is_ok());
        if gb {
            let (bytes, _, _) = encoding_rs::GB18030.encode(&table);
            let (_, cleaned) = read_upload(&bytes, None);
            if std::str::from_utf8(&bytes).is_err() {
                prop_assert_eq!(cleaned, utf8_cleaned);
            }
        }
    }

    /// The seeds and a valid workbook, damaged: truncated, bits flipped, ranges overwritten,
    /// runs inserted or removed. No panic; refusals are `DecodeError`s.
    #[test]
    fn reader_survives_damaged_files(seed in any::<prop::sample::Index>(), mutations in proptest::collection::vec(mutation(), 1..6)) {
        let mut seeds = seeds_with(".xlsx");
        seeds.push(small_xlsx().to_vec());
        seeds.extend(seeds_with(".csv"));
        let original = seeds[seed.index(seeds.len())].clone();
        let damaged = mutate(original, &mutations);
        let _ = read_upload(&damaged, None);
        let _ = read_upload(&damaged, Some("Sheet1"));
    }
}

proptest! {
    #![proptest_config(config(600))]

    /// Workbooks with hostile sheet XML (any cell types and values, shared-string indexes past
    /// the table, odd references and dimensions), each a valid zip: no panic; the cells that are
    /// plain strings come through.
    #[test]
    fn reader_survives_hostile_sheets(
        cells in proptest::collection::vec(sheet_cell(), 0..40),
        shared in proptest::collection::vec(cell(), 0..10),
        dimension in prop_oneof![Just("A1".to_owned()), Just("A1:XFD1048576".to_owned()), "\\PC{0,12}"],
    ) {
        let book = hand_built_xlsx(&cells, &shared, &dimension);
        let (decoded, _) = read_upload(&book, None);
        if let Ok(n) = &decoded {
            let csv = String::from_utf8_lossy(&n.csv);
            for (r, t, v) in &cells {
                let plain = v.chars().all(|c| c.is_alphanumeric()) && !v.is_empty();
                let valid_ref = r.chars().next().is_some_and(|c| c.is_ascii_uppercase()) && r.chars().last().is_some_and(|c| c.is_ascii_digit()) && r.len() <= 6;
                if *t == "inlineStr" && plain && valid_ref && r.trim_start_matches(|c: char| c.is_ascii_uppercase()).parse::<u32>().is_ok_and(|n| n >= 1) {
                    // A later cell with the same reference may have replaced it.
                    let replaced = cells.iter().filter(|(r2, _, _)| r2 == r).count() > 1;
                    prop_assert!(replaced || csv.contains(v.as_str()), "{} {} missing from {}", r, v, csv);
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Target 3: the registration JSON

proptest! {
    #![proptest_config(config(2000))]

    /// Any JSON value: no panic; a refusal lists field errors with codes.
    #[test]
    fn registration_takes_any_json(body in json_value()) {
        check_registration(&body);
    }

    /// A valid form with fields replaced by values of any type, removed, or made very long: no
    /// panic; every refusal names fields with codes, and the untouched valid form is accepted.
    #[test]
    fn registration_survives_wrong_types(
        form in valid_form(),
        changes in proptest::collection::vec((prop::sample::select(FORM_KEYS.to_vec()), prop_oneof![
            3 => json_value().prop_map(Some),
            1 => Just(None),
            1 => (1usize..5000, "\\PC").prop_map(|(n, c)| Some(Value::String(c.repeat(n)))),
        ]), 0..4),
    ) {
        prop_assert!(Registration::parse(&form, regions(), today()).is_ok(), "{}", form);
        let mut body = form.clone();
        for (key, value) in &changes {
            match value {
                Some(v) => body[*key] = v.clone(),
                None => { body.as_object_mut().unwrap().remove(*key); }
            }
        }
        check_registration(&body);
        if let Err(errors) = Registration::parse(&body, regions(), today()) {
            // Only the fields changed can be at fault (an insurance item is reported by index, a
            // birth date or gender may disagree with a changed ID).
            for e in &errors {
                let root = e.field.split(['.', '[']).next().unwrap();
                prop_assert!(
                    changes.iter().any(|(k, _)| *k == root) || root == "gender" || root == "birth_date" || changes.iter().any(|(k, _)| *k == "id_number" || *k == "employment_status"),
                    "{:?} blamed, changed {:?}", e, changes.iter().map(|(k, _)| k).collect::<Vec<_>>()
                );
            }
        }
    }

    /// Raw bytes as a body, and bodies nested deeper than any form: the JSON reader refuses what
    /// it cannot take (no stack overflow), the form parser the rest.
    #[test]
    fn registration_takes_raw_and_deep_bodies(raw in proptest::collection::vec(any::<u8>(), 0..300), depth in 1usize..5000, open in prop::sample::select(vec!["[", "{\"insurance\":"])) {
        check_registration_bytes(&raw);
        let close = if open == "[" { "]" } else { "}" };
        let deep = format!("{}{}{}", open.repeat(depth), "1", close.repeat(depth));
        match serde_json::from_str::<Value>(&deep) {
            Ok(v) => check_registration(&v),
            Err(_) => prop_assert!(depth > 100, "depth {} refused", depth),
        }
        let wrapped = format!(r#"{{"id_number":"x","name":{}}}"#, deep);
        check_registration_bytes(wrapped.as_bytes());
    }
}

// ---------------------------------------------------------------------------------------------
// Fixed cases found or worth keeping

/// Found by `reader_survives_hostile_sheets`: a 1 KB workbook whose two cells are far apart (A1
/// and XFD1048576) made the reader ask for 512 GB for the whole 17-billion-cell rectangle and abort
/// (a trap in the component). It is now refused as unreadable with a message saying why.
#[test]
fn far_apart_cells() {
    let cells = vec![
        ("A1".to_owned(), "inlineStr", "公民身份号码".to_owned()),
        ("XFD1048576".to_owned(), "inlineStr", "x".to_owned()),
    ];
    let book = hand_built_xlsx(&cells, &[], "A1:XFD1048576");
    let (decoded, _) = read_upload(&book, None);
    assert!(matches!(&decoded, Err(DecodeError::UnreadableXlsx(m)) if m.contains("使用区域过大")), "{decoded:?}");
}

/// Found by `reader_survives_damaged_files`: a cell reference with many column letters overflowed
/// calamine's column arithmetic, a panic in debug builds (the workspace builds calamine without
/// overflow checks, as release does). The reader must not panic on it.
#[test]
fn overlong_column_letters() {
    for reference in ["AAAAAAAAAA1", "ZZZZZZZZZZZZZZZZ1048576", "XFE1", "A0", "A99999999999"] {
        let cells = vec![("A1".to_owned(), "inlineStr", "姓名".to_owned()), (reference.to_owned(), "inlineStr", "x".to_owned())];
        let _ = read_upload(&hand_built_xlsx(&cells, &[], reference), None);
    }
}
