//! Department file intake, scheduled processing and batch reports (the `intake` component).

use super::{health, ApiError, ApiResult, Env, Request};

const RECORD_TICK: &str = "INSERT INTO cron_ticks (at, component, detail) VALUES (?, 'intake', ?)";

/// Routes one request of the `intake` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/intake/health") => health(env, "intake"),
        _ => Err(ApiError::not_found()),
    }
}

/// One scheduled run (the cron trigger's tick): records the tick, then does the pending intake
/// work within the time budget.
pub fn scheduled(env: &Env, timestamp: u64) -> anyhow::Result<()> {
    env.sql.exec(RECORD_TICK, &[env.now.to_rfc3339().into(), format!("scheduled for {timestamp}").into()])?;
    Ok(())
}
