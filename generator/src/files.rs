//! The department files (ARCHITECTURE "Department file layouts"): which persons or units each
//! source lists, which columns it has and how it names them, the clean row for each record, the
//! injected mistakes, and — row by row, in file order — what the base database must make of it.

use crate::encode::{Cell, FileWriter, Formats, Written, XlsxDates};
use crate::errors::{self, Kind, Rates};
use crate::expected::{Applied, CivilCategory, Facts, Sim};
use crate::geo::{self, Geography};
use crate::names;
use crate::population::{id_key, Person, Population, UnitKind};
use crate::rng::{Rng, Stream};
use canbao::codes::{EnrollmentStatus, Ethnicity, Gender, PersonStatus, Source};
use canbao::ids::{citizen_id_check_char, CitizenId};
use chrono::{Datelike, NaiveDate};
use serde::Serialize;
use crate::rng::{fx_hash, FxHashMap as HashMap, FxHashSet as HashSet};
use std::collections::{BTreeMap, VecDeque};

/// The canonical load order the expected outcome assumes (registrations come after these).
pub const LOAD_ORDER: [Source; 10] = [
    Source::PublicSecurity,
    Source::Hrss,
    Source::Health,
    Source::CivilAffairs,
    Source::Education,
    Source::Staffing,
    Source::HitechZone,
    Source::Commerce,
    Source::Tax,
    Source::Quality,
];

/// A column of a department file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    /// 公民身份号码.
    Id,
    /// 姓名.
    Name,
    /// 性别 (男/女).
    Gender,
    /// 民族 (GB/T 3304 code).
    Ethnicity,
    /// 出生日期.
    Birth,
    /// 户籍地址.
    HukouAddress,
    /// 户籍地区划代码.
    HukouRegion,
    /// 居住地址.
    ResidenceAddress,
    /// 居住地区划代码.
    ResidenceRegion,
    /// 联系电话.
    Phone,
    /// 人员状态 (正常/死亡/迁出).
    PersonStatus,
    /// 变动日期.
    ChangeDate,
    /// 险种 (code).
    Scheme,
    /// 参保状态 (参保缴费/暂停缴费/终止参保).
    EnrollStatus,
    /// 参保日期.
    EnrollDate,
    /// 参保地区划代码 (6 digits).
    EnrollRegion,
    /// 单位名称.
    UnitName,
    /// 统一社会信用代码.
    CreditCode,
    /// 组织机构代码 (9 characters, no hyphen).
    OrgCode,
    /// 类别 (低保/特困/死亡).
    Category,
    /// 日期.
    Date,
    /// 学校名称.
    School,
    /// 年级.
    Grade,
    /// 登记状态.
    RegStatus,
    /// 地址.
    Address,
    /// 从业人数.
    Headcount,
}

impl Col {
    /// The Chinese header of ARCHITECTURE.md.
    pub fn zh(self) -> &'static str {
        match self {
            Col::Id => "公民身份号码",
            Col::Name => "姓名",
            Col::Gender => "性别",
            Col::Ethnicity => "民族",
            Col::Birth => "出生日期",
            Col::HukouAddress => "户籍地址",
            Col::HukouRegion => "户籍地区划代码",
            Col::ResidenceAddress => "居住地址",
            Col::ResidenceRegion => "居住地区划代码",
            Col::Phone => "联系电话",
            Col::PersonStatus => "人员状态",
            Col::ChangeDate => "变动日期",
            Col::Scheme => "险种",
            Col::EnrollStatus => "参保状态",
            Col::EnrollDate => "参保日期",
            Col::EnrollRegion => "参保地区划代码",
            Col::UnitName => "单位名称",
            Col::CreditCode => "统一社会信用代码",
            Col::OrgCode => "组织机构代码",
            Col::Category => "类别",
            Col::Date => "日期",
            Col::School => "学校名称",
            Col::Grade => "年级",
            Col::RegStatus => "登记状态",
            Col::Address => "地址",
            Col::Headcount => "从业人数",
        }
    }

    /// The English field name of DOMAIN §4, for the person columns that have one.
    pub fn en(self) -> Option<&'static str> {
        Some(match self {
            Col::Id => "id_number",
            Col::Name => "name",
            Col::Gender => "gender",
            Col::Ethnicity => "ethnicity",
            Col::Birth => "birth_date",
            Col::HukouAddress => "hukou_address",
            Col::HukouRegion => "hukou_region",
            Col::ResidenceAddress => "residence_address",
            Col::ResidenceRegion => "residence_region",
            Col::Phone => "phone",
            _ => return None,
        })
    }
}

/// The columns of each source's file, in their usual order.
pub fn columns(source: Source) -> &'static [Col] {
    use Col::*;
    match source {
        Source::PublicSecurity => &[
            Id, Name, Gender, Ethnicity, Birth, HukouAddress, HukouRegion, ResidenceAddress, ResidenceRegion, Phone,
            PersonStatus, ChangeDate,
        ],
        Source::Hrss => &[
            Id, Name, Gender, Ethnicity, Birth, HukouRegion, ResidenceAddress, Phone, Scheme, EnrollStatus, EnrollDate,
            EnrollRegion, UnitName, CreditCode,
        ],
        Source::Health => &[
            Id, Name, Gender, Ethnicity, Birth, HukouAddress, HukouRegion, ResidenceAddress, ResidenceRegion, Phone,
            Scheme, EnrollStatus, EnrollDate, EnrollRegion,
        ],
        Source::CivilAffairs => &[Id, Name, Gender, Ethnicity, Birth, HukouRegion, ResidenceAddress, Phone, Category, Date],
        Source::Education => &[Id, Name, Gender, Ethnicity, Birth, ResidenceAddress, ResidenceRegion, Phone, School, Grade],
        Source::Staffing => &[Id, Name, Gender, Ethnicity, Birth, Phone, UnitName, CreditCode],
        Source::HitechZone => &[Id, Name, Gender, Ethnicity, Birth, ResidenceAddress, Phone, UnitName, CreditCode],
        Source::Commerce | Source::Tax => &[CreditCode, UnitName, RegStatus, Address, Headcount],
        Source::Quality => &[CreditCode, OrgCode, UnitName, RegStatus, Address, Headcount],
        Source::Survey | Source::SelfReport => &[],
    }
}

/// One department file in memory, in each encoding produced.
#[derive(Debug, Clone)]
pub struct DepartmentFile {
    /// The delivering source.
    pub source: Source,
    /// File stem, e.g. `02_hrss` (`02_hrss_p2` for a second part).
    pub name: String,
    /// CSV, UTF-8 (with a BOM when `expected.bom`).
    pub csv_utf8: Vec<u8>,
    /// CSV, GB18030.
    pub csv_gb18030: Vec<u8>,
    /// XLSX.
    pub xlsx: Vec<u8>,
}

/// What intake must report for one file (identical for each of its encodings).
#[derive(Debug, Clone, Serialize, Default)]
pub struct FileExpected {
    /// Source code.
    pub source: String,
    /// File stem; the files are `<name>.csv`, `<name>.gb18030.csv`, `<name>.xlsx`.
    pub name: String,
    /// Position in the canonical load order (1-based).
    pub load_position: u32,
    /// Header row as written.
    pub header: Vec<String>,
    /// Whether the UTF-8 CSV starts with a BOM.
    pub bom: bool,
    /// How the XLSX writes dates.
    pub xlsx_dates: Option<XlsxDates>,
    /// Data rows (the header not counted).
    pub rows_total: u64,
    /// Accepted rows (merged duplicates included); accepted + rejected = rows_total.
    pub accepted: u64,
    /// Rejected rows.
    pub rejected: u64,
    /// Rejected rows by reason code (each rejected row has exactly one error).
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Corrections by kind (each corrected row has exactly one correction).
    pub corrections: BTreeMap<String, u64>,
    /// Total corrections.
    pub corrections_total: u64,
    /// Conflicts newly opened by this file.
    pub conflicts: u64,
    /// Rows whose key appeared earlier in the same file.
    pub duplicates_in_file: u64,
    /// Persons that did not exist before this file.
    pub new_persons: u64,
    /// Persons that existed before this file and had an accepted row in it.
    pub updated_persons: u64,
    /// Units (commerce, tax, quality) that were not known before this file.
    pub new_units: u64,
    /// Units known before this file with an accepted row in it.
    pub updated_units: u64,
    /// Injections by kind (the generator's log).
    pub injected: BTreeMap<String, u64>,
    /// Rows eligible for each kind (denominator for rate checks).
    #[serde(skip)]
    pub eligible_rows: u64,
}

/// A logical record: what one row of a file is about.
#[derive(Debug, Clone, Copy)]
enum Rec {
    Registry(u32),
    Enroll(u32, u8),
    Civil(u32, CivilCategory),
    Student(u32),
    Staff(u32),
    Unit(u32),
}

impl Rec {
    fn person(self) -> Option<u32> {
        match self {
            Rec::Registry(p) | Rec::Enroll(p, _) | Rec::Civil(p, _) | Rec::Student(p) | Rec::Staff(p) => Some(p),
            Rec::Unit(_) => None,
        }
    }
}

/// The outcome intake must reach for a row.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Accepted(Option<&'static str>),
    Rejected(&'static str),
}

/// One row ready to write, with what it must do to the database.
#[derive(Debug, Clone)]
struct Row {
    cells: Vec<Cell>,
    facts: Facts,
    id: Option<CitizenId>,
    /// Key within the file besides the ID (scheme, category) or the unit key.
    key: String,
    outcome: Outcome,
    person: Option<u32>,
    credit: Option<String>,
}

/// State shared by every file of one generation run.
pub struct Run<'a> {
    /// Ground truth.
    pub pop: &'a Population,
    /// The city.
    pub geo: &'a Geography,
    /// The simulated database.
    pub sim: Sim,
    /// Injection rates.
    pub rates: &'a Rates,
    /// The seed.
    pub seed: u64,
    /// Encodings to produce.
    pub formats: Formats,
    /// Where to write (None = memory).
    pub dir: Option<&'a std::path::Path>,
    /// Rows per file part at most (XLSX holds 1,048,575 data rows).
    pub max_rows: u64,
    /// Every ID in use (ground truth and injected second IDs).
    pub used_ids: HashSet<u64>,
    /// Persons with any injected row (not sampled for registrations).
    pub injected_persons: HashSet<u32>,
    /// Credit codes named by accepted hrss rows.
    pub hrss_credit_codes: HashSet<String>,
    /// Units delivered by commerce/tax/quality: key → credit code.
    pub units: HashMap<String, Option<String>>,
    /// Number of files written so far (the load position of the last).
    pub file_no: u32,
    /// Files in memory (memory mode).
    pub files: Vec<DepartmentFile>,
    /// Expected outcome per file.
    pub expected: Vec<FileExpected>,
    /// Rows that DOMAIN does not settle (must stay 0).
    pub ambiguous: u64,
    /// Called with the number of rows written since the last call.
    pub progress: &'a mut dyn FnMut(u64),
    /// XLSX files still being written: (index into `files`, its thread).
    pub pending_xlsx: Vec<(usize, crate::encode::PendingXlsx)>,
}

fn gender_zh(g: Gender) -> &'static str {
    if g == Gender::Male { "男" } else { "女" }
}

fn set(cols: &[Col], cells: &mut [Cell], c: Col, v: Cell) {
    if let Some(i) = cols.iter().position(|x| *x == c) {
        cells[i] = v;
    }
}

fn get<'c>(cols: &[Col], cells: &'c [Cell], c: Col) -> Option<&'c Cell> {
    cols.iter().position(|x| *x == c).map(|i| &cells[i])
}

fn get_mut<'c>(cols: &[Col], cells: &'c mut [Cell], c: Col) -> Option<&'c mut Cell> {
    cols.iter().position(|x| *x == c).map(move |i| &mut cells[i])
}

/// Full-width form of ASCII digits and letters.
fn full_width(s: &str) -> String {
    s.chars().map(|c| if c.is_ascii_alphanumeric() { char::from_u32(c as u32 + 0xFEE0).unwrap_or(c) } else { c }).collect()
}

/// A date in one of the other common layouts.
fn other_layout(d: NaiveDate, which: u64) -> String {
    match which % 3 {
        0 => format!("{}/{}/{}", d.year(), d.month(), d.day()),
        1 => format!("{}年{}月{}日", d.year(), d.month(), d.day()),
        _ => d.format("%Y%m%d").to_string(),
    }
}

/// An ID from 17 digits (check character computed).
fn id_from_body(body: &[u8]) -> Option<CitizenId> {
    let mut full = body.to_vec();
    full.push(citizen_id_check_char(body));
    CitizenId::parse_at(std::str::from_utf8(&full).ok()?, NaiveDate::from_ymd_opt(2025, 12, 31)?)
        .ok()
        .map(|p| p.value)
        .filter(|_| true)
}

impl Run<'_> {
    /// Generates, writes and simulates every department file in load order.
    pub fn all_files(&mut self) -> anyhow::Result<()> {
        for (i, source) in LOAD_ORDER.iter().enumerate() {
            self.file(*source, i as u64)?;
        }
        for (i, x) in std::mem::take(&mut self.pending_xlsx) {
            self.files[i].xlsx = x.wait()?;
        }
        Ok(())
    }

    fn records(&self, source: Source) -> Vec<Rec> {
        let pop = self.pop;
        let mut out = Vec::new();
        for (i, p) in pop.persons.iter().enumerate() {
            let i = i as u32;
            match source {
                Source::PublicSecurity if pop.hukou_in_city(p) => out.push(Rec::Registry(i)),
                Source::Hrss | Source::Health => {
                    for (k, e) in p.enrollments.iter().enumerate() {
                        let is_health = e.scheme == canbao::codes::Scheme::ResidentMedical;
                        if is_health == (source == Source::Health) {
                            out.push(Rec::Enroll(i, k as u8));
                        }
                    }
                }
                Source::CivilAffairs => {
                    let alive = p.status == PersonStatus::Normal;
                    if p.minimum_living && alive {
                        out.push(Rec::Civil(i, CivilCategory::MinimumLiving));
                    }
                    if p.extreme_poverty && alive {
                        out.push(Rec::Civil(i, CivilCategory::ExtremePoverty));
                    }
                    if p.status == PersonStatus::Deceased && p.death_in_civil_affairs {
                        out.push(Rec::Civil(i, CivilCategory::Death));
                    }
                }
                Source::Education if p.school.is_some() => out.push(Rec::Student(i)),
                Source::Staffing | Source::HitechZone if p.status == PersonStatus::Normal => {
                    if let Some(u) = p.employer {
                        let unit = &pop.units[u as usize];
                        let listed = match source {
                            Source::Staffing => unit.kind == UnitKind::PublicSector,
                            _ => unit.in_park,
                        };
                        if listed {
                            out.push(Rec::Staff(i));
                        }
                    }
                }
                _ => {}
            }
        }
        if source.delivers_units() {
            for (u, unit) in pop.units.iter().enumerate() {
                let listed = match source {
                    Source::Commerce => matches!(unit.kind, UnitKind::Enterprise | UnitKind::Individual),
                    Source::Tax => unit.kind == UnitKind::Enterprise || (unit.kind == UnitKind::Individual && u % 2 == 0),
                    _ => unit.kind != UnitKind::Individual,
                };
                if listed {
                    out.push(Rec::Unit(u as u32));
                }
            }
        }
        out
    }

    /// The clean row of a record, with `id` as its ID (the person's own unless a second ID).
    fn clean_row(&self, source: Source, rec: Rec, id: Option<CitizenId>, rng: &mut Rng) -> Row {
        let cols = columns(source);
        let mut cells = vec![Cell::Empty; cols.len()];
        let mut facts = Facts::default();
        let pop = self.pop;
        let mut key = String::new();
        let mut credit = None;
        if let Rec::Unit(u) = rec {
            let unit = &pop.units[u as usize];
            let cc = unit.credit.map(|c| c.as_str().to_string());
            set(cols, &mut cells, Col::CreditCode, cc.clone().map(Cell::Text).unwrap_or(Cell::Empty));
            set(cols, &mut cells, Col::OrgCode, Cell::Text(unit.org.as_str().to_string()));
            set(cols, &mut cells, Col::UnitName, Cell::Text(unit.name.clone()));
            let status = match (source, unit.operating) {
                (Source::Commerce, true) => "存续",
                (Source::Commerce, false) => "注销",
                (Source::Tax, true) => "正常",
                (Source::Tax, false) => "注销",
                (_, true) => "有效",
                (_, false) => "注销",
            };
            set(cols, &mut cells, Col::RegStatus, Cell::Text(status.into()));
            set(cols, &mut cells, Col::Address, Cell::Text(unit.address.clone()));
            let head = if unit.kind == UnitKind::Individual { rng.range(1, 4) } else { unit.employees as i64 + rng.range(0, 5) };
            set(cols, &mut cells, Col::Headcount, Cell::Int(head));
            key = cc.clone().unwrap_or_else(|| unit.org.as_str().to_string());
            return Row { cells, facts, id: None, key, outcome: Outcome::Accepted(None), person: None, credit: cc };
        }
        let pi = rec.person().expect("person record");
        let p: &Person = &pop.persons[pi as usize];
        let id = id.unwrap_or(p.id);
        let hukou = pop.hukou_of(p);
        let res = pop.residence_of(p);
        // Identity: every person file carries ID, name, gender, ethnicity and birth date.
        set(cols, &mut cells, Col::Id, Cell::Text(id.as_str().to_string()));
        set(cols, &mut cells, Col::Name, Cell::Text(p.name.clone()));
        set(cols, &mut cells, Col::Gender, Cell::Text(gender_zh(id.gender()).into()));
        set(cols, &mut cells, Col::Ethnicity, Cell::Text(p.ethnicity.code().into()));
        set(cols, &mut cells, Col::Birth, Cell::Date(id.birth_date()));
        facts.name = Some(p.name.clone());
        facts.gender = Some(id.gender());
        facts.ethnicity = Some(p.ethnicity);
        facts.birth = Some(id.birth_date());
        // Optional columns: how often each source fills them.
        let (hukou_p, res_p, phone_p) = match source {
            Source::PublicSecurity => (1.0, 0.75, 0.45),
            Source::Hrss => (0.8, 0.5, 0.7),
            Source::Health => (0.6, 0.6, 0.6),
            Source::CivilAffairs => (1.0, 0.9, 0.8),
            Source::Education => (0.0, 0.9, 0.85),
            Source::Staffing => (0.0, 0.0, 0.9),
            _ => (0.0, 0.6, 0.8),
        };
        if cols.contains(&Col::HukouRegion) && rng.chance(hukou_p) {
            set(cols, &mut cells, Col::HukouRegion, Cell::Text(hukou.region.clone()));
            facts.hukou_region = Some(hukou.region.clone());
            if cols.contains(&Col::HukouAddress) {
                set(cols, &mut cells, Col::HukouAddress, Cell::Text(hukou.text.clone()));
                facts.hukou_address = Some(crate::expected::hash_text(&hukou.text));
            }
        }
        if cols.contains(&Col::ResidenceAddress) && rng.chance(res_p) {
            set(cols, &mut cells, Col::ResidenceAddress, Cell::Text(res.text.clone()));
            facts.residence_address = true;
            if cols.contains(&Col::ResidenceRegion) {
                set(cols, &mut cells, Col::ResidenceRegion, Cell::Text(res.region.clone()));
                facts.residence_region = Some(res.region.clone());
            }
        }
        if cols.contains(&Col::Phone) && rng.chance(phone_p) {
            set(cols, &mut cells, Col::Phone, Cell::Text(p.phone.clone()));
            facts.phone = true;
        }
        match rec {
            Rec::Registry(_) => {
                let (status, date) = match p.status {
                    PersonStatus::Deceased if p.death_in_registry => (PersonStatus::Deceased, p.status_date),
                    PersonStatus::MovedOut => (PersonStatus::MovedOut, p.status_date),
                    _ => (PersonStatus::Normal, None),
                };
                set(cols, &mut cells, Col::PersonStatus, Cell::Text(status.name_zh().into()));
                set(cols, &mut cells, Col::ChangeDate, date.map(Cell::Date).unwrap_or(Cell::Empty));
                facts.person_status = Some(status);
            }
            Rec::Enroll(_, k) => {
                let e = &p.enrollments[k as usize];
                set(cols, &mut cells, Col::Scheme, Cell::Text(e.scheme.code().into()));
                set(cols, &mut cells, Col::EnrollStatus, Cell::Text(e.status.name_zh().into()));
                set(cols, &mut cells, Col::EnrollDate, Cell::Date(e.since));
                set(cols, &mut cells, Col::EnrollRegion, Cell::Text(e.region.clone()));
                if let Some(u) = e.unit {
                    let unit = &pop.units[u as usize];
                    set(cols, &mut cells, Col::UnitName, Cell::Text(unit.name.clone()));
                    if let Some(cc) = unit.credit {
                        set(cols, &mut cells, Col::CreditCode, Cell::Text(cc.as_str().to_string()));
                        credit = Some(cc.as_str().to_string());
                    }
                    facts.employer_named = true;
                }
                facts.enrollment = Some((e.scheme, e.status));
                key = e.scheme.code().to_string();
            }
            Rec::Civil(_, cat) => {
                set(cols, &mut cells, Col::Category, Cell::Text(cat.zh().into()));
                let date = match cat {
                    CivilCategory::Death => p.status_date.unwrap_or(pop.as_of),
                    _ => pop.as_of - chrono::Days::new(rng.range(30, 3000) as u64),
                };
                set(cols, &mut cells, Col::Date, Cell::Date(date));
                facts.civil = Some(cat);
                key = cat.zh().to_string();
            }
            Rec::Student(_) => {
                let school = &pop.schools[p.school.expect("student") as usize];
                set(cols, &mut cells, Col::School, Cell::Text(school.name.clone()));
                set(cols, &mut cells, Col::Grade, Cell::Text(names::grade_for_age(p.age_on(pop.as_of)).into()));
                facts.listed_student = true;
            }
            Rec::Staff(_) => {
                let unit = &pop.units[p.employer.expect("staff") as usize];
                set(cols, &mut cells, Col::UnitName, Cell::Text(unit.name.clone()));
                if let Some(cc) = unit.credit {
                    set(cols, &mut cells, Col::CreditCode, Cell::Text(cc.as_str().to_string()));
                }
                facts.listed_staff = true;
            }
            Rec::Unit(_) => unreachable!("handled above"),
        }
        Row { cells, facts, id: Some(id), key, outcome: Outcome::Accepted(None), person: Some(pi), credit }
    }

    /// Applies one injected mistake to a clean row; false if the row is not eligible.
    fn inject(&mut self, source: Source, kind: Kind, row: &mut Row, rng: &mut Rng) -> bool {
        let cols = columns(source);
        let units = source.delivers_units();
        let id_text = row.id.map(|i| i.as_str().to_string());
        let code_col = if units {
            if get(cols, &row.cells, Col::CreditCode).is_some_and(|c| !c.is_empty()) { Col::CreditCode } else { Col::OrgCode }
        } else {
            Col::Id
        };
        let code_text = match get(cols, &row.cells, code_col) {
            Some(Cell::Text(s)) => s.clone(),
            _ => String::new(),
        };
        let cells = &mut row.cells;
        match kind {
            Kind::BadCheckChar => {
                let alphabet: &[u8] = match code_col {
                    Col::Id => b"0123456789X",
                    Col::CreditCode => b"0123456789ABCDEFGHJKLMNPQRTUWXY",
                    _ => b"0123456789X",
                };
                let last = *code_text.as_bytes().last().unwrap_or(&b'0');
                let mut c = last;
                while c == last {
                    c = *rng.pick(alphabet);
                }
                let mut t = code_text[..code_text.len() - 1].to_string();
                t.push(c as char);
                set(cols, cells, code_col, Cell::Text(t));
            }
            Kind::ImpossibleBirthDate => {
                let Some(id) = &id_text else { return false };
                let bad = *rng.pick(&["0230", "1315", "0431", "0000"]);
                let body = format!("{}{}{}{}", &id[..6], &id[6..10], bad, &id[14..17]);
                let check = citizen_id_check_char(body.as_bytes()) as char;
                set(cols, cells, Col::Id, Cell::Text(format!("{body}{check}")));
            }
            Kind::RequiredEmpty => {
                let col = if units || rng.chance(0.6) { if units { Col::UnitName } else { Col::Name } } else { Col::Id };
                set(cols, cells, col, Cell::Empty);
            }
            Kind::UnknownRegion => {
                let col = [Col::HukouRegion, Col::ResidenceRegion, Col::EnrollRegion].into_iter().find(|c| cols.contains(c));
                let Some(col) = col else { return false };
                let county = &row.id.map(|i| i.county_code().to_string()).unwrap_or_else(|| "510402".into());
                let county = if county.starts_with(geo::CITY_PREFIX) { county.clone() } else { "510402".into() };
                let code = if col == Col::EnrollRegion { "510499".to_string() } else { format!("{county}{}", rng.range(900_000, 999_999)) };
                if geo::is_known(&code) {
                    return false;
                }
                set(cols, cells, col, Cell::Text(code));
            }
            Kind::UnparseableDate => {
                let col = [Col::EnrollDate, Col::ChangeDate, Col::Date].into_iter().find(|c| cols.contains(c));
                let Some(col) = col else { return false };
                let bad = *rng.pick(&["2019-02-30", "2021-13-05", "2020-00-10", "20191332", "2018/02/31"]);
                set(cols, cells, col, Cell::Text(bad.into()));
            }
            Kind::LegacyId15 => {
                let Some(id) = &id_text else { return false };
                if &id[6..8] != "19" {
                    return false;
                }
                set(cols, cells, Col::Id, Cell::Text(format!("{}{}", &id[..6], &id[8..17])));
            }
            Kind::LowercaseX => {
                let Some(id) = &id_text else { return false };
                if !id.ends_with('X') {
                    return false;
                }
                set(cols, cells, Col::Id, Cell::Text(id.to_lowercase()));
            }
            Kind::FullWidth => {
                if code_text.is_empty() {
                    return false;
                }
                set(cols, cells, code_col, Cell::Text(full_width(&code_text)));
            }
            Kind::Whitespace => {
                if code_text.is_empty() {
                    return false;
                }
                let t = match rng.below(3) {
                    0 => format!(" {code_text} "),
                    1 => format!("{} {}", &code_text[..6], &code_text[6..]),
                    _ => format!("{code_text}  "),
                };
                set(cols, cells, code_col, Cell::Text(t));
            }
            Kind::LowercaseCode => {
                let Some(Cell::Text(cc)) = get(cols, cells, Col::CreditCode).cloned() else { return false };
                if !cc.bytes().any(|b| b.is_ascii_uppercase()) {
                    return false;
                }
                set(cols, cells, Col::CreditCode, Cell::Text(cc.to_lowercase()));
            }
            Kind::GenderContradicts => {
                let Some(id) = row.id else { return false };
                let other = if id.gender() == Gender::Male { Gender::Female } else { Gender::Male };
                set(cols, cells, Col::Gender, Cell::Text(gender_zh(other).into()));
            }
            Kind::BirthDateContradicts => {
                let Some(id) = row.id else { return false };
                let d = id.birth_date() - chrono::Days::new(rng.range(1, 400) as u64);
                set(cols, cells, Col::Birth, Cell::Date(d));
            }
            Kind::EthnicityName => {
                let Some(Cell::Text(code)) = get(cols, cells, Col::Ethnicity).cloned() else { return false };
                let e = Ethnicity::parse(&code).expect("code");
                set(cols, cells, Col::Ethnicity, Cell::Text(e.name_zh().into()));
            }
            Kind::DateLayout => {
                let col = [Col::Birth, Col::EnrollDate, Col::Date, Col::ChangeDate]
                    .into_iter()
                    .filter(|c| matches!(get(cols, cells, *c), Some(Cell::Date(_))))
                    .nth(rng.below(2) as usize)
                    .or_else(|| [Col::Birth].into_iter().find(|c| matches!(get(cols, cells, *c), Some(Cell::Date(_)))));
                let Some(col) = col else { return false };
                let Some(Cell::Date(d)) = get(cols, cells, col).cloned() else { return false };
                let which = rng.below(3);
                set(cols, cells, col, Cell::Text(other_layout(d, which)));
            }
            Kind::Conflict => {
                let Some(id) = row.id else { return false };
                if source == Source::PublicSecurity || !self.sim.name_from_registry(&id) {
                    return false;
                }
                let p = &self.pop.persons[row.person.expect("person") as usize];
                if rng.chance(0.7) {
                    let v = names::variant_name(rng, &p.name, p.gender == Gender::Male);
                    set(cols, cells, Col::Name, Cell::Text(v.clone()));
                    row.facts.name = Some(v);
                } else {
                    let other = if p.ethnicity == Ethnicity::HAN { "07" } else { "01" };
                    set(cols, cells, Col::Ethnicity, Cell::Text(other.into()));
                    row.facts.ethnicity = Some(Ethnicity::parse(other).expect("code"));
                }
            }
            Kind::DuplicateInFile | Kind::SecondId | Kind::OneDigitId | Kind::TransposedId => return false,
        }
        row.outcome = match (kind.rejection(), kind.correction()) {
            (Some(r), _) => Outcome::Rejected(r),
            (None, c) => Outcome::Accepted(c),
        };
        true
    }

    /// Another valid, unused ID for a second row of the same person, per `kind`.
    fn alternate_id(&mut self, id: CitizenId, kind: Kind, rng: &mut Rng) -> Option<CitizenId> {
        let body: Vec<u8> = id.as_str().as_bytes()[..17].to_vec();
        let mut candidates: Vec<Vec<u8>> = Vec::new();
        match kind {
            Kind::SecondId => {
                for _ in 0..20 {
                    let mut b = body.clone();
                    let seq = rng.below(500) * 2 + u64::from(id.gender() == Gender::Male);
                    b[14..17].copy_from_slice(format!("{seq:03}").as_bytes());
                    candidates.push(b);
                }
            }
            Kind::OneDigitId => {
                for _ in 0..20 {
                    let mut b = body.clone();
                    let pos = *rng.pick(&[13usize, 14, 15]);
                    b[pos] = b'0' + rng.below(10) as u8;
                    candidates.push(b);
                }
            }
            Kind::TransposedId => {
                for pos in [14usize, 12, 13, 10] {
                    let mut b = body.clone();
                    b.swap(pos, pos + 1);
                    candidates.push(b);
                }
            }
            _ => return None,
        }
        for b in candidates {
            if b == body {
                continue;
            }
            if let Some(alt) = id_from_body(&b) {
                if alt.gender() == id.gender() && self.used_ids.insert(id_key(&alt)) {
                    return Some(alt);
                }
            }
        }
        None
    }

    /// Generates one source's file(s), writes them, and runs their rows through the simulation.
    fn file(&mut self, source: Source, index: u64) -> anyhow::Result<()> {
        let mut layout = Rng::new(self.seed, Stream::Layout, index);
        let mut inj = Rng::new(self.seed, Stream::Injection, index);
        let mut rows_rng = Rng::new(self.seed, Stream::Layout, 1000 + index);
        let cols = columns(source);
        // Header style: the Chinese names, the English field names, or common variants.
        let style = layout.weighted(&[60, 15, 25]);
        let mut order: Vec<usize> = (0..cols.len()).collect();
        if layout.chance(0.3) {
            for i in (1..order.len()).rev() {
                let j = layout.below(i as u64 + 1) as usize;
                order.swap(i, j);
            }
        }
        let header: Vec<String> = order
            .iter()
            .map(|&i| {
                let c = cols[i];
                match style {
                    1 => c.en().unwrap_or(c.zh()).to_string(),
                    2 if c == Col::Id => layout.pick(&["身份证号", "身份证号码", "证件号码"]).to_string(),
                    _ => c.zh().to_string(),
                }
            })
            .collect();
        let bom = layout.chance(0.5);
        let xlsx_dates = *layout.pick_weighted(&[(XlsxDates::Text, 40), (XlsxDates::DateCells, 40), (XlsxDates::Serial, 20)]);
        let records = self.records(source);
        let many = records.len() as u64 + records.len() as u64 / 10 > self.max_rows;
        let mut part = 0u32;
        let mut pending: VecDeque<(u64, Row)> = VecDeque::new();
        let mut recs = records.into_iter().peekable();
        loop {
            part += 1;
            self.file_no += 1;
            let stem = format!("{:02}_{}", index + 1, source.code());
            let stem = if many { format!("{stem}_p{part}") } else { stem };
            let mut writer = FileWriter::new(self.formats, self.dir, &stem, bom, xlsx_dates)?;
            writer.row(header.iter().map(|h| Cell::Text(h.clone())).collect::<Vec<_>>())?;
            let mut fx = FileExpected {
                source: source.code().into(),
                name: stem.clone(),
                load_position: self.file_no,
                header: header.clone(),
                bom: bom && self.formats.csv,
                xlsx_dates: self.formats.xlsx.then_some(xlsx_dates),
                ..Default::default()
            };
            let mut keys: HashSet<(Option<CitizenId>, u64)> = HashSet::default();
            let mut written = 0u64;
            let mut since_progress = 0u64;
            loop {
                // Emit deferred rows that are due, then the next record.
                let next: Option<Row> = if pending.front().is_some_and(|(due, _)| *due <= written) {
                    pending.pop_front().map(|x| x.1)
                } else if written >= self.max_rows {
                    pending.pop_front().map(|x| x.1)
                } else if let Some(rec) = recs.next() {
                    let mut row = self.clean_row(source, rec, None, &mut rows_rng);
                    let kind = errors::draw(&mut inj, self.rates);
                    let mut extra: Option<Row> = None;
                    fx.eligible_rows += 1;
                    if let Some(kind) = kind {
                        let applied = match kind {
                            Kind::DuplicateInFile => {
                                // A stale copy first; the true row comes a few rows later and wins.
                                let mut stale = row.clone();
                                self.make_stale(source, &mut stale, &mut inj);
                                let due = written + 1 + inj.below(20);
                                let insert_at = pending.iter().position(|(d, _)| *d > due).unwrap_or(pending.len());
                                pending.insert(insert_at, (due, row.clone()));
                                row = stale;
                                true
                            }
                            Kind::SecondId | Kind::OneDigitId | Kind::TransposedId => {
                                if source == Source::PublicSecurity || source.delivers_units() {
                                    false
                                } else {
                                    let id = row.id.expect("person row");
                                    match self.alternate_id(id, kind, &mut inj) {
                                        Some(alt) => {
                                            extra = Some(self.clean_row(source, rec, Some(alt), &mut rows_rng));
                                            true
                                        }
                                        None => false,
                                    }
                                }
                            }
                            k => self.inject(source, k, &mut row, &mut inj),
                        };
                        if applied {
                            *fx.injected.entry(kind.code().into()).or_default() += 1;
                            if let Some(p) = row.person {
                                self.injected_persons.insert(p);
                            }
                        }
                    }
                    if let Some(x) = extra {
                        pending.push_front((written + 1, x));
                    }
                    Some(row)
                } else {
                    pending.pop_front().map(|x| x.1)
                };
                let Some(row) = next else { break };
                self.emit(source, &order, row, &mut writer, &mut fx, &mut keys)?;
                written += 1;
                since_progress += 1;
                if since_progress >= 10_000 {
                    (self.progress)(since_progress);
                    since_progress = 0;
                }
                if written >= self.max_rows && pending.is_empty() {
                    break;
                }
            }
            (self.progress)(since_progress);
            let (w, pending_xlsx): (Written, _) = writer.finish()?;
            if let Some(x) = pending_xlsx {
                self.pending_xlsx.push((self.files.len(), x));
            }
            self.files.push(DepartmentFile {
                source,
                name: stem,
                csv_utf8: w.csv_utf8,
                csv_gb18030: w.csv_gb18030,
                xlsx: w.xlsx,
            });
            self.expected.push(fx);
            if recs.peek().is_none() && pending.is_empty() {
                break;
            }
        }
        Ok(())
    }

    /// Turns a clean row into its stale earlier version (a later row with the same key wins);
    /// false where the row has nothing that can be stale (then it is an exact copy).
    fn make_stale(&self, source: Source, row: &mut Row, rng: &mut Rng) -> bool {
        let cols = columns(source);
        let cells = &mut row.cells;
        match source {
            Source::Hrss | Source::Health => {
                let (scheme, status) = row.facts.enrollment.expect("enrollment row");
                let stale = if status == EnrollmentStatus::Suspended { EnrollmentStatus::Active } else { EnrollmentStatus::Suspended };
                set(cols, cells, Col::EnrollStatus, Cell::Text(stale.name_zh().into()));
                row.facts.enrollment = Some((scheme, stale));
                true
            }
            Source::CivilAffairs => {
                if let Some(Cell::Date(d)) = get_mut(cols, cells, Col::Date) {
                    *d = *d - chrono::Days::new(rng.range(1, 90) as u64);
                }
                true
            }
            Source::Education => {
                set(cols, cells, Col::Grade, Cell::Text("待定".into()));
                true
            }
            s if s.delivers_units() => {
                if let Some(Cell::Int(n)) = get_mut(cols, cells, Col::Headcount) {
                    *n += 3;
                }
                true
            }
            _ => {
                // Person files: an old phone number where the true row has one.
                if let Some(c @ Cell::Text(_)) = get_mut(cols, cells, Col::Phone) {
                    if !c.is_empty() {
                        *c = Cell::Text(format!("139{:08}", rng.below(100_000_000)));
                        return true;
                    }
                }
                false
            }
        }
    }

    /// Writes one row and applies it to the simulation and the file's expected counts.
    fn emit(
        &mut self,
        source: Source,
        order: &[usize],
        row: Row,
        writer: &mut FileWriter,
        fx: &mut FileExpected,
        keys: &mut HashSet<(Option<CitizenId>, u64)>,
    ) -> anyhow::Result<()> {
        let mut row = row;
        let cells: Vec<Cell> = order.iter().map(|&i| std::mem::replace(&mut row.cells[i], Cell::Empty)).collect();
        writer.row(cells)?;
        fx.rows_total += 1;
        match row.outcome {
            Outcome::Rejected(reason) => {
                fx.rejected += 1;
                *fx.rejected_by_reason.entry(reason.into()).or_default() += 1;
                return Ok(());
            }
            Outcome::Accepted(correction) => {
                fx.accepted += 1;
                if let Some(c) = correction {
                    fx.corrections_total += 1;
                    *fx.corrections.entry(c.into()).or_default() += 1;
                }
            }
        }
        let duplicate = !keys.insert((row.id, fx_hash(&row.key)));
        fx.duplicates_in_file += u64::from(duplicate);
        if source.delivers_units() {
            if !duplicate {
                if self.units.contains_key(&row.key) {
                    fx.updated_units += 1;
                } else {
                    fx.new_units += 1;
                    self.units.insert(row.key.clone(), row.credit.clone());
                }
            }
            return Ok(());
        }
        if source == Source::Hrss {
            if let Some(cc) = &row.credit {
                self.hrss_credit_codes.insert(cc.clone());
            }
        }
        let id = row.id.expect("person row has an ID");
        let a: Applied = self.sim.apply(self.file_no, source, id, &row.facts);
        fx.new_persons += u64::from(a.new_person);
        fx.updated_persons += u64::from(a.updated_person);
        fx.conflicts += u64::from(a.conflicts);
        self.ambiguous += u64::from(a.ambiguous);
        Ok(())
    }
}

/// Units of the run that no accepted hrss row names as employer (by credit code).
pub fn units_without_hrss(run: &Run) -> (u64, u64) {
    let total = run.units.len() as u64;
    let without = run
        .units
        .values()
        .filter(|cc| cc.as_ref().is_none_or(|c| !run.hrss_credit_codes.contains(c)))
        .count() as u64;
    (total, without)
}
