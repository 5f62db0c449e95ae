//! The test oracle: a deliberately simple model of what the base database must hold after the
//! files and registrations are loaded in the canonical order, built from the generator's own
//! knowledge of each row (never by parsing the files, never with intake code), and the figures
//! of DOMAIN §7 computed from it. Every reading of DOMAIN this model makes is listed in README.md.

use crate::geo::{Geography, CITY_PREFIX};
use canbao::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Gender, PersonStatus, Scheme, Source};
use canbao::ids::CitizenId;
use chrono::NaiveDate;
use serde::Serialize;
use crate::rng::{fx_hash, FxHashMap as HashMap};
use std::collections::BTreeMap;

/// A civil-affairs category (类别).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum CivilCategory {
    /// 低保.
    MinimumLiving,
    /// 特困.
    ExtremePoverty,
    /// 死亡.
    Death,
}

impl CivilCategory {
    /// As written in the file.
    pub fn zh(self) -> &'static str {
        match self {
            CivilCategory::MinimumLiving => "低保",
            CivilCategory::ExtremePoverty => "特困",
            CivilCategory::Death => "死亡",
        }
    }
}

/// What one accepted row or registration tells the database about a person, after cleaning.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    /// Identity: name.
    pub name: Option<String>,
    /// Identity: gender.
    pub gender: Option<Gender>,
    /// Identity: ethnicity.
    pub ethnicity: Option<Ethnicity>,
    /// Identity: birth date.
    pub birth: Option<NaiveDate>,
    /// Identity: hukou address (its hash; only equality matters).
    pub hukou_address: Option<u64>,
    /// Identity: hukou region code.
    pub hukou_region: Option<String>,
    /// Contact: a residence address is given.
    pub residence_address: bool,
    /// Contact: residence region code.
    pub residence_region: Option<String>,
    /// Contact: a phone is given.
    pub phone: bool,
    /// Registry status (public_security only).
    pub person_status: Option<PersonStatus>,
    /// An enrollment (hrss/health only).
    pub enrollment: Option<(Scheme, EnrollmentStatus)>,
    /// An hrss row naming an employer.
    pub employer_named: bool,
    /// Listed as staff by staffing or hitech_zone.
    pub listed_staff: bool,
    /// Listed by education.
    pub listed_student: bool,
    /// A civil-affairs category.
    pub civil: Option<CivilCategory>,
    /// An explicit employment status (survey/self).
    pub employment: Option<EmploymentStatus>,
    /// An uninsured reason is given (survey/self).
    pub uninsured_reason: bool,
    /// This is a survey or self registration.
    pub form: bool,
}

const F_NAME: u8 = 1;
const F_GENDER: u8 = 2;
const F_ETHNICITY: u8 = 4;
const F_BIRTH: u8 = 8;
const F_HUKOU_ADDRESS: u8 = 16;
const F_HUKOU_REGION: u8 = 32;

/// One person as the database holds them.
#[derive(Debug, Clone)]
pub struct SimPerson {
    /// The ID.
    pub id: CitizenId,
    name: Option<(String, u8)>,
    gender: Option<(Gender, u8)>,
    ethnicity: Option<(Ethnicity, u8)>,
    birth: Option<(NaiveDate, u8)>,
    hukou_address: Option<(u64, u8)>,
    hukou_region: Option<(String, u8)>,
    residence_address: bool,
    residence_region: Option<String>,
    phone: bool,
    employment: Option<EmploymentStatus>,
    employer_named: bool,
    listed_staff: bool,
    listed_student: bool,
    registry_status: Option<PersonStatus>,
    civil_death: bool,
    enrollments: [Option<EnrollmentStatus>; 8],
    uninsured_reason: bool,
    form: bool,
    open_conflicts: u8,
    created_in: u32,
    touched_in: u32,
}

/// Index of a scheme in `SimPerson::enrollments`.
fn scheme_index(s: Scheme) -> usize {
    Scheme::ALL.iter().position(|x| *x == s).expect("scheme listed")
}

impl SimPerson {
    /// The person status the database derives: deceased if the registry or civil affairs says
    /// so, else the registry's, else normal.
    pub fn status(&self) -> PersonStatus {
        if self.civil_death || self.registry_status == Some(PersonStatus::Deceased) {
            PersonStatus::Deceased
        } else {
            self.registry_status.unwrap_or(PersonStatus::Normal)
        }
    }

    /// The name held (the best-ranked one).
    pub fn name(&self) -> Option<&str> {
        self.name.as_ref().map(|n| n.0.as_str())
    }

    /// The region a person is attributed to: `by_residence` false = hukou, residence, ID;
    /// true = residence, hukou, ID.
    pub fn attributed_region(&self) -> [&str; 3] {
        let id = self.id.county_code();
        let hukou = self.hukou_region.as_ref().map(|h| h.0.as_str()).unwrap_or("");
        let res = self.residence_region.as_deref().unwrap_or("");
        [hukou, res, id]
    }

    fn region_by(&self, by_residence: bool) -> &str {
        let [hukou, res, id] = self.attributed_region();
        let order = if by_residence { [res, hukou, id] } else { [hukou, res, id] };
        order.into_iter().find(|r| !r.is_empty()).unwrap_or(id)
    }

    fn has_enrollment(&self) -> bool {
        self.enrollments.iter().any(Option::is_some)
    }

    fn active(&self, s: Scheme) -> bool {
        self.enrollments[scheme_index(s)] == Some(EnrollmentStatus::Active)
    }

    fn employment_known(&self) -> bool {
        self.employment.is_some() || self.employer_named || self.listed_staff || self.listed_student
    }

    /// Presence of each mandatory field (DOMAIN §4), in [`MANDATORY`] order.
    fn mandatory(&self) -> [bool; 10] {
        [
            true,
            self.name.is_some(),
            self.gender.is_some(),
            self.ethnicity.is_some(),
            self.birth.is_some(),
            self.hukou_region.is_some(),
            self.residence_address,
            self.phone,
            self.employment_known(),
            self.has_enrollment() || self.uninsured_reason,
        ]
    }
}

/// The mandatory fields of a complete record, in the order fill rates are reported.
pub const MANDATORY: [&str; 10] = [
    "id_number",
    "name",
    "gender",
    "ethnicity",
    "birth_date",
    "hukou_region",
    "residence_address",
    "phone",
    "employment_status",
    "insurance",
];

/// What applying one row did.
#[derive(Debug, Clone, Copy, Default)]
pub struct Applied {
    /// The person did not exist before this file.
    pub new_person: bool,
    /// First row of this file for a person that existed before it.
    pub updated_person: bool,
    /// Conflicts newly opened.
    pub conflicts: u32,
    /// Disagreements DOMAIN does not settle (equal rank, or a better source after a worse one);
    /// the generator avoids them, so this stays 0.
    pub ambiguous: u32,
}

/// The simulated base database.
#[derive(Debug, Default)]
pub struct Sim {
    index: HashMap<CitizenId, u32>,
    /// Persons in order of creation.
    pub persons: Vec<SimPerson>,
}

/// The hash the simulation keeps of a hukou address (only equality matters).
pub fn hash_text(s: &str) -> u64 {
    fx_hash(s)
}

/// Merges one identity value by precedence; returns (new conflict, ambiguous).
fn merge<T: PartialEq>(slot: &mut Option<(T, u8)>, v: T, rank: u8, open: &mut u8, bit: u8) -> (bool, bool) {
    match slot {
        None => {
            *slot = Some((v, rank));
            (false, false)
        }
        Some((cur, cr)) if *cur == v => {
            *cr = (*cr).min(rank);
            (false, false)
        }
        Some((_, cr)) if rank > *cr => {
            let new = *open & bit == 0;
            *open |= bit;
            (new, false)
        }
        Some(_) => {
            *slot = Some((v, rank));
            (false, true)
        }
    }
}

impl Sim {
    /// The person with this ID, if known.
    pub fn get(&self, id: &CitizenId) -> Option<&SimPerson> {
        self.index.get(id).map(|&i| &self.persons[i as usize])
    }

    /// Whether the name of `id` is held from public_security (rank 0) with no open conflict.
    pub fn name_from_registry(&self, id: &CitizenId) -> bool {
        self.get(id).is_some_and(|p| {
            p.name.as_ref().is_some_and(|n| n.1 == 0) && p.ethnicity.as_ref().is_some_and(|e| e.1 == 0) && p.open_conflicts == 0
        })
    }

    /// Whether `id` has at least one enrollment record.
    pub fn has_enrollment(&self, id: &CitizenId) -> bool {
        self.get(id).is_some_and(SimPerson::has_enrollment)
    }

    /// Applies one accepted row of file number `file` (1-based, in load order) from `source`.
    pub fn apply(&mut self, file: u32, source: Source, id: CitizenId, f: &Facts) -> Applied {
        let mut out = Applied::default();
        let i = match self.index.get(&id) {
            Some(&i) => i as usize,
            None => {
                self.persons.push(SimPerson {
                    id,
                    name: None,
                    gender: None,
                    ethnicity: None,
                    birth: None,
                    hukou_address: None,
                    hukou_region: None,
                    residence_address: false,
                    residence_region: None,
                    phone: false,
                    employment: None,
                    employer_named: false,
                    listed_staff: false,
                    listed_student: false,
                    registry_status: None,
                    civil_death: false,
                    enrollments: [None; 8],
                    uninsured_reason: false,
                    form: false,
                    open_conflicts: 0,
                    created_in: file,
                    touched_in: 0,
                });
                self.index.insert(id, (self.persons.len() - 1) as u32);
                self.persons.len() - 1
            }
        };
        let p = &mut self.persons[i];
        if p.touched_in != file {
            p.touched_in = file;
            if p.created_in == file {
                out.new_person = true;
            } else {
                out.updated_person = true;
            }
        }
        let rank = source.identity_rank();
        let mut note = |(c, a): (bool, bool)| {
            out.conflicts += u32::from(c);
            out.ambiguous += u32::from(a);
        };
        if let Some(v) = &f.name {
            if p.name.as_ref().is_none_or(|n| n.0 != *v) {
                note(merge(&mut p.name, v.clone(), rank, &mut p.open_conflicts, F_NAME));
            } else if let Some(n) = p.name.as_mut() {
                n.1 = n.1.min(rank);
            }
        }
        if let Some(v) = f.gender {
            note(merge(&mut p.gender, v, rank, &mut p.open_conflicts, F_GENDER));
        }
        if let Some(v) = f.ethnicity {
            note(merge(&mut p.ethnicity, v, rank, &mut p.open_conflicts, F_ETHNICITY));
        }
        if let Some(v) = f.birth {
            note(merge(&mut p.birth, v, rank, &mut p.open_conflicts, F_BIRTH));
        }
        if let Some(v) = f.hukou_address {
            note(merge(&mut p.hukou_address, v, rank, &mut p.open_conflicts, F_HUKOU_ADDRESS));
        }
        if let Some(v) = &f.hukou_region {
            if p.hukou_region.as_ref().is_none_or(|n| n.0 != *v) {
                note(merge(&mut p.hukou_region, v.clone(), rank, &mut p.open_conflicts, F_HUKOU_REGION));
            } else if let Some(n) = p.hukou_region.as_mut() {
                n.1 = n.1.min(rank);
            }
        }
        p.residence_address |= f.residence_address;
        if let Some(r) = &f.residence_region {
            if p.residence_region.as_deref() != Some(r.as_str()) {
                p.residence_region = Some(r.clone());
            }
        }
        p.phone |= f.phone;
        if let Some(e) = f.employment {
            p.employment = Some(e);
        }
        p.employer_named |= f.employer_named;
        p.listed_staff |= f.listed_staff;
        p.listed_student |= f.listed_student;
        if let Some(s) = f.person_status {
            p.registry_status = Some(s);
        }
        if f.civil == Some(CivilCategory::Death) {
            p.civil_death = true;
        }
        if let Some((scheme, status)) = f.enrollment {
            p.enrollments[scheme_index(scheme)] = Some(status);
        }
        p.uninsured_reason |= f.uninsured_reason;
        p.form |= f.form;
        out
    }
}

/// The figures of DOMAIN §7 for one region.
#[derive(Debug, Clone, Serialize, Default, PartialEq)]
pub struct Figures {
    /// Region code (6-digit county, or 510400 for the city).
    pub region: String,
    /// Region name.
    pub name: String,
    /// 应登记: persons attributed here with status normal.
    pub target_population: u64,
    /// 已登记: target persons with an enrollment record or a survey/self registration.
    pub registered: u64,
    /// registered / target_population.
    pub registration_rate: f64,
    /// Registered persons with every mandatory field.
    pub complete: u64,
    /// complete / registered.
    pub completeness_rate: f64,
    /// Registered persons having each mandatory field.
    pub fill_counts: BTreeMap<String, u64>,
    /// fill_counts / registered.
    pub fill_rates: BTreeMap<String, f64>,
    /// Target persons with ≥ 1 active enrollment.
    pub insured: u64,
    /// target_population − insured.
    pub uninsured: u64,
    /// Target persons active in each scheme.
    pub active_by_scheme: BTreeMap<String, u64>,
    /// active_by_scheme / target_population.
    pub coverage: BTreeMap<String, f64>,
    /// Persons attributed here active in 310+390, 170+(110|120) or 110+120.
    pub duplicate_enrollment: u64,
    /// Deceased persons attributed here with an active enrollment.
    pub benefits_after_death: u64,
}

fn rate(n: u64, d: u64) -> f64 {
    if d == 0 { 0.0 } else { n as f64 / d as f64 }
}

impl Figures {
    fn add_person(&mut self, p: &SimPerson) {
        let status = p.status();
        let active: Vec<Scheme> = Scheme::ALL.iter().copied().filter(|s| p.active(*s)).collect();
        let a = |s: Scheme| active.contains(&s);
        use Scheme::*;
        if (a(EmployeeMedical) && a(ResidentMedical))
            || (a(ResidentPension) && (a(EnterprisePension) || a(PublicSectorPension)))
            || (a(EnterprisePension) && a(PublicSectorPension))
        {
            self.duplicate_enrollment += 1;
        }
        if status == PersonStatus::Deceased && !active.is_empty() {
            self.benefits_after_death += 1;
        }
        if status != PersonStatus::Normal {
            return;
        }
        self.target_population += 1;
        if !active.is_empty() {
            self.insured += 1;
        }
        for s in &active {
            *self.active_by_scheme.entry(s.code().to_string()).or_default() += 1;
        }
        if p.has_enrollment() || p.form {
            self.registered += 1;
            let m = p.mandatory();
            for (field, present) in MANDATORY.iter().zip(m) {
                *self.fill_counts.entry(field.to_string()).or_default() += u64::from(present);
            }
            if m.iter().all(|x| *x) {
                self.complete += 1;
            }
        }
    }

    fn add(&mut self, o: &Figures) {
        self.target_population += o.target_population;
        self.registered += o.registered;
        self.complete += o.complete;
        self.insured += o.insured;
        self.duplicate_enrollment += o.duplicate_enrollment;
        self.benefits_after_death += o.benefits_after_death;
        for (k, v) in &o.fill_counts {
            *self.fill_counts.entry(k.clone()).or_default() += v;
        }
        for (k, v) in &o.active_by_scheme {
            *self.active_by_scheme.entry(k.clone()).or_default() += v;
        }
    }

    fn finish(&mut self) {
        for f in MANDATORY {
            self.fill_counts.entry(f.to_string()).or_default();
        }
        for s in Scheme::ALL {
            self.active_by_scheme.entry(s.code().to_string()).or_default();
        }
        self.uninsured = self.target_population - self.insured;
        self.registration_rate = rate(self.registered, self.target_population);
        self.completeness_rate = rate(self.complete, self.registered);
        self.fill_rates = self.fill_counts.iter().map(|(k, v)| (k.clone(), rate(*v, self.registered))).collect();
        self.coverage = self.active_by_scheme.iter().map(|(k, v)| (k.clone(), rate(*v, self.target_population))).collect();
    }
}

/// The figures for the city (first) and each county, attributing by hukou or by residence.
pub fn figures(sim: &Sim, geo: &Geography, by_residence: bool) -> Vec<Figures> {
    let mut counties: Vec<Figures> = geo
        .counties
        .iter()
        .map(|c| Figures { region: c.code.clone(), name: c.name.clone(), ..Default::default() })
        .collect();
    for p in &sim.persons {
        let region = p.region_by(by_residence);
        if !region.starts_with(CITY_PREFIX) {
            continue;
        }
        if let Some(ci) = geo.county_index(region) {
            counties[ci].add_person(p);
        }
    }
    let mut city = Figures { region: "510400".into(), name: "攀枝花市".into(), ..Default::default() };
    for c in &counties {
        city.add(c);
    }
    let mut all = vec![city];
    all.extend(counties);
    for f in &mut all {
        f.finish();
    }
    all
}

/// A pair of IDs that may belong to one person (一人多号), for review.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, PartialOrd, Ord)]
pub struct CandidatePair {
    /// The smaller ID.
    pub a: String,
    /// The larger ID.
    pub b: String,
    /// Which rules matched: `same_details` (same name, birth date, gender and county — the
    /// county the person is attributed to by hukou), `similar_id` (same name; the first 17
    /// characters differ in one place or by swapping two adjacent ones).
    pub rules: Vec<&'static str>,
}

/// Whether the first 17 characters of two IDs differ in one place or by one adjacent swap:
/// Some("similar_id").
fn near(a: &[u8], b: &[u8]) -> Option<&'static str> {
    let diffs: Vec<usize> = (0..17).filter(|&i| a[i] != b[i]).collect();
    match diffs.as_slice() {
        [_] => Some("similar_id"),
        [i, j] if *j == i + 1 && a[*i] == b[*j] && a[*j] == b[*i] => Some("similar_id"),
        _ => None,
    }
}

/// Birth date, gender and attributed county: with the name, the `same_details` rule's key.
type SameAttributes<'a> = (Option<NaiveDate>, Option<Gender>, &'a str);

/// Every candidate pair among the persons the database holds (all statuses).
pub fn candidate_pairs(sim: &Sim) -> Vec<CandidatePair> {
    let mut by_name: HashMap<&str, Vec<usize>> = HashMap::default();
    for (i, p) in sim.persons.iter().enumerate() {
        if let Some(n) = p.name() {
            by_name.entry(n).or_default().push(i);
        }
    }
    let mut pairs: BTreeMap<(String, String), Vec<&'static str>> = BTreeMap::new();
    let mut add = |x: &SimPerson, y: &SimPerson, rule: &'static str| {
        let (a, b) = if x.id.as_str() < y.id.as_str() { (x, y) } else { (y, x) };
        let e = pairs.entry((a.id.as_str().to_string(), b.id.as_str().to_string())).or_default();
        if !e.contains(&rule) {
            e.push(rule);
            e.sort();
        }
    };
    for group in by_name.values().filter(|g| g.len() > 1) {
        // Same name, birth date, gender and address code.
        let mut same: HashMap<SameAttributes, Vec<usize>> = HashMap::default();
        for &i in group {
            let p = &sim.persons[i];
            let county = p.region_by(false);
            let county = &county[..county.len().min(6)];
            same.entry((p.birth.map(|b| b.0), p.gender.map(|g| g.0), county)).or_default().push(i);
        }
        for g in same.values().filter(|g| g.len() > 1) {
            for (k, &x) in g.iter().enumerate() {
                for &y in &g[k + 1..] {
                    add(&sim.persons[x], &sim.persons[y], "same_details");
                }
            }
        }
        // Near IDs: pairwise in small groups, by masked keys in large ones.
        if group.len() <= 400 {
            for (k, &x) in group.iter().enumerate() {
                for &y in &group[k + 1..] {
                    let (px, py) = (&sim.persons[x], &sim.persons[y]);
                    if let Some(rule) = near(px.id.as_str().as_bytes(), py.id.as_str().as_bytes()) {
                        add(px, py, rule);
                    }
                }
            }
        } else {
            let mut buckets: HashMap<(usize, [u8; 17]), Vec<usize>> = HashMap::default();
            for &i in group {
                let b: [u8; 17] = sim.persons[i].id.as_str().as_bytes()[..17].try_into().expect("17 bytes");
                for pos in 0..17 {
                    let mut k = b;
                    k[pos] = b'*';
                    buckets.entry((pos, k)).or_default().push(i);
                }
                for pos in 0..16 {
                    let mut k = b;
                    let (lo, hi) = (k[pos].min(k[pos + 1]), k[pos].max(k[pos + 1]));
                    k[pos] = lo;
                    k[pos + 1] = hi;
                    buckets.entry((100 + pos, k)).or_default().push(i);
                }
            }
            for g in buckets.values().filter(|g| g.len() > 1) {
                for (k, &x) in g.iter().enumerate() {
                    for &y in &g[k + 1..] {
                        let (px, py) = (&sim.persons[x], &sim.persons[y]);
                        if let Some(rule) = near(px.id.as_str().as_bytes(), py.id.as_str().as_bytes()) {
                            add(px, py, rule);
                        }
                    }
                }
            }
        }
    }
    pairs.into_iter().map(|((a, b), rules)| CandidatePair { a, b, rules }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A valid ID from its first 17 digits.
    fn id(s: &str) -> CitizenId {
        let birth = NaiveDate::parse_from_str(&s[6..14], "%Y%m%d").unwrap();
        CitizenId::from_parts(&s[..6], birth, s[14..17].parse().unwrap())
    }

    fn named(name: &str) -> Facts {
        Facts { name: Some(name.into()), ..Default::default() }
    }

    #[test]
    fn a_lower_ranked_name_opens_one_conflict_and_never_overwrites() {
        let mut sim = Sim::default();
        let p = id("11010519491231002X");
        assert!(sim.apply(1, Source::PublicSecurity, p, &named("张三")).new_person);
        let a = sim.apply(2, Source::Hrss, p, &named("张山"));
        assert_eq!((a.conflicts, a.ambiguous, a.updated_person), (1, 0, true));
        // A second competing value joins the open conflict; the registry's value stays.
        assert_eq!(sim.apply(3, Source::SelfReport, p, &named("章三")).conflicts, 0);
        assert_eq!(sim.get(&p).unwrap().name(), Some("张三"));
        // Equal ranks that disagree are what the generator must avoid.
        let q = id("510402199001010011");
        sim.apply(4, Source::Hrss, q, &named("李四"));
        assert_eq!(sim.apply(5, Source::Health, q, &named("李思")).ambiguous, 1);
    }

    #[test]
    fn status_and_figures_follow_domain_definitions() {
        let geo = Geography::panzhihua_demo();
        let mut sim = Sim::default();
        let alive = id("510402199001010011");
        let dead = id("510402194001010016");
        let outside = id("510104199001010013");
        let hukou = Some("510402001001".to_string());
        let base = Facts { name: Some("王五".into()), hukou_region: hukou, ..Default::default() };
        sim.apply(1, Source::PublicSecurity, alive, &base);
        sim.apply(1, Source::PublicSecurity, dead, &base);
        sim.apply(2, Source::Hrss, alive, &Facts { enrollment: Some((Scheme::EmployeeMedical, EnrollmentStatus::Active)), ..Default::default() });
        sim.apply(3, Source::Health, alive, &Facts { enrollment: Some((Scheme::ResidentMedical, EnrollmentStatus::Active)), ..Default::default() });
        sim.apply(2, Source::Hrss, dead, &Facts { enrollment: Some((Scheme::ResidentPension, EnrollmentStatus::Active)), ..Default::default() });
        sim.apply(4, Source::CivilAffairs, dead, &Facts { civil: Some(CivilCategory::Death), ..Default::default() });
        // No region at all: attributed by the ID's address code, outside the city.
        sim.apply(2, Source::Hrss, outside, &Facts { enrollment: Some((Scheme::EnterprisePension, EnrollmentStatus::Active)), ..Default::default() });
        let f = figures(&sim, &geo, false);
        let city = &f[0];
        assert_eq!((city.target_population, city.registered, city.insured), (1, 1, 1));
        assert_eq!((city.duplicate_enrollment, city.benefits_after_death), (1, 1));
        assert_eq!(city.complete, 0, "no phone, residence address or employment status");
        assert_eq!(f[1].region, "510402");
        assert_eq!(f[1].target_population, 1);
    }

    #[test]
    fn near_ids_compare_the_first_17_characters() {
        assert_eq!(near(b"510402199001010011", b"510402199001010021"), Some("similar_id"));
        assert_eq!(near(b"510402199001010120", b"510402199001011020"), Some("similar_id"));
        assert_eq!(near(b"510402199001010011", b"510402199001010011"), None);
        assert_eq!(near(b"510402199001010011", b"510402199101020011"), None);
    }
}
