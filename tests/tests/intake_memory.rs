//! Issue #4: a large CSV upload is read as a stream, so the host's memory does not grow with the
//! file. The host runs as a process of its own (the test's own buffers are not in its figures);
//! its anonymous resident memory (`RssAnon` in `/proc/<pid>/status`) is sampled every 5 ms while
//! an upload runs. `VmHWM` is not used: it also counts file pages the host maps (SQLite's
//! shared-memory index, and the database itself where `mmap_size` is set), which are the kernel's
//! page cache.

use canbao_tests::{free_port, manifest_in, manifest_without_schedule, HostProcess};

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// A process's anonymous resident memory now, in bytes.
fn rss_anon(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("/proc/<pid>/status");
    let line = status.lines().find(|l| l.starts_with("RssAnon:")).expect("RssAnon");
    let kb: u64 = line.split_whitespace().nth(1).and_then(|n| n.parse().ok()).expect("RssAnon in kB");
    kb * 1024
}

/// Runs `work` while sampling the process's anonymous resident memory; returns what `work`
/// returned and the largest sample.
fn peak_anon_during<T>(pid: u32, work: impl FnOnce() -> T) -> (T, u64) {
    use std::sync::atomic::{AtomicBool, Ordering};
    let stop = AtomicBool::new(false);
    std::thread::scope(|s| {
        let sampler = s.spawn(|| {
            let mut peak = rss_anon(pid);
            while !stop.load(Ordering::Relaxed) {
                peak = peak.max(rss_anon(pid));
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            peak.max(rss_anon(pid))
        });
        let out = work();
        stop.store(true, Ordering::Relaxed);
        (out, sampler.join().expect("sampler"))
    })
}

/// A public_security file of `rows` persons in UTF-8, about 100 bytes a row.
fn big_file(rows: u32) -> Vec<u8> {
    let mut csv = String::from("公民身份号码,姓名,户籍地址,居住地址\n");
    for i in 0..rows {
        let seq = i % 999 + 1;
        let day = i / 999 % 28 + 1;
        let id = canbao::ids::CitizenId::from_parts("510402", chrono::NaiveDate::from_ymd_opt(1980, 1, day).unwrap(), seq as u16);
        csv.push_str(&format!("{},张{},四川省攀枝花市东区炳草岗街道{}号,攀枝花市东区{}号\n", id.as_str(), i % 97, i % 500, i % 300));
    }
    csv.into_bytes()
}

fn upload(base: &str, bytes: &[u8]) -> (u16, serde_json::Value) {
    let mut r = agent()
        .post(format!("{base}/api/v1/intake/public_security/files"))
        .header("authorization", "Bearer dept-public-security")
        .header("content-type", "text/csv")
        .send(bytes)
        .expect("upload");
    let status = r.status().as_u16();
    (status, serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap())
}

#[test]
fn a_large_csv_upload_keeps_the_hosts_peak_memory_well_below_the_file_size() {
    let dir = tempfile::tempdir().unwrap();
    // Without the minute's intake run: processing the queued batches is not the upload's memory.
    let manifest = manifest_without_schedule(dir.path());
    let host = HostProcess::start(&manifest, &dir.path().join("state"), free_port(), &[]);
    // A small upload first: the intake component is compiled and instantiated once before the
    // figure is taken.
    let (status, _) = upload(&host.base, &big_file(1000));
    assert_eq!(status, 202);
    // A file of 20 MB, then one four times as large: if memory followed the file, the second
    // would need about 60 MB more than the first did (before issue #4 it needed 2.5 times its
    // size: 207 MiB for this 77 MiB file).
    let idle = rss_anon(host.pid());
    let ((status, body), peak_small) = peak_anon_during(host.pid(), || upload(&host.base, &big_file(205_000)));
    assert_eq!(status, 202, "{body}");
    let file = big_file(820_000);
    assert!(file.len() > 80_000_000, "{} bytes", file.len());
    let ((status, body), peak) = peak_anon_during(host.pid(), || upload(&host.base, &file));
    assert_eq!(status, 202, "{body}");
    let mib = |b: u64| b as f64 / f64::from(1 << 20);
    eprintln!(
        "host anonymous memory {:.0} MiB idle, at most {:.0} MiB during a 20 MB upload and {:.0} MiB during a {:.0} MiB upload",
        mib(idle),
        mib(peak_small),
        mib(peak),
        mib(file.len() as u64)
    );
    let growth = peak.saturating_sub(idle);
    // 21–34 MiB measured for either file: the component's memory (8 MiB, twice when an upload
    // starts before the last one's instance is back in the pool), up to three 4 MB parts in the
    // host (the component's, its copy, SQLite's), SQLite. The host maps large buffers on their
    // own (`MMAP_THRESHOLD` in host/src/main.rs); before it did, freed parts stayed in glibc's
    // per-thread heaps and the growth was 34–59 MiB, which failed this test in CI once. The
    // bounds fail by far with the whole body in memory.
    assert!(growth < file.len() as u64 * 2 / 3, "the host's memory grew {:.0} MiB for a {:.0} MiB upload", mib(growth), mib(file.len() as u64));
    assert!(peak.saturating_sub(peak_small) < 24 << 20, "four times the file needed {:.0} MiB more", mib(peak - peak_small));

    // The batch is all there: every row counted, the UTF-8 form stored in 4 MB parts.
    let id = body["batch_id"].as_str().unwrap();
    let mut r = agent()
        .get(format!("{}/api/v1/intake/batches/{id}", host.base))
        .header("authorization", "Bearer dept-public-security")
        .call()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().unwrap()).unwrap();
    assert_eq!((report["status"].as_str(), report["rows_total"].as_u64()), (Some("queued"), Some(820_000)), "{report}");
    let db = canbao::storage::native::NativeSql::open(dir.path().join("state/sqlite_db.db")).unwrap();
    use canbao::storage::Sql;
    let stored: i64 = db
        .query_one("SELECT sum(length(data)) FROM batch_parts WHERE batch_id = ?", &[id.into()])
        .unwrap()
        .unwrap()
        .get(0)
        .unwrap();
    assert_eq!(stored as usize, file.len());
}

#[test]
fn a_chunked_csv_upload_passing_the_limit_is_refused_and_stores_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest_in(dir.path());
    let host = HostProcess::start(&manifest, &dir.path().join("state"), free_port(), &[("intake_max_upload_bytes", "12000000")]);
    // 16 MB of a valid file, sent without a Content-Length: the limit is passed after the first
    // parts were stored in the upload's transaction.
    let file = big_file(170_000);
    assert!(file.len() > 16_000_000);
    let mut reader = std::io::Cursor::new(&file);
    let mut r = agent()
        .post(format!("{}/api/v1/intake/public_security/files", host.base))
        .header("authorization", "Bearer dept-public-security")
        .send(ureq::SendBody::from_reader(&mut reader));
    match &mut r {
        Ok(reply) => {
            let body: serde_json::Value = serde_json::from_slice(&reply.body_mut().read_to_vec().unwrap()).unwrap();
            assert_eq!((reply.status().as_u16(), body["error"]["code"].as_str()), (413, Some("too_large")), "{body}");
        }
        // The host answered 413 and closed the connection before the client had sent it all.
        Err(e) => eprintln!("the client saw the connection closed: {e}"),
    }
    let db = canbao::storage::native::NativeSql::open(dir.path().join("state/sqlite_db.db")).unwrap();
    use canbao::storage::Sql;
    for table in ["batches", "batch_parts"] {
        let n: i64 = db.query_one(&format!("SELECT count(*) FROM {table}"), &[]).unwrap().unwrap().get(0).unwrap();
        assert_eq!(n, 0, "{table}");
    }
}

/// A body sent slowly: `chunks` chunks of 64 KB, `pause` apart.
struct Slow<'a> {
    bytes: &'a [u8],
    pause: std::time::Duration,
}

impl std::io::Read for Slow<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.bytes.is_empty() {
            return Ok(0);
        }
        std::thread::sleep(self.pause);
        let n = buf.len().min(65_536).min(self.bytes.len());
        buf[..n].copy_from_slice(&self.bytes[..n]);
        self.bytes = &self.bytes[n..];
        Ok(n)
    }
}

#[test]
fn writes_go_on_while_a_slow_upload_streams_in() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = manifest_in(dir.path());
    let host = HostProcess::start(&manifest, &dir.path().join("state"), free_port(), &[]);
    // 10 MB at about 1.3 MB/s: two parts are staged on the way, for 8 s in all, longer than
    // the host's 5 s busy timeout.
    let file = big_file(105_000);
    let slow = std::thread::scope(|s| {
        let upload = s.spawn(|| {
            let mut reader = Slow { bytes: &file, pause: std::time::Duration::from_millis(50) };
            let mut r = agent()
                .post(format!("{}/api/v1/intake/public_security/files", host.base))
                .header("authorization", "Bearer dept-public-security")
                .send(ureq::SendBody::from_reader(&mut reader))
                .expect("upload");
            (r.status().as_u16(), r.body_mut().read_to_string().unwrap())
        });
        // Meanwhile an admin's intake run (which writes its audit row) answers at once, every time.
        for _ in 0..6 {
            std::thread::sleep(std::time::Duration::from_millis(1000));
            let started = std::time::Instant::now();
            let r = agent().post(format!("{}/api/v1/intake/run", host.base)).header("authorization", "Bearer admin-token").send_empty().unwrap();
            assert_eq!(r.status().as_u16(), 200);
            assert!(started.elapsed() < std::time::Duration::from_secs(2), "a write waited {:?} for the upload", started.elapsed());
        }
        upload.join().unwrap()
    });
    assert_eq!(slow.0, 202, "{}", slow.1);
}
