//! Builds the base database for the lookup benchmark (`scripts/bench-lookup`): a synthetic city
//! from the project's generator (`canbao-gen`: IDs, names, regions, enrollments), bulk-inserted
//! into `<state>/sqlite_db.db` in large transactions, plus a sample of existing (ID, name) pairs,
//! URL-encoded, one `id<TAB>name` per line, for wrk to pick from.
//!
//! Usage: `seed-lookup-bench <state-dir> <people> <sample-file> [sample-size]`

use canbao::storage::native::NativeSql;
use canbao::storage::{Sql, SqlValue};
use canbao::store::timestamp;
use canbao_gen::geo::Geography;
use canbao_gen::population::generate;
use chrono::{NaiveDate, Utc};
use std::io::Write;
use std::time::Instant;

const INSERT_PERSON: &str = "INSERT INTO persons (id_number, name, name_key, gender, ethnicity, birth_date,
    hukou_address, hukou_region, residence_address, residence_region, phone, person_status, region_hukou,
    region_residence, registered, created_at, updated_at)
    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)";
const INSERT_ENROLLMENT: &str = "INSERT INTO enrollments (id_number, scheme, status, since, region, source, origin,
    observed_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'batch:bench', ?, ?)";

/// Rows per transaction: large enough that commits do not dominate.
const BATCH: usize = 50_000;

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(args.len() >= 4, "usage: seed-lookup-bench <state-dir> <people> <sample-file> [sample-size]");
    let state = std::path::Path::new(&args[1]);
    let people: usize = args[2].parse()?;
    let sample_size: usize = args.get(4).map(|s| s.parse()).transpose()?.unwrap_or(100_000);
    std::fs::create_dir_all(state)?;

    let started = Instant::now();
    let as_of = NaiveDate::from_ymd_opt(2025, 12, 31).expect("date");
    let population = generate(people, 20_260_301, as_of, &Geography::panzhihua_demo());
    eprintln!("generated {} persons in {:.1?}", population.persons.len(), started.elapsed());

    let db = NativeSql::open(state.join("sqlite_db.db"))?;
    let now = timestamp(Utc::now());
    let (mut persons, mut enrollments) = (0usize, 0usize);
    for chunk in population.persons.chunks(BATCH) {
        db.exec("BEGIN", &[])?;
        for p in chunk {
            let hukou = population.hukou_of(p);
            let residence = population.residence_of(p);
            let id = p.id.as_str();
            let params: Vec<SqlValue> = vec![
                id.into(),
                p.name.as_str().into(),
                canbao::person::normalise_text(&p.name).into(),
                p.gender.code().into(),
                p.ethnicity.code().into(),
                p.birth.to_string().into(),
                hukou.text.as_str().into(),
                hukou.region.as_str().into(),
                residence.text.as_str().into(),
                residence.region.as_str().into(),
                p.phone.as_str().into(),
                p.status.code().into(),
                hukou.region.as_str().into(),
                residence.region.as_str().into(),
                (!p.enrollments.is_empty()).into(),
                now.as_str().into(),
                now.as_str().into(),
            ];
            db.exec(INSERT_PERSON, &params)?;
            for e in &p.enrollments {
                let source = if e.scheme.code() == "390" { "health" } else { "hrss" };
                db.exec(
                    INSERT_ENROLLMENT,
                    &[
                        id.into(),
                        e.scheme.code().into(),
                        e.status.code().into(),
                        e.since.to_string().into(),
                        e.region.as_str().into(),
                        source.into(),
                        now.as_str().into(),
                        now.as_str().into(),
                    ],
                )?;
                enrollments += 1;
            }
            persons += 1;
        }
        db.exec("COMMIT", &[])?;
    }
    eprintln!("inserted {persons} persons and {enrollments} enrollments in {:.1?}", started.elapsed());

    // Every n-th person, so the sample spreads over the whole table (and the whole ID space).
    let step = (population.persons.len() / sample_size.max(1)).max(1);
    let mut out = std::io::BufWriter::new(std::fs::File::create(&args[3])?);
    for p in population.persons.iter().step_by(step).take(sample_size) {
        let name: String = p.name.bytes().map(|b| format!("%{b:02X}")).collect();
        writeln!(out, "{}\t{}", p.id.as_str(), name)?;
    }
    out.flush()?;
    eprintln!("done in {:.1?}", started.elapsed());
    Ok(())
}
