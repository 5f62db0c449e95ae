//! Public lookup, the staff person view, the embeddable widget, audit and OpenAPI (the `lookup` component).

use super::{health, ApiError, ApiResult, Env, Request};

/// Routes one request of the `lookup` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/lookup/health") => health(env, "lookup"),
        _ => Err(ApiError::not_found()),
    }
}
