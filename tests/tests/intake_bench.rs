//! The intake benchmark (BENCHMARKS.md "Intake"), run by `scripts/bench-intake`: a generated
//! public_security file (in parts of at most 1,048,575 rows), upload to done, once through the
//! wasm component in the host binary over HTTP and once natively through the same `shared` code.
//! Ignored by default: it needs `INTAKE_BENCH_DIR` (a `canbao-gen --formats csv` output) and the
//! host at `INTAKE_BENCH_HOST` built with release components.

use canbao::intake::{process, queue_file, Queued, Upload};
use canbao::storage::native::NativeSql;
use canbao::codes::Source;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The generated public_security file parts, in order.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("INTAKE_BENCH_DIR")
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy().to_string();
            n.starts_with("01_public_security") && n.ends_with(".csv") && !n.contains("gb18030")
        })
        .collect();
    v.sort();
    v
}

/// Figures of one run.
#[derive(Debug, Default)]
struct Figures {
    rows: u64,
    seconds: f64,
    /// Of which uploading (and queueing) the files.
    upload_seconds: f64,
    longest_invocation_ms: u64,
    invocations: u64,
    /// Each invocation's wall time, in milliseconds.
    invocation_ms: Vec<u64>,
    /// The database's size afterwards (file and WAL), in bytes.
    database_bytes: u64,
}

impl Figures {
    fn print(&self, label: &str) {
        println!(
            "{label}: {} rows in {:.1} s = {:.0} rows/s (upload {:.1} s, processing {:.0} rows/s); {} invocations, longest {} ms",
            self.rows,
            self.seconds,
            self.rows as f64 / self.seconds,
            self.upload_seconds,
            self.rows as f64 / (self.seconds - self.upload_seconds),
            self.invocations,
            self.longest_invocation_ms
        );
        let mut ms = self.invocation_ms.clone();
        ms.sort_unstable();
        let at = |q: f64| ms.get(((ms.len() as f64 - 1.0) * q).round() as usize).copied().unwrap_or(0);
        println!(
            "{label}: invocations p50 {} ms, p90 {} ms, max {} ms; {} over the 5,000 ms budget",
            at(0.5),
            at(0.9),
            at(1.0),
            ms.iter().filter(|&&m| m > 5000).count()
        );
        println!(
            "{label}: database {} MiB = {:.2} GB per million rows",
            self.database_bytes >> 20,
            self.database_bytes as f64 / self.rows.max(1) as f64 * 1e6 / 1e9
        );
    }
}

fn native(files: &[PathBuf], budget: Duration) -> Figures {
    let dir = tempfile::tempdir().unwrap();
    let db = NativeSql::open(dir.path().join("bench.db")).unwrap();
    let started = Instant::now();
    let mut f = Figures::default();
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        let upload =
            Upload { source: Source::PublicSecurity, file_name: None, sheet: None, uploaded_by: "bench", bytes: &bytes, limits: Default::default() };
        assert!(matches!(queue_file(&db, &upload, chrono::Utc::now()).unwrap(), Queued::New(_)));
    }
    f.upload_seconds = started.elapsed().as_secs_f64();
    loop {
        let t = Instant::now();
        let r = process::run(&db, chrono::Utc::now(), budget, "bench").unwrap();
        f.longest_invocation_ms = f.longest_invocation_ms.max(t.elapsed().as_millis() as u64);
        f.invocation_ms.push(t.elapsed().as_millis() as u64);
        f.invocations += 1;
        f.rows += r.rows;
        if !r.more {
            break;
        }
    }
    f.seconds = started.elapsed().as_secs_f64();
    drop(db);
    f.database_bytes = database_bytes(&dir.path().join("bench.db"));
    f
}

/// A SQLite database's size on disk with its WAL.
fn database_bytes(path: &Path) -> u64 {
    let wal = path.with_extension("db-wal");
    [path, wal.as_path()].iter().filter_map(|p| std::fs::metadata(p).ok()).map(|m| m.len()).sum()
}

/// The highest resident memory of a process seen while the run went on, split into anonymous
/// memory (heaps, wasm instances) and file pages (the database read through the memory map),
/// sampled every 50 ms; `VmHWM` gives only their sum.
#[derive(Debug, Default, Clone, Copy)]
struct PeakMemory {
    anon_kib: u64,
    file_kib: u64,
}

fn sample_memory(pid: u32, stop: std::sync::Arc<std::sync::atomic::AtomicBool>) -> std::thread::JoinHandle<PeakMemory> {
    std::thread::spawn(move || {
        let mut peak = PeakMemory::default();
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let kib = |key: &str| -> u64 {
                status.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
            };
            peak.anon_kib = peak.anon_kib.max(kib("RssAnon:"));
            peak.file_kib = peak.file_kib.max(kib("RssFile:") + kib("RssShmem:"));
            std::thread::sleep(Duration::from_millis(50));
        }
        peak
    })
}

struct Host(Child);

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn peak_memory_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status.lines().find(|l| l.starts_with("VmHWM:")).and_then(|l| l.split_whitespace().nth(1)).and_then(|v| v.parse().ok()).unwrap_or(0)
}

fn through_host(files: &[PathBuf], host: &Path, budget: Duration) -> (Figures, u64, PeakMemory) {
    let state = tempfile::tempdir().unwrap();
    let port = 30_000 + (std::process::id() % 20_000) as u16;
    let listen = format!("127.0.0.1:{port}");
    let manifest = canbao_tests::manifest_in(state.path());
    let child = Command::new(host)
        .args(["up", "--from", manifest.to_str().unwrap(), "--listen", &listen, "--state-dir"])
        .arg(state.path())
        .env("SPIN_VARIABLE_ACCESS_TOKENS", canbao_tests::access_tokens_json())
        .env("SPIN_VARIABLE_INTAKE_MAX_UPLOAD_BYTES", "1000000000")
        .env("SPIN_VARIABLE_INTAKE_TIME_BUDGET_MS", budget.as_millis().to_string())
        .stdout(Stdio::null())
        .spawn()
        .expect("host binary");
    let host = Host(child);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let sampler = sample_memory(host.0.id(), stop.clone());
    let base = format!("http://{listen}");
    let agent: ureq::Agent = ureq::Agent::config_builder().http_status_as_error(false).timeout_global(Some(Duration::from_secs(600))).build().into();
    for _ in 0..200 {
        if agent.get(format!("{base}/api/v1/intake/health")).call().is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let started = Instant::now();
    let mut f = Figures::default();
    let mut batches = Vec::new();
    for path in files {
        let bytes = std::fs::read(path).unwrap();
        let mut r = agent
            .post(format!("{base}/api/v1/intake/public_security/files"))
            .header("authorization", "Bearer dept-public-security")
            .send(&bytes[..])
            .unwrap();
        assert_eq!(r.status(), 202);
        let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
        batches.push(v["batch_id"].as_str().unwrap().to_string());
    }
    f.upload_seconds = started.elapsed().as_secs_f64();
    loop {
        let t = Instant::now();
        let mut r = agent.post(format!("{base}/api/v1/intake/run")).header("authorization", "Bearer admin-token").send_empty().unwrap();
        assert_eq!(r.status(), 200);
        let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
        f.longest_invocation_ms = f.longest_invocation_ms.max(t.elapsed().as_millis() as u64);
        f.invocation_ms.push(t.elapsed().as_millis() as u64);
        f.invocations += 1;
        if !v["more"].as_bool().unwrap() {
            break;
        }
        // The host's cron tick holds the intake lock: ask again shortly instead of spinning.
        if v["busy"].as_bool() == Some(true) {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    f.seconds = started.elapsed().as_secs_f64();
    // Every row of the files, whichever invocation did it (the host's cron tick takes some).
    for id in &batches {
        let mut r = agent.get(format!("{base}/api/v1/intake/batches/{id}")).header("authorization", "Bearer admin-token").call().unwrap();
        let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
        assert_eq!(v["status"], "done", "{v}");
        f.rows += v["rows_processed"].as_u64().unwrap();
    }
    let peak = peak_memory_kib(host.0.id());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let split = sampler.join().unwrap();
    f.database_bytes = database_bytes(&state.path().join("sqlite_db.db"));
    (f, peak, split)
}

#[test]
#[ignore = "benchmark: run scripts/bench-intake"]
fn intake_benchmark() {
    let dir = PathBuf::from(std::env::var("INTAKE_BENCH_DIR").expect("INTAKE_BENCH_DIR"));
    let host = PathBuf::from(std::env::var("INTAKE_BENCH_HOST").expect("INTAKE_BENCH_HOST"));
    let files = files(&dir);
    assert!(!files.is_empty(), "no public_security CSV in {}", dir.display());
    let budget = Duration::from_millis(5000);
    // INTAKE_BENCH_ONLY=wasm|native runs one side only (while tuning).
    let only = std::env::var("INTAKE_BENCH_ONLY").unwrap_or_default();
    let wasm = (only != "native").then(|| {
        let (wasm, peak, split) = through_host(&files, &host, budget);
        wasm.print("wasm component in the host (upload to done)");
        println!(
            "peak host memory: {} MiB (VmHWM); highest samples: {} MiB anonymous, {} MiB file pages",
            peak / 1024,
            split.anon_kib / 1024,
            split.file_kib / 1024
        );
        wasm
    });
    let native = (only != "wasm").then(|| {
        let native = native(&files, budget);
        native.print("native, same shared code (upload to done)");
        native
    });
    if let (Some(wasm), Some(native)) = (wasm, native) {
        println!("wasm/native time ratio: {:.2}", wasm.seconds / native.seconds);
    }
}
