//! Outbound HTTP goes only to `allowed_outbound_hosts` (templated with variables).

mod common;
use common::*;
use std::io::{Read, Write};
use std::net::TcpListener;

/// A one-thread HTTP server answering every request with `hello from upstream`.
fn upstream() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let body = "hello from upstream";
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

#[test]
fn allowed_host_is_reached_and_others_are_refused() {
    let allowed = upstream();
    let other = upstream();
    let t = TestApp::new(&one_component(
        r#"allowed_outbound_hosts = ["http://127.0.0.1:{{ upstream_port }}"]"#,
        r#"[variables]
upstream_port = { default = "1" }"#,
    ));
    let mut opts = t.options();
    opts.env = vec![("SPIN_VARIABLE_UPSTREAM_PORT".into(), allowed.to_string())];
    let app = canbao_host::start(opts).unwrap();
    let base = app.base_url();

    let (status, body) = get(&format!(
        "{base}/outbound?url=http://127.0.0.1:{allowed}/feed"
    ));
    assert_eq!((status, body.as_str()), (200, "200 hello from upstream"));

    let (status, body) = get(&format!(
        "{base}/outbound?url=http://127.0.0.1:{other}/feed"
    ));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");

    let (status, body) = get(&format!("{base}/outbound?url=https://example.org/"));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    app.stop();
}

#[test]
fn no_allowed_hosts_means_no_outbound() {
    let port = upstream();
    let t = TestApp::new(&one_component("", ""));
    let app = t.start();
    let (status, body) = get(&format!(
        "{}/outbound?url=http://127.0.0.1:{port}/",
        app.base_url()
    ));
    assert_eq!(status, 502, "{body}");
    assert!(body.contains("HttpRequestDenied"), "{body}");
    app.stop();
}
