//! The Spin side of a component: Spin's request and response types to and from the API's, and
//! the Spin SDK's key-value store, SQLite database and variables behind the storage traits.
//! Compiled only with the `spin` feature (wasm components).

use crate::api::{self, ApiError, Env, Request, Response, Variables};
use crate::storage::spin::{SpinKv, SpinSql};
use spin_sdk::http::{IncomingRequest, OutgoingResponse, Response as SpinResponse, ResponseOutparam};

/// Spin variables (`spin_sdk::variables`), as the component declares them.
pub struct SpinVariables;

impl Variables for SpinVariables {
    fn get(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}

/// Bytes of a refused body still read (and thrown away) after the 413 is sent, so that a client
/// that writes its whole body before reading the answer (most do without `Expect: 100-continue`)
/// sees the 413 rather than a reset connection. A body announced larger than this beyond what
/// was read is not read at all: the connection is closed after the answer.
pub const DRAIN_AFTER_REFUSAL_BYTES: u64 = 16 << 20;

/// Serves one HTTP request with a component's route function. The body is read as a stream and
/// only up to its endpoint's limit ([`api::max_body_bytes`]): a `Content-Length` over the limit is
/// refused with 413 before any of the body is read, and a body without one (chunked) is cut off
/// as soon as it passes the limit, so an oversized body never sits in the instance's memory.
pub async fn serve(request: IncomingRequest, out: ResponseOutparam, route: fn(&Env, &Request) -> api::ApiResult) {
    let started = std::time::Instant::now();
    let mut head = head_of(&request);
    // Opened on first use; a store that cannot be opened fails the request as `Unavailable`.
    let (sql, kv) = (SpinSql::lazy_default(), SpinKv::lazy_default());
    let env = Env { sql: &sql, kv: &kv, vars: &SpinVariables, now: chrono::Utc::now() };
    let limit = api::max_body_bytes(&env, &head);
    let announced = head.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    let mut body = std::pin::pin!(request.into_body_stream());
    let read = match announced {
        Some(n) if n > limit => Err(ApiError::TooLarge { limit }),
        _ => read_up_to(&mut body, limit).await,
    };
    let refused = matches!(read, Err(ApiError::TooLarge { .. }));
    let already = read.as_ref().map_or(0, |b| b.len() as u64);
    let response = api::respond(read.and_then(|bytes| {
        head.body = bytes;
        api::check_body_size(&env, &head)?;
        route(&env, &head)
    }));
    println!("{}", api::access_log_line(&head, response.status, started.elapsed()));
    send(out, response).await;
    if refused {
        let rest = announced.map(|n| n.saturating_sub(already));
        if rest.is_none_or(|r| r <= DRAIN_AFTER_REFUSAL_BYTES) {
            drain(&mut body, DRAIN_AFTER_REFUSAL_BYTES).await;
        }
    }
}

/// Reads the body to its end, or fails with 413 as soon as it is longer than `limit` (or 400 if
/// the client broke off in the middle).
async fn read_up_to<S, E>(body: &mut S, limit: u64) -> Result<Vec<u8>, ApiError>
where
    S: futures::Stream<Item = Result<Vec<u8>, E>> + Unpin,
{
    use futures::StreamExt;
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|_| ApiError::BadRequest {
            code: "incomplete_body",
            message: "请求正文未能完整接收，请重新发送".into(),
        })?;
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(ApiError::TooLarge { limit });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

/// Reads and discards up to `at_most` more bytes of a refused body.
async fn drain<S, E>(body: &mut S, at_most: u64)
where
    S: futures::Stream<Item = Result<Vec<u8>, E>> + Unpin,
{
    use futures::StreamExt;
    let mut seen = 0u64;
    while seen <= at_most {
        match body.next().await {
            Some(Ok(chunk)) => seen += chunk.len() as u64,
            _ => break,
        }
    }
}

async fn send(out: ResponseOutparam, response: Response) {
    let mut response = to_spin(response);
    let bytes = std::mem::take(response.body_mut());
    match OutgoingResponse::try_from(response) {
        Ok(outgoing) => {
            if let Err(e) = out.set_with_body(outgoing, bytes).await {
                eprintln!("could not send the response: {e}");
            }
        }
        Err(e) => eprintln!("could not convert the response: {e}"),
    }
}

/// Runs scheduled work with the component's stores (for the cron trigger).
pub fn with_env<T>(work: impl FnOnce(&Env) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let sql = SpinSql::open_default()?;
    let kv = SpinKv::lazy_default();
    let env = Env { sql: &sql, kv: &kv, vars: &SpinVariables, now: chrono::Utc::now() };
    work(&env)
}

/// The request without its body: method, path, query, headers (names in lower case) and the
/// client address Spin reports.
fn head_of(request: &IncomingRequest) -> Request {
    let headers: Vec<(String, String)> = request
        .headers()
        .entries()
        .into_iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(&v).into_owned()))
        .collect();
    let client_ip = headers
        .iter()
        .find(|(k, _)| k == "spin-client-addr")
        .map(|(_, v)| strip_port(v).to_string());
    let path_and_query = request.path_with_query().unwrap_or_else(|| "/".into());
    let (path, query) = path_and_query.split_once('?').unwrap_or((&path_and_query, ""));
    Request {
        method: request.method().to_string().to_ascii_uppercase(),
        path: path.to_string(),
        query: query.to_string(),
        headers,
        client_ip,
        body: Vec::new(),
    }
}

/// `1.2.3.4:5678` → `1.2.3.4`, `[::1]:5678` → `::1`.
fn strip_port(addr: &str) -> &str {
    if let Some(rest) = addr.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match addr.rsplit_once(':') {
        Some((host, _)) if !host.contains(':') => host,
        _ => addr,
    }
}

fn to_spin(response: Response) -> SpinResponse {
    SpinResponse::builder().status(response.status).headers(response.headers).body(response.body).build()
}
