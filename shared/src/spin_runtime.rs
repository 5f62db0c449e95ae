//! The Spin side of a component: Spin's request and response types to and from the API's, and
//! the Spin SDK's key-value store, SQLite database and variables behind the storage traits.
//! Compiled only with the `spin` feature (wasm components).

use crate::api::{self, Env, Request, Response, Variables};
use crate::storage::spin::{SpinKv, SpinSql};
use spin_sdk::http::{Request as SpinRequest, Response as SpinResponse};

/// Spin variables (`spin_sdk::variables`), as the component declares them.
pub struct SpinVariables;

impl Variables for SpinVariables {
    fn get(&self, name: &str) -> Option<String> {
        spin_sdk::variables::get(name).ok()
    }
}

/// Serves one HTTP request with a component's route function.
pub fn serve(request: SpinRequest, route: fn(&Env, &Request) -> api::ApiResult) -> SpinResponse {
    let started = std::time::Instant::now();
    let request = from_spin(request);
    // Opened on first use; a store that cannot be opened fails the request as `Unavailable`.
    let (sql, kv) = (SpinSql::lazy_default(), SpinKv::lazy_default());
    let env = Env { sql: &sql, kv: &kv, vars: &SpinVariables, now: chrono::Utc::now() };
    let response = api::respond(api::check_body_size(&env, &request).and_then(|()| route(&env, &request)));
    println!("{}", api::access_log_line(&request, response.status, started.elapsed()));
    to_spin(response)
}

/// Runs scheduled work with the component's stores (for the cron trigger).
pub fn with_env<T>(work: impl FnOnce(&Env) -> anyhow::Result<T>) -> anyhow::Result<T> {
    let sql = SpinSql::open_default()?;
    let kv = SpinKv::lazy_default();
    let env = Env { sql: &sql, kv: &kv, vars: &SpinVariables, now: chrono::Utc::now() };
    work(&env)
}

fn from_spin(request: SpinRequest) -> Request {
    let headers: Vec<(String, String)> = request
        .headers()
        .map(|(k, v)| (k.to_ascii_lowercase(), String::from_utf8_lossy(v.as_bytes()).into_owned()))
        .collect();
    let client_ip = headers
        .iter()
        .find(|(k, _)| k == "spin-client-addr")
        .map(|(_, v)| strip_port(v).to_string());
    Request {
        method: request.method().to_string().to_ascii_uppercase(),
        path: request.path().to_string(),
        query: request.query().to_string(),
        headers,
        client_ip,
        body: request.into_body(),
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
