//! The ground truth: households and residents with everything the bureau would ideally know about
//! them (identity, hukou and residence, phone, job, employer, schemes, flags, status), plus the
//! units that employ them and the schools that teach them. Department files are views of this.

use crate::geo::Geography;
use crate::names;
use crate::rng::{Rng, Stream};
use canbao::codes::{EmploymentStatus, EnrollmentStatus, Ethnicity, Gender, PersonStatus, Scheme, UninsuredReason};
use canbao::ids::{CitizenId, CreditCode, OrgCode};
use chrono::{Datelike, NaiveDate};
use crate::rng::FxHashSet as HashSet;

/// An address: the region code it lies in (12-digit community, or a 6-digit county outside the
/// city) and its text.
#[derive(Debug, Clone)]
pub struct Address {
    /// The region code.
    pub region: String,
    /// The full address text.
    pub text: String,
}

/// One enrollment of the ground truth.
#[derive(Debug, Clone)]
pub struct Enrollment {
    /// The scheme (险种).
    pub scheme: Scheme,
    /// Its status.
    pub status: EnrollmentStatus,
    /// Since when.
    pub since: NaiveDate,
    /// The 6-digit county where the person is insured (参保地).
    pub region: String,
    /// The employing unit, for employee schemes.
    pub unit: Option<u32>,
}

/// One resident as the ground truth knows them.
#[derive(Debug, Clone)]
pub struct Person {
    /// The citizen ID.
    pub id: CitizenId,
    /// The name.
    pub name: String,
    /// The gender (always the one the ID encodes).
    pub gender: Gender,
    /// The ethnicity.
    pub ethnicity: Ethnicity,
    /// The birth date (always the one the ID encodes).
    pub birth: NaiveDate,
    /// The household (户) index.
    pub household: u32,
    /// Index of the hukou address in [`Population::addresses`].
    pub hukou: u32,
    /// Index of the residence address in [`Population::addresses`].
    pub residence: u32,
    /// The phone (children and some elderly carry a guardian's).
    pub phone: String,
    /// Employment status.
    pub employment: EmploymentStatus,
    /// Employing unit, index into [`Population::units`].
    pub employer: Option<u32>,
    /// Person status.
    pub status: PersonStatus,
    /// Date of death or moving out.
    pub status_date: Option<NaiveDate>,
    /// For the deceased: whether the household registry has recorded the death.
    pub death_in_registry: bool,
    /// For the deceased: whether civil affairs reports the death (cremation).
    pub death_in_civil_affairs: bool,
    /// Enrollments.
    pub enrollments: Vec<Enrollment>,
    /// Why not insured, if not.
    pub uninsured_reason: Option<UninsuredReason>,
    /// Minimum living allowance (低保).
    pub minimum_living: bool,
    /// Extreme poverty (特困).
    pub extreme_poverty: bool,
    /// School, index into [`Population::schools`], for students.
    pub school: Option<u32>,
    /// Willingness to enroll (参保意愿), for the uninsured.
    pub willing: bool,
}

impl Person {
    /// Age in whole years on `day`.
    pub fn age_on(&self, day: NaiveDate) -> i32 {
        age(self.birth, day)
    }
}

/// What kind of unit (参保单位) this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UnitKind {
    /// An enterprise registered by market regulation (credit code `91…`).
    Enterprise,
    /// A government body or public institution (`11…`/`12…`).
    PublicSector,
    /// An individual business (个体工商户, `92…`).
    Individual,
    /// An old unit known only by its organisation code.
    LegacyOrgOnly,
}

/// One unit.
#[derive(Debug, Clone)]
pub struct Unit {
    /// Unified social credit code (none for legacy units).
    pub credit: Option<CreditCode>,
    /// Organisation code (embedded in the credit code where there is one).
    pub org: OrgCode,
    /// Name.
    pub name: String,
    /// Kind.
    pub kind: UnitKind,
    /// County index into the geography.
    pub county: usize,
    /// Address text.
    pub address: String,
    /// Number of employees in the ground truth.
    pub employees: u32,
    /// In the Vanadium-Titanium Hi-tech Zone (钒钛高新区).
    pub in_park: bool,
    /// Whether the unit enrolls its employees in the employee schemes.
    pub enrolls_staff: bool,
    /// Still operating (存续); otherwise deregistered (注销).
    pub operating: bool,
}

/// A school.
#[derive(Debug, Clone)]
pub struct School {
    /// Name.
    pub name: String,
}

/// The whole ground truth.
#[derive(Debug)]
pub struct Population {
    /// The day the truth describes.
    pub as_of: NaiveDate,
    /// Residents, grouped by household.
    pub persons: Vec<Person>,
    /// Addresses referenced by persons.
    pub addresses: Vec<Address>,
    /// Units.
    pub units: Vec<Unit>,
    /// Schools.
    pub schools: Vec<School>,
}

impl Population {
    /// The hukou address of a person.
    pub fn hukou_of(&self, p: &Person) -> &Address {
        &self.addresses[p.hukou as usize]
    }

    /// The residence address of a person.
    pub fn residence_of(&self, p: &Person) -> &Address {
        &self.addresses[p.residence as usize]
    }

    /// Whether a person's hukou is inside the city.
    pub fn hukou_in_city(&self, p: &Person) -> bool {
        self.hukou_of(p).region.starts_with(crate::geo::CITY_PREFIX)
    }
}

/// Whole years between `birth` and `day`.
pub fn age(birth: NaiveDate, day: NaiveDate) -> i32 {
    let mut a = day.year() - birth.year();
    if (day.month(), day.day()) < (birth.month(), birth.day()) {
        a -= 1;
    }
    a
}

/// Share of the population by 5-year birth cohort (‰), 1930–2025, shaped like the 2020 census.
const COHORTS: &[(i32, u32)] = &[
    (1930, 8), (1936, 15), (1941, 25), (1946, 38), (1951, 50), (1956, 50), (1961, 75), (1966, 88),
    (1971, 80), (1976, 70), (1981, 70), (1986, 85), (1991, 75), (1996, 60), (2001, 55), (2006, 58),
    (2011, 63), (2016, 60), (2021, 40),
];

/// Ethnic mix per county (code, ‰): Panzhihua has many Yi (彝族), Lisu (傈僳族), Miao (苗族).
fn ethnic_mix(county_code: &str) -> &'static [(&'static str, u32)] {
    match county_code {
        "510402" | "510403" => &[("01", 930), ("07", 40), ("03", 8), ("20", 8), ("06", 6), ("14", 4), ("27", 4)],
        "510411" => &[("01", 850), ("07", 100), ("20", 25), ("06", 10), ("14", 10), ("03", 5)],
        "510421" => &[("01", 820), ("07", 110), ("20", 45), ("06", 15), ("14", 10)],
        _ => &[("01", 720), ("07", 200), ("20", 40), ("06", 20), ("27", 10), ("14", 10)],
    }
}

/// Address codes of places outside the city where some residents were born or have hukou.
pub const OUTSIDE_COUNTIES: &[(&str, &str)] = &[
    ("510104", "四川省成都市锦江区"), ("510107", "四川省成都市武侯区"), ("513401", "四川省西昌市"),
    ("511102", "四川省乐山市市中区"), ("530102", "云南省昆明市五华区"), ("532301", "云南省楚雄市"),
];

/// Mobile prefixes of the three carriers.
const MOBILE_PREFIXES: &[&str] = &[
    "130", "131", "132", "133", "135", "136", "137", "138", "139", "150", "151", "152", "153",
    "155", "156", "157", "158", "159", "177", "180", "181", "182", "183", "186", "187", "188",
    "189", "199",
];

/// Builds the ground truth for `people` residents.
pub fn generate(people: usize, seed: u64, as_of: NaiveDate, geo: &Geography) -> Population {
    let mut b = Builder {
        rng: Rng::new(seed, Stream::Population, 0),
        as_of,
        geo,
        persons: Vec::with_capacity(people + 8),
        addresses: Vec::with_capacity(people / 2),
        used_ids: HashSet::with_capacity_and_hasher(people + 8, Default::default()),
        cohort_weights: COHORTS.iter().map(|c| c.1).collect(),
    };
    let mut household = 0u32;
    while b.persons.len() < people {
        b.household(household, people - b.persons.len());
        household += 1;
    }
    let mut pop = Population { as_of, persons: b.persons, addresses: b.addresses, units: Vec::new(), schools: Vec::new() };
    let mut rng = Rng::new(seed, Stream::Units, 0);
    assign_units(&mut pop, &mut rng, geo);
    assign_schools(&mut pop, &mut rng, geo);
    let mut rng = Rng::new(seed, Stream::Population, 1);
    assign_schemes(&mut pop, &mut rng);
    pop
}

struct Builder<'a> {
    rng: Rng,
    as_of: NaiveDate,
    geo: &'a Geography,
    persons: Vec<Person>,
    addresses: Vec<Address>,
    used_ids: HashSet<u64>,
    cohort_weights: Vec<u32>,
}

impl Builder<'_> {
    /// A birth date drawn from the age pyramid within `[lo, hi]`, or None if the range is empty.
    fn birth_between(&mut self, lo: NaiveDate, hi: NaiveDate) -> Option<NaiveDate> {
        let first = NaiveDate::from_ymd_opt(1930, 1, 1).expect("date");
        let lo = lo.max(first);
        let hi = hi.min(self.as_of);
        if lo > hi {
            return None;
        }
        for _ in 0..8 {
            let i = self.rng.weighted(&self.cohort_weights);
            let start = COHORTS[i].0;
            let end = COHORTS.get(i + 1).map(|c| c.0).unwrap_or(2026);
            let y0 = NaiveDate::from_ymd_opt(start, 1, 1).expect("date").max(lo);
            let y1 = (NaiveDate::from_ymd_opt(end, 1, 1).expect("date") - chrono::Days::new(1)).min(hi);
            if y0 <= y1 {
                let span = (y1 - y0).num_days();
                return Some(y0 + chrono::Days::new(self.rng.range(0, span) as u64));
            }
        }
        let span = (hi - lo).num_days();
        Some(lo + chrono::Days::new(self.rng.range(0, span) as u64))
    }

    fn years_before(&self, years: i32) -> NaiveDate {
        let d = self.as_of;
        NaiveDate::from_ymd_opt(d.year() - years, d.month(), d.day().min(28)).expect("date")
    }

    fn new_address(&mut self, region: String, text: String) -> u32 {
        self.addresses.push(Address { region, text });
        (self.addresses.len() - 1) as u32
    }

    /// A street address inside a community.
    fn address_in(&mut self, county: usize, community: usize) -> (String, String) {
        let c = &self.geo.counties[county];
        let m = &c.communities[community];
        let street = self.rng.pick(names::STREETS);
        let no = self.rng.range(1, 420);
        // Demo community names already carry their county and township.
        let text = format!("四川省攀枝花市{}{}{}号", m.name, street, no);
        (m.code.clone(), text)
    }

    fn random_community(&mut self, county: usize) -> usize {
        self.rng.below(self.geo.counties[county].communities.len() as u64) as usize
    }

    fn phone(&mut self) -> String {
        let p = self.rng.pick(MOBILE_PREFIXES);
        format!("{}{:08}", p, self.rng.below(100_000_000))
    }

    fn landline(&mut self) -> String {
        format!("0812-{}{:06}", self.rng.range(2, 8), self.rng.below(1_000_000))
    }

    /// One household of at most `room` persons.
    fn household(&mut self, hh: u32, room: usize) {
        let rng = &mut self.rng;
        let county = rng.weighted(&self.geo.counties.iter().map(|c| c.weight).collect::<Vec<_>>());
        let outside_hukou = rng.chance(0.02);
        let community = self.random_community(county);
        let (res_region, res_text) = self.address_in(county, community);
        let residence = self.new_address(res_region.clone(), res_text.clone());
        // Hukou: mostly where they live; some moved within the city; a few registered elsewhere.
        let hukou = if outside_hukou {
            let (code, name) = *self.rng.pick(OUTSIDE_COUNTIES);
            let street = self.rng.pick(names::STREETS);
            let no = self.rng.range(1, 300);
            self.new_address(code.to_string(), format!("{name}{street}{no}号"))
        } else if self.rng.chance(0.12) {
            let other = if self.rng.chance(0.6) {
                self.rng.weighted(&self.geo.counties.iter().map(|c| c.weight).collect::<Vec<_>>())
            } else {
                county
            };
            let com = self.random_community(other);
            let (r, t) = self.address_in(other, com);
            self.new_address(r, t)
        } else {
            residence
        };
        let hukou_code = self.addresses[hukou as usize].region.clone();
        let hukou_county = hukou_code[..6].to_string();

        // Composition: single, couple, couple with children, three generations.
        let kind = self.rng.weighted(&[22, 28, 36, 14]);
        let mut members: Vec<(NaiveDate, bool)> = Vec::new();
        let adult_max = self.years_before(20);
        let head_birth = match self.birth_between(NaiveDate::from_ymd_opt(1930, 1, 1).expect("date"), adult_max) {
            Some(b) => b,
            None => return,
        };
        let head_male = self.rng.chance(0.55);
        members.push((head_birth, head_male));
        if kind >= 1 {
            let d = self.rng.range(-5 * 365, 3 * 365);
            let sb = (head_birth + chrono::Duration::days(d)).min(adult_max);
            let sb = sb.max(NaiveDate::from_ymd_opt(1930, 1, 1).expect("date"));
            members.push((sb, !head_male));
        }
        if kind >= 2 {
            let kids = 1 + self.rng.weighted(&[50, 38, 12]);
            for _ in 0..kids {
                let lo = add_years(head_birth, 21);
                let hi = add_years(head_birth, 40);
                if let Some(kb) = self.birth_between(lo, hi) {
                    let male = self.rng.chance(0.52);
                    members.push((kb, male));
                }
            }
        }
        if kind == 3 {
            let n = 1 + self.rng.weighted(&[70, 30]);
            for _ in 0..n {
                let lo = add_years(head_birth, -38);
                let hi = add_years(head_birth, -20);
                if let Some(gb) = self.birth_between(lo, hi) {
                    let male = self.rng.chance(0.45);
                    members.push((gb, male));
                }
            }
        }
        members.truncate(room.min(6));
        let family_surname = names::pick_surname(&mut self.rng).to_string();
        let mix = ethnic_mix(&hukou_county);
        let eth_code = *self.rng.pick_weighted(mix);
        let family_ethnicity = Ethnicity::parse(eth_code).expect("GB/T 3304 code");
        let family_phone = self.phone();
        let minimum_living = self.rng.chance(0.025);
        for (i, (birth, male)) in members.into_iter().enumerate() {
            // Head and children carry the family surname; spouses and grandparents their own.
            let own_surname = i == 1 || (kind == 3 && age(birth, head_birth) > 0 && birth < head_birth && i > 1);
            let name = if own_surname {
                names::full_name(&mut self.rng, None, male)
            } else {
                names::full_name(&mut self.rng, Some(&family_surname), male)
            };
            let ethnicity = if self.rng.chance(0.95) {
                family_ethnicity
            } else {
                Ethnicity::parse(self.rng.pick_weighted::<&str>(mix)).expect("GB/T 3304 code")
            };
            // Birth county: mostly the hukou county; some elsewhere in the city or province.
            let birth_county = if self.rng.chance(0.85) && hukou_county.starts_with(crate::geo::CITY_PREFIX) {
                hukou_county.clone()
            } else if self.rng.chance(0.6) {
                self.geo.counties[self.rng.below(self.geo.counties.len() as u64) as usize].code.clone()
            } else if hukou_county.starts_with(crate::geo::CITY_PREFIX) {
                self.rng.pick(OUTSIDE_COUNTIES).0.to_string()
            } else {
                hukou_county.clone()
            };
            let id = self.new_id(&birth_county, birth, male);
            let a = age(birth, self.as_of);
            let phone = if a < 14 || (a > 80 && self.rng.chance(0.5)) {
                family_phone.clone()
            } else if a > 65 && self.rng.chance(0.15) {
                self.landline()
            } else if i == 0 {
                family_phone.clone()
            } else {
                self.phone()
            };
            let employment = self.employment(a, male);
            let (status, status_date) = self.status(a);
            let (death_in_registry, death_in_civil_affairs) = if status == PersonStatus::Deceased {
                match self.rng.weighted(&[45, 25, 30]) {
                    0 => (true, true),
                    1 => (true, false),
                    _ => (false, true),
                }
            } else {
                (false, false)
            };
            let extreme_poverty = a >= 60 && self.rng.chance(0.004);
            self.persons.push(Person {
                id,
                name,
                gender: if male { Gender::Male } else { Gender::Female },
                ethnicity,
                birth,
                household: hh,
                hukou,
                residence,
                phone,
                employment,
                employer: None,
                status,
                status_date,
                death_in_registry,
                death_in_civil_affairs,
                enrollments: Vec::new(),
                uninsured_reason: None,
                minimum_living,
                extreme_poverty,
                school: None,
                willing: false,
            });
        }
    }

    /// A fresh valid ID for a person born on `birth` in `county`.
    fn new_id(&mut self, county: &str, birth: NaiveDate, male: bool) -> CitizenId {
        loop {
            let half = self.rng.below(500) as u16;
            let seq = half * 2 + u16::from(male);
            let id = CitizenId::from_parts(county, birth, seq);
            if self.used_ids.insert(id_key(&id)) {
                return id;
            }
        }
    }

    fn employment(&mut self, a: i32, male: bool) -> EmploymentStatus {
        use EmploymentStatus::*;
        let retire = if male { 60 } else { 55 };
        let r = &mut self.rng;
        match a {
            ..=5 => Preschool,
            6..=15 => Student,
            16..=17 => *r.pick_weighted(&[(Student, 85), (Farmer, 5), (Other, 5), (Unemployed, 5)]),
            18..=22 => *r.pick_weighted(&[(Student, 55), (Employed, 20), (Flexible, 10), (Unemployed, 6), (Farmer, 5), (Other, 4)]),
            _ if a < retire && a < 45 => *r.pick_weighted(&[(Employed, 48), (Flexible, 16), (Farmer, 22), (Unemployed, 7), (Other, 7)]),
            _ if a < retire => *r.pick_weighted(&[(Employed, 44), (Flexible, 15), (Farmer, 24), (Unemployed, 6), (Other, 5), (Retired, 6)]),
            _ => *r.pick_weighted(&[(Retired, 60), (Farmer, 30), (Other, 10)]),
        }
    }

    fn status(&mut self, a: i32) -> (PersonStatus, Option<NaiveDate>) {
        let p_dead = if a >= 80 { 0.05 } else if a >= 65 { 0.015 } else { 0.001 };
        let when = |r: &mut Rng, as_of: NaiveDate| Some(as_of - chrono::Days::new(r.range(10, 3 * 365) as u64));
        if self.rng.chance(p_dead) {
            (PersonStatus::Deceased, when(&mut self.rng, self.as_of))
        } else if (20..=50).contains(&a) && self.rng.chance(0.01) {
            (PersonStatus::MovedOut, when(&mut self.rng, self.as_of))
        } else {
            (PersonStatus::Normal, None)
        }
    }
}

/// `date` plus `years` (Feb 29 becomes Feb 28).
pub fn add_years(date: NaiveDate, years: i32) -> NaiveDate {
    NaiveDate::from_ymd_opt(date.year() + years, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(date.year() + years, date.month(), 28))
        .expect("date")
}

/// The first 17 digits of an ID as a number (for uniqueness sets).
pub fn id_key(id: &CitizenId) -> u64 {
    id.as_str()[..17].parse().expect("17 digits")
}

/// Units: employers sized to their employees, individual businesses, a few legacy units.
fn assign_units(pop: &mut Population, rng: &mut Rng, geo: &Geography) {
    let mut used_orgs: HashSet<String> = HashSet::default();
    let mut units: Vec<Unit> = Vec::new();
    let as_of = pop.as_of;
    // Employees by (county of residence, public sector?) in person order.
    let mut pools: Vec<Vec<Vec<u32>>> = vec![vec![Vec::new(), Vec::new()]; geo.counties.len()];
    for (i, p) in pop.persons.iter().enumerate() {
        let working = p.employment == EmploymentStatus::Employed
            || (p.employment == EmploymentStatus::Retired && rng.chance(0.0));
        if working && p.status == PersonStatus::Normal {
            let region = &pop.addresses[p.residence as usize].region;
            let county = geo.county_index(region).unwrap_or(0);
            let public = rng.chance(0.2);
            pools[county][usize::from(public)].push(i as u32);
        }
    }
    for (county, by_kind) in pools.into_iter().enumerate() {
        for (k, pool) in by_kind.into_iter().enumerate() {
            let public = k == 1;
            let mut at = 0;
            while at < pool.len() {
                let size = if public {
                    rng.range(5, 80) as usize
                } else {
                    let s = match rng.weighted(&[40, 35, 20, 5]) {
                        0 => rng.range(1, 5),
                        1 => rng.range(6, 20),
                        2 => rng.range(21, 100),
                        _ => rng.range(101, 800),
                    };
                    s as usize
                };
                let end = (at + size).min(pool.len());
                let kind = if public { UnitKind::PublicSector } else { UnitKind::Enterprise };
                let idx = units.len() as u32;
                units.push(new_unit(rng, geo, county, kind, (end - at) as u32, &mut used_orgs));
                for &pi in &pool[at..end] {
                    pop.persons[pi as usize].employer = Some(idx);
                }
                at = end;
            }
        }
    }
    // Individual businesses of the self-employed, and a few legacy units without a credit code.
    let flexible = pop.persons.iter().filter(|p| p.employment == EmploymentStatus::Flexible).count();
    for _ in 0..(flexible / 10).max(1) {
        let county = rng.below(geo.counties.len() as u64) as usize;
        units.push(new_unit(rng, geo, county, UnitKind::Individual, 0, &mut used_orgs));
    }
    for _ in 0..(units.len() / 40).max(1) {
        let county = rng.below(geo.counties.len() as u64) as usize;
        units.push(new_unit(rng, geo, county, UnitKind::LegacyOrgOnly, 0, &mut used_orgs));
    }
    let _ = as_of;
    pop.units = units;
}

/// The credit code alphabet minus letters, used for organisation code bodies (so they embed).
const ORG_LETTERS: &[u8] = b"ABCDEFGHJKLMNPQRTUWXY";

fn new_unit(rng: &mut Rng, geo: &Geography, county: usize, kind: UnitKind, employees: u32, used: &mut HashSet<String>) -> Unit {
    let c = &geo.counties[county];
    let org = loop {
        let body: String = if rng.chance(0.35) {
            let mut s = String::from("MA");
            for _ in 0..6 {
                if rng.chance(0.3) {
                    s.push(*rng.pick(ORG_LETTERS) as char);
                } else {
                    s.push((b'0' + rng.below(10) as u8) as char);
                }
            }
            s
        } else {
            format!("{:08}", rng.below(100_000_000))
        };
        let org = OrgCode::from_body(&body);
        if used.insert(org.as_str().to_string()) {
            break org;
        }
    };
    let (prefix, name) = match kind {
        UnitKind::Enterprise => {
            let w = rng.pick(names::FIRM_WORDS);
            let t = rng.pick(names::FIRM_TRADES);
            let form = if rng.chance(0.8) { "有限公司" } else { "有限责任公司" };
            ("91", format!("攀枝花市{w}{t}{form}"))
        }
        UnitKind::PublicSector => {
            let body = rng.pick(names::PUBLIC_BODIES);
            let cat = if body.ends_with('局') || body.ends_with('处') { "11" } else { "12" };
            (cat, format!("攀枝花市{}{}", c.name, body))
        }
        UnitKind::Individual => {
            let w = rng.pick(names::FIRM_WORDS);
            let shop = rng.pick(&["便利店", "餐馆", "五金店", "汽修店", "水果店", "理发店"]);
            ("92", format!("{}{}{w}{shop}", c.name, rng.pick(names::STREETS)))
        }
        UnitKind::LegacyOrgOnly => {
            let w = rng.pick(names::FIRM_WORDS);
            ("", format!("攀枝花市{w}{}厂", rng.pick(&["机械", "水泥", "砖", "农机修配", "印刷"])))
        }
    };
    // Names repeat across units; make them unique the way real registers do, with a branch.
    let name = format!("{name}{}", if rng.chance(0.5) { String::new() } else { format!("（{}分公司）", rng.range(1, 99)) });
    let credit = (kind != UnitKind::LegacyOrgOnly).then(|| CreditCode::from_parts(prefix, &c.code, org));
    let org = credit.map(|cc| cc.org_code()).unwrap_or(org);
    let address = format!("四川省攀枝花市{}{}{}号", c.name, rng.pick(names::STREETS), rng.range(1, 500));
    Unit {
        credit,
        org,
        name,
        kind,
        county,
        address,
        employees,
        in_park: kind == UnitKind::Enterprise && rng.chance(0.15),
        enrolls_staff: kind != UnitKind::Enterprise || rng.chance(0.93),
        operating: rng.chance(0.95),
    }
}

/// Schools per county; every student is given one near where they live.
fn assign_schools(pop: &mut Population, rng: &mut Rng, geo: &Geography) {
    let mut schools = Vec::new();
    let mut by_county: Vec<Vec<u32>> = Vec::new();
    for c in &geo.counties {
        let mut ids = Vec::new();
        for s in names::SCHOOLS {
            ids.push(schools.len() as u32);
            schools.push(School { name: format!("攀枝花市{}{}", c.name, s) });
        }
        by_county.push(ids);
    }
    for p in pop.persons.iter_mut() {
        if p.employment == EmploymentStatus::Student && p.status == PersonStatus::Normal {
            let county = geo.county_index(&pop.addresses[p.residence as usize].region).unwrap_or(0);
            p.school = Some(*rng.pick(&by_county[county]));
        }
    }
    pop.schools = schools;
}

/// Schemes from employment, age and employer; uninsured persons get a reason.
fn assign_schemes(pop: &mut Population, rng: &mut Rng) {
    use EmploymentStatus as E;
    use EnrollmentStatus::*;
    use Scheme::*;
    let as_of = pop.as_of;
    for i in 0..pop.persons.len() {
        let p = &pop.persons[i];
        let a = age(p.birth, as_of);
        let hukou_region = pop.addresses[p.hukou as usize].region.clone();
        let res_region = pop.addresses[p.residence as usize].region.clone();
        // Residents insure where their hukou is if it is in the city, else where they live.
        let local = if hukou_region.starts_with(crate::geo::CITY_PREFIX) { &hukou_region[..6] } else { &res_region[..6] };
        let local = local.to_string();
        // No enrollment starts after `as_of` (a minor with an adult scheme — a working 16-year-old
        // — starts on `as_of`): a start date in the future is one the registration form refuses.
        let adult_since = |r: &mut Rng| {
            let start = add_years(p.birth, 18).max(NaiveDate::from_ymd_opt(1995, 1, 1).expect("date")).min(as_of);
            let days = (as_of - start).num_days().max(1);
            start + chrono::Days::new(r.range(0, days - 1) as u64)
        };
        let child_since = |r: &mut Rng| {
            let start = p.birth.max(NaiveDate::from_ymd_opt(2008, 1, 1).expect("date"));
            let days = (as_of - start).num_days().max(1);
            start + chrono::Days::new(r.range(0, days - 1) as u64)
        };
        let mut e: Vec<Enrollment> = Vec::new();
        let mut reason = None;
        let unit = p.employer;
        let unit_info = unit.map(|u| &pop.units[u as usize]);
        let push = |e: &mut Vec<Enrollment>, scheme, status, since, region: &str, unit| {
            e.push(Enrollment { scheme, status, since, region: region.to_string(), unit })
        };
        match p.employment {
            E::Preschool | E::Student => {
                if rng.chance(0.95) {
                    let s = child_since(rng);
                    push(&mut e, ResidentMedical, Active, s, &local, None);
                }
            }
            E::Employed if unit_info.is_some() => {
                let u = unit_info.expect("checked");
                let region = geo_code_of_unit(u);
                if u.enrolls_staff {
                    let since = adult_since(rng);
                    if u.kind == UnitKind::PublicSector {
                        push(&mut e, PublicSectorPension, Active, since, &region, unit);
                        push(&mut e, EmployeeMedical, Active, since, &region, unit);
                        if rng.chance(0.03) {
                            // 110 and 120 at once: a transfer never closed.
                            push(&mut e, EnterprisePension, Active, since, &region, unit);
                        }
                    } else {
                        for s in [EnterprisePension, EmployeeMedical, Unemployment, WorkInjury, Maternity] {
                            push(&mut e, s, Active, since, &region, unit);
                        }
                    }
                    if rng.chance(0.04) {
                        // Also in the residents' medical scheme: duplicate enrollment.
                        let s = adult_since(rng);
                        push(&mut e, ResidentMedical, Active, s, &local, None);
                    }
                } else if rng.chance(0.5) {
                    let s = adult_since(rng);
                    push(&mut e, ResidentPension, Active, s, &local, None);
                    push(&mut e, ResidentMedical, Active, s, &local, None);
                } else {
                    reason = Some(UninsuredReason::Unwilling);
                }
            }
            E::Flexible => match rng.weighted(&[50, 38, 12]) {
                0 => {
                    let s = adult_since(rng);
                    push(&mut e, EnterprisePension, Active, s, &local, None);
                    push(&mut e, EmployeeMedical, Active, s, &local, None);
                }
                1 => {
                    let s = adult_since(rng);
                    push(&mut e, ResidentPension, Active, s, &local, None);
                    push(&mut e, ResidentMedical, Active, s, &local, None);
                }
                _ => reason = Some(*rng.pick(&[UninsuredReason::Unwilling, UninsuredReason::Hardship, UninsuredReason::InsuredElsewhere])),
            },
            E::Unemployed => {
                if rng.chance(0.6) {
                    let s = adult_since(rng);
                    push(&mut e, EnterprisePension, Suspended, s, &local, None);
                    if rng.chance(0.7) {
                        push(&mut e, ResidentMedical, Active, adult_since(rng), &local, None);
                    }
                } else {
                    reason = Some(*rng.pick(&[UninsuredReason::Hardship, UninsuredReason::Unwilling, UninsuredReason::Unreachable]));
                }
            }
            E::Retired => {
                let s = adult_since(rng);
                if rng.chance(0.25) {
                    push(&mut e, PublicSectorPension, Active, s, &local, None);
                } else {
                    push(&mut e, EnterprisePension, Active, s, &local, None);
                }
                push(&mut e, EmployeeMedical, Active, s, &local, None);
            }
            E::Farmer | E::Other | E::Employed => {
                if rng.chance(0.9) {
                    let s = adult_since(rng);
                    if a >= 16 {
                        push(&mut e, ResidentPension, Active, s, &local, None);
                        if rng.chance(0.02) {
                            // 170 and 110 at once.
                            push(&mut e, EnterprisePension, Active, adult_since(rng), &local, None);
                        }
                    }
                    push(&mut e, ResidentMedical, Active, s, &local, None);
                } else {
                    reason = Some(*rng.pick(&[
                        UninsuredReason::Unwilling,
                        UninsuredReason::Hardship,
                        UninsuredReason::InsuredElsewhere,
                        UninsuredReason::Abroad,
                        UninsuredReason::InCustody,
                        UninsuredReason::Unreachable,
                        UninsuredReason::Other,
                    ]));
                }
            }
        }
        if e.is_empty() && reason.is_none() {
            reason = Some(UninsuredReason::Other);
        }
        // The dead and the moved-out: enrollments end, except for a few pensions still paid
        // (benefits after death) — only ever one active scheme, so the anomalies stay distinct.
        let status = p.status;
        let status_date = p.status_date;
        if status != PersonStatus::Normal {
            let keep_one = status == PersonStatus::Deceased && rng.chance(0.3);
            let mut kept = false;
            for en in e.iter_mut() {
                let pension = matches!(en.scheme, EnterprisePension | PublicSectorPension | ResidentPension);
                if keep_one && pension && !kept && en.status == Active {
                    kept = true;
                    continue;
                }
                en.status = Terminated;
            }
            let _ = status_date;
        }
        let willing = reason.is_some() && rng.chance(0.4);
        let p = &mut pop.persons[i];
        p.enrollments = e;
        p.uninsured_reason = reason;
        p.willing = willing;
    }
}

/// The 6-digit county code a unit is registered in.
fn geo_code_of_unit(u: &Unit) -> String {
    match &u.credit {
        Some(c) => c.region_code().to_string(),
        None => String::new(),
    }
}
