//! Kill test: the host binary is killed with SIGKILL at several points while it processes a
//! large batch, restarted on the same state, and the final database must equal that of an
//! uninterrupted run (compared as a dump of every row without its wall-clock times).

use canbao::storage::native::NativeSql;
use canbao::storage::{Sql, SqlValue};
use canbao_gen::CityConfig;
use canbao_tests::{free_port, HostProcess};
use std::path::Path;
use std::time::Duration;

/// The intake time budget of these hosts: short, so that a kill lands between many commits.
const VARS: &[(&str, &str)] = &[("intake_time_budget_ms", "300")];

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

/// The department's upload of `bytes` to the host at `base`.
fn upload(base: &str, bytes: &[u8]) {
    let r = agent()
        .post(format!("{base}/api/v1/intake/public_security/files"))
        .header("authorization", "Bearer dept-public-security")
        .send(bytes)
        .expect("upload");
    assert!(r.status() == 202 || r.status() == 200);
}

/// One `run` call on the host at `base`: whether work is left; `None` when the connection died
/// (the host was killed meanwhile).
fn run(base: &str) -> Option<bool> {
    let mut r = agent().post(format!("{base}/api/v1/intake/run")).header("authorization", "Bearer admin-token").send_empty().ok()?;
    let v: serde_json::Value = serde_json::from_slice(&r.body_mut().read_to_vec().ok()?).ok()?;
    v["more"].as_bool()
}

/// Every row of the base data and the batch report, without wall-clock columns.
fn dump(state: &Path) -> Vec<String> {
    const QUERIES: &[&str] = &[
        "SELECT id_number, name, gender, ethnicity, birth_date, hukou_address, hukou_region, residence_address,
            residence_region, phone, employment_status, employer_name, employer_credit_code, person_status,
            person_status_date, flag_minimum_living, flag_extreme_poverty, flag_student, flag_deceased, region_hukou,
            region_residence, registered, complete, missing_fields FROM persons ORDER BY id_number",
        "SELECT p.id_number, s.value ->> 0, s.value ->> 1, s.value -> 3 FROM persons p, json_each(p.provenance) s
            ORDER BY p.id_number, s.key",
        "SELECT id_number, source, origin, changes FROM person_history ORDER BY id_number, id",
        "SELECT id_number, scheme, status, since, region, source FROM enrollments ORDER BY id_number, scheme",
        "SELECT id_number, field, status FROM conflicts ORDER BY id_number, field",
        "SELECT batch_id, line, column_name, reason, message FROM batch_row_errors ORDER BY batch_id, line",
        "SELECT id, status, rows_total, rows_processed, accepted, rejected, new_persons, updated_persons, corrections,
            conflicts, duplicates_in_file, detail FROM batches ORDER BY id",
    ];
    let db = NativeSql::open(state.join("sqlite_db.db")).expect("db");
    let mut out = Vec::new();
    for q in QUERIES {
        for row in db.execute(q, &[]).unwrap().iter() {
            let cells: Vec<String> = row
                .values()
                .iter()
                .map(|v| match v {
                    SqlValue::Null => "∅".to_string(),
                    SqlValue::Integer(i) => i.to_string(),
                    SqlValue::Real(f) => f.to_string(),
                    SqlValue::Text(t) => t.clone(),
                    SqlValue::Blob(b) => format!("{b:?}"),
                })
                .collect();
            out.push(cells.join("|"));
        }
    }
    out
}

/// The batch's status and rows processed, read from a killed host's database.
fn batch_progress(state: &Path) -> (String, i64) {
    let db = NativeSql::open(state.join("sqlite_db.db")).expect("db");
    let row = db.query_one("SELECT status, rows_processed FROM batches", &[]).unwrap().expect("a batch");
    (row.get(0).unwrap(), row.get(1).unwrap())
}

#[test]
fn a_killed_host_resumes_exactly_where_the_last_commit_left_off() {
    canbao_tests::build_components();
    let manifest_dir = tempfile::tempdir().unwrap();
    let manifest = canbao_tests::manifest_in(manifest_dir.path());
    let city = canbao_gen::generate(&CityConfig { people: 20_000, seed: 21, error_rate: 0.01, ..CityConfig::default() }).unwrap();
    let file = &city.files[0].csv_utf8;

    // The uninterrupted run.
    let calm = tempfile::tempdir().unwrap();
    let host = HostProcess::start(&manifest, calm.path(), free_port(), VARS);
    upload(&host.base, file);
    while run(&host.base).expect("run") {}
    host.kill();
    let expected = dump(calm.path());

    // Killed in the middle of `run` calls at several points, restarted each time.
    let killed = tempfile::tempdir().unwrap();
    let mut host = HostProcess::start(&manifest, killed.path(), free_port(), VARS);
    upload(&host.base, file);
    let mut progress = Vec::new();
    for delay_ms in [150u64, 420, 90, 700, 260] {
        let base = host.base.clone();
        let runner = std::thread::spawn(move || while run(&base) == Some(true) {});
        std::thread::sleep(Duration::from_millis(delay_ms));
        host.kill();
        runner.join().unwrap();
        progress.push(batch_progress(killed.path()));
        host = HostProcess::start(&manifest, killed.path(), free_port(), VARS);
        // Let the killed invocation's lease (2 × 300 ms budget + 5 s) expire, so that the next
        // kill lands in the middle of processing again rather than while the batch is held.
        std::thread::sleep(Duration::from_millis(5_700));
    }
    // The kills landed mid-batch: the batch moved on between kills and was not done before the last.
    let moved = progress.windows(2).filter(|w| w[1].1 > w[0].1).count();
    assert!(moved >= 2 && progress.iter().all(|(status, _)| status != "done"), "kills did not interrupt processing: {progress:?}");
    // The lease of a killed invocation expires; then the work finishes.
    let mut rounds = 0;
    while run(&host.base).expect("run") {
        rounds += 1;
        assert!(rounds < 100_000, "intake never finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    host.kill();
    let got = dump(killed.path());
    assert_eq!(got.len(), expected.len(), "row counts differ");
    for (g, e) in got.iter().zip(&expected) {
        assert_eq!(g, e);
    }
}
