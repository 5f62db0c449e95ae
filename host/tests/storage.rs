//! Key-value and SQLite: persistence across restarts on the same state dir, access control,
//! runtime-config stores, and transactions spanning several `execute` calls.

mod common;
use common::*;
use serde_json::json;

fn kv_manifest() -> String {
    one_component(
        r#"key_value_stores = ["default", "cache", "unconfigured"]"#,
        "",
    )
}

#[test]
fn kv_persists_across_restart_and_undeclared_store_is_denied() {
    let t = TestApp::new(&kv_manifest());
    let mut opts = t.options();
    let rc = t.dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        "[key_value_store.cache]\ntype = \"spin\"\npath = \"cache.db\"\n",
    )
    .unwrap();
    opts.runtime_config = Some(rc);

    let app = canbao_host::start(opts.clone()).unwrap();
    let base = app.base_url();
    assert_eq!(
        get(&format!(
            "{base}/kv/set?store=default&key=k1&value=%E5%8F%82%E4%BF%9D"
        )),
        (200, "ok".into())
    );
    assert_eq!(
        get(&format!("{base}/kv/set?store=cache&key=k1&value=cached")),
        (200, "ok".into())
    );
    assert_eq!(get(&format!("{base}/kv/get?store=default&key=nope")).0, 404);
    let (status, body) = get(&format!("{base}/kv/get?store=secret&key=k1"));
    assert_eq!(status, 403);
    assert!(body.ends_with("AccessDenied"), "{body}");
    let (status, body) = get(&format!("{base}/kv/get?store=unconfigured&key=k1"));
    assert_eq!(status, 403);
    assert!(body.ends_with("NoSuchStore"), "{body}");
    app.stop();

    assert!(t.dir.path().join("state/sqlite_key_value.db").is_file());
    assert!(
        t.dir.path().join("cache.db").is_file(),
        "runtime-config path is relative to the file"
    );

    let app = canbao_host::start(opts).unwrap();
    let base = app.base_url();
    assert_eq!(
        get(&format!("{base}/kv/get?store=default&key=k1")),
        (200, "参保".into())
    );
    assert_eq!(
        get(&format!("{base}/kv/get?store=cache&key=k1")),
        (200, "cached".into())
    );
    app.stop();
}

#[test]
fn kv_file_uses_spins_layout() {
    let t = TestApp::new(&kv_manifest());
    let app = t.start();
    assert_eq!(
        get(&format!(
            "{}/kv/set?store=default&key=a&value=b",
            app.base_url()
        ))
        .0,
        200
    );
    app.stop();
    let conn = rusqlite::Connection::open(t.dir.path().join("state/sqlite_key_value.db")).unwrap();
    let v: Vec<u8> = conn
        .query_row(
            "SELECT value FROM spin_key_value WHERE store = 'default' AND key = 'a'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(v, b"b");
}

fn sql_manifest() -> String {
    one_component(r#"sqlite_databases = ["default"]"#, "")
}

#[test]
fn sqlite_persists_across_restart_with_all_value_types() {
    let t = TestApp::new(&sql_manifest());
    let app = t.start();
    let r = sql(
        &app,
        "default",
        json!([
            {"sql": "CREATE TABLE p (i INTEGER, r REAL, s TEXT, b BLOB, n TEXT)"},
            {"sql": "INSERT INTO p VALUES (?, ?, ?, ?, ?)", "params": [42, 2.5, "张三", [0, 255], null]},
            {"sql": "INSERT INTO p (i) VALUES (?)", "params": [43]},
        ]),
    );
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");
    app.stop();
    assert!(t.dir.path().join("state/sqlite_db.db").is_file());

    let app = t.start();
    let r = sql(
        &app,
        "default",
        json!([{"sql": "SELECT i, r, s, b, n FROM p ORDER BY i"}]),
    );
    assert_eq!(r[0]["columns"], json!(["i", "r", "s", "b", "n"]));
    assert_eq!(
        r[0]["rows"],
        json!([[42, 2.5, "张三", {"blob": [0, 255]}, null], [43, null, null, null, null]])
    );
    app.stop();
}

#[test]
fn sqlite_transaction_spans_separate_execute_calls() {
    let t = TestApp::new(&sql_manifest());
    let app = t.start();
    sql(
        &app,
        "default",
        json!([{"sql": "CREATE TABLE t (v INTEGER)"}]),
    );

    let r = sql(
        &app,
        "default",
        json!([
            {"sql": "BEGIN"},
            {"sql": "INSERT INTO t VALUES (1)"},
            {"sql": "INSERT INTO t VALUES (2)"},
            {"sql": "COMMIT"},
        ]),
    );
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");

    // Rolled back explicitly…
    let r = sql(
        &app,
        "default",
        json!([{"sql": "BEGIN"}, {"sql": "INSERT INTO t VALUES (3)"}, {"sql": "ROLLBACK"}]),
    );
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");
    // …and implicitly, when the connection is dropped with the transaction open.
    let r = sql(
        &app,
        "default",
        json!([{"sql": "BEGIN"}, {"sql": "INSERT INTO t VALUES (4)"}]),
    );
    assert!(r.iter().all(|x| x.get("error").is_none()), "{r:?}");

    let r = sql(
        &app,
        "default",
        json!([{"sql": "SELECT v FROM t ORDER BY v"}]),
    );
    assert_eq!(r[0]["rows"], json!([[1], [2]]));

    let r = sql(&app, "default", json!([{"sql": "SELEC broken"}]));
    let err = r[0]["error"].as_str().unwrap();
    assert!(err.contains("Io(") && err.contains("syntax error"), "{err}");
    app.stop();
}

#[test]
fn sqlite_undeclared_and_unknown_databases() {
    let t = TestApp::new(&one_component(
        r#"sqlite_databases = ["default", "reports"]"#,
        "",
    ));
    let app = t.start();
    let (status, body) = post(&format!("{}/sql?db=other", app.base_url()), "[]");
    assert_eq!(status, 403);
    assert!(body.ends_with("AccessDenied"), "{body}");
    let (status, body) = post(&format!("{}/sql?db=reports", app.base_url()), "[]");
    assert_eq!(status, 403);
    assert!(body.ends_with("NoSuchDatabase"), "{body}");
    app.stop();
}

#[test]
fn sqlite_concurrent_writers_wait_instead_of_failing() {
    let t = TestApp::new(&sql_manifest());
    let app = t.start();
    sql(
        &app,
        "default",
        json!([{"sql": "CREATE TABLE c (v INTEGER)"}]),
    );
    let url = format!("{}/sql?db=default", app.base_url());
    let threads: Vec<_> = (0..40)
        .map(|i| {
            let url = url.clone();
            std::thread::spawn(move || {
                let body = json!([{"sql": "BEGIN IMMEDIATE"}, {"sql": "INSERT INTO c VALUES (?)", "params": [i]}, {"sql": "COMMIT"}]);
                post(&url, &body.to_string())
            })
        })
        .collect();
    for th in threads {
        let (status, body) = th.join().unwrap();
        assert_eq!(status, 200);
        assert!(!body.contains("error"), "{body}");
    }
    let r = sql(&app, "default", json!([{"sql": "SELECT count(*) FROM c"}]));
    assert_eq!(r[0]["rows"], json!([[40]]));
    app.stop();
}

#[test]
fn runtime_config_defines_extra_databases_in_files_and_memory() {
    let t = TestApp::new(&one_component(
        r#"sqlite_databases = ["reports", "scratch"]"#,
        "",
    ));
    let rc = t.dir.path().join("rc.toml");
    std::fs::write(
        &rc,
        "[sqlite_database.reports]\ntype = \"spin\"\npath = \"data/reports.db\"\n[sqlite_database.scratch]\ntype = \"spin\"\n",
    )
    .unwrap();
    let mut opts = t.options();
    opts.runtime_config = Some(rc);

    let app = canbao_host::start(opts.clone()).unwrap();
    for db in ["reports", "scratch"] {
        let r = sql(
            &app,
            db,
            json!([{"sql": "CREATE TABLE r (v TEXT)"}, {"sql": "INSERT INTO r VALUES ('kept')"}]),
        );
        assert!(r.iter().all(|x| x.get("error").is_none()), "{db}: {r:?}");
        // A second connection sees the data, in memory too.
        let r = sql(&app, db, json!([{"sql": "SELECT v FROM r"}]));
        assert_eq!(r[0]["rows"], json!([["kept"]]), "{db}");
    }
    app.stop();
    assert!(t.dir.path().join("data/reports.db").is_file());

    let app = canbao_host::start(opts).unwrap();
    assert_eq!(
        sql(&app, "reports", json!([{"sql": "SELECT v FROM r"}]))[0]["rows"],
        json!([["kept"]])
    );
    let r = sql(&app, "scratch", json!([{"sql": "SELECT v FROM r"}]));
    assert!(
        r[0]["error"].as_str().unwrap().contains("no such table"),
        "memory is fresh per start: {r:?}"
    );
    app.stop();
}

#[test]
fn unsupported_backend_type_fails_start_up() {
    let t = TestApp::new(&kv_manifest());
    let rc = t.dir.path().join("rc.toml");
    std::fs::write(
        &rc,
        "[key_value_store.cache]\ntype = \"azure_cosmos\"\naccount = \"a\"\n",
    )
    .unwrap();
    let mut opts = t.options();
    opts.runtime_config = Some(rc);
    let e = t.start_error(opts);
    assert!(
        e.contains("azure_cosmos") && e.contains("key_value_store.cache"),
        "{e}"
    );
}
