//! Merge by precedence (DOMAIN §5): what one source says about one person, folded into the
//! merged record. This is the one place where the trust order of sources is decided; intake and
//! registration both call [`merge_by_precedence`] and persist the outcome with `store`.
//!
//! The rules, field group by field group:
//! - identity (name, gender, ethnicity, birth date, hukou): the better-ranked source wins
//!   (public_security < survey < other departments < self); among equal ranks the newer saying,
//!   then the source order, so the result never depends on arrival order. A disagreement between
//!   different sources (after normalisation) opens or extends the field's one open conflict,
//!   listing every competing value with its sources — whichever side wins. The same ID with a
//!   different name from another source (一号多人) is such a conflict. Gender and birth date that
//!   contradict the ID are corrected to the ID's (the ID wins, DOMAIN §6).
//! - enrollments: only hrss and health; per scheme, the newer saying wins. Schemes that survey or
//!   self forms declare are kept apart (`declared_insurance`), newest form wins.
//! - person status: a death from public_security or civil_affairs (either is enough, and it is not
//!   undone by a later `normal` listing); other status changes from public_security, newest wins.
//! - contact, residence, employer, uninsured reason, willingness: the newest saying of any source.
//! - employment status: survey and self values, newest wins; where none exists it is derived:
//!   `employed` for staffing/hitech_zone listings or hrss rows naming an employer, else `student`
//!   for education listings.
//!
//! Pure functions: no storage, no clock.

use crate::codes::{EmploymentStatus, Ethnicity, Flag, Gender, PersonStatus, Scheme, Source, UninsuredReason};
use crate::correction::{Correction, CorrectionKind};
use crate::ids::{CitizenId, CreditCode, Phone};
use crate::person::{
    insurance_text, normalise_text, Candidate, Conflict, Enrollment, Field, Person, Provenance, Willingness,
};
use crate::regions::RegionCode;
use chrono::{DateTime, NaiveDate, Utc};
use std::cmp::Reverse;
use std::collections::BTreeSet;

/// What one source says about one person at one time (one cleaned file row or one form).
/// Empty fields say nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Observation {
    /// Whose record.
    pub id: CitizenId,
    /// Which source, batch or submission, and when.
    pub provenance: Provenance,
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
    /// 就业状态, when the source states it (forms); departments' listings derive it.
    pub employment_status: Option<EmploymentStatus>,
    /// 单位名称.
    pub employer_name: Option<String>,
    /// 单位统一社会信用代码.
    pub employer_credit_code: Option<CreditCode>,
    /// 人员状态.
    pub person_status: Option<PersonStatus>,
    /// The date of that status (死亡日期, 变动日期).
    pub person_status_date: Option<NaiveDate>,
    /// Enrollments (hrss/health) or declared schemes (forms).
    pub enrollments: Vec<Enrollment>,
    /// 未参保原因.
    pub uninsured_reason: Option<UninsuredReason>,
    /// 参保意愿.
    pub willingness: Option<Willingness>,
    /// Flags a department sets (低保, 特困, 在校学生, 死亡).
    pub flags: BTreeSet<Flag>,
}

impl Observation {
    /// An observation that says nothing yet.
    pub fn new(id: CitizenId, provenance: Provenance) -> Observation {
        Observation {
            id,
            provenance,
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
            person_status: None,
            person_status_date: None,
            enrollments: Vec::new(),
            uninsured_reason: None,
            willingness: None,
            flags: BTreeSet::new(),
        }
    }

    /// The value this observation gives a field, as text (see [`Person::field_text`]).
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
            Field::PersonStatus => s(self.person_status.map(|p| p.code())),
            Field::Insurance => insurance_text(&self.enrollments),
            Field::UninsuredReason => s(self.uninsured_reason.map(|u| u.code())),
            Field::Willingness => s(self.willingness.map(|w| w.code())),
            Field::Flags => {
                (!self.flags.is_empty()).then(|| self.flags.iter().map(|f| f.code()).collect::<Vec<_>>().join(","))
            }
        }
    }
}

/// What a merge did: the new record and what changed, for storage and the batch report.
#[derive(Debug, Clone, PartialEq)]
pub struct MergeOutcome {
    /// The merged record.
    pub person: Person,
    /// Whether the person was not known before.
    pub is_new: bool,
    /// Fields whose value or provenance changed (each gets a provenance row).
    pub changed_fields: Vec<Field>,
    /// Schemes whose enrollment was added or changed.
    pub changed_enrollments: Vec<Scheme>,
    /// Values the merge corrected (gender or birth date contradicting the ID).
    pub corrections: Vec<Correction>,
    /// Fields on which this observation opened a conflict.
    pub conflicts_opened: Vec<Field>,
    /// Fields whose open conflict gained a value or a source.
    pub conflicts_updated: Vec<Field>,
    /// Whether this was the person's first form registration (survey/self).
    pub registration_recorded: bool,
}

impl MergeOutcome {
    /// Whether anything needs saving.
    pub fn is_changed(&self) -> bool {
        self.is_new
            || self.registration_recorded
            || !self.changed_fields.is_empty()
            || !self.changed_enrollments.is_empty()
            || !self.conflicts_opened.is_empty()
            || !self.conflicts_updated.is_empty()
    }

    fn field_changed(&mut self, field: Field) {
        if !self.changed_fields.contains(&field) {
            self.changed_fields.push(field);
        }
    }

    fn conflict_updated(&mut self, field: Field) {
        if !self.conflicts_opened.contains(&field) && !self.conflicts_updated.contains(&field) {
            self.conflicts_updated.push(field);
        }
    }
}

/// Folds one observation into the current record (or a new one) by the precedence of DOMAIN §5.
pub fn merge_by_precedence(current: Option<&Person>, incoming: &Observation) -> MergeOutcome {
    debug_assert!(current.is_none_or(|p| p.id == incoming.id), "an observation merges into its own person");
    let mut out = MergeOutcome {
        person: current.cloned().unwrap_or_else(|| Person::new(incoming.id)),
        is_new: current.is_none(),
        changed_fields: Vec::new(),
        changed_enrollments: Vec::new(),
        corrections: Vec::new(),
        conflicts_opened: Vec::new(),
        conflicts_updated: Vec::new(),
        registration_recorded: false,
    };
    let obs = corrected_by_id(incoming, &mut out.corrections);

    for &field in Field::IDENTITY {
        merge_identity(&mut out, &obs, field);
    }
    for &field in Field::MOST_RECENT {
        merge_most_recent(&mut out, &obs, field);
    }
    merge_employment(&mut out, &obs);
    merge_person_status(&mut out, &obs);
    merge_enrollments(&mut out, &obs);
    merge_flags(&mut out, &obs);
    if is_form(obs.provenance.source) && !out.person.via_form {
        out.person.via_form = true;
        out.registration_recorded = true;
    }
    out
}

fn is_form(source: Source) -> bool {
    matches!(source, Source::Survey | Source::SelfReport)
}

/// The ID wins over a gender or birth date that contradicts it (DOMAIN §6).
fn corrected_by_id(o: &Observation, corrections: &mut Vec<Correction>) -> Observation {
    let mut o = o.clone();
    if let Some(g) = o.gender.filter(|g| *g != o.id.gender()) {
        let to = o.id.gender();
        corrections.push(Correction::new(Field::Gender.as_str(), CorrectionKind::GenderFromId, g.code(), to.code()));
        o.gender = Some(to);
    }
    if let Some(d) = o.birth_date.filter(|d| *d != o.id.birth_date()) {
        let to = o.id.birth_date();
        corrections.push(Correction::new(
            Field::BirthDate.as_str(),
            CorrectionKind::BirthDateFromId,
            d.to_string(),
            to.to_string(),
        ));
        o.birth_date = Some(to);
    }
    o
}

/// Identity precedence as a total order (greater wins): rank, then newer, then source order.
fn identity_key(p: &Provenance) -> (Reverse<u8>, DateTime<Utc>, Reverse<Source>) {
    (Reverse(p.source.identity_rank()), p.at, Reverse(p.source))
}

/// Recency as a total order (greater wins): newer, then rank, then source order.
fn recency_key(p: &Provenance) -> (DateTime<Utc>, Reverse<u8>, Reverse<Source>) {
    (p.at, Reverse(p.source.identity_rank()), Reverse(p.source))
}

/// Copies one field's value from the observation onto the person.
fn set_field(p: &mut Person, o: &Observation, field: Field) {
    match field {
        Field::IdNumber | Field::PersonStatus | Field::Insurance | Field::Flags => {
            unreachable!("{field} has its own merge rule")
        }
        Field::Name => p.name = o.name.clone(),
        Field::Gender => p.gender = o.gender,
        Field::Ethnicity => p.ethnicity = o.ethnicity,
        Field::BirthDate => p.birth_date = o.birth_date,
        Field::HukouAddress => p.hukou_address = o.hukou_address.clone(),
        Field::HukouRegion => p.hukou_region = o.hukou_region,
        Field::ResidenceAddress => p.residence_address = o.residence_address.clone(),
        Field::ResidenceRegion => p.residence_region = o.residence_region,
        Field::Phone => p.phone = o.phone.clone(),
        Field::EmploymentStatus => p.employment_status = o.employment_status,
        Field::EmployerName => p.employer_name = o.employer_name.clone(),
        Field::EmployerCreditCode => p.employer_credit_code = o.employer_credit_code,
        Field::UninsuredReason => p.uninsured_reason = o.uninsured_reason,
        Field::Willingness => p.willingness = o.willingness,
    }
}

fn merge_identity(out: &mut MergeOutcome, o: &Observation, field: Field) {
    let Some(new) = o.field_text(field) else { return };
    let prov = &o.provenance;
    let current = out.person.field_text(field);
    let current_prov = out.person.provenance.get(&field).cloned();
    let wins = current.is_none() || current_prov.as_ref().is_none_or(|cp| identity_key(prov) > identity_key(cp));
    let disagrees = current.as_ref().is_some_and(|c| normalise_text(c) != normalise_text(&new));

    if let (true, Some(cur)) = (disagrees, current.as_ref()) {
        let same_source = current_prov.as_ref().is_some_and(|cp| cp.source == prov.source);
        if !same_source || out.person.open_conflicts.contains_key(&field) {
            record_conflict(out, field, (cur, current_prov.as_ref()), (&new, prov));
        }
    } else if let Some(conflict) = out.person.open_conflicts.get_mut(&field) {
        if add_support(conflict, &new, prov) {
            out.conflict_updated(field);
        }
    }
    if wins && (current.as_deref() != Some(new.as_str()) || current_prov.as_ref() != Some(prov)) {
        set_field(&mut out.person, o, field);
        out.person.provenance.insert(field, prov.clone());
        out.field_changed(field);
    }
}

/// Opens the field's conflict with both values, or adds them to the open one.
fn record_conflict(out: &mut MergeOutcome, field: Field, current: (&str, Option<&Provenance>), new: (&str, &Provenance)) {
    let (cur_value, cur_prov) = current;
    let (new_value, new_prov) = new;
    match out.person.open_conflicts.get_mut(&field) {
        Some(conflict) => {
            let a = cur_prov.is_some_and(|cp| add_support(conflict, cur_value, cp));
            let b = add_support(conflict, new_value, new_prov);
            if a || b {
                out.conflict_updated(field);
            }
        }
        None => {
            let opened_at = cur_prov.map_or(new_prov.at, |cp| cp.at.max(new_prov.at));
            let mut conflict = Conflict { id: None, field, candidates: Vec::new(), opened_at };
            match cur_prov {
                Some(cp) => {
                    add_support(&mut conflict, cur_value, cp);
                }
                None => conflict.candidates.push(Candidate { value: cur_value.to_owned(), sources: Vec::new() }),
            }
            add_support(&mut conflict, new_value, new_prov);
            out.person.open_conflicts.insert(field, conflict);
            out.conflicts_opened.push(field);
        }
    }
}

/// Records that `prov` says `value` in the conflict; false when it already said so (or later).
fn add_support(conflict: &mut Conflict, value: &str, prov: &Provenance) -> bool {
    let key = normalise_text(value);
    match conflict.candidates.iter_mut().find(|c| normalise_text(&c.value) == key) {
        Some(candidate) => match candidate.sources.iter_mut().find(|s| s.source == prov.source) {
            Some(existing) if existing.at >= prov.at => false,
            Some(existing) => {
                *existing = prov.clone();
                true
            }
            None => {
                candidate.sources.push(prov.clone());
                true
            }
        },
        None => {
            conflict.candidates.push(Candidate { value: value.to_owned(), sources: vec![prov.clone()] });
            true
        }
    }
}

fn merge_most_recent(out: &mut MergeOutcome, o: &Observation, field: Field) {
    let Some(new) = o.field_text(field) else { return };
    let prov = &o.provenance;
    let current = out.person.field_text(field);
    let current_prov = out.person.provenance.get(&field);
    let newer = current.is_none() || current_prov.is_none_or(|cp| recency_key(prov) > recency_key(cp));
    if newer && (current.as_deref() != Some(new.as_str()) || current_prov != Some(prov)) {
        set_field(&mut out.person, o, field);
        out.person.provenance.insert(field, prov.clone());
        out.field_changed(field);
    }
}

/// The employment status an observation states or implies (DOMAIN §5).
fn employment_said(o: &Observation) -> Option<EmploymentStatus> {
    if o.employment_status.is_some() {
        return o.employment_status;
    }
    let names_employer = o.employer_name.is_some()
        || o.employer_credit_code.is_some()
        || o.enrollments.iter().any(|e| e.employer_credit_code.is_some());
    match o.provenance.source {
        Source::Staffing | Source::HitechZone => Some(EmploymentStatus::Employed),
        Source::Hrss if names_employer => Some(EmploymentStatus::Employed),
        Source::Education => Some(EmploymentStatus::Student),
        _ => None,
    }
}

/// Employment precedence (greater wins): any survey/self value over any department one; among
/// forms the newest; among departments `employed` over the rest, then the newest.
fn employment_key(value: EmploymentStatus, p: &Provenance) -> (bool, bool, DateTime<Utc>, Reverse<u8>, Reverse<Source>) {
    let form = is_form(p.source);
    (form, !form && value == EmploymentStatus::Employed, p.at, Reverse(p.source.identity_rank()), Reverse(p.source))
}

fn merge_employment(out: &mut MergeOutcome, o: &Observation) {
    let Some(value) = employment_said(o) else { return };
    let field = Field::EmploymentStatus;
    let prov = &o.provenance;
    let current_prov = out.person.provenance.get(&field);
    let wins = match (out.person.employment_status, current_prov) {
        (Some(cur), Some(cp)) => employment_key(value, prov) > employment_key(cur, cp),
        _ => true,
    };
    if wins && (out.person.employment_status != Some(value) || current_prov != Some(prov)) {
        out.person.employment_status = Some(value);
        out.person.provenance.insert(field, prov.clone());
        out.field_changed(field);
    }
}

fn merge_person_status(out: &mut MergeOutcome, o: &Observation) {
    let said = o.person_status.or_else(|| o.flags.contains(&Flag::Deceased).then_some(PersonStatus::Deceased));
    let Some(status) = said else { return };
    let prov = &o.provenance;
    let allowed = match status {
        PersonStatus::Deceased => prov.source.may_record_death(),
        _ => prov.source == Source::PublicSecurity,
    };
    if !allowed {
        return;
    }
    let p = &out.person;
    let date = o.person_status_date;
    let take = match (p.person_status, status) {
        // A death is not undone by a later listing; a second report may only date it earlier.
        (PersonStatus::Deceased, PersonStatus::Deceased) => match (p.person_status_date, date) {
            (None, Some(_)) => true,
            (Some(known), Some(new)) => new < known,
            _ => false,
        },
        (PersonStatus::Deceased, _) => false,
        (_, PersonStatus::Deceased) => true,
        (cur, new) => {
            let changes = cur != new || p.person_status_date != date;
            let key = |d: Option<NaiveDate>, at: DateTime<Utc>| (d.unwrap_or(at.date_naive()), at);
            let newer = p
                .provenance
                .get(&Field::PersonStatus)
                .is_none_or(|cp| key(date, prov.at) > key(p.person_status_date, cp.at));
            changes && newer
        }
    };
    if take {
        out.person.person_status = status;
        out.person.person_status_date = date.or(out.person.person_status_date.filter(|_| status == PersonStatus::Deceased));
        out.person.provenance.insert(Field::PersonStatus, prov.clone());
        out.field_changed(Field::PersonStatus);
    }
}

fn merge_enrollments(out: &mut MergeOutcome, o: &Observation) {
    if o.enrollments.is_empty() {
        return;
    }
    let prov = &o.provenance;
    if prov.source.sets_enrollments() {
        for e in &o.enrollments {
            let p = &mut out.person;
            let current = p.enrollments.iter().position(|x| x.scheme == e.scheme);
            let current_prov = p.enrollment_provenance.get(&e.scheme);
            let newer = current.is_none() || current_prov.is_none_or(|cp| recency_key(prov) > recency_key(cp));
            let differs = current.is_none_or(|i| p.enrollments[i] != *e) || current_prov != Some(prov);
            if newer && differs {
                match current {
                    Some(i) => p.enrollments[i] = e.clone(),
                    None => {
                        p.enrollments.push(e.clone());
                        p.enrollments.sort_by_key(|x| x.scheme);
                    }
                }
                p.enrollment_provenance.insert(e.scheme, prov.clone());
                if !out.changed_enrollments.contains(&e.scheme) {
                    out.changed_enrollments.push(e.scheme);
                }
            }
        }
    } else if is_form(prov.source) {
        let p = &mut out.person;
        let current_prov = p.provenance.get(&Field::Insurance);
        let newer = current_prov.is_none_or(|cp| recency_key(prov) > recency_key(cp));
        let mut declared = o.enrollments.clone();
        declared.sort_by_key(|x| x.scheme);
        if newer && (p.declared_insurance != declared || current_prov != Some(prov)) {
            p.declared_insurance = declared;
            p.provenance.insert(Field::Insurance, prov.clone());
            out.field_changed(Field::Insurance);
        }
    }
}

fn merge_flags(out: &mut MergeOutcome, o: &Observation) {
    if !o.provenance.source.is_department() {
        return;
    }
    let mut added = false;
    for flag in &o.flags {
        added |= out.person.flags.insert(*flag);
    }
    if added {
        out.person.provenance.insert(Field::Flags, o.provenance.clone());
        out.field_changed(Field::Flags);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codes::EnrollmentStatus;
    use crate::person::Origin;
    use proptest::prelude::*;

    fn id() -> CitizenId {
        CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1985, 3, 4).unwrap(), 231)
    }

    fn at(day: u32) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(&format!("2024-01-{day:02}T08:00:00Z")).unwrap().with_timezone(&Utc)
    }

    fn obs(source: Source, day: u32) -> Observation {
        Observation::new(id(), Provenance { source, origin: Origin::Batch(format!("{source}-{day}")), at: at(day) })
    }

    fn named(source: Source, day: u32, name: &str) -> Observation {
        let mut o = obs(source, day);
        o.name = Some(name.into());
        o
    }

    fn fold(observations: &[Observation]) -> Person {
        let mut person: Option<Person> = None;
        for o in observations {
            person = Some(merge_by_precedence(person.as_ref(), o).person);
        }
        person.unwrap()
    }

    fn region(s: &str) -> RegionCode {
        RegionCode::parse(s).unwrap().value
    }

    #[test]
    fn a_new_person_takes_every_value() {
        let mut o = named(Source::PublicSecurity, 1, "张三");
        o.hukou_region = Some(region("510402"));
        let out = merge_by_precedence(None, &o);
        assert!(out.is_new && out.is_changed());
        assert_eq!(out.changed_fields, vec![Field::Name, Field::HukouRegion]);
        assert_eq!(out.person.provenance[&Field::Name].source, Source::PublicSecurity);
    }

    #[test]
    fn a_lower_ranked_source_never_overwrites_and_opens_one_conflict() {
        let ps = merge_by_precedence(None, &named(Source::PublicSecurity, 1, "张三")).person;
        let out = merge_by_precedence(Some(&ps), &named(Source::SelfReport, 5, "张山"));
        assert_eq!(out.person.name.as_deref(), Some("张三"));
        assert_eq!(out.conflicts_opened, vec![Field::Name]);
        let c = &out.person.open_conflicts[&Field::Name];
        assert_eq!(c.candidates.len(), 2);
        // A third source extends the same conflict rather than opening another.
        let out2 = merge_by_precedence(Some(&out.person), &named(Source::Education, 6, "张珊"));
        assert!(out2.conflicts_opened.is_empty());
        assert_eq!(out2.conflicts_updated, vec![Field::Name]);
        assert_eq!(out2.person.open_conflicts[&Field::Name].candidates.len(), 3);
        assert_eq!(out2.person.open_conflicts.len(), 1);
    }

    #[test]
    fn a_higher_ranked_source_overwrites_and_still_records_the_disagreement() {
        let me = merge_by_precedence(None, &named(Source::SelfReport, 1, "张山")).person;
        let out = merge_by_precedence(Some(&me), &named(Source::PublicSecurity, 2, "张三"));
        assert_eq!(out.person.name.as_deref(), Some("张三"));
        assert_eq!(out.conflicts_opened, vec![Field::Name]);
    }

    #[test]
    fn a_normalisation_is_not_a_conflict() {
        let ps = merge_by_precedence(None, &named(Source::PublicSecurity, 1, "阿依·木呷")).person;
        let out = merge_by_precedence(Some(&ps), &named(Source::SelfReport, 2, " 阿依・木呷 "));
        assert!(out.conflicts_opened.is_empty());
        assert!(out.changed_fields.is_empty());
    }

    #[test]
    fn the_same_source_corrects_itself_without_conflict() {
        let mut first = obs(Source::PublicSecurity, 1);
        first.hukou_address = Some("东区1号".into());
        let mut moved = obs(Source::PublicSecurity, 9);
        moved.hukou_address = Some("西区2号".into());
        let p = fold(&[first, moved]);
        assert_eq!(p.hukou_address.as_deref(), Some("西区2号"));
        assert!(p.open_conflicts.is_empty());
    }

    #[test]
    fn gender_and_birth_date_follow_the_id() {
        let mut o = obs(Source::Survey, 1);
        o.gender = Some(Gender::Female);
        o.birth_date = NaiveDate::from_ymd_opt(1985, 3, 5);
        let out = merge_by_precedence(None, &o);
        assert_eq!(out.person.gender, Some(Gender::Male)); // sequence 231 is odd
        assert_eq!(out.person.birth_date, NaiveDate::from_ymd_opt(1985, 3, 4));
        let kinds: Vec<_> = out.corrections.iter().map(|c| c.kind).collect();
        assert_eq!(kinds, vec![CorrectionKind::GenderFromId, CorrectionKind::BirthDateFromId]);
    }

    #[test]
    fn contact_fields_take_the_most_recent_value_from_anyone() {
        let phone = |s: &str| Some(Phone::parse(s).unwrap().value);
        let mut a = obs(Source::Survey, 3);
        a.phone = phone("13800000001");
        let mut b = obs(Source::SelfReport, 5);
        b.phone = phone("13800000002");
        let mut c = obs(Source::CivilAffairs, 4);
        c.phone = phone("13800000003");
        for order in [[&a, &b, &c], [&c, &b, &a], [&b, &a, &c]] {
            let p = fold(&order.map(|o| o.clone()));
            assert_eq!(p.phone.as_ref().unwrap().as_str(), "13800000002");
            assert!(p.open_conflicts.is_empty());
        }
    }

    #[test]
    fn enrollments_come_only_from_hrss_and_health() {
        let e = |scheme, status| Enrollment { scheme, status, since: None, region: None, employer_credit_code: None };
        let mut civil = obs(Source::CivilAffairs, 1);
        civil.enrollments = vec![e(Scheme::ResidentMedical, EnrollmentStatus::Active)];
        let p = merge_by_precedence(None, &civil).person;
        assert!(p.enrollments.is_empty() && p.declared_insurance.is_empty());

        let mut health = obs(Source::Health, 2);
        health.enrollments = vec![e(Scheme::ResidentMedical, EnrollmentStatus::Active)];
        let mut hrss = obs(Source::Hrss, 3);
        hrss.enrollments = vec![e(Scheme::EnterprisePension, EnrollmentStatus::Active)];
        let mut later = obs(Source::Health, 4);
        later.enrollments = vec![e(Scheme::ResidentMedical, EnrollmentStatus::Terminated)];
        let out = merge_by_precedence(Some(&fold(&[health, hrss])), &later);
        assert_eq!(out.changed_enrollments, vec![Scheme::ResidentMedical]);
        assert_eq!(out.person.enrollments.len(), 2);
        assert_eq!(out.person.enrollment(Scheme::ResidentMedical).unwrap().status, EnrollmentStatus::Terminated);
        assert!(out.person.is_registered());

        let mut form = obs(Source::SelfReport, 5);
        form.enrollments = vec![e(Scheme::EmployeeMedical, EnrollmentStatus::Active)];
        let p = merge_by_precedence(Some(&out.person), &form).person;
        assert_eq!(p.enrollments.len(), 2);
        assert_eq!(p.declared_insurance.len(), 1);
    }

    #[test]
    fn deaths_come_from_public_security_or_civil_affairs_and_stay() {
        let mut dead = obs(Source::CivilAffairs, 2);
        dead.flags.insert(Flag::Deceased);
        dead.person_status_date = NaiveDate::from_ymd_opt(2024, 1, 1);
        let mut said_by_self = obs(Source::SelfReport, 1);
        said_by_self.person_status = Some(PersonStatus::Deceased);
        assert_eq!(merge_by_precedence(None, &said_by_self).person.person_status, PersonStatus::Normal);

        let p = merge_by_precedence(None, &dead).person;
        assert_eq!(p.person_status, PersonStatus::Deceased);
        assert!(p.flags.contains(&Flag::Deceased));
        let mut listed = obs(Source::PublicSecurity, 9);
        listed.person_status = Some(PersonStatus::Normal);
        assert_eq!(merge_by_precedence(Some(&p), &listed).person.person_status, PersonStatus::Deceased);

        let mut moved = obs(Source::PublicSecurity, 3);
        moved.person_status = Some(PersonStatus::MovedOut);
        let mut by_hrss = obs(Source::Hrss, 4);
        by_hrss.person_status = Some(PersonStatus::Normal);
        let p = fold(&[moved, by_hrss]);
        assert_eq!(p.person_status, PersonStatus::MovedOut);
    }

    #[test]
    fn employment_is_derived_only_without_a_form_value() {
        let mut student = obs(Source::Education, 1);
        student.flags.insert(Flag::Student);
        let staff = obs(Source::Staffing, 2);
        assert_eq!(fold(&[student.clone(), staff.clone()]).employment_status, Some(EmploymentStatus::Employed));
        assert_eq!(fold(&[staff.clone(), student.clone()]).employment_status, Some(EmploymentStatus::Employed));
        assert_eq!(fold(&[student.clone()]).employment_status, Some(EmploymentStatus::Student));

        let mut hrss_plain = obs(Source::Hrss, 3);
        hrss_plain.enrollments = vec![];
        assert_eq!(fold(&[hrss_plain]).employment_status, None);
        let mut hrss_employer = obs(Source::Hrss, 3);
        hrss_employer.employer_name = Some("攀钢集团".into());
        assert_eq!(fold(&[hrss_employer]).employment_status, Some(EmploymentStatus::Employed));

        let mut form = obs(Source::Survey, 1);
        form.employment_status = Some(EmploymentStatus::Flexible);
        for order in [vec![form.clone(), staff.clone()], vec![staff.clone(), form.clone()]] {
            assert_eq!(fold(&order).employment_status, Some(EmploymentStatus::Flexible));
        }
    }

    #[test]
    fn a_form_registers_the_person_once() {
        let out = merge_by_precedence(None, &obs(Source::SelfReport, 1));
        assert!(out.registration_recorded && out.person.is_registered());
        let again = merge_by_precedence(Some(&out.person), &obs(Source::Survey, 2));
        assert!(!again.registration_recorded);
    }

    // ----- properties -----------------------------------------------------------------------

    fn arb_observation() -> impl Strategy<Value = Observation> {
        let names = prop::sample::select(vec!["张三", "张 三", "张山", "李四", "阿依·木呷"]);
        let regions = prop::sample::select(vec!["510402", "510403", "510411001"]);
        let addresses = prop::sample::select(vec!["东区1号", "东区 1号", "西区2号"]);
        let phones = prop::sample::select(vec!["13800000001", "13800000002"]);
        (
            prop::sample::select(Source::ALL.to_vec()),
            1u32..28,
            prop::option::of(names),
            prop::option::of(prop::sample::select(vec![Gender::Male, Gender::Female])),
            prop::option::of(prop::sample::select(vec!["01", "07", "03"])),
            prop::option::of(addresses),
            prop::option::of(regions.clone()),
            prop::option::of(phones),
            prop::option::of(regions),
            prop::option::of(prop::sample::select(vec![PersonStatus::Normal, PersonStatus::Deceased, PersonStatus::MovedOut])),
            prop::option::of(prop::sample::select(Scheme::ALL.to_vec())),
            prop::option::of(prop::sample::select(EmploymentStatus::ALL.to_vec())),
        )
            .prop_map(|(source, day, name, gender, eth, addr, hukou, phone, residence, status, scheme, employment)| {
                let mut o = obs(source, day);
                o.name = name.map(str::to_owned);
                o.gender = gender;
                o.ethnicity = eth.map(|e| Ethnicity::parse(e).unwrap());
                o.hukou_address = addr.map(str::to_owned);
                o.hukou_region = hukou.map(region);
                o.phone = phone.map(|p| Phone::parse(p).unwrap().value);
                o.residence_region = residence.map(region);
                o.person_status = status;
                o.employment_status = employment.filter(|_| is_form(source));
                o.enrollments = scheme
                    .map(|scheme| Enrollment {
                        scheme,
                        status: EnrollmentStatus::Active,
                        since: None,
                        region: None,
                        employer_credit_code: None,
                    })
                    .into_iter()
                    .collect();
                o
            })
    }

    fn identity(p: &Person) -> Vec<Option<String>> {
        Field::IDENTITY.iter().map(|f| p.field_text(*f)).collect()
    }

    proptest! {
        #[test]
        fn applying_the_same_observation_twice_changes_nothing(
            history in prop::collection::vec(arb_observation(), 0..6),
            o in arb_observation(),
        ) {
            let before = if history.is_empty() { None } else { Some(fold(&history)) };
            let once = merge_by_precedence(before.as_ref(), &o);
            let twice = merge_by_precedence(Some(&once.person), &o);
            prop_assert!(!twice.is_changed(), "second application changed {:?} / {:?} / {:?}",
                twice.changed_fields, twice.changed_enrollments, twice.conflicts_updated);
            prop_assert_eq!(twice.person, once.person);
        }

        #[test]
        fn identity_does_not_depend_on_arrival_order(
            observations in prop::collection::vec(arb_observation(), 1..7),
            seed in any::<u64>(),
        ) {
            // Distinct sources: keep the first observation of each source.
            let mut seen = BTreeSet::new();
            let distinct: Vec<Observation> =
                observations.into_iter().filter(|o| seen.insert(o.provenance.source)).collect();
            let mut shuffled = distinct.clone();
            let mut state = seed | 1;
            for i in (1..shuffled.len()).rev() {
                state ^= state << 13; state ^= state >> 7; state ^= state << 17;
                shuffled.swap(i, (state % (i as u64 + 1)) as usize);
            }
            let a = fold(&distinct);
            let b = fold(&shuffled);
            prop_assert_eq!(identity(&a), identity(&b));
            prop_assert_eq!(a.open_conflicts.keys().collect::<Vec<_>>(), b.open_conflicts.keys().collect::<Vec<_>>());
            prop_assert_eq!(a.person_status, b.person_status);
        }
    }
}
