//! The merged record of one resident: every indicator field of DOMAIN §4 as a typed value, where
//! each value came from (`Provenance`), and the open conflicts on it. Merge produces it, storage
//! persists it, completeness and the figures read it; `Field` names each indicator field once.

use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Flag, Gender, PersonStatus, Scheme, Source, UninsuredReason};
use crate::error::{FieldError, Reason};
use crate::ids::{CitizenId, CreditCode, Phone};
use crate::regions::RegionCode;
use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// One indicator field of a person (登记指标), named as in DOMAIN §4.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
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
    /// 就业状态.
    EmploymentStatus,
    /// 单位名称.
    EmployerName,
    /// 单位统一社会信用代码.
    EmployerCreditCode,
    /// 人员状态 (with its date).
    PersonStatus,
    /// 参保险种: enrollments (hrss/health) or schemes declared on a form.
    Insurance,
    /// 未参保原因.
    UninsuredReason,
    /// 参保意愿.
    Willingness,
    /// Flags from other departments (低保, 特困, 在校学生, 死亡).
    Flags,
}

impl Field {
    /// Every field, in DOMAIN §4 order.
    pub const ALL: &'static [Field] = &[
        Field::IdNumber, Field::Name, Field::Gender, Field::Ethnicity, Field::BirthDate,
        Field::HukouAddress, Field::HukouRegion, Field::ResidenceAddress, Field::ResidenceRegion,
        Field::Phone, Field::EmploymentStatus, Field::EmployerName, Field::EmployerCreditCode,
        Field::PersonStatus, Field::Insurance, Field::UninsuredReason, Field::Willingness, Field::Flags,
    ];

    /// The identity fields, ranked by source (DOMAIN §5): name, gender, ethnicity, birth date, hukou.
    pub const IDENTITY: &'static [Field] = &[
        Field::Name, Field::Gender, Field::Ethnicity, Field::BirthDate, Field::HukouAddress, Field::HukouRegion,
    ];

    /// Contact, residence and employment fields: the most recent value wins (DOMAIN §5).
    pub const MOST_RECENT: &'static [Field] = &[
        Field::ResidenceAddress, Field::ResidenceRegion, Field::Phone, Field::EmployerName,
        Field::EmployerCreditCode, Field::UninsuredReason, Field::Willingness,
    ];

    /// The field name used in the API, files, storage and error reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Field::IdNumber => "id_number",
            Field::Name => "name",
            Field::Gender => "gender",
            Field::Ethnicity => "ethnicity",
            Field::BirthDate => "birth_date",
            Field::HukouAddress => "hukou_address",
            Field::HukouRegion => "hukou_region",
            Field::ResidenceAddress => "residence_address",
            Field::ResidenceRegion => "residence_region",
            Field::Phone => "phone",
            Field::EmploymentStatus => "employment_status",
            Field::EmployerName => "employer_name",
            Field::EmployerCreditCode => "employer_credit_code",
            Field::PersonStatus => "person_status",
            Field::Insurance => "insurance",
            Field::UninsuredReason => "uninsured_reason",
            Field::Willingness => "willingness",
            Field::Flags => "flags",
        }
    }

    /// The Chinese label shown to staff and residents.
    pub fn name_zh(self) -> &'static str {
        match self {
            Field::IdNumber => "公民身份号码",
            Field::Name => "姓名",
            Field::Gender => "性别",
            Field::Ethnicity => "民族",
            Field::BirthDate => "出生日期",
            Field::HukouAddress => "户籍地址",
            Field::HukouRegion => "户籍地区划",
            Field::ResidenceAddress => "居住地址",
            Field::ResidenceRegion => "居住地区划",
            Field::Phone => "联系电话",
            Field::EmploymentStatus => "就业状态",
            Field::EmployerName => "单位名称",
            Field::EmployerCreditCode => "统一社会信用代码",
            Field::PersonStatus => "人员状态",
            Field::Insurance => "参保险种",
            Field::UninsuredReason => "未参保原因",
            Field::Willingness => "参保意愿",
            Field::Flags => "部门标识",
        }
    }

    /// Parses a field name.
    pub fn parse(text: &str) -> Result<Field, FieldError> {
        Field::ALL
            .iter()
            .copied()
            .find(|f| f.as_str() == text.trim())
            .ok_or_else(|| FieldError::new("field", Reason::UnknownCode, format!("未知的字段“{}”", text.trim())))
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Field {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Field {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Field::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Willingness to enroll (参保意愿), as a grid worker or resident records it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Willingness {
    /// 愿意参保.
    Willing,
    /// 不愿参保.
    Unwilling,
    /// 尚未决定.
    Undecided,
}

impl Willingness {
    /// Every value.
    pub const ALL: &'static [Willingness] = &[Willingness::Willing, Willingness::Unwilling, Willingness::Undecided];

    /// The machine code.
    pub fn code(self) -> &'static str {
        match self {
            Willingness::Willing => "willing",
            Willingness::Unwilling => "unwilling",
            Willingness::Undecided => "undecided",
        }
    }

    /// The Chinese name.
    pub fn name_zh(self) -> &'static str {
        match self {
            Willingness::Willing => "愿意参保",
            Willingness::Unwilling => "不愿参保",
            Willingness::Undecided => "尚未决定",
        }
    }

    /// Parses the code or the Chinese name (also 愿意 / 不愿意 / 未定).
    pub fn parse(text: &str) -> Result<Willingness, FieldError> {
        let t = text.trim();
        if t.is_empty() {
            return Err(FieldError::required("willingness"));
        }
        match t {
            "willing" | "愿意参保" | "愿意" | "是" => Ok(Willingness::Willing),
            "unwilling" | "不愿参保" | "不愿意" | "否" => Ok(Willingness::Unwilling),
            "undecided" | "尚未决定" | "未定" => Ok(Willingness::Undecided),
            _ => Err(FieldError::new("willingness", Reason::UnknownCode, format!("无法识别的参保意愿“{t}”"))),
        }
    }
}

/// Where a value came from besides its source: a batch, a form submission, or a staff member.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Origin {
    /// A department file (`batch:<id>`).
    Batch(String),
    /// A registration form submission (`receipt:<id>`).
    Receipt(String),
    /// A staff correction or conflict resolution (`staff:<name>`).
    Staff(String),
}

impl Origin {
    /// Parses `batch:<id>`, `receipt:<id>` or `staff:<name>`.
    pub fn parse(text: &str) -> Result<Origin, FieldError> {
        let bad = || FieldError::new("origin", Reason::Format, format!("无法识别的来源“{text}”"));
        let (kind, rest) = text.split_once(':').ok_or_else(bad)?;
        if rest.is_empty() {
            return Err(bad());
        }
        match kind {
            "batch" => Ok(Origin::Batch(rest.to_owned())),
            "receipt" => Ok(Origin::Receipt(rest.to_owned())),
            "staff" => Ok(Origin::Staff(rest.to_owned())),
            _ => Err(bad()),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Batch(id) => write!(f, "batch:{id}"),
            Origin::Receipt(id) => write!(f, "receipt:{id}"),
            Origin::Staff(name) => write!(f, "staff:{name}"),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Origin {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Origin::parse(&s).map_err(|e| serde::de::Error::custom(e.message))
    }
}

/// Where one field value came from: the source, the batch/submission/staff member, and when the
/// source said it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Provenance {
    /// The department or form.
    pub source: Source,
    /// The batch, submission or staff member.
    pub origin: Origin,
    /// When the source said it (batch arrival, submission time).
    pub at: DateTime<Utc>,
}

/// One enrollment in one scheme (or a scheme declared on a form).
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Enrollment {
    /// The scheme (险种).
    pub scheme: Scheme,
    /// Paying, suspended or terminated.
    pub status: EnrollmentStatus,
    /// Enrolled since.
    pub since: Option<NaiveDate>,
    /// The insured region (参保地).
    pub region: Option<RegionCode>,
    /// The employer, for employee schemes.
    pub employer_credit_code: Option<CreditCode>,
}

/// One competing value in a conflict and every source that says it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The value as the first source wrote it (compared after normalisation).
    pub value: String,
    /// The sources that say it, one entry per source (its latest saying).
    pub sources: Vec<Provenance>,
}

/// An open disagreement between sources on one field of one person, for review.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Conflict {
    /// The stored row id, once saved.
    pub id: Option<i64>,
    /// The field.
    pub field: Field,
    /// Every competing value with its sources.
    pub candidates: Vec<Candidate>,
    /// When the disagreement first appeared (the later saying's time).
    pub opened_at: DateTime<Utc>,
}

/// How a person is placed in a region for the figures (DOMAIN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Attribution {
    /// Hukou region, else residence region, else the ID's address code (the default).
    #[default]
    Hukou,
    /// Residence region, else hukou region, else the ID's address code.
    Residence,
}

/// The merged record of one resident (one row of `persons`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Person {
    /// 公民身份号码, the key.
    pub id: CitizenId,
    /// 姓名.
    pub name: Option<String>,
    /// 性别.
    pub gender: Option<Gender>,
    /// 民族.
    pub ethnicity: Option<Ethnicity>,
    /// 出生日期.
    pub birth_date: Option<NaiveDate>,
    /// 户籍地址.
    pub hukou_address: Option<String>,
    /// 户籍地区划.
    pub hukou_region: Option<RegionCode>,
    /// 居住地址.
    pub residence_address: Option<String>,
    /// 居住地区划.
    pub residence_region: Option<RegionCode>,
    /// 联系电话.
    pub phone: Option<Phone>,
    /// 就业状态.
    pub employment_status: Option<EmploymentStatus>,
    /// 单位名称.
    pub employer_name: Option<String>,
    /// 单位统一社会信用代码.
    pub employer_credit_code: Option<CreditCode>,
    /// 人员状态.
    pub person_status: PersonStatus,
    /// The date of the last status change (death, move), if known.
    pub person_status_date: Option<NaiveDate>,
    /// Enrollments from hrss/health, one per scheme.
    pub enrollments: Vec<Enrollment>,
    /// Where each enrollment came from.
    pub enrollment_provenance: BTreeMap<Scheme, Provenance>,
    /// Schemes declared on the latest form (survey/self); they fill the insurance field but are
    /// not enrollments.
    pub declared_insurance: Vec<Enrollment>,
    /// 未参保原因.
    pub uninsured_reason: Option<UninsuredReason>,
    /// 参保意愿.
    pub willingness: Option<Willingness>,
    /// Flags from other departments.
    pub flags: BTreeSet<Flag>,
    /// Whether a survey or self registration was received (counts as registered, DOMAIN §7).
    pub via_form: bool,
    /// The current winner's provenance per field.
    pub provenance: BTreeMap<Field, Provenance>,
    /// Open conflicts, at most one per field.
    pub open_conflicts: BTreeMap<Field, Conflict>,
}

impl Person {
    /// A person known only by ID.
    pub fn new(id: CitizenId) -> Person {
        Person {
            id,
            name: None,
            gender: None,
            ethnicity: None,
            birth_date: None,
            hukou_address: None,
            hukou_region: None,
            residence_address: None,
            residence_region: None,
            phone: None,
            employment_status: None,
            employer_name: None,
            employer_credit_code: None,
            person_status: PersonStatus::Normal,
            person_status_date: None,
            enrollments: Vec::new(),
            enrollment_provenance: BTreeMap::new(),
            declared_insurance: Vec::new(),
            uninsured_reason: None,
            willingness: None,
            flags: BTreeSet::new(),
            via_form: false,
            provenance: BTreeMap::new(),
            open_conflicts: BTreeMap::new(),
        }
    }

    /// The region the person counts in for the figures (DOMAIN §7): by hukou (default) or by
    /// residence, falling back to the other, then to the ID's address code. `None` only if the
    /// ID's address code is not a well-formed region code.
    pub fn attributed_region(&self, by: Attribution) -> Option<RegionCode> {
        let (first, second) = match by {
            Attribution::Hukou => (self.hukou_region, self.residence_region),
            Attribution::Residence => (self.residence_region, self.hukou_region),
        };
        first.or(second).or_else(|| RegionCode::parse(self.id.county_code()).ok().map(|p| p.value))
    }

    /// The enrollment in `scheme`, if any.
    pub fn enrollment(&self, scheme: Scheme) -> Option<&Enrollment> {
        self.enrollments.iter().find(|e| e.scheme == scheme)
    }

    /// Registered (已登记, DOMAIN §7): an enrollment from hrss/health or a form registration.
    pub fn is_registered(&self) -> bool {
        !self.enrollments.is_empty() || self.via_form
    }

    /// The field's current value as text (codes as codes, dates ISO), as kept in provenance
    /// history and conflicts; `None` when the field is empty.
    pub fn field_text(&self, field: Field) -> Option<String> {
        let s = |v: Option<&str>| v.map(str::to_owned);
        match field {
            Field::IdNumber => Some(self.id.as_str().to_owned()),
            Field::Name => self.name.clone(),
            Field::Gender => s(self.gender.map(|g| g.code())),
            Field::Ethnicity => s(self.ethnicity.map(|e| e.code())),
            Field::BirthDate => self.birth_date.map(|d| d.to_string()),
            Field::HukouAddress => self.hukou_address.clone(),
            Field::HukouRegion => s(self.hukou_region.as_ref().map(|r| r.as_str())),
            Field::ResidenceAddress => self.residence_address.clone(),
            Field::ResidenceRegion => s(self.residence_region.as_ref().map(|r| r.as_str())),
            Field::Phone => s(self.phone.as_ref().map(|p| p.as_str())),
            Field::EmploymentStatus => s(self.employment_status.map(|e| e.code())),
            Field::EmployerName => self.employer_name.clone(),
            Field::EmployerCreditCode => s(self.employer_credit_code.as_ref().map(|c| c.as_str())),
            Field::PersonStatus => Some(self.person_status.code().to_owned()),
            Field::Insurance => insurance_text(if self.enrollments.is_empty() {
                &self.declared_insurance
            } else {
                &self.enrollments
            }),
            Field::UninsuredReason => s(self.uninsured_reason.map(|u| u.code())),
            Field::Willingness => s(self.willingness.map(|w| w.code())),
            Field::Flags => {
                (!self.flags.is_empty()).then(|| self.flags.iter().map(|f| f.code()).collect::<Vec<_>>().join(","))
            }
        }
    }

    /// Whether the field has a value (for completeness and fill rates).
    pub fn has(&self, field: Field) -> bool {
        match field {
            Field::Insurance => !self.enrollments.is_empty() || !self.declared_insurance.is_empty(),
            f => self.field_text(f).is_some_and(|t| !t.trim().is_empty()),
        }
    }
}

/// Schemes as text: `scheme:status` pairs in scheme order, e.g. `310:active,390:terminated`.
pub fn insurance_text(enrollments: &[Enrollment]) -> Option<String> {
    if enrollments.is_empty() {
        return None;
    }
    let mut parts: Vec<String> = enrollments.iter().map(|e| format!("{}:{}", e.scheme.code(), e.status.code())).collect();
    parts.sort();
    Some(parts.join(","))
}

/// The form of a name or address that comparisons use: whitespace (also U+3000) removed,
/// full-width ASCII forms as ASCII, ASCII letters upper-case, and the middle dots of minority
/// names (·・•‧･) unified. Two values equal after this differ only by normalisation.
pub fn normalise_text(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace())
        .map(|c| match c {
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            c => c,
        })
        .map(|c| match c {
            '・' | '•' | '‧' | '･' | '.' => '·',
            c => c,
        })
        .map(|c| c.to_ascii_uppercase())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> CitizenId {
        CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1980, 5, 6).unwrap(), 123)
    }

    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap().value
    }

    #[test]
    fn field_names_round_trip() {
        for f in Field::ALL {
            assert_eq!(Field::parse(f.as_str()).unwrap(), *f);
        }
        assert_eq!(Field::parse("nickname").unwrap_err().code, Reason::UnknownCode);
    }

    #[test]
    fn attribution_falls_back_hukou_residence_id() {
        let mut p = Person::new(id());
        assert_eq!(p.attributed_region(Attribution::Hukou).unwrap().as_str(), "510402");
        p.residence_region = Some(region("510411001"));
        assert_eq!(p.attributed_region(Attribution::Hukou).unwrap().as_str(), "510411001");
        p.hukou_region = Some(region("510421"));
        assert_eq!(p.attributed_region(Attribution::Hukou).unwrap().as_str(), "510421");
        assert_eq!(p.attributed_region(Attribution::Residence).unwrap().as_str(), "510411001");
    }

    #[test]
    fn normalisation_ignores_spacing_width_and_dots() {
        assert_eq!(normalise_text(" 张　三 "), normalise_text("张三"));
        assert_eq!(normalise_text("阿依・木呷"), normalise_text("阿依·木呷"));
        assert_eq!(normalise_text("１２号"), "12号");
        assert_ne!(normalise_text("张三"), normalise_text("张山"));
    }

    #[test]
    fn origin_round_trips() {
        for o in ["batch:b1", "receipt:r-9", "staff:王"] {
            assert_eq!(Origin::parse(o).unwrap().to_string(), o);
        }
        assert!(Origin::parse("batch:").is_err());
        assert!(Origin::parse("x").is_err());
    }

    #[test]
    fn person_serialises_with_field_keys() {
        let mut p = Person::new(id());
        p.name = Some("张三".into());
        let at = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
        p.provenance.insert(Field::Name, Provenance { source: Source::PublicSecurity, origin: Origin::Batch("b".into()), at });
        let json = serde_json::to_value(&p).unwrap();
        assert_eq!(json["provenance"]["name"]["origin"], "batch:b");
        let back: Person = serde_json::from_value(json).unwrap();
        assert_eq!(back, p);
    }
}
