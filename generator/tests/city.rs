//! Behaviour of the generator a test author relies on: same seed, same bytes; every identifier
//! valid; the three encodings of a file carry the same rows; injected mistakes are really there
//! at their rates; and the expected figures hang together.

use calamine::{open_workbook_from_rs, Data, Reader, Xlsx};
use canbao::codes::Source;
use canbao::correction::CorrectionKind;
use canbao::error::Reason;
use canbao::ids::{CitizenId, CreditCode};
use canbao_gen::{generate, City, CityConfig, Formats};
use chrono::NaiveDate;
use std::io::Cursor;
use std::sync::OnceLock;

fn small(seed: u64, people: usize) -> CityConfig {
    CityConfig { people, seed, ..CityConfig::default() }
}

/// One shared 4,000-person city for the read-only checks.
fn city() -> &'static City {
    static CITY: OnceLock<City> = OnceLock::new();
    CITY.get_or_init(|| generate(&small(7, 4000)).expect("generate"))
}

/// Splits RFC 4180 CSV text into records (enough for the generator's own output).
fn parse_csv(text: &str) -> Vec<Vec<String>> {
    let text = text.strip_prefix('\u{FEFF}').unwrap_or(text);
    let mut rows = Vec::new();
    let mut row = Vec::new();
    let mut field = String::new();
    let mut quoted = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match (quoted, c) {
            (true, '"') if chars.peek() == Some(&'"') => {
                chars.next();
                field.push('"');
            }
            (true, '"') => quoted = false,
            (true, c) => field.push(c),
            (false, '"') => quoted = true,
            (false, ',') => row.push(std::mem::take(&mut field)),
            (false, '\r') => {}
            (false, '\n') => {
                row.push(std::mem::take(&mut field));
                rows.push(std::mem::take(&mut row));
            }
            (false, c) => field.push(c),
        }
    }
    rows
}

fn utf8_rows(f: &canbao_gen::DepartmentFile) -> Vec<Vec<String>> {
    parse_csv(std::str::from_utf8(&f.csv_utf8).expect("UTF-8"))
}

#[test]
fn same_seed_gives_identical_bytes_and_another_seed_does_not() {
    let a = generate(&small(11, 1500)).unwrap();
    let b = generate(&small(11, 1500)).unwrap();
    let c = generate(&small(12, 1500)).unwrap();
    assert_eq!(a.files.len(), b.files.len());
    for (x, y) in a.files.iter().zip(&b.files) {
        assert_eq!(x.name, y.name);
        assert!(x.csv_utf8 == y.csv_utf8, "{} csv differs", x.name);
        assert!(x.csv_gb18030 == y.csv_gb18030, "{} gb18030 differs", x.name);
        assert!(x.xlsx == y.xlsx, "{} xlsx differs", x.name);
    }
    assert_eq!(a.registrations, b.registrations);
    let ja = serde_json::to_string(&a.expected).unwrap();
    assert_eq!(ja, serde_json::to_string(&b.expected).unwrap());
    assert_ne!(ja, serde_json::to_string(&c.expected).unwrap());
    assert_ne!(a.files[0].csv_utf8, c.files[0].csv_utf8);
}

#[test]
fn every_ground_truth_identifier_is_valid() {
    let today = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let pop = &city().population;
    for p in &pop.persons {
        let parsed = CitizenId::parse_at(p.id.as_str(), today).expect("valid ID");
        assert!(parsed.corrections.is_empty());
        assert_eq!(parsed.value.birth_date(), p.birth);
        assert_eq!(parsed.value.gender(), p.gender);
        assert!(p.birth >= NaiveDate::from_ymd_opt(1930, 1, 1).unwrap() && p.birth <= today);
    }
    for u in &pop.units {
        if let Some(cc) = u.credit {
            let parsed = CreditCode::parse(cc.as_str()).expect("valid credit code");
            assert_eq!(parsed.value.org_code(), u.org);
        }
        canbao::ids::OrgCode::parse(u.org.as_str()).expect("valid organisation code");
    }
    let ids: std::collections::HashSet<_> = pop.persons.iter().map(|p| p.id).collect();
    assert_eq!(ids.len(), pop.persons.len(), "IDs are unique");
}

/// Seed 11 with 600 people once gave a 16-year-old an enrollment starting on their 18th
/// birthday, after `as_of`: the registration API refused the survey form carrying it (422, a
/// date later than today) while the expected outcome counted it accepted, so the city's complete
/// count disagreed by one.
#[test]
fn no_enrollment_starts_after_the_as_of_date_or_before_birth() {
    let today = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    for pop in [&city().population, &generate(&small(11, 600)).unwrap().population] {
        for p in &pop.persons {
            for e in &p.enrollments {
                assert!(e.since <= today && e.since >= p.birth, "{} born {}: {:?} since {}", p.id.as_str(), p.birth, e.scheme, e.since);
            }
        }
    }
}

#[test]
fn households_and_population_look_like_a_city() {
    let pop = &city().population;
    let n = pop.persons.len() as f64;
    let han = pop.persons.iter().filter(|p| p.ethnicity.code() == "01").count() as f64;
    let yi = pop.persons.iter().filter(|p| p.ethnicity.code() == "07").count() as f64;
    assert!(han / n > 0.7 && han / n < 0.95, "Han share {}", han / n);
    assert!(yi / n > 0.03, "Yi share {}", yi / n);
    let mut sizes = std::collections::HashMap::new();
    for p in &pop.persons {
        *sizes.entry(p.household).or_insert(0) += 1;
    }
    assert!(sizes.values().all(|&s| (1..=6).contains(&s)));
    let compound = pop.persons.iter().filter(|p| ["欧阳", "司马", "诸葛", "上官", "司徒", "东方"].iter().any(|c| p.name.starts_with(c))).count();
    assert!(compound > 0, "some compound surnames");
    let outside = pop.persons.iter().filter(|p| !pop.hukou_in_city(p)).count();
    assert!(outside > 0, "some hukou outside the city");
    let old = pop.persons.iter().filter(|p| p.age_on(pop.as_of) >= 60).count() as f64;
    assert!(old / n > 0.1 && old / n < 0.35, "60+ share {}", old / n);
}

#[test]
fn gb18030_decodes_to_the_utf8_text() {
    for f in &city().files {
        let utf8 = std::str::from_utf8(&f.csv_utf8).unwrap();
        let utf8 = utf8.strip_prefix('\u{FEFF}').unwrap_or(utf8);
        let (decoded, had_errors) = encoding_rs::GB18030.decode_without_bom_handling(&f.csv_gb18030);
        assert!(!had_errors, "{}", f.name);
        assert_eq!(decoded, utf8, "{}", f.name);
        assert_ne!(f.csv_gb18030, utf8.as_bytes(), "{} is really re-encoded", f.name);
    }
}

fn xlsx_text(d: &Data) -> String {
    let iso = |serial: f64| {
        (NaiveDate::from_ymd_opt(1899, 12, 30).unwrap() + chrono::Days::new(serial as u64)).format("%Y-%m-%d").to_string()
    };
    match d {
        Data::Empty => String::new(),
        Data::String(s) => s.clone(),
        Data::Float(f) => format!("{f}"),
        Data::Int(i) => i.to_string(),
        Data::DateTime(dt) => iso(dt.as_f64()),
        other => format!("{other:?}"),
    }
}

#[test]
fn xlsx_holds_the_same_rows_as_the_csv() {
    let city = city();
    for (f, fx) in city.files.iter().zip(&city.expected.files) {
        let csv = utf8_rows(f);
        let mut wb: Xlsx<_> = open_workbook_from_rs(Cursor::new(f.xlsx.clone())).expect("xlsx opens");
        let range = wb.worksheet_range_at(0).expect("a sheet").expect("readable");
        let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(xlsx_text).collect()).collect();
        assert_eq!(rows.len(), csv.len(), "{}", f.name);
        for (i, (x, c)) in rows.iter().zip(&csv).enumerate() {
            for (j, cell) in c.iter().enumerate() {
                let got = x.get(j).cloned().unwrap_or_default();
                let serial_date = fx.xlsx_dates == Some(canbao_gen::encode::XlsxDates::Serial) && cell.len() == 10 && cell.as_bytes()[4] == b'-';
                if serial_date && got.parse::<f64>().is_ok() {
                    let serial = got.parse::<f64>().expect("a serial number");
                    assert_eq!(xlsx_text(&Data::DateTime(calamine::ExcelDateTime::new(serial, calamine::ExcelDateTimeType::DateTime, false))), *cell);
                } else {
                    assert_eq!(&got, cell, "{} row {} col {}", f.name, i + 1, j + 1);
                }
            }
        }
        assert_eq!(rows[0], fx.header, "{}", f.name);
        assert_eq!(rows.len() as u64 - 1, fx.rows_total, "{}", f.name);
    }
}

#[test]
fn expected_counts_add_up_per_file() {
    let e = &city().expected;
    assert_eq!(e.ambiguous_rows, 0, "no row whose effect DOMAIN leaves open");
    assert_eq!(e.load_order.last().map(String::as_str), Some("registrations"));
    for f in &e.files {
        assert_eq!(f.accepted + f.rejected, f.rows_total, "{}", f.name);
        assert_eq!(f.rejected_by_reason.values().sum::<u64>(), f.rejected, "{}", f.name);
        assert_eq!(f.corrections.values().sum::<u64>(), f.corrections_total, "{}", f.name);
        // Each injected invalid or correcting kind produced exactly its reason or correction.
        for (kind, n) in &f.injected {
            let k = canbao_gen::Kind::parse(kind).unwrap();
            if let Some(reason) = k.rejection() {
                assert_eq!(f.rejected_by_reason.get(reason).copied().unwrap_or(0), *n, "{} {kind}", f.name);
            }
            if let Some(corr) = k.correction() {
                assert_eq!(f.corrections.get(corr).copied().unwrap_or(0), *n, "{} {kind}", f.name);
            }
        }
        assert_eq!(f.duplicates_in_file, f.injected.get("duplicate_in_file").copied().unwrap_or(0), "{}", f.name);
    }
    let ps = &e.files[0];
    assert_eq!(ps.source, "public_security");
    assert_eq!(ps.new_persons, ps.accepted - ps.duplicates_in_file, "the registry creates everyone it lists");
    assert_eq!(ps.updated_persons, 0);
}

#[test]
fn id_mistakes_are_what_the_shared_parser_says_they_are() {
    // Independently of the expected counts: parse every ID cell with canbao::ids and count.
    let today = NaiveDate::from_ymd_opt(2025, 12, 31).unwrap();
    let city = city();
    for (f, fx) in city.files.iter().zip(&city.expected.files) {
        if f.source.delivers_units() {
            continue;
        }
        let rows = utf8_rows(f);
        let col = rows[0]
            .iter()
            .position(|h| ["公民身份号码", "身份证号", "身份证号码", "证件号码", "id_number"].contains(&h.as_str()))
            .expect("an ID column");
        let (mut checksum, mut birth, mut up15, mut lower_x) = (0u64, 0u64, 0u64, 0u64);
        for r in &rows[1..] {
            match CitizenId::parse_at(&r[col], today) {
                Err(e) if e.code == Reason::Checksum => checksum += 1,
                Err(e) if e.code == Reason::BirthDate => birth += 1,
                Err(_) => {}
                Ok(p) => {
                    for c in &p.corrections {
                        match c.kind {
                            CorrectionKind::IdUpgraded15To18 => up15 += 1,
                            CorrectionKind::IdLowercaseX => lower_x += 1,
                            _ => {}
                        }
                    }
                }
            }
        }
        let get = |m: &std::collections::BTreeMap<String, u64>, k: &str| m.get(k).copied().unwrap_or(0);
        assert_eq!(checksum, get(&fx.rejected_by_reason, "checksum"), "{}", f.name);
        assert_eq!(birth, get(&fx.rejected_by_reason, "birth_date"), "{}", f.name);
        assert_eq!(up15, get(&fx.corrections, "id_upgraded_15_to_18"), "{}", f.name);
        assert_eq!(lower_x, get(&fx.corrections, "id_lowercase_x"), "{}", f.name);
    }
}

#[test]
fn injected_rates_match_the_configuration() {
    let cfg = CityConfig { people: 20_000, seed: 3, error_rate: 0.01, formats: Formats { csv: true, gb18030: false, xlsx: false }, ..CityConfig::default() };
    let city = generate(&cfg).unwrap();
    // Kinds every person row is eligible for: count ≈ rate × rows (4 standard deviations).
    for kind in ["bad_check_char", "gender_contradicts", "ethnicity_name", "required_empty"] {
        let (mut n, mut rows) = (0f64, 0f64);
        for f in city.expected.files.iter().filter(|f| !Source::parse(&f.source).unwrap().delivers_units()) {
            n += f.injected.get(kind).copied().unwrap_or(0) as f64;
            rows += f.eligible_rows as f64;
        }
        let mean = rows * 0.01;
        let sd = (rows * 0.01 * 0.99).sqrt();
        assert!((n - mean).abs() < 4.0 * sd, "{kind}: {n} injected in {rows} rows");
    }
    for k in ["conflict", "second_id", "one_digit_id", "transposed_id", "duplicate_in_file", "unparseable_date", "unknown_region", "legacy_id_15", "date_layout"] {
        assert!(city.expected.injected_total.get(k).copied().unwrap_or(0) > 0, "{k} injected");
    }
    let conflicts: u64 = city.expected.files.iter().map(|f| f.conflicts).sum::<u64>() + city.expected.registrations.conflicts;
    assert_eq!(conflicts, city.expected.injected_total["conflict"], "each injected conflict opens one");
    let none = generate(&CityConfig { people: 3000, seed: 3, error_rate: 0.0, ..cfg }).unwrap();
    assert!(none.expected.injected_total.values().all(|&v| v == 0));
    assert!(none.expected.files.iter().all(|f| f.rejected == 0 && f.corrections_total == 0 && f.conflicts == 0));
}

#[test]
fn second_ids_are_found_as_candidate_pairs() {
    let e = &city().expected;
    let injected = ["second_id", "one_digit_id", "transposed_id"].iter().map(|k| e.injected_total.get(*k).copied().unwrap_or(0)).sum::<u64>();
    assert!(e.duplicate_candidates.len() as u64 >= injected, "{} pairs for {injected} second IDs", e.duplicate_candidates.len());
    for p in &e.duplicate_candidates {
        assert!(p.a < p.b);
        assert!(!p.rules.is_empty());
        CitizenId::parse(&p.a).unwrap();
        CitizenId::parse(&p.b).unwrap();
    }
    assert!(e.duplicate_candidates.iter().any(|p| p.rules.contains(&"similar_id")));
    assert!(e.duplicate_candidates.iter().any(|p| p.rules.contains(&"same_details")));
}

#[test]
fn figures_are_internally_consistent() {
    let e = &city().expected;
    for by in [&e.figures.hukou, &e.figures.residence] {
        let city = &by[0];
        assert_eq!(city.region, "510400");
        assert_eq!(by.len(), 6, "city and five counties");
        let sum = |f: fn(&canbao_gen::Figures) -> u64| by[1..].iter().map(f).sum::<u64>();
        assert_eq!(city.target_population, sum(|f| f.target_population));
        assert_eq!(city.registered, sum(|f| f.registered));
        assert_eq!(city.complete, sum(|f| f.complete));
        assert_eq!(city.insured, sum(|f| f.insured));
        assert_eq!(city.duplicate_enrollment, sum(|f| f.duplicate_enrollment));
        assert_eq!(city.benefits_after_death, sum(|f| f.benefits_after_death));
        for f in by.iter() {
            assert!(f.registered <= f.target_population, "{}", f.region);
            assert!(f.complete <= f.registered);
            assert!(f.insured <= f.target_population);
            assert_eq!(f.insured + f.uninsured, f.target_population);
            assert!((f.registration_rate - f.registered as f64 / f.target_population.max(1) as f64).abs() < 1e-12);
            for (field, n) in &f.fill_counts {
                assert!(*n <= f.registered, "{field}");
                assert!(*n >= f.complete, "{field}: every complete record has it");
            }
            assert_eq!(f.fill_counts["id_number"], f.registered);
            for (scheme, n) in &f.active_by_scheme {
                assert!(*n <= f.insured, "{scheme}");
            }
        }
        assert!(city.duplicate_enrollment > 0 && city.benefits_after_death > 0, "the anomalies are present");
        assert!(city.registration_rate > 0.8 && city.registration_rate < 1.0);
    }
    assert!(e.figures.residence[0].target_population > e.figures.hukou[0].target_population,
        "migrants with hukou elsewhere count by residence only");
    assert!(e.units.without_hrss_enrollment > 0 && e.units.without_hrss_enrollment < e.units.total);
}

#[test]
fn registrations_are_request_bodies_with_their_expected_answer() {
    let city = city();
    assert!(!city.registrations.is_empty());
    let mut self_count = 0;
    for r in &city.registrations {
        let source = r["source"].as_str().unwrap();
        assert!(source == "self" || source == "survey");
        self_count += u64::from(source == "self");
        let body = &r["body"];
        let id = body["id_number"].as_str().unwrap();
        let status = r["expect"]["status"].as_u64().unwrap();
        assert_eq!(CitizenId::parse(id).is_ok(), status == 201, "{r}");
        for field in ["name", "gender", "ethnicity", "birth_date", "hukou_region", "residence_address", "phone", "employment_status"] {
            assert!(body[field].is_string(), "{field}");
        }
        assert!(body["insurance"].as_array().is_some_and(|a| !a.is_empty()) || body["uninsured_reason"].is_string());
    }
    assert_eq!(self_count, city.expected.registrations.by_source["self"]);
    assert_eq!(city.registrations.len() as u64, city.expected.registrations.total);
}

#[test]
fn write_to_writes_the_same_files_as_generate() {
    let dir = std::env::temp_dir().join(format!("canbao-gen-test-{}", std::process::id()));
    let cfg = small(5, 800);
    let summary = canbao_gen::write_to(&cfg, &dir, &mut |_| {}).unwrap();
    let city = generate(&cfg).unwrap();
    assert_eq!(summary.files, city.files.len());
    for f in &city.files {
        assert_eq!(std::fs::read(dir.join(format!("{}.csv", f.name))).unwrap(), f.csv_utf8);
        assert_eq!(std::fs::read(dir.join(format!("{}.gb18030.csv", f.name))).unwrap(), f.csv_gb18030);
        assert!(std::fs::metadata(dir.join(format!("{}.xlsx", f.name))).unwrap().len() > 0);
    }
    let written = std::fs::read_to_string(dir.join("expected.json")).unwrap();
    assert_eq!(written.trim_end(), serde_json::to_string_pretty(&city.expected).unwrap());
    let lines = std::fs::read_to_string(dir.join("registrations.jsonl")).unwrap();
    assert_eq!(lines.lines().count(), city.registrations.len());
    let regions = std::fs::read(dir.join("regions.csv")).unwrap();
    let (tree, report) = canbao::regions::RegionTree::from_csv_bytes(&regions).unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(tree.len() > 100);
    std::fs::remove_dir_all(&dir).ok();
}
