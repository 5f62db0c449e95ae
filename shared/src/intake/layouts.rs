//! Every source's file layout (ARCHITECTURE "Department file layouts"): the columns it may carry,
//! the names each column goes by (the Chinese header, the English field name, common variants),
//! and which are required. Columns are found by name in any order; unknown ones are ignored.

use crate::codes::Source;

/// A column a department file may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Column {
    /// 公民身份号码.
    IdNumber,
    /// 姓名.
    Name,
    /// 性别.
    Gender,
    /// 民族.
    Ethnicity,
    /// 出生日期.
    BirthDate,
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
    /// 人员状态 (public_security).
    PersonStatus,
    /// 变动日期 (public_security).
    ChangeDate,
    /// 险种 (hrss, health).
    Scheme,
    /// 参保状态.
    EnrollmentStatus,
    /// 参保日期.
    EnrollmentDate,
    /// 参保地区划代码.
    EnrollmentRegion,
    /// 单位名称.
    UnitName,
    /// 统一社会信用代码.
    CreditCode,
    /// 组织机构代码.
    OrgCode,
    /// 类别 (civil_affairs: 低保|特困|死亡).
    Category,
    /// 日期 (civil_affairs).
    Date,
    /// 学校名称 (education).
    School,
    /// 年级 (education).
    Grade,
    /// 登记状态 (units).
    RegistrationStatus,
    /// 地址 (units).
    Address,
    /// 从业人数 (units).
    Headcount,
}

/// Number of [`Column`] variants (the size of a column map).
const COLUMN_COUNT: usize = 26;

impl Column {
    /// Every header this column is recognised by; the first is the Chinese name of the contract.
    pub fn names(self) -> &'static [&'static str] {
        use Column::*;
        match self {
            IdNumber => &["公民身份号码", "id_number", "身份证号", "身份证号码", "证件号码", "身份证", "社会保障号码", "社会保障号"],
            Name => &["姓名", "name", "人员姓名"],
            Gender => &["性别", "gender"],
            Ethnicity => &["民族", "ethnicity"],
            BirthDate => &["出生日期", "birth_date", "出生年月日"],
            HukouAddress => &["户籍地址", "hukou_address", "户籍所在地", "户口所在地"],
            HukouRegion => &["户籍地区划代码", "hukou_region", "户籍地行政区划代码", "户籍区划代码"],
            ResidenceAddress => &["居住地址", "residence_address", "现居住地址", "现住址", "居住地"],
            ResidenceRegion => &["居住地区划代码", "residence_region", "居住地行政区划代码", "居住区划代码"],
            Phone => &["联系电话", "phone", "手机号码", "手机号", "电话", "联系方式"],
            PersonStatus => &["人员状态", "person_status"],
            ChangeDate => &["变动日期", "person_status_date", "status_date"],
            Scheme => &["险种", "scheme", "险种类型", "险种代码"],
            EnrollmentStatus => &["参保状态", "enrollment_status", "status"],
            EnrollmentDate => &["参保日期", "since", "参保时间"],
            EnrollmentRegion => &["参保地区划代码", "insured_region", "参保地行政区划代码"],
            UnitName => &["单位名称", "unit_name", "employer_name", "工作单位"],
            CreditCode => &["统一社会信用代码", "credit_code", "employer_credit_code", "社会信用代码", "信用代码"],
            OrgCode => &["组织机构代码", "org_code", "机构代码"],
            Category => &["类别", "category", "救助类别"],
            Date => &["日期", "date"],
            School => &["学校名称", "school", "学校"],
            Grade => &["年级", "grade"],
            RegistrationStatus => &["登记状态", "registration_status"],
            Address => &["地址", "address", "住所", "单位地址"],
            Headcount => &["从业人数", "headcount", "职工人数"],
        }
    }

    /// The name used in error messages and reports.
    pub fn name_zh(self) -> &'static str {
        self.names()[0]
    }

    /// Whether the column holds a date (XLSX serials there are dates).
    pub fn is_date(self) -> bool {
        matches!(self, Column::BirthDate | Column::ChangeDate | Column::EnrollmentDate | Column::Date)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// The column a header names, if any (spaces and letter case ignored).
pub fn column_named(header: &str) -> Option<Column> {
    let wanted: String = header.chars().filter(|c| !c.is_whitespace()).collect::<String>().to_lowercase();
    ALL_COLUMNS.iter().copied().find(|c| c.names().iter().any(|n| *n == wanted))
}

const ALL_COLUMNS: [Column; COLUMN_COUNT] = {
    use Column::*;
    [
        IdNumber, Name, Gender, Ethnicity, BirthDate, HukouAddress, HukouRegion, ResidenceAddress, ResidenceRegion, Phone,
        PersonStatus, ChangeDate, Scheme, EnrollmentStatus, EnrollmentDate, EnrollmentRegion, UnitName, CreditCode, OrgCode,
        Category, Date, School, Grade, RegistrationStatus, Address, Headcount,
    ]
};

const PERSON: &[Column] = &[
    Column::IdNumber,
    Column::Name,
    Column::Gender,
    Column::Ethnicity,
    Column::BirthDate,
    Column::HukouAddress,
    Column::HukouRegion,
    Column::ResidenceAddress,
    Column::ResidenceRegion,
    Column::Phone,
];

/// The columns a source's file may carry besides the person columns, and those it must carry.
/// Unit files need a credit code or an organisation code column (checked in [`ColumnMap::resolve`]).
pub fn layout(source: Source) -> (&'static [Column], &'static [Column]) {
    use Column::*;
    match source {
        Source::PublicSecurity => (&[PersonStatus, ChangeDate], &[IdNumber, Name]),
        Source::Hrss | Source::Health => (
            &[Scheme, EnrollmentStatus, EnrollmentDate, EnrollmentRegion, UnitName, CreditCode],
            &[IdNumber, Name, Scheme, EnrollmentStatus],
        ),
        Source::CivilAffairs => (&[Category, Date], &[IdNumber, Name, Category]),
        Source::Education => (&[School, Grade], &[IdNumber, Name]),
        Source::Staffing | Source::HitechZone => (&[UnitName, CreditCode], &[IdNumber, Name]),
        Source::Commerce | Source::Tax | Source::Quality => {
            (&[CreditCode, OrgCode, UnitName, RegistrationStatus, Address, Headcount], &[UnitName])
        }
        Source::Survey | Source::SelfReport => (&[], &[IdNumber, Name]),
    }
}

/// Whether a source's file carries `column`.
pub fn carries(source: Source, column: Column) -> bool {
    (!source.delivers_units() && PERSON.contains(&column)) || layout(source).0.contains(&column)
}

/// A required column the header lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MissingColumn(pub Column);

impl std::fmt::Display for MissingColumn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0 == Column::CreditCode {
            write!(f, "缺少必需的列“统一社会信用代码”或“组织机构代码”")
        } else {
            write!(f, "缺少必需的列“{}”", self.0.name_zh())
        }
    }
}

/// Where each column of a source's layout is in a file's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnMap {
    positions: [Option<usize>; COLUMN_COUNT],
}

impl ColumnMap {
    /// Finds the source's columns in `header` (the first occurrence of a column wins); fails on
    /// the first required column missing.
    pub fn resolve(source: Source, header: &[String]) -> Result<ColumnMap, MissingColumn> {
        let mut positions = [None; COLUMN_COUNT];
        for (i, h) in header.iter().enumerate() {
            if let Some(c) = column_named(h).filter(|c| carries(source, *c)) {
                positions[c.index()].get_or_insert(i);
            }
        }
        let map = ColumnMap { positions };
        if let Some(missing) = layout(source).1.iter().find(|c| !map.has(**c)) {
            return Err(MissingColumn(*missing));
        }
        if source.delivers_units() && !map.has(Column::CreditCode) && !map.has(Column::OrgCode) {
            return Err(MissingColumn(Column::CreditCode));
        }
        Ok(map)
    }

    /// Whether the file has the column.
    pub fn has(&self, column: Column) -> bool {
        self.positions[column.index()].is_some()
    }

    /// The column's position in the header.
    pub fn position(&self, column: Column) -> Option<usize> {
        self.positions[column.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(cols: &[&str]) -> Vec<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn columns_are_found_by_any_of_their_names_in_any_order() {
        let m = ColumnMap::resolve(Source::Hrss, &header(&["备注", "scheme", "身份证号码", "姓名", "参保状态"])).unwrap();
        assert_eq!(m.position(Column::IdNumber), Some(2));
        assert_eq!(m.position(Column::Scheme), Some(1));
        assert!(!m.has(Column::Phone));
        assert_eq!(column_named(" Id_Number "), Some(Column::IdNumber));
    }

    #[test]
    fn a_missing_required_column_is_named() {
        let e = ColumnMap::resolve(Source::Hrss, &header(&["公民身份号码", "姓名", "险种"])).unwrap_err();
        assert_eq!(e, MissingColumn(Column::EnrollmentStatus));
        assert!(e.to_string().contains("参保状态"));
        let e = ColumnMap::resolve(Source::Quality, &header(&["单位名称", "地址"])).unwrap_err();
        assert!(e.to_string().contains("组织机构代码"));
        assert!(ColumnMap::resolve(Source::Quality, &header(&["单位名称", "组织机构代码"])).is_ok());
    }

    #[test]
    fn columns_of_other_sources_are_ignored() {
        let m = ColumnMap::resolve(Source::Education, &header(&["公民身份号码", "姓名", "险种"])).unwrap();
        assert!(!m.has(Column::Scheme));
        assert_eq!(ALL_COLUMNS.len(), COLUMN_COUNT);
        assert!(ALL_COLUMNS.iter().enumerate().all(|(i, c)| c.index() == i));
    }
}
