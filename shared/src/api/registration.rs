//! Registration submit, person corrections, regions and the H5 form (the `registration` component).

use super::{health, ApiError, ApiResult, Env, Request};

/// Routes one request of the `registration` component.
pub fn route(env: &Env, req: &Request) -> ApiResult {
    match (req.method.as_str(), req.path.as_str()) {
        ("GET", "/api/v1/registration/health") => health(env, "registration"),
        // The full person view is the lookup issue's; it is served here because Spin routes by
        // path, and `/api/v1/persons/...` also carries the corrections (PATCH) of this component.
        ("GET", path) if path.starts_with("/api/v1/persons/") => super::persons::view(env, req),
        _ => Err(ApiError::not_found()),
    }
}
