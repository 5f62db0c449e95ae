//! The mistakes real department files contain (DOMAIN §6), as kinds with a rate each: rows that
//! must be rejected, values that must be corrected, duplicates in a file, cross-source conflicts
//! and second IDs of one person. Rates are per eligible row; every injection is logged.

use serde::Serialize;
use std::collections::BTreeMap;

/// One kind of injected error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// Invalid: the ID's check character is wrong → `checksum`.
    BadCheckChar,
    /// Invalid: the ID encodes an impossible birth date (check character right) → `birth_date`.
    ImpossibleBirthDate,
    /// Invalid: a required column (ID, name; unit name in unit files) is empty → `required`.
    RequiredEmpty,
    /// Invalid: a region code not in the region tree → `unknown_region`.
    UnknownRegion,
    /// Invalid: a date that cannot be read (参保日期, 变动日期, 日期) → `date`.
    UnparseableDate,
    /// Correction: the 15-digit legacy ID → `id_upgraded_15_to_18`.
    LegacyId15,
    /// Correction: lower-case `x` check character → `id_lowercase_x`.
    LowercaseX,
    /// Correction: full-width digits in the ID or credit code → `fullwidth_to_ascii`.
    FullWidth,
    /// Correction: stray spaces around or inside the ID or credit code → `whitespace`.
    Whitespace,
    /// Correction: lower-case letters in a credit code → `uppercase`.
    LowercaseCode,
    /// Correction: 性别 contradicts the ID → `gender_from_id`.
    GenderContradicts,
    /// Correction: 出生日期 contradicts the ID → `birth_date_from_id`.
    BirthDateContradicts,
    /// Correction: 民族 written as the name (彝族) instead of the code → `ethnicity_name_to_code`.
    EthnicityName,
    /// Correction: a date in another layout (2020/1/5, 2020年1月5日, 20200105) → `date_normalised`.
    DateLayout,
    /// The same key twice in one file: an earlier stale copy, the later row wins.
    DuplicateInFile,
    /// A lower-ranked source gives another name or ethnicity for an ID → a conflict.
    Conflict,
    /// A second valid ID for the same person (same name, birth date, gender, county).
    SecondId,
    /// An ID one digit away from the person's (check character recomputed), same name.
    OneDigitId,
    /// An ID with two adjacent digits swapped (check character recomputed), same name.
    TransposedId,
}

impl Kind {
    /// Every kind.
    pub const ALL: &'static [Kind] = &[
        Kind::BadCheckChar,
        Kind::ImpossibleBirthDate,
        Kind::RequiredEmpty,
        Kind::UnknownRegion,
        Kind::UnparseableDate,
        Kind::LegacyId15,
        Kind::LowercaseX,
        Kind::FullWidth,
        Kind::Whitespace,
        Kind::LowercaseCode,
        Kind::GenderContradicts,
        Kind::BirthDateContradicts,
        Kind::EthnicityName,
        Kind::DateLayout,
        Kind::DuplicateInFile,
        Kind::Conflict,
        Kind::SecondId,
        Kind::OneDigitId,
        Kind::TransposedId,
    ];

    /// The snake_case code used in logs and `expected.json`.
    pub fn code(self) -> &'static str {
        match self {
            Kind::BadCheckChar => "bad_check_char",
            Kind::ImpossibleBirthDate => "impossible_birth_date",
            Kind::RequiredEmpty => "required_empty",
            Kind::UnknownRegion => "unknown_region",
            Kind::UnparseableDate => "unparseable_date",
            Kind::LegacyId15 => "legacy_id_15",
            Kind::LowercaseX => "lowercase_x",
            Kind::FullWidth => "full_width",
            Kind::Whitespace => "whitespace",
            Kind::LowercaseCode => "lowercase_code",
            Kind::GenderContradicts => "gender_contradicts",
            Kind::BirthDateContradicts => "birth_date_contradicts",
            Kind::EthnicityName => "ethnicity_name",
            Kind::DateLayout => "date_layout",
            Kind::DuplicateInFile => "duplicate_in_file",
            Kind::Conflict => "conflict",
            Kind::SecondId => "second_id",
            Kind::OneDigitId => "one_digit_id",
            Kind::TransposedId => "transposed_id",
        }
    }

    /// Parses a code.
    pub fn parse(code: &str) -> Option<Kind> {
        Kind::ALL.iter().copied().find(|k| k.code() == code)
    }

    /// The rejection reason (shared `Reason` code) this kind must produce, if it is invalid.
    pub fn rejection(self) -> Option<&'static str> {
        Some(match self {
            Kind::BadCheckChar => "checksum",
            Kind::ImpossibleBirthDate => "birth_date",
            Kind::RequiredEmpty => "required",
            Kind::UnknownRegion => "unknown_region",
            Kind::UnparseableDate => "date",
            _ => return None,
        })
    }

    /// The correction kind (shared `CorrectionKind` code) this kind must produce, if any.
    pub fn correction(self) -> Option<&'static str> {
        Some(match self {
            Kind::LegacyId15 => "id_upgraded_15_to_18",
            Kind::LowercaseX => "id_lowercase_x",
            Kind::FullWidth => "fullwidth_to_ascii",
            Kind::Whitespace => "whitespace",
            Kind::LowercaseCode => "uppercase",
            Kind::GenderContradicts => "gender_from_id",
            Kind::BirthDateContradicts => "birth_date_from_id",
            Kind::EthnicityName => "ethnicity_name_to_code",
            Kind::DateLayout => "date_normalised",
            _ => return None,
        })
    }

    /// Whether this kind adds a row (with another ID) after the chosen one.
    pub fn adds_row(self) -> bool {
        matches!(self, Kind::SecondId | Kind::OneDigitId | Kind::TransposedId | Kind::DuplicateInFile)
    }
}

/// The rate of every kind, per eligible row.
#[derive(Debug, Clone, Serialize)]
pub struct Rates(pub BTreeMap<Kind, f64>);

impl Rates {
    /// Every kind at `rate`.
    pub fn uniform(rate: f64) -> Rates {
        Rates(Kind::ALL.iter().map(|&k| (k, rate)).collect())
    }

    /// The rate of one kind.
    pub fn of(&self, k: Kind) -> f64 {
        self.0.get(&k).copied().unwrap_or(0.0)
    }

    /// Sets one kind's rate.
    pub fn set(&mut self, k: Kind, rate: f64) {
        self.0.insert(k, rate);
    }
}

/// Draws at most one kind for a row, each with its rate (kinds are mutually exclusive).
pub fn draw(rng: &mut crate::rng::Rng, rates: &Rates) -> Option<Kind> {
    let mut x = rng.unit();
    for (&k, &r) in &rates.0 {
        if x < r {
            return Some(k);
        }
        x -= r;
    }
    None
}
