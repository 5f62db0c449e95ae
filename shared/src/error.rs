//! Why a value was refused: one precise machine code plus a Chinese message for the person who
//! typed it. Identifier parsers, cleaning and request validation all report `FieldError`s; the API
//! layer turns them into the `fields` of the error body in one place.

use serde::{Deserialize, Serialize};

/// A machine-readable reason a field value is invalid (the `code` of a field error).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reason {
    /// A mandatory value is missing or empty.
    Required,
    /// Wrong number of characters.
    Length,
    /// A character that the format does not allow.
    Charset,
    /// The check character does not match.
    Checksum,
    /// The birth date inside a citizen ID is not a real date or is in the future.
    BirthDate,
    /// A date that cannot be read in any accepted layout, or is impossible.
    Date,
    /// A code not in its reference list (gender, ethnicity, scheme, status …).
    UnknownCode,
    /// A region code that is not in the loaded region tree.
    UnknownRegion,
    /// A value in the wrong shape (e.g. a phone number).
    Format,
    /// A value longer than allowed.
    TooLong,
    /// A value that contradicts another field of the same record.
    Inconsistent,
}

impl Reason {
    /// The code as written in error bodies and error reports.
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Required => "required",
            Reason::Length => "length",
            Reason::Charset => "charset",
            Reason::Checksum => "checksum",
            Reason::BirthDate => "birth_date",
            Reason::Date => "date",
            Reason::UnknownCode => "unknown_code",
            Reason::UnknownRegion => "unknown_region",
            Reason::Format => "format",
            Reason::TooLong => "too_long",
            Reason::Inconsistent => "inconsistent",
        }
    }
}

impl std::fmt::Display for Reason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One refused field: which field, why (machine code), and a Chinese message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[error("{field}: {code} ({message})")]
pub struct FieldError {
    /// The field name in the indicator set (DOMAIN §4), e.g. `id_number`.
    pub field: String,
    /// Why it was refused.
    pub code: Reason,
    /// What to do about it, in Chinese, for the person who typed it.
    pub message: String,
}

impl FieldError {
    /// A field error with its message.
    pub fn new(field: impl Into<String>, code: Reason, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }

    /// The same error reported against another field name (e.g. a file column).
    pub fn for_field(mut self, field: impl Into<String>) -> Self {
        self.field = field.into();
        self
    }

    /// A missing mandatory value.
    pub fn required(field: impl Into<String>) -> Self {
        Self::new(field, Reason::Required, "此项为必填项")
    }
}
