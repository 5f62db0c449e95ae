//! Survey (grid worker) and self registrations: the bodies of `POST /api/v1/registrations` for a
//! sample of residents, loaded after every department file, with a few invalid IDs and a few
//! names that contradict the household registry.

use crate::errors::{self, Kind};
use crate::expected::Facts;
use crate::files::Run;
use crate::names;
use crate::population::Person;
use crate::rng::{Rng, Stream};
use canbao::codes::{Gender, PersonStatus, Source};
use canbao::ids::citizen_id_check_char;
use serde::Serialize;
use serde_json::{json, Map, Value};
use std::collections::BTreeMap;

/// What the registrations must do, as a whole.
#[derive(Debug, Clone, Serialize, Default)]
pub struct RegistrationsExpected {
    /// Lines in `registrations.jsonl`.
    pub total: u64,
    /// Answered 201.
    pub accepted: u64,
    /// Answered 422, by field error code.
    pub rejected_by_reason: BTreeMap<String, u64>,
    /// Lines by source (`survey`, `self`).
    pub by_source: BTreeMap<String, u64>,
    /// Conflicts newly opened.
    pub conflicts: u64,
    /// Persons not known before the registrations.
    pub new_persons: u64,
    /// Known persons that registered.
    pub updated_persons: u64,
    /// Injections by kind.
    pub injected: BTreeMap<String, u64>,
}

fn gender_code(g: Gender) -> &'static str {
    g.code()
}

/// The registration body of a person as a grid worker or the person would fill it in.
fn body(run: &Run, p: &Person) -> Map<String, Value> {
    let pop = run.pop;
    let hukou = pop.hukou_of(p);
    let res = pop.residence_of(p);
    let mut m = Map::new();
    m.insert("id_number".into(), json!(p.id.as_str()));
    m.insert("name".into(), json!(p.name));
    m.insert("gender".into(), json!(gender_code(p.gender)));
    m.insert("ethnicity".into(), json!(p.ethnicity.code()));
    m.insert("birth_date".into(), json!(p.birth.format("%Y-%m-%d").to_string()));
    m.insert("hukou_address".into(), json!(hukou.text));
    m.insert("hukou_region".into(), json!(hukou.region));
    m.insert("residence_address".into(), json!(res.text));
    m.insert("residence_region".into(), json!(res.region));
    m.insert("phone".into(), json!(p.phone));
    m.insert("employment_status".into(), json!(p.employment.code()));
    if let Some(u) = p.employer {
        let unit = &pop.units[u as usize];
        m.insert("employer_name".into(), json!(unit.name));
        if let Some(cc) = unit.credit {
            m.insert("employer_credit_code".into(), json!(cc.as_str()));
        }
    }
    let insurance: Vec<Value> = p
        .enrollments
        .iter()
        .map(|e| {
            let mut i = Map::new();
            i.insert("scheme".into(), json!(e.scheme.code()));
            i.insert("status".into(), json!(e.status.code()));
            i.insert("since".into(), json!(e.since.format("%Y-%m-%d").to_string()));
            i.insert("region".into(), json!(e.region));
            if let Some(cc) = e.unit.and_then(|u| pop.units[u as usize].credit) {
                i.insert("employer_credit_code".into(), json!(cc.as_str()));
            }
            Value::Object(i)
        })
        .collect();
    m.insert("insurance".into(), Value::Array(insurance));
    if let Some(r) = p.uninsured_reason {
        m.insert("uninsured_reason".into(), json!(r.code()));
        m.insert("willingness".into(), json!(p.willing));
    }
    m
}

/// Generates the registrations (each line `{"source","expect","body"}`), applies the accepted
/// ones to the simulation as one batch, and hands each line to `out`.
pub fn generate(run: &mut Run, sample_rate: f64, out: &mut dyn FnMut(Value) -> anyhow::Result<()>) -> anyhow::Result<RegistrationsExpected> {
    let mut rng = Rng::new(run.seed, Stream::Registrations, 0);
    let mut inj = Rng::new(run.seed, Stream::Injection, 10_000);
    let mut ex = RegistrationsExpected::default();
    run.file_no += 1;
    let batch = run.file_no;
    let pop = run.pop;
    for (i, p) in pop.persons.iter().enumerate() {
        if p.status != PersonStatus::Normal || !rng.chance(sample_rate) {
            continue;
        }
        let source = if rng.chance(0.7) { Source::Survey } else { Source::SelfReport };
        // Persons whose rows carry injected mistakes stay out, so each figure has one cause;
        // so do persons whose every enrollment row was rejected.
        if run.injected_persons.contains(&(i as u32)) || (!p.enrollments.is_empty() && !run.sim.has_enrollment(&p.id)) {
            continue;
        }
        let mut b = body(run, p);
        let mut facts = Facts {
            name: Some(p.name.clone()),
            gender: Some(p.gender),
            ethnicity: Some(p.ethnicity),
            birth: Some(p.birth),
            hukou_address: Some(crate::expected::hash_text(&pop.hukou_of(p).text)),
            hukou_region: Some(pop.hukou_of(p).region.clone()),
            residence_address: true,
            residence_region: Some(pop.residence_of(p).region.clone()),
            phone: true,
            employment: Some(p.employment),
            uninsured_reason: p.uninsured_reason.is_some(),
            form: true,
            ..Default::default()
        };
        let mut expect = json!({"status": 201});
        match errors::draw(&mut inj, run.rates) {
            Some(Kind::BadCheckChar) => {
                let id = p.id.as_str();
                let right = citizen_id_check_char(&id.as_bytes()[..17]);
                let wrong = if right == b'0' { '1' } else { '0' };
                b.insert("id_number".into(), json!(format!("{}{}", &id[..17], wrong)));
                expect = json!({"status": 422, "field": "id_number", "code": "checksum"});
                *ex.injected.entry(Kind::BadCheckChar.code().into()).or_default() += 1;
            }
            Some(Kind::Conflict) if run.sim.name_from_registry(&p.id) => {
                let v = names::variant_name(&mut inj, &p.name, p.gender == Gender::Male);
                b.insert("name".into(), json!(v));
                facts.name = Some(v);
                expect = json!({"status": 201, "conflict": "name"});
                *ex.injected.entry(Kind::Conflict.code().into()).or_default() += 1;
            }
            _ => {}
        }
        ex.total += 1;
        *ex.by_source.entry(source.code().into()).or_default() += 1;
        if expect["status"] == 422 {
            *ex.rejected_by_reason.entry("checksum".into()).or_default() += 1;
        } else {
            ex.accepted += 1;
            let a = run.sim.apply(batch, source, p.id, &facts);
            ex.new_persons += u64::from(a.new_person);
            ex.updated_persons += u64::from(a.updated_person);
            ex.conflicts += u64::from(a.conflicts);
            run.ambiguous += u64::from(a.ambiguous);
        }
        out(json!({"source": source.code(), "expect": expect, "body": Value::Object(b)}))?;
    }
    Ok(ex)
}
