//! Figures, anomaly and work lists, and the dashboard (the `stats` component).

use super::{health, ApiError, ApiResult, Env, Request};

/// Routes one request of the `stats` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/stats/health") => health(env, "stats"),
        _ => Err(ApiError::not_found()),
    }
}
