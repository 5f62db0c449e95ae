//! canbao-gen: the synthetic city generator. It makes a ground-truth population of Panzhihua
//! residents, the files each department would deliver about them (CSV UTF-8, CSV GB18030, XLSX)
//! with mistakes injected at stated rates, survey/self registrations, and the expected outcome
//! of loading all of it (`expected.json`), computed independently of the intake code, as the
//! test oracle. Deterministic by seed. See README.md for every modelling choice.

pub mod encode;
pub mod errors;
pub mod expected;
pub mod files;
pub mod geo;
pub mod names;
pub mod population;
pub mod registrations;
pub mod rng;

pub use encode::Formats;
pub use errors::{Kind, Rates};
pub use expected::{CandidatePair, Figures};
pub use files::{DepartmentFile, FileExpected, LOAD_ORDER};
pub use population::Population;
pub use registrations::RegistrationsExpected;

use chrono::NaiveDate;
use serde::Serialize;
use std::collections::BTreeMap;
use rng::FxHashSet as HashSet;
use std::io::Write;
use std::path::Path;

/// Everything that decides a generated city.
#[derive(Debug, Clone)]
pub struct CityConfig {
    /// Number of residents in the ground truth.
    pub people: usize,
    /// The seed: the same seed and settings give byte-identical output.
    pub seed: u64,
    /// Injection rate per eligible row, for every kind not overridden in `rates`.
    pub error_rate: f64,
    /// Per-kind overrides of `error_rate`.
    pub rates: BTreeMap<Kind, f64>,
    /// Share of living residents with a survey or self registration.
    pub survey_rate: f64,
    /// The day the ground truth describes.
    pub as_of: NaiveDate,
    /// Encodings to produce.
    pub formats: Formats,
    /// Data rows per file part at most (an XLSX sheet holds 1,048,575).
    pub max_rows_per_file: u64,
}

impl Default for CityConfig {
    fn default() -> Self {
        CityConfig {
            people: 10_000,
            seed: 1,
            error_rate: 0.005,
            rates: BTreeMap::new(),
            survey_rate: 0.2,
            as_of: NaiveDate::from_ymd_opt(2025, 12, 31).expect("date"),
            formats: Formats::default(),
            max_rows_per_file: 1_000_000,
        }
    }
}

impl CityConfig {
    /// The effective rate of every kind.
    pub fn effective_rates(&self) -> Rates {
        let mut r = Rates::uniform(self.error_rate);
        for (k, v) in &self.rates {
            r.set(*k, *v);
        }
        r
    }
}

/// The settings a run was made with, echoed in `expected.json`.
#[derive(Debug, Clone, Serialize)]
pub struct GeneratorInfo {
    /// Crate version.
    pub version: &'static str,
    /// Seed.
    pub seed: u64,
    /// Residents in the ground truth.
    pub people: usize,
    /// The day the truth describes.
    pub as_of: String,
    /// Injection rates by kind.
    pub rates: BTreeMap<String, f64>,
    /// Registration sample rate.
    pub survey_rate: f64,
}

/// Units delivered by commerce, tax and quality.
#[derive(Debug, Clone, Serialize, Default)]
pub struct UnitsExpected {
    /// Distinct units (key: credit code, else organisation code).
    pub total: u64,
    /// Units whose credit code no accepted hrss row names as employer (参保单位未参保).
    pub without_hrss_enrollment: u64,
}

/// The figures by both attributions.
#[derive(Debug, Clone, Serialize, Default)]
pub struct FiguresByAttribution {
    /// `by=hukou`: city first, then each county.
    pub hukou: Vec<Figures>,
    /// `by=residence`.
    pub residence: Vec<Figures>,
}

/// The expected outcome of loading everything in the canonical order (`expected.json`).
#[derive(Debug, Clone, Serialize)]
pub struct Expected {
    /// How it was generated.
    pub generator: GeneratorInfo,
    /// The region file to load first (`PUT /api/v1/regions`).
    pub regions_file: &'static str,
    /// Source codes in load order; `registrations` last.
    pub load_order: Vec<String>,
    /// Per file, in load order.
    pub files: Vec<FileExpected>,
    /// The registrations batch.
    pub registrations: RegistrationsExpected,
    /// Persons in the database after everything is loaded.
    pub persons_in_database: u64,
    /// Units.
    pub units: UnitsExpected,
    /// 一人多号 candidate pairs among all persons in the database.
    pub duplicate_candidates: Vec<CandidatePair>,
    /// DOMAIN §7 figures.
    pub figures: FiguresByAttribution,
    /// Injections by kind over all files and registrations.
    pub injected_total: BTreeMap<String, u64>,
    /// Rows whose effect DOMAIN leaves open (the generator avoids them; always 0).
    pub ambiguous_rows: u64,
}

/// A generated city held in memory (for tests up to some tens of thousands of residents).
#[derive(Debug)]
pub struct City {
    /// The ground truth.
    pub population: Population,
    /// Department files in load order.
    pub files: Vec<DepartmentFile>,
    /// Registrations, each `{"source","expect","body"}`.
    pub registrations: Vec<serde_json::Value>,
    /// The region file (`code,name,parent_code`).
    pub regions_csv: String,
    /// The expected outcome.
    pub expected: Expected,
}

/// What `write_to` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    /// Residents.
    pub people: usize,
    /// Department files (parts counted separately).
    pub files: usize,
    /// Data rows over all department files.
    pub rows: u64,
    /// Registrations.
    pub registrations: u64,
    /// Injections.
    pub injected: u64,
    /// City registration rate by hukou.
    pub registration_rate: f64,
    /// City completeness rate by hukou.
    pub completeness_rate: f64,
}

struct Output {
    population: Population,
    files: Vec<DepartmentFile>,
    expected: Expected,
}

fn run(
    cfg: &CityConfig,
    dir: Option<&Path>,
    progress: &mut dyn FnMut(u64),
    registration_out: &mut dyn FnMut(serde_json::Value) -> anyhow::Result<()>,
) -> anyhow::Result<Output> {
    anyhow::ensure!(cfg.people > 0, "--people must be at least 1");
    anyhow::ensure!(cfg.max_rows_per_file >= 100 && cfg.max_rows_per_file <= 1_048_575, "max rows per file must be 100..=1048575");
    let geo = geo::Geography::panzhihua_demo();
    let population = population::generate(cfg.people, cfg.seed, cfg.as_of, &geo);
    let rates = cfg.effective_rates();
    let used_ids: HashSet<u64> = population.persons.iter().map(|p| population::id_key(&p.id)).collect();
    let mut run = files::Run {
        pop: &population,
        geo: &geo,
        sim: expected::Sim::default(),
        rates: &rates,
        seed: cfg.seed,
        formats: cfg.formats,
        dir,
        max_rows: cfg.max_rows_per_file,
        used_ids,
        injected_persons: HashSet::default(),
        hrss_credit_codes: HashSet::default(),
        units: Default::default(),
        file_no: 0,
        files: Vec::new(),
        expected: Vec::new(),
        ambiguous: 0,
        progress,
        pending_xlsx: Vec::new(),
    };
    run.all_files()?;
    let regs = registrations::generate(&mut run, cfg.survey_rate, registration_out)?;
    let (units_total, without) = files::units_without_hrss(&run);
    let hukou = expected::figures(&run.sim, &geo, false);
    let residence = expected::figures(&run.sim, &geo, true);
    let pairs = expected::candidate_pairs(&run.sim);
    let mut injected_total: BTreeMap<String, u64> = BTreeMap::new();
    for f in &run.expected {
        for (k, v) in &f.injected {
            *injected_total.entry(k.clone()).or_default() += v;
        }
    }
    for (k, v) in &regs.injected {
        *injected_total.entry(k.clone()).or_default() += v;
    }
    let mut load_order: Vec<String> = LOAD_ORDER.iter().map(|s| s.code().to_string()).collect();
    load_order.push("registrations".into());
    let expected = Expected {
        generator: GeneratorInfo {
            version: env!("CARGO_PKG_VERSION"),
            seed: cfg.seed,
            people: cfg.people,
            as_of: cfg.as_of.format("%Y-%m-%d").to_string(),
            rates: rates.0.iter().map(|(k, v)| (k.code().to_string(), *v)).collect(),
            survey_rate: cfg.survey_rate,
        },
        regions_file: "regions.csv",
        load_order,
        files: std::mem::take(&mut run.expected),
        registrations: regs,
        persons_in_database: run.sim.persons.len() as u64,
        units: UnitsExpected { total: units_total, without_hrss_enrollment: without },
        duplicate_candidates: pairs,
        figures: FiguresByAttribution { hukou, residence },
        injected_total,
        ambiguous_rows: run.ambiguous,
    };
    let files = std::mem::take(&mut run.files);
    drop(run);
    Ok(Output { population, files, expected })
}

/// Generates a city in memory.
pub fn generate(cfg: &CityConfig) -> anyhow::Result<City> {
    let mut regs = Vec::new();
    let out = run(cfg, None, &mut |_| {}, &mut |v| {
        regs.push(v);
        Ok(())
    })?;
    Ok(City {
        population: out.population,
        files: out.files,
        registrations: regs,
        regions_csv: geo::regions_csv(),
        expected: out.expected,
    })
}

/// Generates a city into `dir`: the department files, `regions.csv`, `registrations.jsonl` and
/// `expected.json`, streaming rows so memory stays bounded by the ground truth.
/// `progress` is called with rows written.
pub fn write_to(cfg: &CityConfig, dir: &Path, progress: &mut dyn FnMut(u64)) -> anyhow::Result<Summary> {
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("regions.csv"), geo::regions_csv())?;
    let mut reg_file = std::io::BufWriter::new(std::fs::File::create(dir.join("registrations.jsonl"))?);
    let mut n_regs = 0u64;
    let out = run(cfg, Some(dir), progress, &mut |v| {
        serde_json::to_writer(&mut reg_file, &v)?;
        reg_file.write_all(b"\n")?;
        n_regs += 1;
        Ok(())
    })?;
    reg_file.flush()?;
    let e = &out.expected;
    let mut f = std::io::BufWriter::new(std::fs::File::create(dir.join("expected.json"))?);
    serde_json::to_writer_pretty(&mut f, e)?;
    f.write_all(b"\n")?;
    f.flush()?;
    let city = &e.figures.hukou[0];
    Ok(Summary {
        people: cfg.people,
        files: e.files.len(),
        rows: e.files.iter().map(|f| f.rows_total).sum(),
        registrations: n_regs,
        injected: e.injected_total.values().sum(),
        registration_rate: city.registration_rate,
        completeness_rate: city.completeness_rate,
    })
}
