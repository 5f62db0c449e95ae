//! Department file intake, scheduled processing and batch reports (the `intake` component).
//!
//! Upload errors: 401/403 for a caller that is neither admin nor the file's department, 404 for
//! an unknown source, 413 over `intake_max_upload_bytes`, 415 for bytes that are neither CSV nor
//! XLSX, 400 `empty_file`, `unreadable_xlsx` or `no_such_sheet`. A header lacking a required
//! column makes a batch that is `failed` at once, its error naming the column.

use super::{health, ApiError, ApiResult, Env, Request, Response};
use crate::auth::{Principal, Role};
use crate::codes::Source;
use crate::intake::decode::DecodeError;
use crate::intake::{self, QueueError, Queued, Upload};
use std::time::Duration;

const RECORD_TICK: &str = "INSERT INTO cron_ticks (at, component, detail) VALUES (?, 'intake', ?)";
const DEFAULT_MAX_UPLOAD: &str = "104857600";
const DEFAULT_BUDGET_MS: &str = "5000";

/// Routes one request of the `intake` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    let segments = req.segments();
    match (req.method.as_str(), segments.as_slice()) {
        ("GET", ["api", "v1", "intake", "health"]) => health(env, "intake"),
        ("POST", ["api", "v1", "intake", source, "files"]) => upload(env, req, source),
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

fn upload(env: &Env, req: &Request, source: &str) -> ApiResult {
    let source = Source::parse(source).ok().filter(|s| s.is_department()).ok_or_else(ApiError::not_found)?;
    let actor = require_source(&env.principal(req)?, source)?;
    let limit: u64 = env.var_or("intake_max_upload_bytes", DEFAULT_MAX_UPLOAD).parse().unwrap_or(104_857_600);
    if req.body.len() as u64 > limit {
        return Err(ApiError::TooLarge { limit });
    }
    let sheet = req.query_param("sheet");
    let upload = Upload {
        source,
        file_name: req.header("x-file-name"),
        sheet: sheet.as_deref(),
        uploaded_by: &actor,
        bytes: &req.body,
    };
    match intake::queue_file(env.sql, &upload, env.now) {
        Ok(Queued::New(b)) => Ok(Response::json(202, &b)),
        Ok(Queued::Existing(b)) => Ok(Response::json(200, &b)),
        Err(QueueError::Storage(e)) => Err(e.into()),
        Err(QueueError::Decode(e)) => Err(decode_error(e)),
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
    env.principal(req)?.require(&[Role::Admin])?;
    let report = pending_work(env, "run")?;
    Ok(Response::json(200, &report))
}

/// The pending intake work of one invocation, bounded by `intake_time_budget_ms`.
fn pending_work(env: &Env, trigger: &str) -> anyhow::Result<intake::process::RunReport> {
    let budget: u64 = env.var_or("intake_time_budget_ms", DEFAULT_BUDGET_MS).parse().unwrap_or(5000);
    let owner = format!("{trigger}-{}", intake::sha256_hex(format!("{:?}{:p}", env.now, &budget).as_bytes()).get(..12).unwrap_or(""));
    Ok(intake::process::run(env.sql, env.now, Duration::from_millis(budget), &owner)?)
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
    let detail = format!("scheduled for {timestamp}: {} rows in {} ms", report.rows, report.elapsed_ms);
    env.sql.exec(RECORD_TICK, &[env.now.to_rfc3339().into(), detail.into()])?;
    Ok(())
}
