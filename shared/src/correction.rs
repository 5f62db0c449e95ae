//! What was changed in a value to accept it. DOMAIN §6 accepts fixable mistakes (a 15-digit ID,
//! a lower-case `x`, full-width digits, a gender that contradicts the ID …) but every change must
//! stay visible: parsers return the value together with the corrections applied, and cleaning and
//! merge store them as provenance and count them in the batch report.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The kind of a correction: its machine code in reports and storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum CorrectionKind {
    /// A 15-digit legacy citizen ID upgraded to 18 digits.
    #[serde(rename = "id_upgraded_15_to_18")]
    IdUpgraded15To18,
    /// A lower-case `x` check character written as `X`.
    #[serde(rename = "id_lowercase_x")]
    IdLowercaseX,
    /// Full-width digits, letters or signs (全角) written as ASCII.
    #[serde(rename = "fullwidth_to_ascii")]
    FullwidthToAscii,
    /// Surrounding or inner stray whitespace removed.
    #[serde(rename = "whitespace")]
    Whitespace,
    /// Lower-case letters of a code written in upper case.
    #[serde(rename = "uppercase")]
    Uppercase,
    /// A country calling code (+86) removed from a phone number.
    #[serde(rename = "country_code_removed")]
    CountryCodeRemoved,
    /// A gender that contradicted the citizen ID replaced by the ID's.
    #[serde(rename = "gender_from_id")]
    GenderFromId,
    /// A birth date that contradicted the citizen ID replaced by the ID's.
    #[serde(rename = "birth_date_from_id")]
    BirthDateFromId,
    /// An ethnicity name written as its GB/T 3304 code.
    #[serde(rename = "ethnicity_name_to_code")]
    EthnicityNameToCode,
    /// A date in another common layout written as ISO `YYYY-MM-DD`.
    #[serde(rename = "date_normalised")]
    DateNormalised,
}

impl CorrectionKind {
    /// The machine code, as serialised.
    pub fn as_str(self) -> &'static str {
        match self {
            CorrectionKind::IdUpgraded15To18 => "id_upgraded_15_to_18",
            CorrectionKind::IdLowercaseX => "id_lowercase_x",
            CorrectionKind::FullwidthToAscii => "fullwidth_to_ascii",
            CorrectionKind::Whitespace => "whitespace",
            CorrectionKind::Uppercase => "uppercase",
            CorrectionKind::CountryCodeRemoved => "country_code_removed",
            CorrectionKind::GenderFromId => "gender_from_id",
            CorrectionKind::BirthDateFromId => "birth_date_from_id",
            CorrectionKind::EthnicityNameToCode => "ethnicity_name_to_code",
            CorrectionKind::DateNormalised => "date_normalised",
        }
    }

    /// What was done, in Chinese, for error reports and the staff person view.
    pub fn name_zh(self) -> &'static str {
        match self {
            CorrectionKind::IdUpgraded15To18 => "15位身份号码升为18位",
            CorrectionKind::IdLowercaseX => "校验位小写x改为大写X",
            CorrectionKind::FullwidthToAscii => "全角字符改为半角",
            CorrectionKind::Whitespace => "去除多余空格",
            CorrectionKind::Uppercase => "小写字母改为大写",
            CorrectionKind::CountryCodeRemoved => "去除国家代码+86",
            CorrectionKind::GenderFromId => "性别按身份号码更正",
            CorrectionKind::BirthDateFromId => "出生日期按身份号码更正",
            CorrectionKind::EthnicityNameToCode => "民族名称转为代码",
            CorrectionKind::DateNormalised => "日期格式统一",
        }
    }
}

impl fmt::Display for CorrectionKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One change made to one field's value: which field, what kind, and the value before and after.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Correction {
    /// The field name in the indicator set (DOMAIN §4), e.g. `id_number`.
    pub field: String,
    /// What kind of change.
    pub kind: CorrectionKind,
    /// The value before this change.
    pub from: String,
    /// The value after this change.
    pub to: String,
}

impl Correction {
    /// A correction of `field` from `from` to `to`.
    pub fn new(
        field: impl Into<String>,
        kind: CorrectionKind,
        from: impl Into<String>,
        to: impl Into<String>,
    ) -> Self {
        Self { field: field.into(), kind, from: from.into(), to: to.into() }
    }
}

impl fmt::Display for Correction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {} “{}” → “{}”", self.field, self.kind, self.from, self.to)
    }
}

/// A value that passed its checks, with the corrections that were needed to accept it (in the
/// order they were applied; empty when the text was already canonical).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<T> {
    /// The accepted value.
    pub value: T,
    /// The changes made to the text to accept it.
    pub corrections: Vec<Correction>,
}

impl<T> Parsed<T> {
    /// A value accepted without change.
    pub fn clean(value: T) -> Self {
        Self { value, corrections: Vec::new() }
    }

    /// The value, dropping the corrections.
    pub fn into_value(self) -> T {
        self.value
    }

    /// Whether the text was changed to accept it.
    pub fn was_corrected(&self) -> bool {
        !self.corrections.is_empty()
    }

    /// The same result with its corrections reported against another field name (e.g. a column).
    pub fn for_field(mut self, field: &str) -> Self {
        for c in &mut self.corrections {
            c.field = field.to_owned();
        }
        self
    }
}

/// Removes all whitespace (including the ideographic space U+3000) and writes full-width forms
/// (U+FF01..U+FF5E) as ASCII, recording each step; the shared first step of every code parser,
/// where no whitespace or full-width character is ever meaningful.
pub(crate) fn squash_code<'a>(
    field: &str,
    text: &'a str,
    corrections: &mut Vec<Correction>,
) -> std::borrow::Cow<'a, str> {
    use std::borrow::Cow;
    if text.bytes().all(|b| b.is_ascii_graphic()) {
        return Cow::Borrowed(text);
    }
    let mut current: Cow<'a, str> = Cow::Borrowed(text);
    if current.chars().any(char::is_whitespace) {
        let squashed: String = current.chars().filter(|c| !c.is_whitespace()).collect();
        corrections.push(Correction::new(field, CorrectionKind::Whitespace, text, squashed.as_str()));
        current = Cow::Owned(squashed);
    }
    if current.chars().any(|c| ('\u{FF01}'..='\u{FF5E}').contains(&c)) {
        let ascii: String = current
            .chars()
            .map(|c| match c {
                '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
                _ => c,
            })
            .collect();
        corrections.push(Correction::new(field, CorrectionKind::FullwidthToAscii, current.as_ref(), ascii.as_str()));
        current = Cow::Owned(ascii);
    }
    current
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_serialise_as_their_codes() {
        for kind in [CorrectionKind::IdUpgraded15To18, CorrectionKind::DateNormalised] {
            let json = serde_json::to_string(&kind).unwrap();
            assert_eq!(json, format!("\"{}\"", kind.as_str()));
            assert_eq!(serde_json::from_str::<CorrectionKind>(&json).unwrap(), kind);
        }
    }

    #[test]
    fn squash_records_whitespace_then_width() {
        let mut log = Vec::new();
        let out = squash_code("f", " １２\u{3000}3 ", &mut log);
        assert_eq!(out, "123");
        let kinds: Vec<_> = log.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, [CorrectionKind::Whitespace, CorrectionKind::FullwidthToAscii]);
        assert_eq!(log[1].from, "１２3");

        let mut log = Vec::new();
        assert!(matches!(squash_code("f", "ABC", &mut log), std::borrow::Cow::Borrowed("ABC")));
        assert!(log.is_empty());
    }
}
