//! The embeddable lookup widget in a real browser: headless Chromium (`tests/browser/lookup.mjs`,
//! playwright-core) loads portal pages served from other origins (other ports) that embed both
//! the iframe page and the script. On the portal listed in `cors_origins` a lookup shows the
//! masked status; on another portal the browser blocks the script's request and the widget says
//! so. Screenshots go to `target/screenshots/`. Needs `scripts/setup-browser` (Chromium, CJK
//! fonts, `npm ci` in tests/browser), which `scripts/test` runs.

mod lookup_support;

use canbao_tests::{run_browser_script, screenshots_dir, TestApp};
use lookup_support::{database, seed, Resident};
use std::io::{Read, Write};
use std::net::TcpListener;

/// A portal page with hostile CSS around both ways of embedding the widget.
fn portal_page(app: &str) -> String {
    format!(
        r#"<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8"><title>攀枝花市政务服务网（测试门户）</title>
<style>
  * {{ font-size: 40px !important; color: #c00 !important; font-family: serif !important; }}
  input, button {{ display: none !important; }}
  h2 {{ font-size: 60px !important; }}
  section {{ float: left; margin: 8px; }}
</style></head>
<body>
<h1>测试门户</h1>
<section><h2>脚本嵌入</h2><div id="script-widget"></div>
<script src="{app}/embed/lookup.js" data-target="script-widget"></script></section>
<section><h2>iframe 嵌入</h2>
<iframe id="lookup-frame" title="参保登记查询" src="{app}/embed/lookup" style="width:460px;height:150px;border:0"></iframe></section>
<script>
window.addEventListener("message", function (e) {{
  if (e.origin !== "{app}" || !e.data || e.data.type !== "canbao-lookup:height") return;
  var frame = document.getElementById("lookup-frame");
  frame.style.height = e.data.height + "px";
  frame.dataset.posted = e.data.height;
}});
</script>
</body></html>"#
    )
}

/// A portal's listener on an ephemeral port, and its origin.
fn portal_listener() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a portal port");
    let origin = format!("http://{}", listener.local_addr().expect("address"));
    (listener, origin)
}

/// Answers `GET /` with `page` (anything else 404), in a background thread.
fn serve(listener: TcpListener, page: String) {
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut buf = [0u8; 8192];
            let mut head = Vec::new();
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match stream.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let found = head.starts_with(b"GET / ");
            let (status, body) = if found { ("200 OK", page.as_str()) } else { ("404 Not Found", "") };
            let reply = format!(
                "HTTP/1.1 {status}\r\ncontent-type: text/html; charset=utf-8\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(reply.as_bytes());
        }
    });
}

#[test]
fn portals_embed_the_widget_and_only_allowed_origins_get_answers() {

    let (allowed, allowed_origin) = portal_listener();
    let (refused, refused_origin) = portal_listener();
    let app = TestApp::start_with(&[("lookup_rate_limit_per_minute", "1000"), ("cors_origins", &allowed_origin)]);
    let person = Resident {
        schemes: &[("310", "active"), ("110", "active")],
        ..Resident::new("510402", "1978-11-20", 311, "欧阳娜娜", "510402001")
    };
    seed(&database(&app), &person);
    serve(allowed, portal_page(&app.url()));
    serve(refused, portal_page(&app.url()));

    let shots = screenshots_dir();
    let seen = run_browser_script(
        "lookup.mjs",
        &[&app.url(), &allowed_origin, &refused_origin, &shots.to_string_lossy(), person.id.as_str(), "欧阳娜娜"],
    );
    let id = person.id.as_str();
    let masked_id = format!("{}********{}", &id[..6], &id[14..]);
    for widget in ["allowed_script", "allowed_iframe"] {
        let text = seen[widget]["text"].as_str().unwrap();
        assert!(text.contains("欧阳**") && text.contains(&masked_id), "{widget}: {text}");
        assert!(text.contains("已参保") && text.contains("职工基本医疗保险"), "{widget}: {text}");
        assert!(!text.contains("娜娜") && !text.contains(id), "{widget} shows unmasked data: {text}");
    }
    assert_eq!(seen["refused_script"]["state"], "error", "{seen}");
    for shot in ["lookup-allowed-portal.png", "lookup-refused-portal.png"] {
        assert!(shots.join(shot).metadata().map(|m| m.len() > 1000).unwrap_or(false), "{shot} missing");
    }
}
