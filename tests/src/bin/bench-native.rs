//! The native half of `scripts/bench`: the same core workloads the wasm components serve in the
//! host (health, public lookup, registration submit, stats overview), called natively on the
//! same `shared` API functions (`canbao::api::*::route`) with rusqlite (`NativeSql`, one
//! connection per thread, as a native server would keep) and an in-memory key-value store per
//! thread (`MemoryKv`: the code's cost, not a store's fsyncs), on a copy of the database the
//! wasm run loaded. One JSON line per workload. The `<kv-db>` argument is kept for the script.
//!
//! Usage: `bench-native <db> <kv-db> <lookup-sample.tsv> <seconds> <threads>`
//! (`BENCH_ONLY=registration,lookup` runs only the workloads named.)

use canbao::api::{self, Env, Request, Variables};
use canbao::auth::token_hash;
use canbao::storage::native::NativeSql;
use canbao::storage::MemoryKv;
use serde_json::json;
use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const ADMIN_TOKEN: &str = "bench-native-admin";

struct Vars(HashMap<&'static str, String>);

impl Variables for Vars {
    fn get(&self, name: &str) -> Option<String> {
        self.0.get(name).cloned()
    }
}

fn vars() -> Vars {
    let tokens = json!([{"sha256": token_hash(ADMIN_TOKEN), "role": "admin", "name": "bench"}]);
    Vars(HashMap::from([
        ("access_tokens", tokens.to_string()),
        ("lookup_rate_limit_per_minute", "100000000".to_string()),
        ("registration_rate_limit_per_hour", "100000000".to_string()),
    ]))
}

/// A citizen ID that is valid (GB 11643 check character) for sequence `n`: county 510403, a
/// birth date in 1950..1999 and a three-digit sequence number (as the wrk Lua script does, in
/// another county so the native run adds persons of its own).
fn citizen_id(n: u64) -> String {
    let day = (n % 18_000) as i64;
    let birth = chrono::NaiveDate::from_ymd_opt(1950, 1, 1).unwrap() + chrono::Duration::days(day);
    let seq = (n / 18_000) % 1000;
    let body = format!("510403{}{seq:03}", birth.format("%Y%m%d"));
    const W: [u32; 17] = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    let sum: u32 = body.bytes().zip(W).map(|(b, w)| u32::from(b - b'0') * w).sum();
    let check = b"10X98765432"[(sum % 11) as usize] as char;
    format!("{body}{check}")
}

/// A name for the `n`-th new person, from the same pool as scripts/wrk/register.lua (20 surnames,
/// 30 × 31 given names): spread as a city's names are, so the 一人多号 comparison with namesakes
/// costs what it would, not one ever-growing block of one shared name.
fn person_name(n: u64) -> String {
    const SURNAMES: [&str; 20] =
        ["王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡", "郭", "何", "林", "罗", "高"];
    const GIVEN: [&str; 30] = [
        "伟", "芳", "娜", "秀", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛", "明", "超", "兰", "霞", "平",
        "刚", "英", "华", "志", "海", "燕", "东", "梅", "玉",
    ];
    let h = n.wrapping_mul(2_654_435_761) % (1 << 32);
    let second = (h / 600) as usize % (GIVEN.len() + 1);
    format!(
        "{}{}{}",
        SURNAMES[h as usize % SURNAMES.len()],
        GIVEN[(h / 20) as usize % GIVEN.len()],
        GIVEN.get(second).copied().unwrap_or("")
    )
}

type Route = fn(&Env, &Request) -> api::ApiResult;

/// Builds the `i`-th request of a workload for thread `t`.
type Make = Arc<dyn Fn(usize, u64) -> Request + Send + Sync>;

struct Workload {
    name: &'static str,
    route: Route,
    make: Make,
}

fn request(method: &str, path_and_query: &str) -> Request {
    let mut r = Request::new(method, path_and_query);
    r.client_ip = Some("127.0.0.1".into());
    r
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    anyhow::ensure!(
        args.len() == 6,
        "usage: bench-native <db> <kv-db> <lookup-sample.tsv> <seconds> <threads>"
    );
    let db = PathBuf::from(&args[1]);
    let kv = PathBuf::from(&args[2]);
    let sample: Arc<Vec<String>> = Arc::new(
        std::fs::read_to_string(&args[3])?
            .lines()
            .filter_map(|l| l.split_once('\t'))
            .map(|(id, name)| format!("/api/v1/lookup?id_number={id}&name={name}"))
            .collect(),
    );
    anyhow::ensure!(!sample.is_empty(), "the lookup sample {} is empty", args[3]);
    let seconds: f64 = args[4].parse()?;
    let threads: usize = args[5].parse()?;

    let workloads = vec![
        Workload {
            name: "health",
            route: api::lookup::route,
            make: Arc::new(|_, _| request("GET", "/api/v1/lookup/health")),
        },
        Workload {
            name: "lookup",
            route: api::lookup::route,
            make: {
                let sample = sample.clone();
                Arc::new(move |t, i| {
                    // A cheap spread over the sample without a random number generator.
                    let k = (i.wrapping_mul(2_654_435_761) as usize + t * 7919) % sample.len();
                    request("GET", &sample[k])
                })
            },
        },
        Workload {
            name: "registration",
            route: api::registration::route,
            make: Arc::new(|t, i| {
                let n = t as u64 * 9_000_000 + i;
                let body = json!({
                    "id_number": citizen_id(n),
                    "name": person_name(n),
                    "ethnicity": "01",
                    "hukou_region": "510402001",
                    "residence_address": format!("东区示例街道一新华街{}号", i % 500),
                    "residence_region": "510402001001",
                    "phone": "13812345678",
                    "employment_status": "flexible",
                    "insurance": [{"scheme": "390", "status": "active"}],
                });
                let mut r = request("POST", "/api/v1/registrations");
                r.headers = vec![
                    ("content-type".into(), "application/json".into()),
                    ("authorization".into(), format!("Bearer {ADMIN_TOKEN}")),
                ];
                r.body = body.to_string().into_bytes();
                r
            }),
        },
        Workload {
            name: "stats",
            route: api::stats::route,
            make: Arc::new(|_, _| request("GET", "/api/v1/stats/overview")),
        },
    ];

    // BENCH_ONLY=registration (a comma-separated list) runs only those workloads, for profiling one.
    let only = std::env::var("BENCH_ONLY").ok();
    for w in workloads.into_iter().filter(|w| only.as_deref().is_none_or(|o| o.split(',').any(|n| n == w.name))) {
        let deadline = Instant::now() + Duration::from_secs_f64(seconds);
        let non2xx = Arc::new(AtomicU64::new(0));
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (db, kv, make, route, non2xx) =
                    (db.clone(), kv.clone(), w.make.clone(), w.route, non2xx.clone());
                std::thread::spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let sql = NativeSql::open(&db)?;
                    let _ = &kv;
                    let kv = MemoryKv::new();
                    let vars = vars();
                    let mut latencies = Vec::new();
                    let mut i = 0u64;
                    while Instant::now() < deadline {
                        let req = make(t, i);
                        let t0 = Instant::now();
                        let env = Env { sql: &sql, kv: &kv, vars: &vars, now: chrono::Utc::now() };
                        let resp = api::respond(route(&env, &req));
                        latencies.push(t0.elapsed());
                        if !(200..300).contains(&resp.status) {
                            if non2xx.fetch_add(1, Ordering::Relaxed) == 0 {
                                eprintln!(
                                    "{} {}: {} {}",
                                    req.method,
                                    req.path,
                                    resp.status,
                                    String::from_utf8_lossy(&resp.body).chars().take(300).collect::<String>()
                                );
                            }
                        }
                        i += 1;
                    }
                    Ok(latencies)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().expect("bench thread")?);
        }
        let elapsed = started.elapsed().as_secs_f64();
        all.sort();
        let pct = |p: f64| {
            all.get(((all.len() as f64 * p) as usize).min(all.len().saturating_sub(1)))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        println!(
            "{}",
            json!({
                "workload": w.name,
                "threads": threads,
                "requests": all.len(),
                "rps": all.len() as f64 / elapsed,
                "p50_ms": pct(0.50),
                "p99_ms": pct(0.99),
                "non2xx": non2xx.load(Ordering::Relaxed),
            })
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn generated_ids_are_valid() {
        for n in [0, 1, 17_999, 18_000, 9_000_000, 9_123_456] {
            let id = super::citizen_id(n);
            assert!(canbao::ids::CitizenId::parse(&id).is_ok(), "{id}");
        }
    }
}
