//! Kill test for registrations: several clients submit registrations concurrently (unique valid
//! IDs; some public, some by a collector; most with an `Idempotency-Key`, some replayed at once),
//! the host is killed with SIGKILL in the middle of that load a few times and restarted on the
//! same state, and then the database is checked against the clients' log of what was
//! acknowledged (a 2xx received): every acknowledged registration is there exactly once, with
//! its person, provenance and audit row; nothing unacknowledged is half written; every key
//! replayed after the restart gets its first receipt (or, if its first attempt never committed,
//! is registered now, once).

use canbao::ids::CitizenId;
use canbao::storage::native::NativeSql;
use canbao::storage::Sql;
use canbao_tests::HostProcess;
use chrono::NaiveDate;
use serde_json::{json, Value};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

const CLIENTS: u32 = 6;
const VARS: &[(&str, &str)] = &[("registration_rate_limit_per_hour", "100000000")];

/// One submission as its client saw it.
#[derive(Debug, Clone)]
struct Attempt {
    id: String,
    token: Option<&'static str>,
    key: Option<String>,
    body: Value,
    /// The status and receipt of the answer, if one arrived.
    answer: Option<(u16, Option<String>)>,
}

impl Attempt {
    fn acknowledged(&self) -> Option<&str> {
        match &self.answer {
            Some((status, Some(receipt))) if (200..300).contains(status) => Some(receipt),
            _ => None,
        }
    }
}

/// A valid, unique ID for the `n`-th submission: birth dates from 1940 on, 900 sequence numbers
/// a day.
fn citizen(n: u32) -> CitizenId {
    let birth = NaiveDate::from_ymd_opt(1940, 1, 1).unwrap() + chrono::Days::new(u64::from(n / 900));
    CitizenId::from_parts("510402", birth, (n % 900 + 1) as u16)
}

fn form(id: &CitizenId, n: u32) -> Value {
    json!({
        "id_number": id.as_str(),
        "name": "李秀英",
        "gender": id.gender().code(),
        "birth_date": id.birth_date().to_string(),
        "hukou_address": "四川省攀枝花市东区示例街道一新华街12号",
        "hukou_region": "510402001",
        "residence_address": format!("东区示例街道一新华街{}号", n % 300 + 1),
        "residence_region": "510402001001",
        "phone": format!("138{:08}", n),
        "employment_status": "flexible",
    })
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into()
}

/// Sends one registration; `None` when no answer arrived (the host died or was down).
fn submit(base: &str, a: &Attempt) -> Option<(u16, Option<String>)> {
    let mut req = agent().post(format!("{base}/api/v1/registrations")).header("content-type", "application/json");
    if let Some(t) = a.token {
        req = req.header("authorization", format!("Bearer {t}"));
    }
    if let Some(k) = &a.key {
        req = req.header("idempotency-key", k);
    }
    let mut r = req.send(serde_json::to_vec(&a.body).unwrap()).ok()?;
    let status = r.status().as_u16();
    let body = r.body_mut().read_to_vec().ok()?;
    let receipt = serde_json::from_slice::<Value>(&body).ok().and_then(|v| v["receipt_id"].as_str().map(String::from));
    Some((status, receipt))
}

/// One client: submits until told to stop, logging every attempt; replays some acknowledged
/// keys at once (logged as their own attempts).
fn client(base: String, next: Arc<AtomicU32>, stop: Arc<AtomicBool>, log: Arc<Mutex<Vec<Attempt>>>) {
    while !stop.load(Ordering::Relaxed) {
        let n = next.fetch_add(1, Ordering::Relaxed);
        let id = citizen(n);
        let (token, keyed) = match n % 4 {
            0 => (None, false),
            1 | 2 => (None, true),
            _ => (Some("collector-east"), true),
        };
        let key = keyed.then(|| format!("kill-{n}"));
        let mut attempt = Attempt { id: id.as_str().to_string(), token, key, body: form(&id, n), answer: None };
        attempt.answer = submit(&base, &attempt);
        let replay = attempt.acknowledged().is_some() && attempt.key.is_some() && n % 3 == 0;
        let down = attempt.answer.is_none();
        log.lock().unwrap().push(attempt.clone());
        if replay {
            let mut again = attempt.clone();
            again.answer = submit(&base, &again);
            log.lock().unwrap().push(again);
        }
        if down {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn db(state: &std::path::Path) -> NativeSql {
    NativeSql::open(state.join("sqlite_db.db")).expect("db")
}

fn count(db: &NativeSql, sql: &str, params: &[canbao::storage::SqlValue]) -> i64 {
    db.execute(sql, params).unwrap().scalar::<i64>().unwrap().unwrap_or(0)
}

#[test]
fn registrations_acknowledged_before_a_kill_are_there_exactly_once_and_nothing_is_half_written() {
    canbao_tests::build_components();
    let manifest_dir = tempfile::tempdir().unwrap();
    let manifest = canbao_tests::manifest_in(manifest_dir.path());
    let state_dir = tempfile::tempdir().unwrap();
    let state = state_dir.path().join("state");
    let port = canbao_tests::free_port();
    let mut host = HostProcess::start(&manifest, &state, port, VARS);
    let base = host.base.clone();

    let next = Arc::new(AtomicU32::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let log = Arc::new(Mutex::new(Vec::new()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let (base, next, stop, log) = (base.clone(), next.clone(), stop.clone(), log.clone());
            std::thread::spawn(move || client(base, next, stop, log))
        })
        .collect();

    // Killed three times under load; each time some requests are in flight.
    let mut acknowledged_at_kill = Vec::new();
    for delay_ms in [2_500u64, 1_700, 3_100] {
        std::thread::sleep(Duration::from_millis(delay_ms));
        host.kill();
        acknowledged_at_kill.push(log.lock().unwrap().iter().filter(|a| a.acknowledged().is_some()).count());
        std::thread::sleep(Duration::from_millis(300));
        host = HostProcess::start(&manifest, &state, port, VARS);
    }
    std::thread::sleep(Duration::from_millis(1_500));
    stop.store(true, Ordering::Relaxed);
    for c in clients {
        c.join().unwrap();
    }
    let log = std::mem::take(&mut *log.lock().unwrap());

    // The load went on between kills, and some requests died with the host.
    assert!(acknowledged_at_kill.windows(2).all(|w| w[1] > w[0]), "no progress between kills: {acknowledged_at_kill:?}");
    let lost = log.iter().filter(|a| a.answer.is_none()).count();
    assert!(lost > 0, "no request was cut off by a kill");
    // Every answer that arrived was a success: no 5xx, no refusals.
    let bad: Vec<_> = log.iter().filter(|a| matches!(a.answer, Some((s, _)) if !(200..300).contains(&s))).collect();
    assert!(bad.is_empty(), "answers other than 2xx: {bad:?}");
    // Replays during the load got the first receipt.
    let mut first_receipt: BTreeMap<&str, &str> = BTreeMap::new();
    for a in &log {
        if let (Some(key), Some(receipt)) = (&a.key, a.acknowledged()) {
            let first = *first_receipt.entry(key.as_str()).or_insert(receipt);
            assert_eq!(first, receipt, "key {key} answered with two receipts");
        }
    }

    // After the restart, every key is sent again with its body: an acknowledged key gets its
    // receipt again (200); a key whose first attempt got no answer gets the receipt if that
    // attempt committed (200), or is registered now (201).
    let mut receipt_of: BTreeMap<String, String> = BTreeMap::new();
    for a in log.iter().filter(|a| a.acknowledged().is_some()) {
        receipt_of.entry(a.id.clone()).or_insert_with(|| a.acknowledged().unwrap().to_string());
    }
    let keyed: BTreeMap<&str, &Attempt> = log.iter().filter_map(|a| a.key.as_deref().map(|k| (k, a))).collect();
    let (mut replayed, mut cut_off_but_committed) = (0, 0);
    for (key, a) in &keyed {
        let (status, receipt) = submit(&host.base, a).unwrap_or_else(|| panic!("no answer to the replay of {key}"));
        let receipt = receipt.unwrap_or_else(|| panic!("replay of {key}: {status} without a receipt"));
        match receipt_of.get(&a.id) {
            Some(first) => {
                assert_eq!((status, &receipt), (200, first), "replay of acknowledged key {key}");
                replayed += 1;
            }
            None => {
                assert!(status == 200 || status == 201, "replay of unacknowledged key {key}: {status}");
                cut_off_but_committed += usize::from(status == 200);
                receipt_of.insert(a.id.clone(), receipt);
            }
        }
    }
    assert!(replayed > 100, "only {replayed} acknowledged keys replayed");

    // Each person's current name comes from its receipt (provenance), read through the staff view.
    for (id, receipt) in &receipt_of {
        let r = agent().get(format!("{}/api/v1/persons/{id}", host.base)).header("authorization", "Bearer admin-token").call().unwrap();
        assert_eq!(r.status(), 200, "{id}");
        let view: Value = serde_json::from_slice(&r.into_body().read_to_vec().unwrap()).unwrap();
        let name = view["fields"].as_array().unwrap().iter().find(|f| f["field"] == "name").unwrap();
        assert_eq!(name["provenance"]["origin"], format!("receipt:{receipt}"), "{id}: {name}");
    }
    host.kill();

    // The database against the log.
    let db = db(&state);
    let submitted: BTreeSet<&str> = log.iter().map(|a| a.id.as_str()).collect();
    for (id, receipt) in &receipt_of {
        let p = [id.as_str().into()];
        assert_eq!(count(&db, "SELECT COUNT(*) FROM registrations WHERE id_number = ?", &p), 1, "{id}: registrations");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM persons WHERE id_number = ?", &p), 1, "{id}: person");
        // The audit row names the receipt as it was given (audit details are redacted like logs,
        // and a receipt is shaped so that redaction leaves it whole).
        let audit = "SELECT COUNT(*) FROM audit_log WHERE action = 'registration.submit' AND target_person = ?
            AND json_extract(detail, '$.receipt_id') = ?";
        assert_eq!(count(&db, audit, &[id.as_str().into(), receipt.as_str().into()]), 1, "{id}: audit row");
        assert_eq!(count(&db, "SELECT COUNT(*) FROM audit_log WHERE action = 'registration.submit' AND target_person = ?", &p), 1, "{id}");
        let row = "SELECT COUNT(*) FROM registrations WHERE id_number = ? AND receipt_id = ?";
        assert_eq!(count(&db, row, &[id.as_str().into(), receipt.as_str().into()]), 1, "{id}: receipt");
    }
    // Unkeyed submissions that got no answer may or may not have committed — but wholly or not
    // at all, and at most once.
    for id in submitted.iter().filter(|id| !receipt_of.contains_key(**id)) {
        let p = [(*id).into()];
        let (regs, persons) = (count(&db, "SELECT COUNT(*) FROM registrations WHERE id_number = ?", &p), count(&db, "SELECT COUNT(*) FROM persons WHERE id_number = ?", &p));
        assert!(regs <= 1 && regs == persons, "{id}: {regs} registrations, {persons} persons");
    }
    // Nothing half written anywhere: no person without its registration, no registration without
    // its person or its one audit row, no audit row without its registration.
    let orphans = [
        "SELECT COUNT(*) FROM persons p WHERE NOT EXISTS (SELECT 1 FROM registrations r WHERE r.id_number = p.id_number)",
        "SELECT COUNT(*) FROM registrations r WHERE NOT EXISTS (SELECT 1 FROM persons p WHERE p.id_number = r.id_number)",
        "SELECT COUNT(*) FROM registrations r WHERE (SELECT COUNT(*) FROM audit_log a WHERE a.action = 'registration.submit'
            AND a.target_person = r.id_number) != 1",
        "SELECT COUNT(*) FROM audit_log a WHERE a.action = 'registration.submit' AND NOT EXISTS
            (SELECT 1 FROM registrations r WHERE r.id_number = a.target_person)",
        "SELECT COUNT(*) FROM (SELECT id_number FROM registrations GROUP BY id_number HAVING COUNT(*) > 1)",
    ];
    for q in orphans {
        assert_eq!(count(&db, q, &[]), 0, "{q}");
    }
    let total = count(&db, "SELECT COUNT(*) FROM registrations", &[]);
    // Submissions that committed although their client never heard back (cut off by a kill):
    // keyed ones answered 200 when replayed above, unkeyed ones are in the database.
    let committed_unheard = cut_off_but_committed
        + log
            .iter()
            .filter(|a| a.answer.is_none() && a.key.is_none() && !receipt_of.contains_key(&a.id))
            .filter(|a| count(&db, "SELECT COUNT(*) FROM registrations WHERE id_number = ?", &[a.id.as_str().into()]) == 1)
            .count();
    assert!(total as usize >= receipt_of.len() && total as usize <= submitted.len(), "{total} registrations");
    eprintln!(
        "{} attempts, {} acknowledged, {lost} without an answer ({committed_unheard} of them committed), {replayed} acknowledged keys replayed after the kills, {total} registrations",
        log.len(),
        log.iter().filter(|a| a.acknowledged().is_some()).count()
    );
}
