//! Registration submit, person corrections, regions and the H5 form (the `registration` component).

use super::{health, ApiError, ApiResult, Env, Request};

/// Routes one request of the `registration` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/registration/health") => health(env, "registration"),
        _ => Err(ApiError::not_found()),
    }
}
