//! The figures of DOMAIN §7, each computed by one documented query over the base database:
//! target population, registered, complete, each mandatory field's fill, insured, coverage per
//! scheme, duplicate enrollment and benefits after death — for a region and each of its child
//! regions, attributing persons by hukou or by residence. `persons` carries the attributed
//! regions and the registered/complete/missing columns, maintained by `store` on every save, and
//! the mask of schemes with an active enrollment, maintained by triggers (migration 0010), so
//! every figure is an aggregate over one range of one covering index.

use crate::codes::Scheme;
use crate::completeness::MANDATORY_FIELDS;
use crate::regions::RegionCode;
use crate::storage::{Sql, StorageError};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The registration-rate target (登记率 ≥ 90%).
pub const REGISTRATION_TARGET: f64 = 0.90;
/// The completeness-rate target (完整率 ≥ 80%).
pub const COMPLETENESS_TARGET: f64 = 0.80;

/// How a person is attributed to a region (DOMAIN §7).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Attribute {
    /// Hukou region, else residence, else the ID's address code (the default).
    Hukou,
    /// Residence region, else hukou, else the ID's address code.
    Residence,
}

impl Attribute {
    /// Parses `hukou` or `residence`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "hukou" => Some(Attribute::Hukou),
            "residence" => Some(Attribute::Residence),
            _ => None,
        }
    }

    /// The code as written in requests.
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Hukou => "hukou",
            Attribute::Residence => "residence",
        }
    }

    /// The `persons` column holding the region a person is attributed to this way.
    pub fn column(self) -> &'static str {
        match self {
            Attribute::Hukou => "region_hukou",
            Attribute::Residence => "region_residence",
        }
    }
}

/// The figures of one region.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// Region code.
    pub region: String,
    /// 应登记: persons attributed here with person_status `normal`.
    pub target_population: u64,
    /// 已登记: target persons with an enrollment from hrss/health or a survey/self registration.
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
    /// Persons attributed here active in 310+390, 170+(110|120) or 110+120 (any person status).
    pub duplicate_enrollment: u64,
    /// Deceased persons attributed here with an enrollment still active.
    pub benefits_after_death: u64,
}

impl Figures {
    /// Whether the registration rate meets its 90% target.
    pub fn registration_target_met(&self) -> bool {
        self.registration_rate >= REGISTRATION_TARGET
    }

    /// Whether the completeness rate meets its 80% target.
    pub fn completeness_target_met(&self) -> bool {
        self.completeness_rate >= COMPLETENESS_TARGET
    }

    /// The figures of a region from those of the groups that partition it (what
    /// [`figures_grouped`] returns for it): every count is a sum, every rate recomputed. Saves the
    /// second scan of the region when its children's figures are wanted anyway.
    pub fn total(region: RegionCode, parts: &[Figures]) -> Figures {
        let mut t = Figures { region: region.as_str().to_string(), ..Figures::default() };
        MANDATORY_FIELDS.iter().for_each(|m| {
            t.fill_counts.insert(m.as_str().to_string(), 0);
        });
        Scheme::ALL.iter().for_each(|s| {
            t.active_by_scheme.insert(s.code().to_string(), 0);
        });
        for p in parts {
            t.target_population += p.target_population;
            t.registered += p.registered;
            t.complete += p.complete;
            t.insured += p.insured;
            t.duplicate_enrollment += p.duplicate_enrollment;
            t.benefits_after_death += p.benefits_after_death;
            for (k, v) in &p.fill_counts {
                *t.fill_counts.entry(k.clone()).or_default() += v;
            }
            for (k, v) in &p.active_by_scheme {
                *t.active_by_scheme.entry(k.clone()).or_default() += v;
            }
        }
        t.finish();
        t
    }

    fn finish(&mut self) {
        let rate = |n: u64, d: u64| if d == 0 { 0.0 } else { n as f64 / d as f64 };
        self.uninsured = self.target_population - self.insured;
        self.registration_rate = rate(self.registered, self.target_population);
        self.completeness_rate = rate(self.complete, self.registered);
        self.fill_rates = self.fill_counts.iter().map(|(k, v)| (k.clone(), rate(*v, self.registered))).collect();
        self.coverage =
            self.active_by_scheme.iter().map(|(k, v)| (k.clone(), rate(*v, self.target_population))).collect();
    }
}

/// The bit of each scheme in the per-person mask of active enrollments (`persons.active_mask`,
/// kept by the triggers of migration 0010, which spell these numbers out).
pub fn scheme_bit(scheme: Scheme) -> u32 {
    1 << Scheme::ALL.iter().position(|s| *s == scheme).expect("every scheme is listed")
}

/// The one query behind every figure, for one attribution column. Parameters: ?1 the region code
/// R, ?2 the upper bound `R:` (so `col >= R AND col < R:` is the index range of codes starting
/// with R), ?3 the length of the codes to group by (R's own length for R alone, a child level's
/// length for its children). The SQL is assembled only from constants: the column, the mandatory
/// field names and the scheme bits.
///
/// The inner query is one range scan of the covering index `persons_by_<col>` (migration 0010:
/// region, person_status, registered, complete, active_mask, missing_fields), grouped in index
/// order, so it reads no table row and no enrollment: it counts the persons of each distinct
/// combination (a few per community). The outer query sums those counts into the figures.
/// `active_mask` (one bit per scheme with an active enrollment) is kept by triggers on
/// `enrollments`; `missing_fields` by `store` on every save.
fn figures_sql(attribute: Attribute) -> String {
    let col = attribute.column();
    let fills: String = MANDATORY_FIELDS
        .iter()
        .map(|f| {
            format!(
                ",\n  SUM(n * (target AND registered AND instr(',' || missing_fields || ',', ',{},') = 0))",
                f.as_str()
            )
        })
        .collect();
    let actives: String = Scheme::ALL
        .iter()
        .map(|s| format!(",\n  SUM(n * (target AND (mask & {}) <> 0))", scheme_bit(*s)))
        .collect();
    format!(
        "SELECT substr(area, 1, ?3) AS grp,
  SUM(n * target), SUM(n * (target AND registered)), SUM(n * (target AND registered AND complete)),
  SUM(n * (target AND mask <> 0)), SUM(n * ({duplicate})), SUM(n * (person_status = 'deceased' AND mask <> 0)){fills}{actives}
FROM (
  SELECT {col} AS area, person_status, person_status = 'normal' AS target, registered, complete,
    active_mask AS mask, missing_fields, COUNT(*) AS n
  FROM persons
  WHERE {col} >= ?1 AND {col} < ?2
  GROUP BY {col}, person_status, registered, complete, active_mask, missing_fields
)
GROUP BY grp ORDER BY grp",
        duplicate = duplicate_condition("mask"),
    )
}

/// The SQL condition "active in 310+390, 170+(110|120) or 110+120" (DOMAIN §7, duplicate
/// enrollment) over an active-scheme mask expression.
pub fn duplicate_condition(mask: &str) -> String {
    let bit = scheme_bit;
    format!(
        "(({mask} & {m310}) <> 0 AND ({mask} & {m390}) <> 0) OR (({mask} & {m170}) <> 0 AND ({mask} & {m110_120}) <> 0) \
         OR (({mask} & {m110}) <> 0 AND ({mask} & {m120}) <> 0)",
        m310 = bit(Scheme::EmployeeMedical),
        m390 = bit(Scheme::ResidentMedical),
        m170 = bit(Scheme::ResidentPension),
        m110_120 = bit(Scheme::EnterprisePension) | bit(Scheme::PublicSectorPension),
        m110 = bit(Scheme::EnterprisePension),
        m120 = bit(Scheme::PublicSectorPension),
    )
}

/// The figures of `region` grouped by the first `group_len` characters of the attributed region
/// (`group_len` = the length of the region's area prefix gives one row, the region itself).
pub fn figures_grouped(
    db: &dyn Sql,
    attribute: Attribute,
    region: RegionCode,
    group_len: usize,
) -> Result<Vec<Figures>, StorageError> {
    let prefix = region.area_prefix();
    let rows = db.execute(
        &figures_sql(attribute),
        &[prefix.into(), format!("{prefix}:").into(), (group_len as i64).into()],
    )?;
    let fixed = 7;
    rows.iter()
        .map(|row| {
            let n = |i: usize| -> Result<u64, StorageError> { Ok(row.get::<Option<i64>>(i)?.unwrap_or(0) as u64) };
            let mut f = Figures {
                region: row.get::<String>(0)?,
                target_population: n(1)?,
                registered: n(2)?,
                complete: n(3)?,
                insured: n(4)?,
                duplicate_enrollment: n(5)?,
                benefits_after_death: n(6)?,
                ..Figures::default()
            };
            for (i, field) in MANDATORY_FIELDS.iter().enumerate() {
                f.fill_counts.insert(field.as_str().to_string(), n(fixed + i)?);
            }
            for (i, scheme) in Scheme::ALL.iter().enumerate() {
                f.active_by_scheme.insert(scheme.code().to_string(), n(fixed + MANDATORY_FIELDS.len() + i)?);
            }
            f.finish();
            Ok(f)
        })
        .collect()
}

/// The figures of one region (all zero when nobody is attributed there).
pub fn figures_for(db: &dyn Sql, attribute: Attribute, region: RegionCode) -> Result<Figures, StorageError> {
    let mut all = figures_grouped(db, attribute, region, region.area_prefix().len())?;
    let mut f = all.pop().unwrap_or_else(|| {
        let mut empty = Figures::default();
        MANDATORY_FIELDS.iter().for_each(|m| {
            empty.fill_counts.insert(m.as_str().to_string(), 0);
        });
        Scheme::ALL.iter().for_each(|s| {
            empty.active_by_scheme.insert(s.code().to_string(), 0);
        });
        empty.finish();
        empty
    });
    f.region = region.as_str().to_string();
    Ok(f)
}

#[cfg(all(test, feature = "native"))]
mod tests {
    use super::*;
    use crate::codes::{EnrollmentStatus, Gender, PersonStatus, Source};
    use crate::ids::{CitizenId, Phone};
    use crate::merge::{merge_by_precedence, Observation};
    use crate::person::{Enrollment, Origin, Provenance};
    use crate::storage::native::NativeSql;
    use crate::store::{load_person, save_outcome};
    use chrono::{NaiveDate, TimeZone, Utc};

    fn code(text: &str) -> RegionCode {
        RegionCode::parse(text).unwrap().value
    }

    fn observe(db: &NativeSql, obs: Observation) {
        let current = load_person(db, &obs.id).unwrap();
        let outcome = merge_by_precedence(current.as_ref(), &obs);
        save_outcome(db, &outcome, obs.provenance.at).unwrap();
    }

    fn registry(db: &NativeSql, seq: u16, community: &str, status: PersonStatus) -> CitizenId {
        let id = CitizenId::from_parts(&community[..6], NaiveDate::from_ymd_opt(1980, 5, 6).unwrap(), seq);
        let at = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let mut obs = Observation::new(id, Provenance { source: Source::PublicSecurity, origin: Origin::Batch("1".into()), at });
        obs.name = Some("张三".into());
        obs.gender = Some(id.gender());
        obs.ethnicity = Some(crate::codes::Ethnicity::HAN);
        obs.birth_date = Some(id.birth_date());
        obs.hukou_region = Some(RegionCode::parse(community).unwrap().value);
        obs.person_status = Some(status);
        observe(db, obs);
        id
    }

    fn enroll(db: &NativeSql, id: CitizenId, scheme: Scheme, status: EnrollmentStatus) {
        let at = Utc.with_ymd_and_hms(2026, 2, 1, 0, 0, 0).unwrap();
        let mut obs = Observation::new(id, Provenance { source: Source::Hrss, origin: Origin::Batch("2".into()), at });
        obs.enrollments.push(Enrollment { scheme, status, since: None, region: None, employer_credit_code: None });
        observe(db, obs);
    }

    #[test]
    fn figures_follow_the_definitions_by_region() {
        let db = NativeSql::open_in_memory().unwrap();
        // East district, community A: registered and insured twice (310 + 390: duplicate).
        let a = registry(&db, 11, "510402001001", PersonStatus::Normal);
        enroll(&db, a, Scheme::EmployeeMedical, EnrollmentStatus::Active);
        enroll(&db, a, Scheme::ResidentMedical, EnrollmentStatus::Active);
        // East district: registered but suspended (not insured).
        let b = registry(&db, 12, "510402002001", PersonStatus::Normal);
        enroll(&db, b, Scheme::ResidentPension, EnrollmentStatus::Suspended);
        // East district: not registered.
        registry(&db, 13, "510402001001", PersonStatus::Normal);
        // East district: deceased with an active pension: benefits after death, not target.
        let d = registry(&db, 14, "510402001001", PersonStatus::Deceased);
        enroll(&db, d, Scheme::EnterprisePension, EnrollmentStatus::Active);
        // West district: one registered person.
        let w = registry(&db, 15, "510403001001", PersonStatus::Normal);
        enroll(&db, w, Scheme::ResidentMedical, EnrollmentStatus::Active);

        let east = figures_for(&db, Attribute::Hukou, code("510402")).unwrap();
        assert_eq!((east.target_population, east.registered, east.insured, east.uninsured), (3, 2, 1, 2));
        assert_eq!((east.duplicate_enrollment, east.benefits_after_death), (1, 1));
        assert_eq!(east.active_by_scheme["310"], 1);
        assert_eq!(east.active_by_scheme["110"], 0, "the deceased person is not in the target population");
        assert!((east.registration_rate - 2.0 / 3.0).abs() < 1e-12);
        // Nobody has a phone or residence address yet: nobody is complete.
        assert_eq!((east.complete, east.fill_counts["phone"], east.fill_counts["name"]), (0, 0, 2));
        assert!(!east.registration_target_met());

        let city = figures_for(&db, Attribute::Hukou, code("510400")).unwrap();
        assert_eq!((city.target_population, city.registered, city.insured), (4, 3, 2));
        let counties = figures_grouped(&db, Attribute::Hukou, code("510400"), 6).unwrap();
        let codes: Vec<&str> = counties.iter().map(|f| f.region.as_str()).collect();
        assert_eq!(codes, ["510402", "510403"]);
        assert_eq!(counties[0], Figures { region: "510402".into(), ..east.clone() });
        let townships = figures_grouped(&db, Attribute::Hukou, code("510402"), 9).unwrap();
        assert_eq!(townships.iter().map(|f| f.target_population).collect::<Vec<_>>(), [2, 1]);

        for (region, len) in [("510400", 6), ("510402", 9), ("510402", 12)] {
            let parts = figures_grouped(&db, Attribute::Hukou, code(region), len).unwrap();
            assert_eq!(Figures::total(code(region), &parts), figures_for(&db, Attribute::Hukou, code(region)).unwrap());
        }

        let nobody = figures_for(&db, Attribute::Hukou, code("510421")).unwrap();
        assert_eq!((nobody.target_population, nobody.registration_rate), (0, 0.0));
    }

    #[test]
    fn completeness_counts_registered_persons_with_every_mandatory_field() {
        let db = NativeSql::open_in_memory().unwrap();
        let id = registry(&db, 21, "510411001001", PersonStatus::Normal);
        enroll(&db, id, Scheme::ResidentMedical, EnrollmentStatus::Active);
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 0, 0, 0).unwrap();
        let mut obs = Observation::new(id, Provenance { source: Source::Survey, origin: Origin::Receipt("r1".into()), at });
        obs.residence_address = Some("仁和区示例路 1 号".into());
        obs.phone = Some(Phone::parse("13812345678").unwrap().value);
        obs.employment_status = Some(crate::codes::EmploymentStatus::Farmer);
        observe(&db, obs);
        let f = figures_for(&db, Attribute::Hukou, code("510411")).unwrap();
        assert_eq!((f.registered, f.complete, f.completeness_rate), (1, 1, 1.0));
        assert!(f.fill_rates.values().all(|r| *r == 1.0), "{:?}", f.fill_rates);
        let _ = Gender::Male;
    }

    fn mask_of(db: &NativeSql, id: &str) -> i64 {
        use crate::storage::Sql;
        db.execute("SELECT active_mask FROM persons WHERE id_number = ?", &[id.into()]).unwrap().scalar::<i64>().unwrap().unwrap()
    }

    #[test]
    fn the_database_keeps_each_persons_active_scheme_mask_exact() {
        use crate::storage::Sql;
        let db = NativeSql::open_in_memory().unwrap();
        let id = registry(&db, 31, "510402001001", PersonStatus::Normal);
        assert_eq!(mask_of(&db, id.as_str()), 0);
        // Every scheme's bit as the triggers of migration 0010 write it is the bit figures read.
        for scheme in Scheme::ALL {
            enroll(&db, id, *scheme, EnrollmentStatus::Active);
        }
        let all: u32 = Scheme::ALL.iter().map(|s| scheme_bit(*s)).sum();
        assert_eq!(mask_of(&db, id.as_str()), i64::from(all));
        for scheme in Scheme::ALL {
            db.exec(
                "INSERT INTO enrollments (id_number, scheme, status, source, origin, observed_at, updated_at)
                 VALUES (?, ?, 'suspended', 'hrss', 'batch:y', 'y', 'y')
                 ON CONFLICT (id_number, scheme) DO UPDATE SET status = excluded.status",
                &[id.as_str().into(), scheme.code().into()],
            )
            .unwrap();
            let left: u32 = Scheme::ALL.iter().filter(|s| s.code() > scheme.code()).map(|s| scheme_bit(*s)).sum();
            assert_eq!(mask_of(&db, id.as_str()), i64::from(left), "after suspending {}", scheme.code());
        }
        db.exec("UPDATE enrollments SET status = 'active' WHERE id_number = ? AND scheme = '390'", &[id.as_str().into()])
            .unwrap();
        assert_eq!(mask_of(&db, id.as_str()), i64::from(scheme_bit(Scheme::ResidentMedical)));
        db.exec("DELETE FROM enrollments WHERE id_number = ? AND scheme = '390'", &[id.as_str().into()]).unwrap();
        assert_eq!(mask_of(&db, id.as_str()), 0, "a deleted active enrollment leaves the mask");

        // Enrollments written before their person: the person row gets the mask when it appears.
        let late = CitizenId::from_parts("510402", NaiveDate::from_ymd_opt(1980, 5, 6).unwrap(), 33);
        db.exec(
            "INSERT INTO enrollments (id_number, scheme, status, source, origin, observed_at, updated_at)
             VALUES (?1, '110', 'active', 'hrss', 'batch:x', 'x', 'x'), (?1, '310', 'active', 'hrss', 'batch:x', 'x', 'x'),
                    (?1, '390', 'terminated', 'hrss', 'batch:x', 'x', 'x')",
            &[late.as_str().into()],
        )
        .unwrap();
        registry(&db, 33, "510402001001", PersonStatus::Normal);
        let want = scheme_bit(Scheme::EnterprisePension) | scheme_bit(Scheme::EmployeeMedical);
        assert_eq!(mask_of(&db, late.as_str()), i64::from(want));
        let f = figures_for(&db, Attribute::Hukou, code("510402")).unwrap();
        assert_eq!((f.target_population, f.insured, f.active_by_scheme["110"], f.active_by_scheme["390"]), (2, 1, 1, 0));
    }
}
