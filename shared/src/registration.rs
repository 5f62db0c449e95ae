//! A registration form (登记表) as residents and grid workers submit it: the JSON body of
//! `POST /api/v1/registrations` parsed into typed values, every field of the indicator set
//! (DOMAIN §4) checked, and ALL problems reported at once, each with its precise reason code and
//! a Chinese message saying what to fix. The H5 form's client-side checks mirror these rules
//! (`assets/register/app.js`); this module is the one that decides. A valid form becomes an
//! [`Observation`] that `merge_by_precedence` folds in like any department row.

use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Gender, Scheme, UninsuredReason};
use crate::correction::{Correction, CorrectionKind};
use crate::error::{FieldError, Reason};
use crate::ids::{CitizenId, CreditCode, Phone};
use crate::merge::Observation;
use crate::person::{Enrollment, Field, Person, Provenance, Willingness};
use crate::regions::{RegionCode, RegionTree};
use chrono::NaiveDate;
use serde_json::{Map, Value};

/// Longest name accepted, in characters (transliterated minority and foreign names are long).
pub const MAX_NAME_CHARS: usize = 50;
/// Longest address accepted, in characters.
pub const MAX_ADDRESS_CHARS: usize = 200;
/// Longest employer name accepted, in characters.
pub const MAX_EMPLOYER_NAME_CHARS: usize = 100;

/// The body fields a form may carry: the indicator set minus what only departments say.
const FORM_FIELDS: &[Field] = &[
    Field::IdNumber, Field::Name, Field::Gender, Field::Ethnicity, Field::BirthDate, Field::HukouAddress,
    Field::HukouRegion, Field::ResidenceAddress, Field::ResidenceRegion, Field::Phone, Field::EmploymentStatus,
    Field::EmployerName, Field::EmployerCreditCode, Field::Insurance, Field::UninsuredReason, Field::Willingness,
];

/// A checked registration form: every value typed, with the normalisations applied to accept it.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    /// 公民身份号码.
    pub id: CitizenId,
    /// 姓名.
    pub name: String,
    /// Everything else the form says.
    pub values: FormValues,
    /// What was normalised to accept the form (x→X, full-width digits, 15→18 …).
    pub corrections: Vec<Correction>,
}

/// The optional fields of a form, checked (absent ones are `None` or empty).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FormValues {
    /// 性别 (agrees with the ID).
    pub gender: Option<Gender>,
    /// 民族.
    pub ethnicity: Option<Ethnicity>,
    /// 出生日期 (agrees with the ID).
    pub birth_date: Option<NaiveDate>,
    /// 户籍地址.
    pub hukou_address: Option<String>,
    /// 户籍地区划 (a loaded region).
    pub hukou_region: Option<RegionCode>,
    /// 居住地址.
    pub residence_address: Option<String>,
    /// 居住地区划 (a loaded region).
    pub residence_region: Option<RegionCode>,
    /// 联系电话.
    pub phone: Option<Phone>,
    /// 就业状态.
    pub employment_status: Option<EmploymentStatus>,
    /// 单位名称.
    pub employer_name: Option<String>,
    /// 单位统一社会信用代码.
    pub employer_credit_code: Option<CreditCode>,
    /// Declared schemes (参保险种), at most one per scheme.
    pub insurance: Vec<Enrollment>,
    /// 未参保原因.
    pub uninsured_reason: Option<UninsuredReason>,
    /// 参保意愿.
    pub willingness: Option<Willingness>,
}

impl FormValues {
    /// These values and a name as what `provenance` says about person `id`.
    fn observe(self, id: CitizenId, name: Option<String>, provenance: Provenance) -> Observation {
        let mut o = Observation::new(id, provenance);
        o.name = name;
        o.gender = self.gender;
        o.ethnicity = self.ethnicity;
        o.birth_date = self.birth_date;
        o.hukou_address = self.hukou_address;
        o.hukou_region = self.hukou_region;
        o.residence_address = self.residence_address;
        o.residence_region = self.residence_region;
        o.phone = self.phone;
        o.employment_status = self.employment_status;
        o.employer_name = self.employer_name;
        o.employer_credit_code = self.employer_credit_code;
        o.enrollments = self.insurance;
        o.uninsured_reason = self.uninsured_reason;
        o.willingness = self.willingness;
        o
    }
}

impl Registration {
    /// Checks a form body against the indicator set, the loaded region tree and today's date in
    /// China; either the typed registration or every field error found, in body order.
    pub fn parse(body: &Value, regions: &RegionTree, today: NaiveDate) -> Result<Registration, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new("body", Reason::Format, "登记内容应为一个 JSON 对象")]);
        };
        let mut p = FormParser { object, errors: Vec::new(), corrections: Vec::new() };
        p.refuse_unknown_fields(FORM_FIELDS, &[]);
        let id = p.required(Field::IdNumber).and_then(|t| p.keep(CitizenId::parse_at(t, today), "id_number"));
        let name = p.required(Field::Name).and_then(|t| p.name(t));
        let mut v = p.values(id, regions, today);
        // The ID says both; a form that leaves them out still fills them.
        if let Some(id) = id {
            v.gender = v.gender.or(Some(id.gender()));
            v.birth_date = v.birth_date.or(Some(id.birth_date()));
        }
        match (id, name) {
            (Some(id), Some(name)) if p.errors.is_empty() => {
                Ok(Registration { id, name, values: v, corrections: p.corrections })
            }
            _ => Err(p.errors),
        }
    }

    /// The regions the form places the person in, for a collector's or staff member's scope:
    /// residence and hukou region as given, or the ID's address code when the form gives neither.
    pub fn scope_regions(&self) -> Vec<String> {
        let v = &self.values;
        let given: Vec<String> =
            [v.residence_region, v.hukou_region].iter().flatten().map(|r| r.as_str().to_owned()).collect();
        if given.is_empty() {
            vec![self.id.county_code().to_owned()]
        } else {
            given
        }
    }

    /// The form as what its source says about the person, for `merge_by_precedence`.
    pub fn into_observation(self, provenance: Provenance) -> Observation {
        self.values.observe(self.id, Some(self.name), provenance)
    }
}

/// Longest reason for a staff correction or conflict resolution, in characters.
pub const MAX_REASON_CHARS: usize = 500;

/// A staff correction (更正) of some fields of one person with its mandatory reason, each value
/// checked by the same rules as the form.
#[derive(Debug, Clone, PartialEq)]
pub struct StaffCorrection {
    /// The fields given or cleared, in indicator order.
    pub fields: Vec<Field>,
    /// The fields of `fields` to be emptied (the body's `clear` list).
    pub cleared: Vec<Field>,
    /// Their new values, as the staff member's observation.
    pub observation: Observation,
    /// Why the fields were corrected (kept in the audit trail).
    pub reason: String,
}

impl StaffCorrection {
    /// Checks a correction body `{"reason": "…", <field>: <value>, …, "clear": [<field>, …]}` for
    /// person `id`; a field that is absent or null is left as it is, a field named in `clear` is
    /// emptied (a wrong phone number that belongs to someone else, an employer the person left).
    /// The identity fields (name, gender, birth date) cannot be cleared, only corrected.
    pub fn parse(
        body: &Value,
        id: CitizenId,
        provenance: Provenance,
        regions: &RegionTree,
        today: NaiveDate,
    ) -> Result<StaffCorrection, Vec<FieldError>> {
        let Some(object) = body.as_object() else {
            return Err(vec![FieldError::new("body", Reason::Format, "更正内容应为一个 JSON 对象")]);
        };
        let correctable: Vec<Field> = FORM_FIELDS.iter().copied().filter(|f| *f != Field::IdNumber).collect();
        let mut p = FormParser { object, errors: Vec::new(), corrections: Vec::new() };
        p.refuse_unknown_fields(&correctable, &["reason", "clear"]);
        let reason = p.reason();
        let name = p.text(Field::Name).and_then(|t| p.name(t));
        let values = p.values(Some(id), regions, today);
        let cleared = p.cleared(&correctable);
        let fields: Vec<Field> = correctable
            .into_iter()
            .filter(|f| object.get(f.as_str()).is_some_and(|v| !v.is_null()) || cleared.contains(f))
            .collect();
        if fields.is_empty() {
            p.errors.push(FieldError::new("body", Reason::Required, "请至少填写一项要更正的内容"));
        }
        match reason {
            Some(reason) if p.errors.is_empty() => {
                Ok(StaffCorrection { fields, cleared, observation: values.observe(id, name, provenance), reason })
            }
            _ => Err(p.errors),
        }
    }

    /// Sets each given field on `person` whatever its source's rank (a correction is the
    /// bureau's decision), with the correction's provenance; returns the fields that changed. A
    /// cleared field has no value in the observation, so it is set to none.
    pub fn apply(&self, person: &mut Person) -> Vec<Field> {
        let o = &self.observation;
        for field in &self.fields {
            match field {
                Field::Name => person.name = o.name.clone(),
                Field::Gender => person.gender = o.gender,
                Field::Ethnicity => person.ethnicity = o.ethnicity,
                Field::BirthDate => person.birth_date = o.birth_date,
                Field::HukouAddress => person.hukou_address = o.hukou_address.clone(),
                Field::HukouRegion => person.hukou_region = o.hukou_region,
                Field::ResidenceAddress => person.residence_address = o.residence_address.clone(),
                Field::ResidenceRegion => person.residence_region = o.residence_region,
                Field::Phone => person.phone = o.phone.clone(),
                Field::EmploymentStatus => person.employment_status = o.employment_status,
                Field::EmployerName => person.employer_name = o.employer_name.clone(),
                Field::EmployerCreditCode => person.employer_credit_code = o.employer_credit_code,
                Field::Insurance => person.declared_insurance = o.enrollments.clone(),
                Field::UninsuredReason => person.uninsured_reason = o.uninsured_reason,
                Field::Willingness => person.willingness = o.willingness,
                Field::IdNumber | Field::PersonStatus | Field::Flags => continue,
            }
            person.provenance.insert(*field, o.provenance.clone());
        }
        self.fields.clone()
    }
}

/// A value accepted as written, for parsers that return no corrections.
fn plain<T>(value: T) -> crate::correction::Parsed<T> {
    crate::correction::Parsed::clean(value)
}

/// Reads one form body, collecting errors and corrections as it goes.
struct FormParser<'a> {
    object: &'a Map<String, Value>,
    errors: Vec<FieldError>,
    corrections: Vec<Correction>,
}

impl<'a> FormParser<'a> {
    /// Every optional form field (all but id_number and name), checked by the same rules for
    /// registrations and staff corrections.
    fn values(&mut self, id: Option<CitizenId>, regions: &RegionTree, today: NaiveDate) -> FormValues {
        let gender = self.text(Field::Gender).and_then(|t| self.keep(Gender::parse(t).map(plain), "gender"));
        let ethnicity = self.text(Field::Ethnicity).and_then(|t| self.ethnicity(t));
        let birth_date = self.text(Field::BirthDate).and_then(|t| self.date("birth_date", t, today));
        if let Some(id) = id {
            self.agrees_with_id(id, gender, birth_date);
        }
        let hukou_address =
            self.text(Field::HukouAddress).and_then(|t| self.free_text(Field::HukouAddress, t, MAX_ADDRESS_CHARS));
        let hukou_region = self.text(Field::HukouRegion).and_then(|t| self.region("hukou_region", t, regions));
        let residence_address =
            self.text(Field::ResidenceAddress).and_then(|t| self.free_text(Field::ResidenceAddress, t, MAX_ADDRESS_CHARS));
        let residence_region = self.text(Field::ResidenceRegion).and_then(|t| self.region("residence_region", t, regions));
        let phone = self.text(Field::Phone).and_then(|t| self.keep(Phone::parse(t), "phone"));
        let employment_status = self
            .text(Field::EmploymentStatus)
            .and_then(|t| self.keep(EmploymentStatus::parse(t).map(plain), "employment_status"));
        let employer_name =
            self.text(Field::EmployerName).and_then(|t| self.free_text(Field::EmployerName, t, MAX_EMPLOYER_NAME_CHARS));
        let employer_credit_code =
            self.text(Field::EmployerCreditCode).and_then(|t| self.keep(CreditCode::parse(t), "employer_credit_code"));
        let insurance = self.insurance(regions, today);
        let uninsured_reason = self
            .text(Field::UninsuredReason)
            .and_then(|t| self.keep(UninsuredReason::parse(t).map(plain), "uninsured_reason"));
        if uninsured_reason.is_some() && insurance.iter().any(|e| e.status == EnrollmentStatus::Active) {
            self.errors.push(FieldError::new(
                "uninsured_reason",
                Reason::Inconsistent,
                "已填写正在参保缴费的险种，就不应再填写未参保原因，请删去其中一项",
            ));
        }
        let willingness = self.willingness();
        FormValues {
            gender,
            ethnicity,
            birth_date,
            hukou_address,
            hukou_region,
            residence_address,
            residence_region,
            phone,
            employment_status,
            employer_name,
            employer_credit_code,
            insurance,
            uninsured_reason,
            willingness,
        }
    }

    fn refuse_unknown_fields(&mut self, fields: &[Field], extra: &[&str]) {
        for key in self.object.keys() {
            let known = fields.iter().any(|f| f.as_str() == key) || extra.contains(&key.as_str());
            if known {
                continue;
            }
            let message = match Field::parse(key) {
                Ok(f) => format!("“{}”由公安、民政等部门提供，不能通过登记表填写", f.name_zh()),
                Err(_) => format!("登记表没有“{key}”这一项，请检查字段名"),
            };
            self.errors.push(FieldError::new(key.as_str(), Reason::UnknownCode, message));
        }
    }

    /// The body's `clear` list: names of correctable fields to empty, none of them also given a
    /// value; the identity fields cannot be cleared.
    fn cleared(&mut self, correctable: &[Field]) -> Vec<Field> {
        let Some(list) = self.object.get("clear").filter(|v| !v.is_null()) else {
            return Vec::new();
        };
        let Some(items) = list.as_array() else {
            self.errors.push(FieldError::new("clear", Reason::Format, "“clear”应为要清空的字段名列表"));
            return Vec::new();
        };
        let mut cleared = Vec::new();
        for item in items {
            let field = item.as_str().and_then(|name| correctable.iter().copied().find(|f| f.as_str() == name));
            match field {
                None => self.errors.push(FieldError::new("clear", Reason::UnknownCode, format!("不能清空“{item}”：没有这个可更正的字段"))),
                Some(f @ (Field::Name | Field::Gender | Field::BirthDate)) => self.errors.push(FieldError::new(
                    "clear",
                    Reason::Required,
                    format!("“{}”是身份信息，只能更正，不能清空", f.name_zh()),
                )),
                Some(f) if self.object.get(f.as_str()).is_some_and(|v| !v.is_null()) => self.errors.push(FieldError::new(
                    f.as_str(),
                    Reason::Inconsistent,
                    format!("“{}”不能同时填写新值又要求清空", f.name_zh()),
                )),
                Some(f) if !cleared.contains(&f) => cleared.push(f),
                Some(_) => {}
            }
        }
        cleared
    }

    /// The text of an optional field: `None` when absent, null or blank; a format error when not
    /// a string.
    fn text(&mut self, field: Field) -> Option<&'a str> {
        self.text_at(field.as_str(), self.object.get(field.as_str()))
    }

    fn text_at(&mut self, name: &str, value: Option<&'a Value>) -> Option<&'a str> {
        match value {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) if s.trim().is_empty() => None,
            Some(Value::String(s)) => Some(s.as_str()),
            Some(_) => {
                self.errors.push(FieldError::new(name, Reason::Format, "此项应填写文字（JSON 字符串）"));
                None
            }
        }
    }

    /// The text of a mandatory field, reporting `required` when it is missing.
    fn reason(&mut self) -> Option<String> {
        let value = self.object.get("reason");
        let Some(text) = self.text_at("reason", value) else {
            if !matches!(value, Some(v) if !v.is_null() && !v.is_string()) {
                self.errors.push(FieldError::new("reason", Reason::Required, "请填写更正原因"));
            }
            return None;
        };
        if text.trim().chars().count() > MAX_REASON_CHARS {
            self.errors.push(FieldError::new("reason", Reason::TooLong, format!("原因最多{MAX_REASON_CHARS}个字，请精简")));
            return None;
        }
        Some(text.trim().to_owned())
    }

    fn required(&mut self, field: Field) -> Option<&'a str> {
        let present = matches!(self.object.get(field.as_str()), Some(Value::String(s)) if !s.trim().is_empty());
        let wrong_type = matches!(self.object.get(field.as_str()), Some(v) if !v.is_null() && !v.is_string());
        if !present && !wrong_type {
            self.errors.push(FieldError::new(field.as_str(), Reason::Required, format!("请填写{}", field.name_zh())));
            return None;
        }
        self.text(field)
    }

    /// Keeps a parsed value and its corrections, or records its error under `field`.
    fn keep<T>(&mut self, parsed: Result<crate::correction::Parsed<T>, FieldError>, field: &str) -> Option<T> {
        match parsed {
            Ok(p) => {
                let p = p.for_field(field);
                self.corrections.extend(p.corrections);
                Some(p.value)
            }
            Err(e) => {
                self.errors.push(e.for_field(field));
                None
            }
        }
    }

    fn name(&mut self, text: &str) -> Option<String> {
        let trimmed = text.trim();
        let bad = trimmed.chars().find(|&c| !(is_han(c) || c.is_alphabetic() || c == ' ' || is_name_dot(c)));
        if let Some(c) = bad {
            self.errors.push(FieldError::new(
                "name",
                Reason::Charset,
                format!("姓名只能包含汉字、字母和间隔号“·”，“{c}”不对，请按身份证填写"),
            ));
            return None;
        }
        // Inner spaces are stray in a Han name but separate the words of a Latin one.
        let name = if trimmed.chars().all(|c| is_han(c) || is_name_dot(c) || c.is_whitespace()) {
            trimmed.chars().filter(|c| !c.is_whitespace()).collect::<String>()
        } else {
            trimmed.split_whitespace().collect::<Vec<_>>().join(" ")
        };
        if name != text {
            self.corrections.push(Correction::new("name", CorrectionKind::Whitespace, text, name.as_str()));
        }
        if name.chars().count() > MAX_NAME_CHARS {
            self.errors.push(FieldError::new(
                "name",
                Reason::TooLong,
                format!("姓名最多{MAX_NAME_CHARS}个字，请按身份证填写"),
            ));
            return None;
        }
        Some(name)
    }

    fn ethnicity(&mut self, text: &str) -> Option<Ethnicity> {
        let e = self.keep(Ethnicity::parse(text).map(plain), "ethnicity")?;
        if text.trim() != e.code() {
            self.corrections.push(Correction::new("ethnicity", CorrectionKind::EthnicityNameToCode, text, e.code()));
        }
        Some(e)
    }

    fn free_text(&mut self, field: Field, text: &str, max: usize) -> Option<String> {
        let value = text.trim();
        if value.chars().count() > max {
            self.errors.push(FieldError::new(
                field.as_str(),
                Reason::TooLong,
                format!("{}最多{max}个字，请精简", field.name_zh()),
            ));
            return None;
        }
        if value.chars().any(char::is_control) {
            self.errors.push(FieldError::new(
                field.as_str(),
                Reason::Charset,
                format!("{}含有不可见的控制字符，请重新输入", field.name_zh()),
            ));
            return None;
        }
        Some(value.to_owned())
    }

    /// An ISO date (`YYYY-MM-DD`) that is real and not in the future.
    fn date(&mut self, field: &str, text: &str, today: NaiveDate) -> Option<NaiveDate> {
        let t = text.trim();
        match NaiveDate::parse_from_str(t, "%Y-%m-%d") {
            Ok(d) if d > today => {
                self.errors.push(FieldError::new(field, Reason::Date, format!("日期{t}晚于今天，请核对")));
                None
            }
            Ok(d) => Some(d),
            Err(_) => {
                self.errors.push(FieldError::new(
                    field,
                    Reason::Date,
                    format!("“{t}”不是有效日期，请按“年-月-日”填写，如 1990-01-31"),
                ));
                None
            }
        }
    }

    fn region(&mut self, field: &str, text: &str, regions: &RegionTree) -> Option<RegionCode> {
        self.keep(regions.parse_known(text), field)
    }

    /// Gender and birth date must be the ID's: the form derives them, so a difference is a typo.
    fn agrees_with_id(&mut self, id: CitizenId, gender: Option<Gender>, birth_date: Option<NaiveDate>) {
        if gender.is_some_and(|g| g != id.gender()) {
            self.errors.push(FieldError::new(
                "gender",
                Reason::Inconsistent,
                format!("性别与公民身份号码不符（号码显示为{}），请核对", id.gender().name_zh()),
            ));
        }
        if birth_date.is_some_and(|d| d != id.birth_date()) {
            self.errors.push(FieldError::new(
                "birth_date",
                Reason::Inconsistent,
                format!("出生日期与公民身份号码不符（号码显示为{}），请核对", id.birth_date()),
            ));
        }
    }

    /// `insurance: [{scheme, status, since, region, employer_credit_code}]`, errors named
    /// `insurance[i].scheme` and so on.
    fn insurance(&mut self, regions: &RegionTree, today: NaiveDate) -> Vec<Enrollment> {
        let items = match self.object.get("insurance") {
            None | Some(Value::Null) => return Vec::new(),
            Some(Value::Array(items)) => items,
            Some(_) => {
                self.errors.push(FieldError::new("insurance", Reason::Format, "参保险种应为列表"));
                return Vec::new();
            }
        };
        if items.len() > Scheme::ALL.len() {
            self.errors.push(FieldError::new(
                "insurance",
                Reason::TooLong,
                format!("参保险种最多{}项（每个险种一项）", Scheme::ALL.len()),
            ));
            return Vec::new();
        }
        let mut out: Vec<Enrollment> = Vec::new();
        for (i, item) in items.iter().enumerate() {
            let at = |name: &str| format!("insurance[{i}].{name}");
            let Some(obj) = item.as_object() else {
                self.errors.push(FieldError::new(format!("insurance[{i}]"), Reason::Format, "每个险种应为一个对象"));
                continue;
            };
            for key in obj.keys() {
                if !["scheme", "status", "since", "region", "employer_credit_code"].contains(&key.as_str()) {
                    self.errors.push(FieldError::new(at(key), Reason::UnknownCode, format!("险种没有“{key}”这一项")));
                }
            }
            let field_text = |p: &mut Self, name: &str| p.text_at(&at(name), obj.get(name));
            let scheme = match field_text(self, "scheme") {
                Some(t) => self.keep(Scheme::parse(t).map(plain), &at("scheme")),
                None => {
                    self.errors.push(FieldError::new(at("scheme"), Reason::Required, "请选择险种"));
                    None
                }
            };
            let status = match field_text(self, "status") {
                Some(t) => self.keep(EnrollmentStatus::parse(t).map(plain), &at("status")),
                None => {
                    self.errors.push(FieldError::new(at("status"), Reason::Required, "请选择参保状态"));
                    None
                }
            };
            let since = field_text(self, "since").and_then(|t| self.date(&at("since"), t, today));
            let region = field_text(self, "region").and_then(|t| self.region(&at("region"), t, regions));
            let employer_credit_code =
                field_text(self, "employer_credit_code").and_then(|t| self.keep(CreditCode::parse(t), &at("employer_credit_code")));
            let (Some(scheme), Some(status)) = (scheme, status) else { continue };
            if out.iter().any(|e| e.scheme == scheme) {
                self.errors.push(FieldError::new(
                    at("scheme"),
                    Reason::Inconsistent,
                    format!("险种“{}”重复填写了，每个险种只填一次", scheme.name_zh()),
                ));
                continue;
            }
            out.push(Enrollment { scheme, status, since, region, employer_credit_code });
        }
        out
    }

    /// 参保意愿 as its code or Chinese name, or a yes/no boolean.
    fn willingness(&mut self) -> Option<Willingness> {
        match self.object.get("willingness") {
            Some(Value::Bool(true)) => Some(Willingness::Willing),
            Some(Value::Bool(false)) => Some(Willingness::Unwilling),
            _ => self.text(Field::Willingness).and_then(|t| self.keep(Willingness::parse(t).map(plain), "willingness")),
        }
    }
}

fn is_han(c: char) -> bool {
    matches!(c, '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}' | '\u{20000}'..='\u{3134F}')
}

fn is_name_dot(c: char) -> bool {
    matches!(c, '·' | '・' | '•' | '‧' | '･' | '.')
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2025, 6, 1).unwrap()
    }

    fn birth() -> NaiveDate {
        NaiveDate::from_ymd_opt(1985, 3, 14).unwrap()
    }

    fn id() -> CitizenId {
        CitizenId::from_parts("510402", birth(), 123)
    }

    fn full() -> Value {
        json!({
            "id_number": id().as_str(),
            "name": "张三",
            "gender": "1",
            "ethnicity": "01",
            "birth_date": "1985-03-14",
            "hukou_address": "四川省攀枝花市东区炳草岗街道新华街12号",
            "hukou_region": "510402001",
            "residence_address": "东区炳草岗街道新华街12号",
            "residence_region": "510402001001",
            "phone": "13812345678",
            "employment_status": "flexible",
            "insurance": [{"scheme": "390", "status": "active", "since": "2020-01-01", "region": "510402"}],
            "willingness": "willing"
        })
    }

    fn parse(v: &Value) -> Result<Registration, Vec<FieldError>> {
        Registration::parse(v, &RegionTree::panzhihua_demo(), today())
    }

    fn codes(v: &Value) -> Vec<(String, Reason)> {
        parse(v).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect()
    }

    fn with(key: &str, value: Value) -> Value {
        let mut v = full();
        v[key] = value;
        v
    }

    #[test]
    fn a_full_form_parses_into_typed_values() {
        let r = parse(&full()).unwrap();
        assert_eq!(r.id, id());
        assert_eq!(r.values.gender, Some(Gender::Male));
        assert_eq!(r.values.insurance[0].scheme, Scheme::ResidentMedical);
        assert_eq!(r.values.residence_region.unwrap().as_str(), "510402001001");
        assert_eq!(r.values.willingness, Some(Willingness::Willing));
        assert!(r.corrections.is_empty());
        assert_eq!(r.scope_regions(), vec!["510402001001".to_string(), "510402001".to_string()]);
    }

    #[test]
    fn only_id_and_name_are_required() {
        let r = parse(&json!({"id_number": id().as_str(), "name": "张三"})).unwrap();
        assert_eq!(r.scope_regions(), vec!["510402".to_string()]);
        assert_eq!(
            codes(&json!({"name": " "})),
            vec![("id_number".into(), Reason::Required), ("name".into(), Reason::Required)]
        );
    }

    #[test]
    fn every_id_reason_is_reported_on_id_number() {
        let good = id().as_str().to_owned();
        let wrong_check = format!("{}{}", &good[..17], if good.ends_with('0') { '1' } else { '0' });
        assert_eq!(codes(&with("id_number", json!(wrong_check))), vec![("id_number".into(), Reason::Checksum)]);
        assert_eq!(codes(&with("id_number", json!("5104021985"))), vec![("id_number".into(), Reason::Length)]);
        assert_eq!(codes(&with("id_number", json!("51040219850314A23X"))), vec![("id_number".into(), Reason::Charset)]);
        let future = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(2030, 1, 1).unwrap(), 11);
        let mut v = with("id_number", json!(future.as_str()));
        v.as_object_mut().unwrap().remove("birth_date");
        v["gender"] = json!("1");
        assert_eq!(codes(&v), vec![("id_number".into(), Reason::BirthDate)]);
        assert_eq!(codes(&with("id_number", json!(510402))), vec![("id_number".into(), Reason::Format)]);
    }

    #[test]
    fn all_errors_come_at_once() {
        let mut v = full();
        v["name"] = json!("张3");
        v["gender"] = json!("2");
        v["ethnicity"] = json!("火星族");
        v["birth_date"] = json!("1985-02-30");
        v["hukou_region"] = json!("510499");
        v["residence_region"] = json!("5104");
        v["phone"] = json!("12345");
        v["employment_status"] = json!("astronaut");
        v["employer_credit_code"] = json!("91510400MA6IIIIII0");
        v["uninsured_reason"] = json!("unwilling");
        v["willingness"] = json!("maybe");
        v["residence_address"] = json!("很".repeat(MAX_ADDRESS_CHARS + 1));
        v["nickname"] = json!("x");
        let got = codes(&v);
        let want: Vec<(String, Reason)> = vec![
            ("nickname".into(), Reason::UnknownCode),
            ("name".into(), Reason::Charset),
            ("ethnicity".into(), Reason::UnknownCode),
            ("birth_date".into(), Reason::Date),
            ("gender".into(), Reason::Inconsistent),
            ("hukou_region".into(), Reason::UnknownRegion),
            ("residence_address".into(), Reason::TooLong),
            ("residence_region".into(), Reason::Length),
            ("phone".into(), Reason::Format),
            ("employment_status".into(), Reason::UnknownCode),
            ("employer_credit_code".into(), Reason::Charset),
            ("uninsured_reason".into(), Reason::Inconsistent),
            ("willingness".into(), Reason::UnknownCode),
        ];
        assert_eq!(got, want);
        assert!(parse(&v).unwrap_err().iter().all(|e| !e.message.is_empty()));
    }

    #[test]
    fn insurance_items_are_checked_one_by_one() {
        let v = with(
            "insurance",
            json!([
                {"scheme": "999", "status": "active"},
                {"status": "paused", "since": "2099-01-01", "region": "510402999"},
                {"scheme": "390", "status": "active"},
                {"scheme": "390", "status": "terminated", "colour": "red"},
                "310"
            ]),
        );
        assert_eq!(
            codes(&v),
            vec![
                ("insurance[0].scheme".into(), Reason::UnknownCode),
                ("insurance[1].scheme".into(), Reason::Required),
                ("insurance[1].status".into(), Reason::UnknownCode),
                ("insurance[1].since".into(), Reason::Date),
                ("insurance[1].region".into(), Reason::UnknownRegion),
                ("insurance[3].colour".into(), Reason::UnknownCode),
                ("insurance[3].scheme".into(), Reason::Inconsistent),
                ("insurance[4]".into(), Reason::Format),
            ]
        );
        assert_eq!(codes(&with("insurance", json!("390"))), vec![("insurance".into(), Reason::Format)]);
    }

    #[test]
    fn department_fields_are_refused_by_name() {
        let errors = parse(&with("person_status", json!("deceased"))).unwrap_err();
        assert_eq!(errors[0].field, "person_status");
        assert!(errors[0].message.contains("人员状态"));
    }

    #[test]
    fn normalisations_are_recorded() {
        let lower = id().as_str().to_lowercase();
        let mut v = with("id_number", json!(format!(" {lower} ")));
        v["name"] = json!(" 张 三 ");
        v["ethnicity"] = json!("汉族");
        v["willingness"] = json!(true);
        let r = parse(&v).unwrap();
        assert_eq!(r.name, "张三");
        assert_eq!(r.values.ethnicity, Some(Ethnicity::HAN));
        assert_eq!(r.values.willingness, Some(Willingness::Willing));
        let kinds: Vec<_> = r.corrections.iter().map(|c| (c.field.as_str(), c.kind)).collect();
        assert!(kinds.contains(&("id_number", CorrectionKind::Whitespace)));
        assert!(kinds.contains(&("name", CorrectionKind::Whitespace)));
        assert!(kinds.contains(&("ethnicity", CorrectionKind::EthnicityNameToCode)));
        let latin = parse(&with("name", json!("Anna  Maria"))).unwrap();
        assert_eq!(latin.name, "Anna Maria");
        let minority = parse(&with("name", json!("阿依·木呷"))).unwrap();
        assert_eq!(minority.name, "阿依·木呷");
    }

    #[test]
    fn an_observation_carries_every_form_field() {
        use crate::codes::Source;
        use crate::person::Origin;
        let prov = Provenance { source: Source::SelfReport, origin: Origin::Receipt("r1".into()), at: chrono::Utc::now() };
        let o = parse(&full()).unwrap().into_observation(prov);
        for f in FORM_FIELDS {
            assert!(o.field_text(*f).is_some() || matches!(f, Field::EmployerName | Field::EmployerCreditCode | Field::UninsuredReason), "{f}");
        }
        assert_eq!(codes(&json!([1])), vec![("body".into(), Reason::Format)]);
    }

    #[test]
    fn staff_corrections_need_a_reason_and_set_only_given_fields() {
        use crate::codes::Source;
        use crate::person::Origin;
        let prov = Provenance { source: Source::Hrss, origin: Origin::Staff("王".into()), at: chrono::Utc::now() };
        let tree = RegionTree::panzhihua_demo();
        let parse = |v: Value| StaffCorrection::parse(&v, id(), prov.clone(), &tree, today());
        let errs: Vec<_> = parse(json!({"phone": "1"})).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect();
        assert_eq!(errs, vec![("reason".to_string(), Reason::Required), ("phone".to_string(), Reason::Format)]);
        let errs = parse(json!({"reason": "核对户口本", "id_number": "x"})).unwrap_err();
        assert_eq!(errs.iter().map(|e| e.field.as_str()).collect::<Vec<_>>(), vec!["id_number", "body"]);

        let c = parse(json!({"reason": "核对户口本", "name": "张叁", "phone": "13900001111", "gender": null})).unwrap();
        assert_eq!(c.fields, vec![Field::Name, Field::Phone]);
        let mut person = Person::new(id());
        person.gender = Some(Gender::Male);
        assert_eq!(c.apply(&mut person), vec![Field::Name, Field::Phone]);
        assert_eq!(person.name.as_deref(), Some("张叁"));
        assert_eq!(person.gender, Some(Gender::Male));
        assert_eq!(person.provenance[&Field::Phone].origin, Origin::Staff("王".into()));
    }

    #[test]
    fn staff_corrections_can_clear_fields_but_not_identity_ones() {
        use crate::codes::Source;
        use crate::ids::Phone;
        use crate::person::Origin;
        let prov = Provenance { source: Source::Hrss, origin: Origin::Staff("王".into()), at: chrono::Utc::now() };
        let tree = RegionTree::panzhihua_demo();
        let parse = |v: Value| StaffCorrection::parse(&v, id(), prov.clone(), &tree, today());
        let c = parse(json!({"reason": "号码为他人所有", "clear": ["phone", "employer_name"], "ethnicity": "01"})).unwrap();
        assert_eq!(c.fields, vec![Field::Ethnicity, Field::Phone, Field::EmployerName]);
        assert_eq!(c.cleared, vec![Field::Phone, Field::EmployerName]);
        let mut person = Person::new(id());
        person.phone = Some(Phone::parse("13812345678").unwrap().into_value());
        person.employer_name = Some("攀钢".into());
        c.apply(&mut person);
        assert_eq!((person.phone, person.employer_name), (None, None));
        assert_eq!(person.provenance[&Field::Phone].origin, Origin::Staff("王".into()));

        let errs = |v: Value| -> Vec<(String, Reason)> { parse(v).unwrap_err().into_iter().map(|e| (e.field, e.code)).collect() };
        assert_eq!(errs(json!({"reason": "r", "clear": ["name"], "phone": "13900001111"})), vec![("clear".into(), Reason::Required)]);
        assert_eq!(errs(json!({"reason": "r", "clear": ["id_number"], "phone": "13900001111"})), vec![("clear".into(), Reason::UnknownCode)]);
        assert_eq!(errs(json!({"reason": "r", "clear": "phone"})), vec![("clear".into(), Reason::Format), ("body".into(), Reason::Required)]);
        assert_eq!(errs(json!({"reason": "r", "clear": ["phone"], "phone": "13900001111"})), vec![("phone".into(), Reason::Inconsistent)]);
    }
}
