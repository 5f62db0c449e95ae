//! The cleaning rules of DOMAIN §6 for one file row: a row is either refused (with the column, a
//! reason code and a message for the error report) or accepted as what its source says — a person
//! observation for merge, or a unit — together with every correction that was needed, so that each
//! one is counted in the batch report and kept in provenance.

use super::layouts::{Column, ColumnMap};
use crate::codes::{EnrollmentStatus, Ethnicity, Flag, Gender, PersonStatus, Scheme, Source};
use crate::correction::{Correction, CorrectionKind, Parsed};
use crate::error::{FieldError, Reason};
use crate::ids::{CitizenId, CreditCode, OrgCode, Phone};
use crate::merge::Observation;
use crate::person::{Enrollment, Provenance};
use crate::regions::{RegionCode, RegionTree};
use chrono::NaiveDate;

/// Why a row was refused: the first bad column, the reason code and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowError {
    /// The column at fault (by its Chinese name), if one is.
    pub column: Option<Column>,
    /// The reason code (DOMAIN §6: checksum, birth_date, required, unknown_region, date …).
    pub reason: Reason,
    /// What is wrong, in Chinese.
    pub message: String,
}

impl RowError {
    fn at(column: Column, e: FieldError) -> RowError {
        RowError { column: Some(column), reason: e.code, message: e.message }
    }
}

/// A unit (参保单位) as a commerce, tax or quality row describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct UnitRow {
    /// Unified social credit code, when given.
    pub credit_code: Option<CreditCode>,
    /// Organisation code: given, or the one embedded in the credit code.
    pub org_code: Option<OrgCode>,
    /// 单位名称.
    pub name: String,
    /// 登记状态.
    pub status: Option<String>,
    /// 地址.
    pub address: Option<String>,
    /// 从业人数.
    pub headcount: Option<i64>,
}

/// What an accepted row says.
#[derive(Debug, Clone)]
pub enum Record {
    /// About a person.
    Person(Box<Observation>),
    /// About a unit.
    Unit(UnitRow),
}

/// An accepted row: the record key of in-file duplicates (DOMAIN §6), what it says, and the
/// corrections made to accept it.
#[derive(Debug, Clone)]
pub struct CleanRow {
    /// ID (+ scheme in hrss/health, + category in civil_affairs); credit code, else organisation
    /// code, for unit files.
    pub key: String,
    /// What the row says.
    pub record: Record,
    /// Every correction, in column order.
    pub corrections: Vec<Correction>,
}

/// Cleans the rows of one file against its column map and the loaded region tree.
pub struct Cleaner<'a> {
    /// The delivering source.
    pub source: Source,
    /// Where each column is.
    pub map: &'a ColumnMap,
    /// The loaded region tree (codes outside it are `unknown_region`).
    pub regions: &'a RegionTree,
    /// Today in China (an ID's birth date may not be later).
    pub today: NaiveDate,
}

impl Cleaner<'_> {
    /// Cleans one row; `provenance` is what its values will carry.
    pub fn clean(&self, row: &csv::StringRecord, provenance: Provenance) -> Result<CleanRow, RowError> {
        let mut row = RowReader { cleaner: self, row, corrections: Vec::new() };
        if self.source.delivers_units() {
            let (key, unit) = row.unit()?;
            return Ok(CleanRow { key, record: Record::Unit(unit), corrections: row.corrections });
        }
        let (key, observation) = row.person(provenance)?;
        Ok(CleanRow { key, record: Record::Person(Box::new(observation)), corrections: row.corrections })
    }
}

struct RowReader<'a, 'r> {
    cleaner: &'a Cleaner<'a>,
    row: &'r csv::StringRecord,
    corrections: Vec<Correction>,
}

impl RowReader<'_, '_> {
    /// The raw text of a column; `None` when the file lacks it or the cell is blank.
    fn raw(&self, column: Column) -> Option<&str> {
        let i = self.cleaner.map.position(column)?;
        self.row.get(i).filter(|v| !v.trim().is_empty())
    }

    fn required(&self, column: Column) -> Result<&str, RowError> {
        self.raw(column).ok_or_else(|| empty(column))
    }

    fn keep<T>(&mut self, column: Column, parsed: Result<Parsed<T>, FieldError>) -> Result<T, RowError> {
        let parsed = parsed.map_err(|e| RowError::at(column, e))?;
        self.corrections.extend(parsed.corrections.into_iter().map(|mut c| {
            c.field = column_field(column).to_string();
            c
        }));
        Ok(parsed.value)
    }

    fn code<T>(&mut self, column: Column, parse: fn(&str) -> Result<T, FieldError>) -> Result<Option<T>, RowError> {
        match self.raw(column) {
            None => Ok(None),
            Some(text) => parse(text.trim()).map(Some).map_err(|e| RowError::at(column, e)),
        }
    }

    /// Free text (names, addresses): surrounding and inner runs of stray whitespace removed, each
    /// removal a correction. Names lose every space (Chinese names have none); other text keeps
    /// single inner spaces.
    fn text(&mut self, column: Column) -> Option<String> {
        let raw = self.raw(column)?;
        let clean: String = if column == Column::Name {
            raw.chars().filter(|c| !c.is_whitespace()).collect()
        } else {
            raw.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        if clean != raw {
            self.corrections.push(Correction::new(column_field(column), CorrectionKind::Whitespace, raw, clean.as_str()));
        }
        Some(clean)
    }

    fn date(&mut self, column: Column) -> Result<Option<NaiveDate>, RowError> {
        let Some(raw) = self.raw(column) else { return Ok(None) };
        let raw = raw.to_string();
        let parsed = parse_date(&raw).map_err(|e| RowError::at(column, e))?;
        if parsed.was_corrected() {
            self.corrections.extend(parsed.corrections.into_iter().map(|mut c| {
                c.field = column_field(column).to_string();
                c
            }));
        }
        Ok(Some(parsed.value))
    }

    fn region(&mut self, column: Column) -> Result<Option<RegionCode>, RowError> {
        let Some(raw) = self.raw(column) else { return Ok(None) };
        let parsed = self.cleaner.regions.parse_known(raw);
        self.keep(column, parsed).map(Some)
    }

    fn credit_code(&mut self) -> Result<Option<CreditCode>, RowError> {
        let Some(raw) = self.raw(Column::CreditCode) else { return Ok(None) };
        let parsed = CreditCode::parse(raw);
        self.keep(Column::CreditCode, parsed).map(Some)
    }

    fn person(&mut self, provenance: Provenance) -> Result<(String, Observation), RowError> {
        let id_text = self.required(Column::IdNumber)?;
        let parsed = CitizenId::parse_at(id_text, self.cleaner.today);
        let id = self.keep(Column::IdNumber, parsed)?;
        let name = self.text(Column::Name).filter(|n| !n.is_empty()).ok_or_else(|| empty(Column::Name))?;
        let mut o = Observation::new(id, provenance);
        o.name = Some(name);
        o.gender = self.code(Column::Gender, Gender::parse)?;
        if let Some(raw) = self.raw(Column::Ethnicity) {
            let raw = raw.trim().to_string();
            let e = Ethnicity::parse(&raw).map_err(|e| RowError::at(Column::Ethnicity, e))?;
            if !raw.chars().all(|c| c.is_ascii_digit()) {
                self.corrections.push(Correction::new("ethnicity", CorrectionKind::EthnicityNameToCode, raw, e.code()));
            }
            o.ethnicity = Some(e);
        }
        o.birth_date = self.date(Column::BirthDate)?;
        o.hukou_address = self.text(Column::HukouAddress);
        o.hukou_region = self.region(Column::HukouRegion)?;
        o.residence_address = self.text(Column::ResidenceAddress);
        o.residence_region = self.region(Column::ResidenceRegion)?;
        if let Some(raw) = self.raw(Column::Phone) {
            let parsed = Phone::parse(raw);
            o.phone = Some(self.keep(Column::Phone, parsed)?);
        }
        o.employer_name = self.text(Column::UnitName);
        o.employer_credit_code = self.credit_code()?;
        let mut key = id.as_str().to_string();
        match self.cleaner.source {
            Source::PublicSecurity => {
                o.person_status = self.code(Column::PersonStatus, PersonStatus::parse)?;
                o.person_status_date = self.date(Column::ChangeDate)?;
            }
            Source::Hrss | Source::Health => {
                let scheme = Scheme::parse(self.required(Column::Scheme)?.trim()).map_err(|e| RowError::at(Column::Scheme, e))?;
                let status = EnrollmentStatus::parse(self.required(Column::EnrollmentStatus)?.trim())
                    .map_err(|e| RowError::at(Column::EnrollmentStatus, e))?;
                let since = self.date(Column::EnrollmentDate)?;
                let region = self.region(Column::EnrollmentRegion)?;
                o.enrollments.push(Enrollment {
                    scheme,
                    status,
                    since,
                    region,
                    employer_credit_code: o.employer_credit_code.clone(),
                });
                key = format!("{key}|{}", scheme.code());
            }
            Source::CivilAffairs => {
                let category = self.required(Column::Category)?.trim().to_string();
                let date = self.date(Column::Date)?;
                match category.as_str() {
                    "低保" => o.flags.insert(Flag::MinimumLiving),
                    "特困" => o.flags.insert(Flag::ExtremePoverty),
                    "死亡" => {
                        o.person_status = Some(PersonStatus::Deceased);
                        o.person_status_date = date;
                        o.flags.insert(Flag::Deceased)
                    }
                    _ => {
                        return Err(RowError {
                            column: Some(Column::Category),
                            reason: Reason::UnknownCode,
                            message: format!("类别“{category}”应为 低保、特困 或 死亡"),
                        })
                    }
                };
                key = format!("{key}|{category}");
            }
            Source::Education => {
                o.flags.insert(Flag::Student);
            }
            _ => {}
        }
        Ok((key, o))
    }

    fn unit(&mut self) -> Result<(String, UnitRow), RowError> {
        let credit_code = self.credit_code()?;
        let org_code = match self.raw(Column::OrgCode) {
            Some(raw) => {
                let parsed = OrgCode::parse(raw);
                Some(self.keep(Column::OrgCode, parsed)?)
            }
            None => credit_code.as_ref().map(CreditCode::org_code),
        };
        let key = match (&credit_code, &org_code) {
            (Some(c), _) => c.as_str().to_string(),
            (None, Some(o)) => o.as_str().to_string(),
            (None, None) => {
                return Err(RowError {
                    column: Some(Column::CreditCode),
                    reason: Reason::Required,
                    message: "“统一社会信用代码”和“组织机构代码”不能都为空".into(),
                })
            }
        };
        let name = self.text(Column::UnitName).ok_or_else(|| empty(Column::UnitName))?;
        let headcount = match self.raw(Column::Headcount) {
            None => None,
            Some(raw) => Some(raw.trim().parse::<i64>().ok().filter(|n| *n >= 0).ok_or_else(|| RowError {
                column: Some(Column::Headcount),
                reason: Reason::Format,
                message: format!("从业人数“{raw}”应为非负整数"),
            })?),
        };
        let status = self.text(Column::RegistrationStatus);
        let address = self.text(Column::Address);
        Ok((key, UnitRow { credit_code, org_code, name, status, address, headcount }))
    }
}

/// The error of a required column left empty.
fn empty(column: Column) -> RowError {
    RowError { column: Some(column), reason: Reason::Required, message: format!("“{}”为必填项，本行为空", column.name_zh()) }
}

/// The indicator field (DOMAIN §4) a column fills, for corrections and provenance.
fn column_field(column: Column) -> &'static str {
    use Column::*;
    match column {
        IdNumber => "id_number",
        Name => "name",
        Gender => "gender",
        Ethnicity => "ethnicity",
        BirthDate => "birth_date",
        HukouAddress => "hukou_address",
        HukouRegion => "hukou_region",
        ResidenceAddress => "residence_address",
        ResidenceRegion => "residence_region",
        Phone => "phone",
        PersonStatus | ChangeDate | Category | Date => "person_status",
        Scheme | EnrollmentStatus | EnrollmentDate | EnrollmentRegion => "insurance",
        UnitName => "employer_name",
        CreditCode => "employer_credit_code",
        OrgCode => "org_code",
        School | Grade => "student",
        RegistrationStatus => "unit_status",
        Address => "unit_address",
        Headcount => "headcount",
    }
}

/// A date in any common layout (DOMAIN §6): ISO `2020-01-05` as is; `2020/1/5`, `2020.1.5`,
/// `2020-1-5`, `2020年1月5日`, `20200105` and a trailing time of day corrected to ISO.
pub fn parse_date(text: &str) -> Result<Parsed<NaiveDate>, FieldError> {
    let bad = || FieldError::new("date", Reason::Date, format!("日期“{text}”无法识别或不存在，请写成 2020-01-05"));
    let t = text.trim();
    let t = t.split_once([' ', 'T']).map_or(t, |(d, _)| d);
    let is_iso = t.len() == 10 && t.as_bytes()[4] == b'-' && t.as_bytes()[7] == b'-';
    let digits: Vec<&str> = t.split(['-', '/', '.', '年', '月', '日']).filter(|p| !p.is_empty()).collect();
    let (y, m, d) = match digits.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() <= 2 && d.len() <= 2 => (*y, *m, *d),
        // Byte slicing: only ASCII may be cut at fixed offsets (8 bytes of Chinese text must not panic).
        [all] if all.len() == 8 && all.is_ascii() => (&all[..4], &all[4..6], &all[6..]),
        _ => return Err(bad()),
    };
    let num = |s: &str| s.parse::<u32>().ok().filter(|_| s.bytes().all(|b| b.is_ascii_digit()));
    let date = match (num(y), num(m), num(d)) {
        (Some(y), Some(m), Some(d)) => NaiveDate::from_ymd_opt(y as i32, m, d).ok_or_else(bad)?,
        _ => return Err(bad()),
    };
    let mut parsed = Parsed::clean(date);
    if !is_iso || t != text {
        parsed.corrections.push(Correction::new("date", CorrectionKind::DateNormalised, text, date.to_string()));
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::person::Origin;
    use chrono::Utc;

    fn cleaner_for<'a>(source: Source, header: &[&str], map: &'a mut Option<ColumnMap>, tree: &'a RegionTree) -> Cleaner<'a> {
        let h: Vec<String> = header.iter().map(|s| s.to_string()).collect();
        *map = Some(ColumnMap::resolve(source, &h).unwrap());
        Cleaner { source, map: map.as_ref().unwrap(), regions: tree, today: NaiveDate::from_ymd_opt(2025, 12, 31).unwrap() }
    }

    fn prov(source: Source) -> Provenance {
        Provenance { source, origin: Origin::Batch("b1".into()), at: Utc::now() }
    }

    fn rec(fields: &[&str]) -> csv::StringRecord {
        csv::StringRecord::from(fields.to_vec())
    }

    #[test]
    fn dates_in_common_layouts_become_iso_and_count_as_corrections() {
        let d = NaiveDate::from_ymd_opt(2020, 1, 5).unwrap();
        assert_eq!(parse_date("2020-01-05").unwrap(), Parsed::clean(d));
        for text in ["2020/1/5", "2020年1月5日", "20200105", "2020.01.05", "2020-1-5"] {
            let p = parse_date(text).unwrap();
            assert_eq!(p.value, d, "{text}");
            assert_eq!(p.corrections[0].kind, CorrectionKind::DateNormalised, "{text}");
        }
        for text in ["2019-02-30", "2021-13-05", "2020-00-10", "20191332", "2018/02/31", "昨天", "不详ab", "0Σa𑦠"] {
            assert_eq!(parse_date(text).unwrap_err().code, Reason::Date, "{text}");
        }
    }

    #[test]
    fn person_rows_are_refused_or_accepted_with_their_corrections() {
        let tree = RegionTree::panzhihua();
        let mut map = None;
        let c = cleaner_for(Source::Hrss, &["身份证号", "姓名", "民族", "险种", "参保状态", "参保日期", "参保地区划代码"], &mut map, &tree);
        let ok = c.clean(&rec(&["11010519491231002x", "张三", "彝族", "110", "参保缴费", "2020/1/5", "510402"]), prov(Source::Hrss)).unwrap();
        assert_eq!(ok.key, "11010519491231002X|110");
        let kinds: Vec<_> = ok.corrections.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [CorrectionKind::IdLowercaseX, CorrectionKind::EthnicityNameToCode, CorrectionKind::DateNormalised]);
        let Record::Person(o) = ok.record else { panic!("person") };
        assert_eq!(o.enrollments[0].status, EnrollmentStatus::Active);
        let err = |fields: &[&str]| c.clean(&rec(fields), prov(Source::Hrss)).unwrap_err();
        assert_eq!(err(&["110105194912310021", "张三", "01", "110", "参保缴费", "", ""]).reason, Reason::Checksum);
        assert_eq!(err(&["", "张三", "01", "110", "参保缴费", "", ""]).reason, Reason::Required);
        let e = err(&["11010519491231002X", " ", "01", "110", "参保缴费", "", ""]);
        assert_eq!((e.reason, e.column), (Reason::Required, Some(Column::Name)));
        assert_eq!(err(&["11010519491231002X", "张三", "01", "110", "参保缴费", "", "510499"]).reason, Reason::UnknownRegion);
        assert_eq!(err(&["11010519491231002X", "张三", "01", "110", "参保缴费", "2019-02-30", ""]).reason, Reason::Date);
    }

    #[test]
    fn unit_rows_are_keyed_by_credit_code_else_organisation_code() {
        let tree = RegionTree::panzhihua();
        let mut map = None;
        let c = cleaner_for(Source::Quality, &["统一社会信用代码", "组织机构代码", "单位名称", "从业人数"], &mut map, &tree);
        let org = OrgCode::from_body("MA6C1234");
        let credit = CreditCode::from_parts("91", "510400", org.clone());
        let row = c.clean(&rec(&[&credit.as_str().to_lowercase(), "", "钒钛公司", "12"]), prov(Source::Quality)).unwrap();
        assert_eq!(row.key, credit.as_str());
        assert_eq!(row.corrections[0].kind, CorrectionKind::Uppercase);
        let Record::Unit(u) = row.record else { panic!("unit") };
        assert_eq!((u.org_code, u.headcount), (Some(org.clone()), Some(12)));
        let row = c.clean(&rec(&["", org.as_str(), "钒钛公司", ""]), prov(Source::Quality)).unwrap();
        assert_eq!(row.key, org.as_str());
        assert_eq!(c.clean(&rec(&["", org.as_str(), "", ""]), prov(Source::Quality)).unwrap_err().reason, Reason::Required);
    }
}
