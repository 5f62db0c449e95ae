//! Variables (defaults, SPIN_VARIABLE_* overrides, name rules) and start-up validation: a bad
//! manifest must stop the host with a message naming the problem.

mod common;
use common::*;

const VARS: &str = r#"
[variables]
region = { default = "4301" }
access_tokens = { required = true, secret = true }
feed_host = { default = "feeds.example.org" }
"#;

const COMPONENT_VARS: &str = r#"
[component.fx.variables]
region_code = "{{ region }}"
tokens = "prefix-{{ access_tokens }}"
"#;

#[test]
fn variables_from_defaults_and_overrides() {
    let t = TestApp::new(&one_component(COMPONENT_VARS, VARS));
    let mut opts = t.options();
    opts.env = vec![("SPIN_VARIABLE_ACCESS_TOKENS".into(), "[]".into())];
    let app = canbao_host::start(opts.clone()).unwrap();
    let base = app.base_url();
    assert_eq!(
        get(&format!("{base}/var?name=region_code")),
        (200, "4301".into())
    );
    assert_eq!(
        get(&format!("{base}/var?name=tokens")),
        (200, "prefix-[]".into())
    );
    // Application variables are not visible unless the component maps them.
    let (status, body) = get(&format!("{base}/var?name=feed_host"));
    assert_eq!(status, 404);
    assert!(body.contains("Undefined("), "{body}");
    let (status, body) = get(&format!("{base}/var?name=Bad-Name"));
    assert_eq!(status, 404);
    assert!(body.contains("InvalidName("), "{body}");
    app.stop();

    opts.env
        .push(("SPIN_VARIABLE_REGION".into(), "4401".into()));
    let app = canbao_host::start(opts).unwrap();
    assert_eq!(
        get(&format!("{}/var?name=region_code", app.base_url())),
        (200, "4401".into())
    );
    app.stop();
}

#[test]
fn required_variable_unset_fails_start_up() {
    let t = TestApp::new(&one_component(COMPONENT_VARS, VARS));
    let e = t.start_error(t.options());
    assert!(
        e.contains("access_tokens") && e.contains("SPIN_VARIABLE_ACCESS_TOKENS"),
        "{e}"
    );
}

#[test]
fn template_with_undefined_variable_fails_start_up() {
    let t = TestApp::new(&one_component(
        "[component.fx.variables]\nx = \"{{ nowhere }}\"",
        "",
    ));
    let e = t.start_error(t.options());
    assert!(e.contains("nowhere") && e.contains("fx"), "{e}");
}

#[test]
fn missing_wasm_fails_start_up_naming_component_and_path() {
    let t = TestApp::new(&one_component("", "").replace("@WASM@", "target/none/missing.wasm"));
    let e = t.start_error(t.options());
    assert!(
        e.contains("`fx`") && e.contains("missing.wasm") && e.contains("build"),
        "{e}"
    );
}

#[test]
fn unknown_component_fails_start_up() {
    let t = TestApp::new(&one_component(
        "",
        "[[trigger.http]]\nroute = \"/x\"\ncomponent = \"ghost\"\n",
    ));
    let e = t.start_error(t.options());
    assert!(e.contains("`ghost`") && e.contains("not defined"), "{e}");
}

#[test]
fn bad_route_fails_start_up() {
    let t =
        TestApp::new(&one_component("", "").replace("route = \"/...\"", "route = \"api/.../x\""));
    let e = t.start_error(t.options());
    assert!(e.contains("api/.../x"), "{e}");
}

#[test]
fn bad_cron_expression_fails_start_up() {
    let t = TestApp::new(&one_component(
        "",
        "[[trigger.cron]]\ncomponent = \"fx\"\ncron_expression = \"*/5 * * *\"\n",
    ));
    let e = t.start_error(t.options());
    assert!(
        e.contains("cron_expression") && e.contains("*/5 * * *"),
        "{e}"
    );
}

#[test]
fn port_in_use_fails_start_up() {
    let t = TestApp::new(&one_component("", ""));
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let mut opts = t.options();
    opts.listen = taken.local_addr().unwrap();
    let e = t.start_error(opts);
    assert!(e.contains("cannot listen"), "{e}");
}

#[test]
fn components_see_only_their_manifest_environment() {
    let t = TestApp::new(&one_component(
        "environment = { REGION = \"4301\", MODE = \"test\" }",
        "",
    ));
    let app = t.start();
    let (status, body) = get(&format!("{}/env", app.base_url()));
    assert_eq!(status, 200);
    let mut lines: Vec<&str> = body.lines().collect();
    lines.sort();
    assert_eq!(
        lines,
        ["MODE=test", "REGION=4301"],
        "no host environment leaks in"
    );
    app.stop();
}
