//! The Spin side of a component: Spin's request and response types to and from the API's, and
//! the Spin SDK's key-value store, SQLite database and variables behind the storage traits.
//! Compiled only with the `spin` feature (wasm components).

use crate::api::{self, ApiError, BodyChunks, Env, Request, Response, StreamedRoute, Variables};
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
    serve_with(request, out, route, None).await
}

/// [`serve`], with one route that reads its body as a stream ([`StreamedRoute`]): a request it
/// applies to (and whose `Content-Length`, if any, is within the limit) is handed the body chunk
/// by chunk as it arrives instead of whole, with the same 413 at the limit.
pub async fn serve_with(request: IncomingRequest, out: ResponseOutparam, route: fn(&Env, &Request) -> api::ApiResult, streamed: Option<StreamedRoute>) {
    let started = std::time::Instant::now();
    let mut head = head_of(&request);
    // Opened on first use; a store that cannot be opened fails the request as `Unavailable`.
    let (sql, kv) = (SpinSql::lazy_default(), SpinKv::lazy_default());
    let env = Env { sql: &sql, kv: &kv, vars: &SpinVariables, now: chrono::Utc::now() };
    let limit = api::max_body_bytes(&env, &head);
    let announced = head.header("content-length").and_then(|v| v.trim().parse::<u64>().ok());
    if let Some(streamed) = streamed.filter(|s| (s.applies)(&head) && announced.is_none_or(|n| n <= limit)) {
        let body = request.consume().expect("the request body is read once");
        let stream = body.stream().expect("the request body stream is taken once");
        let mut chunks = WasiBody { stream: &stream, limit, read: 0, ended: false };
        let response = api::respond((streamed.handle)(&env, &head, &mut chunks));
        println!("{}", api::access_log_line(&head, response.status, started.elapsed()));
        send(out, response).await;
        // A body the handler stopped reading (refused, over the limit, not a table) is drained
        // as a refused one is below.
        if !chunks.ended {
            let rest = announced.map(|n| n.saturating_sub(chunks.read));
            if rest.is_none_or(|r| r <= DRAIN_AFTER_REFUSAL_BYTES) {
                chunks.drain(DRAIN_AFTER_REFUSAL_BYTES);
            }
        }
        drop(stream);
        let _ = spin_sdk::wit::wasi::http0_2_0::types::IncomingBody::finish(body);
        return;
    }
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

/// How much of a streamed body is asked for at a time.
const STREAM_READ_BYTES: u64 = 256 << 10;

/// A request body read synchronously from its WASI stream (the handler is synchronous; the
/// component blocks while the host waits for the client's bytes), failing with 413 as soon as it
/// passes `limit` and with 400 `incomplete_body` if the client breaks off.
struct WasiBody<'a> {
    stream: &'a wasi::io::streams::InputStream,
    limit: u64,
    read: u64,
    ended: bool,
}

impl BodyChunks for WasiBody<'_> {
    type Error = ApiError;
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        use wasi::io::streams::StreamError;
        if self.ended {
            return Ok(None);
        }
        loop {
            match self.stream.blocking_read(STREAM_READ_BYTES) {
                Ok(chunk) if chunk.is_empty() => continue,
                Ok(chunk) => {
                    self.read += chunk.len() as u64;
                    if self.read > self.limit {
                        return Err(ApiError::TooLarge { limit: self.limit });
                    }
                    return Ok(Some(chunk));
                }
                Err(StreamError::Closed) => {
                    self.ended = true;
                    return Ok(None);
                }
                Err(StreamError::LastOperationFailed(_)) => {
                    self.ended = true;
                    return Err(ApiError::BadRequest { code: "incomplete_body", message: "请求正文未能完整接收，请重新发送".into() });
                }
            }
        }
    }
}

impl WasiBody<'_> {
    /// Reads and discards up to `at_most` more bytes.
    fn drain(&mut self, at_most: u64) {
        let mut seen = 0u64;
        while seen <= at_most && !self.ended {
            match self.stream.blocking_read(STREAM_READ_BYTES) {
                Ok(chunk) => seen += chunk.len() as u64,
                Err(_) => self.ended = true,
            }
        }
    }
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
