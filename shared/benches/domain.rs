//! Domain throughput: how many records merge by precedence per second (pure, and saved to SQLite
//! in transactions of 1,000 the way intake does), and how long the 一人多号 duplicate search takes
//! over a city of 1.2 million synthetic people. Run: `cargo bench -p canbao --features native --bench domain`.

use canbao::codes::{Ethnicity, Gender, Source};
use canbao::duplicates::{find_candidates, DuplicateIndex, PersonKey};
use canbao::ids::{CitizenId, Phone};
use canbao::merge::{merge_by_precedence, Observation};
use canbao::person::{Origin, Person, Provenance};
use canbao::regions::RegionCode;
use canbao::storage::native::NativeSql;
use canbao::storage::{SqlExt, StorageError};
use canbao::store::{load_person, save_outcome};
use chrono::{DateTime, Duration, NaiveDate, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use std::collections::HashMap;

const COUNTIES: [&str; 5] = ["510402", "510403", "510411", "510421", "510422"];
const SURNAMES: &str = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛郝龚邵万钱严覃武戴莫孔向汤";
const GIVEN: &str = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英华玉兰萍鹏辉建红飞云琴梅林斌波宇浩凯健俊帆帅旭宁";

/// A small deterministic generator (xorshift64*), so every run sees the same city.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    /// Skewed towards small indexes, like real surname and given-name frequencies.
    fn skewed(&mut self, n: usize) -> usize {
        let a = self.below(n);
        self.below(a + 1)
    }
}

fn synthetic_city(n: usize, seed: u64) -> Vec<PersonKey> {
    let surnames: Vec<char> = SURNAMES.chars().collect();
    let given: Vec<char> = GIVEN.chars().collect();
    let mut rng = Rng(seed);
    let start = NaiveDate::from_ymd_opt(1930, 1, 1).unwrap();
    let mut people = Vec::with_capacity(n);
    for i in 0..n {
        let mut name = String::new();
        name.push(surnames[rng.skewed(surnames.len())]);
        name.push(given[rng.skewed(given.len())]);
        if rng.below(3) > 0 {
            name.push(given[rng.below(given.len())]);
        }
        let county = COUNTIES[rng.below(COUNTIES.len())];
        let birth = start + Duration::days(rng.below(90 * 365) as i64);
        let id = CitizenId::from_parts(county, birth, rng.below(1000) as u16);
        people.push(PersonKey::new(id, &name, Some(birth), Some(id.gender()), county));
        // About one in a thousand is registered a second time under a mistyped number.
        if i % 1000 == 7 {
            let typo = CitizenId::from_parts(county, birth, (id.sequence() + 1) % 1000);
            people.push(PersonKey::new(typo, &name, Some(birth), Some(typo.gender()), county));
        }
    }
    people
}

fn observation(rng: &mut Rng, id: CitizenId, source: Source, at: DateTime<Utc>) -> Observation {
    let mut o = Observation::new(id, Provenance { source, origin: Origin::Batch("bench".into()), at });
    o.name = Some(if rng.below(10) == 0 { "张山".into() } else { "张三".into() });
    o.gender = Some(id.gender());
    o.ethnicity = Some(Ethnicity::HAN);
    o.birth_date = Some(id.birth_date());
    o.hukou_address = Some("东区炳草岗大街1号".into());
    o.hukou_region = Some(RegionCode::parse(id.county_code()).unwrap().value);
    o.phone = Some(Phone::parse(&format!("138{:08}", rng.below(100_000_000))).unwrap().value);
    o
}

fn observations(n: usize) -> Vec<Observation> {
    let mut rng = Rng(42);
    let base = DateTime::parse_from_rfc3339("2024-01-01T00:00:00Z").unwrap().with_timezone(&Utc);
    let sources = [Source::PublicSecurity, Source::Survey, Source::CivilAffairs, Source::SelfReport];
    (0..n)
        .map(|i| {
            let birth = NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + Duration::days((i / 4 % 20_000) as i64);
            let id = CitizenId::from_parts("510402", birth, (i / 4 / 20_000 % 1000) as u16);
            observation(&mut rng, id, sources[i % 4], base + Duration::minutes(i as i64))
        })
        .collect()
}

fn merge_benches(c: &mut Criterion) {
    let obs = observations(40_000);
    let mut group = c.benchmark_group("merge");
    group.throughput(Throughput::Elements(obs.len() as u64));
    group.sample_size(10);
    group.bench_function("pure_40k_observations", |b| {
        b.iter(|| {
            let mut persons: HashMap<CitizenId, Person> = HashMap::new();
            for o in &obs {
                let out = merge_by_precedence(persons.get(&o.id), o);
                persons.insert(o.id, out.person);
            }
            persons.len()
        })
    });
    let small = &obs[..10_000];
    group.throughput(Throughput::Elements(small.len() as u64));
    group.bench_function("load_merge_save_10k_in_sqlite_wal", |b| {
        b.iter_batched(
            || {
                let dir = std::env::temp_dir().join(format!("canbao-bench-{}", std::process::id()));
                std::fs::create_dir_all(&dir).unwrap();
                let path = dir.join("bench.db");
                for suffix in ["", "-wal", "-shm"] {
                    let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
                }
                NativeSql::open(&path).unwrap()
            },
            |db| {
                for chunk in small.chunks(1000) {
                    db.transaction(|tx| {
                        for o in chunk {
                            let current = load_person(tx, &o.id)?;
                            let out = merge_by_precedence(current.as_ref(), o);
                            save_outcome(tx, &out, o.provenance.at)?;
                        }
                        Ok::<_, StorageError>(())
                    })
                    .unwrap();
                }
            },
            BatchSize::PerIteration,
        )
    });
    group.finish();
}

fn duplicate_benches(c: &mut Criterion) {
    let city = synthetic_city(1_200_000, 7);
    let mut group = c.benchmark_group("duplicates");
    group.sample_size(10);
    group.throughput(Throughput::Elements(city.len() as u64));
    group.bench_function("find_candidates_1_2m", |b| b.iter(|| find_candidates(&city).len()));
    let index = DuplicateIndex::build(city.iter().cloned());
    let touched: Vec<PersonKey> = city.iter().step_by(1200).cloned().collect();
    group.throughput(Throughput::Elements(touched.len() as u64));
    group.bench_function("incremental_1000_touched_in_1_2m", |b| b.iter(|| index.candidates_for(&touched).len()));
    group.finish();
    let found = find_candidates(&city);
    let by_gender = city.iter().filter(|p| p.gender == Some(Gender::Male)).count();
    eprintln!("duplicates: {} persons ({} male), {} candidate pairs", city.len(), by_gender, found.len());
}

criterion_group!(benches, merge_benches, duplicate_benches);
criterion_main!(benches);
