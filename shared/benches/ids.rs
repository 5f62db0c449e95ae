//! How many citizen IDs (and credit codes) the parsers validate per second: intake runs every
//! row of every department file through them, so their cost bounds file throughput.

use canbao::ids::{CitizenId, CreditCode, OrgCode};
use chrono::NaiveDate;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;

/// 1,000 distinct valid IDs, as a department file would bring them.
fn sample_ids() -> Vec<String> {
    let counties = ["510402", "510403", "510411", "510421", "510422"];
    let first = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap();
    (0..1000u16)
        .map(|i| {
            let birth = first + chrono::Duration::days(i64::from(i) * 29);
            CitizenId::from_parts(counties[usize::from(i) % 5], birth, i % 1000).to_string()
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let today = NaiveDate::from_ymd_opt(2026, 6, 1).unwrap();
    let ids = sample_ids();
    let mut group = c.benchmark_group("ids");
    group.throughput(Throughput::Elements(ids.len() as u64));
    group.bench_function("citizen_id_parse_1000", |b| {
        b.iter(|| {
            for id in &ids {
                black_box(CitizenId::parse_at(black_box(id), today).unwrap());
            }
        })
    });
    let legacy: Vec<String> = ids.iter().map(|id| format!("{}{}", &id[..6], &id[8..17])).collect();
    group.bench_function("citizen_id_upgrade_15_1000", |b| {
        b.iter(|| {
            for id in &legacy {
                black_box(CitizenId::parse_at(black_box(id), today).unwrap());
            }
        })
    });
    let codes: Vec<String> = (0..1000u32)
        .map(|i| CreditCode::from_parts("91", "510402", OrgCode::from_body(&format!("{:08}", i * 7919))).to_string())
        .collect();
    group.bench_function("credit_code_parse_1000", |b| {
        b.iter(|| {
            for code in &codes {
                black_box(CreditCode::parse(black_box(code)).unwrap());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
