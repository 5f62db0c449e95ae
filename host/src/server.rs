//! The HTTP trigger: a hyper server that routes each request, adds Spin's `spin-*` headers and
//! runs it in a fresh instance of the winning component; shuts down gracefully.

use crate::routing::{Route, RouteMatch, Router};
use crate::state::{ComponentCtx, HostState};
use anyhow::{anyhow, Result};
use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use wasmtime::Store;
use wasmtime_wasi_http::p2::bindings::http::types::Scheme;
use wasmtime_wasi_http::p2::bindings::ProxyPre;
use wasmtime_wasi_http::p2::body::HyperOutgoingBody;
use wasmtime_wasi_http::WasiHttpView;

/// How long in-flight requests may run after shutdown starts.
pub const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// A component serving HTTP: its pre-instantiated form and its context.
pub struct HttpComponent {
    /// Pre-instantiated `wasi:http/proxy` component.
    pub pre: ProxyPre<HostState>,
    /// The component's context.
    pub ctx: Arc<ComponentCtx>,
}

/// The routing table of the HTTP trigger.
pub type HttpRouter = Router<Arc<HttpComponent>>;

/// Accepts connections until `shutdown` turns true, then waits (bounded) for in-flight requests.
pub async fn serve(
    listener: TcpListener,
    router: Arc<HttpRouter>,
    mut shutdown: watch::Receiver<bool>,
) {
    let local = listener.local_addr().ok();
    let graceful = GracefulShutdown::new();
    loop {
        let (stream, client) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    eprintln!("canbao-host: accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.wait_for(|stop| *stop) => break,
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |req| {
            let router = router.clone();
            async move { Ok::<_, std::convert::Infallible>(handle(&router, req, client, local).await) }
        });
        let conn = hyper::server::conn::http1::Builder::new()
            .keep_alive(true)
            .serve_connection(TokioIo::new(stream), service);
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                if !e.is_incomplete_message() {
                    eprintln!("canbao-host: connection from {client}: {e}");
                }
            }
        });
    }
    drop(listener);
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        eprintln!("canbao-host: requests still running after {SHUTDOWN_GRACE:?}; stopping anyway");
    }
}

fn plain(status: StatusCode, text: &str) -> Response<HyperOutgoingBody> {
    let body = Full::new(Bytes::from(text.to_string()))
        .map_err(|never| match never {})
        .boxed_unsync();
    Response::builder()
        .status(status)
        .header(http::header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .expect("static response parts are valid")
}

async fn handle(
    router: &HttpRouter,
    req: Request<Incoming>,
    client: SocketAddr,
    local: Option<SocketAddr>,
) -> Response<HyperOutgoingBody> {
    let Some((route, component, matched)) = router.route(req.uri().path()) else {
        return plain(StatusCode::NOT_FOUND, "Not Found");
    };
    let id = component.ctx.id.clone();
    let req = match prepare(req, route, &matched, client, local) {
        Ok(r) => r,
        Err(e) => return plain(StatusCode::BAD_REQUEST, &format!("Bad Request: {e}")),
    };
    match run(component.clone(), req).await {
        Ok(resp) => resp,
        Err(e) => {
            eprintln!("[{id}] request failed: {e:#}");
            plain(StatusCode::INTERNAL_SERVER_ERROR, "Internal Server Error")
        }
    }
}

/// Rewrites the request the way Spin presents it to a component.
fn prepare(
    req: Request<Incoming>,
    route: &Route,
    matched: &RouteMatch,
    client: SocketAddr,
    local: Option<SocketAddr>,
) -> Result<Request<Incoming>> {
    let (mut parts, body) = req.into_parts();
    let authority = match parts
        .headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
    {
        Some(h) => h.to_string(),
        None => local
            .map(|a| a.to_string())
            .ok_or_else(|| anyhow!("no Host header"))?,
    };
    let path_and_query = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/")
        .to_string();
    let full_url = format!("http://{authority}{path_and_query}");
    parts.uri = http::Uri::builder()
        .scheme("http")
        .authority(authority.as_str())
        .path_and_query(path_and_query.as_str())
        .build()?;
    if !parts.headers.contains_key(http::header::HOST) {
        parts
            .headers
            .insert(http::header::HOST, HeaderValue::from_str(&authority)?);
    }
    let h = &mut parts.headers;
    let spin_headers: Vec<(String, String)> = parts_of_spin(route, matched, &full_url, client);
    // A client must not be able to pose as the host: drop any spin-* it sent.
    let stale: Vec<HeaderName> = h
        .keys()
        .filter(|k| k.as_str().starts_with("spin-"))
        .cloned()
        .collect();
    for k in stale {
        h.remove(k);
    }
    for (k, v) in spin_headers {
        h.insert(
            HeaderName::from_bytes(k.as_bytes())?,
            HeaderValue::from_str(&v)?,
        );
    }
    Ok(Request::from_parts(parts, body))
}

fn parts_of_spin(
    route: &Route,
    matched: &RouteMatch,
    full_url: &str,
    client: SocketAddr,
) -> Vec<(String, String)> {
    let mut v = vec![
        ("spin-full-url".to_string(), full_url.to_string()),
        ("spin-path-info".to_string(), matched.path_info.clone()),
        ("spin-matched-route".to_string(), route.raw().to_string()),
        ("spin-component-route".to_string(), route.base()),
        (
            "spin-raw-component-route".to_string(),
            route.raw().to_string(),
        ),
        ("spin-base-path".to_string(), "/".to_string()),
        ("spin-client-addr".to_string(), client.to_string()),
    ];
    for (name, value) in &matched.params {
        v.push((
            format!("spin-path-match-{}", name.to_ascii_lowercase()),
            value.clone(),
        ));
    }
    v
}

/// Runs one request in a fresh instance; the instance keeps running while the body streams.
async fn run(
    component: Arc<HttpComponent>,
    req: Request<Incoming>,
) -> Result<Response<HyperOutgoingBody>> {
    let mut store = Store::new(
        component.pre.engine(),
        HostState::new(component.ctx.clone()),
    );
    crate::state::yield_every_tick(&mut store);
    let (sender, receiver) = tokio::sync::oneshot::channel();
    let req = store
        .data_mut()
        .http()
        .new_incoming_request(Scheme::Http, req)?;
    let out = store.data_mut().http().new_response_outparam(sender)?;
    let pre = component.pre.clone();
    let task = tokio::task::spawn(async move {
        let proxy = pre.instantiate_async(&mut store).await?;
        proxy
            .wasi_http_incoming_handler()
            .call_handle(&mut store, req, out)
            .await
    });
    match receiver.await {
        Ok(Ok(resp)) => {
            // The instance keeps running while the body streams; report a failure there too.
            let id = component.ctx.id.clone();
            tokio::spawn(async move {
                match task.await {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) => eprintln!("[{id}] failed after sending the response head: {e:#}"),
                    Err(e) => eprintln!("[{id}] failed after sending the response head: {e}"),
                }
            });
            Ok(resp)
        }
        Ok(Err(code)) => Err(anyhow!("the component answered with error code {code:?}")),
        Err(_) => {
            let e = match task.await {
                Ok(Ok(())) => anyhow!("the component returned without setting a response"),
                Ok(Err(e)) => anyhow!(e),
                Err(e) => anyhow!(e),
            };
            Err(e.context("the component did not produce a response"))
        }
    }
}
