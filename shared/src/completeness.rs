//! Data completeness (数据完整, "不缺项"): THE list of mandatory fields of DOMAIN §4, in one
//! place. Registration responses, the door-to-door list, the stored `complete` flag and the
//! completeness rate all ask this module.

use crate::person::{Field, Person};

/// The fields a complete record has (DOMAIN §4). `Insurance` stands for "at least one scheme or
/// an uninsured reason": it counts as present when either is.
pub const MANDATORY_FIELDS: &[Field] = &[
    Field::IdNumber,
    Field::Name,
    Field::Gender,
    Field::Ethnicity,
    Field::BirthDate,
    Field::HukouRegion,
    Field::ResidenceAddress,
    Field::Phone,
    Field::EmploymentStatus,
    Field::Insurance,
];

/// Whether one mandatory field counts as present.
pub fn is_present(person: &Person, field: Field) -> bool {
    match field {
        Field::Insurance => person.has(Field::Insurance) || person.uninsured_reason.is_some(),
        f => person.has(f),
    }
}

/// The mandatory fields the record lacks, in [`MANDATORY_FIELDS`] order (empty when complete).
pub fn missing_fields(person: &Person) -> Vec<Field> {
    MANDATORY_FIELDS.iter().copied().filter(|f| !is_present(person, *f)).collect()
}

/// Whether every mandatory field is present.
pub fn is_complete(person: &Person) -> bool {
    MANDATORY_FIELDS.iter().all(|f| is_present(person, *f))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Gender, Scheme, UninsuredReason};
    use crate::ids::{CitizenId, Phone};
    use crate::person::Enrollment;
    use crate::regions::RegionCode;
    use chrono::NaiveDate;

    fn full() -> Person {
        let birth = NaiveDate::from_ymd_opt(1990, 1, 2).unwrap();
        let mut p = Person::new(CitizenId::from_parts("510402", birth, 11));
        p.name = Some("张三".into());
        p.gender = Some(Gender::Male);
        p.ethnicity = Some(Ethnicity::HAN);
        p.birth_date = Some(birth);
        p.hukou_region = Some(RegionCode::parse("510402").unwrap().value);
        p.residence_address = Some("东区炳草岗大街1号".into());
        p.phone = Some(Phone::parse("13812345678").unwrap().value);
        p.employment_status = Some(EmploymentStatus::Employed);
        p.uninsured_reason = Some(UninsuredReason::Unwilling);
        p
    }

    #[test]
    fn a_full_record_is_complete() {
        assert!(is_complete(&full()));
        assert!(missing_fields(&full()).is_empty());
    }

    #[test]
    fn missing_fields_are_listed_in_order() {
        let mut p = full();
        p.phone = None;
        p.name = Some("  ".into());
        assert_eq!(missing_fields(&p), vec![Field::Name, Field::Phone]);
        assert!(!is_complete(&p));
    }

    #[test]
    fn a_scheme_or_an_uninsured_reason_satisfies_insurance() {
        let mut p = full();
        p.uninsured_reason = None;
        assert_eq!(missing_fields(&p), vec![Field::Insurance]);
        p.declared_insurance.push(Enrollment {
            scheme: Scheme::ResidentMedical,
            status: EnrollmentStatus::Active,
            since: None,
            region: None,
            employer_credit_code: None,
        });
        assert!(is_complete(&p));
    }

    #[test]
    fn the_list_has_no_duplicates() {
        let mut v = MANDATORY_FIELDS.to_vec();
        v.sort();
        v.dedup();
        assert_eq!(v.len(), MANDATORY_FIELDS.len());
    }
}
