//! The identifiers of DOMAIN §2 as types that can only hold valid values. Each constructor
//! normalises what people and department files really write (spaces, full-width digits, `x`,
//! 15-digit legacy IDs, hyphenated organisation codes, +86) and says precisely why it refuses
//! the rest, so nothing downstream ever re-checks a string.

use crate::codes::Gender;
use crate::correction::{squash_code, Correction, CorrectionKind, Parsed};
use crate::error::{FieldError, Reason};
use chrono::{Datelike, FixedOffset, NaiveDate, Utc};
use std::fmt;

/// Today's date in China (UTC+8, no daylight saving): the day a birth date may not be after.
pub fn china_today() -> NaiveDate {
    let offset = FixedOffset::east_opt(8 * 3600).expect("UTC+8 is a valid offset");
    Utc::now().with_timezone(&offset).date_naive()
}

/// Implements Display, FromStr, Serialize and Deserialize for an identifier through `as_str` and
/// `parse`, so every way in goes through the checks.
macro_rules! text_identifier {
    ($name:ident) => {
        impl ::std::fmt::Display for $name {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl std::str::FromStr for $name {
            type Err = $crate::error::FieldError;
            fn from_str(text: &str) -> Result<Self, $crate::error::FieldError> {
                $name::parse(text).map($crate::correction::Parsed::into_value)
            }
        }

        impl ::serde::Serialize for $name {
            fn serialize<S: ::serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> ::serde::Deserialize<'de> for $name {
            fn deserialize<D: ::serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let text = <::std::borrow::Cow<'de, str> as ::serde::Deserialize>::deserialize(d)?;
                text.parse().map_err(|e: $crate::error::FieldError| ::serde::de::Error::custom(e.message))
            }
        }
    };
}

pub(crate) use text_identifier;

/// The position (1-based) and character of the first character of `text` that `ok` refuses.
fn first_bad_char(text: &str, ok: impl Fn(usize, char) -> bool) -> Option<(usize, char)> {
    text.chars().enumerate().find(|&(i, c)| !ok(i, c)).map(|(i, c)| (i + 1, c))
}

// ---------------------------------------------------------------------------------------------
// Citizen ID (公民身份号码), GB 11643-1999

const ID_FIELD: &str = "id_number";
const ID_WEIGHTS: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const ID_CHECK: &[u8; 11] = b"10X98765432";

/// The check character of a citizen ID given its first 17 ASCII digits.
///
/// # Panics
/// If `first17` is not 17 ASCII digits.
pub fn citizen_id_check_char(first17: &[u8]) -> u8 {
    assert!(first17.len() == 17 && first17.iter().all(u8::is_ascii_digit), "17 ASCII digits expected");
    let sum: u32 = first17.iter().zip(ID_WEIGHTS).map(|(&d, w)| u32::from(d - b'0') * w).sum();
    ID_CHECK[(sum % 11) as usize]
}

/// A valid 18-character citizen ID number (公民身份号码), the national social security number.
/// `Debug` shows it masked so it cannot leak into logs; `Display` shows it whole.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CitizenId([u8; 18]);

impl CitizenId {
    /// Parses and normalises a citizen ID, checking birth dates against today in China.
    pub fn parse(text: &str) -> Result<Parsed<CitizenId>, FieldError> {
        Self::parse_at(text, china_today())
    }

    /// Parses and normalises a citizen ID, refusing birth dates after `today`.
    pub fn parse_at(text: &str, today: NaiveDate) -> Result<Parsed<CitizenId>, FieldError> {
        let mut corrections = Vec::new();
        let squashed = squash_code(ID_FIELD, text, &mut corrections);
        let mut s = squashed.as_ref();
        if s.is_empty() {
            return Err(id_error(Reason::Required, "请填写18位公民身份号码".into()));
        }
        let n = s.chars().count();
        if n != 18 && n != 15 {
            return Err(id_error(
                Reason::Length,
                format!("公民身份号码应为18位（旧版15位），您填写了{n}位，请对照身份证核对"),
            ));
        }
        let lowered;
        if n == 18 && s.ends_with('x') {
            lowered = format!("{}X", &s[..s.len() - 1]);
            corrections.push(Correction::new(ID_FIELD, CorrectionKind::IdLowercaseX, s, lowered.as_str()));
            s = &lowered;
        }
        if let Some((pos, c)) = first_bad_char(s, |i, c| c.is_ascii_digit() || (i == 17 && c == 'X')) {
            return Err(id_error(
                Reason::Charset,
                format!("公民身份号码只能是数字（第18位可以是X），第{pos}位“{c}”不对，请核对"),
            ));
        }
        let mut id = [0u8; 18];
        if n == 15 {
            id[..6].copy_from_slice(&s.as_bytes()[..6]);
            id[6..8].copy_from_slice(b"19");
            id[8..17].copy_from_slice(&s.as_bytes()[6..]);
            id[17] = citizen_id_check_char(&id[..17]);
        } else {
            id.copy_from_slice(s.as_bytes());
            if citizen_id_check_char(&id[..17]) != id[17] {
                return Err(id_error(
                    Reason::Checksum,
                    "公民身份号码校验不通过，可能有数字填错或顺序颠倒，请对照身份证逐位核对".into(),
                ));
            }
        }
        let id = CitizenId(id);
        check_birth_date(&id.0[6..14], today)?;
        if n == 15 {
            corrections.push(Correction::new(ID_FIELD, CorrectionKind::IdUpgraded15To18, s, id.as_str()));
        }
        Ok(Parsed { value: id, corrections })
    }

    /// Builds the ID of a person born on `birth` with `sequence` number in `county` (the
    /// synthetic-data generator's constructor; the check character is computed).
    ///
    /// # Panics
    /// If `county` is not 6 ASCII digits, `sequence` is over 999, or the year has not 4 digits.
    pub fn from_parts(county: &str, birth: NaiveDate, sequence: u16) -> CitizenId {
        assert!(county.len() == 6 && county.bytes().all(|b| b.is_ascii_digit()), "6-digit county code expected");
        assert!(sequence <= 999, "sequence is 3 digits");
        assert!((1000..=9999).contains(&birth.year()), "4-digit year expected");
        let body = format!("{county}{}{sequence:03}", birth.format("%Y%m%d"));
        let mut id = [0u8; 18];
        id[..17].copy_from_slice(body.as_bytes());
        id[17] = citizen_id_check_char(&id[..17]);
        CitizenId(id)
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CitizenId holds ASCII only")
    }

    /// The birth date encoded in positions 7..14.
    pub fn birth_date(&self) -> NaiveDate {
        let (y, m, d) = date_digits(&self.0[6..14]);
        NaiveDate::from_ymd_opt(y, m, d).expect("a CitizenId holds a real birth date")
    }

    /// The gender encoded by the sequence number (odd = male, even = female).
    pub fn gender(&self) -> Gender {
        Gender::from_sequence_digit(self.0[16] - b'0')
    }

    /// The address code of the place of first registration (first 6 digits, GB/T 2260).
    pub fn county_code(&self) -> &str {
        &self.as_str()[..6]
    }

    /// The 3-digit sequence number (positions 15..17).
    pub fn sequence(&self) -> u16 {
        self.0[14..17].iter().fold(0, |acc, &d| acc * 10 + u16::from(d - b'0'))
    }
}

fn id_error(code: Reason, message: String) -> FieldError {
    FieldError::new(ID_FIELD, code, message)
}

/// Year, month and day of 8 ASCII digits `YYYYMMDD`.
fn date_digits(d: &[u8]) -> (i32, u32, u32) {
    let num = |s: &[u8]| s.iter().fold(0u32, |acc, &b| acc * 10 + u32::from(b - b'0'));
    (num(&d[..4]) as i32, num(&d[4..6]), num(&d[6..8]))
}

fn check_birth_date(digits: &[u8], today: NaiveDate) -> Result<(), FieldError> {
    let (y, m, d) = date_digits(digits);
    let text = std::str::from_utf8(digits).unwrap_or_default();
    let problem = match NaiveDate::from_ymd_opt(y, m, d) {
        None => "不是真实的日期",
        Some(date) if date.year() < 1900 => "早于1900年",
        Some(date) if date > today => "晚于今天",
        Some(_) => return Ok(()),
    };
    Err(id_error(
        Reason::BirthDate,
        format!("公民身份号码第7至14位的出生日期{text}{problem}，请对照身份证核对"),
    ))
}

impl fmt::Debug for CitizenId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CitizenId({})", self.masked())
    }
}

text_identifier!(CitizenId);

// ---------------------------------------------------------------------------------------------
// Organisation code (组织机构代码), GB 11714-1997

const ORG_FIELD: &str = "org_code";
const ORG_WEIGHTS: [u32; 8] = [3, 7, 9, 10, 5, 8, 4, 2];

fn org_char_value(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'A'..=b'Z' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

/// The check character of an organisation code given its first 8 characters (digits, A-Z).
///
/// # Panics
/// If `first8` is not 8 characters from `0-9A-Z`.
pub fn org_code_check_char(first8: &[u8]) -> u8 {
    assert_eq!(first8.len(), 8, "8 characters expected");
    let sum: u32 = first8
        .iter()
        .zip(ORG_WEIGHTS)
        .map(|(&c, w)| org_char_value(c).expect("0-9 or A-Z expected") * w)
        .sum();
    match 11 - sum % 11 {
        10 => b'X',
        11 => b'0',
        c => b'0' + c as u8,
    }
}

/// A valid 9-character organisation code (组织机构代码), stored without the printed hyphen.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct OrgCode([u8; 9]);

impl OrgCode {
    /// Parses `XXXXXXXX-X` or `XXXXXXXXX` (spaces, full-width and lower case are corrected).
    /// The printed hyphen is the standard's own layout, so removing it is not a correction.
    pub fn parse(text: &str) -> Result<Parsed<OrgCode>, FieldError> {
        let mut corrections = Vec::new();
        let squashed = squash_code(ORG_FIELD, text, &mut corrections);
        let s = uppercase(ORG_FIELD, squashed.as_ref(), &mut corrections);
        // The printed hyphen sits before the check character, whatever the body's length.
        let s = match s.char_indices().rev().nth(1) {
            Some((i, '-')) => format!("{}{}", &s[..i], &s[i + 1..]),
            _ => s,
        };
        if s.is_empty() {
            return Err(FieldError::new(ORG_FIELD, Reason::Required, "请填写9位组织机构代码"));
        }
        let n = s.chars().count();
        if n != 9 {
            return Err(FieldError::new(
                ORG_FIELD,
                Reason::Length,
                format!("组织机构代码应为9位（如 12345678-9），您填写了{n}位，请核对"),
            ));
        }
        if let Some((pos, c)) =
            first_bad_char(&s, |i, c| c.is_ascii_digit() || c.is_ascii_uppercase() && (i < 8 || c == 'X'))
        {
            return Err(FieldError::new(
                ORG_FIELD,
                Reason::Charset,
                format!("组织机构代码只能是数字和大写字母（末位为数字或X），第{pos}位“{c}”不对，请核对"),
            ));
        }
        let code = OrgCode::checked(s.as_bytes())
            .ok_or_else(|| org_checksum_error(ORG_FIELD, "组织机构代码校验不通过，请对照证书逐位核对"))?;
        Ok(Parsed { value: code, corrections })
    }

    /// The code with `body` (8 characters from `0-9A-Z`) and its computed check character.
    ///
    /// # Panics
    /// If `body` is not 8 characters from `0-9A-Z`.
    pub fn from_body(body: &str) -> OrgCode {
        let mut code = [0u8; 9];
        code[..8].copy_from_slice(body.as_bytes());
        code[8] = org_code_check_char(body.as_bytes());
        OrgCode(code)
    }

    /// The code if 9 charset-valid bytes carry the right check character.
    fn checked(bytes: &[u8]) -> Option<OrgCode> {
        let valid = bytes.len() == 9
            && bytes[..8].iter().all(|&c| org_char_value(c).is_some())
            && org_code_check_char(&bytes[..8]) == bytes[8];
        valid.then(|| OrgCode(bytes.try_into().expect("9 bytes")))
    }

    /// The 9 characters without hyphen.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("an OrgCode holds ASCII only")
    }

    /// The printed layout `XXXXXXXX-X`.
    pub fn hyphenated(&self) -> String {
        format!("{}-{}", &self.as_str()[..8], &self.as_str()[8..])
    }
}

impl fmt::Debug for OrgCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "OrgCode({})", self.as_str())
    }
}

text_identifier!(OrgCode);

fn org_checksum_error(field: &str, message: &str) -> FieldError {
    FieldError::new(field, Reason::Checksum, message)
}

/// Writes lower-case ASCII letters in upper case, recording the change.
fn uppercase(field: &str, s: &str, corrections: &mut Vec<Correction>) -> String {
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        return s.to_owned();
    }
    let upper = s.to_ascii_uppercase();
    corrections.push(Correction::new(field, CorrectionKind::Uppercase, s, upper.as_str()));
    upper
}

// ---------------------------------------------------------------------------------------------
// Unified social credit code (统一社会信用代码), GB 32100-2015

const CREDIT_FIELD: &str = "credit_code";
const CREDIT_ALPHABET: &[u8; 31] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";
const CREDIT_WEIGHTS: [u32; 17] = [1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28];

fn credit_char_value(c: u8) -> Option<u32> {
    CREDIT_ALPHABET.iter().position(|&a| a == c).map(|v| v as u32)
}

/// The check character of a credit code given its first 17 characters (over the GB 32100
/// alphabet `0-9A-HJ-NP-RTUWXY`).
///
/// # Panics
/// If `first17` is not 17 characters of that alphabet.
pub fn credit_code_check_char(first17: &[u8]) -> u8 {
    assert_eq!(first17.len(), 17, "17 characters expected");
    let sum: u32 = first17
        .iter()
        .zip(CREDIT_WEIGHTS)
        .map(|(&c, w)| credit_char_value(c).expect("GB 32100 alphabet expected") * w)
        .sum();
    CREDIT_ALPHABET[((31 - sum % 31) % 31) as usize]
}

/// A valid 18-character unified social credit code (统一社会信用代码) whose embedded
/// organisation code (positions 9..17) is itself valid.
///
/// A code whose own check character is right but whose embedded organisation code fails
/// GB 11714 is refused with `checksum`: issuing authorities always embed a valid one, so such a
/// code is mistyped or invented.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CreditCode([u8; 18]);

impl CreditCode {
    /// Parses a credit code (spaces, full-width and lower case are corrected).
    pub fn parse(text: &str) -> Result<Parsed<CreditCode>, FieldError> {
        let mut corrections = Vec::new();
        let squashed = squash_code(CREDIT_FIELD, text, &mut corrections);
        let s = uppercase(CREDIT_FIELD, squashed.as_ref(), &mut corrections);
        let err = |code, message: String| FieldError::new(CREDIT_FIELD, code, message);
        if s.is_empty() {
            return Err(err(Reason::Required, "请填写18位统一社会信用代码".into()));
        }
        let n = s.chars().count();
        if n != 18 {
            return Err(err(
                Reason::Length,
                format!("统一社会信用代码应为18位，您填写了{n}位，请对照营业执照核对"),
            ));
        }
        if let Some((pos, c)) = first_bad_char(&s, |_, c| c.is_ascii() && credit_char_value(c as u8).is_some()) {
            return Err(err(
                Reason::Charset,
                format!("统一社会信用代码不使用字母I、O、Z、S、V，第{pos}位“{c}”不对，请对照营业执照核对"),
            ));
        }
        let b = s.as_bytes();
        if credit_code_check_char(&b[..17]) != b[17] {
            return Err(err(Reason::Checksum, "统一社会信用代码校验不通过，请对照营业执照逐位核对".into()));
        }
        if OrgCode::checked(&b[8..17]).is_none() {
            return Err(err(
                Reason::Checksum,
                "统一社会信用代码第9至17位（组织机构代码）校验不通过，请对照营业执照逐位核对".into(),
            ));
        }
        Ok(Parsed { value: CreditCode(b.try_into().expect("18 bytes")), corrections })
    }

    /// Builds a credit code from its 2-character registration authority and category (e.g.
    /// `91` for an enterprise registered by market regulation), 6-digit region and
    /// organisation code (the synthetic-data generator's constructor).
    ///
    /// # Panics
    /// If `authority_category` or `region` do not fit, or use characters outside the alphabet.
    pub fn from_parts(authority_category: &str, region: &str, org: OrgCode) -> CreditCode {
        assert_eq!(authority_category.len(), 2, "2 characters expected");
        assert!(region.len() == 6 && region.bytes().all(|b| b.is_ascii_digit()), "6-digit region expected");
        let mut code = [0u8; 18];
        code[..2].copy_from_slice(authority_category.as_bytes());
        code[2..8].copy_from_slice(region.as_bytes());
        code[8..17].copy_from_slice(&org.0);
        code[17] = credit_code_check_char(&code[..17]);
        CreditCode(code)
    }

    /// The 18 characters.
    pub fn as_str(&self) -> &str {
        std::str::from_utf8(&self.0).expect("a CreditCode holds ASCII only")
    }

    /// The organisation code embedded at positions 9..17.
    pub fn org_code(&self) -> OrgCode {
        OrgCode(self.0[8..17].try_into().expect("9 bytes"))
    }

    /// The administrative region code of the registering authority (positions 3..8).
    pub fn region_code(&self) -> &str {
        &self.as_str()[2..8]
    }
}

impl fmt::Debug for CreditCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CreditCode({})", self.as_str())
    }
}

text_identifier!(CreditCode);

// ---------------------------------------------------------------------------------------------
// Phone numbers

const PHONE_FIELD: &str = "phone";

/// Whether a phone number is a mobile or a landline.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PhoneKind {
    /// 11 digits starting with 1.
    Mobile,
    /// Area code (3 or 4 digits starting with 0) and a 7- or 8-digit local number.
    Landline,
}

/// A valid phone number: a mobile `13812345678` or a landline written `0812-3334444`.
/// `Debug` shows it masked so it cannot leak into logs; `Display` shows it whole.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Phone(String);

impl Phone {
    /// Parses a phone number. Spaces, hyphens and parentheses between digit groups are the
    /// usual ways to write a number and are dropped silently; full-width digits and a +86
    /// prefix are recorded as corrections.
    pub fn parse(text: &str) -> Result<Parsed<Phone>, FieldError> {
        let mut corrections = Vec::new();
        let squashed = squash_code(PHONE_FIELD, text, &mut corrections);
        // Whitespace is a separator here, not a stray character.
        corrections.retain(|c| c.kind != CorrectionKind::Whitespace);
        for c in &mut corrections {
            c.from = text.to_owned();
        }
        let mut digits: String =
            squashed.chars().filter(|c| !matches!(c, '-' | '(' | ')' | '（' | '）')).collect();
        if digits.is_empty() {
            return Err(FieldError::new(PHONE_FIELD, Reason::Required, "请填写联系电话"));
        }
        if let Some(rest) = ["+86", "0086", "86"].iter().find_map(|p| digits.strip_prefix(p)) {
            if digits.starts_with('+') || rest.len() == 11 && rest.starts_with('1') {
                corrections.push(Correction::new(PHONE_FIELD, CorrectionKind::CountryCodeRemoved, digits.as_str(), rest));
                digits = rest.to_owned();
            }
        }
        let format_error = || {
            FieldError::new(
                PHONE_FIELD,
                Reason::Format,
                "联系电话应为11位手机号（如 13812345678）或带区号的固定电话（如 0812-3334444），请核对",
            )
        };
        if !digits.bytes().all(|b| b.is_ascii_digit()) {
            return Err(format_error());
        }
        let b = digits.as_bytes();
        let phone = if b.len() == 11 && b[0] == b'1' && (b'3'..=b'9').contains(&b[1]) {
            digits
        } else if b.first() == Some(&b'0') {
            let area = if matches!(b.get(1), Some(b'1' | b'2')) { 3 } else { 4 };
            let local = b.len().checked_sub(area).ok_or_else(format_error)?;
            if !(7..=8).contains(&local) || matches!(b[area], b'0' | b'1') {
                return Err(format_error());
            }
            format!("{}-{}", &digits[..area], &digits[area..])
        } else {
            return Err(format_error());
        };
        Ok(Parsed { value: Phone(phone), corrections })
    }

    /// The canonical text: 11 digits, or area code, hyphen and local number.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Mobile or landline.
    pub fn kind(&self) -> PhoneKind {
        if self.0.starts_with('1') { PhoneKind::Mobile } else { PhoneKind::Landline }
    }
}

impl fmt::Debug for Phone {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Phone({})", self.masked())
    }
}

text_identifier!(Phone);

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn day(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap()
    }

    const TODAY: NaiveDate = match NaiveDate::from_ymd_opt(2026, 6, 1) {
        Some(d) => d,
        None => panic!(),
    };

    fn reason(text: &str) -> Reason {
        CitizenId::parse_at(text, TODAY).unwrap_err().code
    }

    fn kinds<T>(p: &Parsed<T>) -> Vec<CorrectionKind> {
        p.corrections.iter().map(|c| c.kind).collect()
    }

    #[test]
    fn the_standard_example_is_valid_and_decodes() {
        let p = CitizenId::parse_at("11010519491231002X", TODAY).unwrap();
        assert!(!p.was_corrected());
        let id = p.value;
        assert_eq!(id.as_str(), "11010519491231002X");
        assert_eq!(id.birth_date(), day(1949, 12, 31));
        assert_eq!(id.gender(), Gender::Female);
        assert_eq!(id.county_code(), "110105");
        assert_eq!(id.sequence(), 2);
        assert_eq!(format!("{id:?}"), "CitizenId(110105********002X)");
    }

    #[test]
    fn every_other_check_char_fails_with_checksum() {
        for c in "0123456789X".chars().filter(|&c| c != 'X') {
            assert_eq!(reason(&format!("11010519491231002{c}")), Reason::Checksum, "{c}");
        }
    }

    #[test]
    fn refusals_say_precisely_why() {
        assert_eq!(reason("  "), Reason::Required);
        assert_eq!(reason("1101051949123100"), Reason::Length);
        assert_eq!(reason("11010519491231002Y"), Reason::Charset);
        assert_eq!(reason("1101051949123X002X"), Reason::Charset);
        assert_eq!(reason("身份证号码身份证号码身份证号码身份证"), Reason::Charset);
        let bad_date = |date: &str| {
            let body = format!("510402{date}123");
            let id = format!("{body}{}", citizen_id_check_char(body.as_bytes()) as char);
            reason(&id)
        };
        assert_eq!(bad_date("19900230"), Reason::BirthDate);
        assert_eq!(bad_date("18991231"), Reason::BirthDate);
        assert_eq!(bad_date("20260602"), Reason::BirthDate);
        let e = CitizenId::parse_at("11010519491231002", TODAY).unwrap_err();
        assert_eq!(e.field, "id_number");
        assert!(e.message.contains("17位"), "{}", e.message);
    }

    #[test]
    fn a_birth_date_of_today_is_accepted() {
        let id = CitizenId::from_parts("510402", TODAY, 1);
        assert_eq!(CitizenId::parse_at(id.as_str(), TODAY).unwrap().value, id);
    }

    #[test]
    fn legacy_15_digit_ids_are_upgraded_and_recorded() {
        let p = CitizenId::parse_at("110105491231002", TODAY).unwrap();
        assert_eq!(p.value.as_str(), "11010519491231002X");
        assert_eq!(kinds(&p), [CorrectionKind::IdUpgraded15To18]);
        assert_eq!(p.corrections[0].from, "110105491231002");
        assert_eq!(p.corrections[0].to, "11010519491231002X");
        assert_eq!(reason("110105490231002"), Reason::BirthDate);
        assert_eq!(reason("11010549123100X"), Reason::Charset);
    }

    #[test]
    fn fullwidth_spaces_and_lowercase_x_are_corrected() {
        let p = CitizenId::parse_at(" １１０１０５ 19491231002ｘ", TODAY).unwrap();
        assert_eq!(p.value.as_str(), "11010519491231002X");
        assert_eq!(
            kinds(&p),
            [CorrectionKind::Whitespace, CorrectionKind::FullwidthToAscii, CorrectionKind::IdLowercaseX]
        );
        assert_eq!(p.corrections.last().unwrap().from, "11010519491231002x");
        assert!(p.corrections.iter().all(|c| c.field == "id_number"));
    }

    #[test]
    fn serde_goes_through_parse() {
        let id: CitizenId = serde_json::from_str("\"11010519491231002x\"").unwrap();
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"11010519491231002X\"");
        assert!(serde_json::from_str::<CitizenId>("\"110105194912310021\"").is_err());
        assert_eq!(id.to_string(), "11010519491231002X");
    }

    fn any_id() -> impl Strategy<Value = CitizenId> {
        let days = (TODAY - day(1900, 1, 1)).num_days();
        ("[0-9]{6}", 0..=days, 0u16..=999).prop_map(|(county, offset, seq)| {
            CitizenId::from_parts(&county, day(1900, 1, 1) + chrono::Duration::days(offset), seq)
        })
    }

    proptest! {
        #[test]
        fn generated_ids_validate_and_decode(id in any_id()) {
            let p = CitizenId::parse_at(id.as_str(), TODAY).unwrap();
            prop_assert_eq!(p.value, id);
            prop_assert!(!p.was_corrected());
            prop_assert_eq!(CitizenId::from_parts(id.county_code(), id.birth_date(), id.sequence()), id);
        }

        #[test]
        fn a_single_character_change_is_never_the_same_person(
            id in any_id(), pos in 0usize..18, c in "[0-9X]"
        ) {
            let mut text = id.as_str().to_owned();
            text.replace_range(pos..pos + 1, &c);
            prop_assume!(text != id.as_str());
            if let Ok(p) = CitizenId::parse_at(&text, TODAY) {
                prop_assert_ne!(p.value, id);
            }
        }

        #[test]
        fn a_legacy_id_upgrades_to_a_valid_19xx_id(
            county in "[0-9]{6}", offset in 0i64..36524, seq in 0u16..=999
        ) {
            let birth = day(1900, 1, 1) + chrono::Duration::days(offset);
            let legacy = format!("{county}{}{seq:03}", birth.format("%y%m%d"));
            let p = CitizenId::parse_at(&legacy, TODAY).unwrap();
            prop_assert_eq!(p.value.birth_date(), birth);
            prop_assert!((1900..2000).contains(&p.value.birth_date().year()));
            prop_assert_eq!(CitizenId::parse_at(p.value.as_str(), TODAY).unwrap().value, p.value);
        }
    }

    proptest! {
        #[test]
        fn no_text_makes_a_parser_panic(text in ".{0,20}x?|[0-9０-９xX\\- ]{8,20}") {
            let _ = CitizenId::parse_at(&text, TODAY);
            let _ = OrgCode::parse(&text);
            let _ = CreditCode::parse(&text);
            let _ = Phone::parse(&text);
        }
    }

    #[test]
    fn eighteen_characters_ending_in_x_but_not_ascii_are_refused() {
        assert_eq!(reason("身份证号码身份证号码身份证号码身份x"), Reason::Charset);
    }

    // --- organisation and credit codes

    #[test]
    fn org_codes_check_and_normalise() {
        // 12345678: 3+14+27+40+25+48+28+16 = 201, 201 mod 11 = 3, 11-3 = 8.
        assert_eq!(org_code_check_char(b"12345678"), b'8');
        let p = OrgCode::parse("12345678-8").unwrap();
        assert_eq!(p.value.as_str(), "123456788");
        assert_eq!(p.value.hyphenated(), "12345678-8");
        assert!(!p.was_corrected());
        let p = OrgCode::parse("ｍ000100y-4").unwrap();
        assert_eq!(kinds(&p), [CorrectionKind::FullwidthToAscii, CorrectionKind::Uppercase]);
        assert_eq!(OrgCode::parse("M000100Y-Z").unwrap_err().code, Reason::Charset);
        let p = OrgCode::parse(" m000100y4 ").unwrap();
        assert_eq!(p.value.as_str(), "M000100Y4");
        assert_eq!(kinds(&p), [CorrectionKind::Whitespace, CorrectionKind::Uppercase]);
        assert_eq!(OrgCode::parse("12345678-9").unwrap_err().code, Reason::Checksum);
        assert_eq!(OrgCode::parse("1234567-8").unwrap_err().code, Reason::Length);
        assert_eq!(OrgCode::parse("").unwrap_err().code, Reason::Required);
        // The check values 10 and 11 are written X and 0.
        let x = (0..100_000u32).map(|n| format!("{n:08}")).find(|b| org_code_check_char(b.as_bytes()) == b'X');
        let zero = (0..100_000u32).map(|n| format!("{n:08}")).find(|b| org_code_check_char(b.as_bytes()) == b'0');
        for body in [x.unwrap(), zero.unwrap()] {
            let code = OrgCode::from_body(&body);
            assert_eq!(OrgCode::parse(code.as_str()).unwrap().value, code);
        }
    }

    #[test]
    fn the_real_world_credit_code_sample_is_valid() {
        let p = CreditCode::parse("91350100M000100Y43").unwrap();
        let code = p.value;
        assert_eq!(code.org_code().as_str(), "M000100Y4");
        assert_eq!(code.region_code(), "350100");
        assert_eq!(CreditCode::parse("91350100m000100y43").unwrap().value, code);
    }

    #[test]
    fn credit_codes_refuse_precisely() {
        let r = |t: &str| CreditCode::parse(t).unwrap_err().code;
        assert_eq!(r("91350100M000100Y44"), Reason::Checksum);
        assert_eq!(r("91350100M000100Y4"), Reason::Length);
        assert_eq!(r("91350100M000100I43"), Reason::Charset);
        assert_eq!(r(" "), Reason::Required);
        // Right check character over an embedded organisation code that fails GB 11714.
        let body = "91510400M000100Y5";
        let forged = format!("{body}{}", credit_code_check_char(body.as_bytes()) as char);
        assert_eq!(r(&forged), Reason::Checksum);
        assert!(CreditCode::parse(&forged).unwrap_err().message.contains("组织机构代码"));
    }

    #[test]
    fn built_credit_codes_round_trip() {
        for body in ["MA6CA1B2", "00000000", "12345678", "7Q9X1234"] {
            let org = OrgCode::from_body(body);
            let code = CreditCode::from_parts("91", "510402", org);
            let back = CreditCode::parse(code.as_str()).unwrap().value;
            assert_eq!(back, code);
            assert_eq!(back.org_code(), org);
            assert_eq!(serde_json::to_string(&code).unwrap(), format!("\"{code}\""));
        }
    }

    // --- phones

    #[test]
    fn phones_normalise_to_canonical_forms() {
        let ok = |t: &str| Phone::parse(t).unwrap();
        assert_eq!(ok("138 1234 5678").value.as_str(), "13812345678");
        assert!(!ok("138-1234-5678").was_corrected());
        let p = ok("+86 138 1234 5678");
        assert_eq!(p.value.as_str(), "13812345678");
        assert_eq!(kinds(&p), [CorrectionKind::CountryCodeRemoved]);
        assert_eq!(ok("8613812345678").value.as_str(), "13812345678");
        assert_eq!(kinds(&ok("１３８１２３４５６７８")), [CorrectionKind::FullwidthToAscii]);
        assert_eq!(ok("0812-3334444").value.as_str(), "0812-3334444");
        assert_eq!(ok("08123334444").value.as_str(), "0812-3334444");
        assert_eq!(ok("(010) 62345678").value.as_str(), "010-62345678");
        assert_eq!(ok("02887654321").value.kind(), PhoneKind::Landline);
        assert_eq!(ok("13812345678").value.kind(), PhoneKind::Mobile);
        for bad in ["3334444", "1381234567", "12812345678", "0812-0334444", "138abc45678", "0812-333444455"] {
            assert_eq!(Phone::parse(bad).unwrap_err().code, Reason::Format, "{bad}");
        }
        assert_eq!(Phone::parse(" - ").unwrap_err().code, Reason::Required);
        assert_eq!(format!("{:?}", ok("13812345678").value), "Phone(138****5678)");
    }
}
