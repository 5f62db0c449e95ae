//! Department file intake, scheduled processing and batch reports (the `intake` component).
//!
//! Upload errors: 401/403 for a caller that is neither admin nor the file's department, 404 for
//! an unknown source, 413 over `intake_max_upload_bytes`, 415 for bytes that are neither CSV nor
//! XLSX, 400 `empty_file`, `unreadable_xlsx` or `no_such_sheet`. A header lacking a required
//! column makes a batch that is `failed` at once, its error naming the column (`error_code`
//! `missing_column`); so does a table over `intake_max_rows`, `intake_max_columns` or
//! `intake_max_field_bytes` (`too_many_rows`, `too_many_columns`, `field_too_long`), with
//! nothing of it stored. Larger files go
//! in parts: `POST …/files?parts=N` (201), `PUT /api/v1/intake/batches/{id}/parts/{n}` (1..=N,
//! each under the limit), `POST /api/v1/intake/batches/{id}/complete` with `{"sha256"}` of the
//! whole (409 `parts_missing` or `sha256_mismatch`; else as a single upload).
//!
//! A single upload's body is read as a stream (issue #4, [`STREAMED_UPLOAD`]): the caller is
//! checked before any of it is read, and CSV is queued as it arrives, so an instance holds about
//! one 4 MB part of it however large the file (a workbook is read whole: a zip cannot be read
//! from its start).

use super::{health, ApiError, ApiResult, BodyChunks, Env, Request, Response};
use crate::audit;
use crate::auth::{Principal, Role};
use crate::codes::Source;
use crate::intake::decode::{DecodeError, TableLimits};
use crate::error::{FieldError, Reason};
use crate::intake::{self, feeds, parts, FileInfo, QueueError, Queued, StreamQueueError};
use serde_json::json;
use std::time::Duration;

const RECORD_TICK: &str = "INSERT INTO cron_ticks (at, component, detail) VALUES (?, 'intake', ?)";
const DEFAULT_MAX_UPLOAD: &str = "104857600";
const DEFAULT_BUDGET_MS: &str = "5000";

/// Routes one request of the `intake` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    let segments = req.segments();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "intake", "health"]) => health(env, "intake"),
        ("POST", ["api", "v1", "intake", source, "files"]) if req.query_param("parts").is_some() => begin_parts(env, req, source),
        ("POST", ["api", "v1", "intake", source, "files"]) => upload(env, req, source),
        ("PUT", ["api", "v1", "intake", "batches", id, "parts", n]) => put_part(env, req, id, n),
        ("POST", ["api", "v1", "intake", "batches", id, "complete"]) => complete_parts(env, req, id),
        ("POST", ["api", "v1", "intake", "run"]) => run_now(env, req),
        ("GET", ["api", "v1", "intake", "batches", id]) => report(env, req, id),
        ("GET", ["api", "v1", "intake", "batches", id, "errors"]) => errors(env, req, id),
        _ => Err(ApiError::not_found()),
    }
}

/// 401/403 unless the caller is an admin or the department of `source`.
fn require_source(principal: &Principal, source: Source) -> Result<String, ApiError> {
    let token = principal.require(&[Role::Admin, Role::Department])?;
    if token.role == Role::Department && token.source != Some(source) {
        return Err(ApiError::Forbidden { code: "other_source", message: "只能上传或查看本部门的数据文件".into() });
    }
    Ok(principal.actor())
}

fn department_source(source: &str) -> Result<Source, ApiError> {
    Source::parse(source).ok().filter(|s| s.is_department()).ok_or_else(ApiError::not_found)
}

/// 413 when the body is over `intake_max_upload_bytes`.
fn check_size(env: &Env, req: &Request) -> Result<(), ApiError> {
    let limit: u64 = env.var_or("intake_max_upload_bytes", DEFAULT_MAX_UPLOAD).parse().unwrap_or(104_857_600);
    if req.body.len() as u64 > limit {
        return Err(ApiError::TooLarge { limit });
    }
    Ok(())
}

/// The largest table a department file may be: `intake_max_rows`, `intake_max_columns` and
/// `intake_max_field_bytes`, each defaulting as spin.toml says.
fn table_limits(env: &Env) -> TableLimits {
    let var = |name: &str| env.vars.get(name);
    TableLimits::from_vars(var("intake_max_rows").as_deref(), var("intake_max_columns").as_deref(), var("intake_max_field_bytes").as_deref())
}

/// Appends the audit row of an intake write (after its own transaction has committed).
fn audited(env: &Env, principal: &Principal, action: &str, detail: serde_json::Value) -> Result<(), ApiError> {
    Ok(audit::record(env.sql, env.now, principal, action, None, &detail)?)
}

/// The upload route read as a stream by the runtime: `POST /api/v1/intake/{source}/files`
/// without `?parts=` (CSV of any size is then never whole in memory).
pub const STREAMED_UPLOAD: super::StreamedRoute = super::StreamedRoute { applies: is_upload, handle: upload_stream };

fn is_upload(req: &Request) -> bool {
    req.method == "POST" && matches!(req.segments().as_slice(), ["api", "v1", "intake", _, "files"]) && req.query_param("parts").is_none()
}

/// The upload route with a body already in memory (tests, and any runtime that reads it whole).
fn upload(env: &Env, req: &Request, source: &str) -> ApiResult {
    // 413 for a body over the limit comes as the first chunk, after the caller is checked.
    let mut body = Some(check_size(env, req).map(|()| req.body.clone()));
    upload_from(env, req, source, &mut std::iter::from_fn(move || body.take()))
}

/// [`STREAMED_UPLOAD`]'s handler.
fn upload_stream(env: &Env, req: &Request, body: &mut dyn BodyChunks<Error = ApiError>) -> ApiResult {
    let source = req.segments().get(3).map(|s| s.to_string()).unwrap_or_default();
    upload_from(env, req, &source, &mut std::iter::from_fn(move || body.next_chunk().transpose()))
}

/// Chunks from an iterator (a `dyn` iterator keeps both entry points on one function).
struct Chunks<'a> {
    chunks: &'a mut dyn Iterator<Item = Result<Vec<u8>, ApiError>>,
    bytes: u64,
}

impl BodyChunks for Chunks<'_> {
    type Error = ApiError;
    fn next_chunk(&mut self) -> Result<Option<Vec<u8>>, ApiError> {
        let chunk = self.chunks.next().transpose()?;
        self.bytes += chunk.as_ref().map_or(0, |c| c.len() as u64);
        Ok(chunk)
    }
}

/// Checks the caller (before any of the body is read), then queues the file as it arrives.
fn upload_from(env: &Env, req: &Request, source: &str, chunks: &mut dyn Iterator<Item = Result<Vec<u8>, ApiError>>) -> ApiResult {
    let source = department_source(source)?;
    let principal = env.principal(req)?;
    let actor = require_source(&principal, source)?;
    let sheet = req.query_param("sheet");
    let info = FileInfo { source, file_name: req.header("x-file-name"), sheet: sheet.as_deref(), uploaded_by: &actor, limits: table_limits(env) };
    let mut body = Chunks { chunks, bytes: 0 };
    match intake::queue_stream(env.sql, &info, &mut body, env.now) {
        Ok(Queued::New(b)) => {
            let detail = json!({"batch_id": b.batch_id, "source": source.code(), "status": b.status, "bytes": body.bytes});
            audited(env, &principal, audit::INTAKE_UPLOAD, detail)?;
            Ok(Response::json(202, &b))
        }
        Ok(Queued::Existing(b)) => Ok(Response::json(200, &b)),
        Err(StreamQueueError::Body(e)) => Err(e),
        Err(StreamQueueError::Queue(QueueError::Storage(e))) => Err(e.into()),
        Err(StreamQueueError::Queue(QueueError::Decode(e))) => Err(decode_error(e)),
        Err(StreamQueueError::Mismatch { .. }) => Err(anyhow::anyhow!("a single upload announces no SHA-256").into()),
    }
}

fn begin_parts(env: &Env, req: &Request, source: &str) -> ApiResult {
    let source = department_source(source)?;
    let principal = env.principal(req)?;
    let actor = require_source(&principal, source)?;
    let parts = req.query_param("parts").and_then(|p| p.parse::<u32>().ok()).filter(|n| (1..=parts::MAX_PARTS).contains(n));
    let parts = parts.ok_or_else(|| ApiError::BadRequest {
        code: "bad_parts",
        message: format!("parts 应为 1 到 {} 之间的整数", parts::MAX_PARTS),
    })?;
    let id = parts::begin(env.sql, source, req.header("x-file-name"), parts, &actor, env.now)?;
    audited(env, &principal, audit::INTAKE_PARTS_BEGIN, json!({"batch_id": id, "source": source.code(), "parts": parts}))?;
    Ok(Response::json(201, &json!({"batch_id": id, "status": "receiving", "parts": parts})))
}

/// The open upload in parts `id`, for a caller allowed to add to it.
fn open_upload(env: &Env, req: &Request, id: &str) -> Result<(parts::PartUpload, Principal, String), ApiError> {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Department])?;
    let upload = parts::find(env.sql, id)?.ok_or_else(ApiError::not_found)?;
    let actor = require_source(&principal, upload.source)?;
    Ok((upload, principal, actor))
}

fn put_part(env: &Env, req: &Request, id: &str, n: &str) -> ApiResult {
    let (upload, principal, _) = open_upload(env, req, id)?;
    check_size(env, req)?;
    let n: u32 = n.parse().map_err(|_| ApiError::not_found())?;
    let received = parts::put_part(env.sql, &upload, n, &req.body).map_err(parts_error)?;
    audited(env, &principal, audit::INTAKE_PART, json!({"batch_id": upload.id, "part": n, "bytes": req.body.len()}))?;
    Ok(Response::json(200, &json!({"batch_id": upload.id, "part": n, "received": received, "parts": upload.parts})))
}

fn complete_parts(env: &Env, req: &Request, id: &str) -> ApiResult {
    let (upload, principal, actor) = open_upload(env, req, id)?;
    let body: serde_json::Value = serde_json::from_slice(&req.body).map_err(ApiError::bad_json)?;
    let sha = body["sha256"].as_str().filter(|s| s.len() == 64).ok_or_else(|| ApiError::Validation(vec![FieldError::new(
        "sha256",
        Reason::Format,
        "请提交整个文件的 SHA-256（64 位十六进制）",
    )]))?;
    match parts::complete(env.sql, &upload, sha, &actor, table_limits(env), env.now).map_err(parts_error)? {
        Queued::New(b) => {
            let detail = json!({"batch_id": b.batch_id, "source": upload.source.code(), "status": b.status, "parts": upload.parts});
            audited(env, &principal, audit::INTAKE_UPLOAD, detail)?;
            Ok(Response::json(202, &b))
        }
        Queued::Existing(b) => Ok(Response::json(200, &b)),
    }
}

fn parts_error(e: parts::PartsError) -> ApiError {
    let message = e.to_string();
    match e {
        parts::PartsError::NoSuchPart(_) => ApiError::NotFound { code: "no_such_part", message },
        parts::PartsError::Missing(_) => ApiError::Conflict { code: "parts_missing", message },
        parts::PartsError::Mismatch { .. } => ApiError::Conflict { code: "sha256_mismatch", message },
        parts::PartsError::Queue(QueueError::Decode(d)) => decode_error(d),
        parts::PartsError::Queue(QueueError::Storage(s)) | parts::PartsError::Storage(s) => s.into(),
    }
}

fn decode_error(e: DecodeError) -> ApiError {
    let message = e.to_string();
    match e {
        DecodeError::NotTabular => ApiError::UnsupportedMediaType { expected: "CSV（UTF-8 或 GB18030）或 XLSX" },
        DecodeError::Empty => ApiError::BadRequest { code: "empty_file", message },
        DecodeError::UnreadableXlsx(_) => ApiError::BadRequest { code: "unreadable_xlsx", message },
        DecodeError::NoSuchSheet(_) => ApiError::BadRequest { code: "no_such_sheet", message },
    }
}

fn run_now(env: &Env, req: &Request) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin])?;
    let report = pending_work(env, "run")?;
    audited(env, &principal, audit::INTAKE_RUN, run_detail(&report))?;
    Ok(Response::json(200, &report))
}

/// What an intake run did, for its audit row: rows and batches, feeds by outcome.
fn run_detail(work: &Work) -> serde_json::Value {
    let batches: Vec<_> = work.run.batches.iter().map(|b| json!({"batch_id": b.batch_id, "rows": b.rows, "status": b.status})).collect();
    let feeds: Vec<_> = work.feeds.iter().map(|f| json!({"outcome": f.outcome, "batch_id": f.batch_id})).collect();
    json!({"rows": work.run.rows, "batches": batches, "feeds": feeds, "more": work.run.more})
}

/// What one invocation did: the feeds pulled, then the batches processed.
#[derive(serde::Serialize)]
struct Work {
    #[serde(flatten)]
    run: intake::process::RunReport,
    feeds: Vec<feeds::FeedRun>,
}

/// Outbound HTTP for feeds: Spin's in a component; natively (tests of the API without a
/// runtime) feeds are not pulled.
fn fetcher() -> Option<&'static dyn feeds::Fetcher> {
    #[cfg(feature = "spin")]
    return Some(&feeds::SpinFetcher);
    #[cfg(not(feature = "spin"))]
    None
}

/// The pending intake work of one invocation: pull the feeds, then process queued batches
/// within `intake_time_budget_ms`.
fn pending_work(env: &Env, trigger: &str) -> anyhow::Result<Work> {
    let budget: u64 = env.var_or("intake_time_budget_ms", DEFAULT_BUDGET_MS).parse().unwrap_or(5000);
    let pulled = match fetcher() {
        Some(f) => feeds::pull(env.sql, &env.var_or("intake_feeds", "[]"), &env.var_or("intake_feed_origin", ""), f, &table_limits(env), env.now)?,
        None => Vec::new(),
    };
    let owner = format!("{trigger}-{}", intake::sha256_hex(format!("{:?}{:p}", env.now, &budget).as_bytes()).get(..12).unwrap_or(""));
    let run = intake::process::run(env.sql, env.now, Duration::from_millis(budget), &owner)?;
    Ok(Work { run, feeds: pulled })
}

fn batch_source(env: &Env, id: &str) -> Result<(intake::BatchReport, Source), ApiError> {
    let report = intake::batch_report(env.sql, id)?.ok_or_else(ApiError::not_found)?;
    let source = Source::parse(&report.source).map_err(|e| anyhow::anyhow!("stored source: {}", e.message))?;
    Ok((report, source))
}

fn report(env: &Env, req: &Request, id: &str) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Department])?;
    let (report, source) = batch_source(env, id)?;
    require_source(&principal, source)?;
    Ok(Response::json(200, &report).header("cache-control", "no-store"))
}

fn errors(env: &Env, req: &Request, id: &str) -> ApiResult {
    let principal = env.principal(req)?;
    principal.require(&[Role::Admin, Role::Department])?;
    let (_, source) = batch_source(env, id)?;
    require_source(&principal, source)?;
    let body = intake::errors_csv(env.sql, id)?;
    Ok(Response::with_body(200, "text/csv; charset=utf-8", body)
        .header("content-disposition", format!("attachment; filename=\"{id}-errors.csv\"")))
}

/// One scheduled run (the cron trigger's tick): records the tick, then does the pending intake
/// work within the time budget.
pub fn scheduled(env: &Env, timestamp: u64) -> anyhow::Result<()> {
    let report = pending_work(env, "cron")?;
    let failed = report.feeds.iter().filter(|f| f.outcome == "failed" || f.outcome == "refused").count();
    let detail = format!(
        "scheduled for {timestamp}: {} rows in {} ms; {} feeds, {failed} failed",
        report.run.rows,
        report.run.elapsed_ms,
        report.feeds.len()
    );
    env.sql.exec(RECORD_TICK, &[env.now.to_rfc3339().into(), detail.into()])?;
    // A tick that changed nothing is in cron_ticks; one that did is also in the audit trail.
    if report.run.rows > 0 || !report.run.batches.is_empty() || report.feeds.iter().any(|f| f.outcome == "queued") {
        audit::record_system(env.sql, env.now, audit::SYSTEM_CRON, audit::INTAKE_RUN, &run_detail(&report))?;
    }
    // Idempotency keys past their retention are released (registrations keep them 24 h).
    let released = crate::idempotency::release_expired(env.sql, env.now)?;
    if released > 0 {
        println!("released {released} idempotency keys past their retention");
    }
    // Today's figures for the trend (rewritten only when the data changed since the last tick).
    if let Err(e) = super::stats::scheduled_snapshot(env) {
        eprintln!("daily statistics snapshot failed: {}", crate::redact::redact_log(&format!("{e:#}")));
    }
    Ok(())
}
