//! The Redis key-value backend against a real `redis-server` (Debian's, installed by
//! `scripts/setup-redis`), started by each test on a free loopback port with no persistence.
//! Without the binary the tests say so and pass, except under CI (`CI` set), where they fail.

mod common;
use canbao_host::kv::KeyValueBackend;
use canbao_host::kv_redis::RedisKeyValue;
use common::*;
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A `redis-server` child on 127.0.0.1, killed on drop.
struct RedisServer {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts one, or returns `None` (after saying why) when `redis-server` is not installed.
    fn start() -> Option<RedisServer> {
        if Command::new("redis-server")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_err()
        {
            assert!(
                std::env::var_os("CI").is_none(),
                "redis-server is not installed; scripts/setup-redis installs it"
            );
            eprintln!("SKIPPED: redis-server is not installed (run scripts/setup-redis)");
            return None;
        }
        let dir = tempfile::tempdir().unwrap();
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("redis-server")
            .args(["--bind", "127.0.0.1", "--port", &port.to_string()])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "yes"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start redis-server");
        let server = RedisServer {
            child,
            port,
            _dir: dir,
        };
        let url = server.url(0);
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let ok = redis::Client::open(url.as_str())
                .and_then(|c| c.get_connection_with_timeout(Duration::from_millis(200)))
                .is_ok_and(|mut c| redis::ConnectionLike::check_connection(&mut c));
            if ok {
                return Some(server);
            }
            assert!(Instant::now() < deadline, "redis-server did not come up on {url}");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self, db: u8) -> String {
        format!("redis://127.0.0.1:{}/{db}", self.port)
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

#[test]
fn backend_round_trip_with_binary_values_and_separate_databases() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let a = RedisKeyValue::open("default", &server.url(0)).unwrap();
    let b = RedisKeyValue::open("other", &server.url(1)).unwrap();
    assert_eq!(a.get("k").unwrap(), None);
    assert!(!a.exists("k").unwrap());
    a.set("k", b"v1").unwrap();
    a.set("k", &[0, 255, 10, 0]).unwrap();
    assert_eq!(a.get("k").unwrap(), Some(vec![0, 255, 10, 0]));
    assert!(a.exists("k").unwrap());
    a.set("参保:键", "值".as_bytes()).unwrap();
    assert_eq!(a.get("参保:键").unwrap(), Some("值".as_bytes().to_vec()));
    assert_eq!(b.get("k").unwrap(), None, "database /1 is a separate store");
    a.delete("k").unwrap();
    a.delete("k").unwrap(); // deleting a missing key is fine
    assert!(!a.exists("k").unwrap());
    assert_eq!(a.get_keys().unwrap(), vec!["参保:键".to_string()]);
}

#[test]
fn get_keys_walks_the_whole_keyspace_with_scan() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let kv = RedisKeyValue::open("default", &server.url(0)).unwrap();
    // More keys than one SCAN step returns, so the cursor has to be followed.
    let n = 2_500;
    let mut pipe = redis::pipe();
    for i in 0..n {
        pipe.set(format!("key:{i:05}"), i).ignore();
    }
    let mut conn = redis::Client::open(server.url(0).as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    pipe.query::<()>(&mut conn).unwrap();
    let keys = kv.get_keys().unwrap();
    assert_eq!(keys.len(), n);
    assert_eq!(keys.first().map(String::as_str), Some("key:00000"));
    assert_eq!(keys.last().map(String::as_str), Some("key:02499"));
}

#[test]
fn many_threads_share_the_pool() {
    let Some(server) = RedisServer::start() else {
        return;
    };
    let kv = std::sync::Arc::new(RedisKeyValue::open("default", &server.url(0)).unwrap());
    let threads: Vec<_> = (0..48)
        .map(|t| {
            let kv = kv.clone();
            std::thread::spawn(move || {
                for i in 0..50 {
                    let key = format!("t{t}:{i}");
                    kv.set(&key, key.as_bytes()).unwrap();
                    assert_eq!(kv.get(&key).unwrap(), Some(key.into_bytes()));
                }
            })
        })
        .collect();
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(kv.get_keys().unwrap().len(), 48 * 50);
}

fn redis_manifest() -> String {
    one_component(r#"key_value_stores = ["default", "cache"]"#, "")
}

#[test]
fn components_use_redis_from_the_runtime_config_and_see_failures_as_other() {
    let Some(mut server) = RedisServer::start() else {
        return;
    };
    let t = TestApp::new(&redis_manifest());
    let rc = t.dir.path().join("runtime-config.toml");
    std::fs::write(
        &rc,
        format!(
            "[key_value_store.default]\ntype = \"redis\"\nurl = \"{}\"\n\n[key_value_store.cache]\ntype = \"redis\"\nurl = \"{}\"\n",
            server.url(0),
            server.url(3)
        ),
    )
    .unwrap();
    let mut opts = t.options();
    opts.runtime_config = Some(rc);
    let app = canbao_host::start(opts.clone()).unwrap();
    let base = app.base_url();
    assert_eq!(
        get(&format!("{base}/kv/set?store=default&key=k1&value=%E5%8F%82%E4%BF%9D")),
        (200, "ok".into())
    );
    assert_eq!(
        get(&format!("{base}/kv/set?store=cache&key=k1&value=cached")),
        (200, "ok".into())
    );
    assert_eq!(get(&format!("{base}/kv/get?store=default&key=nope")).0, 404);
    app.stop();
    assert!(
        !t.dir.path().join("state/sqlite_key_value.db").exists(),
        "the default store lives in Redis, not in the state dir"
    );

    // The values are in Redis itself, under the keys as given (as Spin stores them).
    let mut conn = redis::Client::open(server.url(0).as_str())
        .unwrap()
        .get_connection()
        .unwrap();
    let v: Vec<u8> = redis::cmd("GET").arg("k1").query(&mut conn).unwrap();
    assert_eq!(v, "参保".as_bytes());

    // A restarted host reads them back.
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

    // The server goes away: the component gets `error::other` with the cause, and the host
    // keeps serving.
    server.stop();
    let started = Instant::now();
    let (status, body) = get(&format!("{base}/kv/get?store=default&key=k1"));
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("Other(\"Redis at redis://127.0.0.1"), "{body}");
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "a dead server fails within the timeout"
    );
    app.stop();
}

#[test]
fn unreachable_server_and_bad_urls_fail_start_up_clearly() {
    let t = TestApp::new(&redis_manifest());
    let rc = t.dir.path().join("rc.toml");
    let free_port = TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    for (text, needles) in [
        (
            format!("type = \"redis\"\nurl = \"redis://127.0.0.1:{free_port}\""),
            vec!["key-value store `cache`", "cannot connect to Redis"],
        ),
        (
            "type = \"redis\"\nurl = \"http://127.0.0.1:6379\"".to_string(),
            vec!["key_value_store.cache", "bad Redis url", "not a Redis URL"],
        ),
        (
            "type = \"redis\"".to_string(),
            vec!["key_value_store.cache", "needs `url"],
        ),
        (
            format!("type = \"redis\"\nurl = \"redis://app:s3cret@127.0.0.1:{free_port}\""),
            vec!["cannot connect to Redis at redis://app:***@127.0.0.1"],
        ),
        (
            "type = \"redis\"\nurl = \"redis//app:s3cret@host\"".to_string(),
            vec!["key_value_store.cache", "not a Redis URL"],
        ),
        (
            "type = \"azure_cosmos\"".to_string(),
            vec!["key_value_store.cache", "azure_cosmos", "not supported"],
        ),
    ] {
        std::fs::write(&rc, format!("[key_value_store.cache]\n{text}\n")).unwrap();
        let mut opts = t.options();
        opts.runtime_config = Some(rc.clone());
        let e = t.start_error(opts);
        for n in needles {
            assert!(e.contains(n), "{text}: {e}");
        }
        assert!(!e.contains("s3cret"), "the password is masked: {e}");
    }
}

#[test]
fn the_deploy_examples_are_accepted_as_far_as_this_host_goes() {
    use canbao_host::runtime_config::{Backend, RuntimeConfig};
    let deploy = workspace_root().join("deploy");
    let c = RuntimeConfig::load(&deploy.join("runtime-config.redis.toml")).unwrap();
    assert!(
        matches!(&c.key_value_stores["default"], Backend::Redis { url } if url.starts_with("redis://")),
        "{c:?}"
    );
    // The production file's libSQL database is for Spin; this host says so by name.
    let e = RuntimeConfig::load(&deploy.join("runtime-config.production.toml")).unwrap_err();
    let e = format!("{e:#}");
    assert!(e.contains("sqlite_database.default") && e.contains("libsql"), "{e}");
    assert!(!e.contains("CHANGE-ME"), "no credentials in the message: {e}");
}
